"""Import a MATSim network XML (Lambert-93, osm:way:* attributes) into an ImportedNetwork."""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from pyproj import Transformer

from dispatch.errors import ValidationError
from dispatch.territory.network import ImportedNetwork, build_network, parse_maxspeed


def _open(path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_matsim(path: str | Path, *, crs: str = "EPSG:2154") -> ImportedNetwork:
    """Read a MATSim ``network_v2`` file (plain or gzipped) and keep the car links.

    Parameters
    ----------
    path
        The network file.
    crs
        Coordinate system of the node ``x``/``y`` (eqasim networks for France: Lambert-93).

    Notes
    -----
    MATSim ``freespeed`` values come from the converter's defaults, not from OSM ``maxspeed``,
    so they are ignored: speeds are assigned later from road class and context. Links are
    straight between their end nodes (the files carry no intermediate geometry).
    """
    path = Path(path)
    node_index: dict[str, int] = {}
    xs: list[float] = []
    ys: list[float] = []
    osm_ids: list[int] = []
    tail: list[int] = []
    head: list[int] = []
    length: list[float] = []
    highway: list[str] = []
    name: list[str | None] = []
    maxspeed: list[float] = []
    lanes: list[float] = []
    links_total = 0
    links_not_car = 0
    try:
        with _open(path) as handle:
            link_attrs: dict[str, str] = {}
            current: dict[str, str] | None = None
            for event, elem in ET.iterparse(handle, events=("start", "end")):
                tag = elem.tag
                if event == "start":
                    if tag == "link":
                        current = dict(elem.attrib)
                        link_attrs = {}
                    continue
                if tag == "node":
                    node_index[elem.attrib["id"]] = len(xs)
                    xs.append(float(elem.attrib["x"]))
                    ys.append(float(elem.attrib["y"]))
                    raw = elem.attrib["id"]
                    osm_ids.append(int(raw) if raw.isdigit() else -1)
                    elem.clear()
                elif tag == "attribute" and current is not None:
                    link_attrs[elem.attrib.get("name", "")] = elem.text or ""
                elif tag == "link" and current is not None:
                    links_total += 1
                    modes = current.get("modes", "car").split(",")
                    if "car" in modes:
                        tail.append(node_index[current["from"]])
                        head.append(node_index[current["to"]])
                        length.append(float(current["length"]))
                        highway.append(link_attrs.get("osm:way:highway", ""))
                        name.append(link_attrs.get("osm:way:name") or None)
                        maxspeed.append(parse_maxspeed(link_attrs.get("osm:way:maxspeed")))
                        raw_lanes = link_attrs.get("osm:way:lanes", "")
                        try:
                            lanes.append(float(raw_lanes.split(";")[0]))
                        except ValueError:
                            lanes.append(0.0)
                    else:
                        links_not_car += 1
                    current = None
                    elem.clear()
    except (ET.ParseError, KeyError, EOFError, OSError) as exc:
        raise ValidationError(f"{path} is not a readable MATSim network: {exc}") from None
    if not tail:
        raise ValidationError(f"{path} has no car link: is it a MATSim network?")
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        np.asarray(xs), np.asarray(ys)
    )
    # Keep only nodes that car links use (transit stop nodes disappear).
    used = np.zeros(len(xs), dtype=bool)
    t = np.asarray(tail, dtype=np.int64)
    h = np.asarray(head, dtype=np.int64)
    used[t] = True
    used[h] = True
    renum = np.cumsum(used) - 1
    return build_network(
        node_lon=np.asarray(lon)[used],
        node_lat=np.asarray(lat)[used],
        node_osm_id=np.asarray(osm_ids, dtype=np.int64)[used],
        tail=renum[t],
        head=renum[h],
        length_m=length,
        highway=highway,
        name=name,
        maxspeed_kmh=maxspeed,
        lanes=lanes,
        source_format="matsim",
        dropped={
            "links_not_car": links_not_car,
            "nodes_not_car": int((~used).sum()),
            "links_total": links_total,
        },
    )
