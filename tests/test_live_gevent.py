"""`dispatch serve --server gevent` (the production server): the same sockets, rules and pushes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import socketio

from dispatch.store import Store
from tests.test_multiprocess_redis import MELUN, _free_port, _wait_http


@pytest.fixture(scope="module")
def gevent_server(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    var = tmp_path_factory.mktemp("gevent")
    store = Store(var / "dispatch.sqlite")
    team = store.add_team({"name": "Équipe G", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    coord = store.add_user("coord-g", role="coordinator", password=None)
    coord_token = store.create_api_token(coord["id"])
    device_token = store.pair_device(store.create_pairing(team["id"])["code"])["token"]
    store.close()
    port = _free_port()
    env = {
        **os.environ,
        "DISPATCH_VAR_DIR": str(var),
        "DISPATCH_CACHE_DIR": str(territory_cache),
        "DISPATCH_DATA_PATH": str(Path(shared_dir) / "territories"),
        "DISPATCH_TERRITORY": "melun",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch", "serve", "--server", "gevent", "--port", str(port)]
        + ["--no-demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/api/health", proc)
        yield {"url": url, "team": team, "coord": coord_token, "device": device_token, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_process_really_runs_gevent(gevent_server) -> None:  # type: ignore[no-untyped-def]
    """The command restarted itself under gevent (not the threading server)."""
    out = subprocess.run(
        ["ps", "-o", "args=", "-p", str(gevent_server["proc"].pid)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dispatch.web.gevent_main" in out


def test_phone_report_is_stored_acknowledged_and_pushed(gevent_server) -> None:  # type: ignore[no-untyped-def]
    """A phone's fixes (one, then 30 in one large masked frame, driving 7 m/s) come back
    acknowledged with their ids and reach a coordinator's socket; a fix sent twice is stored
    once."""
    team_id = gevent_server["team"]["id"]
    seen: list[dict] = []
    got = threading.Event()
    coord = socketio.Client(reconnection=False)

    @coord.on("live")
    def _live(batch: dict) -> None:
        for p in batch.get("positions", []):
            if p.get("team_id") == team_id:
                seen.append(p)
                if len(seen) >= 31:
                    got.set()

    phone = socketio.Client(reconnection=False)
    coord.connect(
        gevent_server["url"], auth={"token": gevent_server["coord"]}, transports=["websocket"]
    )
    phone.connect(
        gevent_server["url"], auth={"token": gevent_server["device"]}, transports=["websocket"]
    )
    try:
        now = time.time()
        one = {"client_id": "g-1", "lon": MELUN[0], "lat": MELUN[1], "device_time_s": now}
        ack = phone.call("position", one, timeout=10)
        assert ack["ok"] and ack["stored"] == 1 and len(ack["ids"]) == 1
        assert phone.call("position", one, timeout=10)["duplicates"] == 1
        batch = [
            {
                "client_id": f"g-b{i}",
                "lon": MELUN[0] + (i + 1) * 1e-4,
                "lat": MELUN[1],
                "device_time_s": now + i + 1,
                "accuracy_m": 5,
            }
            for i in range(30)
        ]
        ack = phone.call("position", {"positions": batch}, timeout=10)
        assert ack["ok"] and ack["stored"] == 30, ack
        assert got.wait(10), f"the coordinator received {len(seen)} of 31 fixes"
        assert {p["id"] for p in seen} >= set(ack["ids"])
    finally:
        phone.disconnect()
        coord.disconnect()


def test_bad_input_and_bad_credentials_are_refused(gevent_server) -> None:  # type: ignore[no-untyped-def]
    intruder = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        intruder.connect(gevent_server["url"], auth={"token": "nope"}, transports=["websocket"])
    phone = socketio.Client(reconnection=False)
    phone.connect(
        gevent_server["url"], auth={"token": gevent_server["device"]}, transports=["websocket"]
    )
    try:
        reply = phone.call("position", {"lon": "east"}, timeout=10)
        assert reply["code"] == "invalid" and reply["error"]
    finally:
        phone.disconnect()
