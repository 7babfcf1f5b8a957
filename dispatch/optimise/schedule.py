"""Exact timing of one team's route: arrivals, waits, breaks and where the route breaks."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.optimise.model import Problem, Team, Visit, overqualified_cost
from dispatch.optimise.plan import Route, Stop

#: A route item: a visit id, or the index of one of the team's breaks.
Item = str | int


@dataclass(frozen=True)
class Timing:
    """What :func:`time_route` finds: feasibility, the cost, the stops it timed (if asked).

    ``violations`` lists ``(visit id or None, kind)`` for each broken rule; ``late_ids`` the
    visits that cannot start in a window.
    """

    feasible: bool
    cost: int
    end_s: int
    stops: tuple[Stop, ...]
    violations: tuple[tuple[str | None, str], ...] = ()
    end_travel_time_s: int = 0
    end_distance_m: int = 0

    @property
    def late_visit_id(self) -> str | None:
        for vid, _kind in self.violations:
            if vid is not None:
                return vid
        return None

    @property
    def late_ids(self) -> frozenset[str]:
        return frozenset(v for v, _ in self.violations if v is not None)


def start_state(team: Team, prefix: tuple[Stop, ...] = ()) -> tuple[int, int]:
    """Where and when the team's movable part of the route begins."""
    loc = team.start_location
    t = team.shift_start_s
    if prefix:
        loc, t = prefix[-1].location, prefix[-1].departure_s
    if team.available_location is not None:
        loc = team.available_location
    if team.available_from_s is not None:
        t = max(t, team.available_from_s)
    return loc, t


def _visit_start(visit: Visit, arrival_s: int) -> int | None:
    if not visit.windows:
        return arrival_s
    for w in visit.windows:
        if arrival_s <= w.end_s:
            return arrival_s if arrival_s > w.start_s else w.start_s
    return None


