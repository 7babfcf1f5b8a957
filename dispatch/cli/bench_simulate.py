"""`dispatch bench simulate`: one simulated day end to end, and the planning analyses, timed."""

from __future__ import annotations

import json
import platform
import time
from typing import Any

import click

from dispatch.cli import get_settings


@click.command()
@click.option(
    "--territory",
    "territory_id",
    default="haute-corse",
    show_default=True,
    help="Built territory to use.",
)
@click.option(
    "--time-limit", default=10.0, show_default=True, type=float, help="Solver seconds for the day."
)
@click.option(
    "--day",
    "day_index",
    default=0,
    show_default=True,
    type=int,
    help="Day simulated (0 = a Monday).",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Random seed of the demand.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def simulate(
    ctx: click.Context,
    territory_id: str,
    time_limit: float,
    day_index: int,
    seed: int,
    as_json: bool,
) -> None:
    """Time one simulated day of the default scenario (demand, matrix, optimisation, KPIs).

    The target is at most 30 s for a day of the Haute-Corse bassin; coverage, E2SFCA and
    isochrones of the territory's bases are timed too.

    Example: dispatch bench simulate --territory haute-corse --json
    """
    from dispatch.planning.accessibility import accessibility
    from dispatch.planning.coverage import coverage, isochrone_features
    from dispatch.planning.scenario import Scenario
    from dispatch.planning.simulate import prepare, simulate_day
    from dispatch.routing import Router
    from dispatch.territory import load_territory

    settings = get_settings(ctx)
    figures: dict[str, Any] = {
        "territory": territory_id,
        "time_limit_s": time_limit,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    t0 = time.perf_counter()
    territory = load_territory(territory_id, settings)
    figures["load_territory_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    router = Router.for_territory(territory)
    figures["router_s"] = round(time.perf_counter() - t0, 3)
    scenario = Scenario(name="bench", territory=territory_id, seed=seed)
    setup = prepare(scenario, territory, router)
    figures["bases"] = len(setup.bases)
    figures["teams"] = sum(scenario.teams_at(setup.bases))
    figures["population"] = round(float(territory.node_population.sum()))
    t0 = time.perf_counter()
    cov = coverage(territory, router, setup.base_nodes, bands_s=scenario.bands_s)
    figures["coverage_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    accessibility(territory, router, setup.base_nodes, scenario.teams_at(setup.bases))
    figures["e2sfca_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    isochrone_features(router, setup.base_nodes, scenario.bands_s)
    figures["isochrones_s"] = round(time.perf_counter() - t0, 3)
    figures["covered_30min_share"] = round(cov.covered_population / cov.total_population, 4)
    t0 = time.perf_counter()
    day = simulate_day(setup, territory, router, day_index=day_index, time_limit_s=time_limit)
    figures["day_total_s"] = round(time.perf_counter() - t0, 3)
    figures["day_steps_s"] = day.timings_s
    figures["requests"] = day.requested
    figures["served"] = day.served
    figures["on_time_share"] = round(day.on_time_share, 4)
    figures["travel_share"] = round(day.travel_share, 4)
    figures["distance_km"] = round(day.distance_m / 1000, 1)
    figures["violations"] = day.violations
    figures["target_s"] = 30
    figures["meets_target"] = figures["day_total_s"] <= 30
    if as_json:
        click.echo(json.dumps(figures, indent=1))
        return
    click.echo(
        f"{territory.name}: {figures['population']:,} inhabitants, {figures['bases']} bases, {figures['teams']} teams"
    )
    click.echo(f"  load territory {figures['load_territory_s']} s, router {figures['router_s']} s")
    click.echo(
        f"  coverage {figures['coverage_s']} s, E2SFCA {figures['e2sfca_s']} s, isochrones {figures['isochrones_s']} s"
    )
    steps = ", ".join(
        f"{k.removesuffix('_s')} {v:.2f} s" for k, v in day.timings_s.items() if k != "total_s"
    )
    click.echo(
        f"  one day: {day.requested} requests, {day.served} served, {figures['distance_km']} km"
    )
    click.echo(
        f"  one day end to end: {figures['day_total_s']:.1f} s ({steps}); target <= 30 s: "
        f"{'met' if figures['meets_target'] else 'NOT met'}"
    )
