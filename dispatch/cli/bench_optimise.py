"""`dispatch bench optimise`: gaps on VRPTW benchmarks and a realistic Haute-Corse day."""

from __future__ import annotations

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from dispatch.cli import get_settings

SETS = {
    "solomon": ("solomon", "*.vrptw"),
    "homberger-200": ("homberger_200", "*.txt"),
    "homberger-400": ("homberger_400", "*.txt"),
}


def default_benchmarks_dir() -> Path:
    from dispatch.settings import PROJECT_ROOT

    return PROJECT_ROOT.parent / "shared" / "benchmarks" / "vrptw"


def run_set(
    folder: Path,
    name: str,
    *,
    time_limit_s: float,
    jobs: int = 2,
    limit: int | None = None,
    progress: Any = None,
    clock: str = "cpu",
    seeds: int = 1,
) -> dict[str, Any]:
    """Solve every instance of a set (``jobs`` at a time, each in its own solver process),
    once per seed 0 .. ``seeds`` - 1; the mean gap is over every run."""
    from dispatch.cli.optimise import solve_instance

    sub, pattern = SETS[name]
    files = sorted((folder / "instances" / sub).glob(pattern))
    if not files:
        from dispatch.errors import DataMissingError

        raise DataMissingError(
            f"no {pattern} in {folder / 'instances' / sub}: pass --benchmarks DIR"
        )
    if limit and limit < len(files):
        # Evenly spread over the sorted set, so that every class (C1, C2, R1...) is represented.
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]

    def one(run: tuple[Path, int]) -> dict[str, Any]:
        path, seed = run
        out = solve_instance(
            path,
            fmt=None,
            time_limit_s=time_limit_s,
            seed=seed,
            bks_file=folder / "bks.csv",
            clock=clock,
        )
        out.pop("routes", None)
        out["seed"] = seed
        if progress:
            progress(
                f"{out['instance']} (seed {seed}): {out['distance']} gap {out.get('gap_pct')} % feasible {out['feasible']}"
            )
        return out

    start = time.perf_counter()
    seed_list = range(max(1, seeds))
    runs = [(path, seed) for seed in seed_list for path in files]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, runs))
    gaps = [r["gap_pct"] for r in results if "gap_pct" in r]
    by_seed = {
        seed: [r["gap_pct"] for r in results if r["seed"] == seed and "gap_pct" in r]
        for seed in seed_list
    }
    return {
        "set": name,
        "instances": len(files),
        "runs": len(results),
        "time_limit_s": time_limit_s,
        "clock": clock,
        "parallel_jobs": jobs,
        "all_feasible": all(r["feasible"] for r in results),
        "infeasible": [r["instance"] for r in results if not r["feasible"]],
        "seeds": len(seed_list),
        "mean_gap_pct": round(statistics.mean(gaps), 3) if gaps else None,
        "mean_gap_pct_by_seed": [round(statistics.mean(g), 3) for g in by_seed.values() if g],
        "max_gap_pct": round(max(gaps), 3) if gaps else None,
        "wall_s": round(time.perf_counter() - start, 1),
        "results": results,
    }


def haute_corse_day(
    settings: Any,
    *,
    n_visits: int = 500,
    n_teams: int = 40,
    seed: int = 0,
    territory_id: str = "haute-corse",
) -> Any:
    """The realistic day: visits drawn from the population model; care aides at the bassin's
    bases, half of the nurses at home (they start and end their round there)."""
    import numpy as np

    from dispatch.optimise.scenario import care_day
    from dispatch.routing import Router
    from dispatch.territory import load_territory

    try:
        from dispatch.territory import sample_points
    except ImportError:
        from dispatch.territory.sampling import sample_points
    territory = load_territory(territory_id, settings)
    router = Router.for_territory(territory)
    pts = sample_points(territory, n_visits, seed=seed)
    nodes, _ = router.snap_many(pts[:, 0], pts[:, 1])
    bases = [
        b.node if getattr(b, "node", None) is not None else router.snap(b.lon, b.lat).node
        for b in territory.bases
    ]
    all_nodes = np.array(list(bases) + list(nodes), dtype=np.int64)
    time_s, dist_m = router.matrix_with_distance(all_nodes, all_nodes)
    problem = care_day(
        np.asarray(time_s, dtype=np.int64),
        base_locations=list(range(len(bases))),
        visit_locations=list(range(len(bases), len(all_nodes))),
        n_teams=n_teams,
        seed=seed,
        distance_m=np.asarray(dist_m, dtype=np.int64),
        home_share=0.5,
    )
    return problem, pts


