"""Tests of sample_points: visit-like points drawn from the population model."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from dispatch.errors import ValidationError
from dispatch.territory import sample_points


def test_deterministic_per_seed(haute_corse):
    """The same seed gives the same points; another seed gives others."""
    a = sample_points(haute_corse, 200, seed=7)
    b = sample_points(haute_corse, 200, seed=7)
    c = sample_points(haute_corse, 200, seed=8)
    assert a.shape == (200, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_points_follow_population(haute_corse):
    """About Bastia's share of the population (25 %) of the points falls in Bastia."""
    points = sample_points(haute_corse, 4000, seed=1)
    bastia = haute_corse.commune_by_code("2B033")
    share = shapely.contains_xy(
        shapely.buffer(bastia.geometry, 0.001), points[:, 0], points[:, 1]
    ).mean()
    expected = bastia.population / haute_corse.node_population.sum()
    assert share == pytest.approx(expected, abs=0.04)


def test_points_lie_on_roads_inside_the_territory(melun):
    """Points are on the road network (a few metres at most) and inside the territory."""
    from scipy.spatial import cKDTree

    from dispatch.territory.speeds import local_xy_m

    g = melun.graph
    points = sample_points(melun, 500, seed=3, weights="uniform")
    lat0 = float(g.node_lat.mean())
    # Densify arcs into points every ~5 m to measure distance to the roads.
    xs, ys = [], []
    for arc in range(g.n_arcs):
        coords = np.asarray(g.arc_coords(arc))
        for (x0, y0), (x1, y1) in zip(coords[:-1], coords[1:], strict=True):
            t = np.linspace(0, 1, 40)
            xs.append(x0 + t * (x1 - x0))
            ys.append(y0 + t * (y1 - y0))
    tree = cKDTree(local_xy_m(np.concatenate(xs), np.concatenate(ys), lat0_deg=lat0))
    dist, _ = tree.query(local_xy_m(points[:, 0], points[:, 1], lat0_deg=lat0))
    assert dist.max() < 30
    assert shapely.contains_xy(
        shapely.buffer(melun.boundary, 0.003), points[:, 0], points[:, 1]
    ).all()


def test_bad_weights(melun):
    """Weights of the wrong shape or all zero are rejected with a clear error."""
    with pytest.raises(ValidationError):
        sample_points(melun, 3, seed=0, weights=np.zeros(3))
    with pytest.raises(ValidationError):
        sample_points(melun, 3, seed=0, weights=np.zeros(melun.graph.n_nodes))
    assert sample_points(melun, 0, seed=0).shape == (0, 2)
