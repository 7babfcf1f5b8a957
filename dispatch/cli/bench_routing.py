"""`dispatch bench routing`: load, matrix, route and isochrone timings of one territory."""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from typing import Any

import click

from dispatch.cli import get_settings


def _median_time(fn: Any, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def run_routing_bench(
    territory: Any,
    *,
    sizes: tuple[int, ...] = (100, 500, 2000),
    repeat: int = 3,
    n_routes: int = 200,
    engine: str = "auto",
    compare_scipy: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure the routing core on a built territory (see `dispatch bench routing --help`)."""
    import numpy as np

    from dispatch.routing import Router
    from dispatch.territory import sample_points

    figures: dict[str, Any] = {
        "territory": territory.id,
        "nodes": territory.graph.n_nodes,
        "arcs": territory.graph.n_arcs,
        "cpus": os.cpu_count(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }
    # Preprocessing from scratch (no cache), reported apart from everything else.
    start = time.perf_counter()
    cold = Router(territory.graph, cache_dir=None, engine=engine, boundary=territory.boundary)
    figures["preprocess_s"] = round(time.perf_counter() - start, 3)
    figures["engine_preprocess_s"] = round(cold.timings.engine_prepare_s, 3)
    del cold
    # Make sure the disk cache exists, then time a load from it as a new process would.
    Router(territory.graph, cache_dir=territory.cache_dir, engine=engine)
    start = time.perf_counter()
    router = Router(
        territory.graph,
        cache_dir=territory.cache_dir,
        engine=engine,
        boundary=territory.boundary,
        label=territory.name,
    )
    figures["load_s"] = round(time.perf_counter() - start, 3)
    figures["engine"] = router.engine_name
    figures["loaded_from_cache"] = router.timings.engine_from_cache and (
        router.timings.arrays_from_cache
    )

    pts = sample_points(territory, max(sizes), seed=seed)
    lons, lats = pts[:, 0], pts[:, 1]
    figures["snap_2000_s" if max(sizes) >= 2000 else f"snap_{max(sizes)}_s"] = round(
        _median_time(lambda: router.snap_many(lons[:2000], lats[:2000]), repeat), 4
    )
    for n in sizes:

        def snap_and_matrix(n: int = n) -> None:
            nodes, _ = router.snap_many(lons[:n], lats[:n])
            router.matrix(nodes, nodes)

        cpu_start = time.process_time()
        figures[f"matrix_{n}_s"] = round(_median_time(snap_and_matrix, repeat), 4)
        # CPU seconds per run, all threads: a busy machine stretches wall time, not this.
        figures[f"matrix_{n}_cpu_s"] = round((time.process_time() - cpu_start) / repeat, 4)
    if compare_scipy:
        reference = Router(territory.graph, cache_dir=None, engine="scipy")
        nodes, _ = router.snap_many(lons[:500], lats[:500])
        figures["scipy_matrix_500_s"] = round(
            _median_time(lambda: reference.matrix(nodes, nodes), 1), 3
        )
        equal = np.array_equal(reference.matrix(nodes, nodes), router.matrix(nodes, nodes))
        figures["scipy_matrix_500_equal"] = bool(equal)
        n_wd = min(200, len(nodes))
        figures[f"matrix_with_distance_{n_wd}_s"] = round(
            _median_time(lambda: router.matrix_with_distance(nodes[:n_wd], nodes[:n_wd]), 1), 3
        )

    nodes, _ = router.snap_many(lons, lats)
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(nodes), size=(n_routes, 2))
    route_ms = []
    for a, b in pairs:
        start = time.perf_counter()
        router.route(int(nodes[a]), int(nodes[b]))
        route_ms.append((time.perf_counter() - start) * 1000)
    figures["route_p50_ms"] = round(float(np.percentile(route_ms, 50)), 3)
    figures["route_p95_ms"] = round(float(np.percentile(route_ms, 95)), 3)

    sources = nodes[:20]
    figures["one_to_all_20_sources_900s_ms"] = round(
        1000 * _median_time(lambda: router.one_to_all(sources, limit_s=900), repeat), 2
    )
    base_nodes = (
        router.snap_many(
            [b.lon for b in territory.bases], [b.lat for b in territory.bases], strict=False
        )[0]
        if territory.bases
        else nodes[:1]
    )
    base_nodes = base_nodes[base_nodes >= 0][:1] if (base_nodes >= 0).any() else nodes[:1]
    figures["isochrones_600_1200_1800_s"] = round(
        _median_time(lambda: router.isochrones(base_nodes, [600, 1200, 1800]), repeat), 3
    )
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    return figures


@click.command()
@click.option("--territory", "territory_id", default=None, help="Territory id (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--sizes",
    default="100,500,2000",
    show_default=True,
    help="Matrix sizes N (N×N visit-like points), comma-separated.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Runs per timing (the median is reported).",
)
@click.option(
    "--engine", type=click.Choice(["auto", "ch", "scipy"]), default="auto", show_default=True
)
@click.option(
    "--compare-scipy",
    is_flag=True,
    help="Also time SciPy's Dijkstra on 500×500 and check it gives the same matrix.",
)
@click.pass_context
def routing(
    ctx: click.Context,
    territory_id: str | None,
    as_json: bool,
    sizes: str,
    repeat: int,
    engine: str,
    compare_scipy: bool,
) -> None:
    """Time the routing core: load, snap+matrix N×N, routes, one-to-all, isochrones, memory.

    Points are drawn from the population model (visit-like); each matrix time is the median
    of --repeat runs and includes snapping. Preprocessing (engine index, snapping arrays) is
    timed apart, from scratch, and then loaded from the territory's cache like a server does.

    Example: dispatch bench routing --territory corse --json
    """
    from dispatch.errors import ValidationError
    from dispatch.territory import load_territory

    settings = get_settings(ctx)
    try:
        size_list = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise ValidationError(
            f"--sizes {sizes!r}: give whole numbers separated by commas"
        ) from None
    if not size_list or min(size_list) < 1:
        raise ValidationError(f"--sizes {sizes!r}: give positive whole numbers, e.g. 100,500,2000")
    start = time.perf_counter()
    territory = load_territory(territory_id or settings.territory, settings)
    territory_load_s = round(time.perf_counter() - start, 3)
    figures = run_routing_bench(
        territory, sizes=size_list, repeat=repeat, engine=engine, compare_scipy=compare_scipy
    )
    figures["territory_load_s"] = territory_load_s
    if as_json:
        click.echo(json.dumps(figures, indent=1))
        return
    for key, value in figures.items():
        click.echo(f"{key:<34} {value}")
