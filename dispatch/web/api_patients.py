"""REST endpoints of patients: records, care plans, suspensions, discharge and readmission, export,
consent-based sharing, visits of a patient and the CSV import with its review step.

Coordinators only, and never administrators (patients' details are care data, not accounts).
Every route passes the caller's structures: a patient of another structure answers 404, as
one that does not exist; a coordinator of a structure the patient agreed to share with (a
DAC) reads the record (GET /api/patients/{id}, audited patient.read_shared) and nothing else.
Bodies are checked against the JSON Schemas of the OpenAPI document before anything else, so
the document and the server refuse the same requests.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.care import patients as service
from dispatch.errors import ValidationError
from dispatch.store.patients import GEOCODE_PRECISIONS, PATIENT_STATUSES, SEXES, SUSPENSION_REASONS
from dispatch.web.api_intake import _csv_text, get_geocoder
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import (
    BOOL_QUERY,
    DAY_QUERY,
    DAY_SCHEMA,
    NOT_BLANK,
    PAGE_PARAMS,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import (
    arg_bool,
    arg_choice,
    arg_day,
    arg_int,
    get_bus,
    json_body,
    ok,
    page_args,
    paged,
    service_area,
)
from dispatch.web.scope import TARGET_STRUCTURE_SCHEMA, target_structure, visible_structures

bp = Blueprint("api_patients", __name__)

# -- schemas ---------------------------------------------------------------------------------------
_NULL = {"type": "null"}


def _text(max_len: int, *, nullable: bool = True) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_len}


_NAME_TEXT = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK}
_DAY_OR_NULL = {"anyOf": [DAY_SCHEMA, _NULL]}
_ID = {"type": "integer", "minimum": 1, "maximum": 2**53}
_CONTACT = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME_TEXT, "relation": _text(100), "phone": _text(40)},
    "additionalProperties": False,
}
_SYSTEM_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.\\-]{0,39}$"
_PATIENT_PROPERTIES: dict[str, Any] = {
    "pseudonym": {
        "type": "string",
        "minLength": 1,
        "maxLength": 40,
        "pattern": NOT_BLANK,
        "description": "shown on shared screens; drawn (« Patient 7F3A ») when not given",
    },
    "family_name": _NAME_TEXT,
    "given_name": _text(100),
    "birth_date": _DAY_OR_NULL,
    "sex": {"enum": list(SEXES)},
    "phone": _text(40),
    "address": _text(200),
    "commune": _text(200),
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "geocode_precision": {"enum": list(GEOCODE_PRECISIONS)},
    "pin_corrected": {"type": "boolean"},
    "access_notes": _text(2000),
    "referring_doctor": _text(200),
    "contacts": {"type": "array", "maxItems": 20, "items": _CONTACT},
    "external_ids": {
        "type": "object",
        "maxProperties": 20,
        "propertyNames": {"pattern": _SYSTEM_PATTERN},
        "additionalProperties": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "pattern": NOT_BLANK,
        },
        "example": {"INS": "2380420033123"},
    },
    "admitted_on": DAY_SCHEMA,
}
_PLACED = {
    "anyOf": [
        {"required": ["lon", "lat"]},
        {
            "required": ["address"],
            "properties": {"address": {"type": "string", "pattern": NOT_BLANK}},
        },
        {
            "required": ["commune"],
            "properties": {"commune": {"type": "string", "pattern": NOT_BLANK}},
        },
    ]
}
PATIENT_CREATE = {
    "type": "object",
    "required": ["family_name"],
    "properties": {**_PATIENT_PROPERTIES, "structure_id": TARGET_STRUCTURE_SCHEMA},
    "additionalProperties": False,
    "dependentRequired": {"lon": ["lat"], "lat": ["lon"]},
    **_PLACED,
}
PATIENT_UPDATE = {
    "type": "object",
    "properties": _PATIENT_PROPERTIES,
    "additionalProperties": False,
    "dependentRequired": {"lon": ["lat"], "lat": ["lon"]},
}
_SUSPENSION_VIEW = {
    "type": "object",
    "required": ["id", "patient_id", "from_day", "to_day", "reason", "active"],
    "properties": {
        "id": {"type": "integer"},
        "patient_id": {"type": "integer"},
        "from_day": {"type": "string"},
        "to_day": {"type": ["string", "null"]},
        "reason": {"enum": list(SUSPENSION_REASONS)},
        "note": {"type": ["string", "null"]},
        "active": {"type": "boolean"},
        "cancelled": {"type": "integer", "description": "visits it cancelled (lists only)"},
    },
}
PATIENT_VIEW = {
    "type": "object",
    "required": ["id", "structure_id", "pseudonym", "status", "archived", "care_plans"],
    "properties": {
        "id": {"type": "integer"},
        "structure_id": {"type": "integer"},
        "pseudonym": {"type": "string"},
        "family_name": {"type": ["string", "null"]},
        "given_name": {"type": ["string", "null"]},
        "birth_date": {"type": ["string", "null"]},
        "sex": {"enum": list(SEXES)},
        "phone": {"type": ["string", "null"]},
        "address": {"type": ["string", "null"]},
        "commune": {"type": ["string", "null"]},
        "lon": {"type": ["number", "null"]},
        "lat": {"type": ["number", "null"]},
        "geocode_precision": {"enum": [*GEOCODE_PRECISIONS, None]},
        "pin_corrected": {"type": "boolean"},
        "access_notes": {"type": ["string", "null"]},
        "referring_doctor": {"type": ["string", "null"]},
        "contacts": {"type": "array"},
        "external_ids": {"type": "object"},
        "status": {"enum": list(PATIENT_STATUSES)},
        "suspension": {"anyOf": [_SUSPENSION_VIEW, _NULL]},
        "admitted_on": {"type": ["string", "null"]},
        "discharged_on": {"type": ["string", "null"]},
        "archived": {"type": "boolean"},
        "purged": {"type": "boolean"},
        "demo": {"type": "boolean"},
        "care_plans": {"type": "integer", "description": "active care plans"},
        "shared": {
            "type": ["object", "null"],
            "description": "the sharing that lets another structure read this record",
        },
    },
}
_GENERATION = {
    "type": ["object", "null"],
    "description": "what the regeneration of the visits did (counts)",
    "properties": {
        k: {"type": "integer"} for k in ("created", "updated", "unchanged", "cancelled")
    },
}
_PATIENT_OUT = {
    "type": "object",
    "required": ["ok", "patient"],
    "properties": {"ok": {"const": True}, "patient": PATIENT_VIEW, "generation": _GENERATION},
}
_WINDOW_TEXT = "([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)"
_KIND = "^[a-z0-9][a-z0-9_\\-]{0,39}$"
_STAFF_IDS = {"type": "array", "maxItems": 50, "items": _ID}
_CARE_PLAN_PROPERTIES: dict[str, Any] = {
    "label": _text(200),
    "kind": {"type": "string", "pattern": _KIND, "example": "insulin"},
    "duration_s": {"type": "integer", "minimum": 60, "maximum": 43200},
    "windows": {
        "type": "array",
        "minItems": 1,
        "maxItems": 8,
        "items": {"type": "string", "pattern": f"^{_WINDOW_TEXT}$"},
        "example": ["08:00-09:00", "18:00-19:00"],
    },
    "rrule": {
        "type": "string",
        "minLength": 1,
        "maxLength": 300,
        "description": "RFC 5545 RRULE without DTSTART (the first day is start_day)",
        "example": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    },
    "start_day": DAY_SCHEMA,
    "end_day": _DAY_OR_NULL,
    "skills": {"type": "array", "maxItems": 20, "items": {"type": "string", "pattern": _KIND}},
    "priority": {"type": ["integer", "null"], "minimum": 0, "maximum": 3},
    "exceptions": {"type": "array", "maxItems": 366, "items": DAY_SCHEMA},
    "additions": {"type": "array", "maxItems": 366, "items": DAY_SCHEMA},
    "wishes": {
        "type": "object",
        "properties": {
            "preferred_staff_ids": _STAFF_IDS,
            "excluded_staff_ids": _STAFF_IDS,
            "gender": {"enum": ["female", "male", None]},
        },
        "additionalProperties": False,
    },
    "staff_count": {"enum": [1, 2]},
}
CARE_PLAN_CREATE = {
    "type": "object",
    "required": ["kind", "duration_s", "windows", "rrule", "start_day"],
    "properties": _CARE_PLAN_PROPERTIES,
    "additionalProperties": False,
}
CARE_PLAN_UPDATE = {
    "type": "object",
    "properties": _CARE_PLAN_PROPERTIES,
    "additionalProperties": False,
}
_CARE_PLAN_OUT = {
    "type": "object",
    "required": ["ok", "care_plan", "generation"],
    "properties": {
        "ok": {"const": True},
        "care_plan": {
            "type": "object",
            "required": ["id", "patient_id", "label", "active", "kind", "windows", "rrule"],
        },
        "generation": _GENERATION,
    },
}
SUSPENSION_CREATE = {
    "type": "object",
    "required": ["from_day"],
    "properties": {
        "from_day": DAY_SCHEMA,
        "to_day": _DAY_OR_NULL,
        "reason": {"enum": list(SUSPENSION_REASONS)},
        "note": _text(500),
    },
    "additionalProperties": False,
}
_SUSPENSION_OUT = {
    "type": "object",
    "required": ["ok", "suspension", "generation"],
    "properties": {
        "ok": {"const": True},
        "suspension": _SUSPENSION_VIEW,
        "generation": _GENERATION,
    },
}
SHARING_CREATE = {
    "type": "object",
    "required": ["structure_id", "consent_on"],
    "properties": {"structure_id": _ID, "consent_on": DAY_SCHEMA, "purpose": _text(500)},
    "additionalProperties": False,
}
_SHARING_OUT = {
    "type": "object",
    "required": ["ok", "sharing"],
    "properties": {"ok": {"const": True}, "sharing": {"type": "object"}},
}
DISCHARGE = {
    "type": "object",
    "properties": {"day": DAY_SCHEMA},
    "additionalProperties": False,
}
READMIT = {
    "type": "object",
    "properties": {"day": DAY_SCHEMA},
    "additionalProperties": False,
}
_ITEMS_OUT = {
    "type": "object",
    "required": ["ok", "items"],
    "properties": {"ok": {"const": True}, "items": {"type": "array"}},
}
_IMPORT_ROW = {
    "type": "object",
    "required": ["patient"],
    "properties": {
        "line": {"type": "integer", "minimum": 1, "maximum": 2**31},
        "patient": {
            "type": "object",
            "properties": _PATIENT_PROPERTIES,
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
IMPORT_CONFIRM = {
    "type": "object",
    "required": ["rows"],
    "properties": {
        "rows": {"type": "array", "minItems": 1, "maxItems": 5000, "items": _IMPORT_ROW},
        "structure_id": TARGET_STRUCTURE_SCHEMA,
    },
    "additionalProperties": False,
}

_PID = [path_param("patient_id")]
_TAGS = ["patients"]
_ROLES = ("coordinator",)
_REGEN = " The answer's generation gives what the regeneration of the visits over the horizon did."
OPENAPI_PATHS = {
    "/api/patients": {
        "get": operation(
            "List patients (no phone, access notes, contacts or identifiers; the read is audited)",
            roles=_ROLES,
            tags=_TAGS,
            params=[
                *PAGE_PARAMS,
                query_param("status", {"enum": [*PATIENT_STATUSES, ""]}, "empty: in care"),
                query_param("q", {"type": "string", "maxLength": 100}, "name, pseudonym, commune"),
                query_param("shared", BOOL_QUERY, "patients of other structures shared with yours"),
            ],
            paged=True,
            description="Without status: the patients in care (admitted or suspended). With "
            "shared=true: the patients of other structures whose consent lets yours read "
            "them, each carrying its sharing and each read audited as patient.read_shared.",
        ),
        "post": operation(
            "Admit a patient (the address is placed by the offline geocoder)",
            roles=_ROLES,
            tags=_TAGS,
            body=PATIENT_CREATE,
            status=201,
            response=_PATIENT_OUT,
            description="Without lon/lat the address (and commune) is geocoded offline; an "
            "address the territory does not know answers 422 (address_not_found). lon/lat "
            "given: the coordinator's pin (geocode_precision manual, pin_corrected true). "
            "structure_id: one of yours (needed if you work for several).",
        ),
    },
    "/api/patients/import/preview": {
        "post": operation(
            "Check a CSV of patients: each line geocoded, likely duplicates flagged; nothing stored",
            roles=_ROLES,
            tags=_TAGS,
            params=[query_param("structure_id", {"type": "integer", "minimum": 1})],
            body={"type": "string", "minLength": 1},
            body_content_type="text/csv",
            response={
                "type": "object",
                "required": ["ok", "rows"],
                "properties": {"ok": {"const": True}, "rows": {"type": "array"}},
            },
            description="Columns: " + ", ".join(service.CSV_COLUMNS) + ", and id_SYSTEM "
            "(id_INS...) for external identifiers. Separator ';', ',' or tab; dates "
            "YYYY-MM-DD or DD/MM/YYYY; sex F, M, other or empty. Each row: {line, patient, "
            "match, error, warning, duplicate_of, importable}; a duplicate has the same "
            "family name, given name and birth date as a patient of the structure or an "
            "earlier line. Also accepted as a multipart upload named 'file'.",
        )
    },
    "/api/patients/import/confirm": {
        "post": operation(
            "Admit the reviewed patients in one transaction (all or none; per-row errors in details)",
            roles=_ROLES,
            tags=_TAGS,
            body=IMPORT_CONFIRM,
            status=201,
            response={
                "type": "object",
                "required": ["ok", "imported", "ids"],
                "properties": {
                    "ok": {"const": True},
                    "imported": {"type": "integer"},
                    "ids": {"type": "array", "items": {"type": "integer"}},
                },
            },
            description="Rows as the preview returned them (pins possibly moved, rows left "
            "out removed). A row without lon/lat is placed from its address; one placed only "
            "at its commune's centre must have its pin placed.",
        )
    },
    "/api/patients/{patient_id}": {
        "get": operation(
            "A patient's record (audited; a structure the patient shared with reads it too)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            response=_PATIENT_OUT,
            description="A coordinator of a structure the patient agreed to share with (a "
            "live sharing) reads the record without access notes; the read is audited as "
            "patient.read_shared with the sharing's id. Otherwise another structure's "
            "patient is 404.",
        ),
        "patch": operation(
            "Change a patient's record",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            body=PATIENT_UPDATE,
            response=_PATIENT_OUT,
            description="Only the fields sent change. A new address without lon/lat is "
            "placed again; lon/lat: the pin moved by hand." + _REGEN,
        ),
    },
    "/api/patients/{patient_id}/discharge": {
        "post": operation(
            "Discharge a patient: the record is archived, the visits from that day cancelled",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            body=DISCHARGE,
            response=_PATIENT_OUT,
            description="day: the day the patient leaves care (default today). The archived "
            "record loses its identity after the retention (setting patient_retention_days)."
            + _REGEN,
        )
    },
    "/api/patients/{patient_id}/readmit": {
        "post": operation(
            "Readmit a discharged patient: the record is in care again (no longer archived)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            body=READMIT,
            response=_PATIENT_OUT,
            description="day: the day the patient comes back into care (default today; not "
            "before the discharge day); it becomes admitted_on. The care plans the discharge "
            "ended stay ended: add the care plan the patient needs now. A suspension covering "
            "that day ends the day before. A patient in care, or a record erased after the "
            "retention, answers 409 saying what to do." + _REGEN,
        )
    },
    "/api/patients/{patient_id}/export": {
        "get": operation(
            "Everything stored about a patient, as a JSON file (subject access request; audited)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            response={"type": "object", "required": ["format", "patient"]},
            description="Identity, care plans, suspensions, sharings, visits with their "
            "details and events, and the audit of who read the record.",
        )
    },
    "/api/patients/{patient_id}/visits": {
        "get": operation(
            "The patient's visits over some days (pseudonym only)",
            roles=_ROLES,
            tags=_TAGS,
            params=[
                *_PID,
                query_param("from", DAY_QUERY, "first day (today)"),
                query_param(
                    "days",
                    {
                        "anyOf": [
                            {"type": "integer", "minimum": 1, "maximum": 62},
                            {"type": "string", "maxLength": 0},
                        ]
                    },
                    "days (14)",
                ),
            ],
            response=_ITEMS_OUT,
            description="Ordered by day then window start; cancelled_by says why generation "
            "cancelled one (suspended, no_longer_planned).",
        )
    },
    "/api/patients/{patient_id}/care-plans": {
        "get": operation(
            "The patient's care plans (active first)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            response=_ITEMS_OUT,
        ),
        "post": operation(
            "Add a care plan (recurring visits); its visits are generated over the horizon",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            body=CARE_PLAN_CREATE,
            status=201,
            response=_CARE_PLAN_OUT,
            description="windows: one visit a day per window, local wall-clock times. rrule: "
            "RFC 5545 (FREQ=DAILY, FREQ=WEEKLY;BYDAY=MO,WE,FR, FREQ=WEEKLY;INTERVAL=2;BYDAY=TU)"
            " from start_day; exceptions: days skipped, additions: one-off days. Rules between "
            "fields (windows that overlap or end before they start, an end before the start, "
            "a rule that gives no day, a staff both preferred and excluded) answer 400 saying "
            "which." + _REGEN,
        ),
    },
    "/api/patients/{patient_id}/care-plans/{plan_id}": {
        "patch": operation(
            "Change a care plan: its future visits not edited by hand follow",
            roles=_ROLES,
            tags=_TAGS,
            params=[*_PID, path_param("plan_id", "care plan id")],
            body=CARE_PLAN_UPDATE,
            response=_CARE_PLAN_OUT,
            description="Only the fields sent change; the plan is checked again whole." + _REGEN,
        ),
        "delete": operation(
            "End a care plan (kept, inactive): its future visits are cancelled",
            roles=_ROLES,
            tags=_TAGS,
            params=[*_PID, path_param("plan_id", "care plan id")],
            response=_CARE_PLAN_OUT,
        ),
    },
    "/api/patients/{patient_id}/suspensions": {
        "get": operation(
            "The patient's suspensions (newest first, with the visits each cancelled)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            response=_ITEMS_OUT,
        ),
        "post": operation(
            "Suspend care from/to (hospitalisation...): the visits of those days are cancelled",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            body=SUSPENSION_CREATE,
            status=201,
            response=_SUSPENSION_OUT,
            description="to_day null: until further notice. reason: hospitalisation (default "
            "other)." + _REGEN,
        ),
    },
    "/api/patients/{patient_id}/suspensions/{suspension_id}": {
        "delete": operation(
            "End a suspension (cancel it if not begun): its visits come back",
            roles=_ROLES,
            tags=_TAGS,
            params=[*_PID, path_param("suspension_id")],
            response=_SUSPENSION_OUT,
            description="One under way ends yesterday (the patient is back today); one over "
            "stays on record (409)." + _REGEN,
        )
    },
    "/api/patients/{patient_id}/sharings": {
        "get": operation(
            "Structures the patient agreed to share the record with (live and revoked)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            response=_ITEMS_OUT,
        ),
        "post": operation(
            "Record the patient's consent to share the record with another structure (a DAC)",
            roles=_ROLES,
            tags=_TAGS,
            params=_PID,
            body=SHARING_CREATE,
            status=201,
            response=_SHARING_OUT,
            description="consent_on: the day the patient (or their representative) agreed; "
            "not in the future. That structure's coordinators then read the record "
            "(GET /api/patients/{id}, audited patient.read_shared).",
        ),
    },
    "/api/patients/{patient_id}/sharings/{sharing_id}": {
        "delete": operation(
            "Revoke a sharing (consent withdrawn): the other structure reads no more",
            roles=_ROLES,
            tags=_TAGS,
            params=[*_PID, path_param("sharing_id")],
            response=_SHARING_OUT,
        )
    },
}


# -- the body check: the document's schemas, enforced ------------------------------------------------
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


def _where(path: str) -> str:
    return path or "the body"


def check_schema(schema: dict[str, Any], value: Any, path: str = "") -> Any:
    """``value`` checked against ``schema`` (the JSON Schema subset this module writes);
    whole numbers sent as 3.0 come back as 3. ValidationError names the field and the rule."""
    kinds = schema.get("type")
    if kinds is not None:
        names = kinds if isinstance(kinds, list) else [kinds]
        if not any(_TYPES[n](value) for n in names):
            raise ValidationError(f"{_where(path)} must be {' or '.join(names)}")
        if "integer" in names and isinstance(value, float):
            value = int(value)
    if "const" in schema and value != schema["const"]:
        raise ValidationError(f"{_where(path)} must be {json.dumps(schema['const'])}")
    if "enum" in schema and not any(
        value == e and type(value) is type(e) or (value is None and e is None)
        for e in schema["enum"]
    ):
        if not (isinstance(value, float) and value.is_integer() and int(value) in schema["enum"]):
            shown = ", ".join(json.dumps(e) for e in schema["enum"])
            raise ValidationError(f"{_where(path)} must be one of {shown}")
        value = int(value)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise ValidationError(f"{_where(path)} is empty")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValidationError(f"{_where(path)} is longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise ValidationError(f"{_where(path)} is not written as expected")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(f"{_where(path)} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(f"{_where(path)} must be at most {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise ValidationError(f"{_where(path)} needs at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ValidationError(f"{_where(path)} has more than {schema['maxItems']} items")
        if "items" in schema:
            value = [check_schema(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        value = dict(value)
        for key in schema.get("required", ()):
            if key not in value:
                raise ValidationError(f"{path + '.' if path else ''}{key} is missing")
        for key, needs in schema.get("dependentRequired", {}).items():
            if key in value and any(n not in value for n in needs):
                raise ValidationError("give both lon and lat (longitude first), or neither")
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            raise ValidationError(f"{_where(path)} has more than {schema['maxProperties']} entries")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        name_rule = schema.get("propertyNames")
        for key in list(value):
            where = f"{path + '.' if path else ''}{key}"
            if name_rule is not None and not re.search(name_rule["pattern"], key):
                raise ValidationError(f"{where}: {json.dumps(key)[:40]} is not a valid name")
            if key in props:
                value[key] = check_schema(props[key], value[key], where)
            elif extra is False:
                known = ", ".join(props)
                raise ValidationError(
                    f"unknown field {json.dumps(key)[:60]} in {_where(path)}; the fields are {known}"
                )
            elif isinstance(extra, dict):
                value[key] = check_schema(extra, value[key], where)
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                value = check_schema(option, value, path)
                break
            except ValidationError as exc:
                errors.append(exc.message)
        else:
            if path == "" and "required" in schema["anyOf"][0]:
                raise ValidationError(
                    "give the address (it is placed on the map) or lon and lat (the pin)"
                )
            raise ValidationError(errors[0])
    return value


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = check_schema(schema, json_body())
    return checked


# -- helpers ---------------------------------------------------------------------------------------
def _caller() -> service.Caller:
    principal = current_principal()
    return service.Caller(
        actor=principal.actor, role=principal.role, ip=client_ip(), structures=visible_structures()
    )


def _clock() -> Any:
    from dispatch.web.live import get_clock

    return get_clock()


def _today() -> str:
    today: str = _clock().today()
    return today


def _generation() -> service.Generation:
    clock = _clock()
    settings = current_app.extensions["dispatch.settings"]
    return service.Generation(
        today=clock.today(),
        horizon_days=int(getattr(settings, "generation_horizon_days", 14)),
        tz=clock.tz.key,
        now_s=clock.local().timestamp(),
        bus=get_bus(),
    )


#: Answers that hold patients' details: never kept by a browser or proxy cache.
@bp.after_request
def _no_store(response: Response) -> Response:
    if request.endpoint and request.endpoint.startswith("api_patients."):
        response.headers["Cache-Control"] = "no-store, private"
    return response


# -- patients --------------------------------------------------------------------------------------
@bp.get("/api/patients")
@require("coordinator", admin=False)
def list_patients() -> ResponseReturnValue:
    caller = _caller()
    limit, offset = page_args()
    q = request.args.get("q")
    if q is not None and len(q) > 100:
        raise ValidationError(
            "q is longer than 100 characters: type a name, a pseudonym or a commune"
        )
    page = get_store().list_patients(
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        status=arg_choice("status", PATIENT_STATUSES),
        q=q,
        shared=arg_bool("shared"),
        limit=limit,
        offset=offset,
        today=_today(),
    )
    return paged(page)


@bp.post("/api/patients")
@require("coordinator", admin=False)
def create_patient() -> ResponseReturnValue:
    body = _body(PATIENT_CREATE)
    structure_id = target_structure(body.pop("structure_id", None))
    patient = service.create_patient(
        get_store(),
        body,
        caller=_caller(),
        structure_id=structure_id,
        geocoder=get_geocoder(),
        area=service_area(),
        today=_today(),
    )
    return ok(201, patient=patient)


@bp.get("/api/patients/<int:patient_id>")
@require("coordinator", admin=False)
def get_patient(patient_id: int) -> ResponseReturnValue:
    caller = _caller()
    patient = get_store().get_patient(
        patient_id,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=_today(),
        detail={"via": current_principal().via},
    )
    return ok(patient=patient)


@bp.patch("/api/patients/<int:patient_id>")
@require("coordinator", admin=False)
def update_patient(patient_id: int) -> ResponseReturnValue:
    patient, generation = service.update_patient(
        get_store(),
        patient_id,
        _body(PATIENT_UPDATE),
        caller=_caller(),
        gen=_generation(),
        geocoder=get_geocoder(),
        area=service_area(),
    )
    return ok(patient=patient, generation=generation)


@bp.post("/api/patients/<int:patient_id>/discharge")
@require("coordinator", admin=False)
def discharge_patient(patient_id: int) -> ResponseReturnValue:
    body = _body(DISCHARGE)
    patient, generation = service.discharge_patient(
        get_store(), patient_id, body.get("day"), caller=_caller(), gen=_generation()
    )
    return ok(patient=patient, generation=generation)


@bp.post("/api/patients/<int:patient_id>/readmit")
@require("coordinator", admin=False)
def readmit_patient(patient_id: int) -> ResponseReturnValue:
    body = _body(READMIT)
    patient, generation = service.readmit_patient(
        get_store(), patient_id, body.get("day"), caller=_caller(), gen=_generation()
    )
    return ok(patient=patient, generation=generation)


@bp.get("/api/patients/<int:patient_id>/export")
@require("coordinator", admin=False)
def export_patient(patient_id: int) -> ResponseReturnValue:
    caller = _caller()
    export = get_store().export_patient(
        patient_id,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=_today(),
    )
    text = json.dumps(export, ensure_ascii=False, indent=1, default=str)
    return Response(
        text,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="patient-{patient_id}.json"',
        },
    )


@bp.get("/api/patients/<int:patient_id>/visits")
@require("coordinator", admin=False)
def patient_visits(patient_id: int) -> ResponseReturnValue:
    days = arg_int("days", lo=1, hi=62, default=14)
    assert days is not None
    items = get_store().patient_visits(
        patient_id,
        structures=visible_structures(),
        from_day=arg_day("from") or _today(),
        days=days,
    )
    return ok(items=items)


# -- care plans ------------------------------------------------------------------------------------
@bp.get("/api/patients/<int:patient_id>/care-plans")
@require("coordinator", admin=False)
def list_care_plans(patient_id: int) -> ResponseReturnValue:
    return ok(items=get_store().list_care_plans(patient_id, structures=visible_structures()))


@bp.post("/api/patients/<int:patient_id>/care-plans")
@require("coordinator", admin=False)
def add_care_plan(patient_id: int) -> ResponseReturnValue:
    plan, generation = service.add_care_plan(
        get_store(), patient_id, _body(CARE_PLAN_CREATE), caller=_caller(), gen=_generation()
    )
    return ok(201, care_plan=plan, generation=generation)


@bp.patch("/api/patients/<int:patient_id>/care-plans/<int:plan_id>")
@require("coordinator", admin=False)
def update_care_plan(patient_id: int, plan_id: int) -> ResponseReturnValue:
    plan, generation = service.update_care_plan(
        get_store(),
        patient_id,
        plan_id,
        _body(CARE_PLAN_UPDATE),
        caller=_caller(),
        gen=_generation(),
    )
    return ok(care_plan=plan, generation=generation)


@bp.delete("/api/patients/<int:patient_id>/care-plans/<int:plan_id>")
@require("coordinator", admin=False)
def end_care_plan(patient_id: int, plan_id: int) -> ResponseReturnValue:
    plan, generation = service.end_care_plan(
        get_store(), patient_id, plan_id, caller=_caller(), gen=_generation()
    )
    return ok(care_plan=plan, generation=generation)


# -- suspensions -----------------------------------------------------------------------------------
@bp.get("/api/patients/<int:patient_id>/suspensions")
@require("coordinator", admin=False)
def list_suspensions(patient_id: int) -> ResponseReturnValue:
    return ok(items=get_store().list_suspensions(patient_id, structures=visible_structures()))


@bp.post("/api/patients/<int:patient_id>/suspensions")
@require("coordinator", admin=False)
def add_suspension(patient_id: int) -> ResponseReturnValue:
    suspension, generation = service.add_suspension(
        get_store(), patient_id, _body(SUSPENSION_CREATE), caller=_caller(), gen=_generation()
    )
    return ok(201, suspension=suspension, generation=generation)


@bp.delete("/api/patients/<int:patient_id>/suspensions/<int:suspension_id>")
@require("coordinator", admin=False)
def end_suspension(patient_id: int, suspension_id: int) -> ResponseReturnValue:
    suspension, generation = service.end_suspension(
        get_store(), patient_id, suspension_id, caller=_caller(), gen=_generation()
    )
    return ok(suspension=suspension, generation=generation)


# -- sharings --------------------------------------------------------------------------------------
@bp.get("/api/patients/<int:patient_id>/sharings")
@require("coordinator", admin=False)
def list_sharings(patient_id: int) -> ResponseReturnValue:
    return ok(items=get_store().list_sharings(patient_id, structures=visible_structures()))


@bp.post("/api/patients/<int:patient_id>/sharings")
@require("coordinator", admin=False)
def add_sharing(patient_id: int) -> ResponseReturnValue:
    sharing = service.share_patient(
        get_store(), patient_id, _body(SHARING_CREATE), caller=_caller(), today=_today()
    )
    return ok(201, sharing=sharing)


@bp.delete("/api/patients/<int:patient_id>/sharings/<int:sharing_id>")
@require("coordinator", admin=False)
def revoke_sharing(patient_id: int, sharing_id: int) -> ResponseReturnValue:
    sharing = service.revoke_sharing(get_store(), patient_id, sharing_id, caller=_caller())
    return ok(sharing=sharing)


# -- CSV import ------------------------------------------------------------------------------------
@bp.post("/api/patients/import/preview")
@require("coordinator", admin=False)
def import_preview() -> ResponseReturnValue:
    caller = _caller()
    structure_id = target_structure(request.args.get("structure_id"))
    text = _csv_text()
    store = get_store()
    rows = service.preview_patients_csv(
        text,
        geocoder=get_geocoder(),
        existing=store.patient_identities(structures=[structure_id]),
        area=service_area(),
    )
    store.audit(
        caller.actor,
        "patient.import.preview",
        role=caller.role,
        ip=caller.ip,
        detail={"rows": len(rows), "structure_id": structure_id},
    )
    return ok(rows=[r.to_dict() for r in rows])


@bp.post("/api/patients/import/confirm")
@require("coordinator", admin=False)
def import_confirm() -> ResponseReturnValue:
    body = _body(IMPORT_CONFIRM)
    structure_id = target_structure(body.get("structure_id"))
    created = service.import_patients(
        get_store(),
        body["rows"],
        caller=_caller(),
        structure_id=structure_id,
        geocoder=get_geocoder(),
        area=service_area(),
        today=_today(),
    )
    return ok(201, imported=len(created), ids=[p["id"] for p in created], errors=[])


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
