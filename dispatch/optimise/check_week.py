"""The independent checker over several days: each person's daily rest and weekly hours
(French labour law: 11 hours of rest between two working days, at most 48 hours of work in a
civil week), and a report of the hours planned against each contract.

A person's day runs from their team's departure to its return, as :func:`worked_span` reads it
from that day's plan: daily rest is counted from one day's return to the next day's departure.
Their worked time is that span less the route's break stops (:func:`worked_s`): the law counts
effective work (*temps de travail effectif*), and a split shift (07:00-12:00 and 17:00-20:00)
is one team shift whose rota break is held as a break stop. Days are ISO dates; the plans are
those of :mod:`dispatch.optimise.check` (one per day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dispatch.optimise.model import Problem, hhmm
from dispatch.optimise.plan import Plan

#: Least rest between the end of one working day and the start of the next (seconds).
DAILY_REST_S = 11 * 3600
#: Most work in a civil week, Monday to Sunday (seconds; breaks are not work).
WEEKLY_MAX_S = 48 * 3600
WEEK_DAYS = 7

_T = {
    "daily_rest": (
        "repos quotidien : {staff} a {rest} de repos entre le {day} ({end}) et le {next_day} "
        "({start}), moins que les {want} h dues",
        "daily rest: {staff} has {rest} of rest between {day} ({end}) and {next_day} "
        "({start}), less than the {want} h due",
    ),
    "weekly_hours": (
        "heures hebdomadaires : {staff} travaille {got} (pauses non comptées{before}) dans la "
        "semaine civile du lundi {monday} au dimanche {sunday}, plus que les {want} h permises",
        "weekly hours: {staff} works {got} (breaks not counted{before}) in the civil week from "
        "Monday {monday} to Sunday {sunday}, more than the {want} h allowed",
    ),
}
#: The share of a civil week's hours worked before the first day checked.
_BEFORE = (", dont {got} avant le {first}", ", {got} of them before {first}")
RULES = {"daily_rest": "daily_rest", "weekly_hours": "weekly_hours"}


@dataclass(frozen=True)
class StaffWeek:
    """One person over the days checked: their contract (seconds a week) and the team id (as
    in each day's Problem) they work in, by ISO day (days off are absent)."""

    staff_id: int
    label: str
    contract_s: int
    team_by_day: Mapping[str, str] = field(default_factory=dict)


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d}"


def worked_span(problem: Problem, plan: Plan, team_id: str) -> tuple[int, int] | None:
    """``(departure_s, return_s)`` of the team's route on that day, or None when it does not
    go out (no route, or a route without stops)."""
    del problem  # the plan's route carries its own times
    route = plan.route(team_id)
    if route is None or not route.stops:
        return None
    return route.start_s, max(route.end_s, route.start_s)


def worked_s(plan: Plan, team_id: str) -> int:
    """The team's work on that day: its route from departure to return less the time of its
    break stops (0 when it does not go out)."""
    route = plan.route(team_id)
    if route is None or not route.stops:
        return 0
    rest = sum(s.departure_s - s.start_s for s in route.stops if s.kind == "break")
    return max(0, route.end_s - route.start_s - rest)


def _spans(
    days: Mapping[str, tuple[Problem, Plan]], person: StaffWeek
) -> list[tuple[dt.date, int, int, int]]:
    """``(day, departure_s, return_s, worked_s)`` of each day the person goes out."""
    out = []
    for day in sorted(days):
        team_id = person.team_by_day.get(day)
        if team_id is None:
            continue
        problem, plan = days[day]
        span = worked_span(problem, plan, team_id)
        if span is not None:
            work = worked_s(plan, team_id)
            out.append((dt.date.fromisoformat(day), span[0], span[1], work))
    return out


