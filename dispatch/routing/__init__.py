"""Routing core: snapping, travel-time matrices, routes and isochrones on compact arrays."""

from dispatch.errors import RoutingError
from dispatch.routing.router import (
    DEFAULT_MAX_SNAP_M,
    UNREACHABLE_M,
    UNREACHABLE_S,
    Route,
    Router,
    RouterTimings,
)
from dispatch.routing.snapping import Snap

__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "UNREACHABLE_M",
    "UNREACHABLE_S",
    "Route",
    "Router",
    "RouterTimings",
    "RoutingError",
    "Snap",
]
