"""`dispatch bench week`: plan a week of the demonstration service, against each day alone."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from dispatch.cli import get_settings


def _monday_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7 or 7)


def run_week_bench(
    settings: Any,
    *,
    days: int = 7,
    time_limit_s: float | None = None,
    continuity_weight_s: int | None = None,
    workers: int = 2,
    say: Any = None,
) -> dict[str, Any]:
    """Seed the demonstration service in a temporary database, plan ``days`` days from the
    next Monday for its structures (``workers`` structures at a time, one solver search
    each), then plan the same days each alone with no continuity cost, and compare."""
    from dispatch.clock import ServiceClock
    from dispatch.demo import seed_demo_service
    from dispatch.optimise.check import check_plan
    from dispatch.optimise.week import week_metrics
    from dispatch.rounds import Rounds
    from dispatch.rounds.service import RoundsOptions
    from dispatch.rounds.week import plan_week, week_findings
    from dispatch.routing import Router
    from dispatch.store import Store
    from dispatch.territory import load_territory

    say = say or (lambda _m: None)
    limit = time_limit_s or settings.week_day_time_limit_s
    weight = settings.continuity_weight_s if continuity_weight_s is None else continuity_weight_s
    territory = load_territory(settings.territory, settings)
    router = Router.for_territory(territory)
    start = _monday_after(dt.date.today())
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        seeded = seed_demo_service(store, territory, start_day=start, days=days + 1)
        rounds = Rounds(
            store,
            lambda: (router, territory.id),
            clock=ServiceClock(),
            options=RoundsOptions(solver_time_limit_s=limit, solver_searches=1),
        )
        sids = [int(s["id"]) for s in seeded["structures"]]
        say(f"seeded {seeded['patients']} patients, {seeded['staff']} staff, from {start}")

        def one(sid: int, baseline: bool) -> Any:
            return plan_week(
                rounds,
                start.isoformat(),
                days,
                structure_id=sid,
                continuity_weight_s=weight,
                time_limit_s=limit,
                by="bench",
                save=not baseline,
                searches=1,
                baseline=baseline,
            )

        # The matrices of every structure's days are built once before timing (a server
        # keeps them between requests too).
        for sid in sids:
            rounds.day(start.isoformat(), structure_id=sid)
        out: dict[str, Any] = {}
        for label, baseline in (("week", False), ("baseline", True)):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                runs = list(pool.map(lambda s, b=baseline: one(s, b), sids))
            out[label] = (time.perf_counter() - t0, runs)
            say(f"{label}: {out[label][0]:.1f} s")
        store.close()

    def measure(runs: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        every: dict[str, Any] = {}
        patient_of: dict[str, int] = {}
        contract: dict[int, int] = {}
        verdicts = []
        for sid, run in zip(sids, runs, strict=True):
            contract.update(run.contract_s)
            week_rules: dict[str, list[str]] = {}
            for f in week_findings(run.proposed, run.staff, before=run.before):
                week_rules.setdefault(f["day"], []).append(f["message"])
            patient_of.update({k.split("/", 1)[1]: v for k, v in run.patient_of.items()})
            for day, d in run.proposed.items():
                every[f"{sid}/{day}"] = d
                found = check_plan(d.problem, d.plan) + week_rules.get(day, [])
                verdicts.append(
                    {
                        "structure_id": sid,
                        "day": day,
                        "visits": len(d.problem.visits),
                        "planned": sum(len(r.visit_ids) for r in d.plan.routes),
                        "unassigned": len(d.plan.unassigned),
                        "feasible": not found,
                        "violations": found[:5],
                    }
                )
        m = week_metrics(every, patient_of, contract)
        m["over_48h_staff"] = sum(1 for h in m["staff_h"].values() if h > 48)
        return m, verdicts

    week_wall, week_runs = out["week"]
    base_wall, base_runs = out["baseline"]
    week_m, verdicts = measure(week_runs)
    base_m, base_verdicts = measure(base_runs)
    ratio = (
        1 - week_m["distinct_staff_per_patient"] / base_m["distinct_staff_per_patient"]
        if base_m["distinct_staff_per_patient"]
        else 0.0
    )
    travel_ratio = week_m["travel_s"] / base_m["travel_s"] - 1 if base_m["travel_s"] else 0.0
    return {
        "from": start.isoformat(),
        "days": days,
        "structures": len(sids),
        "staff": seeded["staff"],
        "patients": seeded["patients"],
        "visits": sum(v["visits"] for v in verdicts),
        "time_limit_s": limit,
        "continuity_weight_s": weight,
        "week_wall_s": round(week_wall, 2),
        "baseline_wall_s": round(base_wall, 2),
        "distinct_staff_per_patient": week_m["distinct_staff_per_patient"],
        "baseline_distinct_staff_per_patient": base_m["distinct_staff_per_patient"],
        "distinct_staff_reduction_pct": round(100 * ratio, 1),
        "travel_s": week_m["travel_s"],
        "baseline_travel_s": base_m["travel_s"],
        "travel_increase_pct": round(100 * travel_ratio, 2),
        "planned": week_m["planned"],
        "baseline_planned": base_m["planned"],
        "unassigned": week_m["unassigned"],
        "baseline_unassigned": base_m["unassigned"],
        "max_contract_excess_pct": week_m["max_contract_excess_pct"],
        "baseline_max_contract_excess_pct": base_m["max_contract_excess_pct"],
        "hours_spread_h": week_m["hours_spread_h"],
        "baseline_hours_spread_h": base_m["hours_spread_h"],
        "shift_cuts": sum(len(r.cuts) for r in week_runs),
        "over_48h_staff": week_m["over_48h_staff"],
        "baseline_over_48h_staff": base_m["over_48h_staff"],
        "all_days_feasible": all(v["feasible"] for v in verdicts),
        "baseline_all_days_feasible": all(v["feasible"] for v in base_verdicts),
        "day_verdicts": verdicts,
    }


@click.command()
@click.option("--days", type=click.IntRange(1, 14), default=7, show_default=True)
@click.option(
    "--time-limit",
    "time_limit_s",
    type=float,
    default=None,
    help="Solver seconds per day (default: the setting week_day_time_limit_s).",
)
@click.option(
    "--continuity-weight",
    "continuity_weight_s",
    type=int,
    default=None,
    help="Seconds of travel another caregiver costs (default: the setting).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def week(
    ctx: click.Context,
    days: int,
    time_limit_s: float | None,
    continuity_weight_s: int | None,
    as_json: bool,
) -> None:
    """Plan a week of the demonstration service (continuity, legal hours) against each day
    planned alone with no continuity cost: wall time, distinct staff per patient, travel,
    hours against contract, the checker's verdict on every day.

    Example: dispatch bench week --json
    """
    settings = get_settings(ctx)
    say = (lambda m: click.echo(m, err=True)) if not as_json else None
    result = run_week_bench(
        settings,
        days=days,
        time_limit_s=time_limit_s,
        continuity_weight_s=continuity_weight_s,
        say=say,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"{result['visits']} visits, {result['staff']} staff, {result['structures']} structures,"
        f" {days} days from {result['from']} ({result['time_limit_s']} s a day)"
    )
    click.echo(
        f"week: {result['week_wall_s']} s; distinct staff per patient "
        f"{result['distinct_staff_per_patient']} against {result['baseline_distinct_staff_per_patient']}"
        f" ({result['distinct_staff_reduction_pct']} % fewer); travel {result['travel_s']} s against "
        f"{result['baseline_travel_s']} s ({result['travel_increase_pct']:+} %)"
    )
    click.echo(
        f"hours: max over contract {result['max_contract_excess_pct']} %, spread "
        f"{result['hours_spread_h']} h; every day feasible: {result['all_days_feasible']}"
    )
