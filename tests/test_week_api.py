"""The week planning's REST edge on Melun's roads: a coordinator plans two days (a background
job with its progress), each day a draft that keeps each patient with one nurse and never
sends a nurse the patient excluded; applying publishes both days; continuity and hours read
the published week (the patients' read audited); the past and others' jobs are refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dispatch.settings import Settings
from tests.generation_support import execute

pytestmark = pytest.mark.slow

MONDAY, TUESDAY = "2027-01-04", "2027-01-05"
EVE = "2027-01-03T18:00:00+01:00"
BASE = (2.6555, 48.5400)
HOMES = [(2.6600, 48.5430), (2.6450, 48.5350), (2.6700, 48.5480), (2.6380, 48.5460)]


@pytest.fixture
def world(tmp_path: Any, melun: Any, territory_cache: Any, shared_dir: Any):  # type: ignore[no-untyped-def]
    from dispatch.store import Store
    from dispatch.web.app import create_app
    from tests.api_world import fast_password_hashing

    fast_password_hashing()
    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="t",
        territory="melun",
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories",),
        clock_start=EVE,
        server="threading",
        solver_searches=1,
        week_day_time_limit_s=0.5,
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    app.config["TESTING"] = True
    user = store.add_user("coord", role="coordinator")
    token = store.create_api_token(user["id"], label="t")
    nurses = [
        store.add_staff(
            {
                "name": name,
                "gender": "female",
                "skills": ["insulin"],
                "contract_h_per_week": 35,
                "rotas": [
                    {
                        "start_day": "2026-12-28",
                        "weekdays": "MO,TU,WE,TH,FR",
                        "shift": "07:00-15:00",
                    }
                ],
                "base_lon": BASE[0],
                "base_lat": BASE[1],
            },
            structure_id=1,
        )
        for name in ("Marie", "Claire")
    ]
    patients = store.add_patients(
        [
            {
                "structure_id": 1,
                "pseudonym": f"P-{i}",
                "family_name": f"Patient{i}",
                "given_name": "Test",
                "birth_date": "1940-01-01",
                "sex": "female",
                "lon": lon,
                "lat": lat,
                "geocode_precision": "street",
            }
            for i, (lon, lat) in enumerate(HOMES)
        ],
        actor="test",
        today="2027-01-03",
    )
    visits = store.add_visits(
        [
            {
                "day": day,
                "pseudonym": f"P-{i}",
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [["08:00", "12:00"]],
            }
            for day in (MONDAY, TUESDAY)
            for i, (lon, lat) in enumerate(HOMES)
        ],
        structure_id=1,
    )
    for k, v in enumerate(visits):
        execute(
            store,
            "UPDATE visits SET patient_id = ? WHERE id = ?",
            (patients[k % len(HOMES)]["id"], v["id"]),
        )
    # The first patient asked not to see Marie.
    refused = [v["id"] for k, v in enumerate(visits) if k % len(HOMES) == 0]
    for vid in refused:
        execute(
            store,
            "UPDATE visits SET wishes = ? WHERE id = ?",
            (json.dumps({"excluded_staff_ids": [nurses[0]["id"]]}), vid),
        )
    yield {
        "client": app.test_client(),
        "headers": {"Authorization": f"Bearer {token}"},
        "store": store,
        "nurses": nurses,
        "visits": visits,
        "refused": refused,
        "patients": patients,
    }
    store.close()


def _wait(client: Any, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = client.get(f"/api/week/plan/{job_id}", headers=headers).get_json()
        if body["state"] != "running":
            return dict(body)
        time.sleep(0.2)
    raise AssertionError("the week planning did not end")


def test_a_coordinator_plans_applies_and_reads_the_week(world: Any) -> None:
    client, headers, store = world["client"], world["headers"], world["store"]
    r = client.post("/api/week/plan", json={"from": MONDAY, "days": 2}, headers=headers)
    assert r.status_code == 202, r.get_json()
    job = _wait(client, headers, r.get_json()["job_id"])
    assert job["state"] == "done", job
    assert job["done_days"] == job["total_days"] == 2
    days = job["result"]["days"]
    assert [d["day"] for d in days] == [MONDAY, TUESDAY]
    assert all(d["error"] is None and d["plan_id"] for d in days), days
    assert all(d["visits"] == 4 and d["unassigned"] == 0 for d in days)
    proposed = job["result"]["comparison"]["proposed"]
    assert proposed["planned"] == 8 and proposed["violations"] == 0
    assert proposed["distinct_staff_per_patient"] == 1.0
    marie_team = world["nurses"][0]["team_id"]
    team_of: dict[int, set[int]] = {}
    patient = {v["id"]: k % len(HOMES) for k, v in enumerate(world["visits"])}
    for d in days:
        draft = store.get_plan(d["plan_id"])
        assert draft["status"] == "draft"
        for route in draft["routes"]:
            for stop in route["stops"]:
                # Never the nurse the patient excluded.
                assert not (route["team_id"] == marie_team and stop["visit_id"] in world["refused"])
                team_of.setdefault(patient[stop["visit_id"]], set()).add(route["team_id"])
    # Each patient keeps one nurse over the two days.
    assert all(len(teams) == 1 for teams in team_of.values()), team_of

    applied = client.post(
        f"/api/week/plan/{job['job_id']}/apply", json={}, headers=headers
    ).get_json()
    assert applied == {"ok": True, "applied": [MONDAY, TUESDAY], "refused": []}
    assert store.published_plan(MONDAY, structure_id=1)["id"] == days[0]["plan_id"]
    # Applied again (once some day's drops are confirmed): the days done stay applied.
    again = client.post(f"/api/week/plan/{job['job_id']}/apply", json={}, headers=headers)
    assert again.get_json() == applied

    continuity = client.get(
        f"/api/week/continuity?from={MONDAY}&days=2", headers=headers
    ).get_json()
    assert continuity["mean_distinct_staff"] == 1.0
    assert len(continuity["patients"]) == 4
    first = next(p for p in continuity["patients"] if p["patient_id"] == world["patients"][0]["id"])
    assert first["name"] == "Test Patient0" and first["visits"] == 2
    assert [s["name"] for s in first["staff"]] == ["Claire"]
    audit = [a for a in store.list_audit(limit=50) if a["action"] == "patient.read"]
    assert audit, "the read of the patients' names is audited"

    hours = client.get(f"/api/week/hours?from={MONDAY}&days=2", headers=headers).get_json()
    by_name = {s["name"]: s for s in hours["staff"]}
    assert set(by_name) == {"Marie", "Claire"}
    claire = by_name["Claire"]
    assert claire["rota_h"] == 16.0 and claire["contract_h"] == 14.0
    assert [d["day"] for d in claire["days"]] == [MONDAY, TUESDAY]
    assert claire["planned_h"] > 0


def test_the_past_and_unknown_jobs_are_refused(world: Any) -> None:
    client, headers = world["client"], world["headers"]
    past = client.post("/api/week/plan", json={"from": "2027-01-02"}, headers=headers)
    assert past.status_code == 400
    assert "2027-01-03" in past.get_json()["error"]
    french = client.post(
        "/api/week/plan", json={"from": "2027-01-02"}, headers={**headers, "Accept-Language": "fr"}
    )
    assert french.get_json()["error"] == (
        "le 2027-01-02 est passé : planifiez à partir d'aujourd'hui (2027-01-03), le passé ne"
        " se replanifie pas"
    )
    assert (
        client.post(
            "/api/week/plan", json={"from": MONDAY, "days": 15}, headers=headers
        ).status_code
        == 400
    )
    # Today (a Sunday nobody works) is planned from now: the day says why it has no draft,
    # in the request's language.
    for language, said in (("en", "no team works on 2027-01-03"), ("fr", "aucune équipe ne")):
        sunday = client.post(
            "/api/week/plan",
            json={"from": "2027-01-03", "days": 1},
            headers={**headers, "Accept-Language": language},
        )
        assert sunday.status_code == 202
        job = _wait(client, headers, sunday.get_json()["job_id"])
        assert job["state"] == "done"
        (day,) = job["result"]["days"]
        assert day["plan_id"] is None and day["error"].startswith(said), day
    missing = client.get("/api/week/plan/" + "0" * 32, headers=headers)
    assert missing.status_code == 404
    assert (
        client.post("/api/week/plan/" + "0" * 32 + "/apply", json={}, headers=headers).status_code
        == 404
    )


def test_a_hospitalisation_replans_the_days_the_patient_was_in(world: Any) -> None:
    client, headers, store = world["client"], world["headers"], world["store"]
    monday = [v["id"] for v in world["visits"][: len(HOMES)]]
    claire = world["nurses"][1]["team_id"]
    store.save_plan(
        MONDAY,
        [{"team_id": claire, "stops": [{"visit_id": v, "arrival_s": 30000} for v in monday]}],
        publish=True,
        structure_id=1,
    )
    patient = world["patients"][1]["id"]
    execute(store, "UPDATE visits SET status = 'cancelled' WHERE id = ?", (monday[1],))
    r = client.post(
        "/api/week/replan-patient",
        json={"patient_id": patient, "from": MONDAY, "to": TUESDAY},
        headers=headers,
    )
    assert r.status_code == 200, r.get_json()
    (day,) = r.get_json()["days"]  # Tuesday had no published plan: left alone
    assert day["day"] == MONDAY and day["moves"] == [] and day["dropped"] == []
    draft = store.get_plan(day["plan_id"])
    assert sorted(s["visit_id"] for r in draft["routes"] for s in r["stops"]) == sorted(
        v for v in monday if v != monday[1]
    )
    missing = client.post(
        "/api/week/replan-patient", json={"patient_id": 99999, "from": MONDAY}, headers=headers
    )
    assert missing.status_code == 404
