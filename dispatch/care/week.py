"""The coordinator's week (staff × days: rostered hours against the contract, visits), the
impact of an absence on the visits assigned, and a team member's coming days.

The pure functions take staff JSON (:mod:`dispatch.store.staff`) and visit rows; the service
functions (``*_of``) read them from the store, scoped to the caller's structures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from dispatch.care import rota as core
from dispatch.care.matching import AssignedVisit, absence_impact
from dispatch.care.times import TimeRange, format_hhmm, parse_day
from dispatch.errors import ConflictError, DispatchError, NotFoundError, ValidationError
from dispatch.store.staff import core_staff, parse_absence, teams_of_day

#: Most days the week view and the coming days cover.
MAX_DAYS = 62
#: Visits an absence may still move: not started, not done.
OPEN_STATUSES = ("planned", "assigned")

WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre",
)  # fmt: skip
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def day_range(from_day: Any, days: Any) -> list[dt.date]:
    """``days`` consecutive days from ``from_day`` (1 to :data:`MAX_DAYS`)."""
    start = parse_day(from_day, what="from")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days {days!r}: give 1 to {MAX_DAYS} days")
    return [start + dt.timedelta(days=i) for i in range(days)]


def _hours(seconds: int) -> float:
    return round(seconds / 3600, 2)


def _shift_json(shift: core.Shift | None) -> dict[str, Any] | None:
    if shift is None:
        return None
    return {
        "start": format_hhmm(shift.span.start_s),
        "end": format_hhmm(shift.span.end_s),
        "breaks": [str(b) for b in shift.breaks],
    }


def _absence_on(staff: Mapping[str, Any], day: dt.date) -> dict[str, Any] | None:
    iso = day.isoformat()
    for a in staff.get("absences", ()):
        if a["from_day"] <= iso <= a["to_day"]:
            return {"id": a["id"], "kind": a["kind"], "part": a["part"]}
    return None


def week_rows(
    staff: Sequence[Mapping[str, Any]],
    pairs: Sequence[Mapping[str, Any]],
    visits: Sequence[Mapping[str, Any]],
    days: Sequence[dt.date],
    tz: str = "Europe/Paris",
) -> list[dict[str, Any]]:
    """One row per member of staff: each day's shift (rota less absences), absence, real
    hours rostered, visits and their hours on the teams they belong to (their own, or the
    pair they go out with), and the totals against their contract.

    A visit of a pair counts for both members (both are there), and so does a two-person
    visit served by two single-person teams (its ``team_id`` and ``partner_team_id``).
    """
    teams_of: dict[int, set[int]] = {s["id"]: {s["team_id"]} for s in staff}
    for pair in pairs:
        for staff_id in pair["staff_ids"]:
            teams_of.setdefault(staff_id, set()).add(pair["team_id"])
    by_team_day: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for v in visits:
        for key in ("team_id", "partner_team_id"):
            if v.get(key) is not None:
                by_team_day.setdefault((int(v[key]), v["day"]), []).append(v)
    parsed = {s["id"]: core_staff(s) for s in staff}
    day_team: dict[tuple[int, str], int] = {}
    for day in days:
        for team in teams_of_day(staff, pairs, day, parsed):
            for staff_id in team["staff_ids"]:
                day_team[(staff_id, day.isoformat())] = team["team_id"]
    rows = []
    for member in staff:
        person = parsed[member["id"]]
        cells = []
        rostered_s = visit_s = 0
        for day in days:
            iso = day.isoformat()
            shift = core.works_on(person, day)
            worked_s = shift.work_s_on(day, tz) if shift else 0
            on_day = [
                v for t in sorted(teams_of[member["id"]]) for v in by_team_day.get((t, iso), ())
            ]
            day_visit_s = sum(int(v["duration_s"]) for v in on_day)
            rostered_s += worked_s
            visit_s += day_visit_s
            cells.append(
                {
                    "day": iso,
                    "shift": _shift_json(shift),
                    "absence": _absence_on(member, day),
                    "hours": _hours(worked_s),
                    "visits": len(on_day),
                    "visit_h": _hours(day_visit_s),
                    "team_id": day_team.get((member["id"], iso), member["team_id"]),
                }
            )
        rows.append(
            {
                "id": member["id"],
                "name": member["name"],
                "job": member["job"],
                "structure_id": member["structure_id"],
                "team_id": member["team_id"],
                "contract_h_per_week": member["contract_h_per_week"],
                "rostered_h": _hours(rostered_s),
                "visit_h": _hours(visit_s),
                "cells": cells,
            }
        )
    return rows


def week_of(
    store: Any,
    *,
    from_day: Any,
    days: Any = 7,
    structures: Collection[int] | None = None,
    tz: str = "Europe/Paris",
) -> dict[str, Any]:
    """The week view of the staff of ``structures`` (GET /api/week)."""
    span = day_range(from_day, days)
    staff = store.list_staff(structures=structures, active=True)
    pairs = store.list_pairs(structures=structures)
    visits = store.staff_visits(span[0], span[-1], structures=structures)
    unassigned: dict[str, int] = {d.isoformat(): 0 for d in span}
    for v in visits:
        if v["team_id"] is None:
            unassigned[v["day"]] += 1
    return {
        "from": span[0].isoformat(),
        "days": [d.isoformat() for d in span],
        "staff": week_rows(staff, pairs, visits, span, tz),
        "unassigned": [{"day": d, "count": n} for d, n in unassigned.items()],
    }


# -- absence impact ----------------------------------------------------------------------------
def _date_fr(day: dt.date) -> str:
    number = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAYS_FR[day.weekday()]} {number} {MONTHS_FR[day.month - 1]}"


def _date_en(day: dt.date) -> str:
    return f"{WEEKDAYS_EN[day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]}"


def _h(hours: float, locale: str) -> str:
    """« 7,5 h » / "7.5 h"."""
    text = f"{hours:g}"
    return f"{text.replace('.', ',') if locale != 'en' else text} h"


def _capacity_text(capacity: Sequence[Mapping[str, Any]], locale: str) -> str:
    """The days the others' rostered hours no longer cover the day's visits, in words."""
    short = [c for c in capacity if c["short"]]
    if not short:
        return ""
    if locale == "en":
        parts = [
            f"{_h(c['remaining_h'], locale)} left for {_h(c['visit_h'], locale)} of visits"
            + (f" on {_date_en(dt.date.fromisoformat(c['day']))}" if len(capacity) > 1 else "")
            for c in short
        ]
    else:
        parts = [
            f"reste {_h(c['remaining_h'], locale)} pour {_h(c['visit_h'], locale)} de visites"
            + (f" le {_date_fr(dt.date.fromisoformat(c['day']))}" if len(capacity) > 1 else "")
            for c in short
        ]
    return ("; " if locale == "en" else " ; ").join(parts)


def impact_message(
    name: str,
    gender: str | None,
    absence: core.Absence,
    total: int,
    locale: str = "fr",
    capacity: Sequence[Mapping[str, Any]] = (),
) -> str:
    """« Marie absente jeudi 14 janvier : 14 visites à réaffecter », or in English
    "Marie absent on Thursday 14 January: 14 visits to reassign".

    ``capacity`` (per rostered day: ``lost_h``, ``remaining_h`` of the others, ``visit_h``
    of the day, ``short``): with no visit to reassign but days the others cannot cover,
    the message says the hours lost and what remains, « … : 6 h de travail en moins ce
    jour-là (reste 31 h pour 38 h de visites) »; with visits, it counts them (the screen
    shows each short day from the impact's ``capacity``).

    Examples
    --------
    >>> day = dt.date(2027, 1, 14)
    >>> impact_message("Marie", "female", core.Absence("sickness", day, day), 14)
    'Marie absente jeudi 14 janvier : 14 visites à réaffecter'
    >>> impact_message("Paul", "male", core.Absence("leave", day, day.replace(day=15)), 1, "en")
    'Paul absent from Thursday 14 January to Friday 15 January: 1 visit to reassign'
    >>> short = [{"day": "2027-01-14", "lost_h": 6, "remaining_h": 31, "visit_h": 38,
    ...           "short": True}]
    >>> impact_message("Marie", "female", core.Absence("sickness", day, day), 0, "fr", short)
    'Marie absente jeudi 14 janvier : 6 h de travail en moins ce jour-là (reste 31 h pour 38 h de visites)'
    """
    one = absence.from_day == absence.to_day
    shortfall = _capacity_text(capacity, locale)
    lost_h = round(sum(float(c["lost_h"]) for c in capacity), 2)
    if locale == "en":
        when = (
            f"on {_date_en(absence.from_day)}"
            if one
            else f"from {_date_en(absence.from_day)} to {_date_en(absence.to_day)}"
        )
        if absence.part is not None:
            when += f", {absence.part}"
        if total == 0 and shortfall:
            day_word = " that day" if len(capacity) == 1 else ""
            return (
                f"{name} absent {when}: {_h(lost_h, locale)} of work lost{day_word} ({shortfall})"
            )
        count = (
            "no visit to reassign"
            if total == 0
            else f"{total} visit{'s' if total > 1 else ''} to reassign"
        )
        return f"{name} absent {when}: {count}"
    adjective = {"female": "absente", "male": "absent"}.get(gender or "", "absent·e")
    when = (
        _date_fr(absence.from_day)
        if one
        else f"du {_date_fr(absence.from_day)} au {_date_fr(absence.to_day)}"
    )
    if absence.part is not None:
        part = absence.part
        when += f" de {format_hhmm(part.start_s)} à {format_hhmm(part.end_s)}"
    if total == 0 and shortfall:
        day_word = " ce jour-là" if len(capacity) == 1 else ""
        return f"{name} {adjective} {when} : {_h(lost_h, locale)} de travail en moins{day_word} ({shortfall})"
    count = (
        "aucune visite à réaffecter"
        if total == 0
        else f"{total} visite{'s' if total > 1 else ''} à réaffecter"
    )
    return f"{name} {adjective} {when} : {count}"


def _assigned(
    visits: Sequence[Mapping[str, Any]], members: Mapping[int, Sequence[int]]
) -> list[AssignedVisit]:
    """One entry per window of each visit (a visit moves when none of its windows fits)."""
    out = []
    for v in visits:
        windows = v.get("windows") or [[0, 86_400]]
        for i, (start, end) in enumerate(windows):
            out.append(
                AssignedVisit(
                    visit_id=f"{v['id']}/{i}",
                    day=dt.date.fromisoformat(v["day"]),
                    window=TimeRange(int(start), int(end)),
                    duration_s=int(v["duration_s"]),
                    staff_ids=tuple(members.get(int(v["team_id"]), ())),
                )
            )
    return out


def impact_of_absence(
    staff: Mapping[str, Any],
    absence: core.Absence,
    visits: Sequence[Mapping[str, Any]],
    members: Mapping[int, Sequence[int]],
    *,
    locale: str = "fr",
    tz: str = "Europe/Paris",
    capacity: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What ``absence`` (recorded or not) leaves to reassign among ``visits`` (the visits of
    the teams ``staff`` belongs to, and those not yet in a round that name them as
    preferred, given with their personal team; ``members`` gives each team's staff ids).

    Returns ``{staff_id, name, total, lost_h, days: [{day, count, visit_ids}], capacity,
    reassign, message}``; ``days`` lists each day of the absence the person was rostered or
    had visits; ``capacity`` (see :func:`capacity_of_days`) each day they were rostered;
    ``reassign``: there is something to replan (visits, or a day the others cannot cover).
    """
    person = core_staff(staff)
    open_visits = [v for v in visits if v.get("status") in OPEN_STATUSES]
    result = absence_impact(person, absence, _assigned(open_visits, members), tz)
    failed: dict[int, set[int]] = {}
    for key in result.visit_ids:
        vid, window = str(key).split("/")
        failed.setdefault(int(vid), set()).add(int(window))
    moved = [
        v for v in open_visits if len(failed.get(int(v["id"]), ())) == len(v.get("windows") or [0])
    ]
    by_day: dict[str, list[int]] = {}
    for v in moved:
        by_day.setdefault(v["day"], []).append(int(v["id"]))
    rostered = {d.isoformat() for d in result.days_lost}
    days = []
    day = absence.from_day
    without = core.Staff(
        person.staff_id,
        person.name,
        person.contract_h_per_week,
        person.rotas,
        tuple(a for a in person.absences if a != absence),
        person.skills,
        person.gender,
    )
    while day <= absence.to_day:
        iso = day.isoformat()
        if iso in by_day or iso in rostered or core.works_on(without, day) is not None:
            ids = by_day.get(iso, [])
            days.append({"day": iso, "count": len(ids), "visit_ids": ids})
        day += dt.timedelta(days=1)
    total = len(moved)
    short = any(c["short"] for c in capacity)
    return {
        "staff_id": staff["id"],
        "name": staff["name"],
        "total": total,
        "lost_h": _hours(result.lost_s),
        "days": days,
        "capacity": list(capacity),
        "reassign": bool(total or short),
        "message": impact_message(
            staff["name"], staff.get("gender"), absence, total, locale, capacity
        ),
    }


def capacity_of_days(
    staff: Mapping[str, Any],
    absence: core.Absence,
    others: Sequence[Mapping[str, Any]],
    day_visits: Sequence[Mapping[str, Any]],
    tz: str = "Europe/Paris",
) -> list[dict[str, Any]]:
    """What the structure loses each day of ``absence`` ``staff`` was rostered:
    ``{day, lost_h, remaining_h, visit_h, short}`` — the person's hours lost, the rostered
    hours of ``others`` (the rest of the structure's staff) that day with what a part-day
    absence leaves of the person's own, the hours of the day's
    open ``day_visits`` (a two-person visit counts twice), and whether the others fall short.

    On a day not yet planned no visit has a team: this is what tells the coordinator the day
    no longer fits, before any round exists.
    """
    person = core_staff(staff)
    without = core.Staff(
        person.staff_id,
        person.name,
        person.contract_h_per_week,
        person.rotas,
        tuple(a for a in person.absences if a != absence),
        person.skills,
        person.gender,
    )
    with_absence = dataclasses.replace(without, absences=(*without.absences, absence))
    parsed = [core_staff(o) for o in others if o["id"] != staff["id"]]
    need: dict[str, int] = {}
    for v in day_visits:
        if v.get("status") in OPEN_STATUSES:
            need[v["day"]] = need.get(v["day"], 0) + int(v["duration_s"]) * max(
                1, int(v.get("staff_count") or 1)
            )
    out = []
    day = absence.from_day
    while day <= absence.to_day:
        usual, kept = core.works_on(without, day), core.works_on(with_absence, day)
        lost_s = (usual.work_s_on(day, tz) if usual else 0) - (
            kept.work_s_on(day, tz) if kept else 0
        )
        if lost_s > 0:
            # The others' hours, and the person's own left by a part-day absence.
            remaining_s = sum(
                shift.work_s_on(day, tz)
                for shift in (core.works_on(o, day) for o in (*parsed, with_absence))
                if shift is not None
            )
            visit_s = need.get(day.isoformat(), 0)
            out.append(
                {
                    "day": day.isoformat(),
                    "lost_h": _hours(lost_s),
                    "remaining_h": _hours(remaining_s),
                    "visit_h": _hours(visit_s),
                    "short": remaining_s < visit_s,
                }
            )
        day += dt.timedelta(days=1)
    return out


def _preferences(store: Any, visit_ids: Sequence[int]) -> dict[int, tuple[int | None, list[int]]]:
    """Each visit's preferred team and preferred staff ids (its ``wishes``)."""
    out: dict[int, tuple[int | None, list[int]]] = {}
    ids = [int(i) for i in visit_ids]
    with store.engine.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in conn.execute(
                f"SELECT id, preferred_team_id, wishes FROM visits WHERE id IN ({marks})", chunk
            ):
                try:
                    wishes = json.loads(row["wishes"] or "{}") or {}
                except ValueError:
                    wishes = {}
                staff_ids = wishes.get("preferred_staff_ids") if isinstance(wishes, dict) else None
                out[int(row["id"])] = (
                    row["preferred_team_id"],
                    [int(i) for i in staff_ids or () if isinstance(i, int)],
                )
    return out


def absence_impact_of(
    store: Any,
    staff_id: int,
    data: Any,
    *,
    structures: Collection[int] | None = None,
    locale: str = "fr",
    tz: str = "Europe/Paris",
) -> dict[str, Any]:
    """The impact of an absence given as API input (recorded or not) on ``staff_id``'s
    visits (POST /api/staff/{id}/absences/impact, and the answer of the POST itself)."""
    absence, _ = parse_absence(data)
    staff = store.get_staff(staff_id, structures=structures)
    return impact_of_recorded(store, staff, absence, locale=locale, tz=tz)


def impact_of_recorded(
    store: Any,
    staff: Mapping[str, Any],
    absence: core.Absence,
    *,
    locale: str = "fr",
    tz: str = "Europe/Paris",
) -> dict[str, Any]:
    """:func:`impact_of_absence` with the visits and team members read from the store: the
    visits of the person's teams, the visits not yet in a round that prefer them (their
    team as ``preferred_team_id``, or their id among the wishes' ``preferred_staff_ids``),
    and what the rest of their structure's staff can still cover each day."""
    team_ids = store.teams_of_staff([staff["id"]])[staff["id"]]
    teams = set(team_ids)
    # A two-person visit where the person's team is the partner is theirs too.
    visits = [
        {**v, "team_id": v["partner_team_id"]}
        if v["team_id"] not in teams and v.get("partner_team_id") in teams
        else v
        for v in store.staff_visits(absence.from_day, absence.to_day, team_ids=team_ids)
    ]
    members: dict[int, list[int]] = {}
    for team_id in team_ids:
        members[team_id] = [s["id"] for s in store.staff_of_team(team_id)]
    own = staff["team_id"]
    members.setdefault(own, [staff["id"]])
    scope = [staff["structure_id"]]
    day_visits = store.staff_visits(absence.from_day, absence.to_day, structures=scope)
    free = [v for v in day_visits if v["team_id"] is None and v["status"] in OPEN_STATUSES]
    wishes = _preferences(store, [v["id"] for v in free])
    for v in free:
        team, staff_ids = wishes.get(int(v["id"]), (None, []))
        if team in teams or staff["id"] in staff_ids:
            visits.append({**v, "team_id": own})
    visits.sort(key=lambda v: (v["day"], (v["windows"] or [[0]])[0][0], v["id"]))
    others = store.list_staff(structures=scope, active=True)
    capacity = capacity_of_days(staff, absence, others, day_visits, tz)
    return impact_of_absence(
        staff, absence, visits, members, locale=locale, tz=tz, capacity=capacity
    )


# -- replanning after an absence --------------------------------------------------------------
def replan_absence(
    store: Any,
    rounds: Any,
    staff_id: int,
    absence_id: int,
    *,
    structures: Collection[int] | None = None,
    by: str,
    locale: str = "fr",
    today: str,
    tz: str = "Europe/Paris",
) -> dict[str, Any]:
    """For each day from ``today`` with visits the absence leaves to reassign, a draft round
    of the rounds service (:class:`dispatch.rounds.Rounds`) without the person, for the
    coordinator to apply from the day's map.

    Returns ``{days: [{day, plan_id, moved, unassigned, dropped, moves}], impact}``:
    ``moves`` lists every visit the draft changes (visit_id, from_team_id, to_team_id);
    ``dropped``
    counts the visits already in other teams' rounds that the draft would take out (to check
    before applying it); a day the rounds cannot plan (no territory, nobody working) has
    ``plan_id`` null and its ``error``. A day with no visit of the person's but that the
    others' hours no longer cover is replanned too.
    """
    absence = store.get_absence(staff_id, absence_id, structures=structures)
    if absence["cancelled"]:
        raise ConflictError(f"absence {absence_id} was cancelled: there is nothing to replan")
    staff = store.get_staff(staff_id)
    parsed, _ = parse_absence({k: absence[k] for k in ("kind", "from_day", "to_day", "part")})
    impact = impact_of_recorded(store, staff, parsed, locale=locale, tz=tz)
    own_teams = set(store.teams_of_staff([staff_id])[staff_id])
    days = []
    short = {c["day"] for c in impact.get("capacity", ()) if c["short"]}
    for entry in impact["days"]:
        if (entry["count"] or entry["day"] in short) and entry["day"] >= today:
            days.append(
                _replan_day(
                    store,
                    rounds,
                    entry["day"],
                    staff,
                    entry["visit_ids"],
                    own_teams,
                    whole_day=parsed.part is None,
                    by=by,
                    locale=locale,
                )
            )
    return {"days": days, "impact": impact}


def _replan_day(
    store: Any,
    rounds: Any,
    day: str,
    staff: Mapping[str, Any],
    visit_ids: list[int],
    own_teams: set[int],
    *,
    whole_day: bool,
    by: str,
    locale: str,
) -> dict[str, Any]:
    """The draft of ``day``: how many of ``visit_ids`` it gives to others (``moved``) and
    how many it leaves unassigned."""
    try:
        proposal = _draft(rounds, day, staff, whole_day=whole_day, by=by, locale=locale)
        plan = store.get_plan(int(proposal["plan_id"]))
    except DispatchError as exc:
        return {
            "day": day,
            "plan_id": None,
            "moved": 0,
            "unassigned": len(visit_ids),
            "dropped": 0,
            "moves": [],
            "error": exc.message,
        }
    placed = {
        int(s["visit_id"])
        for r in plan["routes"]
        if int(r["team_id"]) not in own_teams
        for s in r["stops"]
        if s.get("visit_id") is not None
    }
    mine = {int(v) for v in visit_ids}
    moved = len(mine & placed)
    dropped = {int(x["visit_id"]) for x in proposal.get("dropped") or ()} - mine
    return {
        "day": day,
        "plan_id": plan["id"],
        "moved": moved,
        "unassigned": len(mine) - moved,
        "dropped": len(dropped),
        "moves": _moves(store, day, plan),
    }


def _moves(store: Any, day: str, draft: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the draft changes against the day's published plan (or the visits' teams when
    the day has none): ``[{visit_id, from_team_id, to_team_id}]``, ``to_team_id`` None for a
    visit it leaves out."""
    sid = draft.get("structure_id")
    before: dict[int, int | None] = {}
    published = store.published_plan(day, structure_id=sid)
    if published:
        for r in published["routes"]:
            for s in r["stops"]:
                before[int(s["visit_id"])] = int(r["team_id"])
    after = {int(s["visit_id"]): int(r["team_id"]) for r in draft["routes"] for s in r["stops"]}
    if not published:
        rows = store.get_visits(sorted(after))
        before = {int(v["id"]): v.get("team_id") for v in rows if v.get("team_id") is not None}
    out = []
    for vid in sorted(set(before) | set(after)):
        if vid in before and before[vid] != after.get(vid):
            out.append({"visit_id": vid, "from_team_id": before[vid], "to_team_id": after.get(vid)})
    return out


def _draft(
    rounds: Any, day: str, staff: Mapping[str, Any], *, whole_day: bool, by: str, locale: str
) -> dict[str, Any]:
    """The rounds service's draft for ``day`` without ``staff``.

    Recorded, a whole-day absence already keeps the person's team out of the day's teams
    (the rounds read the store's ``day_teams``): an optimisation of the day gives their
    visits to the others. While the team is still in the day (it has started a visit),
    team_unavailable takes it out, moving only its visits. Otherwise (a part-day absence
    trims the team's hours) the day is re-planned with every visit preferring its current
    team (``Rounds.optimise(stable=True)``): only what no longer fits moves.
    """
    sid = staff["structure_id"]
    if whole_day:
        try:
            result: dict[str, Any] = rounds.team_unavailable(
                day, staff["team_id"], by=by, locale=locale, structure_id=sid, apply=False
            )
            return result
        except (ValidationError, NotFoundError):
            pass  # the team is not among the day's teams: left out as absent
    # Otherwise the day is planned again changing as little as possible: every other visit
    # keeps its team, the person's go to the patients' usual caregivers where they can.
    result = rounds.optimise(day, by=by, locale=locale, structure_id=sid, stable=True)
    return result


# -- a team member's coming days ---------------------------------------------------------------
def coming_days(
    member: Mapping[str, Any] | None,
    visits: Sequence[Mapping[str, Any]],
    days: Sequence[dt.date],
    partners: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Each day's shift, absence and visits (pseudonyms only) of ``member`` (None: a team
    without staff, its visits only). ``partners``: for a two-person visit served with
    another team, that team's name by visit id (``with``)."""
    partners = partners or {}
    person = core_staff(member) if member is not None else None
    out = []
    for day in days:
        iso = day.isoformat()
        shift = core.works_on(person, day) if person is not None else None
        out.append(
            {
                "day": iso,
                "shift": _shift_json(shift),
                "absence": _absence_on(member, day) if member is not None else None,
                "visits": [
                    {
                        "id": v["id"],
                        "pseudonym": v["pseudonym"],
                        "window": str(TimeRange(*v["windows"][0])) if v["windows"] else None,
                        "duration_s": v["duration_s"],
                        "team_id": v["team_id"],
                        "with": partners.get(int(v["id"])),
                    }
                    for v in visits
                    if v["day"] == iso
                ],
            }
        )
    return out


def my_days_of(
    store: Any,
    *,
    team_id: int | None,
    from_day: Any,
    days: Any = 7,
    structures: Collection[int] | None = None,
) -> dict[str, Any]:
    """The coming days of the caller's team (GET /api/week/mine): the person's rota, absences
    and visits (their own team's and their pair's)."""
    span = day_range(from_day, days)
    if team_id is None:
        return {"team_id": None, "staff": None, "days": coming_days(None, [], span)}
    store.get_team(team_id, structures=structures)  # NotFoundError for another structure's
    members = store.staff_of_team(team_id, structures=structures)
    member = members[0] if len(members) == 1 else None
    team_ids = store.teams_of_staff([member["id"]])[member["id"]] if member else [team_id]
    visits = store.staff_visits(span[0], span[-1], structures=structures, team_ids=team_ids)
    # A two-person visit served with another team says with whom (« à deux, avec Aline »).
    partners: dict[int, str] = {}
    names: dict[int, str] = {}
    for v in visits:
        if (v.get("staff_count") or 1) < 2 or v.get("partner_team_id") is None:
            continue
        other = v["partner_team_id"] if v["team_id"] in team_ids else v["team_id"]
        if other is None or other in team_ids:
            continue
        if other not in names:
            names[other] = store.get_team(other)["name"]
        partners[int(v["id"])] = names[other]
    return {
        "team_id": team_id,
        "staff": {"id": member["id"], "name": member["name"]} if member else None,
        "days": coming_days(member, visits, span, partners),
    }
