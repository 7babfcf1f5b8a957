"""`dispatch simulate` and `dispatch coverage` end to end, and scenarios run on a Dask cluster."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.planning.scenario import load_scenarios
from dispatch.settings import PROJECT_ROOT

SAMPLE = (
    PROJECT_ROOT / "data" / "territories" / "haute-corse" / "scenarios" / "bases-actuelles.toml"
)

SMALL = """
name = "Petit"
territory = "haute-corse"
seed = 2
teams_per_base = 1
[demand]
rate_per_1000_per_day = 0.15

[[variants]]
name = "Petit + Folelli"
add_bases = [{ id = "folelli", name = "Folelli", lon = 9.5063, lat = 42.4558 }]
"""


@pytest.fixture
def env(haute_corse, territory_cache, shared_dir, tmp_path):
    """Environment pointing the CLI at the test territory cache."""
    return {
        "DISPATCH_CACHE_DIR": str(territory_cache),
        "DISPATCH_DATA_PATH": str(shared_dir / "territories"),
        "DISPATCH_VAR_DIR": str(tmp_path / "var"),
    }


def test_sample_scenario_file_loads_with_its_variants(haute_corse):
    """The shipped Haute-Corse scenario file parses; its bases and teams resolve on the territory."""
    scenarios = load_scenarios(SAMPLE)
    assert len(scenarios) == 3 and len({s.name for s in scenarios}) == 3
    for sc in scenarios:
        bases = sc.resolve_bases(haute_corse.bases)
        assert sum(sc.teams_at(bases)) >= len(haute_corse.bases)
    assert len(scenarios[1].resolve_bases(haute_corse.bases)) == len(haute_corse.bases) + 1


def test_simulate_writes_report_csv_and_json(env, tmp_path):
    """`dispatch simulate --report` writes an HTML report with images, KPIs as CSV and JSON."""
    scen = tmp_path / "small.toml"
    scen.write_text(SMALL)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(scen),
            "--days",
            "1",
            "--serial",
            "--no-teams-needed",
            "--time-limit",
            "0.5",
            "--report",
            str(out),
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [k["scenario"] for k in printed["kpis"]] == ["Petit", "Petit + Folelli"]
    html = (out / "report.html").read_text()
    assert html.count("<img") >= 6 and "data:image/png;base64," in html
    assert "Comparaison des scénarios" in html
    with (out / "kpis.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and int(rows[0]["days"]) == 1
    data = json.loads((out / "kpis.json").read_text())
    assert data["territory"] == "haute-corse" and len(data["scenarios"][0]["days"]) == 1
    assert "[2/2]" in result.stderr  # progress shown
    # The variant with one more base covers more people within 30 min.
    assert float(rows[1]["covered_30min_share"]) > float(rows[0]["covered_30min_share"])


def test_simulate_rejects_a_bad_scenario_file(env, tmp_path):
    """A scenario with an unknown key fails with a clean message, not a traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nterritory = "haute-corse"\nteam = []\n')
    result = CliRunner().invoke(cli, ["simulate", str(bad), "--serial"], env=env)
    assert result.exit_code != 0
    assert "unknown key" in result.output and "Traceback" not in result.output


def test_coverage_command_prints_bands_and_least_covered(env, tmp_path):
    """`dispatch coverage --json` sums to the population; the text form lists communes."""
    result = CliRunner().invoke(cli, ["coverage", "haute-corse", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    cov = data["coverage"]
    assert sum(cov["band_population"]) + cov["uncovered_population"] == pytest.approx(
        cov["total_population"], abs=1
    )
    csv_path = tmp_path / "cov.csv"
    text = CliRunner().invoke(
        cli,
        [
            "coverage",
            "haute-corse",
            "--bands",
            "15,30",
            "--add",
            "9.5063,42.4558",
            "--csv",
            str(csv_path),
        ],
        env=env,
    )
    assert text.exit_code == 0, text.output
    assert "<=  15 min" in text.output and "Least covered communes" in text.output
    assert csv_path.read_text().startswith("code_insee,commune,population,pop_le_15min")


@pytest.mark.slow
def test_scenarios_run_in_parallel_on_a_local_dask_cluster(haute_corse, settings):
    """Simulated days run as Dask tasks on two worker processes and every result comes back."""
    from dispatch.planning.runner import make_client, run_scenarios
    from dispatch.planning.scenario import scenarios_from_toml

    scenarios = scenarios_from_toml(SMALL)
    client = make_client(workers=2)
    try:
        seen = []
        results = run_scenarios(
            scenarios,
            settings,
            days=1,
            time_limit_s=0.5,
            with_teams_needed=False,
            client=client,
            progress=lambda m, d, t: seen.append((d, t)),
        )
        workers = client.run(lambda: __import__("os").getpid())
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert len(set(workers.values())) == 2
    assert seen[-1] == (2, 2)
    for r in results:
        assert len(r.days) == 1 and r.days[0].served > 0 and r.days[0].violations == 0


@pytest.mark.slow
def test_teams_needed_finds_the_smallest_team_count(haute_corse):
    """The bisection returns n teams reaching the target while n - 1 teams do not."""
    from dispatch.planning.demand import DemandModel
    from dispatch.planning.scenario import Scenario
    from dispatch.planning.simulate import prepare, teams_needed
    from dispatch.routing import Router

    router = Router.for_territory(haute_corse)
    sc = Scenario(
        name="t",
        territory="haute-corse",
        seed=4,
        teams_per_base=1,
        demand=DemandModel(rate_per_1000_per_day=0.12),
        service_level_target=0.9,
    )
    setup = prepare(sc, haute_corse, router)
    found = teams_needed(setup, haute_corse, router, days=(0,), time_limit_s=0.5, max_teams=6)
    n = found["teams_needed"]
    levels = {int(k): v for k, v in found["levels"].items()}
    assert n is not None and levels[n] >= 0.9
    if n - 1 in levels:
        assert levels[n - 1] < 0.9
    assert all(v < 0.9 for k, v in levels.items() if k < n)
