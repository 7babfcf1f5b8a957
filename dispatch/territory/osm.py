"""Import OpenStreetMap data (.osm.pbf through pyrosm; .osm/.osm.bz2 through osmium + osmnx)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np

from dispatch.errors import ValidationError
from dispatch.territory.network import ImportedNetwork, build_network, parse_maxspeed

#: highway values a car may use (links fold into their class later).
DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
_EXCLUDED_SERVICE = frozenset(
    {"parking_aisle", "driveway", "private", "emergency_access", "drive-through", "parking"}
)
_NO_ACCESS = frozenset({"no", "private"})


def is_drivable(tags: Any) -> bool:
    """True for an OSM way that a car may drive on (osmnx's "drive" rules, simplified)."""
    if tags.get("highway") not in DRIVABLE_HIGHWAYS:
        return False
    if tags.get("area") == "yes" or tags.get("service") in _EXCLUDED_SERVICE:
        return False
    for key in ("access", "motor_vehicle", "motorcar", "vehicle"):
        if tags.get(key) in _NO_ACCESS:
            return False
    return True


def read_addresses(path: str | Path) -> list[tuple[str, str, float, float]]:
    """``(housenumber, street, lon, lat)`` of nodes and ways tagged with an address.

    Ways (buildings) are placed at the mean of their nodes.
    """
    import osmium

    out: list[tuple[str, str, float, float]] = []
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("addr:housenumber"))
    )
    for obj in processor:
        obj = cast(Any, obj)  # osmium's union type; is_node()/is_way() narrow it
        tags = obj.tags
        street = tags.get("addr:street") or tags.get("addr:place")
        number = tags.get("addr:housenumber")
        if not street or not number:
            continue
        if obj.is_node():
            if obj.location.valid():
                out.append((number, street, obj.location.lon, obj.location.lat))
        elif obj.is_way():
            pts = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if pts:
                arr = np.asarray(pts)
                out.append((number, street, float(arr[:, 0].mean()), float(arr[:, 1].mean())))
    return out


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    if isinstance(value, float) and value != value:
        return None
    return value


def from_networkx(
    graph: Any,
    *,
    source_format: str,
    dropped: dict[str, int] | None = None,
    addresses: list[tuple[str, str, float, float]] | None = None,
) -> ImportedNetwork:
    """Convert an osmnx-style MultiDiGraph (x/y in WGS84, edge geometry optional)."""
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    node_lon = np.array([float(graph.nodes[n]["x"]) for n in nodes])
    node_lat = np.array([float(graph.nodes[n]["y"]) for n in nodes])
    osm_ids = np.array(
        [int(n) if str(n).lstrip("-").isdigit() else -1 for n in nodes], dtype=np.int64
    )
    tail, head, length, highway, name, maxspeed, lanes, shapes = [], [], [], [], [], [], [], []
    for u, v, data in graph.edges(data=True):
        tail.append(index[u])
        head.append(index[v])
        length.append(float(data.get("length", 0.0) or 0.0))
        highway.append(str(_first(data.get("highway")) or ""))
        nm = _first(data.get("name"))
        name.append(str(nm) if nm else None)
        maxspeed.append(parse_maxspeed(data.get("maxspeed")))
        raw_lanes = _first(data.get("lanes"))
        try:
            total = float(str(raw_lanes).split(";")[0]) if raw_lanes is not None else 0.0
        except ValueError:
            total = 0.0
        oneway = data.get("oneway") in (True, "yes", "True", 1)
        lanes.append(total if oneway else total / 2.0)
        geom = data.get("geometry")
        shapes.append(list(geom.coords)[1:-1] if geom is not None else [])
    if not tail:
        raise ValidationError("the OSM data has no drivable road")
    return build_network(
        node_lon=node_lon,
        node_lat=node_lat,
        node_osm_id=osm_ids,
        tail=tail,
        head=head,
        length_m=length,
        highway=highway,
        name=name,
        maxspeed_kmh=maxspeed,
        lanes=lanes,
        source_format=source_format,
        shapes=shapes,
        addresses=addresses,
        dropped=dropped,
    )


