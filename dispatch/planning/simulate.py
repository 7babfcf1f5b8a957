"""Simulated days: draw the demand, build the day's problem, solve it with the optimiser, KPIs.

KPI definitions (per day, and over a run):

- ``served`` / ``refused``: requests in / left out of the optimised plan (visits are optional
  for the solver, so what it cannot fit is refused);
- ``on_time_share``: share of served visits that start inside the requested window. The solver
  may start a visit up to ``late_tolerance_s`` (15 min by default) after the requested window
  rather than refuse it; such visits are served late;
- ``service_level``: served / requested;
- ``travel_share``: driving time / paid shift time (shift less lunch) of the teams on duty;
- ``distance_km``: driven along the fastest paths;
- ``teams_needed``: the smallest number of teams (spread over the bases like the scenario's)
  that reaches the scenario's ``service_level_target`` on the busiest simulated day(s).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dispatch.errors import ValidationError
from dispatch.planning.demand import VisitRequest, draw_requests
from dispatch.planning.scenario import BaseSite, Scenario, TeamGroup

#: A visit may start this long after its requested window rather than be refused (counted late).
DEFAULT_LATE_TOLERANCE_S = 15 * 60

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class Setup:
    """A scenario placed on a territory: its bases snapped to road nodes, its team groups."""

    scenario: Scenario
    bases: tuple[BaseSite, ...]
    base_nodes: tuple[int, ...]
    teams: tuple[TeamGroup, ...]
    population: float


def prepare(scenario: Scenario, territory: Any, router: Any) -> Setup:
    """Resolve and snap the scenario's bases on ``territory``."""
    if scenario.territory != territory.id:
        raise ValidationError(
            f"scenario {scenario.name!r} is for territory {scenario.territory!r}, "
            f"not {territory.id!r}"
        )
    bases = scenario.resolve_bases(territory.bases)
    nodes, _ = router.snap_many(
        np.array([b.lon for b in bases], dtype=np.float64),
        np.array([b.lat for b in bases], dtype=np.float64),
    )
    return Setup(
        scenario=scenario,
        bases=bases,
        base_nodes=tuple(int(n) for n in nodes),
        teams=scenario.resolve_teams(bases),
        population=float(np.sum(territory.node_population)),
    )


