"""Draw visit-like points (on residential roads, weighted by population) from a territory."""

from __future__ import annotations

from typing import Literal

import numpy as np

from dispatch.errors import ValidationError
from dispatch.territory.model import Territory
from dispatch.territory.population import arc_housing_weight


def _point_along(coords: list[tuple[float, float]], fraction: float) -> tuple[float, float]:
    pts = np.asarray(coords)
    seg = np.hypot(np.diff(pts[:, 0]), np.diff(pts[:, 1]))
    total = float(seg.sum())
    if total == 0.0:
        return float(pts[0, 0]), float(pts[0, 1])
    target = fraction * total
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    i = min(int(np.searchsorted(cum, target, side="right")) - 1, len(seg) - 1)
    t = (target - cum[i]) / seg[i] if seg[i] > 0 else 0.0
    lon = pts[i, 0] + t * (pts[i + 1, 0] - pts[i, 0])
    lat = pts[i, 1] + t * (pts[i + 1, 1] - pts[i, 1])
    return float(lon), float(lat)


def sample_points(
    territory: Territory,
    n: int,
    *,
    seed: int,
    weights: Literal["population", "uniform"] | np.ndarray = "population",
) -> np.ndarray:
    """``n`` lon/lat points where visits plausibly happen, the same for the same seed.

    A road is drawn with probability proportional to its start node's population (or
    ``weights``: an array per node, or "uniform" over residential road length) shared among
    that node's roads by housing weight, then a point on the road's first half: points lie
    on residential streets around the populated nodes.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 2)``, columns lon, lat.
    """
    if n < 0:
        raise ValidationError(f"cannot draw {n} points")
    graph = territory.graph
    arc_w = arc_housing_weight(graph)
    if isinstance(weights, str):
        if weights == "population":
            node_w = territory.node_population.astype(np.float64)
        elif weights == "uniform":
            node_w = np.bincount(graph.arc_tail, arc_w, minlength=graph.n_nodes).astype(np.float64)
        else:
            raise ValidationError(f"weights {weights!r}: use 'population', 'uniform' or an array")
    else:
        node_w = np.asarray(weights, dtype=np.float64)
        if node_w.shape != (graph.n_nodes,):
            raise ValidationError(f"weights must have one value per node ({graph.n_nodes})")
    if n == 0:
        return np.zeros((0, 2))
    if not np.isfinite(node_w).all() or (node_w < 0).any() or node_w.sum() <= 0:
        raise ValidationError("weights must be finite, non-negative and not all zero")
    # Probability of an arc: its tail's weight shared among the tail's outgoing arcs by
    # housing weight (a node with only zero-weight arcs shares by length).
    arc_w = arc_w + 1e-6 * graph.arc_length_m
    out_w = np.bincount(graph.arc_tail, arc_w, minlength=graph.n_nodes)
    arc_p = node_w[graph.arc_tail] * arc_w / np.where(out_w > 0, out_w, 1.0)[graph.arc_tail]
    rng = np.random.default_rng(seed)
    arcs = rng.choice(graph.n_arcs, size=n, p=arc_p / arc_p.sum())
    fractions = rng.uniform(0.0, 0.5, size=n)
    tail, head = graph.arc_tail[arcs], graph.arc_head[arcs]
    out = np.column_stack(
        (
            graph.node_lon[tail] + fractions * (graph.node_lon[head] - graph.node_lon[tail]),
            graph.node_lat[tail] + fractions * (graph.node_lat[head] - graph.node_lat[tail]),
        )
    )
    shaped = np.flatnonzero(np.diff(graph.arc_shape_offset)[arcs] > 0)
    for k in shaped:
        out[k] = _point_along(graph.arc_coords(int(arcs[k])), float(fractions[k]))
    return out
