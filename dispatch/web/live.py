"""Live REST edge: page config, resync snapshot, OsmAnd (Traccar Client) ingest, base-map tiles
and the map labels' glyphs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, request, send_file
from flask.typing import ResponseReturnValue

from dispatch.clock import ServiceClock
from dispatch.errors import (
    AuthenticationError,
    DispatchError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)
from dispatch.limits import RateLimiter
from dispatch.live.basemap import ensure_basemap, glyph_range
from dispatch.live.hub import LiveHub
from dispatch.live.osmand import parse_osmand, parse_osmand_json
from dispatch.live.quality import Fix
from dispatch.rounds import ETAS, PLAN_CHANGE
from dispatch.settings import PROJECT_ROOT, Settings
from dispatch.store.accounts import DEVICE_TOKEN_PREFIX, USER_TOKEN_PREFIX
from dispatch.store.arrivals import automatic_arrival, undo_automatic_arrival
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.client import client_address
from dispatch.web.live_scope import scoped_team, scoped_visit, team_scope
from dispatch.web.openapi import operation, path_param, query_param
from dispatch.web.rest import arg_float, ok, publish, subscribe

log = logging.getLogger(__name__)

HUB_KEY = "dispatch.live"
TERRITORY_KEY = "dispatch.live.territory"
CLOCK_KEY = "dispatch.clock"
STATIC_MAP = PROJECT_ROOT / "static" / "map"
#: Longest trail a snapshot returns (seconds of history per team).
MAX_TRAIL_S = 24 * 3600
#: /osmand requests a minute from one client address (bursts included). Generous: phones
#: behind one carrier-grade NAT share an address.
OSMAND_PER_ADDRESS_PER_MIN = 600
#: /osmand requests a minute naming one device (Traccar Client sends a fix every few seconds;
#: a replay after a time offline is slowed down, not lost: the client sends it again).
OSMAND_PER_DEVICE_PER_MIN = 120
#: Unknown identifiers (or tokens) an address may send in a minute before all of its /osmand
#: requests are refused for a while: guessing identifiers is throttled.
OSMAND_UNKNOWN_PER_MIN = 20
LIMITS_KEY = "dispatch.osmand.limits"

bp = Blueprint("live", __name__)
_territory_lock = threading.Lock()

SNAPSHOT = {
    "type": "object",
    "required": ["ok", "server_time", "teams", "positions", "visits", "plans", "alerts"],
    "properties": {
        "ok": {"const": True},
        "server_time": {"type": "number"},
        "day": {"type": "string", "format": "date"},
        "stale_s": {"type": "number"},
        "teams": {"type": "array"},
        "positions": {
            "type": "array",
            "description": "newest drawn fix of each team, with "
            "presence (live, unknown, never) and age_s",
        },
        "trails": {"type": "object", "description": "team id -> [[lon, lat, t], ...]"},
        "visits": {"type": "array"},
        "plans": {"type": "array", "description": "per team: stops and the round's line"},
        "alerts": {
            "type": "array",
            "description": "alerts that need action (late, at risk, "
            "position unknown, dropped, missed), acknowledged ones with who and when",
        },
        "journal": {
            "type": "array",
            "description": "routine events: arrivals, check-ins, check-outs",
        },
        "plan_id": {
            "type": ["integer", "null"],
            "description": "version of today's published plan",
        },
        "time_s": {"type": "integer", "description": "seconds since midnight on the rounds' clock"},
    },
}

OPENAPI_PATHS = {
    "/api/live/config": {
        "get": operation(
            "What the map and phone pages need: territory, base map, stale limit, caller",
            roles=(),
            tags=["live"],
            response={"type": "object", "required": ["ok", "territory", "stale_s", "principal"]},
        )
    },
    "/api/live/snapshot": {
        "get": operation(
            "Everything the live map shows now (resync after a reconnection)",
            roles=(),
            tags=["live"],
            params=[
                query_param(
                    "trail_s",
                    {"type": "number", "minimum": 0, "maximum": MAX_TRAIL_S},
                    "seconds of trail per team (default 7200)",
                )
            ],
            response=SNAPSHOT,
            description="Coordinators see the teams, visits, rounds and alerts of their own "
            "structures; planners the same without addresses; admins every structure's teams, "
            "positions and alerts (no visit, no round); a team member or paired phone only its "
            "own team's round (no other team).",
        )
    },
    "/api/visits/{visit_id}/arrival": {
        "get": operation(
            "The visit's arrival detected automatically by the geofence, if any: from which "
            "fix (traccar: Traccar Client; phone: the phone page) and whether it can be undone",
            roles=("coordinator",),
            tags=["live"],
            params=[path_param("visit_id")],
            description="A visit of a structure the caller does not belong to is not found (404).",
            response={
                "type": "object",
                "required": ["ok", "arrival"],
                "properties": {
                    "ok": {"const": True},
                    "arrival": {
                        "type": ["object", "null"],
                        "properties": {
                            "event_id": {"type": "integer"},
                            "at_s": {"type": "number"},
                            "team_id": {"type": ["integer", "null"]},
                            "source": {"enum": ["traccar", "phone", "unknown"]},
                            "automatic": {"const": True},
                            "undoable": {"type": "boolean"},
                        },
                    },
                },
            },
        )
    },
    "/api/visits/{visit_id}/arrival/undo": {
        "post": operation(
            "Undo an arrival the geofence detected automatically (a team passing by the home)",
            roles=("coordinator",),
            tags=["live"],
            params=[path_param("visit_id")],
            description="The visit goes back to the status it had before the arrival; the "
            "arrival becomes a note of the geofence in the visit's record (the same arrival is "
            "not detected again: the team checks in from its phone); the undo is audited "
            "(visit.arrival.undone). 404 when the visit has no automatic arrival, 409 when the "
            "team checked in (or out, or marked it missed) since. Coordinators only.",
            response={
                "type": "object",
                "required": ["ok", "event", "visit"],
                "properties": {
                    "ok": {"const": True},
                    "event": {"type": "object"},
                    "visit": {"type": "object"},
                },
            },
        )
    },
    "/api/live/track/{team_id}": {
        "get": operation(
            "A team's raw fixes with their quality flags (inaccurate, jump, duplicate, "
            "stationary) and whether the map draws them",
            roles=("coordinator", "admin"),
            tags=["live"],
            params=[
                path_param("team_id"),
                query_param(
                    "since_s", {"type": "number"}, "from this Unix time (default: 24 h ago)"
                ),
                query_param("until_s", {"type": "number"}, "until this Unix time"),
            ],
            description="A team of a structure the caller does not belong to is not found "
            "(404); admins see every structure's teams.",
            response={"type": "object", "required": ["ok", "team_id", "points"]},
        )
    },
}


# -- territory and hub -------------------------------------------------------------------------
def get_territory(app: Flask | None = None) -> Any | None:
    """The served territory (loaded once), or None when it is not built."""
    app = app or current_app
    if TERRITORY_KEY in app.extensions:
        return app.extensions[TERRITORY_KEY]
    settings: Settings = app.extensions["dispatch.settings"]
    with _territory_lock:
        if TERRITORY_KEY not in app.extensions:
            try:
                from dispatch.territory import load_territory

                app.extensions[TERRITORY_KEY] = load_territory(settings.territory, settings)
            except (DispatchError, FileNotFoundError, ImportError) as exc:
                log.warning(
                    "territory %s not available for the live map: %s", settings.territory, exc
                )
                return None
    return app.extensions[TERRITORY_KEY]


def _route_geometry(app: Flask):  # type: ignore[no-untyped-def]
    def draw(points: list[tuple[float, float]]) -> dict[str, Any] | None:
        territory = get_territory(app)
        if territory is None:
            return None
        from dispatch.routing import Router

        router = Router.for_territory(territory)
        coords: list[list[float]] = []
        for a, b in zip(points, points[1:], strict=False):
            route = router.route_lonlat(a, b)
            part = [list(map(float, c)) for c in route.coordinates]
            coords.extend(part[1:] if coords else part)
        return {"type": "LineString", "coordinates": coords} if len(coords) > 1 else None

    return draw


def get_clock(app: Flask | None = None) -> ServiceClock:
    """The app's clock of the rounds (today and the time of day; see ``clock_start``)."""
    app = app or current_app
    clock = app.extensions.get(CLOCK_KEY)
    if clock is None:
        settings: Settings = app.extensions["dispatch.settings"]
        clock = app.extensions.setdefault(
            CLOCK_KEY, ServiceClock(timezone=_timezone(app), start=settings.clock_start)
        )
    return clock


