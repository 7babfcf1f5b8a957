"""Resources sent by clients: read, validated by the R4B models, turned into the service's
input (a referral for a ServiceRequest, a booking for an Appointment).

Every fault is a ValidationError (400, an OperationOutcome under /fhir) naming the element to
fix with its FHIRPath-like location.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from dispatch.care import acts
from dispatch.errors import ValidationError
from dispatch.fhir import mapping as m
from dispatch.fhir import profiles as p
from dispatch.fhir.search import reference_id
from dispatch.store.models import shown

#: Most errors of a resource listed in one answer.
MAX_LISTED = 5


def read_resource(raw: bytes, resource_type: str) -> dict[str, Any]:
    """The JSON of a ``resource_type`` sent in a request body, validated by its R4B model."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(
            f"the body is not JSON ({exc}): send a {resource_type} resource as {p.FHIR_JSON}"
        ) from None
    except RecursionError:
        raise ValidationError("the body is nested too deeply: send a FHIR resource") from None
    if not isinstance(data, dict):
        raise ValidationError(f"the body must be a {resource_type} resource (a JSON object)")
    sent = data.get("resourceType")
    if sent != resource_type:
        raise ValidationError(
            f"resourceType is {shown(sent)}: POST /fhir/{resource_type} takes a {resource_type}"
        )
    try:
        model = get_fhir_model_class(resource_type).model_validate(data)
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors()[:MAX_LISTED]:
            where = ".".join(str(x) for x in error["loc"]) or resource_type
            problems.append(f"{resource_type}.{where}: {error['msg']}")
        more = len(exc.errors()) - len(problems)
        raise ValidationError(
            f"invalid {resource_type}: "
            + "; ".join(problems)
            + (f" (+{more} more)" if more > 0 else ""),
            details=[{"location": p_.split(":")[0]} for p_ in problems],
        ) from None
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"invalid {resource_type}: {str(exc)[:300]}") from None
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def _contained(
    resource: dict[str, Any], reference: Any, resource_type: str, where: str
) -> dict[str, Any]:
    """The contained resource a ``#id`` reference points to."""
    ref = (reference or {}).get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise ValidationError(
            f"ServiceRequest.{where}: reference a contained {resource_type} (#id) holding"
            f" the {'identity' if resource_type == 'Patient' else 'home'} of the patient"
        )
    for item in resource.get("contained") or []:
        if item.get("id") == ref[1:]:
            if item.get("resourceType") != resource_type:
                raise ValidationError(f"ServiceRequest.{where}: {ref} is not a {resource_type}")
            return item
    raise ValidationError(f"ServiceRequest.{where}: {ref} is not among contained")


def _some_code(concept: Any, system: str) -> str | None:
    for coding in (concept or {}).get("coding") or []:
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _act(concept: Any) -> str:
    """The care act of ``ServiceRequest.code`` (a coding of the server's care act system,
    required as the REST API requires ``act``)."""
    for coding in (concept or {}).get("coding") or []:
        if m.is_care_act_system(coding.get("system")) and coding.get("code"):
            code = str(coding["code"])
            if code not in acts.BY_ID:
                raise ValidationError(
                    f"ServiceRequest.code: care act {shown(code)} is unknown; use one of"
                    f" {', '.join(acts.ACT_IDS)}"
                )
            return code
    raise ValidationError(
        f"ServiceRequest.code: give a coding of the care acts' system ({m.CARE_ACT_URN}, or"
        f" <public address>/fhir{m.CARE_ACT_PATH}: GET /metadata names it) with the care act:"
        f" one of {', '.join(acts.ACT_IDS)}"
    )


