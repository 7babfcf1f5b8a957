"""Referrers' requests, pure part: who looks (Viewer), the vocabulary, the checks of a
request's fields, the states and who may move a request from one to the next, the care plan
of a request with a recurrence, and the view of a slot. No Flask, no SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.care import acts
from dispatch.errors import ConflictError, ValidationError
from dispatch.store.models import CARE_KINDS, parse_day, shown

PROFESSIONS = ("gp", "discharge_nurse", "dac", "pharmacist", "other")
URGENCIES = ("routine", "soon", "urgent")
TIMES_OF_DAY = ("any", "morning", "afternoon", "evening")
STATES = ("submitted", "proposed", "booked", "accepted", "declined", "cancelled")
KINDS = ("visit", "care_plan")
GENDERS = ("female", "male", "other")
#: Latest day a request's period may reach (days after today).
MAX_PERIOD_AHEAD_DAYS = 28
#: Days of slots offered at once (from the later of the period's start and today).
SLOT_DAYS = 7
#: Most slots a coordinator proposes.
MAX_PROPOSED = 5
#: Longest care plan a request may ask for (days after its period's start).
MAX_RECURRENCE_DAYS = 366
DURATION_MIN = (5, 240)
#: Local hours (seconds after midnight) a time of day asks for; "any": the teams' shifts.
TIME_OF_DAY_WINDOWS_S: dict[str, tuple[int, int] | None] = {
    "any": None,
    "morning": (7 * 3600, 12 * 3600),
    "afternoon": (12 * 3600, 18 * 3600),
    "evening": (17 * 3600, 21 * 3600),
}
#: Windows of a care plan's visits by visits per day ("any" and one a day: the time of day's).
_PLAN_WINDOWS = {
    2: ["07:00-10:00", "17:00-20:00"],
    3: ["07:00-10:00", "11:30-13:30", "17:00-20:00"],
}
_ONE_A_DAY = {
    "any": "08:00-12:00",
    "morning": "07:00-12:00",
    "afternoon": "12:00-18:00",
    "evening": "17:00-21:00",
}
_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: States from which each action may start.
FROM_STATES = {
    "book": ("submitted", "proposed"),
    "accept": ("submitted", "proposed"),
    "propose": ("submitted", "proposed"),
    "decline": ("submitted", "proposed"),
    "cancel": ("submitted", "proposed", "booked", "accepted"),
}
_STATE_FR = {
    "submitted": "envoyée",
    "proposed": "créneaux proposés",
    "booked": "réservée",
    "accepted": "acceptée",
    "declined": "refusée",
    "cancelled": "annulée",
}


@dataclass(frozen=True)
class Viewer:
    """Who acts on requests: the user, their role (``referrer``, ``coordinator``...), the
    structures they belong to, the audit's actor (``user:3``), the language of texts (fr, en)
    and the address of the call (for the audit)."""

    user_id: int | None
    role: str | None
    structure_ids: tuple[int, ...] = ()
    actor: str = "anonymous"
    locale: str = "fr"
    ip: str | None = field(default=None, compare=False)

    @property
    def is_referrer(self) -> bool:
        """True for an outside referrer (sees only their own requests)."""
        return self.role == "referrer"

    @property
    def is_coordinator(self) -> bool:
        """True for a coordinator (decides on their structures' requests)."""
        return self.role == "coordinator"


# -- checks ----------------------------------------------------------------------------------------
def _text(
    data: Mapping[str, Any], key: str, *, what: str, max_len: int, required: bool = True
) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text" + ("" if required else " or null"))
    text = value.strip()
    if not text:
        if required:
            raise ValidationError(f"{what} is required: it cannot be blank")
        return None
    if len(text) > max_len:
        raise ValidationError(f"{what} is longer than {max_len} characters: shorten it")
    return text


def _choice(value: Any, choices: tuple[str, ...], *, what: str) -> str:
    if value not in choices:
        raise ValidationError(f"{what} {shown(value)} is not one of {', '.join(choices)}")
    return str(value)


def _int(value: Any, *, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a whole number from {lo} to {hi}")
    if isinstance(value, float) and not value.is_integer():
        raise ValidationError(f"{what} must be a whole number from {lo} to {hi}")
    if not lo <= value <= hi:
        raise ValidationError(f"{what} {shown(value)} is not between {lo} and {hi}")
    return int(value)


def _number(value: Any, *, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number")
    if not lo <= value <= hi:
        raise ValidationError(f"{what} {shown(value)} is not between {lo} and {hi}")
    return float(value)


def _unknown(data: Mapping[str, Any], known: tuple[str, ...], *, label: str) -> None:
    for key in data:
        if key not in known:
            raise ValidationError(
                f"{label}: unknown field {shown(key)}; the fields are {', '.join(known)}"
            )


def _object(value: Any, *, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be an object")
    return value


#: How a request's home was placed by the geocoder (None: a pin placed by hand, or unknown).
ADDRESS_PRECISIONS = ("housenumber", "street", "commune")

PATIENT_KEYS = ("family_name", "given_name", "birth_date", "gender", "phone")
REQUEST_KEYS = (
    "structure_id",
    "patient",
    "address",
    "address_precision",
    "commune",
    "lon",
    "lat",
    "access_notes",
    "reason",
    "act",
    "care_kind",
    "duration_min",
    "urgency",
    "period_from",
    "period_to",
    "time_of_day",
    "recurrence",
    "prescription",
)
RECURRENCE_KEYS = ("times_per_day", "weekdays", "until")
PRESCRIPTION_KEYS = ("prescriber", "date", "details")


def parse_patient_identity(value: Any, *, today: str) -> dict[str, Any]:
    """The patient's minimal identity of a request."""
    data = _object(value, what="patient")
    _unknown(data, PATIENT_KEYS, label="patient")
    birth = parse_day(data.get("birth_date"), what="patient birth_date")
    if birth > today:
        raise ValidationError(f"patient birth_date {birth} is in the future: check the date")
    gender = data.get("gender")
    if gender is not None:
        _choice(gender, GENDERS, what="patient gender")
    return {
        "family_name": _text(data, "family_name", what="patient family_name", max_len=100),
        "given_name": _text(data, "given_name", what="patient given_name", max_len=100),
        "birth_date": birth,
        "gender": gender,
        "phone": _text(data, "phone", what="patient phone", max_len=40, required=False),
    }


def parse_recurrence(value: Any, *, period_from: str) -> dict[str, Any] | None:
    """A request's recurrence (visits per day, weekdays 1 = Monday .. 7, last day) or None."""
    if value is None:
        return None
    data = _object(value, what="recurrence")
    _unknown(data, RECURRENCE_KEYS, label="recurrence")
    times = _int(data.get("times_per_day"), what="recurrence times_per_day", lo=1, hi=3)
    weekdays = data.get("weekdays")
    if not isinstance(weekdays, list) or not 1 <= len(weekdays) <= 7:
        raise ValidationError("recurrence weekdays must be a list of 1 to 7 days (1 = Monday)")
    days = sorted({_int(d, what="recurrence weekday", lo=1, hi=7) for d in weekdays})
    until = parse_day(data.get("until"), what="recurrence until")
    last = (dt.date.fromisoformat(period_from) + dt.timedelta(days=MAX_RECURRENCE_DAYS)).isoformat()
    if until < period_from:
        raise ValidationError(
            f"recurrence until {until} is before period_from {period_from}: give the last day"
            " of care"
        )
    if until > last:
        raise ValidationError(
            f"recurrence until {until} is more than {MAX_RECURRENCE_DAYS} days after"
            f" period_from: ask for at most a year, renewed later"
        )
    return {"times_per_day": times, "weekdays": days, "until": until}


def parse_prescription(value: Any) -> dict[str, Any] | None:
    """A request's prescription (prescriber, date, details) or None."""
    if value is None:
        return None
    data = _object(value, what="prescription")
    _unknown(data, PRESCRIPTION_KEYS, label="prescription")
    return {
        "prescriber": _text(data, "prescriber", what="prescription prescriber", max_len=200),
        "date": parse_day(data.get("date"), what="prescription date"),
        "details": _text(data, "details", what="prescription details", max_len=2000),
    }


def parse_request(data: Any, *, today: str) -> dict[str, Any]:
    """The columns of a new request from its body (``structure_id`` is left to the caller).

    The period starts today or later, ends on or after its start and at most
    :data:`MAX_PERIOD_AHEAD_DAYS` days after today."""
    data = _object(data, what="the request")
    _unknown(data, REQUEST_KEYS, label="request")
    period_from = parse_day(data.get("period_from"), what="period_from")
    period_to = parse_day(data.get("period_to"), what="period_to")
    last = (dt.date.fromisoformat(today) + dt.timedelta(days=MAX_PERIOD_AHEAD_DAYS)).isoformat()
    if period_from < today:
        raise ValidationError(
            f"period_from {period_from} is over: the period starts today or later"
        )
    if period_to < period_from:
        raise ValidationError(f"period_to {period_to} is before period_from {period_from}")
    if period_to > last:
        raise ValidationError(
            f"period_to {period_to} is more than {MAX_PERIOD_AHEAD_DAYS} days ahead: ask for a"
            f" period ending by {last}"
        )
    recurrence = parse_recurrence(data.get("recurrence"), period_from=period_from)
    act = acts.get(data.get("act"))
    return {
        "patient": parse_patient_identity(data.get("patient"), today=today),
        "address": _text(data, "address", what="address", max_len=200),
        "address_precision": None
        if data.get("address_precision") is None
        else _choice(data.get("address_precision"), ADDRESS_PRECISIONS, what="address_precision"),
        "commune": _text(data, "commune", what="commune", max_len=100, required=False),
        "lon": _number(data.get("lon"), what="lon", lo=-180, hi=180),
        "lat": _number(data.get("lat"), what="lat", lo=-90, hi=90),
        "access_notes": _text(
            data, "access_notes", what="access_notes", max_len=2000, required=False
        ),
        "reason": _text(data, "reason", what="reason", max_len=2000),
        "act": act.id,
        "care_kind": act.care_kind
        if data.get("care_kind") is None
        else _choice(data.get("care_kind"), CARE_KINDS, what="care_kind"),
        "duration_min": _int(
            data.get("duration_min"), what="duration_min", lo=DURATION_MIN[0], hi=DURATION_MIN[1]
        ),
        "urgency": _choice(data.get("urgency"), URGENCIES, what="urgency"),
        "period_from": period_from,
        "period_to": period_to,
        "time_of_day": _choice(data.get("time_of_day", "any"), TIMES_OF_DAY, what="time_of_day"),
        "recurrence": recurrence,
        "prescription": parse_prescription(data.get("prescription")),
        "kind": "care_plan" if recurrence else "visit",
    }


def check_action(action: str, state: str, referral_id: int) -> None:
    """ConflictError (409) when a request in ``state`` cannot take ``action``."""
    if state not in FROM_STATES[action]:
        raise ConflictError(
            f"request {referral_id} is {state} ({_STATE_FR.get(state, state)}): it cannot be"
            f" {_PAST[action]} now; reload it to see its current state"
        )


_PAST = {
    "book": "booked",
    "accept": "accepted",
    "propose": "given other times",
    "decline": "declined",
    "cancel": "cancelled",
}


# -- slots -----------------------------------------------------------------------------------------
def slot_days(period_from: str, period_to: str, *, today: str) -> tuple[str, int]:
    """(first day, number of days) over which slots are looked for: from the later of the
    period's start and today, at most :data:`SLOT_DAYS` days, within the period."""
    first = max(period_from, today)
    start = dt.date.fromisoformat(first)
    end = dt.date.fromisoformat(period_to)
    days = min(SLOT_DAYS, (end - start).days + 1)
    return first, max(days, 0)


def hhmm(seconds: int) -> str:
    """``HH:MM`` of seconds after midnight (24:00 at the end of a day)."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def slot_view(slot: Mapping[str, Any], *, tz: str, team_name: str | None) -> dict[str, Any]:
    """SLOT of the API from a stored slot ``{slot_id, day, team_id, start_s, latest_start_s,
    end_s}``."""
    day = dt.date.fromisoformat(slot["day"])
    # Seconds after midnight are wall-clock times: the offset is the one of that local time
    # (+01:00 in winter, +02:00 in summer).
    start_at = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(slot["start_s"]))
    start_at = start_at.replace(tzinfo=ZoneInfo(tz))
    return {
        "slot_id": slot["slot_id"],
        "day": slot["day"],
        "start": hhmm(slot["start_s"]),
        "latest_start": hhmm(slot["latest_start_s"]),
        "end": hhmm(slot["end_s"]),
        "start_at": start_at.isoformat(timespec="seconds"),
        "team_name": team_name,
    }


def stored_slot(slot: Any) -> dict[str, Any]:
    """The JSON kept of a slot of the finder (a DaySlot or a mapping)."""

    def get(key: str) -> Any:
        return slot[key] if isinstance(slot, Mapping) else getattr(slot, key)

    return {
        "slot_id": str(get("slot_id")),
        "day": str(get("day")),
        "team_id": int(get("team_id")),
        "start_s": int(get("start_s")),
        "latest_start_s": int(get("latest_start_s")),
        "end_s": int(get("end_s")),
    }


# -- care plans ------------------------------------------------------------------------------------
def care_plan_fields(referral: Mapping[str, Any], *, start_day: str) -> dict[str, Any]:
    """The care plan (fields of dispatch.care.patients.add_care_plan) of a request with a
    recurrence, starting on ``start_day``."""
    recurrence = referral["recurrence"]
    times = int(recurrence["times_per_day"])
    windows = [_ONE_A_DAY[referral["time_of_day"]]] if times == 1 else list(_PLAN_WINDOWS[times])
    days = ",".join(_RRULE_DAYS[d - 1] for d in recurrence["weekdays"])
    return {
        "label": f"Demande n° {referral['id']}",
        "kind": referral.get("act") or "other",
        "skills": list(acts.skills_of(referral.get("act"))),
        "duration_s": int(referral["duration_min"]) * 60,
        "windows": windows,
        "rrule": f"FREQ=WEEKLY;BYDAY={days}",
        "start_day": start_day,
        "end_day": recurrence["until"],
    }
