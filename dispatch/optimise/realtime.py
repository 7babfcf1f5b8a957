"""Live changes to a plan: urgent insertions, delays, a team lost, manual moves, slot offers."""

from __future__ import annotations

from dataclasses import replace

from dispatch.errors import NotFoundError, ValidationError
from dispatch.optimise.check import check_plan
from dispatch.optimise.insertion import (
    TeamState,
    apply,
    best_break_positions,
    clip_to_now,
    current_cost,
    insert_all,
    insertions,
    plan_from_states,
    states_from_plan,
)
from dispatch.optimise.model import Problem, TimeWindow, Visit, can_serve
from dispatch.optimise.plan import Plan, Slot, Unassigned
from dispatch.optimise.reasons import explain, precheck
from dispatch.optimise.schedule import Timing, time_route
from dispatch.optimise.solver import unassigned_reasons
from dispatch.optimise.sync import pin_starts, resync, shared_starts

#: How far (s) a slot's start may slide; slots are told apart by half hours.
SLOT_STEP_S = 300
SLOT_SPREAD_S = 1800


def _with_visit(problem: Problem, visit: Visit) -> Problem:
    if visit.id in problem.visits_by_id():
        if problem.visits_by_id()[visit.id] == visit:
            return problem
        return problem.with_changes(
            visits=tuple(visit if v.id == visit.id else v for v in problem.visits)
        )
    return problem.with_changes(visits=problem.visits + (visit,))


def _keep_unassigned(plan: Plan, drop: set[str]) -> list[Unassigned]:
    return [u for u in plan.unassigned if u.visit_id not in drop]


def insert_visit(problem: Problem, plan: Plan, visit: Visit) -> Plan:
    """``plan`` with ``visit`` (often urgent) added where it disturbs least.

    Only visits not yet started may move; routes other than the chosen one are untouched. When
    no route can take it as it stands and the visit is urgent (priority 4-5), a visit of lower
    priority may give up its place (it is re-inserted elsewhere or reported with its reason).
    A visit that fits nowhere comes back in ``unassigned`` with the reason.
    """
    problem = _with_visit(problem, visit)
    states = states_from_plan(problem, plan)
    others = [u for u in plan.unassigned if u.visit_id != visit.id]
    reason = precheck(problem, visit)
    if reason is None:
        found = insertions(problem, states, visit)
        if found:
            apply(problem, states, found[0])
            return plan_from_states(
                problem,
                states,
                others,
                {**plan.stats, "inserted": visit.id, "team_id": found[0].team_id},
            )
        if visit.priority >= 4:
            ejected = _insert_with_ejection(problem, states, visit)
            if ejected is not None:
                left = insert_all(problem, states, [ejected])
                extra = unassigned_reasons(problem, states, left)
                return plan_from_states(
                    problem,
                    states,
                    others + extra,
                    {**plan.stats, "inserted": visit.id, "displaced": ejected},
                )
        reason = unassigned_reasons(problem, states, [visit.id])[0]
    return plan_from_states(problem, states, others + [reason], plan.stats)


def _insert_with_ejection(
    problem: Problem, states: dict[str, TeamState], visit: Visit
) -> str | None:
    """Make room for ``visit`` by taking out one visit of lower priority; returns the one taken out.

    The victim is the least important visit whose removal lets ``visit`` in (cheapest on ties).
    Insertions that keep the breaks where they are are tried first; moving breaks (several
    times slower) is only tried for victims that would beat the best found so far.
    """
    by_id = problem.visits_by_id()
    lo = min(w.start_s for w in visit.windows_or_day())
    hi = max(w.end_s for w in visit.windows_or_day()) + visit.duration_s
    candidates: list[tuple[tuple, str, TeamState]] = []
    for st in states.values():
        if not st.team.available or not can_serve(st.team, visit):
            continue
        for item in st.items:
            if not isinstance(item, str):
                continue
            other = by_id[item]
            if other.priority >= visit.priority or (other.mandatory and not visit.mandatory):
                continue
            # Only a visit that occupies the team when the urgent one is wanted frees the time.
            planned = next((s for s in st.timing.stops if s.visit_id == item), None)
            if planned is not None and (planned.departure_s < lo or planned.arrival_s > hi):
                continue
            trial = TeamState(st.team, st.prefix, [i for i in st.items if i != item], st.timing)
            candidates.append(((other.mandatory, other.priority), item, trial))
    best = None
    for move_breaks in (False, True):
        for rank, item, trial in candidates:
            if best is not None and (move_breaks and rank >= best[0][:2] or rank > best[0][:2]):
                continue
            if not move_breaks:
                trial.timing = time_route(problem, trial.team, trial.items, prefix=trial.prefix)
            tid = trial.team.id
            found = insertions(problem, {tid: trial}, visit, move_breaks=move_breaks)
            if found:
                key = (*rank, found[0].delta_cost)
                if best is None or key < best[0]:
                    best = (key, tid, item, found[0])
    if best is None:
        return None
    _, tid, item, ins = best
    apply(problem, states, ins)
    return item


