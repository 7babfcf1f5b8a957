"""/api/planning and the planner page: roles, analysis sums, siting and a simulation job."""

from __future__ import annotations

import time

import pytest
from api_world import PASSWORD, make_world
from shapely.geometry import shape


@pytest.fixture(scope="module")
def world(haute_corse, territory_cache, tmp_path_factory):
    """The API test world, serving the built Haute-Corse territory."""
    from conftest import SHARED_TERRITORIES

    return make_world(
        tmp_path_factory.mktemp("planning-web"),
        cache_dir=territory_cache,
        data_path=(SHARED_TERRITORIES,),
    )


def test_planning_api_needs_a_planner_coordinator_or_admin(world):
    """Anonymous callers get 401, team members 403, planners/coordinators/admins 200."""
    client = world.app.test_client()
    assert client.get("/api/planning/territory").status_code == 401
    assert (
        client.get("/api/planning/territory", headers=world.headers("member_a")).status_code == 403
    )
    for who in ("planner", "coordinator", "admin"):
        response = client.get("/api/planning/territory", headers=world.headers(who))
        assert response.status_code == 200, who
        assert response.get_json()["id"] == "haute-corse"
    body = client.get("/api/planning/territory", headers=world.headers("member_a")).get_json()
    assert body["ok"] is False and body["code"] == "forbidden"


def test_planner_page_is_served(world):
    """/planner/ serves the French page, its module and stylesheet."""
    client = world.app.test_client()
    page = client.get("/planner/")
    assert page.status_code == 200 and b'lang="fr"' in page.data and b"planner.js" in page.data
    js = client.get("/planner/planner.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert client.get("/planner/secret.py").status_code == 404


def test_analysis_sums_to_population_and_has_valid_isochrones(world):
    """The analysis of a scenario file variant: table sums to the population, polygons valid."""
    client = world.app.test_client()
    h = world.headers("planner")
    scenarios = client.get("/api/planning/scenarios", headers=h).get_json()
    ids = [s["id"] for s in scenarios["items"]]
    assert "default" in ids and "bases-actuelles#1" in ids and not scenarios["errors"]
    a = client.get(
        "/api/planning/analysis?scenario=bases-actuelles%231&bands=15,30", headers=h
    ).get_json()
    cov = a["coverage"]
    assert cov["bands_s"] == [900, 1800]
    assert sum(cov["band_population"]) + cov["uncovered_population"] == pytest.approx(
        cov["total_population"], abs=1
    )
    assert len(a["bases"]) == 7
    assert all(shape(f["geometry"]).is_valid for f in a["isochrones"]["features"])
    bad = client.get("/api/planning/analysis?scenario=nope%230", headers=h)
    assert bad.status_code == 404 and "GET /api/planning/scenarios" in bad.get_json()["error"]
    assert client.get("/api/planning/analysis?bands=30,10", headers=h).status_code == 400


def test_compare_lists_every_variant(world):
    """The comparison has one row per scenario of the file; the extra base covers more people."""
    client = world.app.test_client()
    rows = client.get(
        "/api/planning/compare?file=bases-actuelles", headers=world.headers("planner")
    ).get_json()["items"]
    assert [r["scenario_id"] for r in rows] == [
        "bases-actuelles#0",
        "bases-actuelles#1",
        "bases-actuelles#2",
    ]
    assert rows[1]["covered_30min_share"] > rows[0]["covered_30min_share"]


def test_communes_geojson(world):
    """Communes come as a FeatureCollection with stable integer ids and INSEE codes."""
    fc = (
        world.app.test_client()
        .get("/api/planning/communes", headers=world.headers("planner"))
        .get_json()
    )
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) > 200
    assert [f["id"] for f in fc["features"][:3]] == [0, 1, 2]
    assert fc["features"][0]["properties"]["code_insee"].startswith("2B")


def test_simulation_job_runs_to_completion_with_a_cookie_session(world):
    """A logged-in planner starts a one-day job (with CSRF) and polls it until KPIs arrive."""
    client = world.app.test_client()
    login = client.post("/api/session", json={"username": "planner", "password": PASSWORD})
    csrf = login.get_json()["csrf_token"]
    refused = client.post("/api/planning/simulations", json={"days": 1})
    assert refused.status_code == 403  # no CSRF header
    too_long = client.post(
        "/api/planning/simulations", json={"days": 30}, headers={"X-CSRF-Token": csrf}
    )
    assert too_long.status_code == 400 and "dispatch simulate" in too_long.get_json()["error"]
    started = client.post(
        "/api/planning/simulations",
        json={"days": 1, "time_limit_s": 0.5},
        headers={"X-CSRF-Token": csrf},
    )
    assert started.status_code == 202
    job_id = started.get_json()["job"]["id"]
    deadline = time.time() + 90
    while True:
        job = client.get(f"/api/planning/simulations/{job_id}").get_json()["job"]
        if job["status"] in ("done", "failed") or time.time() > deadline:
            break
        time.sleep(0.3)
    assert job["status"] == "done", job
    kpis = job["result"]["kpis"]
    assert kpis["requested"] == kpis["served"] + kpis["refused"] and kpis["days"] == 1
    assert client.get("/api/planning/simulations/unknown").status_code == 404


@pytest.mark.slow
def test_siting_endpoint_proposes_new_sites(world):
    """POST /api/planning/siting returns the existing bases plus k new ones."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    reply = client.post(
        "/api/planning/siting", json={"k": 1, "method": "mclp"}, headers=h
    ).get_json()
    assert reply["ok"] and sum(not s["existing"] for s in reply["sites"]) == 1
    assert client.post("/api/planning/siting", json={"k": 0}, headers=h).status_code == 400
