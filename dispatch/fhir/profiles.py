"""Canonical URLs, code systems and identifier systems of the FHIR API.

The FR Core profiles are those of Interop'Santé's implementation guide ``hl7.fhir.fr.core``
(canonical ``https://hl7.fr/ig/fhir/core``, FHIR 4.0.1); each resource this server answers with
names its profile in ``meta.profile`` where one exists. ServiceRequest follows no FR Core profile:
the guide's draft one (fr-core-service-request) is not in a published release and asks for two
notes identified by fixed texts meant for documents (CDA), so it is plain R4.

The service's own identifiers and codes use the ``urn:dispatch:`` namespace: they name this
service's records (a request's number, a visit's number), not national ones.
"""

from __future__ import annotations

FR_CORE = "https://hl7.fr/ig/fhir/core"
#: FR Core profiles followed by the resources of this API (StructureDefinition ids).
PROFILES: dict[str, str] = {
    "Patient": f"{FR_CORE}/StructureDefinition/fr-core-patient",
    "Practitioner": f"{FR_CORE}/StructureDefinition/fr-core-practitioner",
    "Organization": f"{FR_CORE}/StructureDefinition/fr-core-organization",
    "Location": f"{FR_CORE}/StructureDefinition/fr-core-location",
    "Schedule": f"{FR_CORE}/StructureDefinition/fr-core-schedule",
    "Slot": f"{FR_CORE}/StructureDefinition/fr-core-slot",
    "Appointment": f"{FR_CORE}/StructureDefinition/fr-core-appointment",
    "Encounter": f"{FR_CORE}/StructureDefinition/fr-core-encounter",
}

#: FR Core's identifier types (HL7 v2 table 0203 with French codes: FINEG, INTRN...).
FR_V2_0203 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
#: FR Core's encounter identifier types (VN: visit number).
FR_IDENTIFIER_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-identifier-type"
#: FR Core's location identifier types (INTRN: internal).
FR_LOCATION_IDENTIFIER_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-location-identifier-type"
#: The FINESS register: identifier system of a structure's FINESS number (FR Core slice finess).
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
#: HL7 v2 table 0203 (PI: patient internal identifier, FR Core slice PI).
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
#: HL7 v3 ActCode (HH: home health, an Encounter's class).
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: HL7 v3 ParticipationType.
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
#: Core extension giving an address its latitude and longitude.
GEOLOCATION_EXTENSION = "http://hl7.org/fhir/StructureDefinition/geolocation"

#: This service's identifier systems and code systems.
PATIENT_SYSTEM = "urn:dispatch:patient"
STAFF_SYSTEM = "urn:dispatch:staff"
STRUCTURE_SYSTEM = "urn:dispatch:structure"
TEAM_SYSTEM = "urn:dispatch:team"
VISIT_SYSTEM = "urn:dispatch:visit"
REFERRAL_SYSTEM = "urn:dispatch:referral"
CARE_KIND_SYSTEM = "urn:dispatch:care-kind"
STRUCTURE_KIND_SYSTEM = "urn:dispatch:structure-kind"
STAFF_JOB_SYSTEM = "urn:dispatch:staff-job"
#: The extension carrying a request's state in this service (submitted, proposed, booked...).
REFERRAL_STATE_EXTENSION = "urn:dispatch:extension:referral-state"
#: The extension of a recurring request's Timing giving the last day its first visit may take
#: (the desired period's end; boundsPeriod then ends with the recurrence).
FIRST_VISIT_BY_EXTENSION = "urn:dispatch:extension:first-visit-by"

#: FHIR version of the resources' content: R4 (the R4B models validate it; FR Core is 4.0.1).
FHIR_VERSION = "4.0.1"
#: The only media type of this API.
FHIR_JSON = "application/fhir+json"


def meta(resource_type: str) -> dict[str, list[str]] | None:
    """``meta`` naming the FR Core profile of ``resource_type`` (None when it has none)."""
    profile = PROFILES.get(resource_type)
    return {"profile": [profile]} if profile else None
