"""REST endpoints for positions: idempotent batch ingest (acknowledged once committed), reads."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, request
from flask.typing import ResponseReturnValue

from dispatch.errors import PermissionDeniedError, ValidationError
from dispatch.store.models import shown
from dispatch.store.positions import MAX_BATCH
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.live_scope import scoped_team, team_scope
from dispatch.web.openapi import PAGE_PARAMS, operation, query_param
from dispatch.web.rest import (
    arg_float,
    arg_int,
    json_body,
    ok,
    page_args,
    paged,
    publish,
    whole_number,
)

bp = Blueprint("api_positions", __name__)

#: Unix seconds of a fix: in seconds, or in milliseconds (read as such above 1e11).
_SECONDS = {"type": "number", "minimum": 946684800, "maximum": 4102444800}
_MILLISECONDS = {"type": "number", "minimum": 946684800000, "maximum": 4102444800000}

FIX = {
    "type": "object",
    "required": ["lon", "lat", "device_time_s"],
    "properties": {
        "client_id": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": 100,
            "description": "unique per fix (a UUID): what makes retries idempotent. Optional "
            "in this REST model (the server generates none); a fix sent without one is stored "
            "again each time its batch is replayed. The phone page always sends one.",
        },
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "device_time_s": {
            "anyOf": [_SECONDS, _MILLISECONDS],
            "description": "Unix time of the fix, in seconds or milliseconds, 2000 to 2100 (ISO "
            "8601 text also accepted). Older than the setting position_max_age_s (7 days by "
            "default) or more than 5 minutes ahead: refused in 'rejected'.",
        },
        "accuracy_m": {"type": ["number", "null"], "minimum": 0, "maximum": 1e6},
        "speed_mps": {"type": ["number", "null"], "minimum": 0, "maximum": 500},
        "heading_deg": {"type": ["number", "null"], "minimum": 0, "maximum": 360},
        "battery_pct": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
    },
    "additionalProperties": False,
}

OPENAPI_PATHS = {
    "/api/positions": {
        "post": operation(
            "Send a batch of positions of one team",
            roles=("team_member", "coordinator", "admin"),
            tags=["positions"],
            description=f"At most {MAX_BATCH} fixes. The answer comes after the batch is "
            "committed; fixes whose client_id is already stored are counted as duplicates "
            "(send the same batch again safely: only fixes WITH a client_id are deduplicated). "
            "A fix dated more than 5 minutes after the server clock, or older than the "
            "setting position_max_age_s (7 days by default), is not stored: it is listed in "
            "'rejected' with its index, client_id and the reason, the rest of the batch is "
            "stored (do not send a rejected fix again). A phone's team comes from its token; "
            "a coordinator names the team_id.",
            body={
                "type": "object",
                "required": ["positions"],
                "properties": {
                    "team_id": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
                    "positions": {"type": "array", "items": FIX, "maxItems": MAX_BATCH},
                },
                "additionalProperties": False,
            },
            response={
                "type": "object",
                "required": ["ok", "accepted", "stored", "duplicates"],
                "properties": {
                    "ok": {"const": True},
                    "accepted": {"type": "integer"},
                    "stored": {"type": "integer"},
                    "duplicates": {"type": "integer"},
                    "server_time_s": {"type": "number"},
                    "rejected": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "index": {"type": "integer"},
                                "client_id": {"type": ["string", "null"]},
                                "error": {"type": "string"},
                            },
                        },
                    },
                },
            },
        ),
        "get": operation(
            "Track history: positions ordered by device time (the caller's structures' teams "
            "only: a team of another structure has no fix, as one that does not exist)",
            roles=("coordinator", "admin"),
            tags=["positions"],
            params=[
                *PAGE_PARAMS,
                query_param("team_id", {"type": "integer", "minimum": 1, "maximum": 2**53}),
                query_param("since_s", {"type": "number"}),
                query_param("until_s", {"type": "number"}),
            ],
            paged=True,
        ),
    },
    "/api/positions/latest": {
        "get": operation(
            "The latest position of each team (a team member: their own team only)",
            roles=("coordinator", "team_member", "admin"),
            tags=["positions"],
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "positions": {"type": "array"}},
            },
        )
    },
}


@bp.post("/api/positions")
@require("team_member", "coordinator")
def ingest() -> ResponseReturnValue:
    principal = current_principal()
    data = json_body()
    unknown = set(data) - {"team_id", "positions"}
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(shown(n) for n in sorted(unknown)[:5])}"
            f"{'' if len(unknown) <= 5 else f' and {len(unknown) - 5} more'};"
            " send {team_id?, positions: [...]}"
        )
    fixes = data.get("positions")
    if not isinstance(fixes, list):
        raise ValidationError("positions must be a list of {client_id, lon, lat, device_time_s}")
    # JSON Schema's integer includes 626.0: a whole float is that id.
    sent = data.get("team_id")
    team_id: Any = whole_number(sent)  # a team member: their team (None if they have none)
    if principal.role == "team_member":
        if sent is not None and team_id != principal.team_id:
            raise PermissionDeniedError("a phone sends positions of its own team only")
        team_id = principal.team_id
    elif team_id is None or not 0 < team_id < 2**53:
        raise ValidationError("team_id is required (the team whose positions these are)")
    else:  # a team of another structure does not exist for this caller
        scoped_team(team_id, team_scope(principal))
    result = get_store().insert_positions(
        team_id,
        fixes,
        device_id=principal.id if principal.kind == "device" else None,
        source="api",
    )
    if result["stored"]:
        publish("positions", {"team_id": team_id, "positions": result["stored"]})
    return ok(
        accepted=result["accepted"],
        stored=len(result["stored"]),
        duplicates=result["duplicates"],
        rejected=result["rejected"],
        server_time_s=time.time(),
    )


@bp.get("/api/positions")
@require("coordinator")
def history() -> ResponseReturnValue:
    # The document gives each filter as one number: an argument sent twice (only the first
    # would be read) or empty is refused rather than read as "not given".
    for name in ("team_id", "since_s", "until_s"):
        values = request.args.getlist(name)
        if len(values) > 1:
            raise ValidationError(
                f"query argument {name} is given {len(values)} times: give it once"
            )
        if values == [""]:
            raise ValidationError(f"query argument {name} is empty: give a number or leave it out")
    limit, offset = page_args()
    # A team of another structure is filtered like a team that does not exist: no fix.
    page = get_store().list_positions(
        team_id=arg_int("team_id", lo=1),
        since_s=arg_float("since_s"),
        until_s=arg_float("until_s"),
        limit=limit,
        offset=offset,
        structures=team_scope(),
    )
    return paged(page)


@bp.get("/api/positions/latest")
@require("coordinator", "team_member")
def latest() -> ResponseReturnValue:
    principal = current_principal()
    team_ids = None
    structures = None
    if principal.role == "team_member":
        team_ids = [principal.team_id] if principal.team_id is not None else []
    else:
        structures = team_scope(principal)
    return ok(positions=get_store().latest_positions(team_ids=team_ids, structures=structures))


def register(app: Flask, socketio: Any) -> None:
    """Add the routes; the store refuses fixes older than the setting ``position_max_age_s``
    (on every ingest path: this REST batch, the socket and /osmand)."""
    settings = app.extensions["dispatch.settings"]
    get_store(app).position_max_age_s = float(settings.position_max_age_s)
    app.register_blueprint(bp)
