"""The server's generation: at start and every day at generation_hour local time (issue 22,
item 5), DST included."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from dispatch.care.schedule import GenerationSchedule, next_run_s, start_generation_schedule
from dispatch.settings import Settings
from dispatch.store import Store
from tests.generation_support import add_care_plan, add_patient, add_structure, sql

PARIS = ZoneInfo("Europe/Paris")


def at(*fields: int) -> float:
    return dt.datetime(*fields, tzinfo=PARIS).timestamp()


def local(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, PARIS).isoformat()


@pytest.mark.parametrize(
    ("now", "hour", "expected"),
    [
        ((2026, 11, 23, 2, 59), 3, "2026-11-23T03:00:00+01:00"),
        ((2026, 11, 23, 3, 0), 3, "2026-11-24T03:00:00+01:00"),
        ((2026, 11, 23, 23, 30), 0, "2026-11-24T00:00:00+01:00"),
        # Spring forward: 02:00 does not exist on 2026-03-29, the run is at 03:00 summer time.
        ((2026, 3, 28, 12, 0), 2, "2026-03-29T03:00:00+02:00"),
        ((2026, 3, 28, 12, 0), 3, "2026-03-29T03:00:00+02:00"),
        # Fall back: 02:00 happens twice on 2026-10-25, the run is at the first one.
        ((2026, 10, 24, 12, 0), 2, "2026-10-25T02:00:00+02:00"),
        ((2026, 10, 24, 12, 0), 3, "2026-10-25T03:00:00+01:00"),
    ],
)
def test_next_run_is_the_next_local_hour(now, hour, expected):
    assert local(next_run_s(at(*now), hour)) == expected


def test_the_day_between_two_runs_is_23_or_25_hours_at_dst():
    spring = next_run_s(at(2026, 3, 28, 12, 0), 3) - next_run_s(at(2026, 3, 27, 12, 0), 3)
    autumn = next_run_s(at(2026, 10, 24, 12, 0), 3) - next_run_s(at(2026, 10, 23, 12, 0), 3)
    assert (spring, autumn) == (23 * 3600, 25 * 3600)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    structure = add_structure(s, "SSIAD")
    add_care_plan(s, add_patient(s, structure), structure)
    yield s
    s.close()


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_it_generates_at_start_then_at_the_hour(store):
    clock = [at(2026, 11, 23, 2, 0)]
    schedule = GenerationSchedule(
        store, hour=3, horizon_days=3, now=lambda: clock[0], poll_s=0.01
    ).start()
    try:
        wait_for(lambda: schedule.runs == 1)
        # From today 02:00: today's two visits and the next two days' (the horizon).
        assert schedule.last_result.created == 6
        assert local(schedule.next_at_s) == "2026-11-23T03:00:00+01:00"
        time.sleep(0.05)
        assert schedule.runs == 1  # not before the hour
        clock[0] = at(2026, 11, 24, 3, 0, 1)
        wait_for(lambda: schedule.runs == 2)
        # The next morning: one new day at the end of the horizon, nothing before now.
        assert (schedule.last_result.created, schedule.last_result.from_day) == (
            2,
            dt.date(2026, 11, 24),
        )
        assert local(schedule.next_at_s) == "2026-11-25T03:00:00+01:00"
    finally:
        schedule.stop()
    days = {r["day"] for r in sql(store, "SELECT day FROM visits")}
    assert days == {"2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"}


def test_a_failed_run_is_logged_and_the_schedule_goes_on(store, caplog):
    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("disk on fire")

    schedule = GenerationSchedule(Broken(), now=lambda: at(2026, 11, 23, 2, 0))
    assert schedule.run_once() is None
    assert "generation of visits from 2026-11-23 failed" in caplog.text


def test_the_settings_give_the_hour_and_horizon(store, tmp_path):
    settings = Settings(var_dir=tmp_path, generation_hour=5, generation_horizon_days=2)
    schedule = start_generation_schedule(store, settings, now=lambda: at(2026, 11, 23, 6, 0))
    try:
        wait_for(lambda: schedule.runs == 1)
        assert schedule.last_result.days == 2
        assert local(schedule.next_at_s) == "2026-11-24T05:00:00+01:00"
    finally:
        schedule.stop()


def test_the_examples_in_the_schedule_docstrings_hold() -> None:
    import doctest

    import dispatch.care.schedule as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
