"""Run scenarios: coverage, accessibility and simulated days, in parallel on Dask.

Each simulated day is one Dask task; each worker process loads the territory and its router
once (they are cached per process). By default a ``LocalCluster`` of processes is started on
this machine; give ``scheduler`` (``tcp://host:8786``) to use an existing Dask cluster whose
workers can import ``dispatch`` and read the same territory cache.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dispatch.planning.accessibility import AccessibilityResult, accessibility
from dispatch.planning.coverage import CoverageResult, coverage, isochrone_features
from dispatch.planning.scenario import Scenario
from dispatch.planning.simulate import (
    DayResult,
    day_requests,
    prepare,
    simulate_day,
    summarise,
    teams_needed,
)
from dispatch.settings import Settings

Progress = Callable[[str, int, int], None] | None


@functools.lru_cache(maxsize=4)
def territory_and_router(territory_id: str, settings: Settings) -> tuple[Any, Any]:
    """The built territory and its router, loaded once per process."""
    from dispatch.routing import Router
    from dispatch.territory import load_territory

    territory = load_territory(territory_id, settings)
    return territory, Router.for_territory(territory)


def _day_task(
    scenario: Scenario, settings: Settings, day_index: int, time_limit_s: float
) -> DayResult:
    territory, router = territory_and_router(scenario.territory, settings)
    setup = prepare(scenario, territory, router)
    return simulate_day(setup, territory, router, day_index=day_index, time_limit_s=time_limit_s)


def _teams_task(
    scenario: Scenario, settings: Settings, days: tuple[int, ...], time_limit_s: float
) -> dict[str, Any]:
    territory, router = territory_and_router(scenario.territory, settings)
    setup = prepare(scenario, territory, router)
    return teams_needed(setup, territory, router, days=days, time_limit_s=time_limit_s)


@dataclass
class ScenarioResult:
    """Everything computed for one scenario."""

    scenario: Scenario
    bases: list[dict[str, Any]]
    coverage: CoverageResult
    accessibility: AccessibilityResult
    isochrones: dict[str, Any]
    days: list[DayResult] = field(default_factory=list)
    teams_needed: dict[str, Any] | None = None

    @property
    def summary(self) -> dict[str, Any]:
        return summarise(self.days)

    def kpis(self) -> dict[str, Any]:
        """One flat row of KPIs (for the comparison table, CSV and JSON)."""
        s = self.summary
        cov = self.coverage
        row: dict[str, Any] = {"scenario": self.scenario.name, "bases": len(self.bases)}
        row["teams"] = sum(b["teams"] for b in self.bases)
        for b, pop in zip(cov.bands_s, cov.cumulative(), strict=True):
            row[f"covered_{b // 60}min_share"] = round(pop / cov.total_population, 4)
        row["uncovered_population"] = round(cov.uncovered_population)
        row["apl_mean_per_1000"] = round(self.accessibility.territory_mean, 4)
        for key in (
            "days",
            "requested",
            "served",
            "refused",
            "service_level",
            "on_time_share",
            "travel_share",
            "distance_km",
            "travel_time_h",
            "visits_per_team_day",
            "violations",
        ):
            row[key] = s[key]
        tn = self.teams_needed or {}
        row["teams_needed"] = tn.get("teams_needed")
        row["service_level_target"] = self.scenario.service_level_target
        return row

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.to_dict(),
            "bases": self.bases,
            "kpis": self.kpis(),
            "summary": self.summary,
            "teams_needed": self.teams_needed,
            "coverage": self.coverage.to_dict(),
            "accessibility": self.accessibility.to_dict(),
            "days": [d.to_dict() for d in self.days],
        }


def analyse(
    scenario: Scenario, territory: Any, router: Any, *, with_isochrones: bool = True
) -> ScenarioResult:
    """Coverage, accessibility and (unless told not to) isochrones of a scenario, no simulation."""
    setup = prepare(scenario, territory, router)
    teams = scenario.teams_at(setup.bases)
    cov = coverage(territory, router, setup.base_nodes, bands_s=scenario.bands_s)
    acc = accessibility(
        territory, router, setup.base_nodes, teams, visits_per_team_day=scenario.visits_per_team_day
    )
    iso: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    if with_isochrones:
        iso = isochrone_features(router, setup.base_nodes, scenario.bands_s)
    bases = [
        {"id": b.id, "name": b.name, "lon": b.lon, "lat": b.lat, "node": n, "teams": t}
        for b, n, t in zip(setup.bases, setup.base_nodes, teams, strict=True)
    ]
    return ScenarioResult(scenario, bases, cov, acc, iso)


def make_client(scheduler: str | None = None, *, workers: int | None = None) -> Any:
    """A Dask client: on ``scheduler`` if given, else on a new local cluster of processes."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    # The optimiser solves in a child process: Dask's worker processes must be allowed children.
    dask.config.set({"distributed.worker.daemon": False})
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    return Client(cluster)


def run_scenarios(
    scenarios: Sequence[Scenario],
    settings: Settings,
    *,
    days: int = 1,
    time_limit_s: float = 5.0,
    with_teams_needed: bool = True,
    teams_days: int = 1,
    teams_time_limit_s: float = 2.0,
    client: Any = None,
    progress: Progress = None,
) -> list[ScenarioResult]:
    """Analyse then simulate every scenario for ``days`` days (tasks spread on ``client``).

    The teams-needed search simulates the ``teams_days`` busiest of the simulated days.

    ``client`` None runs everything in this process (tests, one quick day); else a Dask
    ``distributed.Client`` (see :func:`make_client`). ``progress(message, done, total)``.
    """
    results = []
    busiest: list[tuple[int, ...]] = []
    for sc in scenarios:
        territory, router = territory_and_router(sc.territory, settings)
        results.append(analyse(sc, territory, router))
        if with_teams_needed:
            # Size the teams for the busiest simulated day(s): drawing the demand alone is cheap.
            setup = prepare(sc, territory, router)
            counts = [len(day_requests(setup, territory, day_index=d)) for d in range(days)]
            order = sorted(range(days), key=lambda d: (-counts[d], d))
            busiest.append(tuple(sorted(order[: max(1, min(teams_days, days))])))
    tasks: list[tuple[int, str, Any]] = []
    for i, sc in enumerate(scenarios):
        for d in range(days):
            tasks.append((i, "day", (sc, settings, d, time_limit_s)))
        if with_teams_needed:
            tasks.append((i, "teams", (sc, settings, busiest[i], teams_time_limit_s)))
    total = len(tasks)
    done = 0
    t0 = time.perf_counter()

    def record(i: int, kind: str, value: Any) -> None:
        nonlocal done
        done += 1
        if kind == "day":
            results[i].days.append(value)
            msg = f"{scenarios[i].name}: day {value.day + 1} ({value.served}/{value.requested} served)"
        else:
            results[i].teams_needed = value
            msg = f"{scenarios[i].name}: teams needed {value.get('teams_needed')}"
        if progress:
            progress(f"{msg} [{time.perf_counter() - t0:.0f} s]", done, total)

    if client is None:
        for i, kind, args in tasks:
            fn = _day_task if kind == "day" else _teams_task
            record(i, kind, fn(*args))
    else:
        from distributed import as_completed

        futures = {}
        for i, kind, args in tasks:
            fn = _day_task if kind == "day" else _teams_task
            futures[client.submit(fn, *args, pure=False)] = (i, kind)
        for fut in as_completed(list(futures)):
            i, kind = futures[fut]
            record(i, kind, fut.result())
    for r in results:
        r.days.sort(key=lambda d: d.day)
    return results