def get_hub(app: Flask | None = None) -> LiveHub:
    """The app's live hub (started on first use)."""
    app = app or current_app
    hub: LiveHub = app.extensions[HUB_KEY]
    hub.ensure_started()
    return hub


def _timezone(app: Flask) -> str:
    settings: Settings = app.extensions["dispatch.settings"]
    try:
        from dispatch.territory import load_definition

        definition = load_definition(settings.territory, settings)
        return str(definition.extra.get("timezone") or "Europe/Paris")
    except Exception:
        return "Europe/Paris"


# -- views ---------------------------------------------------------------------------------------
def _extensions() -> list[str]:
    return [f"/static/map/{p.name}" for p in sorted(STATIC_MAP.glob("dispatch-*.js"))]


@bp.get("/api/live/config")
@require()
def config() -> ResponseReturnValue:
    """Territory, base map URL, stale limit and the caller (French first)."""
    settings: Settings = current_app.extensions["dispatch.settings"]
    principal = current_principal()
    territory = get_territory()
    territory_body: dict[str, Any] = {
        "id": settings.territory,
        "name": settings.territory,
        "bbox": None,
    }
    basemap_url = None
    if territory is not None:
        bbox = territory.info.get("bbox") if isinstance(territory.info, dict) else None
        territory_body = {
            "id": territory.id,
            "name": territory.name,
            "bbox": list(bbox) if bbox else list(territory.graph.bbox()),
        }
        basemap_url = f"/tiles/{territory.id}.pmtiles"
    body = principal.to_dict()
    if principal.kind == "device" and principal.id is not None:
        body["traccar_id"] = get_store().get_device(principal.id).get("traccar_id")
    if principal.team_id is not None:
        try:
            body["team_name"] = get_store().get_team(principal.team_id)["name"]
        except DispatchError:
            body["team_name"] = None
    return ok(
        server_time=time.time(),
        day=get_clock().today(),
        time_s=get_clock().seconds_of_day(),
        territory=territory_body,
        basemap_url=basemap_url,
        online_tiles=settings.online_tiles,
        stale_s=settings.position_stale_s,
        locale=settings.locale,
        principal=body,
        extensions=_extensions() if principal.role != "team_member" else [],
    )


