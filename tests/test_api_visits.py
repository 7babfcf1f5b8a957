"""Visits, positions and events over HTTP: CSV import, pagination, idempotent batches, events."""

from __future__ import annotations

import time

import pytest
from api_world import DAY, make_world

#: Fixes are dated now: older than the setting position_max_age_s (7 days) they are refused.
NOW_S = time.time() - 60

CSV = (
    "pseudonym;lon;lat;duration_min;windows;skills;preferred_team;name;phone\n"
    "Patient 1A;9.41;42.61;20;07:00-09:00;insulin;Équipe A;Démo Un;0600000000\n"
    "Patient 2B;9.42;42.62;30;08:00-10:00;;;;\n"
)


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.store.close()


def test_csv_import_all_or_nothing_with_row_errors(world):
    """A CSV with bad rows imports nothing and lists each bad line; a clean CSV imports all."""
    client = world.app.test_client()
    h = {**world.headers("coordinator"), "Content-Type": "text/csv"}
    bad = (
        CSV
        + "Patient 3C;9.43;42.63;20;14:00-13:00;;;;\nPatient 4D;9.43;95;20;08:00-09:00;;Nope;;\n"
    )
    response = client.post(f"/api/visits/import?day={DAY}", data=bad, headers=h)
    body = response.get_json()
    assert response.status_code == 400 and body["code"] == "invalid"
    assert body["details"][0] == {
        "line": 4,
        "error": "line 4: time window 14:00-13:00 ends before it starts",
    }
    assert body["details"][1]["line"] == 5
    before = world.store.counts()["visits"]
    assert before == 3
    dry = client.post(f"/api/visits/import?day={DAY}&dry_run=true", data=CSV, headers=h)
    assert dry.get_json()["checked"] == 2 and world.store.counts()["visits"] == before
    done = client.post(f"/api/visits/import?day={DAY}", data=CSV, headers=h)
    assert done.status_code == 201 and done.get_json()["imported"] == 2
    first = world.store.get_visit(done.get_json()["ids"][0])
    assert first["preferred_team_id"] == world.ids["team_a"] and first["duration_s"] == 1200
    unknown = client.post(f"/api/visits/import?day={DAY}", data="pseudo;lon\nx;1\n", headers=h)
    assert "unknown CSV column(s) pseudo" in unknown.get_json()["error"]


def test_lists_are_paginated(world):
    """limit/offset page through a list; next links to the following page, null at the end."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    for i in range(7):
        client.post("/api/teams", json={"name": f"T{i}", "base_lon": 9, "base_lat": 42}, headers=h)
    first = client.get("/api/teams?limit=4", headers=h).get_json()
    assert first["total"] == 9 and len(first["items"]) == 4
    second = client.get(first["next"], headers=h).get_json()
    third = client.get(second["next"], headers=h).get_json()
    assert third["next"] is None and len(third["items"]) == 1
    names = [t["name"] for page in (first, second, third) for t in page["items"]]
    assert len(set(names)) == 9
    bad = client.get("/api/teams?limit=0", headers=h).get_json()
    assert "limit=0 is not between 1 and 1000" in bad["error"]


def test_positions_batch_over_http_is_idempotent(world):
    """The same batch POSTed twice is stored once; the answer counts duplicates."""
    client = world.app.test_client()
    h = world.headers("device_b")
    batch = {
        "positions": [
            {"client_id": f"u{i}", "lon": 9.15, "lat": 42.3 + i * 1e-4, "device_time_s": NOW_S + i}
            for i in range(30)
        ]
    }
    one = client.post("/api/positions", json=batch, headers=h).get_json()
    two = client.post("/api/positions", json=batch, headers=h).get_json()
    assert (one["stored"], one["duplicates"]) == (30, 0)
    assert (two["stored"], two["duplicates"]) == (0, 30)
    assert world.store.list_positions(team_id=world.ids["team_b"]).total == 30
    other_team = {**batch, "team_id": world.ids["team_a"]}
    assert client.post("/api/positions", json=other_team, headers=h).status_code == 403


def test_positions_and_events_notify_listeners(world):
    """Committed positions and events are handed to subscribers (the live layer's hook)."""
    from dispatch.web.rest import subscribe

    seen: list[tuple[str, object]] = []
    subscribe(world.app, "positions", lambda p: seen.append(("positions", p)))
    subscribe(world.app, "visit_event", lambda p: seen.append(("visit_event", p)))
    client = world.app.test_client()
    h = world.headers("device_b")
    client.post(
        "/api/positions",
        json={"positions": [{"client_id": "z", "lon": 9.15, "lat": 42.3, "device_time_s": NOW_S}]},
        headers=h,
    )
    client.post(
        "/api/positions",
        json={"positions": [{"client_id": "z", "lon": 9.15, "lat": 42.3, "device_time_s": NOW_S}]},
        headers=h,
    )
    vb = world.ids["visit_b"]
    event = client.post(
        f"/api/visits/{vb}/events", json={"kind": "arrival", "client_id": "a1"}, headers=h
    )
    assert event.status_code == 201 and event.get_json()["visit"]["status"] == "arrived"
    retry = client.post(
        f"/api/visits/{vb}/events", json={"kind": "arrival", "client_id": "a1"}, headers=h
    )
    assert retry.status_code == 200
    kinds = [k for k, _ in seen]
    assert kinds == ["positions", "visit_event"]
    assert seen[0][1]["positions"][0]["client_id"] == "z"


def test_planner_does_not_see_addresses(world):
    """Planners work on places and times: the street address is left out of their view."""
    client = world.app.test_client()
    world.store.update_visit(world.ids["visit_a"], {"address": "3 rue de la Marine"})
    planner = client.get(f"/api/visits/{world.ids['visit_a']}", headers=world.headers("planner"))
    coordinator = client.get(
        f"/api/visits/{world.ids['visit_a']}", headers=world.headers("coordinator")
    )
    assert "address" not in planner.get_json()["visit"]
    assert coordinator.get_json()["visit"]["address"] == "3 rue de la Marine"
    assert coordinator.get_json()["visit"]["windows_hhmm"] == [["08:00", "10:00"]]


def test_visit_validation_message_over_http(world):
    """The API answers a bad window with the visit's label and what is wrong."""
    client = world.app.test_client()
    response = client.patch(
        f"/api/visits/{world.ids['visit_a']}",
        json={"windows": [["14:00", "13:00"]]},
        headers=world.headers("coordinator"),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        f"visit {world.ids['visit_a']}: time window 14:00-13:00 ends before it starts"
    )
