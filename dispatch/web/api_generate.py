"""POST /api/visits/generate: generate the visits of the caller's care plans over the coming days."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app
from flask.typing import ResponseReturnValue

from dispatch.care.service import MAX_GENERATION_DAYS, generate_visits
from dispatch.errors import ValidationError
from dispatch.settings import Settings
from dispatch.store.models import parse_day, shown
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.openapi import DAY_SCHEMA, operation
from dispatch.web.rest import get_bus, json_body, ok, whole_number
from dispatch.web.scope import target_structure, visible_structures

bp = Blueprint("api_generate", __name__)

_FIELDS = ("from", "days", "structure_id")
GENERATE_INPUT = {
    "type": "object",
    "required": ["from"],
    "properties": {
        "from": DAY_SCHEMA,
        "days": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_GENERATION_DAYS,
            "description": "days ahead (default: the setting generation_horizon_days, 14)",
        },
        "structure_id": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": 2**53,
            "description": "one of the caller's structures (null or absent: all of them)",
        },
    },
    "additionalProperties": False,
}
_COUNT = {"type": "integer", "minimum": 0}
GENERATE_OUTPUT = {
    "type": "object",
    "required": [
        "ok",
        "from",
        "days",
        "created",
        "updated",
        "unchanged",
        "cancelled",
        "kept",
        "suspended",
        "duration_s",
    ],
    "properties": {
        "ok": {"const": True},
        "from": {"type": "string", "format": "date"},
        "days": {"type": "integer"},
        "created": _COUNT,
        "updated": _COUNT,
        "unchanged": {**_COUNT, "description": "visits left as they were (kept included)"},
        "cancelled": _COUNT,
        "kept": {**_COUNT, "description": "visits edited by hand that now differ from their plan"},
        "suspended": {**_COUNT, "description": "visits not created: the patient is away"},
        "duration_s": {"type": "number"},
    },
    "additionalProperties": False,
}

OPENAPI_PATHS = {
    "/api/visits/generate": {
        "post": operation(
            "Generate the visits of the care plans over the coming days",
            roles=("coordinator",),
            tags=["visits"],
            body=GENERATE_INPUT,
            response=GENERATE_OUTPUT,
            description=(
                "Creates the visits the care plans of the caller's structures give over `days`"
                " days from `from`, updates those of changed plans and cancels those of"
                " suspensions. Running it again creates nothing new; visits edited by hand are"
                " kept; nothing before now changes. The server also does it every day."
            ),
        )
    }
}


@bp.post("/api/visits/generate")
@require("coordinator", admin=False)
def generate() -> ResponseReturnValue:
    from dispatch.web.live import get_clock

    body = json_body()
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise ValidationError(
            f"unknown field {shown(unknown[0])}: send from, days and optionally structure_id"
        )
    if body.get("from") is None:
        raise ValidationError('give "from", the first day (YYYY-MM-DD)')
    from_day = parse_day(body["from"], what="from")
    settings: Settings = current_app.extensions["dispatch.settings"]
    days: Any = body.get("days", settings.generation_horizon_days)
    if "days" in body:
        days = whole_number(body["days"])
        if days is None:
            raise ValidationError(
                f"days {shown(body['days'])}: give a whole number of days, 1 to {MAX_GENERATION_DAYS}"
            )
    if body.get("structure_id") is not None:
        structures: tuple[int, ...] = (target_structure(body["structure_id"]),)
    else:
        structures = visible_structures()
    principal = current_principal()
    clock = get_clock()
    result = generate_visits(
        get_store(),
        get_bus(),
        from_day=from_day,
        days=days,
        structures=structures,
        now_s=clock.local().timestamp(),
        tz=clock.tz.key,
        actor=principal.actor,
    )
    return ok(**result.to_dict())


def register(app: Flask, socketio: Any) -> None:
    """Add the route."""
    app.register_blueprint(bp)
