"""Travel times from OSM maxspeed or French default speeds by road class and urban context."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from dispatch.graph import ROAD_CLASS_INDEX, ROAD_CLASSES, RoadGraph

# Effective (not legal) speeds in km/h, (rural, urban). French rules: 50 km/h in an
# agglomeration, 80 km/h on two-lane rural roads since 2018, 110 on expressways, 130 on
# motorways; traffic, junctions, bends and villages make real averages lower than that.
DEFAULT_SPEEDS_KMH: dict[str, tuple[float, float]] = {
    "motorway": (115.0, 80.0),
    "trunk": (80.0, 45.0),
    "primary": (70.0, 38.0),
    "secondary": (62.0, 34.0),
    "tertiary": (54.0, 30.0),
    "unclassified": (45.0, 27.0),
    "residential": (32.0, 24.0),
    "living_street": (15.0, 15.0),
    "service": (20.0, 15.0),
    "track": (15.0, 12.0),
    "other": (25.0, 20.0),
}
#: Dual carriageway trunk roads (2+ lanes each way) are "voies express" at 110 km/h.
EXPRESSWAY_KMH = (100.0, 60.0)
#: Junctions within this radius, at least URBAN_MIN_JUNCTIONS of them, make a node "urban".
URBAN_RADIUS_M = 200.0
URBAN_MIN_JUNCTIONS = 6


def local_xy_m(lon: np.ndarray, lat: np.ndarray, *, lat0_deg: float | None = None) -> np.ndarray:
    """Equirectangular metres (fine for distances within a territory).

    The projection is centred on ``lat0_deg`` (default: the mean latitude of the points);
    give the same value for two sets of points that must be compared.
    """
    if lat0_deg is None:
        lat0_deg = float(np.mean(lat)) if len(lat) else 0.0
    lat0 = np.deg2rad(lat0_deg)
    radius = 6_371_008.8
    return np.column_stack((np.deg2rad(lon) * radius * np.cos(lat0), np.deg2rad(lat) * radius))


def urban_nodes(graph: RoadGraph) -> np.ndarray:
    """Boolean per node: inside a dense road mesh (a stand-in for "en agglomération")."""
    if graph.n_nodes == 0:
        return np.zeros(0, dtype=bool)
    xy = local_xy_m(graph.node_lon, graph.node_lat)
    counts = cKDTree(xy).query_ball_point(xy, URBAN_RADIUS_M, return_length=True)
    return np.asarray(counts) >= URBAN_MIN_JUNCTIONS


def effective_speed_kmh(
    graph: RoadGraph,
    maxspeed_kmh: np.ndarray,
    lanes: np.ndarray,
    *,
    factor: float = 1.0,
    urban: np.ndarray | None = None,
) -> np.ndarray:
    """Effective speed per arc (km/h), before which nothing is routed.

    Parameters
    ----------
    graph
        The imported graph (road classes, end nodes).
    maxspeed_kmh
        OSM ``maxspeed`` per arc, NaN where absent: then the class default applies.
    lanes
        Lanes per arc (0 unknown); 2+ on a trunk road means an expressway.
    factor
        Territory calibration (``[speeds] factor`` in the TOML), multiplies every speed.
    urban
        Urban flag per node (computed with :func:`urban_nodes` when omitted).
    """
    if urban is None:
        urban = urban_nodes(graph)
    arc_urban = urban[graph.arc_tail] & urban[graph.arc_head]
    rural_table = np.array([DEFAULT_SPEEDS_KMH[c][0] for c in ROAD_CLASSES], dtype=np.float32)
    urban_table = np.array([DEFAULT_SPEEDS_KMH[c][1] for c in ROAD_CLASSES], dtype=np.float32)
    cls = graph.arc_road_class.astype(np.int64)
    speed = np.where(arc_urban, urban_table[cls], rural_table[cls])
    expressway = (cls == ROAD_CLASS_INDEX["trunk"]) & (lanes >= 2)
    speed = np.where(expressway, np.where(arc_urban, EXPRESSWAY_KMH[1], EXPRESSWAY_KMH[0]), speed)
    tagged = np.isfinite(maxspeed_kmh)
    # A signed limit is an upper bound: real averages are lower, more so at low limits
    # (junctions, crossings, parking manoeuvres).
    ratio = np.where(maxspeed_kmh >= 90, 0.88, np.where(maxspeed_kmh >= 70, 0.85, 0.72))
    speed = np.where(tagged, np.maximum(maxspeed_kmh * ratio, 5.0), speed)
    return (speed * np.float32(factor)).astype(np.float32)


def travel_times_s(length_m: np.ndarray, speed_kmh: np.ndarray) -> np.ndarray:
    """Seconds per arc, strictly positive."""
    seconds = length_m.astype(np.float64) / (speed_kmh.astype(np.float64) / 3.6)
    return np.maximum(seconds, 0.1).astype(np.float32)
