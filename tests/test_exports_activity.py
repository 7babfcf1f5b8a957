"""The activity export (issue 24) on a small handmade day: visits done with check-in/check-out
and time on site, a missed visit with its reason, a cancelled one, a two-person visit, km of
the published round and of the GPS track; per visit and per day and team; the web route and
`dispatch export`."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from api_world import make_world
from click.testing import CliRunner
from icalendar import Calendar

from dispatch.cli import cli

DAY = "2026-11-23"  # winter time: local = UTC + 1
PARIS = dt.timezone(dt.timedelta(hours=1))


def at(hhmm: str) -> float:
    return dt.datetime.fromisoformat(f"{DAY}T{hhmm}:00").replace(tzinfo=PARIS).timestamp()


def _staff(store, name: str) -> dict:
    return store.add_staff(
        {
            "name": name,
            "contract_h_per_week": 35,
            "rotas": [
                {"start_day": "2026-11-02", "weekdays": "MO,TU,WE,TH,FR", "shift": "07:00-15:00"}
            ],
        },
        structure_id=1,
    )


def build_day(store) -> dict[str, int]:
    """Team A (Anne): V1 done 09:00-09:40, V2 missed (absent), V5 with team B done
    11:00-12:00; team B (Bruno): V3 done 10:00-10:30, V4 cancelled."""
    a, b = _staff(store, "Anne Export")["team_id"], _staff(store, "Bruno Export")["team_id"]

    def visit(pseudonym: str, team: int, window: str, **extra) -> int:
        start, end = window.split("-")
        return store.add_visits(
            [
                {
                    "day": DAY,
                    "pseudonym": pseudonym,
                    "lon": 9.44,
                    "lat": 42.69,
                    "duration_s": 1800,
                    "windows": [[start, end]],
                    "team_id": team,
                    "care_kind": "nursing",
                    "protected": {"name": f"Nom {pseudonym}"},
                    **extra,
                }
            ]
        )[0]["id"]

    v1 = visit("P-ONE", a, "09:00-10:00")
    v2 = visit("P-TWO", a, "09:30-10:30")
    v3 = visit("P-THREE", b, "10:00-11:00")
    v4 = visit("P-FOUR", b, "10:30-11:30")
    v5 = visit("P-FIVE", a, "11:00-12:00")
    store.write(
        lambda conn: conn.execute(
            "UPDATE visits SET partner_team_id = ?, staff_count = 2 WHERE id = ?", (b, v5)
        )
    )
    store.save_plan(
        DAY,
        [
            {
                "team_id": a,
                "stops": [
                    {"visit_id": v1, "start_s": 9 * 3600, "distance_m": 5000},
                    {"visit_id": v2, "start_s": 9 * 3600 + 3000, "distance_m": 3000},
                    {"visit_id": v5, "start_s": 11 * 3600, "distance_m": 2000},
                ],
            },
            {
                "team_id": b,
                "stops": [
                    {"visit_id": v3, "start_s": 10 * 3600, "distance_m": 4000},
                    {"visit_id": v4, "start_s": 10 * 3600 + 2700, "distance_m": 0},
                    {"visit_id": v5, "start_s": 11 * 3600, "distance_m": 1500},
                ],
            },
        ],
        publish=True,
        structure_id=1,
    )
    for vid, team, kind, when in (
        (v1, a, "check_in", "09:00"),
        (v1, a, "check_out", "09:40"),
        (v3, b, "check_in", "10:00"),
        (v3, b, "check_out", "10:30"),
        (v5, a, "check_in", "11:00"),
        (v5, a, "check_out", "12:00"),
    ):
        store.add_visit_event(
            vid, {"kind": kind, "device_time_s": at(when)}, actor="test", team_id=team
        )
    store.add_visit_event(
        v2,
        {"kind": "missed", "reason": "absent", "note": "personne", "device_time_s": at("09:55")},
        actor="test",
        team_id=a,
    )
    store.update_visit(v4, {"status": "cancelled"})
    # Team A's GPS track: 0.009° of latitude north, then back (about 2 × 1,000.8 m).
    store.write(
        lambda conn: conn.executemany(
            "INSERT INTO positions (team_id, device_time_s, server_time_s, lon, lat, flags)"
            " VALUES (?, ?, ?, ?, ?, '')",
            [
                (a, at(t), at(t), 9.44, lat)
                for t, lat in (("08:40", 42.690), ("08:50", 42.699), ("09:45", 42.690))
            ],
        )
    )
    return {"a": a, "b": b, "v1": v1, "v2": v2, "v3": v3, "v4": v4, "v5": v5}


def give_acts(store, ids: dict[str, int]) -> None:
    """V1 comes from an insulin care plan (its label typed by the coordinator), V3 from a
    referrer's request for a wound dressing; the other visits have no act."""
    user = store.add_user("gp-export", role="referrer", password=None, structure_ids=[1])
    patient = store.add_patient(
        {
            "structure_id": 1,
            "family_name": "Plan",
            "given_name": "Anne",
            "lon": 9.44,
            "lat": 42.69,
            "geocode_precision": "manual",
        },
        actor="test",
    )["id"]

    def job(conn):  # type: ignore[no-untyped-def]
        plan = conn.execute(
            "INSERT INTO care_plans (patient_id, structure_id, label, template, active,"
            " created_at_s, updated_at_s) VALUES (?, 1, 'Insuline matin et soir',"
            ' \'{"kind": "insulin"}\', 1, 0, 0)',
            (patient,),
        ).lastrowid
        conn.execute("UPDATE visits SET care_plan_id = ? WHERE id = ?", (plan, ids["v1"]))
        conn.execute(
            "INSERT INTO referrals (structure_id, referrer_id, state, kind, act, care_kind,"
            " visit_id, created_at_s) VALUES (1, ?, 'booked', 'visit', 'dressing', 'nursing',"
            " ?, 0)",
            (user["id"], ids["v3"]),
        )

    store.write(job)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(tmp_path_factory.mktemp("exports"), clock_start="")
    w.ids.update(build_day(w.store))
    give_acts(w.store, w.ids)
    yield w
    w.store.close()


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _get(world, query: str, who: str = "coordinator"):
    return world.app.test_client().get(
        f"/api/exports/activity.csv?{query}", headers=world.headers(who)
    )


