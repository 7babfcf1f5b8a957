"""REST edge of a team's day: trail, km driven and visit times, as JSON, GPX or GeoJSON."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from flask.typing import ResponseReturnValue

from dispatch.live.history import DayFrame, TeamDay, export_name, team_day, to_geojson, to_gpx
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.live import get_clock, get_hub
from dispatch.web.live_scope import scoped_team, team_scope
from dispatch.web.openapi import DAY_SCHEMA, operation, path_param, query_param, ws_pattern
from dispatch.web.rest import arg_day

bp = Blueprint("api_history", __name__)

#: Most fixes read for one team's day (one a second for 14 hours).
MAX_DAY_FIXES = 50_000
#: Where a team went is personal data of its members: never kept by a browser or proxy cache.
NO_STORE = "no-store, private"

_PARAMS = [
    path_param("team_id"),
    query_param(
        "day",
        {
            "anyOf": [
                {
                    **DAY_SCHEMA,
                    "pattern": ws_pattern(
                        "^\\s*(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}\\s*$"
                    ),
                },
                {"type": "string", "maxLength": 0},
            ]
        },
        "the day (YYYY-MM-DD from 1970 on, default today in the territory)",
    ),
]
_ROLES = ("coordinator",)
_WHY = (
    "Days run from local midnight to midnight in the territory's time zone. Flagged fixes "
    "(inaccurate, jumps, duplicates, stationary jitter) are neither drawn nor counted in the "
    "distance. Visits carry their pseudonym only. Every read is written to the audit log. A "
    "team of a structure the caller does not belong to is not found (404)."
)
OPENAPI_PATHS = {
    "/api/teams/{team_id}/day": {
        "get": operation(
            "A team's day: drawn trail with times, km driven, visits with planned arrival, "
            "check-in and check-out times",
            roles=_ROLES,
            tags=["history"],
            params=_PARAMS,
            description=_WHY,
            response={
                "type": "object",
                "required": ["ok", "team_id", "day", "trail", "distance_m", "visits"],
                "properties": {
                    "ok": {"const": True},
                    "team_id": {"type": "integer"},
                    "day": DAY_SCHEMA,
                    "timezone": {"type": "string"},
                    "start_s": {"type": "number"},
                    "end_s": {"type": "number"},
                    "distance_m": {"type": "number"},
                    "trail": {
                        "type": "array",
                        "description": "[lon, lat, Unix time, seconds since local midnight]",
                    },
                    "visits": {"type": "array"},
                },
            },
        )
    },
    "/api/teams/{team_id}/day.gpx": {
        "get": operation(
            "A team's day as a GPX 1.1 file (track of the drawn fixes, one waypoint per visit)",
            roles=_ROLES,
            tags=["history"],
            params=_PARAMS,
            description=_WHY,
            response={"type": "string"},
            response_content_types=("application/gpx+xml",),
        )
    },
    "/api/teams/{team_id}/day.geojson": {
        "get": operation(
            "A team's day as GeoJSON (LineString with coordTimes, one Point per visit)",
            roles=_ROLES,
            tags=["history"],
            params=_PARAMS,
            description=_WHY,
            response={"type": "object"},
            response_content_types=("application/geo+json",),
        )
    },
}


def load_team_day(team_id: int, day: str | None) -> TeamDay:
    """Read a team's day from the store (the team must exist and belong to one of the caller's
    structures) and put it together."""
    store = get_store()
    team = scoped_team(team_id, team_scope())
    clock = get_clock()
    frame = DayFrame(day or clock.today(), timezone=clock.tz.key, offset_s=clock.offset_s)
    start_s, end_s = frame.bounds()
    fixes = get_hub().track(team_id, since_s=start_s, until_s=end_s, newest=MAX_DAY_FIXES)
    visits = list(store.list_visits(day=frame.day, team_id=team_id, limit=1000))
    events = {
        int(v["id"]): [
            e
            for e in store.list_visit_events(int(v["id"]), limit=1000)
            if e.get("team_id") in (team_id, None)
        ]
        for v in visits
    }
    plan = store.published_plan(frame.day, team_id=team_id)
    stops = [s for r in (plan or {}).get("routes", []) for s in r["stops"]]
    return team_day(team, frame, fixes=fixes, visits=visits, events=events, stops=stops)


def _audit(day: TeamDay, fmt: str) -> None:
    principal = current_principal()
    get_store().audit(
        principal.actor,
        "team.day.read",
        role=principal.role,
        target=f"team:{day.team_id}",
        ip=client_ip(),
        detail={"day": day.frame.day, "format": fmt, "via": principal.via},
    )


def _download(body: str, *, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": NO_STORE,
            "X-Content-Type-Options": "nosniff",
        },
    )


# Coordinators only: admins manage accounts, planners see no team's movements.
@bp.get("/api/teams/<int:team_id>/day")
@require(*_ROLES, admin=False)
def team_day_json(team_id: int) -> ResponseReturnValue:
    day = load_team_day(team_id, arg_day())
    _audit(day, "json")
    response = jsonify({"ok": True, **day.to_dict()})
    response.headers["Cache-Control"] = NO_STORE
    return response


@bp.get("/api/teams/<int:team_id>/day.gpx")
@require(*_ROLES, admin=False)
def team_day_gpx(team_id: int) -> ResponseReturnValue:
    day = load_team_day(team_id, arg_day())
    _audit(day, "gpx")
    return _download(to_gpx(day), mimetype="application/gpx+xml", filename=export_name(day, "gpx"))


@bp.get("/api/teams/<int:team_id>/day.geojson")
@require(*_ROLES, admin=False)
def team_day_geojson(team_id: int) -> ResponseReturnValue:
    day = load_team_day(team_id, arg_day())
    _audit(day, "geojson")
    return _download(
        json.dumps(to_geojson(day), ensure_ascii=False),
        mimetype="application/geo+json",
        filename=export_name(day, "geojson"),
    )


def register(app: Flask, socketio: Any) -> None:
    """Add the routes (the live module, registered before, provides the hub and the clock)."""
    get_store(app)
    app.register_blueprint(bp)
