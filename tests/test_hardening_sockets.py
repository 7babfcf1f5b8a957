"""Live sockets hardening (issue 21, items 1, 8 and 11): patient data reaches only the roles
REST lets read it, free-text notes are fetched through the audited endpoint, planners get no
live positions unless granted, reserved event names are refused, and every socket's
credentials are checked again periodically."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import socketio as sio
from live_support import (
    HOME_B,
    MELUN,
    PASSWORD,
    RealServer,
    add_team_with_phone,
    make_world,
    module_settings,
)

from dispatch.live.hub import coordinator_room, planner_room
from dispatch.store import Store
from dispatch.web import sockets
from dispatch.web.app import create_app, socketio

#: The periodic credential check of this module's app (seconds): short, so the tests are quick.
RECHECK_S = 0.3
NOTE = "Chute hier soir, douleur à la hanche droite"


@pytest.fixture(scope="module")
def env(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """One app (credentials re-checked every 0.3 s) with the small world, an admin and a planner."""
    settings = module_settings(
        tmp_path_factory.mktemp("hardening-sockets"), territory_cache, shared_dir
    ).replace(socket_recheck_s=RECHECK_S)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    world = make_world(store, hub.today())
    store.add_user("admin", role="admin", password=PASSWORD)
    store.add_user("planif", role="planner", password=PASSWORD)
    yield app, world
    hub.stop()
    store.close()


def login(app: Any, username: str) -> Any:
    client = app.test_client()
    reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.json
    client.environ_base["HTTP_X_CSRF_TOKEN"] = reply.json["csrf_token"]
    return client


def user_socket(app: Any, username: str) -> tuple[Any, Any]:
    """A logged-in REST client and a socket opened with its session cookie."""
    client = login(app, username)
    sock = socketio.test_client(app, flask_test_client=client)
    assert sock.is_connected()
    return client, sock


def batches(sock: Any) -> list[dict[str, Any]]:
    """The live batches received so far (also once the socket was dropped)."""
    got = [m["args"][0] for m in sock.queue if m["name"] == "live"]
    sock.queue.clear()
    return got


def collect(socks: dict[str, Any], until: Any, timeout_s: float = 3.0) -> dict[str, list]:
    """Live batches per socket, until ``until(got)`` holds, then 0.3 s more (the other rooms of
    the same flush)."""
    got: dict[str, list] = {name: [] for name in socks}
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for name, sock in socks.items():
            got[name] += batches(sock)
        if until(got):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    for name, sock in socks.items():
        got[name] += batches(sock)
    return got


def items(got: list[dict[str, Any]], kind: str) -> list[Any]:
    return [item for batch in got for item in batch.get(kind, [])]


def ended(sock: Any) -> bool:
    names = [m["name"] for m in sock.queue]
    return "session_ended" in names and not sock.is_connected()


# -- item 1: notes and visits ---------------------------------------------------------------------
def test_admin_socket_gets_no_patient_data_and_notes_are_fetched_audited(env) -> None:  # type: ignore[no-untyped-def]
    """A team's note reaches no admin and no planner socket; coordinators get the event without
    its text (has_note) and read the text through GET /api/visits/<id>/events, which audits the
    read per reader. Admins get no visit, round or event by socket at all."""
    app, world = env
    coord, coord_sock = user_socket(app, "coord")
    _, admin_sock = user_socket(app, "admin")
    _, planner_sock = user_socket(app, "planif")
    phone = socketio.test_client(app, auth={"token": world.token_b})
    socks = {"coord": coord_sock, "admin": admin_sock, "planner": planner_sock}
    for sock in socks.values():
        batches(sock)
    vid = world.visit_b["id"]
    ack = phone.emit(
        "visit_event",
        {"visit_id": vid, "kind": "note", "note": NOTE, "client_id": "note-1"},
        callback=True,
    )
    assert ack["ok"], ack
    ack = phone.emit(
        "visit_event",
        {
            "visit_id": vid,
            "kind": "check_in",
            "client_id": "in-1",
            "lon": HOME_B[0],
            "lat": HOME_B[1],
        },
        callback=True,
    )
    assert ack["ok"], ack
    got = collect(socks, lambda g: len(items(g["coord"], "events")) >= 2)

    events = items(got["coord"], "events")
    assert [e["kind"] for e in events] == ["note", "check_in"]
    assert events[0]["has_note"] is True and events[1]["has_note"] is False
    assert all("note" not in e and "reason" not in e for e in events)
    assert items(got["coord"], "visits"), "coordinators still see the visit's new status"
    for name in ("coord", "admin", "planner"):
        assert NOTE not in repr(got[name]), name
    for kind in ("events", "visits", "plans", "changes", "etas"):
        assert not items(got["admin"], kind), kind
    assert not items(got["planner"], "events")
    assert all("address" not in v for v in items(got["planner"], "visits"))
    # The text, through the audited endpoint: one audit line for this coordinator's read.
    reply = coord.get(f"/api/visits/{vid}/events?from=map")
    assert reply.status_code == 200
    assert NOTE in [e["note"] for e in reply.json["items"]]
    reads = [
        a
        for a in world.store.list_audit(target=f"visit:{vid}")
        if a["action"] == "visit.events.read"
    ]
    assert reads and reads[0]["role"] == "coordinator"
    for sock in (*socks.values(), phone):
        sock.disconnect()


def test_admin_socket_keeps_the_team_level_pushes(env) -> None:  # type: ignore[no-untyped-def]
    """What an admin may read over REST without patient data: team positions and statuses."""
    app, world = env
    _, admin_sock = user_socket(app, "admin")
    batches(admin_sock)
    phone = socketio.test_client(app, auth={"token": world.token_a})
    fix = {"client_id": "adm-1", "lon": MELUN[0], "lat": MELUN[1], "device_time_s": time.time()}
    assert phone.emit("position", fix, callback=True)["ok"]
    got = collect({"admin": admin_sock}, lambda g: items(g["admin"], "positions"))
    assert [p["team_id"] for p in items(got["admin"], "positions")] == [world.team_a["id"]]
    admin_sock.disconnect()
    phone.disconnect()


def test_admin_snapshot_has_teams_and_positions_but_no_visits_or_rounds(env) -> None:  # type: ignore[no-untyped-def]
    """The live picture an admin's map loads (and reloads on every reconnection) holds what its
    socket gets: teams, positions and alerts; no visit and no round."""
    app, world = env
    snap = login(app, "admin").get("/api/live/snapshot").json
    assert snap["ok"] and {t["id"] for t in snap["teams"]} >= {world.team_a["id"]}
    assert snap["visits"] == [] and snap["plans"] == []
    assert "M-BRAVO" not in repr(snap) and "rue secrète" not in repr(snap)
    coord = login(app, "coord").get("/api/live/snapshot").json
    assert {v["pseudonym"] for v in coord["visits"]} >= {"MME-ALPHA", "M-BRAVO"}


class _PlanStore:
    """The little of a store a plan change reads: one round through one home."""

    def __init__(self, day: str) -> None:
        self.visit = {
            "id": 7,
            "day": day,
            "team_id": 1,
            "status": "planned",
            "pseudonym": "MME-ROND",
            "lon": 2.661234,
            "lat": 48.543217,
            "address": "3 rue du Four",
        }
        self.team = {"id": 1, "name": "A", "base_lon": MELUN[0], "base_lat": MELUN[1]}

    def published_plan(self, day: str, team_id: Any = None) -> dict[str, Any]:
        stops = [{"visit_id": 7, "arrival_s": 36000}]
        return {"id": 3, "day": day, "routes": [{"team_id": 1, "stops": stops}]}

    def list_visits(self, **_: Any) -> list[dict[str, Any]]:
        return [self.visit]

    def list_teams(self, **_: Any) -> list[dict[str, Any]]:
        return [self.team]

    def get_visit(self, visit_id: int) -> dict[str, Any]:
        return self.visit


def test_plan_change_pushes_planners_rounds_to_about_100_m() -> None:
    """A plan change sends coordinators the round's exact line (through the home) and planners
    the same line snapped to 0.001 degree, as their snapshot has it."""
    from dispatch.live.hub import LiveHub

    sent: dict[str, dict[str, Any]] = {}
    hub = LiveHub(_PlanStore("x"), lambda _e, payload, room: sent.setdefault(room, payload))
    hub.store = _PlanStore(hub.today())
    hub.on_plan_change({"day": hub.today(), "plan_id": 3, "teams": [1], "visits": [7]})
    hub.fanout.flush()
    exact = sent[coordinator_room(1)]["plans"][0]["geometry"]["coordinates"]
    coarse = sent[planner_room(1)]["plans"][0]["geometry"]["coordinates"]
    assert [2.661234, 48.543217] in exact
    assert [2.661, 48.543] in coarse
    assert all(round(c, 3) == c for point in coarse for c in point)
    assert all("address" not in v for v in sent[planner_room(1)]["visits"])


# -- item 8: planners and live positions ----------------------------------------------------------
def test_planner_gets_no_live_positions_unless_granted(env) -> None:  # type: ignore[no-untyped-def]
    """With planner_live_positions off (the default), a planner's socket gets no position and
    statuses without a place, and the snapshot has no positions and no trails; granted, both."""
    app, world = env
    hub = app.extensions["dispatch.live"]
    assert hub.planner_live_positions is False
    planner, planner_sock = user_socket(app, "planif")
    _, coord_sock = user_socket(app, "coord")
    phone = socketio.test_client(app, auth={"token": world.token_a})
    for sock in (planner_sock, coord_sock):
        batches(sock)
    t = time.time()
    fix = {"client_id": "pl-1", "lon": MELUN[0], "lat": MELUN[1], "device_time_s": t}
    assert phone.emit("position", fix, callback=True)["ok"]
    got = collect(
        {"planner": planner_sock, "coord": coord_sock}, lambda g: items(g["coord"], "positions")
    )
    assert not items(got["planner"], "positions")
    hub.sweep(t + hub.board.stale_s + 5)  # the team turns "position unknown": a status push
    got = collect(
        {"planner": planner_sock, "coord": coord_sock},
        lambda g: items(g["planner"], "statuses") and items(g["coord"], "statuses"),
    )
    statuses = [s for s in items(got["planner"], "statuses") if "team" not in s]
    assert statuses and all("lon" not in s and "lat" not in s for s in statuses)
    assert all(s["presence"] for s in statuses)
    assert any("lon" in s for s in items(got["coord"], "statuses"))
    snap = planner.get("/api/live/snapshot").json
    assert snap["positions"] and all("lon" not in p for p in snap["positions"])
    assert snap["trails"] == {}
    assert coord_sock and login(app, "coord").get("/api/live/snapshot").json["trails"]

    hub.planner_live_positions = True
    try:
        fix = {"client_id": "pl-2", "lon": MELUN[0], "lat": MELUN[1], "device_time_s": time.time()}
        assert phone.emit("position", fix, callback=True)["ok"]
        got = collect({"planner": planner_sock}, lambda g: items(g["planner"], "positions"))
        assert items(got["planner"], "positions")
        assert planner.get("/api/live/snapshot").json["trails"]
    finally:
        hub.planner_live_positions = False
    for sock in (planner_sock, coord_sock, phone):
        sock.disconnect()


# -- item 11: reserved event names and periodic re-checks -----------------------------------------
def test_reserved_event_names_are_refused(env) -> None:  # type: ignore[no-untyped-def]
    """'disconnect', 'connect' and the other reserved names sent by a client get an error
    acknowledgement and change nothing: the socket stays registered and in its rooms."""
    app, _ = env
    _, sock = user_socket(app, "coord")
    conns = app.extensions[sockets.CONNECTIONS_KEY]
    before = len(conns)
    for name in ("disconnect", "connect", "connect_error", "disconnecting", "newListener"):
        ack = sock.emit(name, {"token": "x"}, callback=True)
        assert isinstance(ack, dict) and ack["ok"] is False, (name, ack)
        assert ack["code"] == "reserved_event" and name in ack["error"]
    ack = sock.emit("no-such-event", {}, callback=True)
    assert ack["ok"] is False and ack["code"] == "unknown_event"
    assert len(conns) == before
    assert sock.is_connected()
    sock.disconnect()


def test_socket_that_emitted_disconnect_is_dropped_once_its_user_is_disabled(env) -> None:  # type: ignore[no-untyped-def]
    """The drill: a coordinator's socket emits 'disconnect', then the user is disabled straight
    in the store (as `dispatch user disable` does from another process). Within the re-check
    interval the socket is ended and gets no more pushes."""
    app, world = env
    user = world.store.add_user("coord-drill", role="coordinator", password=PASSWORD)
    _, sock = user_socket(app, "coord-drill")
    sock.emit("disconnect", callback=True)
    sock.emit("connect", callback=True)
    world.store.update_user(user["id"], active=False)
    hub = app.extensions["dispatch.live"]
    start = time.time()
    while time.time() - start < 10 * RECHECK_S + 5.0 and not ended(sock):
        time.sleep(0.05)
    took_s = time.time() - start
    assert ended(sock), "the socket of a disabled user is still connected"
    assert took_s < 10 * RECHECK_S + 1.0, took_s
    sock.queue.clear()
    hub.fanout.publish(coordinator_room(1), "alerts", {"kind": "late", "key": "after-disable"})
    hub.fanout.flush()
    time.sleep(0.2)
    assert "after-disable" not in repr(sock.queue)


def test_expired_session_and_device_revoked_elsewhere_end_their_sockets(env) -> None:  # type: ignore[no-untyped-def]
    """Changes no event announces in this process (another process, or time): a session past
    its expiry and a phone revoked straight in the store lose their sockets at the next check."""
    app, world = env
    store = world.store
    user = store.add_user("coord-expire", role="coordinator", password=PASSWORD)
    _, sock = user_socket(app, "coord-expire")
    _, token = add_team_with_phone(store, "Équipe révoquée ailleurs")
    phone = socketio.test_client(app, auth={"token": token})
    assert phone.is_connected()
    store.engine.write(
        lambda conn: conn.execute(
            "UPDATE sessions SET expires_at_s = 1 WHERE user_id = ?", (user["id"],)
        )
    )
    store.revoke_device(store.device_for_token(token)["id"])
    start = time.time()
    while time.time() - start < 10 * RECHECK_S + 5.0 and not (ended(sock) and ended(phone)):
        time.sleep(0.05)
    assert ended(sock) and ended(phone)
    assert time.time() - start < 10 * RECHECK_S + 1.0


def test_socket_missing_from_the_registry_is_dropped(env) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth: a socket connected to the server but absent from the registry of
    checked connections (whatever removed it) is disconnected by the periodic check."""
    app, _ = env
    _, sock = user_socket(app, "coord")
    conns = app.extensions[sockets.CONNECTIONS_KEY]
    server = app.extensions["socketio"].server
    mine = [
        sid
        for sid in conns.sids_where(lambda c: True)
        if server.manager.sid_from_eio_sid(sock.eio_sid, "/") == sid
    ]
    assert len(mine) == 1
    conns.remove(mine[0])
    start = time.time()
    while time.time() - start < 10 * RECHECK_S + 5.0 and sock.is_connected():
        time.sleep(0.05)
    assert not sock.is_connected()
    assert time.time() - start < 10 * RECHECK_S + 1.0


