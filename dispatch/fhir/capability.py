"""The CapabilityStatement of GET /fhir/metadata: exactly the interactions and search
parameters this server supports, with the FR Core profile each resource follows."""

from __future__ import annotations

from typing import Any

from dispatch.care.acts import ACT_IDS
from dispatch.fhir import profiles as p
from dispatch.fhir.mapping import validated

#: resource type -> (interactions, search parameters {name: (type, documentation)}).
SUPPORTED: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, str]]]] = {
    "Patient": (
        ("read", "search-type"),
        {"name": ("string", "part of the family or given name, pseudonym or commune")},
    ),
    "Practitioner": (
        ("read", "search-type"),
        {"active": ("token", "true (default: those still working) or false")},
    ),
    "Organization": (("read", "search-type"), {}),
    "Location": (("read", "search-type"), {}),
    "ServiceRequest": (
        ("create", "read", "search-type"),
        {"status": ("token", "active or revoked")},
    ),
    "Schedule": (("read",), {}),
    "Slot": (
        ("search-type",),
        {
            "schedule": ("reference", "Schedule/referral-<id> (required)"),
            "start": ("date", "ge, gt, le, lt or eq followed by a date or date-time"),
        },
    ),
    "Appointment": (("create", "read"), {}),
    "CodeSystem": (("read",), {}),
    "Encounter": (
        ("search-type",),
        {
            "patient": (
                "reference",
                "Patient/<id> or <id> (required): the visits done (finished) or under way"
                " (arrived, in-progress)",
            )
        },
    ),
}
#: Parameters every search takes (besides its own).
COMMON_PARAMS = {"_count": ("number", "entries per page"), "_offset": ("number", "first entry")}

SECURITY = (
    "Send 'Authorization: Bearer <token>' (a user's API token: `dispatch user token NAME`) or"
    " the session cookie of the web pages with the X-CSRF-Token header on POST. Roles and"
    " structures are those of the REST API: a record of another structure is not found; a"
    " referrer reads only their own requests, appointments and their patients' encounters."
)

CODES = (
    "ServiceRequest.code carries the care act asked, system `{system}` (the same whatever"
    " address the server is reached by; GET /fhir/CodeSystem/care-act, no login), codes:"
    " {acts}; then the coarse kind of care, system"
    " `urn:dispatch:care-kind`. ServiceRequest.priority: routine (« Habituelle »), urgent"
    " (« Dans les jours qui viennent »), asap (« Urgente »). An Appointment is the arrival"
    " window promised: start = the window's start, end = its latest start + the visit's"
    " duration, comment « passage entre HH:MM et HH:MM »."
)


def capability_statement(
    *, base_url: str, version: str, date: str, care_act_system: str
) -> dict[str, Any]:
    """The server's CapabilityStatement (validated); ``care_act_system``: the canonical
    system of the care acts (ServiceRequest.code), said in ``rest.documentation``."""
    resources = []
    for resource_type, (interactions, params) in SUPPORTED.items():
        entry: dict[str, Any] = {
            "type": resource_type,
            "interaction": [{"code": code} for code in interactions],
        }
        if resource_type in p.PROFILES:
            entry["profile"] = p.PROFILES[resource_type]
        if "search-type" in interactions:
            entry["searchParam"] = [
                {"name": name, "type": kind, "documentation": doc}
                for name, (kind, doc) in {**params, **COMMON_PARAMS}.items()
            ]
        resources.append(entry)
    data = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "dispatch",
        "kind": "instance",
        "software": {"name": "dispatch", "version": version},
        "implementation": {
            "description": "dispatch: home-care rounds, referrers' requests and booking",
            "url": base_url,
        },
        "fhirVersion": p.FHIR_VERSION,
        "format": [p.FHIR_JSON, "json"],
        "implementationGuide": [f"{p.FR_CORE}/ImplementationGuide/hl7.fhir.fr.core"],
        "rest": [
            {
                "mode": "server",
                "documentation": CODES.format(system=care_act_system, acts=", ".join(ACT_IDS)),
                "security": {"cors": False, "description": SECURITY},
                "resource": resources,
            }
        ],
    }
    return validated(data)
