"""The service's records as FHIR R4 resources, each validated by the R4B models of
``fhir.resources`` before it leaves the server.

Pure functions: a store row or a service dict in, a resource's JSON (a dict) out. Which FR Core
profile each resource follows is said at its function and in its ``meta.profile``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B import get_fhir_model_class

from dispatch.care import acts
from dispatch.fhir import profiles as p

#: Where the local code system of care acts (dispatch.care.acts) lives under the canonical base.
CARE_ACT_PATH = "/CodeSystem/care-act"
#: The care acts' system when the service has no public address (settings.public_url).
CARE_ACT_URN = "urn:dispatch:care-act"


def care_act_system(base_url: str | None) -> str:
    """The canonical system of care act codings: ``<base>/CodeSystem/care-act`` under the
    service's canonical FHIR base (its public address + ``/fhir``), else the URN. Never the
    address a client happened to use: the same code keeps one system through any proxy."""
    return f"{base_url.rstrip('/')}{CARE_ACT_PATH}" if base_url else CARE_ACT_URN


def is_care_act_system(system: Any) -> bool:
    """Whether a coding's system is the care acts' one (the URN, or under any base: codes
    written before a public address was configured, or under an earlier one, still read)."""
    return isinstance(system, str) and (system == CARE_ACT_URN or system.endswith(CARE_ACT_PATH))


def care_act_code_system(system: str) -> dict[str, Any]:
    """The care acts (dispatch.care.acts) as the CodeSystem ``system`` names: each act's
    code, French name as display, English name as a designation."""
    data = {
        "resourceType": "CodeSystem",
        "id": "care-act",
        "url": system,
        "name": "CareAct",
        "title": "Actes de soins à domicile",
        "status": "active",
        "publisher": "dispatch",
        "description": "What a home-care visit is for: the acts a referrer asks for and a"
        " care plan repeats (the patients screen's kinds of care).",
        "caseSensitive": True,
        "content": "complete",
        "count": len(acts.ACTS),
        "concept": [
            {
                "code": act.id,
                "display": act.label_fr,
                "designation": [{"language": "en", "value": act.label_en}],
            }
            for act in acts.ACTS
        ],
    }
    return validated(data)


#: A request's state in this service -> ServiceRequest.status (request-status).
REQUEST_STATUS = {
    "submitted": "active",
    "proposed": "active",
    "booked": "active",
    "accepted": "active",
    "declined": "revoked",
    "cancelled": "revoked",
}
#: A request's urgency <-> ServiceRequest.priority (request-priority).
PRIORITY_OF_URGENCY = {"routine": "routine", "soon": "urgent", "urgent": "asap"}
URGENCY_OF_PRIORITY = {
    "routine": "routine",
    "urgent": "soon",
    "asap": "urgent",
    "stat": "urgent",
}
#: A request's time of day <-> Timing.repeat.when (event-timing).
WHEN_OF_TIME_OF_DAY = {"morning": "MORN", "afternoon": "AFT", "evening": "EVE"}
TIME_OF_DAY_OF_WHEN = {v: k for k, v in WHEN_OF_TIME_OF_DAY.items()}
#: ISO weekday (1 = Monday) <-> Timing.repeat.dayOfWeek (days-of-week).
DAY_OF_WEEK = {1: "mon", 2: "tue", 3: "wed", 4: "thu", 5: "fri", 6: "sat", 7: "sun"}
WEEKDAY_OF_DAY = {v: k for k, v in DAY_OF_WEEK.items()}
#: A visit's status -> Appointment.status of the referral's visit.
APPOINTMENT_STATUS = {
    "done": "fulfilled",
    "missed": "noshow",
    "cancelled": "cancelled",
    "arrived": "arrived",
    "in_progress": "arrived",
}


def validated(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` checked by the R4B model of its resourceType, as that model writes it."""
    model = get_fhir_model_class(data["resourceType"]).model_validate(data)
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """The dict without None values, empty lists or empty dicts (FHIR has no empty elements)."""
    return {k: v for k, v in data.items() if v not in (None, [], {}, "")}


