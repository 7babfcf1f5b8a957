"""Alerts REST edge: the alerts that need action and the journal; acknowledging an alert."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue

from dispatch.errors import ValidationError
from dispatch.store.models import shown
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.live import get_hub
from dispatch.web.live_scope import team_scope
from dispatch.web.openapi import operation
from dispatch.web.rest import json_body, ok

bp = Blueprint("api_alerts", __name__)

_ALERT = {
    "type": "object",
    "required": ["key", "kind", "at"],
    "properties": {
        "key": {"type": "string"},
        "kind": {
            "enum": ["late", "at_risk", "unknown", "dropped", "dropped_many", "missed", "absence"]
        },
        "team_id": {"type": ["integer", "null"]},
        "visit_id": {"type": ["integer", "null"]},
        "at": {"type": "number"},
        "acknowledged_by": {"type": "string"},
        "acknowledged_at_s": {"type": "number"},
        "structure_id": {"type": ["integer", "null"]},
    },
}

OPENAPI_PATHS = {
    "/api/alerts": {
        "get": operation(
            "The last day's alerts that need action (with their acknowledgements) and the "
            "journal of routine events (arrivals, visits started and finished), of the "
            "caller's structures (admins: every structure's)",
            roles=("coordinator", "admin"),
            tags=["live"],
            response={
                "type": "object",
                "required": ["ok", "alerts", "journal"],
                "properties": {
                    "ok": {"const": True},
                    "alerts": {"type": "array", "items": _ALERT},
                    "journal": {"type": "array"},
                },
            },
        )
    },
    "/api/alerts/acknowledge": {
        "post": operation(
            "Acknowledge an alert: every coordinator's map shows it acknowledged (who, when)",
            roles=("coordinator", "admin"),
            tags=["live"],
            body={
                "type": "object",
                "required": ["key"],
                "properties": {
                    "key": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 200,
                        "description": "the alert's key",
                    }
                },
                "additionalProperties": False,
            },
            response={
                "type": "object",
                "required": ["ok", "alert"],
                "properties": {"ok": {"const": True}, "alert": _ALERT},
            },
        )
    },
}


@bp.get("/api/alerts")
@require("coordinator")
def list_alerts() -> ResponseReturnValue:
    alerts, journal = get_hub().alert_lists(structures=team_scope())
    return ok(alerts=alerts, journal=journal)


@bp.post("/api/alerts/acknowledge")
@require("coordinator")
def acknowledge() -> ResponseReturnValue:
    body = json_body()
    unknown = set(body) - {"key"}
    if unknown:
        names = ", ".join(shown(name) for name in sorted(unknown)[:5])
        raise ValidationError(f"unknown field(s) {names}; known: key")
    key = body.get("key")
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValidationError("key is required: the alert's key (text of at most 200 characters)")
    principal = current_principal()
    alert = get_hub().acknowledge(
        key, by=principal.name or principal.actor, structures=team_scope(principal)
    )
    return ok(alert=alert)


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
