"""Two server processes share live events through Redis (Flask-SocketIO's message queue)."""

from __future__ import annotations

import contextlib
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


class RedisServer:
    """A private redis-server (Debian's) on a loopback port, no persistence, that a drill can
    stop and start again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is missing: run tests/install.sh (apt-get install redis-server)"
        self.exe = exe
        self.port = port or _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer()
    server.start()
    yield server.url
    server.stop()


@contextlib.contextmanager
def serve_two(
    redis_url: str, var: Path, territory_cache: Path, shared_dir: Path, server: str | None = None
) -> Iterator[dict]:
    """Two `dispatch serve` processes on one SQLite file and one Redis, plus credentials."""
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
            [sys.executable, "-m", "dispatch", "serve", "--port", str(port), "--no-demo"]
            + (["--server", server] if server else []),
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
        yield {
            "urls": urls,
            "team": team,
            "coord_token": coord_token,
            "device": device_token,
            "db": db,
            "procs": procs,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def two_servers(redis_url, melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Two `dispatch serve` processes on one SQLite file and one Redis, plus credentials."""
    var = tmp_path_factory.mktemp("multi")
    with serve_two(redis_url, var, territory_cache, shared_dir) as servers:
        yield servers


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


# -- issue 21 item 15: a Redis outage ------------------------------------------------------------
def _fix(cid: str, lat: float) -> dict:
    return {
        "client_id": cid,
        "lon": MELUN[0],
        "lat": lat,
        "device_time_s": time.time(),
        "accuracy_m": 8,
    }


