"""The store engine: migrations, one writer with group commits, concurrency without loss."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from dispatch.errors import ConflictError, ValidationError
from dispatch.store import Store
from dispatch.store.schema import MIGRATIONS

DAY = "2026-11-23"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


def _team(store, name="Équipe"):
    return store.add_team({"name": name, "base_lon": 9.45, "base_lat": 42.7})


def test_migrations_recorded_once(tmp_path):
    """A new file gets every migration recorded; reopening applies nothing again."""
    path = tmp_path / "db.sqlite"
    with Store(path) as first:
        assert first.applied_migrations == [f"{n:04d}_{name}" for n, name, _ in MIGRATIONS]
        assert first.schema_version() == (MIGRATIONS[-1][0], MIGRATIONS[-1][0])
    with Store(path) as again:
        assert again.applied_migrations == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_failing_job_rolls_back_alone(store):
    """In a group commit, a failing job is undone and raised; the jobs around it commit."""
    team = _team(store)
    barrier = threading.Barrier(3)
    results: dict[str, object] = {}

    def good(name):
        barrier.wait()
        results[name] = store.add_team({"name": name, "base_lon": 9, "base_lat": 42})

    def bad():
        barrier.wait()
        try:
            store.add_team({"name": team["name"], "base_lon": 9, "base_lat": 42})
        except ConflictError as exc:
            results["bad"] = exc

    threads = [threading.Thread(target=good, args=(n,)) for n in ("X", "Y")]
    threads.append(threading.Thread(target=bad))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(results["bad"], ConflictError)
    assert sorted(t["name"] for t in store.list_teams()) == ["X", "Y", "Équipe"]


def test_write_returns_after_commit(store, tmp_path):
    """Once a write returns, an independent connection (another process) sees it."""
    team = _team(store)
    outside = sqlite3.connect(tmp_path / "db.sqlite")
    for i in range(20):
        store.insert_positions(
            team["id"],
            [{"client_id": f"c{i}", "lon": 9.4, "lat": 42.6, "device_time_s": 1.7e9 + i}],
        )
        count = outside.execute("SELECT count(*) FROM positions").fetchone()[0]
        assert count == i + 1


def test_many_threads_nothing_lost(store):
    """Threads writing positions, visits and events at once: every write lands, none fails."""
    teams = [_team(store, f"T{i}") for i in range(4)]
    errors: list[BaseException] = []
    per_thread = 40

    def positions(team_id, k):
        try:
            for i in range(per_thread):
                store.insert_positions(
                    team_id,
                    [
                        {
                            "client_id": f"{k}-{i}-{j}",
                            "lon": 9.4,
                            "lat": 42.6,
                            "device_time_s": 1.7e9 + i,
                        }
                        for j in range(5)
                    ],
                )
        except BaseException as exc:
            errors.append(exc)

    def visits(k):
        try:
            for i in range(per_thread):
                v = store.add_visit(
                    {
                        "day": DAY,
                        "pseudonym": f"P{k}-{i}",
                        "lon": 9.4,
                        "lat": 42.6,
                        "duration_s": 900,
                        "windows": [["08:00", "12:00"]],
                    }
                )
                store.add_visit_event(v["id"], {"kind": "note", "note": "ok"}, actor="test")
        except BaseException as exc:
            errors.append(exc)

    def reader():
        try:
            for _ in range(per_thread):
                store.list_visits(day=DAY)
                store.latest_positions()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=positions, args=(t["id"], k)) for k, t in enumerate(teams * 2)
    ]
    threads += [threading.Thread(target=visits, args=(k,)) for k in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = store.counts()
    assert counts["positions"] == 8 * per_thread * 5
    assert counts["visits"] == 4 * per_thread
    assert counts["visit_events"] == 4 * per_thread


def test_store_closed_refuses_writes(tmp_path):
    """After close, a write raises a clear error instead of hanging."""
    s = Store(tmp_path / "db.sqlite")
    s.close()
    with pytest.raises(Exception, match="closed"):
        s.add_team({"name": "late", "base_lon": 9, "base_lat": 42})


def test_backup_is_a_consistent_copy(store, tmp_path):
    """A backup taken while the store is open holds the committed rows."""
    _team(store, "Sauvegardée")
    out = store.backup(tmp_path / "copy" / "b.sqlite")
    with Store(out) as copy:
        assert [t["name"] for t in copy.list_teams()] == ["Sauvegardée"]


def test_validation_error_is_raised_before_any_write(store):
    """Invalid input never reaches the writer: the message names what to fix."""
    with pytest.raises(ValidationError, match="base_lon is required"):
        store.add_team({"name": "sans base", "base_lat": 42})
    assert store.counts()["teams"] == 0
    time.sleep(0)
