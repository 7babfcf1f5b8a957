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
    props = fc["features"][0]["properties"]
    assert 8.5 < props["lon"] < 9.6 and 41.3 < props["lat"] < 43.1


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
    # The scenario's report now shows that simulated day.
    report = client.get("/api/planning/report?scenario=default").get_data(as_text=True)
    assert "Jours simulés : 1" in report and "Simulation de la demande" in report
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


def _bases_plus(client, headers, extra):
    """The default scenario's bases as the page holds them, plus ``extra``."""
    a = client.get("/api/planning/analysis?scenario=default", headers=headers).get_json()
    bases = [
        {"id": b["id"], "name": b["name"], "lon": b["lon"], "lat": b["lat"]} for b in a["bases"]
    ]
    return a, bases + extra


#: A hypothetical base in the Casinca (Folelli), the least covered area of Haute-Corse.
FOLELLI = {"id": "new-1", "name": "Nouvelle base (Folelli)", "lon": 9.5063, "lat": 42.4558}


def test_placing_a_base_recomputes_coverage(world):
    """POST /api/planning/analysis with one more base: more people within 30 min, more APL,
    the new base drawn; a base outside the territory is refused with what to do."""
    client = world.app.test_client()
    h = world.headers("planner")
    before, bases = _bases_plus(client, h, [FOLELLI])
    after = client.post(
        "/api/planning/analysis", json={"scenario": "default", "bases": bases}, headers=h
    ).get_json()
    assert after["changed"] is True
    assert after["coverage"]["covered_population"] > before["coverage"]["covered_population"]
    assert after["accessibility"]["territory_mean"] >= before["accessibility"]["territory_mean"], (
        "accessibility keeps or gains with a base more"
    )
    assert [b["id"] for b in after["bases"]][-1] == "new-1" and after["bases"][-1]["teams"] == 2
    # Removing every base but one covers fewer people.
    one = client.post("/api/planning/analysis", json={"bases": bases[:1]}, headers=h).get_json()
    assert one["coverage"]["covered_population"] < before["coverage"]["covered_population"]
    far = {**FOLELLI, "lon": 2.35, "lat": 48.85}
    refused = client.post("/api/planning/analysis", json={"bases": [far]}, headers=h)
    assert refused.status_code == 400 and "outside the territory" in refused.get_json()["error"]
    empty = client.post("/api/planning/analysis", json={"bases": []}, headers=h)
    assert empty.status_code == 400


def test_save_list_compare_report_and_delete_a_scenario(world):
    """A planner saves bases as a named scenario (a TOML under the var dir, read back after a
    restart), finds it in the list, compares it with the territory's bases, opens its HTML
    report, and deletes it; a team member can do none of it."""
    from dispatch.web.app import create_app

    client = world.app.test_client()
    h = world.headers("planner")
    _, bases = _bases_plus(client, h, [FOLELLI])
    saved = client.post(
        "/api/planning/scenarios",
        json={"name": "Casinca : une base de plus", "scenario": "default", "bases": bases},
        headers=h,
    )
    assert saved.status_code == 201, saved.get_json()
    sid = saved.get_json()["scenario"]["id"]
    assert sid == "saved:casinca-une-base-de-plus#0"
    settings = world.app.extensions["dispatch.settings"]
    path = (
        settings.var_dir
        / "planning"
        / "haute-corse"
        / "scenarios"
        / "casinca-une-base-de-plus.toml"
    )
    assert path.is_file() and 'name = "Casinca : une base de plus"' in path.read_text()
    # The same name again is a conflict unless replace is asked for.
    again = client.post(
        "/api/planning/scenarios",
        json={"name": "Casinca : une base de plus", "bases": bases},
        headers=h,
    )
    assert again.status_code == 409 and "another name" in again.get_json()["error"]
    replaced = client.post(
        "/api/planning/scenarios",
        json={"name": "Casinca : une base de plus", "bases": bases, "replace": True},
        headers=h,
    )
    assert replaced.status_code == 201
    # A new app on the same var dir (a restart) lists it.
    restarted = create_app(settings, **{"dispatch.store": world.store}).test_client()
    items = restarted.get("/api/planning/scenarios", headers=h).get_json()["items"]
    mine = [i for i in items if i["id"] == sid]
    assert mine and mine[0]["saved"] and mine[0]["bases"] == 7
    rows = client.get(
        "/api/planning/compare?ids=" + "default,saved:casinca-une-base-de-plus%230", headers=h
    ).get_json()["items"]
    assert [r["scenario_id"] for r in rows] == ["default", sid]
    assert rows[1]["covered_30min_share"] > rows[0]["covered_30min_share"]
    report = client.get(
        "/api/planning/report?scenario=saved:casinca-une-base-de-plus%230&lang=en", headers=h
    )
    assert report.status_code == 200 and report.mimetype == "text/html"
    text = report.get_data(as_text=True)
    assert "<title>Planning report" in text and "Casinca : une base de plus" in text
    assert "Nouvelle base (Folelli)" in text and "data:image/png;base64," in text
    assert "default-src 'none'" in report.headers["Content-Security-Policy"]
    fr = client.get("/api/planning/report?scenario=default", headers=h).get_data(as_text=True)
    assert "<title>Rapport de planification" in fr
    assert client.get("/api/planning/report?lang=de", headers=h).status_code == 400
    # Team members: none of it.
    m = world.headers("member_a")
    assert client.get("/api/planning/report", headers=m).status_code == 403
    assert (
        client.post(
            "/api/planning/scenarios", json={"name": "x", "bases": bases}, headers=m
        ).status_code
        == 403
    )
    assert (
        client.delete("/api/planning/scenarios/casinca-une-base-de-plus", headers=m).status_code
        == 403
    )
    # Deleting.
    gone = client.delete("/api/planning/scenarios/casinca-une-base-de-plus", headers=h)
    assert gone.status_code == 200 and not path.exists()
    assert (
        client.delete("/api/planning/scenarios/casinca-une-base-de-plus", headers=h).status_code
        == 404
    )
    assert (
        client.get(
            "/api/planning/analysis?scenario=saved:casinca-une-base-de-plus%230", headers=h
        ).status_code
        == 404
    )


