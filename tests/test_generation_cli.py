"""`dispatch visits generate --from DAY --days N [--structure ID] [--json]` (issue 22, item 5)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.settings import load_settings
from dispatch.store import Store
from dispatch.store.models import local_today
from tests.generation_support import add_care_plan, add_patient, add_structure, sql


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))
    store = Store(load_settings(None).database)
    mine = add_structure(store, "SSIAD de Bastia")
    other = add_structure(store, "Centre de soins de Corte", "nursing_centre")
    add_care_plan(store, add_patient(store, mine), mine)
    add_care_plan(store, add_patient(store, other, "Patient FFFF"), other, windows=["10:00-11:00"])
    store.close()
    return {"mine": mine, "other": other, "db": load_settings(None).database}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def tomorrow() -> str:
    return (dt.date.fromisoformat(local_today()) + dt.timedelta(days=1)).isoformat()


def test_json_gives_created_unchanged_cancelled(world):
    first = invoke("visits", "generate", "--from", tomorrow(), "--days", "7", "--json")
    assert first.exit_code == 0, first.output
    counts = json.loads(first.output)
    assert {k: counts[k] for k in ("created", "unchanged", "cancelled", "updated", "days")} == {
        "created": 21,  # two visits a day and one a day, 7 days
        "unchanged": 0,
        "cancelled": 0,
        "updated": 0,
        "days": 7,
    }
    assert counts["from"] == tomorrow() and counts["duration_s"] >= 0
    again = json.loads(
        invoke("visits", "generate", "--from", tomorrow(), "--days", "7", "--json").output
    )
    assert (again["created"], again["unchanged"]) == (0, 21)


def test_one_structure_by_id_or_name_and_text_output(world):
    out = invoke(
        "visits", "generate", "--from", tomorrow(), "--days", "2", "--structure", str(world["mine"])
    )
    assert out.exit_code == 0, out.output
    assert "2 days from" in out.output and "4 created" in out.output
    out = invoke(
        "visits",
        "generate",
        "--from",
        tomorrow(),
        "--days",
        "2",
        "--structure",
        "Centre de soins de Corte",
        "--json",
    )
    assert json.loads(out.output)["created"] == 2
    store = Store(world["db"])
    try:
        assert {r["structure_id"] for r in sql(store, "SELECT structure_id FROM visits")} == {
            world["mine"],
            world["other"],
        }
    finally:
        store.close()


def test_the_default_horizon_is_the_setting(world, monkeypatch):
    monkeypatch.setenv("DISPATCH_GENERATION_HORIZON_DAYS", "3")
    counts = json.loads(invoke("visits", "generate", "--from", tomorrow(), "--json").output)
    assert (counts["days"], counts["created"]) == (3, 9)


def test_bad_input_says_what_to_fix(world):
    out = CliRunner().invoke(cli, ["visits", "generate", "--from", tomorrow(), "--days", "100"])
    assert out.exit_code != 0 and "give 1 to 62 days" in out.output
    out = CliRunner().invoke(cli, ["visits", "generate", "--from", "demain"])
    assert out.exit_code != 0 and "YYYY-MM-DD" in out.output
    out = CliRunner().invoke(cli, ["visits", "generate", "--structure", "HAD de Nulle-part"])
    assert out.exit_code != 0 and "does not exist" in out.output