def read_pbf_pyrosm(path: str | Path, *, simplify: bool = True) -> ImportedNetwork:
    """Read an ``.osm.pbf`` with pyrosm's "driving" network, simplified with osmnx.

    pyrosm reads raw extracts directly, including clipped ones whose ways refer to
    missing nodes (osmnx's XML reader fails on those).
    """
    import osmnx as ox
    from pyrosm import OSM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = OSM(str(path))
        result = osm.get_network(network_type="driving", nodes=True)
        if result is None or result[1] is None or len(result[1]) == 0:
            raise ValidationError(f"{path} has no drivable road")
        nodes, edges = result
        graph = osm.to_graph(
            nodes, edges, graph_type="networkx", osmnx_compatible=True, retain_all=True
        )
        keep = {"length", "highway", "name", "maxspeed", "lanes", "oneway", "osmid", "geometry"}
        for _, _, data in graph.edges(data=True):
            for key in [k for k in data if k not in keep]:
                del data[key]
            for key, value in list(data.items()):
                if isinstance(value, list):  # osmnx merges values while simplifying
                    data[key] = value[0] if value else None
        if simplify:
            # pyrosm marks its graph as simplified although it keeps every way node.
            graph.graph["simplified"] = False
            graph = ox.simplify_graph(graph)
    return from_networkx(graph, source_format="osm.pbf", addresses=read_addresses(path))


def filter_drivable_xml(path: str | Path, out_path: str | Path) -> dict[str, int]:
    """Write the drivable ways of an OSM file (and only the nodes they use) as ``.osm`` XML.

    References to nodes missing from the extract (clipped ways) are skipped, so that osmnx's
    XML reader accepts clipped extracts; ways left with fewer than two nodes are dropped.
    """
    import osmium

    locations: dict[int, tuple[float, float]] = {}
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    missing_refs = 0
    for item in osmium.FileProcessor(str(path)).with_locations():
        obj = cast(Any, item)
        if obj.is_way() and is_drivable(obj.tags):
            refs = []
            for n in obj.nodes:
                if n.location.valid():
                    refs.append(n.ref)
                    locations[n.ref] = (n.location.lon, n.location.lat)
                else:
                    missing_refs += 1
            if len(refs) >= 2:
                ways.append((obj.id, refs, {t.k: t.v for t in obj.tags}))
    writer = osmium.SimpleWriter(str(out_path), overwrite=True)
    try:
        for ref in sorted(locations):
            lon, lat = locations[ref]
            writer.add_node(osmium.osm.mutable.Node(id=ref, location=(lon, lat), version=1))
        for way_id, refs, tags in ways:
            writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags, version=1))
    finally:
        writer.close()
    return {"way_refs_missing_nodes": missing_refs}


def read_osm_xml(path: str | Path) -> ImportedNetwork:
    """Read ``.osm`` / ``.osm.bz2`` (or ``.pbf``) through osmium filtering and ``ox.graph_from_xml``."""
    import osmnx as ox

    with tempfile.TemporaryDirectory() as tmp:
        filtered = Path(tmp) / "drivable.osm"
        dropped = filter_drivable_xml(path, filtered)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = ox.graph_from_xml(filtered, simplify=True, retain_all=True)
    return from_networkx(
        graph, source_format="osm.xml", dropped=dropped, addresses=read_addresses(path)
    )


def read_osm(path: str | Path) -> ImportedNetwork:
    """Read any OSM file: ``.pbf`` through pyrosm (faster, see README), others through osmnx."""
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path} does not exist")
    if path.name.endswith(".pbf"):
        return read_pbf_pyrosm(path)
    return read_osm_xml(path)


def read_place(place: str) -> ImportedNetwork:
    """Download the drive network of a place from OpenStreetMap with osmnx (needs internet).

    Parameters
    ----------
    place
        A geocodable name, e.g. ``"Melun, France"``.
    """
    import osmnx as ox

    graph = ox.graph_from_place(place, network_type="drive", simplify=True, retain_all=True)
    return from_networkx(graph, source_format="osmnx-place")
