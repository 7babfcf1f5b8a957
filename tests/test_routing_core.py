"""Routing core on small synthetic graphs: engines against Dijkstra, snapping, routes, isochrones."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from dispatch.errors import RoutingError, ValidationError
from dispatch.graph import RoadGraph
from dispatch.routing import UNREACHABLE_M, UNREACHABLE_S, Router
from dispatch.routing.crs import metric_crs

ENGINES = ["ch", "scipy"]

# A 12 x 12 street grid near Melun (~110 m blocks), some one-way streets, a pair of parallel
# arcs and a separate two-node island (unreachable from the grid).
SIDE = 12
LON0, LAT0, STEP = 2.64, 48.53, 0.0015


def grid_graph(seed: int = 0) -> RoadGraph:
    """The synthetic test graph (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    lon, lat = [], []
    for r in range(SIDE):
        for c in range(SIDE):
            lon.append(LON0 + c * STEP)
            lat.append(LAT0 + r * STEP * 0.66)
    n_grid = SIDE * SIDE
    lon += [LON0 + 0.05, LON0 + 0.051]  # the island, ~3.5 km east
    lat += [LAT0, LAT0]
    tails, heads = [], []
    for r in range(SIDE):
        for c in range(SIDE):
            u = r * SIDE + c
            for v in ((u + 1) if c + 1 < SIDE else None, (u + SIDE) if r + 1 < SIDE else None):
                if v is None:
                    continue
                one_way = rng.random() < 0.15
                tails.append(u)
                heads.append(v)
                if not one_way:
                    tails.append(v)
                    heads.append(u)
    tails += [n_grid, n_grid + 1, 0]  # island both ways, and a slow parallel arc 0 -> 1
    heads += [n_grid + 1, n_grid, 1]
    tail = np.array(tails, dtype=np.int32)
    head = np.array(heads, dtype=np.int32)
    node_lon, node_lat = np.array(lon), np.array(lat)
    length = np.hypot(
        (node_lon[head] - node_lon[tail]) * 73_800, (node_lat[head] - node_lat[tail]) * 111_200
    ).astype(np.float32)
    speed = rng.choice([8.3, 13.9, 22.2], size=len(tail))  # 30, 50, 80 km/h
    time_s = (length / speed).astype(np.float32)
    time_s[-1] = time_s[0] * 5  # the parallel arc is slower: engines must ignore it
    m = len(tail)
    return RoadGraph(
        node_lon=node_lon,
        node_lat=node_lat,
        node_osm_id=np.arange(len(node_lon), dtype=np.int64),
        arc_tail=tail,
        arc_head=head,
        arc_length_m=length,
        arc_travel_time_s=time_s,
        arc_road_class=np.full(m, 6, dtype=np.uint8),
        arc_name=np.full(m, -1, dtype=np.int32),
    )


def plain_dijkstra_s(graph: RoadGraph, sources: np.ndarray) -> np.ndarray:
    """Reference: SciPy Dijkstra on float seconds, parallel arcs reduced by hand to the fastest."""
    best: dict[tuple[int, int], float] = {}
    for u, v, t in zip(graph.arc_tail, graph.arc_head, graph.arc_travel_time_s, strict=True):
        key = (int(u), int(v))
        best[key] = min(best.get(key, np.inf), float(t))
    rows, cols = zip(*best.keys(), strict=True)
    m = csr_matrix((list(best.values()), (rows, cols)), shape=(graph.n_nodes, graph.n_nodes))
    return dijkstra(m, indices=sources)


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return grid_graph()


@pytest.fixture(scope="module", params=ENGINES)
def router(request: pytest.FixtureRequest, graph: RoadGraph) -> Router:
    return Router(graph, engine=request.param)


def test_metric_crs_lambert_in_france_utm_elsewhere() -> None:
    """Metropolitan France (and Corsica) use Lambert-93; Saint-Barthélemy gets UTM zone 20N."""
    assert metric_crs((2.58, 48.48, 2.72, 48.57)) == "EPSG:2154"
    assert metric_crs((8.57, 41.37, 9.56, 43.01)) == "EPSG:2154"
    assert metric_crs((-62.87, 17.88, -62.79, 17.92)) == "EPSG:32620"


def test_matrix_equals_plain_dijkstra(router: Router, graph: RoadGraph) -> None:
    """Both engines give, in integer seconds, the times of a plain Dijkstra on float seconds."""
    rng = np.random.default_rng(1)
    sources = rng.integers(0, SIDE * SIDE, 25)
    targets = rng.integers(0, SIDE * SIDE, 40)
    got = router.matrix(sources, targets)
    want = plain_dijkstra_s(graph, sources)[:, targets]
    assert got.dtype == np.int32 and got.shape == (25, 40)
    # Arc times are whole milliseconds inside the engines: at most 1 s from float rounding.
    assert np.abs(got - np.rint(want)).max() <= 1
    assert (got == np.rint(want)).mean() > 0.95
    assert (np.diag(router.matrix(sources, sources)) == 0).all()


def test_engines_agree_exactly(graph: RoadGraph) -> None:
    """The CH engine and SciPy's Dijkstra return identical matrices on the same graph."""
    nodes = np.arange(graph.n_nodes)
    ch = Router(graph, engine="ch").matrix(nodes, nodes)
    sp = Router(graph, engine="scipy").matrix(nodes, nodes)
    assert np.array_equal(ch, sp)


def test_unreachable_pairs_get_the_bounded_marker(router: Router, graph: RoadGraph) -> None:
    """Grid to island (and back) is UNREACHABLE_S in matrices, and route() refuses it."""
    island = graph.n_nodes - 2
    m = router.matrix([0, island], [island, 5])
    assert m[0, 0] == UNREACHABLE_S and m[1, 1] == UNREACHABLE_S
    assert m[1, 0] == 0 and m[0, 1] < UNREACHABLE_S
    t, d = router.matrix_with_distance([0], [island])
    assert t[0, 0] == UNREACHABLE_S and d[0, 0] == UNREACHABLE_M
    with pytest.raises(RoutingError, match="do not connect"):
        router.route(0, island)


def test_route_is_continuous_and_matches_the_matrix(router: Router, graph: RoadGraph) -> None:
    """Arcs chain head to tail, the line runs source to target, time equals the matrix entry."""
    rng = np.random.default_rng(2)
    for _ in range(15):
        s, t = (int(v) for v in rng.integers(0, SIDE * SIDE, 2))
        route = router.route(s, t)
        arcs = np.asarray(route.arcs)
        if s != t:
            assert graph.arc_tail[arcs[0]] == s and graph.arc_head[arcs[-1]] == t
            assert (graph.arc_head[arcs[:-1]] == graph.arc_tail[arcs[1:]]).all()
        assert route.coordinates[0] == (graph.node_lon[s], graph.node_lat[s])
        assert route.coordinates[-1] == (graph.node_lon[t], graph.node_lat[t])
        assert route.travel_time_s == router.matrix([s], [t])[0, 0]
        assert route.distance_m == round(float(graph.arc_length_m[arcs].sum()))
        assert route.geometry["type"] == "LineString"
        assert len(route.geometry["coordinates"]) >= 2
    assert len(graph.arc_tail) - 1 not in router.route(0, 1).arcs  # never the slow parallel arc
    same = router.route(5, 5)
    assert same.travel_time_s == 0 and same.distance_m == 0 and len(same.coordinates) == 2


def test_matrix_with_distance_follows_the_fastest_paths(router: Router) -> None:
    """Times equal matrix(); lengths equal the routes' lengths (to rounding), both directions."""
    sources, targets = np.array([0, 17, 60, 143]), np.array([5, 99, 130])
    for src, dst in ((sources, targets), (targets, sources)):
        t, d = router.matrix_with_distance(src, dst)
        assert np.array_equal(t, router.matrix(src, dst))
        for i, s in enumerate(src):
            for j, g in enumerate(dst):
                assert abs(int(d[i, j]) - router.route(int(s), int(g)).distance_m) <= 1


def test_one_to_all_matches_dijkstra_and_honours_the_limit(
    router: Router, graph: RoadGraph
) -> None:
    """Times from the nearest source equal Dijkstra's; beyond limit_s they are inf."""
    sources = np.array([3, 100])
    got = router.one_to_all(sources)
    want = plain_dijkstra_s(graph, sources).min(axis=0)
    reach = np.isfinite(want)
    assert np.array_equal(np.isfinite(got), reach)
    assert np.allclose(got[reach], want[reach], atol=0.05)
    limited = router.one_to_all(sources, limit_s=60)
    assert np.isinf(limited[want > 60.01]).all()
    assert np.allclose(limited[want < 59.99], want[want < 59.99], atol=0.05)


def test_snap_projects_onto_the_nearest_arc(graph: RoadGraph) -> None:
    """A point 30 m beside a street snaps onto it, reports ~30 m and the nearer street end."""
    router = Router(graph, engine="scipy")
    # A quarter of the way along the street from node 0 to node 1, 30 m to the south.
    lon = LON0 + STEP / 4
    lat = LAT0 - 30 / 111_200
    snap = router.snap(lon, lat)
    assert snap.node == 0
    assert snap.distance_m == pytest.approx(30, abs=1.5)
    assert snap.lon == pytest.approx(lon, abs=1e-6) and snap.lat == pytest.approx(LAT0, abs=1e-6)
    nodes, dist = router.snap_many([lon, LON0 + STEP * 0.8], [lat, LAT0 + 0.0001])
    assert nodes.tolist() == [0, 1] and dist[0] == pytest.approx(snap.distance_m)


def test_snap_refuses_far_points_and_points_outside(graph: RoadGraph) -> None:
    """Too far from roads or outside the boundary: RoutingError saying so; bad lon/lat refused."""
    boundary = shapely.box(LON0 - 0.001, LAT0 - 0.001, LON0 + 0.02, LAT0 + 0.012)
    router = Router(graph, engine="scipy", boundary=boundary, label="Grille")
    with pytest.raises(RoutingError, match=r"is 7\d m from the nearest road .* more than 50 m"):
        router.snap(LON0 + 0.0075, LAT0 - 0.00065, max_distance_m=50)
    with pytest.raises(RoutingError, match="outside the territory Grille"):
        router.snap(LON0 + 0.05, LAT0)  # the island: on a road, but outside the boundary
    with pytest.raises(RoutingError, match=r"is 2\d\d\d\d m from the nearest road"):
        Router(graph, engine="scipy").snap(LON0, LAT0 + 0.2)  # 22 km north: nothing there
    with pytest.raises(ValidationError, match="longitude then latitude"):
        router.snap(48.53, 182.0)
    nodes, dist = router.snap_many([LON0, LON0 + 0.05], [LAT0, LAT0], strict=False)
    assert nodes.tolist() == [0, -1] and np.isinf(dist[1])
    with pytest.raises(RoutingError, match="2 points of 3 refused"):
        router.snap_many([LON0, LON0 + 0.05, LON0 + 0.3], [LAT0, LAT0, LAT0])


def test_route_lonlat_snaps_both_ends(graph: RoadGraph) -> None:
    """route_lonlat snaps its two points, then routes between the snapped nodes."""
    router = Router(graph, engine="ch")
    a = (LON0 + 0.0001, LAT0 + 0.0001)
    b = (LON0 + 5 * STEP, LAT0 + 3 * STEP * 0.66)
    route = router.route_lonlat(a, b)
    assert route.source_snap is not None and route.target_snap is not None
    assert route.source_snap.node == 0 and route.target_snap.node == 3 * SIDE + 5
    assert route.travel_time_s == router.matrix([0], [3 * SIDE + 5])[0, 0]
    body = route.to_dict()
    assert body["from"]["snap_distance_m"] < 20 and body["geometry"]["type"] == "LineString"


def test_isochrones_valid_nested_and_contain_the_source(router: Router, graph: RoadGraph) -> None:
    """One valid WGS84 polygon per limit, in the order given, nested, containing the sources."""
    limits = [120, 30, 60]
    polys = router.isochrones([0, 77], limits)
    assert len(polys) == 3
    for p in polys:
        assert p.is_valid and not p.is_empty and p.geom_type in ("Polygon", "MultiPolygon")
        minx, miny, maxx, maxy = p.bounds
        assert LON0 - 0.01 < minx and maxx < LON0 + 0.03 and LAT0 - 0.01 < miny < maxy < LAT0 + 0.02
    small, medium, large = polys[1], polys[2], polys[0]
    assert large.contains(medium) and medium.contains(small)
    assert small.area < medium.area < large.area
    for s in (0, 77):
        assert small.contains(shapely.Point(graph.node_lon[s], graph.node_lat[s]))
    # A node reached well within a limit is inside it; one far beyond is not.
    times = router.one_to_all([0, 77])
    near, far = (
        int(np.argmin(np.where(times > 10, times, np.inf))),
        int(np.nanargmax(np.where(np.isfinite(times), times, -1))),
    )
    assert small.contains(shapely.Point(graph.node_lon[near], graph.node_lat[near]))
    if times[far] > 200:
        assert not large.contains(shapely.Point(graph.node_lon[far], graph.node_lat[far]))
    with pytest.raises(ValidationError):
        router.isochrones([0], [])


def test_disk_cache_is_reused(tmp_path, graph: RoadGraph) -> None:
    """A second Router on the same cache folder loads the engine index and arrays from it."""
    first = Router(graph, cache_dir=tmp_path, engine="ch")
    assert not first.timings.engine_from_cache and not first.timings.arrays_from_cache
    second = Router(graph, cache_dir=tmp_path, engine="ch")
    assert second.timings.engine_from_cache and second.timings.arrays_from_cache
    nodes = np.arange(0, SIDE * SIDE, 7)
    assert np.array_equal(first.matrix(nodes, nodes), second.matrix(nodes, nodes))
    assert second.snap(LON0 + 0.003, LAT0 + 0.0005) == first.snap(LON0 + 0.003, LAT0 + 0.0005)


def test_unwritable_cache_warns_and_still_routes(tmp_path, graph: RoadGraph) -> None:
    """A cache folder that cannot be created gives a warning, and routing still works."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="cannot write"):
        router = Router(graph, cache_dir=blocker, engine="ch")
    assert router.matrix([0], [1])[0, 0] > 0


def test_bad_arguments_are_refused(graph: RoadGraph) -> None:
    """Unknown engines and node ids outside the graph give ValidationError, not IndexError."""
    with pytest.raises(ValidationError, match="unknown routing engine"):
        Router(graph, engine="fastest")
    router = Router(graph, engine="scipy")
    with pytest.raises(ValidationError, match="does not exist"):
        router.matrix([0], [graph.n_nodes])
    with pytest.raises(ValidationError, match="does not exist"):
        router.route(-1, 3)


def test_auto_engine_falls_back_to_dijkstra_when_ch_is_wrong(monkeypatch, graph: RoadGraph) -> None:
    """ "auto" checks CH against Dijkstra and uses SciPy, with a warning, when they differ."""
    from dispatch.routing import engines

    assert Router(graph, engine="auto").engine_name == "ch"
    monkeypatch.setattr(
        engines.CHEngine, "matrix_ms", lambda self, s, t: np.zeros((len(s), len(t)), np.int64)
    )
    with pytest.warns(UserWarning, match="disagrees with Dijkstra"):
        router = Router(graph, engine="auto")
    assert router.engine_name == "scipy"
    assert router.matrix([0], [5])[0, 0] > 0


def test_auto_engine_without_pyroutingkit(monkeypatch, graph: RoadGraph) -> None:
    """Without pyroutingkit, "auto" uses SciPy and "ch" says how to install it."""
    import sys

    monkeypatch.setitem(sys.modules, "pyroutingkit", None)  # import now raises ImportError
    monkeypatch.setattr("dispatch.routing.engines.pyroutingkit_version", lambda: None)
    assert Router(graph, engine="auto").engine_name == "scipy"
    with pytest.raises(ValidationError, match="pip install pyroutingkit"):
        Router(graph, engine="ch")
