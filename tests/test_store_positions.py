"""Positions: idempotent batches, acknowledged after commit, latest fix, retention purge."""

from __future__ import annotations

import time

import pytest

from dispatch.errors import NotFoundError, ValidationError
from dispatch.settings import Settings
from dispatch.store import Store, start_retention


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "db.sqlite") as s:
        yield s


@pytest.fixture
def team(store):
    return store.add_team({"name": "A", "base_lon": 9.45, "base_lat": 42.7})


def _batch(n, *, t0=1.7e9, prefix="c"):
    return [
        {
            "client_id": f"{prefix}{i}",
            "lon": 9.40 + i * 1e-4,
            "lat": 42.6,
            "device_time_s": t0 + i,
            "accuracy_m": 8,
            "speed_mps": 10.0,
            "heading_deg": 90,
            "battery_pct": 80,
        }
        for i in range(n)
    ]


def test_same_batch_twice_stored_once(store, team):
    """Sending a batch again (a retry after a lost answer) stores nothing twice."""
    first = store.insert_positions(team["id"], _batch(50))
    again = store.insert_positions(team["id"], _batch(50))
    assert (first["accepted"], len(first["stored"]), first["duplicates"]) == (50, 50, 0)
    assert (again["accepted"], len(again["stored"]), again["duplicates"]) == (50, 0, 50)
    assert store.counts()["positions"] == 50


def test_duplicates_inside_a_batch_and_across_teams(store, team):
    """A client id repeated in a batch is stored once; the same id of another team is distinct."""
    other = store.add_team({"name": "B", "base_lon": 9.1, "base_lat": 42.3})
    batch = _batch(3) + _batch(3)
    result = store.insert_positions(team["id"], batch)
    assert len(result["stored"]) == 3 and result["duplicates"] == 3
    assert len(store.insert_positions(other["id"], _batch(3))["stored"]) == 3


def test_stored_rows_carry_ids_and_server_time(store, team):
    """The rows returned for fan-out are the rows in the database (same ids and values)."""
    stored = store.insert_positions(team["id"], _batch(4), device_id=None, source="socket")[
        "stored"
    ]
    page = store.list_positions(team_id=team["id"])
    assert [r["id"] for r in stored] == [r["id"] for r in page]
    assert stored[2]["server_time_s"] == page[2]["server_time_s"]
    assert page[0]["source"] == "socket" and page[0]["battery_pct"] == 80


def test_invalid_fix_rejects_the_whole_batch(store, team):
    """One bad fix: nothing is stored and the message names the fix and the field."""
    batch = _batch(5)
    batch[3]["lat"] = 123
    with pytest.raises(ValidationError, match="position 3: lat"):
        store.insert_positions(team["id"], batch)
    assert store.counts()["positions"] == 0
    with pytest.raises(NotFoundError):
        store.insert_positions(9999, _batch(1))


def test_batch_acknowledged_only_after_commit(store, team, monkeypatch):
    """If the commit fails, the caller gets the error, not an acknowledgement."""
    import dispatch.store.core as core

    real = core.Engine._run_group

    def failing_commit(self, conn, jobs):
        class Conn:
            def __getattr__(self, name):
                return getattr(conn, name)

            def execute(self, sql, *args):
                if sql == "COMMIT":
                    raise core.sqlite3.OperationalError("disk I/O error")
                return conn.execute(sql, *args)

        return real(self, Conn(), jobs)

    monkeypatch.setattr(core.Engine, "_run_group", failing_commit)
    with pytest.raises(Exception, match="disk I/O"):
        store.insert_positions(team["id"], _batch(10))
    monkeypatch.setattr(core.Engine, "_run_group", real)
    assert store.counts()["positions"] == 0
    assert len(store.insert_positions(team["id"], _batch(10))["stored"]) == 10


def test_time_formats_accepted(store, team):
    """Device time as Unix seconds, milliseconds or ISO 8601 gives the same instant."""
    fixes = [
        {"client_id": "s", "lon": 9.4, "lat": 42.6, "device_time_s": 1795400000},
        {"client_id": "ms", "lon": 9.4, "lat": 42.6, "device_time_s": 1795400000000},
        {"client_id": "iso", "lon": 9.4, "lat": 42.6, "time": "2026-11-23T02:13:20Z"},
    ]
    stored = store.insert_positions(team["id"], fixes)["stored"]
    assert {r["device_time_s"] for r in stored} == {1795400000.0}


def test_latest_position_per_team_by_device_time(store, team):
    """The latest fix is the newest by device time, even when it arrived first."""
    store.insert_positions(team["id"], _batch(1, t0=1.7e9 + 100, prefix="late"))
    store.insert_positions(team["id"], _batch(3, t0=1.7e9))
    latest = store.latest_positions()
    assert [p["client_id"] for p in latest] == ["late0"]


def test_purge_and_retention_worker(store, team, tmp_path):
    """Positions received before the retention period are purged, by call and in background."""
    store.insert_positions(team["id"], _batch(5, prefix="old"))
    store.write(
        lambda c: c.execute("UPDATE positions SET server_time_s = server_time_s - 40 * 86400")
    )
    store.insert_positions(team["id"], _batch(3, prefix="new"))
    assert store.purge_positions(older_than_days=30) == 5
    store.insert_positions(team["id"], _batch(2, prefix="old2"))
    store.write(
        lambda c: c.execute(
            "UPDATE positions SET server_time_s = server_time_s - 40 * 86400 WHERE client_id LIKE 'old2%'"
        )
    )
    worker = start_retention(store, Settings(var_dir=tmp_path), interval_s=0.05)
    deadline = time.time() + 5
    while store.counts()["positions"] != 3 and time.time() < deadline:
        time.sleep(0.02)
    worker.stop()
    assert store.counts()["positions"] == 3
    assert worker.runs >= 1
