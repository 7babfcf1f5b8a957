"""Spread commune populations over road nodes (by length of residential streets), conserving totals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from dispatch.graph import ROAD_CLASSES, RoadGraph
from dispatch.territory.communes import Commune
from dispatch.territory.speeds import local_xy_m

#: How much one metre of road of each class "houses" people (relative weights).
HOUSING_WEIGHT: dict[str, float] = {
    "motorway": 0.0,
    "trunk": 0.05,
    "primary": 0.25,
    "secondary": 0.35,
    "tertiary": 0.5,
    "unclassified": 0.6,
    "residential": 1.0,
    "living_street": 1.0,
    "service": 0.3,
    "track": 0.05,
    "other": 0.2,
}
#: A commune with no node inside gets its population on this many nearest nodes.
NEAREST_FALLBACK = 3


def arc_housing_weight(graph: RoadGraph) -> np.ndarray:
    """Per arc: length times the housing weight of its road class."""
    table = np.array([HOUSING_WEIGHT[c] for c in ROAD_CLASSES])
    return graph.arc_length_m.astype(np.float64) * table[graph.arc_road_class.astype(np.int64)]


def node_housing_weight(graph: RoadGraph) -> np.ndarray:
    """Per node: half the housing weight of every arc touching it."""
    w = arc_housing_weight(graph) / 2.0
    n = graph.n_nodes
    return np.bincount(graph.arc_tail, w, minlength=n) + np.bincount(graph.arc_head, w, minlength=n)


def spread_population(
    graph: RoadGraph, node_commune: np.ndarray, communes: Sequence[Commune]
) -> tuple[np.ndarray, list[str]]:
    """Population per node such that each commune's nodes sum to its INSEE population.

    Returns
    -------
    node_population
        float64 per node.
    fallback
        INSEE codes of communes with no node inside, placed on their nearest nodes.
    """
    n = graph.n_nodes
    weight = node_housing_weight(graph)
    populations = np.array([c.population for c in communes], dtype=np.float64)
    k = len(communes)
    has = node_commune >= 0
    idx = node_commune[has].astype(np.int64)
    sum_w = np.bincount(idx, weight[has], minlength=k)
    count = np.bincount(idx, minlength=k)
    node_population = np.zeros(n, dtype=np.float64)
    # Weighted share where the commune has weighted roads, an equal share where it has only
    # roads of zero weight (motorway junctions), nearest nodes where it has none at all.
    share = np.where(sum_w[idx] > 0, weight[has] / np.where(sum_w[idx] > 0, sum_w[idx], 1.0), 0.0)
    uniform = (sum_w[idx] == 0) & (count[idx] > 0)
    share = np.where(uniform, 1.0 / np.maximum(count[idx], 1), share)
    node_population[has] = populations[idx] * share
    fallback: list[str] = []
    missing = [int(i) for i in np.flatnonzero(count == 0)]
    if len(missing) and n:
        lat0 = float(np.mean(graph.node_lat))
        tree = cKDTree(local_xy_m(graph.node_lon, graph.node_lat, lat0_deg=lat0))
        pts = local_xy_m(
            np.array([communes[i].lon for i in missing]),
            np.array([communes[i].lat for i in missing]),
            lat0_deg=lat0,
        )
        kk = min(NEAREST_FALLBACK, n)
        _, nearest = tree.query(pts, k=kk)
        nearest = np.asarray(nearest).reshape(len(missing), kk)
        for row, ci in zip(nearest, missing, strict=True):
            np.add.at(node_population, row, populations[ci] / kk)
            fallback.append(communes[ci].code_insee)
    return node_population, fallback
