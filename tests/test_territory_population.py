"""Tests of the population model: spreading over roads and exact conservation."""

from __future__ import annotations

import numpy as np

from dispatch.graph import ROAD_CLASS_INDEX, RoadGraph
from dispatch.territory.communes import Commune
from dispatch.territory.population import spread_population


def _line_graph() -> RoadGraph:
    # Four nodes on a line; arcs both ways: 0-1 residential, 1-2 motorway, 2-3 residential.
    tail = np.array([0, 1, 1, 2, 2, 3], dtype=np.int32)
    head = np.array([1, 0, 2, 1, 3, 2], dtype=np.int32)
    classes = ["residential", "residential", "motorway", "motorway", "residential", "residential"]
    return RoadGraph(
        node_lon=np.array([9.0, 9.01, 9.02, 9.03]),
        node_lat=np.full(4, 42.0),
        node_osm_id=np.arange(4),
        arc_tail=tail,
        arc_head=head,
        arc_length_m=np.array([100, 100, 800, 800, 300, 300], dtype=np.float32),
        arc_travel_time_s=np.ones(6, dtype=np.float32),
        arc_road_class=np.array([ROAD_CLASS_INDEX[c] for c in classes], dtype=np.uint8),
        arc_name=np.full(6, -1, dtype=np.int32),
    )


def test_weighted_by_residential_length_and_conserved():
    """Within a commune, nodes get population in proportion to their residential length."""
    g = _line_graph()
    communes = [Commune("00001", "A", 1000, 9.015, 42.0)]
    pop, fallback = spread_population(g, np.zeros(4, dtype=np.int32), communes)
    assert fallback == []
    assert pop.sum() == 1000
    np.testing.assert_allclose(pop, [125, 125, 375, 375])


def test_commune_without_node_goes_to_nearest_nodes():
    """A commune with no node inside is placed on its nearest nodes; totals are exact."""
    g = _line_graph()
    communes = [
        Commune("00001", "A", 1000, 9.015, 42.0),
        Commune("00002", "B", 333, 9.031, 42.0),  # no node assigned to it
    ]
    pop, fallback = spread_population(g, np.zeros(4, dtype=np.int32), communes)
    assert fallback == ["00002"]
    assert abs(pop.sum() - 1333) < 1e-9
    assert pop[3] > 375 and pop[0] == 125, "B's people sit near its point, not far away"


def test_commune_with_only_motorway_nodes_gets_an_equal_share():
    """Nodes with no housing weight still carry their commune's population (equal shares)."""
    g = _line_graph()
    communes = [Commune("1", "A", 10, 9.0, 42.0), Commune("2", "B", 90, 9.02, 42.0)]
    node_commune = np.array([0, 0, 1, 1], dtype=np.int32)
    # Make node 2's and 3's arcs zero-weight by declaring them motorway.
    g2 = RoadGraph(
        **{**g.__dict__, "arc_road_class": np.full(6, ROAD_CLASS_INDEX["motorway"], dtype=np.uint8)}
    )
    pop, _ = spread_population(g2, node_commune, communes)
    np.testing.assert_allclose(pop, [5, 5, 45, 45])
