"""Issue 21, items 12 and 17: the API contract (405 with Allow, bounded echoes of input) and
one bad record never breaking the day for the others."""

from __future__ import annotations

import pytest
from api_world import make_world


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.store.close()


# -- item 17: the API contract ------------------------------------------------------------------
def test_405_names_the_allowed_methods(world):
    """A method a route does not take answers 405 with the standard body and an Allow header."""
    client = world.app.test_client()
    r = client.delete("/api/teams", headers=world.headers("coordinator"))
    assert r.status_code == 405
    assert r.json["code"] == "method_not_allowed" and r.json["ok"] is False
    allowed = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "POST"} <= allowed
    r = client.open("/api/alerts", method="TRACE", headers=world.headers("coordinator"))
    assert r.status_code == 405 and "GET" in r.headers.get("Allow", "")


def test_unknown_field_name_is_not_echoed_whole(world):
    """A 900 KB field name comes back cut short in the error, not whole."""
    client = world.app.test_client()
    name = "x" * 900_000
    for method, path in (("post", "/api/teams"), ("post", "/api/visits")):
        r = getattr(client, method)(path, json={name: 1}, headers=world.headers("coordinator"))
        assert r.status_code == 400, r.json
        assert len(r.get_data()) < 2000, f"{path} echoed {len(r.get_data())} bytes"
        assert "unknown field" in r.json["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/teams?limit=" + "9" * 5000,
        "/api/visits?day=" + "z" * 5000,
        "/api/plans?day=" + "z" * 5000,
    ],
)
def test_bad_query_argument_is_not_echoed_whole(world, path):
    r = world.app.test_client().get(path, headers=world.headers("coordinator"))
    assert r.status_code == 400
    assert len(r.json["error"]) < 400, r.json["error"][:200]


def test_long_values_in_bodies_are_not_echoed_whole(world):
    client = world.app.test_client()
    long = "q" * 100_000
    bodies = [
        ("/api/teams", {"name": "T", "base_lon": 9.4, "base_lat": 42.6, "kind": long}),
        ("/api/teams", {"name": "T", "base_lon": long, "base_lat": 42.6}),
        ("/api/visits", {"day": long, "pseudonym": "P", "lon": 9.4, "lat": 42.6}),
    ]
    for path, body in bodies:
        r = client.post(path, json=body, headers=world.headers("coordinator"))
        assert r.status_code == 400
        assert len(r.json["error"]) < 400, (path, r.json["error"][:200])


# -- item 12: one bad record never breaks the day for the others ---------------------------------
MELUN_DAY = "2026-11-24"
#: Homes around Melun (lon, lat).
MELUN_HOMES = [(2.650, 48.545), (2.660, 48.535), (2.668, 48.542), (2.645, 48.532)]


@pytest.fixture
def melun_world(tmp_path, melun, territory_cache, shared_dir):
    """Melun's app with two good teams, four visits, and a team and a visit whose places were
    stored before any check (a base at the South Pole, a home in the Gulf of Guinea)."""
    from api_world import fast_password_hashing

    from dispatch.settings import Settings
    from dispatch.store import Store
    from dispatch.web.app import create_app

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
    teams = [
        store.add_team(
            {
                "name": name,
                "base_lon": lon,
                "base_lat": lat,
                "shift_start": "08:00",
                "shift_end": "13:00",
            }
        )
        for name, lon, lat in (("A", 2.655, 48.540), ("B", 2.670, 48.530))
    ]
    visits = store.add_visits(
        [
            {
                "day": MELUN_DAY,
                "pseudonym": f"P{i}",
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [["08:00", "12:00"]],
            }
            for i, (lon, lat) in enumerate(MELUN_HOMES)
        ]
    )
    user = store.add_user("coord", role="coordinator")
    headers = {"Authorization": f"Bearer {store.create_api_token(user['id'], label='t')}"}
    # Straight into the store, as rows from before the checks would be.
    bad_team = store.add_team({"name": "Pole", "base_lon": 0, "base_lat": -90})
    bad_visit = store.add_visit(
        {
            "day": MELUN_DAY,
            "pseudonym": "Nowhere",
            "lon": 0.0,
            "lat": 0.0,
            "duration_s": 1200,
            "windows": [["08:00", "12:00"]],
        }
    )
    yield app, store, headers, teams, visits, bad_team, bad_visit
    store.close()


def _job(client, headers, job_id):
    import time

    for _ in range(300):
        job = client.get(f"/api/dispatch/jobs/{job_id}", headers=headers).json
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    pytest.fail("optimisation job did not finish in 30 s")