def test_per_visit_lines(world):
    r = _get(world, f"from={DAY}&to={DAY}&detail=visits")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Cache-Control"].startswith("no-store")
    rows = _rows(r.data)
    assert rows[0] == [
        "jour",
        "équipe",
        "visite",
        "patient (pseudonyme)",
        "soin",
        "acte",
        "résultat",
        "heure prévue",
        "arrivée (check-in)",
        "départ (check-out)",
        "minutes sur place",
        "motif si manquée",
        "km prévus pour s'y rendre",
    ]
    by = {row[3]: row for row in rows[1:]}
    assert set(by) == {
        "P-ONE",
        "P-TWO",
        "P-THREE",
        "P-FOUR",
        "P-FIVE",
        "Patient 0A0A",
        "Patient 0B0B",
        "Patient 0C0C",
    }
    one = by["P-ONE"]
    assert one[:2] == [DAY, "Anne Export"] and one[6] == "réalisée"
    # The kind of care in words, the act as the patients screen names the plan's kind.
    assert one[4:6] == ["Soins infirmiers", "Insuline"]
    assert one[7:13] == ["09:00", "09:00", "09:40", "40", "", "5,0"]
    assert by["P-THREE"][4:6] == ["Soins infirmiers", "Pansement"]  # the referrer's act
    assert by["P-TWO"][4:6] == ["Soins infirmiers", ""]  # no plan, no request: no act
    assert by["P-TWO"][6] == "manquée" and by["P-TWO"][11] == "patient absent"
    assert by["P-TWO"][8:11] == ["", "", ""]
    assert by["P-FOUR"][6] == "annulée"
    assert by["P-FIVE"][1] == "Anne Export + Bruno Export" and by["P-FIVE"][10] == "60"
    assert not any(cell in ("nursing", "insulin", "dressing") for row in rows for cell in row)
    # Pseudonyms only: never a name.
    assert "Nom " not in r.data.decode("utf-8-sig")


