"""The Router: snapping, travel-time matrices, routes, one-to-all times and isochrones."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry

from dispatch.errors import RoutingError, ValidationError
from dispatch.graph import RoadGraph
from dispatch.routing.compact import MS_PER_S, CompactGraph, arc_weights_ms, graph_key
from dispatch.routing.crs import metric_crs, to_metric, to_wgs84
from dispatch.routing.engines import NO_PATH_MS, Engine, make_engine
from dispatch.routing.isochrones import isochrone_polygons
from dispatch.routing.snapping import SegmentIndex, Snap

#: Travel time (s) given to pairs with no route: large, bounded, safe to add up in int32/int64.
UNREACHABLE_S = 10_000_000
#: Distance (m) given to pairs with no route.
UNREACHABLE_M = 10_000_000
#: Points farther than this from every road are refused (sea, off the map, wrong coordinates).
DEFAULT_MAX_SNAP_M = 1500.0
#: Points this close outside the territory's outline still count as inside it.
BOUNDARY_TOLERANCE_M = 250.0
#: Bumped when the cached arrays change meaning.
CACHE_FORMAT = 1
#: Sources per Dijkstra call in :meth:`Router.matrix_with_distance`.
_TREE_BATCH = 64
#: Lengths (dm) packed under times (ms): 2**24 dm = 1677 km per route, and a route may last
#: 6 days before the packed sum leaves the exact integers of float64.
_LEX_FACTOR = 2**24


@dataclass(frozen=True)
class Route:
    """A fastest route between two nodes: integer seconds, metres and a GeoJSON LineString."""

    travel_time_s: int
    distance_m: int
    coordinates: list[tuple[float, float]]
    arcs: tuple[int, ...] = ()
    source_snap: Snap | None = None
    target_snap: Snap | None = None

    @property
    def geometry(self) -> dict[str, Any]:
        """The path as a GeoJSON LineString (lon, lat)."""
        return {"type": "LineString", "coordinates": [list(p) for p in self.coordinates]}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the CLI's ``--json`` output and the web's answer)."""
        out: dict[str, Any] = {
            "travel_time_s": self.travel_time_s,
            "distance_m": self.distance_m,
            "geometry": self.geometry,
        }
        for key, snap in (("from", self.source_snap), ("to", self.target_snap)):
            if snap is not None:
                out[key] = {
                    "node": snap.node,
                    "lon": round(snap.lon, 6),
                    "lat": round(snap.lat, 6),
                    "snap_distance_m": round(snap.distance_m, 1),
                }
        return out


@dataclass
class RouterTimings:
    """How long the router took to get ready (reported by `dispatch bench routing`)."""

    load_s: float = 0.0
    engine_prepare_s: float = 0.0
    engine_from_cache: bool = False
    arrays_from_cache: bool = False


_ROUTERS: dict[tuple[str, str, str], Router] = {}
_ROUTERS_LOCK = threading.Lock()


