"""Planning a week: who sees which patient (continuity of care), legal hours, week metrics.

The week is planned day after day, each day by the ordinary day solver
(:func:`dispatch.optimise.solver.solve`), with two things this module adds:

- **continuity**: before a day is routed, each visit is given as preferred team the team of
  the staff member who has seen that patient most at that time of day (morning, midday,
  evening) in the days already planned, then most for that patient at all, among the teams
  working that day that may serve it (skills, exclusions, hours); the solver pays
  ``Problem.continuity_cost_s`` for any other team (:func:`with_continuity`);
- **hours**: each person's shifts are clipped before the day is routed so that 11 h of daily
  rest, 48 h a week and the contract (plus a margin) hold whatever the routes are
  (:func:`legal_shifts`); a route lies inside its team's shift, so the limits are hard.

:func:`week_metrics` measures a planned week: distinct staff per patient, travel, hours
against contract and their spread. Everything here is pure (no store, no solver).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dispatch.optimise.model import Problem, Visit, can_serve
from dispatch.optimise.plan import Plan

#: Legal limits (French labour code): daily rest between two days' work, hours in a week.
DAILY_REST_S = 11 * 3600
WEEKLY_MAX_S = 48 * 3600
#: Worked time a person may reach over their contract (share of the contract) before their
#: shifts are cut: the issue's target is "nobody over contract by more than 10 %".
CONTRACT_MARGIN = 0.10
#: Times of day a patient's visits fall in (start of the first window, seconds): a patient
#: seen every morning and every evening keeps one caregiver per time of day.
SLOTS = (("morning", 11 * 3600), ("midday", 16 * 3600), ("evening", 10**9))


def slot_of(visit: Visit) -> str:
    """``"morning"``, ``"midday"`` or ``"evening"``: when the visit's first window opens."""
    start = visit.windows[0].start_s if visit.windows else 0
    for name, before in SLOTS:
        if start < before:
            return name
    return SLOTS[-1][0]