def referral_input(sr: dict[str, Any]) -> dict[str, Any]:
    """The referrals service's REQUEST_IN from a validated ServiceRequest (see
    :func:`dispatch.fhir.mapping.service_request` for the mapping, which this reverses);
    ``lon`` and ``lat`` are None when the home has no position (its address is to be placed)."""
    person = _contained(sr, sr.get("subject"), "Patient", "subject")
    home = _contained(
        sr, (sr.get("locationReference") or [None])[0], "Location", "locationReference"
    )
    names = person.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if not name.get("family"):
        raise ValidationError("ServiceRequest.contained(Patient).name.family: give the family name")
    given = name.get("given") or []
    phone = next(
        (t.get("value") for t in person.get("telecom") or [] if t.get("system") == "phone"), None
    )
    address = (home.get("address") or {}).get("text")
    position = home.get("position") or {}
    if not address:
        raise ValidationError("ServiceRequest.contained(Location).address.text: give the address")
    # Without a position the web edge places the address with the offline geocoder.
    placed = position.get("longitude") is not None and position.get("latitude") is not None
    timing = sr.get("occurrenceTiming")
    if not timing or not timing.get("repeat"):
        raise ValidationError(
            "ServiceRequest.occurrenceTiming.repeat: give boundsPeriod (the desired period) and"
            " duration in min"
        )
    repeat = timing["repeat"]
    bounds = repeat.get("boundsPeriod") or {}
    if not bounds.get("start") or not bounds.get("end"):
        raise ValidationError(
            "ServiceRequest.occurrenceTiming.repeat.boundsPeriod: give start and end (days)"
        )
    if repeat.get("durationUnit") not in (None, "min"):
        raise ValidationError("ServiceRequest.occurrenceTiming.repeat.durationUnit: use min")
    duration = repeat.get("duration")
    if duration is None or float(duration) != int(float(duration)):
        raise ValidationError(
            "ServiceRequest.occurrenceTiming.repeat.duration: give the visit's minutes (5 to 240)"
        )
    whens = repeat.get("when") or []
    if len(whens) > 1 or (whens and whens[0] not in m.TIME_OF_DAY_OF_WHEN):
        raise ValidationError(
            "ServiceRequest.occurrenceTiming.repeat.when: give at most one of MORN, AFT, EVE"
        )
    recurrence = None
    period_to = str(bounds["end"])[:10]
    if repeat.get("frequency") is not None or repeat.get("dayOfWeek"):
        first_by = next(
            (
                e.get("valueDate")
                for e in timing.get("extension") or []
                if e.get("url") == p.FIRST_VISIT_BY_EXTENSION
            ),
            None,
        )
        if repeat.get("periodUnit", "d") != "d" or repeat.get("period", 1) not in (1, 1.0):
            raise ValidationError(
                "ServiceRequest.occurrenceTiming.repeat: a recurrence is per day (period 1,"
                " periodUnit d)"
            )
        recurrence = {
            "times_per_day": int(repeat.get("frequency") or 1),
            "weekdays": sorted(
                m.WEEKDAY_OF_DAY[d] for d in (repeat.get("dayOfWeek") or m.DAY_OF_WEEK.values())
            ),
            "until": str(bounds["end"])[:10],
        }
        period_to = str(first_by)[:10] if first_by else str(bounds["start"])[:10]
    reasons = [r.get("text") for r in sr.get("reasonCode") or [] if r.get("text")]
    if not reasons:
        raise ValidationError("ServiceRequest.reasonCode.text: give the reason of the request")
    prescription = None
    for note in sr.get("note") or []:
        if note.get("authorString") or note.get("time"):
            prescription = {
                "prescriber": note.get("authorString") or "",
                "date": str(note.get("time") or "")[:10],
                "details": note.get("text") or "",
            }
            break
    priority = sr.get("priority") or "routine"
    data: dict[str, Any] = {
        "patient": {
            "family_name": name["family"],
            "given_name": given[0] if given else "",
            "birth_date": person.get("birthDate"),
            "gender": person.get("gender") if person.get("gender") != "unknown" else None,
            "phone": phone,
        },
        "address": address,
        "lon": float(position["longitude"]) if placed else None,
        "lat": float(position["latitude"]) if placed else None,
        "access_notes": home.get("description"),
        "reason": "; ".join(reasons),
        "act": _act(sr.get("code")),
        "care_kind": _some_code(sr.get("code"), p.CARE_KIND_SYSTEM),
        "duration_min": int(float(duration)),
        "urgency": m.URGENCY_OF_PRIORITY[priority],
        "period_from": str(bounds["start"])[:10],
        "period_to": period_to,
        "time_of_day": m.TIME_OF_DAY_OF_WHEN[whens[0]] if whens else "any",
        "recurrence": recurrence,
        "prescription": prescription,
    }
    performers = sr.get("performer") or []
    if performers:
        ref = performers[0].get("reference")
        structure = reference_id(ref, "Organization", what="ServiceRequest.performer")
        if not structure.isdigit():
            raise ValidationError("ServiceRequest.performer: reference an Organization/<id>")
        data["structure_id"] = int(structure)
    return data


#: Appointment.status (appointmentstatus, required binding).
APPOINTMENT_STATUSES = (
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
)


def booking_input(appointment: dict[str, Any]) -> tuple[str, str]:
    """``(service request id, slot id)`` of an Appointment that books a request's slot
    (status ``booked``: a status that is none of FHIR's, or another, is named first)."""
    status = appointment.get("status")
    if status not in APPOINTMENT_STATUSES:
        raise ValidationError(
            f"Appointment.status: {shown(status)} is not an Appointment status (one of"
            f" {', '.join(APPOINTMENT_STATUSES)}): send booked to book"
        )
    if status != "booked":
        raise ValidationError(
            f"Appointment.status is {status}: a new Appointment here is a booking, send"
            " status booked"
        )
    slots = appointment.get("slot") or []
    based = appointment.get("basedOn") or []
    if len(slots) != 1:
        raise ValidationError(
            "Appointment.slot: reference exactly one Slot/<id> (from a Slot search)"
        )
    if len(based) != 1:
        raise ValidationError("Appointment.basedOn: reference the ServiceRequest/<id> it books")
    slot_id = reference_id(slots[0].get("reference"), "Slot", what="Appointment.slot")
    request_id = reference_id(
        based[0].get("reference"), "ServiceRequest", what="Appointment.basedOn"
    )
    return request_id, slot_id