def propose_slots(problem: Problem, plan: Plan, visit: Visit, *, n: int = 5) -> list[Slot]:
    """The ``n`` cheapest appointments for a new visit on the existing routes.

    Each slot names a team, the place in its route, and a start range in which the visit can
    begin without making any planned visit late. Slots of one team are at least half an hour
    apart so that the coordinator has real choices to offer.
    """
    if n < 1:
        raise ValidationError("n must be at least 1")
    problem = _with_visit(problem, visit)
    if precheck(problem, visit) is not None:
        return []
    states = states_from_plan(problem, plan)
    problem, visit = clip_to_now(problem, visit)
    slots: list[Slot] = []
    for ins in insertions(problem, states, visit):
        timing = time_route(
            problem, states[ins.team_id].team, list(ins.items), prefix=states[ins.team_id].prefix
        )
        stop = next(s for s in timing.stops if s.visit_id == visit.id)
        if any(
            s.team_id == ins.team_id and abs(s.start_s - stop.start_s) < SLOT_SPREAD_S
            for s in slots
        ):
            continue
        latest = _latest_start(problem, states[ins.team_id], ins.items, visit, stop.start_s)
        extra = ins.timing.cost - current_cost(states[ins.team_id])
        slots.append(
            Slot(
                ins.team_id,
                ins.position,
                stop.start_s,
                latest,
                stop.start_s + visit.duration_s,
                ins.delta_cost,
                extra,
            )
        )
        if len(slots) >= n:
            break
    return slots


def _latest_start(problem: Problem, st: TeamState, items: tuple, visit: Visit, start_s: int) -> int:
    lo, hi = 0, 0
    step = SLOT_STEP_S
    while hi < SLOT_SPREAD_S * 2:
        trial = hi + step
        fixed = replace(visit, windows=(TimeWindow(start_s + trial, start_s + trial),))
        p2 = _with_visit(problem, fixed)
        if not time_route(p2, st.team, list(items), prefix=st.prefix).feasible:
            break
        hi = trial
        lo = hi
    return start_s + lo


def move_visit(
    problem: Problem,
    plan: Plan,
    visit_id: str,
    team_id: str,
    position: int | None = None,
    *,
    locale: str = "fr",
) -> tuple[Plan, list[str]]:
    """A coordinator's manual move: ``visit_id`` to ``team_id`` at ``position`` (among its visits).

    Returns the re-timed plan and its violations (empty when feasible), so that the map can
    show at once whether the move holds. ``position`` None puts it where it costs least.
    """
    visit = problem.visit(visit_id)
    problem.team(team_id)
    states = states_from_plan(problem, plan)
    for st in states.values():
        if visit_id in [s.visit_id for s in st.prefix]:
            raise ValidationError(f"visit {visit_id} has already started: it cannot be moved")
        if visit_id in st.items:
            st.items = [i for i in st.items if i != visit_id]
            st.timing = time_route(problem, st.team, st.items, prefix=st.prefix)
    target = states[team_id]
    if position is None:
        found = insertions(problem, {team_id: target}, visit)
        if found:
            apply(problem, states, found[0])
        else:
            # Nowhere on time: at the end, the team's breaks placed as well as they can be
            # (an empty round has none yet, and a round without its breaks is wrong twice).
            items, timing = best_break_positions(problem, target, target.items + [visit_id])
            target.items, target.timing = items, timing
    else:
        visits_only = [i for i in target.items if isinstance(i, str)]
        if not 0 <= position <= len(visits_only):
            raise ValidationError(
                f"position {position} is outside 0..{len(visits_only)} for team {team_id}"
            )
        anchor = visits_only[position] if position < len(visits_only) else None
        idx = target.items.index(anchor) if anchor is not None else len(target.items)
        target.items = target.items[:idx] + [visit_id] + target.items[idx:]
        items, timing = best_break_positions(problem, target, target.items)
        target.items, target.timing = items, timing
    new = plan_from_states(problem, states, _keep_unassigned(plan, {visit_id}), plan.stats)
    return new, check_plan(problem, new, locale=locale)