def objective(problem: Any, plan: Any) -> dict[str, Any]:
    """What a coordinator compares: visits served (mandatory ones left out), their weight by
    priority, travel."""
    by_id = problem.visits_by_id()
    served = [v for r in plan.routes for v in r.visit_ids]
    return {
        "visits_served": len(served),
        "mandatory_left_out": sum(1 for u in plan.unassigned if by_id[u.visit_id].mandatory),
        "priority_served": sum(by_id[v].priority for v in served),
        "travel_time_s": plan.summary()["travel_time_s"],
    }


def gap_pct(quick: float, long: float) -> float:
    """How much less the quick plan achieves than the long one, in % of the long one."""
    return round((long - quick) / max(1, long) * 100, 2)


def run_day(
    settings: Any,
    *,
    quick_s: float = 3.0,
    long_s: float = 60.0,
    seed: int = 0,
    progress: Any = None,
    problem: Any = None,
    first_s: float = 1.0,
    clock: str = "wall",
    solver_seeds: int = 1,
) -> dict[str, Any]:
    """Time to a feasible plan, its quality against a long run, and live insertion speed.

    With ``solver_seeds`` > 1 the quick and the long runs are repeated on the same day with
    solver seeds ``seed + 1``... (``by_seed``, and the mean gaps over every pair); the other
    figures are those of ``seed``.

    ``first_s``: budget of the fastest useful run (its wall time, process start and checks
    included, is the time to a first feasible plan). ``clock`` "cpu" counts the 3 s and 60 s
    budgets in CPU seconds of the solver (fair on a busy machine); the first plan is timed on
    the wall clock either way.
    """
    import numpy as np

    from dispatch.optimise import Visit, check_plan, insert_visit, solve
    from dispatch.optimise.model import TimeWindow

    t0 = time.perf_counter()
    if problem is None:
        problem, _ = haute_corse_day(settings, seed=seed)
    setup_s = time.perf_counter() - t0
    if progress:
        progress(
            f"day built in {setup_s:.1f} s: {len(problem.visits)} visits, {len(problem.teams)} teams"
        )
    t_start = time.perf_counter()
    first_plan = solve(problem, time_limit_s=first_s, seed=seed)
    first_wall = time.perf_counter() - t_start
    first_ok = not check_plan(problem, first_plan)
    if progress:
        progress(
            f"first plan ({first_s:g} s budget): {objective(problem, first_plan)} in {first_wall:.2f} s, feasible {first_ok}"
        )
    t_start = time.perf_counter()
    quick = solve(problem, time_limit_s=quick_s, seed=seed, cpu_time=clock == "cpu")
    quick_wall = time.perf_counter() - t_start
    quick_violations = check_plan(problem, quick, locale="en")
    if progress:
        progress(
            f"{quick_s:g} s plan: {objective(problem, quick)}, {len(quick_violations)} violations, wall {quick_wall:.1f} s"
        )
    t_start = time.perf_counter()
    long = solve(problem, time_limit_s=long_s, seed=seed, cpu_time=clock == "cpu")
    long_wall = time.perf_counter() - t_start
    long_violations = check_plan(problem, long, locale="en")
    if progress:
        progress(
            f"{long_s:g} s plan: {objective(problem, long)}, {len(long_violations)} violations"
        )
    # Live insertion: urgent nurse visits at places of the day, within the next two hours.
    rng = np.random.default_rng(seed + 1)
    live = problem.with_changes(now_s=10 * 3600)
    times = []
    inserted = 0
    for k in range(20):
        loc = int(rng.integers(0, problem.n_locations))
        urgent = Visit(
            id=f"URG{k}",
            location=loc,
            duration_s=1800,
            priority=5,
            skills=frozenset({"infirmier"}),
            windows=(TimeWindow(10 * 3600, 12 * 3600),),
        )
        t = time.perf_counter()
        new = insert_visit(live, long, urgent)
        times.append(time.perf_counter() - t)
        inserted += int(urgent.id in new.assignment())
    q, lg = objective(problem, quick), objective(problem, long)
    # Every seed's plans go through the independent checker, not only the first seed's.
    pairs = [(seed, q, lg, quick_wall, quick_violations, long_violations)]
    for extra in range(seed + 1, seed + max(1, solver_seeds)):
        t_start = time.perf_counter()
        other_quick = solve(problem, time_limit_s=quick_s, seed=extra, cpu_time=clock == "cpu")
        other_wall = time.perf_counter() - t_start
        other_long = solve(problem, time_limit_s=long_s, seed=extra, cpu_time=clock == "cpu")
        pairs.append(
            (
                extra,
                objective(problem, other_quick),
                objective(problem, other_long),
                other_wall,
                check_plan(problem, other_quick, locale="en"),
                check_plan(problem, other_long, locale="en"),
            )
        )
        if progress:
            progress(
                f"seed {extra}: {quick_s:g} s plan {pairs[-1][1]['visits_served']} served "
                f"(wall {other_wall:.1f} s, {len(pairs[-1][4])} violations), {long_s:g} s plan "
                f"{pairs[-1][2]['visits_served']} ({len(pairs[-1][5])} violations)"
            )
    by_seed = [
        {
            "seed": s_,
            "quick_wall_s": round(wall, 2),
            "quick_served": a["visits_served"],
            "long_served": b["visits_served"],
            "quick_mandatory_left_out": a["mandatory_left_out"],
            "long_mandatory_left_out": b["mandatory_left_out"],
            "served_gap_pct": gap_pct(a["visits_served"], b["visits_served"]),
            "priority_served_gap_pct": gap_pct(a["priority_served"], b["priority_served"]),
            "quick_feasible": not qv,
            "long_feasible": not lv,
            "violations": (qv + lv)[:10],
        }
        for s_, a, b, wall, qv, lv in pairs
    ]
    return {
        "visits": len(problem.visits),
        "teams": len(problem.teams),
        "setup_s": round(setup_s, 2),
        "clock": clock,
        "quick_budget_s": quick_s,
        "quick_wall_s": round(quick_wall, 2),
        "first_plan_budget_s": first_s,
        "first_plan_wall_s": round(first_wall, 2),
        "first_plan": {
            **objective(problem, first_plan),
            "unassigned": len(first_plan.unassigned),
            "feasible": first_ok,
        },
        "quick": {**q, "unassigned": len(quick.unassigned), "feasible": not quick_violations},
        "long_budget_s": long_s,
        "long_wall_s": round(long_wall, 2),
        "long": {**lg, "unassigned": len(long.unassigned), "feasible": not long_violations},
        "quick_vs_long_served_gap_pct": gap_pct(q["visits_served"], lg["visits_served"]),
        "quick_vs_long_priority_served_gap_pct": gap_pct(
            q["priority_served"], lg["priority_served"]
        ),
        "quick_vs_long_travel_pct": round(
            (q["travel_time_s"] - lg["travel_time_s"]) / max(1, lg["travel_time_s"]) * 100, 2
        ),
        "insert_ms_median": round(statistics.median(times) * 1000, 1),
        "insert_ms_max": round(max(times) * 1000, 1),
        "urgent_inserted": f"{inserted}/{len(times)}",
        "by_seed": by_seed,
        "all_seeds_feasible": all(b["quick_feasible"] and b["long_feasible"] for b in by_seed),
        "mean_served_gap_pct": round(statistics.mean(r["served_gap_pct"] for r in by_seed), 2),
        "mean_priority_served_gap_pct": round(
            statistics.mean(r["priority_served_gap_pct"] for r in by_seed), 2
        ),
    }


