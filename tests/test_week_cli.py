"""`dispatch plan week --from D --days N --structure S [--apply] [--json]`: the structure's
days planned as the week API plans them, each a draft, published with --apply."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.settings import load_settings
from dispatch.store import Store

pytestmark = pytest.mark.slow

MONDAY, TUESDAY = "2027-01-04", "2027-01-05"
BASE = (2.6555, 48.5400)
HOMES = [(2.6600, 48.5430), (2.6450, 48.5350)]


@pytest.fixture
def world(tmp_path, monkeypatch, melun, territory_cache, shared_dir):
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DISPATCH_CACHE_DIR", str(territory_cache))
    monkeypatch.setenv("DISPATCH_DATA_PATH", str(shared_dir / "territories"))
    monkeypatch.setenv("DISPATCH_TERRITORY", "melun")
    monkeypatch.setenv("DISPATCH_CLOCK_START", "2027-01-03T18:00:00+01:00")
    monkeypatch.setenv("DISPATCH_WEEK_DAY_TIME_LIMIT_S", "0.5")
    monkeypatch.setenv("DISPATCH_SOLVER_SEARCHES", "1")
    store = Store(load_settings(None).database)
    store.add_staff(
        {
            "name": "Marie",
            "gender": "female",
            "contract_h_per_week": 35,
            "rotas": [
                {"start_day": "2026-12-28", "weekdays": "MO,TU,WE,TH,FR", "shift": "07:00-15:00"}
            ],
            "base_lon": BASE[0],
            "base_lat": BASE[1],
        },
        structure_id=1,
    )
    for day in (MONDAY, TUESDAY):
        for i, (lon, lat) in enumerate(HOMES):
            store.add_visit(
                {
                    "day": day,
                    "pseudonym": f"P-{i}",
                    "lon": lon,
                    "lat": lat,
                    "duration_s": 1200,
                    "windows": [["09:00", "12:00"]],
                },
                structure_id=1,
            )
    store.close()


def test_plan_week_drafts_then_applies_the_days(world):
    runner = CliRunner()
    drafted = runner.invoke(cli, ["plan", "week", "--from", MONDAY, "--days", "2", "--json"])
    assert drafted.exit_code == 0, drafted.output
    result = json.loads(drafted.output)
    assert [d["day"] for d in result["days"]] == [MONDAY, TUESDAY]
    assert all(d["plan_id"] and d["visits"] == 2 and d["unassigned"] == 0 for d in result["days"])
    assert result["applied"] == []
    store = Store(load_settings(None).database)
    try:
        assert store.published_plan(MONDAY, structure_id=1) is None
    finally:
        store.close()

    applied = runner.invoke(cli, ["plan", "week", "--from", MONDAY, "--days", "2", "--apply"])
    assert applied.exit_code == 0, applied.output
    assert f"applied: {MONDAY}, {TUESDAY}" in applied.output
    store = Store(load_settings(None).database)
    try:
        assert store.published_plan(TUESDAY, structure_id=1) is not None
    finally:
        store.close()
    past = runner.invoke(cli, ["plan", "week", "--from", "2027-01-01"])
    assert past.exit_code != 0 and "the past is not re-planned" in past.output
