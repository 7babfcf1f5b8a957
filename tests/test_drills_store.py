"""Issue 21 items 13, 14 and 18 (store): a full database, a purge and a foreign write lock
under load, gevent's event loop never waiting on SQLite, kill -9 under load.

The first tests run in-process (fast); those marked ``load`` start real servers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from api_world import make_world

from dispatch.errors import StorageUnavailableError
from dispatch.store import Store


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.store.close()


def _fill(store: Store) -> None:
    """Make the database full: SQLite's own limit (SQLITE_FULL, the error of a full disk)."""

    def cap(conn):  # type: ignore[no-untyped-def]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    store.write(cap)


def _free(store: Store) -> None:
    store.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))


def _fixes(prefix: str, n: int = 200) -> list[dict]:
    now = time.time()
    return [
        {"client_id": f"{prefix}-{i}", "lon": 9.45, "lat": 42.7, "device_time_s": now - i}
        for i in range(n)
    ]


def test_a_full_database_answers_503_retry_after_logs_once_and_recovers(world, caplog):
    """Writes to a full database: 503 storage_unavailable with Retry-After (REST), the same
    error as a value for the socket path (with retry_after_s in its body), health says the
    database cannot write, one log line for 30 failed reports (no traceback), and once space
    is freed the next report is stored and health is true again, without a restart."""
    client = world.app.test_client()
    headers = world.headers("device_b")
    assert client.get("/api/health").get_json()["database"] is True
    _fill(world.store)
    caplog.set_level(logging.INFO)
    caplog.clear()
    statuses = []
    for k in range(30):
        r = client.post("/api/positions", json={"positions": _fixes(f"full{k}")}, headers=headers)
        statuses.append(r.status_code)
    last = r
    assert set(statuses) == {503}, statuses
    body = last.get_json()
    assert body["code"] == "storage_unavailable" and body["ok"] is False
    assert "space" in body["error"]
    assert int(last.headers["Retry-After"]) >= 1
    store_lines = [rec for rec in caplog.records if rec.name.startswith("dispatch")]
    assert len([rec for rec in store_lines if rec.levelno >= logging.WARNING]) == 1, [
        rec.getMessage() for rec in store_lines
    ]
    assert all(rec.exc_info is None for rec in store_lines)
    # The socket path: errors come back as values, their body carries retry_after_s.
    [result] = world.store.insert_position_reports(
        [(world.ids["team_b"], _fixes("sock"), None, "socket")]
    )
    assert isinstance(result, StorageUnavailableError)
    assert result.to_dict()["code"] == "storage_unavailable"
    assert result.to_dict()["retry_after_s"] >= 1
    time.sleep(1.1)  # the health probe's result is kept one second
    assert client.get("/api/health").get_json()["database"] is False
    _free(world.store)
    time.sleep(1.1)
    assert client.get("/api/health").get_json()["database"] is True
    r = client.post("/api/positions", json={"positions": _fixes("after")}, headers=headers)
    assert r.status_code == 200 and r.get_json()["stored"] == 200
    messages = [rec.getMessage() for rec in caplog.records if rec.name.startswith("dispatch")]
    assert sum("recovered" in m for m in messages) == 1, messages
    # Nothing acknowledged that was not stored: no fix of a refused report is in the database.
    stored = {p["client_id"] for p in world.store.list_positions(limit=1000)}
    assert not any(c.startswith("full") or c.startswith("sock") for c in stored)