def spread_teams(n: int, weights: Sequence[float]) -> list[int]:
    """``n`` teams apportioned to bases in proportion to ``weights`` (largest remainders)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) == 0:
        raise ValidationError("no base to put teams at")
    if w.sum() <= 0:
        w = np.ones_like(w)
    quota = n * w / w.sum()
    counts = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def scaled_groups(setup: Setup, n_teams: int) -> tuple[TeamGroup, ...]:
    """``n_teams`` teams at the scenario's bases, spread like its own teams."""
    per_base = spread_teams(n_teams, setup.scenario.teams_at(setup.bases))
    template = {g.base: g for g in setup.teams}
    skills = frozenset(setup.scenario.demand.skills)
    out = []
    for b, count in zip(setup.bases, per_base, strict=True):
        g = template.get(b.id)
        out.append(
            TeamGroup(
                b.id,
                count,
                g.skills if g else skills,
                g.shift if g else setup.scenario.shift,
                g.days if g else tuple(range(7)),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class DayResult:
    """What one simulated day gave."""

    scenario: str
    day: int
    requested: int
    served: int
    refused: int
    on_time: int
    teams_on_duty: int
    teams_used: int
    travel_time_s: int
    service_s: int
    wait_s: int
    paid_shift_s: int
    distance_m: int
    refused_reasons: dict[str, int] = field(default_factory=dict)
    violations: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def on_time_share(self) -> float:
        return self.on_time / self.served if self.served else 1.0

    @property
    def service_level(self) -> float:
        return self.served / self.requested if self.requested else 1.0

    @property
    def travel_share(self) -> float:
        return self.travel_time_s / self.paid_shift_s if self.paid_shift_s else 0.0

    def to_dict(self, *, points: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not points:
            d.pop("points")
        d.update(
            on_time_share=round(self.on_time_share, 4),
            service_level=round(self.service_level, 4),
            travel_share=round(self.travel_share, 4),
            distance_km=round(self.distance_m / 1000, 1),
        )
        return d


def day_problem(
    setup: Setup,
    requests: Sequence[VisitRequest],
    router: Any,
    *,
    day_index: int,
    groups: Sequence[TeamGroup] | None = None,
    late_tolerance_s: int = DEFAULT_LATE_TOLERANCE_S,
) -> tuple[Any, dict[str, float]]:
    """The optimiser's Problem for one day, and how long snapping and the matrix took."""
    from dispatch.optimise import Break, Problem, Team, TimeWindow, Visit

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if requests:
        visit_nodes, _ = router.snap_many(
            np.array([r.lon for r in requests]), np.array([r.lat for r in requests])
        )
    else:
        visit_nodes = np.zeros(0, dtype=np.int64)
    timings["snap_s"] = time.perf_counter() - t0
    nodes = np.concatenate(
        [np.asarray(setup.base_nodes, dtype=np.int64), np.asarray(visit_nodes, dtype=np.int64)]
    )
    t0 = time.perf_counter()
    time_s, dist_m = router.matrix_with_distance(nodes, nodes)
    timings["matrix_s"] = time.perf_counter() - t0
    n_bases = len(setup.base_nodes)
    teams: list[Any] = []
    for bi, base in enumerate(setup.bases):
        for g in groups if groups is not None else setup.teams:
            if g.base != base.id or day_index % 7 not in g.days:
                continue
            sh = g.shift
            brk = (Break(sh.lunch_from_s, sh.lunch_to_s, sh.lunch_s),) if sh.lunch_s else ()
            for k in range(g.count):
                teams.append(
                    Team(
                        id=f"{base.id}-{len(teams) + 1}",
                        name=f"{base.name} {k + 1}",
                        start_location=bi,
                        end_location=bi,
                        shift_start_s=sh.start_s,
                        shift_end_s=sh.end_s,
                        skills=g.skills,
                        breaks=brk,
                    )
                )
    visits = [
        Visit(
            id=r.id,
            label=r.kind,
            location=n_bases + i,
            duration_s=r.duration_s,
            windows=(
                TimeWindow(r.window_start_s, r.window_end_s - r.duration_s + late_tolerance_s),
            ),
            skills=frozenset({r.skill}),
            priority=max(1, min(5, r.priority)),
            mandatory=False,
        )
        for i, r in enumerate(requests)
    ]
    problem = Problem(
        teams=tuple(teams),
        visits=tuple(visits),
        travel_time_s={"car": np.asarray(time_s).astype(np.int64)},
        distance_m={"car": np.asarray(dist_m).astype(np.int64)},
        day=f"day-{day_index}",
    )
    return problem, timings


def day_requests(setup: Setup, territory: Any, *, day_index: int) -> list[VisitRequest]:
    """The scenario's visit requests for one day, drawn from the territory's population model."""
    from dispatch.territory import sample_points

    def sample(n: int, seed: int) -> np.ndarray:
        return np.asarray(sample_points(territory, n, seed=seed))

    sc = setup.scenario
    return draw_requests(sc.demand, setup.population, sample, day_index=day_index, seed=sc.seed)


def evaluate_plan(
    setup: Setup,
    problem: Any,
    plan: Any,
    requests: Sequence[VisitRequest],
    *,
    day_index: int,
    violations: int = 0,
    timings: dict[str, float] | None = None,
) -> DayResult:
    """KPIs of a solved day (see the module docstring)."""
    by_id = {r.id: r for r in requests}
    served = on_time = 0
    points = []
    served_ids = set()
    for route in plan.routes:
        for stop in route.stops:
            if stop.kind != "visit" or stop.visit_id not in by_id:
                continue
            r = by_id[stop.visit_id]
            served += 1
            served_ids.add(r.id)
            ok = r.window_start_s <= stop.start_s <= r.window_end_s - r.duration_s
            on_time += ok
            points.append(
                {
                    "lon": r.lon,
                    "lat": r.lat,
                    "kind": r.kind,
                    "status": "on_time" if ok else "late",
                    "team": route.team_id,
                }
            )
    reasons = Counter(u.code for u in plan.unassigned)
    for r in requests:
        if r.id not in served_ids:
            points.append(
                {"lon": r.lon, "lat": r.lat, "kind": r.kind, "status": "refused", "team": ""}
            )
    paid = 0
    for t in problem.teams:
        paid += (t.shift_end_s - t.shift_start_s) - sum(b.duration_s for b in t.breaks)
    return DayResult(
        scenario=setup.scenario.name,
        day=day_index,
        requested=len(requests),
        served=served,
        refused=len(requests) - served,
        on_time=on_time,
        teams_on_duty=len(problem.teams),
        teams_used=sum(1 for r in plan.routes if r.visit_ids),
        travel_time_s=int(sum(r.travel_time_s for r in plan.routes if r.visit_ids)),
        service_s=int(sum(r.service_s for r in plan.routes)),
        wait_s=int(sum(r.wait_s for r in plan.routes if r.visit_ids)),
        paid_shift_s=int(paid),
        distance_m=int(sum(r.distance_m for r in plan.routes if r.visit_ids)),
        refused_reasons=dict(reasons),
        violations=violations,
        timings_s={k: round(v, 4) for k, v in (timings or {}).items()},
        points=points,
    )


def simulate_day(
    setup: Setup,
    territory: Any,
    router: Any,
    *,
    day_index: int,
    time_limit_s: float = 5.0,
    groups: Sequence[TeamGroup] | None = None,
    late_tolerance_s: int = DEFAULT_LATE_TOLERANCE_S,
) -> DayResult:
    """One simulated day end to end: demand, matrix, optimisation, KPIs."""
    from dispatch.optimise import check_plan, solve

    t_start = time.perf_counter()
    t0 = time.perf_counter()
    requests = day_requests(setup, territory, day_index=day_index)
    demand_s = time.perf_counter() - t0
    problem, timings = day_problem(
        setup,
        requests,
        router,
        day_index=day_index,
        groups=groups,
        late_tolerance_s=late_tolerance_s,
    )
    timings["demand_s"] = demand_s
    t0 = time.perf_counter()
    # One search per day: scenario runs already solve days side by side, one per core.
    plan = solve(
        problem, time_limit_s=time_limit_s, seed=setup.scenario.seed + day_index, searches=1
    )
    timings["solve_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    violations = check_plan(problem, plan)
    result = evaluate_plan(
        setup,
        problem,
        plan,
        requests,
        day_index=day_index,
        violations=len(violations),
        timings=timings,
    )
    timings["kpi_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    return DayResult(
        **{**result.__dict__, "timings_s": {k: round(v, 4) for k, v in timings.items()}}
    )


def summarise(days: Sequence[DayResult]) -> dict[str, Any]:
    """KPIs over several days (sums, then shares of the sums)."""
    requested = sum(d.requested for d in days)
    served = sum(d.served for d in days)
    on_time = sum(d.on_time for d in days)
    travel = sum(d.travel_time_s for d in days)
    paid = sum(d.paid_shift_s for d in days)
    reasons: Counter[str] = Counter()
    for d in days:
        reasons.update(d.refused_reasons)
    return {
        "days": len(days),
        "requested": requested,
        "served": served,
        "refused": requested - served,
        "service_level": round(served / requested, 4) if requested else 1.0,
        "on_time_share": round(on_time / served, 4) if served else 1.0,
        "travel_share": round(travel / paid, 4) if paid else 0.0,
        "travel_time_h": round(travel / 3600, 1),
        "distance_km": round(sum(d.distance_m for d in days) / 1000, 1),
        "team_days": sum(d.teams_on_duty for d in days),
        "visits_per_team_day": round(served / max(1, sum(d.teams_on_duty for d in days)), 2),
        "refused_reasons": dict(reasons),
        "violations": sum(d.violations for d in days),
    }


def teams_needed(
    setup: Setup,
    territory: Any,
    router: Any,
    *,
    days: Sequence[int],
    target: float | None = None,
    time_limit_s: float = 2.0,
    max_teams: int | None = None,
    progress: Progress = None,
) -> dict[str, Any]:
    """Smallest number of teams reaching the service level target on ``days`` (bisection).

    Teams are spread over the scenario's bases in proportion to its own teams.
    """
    target = setup.scenario.service_level_target if target is None else target
    current = sum(setup.scenario.teams_at(setup.bases))
    hi = max_teams or max(2 * current, len(setup.bases), 4)
    cache: dict[int, float] = {}

    def level(n: int) -> float:
        if n not in cache:
            groups = scaled_groups(setup, n)
            ds = [
                simulate_day(
                    setup, territory, router, day_index=d, time_limit_s=time_limit_s, groups=groups
                )
                for d in days
            ]
            cache[n] = summarise(ds)["service_level"]
            if progress:
                progress(f"{setup.scenario.name}: {n} teams -> service level {cache[n]:.1%}")
        return cache[n]

    if level(hi) < target:
        return {"target": target, "teams_needed": None, "searched_up_to": hi, "levels": cache}
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if level(mid) >= target:
            hi = mid
        else:
            lo = mid
    return {
        "target": target,
        "teams_needed": hi,
        "current_teams": current,
        "levels": {str(k): v for k, v in sorted(cache.items())},
    }