def _reported(body, bad_team, bad_visit):
    """The response names the bad team and the bad visit, each with a reason."""
    found = {(u["kind"], u["id"]): u for u in body["unroutable"]}
    team = found[("team", bad_team["id"])]
    visit = found[("visit", bad_visit["id"])]
    assert "Pole" in team["name"] and "Melun" in team["reason"], team
    assert visit["name"] == "Nowhere" and "Melun" in visit["reason"], visit
    for reason in (team["reason"], visit["reason"]):
        # One language from end to end, the territory's box included.
        if "hors de" in reason:
            assert " to " not in reason and " à " in reason, reason
        else:
            assert " à " not in reason and " to " in reason, reason


@pytest.mark.slow
def test_an_unroutable_team_and_visit_never_fail_the_day(melun_world):
    """Optimise, apply, slots, insert, move and team-unavailable answer 2xx for the others and
    name the bad records with a reason (they answered 500 before)."""
    app, store, headers, (a, b), visits, bad_team, bad_visit = melun_world
    client = app.test_client()
    r = client.post(
        "/api/dispatch/optimise", json={"day": MELUN_DAY, "time_limit_s": 1}, headers=headers
    )
    assert r.status_code == 202, r.json
    job = _job(client, headers, r.json["job_id"])
    assert job["state"] == "done", job
    _reported(job, bad_team, bad_visit)
    planned = {s["visit_id"] for r in job["plan"]["routes"] for s in r["stops"] if s["visit_id"]}
    assert planned == {str(v["id"]) for v in visits} or planned == {v["id"] for v in visits}
    assert all(int(r["team_id"]) != bad_team["id"] for r in job["plan"]["routes"] if r["stops"])
    left = {int(u["visit_id"]): u for u in job["plan"]["unassigned"]}
    assert "Melun" in left[bad_visit["id"]]["message"]
    # The figures the coordinator compares count it as unassigned too.
    for column in ("current", "proposed"):
        assert job["comparison"][column]["visits_unassigned"] >= 1, job["comparison"]

    r = client.post(f"/api/dispatch/plans/{job['plan_id']}/apply", headers=headers)
    assert r.status_code == 200, r.json
    stored = store.published_plan(MELUN_DAY)
    assert any(int(u["visit_id"]) == bad_visit["id"] for u in stored["unassigned"])

    r = client.post(
        "/api/dispatch/slots",
        headers=headers,
        json={"day": MELUN_DAY, "lon": 2.662, "lat": 48.539, "duration_s": 900, "n": 3},
    )
    assert r.status_code == 200, r.json
    assert r.json["slots"]
    _reported(r.json, bad_team, bad_visit)

    new = store.add_visit(
        {
            "day": MELUN_DAY,
            "pseudonym": "URG",
            "lon": 2.652,
            "lat": 48.538,
            "duration_s": 900,
            "windows": [["10:00", "12:00"]],
        }
    )
    r = client.post(
        "/api/dispatch/insert/options",
        headers=headers,
        json={"day": MELUN_DAY, "visit_id": new["id"]},
    )
    assert r.status_code == 200, r.json
    r = client.post(
        "/api/dispatch/insert", headers=headers, json={"day": MELUN_DAY, "visit_id": new["id"]}
    )
    assert r.status_code == 200, r.json
    _reported(r.json, bad_team, bad_visit)

    r = client.post(
        "/api/dispatch/move",
        headers=headers,
        json={
            "day": MELUN_DAY,
            "visit_id": visits[0]["id"],
            "team_id": b["id"],
            "apply": True,
            "force": True,
        },
    )
    assert r.status_code == 200, r.json
    _reported(r.json, bad_team, bad_visit)

    r = client.post(
        "/api/dispatch/team-unavailable",
        headers=headers,
        json={"day": MELUN_DAY, "team_id": a["id"]},
    )
    assert r.status_code == 200, r.json
    _reported(r.json, bad_team, bad_visit)

    # The bad records themselves get a clear 4xx, not a 500.
    for path, body in (
        ("/api/dispatch/move", {"day": MELUN_DAY, "visit_id": bad_visit["id"], "team_id": b["id"]}),
        (
            "/api/dispatch/move",
            {"day": MELUN_DAY, "visit_id": visits[1]["id"], "team_id": bad_team["id"]},
        ),
        ("/api/dispatch/insert", {"day": MELUN_DAY, "visit_id": bad_visit["id"]}),
        ("/api/dispatch/team-unavailable", {"day": MELUN_DAY, "team_id": bad_team["id"]}),
    ):
        r = client.post(path, headers=headers, json=body)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.json)
        assert "Melun" in r.json["error"], r.json