def test_save_refuses_what_it_cannot_read_back(world):
    """No name, an unknown base form or a duplicate id: 400 with what to fix, nothing written."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    ok_base = dict(FOLELLI)
    cases = [
        ({"name": "", "bases": [ok_base]}, "name"),
        ({"name": "A", "bases": [ok_base, ok_base]}, "used twice"),
        ({"name": "A", "bases": [{**ok_base, "lon": "9.5"}]}, "lon and lat"),
        ({"name": "A", "bases": [{**ok_base, "id": "../../x"}]}, "id must be"),
    ]
    for body, words in cases:
        r = client.post("/api/planning/scenarios", json=body, headers=h)
        assert r.status_code == 400 and words in r.get_json()["error"], (body, r.get_json())
    folder = world.app.extensions["dispatch.settings"].var_dir / "planning"
    assert not any(folder.rglob("a.toml"))


def test_saved_scenario_keeps_the_team_groups_of_its_source(world, tmp_path):
    """Saving from a file scenario with [[teams]]: groups of kept bases stay, a new base gets
    teams_per_base teams, a removed base's groups go; the TOML reads back to the same bases."""
    from dispatch.planning.saved import SavedScenarios, parse_bases, scenario_mapping
    from dispatch.planning.scenario import load_scenarios

    settings = world.app.extensions["dispatch.settings"]
    source = load_scenarios(
        settings.territories_dir / "haute-corse" / "scenarios" / "bases-actuelles.toml"
    )[0]
    from dispatch.planning.runner import territory_and_router

    territory, _ = territory_and_router("haute-corse", settings)
    bases = parse_bases(
        [{"id": b.id, "name": b.name, "lon": b.lon, "lat": b.lat} for b in territory.bases[1:]]
        + [FOLELLI]
    )
    data = scenario_mapping(
        source, name="Sans Bastia", description="", bases=bases, territory_bases=territory.bases
    )
    store = SavedScenarios(tmp_path, "haute-corse")
    slug = store.save(data)
    back = store.load(slug)
    assert [b.id for b in back.resolve_bases(territory.bases)] == [b.id for b in bases]
    counts = dict(
        zip([b.id for b in bases], back.teams_at(back.resolve_bases(territory.bases)), strict=True)
    )
    assert (
        "ch-bastia" not in counts
        and counts["ch-corte"] == 2
        and counts["new-1"] == back.teams_per_base
    )
    assert back.demand == source.demand and back.shift == source.shift
    assert store.items()[0].name == "Sans Bastia"