@bp.get("/api/live/snapshot")
@require()
def snapshot() -> ResponseReturnValue:
    """The live picture for this caller (a team sees only its own round)."""
    principal = current_principal()
    trail_s = arg_float("trail_s")
    if trail_s is None:
        trail_s = 7200.0
    elif not 0 <= trail_s <= MAX_TRAIL_S:
        raise ValidationError(
            f"query argument trail_s={trail_s:g} is not between 0 and {MAX_TRAIL_S}"
            " (seconds of trail per team)"
        )
    if principal.role == "team_member" and principal.team_id is None:
        raise PermissionDeniedError("this account belongs to no team: ask a coordinator")
    body = get_hub().snapshot(
        role=principal.role,
        team_id=principal.team_id,
        trail_s=trail_s,
        structures=team_scope(principal),
    )
    return ok(**body)


@bp.get("/api/live/track/<int:team_id>")
@require("coordinator")
def track(team_id: int) -> ResponseReturnValue:
    """Raw fixes of one team, each flagged by the quality filter (all are kept); a team of
    another structure is not found."""
    scoped_team(team_id, team_scope())
    since_s = arg_float("since_s")
    points = get_hub().track(
        team_id,
        since_s=time.time() - 86_400 if since_s is None else since_s,
        until_s=arg_float("until_s"),
    )
    return ok(team_id=team_id, points=points)


@bp.get("/api/visits/<int:visit_id>/arrival")
@require("coordinator", admin=False)
def arrival(visit_id: int) -> ResponseReturnValue:
    """The visit's arrival recorded by the geofence (marked with the fix's source), or null."""
    scoped_visit(visit_id, team_scope())
    return ok(arrival=automatic_arrival(get_store(), visit_id))


@bp.post("/api/visits/<int:visit_id>/arrival/undo")
@require("coordinator", admin=False)
def undo_arrival(visit_id: int) -> ResponseReturnValue:
    """A coordinator undoes an arrival detected automatically (audited); the maps and the
    team's phones get the visit's status back."""
    principal = current_principal()
    scoped_visit(visit_id, team_scope(principal))
    event, visit = undo_automatic_arrival(
        get_store(), visit_id, actor=principal.actor, role=principal.role, ip=client_address()
    )
    publish("visit", visit)
    return ok(event=event, visit=visit)


