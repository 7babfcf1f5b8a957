"""Issue 21, items 12 and 17: the API contract (405 with Allow, bounded echoes of input) and
one bad record never breaking the day for the others."""

from __future__ import annotations

import pytest
from api_world import DAY, make_world


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
        r = getattr(client, method)(
            path, json={name: 1}, headers=world.headers("coordinator")
        )
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
