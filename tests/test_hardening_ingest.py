"""Issue 21, position ingest: Traccar Client's /osmand and the phone's socket and REST paths.

Deeply nested JSON answers 400 (item 4), /osmand is rate limited per address and identifier
and a geofence arrival from a Traccar fix can be undone (item 5), fixes dated too far in the
past or the future are refused with a clear message (item 9), and every fix of a Traccar
Client batch (``location`` as a list) is stored, once (item 10).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_world import make_world

from dispatch.web.app import socketio

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def world(tmp_path):  # type: ignore[no-untyped-def]
    w = make_world(tmp_path)
    yield w
    hub = w.app.extensions.get("dispatch.live")
    if hub is not None:
        hub.stop()
    w.store.close()


def traccar_id(world: Any) -> str:
    return str(world.store.get_device(world.ids["device_b"])["traccar_id"])


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def location(t: float, lat: float = 42.30, lon: float = 9.15, **coords: Any) -> dict[str, Any]:
    """One location of the Traccar Client JSON body (transistorsoft's format)."""
    return {
        "timestamp": iso(t),
        "coords": {"latitude": lat, "longitude": lon, "accuracy": 5, **coords},
        "battery": {"level": 0.5},
    }


def fix(t: float, cid: str, lat: float = 42.30) -> dict[str, Any]:
    return {"client_id": cid, "lon": 9.15, "lat": lat, "device_time_s": t, "accuracy_m": 5}


# -- item 4: deeply nested JSON ------------------------------------------------------------------
def test_osmand_deeply_nested_json_answers_400(world) -> None:  # type: ignore[no-untyped-def]
    """'[' x 100,000 on /osmand: 400 with the standard error body (was a 500)."""
    client = world.app.test_client()
    for body in (DEEP, '{"device_id": "x", "location": ' + DEEP + "}"):
        reply = client.post("/osmand", data=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, reply.data[:200]
        data = reply.get_json()
        assert data["ok"] is False and data["status"] == 400 and data["code"]
        assert "nested too deeply" in data["error"]


def test_rest_positions_deeply_nested_json_answers_400(world) -> None:  # type: ignore[no-untyped-def]
    """The phone's REST batch refuses the same body with the same standard answer."""
    reply = world.app.test_client().post(
        "/api/positions",
        data=DEEP,
        headers={**world.headers("device_b"), "Content-Type": "application/json"},
    )
    assert reply.status_code == 400 and "nested too deeply" in reply.get_json()["error"]


# -- item 10: a Traccar Client batch -------------------------------------------------------------
def test_osmand_json_location_list_stores_every_fix_once(world) -> None:  # type: ignore[no-untyped-def]
    """``location: [a, b, c]`` (the client's offline batch) stores the three fixes, in time
    order; the same batch again stores nothing (each fix is idempotent)."""
    client = world.app.test_client()
    now = time.time()
    body = {
        "device_id": traccar_id(world),
        "location": [location(now - 90 + 30 * i, lat=42.30 + 0.001 * i) for i in range(3)],
    }
    one = client.post("/osmand", json=body)
    assert one.status_code == 200, one.get_json()
    assert (one.get_json()["stored"], one.get_json()["duplicates"]) == (3, 0)
    two = client.post("/osmand", json=body)
    assert (two.get_json()["stored"], two.get_json()["duplicates"]) == (0, 3)
    rows = world.store.list_positions(team_id=world.ids["team_b"])
    assert [round(r["lat"], 3) for r in rows] == [42.300, 42.301, 42.302]
    assert {r["source"] for r in rows} == {"osmand"}
    assert len({r["client_id"] for r in rows}) == 3


def test_osmand_json_location_list_names_the_bad_fix(world) -> None:  # type: ignore[no-untyped-def]
    """A location of the list without coordinates is named by its index."""
    now = time.time()
    body = {
        "device_id": traccar_id(world),
        "location": [location(now - 10), {"timestamp": iso(now)}],
    }
    reply = world.app.test_client().post("/osmand", json=body)
    assert reply.status_code == 400 and "location[1]" in reply.get_json()["error"]
    empty = world.app.test_client().post(
        "/osmand", json={"device_id": traccar_id(world), "location": []}
    )
    assert empty.status_code == 400 and "location" in empty.get_json()["error"]


# -- item 9: fixes dated too far in the past (or the future) -------------------------------------
YEAR_2001 = 1_000_000_000.0


def test_rest_batch_refuses_old_and_future_fixes_by_index(world) -> None:  # type: ignore[no-untyped-def]
    """A 2001 fix and one an hour ahead are refused, each named with its index and client_id;
    the rest of the batch is stored."""
    now = time.time()
    batch = [fix(YEAR_2001, "old"), fix(now - 5, "new"), fix(now + 3600, "ahead")]
    reply = world.app.test_client().post(
        "/api/positions", json={"positions": batch}, headers=world.headers("device_b")
    )
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["stored"] == 1 and body["accepted"] == 3
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == [0, 2]
    assert rejected[0]["client_id"] == "old"
    assert "2001-09-09" in rejected[0]["error"] and "days old" in rejected[0]["error"]
    assert "position_max_age_s" in rejected[0]["error"] and "7 days" in rejected[0]["error"]
    assert "after the server clock" in rejected[2]["error"]
    rows = world.store.list_positions(team_id=world.ids["team_b"])
    assert [r["client_id"] for r in rows] == ["new"]


def test_max_age_is_a_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """position_max_age_s=3600: a fix two hours old is refused; by default (7 days) a fix two
    days old is stored. The setting must be positive."""
    from dispatch.errors import ValidationError
    from dispatch.settings import Settings, load_settings

    assert Settings().position_max_age_s == 7 * 86_400
    assert load_settings(env={"DISPATCH_POSITION_MAX_AGE_S": "3600"}).position_max_age_s == 3600
    with pytest.raises(ValidationError, match="position_max_age_s"):
        Settings(position_max_age_s=0)
    now = time.time()
    strict = make_world(tmp_path / "strict", position_max_age_s=3600)
    reply = strict.app.test_client().post(
        "/api/positions",
        json={"positions": [fix(now - 7200, "two-hours")]},
        headers=strict.headers("device_b"),
    )
    assert reply.get_json()["stored"] == 0
    assert "older than 1 hour" in reply.get_json()["rejected"][0]["error"]
    strict.store.close()
    relaxed = make_world(tmp_path / "default")
    reply = relaxed.app.test_client().post(
        "/api/positions",
        json={"positions": [fix(now - 2 * 86_400, "two-days")]},
        headers=relaxed.headers("device_b"),
    )
    assert reply.get_json()["stored"] == 1
    relaxed.store.close()


def test_osmand_refuses_a_2001_fix_without_blocking_the_client(world) -> None:  # type: ignore[no-untyped-def]
    """Traccar Client: the 2001 fix is not stored, the answer says why (200, so that the client
    drops it instead of resending it forever ahead of its newer fixes); in a batch, the others
    are stored."""
    client = world.app.test_client()
    reply = client.get(f"/osmand?id={traccar_id(world)}&lat=42.3&lon=9.15&timestamp=1000000000")
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["stored"] == 0 and "days old" in body["rejected"][0]["error"]
    now = time.time()
    batch = {"device_id": traccar_id(world), "location": [location(YEAR_2001), location(now - 5)]}
    body = client.post("/osmand", json=batch).get_json()
    assert body["stored"] == 1 and [r["index"] for r in body["rejected"]] == [0]
    rows = world.store.list_positions(team_id=world.ids["team_b"])
    assert [r["device_time_s"] > now - 60 for r in rows] == [True]


def test_socket_refused_fix_gets_an_error_acknowledgement(world) -> None:  # type: ignore[no-untyped-def]
    """On the socket a refused fix is acknowledged with an error (the phone drops it: it is
    not retried); in a batch with good fixes, the refused one is listed by index."""
    phone = socketio.test_client(world.app, auth={"token": world.tokens["device_b"]})
    assert phone.is_connected()
    ack = phone.emit("position", fix(YEAR_2001, "s-old"), callback=True)
    assert ack["ok"] is False and ack["status"] == 400, ack
    assert "days old" in ack["error"] and "position_max_age_s" in ack["error"]
    assert ack["details"]["rejected"][0]["client_id"] == "s-old"
    now = time.time()
    ack = phone.emit(
        "position", {"positions": [fix(now - 5, "s-new"), fix(YEAR_2001, "s-old2")]}, callback=True
    )
    assert ack["ok"] is True and ack["stored"] == 1
    assert [(r["index"], r["client_id"]) for r in ack["rejected"]] == [(1, "s-old2")]
    rows = world.store.list_positions(team_id=world.ids["team_b"])
    assert [r["client_id"] for r in rows] == ["s-new"]
    phone.disconnect()


# -- item 5: /osmand rate limits -----------------------------------------------------------------
def test_osmand_unknown_identifiers_guessed_quickly_are_throttled(world) -> None:  # type: ignore[no-untyped-def]
    """An address guessing identifiers gets 429 with Retry-After and the standard body after a
    few unknown ones, and then even for a valid identifier (else the 429 itself would tell
    which guess is right); another address is not affected."""
    from dispatch.web.live import LIMITS_KEY, OSMAND_UNKNOWN_PER_MIN, OsmandLimits

    world.app.extensions[LIMITS_KEY] = OsmandLimits(clock=lambda: 1000.0)  # time stands still
    client = world.app.test_client()
    now = int(time.time())
    statuses = []
    for i in range(OSMAND_UNKNOWN_PER_MIN + 5):
        reply = client.get(f"/osmand?id={1000000000000000 + i}&lat=42.3&lon=9.15&timestamp={now}")
        statuses.append(reply.status_code)
    assert statuses[:OSMAND_UNKNOWN_PER_MIN] == [401] * OSMAND_UNKNOWN_PER_MIN
    assert set(statuses[OSMAND_UNKNOWN_PER_MIN:]) == {429}
    assert int(reply.headers["Retry-After"]) >= 1
    body = reply.get_json()
    assert body["ok"] is False and body["status"] == 429 and body["code"] == "rate_limited"
    assert "unknown device identifiers" in body["error"]
    good = f"/osmand?id={traccar_id(world)}&lat=42.3&lon=9.15&timestamp={now}"
    assert client.get(good).status_code == 429
    other = client.get(good, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200, other.get_json()


def test_osmand_limits_each_identifier_and_each_address(world) -> None:  # type: ignore[no-untyped-def]
    """One identifier sending faster than OSMAND_PER_DEVICE_PER_MIN a minute is throttled
    (from any address); one address is throttled above OSMAND_PER_ADDRESS_PER_MIN."""
    from dispatch.web.live import (
        LIMITS_KEY,
        OSMAND_PER_ADDRESS_PER_MIN,
        OSMAND_PER_DEVICE_PER_MIN,
        OsmandLimits,
    )

    clock = [1000.0]
    world.app.extensions[LIMITS_KEY] = OsmandLimits(clock=lambda: clock[0])
    assert OSMAND_PER_ADDRESS_PER_MIN > OSMAND_PER_DEVICE_PER_MIN
    client = world.app.test_client()
    now = time.time()
    url = f"/osmand?id={traccar_id(world)}&lat=42.3&lon=9.15&timestamp="
    codes = [
        client.get(
            f"{url}{now - 600 + i}", environ_base={"REMOTE_ADDR": f"192.0.2.{i % 200 + 1}"}
        ).status_code
        for i in range(OSMAND_PER_DEVICE_PER_MIN + 1)
    ]
    assert codes[:-1] == [200] * OSMAND_PER_DEVICE_PER_MIN and codes[-1] == 429
    # The address limit: a burst of well-formed requests from one address (refused ones count).
    busy = {"REMOTE_ADDR": "203.0.113.50"}
    codes = [
        client.get("/osmand?lat=1&lon=2", environ_base=busy).status_code
        for _ in range(OSMAND_PER_ADDRESS_PER_MIN + 1)
    ]
    assert codes[:-1] == [400] * OSMAND_PER_ADDRESS_PER_MIN and codes[-1] == 429
    assert "from this address" in client.get("/osmand", environ_base=busy).get_json()["error"]
    clock[0] += 60  # a minute later both budgets are whole again
    assert client.get("/osmand?lat=1&lon=2", environ_base=busy).status_code == 400
    assert client.get(f"{url}{now - 1}").status_code == 200


# -- item 5: a geofence arrival from a Traccar fix is marked, and a coordinator can undo it ------
def _arrive_by_traccar(world: Any) -> int:
    """Team B's Traccar Client reports a fix at visit B's door: the geofence records an arrival."""
    vb = world.ids["visit_b"]
    reply = world.app.test_client().get(
        f"/osmand?id={traccar_id(world)}&lat=42.31&lon=9.16&accuracy=5&timestamp={int(time.time())}"
    )
    assert reply.status_code == 200 and reply.get_json()["stored"] == 1
    deadline = time.time() + 3
    while world.store.get_visit(vb)["status"] != "arrived" and time.time() < deadline:
        time.sleep(0.02)
    assert world.store.get_visit(vb)["status"] == "arrived"
    return int(vb)


def test_traccar_arrival_is_marked_and_a_coordinator_undoes_it(world) -> None:  # type: ignore[no-untyped-def]
    """The arrival says it was detected automatically from Traccar; the coordinator's undo
    puts the visit back as it was, keeps a trace in its record, is audited, and the geofence
    does not record it again from the next fix."""
    vb = _arrive_by_traccar(world)
    client = world.app.test_client()
    coord = world.headers("coordinator")
    arrival = client.get(f"/api/visits/{vb}/arrival", headers=coord).get_json()["arrival"]
    assert arrival["automatic"] is True and arrival["source"] == "traccar"
    assert arrival["undoable"] is True and arrival["event_id"]
    for who in ("admin", "planner", "member_b", "device_b", "anonymous"):
        assert client.post(
            f"/api/visits/{vb}/arrival/undo", headers=world.headers(who)
        ).status_code in (
            401,
            403,
        ), who
    reply = client.post(f"/api/visits/{vb}/arrival/undo", headers=coord)
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["visit"]["status"] == "assigned"
    assert body["event"]["kind"] == "note" and body["event"]["actor"] == "system:geofence"
    assert world.store.get_visit(vb)["status"] == "assigned"
    (line,) = [
        a
        for a in world.store.list_audit(target=f"visit:{vb}")
        if a["action"] == "visit.arrival.undone"
    ]
    assert (
        line["actor"] == f"user:{world.ids['coordinator']}"
        and line["detail"]["source"] == "traccar"
    )
    again = client.post(f"/api/visits/{vb}/arrival/undo", headers=coord)
    assert again.status_code == 404 and again.get_json()["ok"] is False
    assert client.get(f"/api/visits/{vb}/arrival", headers=coord).get_json()["arrival"] is None
    # The next fix at the door does not record the arrival again (the team checks in itself).
    client.get(
        f"/osmand?id={traccar_id(world)}&lat=42.31&lon=9.1601&accuracy=5&timestamp={int(time.time()) + 1}"
    )
    time.sleep(0.2)
    assert world.store.get_visit(vb)["status"] == "assigned"


def test_a_check_in_pressed_on_the_phone_is_not_undone_here(world) -> None:  # type: ignore[no-untyped-def]
    """Only an automatic arrival can be undone: after the team's own check-in, 409."""
    vb = _arrive_by_traccar(world)
    client = world.app.test_client()
    reply = client.post(
        f"/api/visits/{vb}/events",
        json={"kind": "check_in", "client_id": "pressed"},
        headers=world.headers("device_b"),
    )
    assert reply.status_code == 201, reply.get_json()
    coord = world.headers("coordinator")
    arrival = client.get(f"/api/visits/{vb}/arrival", headers=coord).get_json()["arrival"]
    assert arrival["source"] == "traccar" and arrival["undoable"] is False
    refused = client.post(f"/api/visits/{vb}/arrival/undo", headers=coord)
    assert refused.status_code == 409 and "the team has checked in" in refused.get_json()["error"]
    assert world.store.get_visit(vb)["status"] == "in_progress"
    other = world.ids["visit_a"]
    assert client.get(f"/api/visits/{other}/arrival", headers=coord).get_json()["arrival"] is None


def test_undo_arrival_is_in_the_openapi_document(world) -> None:  # type: ignore[no-untyped-def]
    doc = world.app.test_client().get("/api/openapi.json").get_json()
    assert "post" in doc["paths"]["/api/visits/{visit_id}/arrival/undo"]
    assert "get" in doc["paths"]["/api/visits/{visit_id}/arrival"]


# -- the ingest endpoints' documents say what they accept (schemathesis, item 17's requests) -----
def test_snapshot_refuses_a_trail_outside_its_documented_bounds(world) -> None:  # type: ignore[no-untyped-def]
    client = world.app.test_client()
    coord = world.headers("coordinator")
    for bad in ("-1", "86401"):
        reply = client.get(f"/api/live/snapshot?trail_s={bad}", headers=coord)
        assert reply.status_code == 400 and "trail_s" in reply.get_json()["error"], bad
    assert client.get("/api/live/snapshot?trail_s=0", headers=coord).status_code == 200


def test_positions_document_matches_what_the_phone_sends(world) -> None:  # type: ignore[no-untyped-def]
    """The phone sends null for an unknown speed, heading or battery: the document allows it;
    the bounds the server checks are in the document (accuracy at most 1e6 m, times in seconds
    or milliseconds between 2000 and 2100, team ids within 2**53)."""
    doc = world.app.test_client().get("/api/openapi.json").get_json()
    post = doc["paths"]["/api/positions"]["post"]
    fix_schema = post["requestBody"]["content"]["application/json"]["schema"]["properties"][
        "positions"
    ]["items"]
    props = fix_schema["properties"]
    for name in ("accuracy_m", "speed_mps", "heading_deg", "battery_pct", "client_id"):
        assert "null" in props[name]["type"], name
    assert props["accuracy_m"]["maximum"] == 1e6
    ranges = [(r["minimum"], r["maximum"]) for r in props["device_time_s"]["anyOf"]]
    assert ranges == [(946684800, 4102444800), (946684800000, 4102444800000)]
    now = time.time()
    phone_fix = {
        "client_id": "p-null",
        "lon": 9.15,
        "lat": 42.3,
        "device_time_s": now * 1000,
        "accuracy_m": 12,
        "speed_mps": None,
        "heading_deg": None,
        "battery_pct": None,
    }
    reply = world.app.test_client().post(
        "/api/positions", json={"positions": [phone_fix]}, headers=world.headers("device_b")
    )
    assert reply.get_json()["stored"] == 1
    get = doc["paths"]["/api/positions"]["get"]
    (team_param,) = [p for p in get["parameters"] if p["name"] == "team_id"]
    assert team_param["schema"]["maximum"] == 2**53


def test_osmand_limits_count_the_client_behind_a_trusted_proxy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Behind a reverse proxy listed in trusted_proxies, each forwarded client has its own
    budget of unknown identifiers; a forwarded address from anyone else is ignored."""
    from dispatch.web.live import LIMITS_KEY, OSMAND_UNKNOWN_PER_MIN, OsmandLimits

    w = make_world(tmp_path, trusted_proxies=("127.0.0.1",))
    try:
        w.app.extensions[LIMITS_KEY] = OsmandLimits(clock=lambda: 1000.0)
        client = w.app.test_client()

        def guess(i: int, forwarded: str, peer: str = "127.0.0.1") -> int:
            return client.get(
                f"/osmand?id={2000000000000000 + i}&lat=42.3&lon=9.15",
                headers={"X-Forwarded-For": forwarded},
                environ_base={"REMOTE_ADDR": peer},
            ).status_code

        codes = [guess(i, "203.0.113.1") for i in range(OSMAND_UNKNOWN_PER_MIN + 1)]
        assert codes[-1] == 429 and codes[:-1] == [401] * OSMAND_UNKNOWN_PER_MIN
        assert guess(99, "203.0.113.2") == 401  # another client behind the same proxy
        # Not a trusted proxy: its X-Forwarded-For is ignored, the peer is the client.
        codes = [guess(i, f"198.51.100.{i}", peer="192.0.2.9") for i in range(30)]
        assert codes.count(429) == 30 - OSMAND_UNKNOWN_PER_MIN
    finally:
        w.store.close()
