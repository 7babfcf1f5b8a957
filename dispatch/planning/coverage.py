"""Population coverage by travel-time bands from the bases: per band, per commune, uncovered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.errors import ValidationError

#: Default travel-time bands (10, 20 and 30 minutes by car).
DEFAULT_BANDS_S: tuple[int, ...] = (600, 1200, 1800)

#: Name of the row that gathers population on nodes outside every commune.
NO_COMMUNE = "(hors commune)"


def validate_bands(bands_s: Sequence[float]) -> tuple[int, ...]:
    """Bands as strictly increasing positive integer seconds, or a ValidationError."""
    bands = tuple(int(round(b)) for b in bands_s)
    if not bands:
        raise ValidationError("no travel-time band given: pass for example 600,1200,1800 seconds")
    if any(b <= 0 for b in bands) or any(
        b2 <= b1 for b1, b2 in zip(bands, bands[1:], strict=False)
    ):
        raise ValidationError(
            f"travel-time bands {list(bands)} must be positive and strictly increasing "
            "(for example 600,1200,1800)"
        )
    return bands


def band_index(node_time_s: np.ndarray, bands_s: Sequence[int]) -> np.ndarray:
    """For each node, the index of the first band whose limit it is within (``len(bands)``: none).

    A node exactly at a band's limit belongs to that band (``time <= limit``).
    """
    times = np.asarray(node_time_s, dtype=np.float64)
    idx = np.searchsorted(np.asarray(bands_s, dtype=np.float64), times, side="left")
    idx[~np.isfinite(times)] = len(bands_s)
    return idx.astype(np.int64)


@dataclass(frozen=True)
class CommuneCoverage:
    """Population of one commune by band of travel time from the nearest base."""

    code_insee: str
    name: str
    population: float
    band_population: tuple[float, ...]
    uncovered_population: float

    @property
    def covered_share(self) -> float:
        """Share of the commune's population within the last band (0 when it has none)."""
        if self.population <= 0:
            return 0.0
        return float(sum(self.band_population) / self.population)


@dataclass(frozen=True)
class CoverageResult:
    """Who is reached within each band, overall and commune by commune.

    ``band_population[i]`` is the population whose nearest base is reached in
    ``(bands_s[i-1], bands_s[i]]`` seconds; the bands and ``uncovered_population`` partition the
    territory's population, so they sum to ``total_population`` exactly (up to float rounding).
    """

    bands_s: tuple[int, ...]
    band_population: tuple[float, ...]
    uncovered_population: float
    total_population: float
    communes: tuple[CommuneCoverage, ...]
    node_time_s: np.ndarray = field(repr=False, compare=False)

    @property
    def covered_population(self) -> float:
        """Population within the last band."""
        return float(sum(self.band_population))

    def cumulative(self) -> tuple[float, ...]:
        """Population within each band's limit (cumulated)."""
        return tuple(float(x) for x in np.cumsum(self.band_population))

    def least_covered(self, n: int = 10) -> list[CommuneCoverage]:
        """The communes with the most uncovered inhabitants, largest first."""
        rows = [c for c in self.communes if c.uncovered_population > 0]
        rows.sort(key=lambda c: (-c.uncovered_population, c.name))
        return rows[:n]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per commune (for CSV and tables), population rounded to 0.1."""
        out = []
        for c in self.communes:
            row: dict[str, Any] = {"code_insee": c.code_insee, "commune": c.name}
            row["population"] = round(c.population, 1)
            for b, pop in zip(self.bands_s, c.band_population, strict=True):
                row[f"pop_le_{b // 60}min"] = round(pop, 1)
            row["uncovered"] = round(c.uncovered_population, 1)
            row["covered_share"] = round(c.covered_share, 4)
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no per-node arrays)."""
        return {
            "bands_s": list(self.bands_s),
            "band_population": [round(p, 1) for p in self.band_population],
            "cumulative_population": [round(p, 1) for p in self.cumulative()],
            "covered_population": round(self.covered_population, 1),
            "uncovered_population": round(self.uncovered_population, 1),
            "total_population": round(self.total_population, 1),
            "communes": self.rows(),
        }