def _post_fix(url: str, token: str, fix: dict) -> float:
    """Post one fix; the seconds the acknowledgement took."""
    t0 = time.monotonic()
    reply = requests.post(
        f"{url}/api/positions",
        json={"positions": [fix]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["stored"] == 1, reply.text
    return time.monotonic() - t0


def _wait(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_bus_listener_is_back_within_two_seconds_and_resyncs() -> None:
    """The manager alone: Redis stopped 8 s (python-socketio's own backoff would wait 8 s
    more after the restart), then started again: subscribed again within 2 s of the
    restart, a resync sent once to the local sockets, messages flow again."""
    import redis as redis_client

    from dispatch.web.redis_bus import RESYNC_EVENT, ResyncingRedisManager

    server = RedisServer()
    server.start()
    manager = ResyncingRedisManager(server.url, channel="drill")
    local: list[tuple[float, dict]] = []
    manager._handle_emit = lambda message: local.append((time.monotonic(), message))
    received: list[bytes] = []
    threading.Thread(target=lambda: received.extend(manager._listen()), daemon=True).start()
    try:
        publisher = redis_client.Redis.from_url(server.url)
        assert _wait(lambda: publisher.publish("drill", b"one") == 1, 5)
        assert _wait(lambda: b"one" in received, 5)
        server.stop()
        time.sleep(5)  # past the listener's longest wait (2 s): the backoff has reached its cap
        assert not manager.bus_up
        restarted = time.monotonic()
        server.start()
        assert _wait(lambda: local, 6), "no resync after Redis came back"
        lag_s = local[0][0] - restarted
        assert lag_s <= 2.5, f"listener back {lag_s:.1f} s after Redis"
        message = local[0][1]
        assert message["event"] == RESYNC_EVENT and message["room"] is None
        assert message["data"][0]["reason"] == "bus_reconnected"
        assert message["data"][0]["down_s"] >= 5
        publisher = redis_client.Redis.from_url(server.url)
        assert _wait(lambda: publisher.publish("drill", b"two") == 1, 5)
        assert _wait(lambda: b"two" in received, 5)
        assert len(local) == 1 and manager.bus_up
    finally:
        server.stop()


def test_pushes_dropped_by_one_process_make_the_others_resync() -> None:
    """Process A could not publish for a while (its connection failed twice per push) while
    B's listener stayed connected: B saw no outage, but A's pushes never reached B's pages.
    A's first push that leaves again is followed by a request to resync: B resyncs (once),
    A does not resync itself (its own pages got its pushes)."""
    import json

    import redis as redis_client

    from dispatch.web.redis_bus import RESYNC_EVENT, ResyncingRedisManager

    server = RedisServer()
    server.start()
    a = ResyncingRedisManager(server.url, channel="peers")
    b = ResyncingRedisManager(server.url, channel="peers")
    got: dict[str, list] = {"a": [], "b": []}
    received: dict[str, list] = {"a": [], "b": []}
    for name, manager in (("a", a), ("b", b)):
        manager._handle_emit = lambda message, name=name: got[name].append(message)
        threading.Thread(
            target=lambda m=manager, n=name: received[n].extend(m._listen()), daemon=True
        ).start()
    try:
        probe = redis_client.Redis.from_url(server.url)
        assert _wait(lambda: probe.pubsub_numsub("peers")[0][1] == 2, 5)
        assert a._publish({"method": "emit", "n": 1}) == 2
        assert _wait(lambda: any(b'"n":1' in m or b'"n": 1' in m for m in received["b"]), 5)

        real_connect = a._redis_connect

        def refused() -> None:
            raise ConnectionError("refused")

        a.redis = redis_client.Redis(port=_free_port())  # a connection that fails
        a.connected = True
        a._redis_connect = refused
        assert a._publish({"method": "emit", "n": 2}) is None
        assert a._publish({"method": "emit", "n": 3}) is None  # dropped at once
        assert a.dropped == 2 and b.bus_up and not got["b"]
        a._redis_connect = real_connect
        time.sleep(0.6)
        assert a._publish({"method": "emit", "n": 4}) == 2
        assert _wait(lambda: got["b"], 5), "B never resynced"
        assert got["b"][0]["event"] == RESYNC_EVENT
        assert got["b"][0]["data"][0] == {"reason": "peer_dropped", "dropped": 2}
        time.sleep(0.3)
        assert len(got["b"]) == 1 and not got["a"]
        assert not any(json.loads(m).get("method") == "dispatch_resync" for m in received["b"])
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_redis_outage_drill(mode, melun, tmp_path, territory_cache, shared_dir) -> None:  # type: ignore[no-untyped-def]
    """Issue 21 items 15 and 18: two processes, Redis stopped 8 s while a phone reports to
    process A. Every report is acknowledged quickly and stored once; when Redis is back the
    coordinator's page on process B gets `resync` within a few seconds, its snapshot then
    holds the fixes it missed (trail and marker), and live pushes flow again."""
    server = RedisServer()
    server.start()
    try:
        with serve_two(server.url, tmp_path, territory_cache, shared_dir, mode) as two:
            a_url, b_url = two["urls"]
            team_id = two["team"]["id"]
            token = two["device"]
            seen: list[float] = []
            resyncs: list[tuple[float, dict]] = []
            client = socketio.Client(reconnection=False)

            @client.on("live")
            def _live(batch: dict) -> None:
                for p in batch.get("positions", []):
                    if p.get("team_id") == team_id:
                        seen.append(round(p["lat"], 6))

            @client.on("resync")
            def _resync(payload: dict) -> None:
                resyncs.append((time.monotonic(), payload))

            client.connect(
                b_url, auth={"token": two["coord_token"]}, transports=["websocket"], wait_timeout=10
            )
            try:
                time.sleep(0.5)
                before = round(MELUN[1] + 0.001, 6)
                _post_fix(a_url, token, _fix("before", before))
                assert _wait(lambda: before in seen, 10), "the bus did not work before the drill"

                server.stop()
                stopped = time.monotonic()
                # 33 m a second: a team driving (the display filter draws it, no jump, no jitter).
                during = [round(before + 0.0003 * (k + 1), 6) for k in range(5)]
                acks = []
                for k, lat in enumerate(during):
                    time.sleep(1.0)
                    acks.append(_post_fix(a_url, token, _fix(f"during-{k}", lat)))
                assert max(acks) < 2.0, f"acknowledgements during the outage took {acks}"
                time.sleep(max(0.0, 5.5 - (time.monotonic() - stopped)))
                assert not any(lat in seen for lat in during)
                assert not resyncs

                restarted = time.monotonic()
                server.start()
                assert _wait(lambda: resyncs, 8), "process B never told its pages to resync"
                lag_s = resyncs[0][0] - restarted
                assert lag_s <= 4.0, f"process B resynced {lag_s:.1f} s after Redis came back"
                assert resyncs[0][1]["reason"] == "bus_reconnected"

                # What map.js does on `resync`: the snapshot again, from process B.
                snap = requests.get(
                    f"{b_url}/api/live/snapshot",
                    headers={"Authorization": f"Bearer {two['coord_token']}"},
                    timeout=10,
                ).json()
                trail = [round(p[1], 6) for p in snap["trails"][str(team_id)]]
                assert all(lat in trail for lat in during), trail
                marker = next(p for p in snap["positions"] if p["team_id"] == team_id)
                assert round(marker["lat"], 6) == during[-1]

                # Live pushes from A reach B again (A's publisher may first wait one short
                # backoff step): one fix a second until one arrives.
                recovered = False
                for k in range(10):
                    after = round(during[-1] + 0.0003 * (k + 1), 6)
                    _post_fix(a_url, token, _fix(f"after-{k}", after))
                    if _wait(lambda after=after: after in seen, 1.0):
                        recovered = True
                        break
                assert recovered, "live pushes from A did not reach B again"
                # A's dropped pushes predate B's resync: B's pages are not reloaded twice.
                time.sleep(0.5)
                assert len(resyncs) == 1, resyncs
            finally:
                client.disconnect()
            store = Store(two["db"])
            try:
                rows = store.list_positions(team_id=team_id, limit=1000)
            finally:
                store.close()
            ids = [r["client_id"] for r in rows]
            assert len(ids) == len(set(ids))
            assert {"before", *(f"during-{k}" for k in range(5))} <= set(ids)
            print(
                f"drill ({mode}): resync {lag_s:.2f} s after Redis restarted; "
                f"acks {max(acks):.3f} s max"
            )
    finally:
        server.stop()
