"""`dispatch visits`: visits generated from the patients' care plans."""

from __future__ import annotations

import json

import click

from dispatch.cli import get_settings


@click.group()
def visits() -> None:
    """Visits generated from care plans (the server also generates them every day).

    Example: dispatch visits generate --from 2026-03-23 --days 14
    """


@visits.command("generate")
@click.option(
    "--from",
    "from_day",
    help="First day, YYYY-MM-DD (default: today in the service's time zone).",
)
@click.option(
    "--days",
    type=int,
    default=None,
    help="Days ahead, 1 to 62 (default: the setting generation_horizon_days, 14).",
)
@click.option(
    "--structure",
    "structure_keys",
    multiple=True,
    help="Only this structure's care plans (id or name; may be repeated). Default: all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def generate(
    ctx: click.Context,
    from_day: str | None,
    days: int | None,
    structure_keys: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create, update and cancel the visits of the care plans over the coming days.

    Running it again creates nothing new; visits edited by hand are kept; a suspension
    cancels its visits; a changed care plan updates its future visits. Nothing before now
    is changed.

    Example: dispatch visits generate --from 2026-03-23 --days 7 --json
    """
    from dispatch.care.service import generate_visits
    from dispatch.store import Store
    from dispatch.store.models import LOCAL_TZ, local_today

    settings = get_settings(ctx)
    store = Store(settings.database)
    ctx.call_on_close(store.close)
    structures = (
        [store.find_structure(key)["id"] for key in structure_keys] if structure_keys else None
    )
    result = generate_visits(
        store,
        from_day=from_day or local_today(LOCAL_TZ),
        days=settings.generation_horizon_days if days is None else days,
        structures=structures,
        tz=LOCAL_TZ,
        actor="cli",
    )
    counts = result.to_dict()
    if as_json:
        click.echo(json.dumps(counts))
        return
    click.echo(
        f"{counts['days']} days from {counts['from']}: {counts['created']} created, "
        f"{counts['updated']} updated, {counts['cancelled']} cancelled, "
        f"{counts['unchanged']} unchanged ({counts['kept']} edited by hand kept), "
        f"{counts['suspended']} not created while patients are away, "
        f"in {counts['duration_s']:.2f} s"
    )
