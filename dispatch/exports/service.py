"""The export actions, one function each, called by the web edge and the CLI.

- :func:`staff_feed` — a member of staff's coming visits (private feed, pseudonymised);
- :func:`team_feed` — a team's coming visits as its own phone reads them: names and
  addresses of today's visits only (each such read audited), pseudonyms after;
- :func:`structure_week` — a structure's week, pseudonymised;
- :func:`activity` — a structure's activity CSV for a period.

``Who`` says who asks (audit actor, role, address): every export holding patient data
(pseudonyms are patient data too) writes an audit line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dispatch.errors import PermissionDeniedError, ValidationError
from dispatch.exports import activity as act
from dispatch.exports import ical
from dispatch.live.history import DayFrame, drawn_trail, trail_distance_m
from dispatch.store.models import parse_day

if TYPE_CHECKING:
    from dispatch.store import Store

#: Longest period of one activity export (a year and a day: a leap year's whole year).
MAX_ACTIVITY_DAYS = 366
#: Days of a structure's week export.
WEEK_DAYS = 7


@dataclass(frozen=True)
class Who:
    """The caller, for the audit log."""

    actor: str
    role: str | None = None
    ip: str | None = None
    via: str | None = None


@dataclass(frozen=True)
class Place:
    """Where and when the rounds are: time zone, the service clock's offset, the UID domain."""

    timezone: str = "Europe/Paris"
    offset_s: float = 0.0
    uid_domain: str = "dispatch"


def _days(first: str, n: int) -> str:
    return (dt.date.fromisoformat(first) + dt.timedelta(days=n - 1)).isoformat()


def _calendar_visits(
    store: Store, rows: Iterable[dict[str, Any]], *, named: dict[int, dict[str, Any]]
) -> list[ical.CalendarVisit]:
    """Rows of :meth:`calendar_visits` as calendar visits with their sequences."""
    items = []
    for r in rows:
        start_s, planned = ical.visit_start_s(r, r.get("stop_start_s"))
        windows = r.get("windows") or []
        details = named.get(int(r["id"])) or {}
        address = None
        if details:
            address = (
                ", ".join(x for x in (details.get("address"), details.get("address_details")) if x)
                or None
            )
        items.append(
            ical.CalendarVisit(
                visit_id=int(r["id"]),
                day=r["day"],
                start_s=start_s,
                duration_s=int(r["duration_s"]),
                status=r["status"],
                pseudonym=r["pseudonym"],
                care_kind=r.get("care_kind"),
                commune=r.get("commune"),
                team_name=r.get("team_name"),
                window=(int(windows[0][0]), int(windows[0][1])) if windows else None,
                planned=planned,
                name=details.get("name"),
                address=address,
                phone=details.get("phone"),
            )
        )
    sequences = store.calendar_sequences({v.visit_id: ical.fingerprint(v) for v in items})
    return [
        ical.CalendarVisit(
            **{
                **v.__dict__,
                "sequence": sequences[v.visit_id][0],
                "last_modified_s": sequences[v.visit_id][1],
            }
        )
        for v in items
    ]


def staff_feed(
    store: Store,
    staff_id: int,
    *,
    today: str,
    who: Who,
    place: Place = Place(),
    locale: str = "fr",
) -> bytes:
    """The member's visits from ``today`` over :data:`ical.FEED_DAYS` days, pseudonymised,
    with their cancelled ones (so that calendars drop them)."""
    member = store.get_staff(staff_id)
    teams = store.teams_of_staff([staff_id])[staff_id]
    rows = store.calendar_visits(today, _days(today, ical.FEED_DAYS), team_ids=teams)
    _audit(
        store,
        who,
        "calendar.feed.read",
        f"staff:{staff_id}",
        {"from": today, "visits": len(rows), "via": who.via or "feed"},
    )
    return _calendar(store, rows, {}, ical.feed_name(member["name"], locale), place, locale)


def team_feed(
    store: Store,
    team_id: int,
    *,
    today: str,
    who: Who,
    place: Place = Place(),
    locale: str = "fr",
    structures: Collection[int] | None = None,
) -> bytes:
    """A team's visits from ``today`` over :data:`ical.FEED_DAYS` days as its own phone
    reads them: today's visits with the patient's name, address and phone (each read
    audited, as the phone's visit details are), the following days pseudonymised."""
    team = store.get_team(team_id, structures=structures)
    rows = store.calendar_visits(today, _days(today, ical.FEED_DAYS), team_ids=[team_id])
    named: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r["day"] != today or r["status"] == "cancelled":
            continue
        try:
            details = store.visit_details(
                int(r["id"]),
                actor=who.actor,
                role=who.role or "team_member",
                team_id=team_id,
                day=today,
                ip=who.ip,
                detail={"via": "calendar"},
                structures=structures,
            )
        except PermissionDeniedError:
            continue
        named[int(r["id"])] = {**details, "address": r.get("address")}
    _audit(
        store,
        who,
        "calendar.phone.read",
        f"team:{team_id}",
        {"from": today, "visits": len(rows), "named": len(named)},
    )
    return _calendar(store, rows, named, ical.feed_name(team["name"], locale), place, locale)


