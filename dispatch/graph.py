"""The road graph model shared by every importer and the routing core: compact NumPy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dispatch.errors import ValidationError

#: Road classes, by decreasing importance; ``arc_road_class`` holds indices into this tuple.
ROAD_CLASSES: tuple[str, ...] = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "track",
    "other",
)
ROAD_CLASS_INDEX = {name: i for i, name in enumerate(ROAD_CLASSES)}


def road_class_code(highway: str | None) -> int:
    """The index in :data:`ROAD_CLASSES` of an OSM ``highway`` value (``*_link`` folds in)."""
    if not highway:
        return ROAD_CLASS_INDEX["other"]
    value = str(highway).split(";")[0].strip()
    if value.endswith("_link"):
        value = value[: -len("_link")]
    return ROAD_CLASS_INDEX.get(value, ROAD_CLASS_INDEX["other"])


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """A directed road graph in WGS84, nodes and arcs as parallel arrays.

    Nodes are numbered ``0..n-1``; arc ``i`` goes from ``arc_tail[i]`` to ``arc_head[i]``.
    Intermediate shape points of arc ``i`` (if any, excluding both end nodes) are
    ``shape_lon/lat[arc_shape_offset[i]:arc_shape_offset[i+1]]``.
    """

    node_lon: np.ndarray  # float64 (n,)
    node_lat: np.ndarray  # float64 (n,)
    node_osm_id: np.ndarray  # int64 (n,), -1 when unknown
    arc_tail: np.ndarray  # int32 (m,)
    arc_head: np.ndarray  # int32 (m,)
    arc_length_m: np.ndarray  # float32 (m,)
    arc_travel_time_s: np.ndarray  # float32 (m,), > 0
    arc_road_class: np.ndarray  # uint8 (m,), index into ROAD_CLASSES
    arc_name: np.ndarray  # int32 (m,), index into names, -1 for unnamed
    names: tuple[str, ...] = ()
    arc_shape_offset: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    shape_lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shape_lat: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n, m = len(self.node_lon), len(self.arc_tail)
        if len(self.node_lat) != n or len(self.node_osm_id) != n:
            raise ValidationError("node arrays have different lengths")
        for name in ("arc_head", "arc_length_m", "arc_travel_time_s", "arc_road_class", "arc_name"):
            if len(getattr(self, name)) != m:
                raise ValidationError(
                    f"{name} has {len(getattr(self, name))} entries, expected {m}"
                )
        if m and (self.arc_tail.max() >= n or self.arc_head.max() >= n or self.arc_tail.min() < 0):
            raise ValidationError("an arc refers to a node that does not exist")
        if len(self.arc_shape_offset) == 1 and m:
            object.__setattr__(self, "arc_shape_offset", np.zeros(m + 1, dtype=np.int64))
        if len(self.arc_shape_offset) != m + 1:
            raise ValidationError("arc_shape_offset must have one entry per arc plus one")

    @property
    def n_nodes(self) -> int:
        return len(self.node_lon)

    @property
    def n_arcs(self) -> int:
        return len(self.arc_tail)

    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_lon, min_lat, max_lon, max_lat)`` of the nodes."""
        return (
            float(self.node_lon.min()),
            float(self.node_lat.min()),
            float(self.node_lon.max()),
            float(self.node_lat.max()),
        )

    def arc_coords(self, arc: int) -> list[tuple[float, float]]:
        """The ``(lon, lat)`` points of one arc, end nodes included."""
        a, b = int(self.arc_shape_offset[arc]), int(self.arc_shape_offset[arc + 1])
        tail, head = int(self.arc_tail[arc]), int(self.arc_head[arc])
        pts = [(float(self.node_lon[tail]), float(self.node_lat[tail]))]
        pts.extend(zip(self.shape_lon[a:b].tolist(), self.shape_lat[a:b].tolist(), strict=True))
        pts.append((float(self.node_lon[head]), float(self.node_lat[head])))
        return pts

    def subgraph(self, keep_nodes: np.ndarray) -> RoadGraph:
        """The graph induced by a boolean node mask (arcs kept when both ends are kept)."""
        keep_nodes = np.asarray(keep_nodes, dtype=bool)
        new_index = np.full(self.n_nodes, -1, dtype=np.int64)
        new_index[keep_nodes] = np.arange(int(keep_nodes.sum()))
        keep_arcs = keep_nodes[self.arc_tail] & keep_nodes[self.arc_head]
        counts = np.diff(self.arc_shape_offset)[keep_arcs]
        offsets = np.zeros(int(keep_arcs.sum()) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        starts = self.arc_shape_offset[:-1][keep_arcs]
        idx = (
            np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts, strict=True)])
            if counts.sum()
            else np.zeros(0, dtype=np.int64)
        )
        return RoadGraph(
            node_lon=self.node_lon[keep_nodes],
            node_lat=self.node_lat[keep_nodes],
            node_osm_id=self.node_osm_id[keep_nodes],
            arc_tail=new_index[self.arc_tail[keep_arcs]].astype(np.int32),
            arc_head=new_index[self.arc_head[keep_arcs]].astype(np.int32),
            arc_length_m=self.arc_length_m[keep_arcs],
            arc_travel_time_s=self.arc_travel_time_s[keep_arcs],
            arc_road_class=self.arc_road_class[keep_arcs],
            arc_name=self.arc_name[keep_arcs],
            names=self.names,
            arc_shape_offset=offsets,
            shape_lon=self.shape_lon[idx],
            shape_lat=self.shape_lat[idx],
        )

    def save(self, path: str | Path) -> None:
        """Write the graph as one uncompressed ``.npz`` (loads in milliseconds)."""
        arrays = {
            k: getattr(self, k)
            for k in (
                "node_lon",
                "node_lat",
                "node_osm_id",
                "arc_tail",
                "arc_head",
                "arc_length_m",
                "arc_travel_time_s",
                "arc_road_class",
                "arc_name",
                "arc_shape_offset",
                "shape_lon",
                "shape_lat",
            )
        }
        np.savez(Path(path), names=np.array(self.names, dtype=object), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> RoadGraph:
        """Read a graph written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=True) as data:
            kwargs = {k: data[k] for k in data.files if k != "names"}
            names = tuple(str(s) for s in data["names"].tolist())
        return cls(names=names, **kwargs)