def run_day_1000(
    settings: Any,
    *,
    quick_s: float = 3.0,
    long_s: float = 60.0,
    seed: int = 0,
    solver_seeds: int = 1,
    progress: Any = None,
    problem: Any = None,
) -> dict[str, Any]:
    """A day of 1,000 visits and 80 teams (the Haute-Corse day twice over): the wall time of
    a ``quick_s`` plan (its budget counted from the call), the peak memory of each search
    process, and visits served against a ``long_s`` plan.

    A 1 s plan first starts the search processes (the quick plan's wall time is a
    coordinator's wait with them running, as on a server). With ``solver_seeds`` > 1 the
    quick plan is solved again with seeds ``seed + 1``... (``quick_wall_s_max`` is over all
    of them); the long plan is solved once. Each plan's ``timeline_s`` says when each step
    of the winning search ended (model built, search started and ended, last pass, finishing,
    plan back, reasons), from the call.
    """
    from dispatch.optimise import check_plan, solve

    t0 = time.perf_counter()
    if problem is None:
        problem, _ = haute_corse_day(settings, n_visits=1000, n_teams=80, seed=seed)
    setup_s = time.perf_counter() - t0
    if progress:
        progress(
            f"day built in {setup_s:.1f} s: {len(problem.visits)} visits, {len(problem.teams)} teams"
        )
    t = time.perf_counter()
    first = solve(problem, time_limit_s=1.0, seed=seed)
    first_wall = time.perf_counter() - t
    runs = []
    loads = []
    for s_ in range(seed, seed + max(1, solver_seeds)):
        loads.append(round(os.getloadavg()[0], 2))
        t = time.perf_counter()
        plan = solve(problem, time_limit_s=quick_s, seed=s_)
        wall = time.perf_counter() - t
        violations = check_plan(problem, plan, locale="en")
        runs.append((s_, plan, wall, violations))
        if progress:
            progress(
                f"{quick_s:g} s plan (seed {s_}): {objective(problem, plan)['visits_served']} served, "
                f"wall {wall:.2f} s, peak {plan.stats.get('peak_rss_mb')} MB, "
                f"{len(violations)} violations; timeline {plan.stats.get('timeline_s')}"
            )
    t = time.perf_counter()
    long = solve(problem, time_limit_s=long_s, seed=seed)
    long_wall = time.perf_counter() - t
    long_violations = check_plan(problem, long, locale="en")
    lg = objective(problem, long)
    if progress:
        progress(
            f"{long_s:g} s plan: {lg['visits_served']} served, wall {long_wall:.1f} s, "
            f"{len(long_violations)} violations"
        )
    _, quick, quick_wall, quick_violations = runs[0]
    q = objective(problem, quick)
    peaks = [r[1].stats.get("peak_rss_mb", 0) for r in runs] + [long.stats.get("peak_rss_mb", 0)]
    keep = ("build_s", "profiles", "iterations", "cpu_s", "polish_s", "finishing_s", "reinserted")
    return {
        "visits": len(problem.visits),
        "teams": len(problem.teams),
        "setup_s": round(setup_s, 2),
        "clock": "wall",
        "quick_budget_s": quick_s,
        "quick_wall_s": round(quick_wall, 2),
        "quick_wall_s_max": round(max(r[2] for r in runs), 2),
        "quick_walls_s": [round(r[2], 2) for r in runs],
        "peak_rss_mb": max(peaks),
        "quick_peak_rss_mb": quick.stats.get("peak_rss_mb"),
        "long_peak_rss_mb": long.stats.get("peak_rss_mb"),
        "gap_pct": gap_pct(q["visits_served"], lg["visits_served"]),
        "quick_served": q["visits_served"],
        "long_served": lg["visits_served"],
        "quick": {**q, "unassigned": len(quick.unassigned), "feasible": not quick_violations},
        "long_budget_s": long_s,
        "long_wall_s": round(long_wall, 2),
        "long": {**lg, "unassigned": len(long.unassigned), "feasible": not long_violations},
        "first_plan_wall_s": round(first_wall, 2),
        "first_plan_served": objective(problem, first)["visits_served"],
        "quick_stats": {k: quick.stats.get(k) for k in keep},
        "quick_timeline_s": quick.stats.get("timeline_s"),
        "by_seed": [
            {
                "seed": s_,
                "load_1min": load,
                "quick_wall_s": round(wall, 2),
                "cpu_s": plan.stats.get("cpu_s"),
                "iterations": plan.stats.get("iterations"),
                "served": objective(problem, plan)["visits_served"],
                "feasible": not v,
                "peak_rss_mb": plan.stats.get("peak_rss_mb"),
                "timeline_s": plan.stats.get("timeline_s"),
                "violations": v[:5],
            }
            for (s_, plan, wall, v), load in zip(runs, loads, strict=True)
        ],
        "all_feasible": not long_violations and all(not r[3] for r in runs),
    }