class Router:
    """Routing on one road graph.

    Parameters
    ----------
    graph
        The road graph (nodes in WGS84).
    cache_dir
        Folder where the engine index and the snapping arrays are kept between runs
        (a ``routing`` sub-folder is created); None keeps everything in memory.
    engine
        ``"ch"`` (contraction hierarchies, pyroutingkit), ``"scipy"`` (plain Dijkstra) or
        ``"auto"`` (CH when it is installed and agrees with Dijkstra on a sample, else SciPy).
    boundary
        WGS84 polygon of the territory: points outside it are refused by :meth:`snap`.
    label
        Name of the territory, used in error messages.
    max_snap_distance_m
        Default for :meth:`snap`: points farther from every road are refused.
    """

    def __init__(
        self,
        graph: RoadGraph,
        *,
        cache_dir: str | Path | None = None,
        engine: str = "auto",
        boundary: BaseGeometry | None = None,
        label: str | None = None,
        max_snap_distance_m: float = DEFAULT_MAX_SNAP_M,
    ) -> None:
        start = time.perf_counter()
        if graph.n_nodes == 0:
            raise ValidationError("the road graph has no nodes: rebuild the territory")
        self.graph = graph
        self.label = label or "this territory"
        self.max_snap_distance_m = float(max_snap_distance_m)
        self.boundary = boundary
        self._boundary_m: BaseGeometry | None = None
        if boundary is not None and not boundary.is_empty:
            shapely.prepare(boundary)
        self.timings = RouterTimings()
        self.key = graph_key(graph)
        folder = Path(cache_dir) / "routing" / self.key if cache_dir is not None else None
        self.cache_dir = folder

        self.weights_ms = arc_weights_ms(graph)
        self.arc_time_s = self.weights_ms.astype(np.float64) / MS_PER_S
        self.compact = CompactGraph.from_graph(graph, self.weights_ms)
        self._forward = self.compact.matrix()
        self._lex: dict[str, Any] = {}
        self.crs = metric_crs(graph.bbox())
        self._load_or_build_arrays(folder)
        self.engine: Engine = make_engine(
            engine,
            graph,
            self.weights_ms,
            self.compact,
            cache_dir=folder / "ch" if folder is not None else None,
        )
        self.engine_name = self.engine.name
        self.timings.engine_prepare_s = self.engine.prepare_s
        self.timings.engine_from_cache = self.engine.from_cache
        self.timings.load_s = time.perf_counter() - start

    # ------------------------------------------------------------------ construction and cache
    def _load_or_build_arrays(self, folder: Path | None) -> None:
        arrays_file = folder / "arrays.npz" if folder is not None else None
        if arrays_file is not None and arrays_file.exists():
            try:
                with np.load(arrays_file) as data:
                    arrays = {k: data[k] for k in data.files}
                if int(arrays.pop("format")[0]) == CACHE_FORMAT:
                    self._set_arrays(arrays)
                    self.timings.arrays_from_cache = True
                    return
            except (OSError, ValueError, KeyError):
                pass  # unreadable or old cache: rebuild below
        g = self.graph
        node_x, node_y = to_metric(self.crs, g.node_lon, g.node_lat)
        shape_x, shape_y = to_metric(self.crs, g.shape_lon, g.shape_lat)
        index = SegmentIndex.build(g, node_x, node_y, shape_x, shape_y)
        arrays = {
            "node_x": node_x,
            "node_y": node_y,
            "shape_x": shape_x,
            "shape_y": shape_y,
            **index.arrays(),
        }
        self._set_arrays(arrays)
        if arrays_file is not None and folder is not None:
            try:
                self._save_arrays(folder, arrays_file, arrays)
            except OSError as exc:
                warnings.warn(
                    f"cannot write the routing cache in {folder} ({exc}): routing works but "
                    "prepares again at each start; make the cache folder writable",
                    UserWarning,
                    stacklevel=3,
                )

    def _save_arrays(self, folder: Path, arrays_file: Path, arrays: dict[str, np.ndarray]) -> None:
        # Indexes of earlier versions of this graph (the territory was rebuilt) are stale.
        for old in folder.parent.glob("*"):
            if old.is_dir() and old.name != folder.name:
                shutil.rmtree(old, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename, so that a concurrent reader never sees half a file.
        tmp = folder / f"arrays.{os.getpid()}.tmp.npz"
        np.savez(tmp, format=np.array([CACHE_FORMAT]), **arrays)  # type: ignore[arg-type]
        os.replace(tmp, arrays_file)
        g = self.graph
        (folder / "meta.json").write_text(
            json.dumps({"crs": self.crs, "nodes": g.n_nodes, "arcs": g.n_arcs}, indent=1)
        )

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        arrays = dict(arrays)
        self.node_x = arrays.pop("node_x")
        self.node_y = arrays.pop("node_y")
        self.shape_x = arrays.pop("shape_x")
        self.shape_y = arrays.pop("shape_y")
        self.segments = SegmentIndex.from_arrays(arrays)

    @classmethod
    def for_territory(cls, territory: Any, *, engine: str = "auto") -> Router:
        """The router of a built territory, its index cached in ``territory.cache_dir``.

        The first call builds and saves the engine index and snapping arrays; later calls (and
        later processes) load them. Within a process the same Router object is returned.
        """
        graph: RoadGraph = territory.graph
        memo_key = (str(territory.cache_dir), graph_key(graph), engine)
        with _ROUTERS_LOCK:  # two requests at start-up must not both build the index
            router = _ROUTERS.get(memo_key)
            if router is None:
                router = cls(
                    graph,
                    cache_dir=territory.cache_dir,
                    engine=engine,
                    boundary=getattr(territory, "boundary", None),
                    label=getattr(territory, "name", None) or getattr(territory, "id", None),
                )
                if len(_ROUTERS) >= 8:
                    _ROUTERS.pop(next(iter(_ROUTERS)))
                _ROUTERS[memo_key] = router
        return router

    # ------------------------------------------------------------------ snapping
    def _check_lonlat(self, lons: np.ndarray, lats: np.ndarray) -> None:
        bad = ~(
            np.isfinite(lons) & np.isfinite(lats) & (np.abs(lons) <= 180) & (np.abs(lats) <= 90)
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"{lons[i]},{lats[i]} is not a WGS84 position: give longitude then latitude "
                "in degrees (longitude -180..180, latitude -90..90), e.g. 9.45,42.70",
                details={"indices": np.flatnonzero(bad)[:100].tolist()},
            )

    def _explain_refusal(self, lon: float, lat: float, distance_m: float, limit_m: float) -> str:
        min_lon, min_lat, max_lon, max_lat = self.graph.bbox()
        swapped = min_lon <= lat <= max_lon and min_lat <= lon <= max_lat
        hint = " (did you swap them? the order is longitude,latitude)" if swapped else ""
        if np.isfinite(distance_m):
            return (
                f"point {lon:.5f},{lat:.5f}{hint} is {distance_m:.0f} m from the nearest road of "
                f"{self.label}, more than {limit_m:.0f} m: is it in the sea or off the map? "
                "Move it next to a road or allow a larger snapping distance "
                "(max_distance_m; --max-snap-m on the command line)"
            )
        return (
            f"point {lon:.5f},{lat:.5f}{hint} has no road of {self.label} within {limit_m:.0f} m: "
            "it is in the sea, off the map or outside the territory; move it next to a road"
        )

    def snap_many(
        self,
        lons: Sequence[float] | np.ndarray,
        lats: Sequence[float] | np.ndarray,
        *,
        max_distance_m: float | None = None,
        strict: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest routing node of each point, and each point's distance to its road.

        Parameters
        ----------
        lons, lats
            WGS84 coordinates.
        max_distance_m
            Points farther from every road are refused (default: the router's setting).
        strict
            Raise :class:`RoutingError` for refused points (outside the territory or too far);
            when False, their node is -1 and their distance inf.

        Returns
        -------
        nodes, distance_m
            int64 node ids and float64 distances in metres.
        """
        lons = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lats = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        if lons.shape != lats.shape:
            raise ValidationError(f"{len(lons)} longitudes but {len(lats)} latitudes")
        nodes, dist, _, _, _ = self._snap_checked(lons, lats, max_distance_m, strict)
        return nodes, dist

    def _snap_checked(
        self, lons: np.ndarray, lats: np.ndarray, max_distance_m: float | None, strict: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self._check_lonlat(lons, lats)
        limit = self.max_snap_distance_m if max_distance_m is None else float(max_distance_m)
        nodes, dist, arc, sx, sy = self._snap_arrays(lons, lats, limit)
        inside = self._inside(lons, lats)
        refused = (nodes < 0) | ~inside
        if strict and refused.any():
            i = int(np.flatnonzero(refused)[0])
            if not inside[i]:
                swapped = bool(self._inside(lats[i : i + 1], lons[i : i + 1])[0])
                hint = " (swapped? the order is longitude,latitude)" if swapped else ""
                msg = (
                    f"point {lons[i]:.5f},{lats[i]:.5f} is outside the territory "
                    f"{self.label}{hint}: choose a point inside it"
                )
            else:
                far = float(dist[i])
                if not np.isfinite(far):  # beyond the search radius: measure it for the message
                    x, y = to_metric(self.crs, lons[i : i + 1], lats[i : i + 1])
                    far = float(self.segments.nearest(x, y, max_distance_m=np.inf)[2][0])
                msg = self._explain_refusal(float(lons[i]), float(lats[i]), far, limit)
            n_bad = int(refused.sum())
            if n_bad > 1:
                msg += f" ({n_bad} points of {len(lons)} refused)"
            raise RoutingError(msg, details={"indices": np.flatnonzero(refused)[:100].tolist()})
        nodes[refused] = -1
        dist[refused] = np.inf
        return nodes, dist, arc, sx, sy

    def _inside(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        if self.boundary is None or self.boundary.is_empty:
            return np.ones(len(lons), dtype=bool)
        inside = np.asarray(shapely.contains_xy(self.boundary, lons, lats), dtype=bool)
        if not inside.all():
            # Commune outlines leave slivers and miss a pier or a bridge end: accept points
            # just outside, within BOUNDARY_TOLERANCE_M.
            if self._boundary_m is None:
                self._boundary_m = shapely.transform(
                    self.boundary, lambda xy: np.column_stack(to_metric(self.crs, *xy.T))
                )
                shapely.prepare(self._boundary_m)
            out = np.flatnonzero(~inside)
            x, y = to_metric(self.crs, lons[out], lats[out])
            # A point projected to infinity (a pole) is nowhere near the boundary.
            near = np.isfinite(x) & np.isfinite(y)
            inside[out[near]] = shapely.dwithin(
                self._boundary_m, shapely.points(x[near], y[near]), BOUNDARY_TOLERANCE_M
            )
        return inside

    def _snap_arrays(
        self, lons: np.ndarray, lats: np.ndarray, limit_m: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x, y = to_metric(self.crs, lons, lats)
        arc, along, dist, sx, sy = self.segments.nearest(x, y, max_distance_m=limit_m)
        ok = arc >= 0
        nodes = np.full(len(lons), -1, dtype=np.int64)
        a = arc[ok]
        nearer_tail = along[ok] <= self.segments.arc_geom_m[a] / 2
        nodes[ok] = np.where(nearer_tail, self.graph.arc_tail[a], self.graph.arc_head[a])
        return nodes, dist, arc, sx, sy

    def snap(self, lon: float, lat: float, *, max_distance_m: float | None = None) -> Snap:
        """Move one point onto the nearest road.

        Raises
        ------
        RoutingError
            The point is outside the territory or farther than ``max_distance_m`` from any road.
        ValidationError
            The coordinates are not a WGS84 longitude, latitude pair.
        """
        try:
            lons = np.array([lon], dtype=np.float64)
            lats = np.array([lat], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(f"{lon},{lat} is not a longitude,latitude pair") from None
        nodes, dist, arc, sx, sy = self._snap_checked(lons, lats, max_distance_m, True)
        slon, slat = to_wgs84(self.crs, sx, sy)
        return Snap(
            node=int(nodes[0]),
            distance_m=float(dist[0]),
            lon=float(slon[0]),
            lat=float(slat[0]),
            arc=int(arc[0]),
        )

    # ------------------------------------------------------------------ matrices
    def _nodes(self, nodes: Any, what: str) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(nodes))
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise ValidationError(f"{what} must be node ids (whole numbers)")
        arr = arr.astype(np.int64).ravel()
        if arr.size and (arr.min() < 0 or arr.max() >= self.graph.n_nodes):
            bad = arr[(arr < 0) | (arr >= self.graph.n_nodes)][0]
            raise ValidationError(
                f"{what}: node {bad} does not exist (the graph has nodes 0..{self.graph.n_nodes - 1}); "
                "snap lon/lat points first"
            )
        return arr

    def _matrix_ms(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # Engines work on distinct nodes: visits often share a node (same building, same street).
        us, inv_s = np.unique(sources, return_inverse=True)
        ut, inv_t = np.unique(targets, return_inverse=True)
        if len(us) * len(ut) < 0.9 * len(sources) * len(targets):
            return self.engine.matrix_ms(us, ut)[np.ix_(inv_s, inv_t)]
        return self.engine.matrix_ms(sources, targets)

    @staticmethod
    def _ms_to_s(ms: np.ndarray) -> np.ndarray:
        out = ((ms + MS_PER_S // 2) // MS_PER_S).astype(np.int32)
        out[ms == NO_PATH_MS] = UNREACHABLE_S
        return out

    def matrix(self, sources: Any, targets: Any) -> np.ndarray:
        """Fastest travel times between nodes, in whole seconds (int32).

        Entry ``[i, j]`` is the time from ``sources[i]`` to ``targets[j]``, rounded to the
        nearest second, or :data:`UNREACHABLE_S` when there is no route.
        """
        src = self._nodes(sources, "sources")
        dst = self._nodes(targets, "targets")
        return self._ms_to_s(self._matrix_ms(src, dst))

    def matrix_with_distance(self, sources: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
        """Travel times (s) and lengths (m) of the fastest paths, both int32.

        Among paths of equal time the shortest is taken. Slower than :meth:`matrix` (one
        Dijkstra per distinct source or target, whichever are fewer): use it for reports and
        for small problems, not inside a solver loop.
        """
        src = self._nodes(sources, "sources")
        dst = self._nodes(targets, "targets")
        time_ms = self._matrix_ms(src, dst)
        reverse = len(np.unique(dst)) < len(np.unique(src))
        roots, leaves = (dst, src) if reverse else (src, dst)
        uroots, inv_r = np.unique(roots, return_inverse=True)
        # Lexicographic weights (time in ms, then length in dm) packed in one float64: every
        # sum stays an exact integer below 2**53, so one Dijkstra gives both at once.
        graph_lex = self._lexicographic_graph(transpose=reverse)
        lengths_dm = np.zeros((len(uroots), len(leaves)), dtype=np.int64)
        times_by_root = time_ms.T if reverse else time_ms
        first_row = np.zeros(len(uroots), dtype=np.int64)
        first_row[inv_r[::-1]] = np.arange(len(roots))[::-1]
        for start in range(0, len(uroots), _TREE_BATCH):
            batch = slice(start, start + _TREE_BATCH)
            rows = times_by_root[first_row[batch]]
            finite = rows[rows != NO_PATH_MS]
            limit = (float(finite.max()) + 1) * _LEX_FACTOR if finite.size else 0.0
            dist = dijkstra(graph_lex, indices=uroots[batch], limit=limit)[:, leaves]
            ok = np.isfinite(dist)
            lengths_dm[batch][ok] = np.rint(dist[ok]).astype(np.int64) % _LEX_FACTOR
        dist_dm = lengths_dm[inv_r]
        if reverse:
            dist_dm = dist_dm.T
        out_m = ((dist_dm + 5) // 10).astype(np.int32)
        out_m[time_ms == NO_PATH_MS] = UNREACHABLE_M
        return self._ms_to_s(time_ms), out_m

    def _lexicographic_graph(self, *, transpose: bool) -> Any:
        key = "reverse" if transpose else "forward"
        if key not in self._lex:
            length_dm = np.rint(self.graph.arc_length_m.astype(np.float64) * 10)[self.compact.arc]
            data = self.compact.weight_ms * _LEX_FACTOR + np.clip(length_dm, 0, _LEX_FACTOR - 1)
            matrix = csr_matrix(
                (data, self.compact.indices, self.compact.indptr),
                shape=(self.graph.n_nodes, self.graph.n_nodes),
            )
            self._lex[key] = matrix.T.tocsr() if transpose else matrix
        return self._lex[key]

    # ------------------------------------------------------------------ routes
    def route(self, source_node: int, target_node: int) -> Route:
        """The fastest route between two nodes.

        Raises
        ------
        RoutingError
            No road route joins them (e.g. separate islands).
        """
        src, dst = (int(v) for v in self._nodes([source_node, target_node], "nodes"))
        found = self.engine.path(src, dst)
        if found is None:
            g = self.graph
            raise RoutingError(
                f"no road route from {g.node_lon[src]:.5f},{g.node_lat[src]:.5f} to "
                f"{g.node_lon[dst]:.5f},{g.node_lat[dst]:.5f} in {self.label}: "
                "the two points are on road networks that do not connect"
            )
        time_ms, arcs = found
        return Route(
            travel_time_s=int((time_ms + MS_PER_S // 2) // MS_PER_S),
            distance_m=int(round(float(self.graph.arc_length_m[arcs].astype(np.float64).sum()))),
            coordinates=self._path_coordinates(src, arcs),
            arcs=tuple(int(a) for a in arcs),
        )

    def _path_coordinates(self, source: int, arcs: np.ndarray) -> list[tuple[float, float]]:
        g = self.graph
        if len(arcs) == 0:
            p = (float(g.node_lon[source]), float(g.node_lat[source]))
            return [p, p]
        counts = np.diff(g.arc_shape_offset)[arcs]
        if not counts.any():
            nodes = np.concatenate([[g.arc_tail[arcs[0]]], g.arc_head[arcs]])
            return list(zip(g.node_lon[nodes].tolist(), g.node_lat[nodes].tolist(), strict=True))
        coords = [(float(g.node_lon[source]), float(g.node_lat[source]))]
        for arc in arcs.tolist():
            coords.extend(g.arc_coords(arc)[1:])
        return coords

    def route_lonlat(
        self,
        a_lonlat: tuple[float, float],
        b_lonlat: tuple[float, float],
        *,
        max_distance_m: float | None = None,
    ) -> Route:
        """The fastest route between two WGS84 points, each snapped onto the road first."""
        a = self.snap(a_lonlat[0], a_lonlat[1], max_distance_m=max_distance_m)
        b = self.snap(b_lonlat[0], b_lonlat[1], max_distance_m=max_distance_m)
        route = self.route(a.node, b.node)
        return Route(
            travel_time_s=route.travel_time_s,
            distance_m=route.distance_m,
            coordinates=route.coordinates,
            arcs=route.arcs,
            source_snap=a,
            target_snap=b,
        )

    # ------------------------------------------------------------------ one-to-all, isochrones
    def one_to_all(self, sources: Any, *, limit_s: float | None = None) -> np.ndarray:
        """Travel time (s, float64) from the nearest of ``sources`` to every node.

        Nodes not reached within ``limit_s`` (or at all) get inf.
        """
        src = np.unique(self._nodes(sources, "sources"))
        if len(src) == 0:
            raise ValidationError("one_to_all needs at least one source node")
        limit = np.inf if limit_s is None else float(limit_s) * MS_PER_S
        dist = dijkstra(self._forward, indices=src, min_only=True, limit=limit)
        times = np.asarray(dist, dtype=np.float64) / MS_PER_S
        if limit_s is not None:
            times[times > limit_s] = np.inf
        return times

    def isochrones(
        self,
        sources: Any,
        limits_s: Sequence[float],
        *,
        buffer_m: float = 150.0,
        simplify_m: float = 15.0,
        max_hole_m2: float = 250_000.0,
    ) -> list[BaseGeometry]:
        """Areas reached within each time limit from the nearest source, WGS84 polygons.

        Built from the road pieces reached in time (a partly reached road is cut where the
        time runs out) buffered by ``buffer_m`` in the territory's metric CRS; holes smaller
        than ``max_hole_m2`` (blocks between streets) are filled. One valid Polygon or
        MultiPolygon per limit, in the order given, each containing those of smaller limits.
        """
        limits = [float(v) for v in limits_s]
        if not limits:
            raise ValidationError("give at least one time limit in seconds, e.g. 600,1200,1800")
        if any(not np.isfinite(v) or v <= 0 for v in limits):
            raise ValidationError(f"time limits must be positive seconds, got {limits}")
        times = self.one_to_all(sources, limit_s=max(limits))
        order = sorted(range(len(limits)), key=lambda i: limits[i])
        polys = isochrone_polygons(
            self.graph,
            times,
            self.arc_time_s,
            [limits[i] for i in order],
            crs=self.crs,
            node_x=self.node_x,
            node_y=self.node_y,
            shape_x=self.shape_x,
            shape_y=self.shape_y,
            buffer_m=buffer_m,
            simplify_m=simplify_m,
            max_hole_m2=max_hole_m2,
        )
        result: list[BaseGeometry] = [shapely.Polygon()] * len(limits)
        for rank, i in enumerate(order):
            result[i] = polys[rank]
        return result