def _instant(epoch_s: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(epoch_s, tz=ZoneInfo(tz)).isoformat(timespec="seconds")


def local_instant(day: str, hhmm: str, tz: str) -> str:
    """``day`` at ``hhmm`` in ``tz`` as an ISO 8601 instant with its offset."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return local_seconds(day, hours * 3600 + minutes * 60, tz)


def local_seconds(day: str, seconds: int, tz: str) -> str:
    """``day`` plus ``seconds`` of wall-clock time in ``tz`` (the service's time of day, as a
    visit's window) as an ISO 8601 instant with its offset."""
    when = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=ZoneInfo(tz))
    when += dt.timedelta(seconds=int(seconds))
    # Past midnight or over a DST change the wall time above is normalised by the zone.
    return when.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


def _geolocation(lon: Any, lat: Any) -> list[dict[str, Any]]:
    if lon is None or lat is None:
        return []
    return [
        {
            "url": p.GEOLOCATION_EXTENSION,
            "extension": [
                {"url": "latitude", "valueDecimal": lat},
                {"url": "longitude", "valueDecimal": lon},
            ],
        }
    ]


_POSTCODE_CITY = re.compile(r"^(\d{5})\s+(.+)$")


def address_parts(text: Any, commune: Any) -> dict[str, Any]:
    """``line``, ``postalCode`` and ``city`` of an address kept as one text (« 12 rue de la
    Gare, 77000 Melun ») and its commune when known: the last comma-separated part is the
    commune (with its postcode when written), the parts before it the lines."""
    text = str(text or "").strip()
    city = str(commune or "").strip() or None
    parts = [x.strip() for x in text.split(",") if x.strip()]
    postcode = None
    if parts:
        last = _POSTCODE_CITY.match(parts[-1])
        if last:
            postcode, named = last.group(1), last.group(2).strip()
            city = city or named
            parts = parts[:-1]
        elif city and parts[-1].casefold() == city.casefold():
            parts = parts[:-1]
        elif not city and len(parts) > 1:
            city = parts.pop()
        elif not city and len(parts) == 1 and not any(ch.isdigit() for ch in parts[0]):
            # A commune alone (a request placed at its commune's centre).
            city, parts = parts[0], []
    return _drop_empty({"line": parts, "postalCode": postcode, "city": city})


def _address(text: Any, city: Any, lon: Any, lat: Any) -> dict[str, Any] | None:
    """An FR Core address (fr-core-address): the text, its lines, postcode and commune (from
    the record's commune, else read in the text), the pin as geolocation."""
    if not text and not city:
        return None
    return _drop_empty(
        {
            "use": "home",
            "text": text,
            **address_parts(text, city),
            "country": "FRA",
            "extension": _geolocation(lon, lat),
        }
    )


def _ref(resource_type: str, rid: Any, display: str | None = None) -> dict[str, Any]:
    return _drop_empty({"reference": f"{resource_type}/{rid}", "display": display})


# -- Patient (FR Core Patient, fr-core-patient) ----------------------------------------------------
def patient(row: Mapping[str, Any]) -> dict[str, Any]:
    """A patient's record. Its number here is FR Core's PI slice (internal identifier, use
    usual); the name is officialName (use official, family and given) when both are known,
    else usual; other identifiers of the record (``external_ids``) keep their system's name."""
    identifiers = [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {"system": p.V2_0203, "code": "PI", "display": "Patient internal identifier"}
                ]
            },
            "system": p.PATIENT_SYSTEM,
            "value": str(row["id"]),
        }
    ]
    for system, value in sorted((row.get("external_ids") or {}).items()):
        identifiers.append(
            {
                "use": "secondary",
                "type": {"text": system},
                "system": f"urn:dispatch:external-id:{system}",
                "value": value,
            }
        )
    names = []
    if row.get("family_name"):
        given = [row["given_name"]] if row.get("given_name") else []
        names.append(
            _drop_empty(
                {
                    "use": "official" if given else "usual",
                    "family": row["family_name"],
                    "given": given,
                }
            )
        )
    contacts = []
    for contact in row.get("contacts") or []:
        contacts.append(
            _drop_empty(
                {
                    "name": {"text": contact["name"]},
                    "relationship": [{"text": contact["relation"]}]
                    if contact.get("relation")
                    else [],
                    "telecom": [{"system": "phone", "value": contact["phone"]}]
                    if contact.get("phone")
                    else [],
                }
            )
        )
    address = _address(row.get("address"), row.get("commune"), row.get("lon"), row.get("lat"))
    data = _drop_empty(
        {
            "resourceType": "Patient",
            "id": str(row["id"]),
            "meta": p.meta("Patient"),
            "identifier": identifiers,
            "active": row.get("status") != "discharged" and not row.get("purged"),
            "name": names,
            "telecom": [{"system": "phone", "value": row["phone"], "use": "home"}]
            if row.get("phone")
            else [],
            "gender": row.get("sex") or "unknown",
            "birthDate": row.get("birth_date"),
            "address": [address] if address else [],
            "contact": contacts,
            "generalPractitioner": [{"display": row["referring_doctor"]}]
            if row.get("referring_doctor")
            else [],
            "managingOrganization": _ref("Organization", row["structure_id"]),
        }
    )
    return validated(data)


