"""Clip a road graph to a territory boundary and keep its largest strongly connected component."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from dispatch.graph import RoadGraph

_M_PER_DEG = 111_320.0


def buffer_lonlat(geometry: Any, buffer_m: float) -> Any:
    """Buffer a WGS84 geometry by about ``buffer_m`` metres (degrees scaled at its latitude)."""
    if buffer_m <= 0:
        return geometry
    lat = geometry.centroid.y
    scale = np.cos(np.deg2rad(lat))
    # Stretch x so that one unit is the same distance on both axes, buffer, stretch back.
    stretched = shapely.transform(geometry, lambda xy: xy * np.array([scale, 1.0]))
    buffered = stretched.buffer(buffer_m / _M_PER_DEG, quad_segs=4)
    return shapely.transform(buffered, lambda xy: xy / np.array([scale, 1.0]))


def road_network_boundary(graph: RoadGraph, buffer_m: float) -> Any:
    """A boundary derived from the roads themselves: their convex hull, buffered."""
    points = shapely.multipoints(np.column_stack((graph.node_lon, graph.node_lat)))
    return buffer_lonlat(shapely.convex_hull(points), buffer_m)


def nodes_inside(graph: RoadGraph, area: Any) -> np.ndarray:
    """Boolean per node: inside ``area`` (WGS84)."""
    shapely.prepare(area)
    return np.asarray(shapely.contains_xy(area, graph.node_lon, graph.node_lat), dtype=bool)


def largest_scc(graph: RoadGraph) -> np.ndarray:
    """Boolean per node: member of the largest strongly connected component."""
    n = graph.n_nodes
    if n == 0:
        return np.zeros(0, dtype=bool)
    adjacency = coo_matrix(
        (np.ones(graph.n_arcs, dtype=np.int8), (graph.arc_tail, graph.arc_head)), shape=(n, n)
    ).tocsr()
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    return np.asarray(labels == biggest)
