"""Tests of built territories: graph, clipping, connectivity, population, bases and cache."""

from __future__ import annotations

import csv
import os
import shutil
import time

import numpy as np
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dispatch.errors import NotBuiltError, ValidationError
from dispatch.settings import PROJECT_ROOT
from dispatch.territory import build_territory, load_territory
from dispatch.territory.clip import buffer_lonlat
from dispatch.territory.definitions import sha256_file


def _strongly_connected(graph) -> bool:
    n = graph.n_nodes
    adj = coo_matrix((np.ones(graph.n_arcs), (graph.arc_tail, graph.arc_head)), shape=(n, n))
    count, _ = connected_components(adj.tocsr(), directed=True, connection="strong")
    return count == 1


def _insee_total(shared_dir, file, column="population_legale_etalab_6_0_0", dep=None):
    with open(shared_dir / "territories" / file, encoding="utf-8") as handle:
        return sum(
            int(r[column]) for r in csv.DictReader(handle) if dep is None or r["departement"] == dep
        )


def test_haute_corse_population_matches_insee(haute_corse, shared_dir):
    """Haute-Corse carries exactly the INSEE population of the 2B communes."""
    expected = _insee_total(shared_dir, "corse/communes_corse_population.csv", dep="2B")
    assert expected == 187180
    assert haute_corse.node_population.sum() == pytest.approx(expected, abs=1e-6)
    assert haute_corse.info["population"] == pytest.approx(expected, rel=0.005)


@pytest.mark.parametrize("fixture", ["melun", "haute_corse", "saint_barthelemy"])
def test_each_commune_population_is_conserved(fixture, request):
    """Summing node population per commune gives back every commune's population."""
    t = request.getfixturevalue(fixture)
    assert (t.node_commune >= 0).all()
    per_commune = np.bincount(t.node_commune, t.node_population, minlength=len(t.communes))
    fallback = set(t.info["communes_without_nodes"])
    for commune, total in zip(t.communes, per_commune, strict=True):
        if commune.code_insee not in fallback:
            assert total == pytest.approx(commune.population, abs=1e-6), commune.name
    assert t.node_population.sum() == pytest.approx(sum(c.population for c in t.communes))
    assert (t.node_population >= 0).all()


@pytest.mark.parametrize("fixture", ["melun", "haute_corse", "saint_barthelemy"])
def test_graph_is_clipped_and_strongly_connected(fixture, request):
    """The kept graph is one strongly connected component inside the buffered boundary."""
    t = request.getfixturevalue(fixture)
    g = t.graph
    assert _strongly_connected(g)
    area = buffer_lonlat(t.boundary, t.definition.boundary_buffer_m + 1)
    assert shapely.contains_xy(area, g.node_lon, g.node_lat).all()
    assert (g.arc_travel_time_s > 0).all() and (g.arc_length_m > 0).all()
    info = t.info
    for key in ("nodes", "arcs", "population", "bbox", "dropped"):
        assert key in info
    assert info["nodes"] == g.n_nodes and info["arcs"] == g.n_arcs
    assert {"nodes_outside_boundary", "nodes_outside_largest_scc"} <= set(info["dropped"])
    assert len(info["source"]["sha256"]) == 64


def test_haute_corse_is_clipped_to_2b(haute_corse):
    """Clipping to the 2B communes dropped Corse-du-Sud (Ajaccio is not in the graph)."""
    g = haute_corse.graph
    assert haute_corse.info["dropped"]["nodes_outside_boundary"] > 10_000
    assert g.node_lat.min() > 41.8, "nothing south of the 2A/2B border (Ajaccio is 41.92 but west)"
    ajaccio = (8.7369, 41.9192)
    d = np.hypot(g.node_lon - ajaccio[0], g.node_lat - ajaccio[1])
    assert d.min() > 0.1
    assert {c.code_insee[:2] for c in haute_corse.communes} == {"2B"}


