"""Position reports queued together are written as one batch, each caller getting its answer."""

from __future__ import annotations

import threading
import time

import pytest

from dispatch.errors import NotFoundError, ValidationError
from dispatch.store import Store
from dispatch.store import positions as positions_module


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


def _team(store, name):
    return store.add_team({"name": name, "base_lon": 9.45, "base_lat": 42.7})


def _fix(cid, k=0):
    return {"client_id": cid, "lon": 9.4, "lat": 42.6 + k * 1e-4, "device_time_s": 1.7e9 + k}


def _queue_behind_a_blocked_writer(store, calls):
    """Hold the writer thread, queue ``calls`` from threads, release: they form one group."""
    release = threading.Event()
    started = threading.Event()

    def hold(conn):
        started.set()
        release.wait(10)

    blocker = threading.Thread(target=store.engine.write, args=(hold,))
    blocker.start()
    assert started.wait(5)
    results: list = [None] * len(calls)

    def run(i, fn):
        try:
            results[i] = fn()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
        time.sleep(0.02)  # queued in this order
    release.set()
    for t in threads + [blocker]:
        t.join(10)
    return results


def test_grouped_reports_each_get_their_own_result(store, monkeypatch):
    """Four reports in one group: one query pass, a missing team fails alone, duplicates
    (already stored, or earlier in the same group) are not stored twice."""
    a, b = _team(store, "A"), _team(store, "B")
    store.insert_positions(a["id"], [_fix("a-0")])
    sizes = []
    real = positions_module._insert_batches

    def spy(conn, batches):
        sizes.append(len(batches))
        return real(conn, batches)

    monkeypatch.setattr(positions_module, "_insert_batches", spy)
    results = _queue_behind_a_blocked_writer(
        store,
        [
            lambda: store.insert_positions(a["id"], [_fix("a-0"), _fix("a-1", 1)]),
            lambda: store.insert_positions(99_999, [_fix("x-1")]),
            lambda: store.insert_positions(b["id"], [_fix("b-1"), _fix("b-1")]),
            lambda: store.insert_positions(a["id"], [_fix("a-1", 1), _fix("a-2", 2)]),
        ],
    )
    assert sizes == [4]
    first, missing, second, third = results
    assert [r["client_id"] for r in first["stored"]] == ["a-1"] and first["duplicates"] == 1
    assert isinstance(missing, NotFoundError)
    assert [r["client_id"] for r in second["stored"]] == ["b-1"] and second["duplicates"] == 1
    assert [r["client_id"] for r in third["stored"]] == ["a-2"] and third["duplicates"] == 1
    ids = [r["id"] for res in (first, second, third) for r in res["stored"]]
    stored = {p["id"]: p for p in store.list_positions(limit=100)}
    assert len(stored) == 4  # a-0, a-1, b-1, a-2
    for res in (first, second, third):
        for row in res["stored"]:
            assert stored[row["id"]]["client_id"] == row["client_id"]
    assert len(set(ids)) == len(ids)


def test_a_batch_that_fails_as_a_whole_is_run_call_by_call(store, monkeypatch):
    """If the grouped write raises, each report is written alone: none is lost or failed."""
    a = _team(store, "A")
    real = positions_module._insert_batches

    def fragile(conn, batches):
        if len(batches) > 1:
            raise RuntimeError("simulated failure of the grouped write")
        return real(conn, batches)

    monkeypatch.setattr(positions_module, "_insert_batches", fragile)
    results = _queue_behind_a_blocked_writer(
        store, [lambda i=i: store.insert_positions(a["id"], [_fix(f"c-{i}", i)]) for i in range(5)]
    )
    assert all(isinstance(r, dict) and len(r["stored"]) == 1 for r in results), results
    assert store.list_positions(limit=100).total == 5


def test_reports_of_many_phones_stored_in_one_call(store, monkeypatch):
    """insert_position_reports: one batch for the group; an unreadable report and an unknown
    team are refused alone (errors as values, in their places), the others are stored."""
    a, b = _team(store, "A"), _team(store, "B")
    sizes = []
    real = positions_module._insert_batches

    def spy(conn, batches):
        sizes.append(len(batches))
        return real(conn, batches)

    monkeypatch.setattr(positions_module, "_insert_batches", spy)
    results = store.insert_position_reports(
        [
            (a["id"], [_fix("a-1")], None, "socket"),
            (b["id"], [{"client_id": "b-bad", "lon": 9.4}], None, "socket"),  # no lat
            (99_999, [_fix("x-1")], None, "socket"),
            (b["id"], [_fix("b-1"), _fix("b-1")], None, "socket"),
            (a["id"], [_fix("a-1"), _fix("a-2", 2)], None, "socket"),
        ]
    )
    assert sizes == [4]  # the unreadable report never reached the writer
    first, bad, missing, second, third = results
    assert [r["client_id"] for r in first["stored"]] == ["a-1"]
    assert isinstance(bad, ValidationError) and "lat" in bad.message
    assert isinstance(missing, NotFoundError)
    assert [r["client_id"] for r in second["stored"]] == ["b-1"] and second["duplicates"] == 1
    assert [r["client_id"] for r in third["stored"]] == ["a-2"] and third["duplicates"] == 1
    assert sorted(p["client_id"] for p in store.list_positions(limit=10)) == ["a-1", "a-2", "b-1"]


def test_reports_of_a_failing_group_are_stored_one_by_one(store, monkeypatch):
    """The grouped write raising: each report is written alone, none is lost."""
    a = _team(store, "A")
    real = positions_module._insert_batches

    def fragile(conn, batches):
        if len(batches) > 1:
            raise RuntimeError("simulated failure of the grouped write")
        return real(conn, batches)

    monkeypatch.setattr(positions_module, "_insert_batches", fragile)
    results = store.insert_position_reports(
        [(a["id"], [_fix(f"c-{i}", i)], None, "socket") for i in range(4)]
    )
    assert [len(r["stored"]) for r in results] == [1, 1, 1, 1]
    assert store.list_positions(limit=100).total == 4


def test_write_many_returns_errors_as_values(store):
    """Engine.write_many: one result per argument, a failing call's exception in its place."""

    def batch(conn, args):
        return [ValueError(f"bad {a}") if a < 0 else a * 2 for a in args]

    results = store.engine.write_many(batch, [1, -1, 3])
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad -1"
    assert store.engine.write_many(batch, []) == []


def test_the_log_is_checkpointed_beside_the_writer(tmp_path):
    """Commits never checkpoint (a 20-30 ms stall of the event loop under gevent); a thread of
    the engine copies the log back into the database file every second."""
    import shutil
    import sqlite3

    with Store(tmp_path / "db.sqlite") as store:
        assert (
            store.engine.write(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
        )
        team = _team(store, "A")
        store.insert_positions(team["id"], [_fix(f"k-{i}", i) for i in range(100)])
        deadline = time.monotonic() + 10
        while True:  # the database file alone (without its log) holds the rows once checkpointed
            shutil.copy(tmp_path / "db.sqlite", tmp_path / "copy.sqlite")
            copy = sqlite3.connect(tmp_path / "copy.sqlite")
            try:
                n = copy.execute("SELECT count(*) FROM positions").fetchone()[0]
            except sqlite3.DatabaseError:
                n = 0
            copy.close()
            if n == 100:
                break
            assert time.monotonic() < deadline, "the log was never checkpointed"
            time.sleep(0.2)
