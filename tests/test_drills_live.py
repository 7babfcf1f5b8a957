"""Issue 21 item 18, the live drills kept as tests: an offline replay sent twice and shuffled,
and 1,000 malformed socket events, against a real threaded server over websockets.

- A phone back from an hour without network replays its outbox (1,800 fixes, one every 2 s)
  twice, shuffled, through its socket and through the REST batch path: exactly 1,800 rows,
  read back in the order they were taken, the trail in that order, the marker on the newest.
- 1,000 malformed events (bad payloads of every event, unknown and reserved names): each gets
  an error acknowledgement, and the server still serves the phone and the API.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import requests
import socketio
from live_support import MELUN, RealServer, add_team_with_phone, make_world, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = pytest.mark.load

N_FIXES = 1800
STEP_S = 2.0
#: 10 m north every 2 s (5 m/s, declared): drawn, no jump, no jitter.
STEP_DEG = 0.00009


@pytest.fixture(scope="module")
def server(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("drills-live"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    world = make_world(store, hub.today())
    real = RealServer(app)
    yield real, store, world
    real.stop()
    store.close()


def _phone(url: str, token: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return client


def _outbox(prefix: str) -> list[dict[str, Any]]:
    """The fixes of the last hour, oldest first, as the phone's outbox keeps them."""
    start = time.time() - N_FIXES * STEP_S - 60
    return [
        {
            "client_id": f"{prefix}-{i:04d}",
            "lon": MELUN[0],
            "lat": round(MELUN[1] + i * STEP_DEG, 6),
            "device_time_s": start + i * STEP_S,
            "accuracy_m": 6,
            "speed_mps": 5.0,
        }
        for i in range(N_FIXES)
    ]


def _replay(fixes: list[dict[str, Any]], seed: int) -> list[list[dict[str, Any]]]:
    """The outbox sent twice, shuffled, in batches of 300."""
    twice = fixes + fixes
    random.Random(seed).shuffle(twice)
    return [twice[i : i + 300] for i in range(0, len(twice), 300)]


def _check_stored(store: Store, server: Any, team_id: int, fixes: list[dict[str, Any]]) -> None:
    rows: list[dict[str, Any]] = []
    while True:
        page = store.list_positions(team_id=team_id, limit=1000, offset=len(rows))
        rows.extend(page)
        if len(page) < 1000:
            break
    assert len(rows) == N_FIXES
    assert [r["client_id"] for r in rows] == [f["client_id"] for f in fixes]
    hub = server.app.extensions["dispatch.live"]
    track = hub.track(team_id, since_s=fixes[0]["device_time_s"] - 1)
    times = [p["device_time_s"] for p in track]
    assert len(times) == N_FIXES and times == sorted(times)
    snap = hub.snapshot(role="coordinator", team_id=None, trail_s=3 * 3600)
    marker = next(p for p in snap["positions"] if p["team_id"] == team_id)
    assert round(marker["lat"], 6) == fixes[-1]["lat"], "the marker is not on the newest fix"


def test_offline_replay_twice_shuffled_through_the_socket(server) -> None:  # type: ignore[no-untyped-def]
    real, store, _world = server
    team, token = add_team_with_phone(store, "Équipe replay socket")
    fixes = _outbox("sock")
    phone = _phone(real.base_url, token)
    stored = duplicates = 0
    try:
        for batch in _replay(fixes, seed=1):
            ack = phone.call("position", {"positions": batch}, timeout=30)
            assert ack["ok"] is True, ack
            stored += ack["stored"]
            duplicates += ack["duplicates"]
    finally:
        phone.disconnect()
    assert (stored, duplicates) == (N_FIXES, N_FIXES)
    _check_stored(store, real, team["id"], fixes)


