"""Shortest-path engines behind one interface: contraction hierarchies (pyroutingkit) or SciPy."""

from __future__ import annotations

import json
import os
import queue
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from scipy.sparse.csgraph import dijkstra

from dispatch.errors import ValidationError
from dispatch.graph import RoadGraph
from dispatch.routing.compact import CompactGraph

EngineName = Literal["auto", "ch", "scipy"]
ENGINE_NAMES: tuple[str, ...] = ("auto", "ch", "scipy")

#: Marker for "no path" in the millisecond matrices engines return.
NO_PATH_MS = -1

#: Threads (each with its own CH metric) sharing a large matrix; matrices of fewer pairs than
#: PARALLEL_MIN_PAIRS run on the calling thread.
MAX_MATRIX_THREADS = 2
PARALLEL_MIN_PAIRS = 250_000

#: The pyroutingkit release this wrapper was written and checked against.
PYROUTINGKIT_VERSION = "0.2.1"


class Engine(Protocol):
    """What the router needs from a shortest-path engine (times in whole milliseconds)."""

    name: str
    #: Seconds spent preparing the engine (building or loading its index), for reports.
    prepare_s: float
    #: True when the preparation was read from the disk cache.
    from_cache: bool

    def matrix_ms(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """int64 (len(sources), len(targets)) travel times, :data:`NO_PATH_MS` for no path."""
        ...

    def path(self, source: int, target: int) -> tuple[int, np.ndarray] | None:
        """``(time_ms, arc indices)`` of a fastest path, or None when there is none."""
        ...


class ScipyEngine:
    """Plain Dijkstra from SciPy on the CSR arrays: slower, dependable, the reference."""

    name = "scipy"

    def __init__(self, compact: CompactGraph) -> None:
        start = time.perf_counter()
        self.compact = compact
        self._forward = compact.matrix()
        self._reverse = compact.matrix(transpose=True)
        self.prepare_s = time.perf_counter() - start
        self.from_cache = False

    def matrix_ms(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        sources = np.asarray(sources, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64)
        if len(sources) == 0 or len(targets) == 0:
            return np.zeros((len(sources), len(targets)), dtype=np.int64)
        # One Dijkstra per row: search from whichever side is smaller.
        if len(targets) < len(sources):
            dist = dijkstra(self._reverse, indices=targets)[:, sources].T
        else:
            dist = dijkstra(self._forward, indices=sources)[:, targets]
        out = np.full(dist.shape, NO_PATH_MS, dtype=np.int64)
        finite = np.isfinite(dist)
        out[finite] = np.rint(dist[finite]).astype(np.int64)
        return out

    def path(self, source: int, target: int) -> tuple[int, np.ndarray] | None:
        if source == target:
            return 0, np.zeros(0, dtype=np.int64)
        dist, pred = dijkstra(self._forward, indices=int(source), return_predecessors=True)
        if not np.isfinite(dist[target]):
            return None
        nodes = [int(target)]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        node_arr = np.asarray(nodes, dtype=np.int64)
        arcs = self.compact.arc_between(node_arr[:-1], node_arr[1:])
        return int(round(dist[target])), arcs


class CHEngine:
    """Customizable contraction hierarchies (pyroutingkit): fast matrices and paths.

    The topology (nested dissection order and chordal supergraph, the slow part) is saved in
    ``cache_dir`` and loaded on the next start; customizing it with the weights takes milliseconds.
    """

    name = "ch"

    def __init__(
        self, graph: RoadGraph, weights_ms: np.ndarray, *, cache_dir: Path | None = None
    ) -> None:
        import pyroutingkit

        start = time.perf_counter()
        self.from_cache = False
        topo = pyroutingkit.CCHTopology()
        meta_file = cache_dir / "meta.json" if cache_dir else None
        if cache_dir is not None and meta_file is not None and meta_file.exists():
            try:
                meta = json.loads(meta_file.read_text())
                if meta.get("pyroutingkit") == pyroutingkit_version():
                    topo.load(str(cache_dir))
                    self.from_cache = topo.node_count == graph.n_nodes
            except (OSError, ValueError, RuntimeError):
                self.from_cache = False
            if not self.from_cache:
                topo = pyroutingkit.CCHTopology()
        if not self.from_cache:
            topo.build(
                graph.arc_tail.astype(np.uint32),
                graph.arc_head.astype(np.uint32),
                graph.node_lat.astype(np.float32),
                graph.node_lon.astype(np.float32),
                graph.n_nodes,
            )
            if cache_dir is not None:
                try:
                    _save_topology(topo, cache_dir, build_s=time.perf_counter() - start)
                except OSError as exc:
                    warnings.warn(
                        f"cannot write the CH index in {cache_dir} ({exc}): it will be built "
                        "again at each start; make the cache folder writable",
                        UserWarning,
                        stacklevel=3,
                    )
        self._topology = topo
        # pyroutingkit releases the GIL and a metric keeps per-query state: two threads using
        # one metric at once crash the process (seen with 0.2.1). Each thread borrows its own
        # metric from a pool; customizing one more takes milliseconds and little memory.
        weights = np.ascontiguousarray(weights_ms, dtype=np.uint32)
        self._pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.workers = max(1, min(MAX_MATRIX_THREADS, os.cpu_count() or 1))
        for _ in range(self.workers):
            metric = pyroutingkit.CCHMetric(topo)
            metric.customize(weights)
            self._pool.put(metric)
        self._executor: ThreadPoolExecutor | None = None
        self._inf = int(pyroutingkit.INF_WEIGHT)
        self.prepare_s = time.perf_counter() - start

    def _run(self, method: str, *args: Any) -> Any:
        metric = self._pool.get()
        try:
            return getattr(metric, method)(*args)
        finally:
            self._pool.put(metric)

    def matrix_ms(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        src = np.ascontiguousarray(sources, dtype=np.uint32)
        dst = np.ascontiguousarray(targets, dtype=np.uint32)
        if len(src) == 0 or len(dst) == 0:
            return np.zeros((len(src), len(dst)), dtype=np.int64)
        if self.workers > 1 and len(src) * len(dst) >= PARALLEL_MIN_PAIRS:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="ch-matrix")
            chunks = np.array_split(src, self.workers)
            parts = self._executor.map(
                lambda c: self._run("distances_many_to_many", np.ascontiguousarray(c), dst),
                chunks,
            )
            raw = np.vstack(list(parts))
        else:
            raw = self._run("distances_many_to_many", src, dst)
        out = raw.astype(np.int64)
        out[raw >= self._inf] = NO_PATH_MS
        return out

    def path(self, source: int, target: int) -> tuple[int, np.ndarray] | None:
        dist, _nodes, arcs = self._run("query", int(source), int(target))
        if dist >= self._inf:
            return None
        return int(dist), np.asarray(arcs, dtype=np.int64)


def _save_topology(topo: Any, cache_dir: Path, *, build_s: float) -> None:
    """Write the topology to a private folder, then rename it: readers never see half of it."""
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir.with_name(f"{cache_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    topo.save(str(tmp))
    meta = {"pyroutingkit": pyroutingkit_version(), "build_s": round(build_s, 3)}
    (tmp / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(cache_dir, ignore_errors=True)
    try:
        os.rename(tmp, cache_dir)
    except OSError:  # another process renamed its copy first: the same content
        shutil.rmtree(tmp, ignore_errors=True)


def pyroutingkit_version() -> str | None:
    """The installed pyroutingkit version, or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyroutingkit")
    except PackageNotFoundError:
        return None


def make_engine(
    name: str,
    graph: RoadGraph,
    weights_ms: np.ndarray,
    compact: CompactGraph,
    *,
    cache_dir: Path | None = None,
) -> Engine:
    """The engine called ``name``; ``"auto"`` is CH when pyroutingkit works, else SciPy."""
    if name not in ENGINE_NAMES:
        raise ValidationError(
            f"unknown routing engine {name!r}: use one of {', '.join(ENGINE_NAMES)}"
        )
    if name == "scipy" or graph.n_arcs == 0:
        return ScipyEngine(compact)
    if name == "ch":
        if pyroutingkit_version() is None:
            raise ValidationError(
                "routing engine 'ch' needs pyroutingkit: `pip install pyroutingkit=="
                f"{PYROUTINGKIT_VERSION}`, or use engine='scipy'"
            )
        return CHEngine(graph, weights_ms, cache_dir=cache_dir)
    try:
        engine = CHEngine(graph, weights_ms, cache_dir=cache_dir)
    except ImportError:
        return ScipyEngine(compact)
    # pyroutingkit is young: check it against Dijkstra on a few pairs before trusting it.
    reference = ScipyEngine(compact)
    rng = np.random.default_rng(0)
    sources = rng.integers(0, graph.n_nodes, size=min(3, graph.n_nodes))
    targets = rng.integers(0, graph.n_nodes, size=min(50, graph.n_nodes))
    if not np.array_equal(
        engine.matrix_ms(sources, targets), reference.matrix_ms(sources, targets)
    ):
        warnings.warn(
            "pyroutingkit disagrees with Dijkstra on this graph: using the SciPy engine "
            "(slower, exact); report the graph to the maintainers",
            UserWarning,
            stacklevel=2,
        )
        return reference
    return engine
