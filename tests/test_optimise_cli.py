"""`dispatch solve` on a benchmark file: DIMACS distance, feasibility, routes as file numbers."""

from __future__ import annotations

import json

from click.testing import CliRunner

from dispatch.cli import cli


def test_solve_prints_feasible_routes_with_file_numbers(shared_dir):
    """Every customer of C101 (nodes 2..101 of the file) is in exactly one printed route."""
    path = shared_dir / "benchmarks" / "vrptw" / "instances" / "solomon" / "C101.vrptw"
    result = CliRunner().invoke(
        cli, ["solve", "--instance", str(path), "--time-limit", "0.5", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["feasible"] is True and out["violations"] == []
    served = sorted(c for r in out["routes"] for c in r)
    assert served == list(range(2, 102))
    assert out["vehicles"] == len(out["routes"])
    assert out["bks"] == 827.3 and out["gap_pct"] >= 0


def test_solve_reports_a_missing_file_cleanly(tmp_path):
    """A wrong path is a clean error message, not a traceback."""
    result = CliRunner().invoke(cli, ["solve", "--instance", str(tmp_path / "nope.txt")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "nope.txt" in result.output
