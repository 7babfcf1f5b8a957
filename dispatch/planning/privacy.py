"""What a planner may see of patients' places: about 100 m, never the door.

Planners size bases and teams on places and times; a patient's home to the metre is not
needed for that (least privilege). Every place of a visit given to a planner is snapped to a
grid of :data:`PLACE_DECIMALS` decimal degrees: 0.001° is 111 m north-south and 70-85 m
east-west in mainland France and Corsica (a cell of about 100 m), and the door is at most
about 70 m from the place shown. Addresses and external references are dropped.
"""

from __future__ import annotations

from typing import Any

#: Decimals of a planner's longitudes and latitudes (0.001°: about 100 m).
PLACE_DECIMALS = 3
#: Fields of a visit a planner does not see at all.
PLANNER_HIDDEN = ("address", "external_ref")


def coarse_place(lon: float, lat: float) -> tuple[float, float]:
    """``(lon, lat)`` snapped to the planners' grid (about 100 m)."""
    return round(float(lon), PLACE_DECIMALS), round(float(lat), PLACE_DECIMALS)


def planner_visit(visit: dict[str, Any]) -> dict[str, Any]:
    """A visit as a planner sees it: no address or external reference, the place coarse."""
    view = {k: v for k, v in visit.items() if k not in PLANNER_HIDDEN}
    if view.get("lon") is not None and view.get("lat") is not None:
        view["lon"], view["lat"] = coarse_place(view["lon"], view["lat"])
    return view


def planner_geometry(geometry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A round's line with every point snapped to the grid (repeated points merged): its ends
    and turns at patients' doors are no finer than the visits' places."""
    if not geometry or geometry.get("type") != "LineString":
        return geometry
    points: list[list[float]] = []
    for point in geometry.get("coordinates") or []:
        snapped = list(coarse_place(point[0], point[1]))
        if not points or points[-1] != snapped:
            points.append(snapped)
    return {**geometry, "coordinates": points}


def planner_route(route: dict[str, Any]) -> dict[str, Any]:
    """A planned round (``{"team_id", "stops", "geometry", ...}``) as a planner sees it."""
    out = dict(route)
    if "geometry" in out:
        out["geometry"] = planner_geometry(out["geometry"])
    stops = out.get("stops")
    if isinstance(stops, list):
        out["stops"] = [
            planner_visit(s) if isinstance(s, dict) and "lon" in s else s for s in stops
        ]
    return out
