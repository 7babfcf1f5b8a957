"""`dispatch bench ...`: benchmarks whose figures go to the README's Performance section."""

from __future__ import annotations

import click

from dispatch.cli import LazyGroup

BENCHES = {
    "routing": "dispatch.cli.bench_routing:routing",
    "optimise": "dispatch.cli.bench_optimise:optimise",
    "live": "dispatch.cli.bench_live:live",
    "replan": "dispatch.cli.bench_replan:replan",
    "simulate": "dispatch.cli.bench_simulate:simulate",
    "durability": "dispatch.cli.bench_durability:durability",
    "week": "dispatch.cli.bench_week:week",
    "slots": "dispatch.cli.bench_slots:slots",
}


@click.group(cls=LazyGroup, lazy=BENCHES)
def bench() -> None:
    """Measure speed and memory on this machine (not tests: figures to record).

    Example: dispatch bench routing --territory corse --json
    """
