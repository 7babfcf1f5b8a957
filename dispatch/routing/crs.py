"""The metric CRS of a territory (Lambert-93 in metropolitan France, else UTM) and projections."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Transformer

#: Area of use of EPSG:2154 (RGF93 / Lambert-93): metropolitan France and Corsica.
LAMBERT93_BOUNDS = (-9.86, 41.15, 10.38, 51.56)


def metric_crs(bbox: tuple[float, float, float, float]) -> str:
    """``"EPSG:2154"`` for a bbox inside metropolitan France, else its WGS84 UTM zone.

    Parameters
    ----------
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)`` in WGS84.
    """
    min_lon, min_lat, max_lon, max_lat = bbox
    x0, y0, x1, y1 = LAMBERT93_BOUNDS
    if x0 <= min_lon and max_lon <= x1 and y0 <= min_lat and max_lat <= y1:
        return "EPSG:2154"
    lon = (min_lon + max_lon) / 2
    lat = (min_lat + max_lat) / 2
    zone = int((lon + 180) // 6) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(crs: str, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat to metres in ``crs``."""
    x, y = _transformer("EPSG:4326", crs).transform(np.asarray(lon), np.asarray(lat))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def to_wgs84(crs: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres in ``crs`` to WGS84 lon/lat."""
    lon, lat = _transformer(crs, "EPSG:4326").transform(np.asarray(x), np.asarray(y))
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
