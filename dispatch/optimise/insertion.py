"""Cheapest feasible insertion: the building block of repairs, live changes and slot offers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dispatch.optimise.model import Problem, Team, TimeWindow, Visit, can_serve
from dispatch.optimise.plan import Plan, Route, Stop
from dispatch.optimise.relaxed import Relaxed
from dispatch.optimise.schedule import Item, Timing, build_route, route_items, time_route


@dataclass
class TeamState:
    """A team's route while it is being edited: fixed prefix, movable items, their timing."""

    team: Team
    prefix: tuple[Stop, ...]
    items: list[Item]
    timing: Timing
    _relaxed: tuple[tuple[Item, ...], Relaxed] | None = field(
        default=None, repr=False, compare=False
    )

    def relaxed(self, problem: Problem, items: list[Item] | None = None) -> Relaxed:
        """The relaxed timing of ``items`` (default: the route as it stands), kept until the
        route changes: insertions of one visit after another into the same routes, and the
        chains of moves, ask for it many times (Haute-Corse day: about 800 times per plan
        finished, mostly for unchanged routes). A state lives within one problem: its
        visits' places, windows and travel times are taken as fixed."""
        key = tuple(self.items if items is None else items)
        if self._relaxed is None or self._relaxed[0] != key:
            self._relaxed = (key, Relaxed(problem, self.team, list(key), self.prefix))
        return self._relaxed[1]

    @property
    def n_visits(self) -> int:
        return sum(1 for i in self.items if isinstance(i, str)) + sum(
            1 for s in self.prefix if s.kind == "visit"
        )


def states_from_plan(problem: Problem, plan: Plan | None) -> dict[str, TeamState]:
    """Editable states for every team of ``problem`` from ``plan`` (empty routes if absent)."""
    states: dict[str, TeamState] = {}
    known = problem.visits_by_id()
    for team in problem.teams:
        route = plan.route(team.id) if plan is not None else None
        if route is not None:
            prefix, items = route_items(route, team)
            items = [i for i in items if not isinstance(i, str) or i in known]
        else:
            prefix, items = (), []
        states[team.id] = TeamState(
            team, prefix, items, time_route(problem, team, items, prefix=prefix)
        )
    return states


def with_breaks(
    team: Team, items: list[Item], prefix: tuple[Stop, ...], *, visit_coming: bool = False
) -> list[Item]:
    """``items`` with the team's breaks not yet taken appended when the route gets visits
    (or is about to: ``visit_coming``, the route a visit is being inserted into)."""
    taken = sum(1 for s in prefix if s.kind == "break")
    present = {i for i in items if isinstance(i, int)}
    has_visits = (
        visit_coming
        or any(isinstance(i, str) for i in items)
        or any(s.kind == "visit" for s in prefix)
    )
    if not has_visits:
        return [i for i in items if isinstance(i, str)]
    missing = [k for k in range(taken, len(team.breaks)) if k not in present]
    return list(items) + missing


def best_break_positions(
    problem: Problem, state: TeamState, items: list[Item]
) -> tuple[list[Item], Timing]:
    """Place each break where the route is feasible and cheapest (ends earliest on ties)."""
    items = with_breaks(state.team, items, state.prefix)
    timing = time_route(problem, state.team, items, prefix=state.prefix)
    breaks = [i for i in items if isinstance(i, int)]
    if not breaks or timing.feasible:
        return items, timing
    best_items, best = items, timing
    for k in breaks:
        base = [i for i in best_items if i != k]
        for pos in range(len(base) + 1):
            cand = base[:pos] + [k] + base[pos:]
            t = time_route(
                problem, state.team, cand, prefix=state.prefix, stop_at_violation=True, record=False
            )
            if t.feasible and (not best.feasible or (t.cost, t.end_s) < (best.cost, best.end_s)):
                best_items, best = cand, t
    if best.feasible:
        best = time_route(problem, state.team, best_items, prefix=state.prefix)
    return best_items, best


def current_cost(st: TeamState) -> int:
    """The cost of a team's route as it stands (0 for a team that does not go out)."""
    if not st.prefix and not any(isinstance(i, str) for i in st.items):
        return 0
    return st.timing.cost


@dataclass(frozen=True)
class Insertion:
    team_id: str
    position: int
    delta_cost: int
    items: tuple[Item, ...]
    timing: Timing


