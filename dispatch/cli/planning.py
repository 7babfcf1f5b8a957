"""`dispatch simulate`, `dispatch coverage` and `dispatch plan` (a day, or `dispatch plan week`)."""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path
from typing import Any

import click

from dispatch.cli import get_settings
from dispatch.errors import ValidationError


def _bands(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(round(float(x) * 60)) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValidationError(
            f"--bands {text!r}: give minutes separated by commas, e.g. 10,20,30"
        ) from None


def _lonlat(text: str) -> tuple[float, float]:
    try:
        lon, lat = (float(x) for x in text.split(","))
    except ValueError:
        raise ValidationError(f"--add {text!r}: give LON,LAT, e.g. 9.45,42.55") from None
    return lon, lat


@click.command()
@click.argument("scenario_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--days",
    default=1,
    show_default=True,
    type=click.IntRange(1, 366),
    help="Days to simulate (day 1 is a Monday).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="Folder for report.html, kpis.csv, kpis.json.",
)
@click.option(
    "--time-limit",
    default=5.0,
    show_default=True,
    type=float,
    help="Solver seconds per simulated day.",
)
@click.option(
    "--teams-needed/--no-teams-needed",
    default=True,
    show_default=True,
    help="Search the teams needed for the service level target.",
)
@click.option(
    "--teams-days",
    default=1,
    show_default=True,
    type=int,
    help="Busiest simulated days used for each team count tried.",
)
@click.option(
    "--scheduler",
    envvar="DISPATCH_DASK_SCHEDULER",
    help="Dask scheduler address (default: a local cluster).",
)
@click.option(
    "--workers", type=int, help="Processes of the local Dask cluster (default: one per core)."
)
@click.option("--serial", is_flag=True, help="Run in this process, without Dask.")
@click.option(
    "--lang",
    "locale",
    type=click.Choice(["fr", "en"]),
    help="Report language (default: the locale setting).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the KPIs as JSON.")
@click.pass_context
def simulate(
    ctx: click.Context,
    scenario_files: tuple[str, ...],
    days: int,
    report_dir: str | None,
    time_limit: float,
    teams_needed: bool,
    teams_days: int,
    scheduler: str | None,
    workers: int | None,
    serial: bool,
    locale: str | None,
    as_json: bool,
) -> None:
    """Simulate days of demand for each scenario (and its variants) and compare them.

    Each file holds a base scenario and its [[variants]]; every simulated day is dispatched by
    the optimiser. Days run in parallel on Dask (a local cluster, or --scheduler ADDRESS).

    \b
    Example: dispatch simulate data/territories/haute-corse/scenarios/bases-actuelles.toml --days 7 --report out/
    """
    from dispatch.planning.report import write_report
    from dispatch.planning.runner import make_client, run_scenarios, territory_and_router
    from dispatch.planning.scenario import load_scenarios

    settings = get_settings(ctx)
    scenarios = [sc for f in scenario_files for sc in load_scenarios(f)]
    territories = {sc.territory for sc in scenarios}
    if len(territories) > 1:
        raise ValidationError(
            f"the scenarios name several territories ({sorted(territories)}): compare one at a time"
        )
    if time_limit <= 0:
        raise ValidationError("--time-limit must be more than 0 s")
    echo = lambda msg: click.echo(msg, err=True)  # noqa: E731
    echo(f"{len(scenarios)} scenario(s), {days} day(s) each, solver {time_limit:g} s per day")
    territory, _ = territory_and_router(scenarios[0].territory, settings)
    n_tasks = len(scenarios) * (days + int(teams_needed))
    client = None
    t0 = time.perf_counter()
    if not serial and (scheduler or n_tasks > 1):
        client = make_client(scheduler, workers=workers or min(os.cpu_count() or 1, n_tasks))
        echo(f"Dask: {client.scheduler.address if hasattr(client, 'scheduler') else scheduler}")

    def progress(msg: str, done: int, total: int) -> None:
        echo(f"[{done}/{total}] {msg}")

    try:
        results = run_scenarios(
            scenarios,
            settings,
            days=days,
            time_limit_s=time_limit,
            with_teams_needed=teams_needed,
            teams_days=teams_days,
            teams_time_limit_s=max(1.0, time_limit / 2),
            client=client,
            progress=progress,
        )
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    elapsed = time.perf_counter() - t0
    kpis = [r.kpis() for r in results]
    if report_dir:
        path = write_report(results, territory, report_dir, locale=locale or settings.locale)
        echo(f"report: {path}")
    if as_json:
        click.echo(
            json.dumps({"elapsed_s": round(elapsed, 1), "kpis": kpis}, ensure_ascii=False, indent=1)
        )
        return
    cols = [
        "scenario",
        "teams",
        "covered_30min_share",
        "apl_mean_per_1000",
        "requested",
        "served",
        "service_level",
        "on_time_share",
        "travel_share",
        "distance_km",
        "teams_needed",
    ]
    cols = [c for c in cols if c in kpis[0]]
    _print_table(kpis, cols)
    echo(f"done in {elapsed:.1f} s")


def _print_table(rows: list[dict[str, Any]], cols: list[str]) -> None:
    def fmt(key: str, v: Any) -> str:
        if isinstance(v, float):
            return (
                f"{v:.1%}"
                if key.endswith(("share", "level"))
                else f"{v:,.3g}"
                if v < 10
                else f"{v:,.1f}"
            )
        return "-" if v is None else str(v)

    cells = [[fmt(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


@click.command()
@click.argument("territory_id", required=False)
@click.option(
    "--bands", default="10,20,30", show_default=True, help="Travel-time bands in minutes."
)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(dir_okay=False),
    help="Take the bases (and teams) of this scenario file's first scenario.",
)
@click.option("--add", "added", multiple=True, help="Add a base at LON,LAT (repeatable).")
@click.option("--site", "site_k", type=int, help="Propose this many new bases (base siting).")
@click.option(
    "--method",
    type=click.Choice(["mclp", "pmedian"]),
    default="mclp",
    show_default=True,
    help="Siting model.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    help="Write the per-commune table to this CSV.",
)
@click.option(
    "--geojson",
    "geojson_path",
    type=click.Path(dir_okay=False),
    help="Write the isochrones to this GeoJSON file.",
)
@click.option(
    "--limit", default=15, show_default=True, help="Communes listed (least covered first)."
)
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_context
def coverage(
    ctx: click.Context,
    territory_id: str | None,
    bands: str,
    scenario_file: str | None,
    added: tuple[str, ...],
    site_k: int | None,
    method: str,
    csv_path: str | None,
    geojson_path: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Population within each travel-time band of the bases, commune by commune.

    Prints the population per band, the E2SFCA accessibility mean and the least covered
    communes; --site K proposes K new bases (maximal coverage or p-median).

    Example: dispatch coverage haute-corse --bands 10,20,30 --site 2
    """
    from dispatch.planning.accessibility import accessibility
    from dispatch.planning.coverage import coverage as compute_coverage
    from dispatch.planning.coverage import isochrone_features
    from dispatch.planning.report import write_csv
    from dispatch.planning.runner import territory_and_router
    from dispatch.planning.scenario import BaseSite, Scenario, load_scenarios
    from dispatch.planning.simulate import prepare
    from dispatch.planning.siting import site_bases

    settings = get_settings(ctx)
    if scenario_file:
        scenario = load_scenarios(scenario_file)[0]
        if territory_id and territory_id != scenario.territory:
            raise ValidationError(f"the scenario is for {scenario.territory}, not {territory_id}")
    else:
        scenario = Scenario(name="bases", territory=territory_id or settings.territory)
    band_s = _bands(bands)
    territory, router = territory_and_router(scenario.territory, settings)
    if added:
        bases = scenario.resolve_bases(territory.bases) + tuple(
            BaseSite(f"added-{i + 1}", f"added {i + 1}", *_lonlat(a)) for i, a in enumerate(added)
        )
        from dataclasses import replace

        scenario = replace(scenario, bases=bases, teams=None)
    setup = prepare(scenario, territory, router)
    cov = compute_coverage(territory, router, setup.base_nodes, bands_s=band_s)
    acc = accessibility(
        territory,
        router,
        setup.base_nodes,
        scenario.teams_at(setup.bases),
        visits_per_team_day=scenario.visits_per_team_day,
    )
    siting = None
    if site_k:
        siting = site_bases(
            territory,
            router,
            setup.base_nodes,
            k=site_k,
            radius_s=band_s[-1],
            method=method,
            existing_ids=[b.id for b in setup.bases],
        )
    if csv_path:
        write_csv(Path(csv_path), cov.rows())
    if geojson_path:
        Path(geojson_path).write_text(
            json.dumps(isochrone_features(router, setup.base_nodes, band_s))
        )
    if as_json:
        out: dict[str, Any] = {
            "territory": territory.id,
            "coverage": cov.to_dict(),
            "accessibility": acc.to_dict(),
        }
        if siting:
            out["siting"] = siting.to_dict()
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    total = cov.total_population
    click.echo(
        f"{territory.name}: {total:,.0f} inhabitants, {len(setup.bases)} bases "
        f"({', '.join(b.name for b in setup.bases)})"
    )
    running = 0.0
    for b, pop in zip(cov.bands_s, cov.band_population, strict=True):
        running += pop
        click.echo(
            f"  <= {b // 60:3d} min: {pop:10,.0f}   cumulated {running:10,.0f}  ({running / total:6.1%})"
        )
    click.echo(
        f"  >  {cov.bands_s[-1] // 60:3d} min: {cov.uncovered_population:10,.0f}   "
        f"({cov.uncovered_population / total:6.1%} uncovered)"
    )
    click.echo(
        f"Accessibility (E2SFCA, visits/day per 1000 inhabitants): mean {acc.territory_mean:.3f}"
    )
    click.echo(f"Least covered communes (inhabitants beyond {cov.bands_s[-1] // 60} min):")
    for c in cov.least_covered(limit):
        click.echo(
            f"  {c.code_insee:6s} {c.name:32s} {c.uncovered_population:8,.0f} / {c.population:8,.0f}"
        )
    if siting:
        click.echo(f"Proposed new bases ({method}, {site_k}):")
        for site in siting.new_sites:
            click.echo(f"  {site.commune:32s} lon {site.lon:.5f} lat {site.lat:.5f}")
        click.echo(
            f"  population within {band_s[-1] // 60} min with them: "
            f"{siting.covered_population:,.0f} ({siting.covered_population / siting.total_population:.1%})"
        )
    if csv_path:
        click.echo(f"table: {csv_path}", err=True)


def _day_plan() -> click.Command:
    from dispatch.cli.optimise import plan as day_plan

    return day_plan


def _optional(param: click.Parameter) -> click.Parameter:
    """``param`` not required (``--day`` is required by `dispatch plan`, not by its ``week``)."""
    import copy

    copied = copy.copy(param)
    copied.required = False
    return copied


@click.group(
    invoke_without_command=True,
    params=[_optional(p) for p in _day_plan().params],
    help=inspect.cleandoc(_day_plan().help or "").replace(
        "Example:",
        "`dispatch plan week --from DAY` plans several days (continuity of care, legal "
        "hours).\n\nExample:",
    ),
)
@click.pass_context
def plan(ctx: click.Context, **options: Any) -> None:
    if ctx.invoked_subcommand is not None:
        return
    if not options.get("day"):
        raise click.UsageError("Missing option '--day' (or plan several days: dispatch plan week).")
    ctx.invoke(_day_plan(), **options)


@plan.command("week")
@click.option("--from", "from_day", required=True, help="First day, YYYY-MM-DD (today or later).")
@click.option("--days", type=click.IntRange(1, 14), default=7, show_default=True)
@click.option(
    "--structure",
    "structure_key",
    default=None,
    help="The structure whose days are planned (id or name); needed when there are several.",
)
@click.option("--territory", default=None, help="Territory id (default: the settings').")
@click.option(
    "--time-limit",
    "time_limit",
    type=float,
    default=None,
    help="Solver seconds per day (default: the setting week_day_time_limit_s).",
)
@click.option(
    "--continuity-weight",
    "continuity_weight_s",
    type=click.IntRange(0, 86400),
    default=None,
    help="Seconds of travel another caregiver than the usual one costs (default: the setting).",
)
@click.option("--apply", "apply_", is_flag=True, help="Publish every day's draft at once.")
@click.option(
    "--confirm-dropped",
    is_flag=True,
    help="With --apply: accept taking out of the rounds the planned visits a day leaves out.",
)
@click.option("--locale", type=click.Choice(["fr", "en"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def plan_week_command(
    ctx: click.Context,
    from_day: str,
    days: int,
    structure_key: str | None,
    territory: str | None,
    time_limit: float | None,
    continuity_weight_s: int | None,
    apply_: bool,
    confirm_dropped: bool,
    locale: str | None,
    as_json: bool,
) -> None:
    """Plan several days of a structure: each visit prefers the patient's usual caregiver,
    each person's shifts keep 11 h of daily rest, 48 h a week and their contract; each day is
    saved as a draft (published with --apply).

    Example: dispatch plan week --from 2026-12-14 --days 7 --structure "SSIAD du Cap" --apply
    """
    from dispatch.rounds import open_rounds
    from dispatch.rounds.week import apply_week, plan_week
    from dispatch.store import Store

    settings = get_settings(ctx)
    locale = locale or settings.locale
    store = Store(settings.database)
    try:
        structure_id = store.find_structure(structure_key)["id"] if structure_key else None
        rounds = open_rounds(settings, store, territory=territory)
        run = plan_week(
            rounds,
            from_day,
            days,
            structure_id=structure_id,
            continuity_weight_s=settings.continuity_weight_s
            if continuity_weight_s is None
            else continuity_weight_s,
            time_limit_s=time_limit or settings.week_day_time_limit_s,
            by="cli",
            locale=locale,
            searches=settings.solver_searches,
            progress=None
            if as_json
            else lambda done, total: click.echo(f"  … {done}/{total} days", err=True),
        )
        applied: dict[str, Any] = {"applied": [], "refused": []}
        if apply_:
            confirm = (
                [int(v.id) for d in run.proposed.values() for v in d.problem.visits]
                if confirm_dropped
                else []
            )
            applied = apply_week(
                rounds,
                {d["day"]: d["plan_id"] for d in run.result["days"]},
                by="cli",
                confirm_dropped=confirm,
                locale=locale,
            )
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({**run.result, **applied, "moved": run.moved}, indent=2))
        return
    for d in run.result["days"]:
        if d["error"]:
            click.echo(f"{d['day']}: {d['error']}")
            continue
        click.echo(
            f"{d['day']}: draft {d['plan_id']}, {d['visits']} visits, {d['unassigned']} "
            f"unassigned, travel {d['travel_s'] // 60} min, {d['moved']} moved"
        )
    for column in ("current", "proposed"):
        m = run.result["comparison"][column]
        click.echo(
            f"{column}: {m['planned']} planned, {m['distinct_staff_per_patient']} staff per "
            f"patient, travel {m['travel_s'] // 60} min, max over contract "
            f"{m['max_contract_excess_pct']} %, {m['violations']} violation(s)"
        )
    if apply_:
        click.echo(f"applied: {', '.join(applied['applied']) or 'none'}")
        for r in applied["refused"]:
            click.echo(f"refused {r['day']}: {r['message']}")
