"""Compact routing arrays of a RoadGraph: integer arc weights and a CSR adjacency."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import csr_matrix

from dispatch.graph import RoadGraph

#: Arc weights are whole milliseconds: exact integer sums in every engine, rounded to seconds last.
MS_PER_S = 1000


def arc_weights_ms(graph: RoadGraph) -> np.ndarray:
    """Arc travel times in whole milliseconds (uint32, at least 1 so no arc is free)."""
    ms = np.rint(graph.arc_travel_time_s.astype(np.float64) * MS_PER_S)
    return np.clip(ms, 1, np.iinfo(np.uint32).max // 4).astype(np.uint32)


def graph_key(graph: RoadGraph) -> str:
    """A short fingerprint of the topology, weights and coordinates (names a disk cache)."""
    h = hashlib.sha1()
    for arr in (
        graph.node_lon,
        graph.node_lat,
        graph.arc_tail,
        graph.arc_head,
        graph.arc_travel_time_s,
        graph.arc_length_m,
    ):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class CompactGraph:
    """CSR adjacency with one entry per (tail, head) pair: the fastest of any parallel arcs.

    ``indptr``/``indices`` are the CSR structure, ``weight_ms`` the entry weights and ``arc`` the
    RoadGraph arc each entry stands for (used to turn node paths into arc paths).
    """

    n_nodes: int
    indptr: np.ndarray  # int32 (n+1,)
    indices: np.ndarray  # int32 (k,)
    weight_ms: np.ndarray  # float64 (k,)
    arc: np.ndarray  # int32 (k,)

    @classmethod
    def from_graph(cls, graph: RoadGraph, weights_ms: np.ndarray) -> CompactGraph:
        """Build the CSR arrays (self-loops dropped, parallel arcs reduced to the fastest)."""
        n = graph.n_nodes
        tail = graph.arc_tail.astype(np.int64)
        head = graph.arc_head.astype(np.int64)
        keep = np.flatnonzero(tail != head)
        key = tail[keep] * n + head[keep]
        # Sort by (tail, head, weight): the first arc of each pair is the fastest.
        order = keep[np.lexsort((weights_ms[keep], key))]
        key_sorted = tail[order] * n + head[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = key_sorted[1:] != key_sorted[:-1]
        chosen = order[first]
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(tail[chosen], minlength=n), out=indptr[1:])
        return cls(
            n_nodes=n,
            indptr=indptr,
            indices=head[chosen].astype(np.int32),
            weight_ms=weights_ms[chosen].astype(np.float64),
            arc=chosen.astype(np.int32),
        )

    def matrix(self, *, transpose: bool = False) -> csr_matrix:
        """The weighted adjacency as a SciPy CSR matrix (transposed: the reverse graph)."""
        m = csr_matrix(
            (self.weight_ms, self.indices, self.indptr), shape=(self.n_nodes, self.n_nodes)
        )
        return m.T.tocsr() if transpose else m

    def arc_between(self, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
        """The chosen arc from each ``tail[i]`` to ``head[i]`` (-1 where there is none)."""
        tail = np.asarray(tail, dtype=np.int64)
        head = np.asarray(head, dtype=np.int64)
        # CSR entries are sorted by (tail, head): their keys are sorted too.
        keys = self.entry_keys
        wanted = tail * self.n_nodes + head
        pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (keys[pos] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
        return np.where(found, self.arc[pos] if len(keys) else -1, -1).astype(np.int64)

    @cached_property
    def entry_keys(self) -> np.ndarray:
        """``tail * n_nodes + head`` of every CSR entry (ascending)."""
        rows = np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(self.indptr))
        return rows * self.n_nodes + self.indices
