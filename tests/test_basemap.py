"""The base map's label data (places and street names in the PMTiles, at their zooms) and the
self-hosted glyphs the labels are drawn with."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from live_support import module_settings

from dispatch.live.basemap import (
    GLYPH_FONTS,
    GLYPHS_DIR,
    build_basemap,
    commune_min_zoom,
    glyph_range_pbf,
    street_name_features,
    tippecanoe_binary,
)
from dispatch.store import Store
from dispatch.web.app import create_app


# ------------------------------------------------------------------ helpers
def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """A protobuf message as (field number, int or bytes) pairs (wire types 0 and 2 only)."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        assert wire in (0, 2), f"unexpected wire type {wire}"
        if wire == 0:
            value, i = _varint(data, i)
        else:
            length, i = _varint(data, i)
            value, i = data[i : i + length], i + length
        out.append((number, value))
    return out


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def decode_glyphs(data: bytes) -> tuple[str, str, dict[int, dict[str, Any]]]:
    """(font stack name, range, {code point: glyph}) of a glyphs PBF holding one stack."""
    stacks = [value for number, value in _fields(data) if number == 1]
    assert len(stacks) == 1
    name = rng = ""
    glyphs: dict[int, dict[str, Any]] = {}
    for number, value in _fields(stacks[0]):
        if number == 1:
            name = value.decode()
        elif number == 2:
            rng = value.decode()
        elif number == 3:
            raw = dict(_fields(value))
            glyphs[raw[1]] = {
                "bitmap": raw.get(2, b""),
                "width": raw[3],
                "height": raw[4],
                "left": _zigzag(raw[5]),
                "top": _zigzag(raw[6]),
                "advance": raw[7],
            }
    return name, rng, glyphs