# -- Practitioner (FR Core Practitioner, fr-core-practitioner) -------------------------------------
STAFF_JOB_LABELS = {
    "nurse": "Infirmier·ère",
    "care_aide": "Aide-soignant·e",
    "doctor": "Médecin",
    "psychologist": "Psychologue",
    "other": "Autre",
}


def practitioner(staff: Mapping[str, Any]) -> dict[str, Any]:
    """A member of staff: their name as one text (the service keeps it so), their job as a
    qualification of this service's code system (FR Core's qualification slices are open; the
    RASS codes are not known here)."""
    job = staff.get("job")
    data = _drop_empty(
        {
            "resourceType": "Practitioner",
            "id": str(staff["id"]),
            "meta": p.meta("Practitioner"),
            "identifier": [{"system": p.STAFF_SYSTEM, "value": str(staff["id"])}],
            "active": bool(staff.get("active", True)),
            "name": [{"use": "usual", "text": staff["name"]}],
            "gender": staff.get("gender") if staff.get("gender") in ("female", "male") else None,
            "qualification": [
                {
                    "code": {
                        "coding": [
                            {
                                "system": p.STAFF_JOB_SYSTEM,
                                "code": job,
                                "display": STAFF_JOB_LABELS.get(job, job),
                            }
                        ],
                        "text": STAFF_JOB_LABELS.get(job, job),
                    }
                }
            ]
            if job
            else [],
        }
    )
    return validated(data)


# -- Organization (FR Core Organization, fr-core-organization) -------------------------------------
STRUCTURE_KIND_LABELS = {
    "ssiad": "SSIAD",
    "had": "HAD",
    "nursing_centre": "Centre de soins infirmiers",
    "saad": "SAAD",
    "palliative_team": "Équipe mobile de soins palliatifs",
    "geriatric_team": "Équipe mobile de gériatrie",
    "dac": "DAC",
}


def organization(structure: Mapping[str, Any]) -> dict[str, Any]:
    """A structure. Its FINESS number is FR Core's finess slice (type FINEG, system the
    FINESS register); its number here an identifier of this service (system and value, which
    FR Core requires of every identifier)."""
    identifiers: list[dict[str, Any]] = [
        {"use": "usual", "system": p.STRUCTURE_SYSTEM, "value": str(structure["id"])}
    ]
    if structure.get("finess"):
        identifiers.insert(
            0,
            {
                "use": "official",
                "type": {
                    "coding": [
                        {
                            "system": p.FR_V2_0203,
                            "code": "FINEG",
                            "display": "FINESS d'entité géographique",
                        }
                    ]
                },
                "system": p.FINESS_SYSTEM,
                "value": structure["finess"],
            },
        )
    kind = structure.get("kind")
    data = _drop_empty(
        {
            "resourceType": "Organization",
            "id": str(structure["id"]),
            "meta": p.meta("Organization"),
            "identifier": identifiers,
            "active": True,
            "type": [
                {
                    "coding": [
                        {
                            "system": p.STRUCTURE_KIND_SYSTEM,
                            "code": kind,
                            "display": STRUCTURE_KIND_LABELS.get(kind, kind),
                        }
                    ],
                    "text": STRUCTURE_KIND_LABELS.get(kind, kind),
                }
            ]
            if kind
            else [],
            "name": structure["name"],
        }
    )
    return validated(data)


# -- Location (FR Core Location, fr-core-location) -------------------------------------------------
def location(team: Mapping[str, Any]) -> dict[str, Any]:
    """A team's base (the office its rounds start from and end at), with its position.
    FR Core asks each identifier for a type (INTRN, internal), a system and a value."""
    name = team.get("base_name") or f"Base de {team['name']}"
    data = _drop_empty(
        {
            "resourceType": "Location",
            "id": str(team["id"]),
            "meta": p.meta("Location"),
            "identifier": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": p.FR_LOCATION_IDENTIFIER_TYPE,
                                "code": "INTRN",
                                "display": "Identifiant interne",
                            }
                        ]
                    },
                    "system": p.TEAM_SYSTEM,
                    "value": str(team["id"]),
                }
            ],
            "status": "active" if team.get("active", True) else "inactive",
            "name": name,
            "description": f"Base de l'équipe {team['name']}",
            "mode": "instance",
            "position": {"longitude": team["base_lon"], "latitude": team["base_lat"]}
            if team.get("base_lon") is not None and team.get("base_lat") is not None
            else None,
            "managingOrganization": _ref("Organization", team["structure_id"]),
        }
    )
    return validated(data)