@click.command()
@click.option(
    "--set",
    "sets",
    multiple=True,
    type=click.Choice([*SETS, "day", "day-1000"]),
    help="What to run (repeatable; default: solomon and day).",
)
@click.option(
    "--time-limit",
    "time_limit",
    type=float,
    default=None,
    help="Seconds per instance (default 5 for Solomon, 30 for Gehring-Homberger).",
)
@click.option("--jobs", type=int, default=2, show_default=True, help="Instances solved at once.")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Solve each instance (and the day's quick and long runs) with seeds 0..N-1 (the "
    "mean gap is over every run).",
)
@click.option(
    "--limit", type=int, default=None, help="Only N instances of each set, spread evenly over it."
)
@click.option(
    "--benchmarks",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with instances/ and bks.csv (default ../shared/benchmarks/vrptw).",
)
@click.option(
    "--long",
    "long_s",
    type=float,
    default=60.0,
    show_default=True,
    help="Budget of the reference run of the day.",
)
@click.option(
    "--clock",
    type=click.Choice(["cpu", "wall"]),
    default=None,
    help="Budgets in CPU seconds of the solver process (default for the benchmark sets) or in "
    "wall seconds (default for the day).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def optimise(
    ctx: click.Context,
    sets: tuple[str, ...],
    time_limit: float | None,
    jobs: int,
    seeds: int,
    limit: int | None,
    benchmarks: str | None,
    long_s: float,
    clock: str | None,
    as_json: bool,
) -> None:
    """Mean gap to the best known on VRPTW sets, and a realistic Haute-Corse day.

    The day has 500 visits and 40 teams (skills, windows, breaks) over real road times: it
    reports the time to a first feasible plan, the 3 s plan against a 60 s one, and how long
    inserting an urgent visit into the live plan takes. ``day-1000`` is a day of 1,000
    visits and 80 teams: the wall time of a 3 s plan, the peak memory of each search process
    and visits served against a 60 s plan (JSON: quick_wall_s, peak_rss_mb, gap_pct).

    Example: dispatch bench optimise --set solomon --set day --json
    """
    settings = get_settings(ctx)
    folder = Path(benchmarks) if benchmarks else default_benchmarks_dir()
    sets = sets or ("solomon", "day")
    say = None if as_json else (lambda m: click.echo(m, err=True))
    report: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }
    for name in sets:
        if name == "day":
            report["day"] = run_day(
                settings, long_s=long_s, progress=say, clock=clock or "wall", solver_seeds=seeds
            )
        elif name == "day-1000":
            report["day-1000"] = run_day_1000(
                settings, long_s=long_s, progress=say, solver_seeds=seeds
            )
        else:
            limit_s = time_limit or (5.0 if name == "solomon" else 30.0)
            report[name] = run_set(
                folder,
                name,
                time_limit_s=limit_s,
                jobs=jobs,
                limit=limit,
                progress=say,
                clock=clock or "cpu",
                seeds=seeds,
            )
    report["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for name, r in report.items():
        if not isinstance(r, dict):
            continue
        if name == "day-1000":
            click.echo(f"Day of {r['visits']} visits, {r['teams']} teams (Haute-Corse)")
            click.echo(
                f"  {r['quick_budget_s']:g} s plan returns in {r['quick_wall_s']} s "
                f"(max {r['quick_wall_s_max']} s over {len(r['quick_walls_s'])} run(s)); "
                f"peak memory of a search process {r['peak_rss_mb']} MB"
            )
            click.echo(
                f"  served {r['quick_served']} against {r['long_served']} in a "
                f"{r['long_budget_s']:g} s plan (gap {r['gap_pct']} %); all feasible "
                f"{r['all_feasible']}; timeline {r['quick_timeline_s']}"
            )
            continue
        if name == "day":
            click.echo(f"Haute-Corse day: {r['visits']} visits, {r['teams']} teams")
            click.echo(
                f"  first feasible plan after {r['first_plan_wall_s']} s (feasible {r['first_plan']['feasible']}); {r['quick_budget_s']:g} s plan: "
                f"{r['quick']['visits_served']} served, travel {r['quick']['travel_time_s'] // 60} min, feasible {r['quick']['feasible']}"
            )
            click.echo(
                f"  {r['long_budget_s']:g} s plan: {r['long']['visits_served']} served, travel {r['long']['travel_time_s'] // 60} min; "
                f"{r['quick_budget_s']:g} s plan serves {r['quick_vs_long_served_gap_pct']} % fewer "
                f"({r['quick_vs_long_priority_served_gap_pct']} % by priority), mandatory left out "
                f"{r['quick']['mandatory_left_out']} against {r['long']['mandatory_left_out']}"
            )
            click.echo(
                f"  urgent insertion: median {r['insert_ms_median']} ms, max {r['insert_ms_max']} ms ({r['urgent_inserted']} placed)"
            )
            if len(r["by_seed"]) > 1:
                click.echo(
                    f"  over seeds {', '.join(str(b['seed']) for b in r['by_seed'])}: "
                    f"{r['quick_budget_s']:g} s plans serve {[b['quick_served'] for b in r['by_seed']]}, "
                    f"{r['long_budget_s']:g} s plans {[b['long_served'] for b in r['by_seed']]}; mean gap "
                    f"{r['mean_served_gap_pct']} % ({r['mean_priority_served_gap_pct']} % by priority); "
                    f"every seed's plans feasible {r['all_seeds_feasible']}"
                )
        else:
            click.echo(
                f"{name}: {r['instances']} instances, {r['runs']} runs at {r['time_limit_s']:g} s ({r['seeds']} seed(s), means {r['mean_gap_pct_by_seed']}), mean gap {r['mean_gap_pct']} %, "
                f"max {r['max_gap_pct']} %, all feasible {r['all_feasible']} ({r['wall_s']} s)"
            )
