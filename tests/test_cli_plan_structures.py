"""`dispatch plan --day DAY --structure ID|NAME`: each structure plans its own day."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.settings import load_settings
from dispatch.store import Store

pytestmark = pytest.mark.slow

DAY = "2027-01-04"
BASE = (2.6555, 48.5400)
HOMES = [(2.6600, 48.5430), (2.6450, 48.5350)]


@pytest.fixture
def world(tmp_path, monkeypatch, melun, territory_cache, shared_dir):
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DISPATCH_CACHE_DIR", str(territory_cache))
    monkeypatch.setenv("DISPATCH_DATA_PATH", str(shared_dir / "territories"))
    monkeypatch.setenv("DISPATCH_TERRITORY", "melun")
    monkeypatch.setenv("DISPATCH_CLOCK_START", "2027-01-03T18:00:00+01:00")
    store = Store(load_settings(None).database)
    other = store.add_structure({"name": "SSIAD B", "kind": "ssiad"})["id"]
    for structure_id, name in ((1, "Équipe A"), (other, "Équipe B")):
        store.add_team(
            {"name": name, "base_lon": BASE[0], "base_lat": BASE[1]}, structure_id=structure_id
        )
        for i, (lon, lat) in enumerate(HOMES):
            store.add_visit(
                {
                    "day": DAY,
                    "pseudonym": f"{name} patient {i}",
                    "lon": lon,
                    "lat": lat,
                    "duration_s": 1200,
                    "windows": [["09:00", "12:00"]],
                },
                structure_id=structure_id,
            )
    store.close()
    return {"other": other}


def test_plan_names_the_structure_when_there_are_several(world):
    runner = CliRunner()
    unnamed = runner.invoke(cli, ["plan", "--day", DAY, "--time-limit", "1"])
    assert unnamed.exit_code != 0
    assert "structure" in unnamed.output

    named = runner.invoke(
        cli, ["plan", "--day", DAY, "--structure", "SSIAD B", "--time-limit", "1", "--json"]
    )
    assert named.exit_code == 0, named.output
    routes = json.loads(named.output)["plan"]["routes"]
    assert {r["team_name"] for r in routes} == {"Équipe B"}
    planned = {s.get("label") for r in routes for s in r["stops"] if s["kind"] == "visit"}
    assert planned == {"Équipe B patient 0", "Équipe B patient 1"}

    unknown = runner.invoke(cli, ["plan", "--day", DAY, "--structure", "Nulle part"])
    assert unknown.exit_code != 0 and "Nulle part" in unknown.output