# -- Encounter (FR Core Encounter, fr-core-encounter) ----------------------------------------------
#: A visit's status -> Encounter.status (a visit under way is in progress, or arrived).
ENCOUNTER_STATUS = {"done": "finished", "in_progress": "in-progress", "arrived": "arrived"}


def encounter(visit: Mapping[str, Any], *, tz: str) -> dict[str, Any]:
    """A visit done or under way: its check-in (else arrival) and check-out times are the
    period (FR Core requires a period; no end until the check-out), class HH (home health),
    its number here the identifier FR Core requires (type VN, visit number), the staff of
    the team(s) that made it as participants.

    ``visit``: ``{id, status, patient_id, structure_id, care_kind, check_in_s, check_out_s,
    staff_ids}`` (see :func:`dispatch.fhir.records.done_visits`).
    """
    period = _drop_empty(
        {
            "start": _instant(visit["check_in_s"], tz) if visit.get("check_in_s") else None,
            "end": _instant(visit["check_out_s"], tz) if visit.get("check_out_s") else None,
        }
    )
    if not period:
        # A visit marked done without check-in or check-out: FR Core requires a period.
        period = {"start": visit["day"]}
    data = _drop_empty(
        {
            "resourceType": "Encounter",
            "id": str(visit["id"]),
            "meta": p.meta("Encounter"),
            "identifier": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": p.FR_IDENTIFIER_TYPE,
                                "code": "VN",
                                "display": "Visit Number",
                            }
                        ]
                    },
                    "system": p.VISIT_SYSTEM,
                    "value": str(visit["id"]),
                }
            ],
            "status": ENCOUNTER_STATUS.get(visit.get("status") or "done", "finished"),
            "class": {"system": p.V3_ACT_CODE, "code": "HH", "display": "home health"},
            "type": [{"coding": [{"system": p.CARE_KIND_SYSTEM, "code": visit["care_kind"]}]}]
            if visit.get("care_kind")
            else [],
            "subject": _ref("Patient", visit["patient_id"]),
            "participant": [
                {"individual": _ref("Practitioner", staff_id)}
                for staff_id in visit.get("staff_ids") or ()
            ],
            "period": period,
            "serviceProvider": _ref("Organization", visit["structure_id"]),
        }
    )
    return validated(data)


# -- ServiceRequest (plain R4: see dispatch.fhir.profiles) -----------------------------------------
def _contained_patient(person: Mapping[str, Any]) -> dict[str, Any]:
    given = [person["given_name"]] if person.get("given_name") else []
    return _drop_empty(
        {
            "resourceType": "Patient",
            "id": "patient",
            "name": [
                _drop_empty(
                    {
                        "use": "official" if given else "usual",
                        "family": person.get("family_name"),
                        "given": given,
                    }
                )
            ],
            "gender": person.get("gender"),
            "birthDate": person.get("birth_date"),
            "telecom": [{"system": "phone", "value": person["phone"]}]
            if person.get("phone")
            else [],
        }
    )


def _contained_home(referral: Mapping[str, Any]) -> dict[str, Any]:
    return _drop_empty(
        {
            "resourceType": "Location",
            "id": "home",
            "name": "Domicile du patient",
            "description": referral.get("access_notes"),
            "mode": "instance",
            "address": {
                "use": "home",
                "text": referral["address"],
                **address_parts(referral["address"], referral.get("commune")),
            },
            "position": {"longitude": referral["lon"], "latitude": referral["lat"]},
        }
    )