def test_health_probe_is_cheap(world):
    """The write probe of /api/health (at most one a second) costs about a millisecond."""
    store = world.store
    spent = []
    for _ in range(20):
        t0 = time.perf_counter()
        assert store.writable(max_age_s=0) is True
        spent.append(time.perf_counter() - t0)
    spent.sort()
    assert spent[len(spent) // 2] < 0.02, spent


def test_in_process_purge_leaves_room_for_reports(tmp_path):
    """A retention purge of 200,000 old rows in the server's own process runs in chunks:
    reports committed meanwhile wait well under 100 ms (one job deleting everything held the
    writer for about a second)."""
    with Store(tmp_path / "db.sqlite") as store:
        team = store.add_team({"name": "A", "base_lon": 9.45, "base_lat": 42.7})
        old = time.time() - 90 * 86_400
        store.write(
            lambda conn: conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)"
                " INSERT INTO positions (team_id, client_id, device_time_s, server_time_s, lon,"
                " lat, source, flags) SELECT ?, 'old-' || i, ? + i, ? + i, 9.45, 42.7, 'api', ''"
                " FROM n",
                (team["id"], old, old),
            )
        )
        waits: list[float] = []
        done = threading.Event()

        def report() -> None:
            k = 0
            while not done.is_set():
                t0 = time.perf_counter()
                store.insert_positions(team["id"], _fixes(f"live{k}", 1))
                waits.append(time.perf_counter() - t0)
                k += 1
                time.sleep(0.01)

        t = threading.Thread(target=report)
        t.start()
        time.sleep(0.2)
        removed = store.purge(position_retention_days=30)
        done.set()
        t.join()
        assert removed["positions"] == 200_000
        waits.sort()
        assert waits[int(len(waits) * 0.95)] < 0.1, waits[-5:]