def test_offline_replay_twice_shuffled_through_rest(server) -> None:  # type: ignore[no-untyped-def]
    real, store, _world = server
    team, token = add_team_with_phone(store, "Équipe replay REST")
    fixes = _outbox("rest")
    stored = duplicates = 0
    with requests.Session() as http:
        for batch in _replay(fixes, seed=2):
            reply = http.post(
                f"{real.base_url}/api/positions",
                json={"positions": batch},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            stored += reply.json()["stored"]
            duplicates += reply.json()["duplicates"]
    assert (stored, duplicates) == (N_FIXES, N_FIXES)
    _check_stored(store, real, team["id"], fixes)


def _malformed(visit_id: int) -> list[tuple[str, Any]]:
    """Malformed events of every kind a client can send (names and payloads)."""
    now = time.time()
    good = {"client_id": "m", "lon": MELUN[0], "lat": MELUN[1], "device_time_s": now}
    nested: Any = []
    for _ in range(200):
        nested = [nested]
    positions: list[Any] = [
        None,
        42,
        "text",
        [],
        [1, 2, 3],
        {},
        {"positions": []},
        {"positions": "many"},
        {"positions": [None]},
        {"positions": [good] * 501},
        {"positions": nested},
        {**good, "lon": "east"},
        {**good, "lat": None},
        {**good, "lon": 999.0},
        {**good, "lat": -91.0},
        {**good, "device_time_s": "yesterday"},
        {**good, "device_time_s": 1e20},
        {**good, "device_time_s": 1_000_000_000},
        {"lon": MELUN[0]},
        {**good, "accuracy_m": "very"},
    ]
    visit_events: list[Any] = [
        None,
        [],
        "check_in",
        {},
        {"visit_id": "1"},
        {"visit_id": 10**12, "kind": "check_in"},
        {"visit_id": visit_id, "kind": "teleport", "client_id": "m", "device_time_s": now},
        {"visit_id": visit_id, "kind": "check_in", "device_time_s": "now"},
        {"visit_id": visit_id, "kind": "note", "note": "x" * 100_000},
    ]
    names = ["hello", "x" * 500, "__proto__", "disconnect", "connect", "connect_error", "*"]
    events: list[tuple[str, Any]] = []
    events += [("position", p) for p in positions]
    events += [("visit_event", v) for v in visit_events]
    events += [(n, {"a": 1}) for n in names]
    return events


def test_a_thousand_malformed_socket_events_each_get_an_error_ack(server) -> None:  # type: ignore[no-untyped-def]
    real, store, world = server
    team, token = add_team_with_phone(store, "Équipe malformée")
    kinds = _malformed(world.visit_a["id"])
    phone = _phone(real.base_url, token)
    try:
        answered = 0
        wrong: dict[str, str] = {}
        for i in range(1000):
            name, payload = kinds[i % len(kinds)]
            what = f"{name[:20]!r} with {str(payload)[:60]}"
            try:
                ack = phone.call(name, payload, timeout=5 if what not in wrong else 0.5)
            except socketio.exceptions.TimeoutError:
                wrong[what] = "no acknowledgement"
                continue
            if not (
                isinstance(ack, dict)
                and ack.get("ok") is False
                and ack.get("status") in (400, 403, 404, 413, 422)
                and ack.get("error")
            ):
                wrong[what] = f"acknowledged {str(ack)[:120]}"
                continue
            answered += 1
        assert not wrong, wrong
        assert answered == 1000
        assert phone.connected
        # Still serving: the same phone's next good fix, and the API.
        fix = {
            "client_id": "after-malformed",
            "lon": MELUN[0],
            "lat": MELUN[1],
            "device_time_s": time.time(),
            "accuracy_m": 5,
        }
        ack = phone.call("position", fix, timeout=10)
        assert ack["ok"] is True and ack["stored"] == 1, ack
    finally:
        phone.disconnect()
    assert requests.get(f"{real.base_url}/api/health", timeout=5).status_code == 200
    rows = store.list_positions(team_id=team["id"])
    assert [r["client_id"] for r in rows] == ["after-malformed"]


@pytest.mark.browser
def test_map_and_phone_reload_their_snapshot_on_resync(server, browser) -> None:  # type: ignore[no-untyped-def]
    """Issue 21 item 15, the pages' side: a fix stored by another process while the Redis bus
    was down reached the database but no page. When this process's bus comes back it catches
    up with the store and sends `resync`: the coordinator's map and the phone reload their
    snapshot, and the map shows the missed fix."""
    from live_support import PASSWORD, WAKE_LOCK_STUB

    from dispatch.web.app import socketio as server_socketio
    from dispatch.web.redis_bus import RESYNC_EVENT, reseed_live_board

    real, store, world = server
    p, instance = browser
    team, _token = add_team_with_phone(store, "Équipe resync")
    store.insert_positions(team["id"], [{**_outbox("seen")[0], "device_time_s": time.time() - 30}])
    reseed_live_board(real.app)
    coord_ctx = instance.new_context(viewport={"width": 1280, "height": 800})
    phone_ctx = instance.new_context(**p.devices["Pixel 7"])
    phone_ctx.add_init_script(WAKE_LOCK_STUB)
    try:
        coord = coord_ctx.new_page()
        coord.goto(f"{real.base_url}/map/")
        coord.fill("input[name=username]", "coord")
        coord.fill("input[name=password]", PASSWORD)
        coord.click("#login-form button[type=submit]")
        coord.wait_for_selector("body[data-ready='1']", timeout=20000)
        coord.wait_for_function(f"window.dispatchMap.markers.has({team['id']})", timeout=10000)
        phone = phone_ctx.new_page()
        code = store.create_pairing(world.team_b["id"])["code"]
        phone.goto(f"{real.base_url}/phone/?code={code}")
        phone.wait_for_selector("body[data-ready='1']", timeout=15000)
        time.sleep(0.5)

        # Stored by "the other process": no push reached this one.
        missed = round(MELUN[1] + 0.004, 6)
        store.insert_positions(
            team["id"],
            [{"client_id": "missed", "lon": MELUN[0], "lat": missed, "device_time_s": time.time()}],
        )
        reseed_live_board(real.app)
        with (
            coord.expect_request("**/api/live/snapshot*", timeout=5000),
            phone.expect_request("**/api/live/snapshot*", timeout=5000),
        ):
            server_socketio.emit(RESYNC_EVENT, {"reason": "bus_reconnected", "down_s": 8.0})
        coord.wait_for_function(
            "([id, lat]) => { const m = window.dispatchMap.markers.get(id);"
            " return !!m && Math.abs(m.getLngLat().lat - lat) < 1e-6; }",
            arg=[team["id"], missed],
            timeout=5000,
        )
    finally:
        coord_ctx.close()
        phone_ctx.close()


def test_unreadable_socket_packets_get_an_error_ack(server) -> None:  # type: ignore[no-untyped-def]
    """Packets whose JSON cannot be read (nested 100,000 deep, cut short, not JSON at all) are
    each answered with an error acknowledgement; the socket stays open and keeps serving."""
    real, store, world = server
    team, token = add_team_with_phone(store, "Équipe illisible")
    phone = _phone(real.base_url, token)
    texts = [
        '["position",' + "[" * 100_000 + "]" * 100_000 + "]",
        '["position", {"lon": 2.6',
        "not json at all",
        '["visit_event",' + "{" * 50_000,
    ]
    try:
        replies: dict[int, Any] = {}
        got = {i: __import__("threading").Event() for i in range(len(texts))}
        for i, text in enumerate(texts):

            def callback(*args: Any, i: int = i) -> None:
                replies[i] = args[0] if args else None
                got[i].set()

            ack_id = phone._generate_ack_id("/", callback)
            phone.eio.send(f"2{ack_id}{text}")
        for i in range(len(texts)):
            assert got[i].wait(5), f"no acknowledgement for packet {i}"
            reply = replies[i]
            assert isinstance(reply, dict) and reply.get("ok") is False, reply
            assert reply["status"] == 400 and reply["code"] == "unreadable_event", reply
            assert len(reply["error"]) < 300
        assert phone.connected
        fix = {
            "client_id": "after-unreadable",
            "lon": MELUN[0],
            "lat": MELUN[1],
            "device_time_s": time.time(),
            "accuracy_m": 5,
        }
        ack = phone.call("position", fix, timeout=10)
        assert ack["ok"] is True and ack["stored"] == 1, ack
    finally:
        phone.disconnect()