def replan_after_delay(
    problem: Problem, plan: Plan, team_id: str, *, now_s: int, location: int | None = None
) -> Plan:
    """ETAs of ``team_id`` recomputed from where it is now; visits it would miss go elsewhere.

    The team's remaining order is kept when it still holds; otherwise the best order of its own
    visits is tried, then the visits it can no longer make in time are offered to the other
    teams (cheapest insertion), and those nobody can take are reported with their reason.
    Two-person visits keep the start their two people agreed on: a late team that cannot make
    it gives its place up as a lost team does (see :func:`team_unavailable`).
    """
    team = problem.team(team_id)
    team2 = replace(
        team,
        available_location=location if location is not None else team.available_location,
        available_from_s=now_s,
    )
    problem = problem.with_changes(
        teams=tuple(team2 if t.id == team_id else t for t in problem.teams), now_s=now_s
    )
    # Two-person visits keep the start both people agreed on: the late team must make it
    # or let the visit go (its partner keeps it, see resync), and no route moves it.
    work = pin_starts(problem, shared_starts(problem, plan))
    states = states_from_plan(work, plan)
    st = states[team_id]
    if st.timing.feasible:
        new = plan_from_states(work, states, plan.unassigned, plan.stats)
        return resync(problem, plan, new)
    by_id = work.visits_by_id()
    ejected: list[str] = []
    items, timing = best_break_positions(work, st, st.items)
    while not timing.feasible and any(isinstance(i, str) for i in items):
        visits = [i for i in items if isinstance(i, str)]
        victim = (
            timing.late_visit_id
            if timing.late_visit_id in visits
            else min(visits, key=lambda v: (by_id[v].mandatory, by_id[v].priority))
        )
        # Try the same visits in another order before letting one go.
        reordered = _reorder(work, st, items)
        if reordered is not None:
            items, timing = reordered
            break
        items = [i for i in items if i != victim]
        ejected.append(victim)
        items, timing = best_break_positions(work, st, items)
    st.items, st.timing = items, timing
    # A two-person visit the late team lets go is its partner's to keep or pass on (resync):
    # cheapest insertion would put it anywhere, at any time.
    work, states, dropped = _resync_first(problem, plan, work, states)
    alone = [v for v in ejected if by_id[v].staff_count < 2]
    left = insert_all(work, states, alone)
    extra = unassigned_reasons(problem, states, left)
    new = plan_from_states(
        work,
        states,
        list(plan.unassigned) + dropped + extra,
        {**plan.stats, "delayed_team": team_id},
    )
    return resync(problem, plan, new)


def _resync_first(
    problem: Problem, before: Plan, work: Problem, states: dict[str, TeamState]
) -> tuple[Problem, dict[str, TeamState], list[Unassigned]]:
    """Two-person visits repaired (:func:`resync`) before the other visits let go are placed
    again: their start is agreed and a third person free then is rare, the others may go
    anywhere in their windows. Returns the problem with the agreed starts pinned, the
    states, and the visits left out whole."""
    if not any(v.staff_count > 1 for v in problem.visits):
        return work, states, []
    mid = resync(problem, before, plan_from_states(work, states, []))
    work = pin_starts(problem, shared_starts(problem, mid))
    return work, states_from_plan(work, mid), list(mid.unassigned)


def _reorder(problem: Problem, st: TeamState, items: list) -> tuple[list, Timing] | None:
    """Rebuild the team's route by cheapest insertion in window order; None if it does not hold."""
    by_id = problem.visits_by_id()
    visits = sorted(
        (i for i in items if isinstance(i, str)), key=lambda v: by_id[v].windows_or_day()[-1].end_s
    )
    trial = TeamState(st.team, st.prefix, [], time_route(problem, st.team, [], prefix=st.prefix))
    for vid in visits:
        found = insertions(problem, {st.team.id: trial}, by_id[vid])
        if not found:
            return None
        trial.items = list(found[0].items)
        trial.timing = time_route(problem, st.team, trial.items, prefix=st.prefix)
    return trial.items, trial.timing


