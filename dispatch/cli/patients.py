"""`dispatch patient`: a patient's data for a subject access request, and the retention purge
of discharged patients' identity (both audited as the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dispatch.cli import get_settings
from dispatch.errors import ValidationError
from dispatch.store import Store
from dispatch.store.core import create_private


def _open(ctx: click.Context) -> Store:
    store = Store(get_settings(ctx).database)
    ctx.call_on_close(store.close)
    return store


@click.group()
def patient() -> None:
    """Patients' records: export for a subject access request, retention purge.

    Example: dispatch patient export 12 --out patient-12.json
    """


@patient.command("export")
@click.argument("patient_id", type=int)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON to this file (readable by its owner only); default: standard output.",
)
@click.pass_context
def export(ctx: click.Context, patient_id: int, out: Path | None) -> None:
    """Everything stored about one patient, as JSON (RGPD art. 15): identity, care plans,
    suspensions, sharings, visits with their details and events, and who read the record.
    The export is written to the audit log.

    Example: dispatch patient export 12 --out patient-12.json
    """
    store = _open(ctx)
    data = store.export_patient(patient_id, structures=None, actor="cli", role="cli")
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    if out is None:
        click.echo(text)
        return
    if out.exists():
        out.unlink()
    create_private(out)
    out.write_text(text + "\n", encoding="utf-8")
    click.echo(f"patient {patient_id}: {len(data['visits'])} visits exported to {out}")


@patient.command("purge")
@click.option(
    "--days",
    type=int,
    help="Erase the identity of records archived more than N days ago (default: the setting"
    " patient_retention_days).",
)
@click.pass_context
def purge(ctx: click.Context, days: int | None) -> None:
    """Erase the identity of discharged patients archived longer than the retention (the
    server does it every hour); pseudonyms, dates and care plans stay.

    Example: dispatch patient purge --days 1095
    """
    settings = get_settings(ctx)
    days = settings.patient_retention_days if days is None else days
    if days < 1:
        raise ValidationError("--days must be at least 1")
    removed = _open(ctx).purge_patients(retention_days=days, actor="cli")
    click.echo(
        f"identity erased from {removed['patients']} patient records archived more than"
        f" {days} days ago ({removed['visits']} visits)"
    )
