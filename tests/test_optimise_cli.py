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


def test_day_bench_repeats_quick_and_long_runs_per_seed():
    """`run_day(solver_seeds=2)`: the quick and long runs of the same day with seeds 0 and 1,
    and the mean gaps over both pairs."""
    from optimise_world import random_day

    from dispatch.cli.bench_optimise import run_day

    problem = random_day(40, bases=2, teams=5, seed=5, size_m=15_000)
    out = run_day(None, problem=problem, first_s=0.3, quick_s=0.4, long_s=0.8, solver_seeds=2)
    by_seed = out["by_seed"]
    assert [b["seed"] for b in by_seed] == [0, 1]
    assert by_seed[0]["quick_served"] == out["quick"]["visits_served"]
    assert by_seed[0]["served_gap_pct"] == out["quick_vs_long_served_gap_pct"]
    mean = sum(b["served_gap_pct"] for b in by_seed) / 2
    assert abs(out["mean_served_gap_pct"] - mean) < 0.01


def test_day_bench_checks_every_seeds_plans(monkeypatch):
    """Issue 21 item 19: the plans of seeds other than the first are checked too. A solver
    that breaks a rule only with seed 1 makes the day's figures say so."""
    import dataclasses

    from optimise_world import random_day

    import dispatch.optimise as optimise
    from dispatch.cli.bench_optimise import run_day

    problem = random_day(30, bases=2, teams=4, seed=5, size_m=15_000)
    real_solve = optimise.solve

    def solve(p, *args, seed=0, **kw):
        plan = real_solve(p, *args, seed=seed, **kw)
        if seed != 1:
            return plan
        route = next(r for r in plan.routes if r.visit_ids)
        zero = dataclasses.replace(
            route,
            stops=tuple(dataclasses.replace(s, distance_m=0) for s in route.stops),
            end_distance_m=0,
        )
        return plan.with_route(zero)

    monkeypatch.setattr(optimise, "solve", solve)
    out = run_day(None, problem=problem, first_s=0.2, quick_s=0.3, long_s=0.4, solver_seeds=2)
    by_seed = {b["seed"]: b for b in out["by_seed"]}
    assert by_seed[0]["quick_feasible"] and by_seed[0]["long_feasible"]
    assert not by_seed[1]["quick_feasible"] and not by_seed[1]["long_feasible"]
    assert by_seed[1]["violations"] and "distance" in by_seed[1]["violations"][0]
    assert out["all_seeds_feasible"] is False
