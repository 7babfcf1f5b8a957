"""`dispatch solve` (VRPTW benchmark files) and `dispatch plan` (optimise a day of the store)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dispatch.cli import get_settings


def solve_instance(
    path: str | Path,
    *,
    fmt: str | None,
    time_limit_s: float,
    seed: int = 0,
    bks_file: str | Path | None = None,
    clock: str = "cpu",
) -> dict[str, Any]:
    """Solve one benchmark file; distance, vehicles, independent feasibility, routes, gap."""
    from dispatch.optimise import check_plan, solve
    from dispatch.optimise.vrptw import load_bks, plan_distance, read_instance

    inst = read_instance(path, fmt=fmt)
    plan = solve(
        inst.problem,
        time_limit_s=time_limit_s,
        seed=seed,
        all_required=True,
        cpu_time=clock == "cpu",
    )
    violations = check_plan(inst.problem, plan, locale="en")
    distance = plan_distance(inst.problem, plan)
    routes = [[int(v) for v in r.visit_ids] for r in plan.routes if r.visit_ids]
    out: dict[str, Any] = {
        "instance": inst.name,
        "distance": round(distance, 1),
        "vehicles": len(routes),
        "feasible": not violations and not plan.unassigned,
        "violations": violations[:20]
        + [f"customer {u.visit_id} not served" for u in plan.unassigned],
        "time_limit_s": time_limit_s,
        "clock": clock,
        "solve_wall_s": plan.stats.get("time_s"),
        "routes": routes,
    }
    bks_path = Path(bks_file) if bks_file else Path(path).resolve().parent.parent.parent / "bks.csv"
    if bks_path.exists():
        bks = load_bks(bks_path).get(inst.name.upper())
        if bks:
            out["bks"] = bks
            out["gap_pct"] = round(100 * (distance - bks) / bks, 3)
    return out


@click.command()
@click.option(
    "--instance",
    "instance",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Solomon (.txt) or VRPLIB (.vrptw) instance file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["vrplib", "solomon"]),
    default=None,
    help="File format (detected when omitted).",
)
@click.option(
    "--time-limit",
    "time_limit",
    type=float,
    default=5.0,
    show_default=True,
    help="Solver budget in seconds.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--clock",
    type=click.Choice(["cpu", "wall"]),
    default="cpu",
    show_default=True,
    help="Count the budget in CPU seconds of the solver process (fair on a busy machine) or wall seconds.",
)
@click.option(
    "--bks",
    "bks_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="bks.csv to compute the gap (default: the one beside the instances folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def solve(
    instance: str,
    fmt: str | None,
    time_limit: float,
    seed: int,
    clock: str,
    bks_file: str | None,
    as_json: bool,
) -> None:
    """Solve a VRPTW benchmark instance under the DIMACS conventions (distance x10, truncated).

    Prints the total distance, vehicles used, whether an independent check finds the plan
    feasible, the gap to the best known (bks.csv) and the routes as customer numbers of the file.

    Example: dispatch solve --instance C101.vrptw --time-limit 5 --json
    """
    out = solve_instance(
        instance, fmt=fmt, time_limit_s=time_limit, seed=seed, bks_file=bks_file, clock=clock
    )
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"instance   {out['instance']}")
    click.echo(f"distance   {out['distance']:.1f}")
    if "gap_pct" in out:
        click.echo(f"best known {out['bks']:.1f} (gap {out['gap_pct']:+.2f} %)")
    click.echo(f"vehicles   {out['vehicles']}")
    click.echo(f"feasible   {'yes' if out['feasible'] else 'NO'}")
    for v in out["violations"]:
        click.echo(f"  - {v}")
    for i, r in enumerate(out["routes"], 1):
        click.echo(f"Route #{i}: {' '.join(map(str, r))}")


@click.command()
@click.option("--day", required=True, help="Day to plan, YYYY-MM-DD.")
@click.option(
    "--structure",
    "structure_key",
    default=None,
    help="The structure whose day is planned (id or name); needed when there are several.",
)
@click.option("--territory", default=None, help="Territory id (default: the settings').")
@click.option(
    "--time-limit",
    "time_limit",
    type=float,
    default=None,
    help="Solver budget in seconds (default: settings).",
)
@click.option(
    "--publish", is_flag=True, help="Publish the plan at once (else it is saved as a draft)."
)
@click.option(
    "--confirm-dropped",
    "confirm_dropped",
    is_flag=True,
    help="With --publish: accept taking out of the rounds the planned visits the new plan "
    "leaves out (listed first; without it such a plan stays a draft).",
)
@click.option("--locale", type=click.Choice(["fr", "en"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_context
def plan(
    ctx: click.Context,
    day: str,
    structure_key: str | None,
    territory: str | None,
    time_limit: float | None,
    publish: bool,
    confirm_dropped: bool,
    locale: str | None,
    as_json: bool,
) -> None:
    """Optimise a day: assign the day's visits in the database to the active teams over real road times.

    Saves the plan as a draft (or publishes it with --publish) and prints, per team, the stops
    with their times, then every visit left out with its reason.

    Each structure plans its own day: with several, name it with --structure.

    Example: dispatch plan --day 2026-11-24 --structure "SSIAD du Cap" --time-limit 10
    """
    from dispatch.errors import DispatchError
    from dispatch.optimise import hhmm
    from dispatch.rounds import open_rounds
    from dispatch.store import Store

    settings = get_settings(ctx)
    locale = locale or settings.locale
    store = Store(settings.database)
    try:
        structure_id = store.find_structure(structure_key)["id"] if structure_key else None
        rounds = open_rounds(settings, store, territory=territory)
        proposal = rounds.optimise(
            day,
            by="cli",
            structure_id=structure_id,
            time_limit_s=time_limit,
            progress=None
            if as_json
            else lambda p: click.echo(f"  … {p['elapsed_s']:.1f} s", err=True),
            locale=locale,
        )
        published = False
        if publish:
            try:
                rounds.apply(
                    proposal["plan_id"],
                    by="cli",
                    confirm_dropped=[d["visit_id"] for d in proposal["dropped"]]
                    if confirm_dropped
                    else [],
                    locale=locale,
                )
                published = True
            except DispatchError as exc:
                raise click.ClickException(
                    f"{exc.message} (plan {proposal['plan_id']} kept as a draft)"
                ) from None
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "plan_id": proposal["plan_id"],
                    "published": published,
                    "plan": proposal["plan"],
                    "dropped": proposal["dropped"],
                    "violations": proposal["violations"],
                },
                indent=2,
            )
        )
        return
    for r in proposal["plan"]["routes"]:
        visits = [s for s in r["stops"] if s["kind"] == "visit"]
        if not visits:
            continue
        click.echo(
            f"{r['team_name']}: {hhmm(r['start_s'])}-{hhmm(r['end_s'])}, {len(visits)} visites, "
            f"{r['travel_time_s'] // 60} min de route, {r['distance_m'] / 1000:.1f} km"
        )
        for s in r["stops"]:
            what = s.get("label") or s["visit_id"] if s["kind"] == "visit" else "pause"
            click.echo(f"  {hhmm(s['start_s'])}-{hhmm(s['departure_s'])}  {what}")
    for u in proposal["plan"]["unassigned"]:
        click.echo(f"non affectée {u['label']} : {u['message']}")
    for d in proposal["dropped"]:
        click.echo(f"retirée de la tournée {d['label']} : {d['reason']}")
    violations = proposal["violations"]
    click.echo(
        f"plan {proposal['plan_id']} {'publié' if published else 'enregistré (brouillon)'}; "
        f"{'faisable' if not violations else 'à vérifier : ' + '; '.join(violations[:3])}"
    )