def _timing(referral: Mapping[str, Any]) -> dict[str, Any]:
    recurrence = referral.get("recurrence")
    repeat: dict[str, Any] = {
        "duration": referral["duration_min"],
        "durationUnit": "min",
    }
    when = WHEN_OF_TIME_OF_DAY.get(referral.get("time_of_day") or "any")
    if when:
        repeat["when"] = [when]
    extensions = []
    if recurrence:
        repeat["boundsPeriod"] = {"start": referral["period_from"], "end": recurrence["until"]}
        repeat["frequency"] = recurrence["times_per_day"]
        repeat["period"] = 1
        repeat["periodUnit"] = "d"
        repeat["dayOfWeek"] = [DAY_OF_WEEK[d] for d in sorted(recurrence["weekdays"])]
        extensions.append({"url": p.FIRST_VISIT_BY_EXTENSION, "valueDate": referral["period_to"]})
    else:
        repeat["boundsPeriod"] = {"start": referral["period_from"], "end": referral["period_to"]}
        repeat["count"] = 1
    return _drop_empty({"extension": extensions, "repeat": repeat})


def service_request(referral: Mapping[str, Any], *, base_url: str | None = None) -> dict[str, Any]:
    """A referral (the REFERRAL dict of the referrals service) as a ServiceRequest.

    ``code``: the care act asked (system :func:`care_act_system` under ``base_url``, its
    French name as display) and the coarse care kind.
    The identity the referrer sent is a contained Patient (``#patient``), the home a contained
    Location (``#home``: address, pin, access notes); ``subject`` is the structure's Patient
    once the request created or matched one. The desired period, duration, time of day and
    recurrence are ``occurrenceTiming``; the prescription a note (author, date, details).
    """
    patient_id = referral.get("patient_id")
    prescription = referral.get("prescription")
    referrer = referral.get("referrer") or {}
    act = referral.get("act") or "other"
    notes = []
    if prescription:
        notes.append(
            _drop_empty(
                {
                    "authorString": prescription.get("prescriber"),
                    "time": prescription.get("date"),
                    "text": prescription.get("details") or "-",
                }
            )
        )
    data = _drop_empty(
        {
            "resourceType": "ServiceRequest",
            "id": str(referral["id"]),
            "extension": [{"url": p.REFERRAL_STATE_EXTENSION, "valueCode": referral["state"]}],
            "contained": [_contained_patient(referral["patient"]), _contained_home(referral)],
            "identifier": [{"system": p.REFERRAL_SYSTEM, "value": str(referral["id"])}],
            "status": REQUEST_STATUS.get(referral["state"], "unknown"),
            "intent": "order",
            "priority": PRIORITY_OF_URGENCY.get(referral.get("urgency") or "routine"),
            "code": {
                "coding": [
                    {
                        "system": care_act_system(base_url),
                        "code": act,
                        "display": acts.label(act, "fr"),
                    },
                    {"system": p.CARE_KIND_SYSTEM, "code": referral["care_kind"]},
                ],
                "text": acts.label(act, "fr"),
            },
            "subject": _ref("Patient", patient_id) if patient_id else {"reference": "#patient"},
            "occurrenceTiming": _timing(referral),
            "authoredOn": referral.get("created_at"),
            "requester": _drop_empty(
                {
                    "display": referrer.get("display_name"),
                    "identifier": {"system": "urn:dispatch:user", "value": str(referrer["id"])}
                    if referrer.get("id") is not None
                    else None,
                }
            ),
            "performer": [
                _ref("Organization", referral["structure_id"], referral.get("structure_name"))
            ],
            "locationReference": [{"reference": "#home"}],
            "reasonCode": [{"text": referral["reason"]}],
            "note": notes,
        }
    )
    return validated(data)


# -- Schedule, Slot, Appointment (FR Core fr-core-schedule, fr-core-slot, fr-core-appointment) ------
def schedule_id(referral_id: int) -> str:
    """The id of a referral's Schedule (one per request)."""
    return f"referral-{referral_id}"


def schedule(referral: Mapping[str, Any], *, horizon: tuple[str, str]) -> dict[str, Any]:
    """The Schedule whose Slots are a request's slots. FR Core forbids serviceType; the actor
    is the structure that makes the visits, named (R4 allows no Organization as actor)."""
    open_ = referral["state"] in ("submitted", "proposed")
    data = _drop_empty(
        {
            "resourceType": "Schedule",
            "id": schedule_id(referral["id"]),
            "meta": p.meta("Schedule"),
            "identifier": [
                {"use": "usual", "system": p.REFERRAL_SYSTEM, "value": str(referral["id"])}
            ],
            "active": open_,
            "actor": [{"display": referral.get("structure_name") or "structure"}],
            "planningHorizon": {"start": horizon[0], "end": horizon[1]},
            "comment": f"Créneaux de la demande {referral['id']}"
            f" ({acts.label(referral.get('act') or 'other', 'fr')},"
            f" {referral['duration_min']} min)",
        }
    )
    return validated(data)


