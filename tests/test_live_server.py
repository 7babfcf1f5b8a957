"""Live server edge: socket auth and rooms, the three ingest paths, snapshot, alerts, tiles."""

from __future__ import annotations

import time
from typing import Any

import pytest
from live_support import (
    HOME_A,
    MELUN,
    PASSWORD,
    add_team_with_phone,
    make_world,
    module_settings,
)

from dispatch.store import Store
from dispatch.web.app import create_app, socketio

DLAT_PER_M = 1 / 111_195


@pytest.fixture(scope="module")
def env(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """One app on a fresh SQLite file with the small world for the module (hashing the users'
    passwords is slow on purpose); tests that change a team create their own."""
    settings = module_settings(tmp_path_factory.mktemp("live"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    world = make_world(store, hub.today())
    world.extra["coord"] = login(app)
    world.extra["member_b"] = login(app, "membre-b")
    yield app, world
    hub.stop()
    store.close()


def coordinator(world: Any) -> Any:
    """The coordinator's logged-in test client (one login per module)."""
    return world.extra["coord"]


def login(app: Any, username: str = "coord") -> Any:
    client = app.test_client()
    reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.json
    client.environ_base["HTTP_X_CSRF_TOKEN"] = reply.json["csrf_token"]
    return client


def live_batches(client: Any) -> list[dict[str, Any]]:
    return [m["args"][0] for m in client.get_received() if m["name"] == "live"]


def wait_batches(client: Any, predicate: Any, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    """Collect live batches until ``predicate(batches)`` holds (the fan-out is periodic)."""
    got: list[dict[str, Any]] = []
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got.extend(live_batches(client))
        if predicate(got):
            return got
        time.sleep(0.05)
    return got


def fix(lon: float, lat: float, t: float, cid: str, **kw: Any) -> dict[str, Any]:
    return {"client_id": cid, "lon": lon, "lat": lat, "device_time_s": t, "accuracy_m": 8, **kw}


def test_socket_without_valid_credentials_is_refused(env) -> None:  # type: ignore[no-untyped-def]
    """No credentials, a made-up token or a revoked device: the connection is refused."""
    app, world = env
    assert not socketio.test_client(app).is_connected()
    assert not socketio.test_client(app, auth={"token": "dsp_d_made-up"}).is_connected()
    _, token = add_team_with_phone(world.store, "Équipe révoquée")
    assert socketio.test_client(app, auth={"token": token}).is_connected()
    world.store.revoke_device(world.store.device_for_token(token)["id"])
    assert not socketio.test_client(app, auth={"token": token}).is_connected()


def test_position_is_acknowledged_after_it_is_stored(env) -> None:  # type: ignore[no-untyped-def]
    """The ack carries the stored ids; a resend of the same client_id is stored once."""
    app, world = env
    team, token = add_team_with_phone(world.store, "Équipe ack")
    phone = socketio.test_client(app, auth={"token": token})
    now = time.time()
    batch = {
        "positions": [fix(*MELUN, now - 20, "p1"), fix(MELUN[0], MELUN[1] + 0.001, now - 10, "p2")]
    }
    ack = phone.emit("position", batch, callback=True)
    assert ack["ok"] and ack["stored"] == 2 and len(ack["ids"]) == 2
    stored = world.store.list_positions(team_id=team["id"])
    assert [p["client_id"] for p in stored] == ["p1", "p2"]
    again = phone.emit("position", batch, callback=True)
    assert again["stored"] == 0 and again["duplicates"] == 2
    bad = phone.emit("position", {"lon": 2.6}, callback=True)
    assert bad["ok"] is False and bad["status"] == 400 and "lat" in bad["error"]


def test_coordinators_get_positions_and_teams_get_only_their_round(env) -> None:  # type: ignore[no-untyped-def]
    """A's check-in reaches coordinators and A's phone; B's phone and member never see A's visit."""
    app, world = env
    coord = socketio.test_client(app, flask_test_client=coordinator(world))
    phone_a = socketio.test_client(app, auth={"token": world.token_a})
    phone_b = socketio.test_client(app, auth={"token": world.token_b})
    member_b = socketio.test_client(app, flask_test_client=world.extra["member_b"])
    assert all(c.is_connected() for c in (coord, phone_a, phone_b, member_b))
    now = time.time()
    phone_a.emit("position", fix(*MELUN, now, "a1"), callback=True)
    ack = phone_a.emit(
        "visit_event",
        {
            "visit_id": world.visit_a["id"],
            "kind": "check_in",
            "client_id": "ev1",
            "device_time_s": now,
        },
        callback=True,
    )
    assert ack["ok"] and ack["visit"]["status"] == "in_progress"
    denied = phone_b.emit(
        "visit_event",
        {"visit_id": world.visit_a["id"], "kind": "check_out", "client_id": "ev2"},
        callback=True,
    )
    assert denied["ok"] is False and denied["status"] == 403
    got = wait_batches(
        coord, lambda b: any(v["id"] == world.visit_a["id"] for x in b for v in x.get("visits", []))
    )
    assert any(p["team_id"] == world.team_a["id"] for b in got for p in b.get("positions", []))
    assert any(a["kind"] == "check_in" for b in got for a in b.get("alerts", []))
    got_a = wait_batches(phone_a, lambda b: any(b))
    assert any(v["id"] == world.visit_a["id"] for b in got_a for v in b.get("visits", []))
    time.sleep(0.4)
    for other in (phone_b, member_b):
        text = repr(other.get_received())
        assert "MME-ALPHA" not in text and "secrète de MME" not in text
        assert str(world.team_a["name"]) not in text
    snap = (
        app.test_client()
        .get("/api/live/snapshot", headers={"Authorization": f"Bearer {world.token_b}"})
        .json
    )
    assert [v["pseudonym"] for v in snap["visits"]] == ["M-BRAVO"]
    assert [t["id"] for t in snap["teams"]] == [world.team_b["id"]]
    assert snap["positions"] == [] and snap["trails"] == {} and snap["alerts"] == []


def test_rest_batch_replay_is_fanned_out_once(env) -> None:  # type: ignore[no-untyped-def]
    """POST /api/positions (outbox replay) twice: stored once, pushed once, in order."""
    app, world = env
    coord = socketio.test_client(app, flask_test_client=coordinator(world))
    team, token = add_team_with_phone(world.store, "Équipe rejeu")
    phone = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    now = time.time()
    batch = [
        fix(MELUN[0], MELUN[1] + 40 * i * DLAT_PER_M, now - 100 + 5 * i, f"r{i}") for i in range(20)
    ]
    for _ in range(2):
        reply = phone.post("/api/positions", json={"positions": batch}, headers=headers)
        assert reply.status_code == 200, reply.json
    got = wait_batches(coord, lambda b: sum(len(x.get("positions", [])) for x in b) >= 20)
    time.sleep(0.3)
    got += live_batches(coord)
    pushed = [p["id"] for b in got for p in b.get("positions", [])]
    assert len(pushed) == 20 and pushed == sorted(pushed)
    rows = world.store.list_positions(team_id=team["id"])
    assert [r["client_id"] for r in rows] == [f"r{i}" for i in range(20)]


def test_osmand_protocol_moves_the_team(env) -> None:  # type: ignore[no-untyped-def]
    """Traccar Client GET, form POST and JSON POST are stored; an unknown id is refused."""
    app, world = env
    team, token = add_team_with_phone(world.store, "Équipe Traccar")
    traccar_id = world.store.device_for_token(token)["traccar_id"]
    assert traccar_id and token not in traccar_id
    client = app.test_client()
    now = int(time.time())
    reply = client.get(
        f"/osmand?id={traccar_id}&lat={MELUN[1]}&lon={MELUN[0]}"
        f"&timestamp={now - 30}&speed=20&bearing=45&altitude=50&accuracy=6&batt=66"
    )
    assert reply.status_code == 200 and reply.json["stored"] == 1
    reply = client.post(
        "/osmand",
        data={
            "id": traccar_id,
            "lat": MELUN[1] + 0.002,
            "lon": MELUN[0],
            "timestamp": now - 15,
            "accuracy": 5,
        },
    )
    assert reply.status_code == 200 and reply.json["stored"] == 1
    reply = client.post(
        "/osmand",
        json={
            "device_id": traccar_id,
            "location": {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "coords": {
                    "latitude": MELUN[1] + 0.004,
                    "longitude": MELUN[0],
                    "accuracy": 5,
                    "speed": 10,
                    "heading": 0,
                },
                "battery": {"level": 0.5},
            },
        },
    )
    assert reply.status_code == 200 and reply.json["stored"] == 1
    rows = world.store.list_positions(team_id=team["id"])
    assert [r["source"] for r in rows] == ["osmand"] * 3
    assert rows[0]["speed_mps"] == pytest.approx(20 * 1852 / 3600)
    assert rows[0]["battery_pct"] == 66 and rows[2]["battery_pct"] == 50
    hub = app.extensions["dispatch.live"]
    (pos,) = hub.board.snapshot(time.time(), {team["id"]})
    assert pos["lat"] == pytest.approx(MELUN[1] + 0.004) and pos["presence"] == "live"
    refused = client.get(f"/osmand?id=not-a-token&lat=1&lon=2&timestamp={now}")
    assert refused.status_code == 401 and "Device identifier" in refused.json["error"]
    as_token = client.get(f"/osmand?id={token}&lat={MELUN[1]}&lon={MELUN[0]}&timestamp={now}")
    assert as_token.status_code == 401 and "must not travel in URLs" in as_token.json["error"]
    assert len(world.store.list_positions(team_id=team["id"])) == 3
    assert client.get("/osmand?lat=1&lon=2").status_code == 400


def test_traccar_identifier_is_not_a_bearer(env) -> None:  # type: ignore[no-untyped-def]
    """The Traccar identifier posts positions of its team only: it opens no socket, reads no
    API, and stops working once the device is revoked; the phone page's config shows it."""
    app, world = env
    team, token = add_team_with_phone(world.store, "Équipe identifiant")
    device = world.store.device_for_token(token)
    traccar_id = device["traccar_id"]
    assert not socketio.test_client(app, auth={"token": traccar_id}).is_connected()
    reply = app.test_client().get(
        "/api/live/config", headers={"Authorization": f"Bearer {traccar_id}"}
    )
    assert reply.status_code == 401
    config = app.test_client().get("/api/live/config", headers={"Authorization": f"Bearer {token}"})
    assert config.json["principal"]["traccar_id"] == traccar_id
    now = int(time.time())
    url = f"/osmand?id={traccar_id}&lat={MELUN[1]}&lon={MELUN[0]}&timestamp={now}"
    assert app.test_client().get(url).status_code == 200
    world.store.revoke_device(device["id"])
    assert app.test_client().get(url.replace(str(now), str(now - 5))).status_code == 401
    assert [p["team_id"] for p in world.store.list_positions(team_id=team["id"])] == [team["id"]]


def test_snapshot_has_trails_without_filtered_points(env) -> None:  # type: ignore[no-untyped-def]
    """Raw fixes are all stored; the snapshot's trail skips the jump and the inaccurate fix."""
    app, world = env
    team, token = add_team_with_phone(world.store, "Équipe trace")
    phone = socketio.test_client(app, auth={"token": token})
    now = time.time()
    fixes = [
        fix(MELUN[0], MELUN[1] + 100 * i * DLAT_PER_M, now - 60 + 10 * i, f"t{i}") for i in range(4)
    ]
    fixes.insert(2, fix(MELUN[0] + 0.2, MELUN[1], now - 45, "jump"))
    fixes.append(fix(MELUN[0], MELUN[1] + 0.01, now - 5, "vague", accuracy_m=900))
    ack = phone.emit("position", {"positions": fixes}, callback=True)
    assert ack["stored"] == 6 and ["jump"] in ack["flags"] and ["inaccurate"] in ack["flags"]
    snap = coordinator(world).get("/api/live/snapshot").json
    trail = snap["trails"][str(team["id"])]
    assert len(trail) == 4 and all(abs(p[0] - MELUN[0]) < 1e-9 for p in trail)
    assert len(world.store.list_positions(team_id=team["id"])) == 6
    points = coordinator(world).get(f"/api/live/track/{team['id']}").json["points"]
    flags = {p["client_id"]: p["flags"] for p in points}
    assert len(points) == 6 and flags["jump"] == ["jump"] and flags["vague"] == ["inaccurate"]
    assert [p["display"] for p in points].count(True) == 4
    denied = app.test_client().get(
        f"/api/live/track/{team['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert denied.status_code == 403
    assert {"Équipe A", "Équipe B", "Équipe trace"} <= {t["name"] for t in snap["teams"]}


def test_silent_team_becomes_position_unknown_with_an_alert(env) -> None:  # type: ignore[no-untyped-def]
    """After stale_s without a fix the team is "unknown" (age shown) and an alert is pushed."""
    app, world = env
    coord = socketio.test_client(app, flask_test_client=coordinator(world))
    team, token = add_team_with_phone(world.store, "Équipe silencieuse")
    phone = socketio.test_client(app, auth={"token": token})
    now = time.time()
    phone.emit("position", fix(*MELUN, now - 10, "s1"), callback=True)
    hub = app.extensions["dispatch.live"]
    hub.sweep(now + hub.board.stale_s + 5)
    got = wait_batches(coord, lambda b: any(b2.get("statuses") for b2 in b))
    statuses = [s for b in got for s in b.get("statuses", []) if s["team_id"] == team["id"]]
    assert statuses[-1]["presence"] == "unknown" and statuses[-1]["age_s"] > hub.board.stale_s
    alerts = [a for b in got for a in b.get("alerts", [])]
    assert any(a["kind"] == "unknown" and a["team_id"] == team["id"] for a in alerts)


def test_arrival_near_the_home_is_recorded_and_shown(env) -> None:  # type: ignore[no-untyped-def]
    """A fix 20 m from the patient's home records one arrival event the coordinator sees."""
    app, world = env
    coord = socketio.test_client(app, flask_test_client=coordinator(world))
    team, token = add_team_with_phone(world.store, "Équipe arrivée")
    hub = app.extensions["dispatch.live"]
    visit = world.store.add_visit(
        {
            "day": hub.today(),
            "pseudonym": "M-CHARLIE",
            "lon": HOME_A[0],
            "lat": HOME_A[1],
            "duration_s": 1800,
            "windows": [["00:00", "23:59"]],
            "team_id": team["id"],
        }
    )
    hub.on_visit(visit)
    phone = socketio.test_client(app, auth={"token": token})
    now = time.time()
    phone.emit(
        "position",
        {
            "positions": [
                fix(*MELUN, now - 200, "g0"),
                fix(HOME_A[0], HOME_A[1] - 20 * DLAT_PER_M, now - 30, "g1"),
                fix(HOME_A[0], HOME_A[1] - 10 * DLAT_PER_M, now - 20, "g2", speed_mps=1.5),
            ]
        },
        callback=True,
    )
    events = world.store.list_visit_events(visit["id"])
    assert [e["kind"] for e in events] == ["arrival"]
    assert world.store.get_visit(visit["id"])["status"] == "arrived"
    got = wait_batches(
        coord, lambda b: any(a["kind"] == "arrival" for x in b for a in x.get("alerts", []))
    )
    assert any(v["status"] == "arrived" for b in got for v in b.get("visits", []))


def test_pages_tiles_and_config(env) -> None:  # type: ignore[no-untyped-def]
    """Pages, the service worker scope, the PMTiles file with ranges, and the page config."""
    app, world = env
    client = app.test_client()
    assert client.get("/").headers["Location"].endswith("/map/")
    for path in ("/map/", "/phone/", "/static/map/map.js", "/static/map/vendor/maplibre-gl.js"):
        assert client.get(path).status_code == 200, path
    sw = client.get("/phone/sw.js")
    assert sw.headers["Service-Worker-Allowed"] == "/phone/" and "javascript" in sw.mimetype
    assert client.get("/phone/manifest.webmanifest").json["start_url"] == "/phone/"
    assert client.get("/api/live/config").status_code == 401
    config = coordinator(world).get("/api/live/config").json
    assert config["territory"]["id"] == "melun" and config["stale_s"] == 300
    assert config["online_tiles"] is False
    head = client.get(config["basemap_url"], headers={"Range": "bytes=0-6"})
    assert head.status_code == 206 and head.data == b"PMTiles"
    assert client.get("/tiles/other.pmtiles").status_code == 404
    spec = client.get("/api/openapi.json").json
    assert "/api/live/snapshot" in spec["paths"] and "/api/live/config" in spec["paths"]


def test_quality_flags_are_stored_at_ingest_on_all_three_paths(env) -> None:  # type: ignore[no-untyped-def]
    """Socket, REST and OsmAnd fixes are all kept, with the live filter's flags stored; the track
    serves the stored verdict (a fix arriving late stays "late", as judged on arrival)."""
    app, world = env
    team, token = add_team_with_phone(world.store, "Équipe drapeaux")
    phone = socketio.test_client(app, auth={"token": token})
    now = time.time()
    ack = phone.emit("position", fix(*MELUN, now - 10, "s-now"), callback=True)
    assert ack["ok"] and ack["flags"] == [[]]
    ack = phone.emit(
        "position", fix(MELUN[0], MELUN[1] + 0.0005, now - 40, "s-late"), callback=True
    )
    assert ack["flags"] == [["late"]]
    rest = coordinator(world).post(
        "/api/positions",
        json={
            "team_id": team["id"],
            "positions": [fix(*MELUN, now - 5, "r-vague", accuracy_m=900)],
        },
    )
    assert rest.status_code in (200, 201), rest.json
    traccar_id = world.store.device_for_token(token)["traccar_id"]
    reply = app.test_client().get(
        f"/osmand?id={traccar_id}&lat={MELUN[1]}&lon={MELUN[0] + 0.3}&timestamp={int(now)}"
        "&accuracy=5"
    )
    assert reply.status_code == 200
    stored = {p["client_id"]: p["flags"] for p in world.store.list_positions(team_id=team["id"])}
    osmand_flags = [f for cid, f in stored.items() if cid.startswith("osmand:")]
    assert stored["s-now"] == [] and stored["s-late"] == ["late"]
    assert stored["r-vague"] == ["inaccurate"] and osmand_flags == [["jump"]]
    points = coordinator(world).get(f"/api/live/track/{team['id']}").json["points"]
    by_id = {p["client_id"]: p for p in points}
    assert by_id["s-late"]["flags"] == ["late"] and by_id["s-late"]["display"]
    assert not by_id["r-vague"]["display"] and len(points) == 4


def test_pairing_response_carries_the_traccar_identifier(env) -> None:  # type: ignore[no-untyped-def]
    """The phone learns its Traccar identifier when it pairs, distinct from its token."""
    app, world = env
    team, _ = add_team_with_phone(world.store, "Équipe appairage")
    code = world.store.create_pairing(team["id"])["code"]
    reply = app.test_client().post("/api/devices/pair", json={"code": code})
    assert reply.status_code == 201, reply.json
    traccar_id = reply.json["device"]["traccar_id"]
    assert traccar_id.isdigit() and len(traccar_id) == 16 and traccar_id not in reply.json["token"]
