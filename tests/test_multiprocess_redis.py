"""Two server processes share live events through Redis (Flask-SocketIO's message queue)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import socketio

from dispatch.store import Store

pytestmark = pytest.mark.load

MELUN = (2.6555, 48.5400)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"server exited early ({proc.returncode}):\n{out}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server (Debian's) on a free loopback port, no persistence."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server is missing: run tests/install.sh (apt-get install redis-server)"
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def two_servers(redis_url, melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Two `dispatch serve` processes on one SQLite file and one Redis, plus credentials."""
    var = tmp_path_factory.mktemp("multi")
    db = var / "dispatch.sqlite"
    store = Store(db)
    team = store.add_team({"name": "Équipe R", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    coord = store.add_user("coord-r", role="coordinator", password=None)
    coord_token = store.create_api_token(coord["id"])
    device_token = store.pair_device(store.create_pairing(team["id"])["code"])["token"]
    store.close()
    env = {
        **os.environ,
        "DISPATCH_VAR_DIR": str(var),
        "DISPATCH_DB_PATH": str(db),
        "DISPATCH_CACHE_DIR": str(territory_cache),
        "DISPATCH_DATA_PATH": str(Path(shared_dir) / "territories"),
        "DISPATCH_TERRITORY": "melun",
        "DISPATCH_REDIS_URL": redis_url,
        "DISPATCH_SECRET_KEY": "test-secret-shared-by-both-processes",
    }
    procs, urls = [], []
    for _ in range(2):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatch", "serve", "--port", str(port), "--no-demo"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, proc in zip(urls, procs, strict=True):
            _wait_http(f"{url}/api/health", proc)
        yield {"urls": urls, "team": team, "coord_token": coord_token, "device": device_token}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_position_sent_to_one_process_reaches_a_coordinator_on_the_other(two_servers) -> None:  # type: ignore[no-untyped-def]
    """A phone's fix posted to process A is pushed to a coordinator connected to process B."""
    a_url, b_url = two_servers["urls"]
    team_id = two_servers["team"]["id"]
    received: list[dict] = []
    got_it = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("live")
    def _live(batch: dict) -> None:
        for p in batch.get("positions", []):
            if p.get("team_id") == team_id:
                received.append(p)
                got_it.set()

    client.connect(
        b_url, auth={"token": two_servers["coord_token"]}, transports=["websocket"], wait_timeout=10
    )
    try:
        time.sleep(0.5)  # let B subscribe its rooms before A publishes
        fix = {
            "client_id": "redis-1",
            "lon": MELUN[0],
            "lat": MELUN[1] + 0.001,
            "device_time_s": time.time(),
            "accuracy_m": 8,
        }
        reply = requests.post(
            f"{a_url}/api/positions",
            json={"positions": [fix]},
            headers={"Authorization": f"Bearer {two_servers['device']}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        assert got_it.wait(10), "the coordinator on process B never received the fix sent to A"
        assert abs(received[0]["lat"] - fix["lat"]) < 1e-6
    finally:
        client.disconnect()


def test_both_processes_share_the_database(two_servers) -> None:  # type: ignore[no-untyped-def]
    """What one process stored, the other serves (one SQLite file in WAL mode)."""
    a_url, b_url = two_servers["urls"]
    headers = {"Authorization": f"Bearer {two_servers['coord_token']}"}
    for url in (a_url, b_url):
        reply = requests.get(f"{url}/api/teams", headers=headers, timeout=10)
        assert reply.status_code == 200, reply.text
        names = [t["name"] for t in reply.json()["items"]]
        assert "Équipe R" in names