def slot(referral_id: int, item: Mapping[str, Any], *, tz: str) -> dict[str, Any]:
    """One slot of a request (a SLOT of the referrals service): free, from its start to its
    end, to the minute (the latest start is in the comment: the team may come until then)."""
    # To the minute the referrer is shown (HH:MM), never a machine's stray seconds.
    start = local_instant(item["day"], item["start"], tz)
    minutes = _minutes(item["end"]) - _minutes(item["start"])
    end = (dt.datetime.fromisoformat(start) + dt.timedelta(minutes=minutes)).isoformat()
    data = _drop_empty(
        {
            "resourceType": "Slot",
            "id": item["slot_id"],
            "meta": p.meta("Slot"),
            "identifier": [
                {"use": "usual", "system": "urn:dispatch:slot", "value": item["slot_id"]}
            ],
            "schedule": {"reference": f"Schedule/{schedule_id(referral_id)}"},
            "status": "free",
            "start": start,
            "end": end,
            "comment": f"arrivée entre {item['start']} et {item['latest_start']}"
            + (f" ({item['team_name']})" if item.get("team_name") else ""),
        }
    )
    return validated(data)


def _visit_time(visit: Mapping[str, Any], which: str, tz: str) -> str | None:
    """The visit's start or end from its ``HH:MM``."""
    if visit.get(which):
        return local_instant(visit["day"], visit[which], tz)
    return None


def _minutes(hhmm: str) -> int:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return hours * 60 + minutes


def _arrival(
    visit: Mapping[str, Any], duration_min: Any, tz: str
) -> tuple[str | None, str | None, str | None]:
    """(start, end, comment) of the visit: the arrival window promised to the referrer
    (``arrival_from``..``arrival_to``: the team arrives in it) from its start to its latest
    start plus the visit's duration, said in words; the visit's own times without one."""
    came, until = visit.get("arrival_from"), visit.get("arrival_to")
    if came and until:
        end_s = _minutes(until) * 60 + int(duration_min or 0) * 60
        return (
            local_instant(visit["day"], came, tz),
            local_seconds(visit["day"], end_s, tz),
            f"passage entre {came} et {until}",
        )
    return _visit_time(visit, "start", tz), _visit_time(visit, "end", tz), None


def appointment(referral: Mapping[str, Any], *, tz: str) -> dict[str, Any]:
    """The visit a request was booked or accepted into, as an Appointment based on the
    ServiceRequest; its id is the request's number (one appointment per request). Its start
    and end are the arrival window promised (see :func:`_arrival`), to the minute."""
    visit = referral.get("visit")
    if not visit:
        raise LookupError(f"request {referral['id']} has no visit")
    start, end, comment = _arrival(visit, referral.get("duration_min"), tz)
    status = APPOINTMENT_STATUS.get(visit.get("status") or "", "booked")
    if referral["state"] == "cancelled":
        status = "cancelled"
    participants = []
    if referral.get("patient_id"):
        participants.append(
            {
                "actor": _ref("Patient", referral["patient_id"]),
                "required": "required",
                "status": "accepted",
            }
        )
    else:
        participants.append({"actor": {"display": "patient"}, "status": "accepted"})
    data = _drop_empty(
        {
            "resourceType": "Appointment",
            "id": str(referral["id"]),
            "meta": p.meta("Appointment"),
            "identifier": [{"system": p.VISIT_SYSTEM, "value": str(visit["id"])}],
            "status": status,
            "serviceType": [
                {"coding": [{"system": p.CARE_KIND_SYSTEM, "code": referral["care_kind"]}]}
            ],
            "start": start,
            "end": end,
            "minutesDuration": referral.get("duration_min"),
            "created": referral.get("updated_at"),
            "comment": comment,
            "basedOn": [{"reference": f"ServiceRequest/{referral['id']}"}],
            "participant": participants,
            "description": f"Visite de la demande {referral['id']}",
        }
    )
    return validated(data)


# -- Bundle --------------------------------------------------------------------------------------
def searchset(
    resources: Iterable[dict[str, Any]],
    *,
    base_url: str,
    self_url: str,
    total: int | None = None,
    next_url: str | None = None,
) -> dict[str, Any]:
    """A searchset Bundle of ``resources`` (each with its full URL under ``base_url``)."""
    entries = [
        {
            "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    data = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries) if total is None else total,
        "link": links,
        "entry": entries,
    }
    return validated(_drop_empty(data) | {"total": data["total"]})
