"""Routing on built territories: engines against Dijkstra, snapping limits, Bastia-Corte, isochrones."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from dispatch.errors import RoutingError
from dispatch.routing import Router
from dispatch.territory import sample_points


@pytest.fixture(scope="module")
def melun_router(melun) -> Router:
    return Router.for_territory(melun)


def test_for_territory_caches_on_disk_and_in_process(melun, melun_router: Router) -> None:
    """for_territory keeps its index under the territory cache and returns the same Router."""
    assert Router.for_territory(melun) is melun_router
    assert melun_router.cache_dir is not None
    assert melun_router.cache_dir.is_relative_to(melun.cache_dir)
    assert (melun_router.cache_dir / "arrays.npz").exists()
    fresh = Router(melun.graph, cache_dir=melun.cache_dir)
    assert fresh.timings.arrays_from_cache and fresh.timings.engine_from_cache


def test_snapping_matches_brute_force_on_melun(melun, melun_router: Router) -> None:
    """Snap distances equal the exact nearest-segment distance (brute force over all arcs)."""
    from dispatch.routing.crs import to_metric

    g = melun.graph
    rng = np.random.default_rng(4)
    lon0, lat0, lon1, lat1 = g.bbox()
    lons = rng.uniform(lon0 + 0.01, lon1 - 0.01, 300)
    lats = rng.uniform(lat0 + 0.01, lat1 - 0.01, 300)
    nodes, dist = melun_router.snap_many(lons, lats, strict=False, max_distance_m=5000)
    x, y = to_metric(melun_router.crs, lons, lats)
    ax, ay = melun_router.node_x[g.arc_tail], melun_router.node_y[g.arc_tail]
    dx, dy = melun_router.node_x[g.arc_head] - ax, melun_router.node_y[g.arc_head] - ay
    t = ((x[:, None] - ax) * dx + (y[:, None] - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-9)
    t = np.clip(t, 0, 1)
    exact = np.hypot(x[:, None] - ax - t * dx, y[:, None] - ay - t * dy).min(axis=1)
    ok = nodes >= 0
    assert ok.mean() > 0.9
    assert np.all(dist[ok] >= exact[ok] - 1e-6)
    assert np.all(dist[ok] <= exact[ok] + 20)  # at worst half the sample spacing off
    assert np.mean(np.abs(dist[ok] - exact[ok]) < 0.01) > 0.97


def test_engines_equal_plain_dijkstra_on_melun(melun, melun_router: Router) -> None:
    """On visit-like points of Melun, CH and SciPy engines equal a float-seconds Dijkstra."""
    pts = sample_points(melun, 150, seed=3)
    nodes, dist = melun_router.snap_many(pts[:, 0], pts[:, 1])
    assert dist.max() < 50  # sampled on streets
    ch = melun_router.matrix(nodes, nodes)
    sp = Router(melun.graph, engine="scipy").matrix(nodes, nodes)
    assert melun_router.engine_name == "ch"
    assert np.array_equal(ch, sp)
    g = melun.graph
    from scipy.sparse import coo_matrix

    # Reference built independently: duplicates reduced to their minimum by hand.
    order = np.lexsort((g.arc_travel_time_s, g.arc_head, g.arc_tail))
    t, h, w = g.arc_tail[order], g.arc_head[order], g.arc_travel_time_s[order]
    first = np.r_[True, (t[1:] != t[:-1]) | (h[1:] != h[:-1])]
    ref = coo_matrix((w[first].astype(float), (t[first], h[first])), shape=(g.n_nodes,) * 2)
    want = dijkstra(ref.tocsr(), indices=nodes[:40])[:, nodes]
    assert np.abs(ch[:40] - np.rint(want)).max() <= 1


def test_route_matches_matrix_on_melun(melun, melun_router: Router) -> None:
    """Routes between sampled points are continuous and take exactly the matrix time."""
    pts = sample_points(melun, 20, seed=5)
    nodes, _ = melun_router.snap_many(pts[:, 0], pts[:, 1])
    m = melun_router.matrix(nodes, nodes)
    g = melun.graph
    for i in range(0, 20, 2):
        route = melun_router.route(int(nodes[i]), int(nodes[i + 1]))
        assert route.travel_time_s == m[i, i + 1]
        arcs = np.asarray(route.arcs)
        if len(arcs):
            assert (g.arc_head[arcs[:-1]] == g.arc_tail[arcs[1:]]).all()
        assert len(route.coordinates) == len(arcs) + 1 or len(arcs) == 0


def test_concurrent_queries_are_safe(melun, melun_router: Router) -> None:
    """Threads sharing one Router (as web requests do) get the same answers, no crash."""
    from concurrent.futures import ThreadPoolExecutor

    pts = sample_points(melun, 60, seed=8)
    nodes, _ = melun_router.snap_many(pts[:, 0], pts[:, 1])
    want = melun_router.matrix(nodes, nodes)

    def work(i: int) -> bool:
        same = np.array_equal(melun_router.matrix(nodes, nodes), want)
        route = melun_router.route(int(nodes[i]), int(nodes[-1 - i]))
        return same and route.travel_time_s == want[i, -1 - i]

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(40)))


def test_isochrones_from_the_melun_hospital(melun, melun_router: Router) -> None:
    """5/10/15 min isochrones: valid, nested, around the base, and not a convex hull."""
    base = melun.bases[0]
    snap = melun_router.snap(base.lon, base.lat)
    polys = melun_router.isochrones([snap.node], [300, 600, 900])
    assert all(p.is_valid and not p.is_empty for p in polys)
    assert polys[2].contains(polys[1]) and polys[1].contains(polys[0])
    assert polys[0].contains(shapely.Point(snap.lon, snap.lat).buffer(1e-5))
    assert polys[2].area < 0.95 * polys[2].convex_hull.area
    # 15 minutes covers a good part of the urban core but not all the (71 km2) network area.
    assert polys[2].area < shapely.box(*melun.graph.bbox()).area


def test_saint_barthelemy_uses_utm(saint_barthelemy) -> None:
    """Outside metropolitan France the metric CRS is UTM (zone 20N) and isochrones are valid."""
    router = Router.for_territory(saint_barthelemy)
    assert router.crs == "EPSG:32620"
    base = saint_barthelemy.bases[0]
    polys = router.isochrones([router.snap(base.lon, base.lat).node], [300, 600])
    assert all(p.is_valid for p in polys) and polys[1].contains(polys[0])
    assert -62.9 < polys[1].bounds[0] and polys[1].bounds[2] < -62.78


def test_shape_points_in_routes_and_snapping(saint_barthelemy) -> None:
    """Raw-OSM arcs have shape points: routes draw them; a point beside one snaps onto it."""
    g = saint_barthelemy.graph
    router = Router.for_territory(saint_barthelemy)
    shaped = np.flatnonzero(np.diff(g.arc_shape_offset) > 0)
    arc = int(shaped[len(shaped) // 2])
    route = router.route(int(g.arc_tail[arc]), int(g.arc_head[shaped[0]]))
    expected = 1 + sum(len(g.arc_coords(a)) - 1 for a in route.arcs)
    assert len(route.coordinates) == expected
    assert route.coordinates[: len(g.arc_coords(route.arcs[0]))] == g.arc_coords(route.arcs[0])
    # 5 m north of the arc's first shape point: snapped onto that road, about 5 m away.
    k = int(g.arc_shape_offset[arc])
    snap = router.snap(float(g.shape_lon[k]), float(g.shape_lat[k]) + 5 / 111_200)
    assert snap.distance_m <= 5.5
    ends = {int(g.arc_tail[arc]), int(g.arc_head[arc])}
    assert {int(g.arc_tail[snap.arc]), int(g.arc_head[snap.arc])} == ends  # the arc or its twin
    assert snap.node in ends


@pytest.mark.slow
def test_bastia_to_corte_is_plausible(haute_corse) -> None:
    """Bastia to Corte by road: about 70 km and about an hour, via either engine."""
    router = Router.for_territory(haute_corse)
    route = router.route_lonlat((9.45, 42.70), (9.15, 42.30))
    assert 62_000 < route.distance_m < 80_000
    assert 50 * 60 < route.travel_time_s < 90 * 60
    assert route.source_snap is not None and route.source_snap.distance_m < 200
    scipy_route = Router(haute_corse.graph, engine="scipy").route(
        route.source_snap.node,
        route.target_snap.node,  # type: ignore[union-attr]
    )
    assert scipy_route.travel_time_s == route.travel_time_s


@pytest.mark.slow
def test_haute_corse_refuses_sea_mountain_and_corse_du_sud(haute_corse) -> None:
    """The sea off Bastia, Monte Cinto (3 km from a road) and Ajaccio are refused, saying why."""
    router = Router.for_territory(haute_corse)
    with pytest.raises(RoutingError, match="outside the territory"):
        router.snap(9.60, 42.70)
    with pytest.raises(RoutingError, match="from the nearest road"):
        router.snap(8.945, 42.379)
    assert router.snap(8.945, 42.379, max_distance_m=5000).distance_m > 1500
    with pytest.raises(RoutingError, match="outside the territory"):
        router.snap(8.738, 41.926)
