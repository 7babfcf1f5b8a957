"""REST endpoints for administrators: users, API tokens, paired devices and the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue

from dispatch.errors import PermissionDeniedError, ValidationError
from dispatch.store.models import ROLES
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import PAGE_PARAMS, operation, path_param, query_param
from dispatch.web.rest import arg_int, json_body, ok, page_args, paged, publish

#: Fields PATCH /api/users/{id} may change.
USER_FIELDS = {"role", "team_id", "display_name", "active", "password"}

bp = Blueprint("api_admin", __name__)

USER_INPUT = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"},
        "role": {"enum": list(ROLES)},
        "team_id": {"type": ["integer", "null"], "minimum": 1},
        "display_name": {"type": "string", "minLength": 1, "maxLength": 80},
        "password": {"type": "string", "minLength": 10, "maxLength": 1024},
        "active": {"type": "boolean"},
    },
    "additionalProperties": False,
}
USER_OUTPUT = {"type": "object", "properties": {"ok": {"const": True}, "user": {"type": "object"}}}
_ADMIN = ("admin",)

OPENAPI_PATHS = {
    "/api/users": {
        "get": operation(
            "List users", roles=_ADMIN, tags=["admin"], params=PAGE_PARAMS, paged=True
        ),
        "post": operation(
            "Create a user",
            roles=_ADMIN,
            tags=["admin"],
            body={**USER_INPUT, "required": ["username", "role"]},
            status=201,
            response=USER_OUTPUT,
        ),
    },
    "/api/users/{user_id}": {
        "get": operation(
            "One user",
            roles=_ADMIN,
            tags=["admin"],
            params=[path_param("user_id")],
            response=USER_OUTPUT,
        ),
        "patch": operation(
            "Change a user (role, team, password, active)",
            roles=_ADMIN,
            tags=["admin"],
            params=[path_param("user_id")],
            body={k: v for k, v in USER_INPUT.items()}
            | {
                "properties": {
                    k: v
                    for k, v in USER_INPUT["properties"].items()  # type: ignore[attr-defined]
                    if k != "username"
                }
            },
            response=USER_OUTPUT,
        ),
    },
    "/api/users/{user_id}/tokens": {
        "get": operation(
            "API tokens of a user (no secrets)",
            roles=_ADMIN,
            tags=["admin"],
            params=[path_param("user_id")],
        ),
        "post": operation(
            "Create an API token for your own account (shown once)",
            roles=_ADMIN,
            tags=["admin"],
            description="user_id must be the calling administrator: tokens for other users are "
            "created on the server with `dispatch user token NAME`.",
            params=[path_param("user_id")],
            body={
                "type": "object",
                "properties": {"label": {"type": "string", "maxLength": 80}},
                "additionalProperties": False,
            },
            status=201,
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "token": {"type": "string"}},
            },
        ),
    },
    "/api/tokens/{token_id}": {
        "delete": operation(
            "Revoke an API token", roles=_ADMIN, tags=["admin"], params=[path_param("token_id")]
        )
    },
    "/api/devices": {
        "get": operation(
            "Paired devices",
            roles=("coordinator", "admin"),
            tags=["devices"],
            params=[*PAGE_PARAMS, query_param("team_id", {"type": "integer", "minimum": 1})],
            paged=True,
        )
    },
    "/api/devices/{device_id}": {
        "delete": operation(
            "Revoke a device (lost or replaced phone)",
            roles=("coordinator", "admin"),
            tags=["devices"],
            params=[path_param("device_id")],
        )
    },
    "/api/audit": {
        "get": operation(
            "The audit log, newest first",
            roles=_ADMIN,
            tags=["admin"],
            params=[
                *PAGE_PARAMS,
                query_param("target", {"type": "string", "maxLength": 100}),
                query_param("actor", {"type": "string", "maxLength": 100}),
            ],
            paged=True,
        )
    },
}


def _audit(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    principal = current_principal()
    get_store().audit(
        principal.actor, action, role=principal.role, target=target, ip=client_ip(), detail=detail
    )


@bp.get("/api/users")
@require("admin")
def list_users() -> ResponseReturnValue:
    limit, offset = page_args()
    return paged(get_store().list_users(limit=limit, offset=offset))


@bp.post("/api/users")
@require("admin")
def create_user() -> ResponseReturnValue:
    data = json_body()
    unknown = set(data) - {"username", "role", "team_id", "display_name", "password", "active"}
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(sorted(unknown))}")
    if "active" in data:
        raise ValidationError("a new user is active: set active later with PATCH")
    user = get_store().add_user(
        data.get("username"),  # type: ignore[arg-type]
        role=data.get("role"),  # type: ignore[arg-type]
        team_id=data.get("team_id"),
        password=data.get("password"),
        display_name=data.get("display_name"),
    )
    _audit("user.create", f"user:{user['id']}", {"role": user["role"]})
    return ok(201, user=user)


@bp.get("/api/users/<int:user_id>")
@require("admin")
def get_user(user_id: int) -> ResponseReturnValue:
    return ok(user=get_store().get_user(user_id))


@bp.patch("/api/users/<int:user_id>")
@require("admin")
def update_user(user_id: int) -> ResponseReturnValue:
    data = json_body()
    unknown = set(data) - USER_FIELDS
    if unknown:
        raise ValidationError(
            f"user: unknown field(s) {', '.join(sorted(map(repr, unknown)))}; "
            f"known: {', '.join(sorted(USER_FIELDS))}"
        )
    user = get_store().update_user(user_id, **data)
    _audit("user.update", f"user:{user_id}", {"fields": sorted(data)})
    publish("user_changed", user)  # live sockets of this user: re-checked, moved or ended
    return ok(user=user)


@bp.get("/api/users/<int:user_id>/tokens")
@require("admin")
def list_tokens(user_id: int) -> ResponseReturnValue:
    store = get_store()
    store.get_user(user_id)
    return ok(tokens=store.list_api_tokens(user_id))


@bp.post("/api/users/<int:user_id>/tokens")
@require("admin")
def create_token(user_id: int) -> ResponseReturnValue:
    """A token for the calling admin only: minting one for someone else would let an admin
    act (and read patient details) as a coordinator without being audited as themselves."""
    principal = current_principal()
    if principal.kind != "user" or principal.id != user_id:
        raise PermissionDeniedError(
            "an administrator creates API tokens for their own account only: the user logs in "
            "and creates theirs, or the server operator runs `dispatch user token NAME`"
        )
    data = json_body()
    label = data.get("label", "api")
    if set(data) - {"label"} or not isinstance(label, str) or len(label) > 80:
        raise ValidationError('send {"label": text of at most 80 characters}')
    token = get_store().create_api_token(user_id, label=label)
    _audit("token.create", f"user:{user_id}", {"label": label})
    return ok(201, token=token)


@bp.delete("/api/tokens/<int:token_id>")
@require("admin")
def revoke_token(token_id: int) -> ResponseReturnValue:
    get_store().revoke_api_token(token_id)
    _audit("token.revoke", f"token:{token_id}")
    publish("token_revoked", {"id": token_id})  # live sockets opened with it are ended
    return ok()


@bp.get("/api/devices")
@require("coordinator")
def list_devices() -> ResponseReturnValue:
    limit, offset = page_args()
    return paged(
        get_store().list_devices(team_id=arg_int("team_id", lo=1), limit=limit, offset=offset)
    )


@bp.delete("/api/devices/<int:device_id>")
@require("coordinator")
def revoke_device(device_id: int) -> ResponseReturnValue:
    device = get_store().revoke_device(device_id)
    _audit("device.revoke", f"device:{device_id}")
    publish("device_revoked", device)
    return ok(device=device)


@bp.get("/api/audit")
@require("admin")
def audit_log() -> ResponseReturnValue:
    from flask import request

    limit, offset = page_args()
    target = request.args.get("target") or None
    actor = request.args.get("actor") or None
    return paged(get_store().list_audit(target=target, actor=actor, limit=limit, offset=offset))


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
