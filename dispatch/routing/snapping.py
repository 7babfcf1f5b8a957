"""Snapping lon/lat points onto the nearest road segment with a KD-tree in metric coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from dispatch.graph import RoadGraph

#: Spacing of the sample points laid along segments for the KD-tree (metres). A snap is exact
#: unless more than ``K_CANDIDATES`` samples of other segments are nearer; it is then at most
#: half this spacing farther than the true nearest road point.
SAMPLE_SPACING_M = 40.0
K_CANDIDATES = 12


@dataclass(frozen=True)
class Snap:
    """A point moved onto the road network.

    ``node`` is the routing node (the nearer end, along the road, of the nearest arc);
    ``lon, lat`` the nearest point on that road; ``distance_m`` the straight distance from the
    given point to it; ``arc`` the graph arc snapped onto.
    """

    node: int
    distance_m: float
    lon: float
    lat: float
    arc: int = -1


@dataclass(frozen=True, eq=False)
class SegmentIndex:
    """Road segments (one per direction pair) in metric coordinates, with a KD-tree of samples."""

    seg_ax: np.ndarray
    seg_ay: np.ndarray
    seg_bx: np.ndarray
    seg_by: np.ndarray
    seg_arc: np.ndarray  # int32: the arc the segment belongs to
    seg_along_m: np.ndarray  # float64: distance along the arc where the segment starts
    arc_geom_m: np.ndarray  # float64 (m,): geometric length of each arc (0 for dropped twins)
    sample_seg: np.ndarray  # int32: the segment of each KD-tree sample
    tree: cKDTree

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to cache (the tree is rebuilt from the samples in milliseconds)."""
        return {
            "seg_ax": self.seg_ax,
            "seg_ay": self.seg_ay,
            "seg_bx": self.seg_bx,
            "seg_by": self.seg_by,
            "seg_arc": self.seg_arc,
            "seg_along_m": self.seg_along_m,
            "arc_geom_m": self.arc_geom_m,
            "sample_seg": self.sample_seg,
            "sample_xy": self.tree.data,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SegmentIndex:
        """Rebuild from :meth:`arrays` (as read from the cache)."""
        kwargs = {k: v for k, v in arrays.items() if k != "sample_xy"}
        return cls(tree=cKDTree(arrays["sample_xy"], balanced_tree=False), **kwargs)

    @classmethod
    def build(
        cls,
        graph: RoadGraph,
        node_x: np.ndarray,
        node_y: np.ndarray,
        shape_x: np.ndarray,
        shape_y: np.ndarray,
    ) -> SegmentIndex:
        """Lay out every arc's polyline as segments and sample them every ``SAMPLE_SPACING_M``."""
        m = graph.n_arcs
        tail = graph.arc_tail.astype(np.int64)
        head = graph.arc_head.astype(np.int64)
        # Keep one arc of each two-way pair (same geometry reversed) and drop self-loops
        # without shape points.
        lo, hi = np.minimum(tail, head), np.maximum(tail, head)
        shape_counts = np.diff(graph.arc_shape_offset).astype(np.int64)
        _, first = np.unique(lo * graph.n_nodes + hi, return_index=True)
        keep_arc = np.zeros(m, dtype=bool)
        keep_arc[first] = True
        keep_arc |= shape_counts > 0  # shaped arcs may differ from their twin: keep them all
        keep_arc &= (tail != head) | (shape_counts > 0)
        arcs = np.flatnonzero(keep_arc)

        counts = shape_counts[arcs] + 2  # points per kept arc
        starts = np.zeros(len(arcs) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        px = np.empty(starts[-1])
        py = np.empty(starts[-1])
        px[starts[:-1]] = node_x[tail[arcs]]
        py[starts[:-1]] = node_y[tail[arcs]]
        px[starts[1:] - 1] = node_x[head[arcs]]
        py[starts[1:] - 1] = node_y[head[arcs]]
        if shape_counts[arcs].sum():
            owner = np.repeat(np.arange(len(arcs)), shape_counts[arcs])
            # Rank of each shape point within its arc, then its index in shape_lon/lat.
            kept_counts = shape_counts[arcs]
            first_of_owner = np.cumsum(kept_counts) - kept_counts
            rank = np.arange(int(kept_counts.sum())) - first_of_owner[owner]
            src = graph.arc_shape_offset[arcs][owner] + rank
            dst = starts[:-1][owner] + 1 + rank
            px[dst] = shape_x[src]
            py[dst] = shape_y[src]

        # Segments: consecutive points within the same arc.
        is_last = np.zeros(starts[-1], dtype=bool)
        is_last[starts[1:] - 1] = True
        seg_start = np.flatnonzero(~is_last)
        seg_owner = np.repeat(np.arange(len(arcs)), counts - 1)
        ax, ay = px[seg_start], py[seg_start]
        bx, by = px[seg_start + 1], py[seg_start + 1]
        seg_len = np.hypot(bx - ax, by - ay)
        cum = np.cumsum(seg_len) - seg_len
        arc_first_seg = np.zeros(len(arcs), dtype=np.int64)
        np.cumsum(counts[:-1] - 1, out=arc_first_seg[1:])
        seg_along = cum - cum[arc_first_seg][seg_owner]
        arc_geom = np.zeros(m)
        np.add.at(arc_geom, arcs[seg_owner], seg_len)

        n_samples = np.maximum(1, np.ceil(seg_len / SAMPLE_SPACING_M).astype(np.int64)) + 1
        sample_seg = np.repeat(np.arange(len(seg_start)), n_samples)
        first_sample = np.zeros(len(seg_start), dtype=np.int64)
        np.cumsum(n_samples[:-1], out=first_sample[1:])
        frac = (np.arange(len(sample_seg)) - first_sample[sample_seg]) / (n_samples - 1)[sample_seg]
        sx = ax[sample_seg] + frac * (bx - ax)[sample_seg]
        sy = ay[sample_seg] + frac * (by - ay)[sample_seg]
        return cls(
            seg_ax=ax,
            seg_ay=ay,
            seg_bx=bx,
            seg_by=by,
            seg_arc=arcs[seg_owner].astype(np.int32),
            seg_along_m=seg_along,
            arc_geom_m=arc_geom,
            sample_seg=sample_seg.astype(np.int32),
            tree=cKDTree(np.column_stack([sx, sy]), balanced_tree=False),
        )

    def nearest(
        self, x: np.ndarray, y: np.ndarray, *, max_distance_m: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest road point of each ``(x, y)``.

        Returns
        -------
        arc, along_m, distance_m, snapped_x, snapped_y
            ``arc`` is -1 (and ``distance_m`` inf) where no road lies within ``max_distance_m``;
            ``along_m`` is the position of the snapped point along the arc's geometry.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = len(x)
        arc = np.full(n, -1, dtype=np.int64)
        along = np.zeros(n)
        dist = np.full(n, np.inf)
        sx, sy = x.copy(), y.copy()
        if n == 0 or len(self.sample_seg) == 0:
            return arc, along, dist, sx, sy
        k = min(K_CANDIDATES, len(self.sample_seg))
        # A point the projection sends to infinity (a pole in Lambert-93) has no road: the
        # tree refuses non-finite queries, so only finite points are asked.
        finite = np.isfinite(x) & np.isfinite(y)
        d = np.full((n, k), np.inf)
        idx = np.full((n, k), len(self.sample_seg), dtype=np.int64)
        if finite.any():
            fd, fidx = self.tree.query(
                np.column_stack([x[finite], y[finite]]),
                k=k,
                distance_upper_bound=max_distance_m + SAMPLE_SPACING_M,
            )
            d[finite] = fd.reshape(-1, k)
            idx[finite] = fidx.reshape(-1, k)
        found = np.isfinite(d[:, 0])
        if not found.any():
            return arc, along, dist, sx, sy
        rows = np.flatnonzero(found)
        cand_idx = idx[rows]
        valid = cand_idx < len(self.sample_seg)
        seg = np.where(valid, self.sample_seg[np.minimum(cand_idx, len(self.sample_seg) - 1)], 0)
        ax, ay = self.seg_ax[seg], self.seg_ay[seg]
        dx, dy = self.seg_bx[seg] - ax, self.seg_by[seg] - ay
        qx, qy = x[rows, None], y[rows, None]
        len2 = dx * dx + dy * dy
        t = np.where(len2 > 0, ((qx - ax) * dx + (qy - ay) * dy) / np.where(len2 > 0, len2, 1), 0)
        t = np.clip(t, 0.0, 1.0)
        cx, cy = ax + t * dx, ay + t * dy
        cd = np.hypot(qx - cx, qy - cy)
        cd[~valid] = np.inf
        best = np.argmin(cd, axis=1)
        r = np.arange(len(rows))
        best_seg = seg[r, best]
        best_d = cd[r, best]
        ok = best_d <= max_distance_m
        rows_ok = rows[ok]
        bs = best_seg[ok]
        arc[rows_ok] = self.seg_arc[bs]
        seg_len = np.sqrt(len2[r, best][ok])
        along[rows_ok] = self.seg_along_m[bs] + t[r, best][ok] * seg_len
        dist[rows] = best_d
        sx[rows_ok] = cx[r, best][ok]
        sy[rows_ok] = cy[r, best][ok]
        return arc, along, dist, sx, sy