def structure_week(
    store: Store,
    structure_id: int,
    *,
    from_day: str,
    who: Who,
    place: Place = Place(),
    locale: str = "fr",
) -> bytes:
    """The structure's visits over 7 days from ``from_day``, pseudonymised, each with its
    team."""
    first = parse_day(from_day, what="from")
    structure = store.get_structure(structure_id)
    rows = store.calendar_visits(first, _days(first, WEEK_DAYS), structure_id=structure_id)
    _audit(
        store,
        who,
        "calendar.week.export",
        f"structure:{structure_id}",
        {"from": first, "visits": len(rows), "via": who.via},
    )
    name = (
        f"Semaine du {first} — {structure['name']}"
        if locale == "fr"
        else f"Week of {first} — {structure['name']}"
    )
    return _calendar(store, rows, {}, name, place, locale)


def check_period(from_day: str, to_day: str) -> tuple[str, str]:
    """``(from, to)`` as days, ``to`` not before ``from``, at most :data:`MAX_ACTIVITY_DAYS`."""
    first, last = parse_day(from_day, what="from"), parse_day(to_day, what="to")
    span = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
    if span < 1:
        raise ValidationError(f"to ({last}) is before from ({first}): give a period in order")
    if span > MAX_ACTIVITY_DAYS:
        raise ValidationError(
            f"the period has {span} days: export at most {MAX_ACTIVITY_DAYS} days at a time"
        )
    return first, last


def visit_acts(
    store: Store, structure_id: int, first: str, last: str
) -> dict[int, tuple[str, str | None]]:
    """visit id -> (care act, care plan label) of the structure's visits of the period that
    have one: the kind of the visit's care plan, else the act of the request it was booked
    or accepted for."""
    with store.engine.read() as conn:
        rows = conn.execute(
            "SELECT v.id, json_extract(cp.template, '$.kind') AS plan_kind, cp.label,"
            " (SELECT r.act FROM referrals r WHERE r.visit_id = v.id ORDER BY r.id DESC"
            "  LIMIT 1) AS request_act"
            " FROM visits v LEFT JOIN care_plans cp ON cp.id = v.care_plan_id"
            " WHERE v.structure_id = ? AND v.day BETWEEN ? AND ?",
            (int(structure_id), first, last),
        ).fetchall()
    out: dict[int, tuple[str, str | None]] = {}
    for r in rows:
        if r["plan_kind"]:
            out[int(r["id"])] = (str(r["plan_kind"]), r["label"])
        elif r["request_act"]:
            out[int(r["id"])] = (str(r["request_act"]), None)
    return out


def activity(
    store: Store,
    structure_id: int,
    *,
    from_day: str,
    to_day: str,
    detail: str = "visits",
    who: Who,
    place: Place = Place(),
    locale: str = "fr",
) -> bytes:
    """The structure's activity CSV for the period (see :mod:`dispatch.exports.activity`):
    km of the published rounds, and km of the GPS tracks where positions are still kept."""
    if detail not in act.DETAILS:
        raise ValidationError(f"detail must be one of {', '.join(act.DETAILS)}")
    first, last = check_period(from_day, to_day)
    store.get_structure(structure_id)
    rows = store.activity_visits(structure_id, first, last)
    planned = store.planned_distances(structure_id, first, last)
    kinds = visit_acts(store, structure_id, first, last) if detail == "visits" else {}
    gps: dict[tuple[str, int], float | None] = {}
    if detail == "summary":
        keys = set(planned) | {
            (r["day"], int(t))
            for r in rows
            for t in (r["team_id"], r["partner_team_id"])
            if t is not None
        }
        for day, team_id in sorted(keys):
            start_s, end_s = DayFrame(day, place.timezone, place.offset_s).bounds()
            fixes = store.team_fixes(team_id, start_s, end_s)
            gps[(day, team_id)] = trail_distance_m(drawn_trail(fixes)) if fixes else None
    visits = [
        act.ActivityVisit(
            visit_id=int(r["id"]),
            day=r["day"],
            team_id=r["team_id"],
            partner_team_id=r["partner_team_id"],
            patient_id=r["patient_id"],
            pseudonym=r["pseudonym"],
            care_kind=r["care_kind"],
            status=r["status"],
            planned_start_s=r["planned_start_s"],
            planned_distance_m=r["planned_distance_m"],
            check_in_at_s=r["check_in_at_s"],
            check_out_at_s=r["check_out_at_s"],
            missed_reason=r["missed_reason"],
            act=kinds.get(int(r["id"]), (None, None))[0],
            act_label=kinds.get(int(r["id"]), (None, None))[1],
        )
        for r in rows
    ]
    _audit(
        store,
        who,
        "activity.export",
        f"structure:{structure_id}",
        {"from": first, "to": last, "detail": detail, "visits": len(visits)},
    )
    return act.activity_csv(
        visits,
        detail=detail,
        team_names=store.structure_team_names(structure_id),
        planned_m=planned,
        gps_m=gps,
        locale=locale,
        timezone=place.timezone,
        offset_s=place.offset_s,
    )


def _audit(store: Store, who: Who, action: str, target: str, detail: dict[str, Any]) -> None:
    """One audit line of an export or a feed read, by ``who``."""
    store.audit(who.actor, action, role=who.role, target=target, ip=who.ip, detail=detail)


def _calendar(
    store: Store,
    rows: list[dict[str, Any]],
    named: dict[int, dict[str, Any]],
    name: str,
    place: Place,
    locale: str,
) -> bytes:
    """The RFC 5545 calendar of visit ``rows`` (``named``: the visits shown with names)."""
    return ical.build_calendar(
        _calendar_visits(store, rows, named=named),
        name=name,
        uid_domain=place.uid_domain,
        timezone=place.timezone,
        locale=locale,
    )