def test_summary_per_day_and_team_with_totals(world):
    rows = _rows(_get(world, f"from={DAY}&to={DAY}&detail=summary").data)
    assert rows[0] == [
        "jour",
        "équipe",
        "visites prévues",
        "visites réalisées",
        "visites manquées",
        "visites annulées",
        "patients vus",
        "heures sur place",
        "km prévus (tournée publiée)",
        "km parcourus (trace GPS)",
    ]
    by = {row[1]: row for row in rows[1:-1]}
    assert by["Anne Export"] == [DAY, "Anne Export", "3", "2", "1", "0", "2", "1,67", "10,0", "2,0"]
    assert by["Bruno Export"] == [DAY, "Bruno Export", "2", "2", "0", "1", "2", "1,50", "5,5", ""]
    total = rows[-1]
    # The api world's own three visits of the day (not recorded) count as planned.
    assert total[:2] == ["TOTAL", ""]
    assert total[3:8] == ["3", "1", "1", "3", "2,17"]
    assert total[8] == "15,5" and total[9] == "2,0"


def test_english_visit_lines_name_care_and_act_in_english(world):
    rows = _rows(_get(world, f"from={DAY}&to={DAY}&detail=visits&lang=en").data)
    assert rows[0][3:7] == ["patient (pseudonym)", "care", "care act", "outcome"]
    by = {row[3]: row for row in rows[1:]}
    assert by["P-ONE"][4:7] == ["Nursing care", "Insulin", "done"]
    assert by["P-THREE"][4:6] == ["Nursing care", "Wound dressing"]
    assert by["P-ONE"][12] == "5.0"


def test_english_headers_and_audit(world):
    rows = _rows(_get(world, f"from={DAY}&to={DAY}&detail=summary&lang=en").data)
    assert rows[0][0:4] == ["day", "team", "visits planned", "visits done"]
    assert {r[1]: r for r in rows}["Anne Export"][7] == "1.67"
    audit = list(world.store.list_audit(target="structure:1"))
    assert audit[0]["action"] == "activity.export"


def test_refusals(world):
    assert _get(world, f"from={DAY}&to=2026-11-01").status_code == 400
    assert _get(world, "from=2025-01-01&to=2026-11-23").status_code == 400
    assert _get(world, f"from={DAY}&detail=everything").status_code == 400
    assert _get(world, f"from={DAY}&structure_id=2").status_code in (403, 404)
    for who in ("planner", "admin", "member_a", "device_b"):
        assert _get(world, f"from={DAY}", who).status_code == 403, who
    assert world.app.test_client().get("/api/exports/activity.csv").status_code == 401


def test_cli_activity_and_week(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from dispatch.settings import load_settings
    from dispatch.store import Store

    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))
    with Store(load_settings(None).database) as store:
        ids = build_day(store)
    run = CliRunner()
    out = tmp_path / "activite.csv"
    result = run.invoke(
        cli,
        [
            "export",
            "activity",
            "--from",
            DAY,
            "--to",
            DAY,
            "--structure",
            "1",
            "--detail",
            "summary",
            "-o",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = _rows(out.read_bytes())
    assert rows[-1][:6] == ["TOTAL", "", "4", "3", "1", "1"]
    result = run.invoke(
        cli,
        ["export", "activity", "--from", DAY, "--to", DAY, "--structure", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0 and "P-ONE" in result.output
    ics = tmp_path / "semaine.ics"
    result = run.invoke(
        cli,
        ["export", "week", "--from", DAY, "--structure", "1", "-o", str(ics)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    events = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert {str(e["uid"]) for e in events} == {
        f"visit-{ids[k]}@dispatch" for k in ("v1", "v2", "v3", "v4", "v5")
    }
    bad = run.invoke(
        cli, ["export", "activity", "--from", DAY, "--to", "2026-11-01", "--structure", "1"]
    )
    assert bad.exit_code != 0 and "before" in bad.output
    with Store(load_settings(None).database) as store:
        assert [a["actor"] for a in store.list_audit(target="structure:1")][:3] == ["cli"] * 3


def test_cells_a_spreadsheet_would_run_as_formulas_are_quoted():
    from dispatch.exports.activity import to_csv

    data = to_csv(["a", "b", "c"], [["=HYPERLINK(1)", "-12,5", "@cmd"]])
    assert _rows(data)[1] == ["'=HYPERLINK(1)", "-12,5", "'@cmd"]
