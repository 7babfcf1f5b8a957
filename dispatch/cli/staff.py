"""`dispatch staff`: staff, their absences and the week, from the server's shell."""

from __future__ import annotations

import json
from typing import Any

import click

from dispatch.cli import get_settings


def _open(ctx: click.Context) -> Any:
    from dispatch.store import Store

    store = Store(get_settings(ctx).database)
    ctx.call_on_close(store.close)
    return store


def _structures(store: Any, keys: tuple[str, ...]) -> list[int] | None:
    return [store.find_structure(key)["id"] for key in keys] if keys else None


_STRUCTURE = click.option(
    "--structure",
    "structure_keys",
    multiple=True,
    help="Only this structure (id or name; may be repeated). Default: all.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def staff() -> None:
    """Staff with their rotas and absences, and the week's hours.

    Example: dispatch staff week --from 2026-03-23
    """


@staff.command("list")
@_STRUCTURE
@_JSON
@click.pass_context
def staff_list(ctx: click.Context, structure_keys: tuple[str, ...], as_json: bool) -> None:
    """Staff of the structures, by name.

    Example: dispatch staff list --structure "SSIAD du Cap" --json
    """
    store = _open(ctx)
    people = store.list_staff(structures=_structures(store, structure_keys))
    if as_json:
        click.echo(json.dumps(people, ensure_ascii=False))
        return
    for p in people:
        absences = ", ".join(f"{a['kind']} {a['from_day']}..{a['to_day']}" for a in p["absences"])
        click.echo(
            f"{p['id']:>5}  {p['name']:<30} {p['job'] or '':<12} {p['contract_h_per_week']:>5g} h"
            f"  team {p['team_id']}{'  ' + absences if absences else ''}"
        )


@staff.command("week")
@click.option("--from", "from_day", help="First day, YYYY-MM-DD (default: today).")
@click.option("--days", type=int, default=7, show_default=True, help="Days shown (1 to 62).")
@_STRUCTURE
@_JSON
@click.pass_context
def staff_week(
    ctx: click.Context,
    from_day: str | None,
    days: int,
    structure_keys: tuple[str, ...],
    as_json: bool,
) -> None:
    """Each member of staff's hours rostered against their contract, and visits per day.

    Example: dispatch staff week --from 2026-03-23 --days 7
    """
    from dispatch.care.week import week_of
    from dispatch.store.models import LOCAL_TZ, local_today

    store = _open(ctx)
    view = week_of(
        store,
        from_day=from_day or local_today(LOCAL_TZ),
        days=days,
        structures=_structures(store, structure_keys),
        tz=LOCAL_TZ,
    )
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False))
        return
    click.echo(
        f"{'':<30} {'contract':>8} {'rostered':>8} {'visits':>7}  "
        + " ".join(d[5:] for d in view["days"])
    )
    for row in view["staff"]:
        cells = " ".join(
            f"{'abs' if c['absence'] else (c['visits'] if c['shift'] else '-'):>5}"
            for c in row["cells"]
        )
        click.echo(
            f"{row['name'][:30]:<30} {row['contract_h_per_week']:>7g}h {row['rostered_h']:>7g}h"
            f" {row['visit_h']:>6g}h  {cells}"
        )
    waiting = sum(u["count"] for u in view["unassigned"])
    click.echo(f"visits of no team: {waiting}")


@staff.command("absence")
@click.argument("staff_id", type=int)
@click.option(
    "--kind", type=click.Choice(["leave", "sickness", "training"]), required=True, help="Why."
)
@click.option("--from", "from_day", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "to_day", help="Last day, YYYY-MM-DD (default: the first).")
@click.option("--part", help="Only these hours of each day, e.g. 13:00-15:00.")
@click.option("--note", help="A note for the coordinators.")
@click.option("--dry-run", is_flag=True, help="Show the impact only, record nothing.")
@click.option("--locale", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.pass_context
def staff_absence(
    ctx: click.Context,
    staff_id: int,
    kind: str,
    from_day: str,
    to_day: str | None,
    part: str | None,
    note: str | None,
    dry_run: bool,
    locale: str,
) -> None:
    """Record leave, sickness or training and print the visits it leaves to reassign.

    Example: dispatch staff absence 12 --kind sickness --from 2026-03-26
    """
    from dispatch.care.week import absence_impact_of

    store = _open(ctx)
    body: dict[str, Any] = {"kind": kind, "from_day": from_day, "to_day": to_day, "part": part}
    if note:
        body["note"] = note
    if not dry_run:
        absence = store.add_absence(staff_id, body, actor="cli")
        click.echo(f"absence {absence['id']} recorded")
    impact = absence_impact_of(store, staff_id, body, locale=locale)
    click.echo(impact["message"])
    for day in impact["days"]:
        if day["count"]:
            click.echo(f"  {day['day']}: visits {', '.join(map(str, day['visit_ids']))}")


@staff.command("cancel-absence")
@click.argument("staff_id", type=int)
@click.argument("absence_id", type=int)
@click.pass_context
def staff_cancel_absence(ctx: click.Context, staff_id: int, absence_id: int) -> None:
    """Cancel an absence: the rota applies again.

    Example: dispatch staff cancel-absence 12 40
    """
    _open(ctx).cancel_absence(staff_id, absence_id)
    click.echo(f"absence {absence_id} cancelled")