_GEVENT_CHILD = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import json, subprocess, sys, time
    import gevent
    from dispatch.store import Store

    path = sys.argv[1]
    store = Store(path)
    team = store.add_team({"name": "G", "base_lon": 9.45, "base_lat": 42.7})
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(1.5);"
         "c.execute('ROLLBACK')", path],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    gaps, reads = [], []
    def tick():
        last = time.perf_counter()
        for _ in range(150):
            gevent.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    def write():
        t0 = time.perf_counter()
        store.insert_positions(team["id"], [
            {"client_id": "w1", "lon": 9.45, "lat": 42.7, "device_time_s": time.time()}])
        return time.perf_counter() - t0
    def read():
        t0 = time.perf_counter()
        with store.engine.read() as conn:  # half a second of work in SQLite
            conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                         " WHERE i < 3000000) SELECT count(*) FROM n").fetchone()
        return time.perf_counter() - t0
    ticker = gevent.spawn(tick)
    writer = gevent.spawn(write)
    gevent.sleep(0.05)
    reader = gevent.spawn(read)
    gevent.joinall([ticker, writer, reader])
    holder.wait()
    print(json.dumps({"max_gap_s": max(gaps), "write_s": writer.value, "read_s": reader.value}))
    store.close()
    """
)


def test_gevent_loop_keeps_turning_while_sqlite_waits(tmp_path):
    """Under gevent, a write waiting on another process's write lock (1.5 s) and a long read
    never stop the event loop: a 10 ms ticker is never late by 100 ms (the writer greenlet
    used to busy-wait inside SQLite, freezing every socket for the whole wait)."""
    out = subprocess.run(
        [sys.executable, "-c", _GEVENT_CHILD, str(tmp_path / "g.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["write_s"] > 1.0, figures  # it did wait for the lock
    assert figures["max_gap_s"] < 0.1, figures


# -- drills on real servers (issue 21 item 18) --------------------------------------------------

SERVERS = ["gevent", "werkzeug"]


@pytest.mark.load
@pytest.mark.parametrize("server_kind", SERVERS)
def test_kill_9_under_load_loses_no_acknowledged_position(server_kind):
    """SIGKILL of the server under 200 reports/s: every acknowledged position is in the
    database after the restart, and the database passes PRAGMA integrity_check."""
    from dispatch.cli.bench_durability import run_durability

    result = run_durability(phones=20, rate=10, kill_after_s=3.0, server_kind=server_kind)
    print(json.dumps(result))
    assert result["acknowledged"] > 200, result
    assert result["lost"] == 0, result
    assert result["integrity_check"] == "ok", result


@pytest.fixture(scope="module")
def million_old_rows(tmp_path_factory):
    """A database with 20 paired phones and 1,000,000 positions 90 days old (seeded once)."""
    from drill_support import seed_old_positions

    from dispatch.cli.bench_live import _seed

    folder = tmp_path_factory.mktemp("million")
    tokens, _ = _seed(folder / "dispatch.sqlite", 20, 1)
    seed_old_positions(folder / "dispatch.sqlite", 1_000_000)
    return folder / "dispatch.sqlite", tokens


@pytest.mark.load
@pytest.mark.parametrize("server_kind", SERVERS)
def test_purge_of_a_million_rows_under_load_keeps_health_and_acks_fast(
    million_old_rows, tmp_path, server_kind
):
    """`dispatch db purge` of 1,000,000 old positions beside a server under load (100
    reports/s): /api/health and the phones' acknowledgements stay under 100 ms (p95) during
    the purge, on both servers; before, the gevent server's health p95 was 2.3 s and its
    acks 6.9 s, the threading server's acks 3.5 s. The bound adds the p95 of the 2 s before
    the purge: on a shared CI machine, what the machine's load costs is not the purge's."""
    import os
    import shutil

    from drill_support import HealthPoller, percentile

    from dispatch.cli.bench_durability import PhoneLoad, wait_healthy
    from dispatch.cli.bench_live import bench_server

    template, tokens = million_old_rows
    shutil.copy(template, tmp_path / "dispatch.sqlite")
    with bench_server(tmp_path, server_kind) as (url, _server):
        wait_healthy(url)
        load = PhoneLoad(url, tokens, rate=5, prefix="pl").start()
        try:
            with HealthPoller(url, period_s=0.05) as health:
                time.sleep(2.0)
                t0 = time.time()
                purge = subprocess.run(
                    [sys.executable, "-m", "dispatch", "db", "purge", "--days", "30"],
                    env={**os.environ, "DISPATCH_VAR_DIR": str(tmp_path)},
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
                t1 = time.time()
                time.sleep(0.5)
        finally:
            load.stop()
    assert purge.returncode == 0, purge.stderr[-2000:]
    assert "purged 1000000 positions" in purge.stdout, purge.stdout
    health_ms, ack_ms = health.ms(t0, t1), load.ack_ms(t0, t1)
    figures = {
        "server": server_kind,
        "purge_s": round(t1 - t0, 1),
        "health_ms": {
            "n": len(health_ms),
            "p50": percentile(health_ms, 50),
            "p95": percentile(health_ms, 95),
            "max": health_ms[-1],
        },
        "ack_ms": {
            "n": len(ack_ms),
            "p50": percentile(ack_ms, 50),
            "p95": percentile(ack_ms, 95),
            "max": ack_ms[-1],
        },
        "before_p95_ms": {
            "health": (health_before := percentile(health.ms(t0 - 2.0, t0), 95)),
            "ack": (ack_before := percentile(load.ack_ms(t0 - 2.0, t0), 95)),
        },
        "errors": load.errors,
    }
    print(json.dumps(figures))
    assert not load.errors, figures
    assert len(health_ms) > 20 and len(ack_ms) > 200, figures
    assert percentile(health_ms, 95) < 100 + health_before, figures
    assert percentile(ack_ms, 95) < 100 + ack_before, figures


@pytest.mark.load
@pytest.mark.parametrize("server_kind", SERVERS)
def test_full_disk_under_load_clear_errors_nothing_false_acknowledged_recovery(
    tmp_path, server_kind
):
    """The server's writes refused by the system (RLIMIT_FSIZE, as a quota or a full disk)
    under 100 reports/s: phones get error acknowledgements storage_unavailable with
    retry_after_s (nothing else), health says the database cannot write, nothing
    acknowledged is missing from the database, the log has one line for the outage and one
    for the recovery (no traceback); once writes are allowed again the reports are stored,
    without a restart."""
    from drill_support import HealthPoller, limit_file_size

    from dispatch.cli.bench_durability import PhoneLoad, stored_client_ids, wait_healthy
    from dispatch.cli.bench_live import _seed, bench_server

    tokens, _ = _seed(tmp_path / "dispatch.sqlite", 10, 1)
    with bench_server(tmp_path, server_kind) as (url, server):
        wait_healthy(url)
        load = PhoneLoad(url, tokens, rate=10, prefix="fd").start()
        try:
            with HealthPoller(url, period_s=0.2) as health:
                time.sleep(1.5)
                limit_file_size(server.pid, 64 * 1024)
                t_full = time.time()
                time.sleep(4.0)
                refused_while_full = dict(load.errors)
                limit_file_size(server.pid, None)
                t_free = time.time()
                time.sleep(2.5)
                acked_before, refused_before = len(load.acked), sum(load.errors.values())
                time.sleep(1.5)
                acked_after = len(load.acked) - acked_before
                refused_after = sum(load.errors.values()) - refused_before
        finally:
            load.stop()
    log = (tmp_path / "server.log").read_text(errors="replace")
    stored = stored_client_ids(tmp_path / "dispatch.sqlite", "fd")
    databases_full = health.databases(t_full + 2.0, t_free)
    databases_after = health.databases(t_free + 2.5)
    figures = {
        "server": server_kind,
        "sent": len(load.sent),
        "acknowledged": len(load.acked),
        "errors": load.errors,
        "health_while_full": databases_full,
        "health_after": databases_after,
    }
    print(json.dumps(figures))
    assert refused_while_full.get("storage_unavailable", 0) > 20, figures
    assert set(load.errors) == {"storage_unavailable"}, figures
    assert load.error_bodies["storage_unavailable"]["retry_after_s"] >= 1
    assert False in databases_full, figures
    assert databases_after and all(d is True for d in databases_after), figures
    assert acked_after > 50 and refused_after == 0, (acked_after, refused_after, figures)
    missing = load.acked - stored
    assert not missing, f"{len(missing)} acknowledged positions not stored"
    assert log.count("database writes fail") == 1, log[-3000:]
    assert log.count("database writes work again") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 16 MiB tmpfs (a real disk that fills up); skipped where mounting needs a privilege
    this process lacks (the RLIMIT_FSIZE drill above runs everywhere)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.load
def test_real_full_disk_under_load_and_recovery(tmp_path, small_tmpfs):
    """The database on a small tmpfs filled by another file under 100 reports/s (SQLITE_FULL,
    ENOSPC): storage_unavailable acknowledgements, health false, nothing acknowledged
    missing; once the file is deleted, reports are stored again without a restart."""
    import os
    import shutil

    from drill_support import HealthPoller

    from dispatch.cli.bench_durability import PhoneLoad, stored_client_ids, wait_healthy
    from dispatch.cli.bench_live import _seed, bench_server

    db_path = small_tmpfs / "dispatch.sqlite"
    tokens, _ = _seed(tmp_path / "seed.sqlite", 10, 1)
    shutil.copy(tmp_path / "seed.sqlite", db_path)
    filler = small_tmpfs / "filler"
    # The log stays on the big disk (tmp_path): only the database's disk is full.
    with bench_server(tmp_path, "gevent", env={"DISPATCH_DB_PATH": str(db_path)}) as (url, _s):
        wait_healthy(url)
        load = PhoneLoad(url, tokens, rate=10, prefix="td").start()
        try:
            with HealthPoller(url, period_s=0.2) as health:
                time.sleep(1.5)
                with filler.open("wb") as f:  # every free block
                    try:
                        while True:
                            f.write(b"\0" * (1 << 20))
                            f.flush()
                    except OSError:
                        pass
                t_full = time.time()
                time.sleep(4.0)
                refused_while_full = dict(load.errors)
                os.unlink(filler)
                t_free = time.time()
                time.sleep(2.5)
                acked_before = len(load.acked)
                time.sleep(1.5)
                acked_after = len(load.acked) - acked_before
        finally:
            load.stop()
    log = (tmp_path / "server.log").read_text(errors="replace")
    stored = stored_client_ids(db_path, "td")
    figures = {
        "errors": load.errors,
        "health_while_full": health.databases(t_full + 1.0, t_free),
        "acked_after_recovery": acked_after,
    }
    print(json.dumps(figures))
    assert refused_while_full.get("storage_unavailable", 0) > 20, figures
    assert set(load.errors) == {"storage_unavailable"}, figures
    assert False in figures["health_while_full"], figures
    assert acked_after > 50, figures
    assert not load.acked - stored
    assert "database or disk is full" in log and "Traceback" not in log, log[-3000:]
    assert log.count("database writes fail") == 1, log[-3000:]


_GEVENT_KILLED_READER = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import json, sys
    import gevent
    from dispatch.store import Store

    store = Store(sys.argv[1])
    seen = []
    def long_read():
        with store.engine.read() as conn:
            seen.append(conn._conn)
            conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                         " WHERE i < 3000000) SELECT count(*) FROM n").fetchone()
    g = gevent.spawn(long_read)
    gevent.sleep(0.1)
    g.kill()  # a socket gone while its read runs in the thread pool
    with store.engine.read() as conn:
        reused = conn._conn is seen[0]
        ok = conn.execute("SELECT 1").fetchone()[0] == 1
    print(json.dumps({"reused": reused, "ok": ok}))
    store.close()
    """
)