def clip_to_now(problem: Problem, visit: Visit) -> tuple[Problem, Visit]:
    """A visit added at ``problem.now_s`` cannot start in the past: its windows cut at now."""
    if problem.now_s is None:
        return problem, visit
    now = problem.now_s
    windows = visit.windows_or_day()
    clipped = tuple(TimeWindow(max(w.start_s, now), w.end_s) for w in windows if w.end_s >= now)
    if clipped == windows:
        return problem, visit
    if not clipped:
        clipped = (TimeWindow(now, now),)
        # Still give the visit a window so that "late" is reported rather than "anytime".
    visit = replace(visit, windows=clipped)
    problem = problem.with_changes(
        visits=tuple(visit if v.id == visit.id else v for v in problem.visits)
    )
    return problem, visit


def slot_positions(items: list[Item], slots: list[int]) -> list[int]:
    """The item positions of visit slots (slot p: after the p-th visit, before the next, on
    either side of the breaks between them)."""
    where = [n for n, i in enumerate(items) if isinstance(i, str)]
    out: list[int] = []
    for p in slots:
        lo = where[p - 1] + 1 if p > 0 else 0
        hi = where[p] if p < len(where) else len(items)
        out += range(lo, hi + 1)
    return out


def cheapest_in_slots(
    problem: Problem,
    state: TeamState,
    items: list[Item],
    visit: Visit,
    slots: list[int],
    base_cost: int,
) -> Insertion | None:
    """The cheapest insertion of ``visit`` into ``items`` (the team's route, possibly with a
    visit taken out) that is on time exactly, among the visit slots ``slots``. A route with
    no visits holds no breaks: they come with its first visit (on either side of it)."""
    best: Insertion | None = None
    items = with_breaks(state.team, items, state.prefix, visit_coming=True)
    for pos in slot_positions(items, slots):
        cand = items[:pos] + [visit.id] + items[pos:]
        t = time_route(
            problem, state.team, cand, prefix=state.prefix, stop_at_violation=True, record=False
        )
        if t.feasible and (best is None or t.cost - base_cost < best.delta_cost):
            best = Insertion(state.team.id, pos, t.cost - base_cost, tuple(cand), t)
    return best


def insertions(
    problem: Problem,
    states: dict[str, TeamState],
    visit: Visit,
    *,
    team_ids: list[str] | None = None,
    exclude_team_ids: tuple[str, ...] = (),
    move_breaks: bool = True,
) -> list[Insertion]:
    """Every acceptable insertion of ``visit`` into the movable part of the routes, cheapest first.

    ``move_breaks`` also tries moving a team's breaks when they are in the way (slower). In a
    feasible route an insertion must keep it feasible; in a route that is already late
    (live plans drift) it must be on time itself and make no other visit late.
    """
    found: list[Insertion] = []
    problem, visit = clip_to_now(problem, visit)
    if not visit.windows_or_day():
        return []
    win_lo = min(w.start_s for w in visit.windows_or_day())
    win_hi = max(w.end_s for w in visit.windows_or_day())
    for tid, st in states.items():
        if team_ids is not None and tid not in team_ids:
            continue
        team = st.team
        if tid in exclude_team_ids or not team.available or not can_serve(team, visit):
            continue
        if team.max_visits is not None and st.n_visits >= team.max_visits:
            continue
        if win_hi < team.shift_start_s or win_lo > team.shift_end_s:
            continue
        base_cost = current_cost(st)
        base_bad = st.timing.violations
        base_late = st.timing.late_ids
        strict = not base_bad
        items = with_breaks(team, st.items, st.prefix, visit_coming=True)
        team_found = False
        m = problem.matrix(team.mode)
        start_loc = team.departure_location
        if (
            int(m[start_loc, visit.location]) + max(team.shift_start_s, team.available_from_s or 0)
            > win_hi
        ):
            continue
        if strict:
            # Only where the relaxed timing lets it in (the others cannot be on time).
            fits = st.relaxed(problem, items).fitting_slots(visit)
            positions: list[int] | range = slot_positions(items, fits)
        else:
            positions = range(len(items) + 1)
        for pos in positions:
            cand = items[:pos] + [visit.id] + items[pos:]
            t = time_route(
                problem, team, cand, prefix=st.prefix, stop_at_violation=strict, record=False
            )
            if strict:
                ok = t.feasible
            else:
                ok = (
                    visit.id not in t.late_ids
                    and t.late_ids <= base_late
                    and len(t.violations) <= len(base_bad)
                )
            if ok:
                found.append(Insertion(tid, pos, t.cost - base_cost, tuple(cand), t))
                team_found = True
        overlaps_break = any(
            b.earliest_start_s <= win_hi + visit.duration_s and win_lo <= b.latest_end_s
            for b in team.breaks
        )
        if (
            move_breaks
            and not team_found
            and strict
            and overlaps_break
            and any(isinstance(i, int) for i in items)
        ):
            # The breaks may be in the way: try again letting them move.
            cand_items, t = best_break_positions(problem, st, items + [visit.id])
            if t.feasible:
                found.append(
                    Insertion(
                        tid, cand_items.index(visit.id), t.cost - base_cost, tuple(cand_items), t
                    )
                )
    found.sort(key=lambda f: (f.delta_cost, f.timing.end_s))
    return found


