"""Tests of travel speeds: French defaults by class and context, maxspeed, calibration."""

from __future__ import annotations

import numpy as np

from dispatch.graph import ROAD_CLASS_INDEX, RoadGraph
from dispatch.territory.speeds import (
    DEFAULT_SPEEDS_KMH,
    effective_speed_kmh,
    travel_times_s,
    urban_nodes,
)


def _graph(classes: list[str], n_nodes: int = 2) -> RoadGraph:
    m = len(classes)
    return RoadGraph(
        node_lon=np.linspace(9.0, 9.1, n_nodes),
        node_lat=np.full(n_nodes, 42.0),
        node_osm_id=np.arange(n_nodes),
        arc_tail=np.zeros(m, dtype=np.int32),
        arc_head=np.ones(m, dtype=np.int32),
        arc_length_m=np.full(m, 1000.0, dtype=np.float32),
        arc_travel_time_s=np.ones(m, dtype=np.float32),
        arc_road_class=np.array([ROAD_CLASS_INDEX[c] for c in classes], dtype=np.uint8),
        arc_name=np.full(m, -1, dtype=np.int32),
    )


def test_defaults_follow_french_rules_and_stay_below_limits():
    """Effective defaults: motorway < 130, rural two-lane < 80, urban < 50, urban < rural."""
    assert DEFAULT_SPEEDS_KMH["motorway"][0] < 130
    for cls in ("primary", "secondary", "tertiary", "unclassified", "residential"):
        rural, urban = DEFAULT_SPEEDS_KMH[cls]
        assert rural <= 80 and urban < 50 and urban < rural
    order = ["motorway", "primary", "secondary", "tertiary", "unclassified", "residential"]
    rural = [DEFAULT_SPEEDS_KMH[c][0] for c in order]
    assert rural == sorted(rural, reverse=True)


def test_context_maxspeed_and_factor():
    """Urban arcs are slower; a maxspeed tag wins over the class; the factor scales all speeds."""
    g = _graph(["primary", "primary", "residential"])
    nan = np.float32("nan")
    maxspeed = np.array([nan, 30.0, nan], dtype=np.float32)
    lanes = np.zeros(3, dtype=np.float32)
    rural = effective_speed_kmh(g, maxspeed, lanes, urban=np.array([False, False]))
    urban = effective_speed_kmh(g, maxspeed, lanes, urban=np.array([True, True]))
    assert rural[0] == DEFAULT_SPEEDS_KMH["primary"][0]
    assert urban[0] == DEFAULT_SPEEDS_KMH["primary"][1]
    assert rural[1] == urban[1] and rural[1] < 30, "a 30 zone is driven below 30 km/h"
    slow = effective_speed_kmh(g, maxspeed, lanes, factor=0.5, urban=np.array([False, False]))
    np.testing.assert_allclose(slow, rural * 0.5, rtol=1e-6)


def test_expressway_trunk_is_faster():
    """A trunk road with two lanes each way counts as a 110 km/h expressway."""
    g = _graph(["trunk", "trunk"])
    speeds = effective_speed_kmh(
        g,
        np.full(2, np.nan, dtype=np.float32),
        np.array([1.0, 2.0], dtype=np.float32),
        urban=np.array([False, False]),
    )
    assert speeds[1] > speeds[0] and speeds[1] < 110


def test_urban_detection_on_dense_grid():
    """Nodes of a dense 60 m grid are urban; isolated nodes 2 km apart are not."""
    xs, ys = np.meshgrid(np.arange(6) * 0.0008, np.arange(6) * 0.0005)
    lon = np.concatenate([9.0 + xs.ravel(), 9.5 + np.arange(5) * 0.025])
    lat = np.concatenate([42.0 + ys.ravel(), np.full(5, 42.3)])
    n = len(lon)
    g = RoadGraph(
        node_lon=lon,
        node_lat=lat,
        node_osm_id=np.arange(n),
        arc_tail=np.zeros(1, dtype=np.int32),
        arc_head=np.ones(1, dtype=np.int32),
        arc_length_m=np.ones(1, dtype=np.float32),
        arc_travel_time_s=np.ones(1, dtype=np.float32),
        arc_road_class=np.zeros(1, dtype=np.uint8),
        arc_name=np.full(1, -1, dtype=np.int32),
    )
    urban = urban_nodes(g)
    assert urban[:36].all() and not urban[36:].any()


def test_travel_times_positive():
    """Travel time is length over speed, never zero."""
    t = travel_times_s(np.array([0.0, 1000.0], dtype=np.float32), np.array([36.0, 36.0]))
    assert t[0] > 0 and t[1] == np.float32(100.0)
