"""The optimiser's REST edge on a real small territory: optimise, apply, slots, insert, move."""

from __future__ import annotations

import time

import pytest

from dispatch.settings import Settings

DAY = "2026-11-24"


@pytest.fixture
def world(tmp_path, melun, territory_cache, shared_dir):
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
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    app.config["TESTING"] = True
    a = store.add_team(
        {
            "name": "Équipe A",
            "base_lon": 2.655,
            "base_lat": 48.540,
            "skills": ["insulin"],
            "shift_start": "08:00",
            "shift_end": "13:00",
        }
    )
    b = store.add_team(
        {
            "name": "Équipe B",
            "base_lon": 2.670,
            "base_lat": 48.530,
            "shift_start": "08:00",
            "shift_end": "13:00",
        }
    )
    spots = [
        (2.650, 48.545),
        (2.660, 48.535),
        (2.668, 48.542),
        (2.645, 48.532),
        (2.675, 48.538),
        (2.657, 48.548),
    ]
    rows = []
    for i, (lon, lat) in enumerate(spots):
        rows.append(
            {
                "day": DAY,
                "pseudonym": f"P{i}",
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [["08:00", "12:00"]],
                "skills": ["insulin"] if i == 0 else [],
            }
        )
    rows.append(
        {
            "day": DAY,
            "pseudonym": "PX",
            "lon": 2.66,
            "lat": 48.54,
            "duration_s": 1200,
            "windows": [["09:00", "11:00"]],
            "skills": ["dialyse"],
        }
    )
    visits = store.add_visits(rows)
    user = store.add_user("coord", role="coordinator")
    token = store.create_api_token(user["id"], label="t")
    return app, store, {"Authorization": f"Bearer {token}"}, a, b, visits


def _optimise(client, headers):
    r = client.post("/api/dispatch/optimise", json={"day": DAY, "time_limit_s": 1}, headers=headers)
    assert r.status_code == 202, r.json
    job_id = r.json["job_id"]
    for _ in range(200):
        job = client.get(f"/api/dispatch/jobs/{job_id}", headers=headers).json
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    pytest.fail("optimisation job did not finish in 20 s")


@pytest.mark.slow
def test_optimise_apply_and_live_changes(world):
    """A day is optimised feasibly with reasons, applied, then slots, insertion and moves work."""
    app, store, headers, a, b, visits = world
    client = app.test_client()
    job = _optimise(client, headers)
    assert job["state"] == "done", job
    assert job["violations"] == []
    plan = job["plan"]
    served = {s["visit_id"] for r in plan["routes"] for s in r["stops"] if s["visit_id"]}
    assert len(served) == 6
    (left,) = plan["unassigned"]
    assert "dialyse" in left["message"] and left["label"] == "PX"
    assert any(r["geometry"] for r in plan["routes"] if r["stops"])
    assert job["comparison"]["proposed"]["visits_served"] == 6

    r = client.post(f"/api/dispatch/plans/{job['plan_id']}/apply", headers=headers)
    assert r.status_code == 200 and r.json["applied"]
    assert store.published_plan(DAY)["id"] == job["plan_id"]

    r = client.post(
        "/api/dispatch/slots",
        headers=headers,
        json={"day": DAY, "lon": 2.662, "lat": 48.539, "duration_s": 900, "n": 3},
    )
    assert r.status_code == 200, r.json
    assert 1 <= len(r.json["slots"]) <= 3 and r.json["slots"][0]["team_name"]

    new = store.add_visit(
        {
            "day": DAY,
            "pseudonym": "URG",
            "lon": 2.652,
            "lat": 48.538,
            "duration_s": 900,
            "windows": [["10:00", "12:00"]],
        }
    )
    r = client.post(
        "/api/dispatch/insert",
        headers=headers,
        json={"day": DAY, "visit_id": new["id"]},
    )
    assert r.status_code == 200, r.json
    assert r.json["slot"]["team_id"] in (a["id"], b["id"])
    assert r.json["added"][str(r.json["slot"]["team_id"])] == [new["id"]]
    assert r.json["violations"] == []
    assert store.published_plan(DAY)["id"] == r.json["plan_id"]

    # Moving the insulin visit to the team without the skill is refused with a French reason.
    r = client.post(
        "/api/dispatch/move",
        headers=headers,
        json={"day": DAY, "visit_id": visits[0]["id"], "team_id": b["id"], "position": 0},
    )
    assert r.status_code == 200 and r.json["feasible"] is False
    assert any("compétence" in v for v in r.json["violations"])


def test_bad_requests_get_clear_errors(world):
    """Malformed bodies come back as 400 with the standard error shape, not 500."""
    app, store, headers, *_ = world
    client = app.test_client()
    for path, body in (
        ("/api/dispatch/optimise", {"day": "tomorrow"}),
        ("/api/dispatch/insert", {"day": DAY, "visit_id": "x"}),
        ("/api/dispatch/slots", {"day": DAY, "lon": "a", "lat": 1, "duration_s": 600}),
        ("/api/dispatch/move", {"day": DAY, "visit_id": 1, "team_id": True}),
    ):
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 400, (path, r.json)
        assert r.json["ok"] is False and r.json["error"]
