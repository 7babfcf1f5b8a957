"""The importers' common output: a road graph plus the per-arc tags that speeds depend on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dispatch.graph import RoadGraph, road_class_code


@dataclass(frozen=True, eq=False)
class ImportedNetwork:
    """A freshly imported road network, before speeds, clipping and connectivity.

    ``graph.arc_travel_time_s`` is provisional (set by :func:`dispatch.territory.speeds`).
    ``arc_maxspeed_kmh`` holds the OSM ``maxspeed`` (NaN when absent or unusable);
    ``arc_lanes`` the lane count per direction (0 unknown). ``addresses`` lists
    ``(housenumber, street, lon, lat)`` found in the source (raw OSM only).
    """

    graph: RoadGraph
    arc_maxspeed_kmh: np.ndarray
    arc_lanes: np.ndarray
    source_format: str
    addresses: list[tuple[str, str, float, float]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)


def build_network(
    *,
    node_lon: np.ndarray,
    node_lat: np.ndarray,
    node_osm_id: np.ndarray,
    tail: Sequence[int] | np.ndarray,
    head: Sequence[int] | np.ndarray,
    length_m: Sequence[float],
    highway: Sequence[str],
    name: Sequence[str | None],
    maxspeed_kmh: Sequence[float],
    lanes: Sequence[float],
    source_format: str,
    shapes: Sequence[Sequence[tuple[float, float]]] | None = None,
    addresses: list[tuple[str, str, float, float]] | None = None,
    dropped: dict[str, int] | None = None,
) -> ImportedNetwork:
    """Assemble arrays (one entry per directed arc) into an :class:`ImportedNetwork`."""
    names: dict[str, int] = {}
    arc_name = np.full(len(tail), -1, dtype=np.int32)
    for i, value in enumerate(name):
        if value:
            text = " ".join(str(value).split())
            arc_name[i] = names.setdefault(text, len(names))
    length = np.maximum(np.asarray(length_m, dtype=np.float32), np.float32(1.0))
    if shapes is not None:
        counts = np.array([len(s) for s in shapes], dtype=np.int64)
        offsets = np.zeros(len(shapes) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        flat = [p for s in shapes for p in s]
        shape_lon = np.array([p[0] for p in flat], dtype=np.float64)
        shape_lat = np.array([p[1] for p in flat], dtype=np.float64)
    else:
        offsets = np.zeros(len(tail) + 1, dtype=np.int64)
        shape_lon = shape_lat = np.zeros(0)
    graph = RoadGraph(
        node_lon=np.asarray(node_lon, dtype=np.float64),
        node_lat=np.asarray(node_lat, dtype=np.float64),
        node_osm_id=np.asarray(node_osm_id, dtype=np.int64),
        arc_tail=np.asarray(tail, dtype=np.int32),
        arc_head=np.asarray(head, dtype=np.int32),
        arc_length_m=length,
        arc_travel_time_s=length / np.float32(10.0),
        arc_road_class=np.array([road_class_code(h) for h in highway], dtype=np.uint8),
        arc_name=arc_name,
        names=tuple(names),
        arc_shape_offset=offsets,
        shape_lon=shape_lon,
        shape_lat=shape_lat,
    )
    return ImportedNetwork(
        graph=graph,
        arc_maxspeed_kmh=np.asarray(maxspeed_kmh, dtype=np.float32),
        arc_lanes=np.asarray(lanes, dtype=np.float32),
        source_format=source_format,
        addresses=addresses or [],
        dropped=dropped or {},
    )


def parse_maxspeed(value: object) -> float:
    """km/h from an OSM ``maxspeed`` value (``"50"``, ``"30 mph"``, ``"FR:urban"``...), NaN if none."""
    if value is None:
        return float("nan")
    if isinstance(value, list | tuple):
        speeds = [parse_maxspeed(v) for v in value]
        speeds = [s for s in speeds if s == s]
        return min(speeds) if speeds else float("nan")
    text = str(value).strip().lower()
    if not text or text in ("nan", "none", "signals", "variable", "walk", "none"):
        return float("nan")
    named = {
        "fr:urban": 50.0,
        "fr:rural": 80.0,
        "fr:zone30": 30.0,
        "fr:walk": 6.0,
        "fr:motorway": 130.0,
        "fr:trunk": 110.0,
        "fr:living_street": 20.0,
    }
    if text in named:
        return named[text]
    if ";" in text:
        return parse_maxspeed(text.split(";"))
    factor = 1.609344 if "mph" in text else 1.0
    digits = "".join(ch for ch in text if ch.isdigit() or ch == ".")
    try:
        speed = float(digits) * factor
    except ValueError:
        return float("nan")
    return speed if 3.0 <= speed <= 150.0 else float("nan")