def coverage_from_times(
    node_time_s: np.ndarray,
    node_population: np.ndarray,
    node_commune: np.ndarray,
    commune_codes: Sequence[str],
    commune_names: Sequence[str],
    bands_s: Sequence[float] = DEFAULT_BANDS_S,
) -> CoverageResult:
    """Coverage table from each node's travel time to its nearest base.

    Parameters
    ----------
    node_time_s
        Seconds from the nearest base to each node (``inf`` when beyond every band or unreachable).
    node_population
        Inhabitants per node (the territory's population model).
    node_commune
        Index of each node's commune in ``commune_codes`` (-1: none; gathered in a
        ``(hors commune)`` row when it carries population).
    commune_codes, commune_names
        INSEE code and name of each commune.
    bands_s
        Increasing band limits in seconds.
    """
    bands = validate_bands(bands_s)
    pop = np.asarray(node_population, dtype=np.float64)
    com = np.asarray(node_commune, dtype=np.int64)
    if not (len(pop) == len(com) == len(node_time_s)):
        raise ValidationError("node_time_s, node_population and node_commune differ in length")
    n_com = len(commune_codes)
    nb = len(bands)
    idx = band_index(node_time_s, bands)
    # Row n_com collects nodes outside every commune.
    com_row = np.where(com < 0, n_com, com)
    table = np.zeros((n_com + 1, nb + 1), dtype=np.float64)
    np.add.at(table, (com_row, idx), pop)
    communes = []
    for i in range(n_com + 1):
        if i == n_com and table[i].sum() == 0:
            continue
        code, name = ("", NO_COMMUNE) if i == n_com else (commune_codes[i], commune_names[i])
        communes.append(
            CommuneCoverage(
                code_insee=str(code),
                name=str(name),
                population=float(table[i].sum()),
                band_population=tuple(float(x) for x in table[i, :nb]),
                uncovered_population=float(table[i, nb]),
            )
        )
    totals = table.sum(axis=0)
    return CoverageResult(
        bands_s=bands,
        band_population=tuple(float(x) for x in totals[:nb]),
        uncovered_population=float(totals[nb]),
        total_population=float(pop.sum()),
        communes=tuple(communes),
        node_time_s=np.asarray(node_time_s, dtype=np.float64),
    )


def coverage(
    territory: Any,
    router: Any,
    base_nodes: Sequence[int],
    *,
    bands_s: Sequence[float] = DEFAULT_BANDS_S,
) -> CoverageResult:
    """Coverage of ``territory`` from bases at the road nodes ``base_nodes``.

    Band assignment uses ``router.one_to_all`` (exact shortest travel times), so the table sums
    to the territory's population.
    """
    bands = validate_bands(bands_s)
    if len(base_nodes) == 0:
        raise ValidationError("no base given: a coverage needs at least one base")
    times = router.one_to_all(np.asarray(base_nodes, dtype=np.int64), limit_s=float(bands[-1]))
    return coverage_from_times(
        times,
        territory.node_population,
        territory.node_commune,
        [c.code_insee for c in territory.communes],
        [c.name for c in territory.communes],
        bands,
    )


def isochrone_features(
    router: Any, base_nodes: Sequence[int], bands_s: Sequence[float] = DEFAULT_BANDS_S
) -> dict[str, Any]:
    """The isochrones of the bases as a GeoJSON FeatureCollection, largest band first."""
    from shapely.geometry import mapping

    bands = validate_bands(bands_s)
    polygons = router.isochrones(np.asarray(base_nodes, dtype=np.int64), [float(b) for b in bands])
    features = [
        {
            "type": "Feature",
            "id": f"iso-{b}",
            "properties": {"limit_s": b, "limit_min": b // 60},
            "geometry": mapping(poly),
        }
        for b, poly in zip(bands, polygons, strict=True)
    ]
    features.reverse()
    return {"type": "FeatureCollection", "features": features}
