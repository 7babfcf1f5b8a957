"""`dispatch staff`: list, the week, an absence with its impact, its cancellation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.settings import load_settings
from dispatch.store import Store


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_staff_commands(run) -> None:  # type: ignore[no-untyped-def]
    with Store(load_settings(None).database) as store:
        marie = store.add_staff(
            {
                "name": "Marie",
                "gender": "female",
                "contract_h_per_week": 35,
                "rotas": [
                    {
                        "start_day": "2027-01-04",
                        "weekdays": "MO,TU,WE,TH,FR",
                        "shift": "07:00-15:00",
                    }
                ],
            },
            structure_id=1,
        )
        (vid,) = [
            v["id"]
            for v in store.add_visits(
                [
                    {
                        "day": "2027-01-07",
                        "pseudonym": "P-1",
                        "lon": 9.4,
                        "lat": 42.7,
                        "duration_s": 1800,
                        "windows": "08:00-09:00",
                        "team_id": marie["team_id"],
                    }
                ]
            )
        ]
    listed = run("staff", "list", "--json")
    assert [p["name"] for p in json.loads(listed.output)] == ["Marie"]
    assert "Marie" in run("staff", "list").output
    week = run("staff", "week", "--from", "2027-01-04", "--json")
    (row,) = json.loads(week.output)["staff"]
    assert row["rostered_h"] == 40 and row["cells"][3]["visits"] == 1
    assert "Marie" in run("staff", "week", "--from", "2027-01-04").output
    dry = run(
        "staff",
        "absence",
        str(marie["id"]),
        "--kind",
        "sickness",
        "--from",
        "2027-01-07",
        "--dry-run",
    )
    assert "Marie absente jeudi 7 janvier : 1 visite à réaffecter" in dry.output
    assert f"2027-01-07: visits {vid}" in dry.output
    done = run(
        "staff",
        "absence",
        str(marie["id"]),
        "--kind",
        "sickness",
        "--from",
        "2027-01-07",
        "--locale",
        "en",
    )
    assert "absence 1 recorded" in done.output
    assert "Marie absent on Thursday 7 January: 1 visit to reassign" in done.output
    again = CliRunner().invoke(
        cli, ["staff", "absence", str(marie["id"]), "--kind", "leave", "--from", "2027-01-07"]
    )
    assert again.exit_code != 0 and "already absent" in again.output
    assert "absence 1 cancelled" in run("staff", "cancel-absence", str(marie["id"]), "1").output