def test_gevent_reader_abandoned_mid_statement_is_not_reused(tmp_path):
    """A greenlet killed while its read runs in gevent's thread pool: its connection (still
    busy in that thread) is never handed to the next reader, which reads normally."""
    out = subprocess.run(
        [sys.executable, "-c", _GEVENT_KILLED_READER, str(tmp_path / "k.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"reused": False, "ok": True}


def test_hub_stays_quiet_while_the_storage_refuses_alerts_and_flags(caplog) -> None:  # type: ignore[no-untyped-def]
    """On a full disk the store logs one line per outage; the hub adds no traceback per alert
    or per batch of quality flags it could not store (they are shown all the same)."""
    from dispatch.errors import StorageUnavailableError
    from dispatch.live.hub import LiveHub

    class FullStore:
        def save_alert(self, item):  # type: ignore[no-untyped-def]
            raise StorageUnavailableError("the disk is full")

        def flag_positions(self, flagged):  # type: ignore[no-untyped-def]
            raise StorageUnavailableError("the disk is full")

    hub = LiveHub(FullStore(), lambda *_a: None)
    try:
        with caplog.at_level("DEBUG"):
            for i in range(5):
                item = hub._record_alert("position_unknown", team_id=i + 1, key=f"k{i}")
                assert item is not None
                hub._record_flags({i + 1: ["jump"]})
        assert [a["key"] for a in hub.alerts][:1] == ["k4"]
        assert not [r for r in caplog.records if r.exc_info], [
            r.getMessage() for r in caplog.records
        ]
    finally:
        hub.stop()


def test_sweep_hooks_stay_quiet_once_the_store_is_closed(caplog) -> None:  # type: ignore[no-untyped-def]
    """A server stopping closes its store while the hub's sweep may still run a hook (arrival
    times): no traceback per sweep for that."""
    import time as _time

    from dispatch.live.hub import LiveHub
    from dispatch.store.core import StoreClosedError

    calls = []

    def hook(_now: float) -> None:
        calls.append(1)
        raise StoreClosedError("the database is closed (the server is stopping): retry later")

    class EmptyStore:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return lambda *_a, **_k: []

    hub = LiveHub(EmptyStore(), lambda *_a: None, interval_s=0.01)
    try:
        with caplog.at_level("DEBUG"):
            hub.add_sweep_hook(hook, every_s=0.01)
            hub.start(sweep_s=60)
            deadline = _time.monotonic() + 5
            while len(calls) < 3 and _time.monotonic() < deadline:
                _time.sleep(0.02)
        assert len(calls) >= 3
        assert not [r for r in caplog.records if "sweep hook failed" in r.getMessage()]
    finally:
        hub.stop()