def team_unavailable(
    problem: Problem, plan: Plan, team_id: str, *, now_s: int | None = None
) -> tuple[Problem, Plan]:
    """``team_id`` stops for the day: its visits not yet started go to the other teams.

    Returns the problem with the team marked unavailable and the new plan; visits nobody can
    take are reported with a reason naming the lost team. A two-person visit keeps its start
    and its other person; the lost person's place goes to another team at that very second, or
    the visit to a pair, or it is left out whole (``not_synchronised``; see :func:`resync`).
    """
    team = problem.team(team_id)
    problem = problem.with_changes(
        teams=tuple(replace(t, available=False) if t.id == team_id else t for t in problem.teams),
        now_s=now_s if now_s is not None else problem.now_s,
    )
    # Two-person visits keep the start both people agreed on (see replan_after_delay).
    work = pin_starts(problem, shared_starts(problem, plan))
    by_id = work.visits_by_id()
    states = states_from_plan(work, plan)
    st = states[team_id]
    orphans = [i for i in st.items if isinstance(i, str)]
    st.items = []
    st.timing = time_route(work, st.team, [], prefix=st.prefix)
    # The lost team's two-person visits are their partners' to keep or pass on (resync).
    work, states, dropped = _resync_first(problem, plan, work, states)
    alone = [v for v in orphans if by_id[v].staff_count < 2]
    left = insert_all(work, states, alone)
    extra = unassigned_reasons(problem, states, left, lost_team=team.label)
    new = plan_from_states(
        work,
        states,
        _keep_unassigned(plan, set(orphans)) + dropped + extra,
        {**plan.stats, "lost_team": team_id},
    )
    return problem, resync(problem, plan, new)


def set_status(plan: Plan, visit_id: str, status: str) -> Plan:
    """``plan`` with a visit marked "started" or "done" (it will never move again)."""
    if status not in ("planned", "started", "done"):
        raise ValidationError(f"status {status!r}: use planned, started or done")
    found = plan.stop_of(visit_id)
    if found is None:
        raise NotFoundError(f"visit {visit_id} is not in the plan")
    route, idx = found
    stops = list(route.stops)
    for i in range(idx):
        if stops[i].status == "planned":
            stops[i] = replace(stops[i], status="done")
    stops[idx] = replace(stops[idx], status=status)
    return plan.with_route(replace(route, stops=tuple(stops)))


def plan_metrics(problem: Problem, plan: Plan) -> dict:
    """km, travel time and late visits of a plan (for comparing the current and a proposed plan)."""
    by_id = problem.visits_by_id()
    late = 0
    for r in plan.routes:
        for s in r.stops:
            if s.kind == "visit" and s.visit_id in by_id and s.status == "planned":
                v = by_id[s.visit_id]
                if not any(w.start_s <= s.start_s <= w.end_s for w in v.windows_or_day()):
                    late += 1
    summary = plan.summary()
    return {
        "distance_km": round(summary["distance_m"] / 1000, 1),
        "travel_time_s": summary["travel_time_s"],
        "late_visits": late,
        "visits_served": summary["visits_served"],
        "visits_unassigned": summary["visits_unassigned"],
        "teams_used": summary["teams_used"],
    }


def compare_plans(problem: Problem, current: Plan, proposed: Plan) -> dict:
    """Side-by-side figures of the current and the proposed plan, and the differences."""
    a, b = plan_metrics(problem, current), plan_metrics(problem, proposed)
    return {"current": a, "proposed": b, "delta": {k: round(b[k] - a[k], 1) for k in a}}


def retime(problem: Problem, plan: Plan) -> Plan:
    """The same routes with every time recomputed (after a change of ``problem.now_s``)."""
    states = states_from_plan(problem, plan)
    return plan_from_states(problem, states, plan.unassigned, plan.stats)


__all__ = [
    "compare_plans",
    "explain",
    "insert_visit",
    "move_visit",
    "plan_metrics",
    "propose_slots",
    "replan_after_delay",
    "retime",
    "set_status",
    "team_unavailable",
]
