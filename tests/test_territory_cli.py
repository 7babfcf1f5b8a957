"""Tests of `dispatch territory ...` through click's CliRunner."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from dispatch.cli import cli


@pytest.fixture
def run(settings):
    """Invoke the CLI with the test settings passed through DISPATCH_* variables."""
    env = {
        "DISPATCH_VAR_DIR": str(settings.var_dir),
        "DISPATCH_CACHE_DIR": str(settings.cache),
        "DISPATCH_DATA_PATH": ":".join(str(p) for p in settings.data_path),
    }

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_info_json_haute_corse_acceptance(run, haute_corse, shared_dir):
    """`info --json` prints nodes, arcs, bbox and the 2B INSEE population (within 0.5 %)."""
    result = run("territory", "info", "haute-corse", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    with open(shared_dir / "territories" / "corse" / "communes_corse_population.csv") as f:
        total = sum(
            int(r["population_legale_etalab_6_0_0"])
            for r in csv.DictReader(f)
            if r["departement"] == "2B"
        )
    assert abs(data["population"] - total) <= 0.005 * total
    assert data["nodes"] > 10_000 and data["arcs"] > data["nodes"]
    assert len(data["bbox"]) == 4


def test_build_shows_progress_and_summary(run, melun):
    """`build` prints a one-line summary; progress lines go to stderr."""
    result = run("territory", "build", "melun")
    assert result.exit_code == 0
    assert "melun:" in result.stdout and "population 113,685" in result.stdout


def test_list_and_text_info(run, melun):
    """`list` shows every territory and its state; `info` prints a readable summary."""
    listing = run("territory", "list")
    assert listing.exit_code == 0
    assert "haute-corse" in listing.output and "saint-barthelemy" in listing.output
    info = run("territory", "info", "melun")
    assert info.exit_code == 0 and "population  113,685" in info.output


def test_unknown_territory_is_a_clean_error(run):
    """An unknown territory exits 1 with a message naming the known ones, no traceback."""
    result = run("territory", "info", "atlantis")
    assert result.exit_code == 1
    assert "unknown territory 'atlantis'" in result.output and "Traceback" not in result.output


def test_missing_data_is_a_clean_error(settings, tmp_path):
    """A build without the road file says which file to put where, without a traceback."""
    env = {"DISPATCH_VAR_DIR": str(tmp_path / "var"), "DISPATCH_DATA_PATH": str(tmp_path / "none")}
    result = CliRunner().invoke(cli, ["territory", "build", "melun"], env=env)
    assert result.exit_code == 1
    assert "melun_network.xml.gz not found" in result.output
    assert "Traceback" not in result.output


def test_help_ends_with_examples(run):
    """Each territory command's help ends with an example line."""
    for command in ("list", "fetch", "build", "info"):
        result = run("territory", command, "--help")
        assert "Example: dispatch territory" in result.output