def test_bases_are_real_places_snapped_to_roads(haute_corse, melun, saint_barthelemy):
    """Each base is inside its territory, snapped to a node within a few hundred metres."""
    names = {b.name for b in haute_corse.bases}
    assert any("Bastia" in n for n in names) and any("Calvi" in n for n in names)
    assert any("Santépôle" in b.name for b in melun.bases)
    assert any("Bruyn" in b.name for b in saint_barthelemy.bases)
    for t in (haute_corse, melun, saint_barthelemy):
        for b in t.bases:
            assert 0 <= b.node < t.graph.n_nodes
            assert b.snap_distance_m < 400, b.name
            assert b.commune in {c.code_insee for c in t.communes}


def test_load_is_fast_and_complete(haute_corse, settings):
    """Loading a built territory reads arrays only (well under a second) and round-trips."""
    start = time.perf_counter()
    again = load_territory("haute-corse", settings)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # generous: the target (tens of ms) is measured by the CLI build log
    np.testing.assert_array_equal(again.node_population, haute_corse.node_population)
    assert again.graph.names == haute_corse.graph.names
    assert all(c.geometry is not None for c in again.communes)


def test_cache_invalidation_and_force(settings, tmp_path):
    """A changed definition makes load_territory refuse the cache; build (or --force) rebuilds."""
    root = tmp_path / "territories"
    shutil.copytree(PROJECT_ROOT / "data" / "territories" / "melun", root / "melun")
    local = settings.replace(territories_dir=root, cache_dir=tmp_path / "cache")
    with pytest.raises(NotBuiltError, match="dispatch territory build melun"):
        load_territory("melun", local)
    first = build_territory("melun", local)
    assert build_territory("melun", local).info["built_at"] == first.info["built_at"]
    toml = root / "melun" / "territory.toml"
    toml.write_text(toml.read_text().replace("factor = 1.0", "factor = 0.8"))
    with pytest.raises(NotBuiltError, match="out of date"):
        load_territory("melun", local)
    slower = build_territory("melun", local)
    assert slower.graph.arc_travel_time_s.sum() > first.graph.arc_travel_time_s.sum() * 1.2


def test_wrong_checksum_is_refused(settings, tmp_path):
    """A road file whose sha256 differs from the definition is not imported."""
    root = tmp_path / "territories"
    shutil.copytree(PROJECT_ROOT / "data" / "territories" / "melun", root / "melun")
    toml = root / "melun" / "territory.toml"
    toml.write_text(toml.read_text().replace("b4b1b5d9", "00000000"))
    local = settings.replace(territories_dir=root, cache_dir=tmp_path / "cache")
    with pytest.raises(ValidationError, match="sha256"):
        build_territory("melun", local)


def test_progress_is_reported_and_force_rebuilds(settings, tmp_path):
    """build_territory reports its long steps; force=True rebuilds an up-to-date cache."""
    local = settings.replace(cache_dir=tmp_path / "cache")
    messages: list[str] = []
    build_territory("saint-barthelemy", local, progress=messages.append)
    assert any("reading" in m for m in messages) and any("cache" in m for m in messages)
    messages.clear()
    build_territory("saint-barthelemy", local, progress=messages.append)
    assert messages == [], "an up-to-date cache is loaded, not rebuilt"
    build_territory("saint-barthelemy", local, progress=messages.append, force=True)
    assert any("reading" in m for m in messages)


def test_a_road_file_copied_with_a_new_date_keeps_the_cache(settings, tmp_path):
    """Only a different content makes the cache stale, not a new modification time."""
    from dispatch.territory.build import _cache_key, _stale_reason
    from dispatch.territory.definitions import load_definition

    definition = load_definition("melun", settings)
    road = tmp_path / "network.osm"
    road.write_bytes(b"<osm>roads</osm>")
    stat = road.stat()
    info = {
        "key": _cache_key(definition),
        "source": {
            "path": str(road),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": sha256_file(road),
        },
    }
    assert _stale_reason(definition, info) is None
    os.utime(road, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert _stale_reason(definition, info) is None
    road.write_bytes(b"<osm>ROADS</osm>")  # same size, other content
    assert "changed since it was built" in (_stale_reason(definition, info) or "")
