"""Isochrone polygons: reached road pieces buffered in a metric CRS, nested, returned in WGS84."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from dispatch.graph import RoadGraph
from dispatch.routing.crs import to_wgs84

#: Margin (degrees, about 1 cm) by which a polygon exceeds the one of the next smaller limit.
NESTING_MARGIN_DEG = 1e-7


def reached_lines(
    graph: RoadGraph,
    times_s: np.ndarray,
    arc_time_s: np.ndarray,
    limit_s: float,
    node_x: np.ndarray,
    node_y: np.ndarray,
    shape_x: np.ndarray,
    shape_y: np.ndarray,
) -> np.ndarray:
    """The road pieces driven within ``limit_s``: whole arcs, and the reached start of the others.

    Speed is taken as uniform along an arc, so a partly reached arc is cut at the fraction
    ``(limit - time at its tail) / arc time`` of its length. Returns shapely LineStrings
    (metric coordinates).
    """
    t_tail = times_s[graph.arc_tail]
    reached = np.flatnonzero(np.isfinite(t_tail) & (t_tail < limit_s))
    if len(reached) == 0:
        return np.zeros(0, dtype=object)
    frac = np.clip((limit_s - t_tail[reached]) / arc_time_s[reached], 0.0, 1.0)
    tail = graph.arc_tail[reached]
    head = graph.arc_head[reached]
    shaped = np.diff(graph.arc_shape_offset)[reached] > 0
    # One straight piece per unshaped arc, built in one vectorised call; two-way twins that are
    # both fully reached draw the same line, so keep one of them.
    plain = ~shaped
    full = plain & (frac >= 1.0)
    lo = np.minimum(tail, head).astype(np.int64)
    hi = np.maximum(tail, head).astype(np.int64)
    keep = plain.copy()
    full_idx = np.flatnonzero(full)
    if len(full_idx):
        _, first = np.unique(lo[full_idx] * graph.n_nodes + hi[full_idx], return_index=True)
        keep[full_idx] = False
        keep[full_idx[first]] = True
    sel = np.flatnonzero(keep)
    ax, ay = node_x[tail[sel]], node_y[tail[sel]]
    bx = ax + frac[sel] * (node_x[head[sel]] - ax)
    by = ay + frac[sel] * (node_y[head[sel]] - ay)
    coords = np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1)
    lines = list(shapely.linestrings(coords))
    for i in np.flatnonzero(shaped):
        arc = int(reached[i])
        a, b = int(graph.arc_shape_offset[arc]), int(graph.arc_shape_offset[arc + 1])
        xs = np.concatenate([[node_x[tail[i]]], shape_x[a:b], [node_x[head[i]]]])
        ys = np.concatenate([[node_y[tail[i]]], shape_y[a:b], [node_y[head[i]]]])
        line = shapely.linestrings(xs, ys)
        if frac[i] < 1.0:
            line = substring(line, 0.0, float(frac[i]), normalized=True)
        lines.append(line)
    return np.asarray(lines, dtype=object)


def _fill_small_holes(geom: BaseGeometry, max_hole_m2: float) -> BaseGeometry:
    """Drop interior rings smaller than ``max_hole_m2`` (blocks between roads, not real gaps)."""
    if max_hole_m2 <= 0 or geom.is_empty:
        return geom
    polys = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    out = []
    for poly in polys:
        holes = [r for r in poly.interiors if shapely.Polygon(r).area > max_hole_m2]
        out.append(shapely.Polygon(poly.exterior, holes))
    return shapely.union_all(out) if len(out) > 1 else out[0]


def isochrone_polygons(
    graph: RoadGraph,
    times_s: np.ndarray,
    arc_time_s: np.ndarray,
    limits_s: Sequence[float],
    *,
    crs: str,
    node_x: np.ndarray,
    node_y: np.ndarray,
    shape_x: np.ndarray,
    shape_y: np.ndarray,
    buffer_m: float,
    simplify_m: float,
    max_hole_m2: float,
) -> list[BaseGeometry]:
    """One valid WGS84 (Multi)Polygon per limit, each containing the previous ones.

    ``times_s`` are the one-to-all times from the sources (inf where not reached).
    """
    result: list[BaseGeometry] = []
    previous: BaseGeometry | None = None
    for limit in limits_s:
        lines = reached_lines(
            graph, times_s, arc_time_s, float(limit), node_x, node_y, shape_x, shape_y
        )
        # The sources themselves are inside even when no arc leaves them.
        src = np.flatnonzero(times_s <= 0)
        if len(lines) == 0 and len(src) == 0:
            metric: BaseGeometry = shapely.Polygon()
        else:
            # Buffering each merged line and then unioning is ~30x faster than buffering one
            # big collection (GEOS nodes the whole thing at once in that case).
            merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
            shapes = np.concatenate([merged, shapely.points(node_x[src], node_y[src])])
            metric = shapely.union_all(shapely.buffer(shapes, buffer_m, quad_segs=2))
            metric = _fill_small_holes(metric, max_hole_m2)
            if simplify_m > 0:
                metric = shapely.simplify(metric, simplify_m, preserve_topology=True)
        wgs = shapely.transform(metric, lambda xy: np.column_stack(to_wgs84(crs, *xy.T)))
        wgs = shapely.make_valid(wgs)
        if wgs.geom_type == "GeometryCollection":  # make_valid may leave slivers as lines
            wgs = shapely.union_all(
                [g for g in wgs.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
            )
        if previous is not None and not previous.is_empty:
            # Each polygon must contain the smaller ones, also to floating-point predicates:
            # union with the previous one grown by ~1 cm (a plain union can leave its edges a
            # rounding error outside).
            grown = shapely.buffer(previous, NESTING_MARGIN_DEG, quad_segs=1, join_style="mitre")
            wgs = shapely.union(wgs, grown)
        result.append(wgs)
        previous = wgs
    return result
