"""`dispatch export`: a structure's activity CSV and its week as iCalendar, from the shell.

Both go through the same service as the web exports (:mod:`dispatch.exports.service`) and
are written to the audit log (actor ``cli``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from dispatch.cli import get_settings


def _open(ctx: click.Context) -> Any:
    from dispatch.store import Store

    store = Store(get_settings(ctx).database)
    ctx.call_on_close(store.close)
    return store


def _place(ctx: click.Context) -> Any:
    from dispatch.clock import ServiceClock
    from dispatch.exports.service import Place

    settings = get_settings(ctx)
    clock = ServiceClock(start=settings.clock_start)
    host = urlsplit(settings.public_url).hostname if settings.public_url else None
    return clock, Place(
        timezone=clock.tz.key, offset_s=clock.offset_s, uid_domain=host or "dispatch"
    )


def _write(data: bytes, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    assert output is not None
    Path(output).write_bytes(data)
    click.echo(f"written {output} ({len(data)} bytes)", err=True)


_STRUCTURE = click.option(
    "--structure", "structure_key", required=True, help="The structure (id or name)."
)
_LANG = click.option(
    "--lang",
    type=click.Choice(["fr", "en"]),
    default="fr",
    show_default=True,
    help="Language of the headers and texts.",
)


@click.group()
def export() -> None:
    """Files for the funder and for calendars: activity CSV, a week as iCalendar.

    Example: dispatch export activity --from 2026-11-01 --to 2026-11-30 --structure 1 -o nov.csv
    """


@export.command("activity")
@click.option("--from", "from_day", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "to_day", required=True, help="Last day (included), YYYY-MM-DD.")
@_STRUCTURE
@click.option(
    "--detail",
    type=click.Choice(["visits", "summary"]),
    default="visits",
    show_default=True,
    help="One line per visit, or per day and team with a total.",
)
@_LANG
@click.option("-o", "--output", help="File to write (default: standard output).")
@click.pass_context
def export_activity(
    ctx: click.Context,
    from_day: str,
    to_day: str,
    structure_key: str,
    detail: str,
    lang: str,
    output: str | None,
) -> None:
    """A structure's activity for a period as CSV (semicolons, UTF-8 with BOM): visits done
    with check-in, check-out and time on site, missed visits with their reason, km.

    Example: dispatch export activity --from 2026-11-01 --to 2026-11-30 --structure 1 --detail summary
    """
    from dispatch.exports.service import Who, activity

    store = _open(ctx)
    structure = store.find_structure(structure_key)
    _, place = _place(ctx)
    data = activity(
        store,
        int(structure["id"]),
        from_day=from_day,
        to_day=to_day,
        detail=detail,
        who=Who("cli", "cli", None, "cli"),
        place=place,
        locale=lang,
    )
    _write(data, output)


@export.command("week")
@click.option("--from", "from_day", help="First day, YYYY-MM-DD (default: today).")
@_STRUCTURE
@_LANG
@click.option(
    "-o", "--output", required=True, help="The .ics file to write ('-': standard output)."
)
@click.pass_context
def export_week(
    ctx: click.Context, from_day: str | None, structure_key: str, lang: str, output: str
) -> None:
    """A structure's week (7 days) as an iCalendar file, patients by pseudonym.

    Example: dispatch export week --from 2026-11-23 --structure 1 -o semaine.ics
    """
    from dispatch.exports.service import Who, structure_week

    store = _open(ctx)
    structure = store.find_structure(structure_key)
    clock, place = _place(ctx)
    data = structure_week(
        store,
        int(structure["id"]),
        from_day=from_day or clock.today(),
        who=Who("cli", "cli", None, "cli"),
        place=place,
        locale=lang,
    )
    _write(data, output)