@dataclass
class Continuity:
    """Who has seen each patient in the days planned so far (counts per staff member).

    ``by_slot[(patient, slot)][staff]`` and ``by_patient[patient][staff]`` count visits;
    ``last[(patient, slot)]`` is the staff of the latest day (ties go to them).
    """

    by_slot: dict[tuple[int, str], Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    by_patient: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    last: dict[tuple[int, str], tuple[int, ...]] = field(default_factory=dict)

    def record(self, patient_id: int, slot: str, staff_ids: Iterable[int]) -> None:
        ids = tuple(staff_ids)
        for s in ids:
            self.by_slot[(patient_id, slot)][s] += 1
            self.by_patient[patient_id][s] += 1
        self.last[(patient_id, slot)] = ids

    def record_plan(
        self,
        problem: Problem,
        plan: Plan,
        patient_of: Mapping[str, int],
        staff_of_team: Mapping[str, Sequence[int]],
    ) -> None:
        """Count the visits of a planned day (a visit in two routes counts both teams)."""
        by_id = problem.visits_by_id()
        for route in plan.routes:
            staff = staff_of_team.get(route.team_id, ())
            for stop in route.stops:
                if stop.kind != "visit" or stop.visit_id is None:
                    continue
                patient = patient_of.get(stop.visit_id)
                if patient is not None and stop.visit_id in by_id:
                    self.record(patient, slot_of(by_id[stop.visit_id]), staff)

    def score(self, patient_id: int, slot: str, staff_ids: Sequence[int]) -> tuple[int, int, int]:
        """How well a team of ``staff_ids`` continues the patient's care (higher is better):
        visits at that time of day, then visits at all, then whether it was the last one."""
        at_slot = self.by_slot.get((patient_id, slot), Counter())
        at_all = self.by_patient.get(patient_id, Counter())
        last = self.last.get((patient_id, slot), ())
        return (
            sum(at_slot[s] for s in staff_ids),
            sum(at_all[s] for s in staff_ids),
            int(any(s in last for s in staff_ids)),
        )


def _fits_shift(team_start_s: int, team_end_s: int, visit: Visit) -> bool:
    """Whether the visit can start in one of its windows and end within the shift."""
    for w in visit.windows_or_day():
        start = max(w.start_s, team_start_s)
        if start <= w.end_s and start + visit.duration_s <= team_end_s:
            return True
    return False


def _excluded(visit: Visit) -> frozenset[str]:
    return frozenset(getattr(visit, "excluded_team_ids", frozenset()))


def with_continuity(
    problem: Problem,
    memory: Continuity,
    patient_of: Mapping[str, int],
    staff_of_team: Mapping[str, Sequence[int]],
    *,
    weight_s: int,
    keep: Mapping[str, str] | None = None,
) -> tuple[Problem, dict[str, str]]:
    """``problem`` with each visit's preferred team chosen for continuity, and the choices.

    A visit keeps a preferred team already set when that team works today (a patient's wish
    for a named person, turned into their team by the generation); ``keep`` (visit id ->
    team id) comes first of all (the current plan, when re-planning must change little).
    Otherwise the preferred team is the one, among the teams working that day that may serve
    the visit (skills, lock, exclusions, hours), whose staff have seen the patient most
    (:meth:`Continuity.score`); none when nobody has yet. ``weight_s`` becomes
    ``continuity_cost_s``: what serving a visit by another team than its preferred one costs
    the solver, in seconds of travel.
    """
    keep = keep or {}
    teams = {t.id: t for t in problem.teams if t.available}
    visits = []
    chosen: dict[str, str] = {}
    for v in problem.visits:
        candidates = [
            t
            for t in teams.values()
            if can_serve(t, v)
            and t.id not in _excluded(v)
            and _fits_shift(t.available_from_s or t.shift_start_s, t.shift_end_s, v)
        ]
        ids = {t.id for t in candidates}
        pick: str | None = None
        if keep.get(v.id) in ids:
            pick = keep[v.id]
        elif v.preferred_team_id in ids:
            pick = v.preferred_team_id
        else:
            patient = patient_of.get(v.id)
            if patient is not None and candidates:
                slot = slot_of(v)
                best = max(
                    candidates,
                    key=lambda t: (memory.score(patient, slot, staff_of_team.get(t.id, ())), t.id),
                )
                if memory.score(patient, slot, staff_of_team.get(best.id, ())) > (0, 0, 0):
                    pick = best.id
        if pick is not None:
            chosen[v.id] = pick
        visits.append(replace(v, preferred_team_id=pick) if pick != v.preferred_team_id else v)
    return problem.with_changes(visits=tuple(visits), continuity_cost_s=int(weight_s)), chosen


# -- legal hours --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftCut:
    """Why a person's shift of a day was cut: ``rule`` is ``daily_rest``, ``weekly_hours``
    or ``contract``; ``cut_s`` the seconds taken off."""

    staff_id: int
    day: str
    rule: str
    cut_s: int


Span = tuple[int, int]


def work_in(start_s: int, end_s: int, breaks: Sequence[Span] = ()) -> int:
    """Seconds of work between ``start_s`` and ``end_s`` less the breaks inside (a split
    shift's afternoon off is a break: rest, not work)."""
    off = sum(max(0, min(e, end_s) - max(s, start_s)) for s, e in breaks)
    return max(0, end_s - start_s - off)


def _trim_end(start_s: int, end_s: int, breaks: Sequence[Span], cut_s: int) -> int:
    """The end that takes ``cut_s`` seconds of work off the end of the day (an end that
    would fall in a break moves to the break's start)."""
    end = end_s
    for s, e in sorted(breaks, reverse=True):
        if e >= end or cut_s <= 0:
            if s < end:
                end = min(end, s) if e >= end else end
            continue
        part = end - e
        if part > cut_s:
            return end - cut_s
        cut_s -= part
        end = s
    return max(start_s, end - cut_s)


def _cut_to(
    staff_id: int,
    mine: dict[str, tuple[int, int]],
    rests: Mapping[str, Sequence[Span]],
    days: Sequence[str],
    cap_s: int,
    rule: str,
) -> list[ShiftCut]:
    """Cut ``days`` of ``mine`` (in place) to ``cap_s`` seconds of work in all: every day
    gives its share, from its end (one day left without the person would leave its visits
    to fewer colleagues)."""
    days = [d for d in days if d in mine]
    total = sum(work_in(*mine[d], rests[d]) for d in days)
    cap_s = max(cap_s, 0)
    if total <= cap_s:
        return []
    excess = total - cap_s
    left = excess
    cuts = []
    for k, day in enumerate(days):
        s, e = mine[day]
        work = work_in(s, e, rests[day])
        # Shares rounded down, the last day taking what rounding left.
        cut = min(work, left if k == len(days) - 1 else excess * work // total)
        left -= cut
        if cut <= 0:
            continue
        cuts.append(ShiftCut(staff_id, day, rule, cut))
        if cut >= work:
            del mine[day]
        else:
            mine[day] = (s, _trim_end(s, e, rests[day], cut))
    # A last day too short for what rounding left: the others, from the last, give the rest.
    for day in reversed([d for d in days if d in mine]):
        if left <= 0:
            break
        s, e = mine[day]
        cut = min(work_in(s, e, rests[day]), left)
        left -= cut
        cuts.append(ShiftCut(staff_id, day, rule, cut))
        new_end = _trim_end(s, e, rests[day], cut)
        if new_end <= s:
            del mine[day]
        else:
            mine[day] = (s, new_end)
    return cuts


def monday_of(day: str) -> str:
    """The Monday (ISO day) that starts ``day``'s civil week."""
    d = dt.date.fromisoformat(day)
    return (d - dt.timedelta(days=d.weekday())).isoformat()


def legal_shifts(
    shifts: Mapping[int, Mapping[str, tuple[int, int, Sequence[Span]]]],
    due_s: Mapping[int, int],
    days: Sequence[str],
    *,
    worked_before_s: Mapping[int, int] | None = None,
    end_before_s: Mapping[int, int] | None = None,
    due_by_week_s: Mapping[int, Mapping[str, int]] | None = None,
    margin: float = CONTRACT_MARGIN,
) -> tuple[dict[int, dict[str, tuple[int, int]]], list[ShiftCut]]:
    """Each person's shifts (staff id -> ISO day -> (start_s, end_s, breaks), seconds since
    that day's midnight) clipped so that whatever routes are planned inside them:

    - 11 h of rest separate one day's end from the next day's start (the next start moves
      later; a day left with nothing is dropped);
    - each civil week (Monday to Sunday) holds at most 48 h of work (breaks are not work),
      and the days at most what the contract makes the person owe over them (``due_s``)
      plus ``margin``: each day gives its share of the excess, from its end.

    ``days`` are consecutive ISO days in order. ``worked_before_s`` is each person's work
    already done (published) in the civil week of the first day, before it; ``end_before_s``
    the end of their work on the day before the first (seconds since that day's midnight).
    ``due_by_week_s`` (staff id -> Monday's ISO day -> seconds) is what the contract makes a
    person owe over each whole civil week: given, the contract holds per civil week, the first
    counting ``worked_before_s``, instead of over the days planned (``due_s``). Returns the
    shifts (start_s, end_s) and the cuts.
    """
    out: dict[int, dict[str, tuple[int, int]]] = {}
    cuts: list[ShiftCut] = []
    worked_before_s = worked_before_s or {}
    end_before_s = end_before_s or {}
    for staff_id, by_day in shifts.items():
        mine: dict[str, tuple[int, int]] = {}
        rests: dict[str, Sequence[Span]] = {}
        prev_end = end_before_s.get(staff_id)
        prev_index: int | None = -1 if prev_end is not None else None
        for i, day in enumerate(days):
            if day not in by_day:
                continue
            start, end, breaks = by_day[day]
            if prev_end is not None and prev_index is not None:
                earliest = prev_end + DAILY_REST_S - 86_400 * (i - prev_index)
                if earliest > start:
                    cuts.append(
                        ShiftCut(
                            staff_id, day, "daily_rest", work_in(start, min(earliest, end), breaks)
                        )
                    )
                    start = earliest
            if end <= start:
                continue
            mine[day], rests[day] = (start, end), breaks
            prev_end, prev_index = end, i
        # The contract (per civil week when its weeks are given, else over all the days),
        # then 48 h in each civil week (Monday to Sunday); the first day's week counts the
        # work done in it before the first day.
        weekly_due = (due_by_week_s or {}).get(staff_id)
        if weekly_due is None and staff_id in due_s:
            cuts += _cut_to(
                staff_id, mine, rests, list(mine), int(due_s[staff_id] * (1 + margin)), "contract"
            )
        weeks: dict[str, list[str]] = {}
        for day in [d for d in days if d in mine]:
            weeks.setdefault(monday_of(day), []).append(day)
        for monday, week in weeks.items():
            before = worked_before_s.get(staff_id, 0) if monday == monday_of(days[0]) else 0
            if weekly_due is not None and monday in weekly_due:
                cap = int(weekly_due[monday] * (1 + margin)) - before
                cuts += _cut_to(staff_id, mine, rests, week, cap, "contract")
            cuts += _cut_to(staff_id, mine, rests, week, WEEKLY_MAX_S - before, "weekly_hours")
        out[staff_id] = mine
    return out, cuts


# -- measuring a week -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedDay:
    """A planned day as the week metrics read it: its problem, plan, and the staff of each
    team that day (team id -> staff ids)."""

    problem: Problem
    plan: Plan
    staff_of_team: Mapping[str, Sequence[int]]


def worked_s(plan: Plan) -> dict[str, int]:
    """Each team's worked time in ``plan``: from departure to return less its breaks (a
    split shift's hours off are rest), for routes with visits."""
    out: dict[str, int] = {}
    for r in plan.routes:
        if any(s.kind == "visit" for s in r.stops):
            rest = sum(s.departure_s - s.start_s for s in r.stops if s.kind == "break")
            out[r.team_id] = out.get(r.team_id, 0) + max(0, r.end_s - r.start_s - rest)
    return out


def week_metrics(
    days: Mapping[str, PlannedDay],
    patient_of: Mapping[str, int],
    due_s: Mapping[int, int],
) -> dict[str, Any]:
    """The figures of a planned week (the ``METRICS`` of the week API).

    ``planned`` visits served (a two-person visit in two routes counts once), ``unassigned``,
    ``travel_s`` (all routes, back to base included), ``distinct_staff_per_patient`` (mean
    over the patients seen, of the staff members who saw them), ``max_contract_excess_pct``
    (worked time over the days against what the contract makes each person owe over them,
    ``due_s``, see :func:`due_hours`; worst person, 0 when nobody exceeds it),
    ``hours_spread_h`` (largest minus smallest worked hours over what is due, among people
    owing some), and ``staff_h`` (hours per person).
    """
    seen: dict[int, set[int]] = defaultdict(set)
    served: set[tuple[str, str]] = set()
    unassigned = 0
    travel = 0
    hours: Counter[int] = Counter()
    for day, d in days.items():
        worked = worked_s(d.plan)
        for r in d.plan.routes:
            travel += r.travel_time_s
            staff = d.staff_of_team.get(r.team_id, ())
            for s in staff:
                hours[s] += worked.get(r.team_id, 0)
            for stop in r.stops:
                if stop.kind == "visit" and stop.visit_id is not None:
                    served.add((day, stop.visit_id))
                    patient = patient_of.get(stop.visit_id)
                    if patient is not None:
                        seen[patient].update(staff)
        unassigned += len(d.plan.unassigned)
    excess = 0.0
    ratios = []
    for s, due in due_s.items():
        if due <= 0:
            continue
        excess = max(excess, 100.0 * (hours[s] - due) / due)
        ratios.append((hours[s] - due) / 3600)
    distinct = [len(v) for v in seen.values() if v]
    return {
        "planned": len(served),
        "unassigned": unassigned,
        "travel_s": int(travel),
        "distinct_staff_per_patient": round(sum(distinct) / len(distinct), 3) if distinct else 0.0,
        "max_contract_excess_pct": round(max(0.0, excess), 2),
        "hours_spread_h": round(max(ratios) - min(ratios), 2) if ratios else 0.0,
        "staff_h": {int(s): round(h / 3600, 2) for s, h in sorted(hours.items())},
    }


def due_hours(contract_s: int, rota_s_days: int, rota_s_cycle_week: float, n_days: int) -> int:
    """What a person's contract makes them owe over some days: the contract's weekly hours
    times the share of their rota's work that falls in these days. A person on 7 days on,
    7 days off owes twice their weekly contract in a week on and nothing in a week off;
    ``rota_s_cycle_week`` is their rota's mean work per week over its cycle (0: the
    contract pro rata of the days)."""
    if rota_s_cycle_week <= 0:
        return int(contract_s * n_days / 7)
    return int(contract_s * rota_s_days / rota_s_cycle_week)


def moves(
    before: Mapping[str, Mapping[str, str]], after: Mapping[str, Mapping[str, str]]
) -> list[dict[str, str | None]]:
    """What moved between two versions of the week: ``[{day, visit_id, from, to}]`` for each
    visit whose team changed (``from``/``to`` None: not in a round), by day then visit id.
    ``before``/``after``: ISO day -> visit id -> team id."""
    out: list[dict[str, str | None]] = []
    for day in sorted(set(before) | set(after)):
        b, a = before.get(day, {}), after.get(day, {})
        for vid in sorted(set(b) | set(a), key=lambda x: (len(x), x)):
            if b.get(vid) != a.get(vid):
                out.append({"day": day, "visit_id": vid, "from": b.get(vid), "to": a.get(vid)})
    return out
