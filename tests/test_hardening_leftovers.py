"""Issue 21 item 17 (API contract) leftovers: endpoints that disagreed with the OpenAPI
document (contract-requests.md 1, 2, 3b, 4b, 5, 6, 6b), and item 12's snapping of a point
that Lambert-93 cannot project (7)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from api_world import make_world
from test_routing_core import LAT0, LON0, grid_graph

from dispatch.errors import RoutingError, ValidationError
from dispatch.routing import Router


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("leftovers"))


def _error(response) -> str:
    body = response.get_json()
    assert body["ok"] is False, body
    return body["error"]


# -- 1: DELETE /api/devices/self with a user token -------------------------------------------------
@pytest.mark.parametrize("who", ["member_a", "admin"])
def test_unpair_self_with_a_user_token_is_forbidden_not_malformed(world, who):
    """The request is well formed; the caller is the wrong kind: 403, saying what to send."""
    response = world.app.test_client().delete("/api/devices/self", headers=world.headers(who))
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "forbidden"
    assert "device token" in _error(response)


# -- 2: unknown field names are cut in errors ------------------------------------------------------
def test_unknown_field_names_are_cut_and_at_most_five(world):
    """A 900 KB field name does not come back whole: each name at most 80 characters, at most
    five names, and the count of the others."""
    client = world.app.test_client()
    huge = "x" * 900_000
    body = {huge: 1, **{f"zextra{i}": i for i in range(9)}, "username": "nobody", "role": "planner"}
    for method, url in (
        ("post", "/api/users"),
        ("patch", f"/api/users/{world.ids['planner']}"),
        ("post", f"/api/users/{world.ids['planner']}/password-link"),
        ("post", "/api/account-links/check"),
        ("post", "/api/positions"),
    ):
        who = "coordinator" if url == "/api/positions" else "admin"
        response = getattr(client, method)(url, json=body, headers=world.headers(who))
        assert response.status_code == 400, (url, response.status_code)
        message = _error(response)
        assert len(response.data) < 2_000, (url, len(response.data))
        assert "xxx..." in message and re.search(r"and \d+ more", message), (url, message[:300])
        assert max(len(run) for run in re.findall("x+", message)) <= 80, url


# -- 3b: audit filters longer than the document allows ---------------------------------------------
@pytest.mark.parametrize("name", ["target", "actor"])
def test_audit_filters_longer_than_100_characters_are_refused(world, name):
    client = world.app.test_client()
    h = world.headers("admin")
    assert client.get(f"/api/audit?{name}={'u' * 100}", headers=h).status_code == 200
    response = client.get(f"/api/audit?{name}={'u' * 101}", headers=h)
    assert response.status_code == 400
    assert name in _error(response) and "100" in _error(response)


# -- 4b and 5: positions ---------------------------------------------------------------------------
def test_positions_accept_a_whole_float_team_id(world):
    """JSON Schema's integer includes 626.0: a coordinator's batch with team_id 2.0 is stored."""
    response = world.app.test_client().post(
        "/api/positions",
        json={"team_id": float(world.ids["team_a"]), "positions": []},
        headers=world.headers("coordinator"),
    )
    assert response.status_code == 200, response.get_json()
    for bad in (1.5, True, "1", 0, 2**53):
        response = world.app.test_client().post(
            "/api/positions",
            json={"team_id": bad, "positions": []},
            headers=world.headers("coordinator"),
        )
        assert response.status_code == 400, bad


def test_positions_history_team_id_follows_the_document(world):
    """GET /api/positions?team_id= is bounded as the document says (1..2**53, as ID_QUERY's
    integer); left out: every team; the others are refused."""
    from dispatch.web.openapi import ID_QUERY

    doc = world.app.test_client().get("/api/openapi.json").get_json()
    params = doc["paths"]["/api/positions"]["get"]["parameters"]
    schema = next(p for p in params if p["name"] == "team_id")["schema"]
    integer = ID_QUERY["anyOf"][0]
    assert (schema["minimum"], schema["maximum"]) == (integer["minimum"], integer["maximum"])
    client = world.app.test_client()
    h = world.headers("coordinator")
    assert client.get("/api/positions", headers=h).status_code == 200  # every team
    for ok_value in ("1", str(2**53)):
        assert client.get(f"/api/positions?team_id={ok_value}", headers=h).status_code == 200
    for bad in ("0", str(2**53 + 1), "x", "1.5", ""):
        assert client.get(f"/api/positions?team_id={bad}", headers=h).status_code == 400, bad


@pytest.mark.parametrize(
    "query", ["until_s=&until_s=true", "since_s=1&since_s=2", "until_s=", "team_id=1&team_id=2"]
)
def test_positions_history_refuses_what_the_document_does_not_allow(world, query):
    """Schemathesis sent until_s twice ('' then 'true'): only the first was read and the
    request answered 200. An argument given twice, or empty, is refused, saying which."""
    response = world.app.test_client().get(
        f"/api/positions?{query}", headers=world.headers("coordinator")
    )
    assert response.status_code == 400
    assert query.split("=")[0] in _error(response)


# -- 6 and 6b: planning ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/planning/siting", {"k": 2.0, "scenario": "nope"}),
        ("/api/planning/simulations", {"days": 2.0, "scenario": "nope"}),
    ],
)
def test_planning_accepts_whole_floats(world, url, body):
    """k 2.0 and days 2.0 pass the checks (and reach the scenario: here an unknown one)."""
    response = world.app.test_client().post(url, json=body, headers=world.headers("planner"))
    assert response.status_code != 400, _error(response)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/planning/siting", {"k": 2.5}),
        ("/api/planning/siting", {"k": 11.0}),
        ("/api/planning/simulations", {"days": 1.5}),
        ("/api/planning/simulations", {"days": True}),
    ],
)
def test_planning_still_refuses_fractions(world, url, body):
    response = world.app.test_client().post(url, json=body, headers=world.headers("planner"))
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/planning/analysis", {"bands_min": [1e308, 1e308]}),
        ("post", "/api/planning/analysis", {"bands_min": [10, 1441]}),
        ("get", "/api/planning/analysis?bands=10,1e308", None),
        ("get", "/api/planning/analysis?bands=10,inf", None),
        ("get", "/api/planning/analysis?bands=10,2000", None),
    ],
)
def test_planning_bands_above_a_day_are_refused(world, method, url, body):
    """Bands above 1440 minutes: 400 saying the limit (int(round(inf)) gave 500 before)."""
    client = world.app.test_client()
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(url, headers=world.headers("planner"), **kwargs)
    assert response.status_code == 400, response.status_code
    assert "1440" in _error(response)


# -- 7: snapping a point Lambert-93 cannot project -------------------------------------------------
@pytest.mark.parametrize("engine", ["ch", "scipy"])
def test_snap_many_not_strict_gives_minus_one_for_a_pole(engine):
    """Latitude -90 projects to infinity in Lambert-93 (+90 to the cone's apex): node -1 and
    distance inf, the batch's other points snapped; strict snapping says why."""
    graph = grid_graph()
    boundary = shapely.box(LON0 - 0.001, LAT0 - 0.001, LON0 + 0.02, LAT0 + 0.012)
    lons, lats = [LON0, 0.0, LON0, 0.0], [LAT0, -90.0, LAT0, 90.0]
    for router in (
        Router(graph, engine=engine),
        Router(graph, engine=engine, boundary=boundary, label="Grille"),
    ):
        nodes, dist = router.snap_many(lons, lats, strict=False)
        assert nodes.tolist() == [0, -1, 0, -1]
        assert np.isinf(dist[1]) and np.isinf(dist[3]) and dist[0] < 1
    with pytest.raises(RoutingError, match="has no road of this territory"):
        Router(graph, engine=engine).snap_many([LON0, 0.0], [LAT0, -90.0])
    with pytest.raises(RoutingError, match="outside the territory Grille"):
        Router(graph, engine=engine, boundary=boundary, label="Grille").snap(0.0, -90.0)


def test_email_addresses_are_checked_as_the_document_says() -> None:
    """The API's e-mail addresses are plain name@host.tld; a host with a character no host
    name has (``*``) was accepted by PATCH /api/users (schemathesis' negative data check)."""
    import re

    from dispatch.mail import ADDRESS_PATTERN, check_address
    from dispatch.web.api_admin import USER_INPUT

    assert USER_INPUT["properties"]["email"]["pattern"] == ADDRESS_PATTERN
    good = ["marie@example.fr", "jean.dupont+ssiad@ch-bastia.corsica", "a}b=c/d@bh.at0v.dev"]
    bad = [
        "3zx}o=k/+d@bh.at0v.dev*",
        "marie@example",
        "marie@-example.fr",
        "marie@exa_mple.fr",
        ".marie@example.fr",
        "ma..rie@example.fr",
        "marie@@example.fr",
        "Marie <marie@example.fr>",
        "marie@example.fr.",
    ]
    for address in good:
        assert check_address(address) == address
        assert re.match(ADDRESS_PATTERN, address)
    for address in bad:
        assert not re.match(ADDRESS_PATTERN, address), address
        with pytest.raises(ValidationError):
            check_address(address)
