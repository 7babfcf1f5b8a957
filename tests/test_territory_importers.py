"""Tests of the road importers: MATSim XML, OSM pbf (pyrosm) and OSM XML (osmium + osmnx)."""

from __future__ import annotations

import bz2
from pathlib import Path

import numpy as np
import pyrosm
import pytest

from dispatch.graph import ROAD_CLASS_INDEX
from dispatch.territory.matsim import read_matsim
from dispatch.territory.network import parse_maxspeed
from dispatch.territory.osm import filter_drivable_xml, is_drivable, read_osm, read_osm_xml

PYROSM_DATA = Path(pyrosm.__file__).parent / "data"


@pytest.fixture(scope="module")
def melun_network(shared_dir):
    return read_matsim(shared_dir / "territories" / "melun" / "melun_network.xml.gz")


def test_matsim_melun_counts_and_reprojection(melun_network):
    """Melun: the car links and nodes of SOURCE.md, reprojected from Lambert-93 to WGS84."""
    g = melun_network.graph
    assert (g.n_nodes, g.n_arcs) == (2956, 6136)
    lon0, lat0, lon1, lat1 = g.bbox()
    assert (round(lon0, 3), round(lat0, 3), round(lon1, 3), round(lat1, 3)) == (
        2.588,
        48.483,
        2.726,
        48.575,
    )
    assert melun_network.dropped["links_not_car"] == 6417 - 6136
    assert (g.node_osm_id > 0).all(), "node ids are OSM node ids"


def test_matsim_keeps_names_classes_and_lengths(melun_network):
    """Street names, road classes and link lengths come through the import."""
    g = melun_network.graph
    assert "Avenue Marc Jacquet" in g.names
    assert (g.arc_name >= 0).mean() > 0.3
    assert (g.arc_road_class == ROAD_CLASS_INDEX["residential"]).sum() > 1000
    # Only 3 car links are tagged "pedestrian" (class "other").
    assert (g.arc_road_class == ROAD_CLASS_INDEX["other"]).sum() == 3
    # A link's length is at least the straight distance between its ends.
    lat = np.deg2rad(g.node_lat)
    dx = np.deg2rad(g.node_lon[g.arc_head] - g.node_lon[g.arc_tail]) * np.cos(lat[g.arc_tail])
    dy = lat[g.arc_head] - lat[g.arc_tail]
    straight = 6_371_000 * np.hypot(dx, dy)
    assert (g.arc_length_m >= straight * 0.98 - 1).all()


def test_pyrosm_bundled_files_are_local():
    """pyrosm's test extracts ship in its wheel: get_data returns them without downloading."""
    for name, file in (("test_pbf", "test.osm.pbf"), ("helsinki_pbf", "Helsinki.osm.pbf")):
        assert (PYROSM_DATA / file).is_file()
        assert Path(pyrosm.get_data(name)) == PYROSM_DATA / file


@pytest.mark.parametrize("file", ["test.osm.pbf", "Helsinki.osm.pbf"])
def test_pbf_and_xml_paths_agree_on_pyrosm_extracts(file):
    """pyrosm (pbf) and osmium+osmnx (XML) both read the clipped extracts, with shape points."""
    path = PYROSM_DATA / file
    a = read_osm(path)
    b = read_osm_xml(path)
    assert a.graph.n_arcs > 300 and b.graph.n_arcs > 300
    assert len(a.graph.shape_lon) > 0, "simplified arcs keep their intermediate geometry"
    assert b.dropped["way_refs_missing_nodes"] > 0, "these extracts are clipped"
    # Same place: bounding boxes overlap almost entirely.
    ax0, ay0, ax1, ay1 = a.graph.bbox()
    bx0, by0, bx1, by1 = b.graph.bbox()
    assert abs(ax0 - bx0) < 0.01 and abs(ay1 - by1) < 0.01


def test_saint_barthelemy_pbf_and_xml(shared_dir, tmp_path):
    """The raw Saint-Barthélemy pbf reads through both paths, and as .osm.bz2 too."""
    pbf = shared_dir / "territories" / "saint-barthelemy" / "saint_barthelemy.osm.pbf"
    a = read_osm(pbf)
    b = read_osm_xml(pbf)
    assert 850 < a.graph.n_nodes < 1000 and 850 < b.graph.n_nodes < 1000
    assert abs(a.graph.n_arcs - b.graph.n_arcs) / a.graph.n_arcs < 0.05
    xml = tmp_path / "sbh.osm"
    filter_drivable_xml(pbf, xml)
    packed = tmp_path / "sbh.osm.bz2"
    packed.write_bytes(bz2.compress(xml.read_bytes()))
    c = read_osm(packed)
    assert c.graph.n_arcs == b.graph.n_arcs
    assert "Rue de la France" in c.graph.names


def test_helsinki_address_tags_are_read():
    """Address tags (housenumber + street) are collected for house-number geocoding."""
    net = read_osm(PYROSM_DATA / "Helsinki.osm.pbf")
    assert len(net.addresses) > 1000
    number, street, lon, lat = net.addresses[0]
    assert number and street and 24 < lon < 26 and 60 < lat < 61


def test_parse_maxspeed():
    """maxspeed values: numbers, mph, French implicit values, several values, junk."""
    assert parse_maxspeed("50") == 50
    assert parse_maxspeed("FR:urban") == 50 and parse_maxspeed("FR:rural") == 80
    assert parse_maxspeed("30 mph") == pytest.approx(48.28, abs=0.01)
    assert parse_maxspeed(["90", "70"]) == 70 and parse_maxspeed("90;70") == 70
    assert np.isnan(parse_maxspeed("signals")) and np.isnan(parse_maxspeed(None))
    assert np.isnan(parse_maxspeed("500"))


def test_drivable_filter():
    """Car roads are kept; footways, parking aisles and private roads are not."""
    assert is_drivable({"highway": "residential"})
    assert is_drivable({"highway": "primary_link"})
    assert not is_drivable({"highway": "footway"})
    assert not is_drivable({"highway": "service", "service": "parking_aisle"})
    assert not is_drivable({"highway": "residential", "access": "private"})
