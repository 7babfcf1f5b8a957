"""`dispatch bench replan` on a tiny day: its figures, and every change at every socket."""

from __future__ import annotations

import pytest

from dispatch.cli.bench_replan import ReplanParams, run_replan

pytestmark = [pytest.mark.load, pytest.mark.slow]


def test_every_change_reaches_every_coordinator_and_the_phones_of_its_teams(settings, haute_corse):
    """A move, an urgent insertion and a re-optimisation, made through the REST API, each
    reach both maps and every phone of each team they change, and the report has its keys."""
    params = ReplanParams(
        phones=6,
        coordinators=2,
        moves=1,
        inserts=1,
        optimisations=1,
        visits=40,
        teams=3,
        time_limit_s=1.0,
        change_timeout_s=20.0,
        max_s=120.0,
        server="werkzeug",
    )
    report = run_replan(settings, params, procs=1)
    for key in ("phone_latency_ms", "coordinator_latency_ms"):
        assert set(report[key]) >= {"p50", "p99"}
        assert report[key]["p99"] is not None
    assert report["changes"] == 3, report["errors"]
    assert set(report["by_kind"]) == {"move", "insert", "optimise"}
    assert report["missed_coordinator_deliveries"] == 0
    assert report["missed_phone_deliveries"] == 0
    assert report["phone_receipts"] == report["phone_receipts_expected"] > 0
    assert report["phones"] == 6 and report["coordinators"] == 2 and report["visits"] == 40
    assert report["server"] == "werkzeug"
    assert report["server_log_errors"] == 0, report["server_log_tail"]
