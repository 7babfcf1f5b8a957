"""`dispatch bench slots`: slots over the coming days for referrers' requests, on the demo."""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from dispatch.cli import get_settings

#: Times of day a request may ask for (earliest start, latest end), as referrers choose them.
TIMES_OF_DAY: dict[str, tuple[int, int] | None] = {
    "any": None,
    "morning": (7 * 3600, 12 * 3600),
    "afternoon": (12 * 3600, 18 * 3600),
}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def run_slots_bench(
    settings: Any,
    *,
    requests: int = 50,
    days: int = 7,
    n: int = 5,
    plan_time_limit_s: float = 1.0,
    book_every: int = 10,
    seed: int = 0,
    say: Any = None,
) -> dict[str, Any]:
    """Seed the demonstration service in a temporary database, publish the rounds of its
    structures for ``days`` days from today (``plan_time_limit_s`` of solver each; 0: none,
    the slots then come from the rota teams' empty rounds), then
    time ``requests`` slot requests (``n`` slots over the ``days`` days, near a random
    patient's home, random duration, time of day and urgency). Every ``book_every``-th
    request books its first slot into the round (timed apart), so the next requests find
    that day changed and built again, as on a working server. The days are built once
    before timing (a server keeps them between requests)."""
    from dispatch.clock import ServiceClock
    from dispatch.demo import seed_demo_service
    from dispatch.referrals.slots import SlotFinder
    from dispatch.rounds import Rounds
    from dispatch.rounds.service import RoundsOptions
    from dispatch.routing import Router
    from dispatch.store import Store
    from dispatch.territory import load_territory

    say = say or (lambda _m: None)
    rng = random.Random(seed)
    territory = load_territory(settings.territory, settings)
    router = Router.for_territory(territory)
    clock = ServiceClock()
    start = clock.today()
    day_list = [
        (dt.date.fromisoformat(start) + dt.timedelta(days=k)).isoformat() for k in range(days)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        seeded = seed_demo_service(store, territory, start_day=start, days=days)
        rounds = Rounds(
            store,
            lambda: (router, territory.id),
            clock=clock,
            options=RoundsOptions(solver_time_limit_s=plan_time_limit_s, solver_searches=1),
        )
        sids = [int(s["id"]) for s in seeded["structures"]]
        say(f"seeded {seeded['patients']} patients, {seeded['staff']} staff, from {start}")
        t0 = time.perf_counter()
        published = 0
        for sid in sids if plan_time_limit_s > 0 else ():
            for day in day_list:
                try:
                    proposal = rounds.optimise(
                        day, by="bench", structure_id=sid, time_limit_s=plan_time_limit_s
                    )
                except Exception as e:  # noqa: BLE001 - a day nobody works has no round
                    say(f"structure {sid} {day}: no round ({e})")
                    continue
                rounds.apply(
                    proposal["plan_id"],
                    by="bench",
                    confirm_dropped=[d["visit_id"] for d in proposal["dropped"]],
                )
                published += 1
        plan_wall = time.perf_counter() - t0
        say(f"{published} rounds published in {plan_wall:.1f} s")
        with store.engine.read() as conn:
            homes = [
                (int(r[0]), float(r[1]), float(r[2]))
                for r in conn.execute(
                    "SELECT structure_id, lon, lat FROM patients"
                    " WHERE lon IS NOT NULL AND lat IS NOT NULL ORDER BY id"
                )
            ]
        # A server just started: no road times kept, no day built (the first request pays).
        fresh = Rounds(store, lambda: (router, territory.id), clock=clock)
        sid, lon, lat = homes[0]
        t0 = time.perf_counter()
        SlotFinder(fresh).propose(
            structure_id=sid, lonlat=(lon, lat), duration_s=1800, from_day=start, days=days, n=n
        )
        cold_s = time.perf_counter() - t0
        finder = SlotFinder(rounds)
        t0 = time.perf_counter()
        for sid in sids:
            for day in day_list:
                finder.prepare(sid, day)
        warm_s = time.perf_counter() - t0
        finder.timings.clear()
        durations: list[float] = []
        found: list[int] = []
        booked: list[float] = []
        taken = 0
        for k in range(requests):
            sid, lon, lat = rng.choice(homes)
            # Near a patient's home (a neighbour), within about 400 m.
            lonlat = (lon + rng.uniform(-0.005, 0.005), lat + rng.uniform(-0.004, 0.004))
            kind = rng.choice(list(TIMES_OF_DAY))
            t1 = time.perf_counter()
            slots = finder.propose(
                structure_id=sid,
                lonlat=lonlat,
                duration_s=rng.choice((20, 30, 45, 60)) * 60,
                from_day=start,
                days=days,
                window_s=TIMES_OF_DAY[kind],
                n=n,
                urgent=rng.random() < 0.2,
            )
            durations.append(time.perf_counter() - t1)
            found.append(len(slots))
            if book_every and (k + 1) % book_every == 0 and slots:
                t1 = time.perf_counter()
                try:
                    finder.book(
                        structure_id=sid,
                        slot_id=slots[0].slot_id,
                        visit_fields={
                            "pseudonym": f"bench {k}",
                            "lon": lonlat[0],
                            "lat": lonlat[1],
                            "duration_s": slots[0].end_s - slots[0].start_s,
                        },
                        by="bench",
                        window_s=TIMES_OF_DAY[kind],
                    )
                except Exception:  # noqa: BLE001 - counted: a slot taken is an answer too
                    taken += 1
                booked.append(time.perf_counter() - t1)
        steps = {k: round(v / requests, 4) for k, v in sorted(finder.timings.items())}
        store.close()
    return {
        "from": start,
        "days": days,
        "structures": len(sids),
        "patients": seeded["patients"],
        "staff": seeded["staff"],
        "rounds_published": published,
        "requests": requests,
        "n": n,
        "p50_s": round(statistics.median(durations), 4),
        "p95_s": round(_quantile(durations, 0.95), 4),
        "max_s": round(max(durations), 4),
        "mean_s": round(statistics.fmean(durations), 4),
        "slots_found_mean": round(statistics.fmean(found), 2),
        "requests_without_slot": sum(1 for f in found if not f),
        "bookings": len(booked),
        "bookings_taken": taken,
        "book_p50_s": round(statistics.median(booked), 4) if booked else None,
        "cold_first_request_s": round(cold_s, 2),
        "warm_build_s": round(warm_s, 2),
        "plan_wall_s": round(plan_wall, 1),
        "step_mean_s": steps,
    }


@click.command()
@click.option("--requests", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--days", type=click.IntRange(1, 14), default=7, show_default=True)
@click.option("--n", type=click.IntRange(1, 20), default=5, show_default=True)
@click.option(
    "--plan-time-limit",
    "plan_time_limit_s",
    type=float,
    default=1.0,
    show_default=True,
    help="Solver seconds for each day's round published before timing (0: publish none,"
    " the slots are then sought in the rota teams' empty rounds).",
)
@click.option(
    "--book-every",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="Book the first slot of every k-th request (0: never).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def slots(
    ctx: click.Context,
    requests: int,
    days: int,
    n: int,
    plan_time_limit_s: float,
    book_every: int,
    as_json: bool,
) -> None:
    """Time referrers' slot requests (n slots over the coming days on the published rounds)
    on the demonstration service: p50 and p95 per request, slots found, where time goes.

    Example: dispatch bench slots --json
    """
    settings = get_settings(ctx)
    say = (lambda m: click.echo(m, err=True)) if not as_json else None
    result = run_slots_bench(
        settings,
        requests=requests,
        days=days,
        n=n,
        plan_time_limit_s=plan_time_limit_s,
        book_every=book_every,
        say=say,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"{result['requests']} requests, {n} slots over {days} days from {result['from']}"
        f" ({result['rounds_published']} rounds published): p50 {result['p50_s']} s,"
        f" p95 {result['p95_s']} s, max {result['max_s']} s; {result['slots_found_mean']}"
        f" slots found on average"
        + (
            f"; {result['bookings']} bookings (p50 {result['book_p50_s']} s)"
            if result["bookings"]
            else ""
        )
    )
    click.echo(
        f"first request of a server just started: {result['cold_first_request_s']} s;"
        f" building the {days} days of the {result['structures']} structures:"
        f" {result['warm_build_s']} s"
    )
    click.echo("per request: " + ", ".join(f"{k} {v} s" for k, v in result["step_mean_s"].items()))
