"""`dispatch route` and `dispatch bench routing`: good answers, and clean errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dispatch.cli import cli

# Melun: from the hospital (north-west) to the Vaux-le-Pénil side (south-east).
FROM = "2.6410,48.5550"
TO = "2.6800,48.5250"


@pytest.fixture
def run(melun, territory_cache: Path, shared_dir: Path, tmp_path: Path):
    """Invoke the CLI with the test cache (where the melun fixture is built)."""

    def invoke(*args: str, cache: Path | None = None) -> Result:
        env = {
            "DISPATCH_VAR_DIR": str(tmp_path / "var"),
            "DISPATCH_CACHE_DIR": str(cache or territory_cache),
            "DISPATCH_DATA_PATH": str(shared_dir / "territories"),
            "DISPATCH_LOCALE": "fr",
        }
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)

    return invoke


def _clean_failure(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in result.output, result.output


def test_route_json(run) -> None:
    """--json prints travel_time_s, distance_m, a GeoJSON LineString and both snaps."""
    result = run("route", "melun", "--from", FROM, "--to", TO, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert 180 < body["travel_time_s"] < 1800
    assert 2_000 < body["distance_m"] < 12_000
    assert body["geometry"]["type"] == "LineString"
    assert len(body["geometry"]["coordinates"]) > 5
    assert body["from"]["snap_distance_m"] < 300 and body["engine"] == "ch"


def test_route_text_in_french_and_english(run) -> None:
    """Text mode is a readable summary, French by default, English with --lang en."""
    fr = run("route", "melun", "--from", FROM, "--to", TO)
    assert fr.exit_code == 0 and "Durée" in fr.output and " km" in fr.output
    en = run("route", "melun", "--from", FROM, "--to", TO, "--lang", "en")
    assert en.exit_code == 0 and "Time" in en.output and "Distance" in en.output


@pytest.mark.parametrize(
    ("point", "needle"),
    [
        ("2.64;48.55", "is not LON,LAT"),
        ("2.64,forty-eight", "must be decimal numbers"),
        ("2.64,148.55", "latitude 148.55 is outside -90..90"),
        ("200,48.55", "longitude 200.0 is outside -180..180"),
    ],
)
def test_route_malformed_coordinates(run, point: str, needle: str) -> None:
    """Malformed or impossible coordinates: usage error (exit 2) naming the problem."""
    _clean_failure(run("route", "melun", "--from", point, "--to", TO), 2, needle)


def test_route_refuses_swapped_outside_and_far_points(run) -> None:
    """Lat/lon swapped or a point outside the territory or off the roads: clean exit 1."""
    _clean_failure(
        run("route", "melun", "--from", "48.5550,2.6410", "--to", TO), 1, "outside the territory"
    )
    _clean_failure(
        run("route", "melun", "--from", "2.5000,48.5500", "--to", TO), 1, "outside the territory"
    )
    _clean_failure(
        run("route", "melun", "--from", "2.6500,48.5400", "--to", TO, "--max-snap-m", "1"),
        1,
        "m from the nearest road",
    )


def test_route_unknown_and_unbuilt_territories(run, tmp_path: Path) -> None:
    """An unknown id lists the known ones; an unbuilt one says which command builds it."""
    _clean_failure(run("route", "atlantis", "--from", FROM, "--to", TO), 1, "atlantis", "melun")
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    _clean_failure(
        run("route", "melun", "--from", FROM, "--to", TO, cache=empty),
        1,
        "dispatch territory build melun",
    )


def test_bench_routing_json(run) -> None:
    """The bench prints the documented figures as JSON (tiny sizes to stay quick)."""
    result = run(
        "bench", "routing", "--territory", "melun", "--sizes", "20,50", "--repeat", "1", "--json"
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for key in (
        "load_s",
        "preprocess_s",
        "matrix_20_s",
        "matrix_50_s",
        "route_p50_ms",
        "route_p95_ms",
        "isochrones_600_1200_1800_s",
        "peak_rss_mb",
        "engine",
    ):
        assert key in figures, key
    assert figures["loaded_from_cache"] is True and figures["matrix_50_s"] > 0