@bp.route("/osmand", methods=["GET", "POST"])
def osmand() -> ResponseReturnValue:
    """Traccar Client (OsmAnd protocol): ``id`` is the device's Traccar identifier.

    That identifier (shown by ``dispatch device pair --traccar``, ``dispatch device list``, the
    pairing response and the phone page's settings) only lets its holder post positions of the
    device's team. Device tokens are refused here: they are full bearers and must not travel in
    URLs (proxy and server logs keep query strings).

    A JSON body's ``location`` may be a list (the client's batch after a time offline): every
    fix is stored, each once. A fix dated too far back (setting ``position_max_age_s``) or
    ahead is not stored but answered 200 with ``rejected`` (the client would resend it
    forever). Requests are limited per client address, per device and on unknown identifiers
    (see :class:`OsmandLimits`): 429 with Retry-After.
    """
    limits: OsmandLimits = current_app.extensions[LIMITS_KEY]
    address = client_address()
    limits.admit(address)
    now = time.time()
    body = _json_or_none()
    if isinstance(body, dict) and "location" in body:
        report = parse_osmand_json(body, now=now)
    else:
        params = request.values.to_dict()
        report = parse_osmand(params, now=now)
    if report.device_id.startswith((DEVICE_TOKEN_PREFIX, USER_TOKEN_PREFIX)):
        limits.unknown(address)
        raise AuthenticationError(
            "a token was sent as the Traccar device identifier: tokens must not travel in URLs."
            " Set 'Device identifier' to the phone's Traccar identifier (phone page settings, or"
            " `dispatch device list`); the token is now in your logs: revoke the device"
        )
    device = get_store().device_for_traccar_id(report.device_id)
    if device is None:
        limits.unknown(address)
        raise AuthenticationError(
            "unknown device identifier: in Traccar Client set 'Device identifier' to the phone's"
            " Traccar identifier (phone page settings, `dispatch device list`, or"
            " `dispatch device pair TEAM --traccar`)"
        )
    limits.device(int(device["id"]))
    result = get_hub().ingest(
        int(device["team_id"]),
        [_osmand_fix(int(device["id"]), fix) for fix in report.fixes],
        device_id=int(device["id"]),
        source="osmand",
    )
    # A refused fix (dated too far back or ahead) still answers 200, listed in "rejected":
    # Traccar Client resends a fix until it gets a 200, ahead of every newer one.
    return ok(
        stored=result["stored"],
        duplicates=result["duplicates"],
        rejected=result.get("rejected", []),
    )


class OsmandLimits:
    """The rate limits of /osmand: per client address, per device, and on unknown identifiers
    per address (each raises RateLimitedError, answered 429 with Retry-After)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_address = RateLimiter(OSMAND_PER_ADDRESS_PER_MIN, 60.0, clock=clock)
        self.per_device = RateLimiter(OSMAND_PER_DEVICE_PER_MIN, 60.0, clock=clock)
        self.unknown_ids = RateLimiter(OSMAND_UNKNOWN_PER_MIN, 60.0, clock=clock)

    def admit(self, address: str) -> None:
        """Before anything is read: the address's request budget, then whether it has guessed
        too many identifiers lately. The second is checked for every request, valid identifier
        or not: a 429 for unknown identifiers only would tell a guesser which one is right."""
        decision = self.per_address.hit(address)
        if not decision.allowed:
            raise RateLimitedError(
                f"too many /osmand requests from this address: retry in"
                f" {decision.retry_after_header} s (Traccar Client: a frequency of a few"
                " seconds is enough)",
                retry_after_s=decision.retry_after_s,
            )
        decision = self.unknown_ids.check(address)
        if not decision.allowed:
            raise RateLimitedError(
                f"too many unknown device identifiers from this address: retry in"
                f" {decision.retry_after_header} s, with the phone's Traccar identifier (phone"
                " page settings, or `dispatch device list`)",
                retry_after_s=decision.retry_after_s,
            )

    def unknown(self, address: str) -> None:
        """Count an unknown identifier (or a token) sent from ``address``."""
        self.unknown_ids.hit(address)

    def device(self, device_id: int) -> None:
        """The device's own budget, wherever its requests come from."""
        decision = self.per_device.hit(device_id)
        if not decision.allowed:
            raise RateLimitedError(
                f"too many /osmand requests for this device: retry in"
                f" {decision.retry_after_header} s (set Traccar Client's frequency to a few"
                " seconds or more)",
                retry_after_s=decision.retry_after_s,
            )