def layer_features(path: Path, zoom: int, layer: str) -> list[dict[str, Any]]:
    """Every feature of ``layer`` in the tiles of ``zoom`` (read back with tippecanoe-decode)."""
    decode = Path(tippecanoe_binary()).with_name("tippecanoe-decode")
    result = subprocess.run(
        [str(decode), "-Z", str(zoom), "-z", str(zoom), "-l", layer, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    features = []
    for tile in json.loads(result.stdout)["features"]:
        for tile_layer in tile["features"]:
            if tile_layer["properties"]["layer"] == layer:
                features.extend(tile_layer["features"])
    return features


def names(path: Path, zoom: int, layer: str, **match: Any) -> set[str]:
    return {
        f["properties"]["name"]
        for f in layer_features(path, zoom, layer)
        if all(f["properties"].get(k) == v for k, v in match.items())
    }


# ------------------------------------------------------------------ tiles
@pytest.fixture(scope="module")
def tiles(melun, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("tiles") / "melun.pmtiles"
    started = time.perf_counter()
    build_basemap(melun, out)
    elapsed = time.perf_counter() - started
    # Melun: 0.5 s and 0.19 MB on the 2-core machine (Haute-Corse: 1.9 s, 1.79 MB).
    assert elapsed < 20, f"base map build took {elapsed:.1f} s"
    assert out.stat().st_size < 1_000_000
    return out


def test_commune_names_are_in_the_tiles_from_their_zoom(tiles) -> None:  # type: ignore[no-untyped-def]
    """Towns are named from z7, every commune from z9, at one point each (its visual centre)."""
    assert commune_min_zoom(45_995) == 7 and commune_min_zoom(437) == 9
    at_z7 = names(tiles, 7, "places", kind="commune")
    assert {"Melun", "Dammarie-les-Lys", "Le Mée-sur-Seine", "Vaux-le-Pénil"} == at_z7
    at_z9 = names(tiles, 9, "places", kind="commune")
    assert len(at_z9) == 10 and {"Boissettes", "Voisenon"} <= at_z9
    melun_points = [
        f
        for f in layer_features(tiles, 12, "places")
        if f["properties"]["name"] == "Melun" and f["geometry"]["type"] == "Point"
    ]
    assert len(melun_points) == 1
    lon, lat = melun_points[0]["geometry"]["coordinates"]
    assert 2.62 < lon < 2.69 and 48.52 < lat < 48.56
    assert names(tiles, 11, "places", kind="base") == {"Santépôle de Seine-et-Marne (GHSIF Melun)"}
    assert not names(tiles, 10, "places", kind="base")
    # Melun's source is a MATSim network: no OSM places to add.
    assert not names(tiles, 14, "places", kind="place")


def test_osm_place_names_come_from_a_raw_osm_source(saint_barthelemy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Saint-Barthélemy's raw OSM extract names its town and neighbourhoods: the town from z10,
    the neighbourhoods from z14; the island's own "state" node and the commune are not repeated."""
    out = build_basemap(saint_barthelemy, tmp_path / "sb.pmtiles")
    assert names(out, 10, "places", kind="place") == {"Gustavia"}
    at_z14 = names(out, 14, "places", kind="place")
    assert {"Gustavia", "Colombier", "Anse des Lézards", "Corossol"} <= at_z14
    assert "Colombier" not in names(out, 13, "places", kind="place")
    assert "Saint-Barthélemy" not in at_z14
    assert names(out, 14, "places", kind="commune") == {"Saint-Barthélemy"}


def test_street_names_are_in_the_tiles_from_z13_and_z14(tiles) -> None:  # type: ignore[no-untyped-def]
    """Residential street names from z14, main roads' names from z13, none at z12 in Melun."""
    z14 = layer_features(tiles, 14, "street_names")
    streets = {f["properties"]["name"] for f in z14}
    assert len(streets) > 300
    assert {"Rue Saint-Barthélémy", "Quai Pasteur", "Rue du Château"} <= streets
    assert all(f["geometry"]["type"] in ("LineString", "MultiLineString") for f in z14)
    z13 = layer_features(tiles, 13, "street_names")
    assert z13 and all(
        f["properties"]["class"] in ("motorway", "trunk", "primary", "secondary", "tertiary")
        for f in z13
    )
    assert not layer_features(tiles, 11, "street_names")
    # The roads layer no longer repeats the names (the labels' layer carries them).
    assert all("name" not in f["properties"] for f in layer_features(tiles, 14, "roads"))


def test_street_lines_merge_consecutive_arcs_of_a_street(melun) -> None:  # type: ignore[no-untyped-def]
    """One line per stretch of street, not one per arc: far fewer lines than named arcs, and a
    long street comes out as a few long lines."""
    graph = melun.graph
    lines = list(street_name_features(graph))
    named_arcs = int((graph.arc_name >= 0).sum())
    assert 0 < len(lines) < named_arcs / 3
    quai = [f for f in lines if f["properties"]["name"] == "Quai Pasteur"]
    assert 1 <= len(quai) <= 3
    longest = max(len(f["geometry"]["coordinates"]) for f in quai)
    assert longest >= 4  # several arcs end to end
    assert all(f["tippecanoe"]["minzoom"] in (12, 13, 14) for f in lines)


# ------------------------------------------------------------------ glyphs
@pytest.fixture(scope="module")
def client(tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("glyphs"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    yield app.test_client()
    app.extensions["dispatch.live"].stop()
    store.close()


@pytest.mark.parametrize("fontstack", ["DejaVu Sans Book", "DejaVu Sans Bold"])
def test_glyph_urls_answer_pbf_with_french_letters(client, fontstack: str) -> None:  # type: ignore[no-untyped-def]
    """The style's glyphs URL answers the SDF glyphs of French names, anonymously and cacheable."""
    reply = client.get(f"/glyphs/{fontstack}/0-255.pbf")
    assert reply.status_code == 200
    assert reply.mimetype == "application/x-protobuf"
    assert "max-age" in reply.headers["Cache-Control"]
    name, rng, glyphs = decode_glyphs(reply.data)
    assert (name, rng) == (fontstack, "0-255")
    for char in "Melun Vaux-le-Pénil Château à ç ô ù ë'":
        assert ord(char) in glyphs, char
    e_acute = glyphs[ord("é")]
    assert e_acute["advance"] > 8 and e_acute["width"] > 5 and e_acute["height"] > 10
    sdf = np.frombuffer(e_acute["bitmap"], dtype=np.uint8)
    assert sdf.max() > 191 > sdf.min()  # inside and outside of the outline
    _, _, ext_a = decode_glyphs(client.get(f"/glyphs/{fontstack}/256-511.pbf").data)
    assert ord("œ") in ext_a and ord("Œ") in ext_a
    _, _, punct = decode_glyphs(client.get(f"/glyphs/{fontstack}/8192-8447.pbf").data)
    assert {ord("’"), ord("–"), ord("…")} <= set(punct)


def test_glyph_stacks_fall_back_and_unknown_ranges_are_empty(client) -> None:  # type: ignore[no-untyped-def]
    """A stack takes the first font it knows; a range no font covers answers an empty range
    (MapLibre leaves the character out instead of failing the tile); a bad range is refused."""
    reply = client.get("/glyphs/Open Sans Regular,DejaVu Sans Book/0-255.pbf")
    assert reply.status_code == 200
    assert decode_glyphs(reply.data)[0] == "DejaVu Sans Book"
    empty = client.get("/glyphs/DejaVu Sans Book/19968-20223.pbf")
    assert empty.status_code == 200
    assert decode_glyphs(empty.data) == ("DejaVu Sans Book", "19968-20223", {})
    bad = client.get("/glyphs/DejaVu Sans Book/10-20.pbf")
    assert bad.status_code == 400 and "256" in bad.json["error"]


def test_committed_glyph_ranges_are_well_formed() -> None:
    """Every committed glyph has an SDF bitmap of (width + 6) × (height + 6) bytes, as MapLibre
    reads it (3 px border)."""
    files = sorted(GLYPHS_DIR.glob("*/*.pbf"))
    assert len(files) >= 2 * 5
    assert {path.parent.name for path in files} == {folder for folder, _ in GLYPH_FONTS.values()}
    for path in files:
        _, rng, glyphs = decode_glyphs(path.read_bytes())
        assert path.name == f"{rng}.pbf"
        for code, glyph in glyphs.items():
            expected = (glyph["width"] + 6) * (glyph["height"] + 6) if glyph["width"] else 0
            assert len(glyph["bitmap"]) == expected, (path, code)
    assert decode_glyphs(glyph_range_pbf("X", 0, 255)) == ("X", "0-255", {})