def importance(v: Visit) -> tuple:
    """Sort key: mandatory visits first, then by priority, the longest first."""
    return (not v.mandatory, -v.priority, -v.duration_s)


def insert_all(
    problem: Problem,
    states: dict[str, TeamState],
    visit_ids: list[str],
    *,
    move_breaks: bool = False,
    max_teams: int | None = None,
    team_ids: list[str] | None = None,
) -> list[str]:
    """Insert visits one by one (most important first) where cheapest; returns those that fit
    nowhere (among ``team_ids`` when given, and the ``max_teams`` teams passing nearest each
    visit when given)."""
    by_id = problem.visits_by_id()
    pool = states if team_ids is None else {t: states[t] for t in team_ids}
    left: list[str] = []
    for vid in sorted(visit_ids, key=lambda v: importance(by_id[v])):
        near = nearest_team_ids(problem, pool, by_id[vid], max_teams) if max_teams else team_ids
        found = insertions(problem, states, by_id[vid], move_breaks=move_breaks, team_ids=near)
        if found:
            apply(problem, states, found[0])
        else:
            left.append(vid)
    return left


def apply(problem: Problem, states: dict[str, TeamState], ins: Insertion) -> None:
    """Put an insertion into the states (its stops timed in full)."""
    st = states[ins.team_id]
    st.items = list(ins.items)
    st.timing = time_route(problem, st.team, st.items, prefix=st.prefix)


def plan_from_states(
    problem: Problem, states: dict[str, TeamState], unassigned, stats=None
) -> Plan:
    """A :class:`Plan` from edited states (routes re-timed exactly)."""
    routes: list[Route] = []
    for team in problem.teams:
        st = states.get(team.id)
        if st is None:
            continue
        items = st.items if any(isinstance(i, str) for i in st.items) or st.prefix else []
        routes.append(build_route(problem, team, items, st.prefix))
    return Plan(routes=tuple(routes), unassigned=tuple(unassigned), stats=dict(stats or {}))


def nearest_team_ids(
    problem: Problem, states: dict[str, TeamState], visit: Visit, k: int
) -> list[str]:
    """The ``k`` teams able to serve ``visit`` whose places (start, end, visits) pass nearest."""
    by_id = problem.visits_by_id()
    near: list[tuple[int, str]] = []
    for tid, st in states.items():
        team = st.team
        if not team.available or not can_serve(team, visit):
            continue
        m = problem.matrix(team.mode)
        start = team.departure_location
        locs = [start, team.end_location] + [
            by_id[i].location for i in st.items if isinstance(i, str)
        ]
        near.append((min(int(m[loc, visit.location]) for loc in locs), tid))
    near.sort()
    return [tid for _, tid in near[:k]]


def insert_by_ejection(
    problem: Problem,
    states: dict[str, TeamState],
    visit: Visit,
    *,
    max_teams: int = 6,
) -> str | None:
    """Make room for a mandatory ``visit`` by taking an optional visit out of a route.

    Tries the ``max_teams`` teams able to serve it whose routes pass nearest, each optional
    visit of theirs taken out in turn, and applies the cheapest feasible exchange. Returns
    the optional visit taken out (the caller tries to place it elsewhere), or None when no
    exchange fits (nothing changed).
    """
    by_id = problem.visits_by_id()
    with_optional = {
        tid: st
        for tid, st in states.items()
        if st.timing.feasible
        and any(isinstance(i, str) and not by_id[i].mandatory for i in st.items)
    }
    best: tuple[Insertion, str] | None = None
    for tid in nearest_team_ids(problem, with_optional, visit, max_teams):
        st = states[tid]
        if st.team.max_visits is not None and st.n_visits > st.team.max_visits:
            continue
        relaxed = st.relaxed(problem)
        base_cost = current_cost(st)
        for k, slots in relaxed.fitting_without(visit).items():
            out = relaxed.ids[k]
            assert out is not None  # places 1 to n are visits
            if by_id[out].mandatory:
                continue
            items = [i for i in st.items if i != out]
            found = cheapest_in_slots(problem, st, items, visit, slots, base_cost)
            if found is not None and (best is None or found.delta_cost < best[0].delta_cost):
                best = (found, out)
    if best is None:
        return None
    ins, out = best
    apply(problem, states, ins)
    return out
