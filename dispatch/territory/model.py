"""The built Territory: road graph, communes, population per node, team bases, boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.graph import RoadGraph
from dispatch.territory.communes import Commune
from dispatch.territory.definitions import TerritoryDefinition


@dataclass(frozen=True)
class Base:
    """A team base: a real place (hospital, health centre) and the road node it is snapped to.

    ``lon``/``lat`` are the place's own position; ``node`` the nearest graph node and
    ``snap_distance_m`` how far it is (routing starts there).
    """

    id: str
    name: str
    kind: str
    lon: float
    lat: float
    commune: str
    node: int = -1
    snap_distance_m: float = float("nan")
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "lon": self.lon,
            "lat": self.lat,
            "commune": self.commune,
            "node": self.node,
            "snap_distance_m": round(self.snap_distance_m, 1),
            "source": self.source,
        }


@dataclass(frozen=True, eq=False)
class Territory:
    """A built territory, as loaded from its cache.

    ``node_population`` (float64, per node) sums to the INSEE total of ``communes``;
    ``node_commune`` (int32) indexes ``communes`` (-1 if none).
    """

    id: str
    name: str
    definition: TerritoryDefinition
    graph: RoadGraph
    node_population: np.ndarray
    node_commune: np.ndarray
    communes: list[Commune]
    bases: list[Base]
    cache_dir: Path
    info: dict[str, Any]
    boundary: Any
    #: ``(housenumber, street, lon, lat)`` from the source's address tags (raw OSM only).
    addresses: list[tuple[str, str, float, float]] = field(default_factory=list)

    @property
    def population(self) -> float:
        return float(self.node_population.sum())

    def commune_by_code(self, code_insee: str) -> Commune:
        for commune in self.communes:
            if commune.code_insee == code_insee:
                return commune
        raise KeyError(code_insee)