@pytest.mark.slow
def test_places_outside_the_territory_are_refused_where_they_are_entered(melun_world):
    """Teams, visits and CSV lines outside Melun get a 4xx saying where Melun is (fr and en)."""
    app, store, headers, (a, b), visits, bad_team, bad_visit = melun_world
    client = app.test_client()
    fr = {**headers, "Accept-Language": "fr"}
    r = client.post(
        "/api/teams", headers=headers, json={"name": "S", "base_lon": 0, "base_lat": -90}
    )
    assert r.status_code == 400, r.json
    assert "outside the territory" in r.json["error"] and "Melun" in r.json["error"]
    assert "longitude 2.5" in r.json["error"], r.json["error"]
    r = client.post("/api/teams", headers=fr, json={"name": "S", "base_lon": 0, "base_lat": -90})
    assert r.status_code == 400 and "hors du territoire" in r.json["error"], r.json
    assert "Melun" in r.json["error"] and r.json["error"].startswith("équipe")
    # Swapped coordinates are named as such.
    r = client.post(
        "/api/teams", headers=headers, json={"name": "S", "base_lon": 48.54, "base_lat": 2.655}
    )
    assert r.status_code == 400 and "swapped" in r.json["error"], r.json
    r = client.patch(f"/api/teams/{a['id']}", headers=headers, json={"base_lat": 43.0})
    assert r.status_code == 400 and "Melun" in r.json["error"], r.json
    assert store.get_team(a["id"])["base_lat"] == 48.540
    # Inside is still accepted.
    r = client.post(
        "/api/teams", headers=headers, json={"name": "C", "base_lon": 2.66, "base_lat": 48.54}
    )
    assert r.status_code == 201, r.json

    visit = {
        "day": MELUN_DAY,
        "pseudonym": "Far",
        "lon": 9.45,
        "lat": 42.7,
        "duration_s": 1200,
        "windows": [["08:00", "12:00"]],
    }
    r = client.post("/api/visits", headers=headers, json=visit)
    assert r.status_code == 400 and "Melun" in r.json["error"], r.json
    r = client.patch(f"/api/visits/{visits[0]['id']}", headers=headers, json={"lon": 9.45})
    assert r.status_code == 400 and "Melun" in r.json["error"], r.json
    csv = (
        "day,pseudonym,lon,lat,duration_min,windows\n"
        "2026-11-24,CSV1,2.66,48.54,20,08:00-10:00\n"
        "2026-11-24,CSV2,9.45,42.7,20,08:00-10:00\n"
    )
    r = client.post("/api/visits/import", headers={**headers, "Content-Type": "text/csv"}, data=csv)
    assert r.status_code == 400, r.json
    (error,) = r.json["details"]
    assert error["line"] == 3 and "Melun" in error["error"], r.json
    r = client.post(
        "/api/visits/import/preview", headers={**headers, "Content-Type": "text/csv"}, data=csv
    )
    assert r.status_code == 200, r.json
    errors = [row.get("error") for row in r.json["rows"]]
    assert errors[0] is None and "Melun" in errors[1], errors
    r = client.post(
        "/api/dispatch/slots",
        headers=headers,
        json={"day": MELUN_DAY, "lon": 0, "lat": -90, "duration_s": 900},
    )
    assert r.status_code == 400 and "Melun" in r.json["error"], r.json


def test_empty_number_query_values_are_refused(tmp_path):
    """`?trail_s=` is not a number: refused with 400 like any other non-number (it was read as
    absent, while the OpenAPI document says number; schemathesis' negative data check)."""
    from api_world import PASSWORD

    from dispatch.settings import Settings
    from dispatch.store import Store
    from dispatch.web.app import create_app

    store = Store(tmp_path / "d.sqlite")
    store.add_user("coord", role="coordinator", password=PASSWORD)
    team = store.add_team({"name": "A", "base_lon": 9.45, "base_lat": 42.7})
    app = create_app(Settings(var_dir=tmp_path, server="threading"), **{"dispatch.store": store})
    client = app.test_client()
    reply = client.post("/api/session", json={"username": "coord", "password": PASSWORD})
    assert reply.status_code == 200, reply.json
    headers = {"X-CSRF-Token": reply.json["csrf_token"]}
    for url in (
        "/api/live/snapshot?trail_s=",
        f"/api/live/track/{team['id']}?since_s=",
        f"/api/live/track/{team['id']}?until_s=",
    ):
        r = client.get(url, headers=headers)
        assert r.status_code == 400, (url, r.status_code, r.json)
        assert r.json["code"] == "invalid" and "is not a number" in r.json["error"], r.json
    assert client.get("/api/live/snapshot", headers=headers).status_code == 200
    store.close()