@pytest.mark.slow
def test_drill_cli_disable_stops_a_real_socket_that_emitted_disconnect(
    melun, tmp_path, territory_cache, shared_dir
) -> None:  # type: ignore[no-untyped-def]
    """The drill as it was run, end to end: a real server over websockets; a coordinator's
    script (API token) emits 'disconnect' (refused), a phone keeps reporting, and
    `dispatch user disable` runs in another process. The script's socket is ended and gets no
    push later than the re-check interval (0.5 s here; 15 s by default) after the command."""
    recheck_s = 0.5
    settings = module_settings(tmp_path, territory_cache, shared_dir).replace(
        socket_recheck_s=recheck_s
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    world = make_world(store, app.extensions["dispatch.live"].today())
    user = store.add_user("script-coord", role="coordinator", password=None)
    token = store.create_api_token(user["id"], label="script")
    real = RealServer(app)
    pushes: list[float] = []
    ended_at: list[float] = []
    coord = sio.Client(reconnection=False)
    coord.on("live", lambda batch: pushes.append(time.time()) if batch.get("positions") else None)
    coord.on("session_ended", lambda _: ended_at.append(time.time()))
    phone = sio.Client(reconnection=False)
    stop = threading.Event()

    def report() -> None:
        i = 0
        while not stop.wait(0.1):
            i += 1
            fix = {
                "client_id": f"drill-{i}",
                "lon": MELUN[0] + i * 1e-5,
                "lat": MELUN[1],
                "device_time_s": time.time(),
                "accuracy_m": 5,
            }
            try:
                phone.call("position", fix, timeout=5)
            except Exception:
                return

    try:
        coord.connect(real.base_url, auth={"token": token}, transports=["websocket"])
        phone.connect(real.base_url, auth={"token": world.token_a}, transports=["websocket"])
        ack = coord.call("disconnect", {}, timeout=5)
        assert ack["ok"] is False and ack["code"] == "reserved_event"
        reporter = threading.Thread(target=report, daemon=True)
        reporter.start()
        deadline = time.time() + 5
        while not pushes and time.time() < deadline:
            time.sleep(0.05)
        assert pushes, "the coordinator's script gets the phone's positions"
        env = {
            **os.environ,
            "DISPATCH_VAR_DIR": str(settings.var_dir),
            "DISPATCH_CACHE_DIR": str(territory_cache),
            "DISPATCH_DATA_PATH": str(shared_dir / "territories"),
            "DISPATCH_TERRITORY": "melun",
        }
        command_at = time.time()
        subprocess.run(
            [sys.executable, "-m", "dispatch", "user", "disable", "script-coord"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        disabled_at = time.time()
        while coord.connected and time.time() < disabled_at + 10:
            time.sleep(0.05)
        time.sleep(0.5)  # pushes still in flight would arrive now
        assert not coord.connected and ended_at, "still connected 10 s after the command"
        last_push_s = max(pushes) - disabled_at
        print(
            f"command took {disabled_at - command_at:.2f} s; socket ended"
            f" {ended_at[0] - command_at:.2f} s after it started"
        )
        assert last_push_s < recheck_s + 1.0, last_push_s
        assert ended_at[0] - disabled_at < recheck_s + 1.0
    finally:
        stop.set()
        for client in (coord, phone):
            if client.connected:
                client.disconnect()
        real.stop()
        store.close()


def test_settings_grant_planners_live_positions(tmp_path, territory_cache, shared_dir) -> None:  # type: ignore[no-untyped-def]
    """The structure's grant is the setting planner_live_positions (off by default)."""
    settings = module_settings(tmp_path, territory_cache, shared_dir)
    store = Store(settings.database)
    try:
        app = create_app(settings.replace(planner_live_positions=True), **{"dispatch.store": store})
        assert app.extensions["dispatch.live"].planner_live_positions is True
    finally:
        store.close()


@pytest.mark.slow
def test_drill_on_the_gevent_server(melun, tmp_path, territory_cache, shared_dir) -> None:  # type: ignore[no-untyped-def]
    """The same drill on `dispatch serve --server gevent` (the production server), settings
    from the environment: 'disconnect' refused, `dispatch user disable` ends the socket."""
    from tests.test_multiprocess_redis import _free_port, _wait_http

    store = Store(tmp_path / "dispatch.sqlite")
    user = store.add_user("coord-gevent", role="coordinator", password=None)
    token = store.create_api_token(user["id"])
    store.close()
    port = _free_port()
    env = {
        **os.environ,
        "DISPATCH_VAR_DIR": str(tmp_path),
        "DISPATCH_CACHE_DIR": str(territory_cache),
        "DISPATCH_DATA_PATH": str(shared_dir / "territories"),
        "DISPATCH_TERRITORY": "melun",
        "DISPATCH_SOCKET_RECHECK_S": "0.5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch", "serve", "--server", "gevent", "--port", str(port)]
        + ["--no-demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    coord = sio.Client(reconnection=False)
    ended_at: list[float] = []
    coord.on("session_ended", lambda _: ended_at.append(time.time()))
    try:
        _wait_http(f"{url}/api/health", proc)
        coord.connect(url, auth={"token": token}, transports=["websocket"])
        for name in ("disconnect", "connect"):
            ack = coord.call(name, {}, timeout=5)
            assert ack["ok"] is False and ack["code"] == "reserved_event", ack
        subprocess.run(
            [sys.executable, "-m", "dispatch", "user", "disable", "coord-gevent"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        disabled_at = time.time()
        while coord.connected and time.time() < disabled_at + 10:
            time.sleep(0.05)
        assert not coord.connected and ended_at
        assert ended_at[0] - disabled_at < 0.5 + 1.0
    finally:
        if coord.connected:
            coord.disconnect()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