def time_route(
    problem: Problem,
    team: Team,
    items: list[Item],
    *,
    prefix: tuple[Stop, ...] = (),
    stop_at_violation: bool = False,
    record: bool = True,
) -> Timing:
    """Time ``items`` (after the fixed ``prefix`` stops) for ``team`` exactly.

    A break is taken on arrival at the next place (using the wait there) when its window
    allows, else where the team stands. The route is infeasible when a visit cannot start in
    one of its windows, a break cannot start in time, the team is back after its shift, a
    skill or lock is violated, or ``max_visits``/``capacity`` are exceeded. ``record=False``
    skips building the stops (insertion search); ``stop_at_violation`` stops at the first
    broken rule.
    """
    visits = problem.visits_by_id()
    travel = problem.matrix(team.mode)
    dist = problem.distances(team.mode)
    costm = problem.cost_matrix(team.mode)
    loc, t = start_state(team, prefix)
    stops: list[Stop] = list(prefix) if record else []
    cost = 0
    n_visits = sum(1 for s in prefix if s.kind == "visit")
    load = sum(visits[s.visit_id].load for s in prefix if s.visit_id in visits)
    pending: list[int] = []
    bad: list[tuple[str | None, str]] = []
    breaks = team.breaks
    for item in items:
        if item.__class__ is int:
            pending.append(item)  # type: ignore[arg-type]
            continue
        visit = visits[item]  # type: ignore[index]
        if (
            (visit.skills and not visit.skills <= team.skills)
            or (visit.locked_team_id is not None and visit.locked_team_id != team.id)
            or team.id in visit.excluded_team_ids
        ):
            bad.append((visit.id, "skill"))
        vloc = visit.location
        tt = int(travel[loc, vloc])
        leg_d = int(dist[loc, vloc]) if dist is not None else 0
        cost += int(costm[loc, vloc])
        arrival = t + tt
        if pending:
            first = breaks[pending[0]]
            if max(arrival, first.earliest_start_s) <= first.latest_start_s:
                where, now, carried = vloc, arrival, True  # on arrival, using the wait there
            else:
                where, now, carried = loc, t, False  # before leaving
            for n_b, k in enumerate(pending):
                brk = breaks[k]
                b_start = max(now, brk.earliest_start_s)
                if b_start > brk.latest_start_s:
                    bad.append((None, "break"))
                if record:
                    stops.append(
                        Stop(
                            "break",
                            where,
                            now,
                            b_start,
                            b_start + brk.duration_s,
                            travel_time_s=tt if (carried and n_b == 0) else 0,
                            wait_s=b_start - now,
                            distance_m=leg_d if (carried and n_b == 0) else 0,
                        )
                    )
                now = b_start + brk.duration_s
            pending = []
            if carried:
                arrival, tt_rec, d_rec = now, 0, 0
            else:
                arrival, tt_rec, d_rec = now + tt, tt, leg_d
        else:
            tt_rec, d_rec = tt, leg_d
        start = _visit_start(visit, arrival)
        if start is None:
            bad.append((visit.id, "late"))
            start = arrival
        if visit.preferred_team_id is not None and visit.preferred_team_id != team.id:
            cost += problem.continuity_cost_s
        cost += overqualified_cost(problem, team, visit)
        if record:
            stops.append(
                Stop(
                    "visit",
                    vloc,
                    arrival,
                    start,
                    start + visit.duration_s,
                    travel_time_s=tt_rec,
                    wait_s=start - arrival,
                    distance_m=d_rec,
                    visit_id=visit.id,
                )
            )
        n_visits += 1
        load += visit.load
        t = start + visit.duration_s
        loc = vloc
        if bad and stop_at_violation:
            return Timing(False, cost, t, tuple(stops), tuple(bad))
    end_tt = int(travel[loc, team.end_location])
    end_d = int(dist[loc, team.end_location]) if dist is not None else 0
    cost += int(costm[loc, team.end_location])
    end_s = t + end_tt
    if pending:
        first = breaks[pending[0]]
        if max(end_s, first.earliest_start_s) <= first.latest_start_s:
            where, now = team.end_location, end_s
        else:
            where, now = loc, t
        for k in pending:
            brk = breaks[k]
            b_start = max(now, brk.earliest_start_s)
            if b_start > brk.latest_start_s:
                bad.append((None, "break"))
            if record:
                stops.append(
                    Stop(
                        "break", where, now, b_start, b_start + brk.duration_s, wait_s=b_start - now
                    )
                )
            now = b_start + brk.duration_s
        end_s = now if where == team.end_location else now + end_tt
    if end_s > team.shift_end_s:
        bad.append((None, "shift"))
    if team.max_visits is not None and n_visits > team.max_visits:
        bad.append((None, "max_visits"))
    if team.capacity is not None and load > team.capacity:
        bad.append((None, "capacity"))
    return Timing(not bad, cost, end_s, tuple(stops), tuple(bad), end_tt, end_d)


def route_items(route: Route, team: Team) -> tuple[tuple[Stop, ...], list[Item]]:
    """Split a route into its fixed prefix (started/done stops) and movable items."""
    prefix: list[Stop] = []
    items: list[Item] = []
    k = 0
    movable = False
    for s in route.stops:
        if not movable and s.status in ("started", "done"):
            prefix.append(s)
            if s.kind == "break":
                k += 1
            continue
        movable = True
        if s.kind == "break":
            items.append(k)
            k += 1
        elif s.visit_id is not None:
            items.append(s.visit_id)
    return tuple(prefix), items


def breaks_in_prefix(prefix: tuple[Stop, ...]) -> int:
    return sum(1 for s in prefix if s.kind == "break")


def build_route(
    problem: Problem, team: Team, items: list[Item], prefix: tuple[Stop, ...] = ()
) -> Route:
    """The :class:`Route` for ``items`` (timed even if infeasible: the checker will say why)."""
    timing = time_route(problem, team, items, prefix=prefix, stop_at_violation=False)
    start_loc, start_t = (team.start_location, team.shift_start_s)
    if not prefix and team.available_location is None and timing.stops:
        # Leave as late as possible is a coordinator's choice; we leave at shift start.
        start_t = team.shift_start_s
    return Route(
        team_id=team.id,
        start_location=start_loc if not prefix else start_loc,
        end_location=team.end_location,
        start_s=start_t if not prefix else prefix[0].arrival_s - prefix[0].travel_time_s,
        end_s=timing.end_s if (timing.stops or prefix) else start_t,
        stops=timing.stops,
        end_travel_time_s=timing.end_travel_time_s if (timing.stops or prefix) else 0,
        end_distance_m=timing.end_distance_m if (timing.stops or prefix) else 0,
    )
