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


def test_bench_runs_each_instance_with_every_seed(shared_dir):
    """`--seeds 2`: two runs per instance, the mean gap over all of them and per seed."""
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "optimise",
            "--set",
            "solomon",
            "--limit",
            "2",
            "--seeds",
            "2",
            "--time-limit",
            "0.3",
            "--benchmarks",
            str(shared_dir / "benchmarks" / "vrptw"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)["solomon"]
    assert (out["instances"], out["runs"], out["seeds"]) == (2, 4, 2)
    assert sorted((r["instance"], r["seed"]) for r in out["results"]) == sorted(
        (name, seed) for name in {r["instance"] for r in out["results"]} for seed in (0, 1)
    )
    by_seed = out["mean_gap_pct_by_seed"]
    assert len(by_seed) == 2 and out["all_feasible"] is True
    assert abs(out["mean_gap_pct"] - sum(by_seed) / 2) < 0.01
