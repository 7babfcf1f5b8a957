"""Territories: definitions, road importers, population model, built cache, geocoding, sampling."""

from __future__ import annotations

from dispatch.territory.build import build_territory, load_territory
from dispatch.territory.communes import Commune
from dispatch.territory.definitions import (
    TerritoryDefinition,
    find_data_file,
    list_territories,
    load_definition,
)
from dispatch.territory.fetch import fetch_road_file
from dispatch.territory.geocode import Geocoder, GeocodeResult
from dispatch.territory.model import Base, Territory
from dispatch.territory.sampling import sample_points

__all__ = [
    "Base",
    "Commune",
    "GeocodeResult",
    "Geocoder",
    "Territory",
    "TerritoryDefinition",
    "build_territory",
    "fetch_road_file",
    "find_data_file",
    "list_territories",
    "load_definition",
    "load_territory",
    "sample_points",
]