def check_week(
    days: Mapping[str, tuple[Problem, Plan]],
    staff: Sequence[StaffWeek],
    *,
    locale: str = "fr",
    worked_before_s: Mapping[int, int] | None = None,
    end_before_s: Mapping[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Every breach of daily rest or weekly hours, as ``{"rule", "code", "staff_id", "day",
    "message"}`` (an empty list: the days keep to both rules).

    ``daily_rest``: at least 11 h from one day's return to the next day's departure (the
    finding's ``day`` is the earlier one).
    ``weekly_hours``: at most 48 h of work (breaks not counted) in each civil week, Monday
    to Sunday (the law's default week, the one the week planning cuts shifts to); the
    finding's ``day`` is the first day given worked in that week.

    What happened before the first day given, per staff id: ``worked_before_s``, the work
    already done in its civil week (it counts in that week's 48 h), and ``end_before_s``,
    the return of the day before it (seconds since that day's midnight; the rest to the
    first day worked counts from it). Without them only the days given count.
    """
    worked_before_s = worked_before_s or {}
    end_before_s = end_before_s or {}
    first = dt.date.fromisoformat(min(days)) if days else None
    li = 0 if locale == "fr" else 1
    out: list[dict[str, Any]] = []

    def bad(code: str, person: StaffWeek, day: dt.date, **kw: object) -> None:
        out.append(
            {
                "rule": RULES[code],
                "code": code,
                "staff_id": person.staff_id,
                "day": day.isoformat(),
                "message": _T[code][li].format(staff=person.label, day=day.isoformat(), **kw),
            }
        )

    for person in staff:
        spans = _spans(days, person)
        rested = spans
        if first is not None and person.staff_id in end_before_s:
            before_end = int(end_before_s[person.staff_id])
            rested = [(first - dt.timedelta(days=1), 0, before_end, 0), *spans]
        for (d1, _s1, e1, _w1), (d2, s2, _e2, _w2) in zip(rested, rested[1:], strict=False):
            rest = (d2 - d1).days * 86_400 + s2 - e1
            if rest < DAILY_REST_S:
                bad(
                    "daily_rest",
                    person,
                    d1,
                    rest=_duration(max(rest, 0)),
                    end=hhmm(e1),
                    next_day=d2.isoformat(),
                    start=hhmm(s2),
                    want=DAILY_REST_S // 3600,
                )
        # Each civil week, Monday to Sunday.
        weeks: dict[dt.date, list[tuple[dt.date, int]]] = {}
        for d, _s, _e, work in spans:
            weeks.setdefault(d - dt.timedelta(days=d.weekday()), []).append((d, work))
        for monday, inside in weeks.items():
            worked = sum(work for _d, work in inside)
            before = ""
            if first is not None and monday == first - dt.timedelta(days=first.weekday()):
                earlier = int(worked_before_s.get(person.staff_id, 0))
                worked += earlier
                if earlier:
                    before = _BEFORE[li].format(got=_duration(earlier), first=first.isoformat())
            if worked > WEEKLY_MAX_S:
                bad(
                    "weekly_hours",
                    person,
                    inside[0][0],
                    got=_duration(worked),
                    before=before,
                    monday=monday.isoformat(),
                    sunday=(monday + dt.timedelta(days=WEEK_DAYS - 1)).isoformat(),
                    want=WEEKLY_MAX_S // 3600,
                )
    return out


def hours_report(
    days: Mapping[str, tuple[Problem, Plan]], staff: Sequence[StaffWeek]
) -> list[dict[str, Any]]:
    """Hours worked (breaks not counted) against each contract (not a violation: what a
    coordinator balances):
    ``{"staff_id", "label", "contract_h", "planned_h", "excess_pct", "days": {day: h}}``.
    ``excess_pct`` is how far over the contract (0 when under; contracts are per week, the
    days given count pro rata of seven)."""
    n_days = max(len(days), 1)
    out = []
    for person in staff:
        spans = _spans(days, person)
        by_day = {d.isoformat(): round(work / 3600, 2) for d, _s, _e, work in spans}
        planned_s = sum(work for _d, _s, _e, work in spans)
        contract_s = person.contract_s * min(n_days, WEEK_DAYS) / WEEK_DAYS
        excess = max(0.0, (planned_s - contract_s) / contract_s * 100) if contract_s else 0.0
        out.append(
            {
                "staff_id": person.staff_id,
                "label": person.label,
                "contract_h": round(contract_s / 3600, 2),
                "planned_h": round(planned_s / 3600, 2),
                "excess_pct": round(excess, 1),
                "days": by_day,
            }
        )
    return out
