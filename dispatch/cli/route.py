"""`dispatch route`: the fastest road route between two lon/lat points of a territory."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from dispatch.cli import get_settings


class LonLat(click.ParamType):
    """A ``LON,LAT`` pair in WGS84 degrees (longitude first, as in GeoJSON)."""

    name = "LON,LAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        parts = [p.strip() for p in text.split(",")]
        example = "e.g. 9.4500,42.7000 (longitude first, a comma between, a dot for decimals)"
        if len(parts) != 2:
            self.fail(f"{text!r} is not LON,LAT: write two numbers separated by a comma, {example}")
        try:
            lon, lat = float(parts[0]), float(parts[1])
        except ValueError:
            self.fail(f"{text!r} is not LON,LAT: both parts must be decimal numbers, {example}")
        if not (math.isfinite(lon) and math.isfinite(lat)):
            self.fail(f"{text!r} is not LON,LAT: {example}")
        if not -90 <= lat <= 90:
            swapped = " (did you swap them? longitude comes first)" if -90 <= lon <= 90 else ""
            self.fail(f"latitude {lat} is outside -90..90{swapped}: {example}")
        if not -180 <= lon <= 180:
            self.fail(f"longitude {lon} is outside -180..180: {example}")
        return (lon, lat)


def _duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes = round(rest / 60)
    if minutes == 60:
        hours, minutes = hours + 1, 0
    return f"{hours} h {minutes:02d}" if hours else f"{minutes} min"


_TEXT = {
    "fr": {
        "title": "Itinéraire le plus rapide — {name}",
        "from": "Départ",
        "to": "Arrivée",
        "snapped": "route à {d:.0f} m",
        "time": "Durée",
        "distance": "Distance",
        "points": "Tracé",
        "via": "Par",
        "points_v": "{n} points (--json pour la géométrie GeoJSON)",
    },
    "en": {
        "title": "Fastest route — {name}",
        "from": "From",
        "to": "To",
        "snapped": "road {d:.0f} m away",
        "time": "Time",
        "distance": "Distance",
        "points": "Path",
        "via": "Via",
        "points_v": "{n} points (--json for the GeoJSON geometry)",
    },
}


@click.command()
@click.argument("territory_id", metavar="TERRITORY")
@click.option("--from", "origin", required=True, type=LonLat(), help="Start point LON,LAT.")
@click.option("--to", "destination", required=True, type=LonLat(), help="End point LON,LAT.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with a GeoJSON LineString).")
@click.option(
    "--max-snap-m",
    type=click.FloatRange(min=1),
    default=None,
    help="Refuse points farther than this from a road (default 1500 m).",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "ch", "scipy"]),
    default="auto",
    show_default=True,
    help="Shortest-path engine.",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None, help="Language of the text.")
@click.pass_context
def route(
    ctx: click.Context,
    territory_id: str,
    origin: tuple[float, float],
    destination: tuple[float, float],
    as_json: bool,
    max_snap_m: float | None,
    engine: str,
    lang: str | None,
) -> None:
    """Itinéraire le plus rapide entre deux points (travel time, distance, GeoJSON line).

    Points are LON,LAT in WGS84 degrees; each is moved onto the nearest road of the territory
    (built first with `dispatch territory build`).

    Example: dispatch route haute-corse --from 9.4500,42.7000 --to 9.1500,42.3000 --json
    """
    from dispatch.routing import Router
    from dispatch.territory import load_territory

    settings = get_settings(ctx)
    territory = load_territory(territory_id, settings)
    router = Router.for_territory(territory, engine=engine)
    result = router.route_lonlat(origin, destination, max_distance_m=max_snap_m)
    via = _main_roads(router.graph, result.arcs)
    if as_json:
        body = {
            "territory": territory.id,
            "engine": router.engine_name,
            **result.to_dict(),
            "via": via,
        }
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    text = _TEXT[lang or settings.locale]
    click.echo(text["title"].format(name=territory.name))
    for key, given, snap in (
        ("from", origin, result.source_snap),
        ("to", destination, result.target_snap),
    ):
        assert snap is not None
        click.echo(
            f"  {text[key]:<9}: {given[0]:.5f},{given[1]:.5f}  "
            f"({text['snapped'].format(d=snap.distance_m)})"
        )
    click.echo(
        f"  {text['time']:<9}: {_duration(result.travel_time_s)}  ({result.travel_time_s} s)"
    )
    click.echo(
        f"  {text['distance']:<9}: {result.distance_m / 1000:.1f} km  ({result.distance_m} m)"
    )
    if via:
        click.echo(f"  {text['via']:<9}: {', '.join(via)}")
    click.echo(f"  {text['points']:<9}: {text['points_v'].format(n=len(result.coordinates))}")


def _main_roads(graph: Any, arcs: tuple[int, ...], n: int = 4) -> list[str]:
    """Names of the roads carrying most of the route's length, in driving order."""
    import numpy as np

    if not arcs or not graph.names:
        return []
    idx = np.asarray(arcs)
    names = graph.arc_name[idx]
    lengths = graph.arc_length_m[idx].astype(float)
    named = names >= 0
    if not named.any():
        return []
    totals = np.bincount(names[named], weights=lengths[named])
    top = set(np.argsort(totals)[::-1][:n].tolist()) & set(np.flatnonzero(totals > 0).tolist())
    order: list[str] = []
    for code in names[named].tolist():
        if code in top and graph.names[code] not in order:
            order.append(graph.names[code])
    return order