def _json_or_none() -> Any:
    """The request's JSON body, or None when it has none (query or form parameters)."""
    if not request.is_json:
        return None
    try:
        return request.get_json(silent=True)
    except RecursionError:  # a body nested thousands of levels deep
        raise ValidationError(
            "the JSON body is nested too deeply: send plain objects and lists"
        ) from None


def _osmand_fix(device_id: int, fix: Fix) -> dict[str, Any]:
    """A fix of the OsmAnd protocol as the store takes it. Its client_id (device and time to
    the millisecond) makes a resent request, or one fix of a resent batch, stored once."""
    return {
        "client_id": f"osmand:{device_id}:{int(round(fix.recorded_at * 1000))}",
        "lon": fix.lon,
        "lat": fix.lat,
        "device_time_s": fix.recorded_at,
        "accuracy_m": fix.accuracy_m,
        "speed_mps": None if fix.speed_mps is None else min(fix.speed_mps, 500.0),
        "heading_deg": None if fix.heading_deg is None else fix.heading_deg % 360,
        "battery_pct": None if fix.battery_pct is None else max(0.0, min(fix.battery_pct, 100.0)),
    }


@bp.get("/tiles/<territory_id>.pmtiles")
def tiles(territory_id: str) -> ResponseReturnValue:
    """The self-hosted base map (HTTP range requests, as the PMTiles protocol needs)."""
    territory = get_territory()
    if territory is None or territory.id != territory_id:
        abort(404)
    settings: Settings = current_app.extensions["dispatch.settings"]
    path: Path = ensure_basemap(territory, settings.cache)
    response = send_file(path, mimetype="application/vnd.pmtiles", conditional=True, max_age=3600)
    response.headers["Accept-Ranges"] = "bytes"
    return response


#: The glyphs are committed files: a day of browser caching is safe.
GLYPHS_MAX_AGE_S = 24 * 3600


@bp.get("/glyphs/<fontstack>/<int:start>-<int:end>.pbf")
def glyphs(fontstack: str, start: int, end: int) -> ResponseReturnValue:
    """SDF glyphs of the map labels (MapLibre's ``glyphs`` URL), self-hosted.

    A range the fonts do not cover answers an empty range, so that a rare character is left out
    of a label instead of failing the whole tile.
    """
    response = current_app.response_class(
        glyph_range(fontstack, start, end), mimetype="application/x-protobuf"
    )
    response.headers["Cache-Control"] = f"public, max-age={GLYPHS_MAX_AGE_S}"
    return response


def register(app: Flask, socketio: Any) -> None:
    """Create the hub (emitting through ``socketio``), the routes and the store listeners."""
    settings: Settings = app.extensions["dispatch.settings"]
    store = get_store(app)

    def emit(event: str, payload: dict[str, Any], room: str) -> None:
        socketio.emit(event, payload, to=room)

    hub = LiveHub(
        store,
        emit,
        stale_s=settings.position_stale_s,
        max_accuracy_m=settings.position_max_accuracy_m,
        timezone=_timezone(app),
        route_geometry=_route_geometry(app),
        service_clock=get_clock(app),
    )
    app.extensions[HUB_KEY] = hub
    app.extensions[LIMITS_KEY] = OsmandLimits()

    def on_positions(payload: dict[str, Any]) -> None:
        get_hub(app).on_stored(payload["team_id"], payload["positions"])

    subscribe(app, "positions", on_positions)
    subscribe(app, "visit_event", lambda p: get_hub(app).on_visit_event(p))
    subscribe(app, "visit", lambda v: get_hub(app).on_visit(v))
    subscribe(app, "team", lambda t: get_hub(app).on_team(t))
    subscribe(app, PLAN_CHANGE, lambda c: get_hub(app).on_plan_change(c))
    subscribe(app, ETAS, lambda e: get_hub(app).on_etas(e))
    app.register_blueprint(bp)
