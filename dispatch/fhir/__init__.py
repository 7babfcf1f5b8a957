"""FHIR R4 for the service: its records as resources (validated by fhir.resources' R4B models,
following Interop'Santé's FR Core profiles where they exist), the CapabilityStatement,
OperationOutcome, search parameters and the reading of resources clients send.

Pure: no Flask. The web edge is :mod:`dispatch.web.fhir` (/fhir).

- :mod:`dispatch.fhir.profiles`: canonical URLs, code and identifier systems.
- :mod:`dispatch.fhir.mapping`: rows and service dicts -> resources, searchset Bundles.
- :mod:`dispatch.fhir.inbound`: ServiceRequest -> a referral, Appointment -> a booking.
- :mod:`dispatch.fhir.capability`: the CapabilityStatement.
- :mod:`dispatch.fhir.outcome`: OperationOutcome.
- :mod:`dispatch.fhir.search`: search parameters (references, date prefixes, pages).
- :mod:`dispatch.fhir.records`: a patient's visits done, for Encounter.
"""
