"""REST endpoints for teams and for pairing a phone to a team (code, link and QR code)."""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from flask import Blueprint, Flask, Response, request
from flask.typing import ResponseReturnValue

from dispatch.errors import NotFoundError, ValidationError
from dispatch.store.accounts import normalise_pairing_code
from dispatch.store.models import TEAM_KINDS, VEHICLE_PROFILES, format_hhmm, shown
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import (
    BOOL_QUERY,
    NOT_BLANK,
    PAGE_PARAMS,
    SKILLS_SCHEMA,
    TIME_SCHEMA,
    operation,
    path_param,
    query_param,
    ws_pattern,
)
from dispatch.web.rest import arg_bool, json_body, ok, page_args, paged, publish, service_area
from dispatch.web.scope import TARGET_STRUCTURE_SCHEMA, target_structure, visible_structures

bp = Blueprint("api_teams", __name__)

#: Page of the phone app that finishes pairing (served by the live layer's pages module).
#: The pairing link opens this page, which sends the phone on to /phone/ with the code.
PAIR_PAGE_PATH = "/pair"

_TIME = TIME_SCHEMA
TEAM_INPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": NOT_BLANK},
        "kind": {"enum": list(TEAM_KINDS)},
        "skills": SKILLS_SCHEMA,
        "base_name": {"type": ["string", "null"], "maxLength": 200},
        "base_lon": {"type": "number", "minimum": -180, "maximum": 180},
        "base_lat": {"type": "number", "minimum": -90, "maximum": 90},
        "shift_start": _TIME,
        "shift_end": _TIME,
        "vehicle_profile": {"enum": list(VEHICLE_PROFILES)},
        "color": {
            "type": ["string", "null"],
            "pattern": ws_pattern("^\\s*(#[0-9a-fA-F]{6})?\\s*$"),
            "maxLength": 7,
            "description": "#rrggbb; empty or null: a colour no active team has",
        },
        "active": {"type": "boolean"},
    },
    "additionalProperties": False,
}
TEAM_OUTPUT = {
    "type": "object",
    "required": ["ok", "team"],
    "properties": {"ok": {"const": True}, "team": {"type": "object"}},
}

OPENAPI_PATHS = {
    "/api/teams": {
        "get": operation(
            "List teams",
            tags=["teams"],
            params=[*PAGE_PARAMS, query_param("active", BOOL_QUERY)],
            paged=True,
        ),
        "post": operation(
            "Create a team",
            roles=("coordinator", "admin"),
            tags=["teams"],
            body={
                **TEAM_INPUT,
                "properties": {
                    **TEAM_INPUT["properties"],  # type: ignore[dict-item]
                    "structure_id": TARGET_STRUCTURE_SCHEMA,
                },
                "required": ["name", "base_lon", "base_lat"],
            },
            status=201,
            response=TEAM_OUTPUT,
        ),
    },
    "/api/teams/{team_id}": {
        "get": operation(
            "One team", tags=["teams"], params=[path_param("team_id")], response=TEAM_OUTPUT
        ),
        "patch": operation(
            "Change a team",
            roles=("coordinator", "admin"),
            tags=["teams"],
            params=[path_param("team_id")],
            body=TEAM_INPUT,
            response=TEAM_OUTPUT,
        ),
    },
    "/api/teams/{team_id}/pairing": {
        "post": operation(
            "Create a one-time pairing code and link for a phone of the team",
            roles=("coordinator", "admin"),
            tags=["devices"],
            params=[path_param("team_id")],
            status=201,
            response={
                "type": "object",
                "properties": {
                    "ok": {"const": True},
                    "code": {"type": "string"},
                    "link": {"type": "string"},
                    "qr_svg_url": {"type": "string"},
                    "expires_at_s": {"type": "number"},
                },
            },
        )
    },
    "/api/pairing/qr": {
        "get": operation(
            "QR code (SVG, or PNG with format=png) of a pairing link",
            roles=("coordinator", "admin"),
            tags=["devices"],
            params=[
                {
                    "name": "code",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 20},
                },
                query_param("format", {"enum": ["svg", "png"]}),
            ],
            response={"type": "string"},
            response_content_types=("image/svg+xml", "image/png"),
        )
    },
}


def structure_field(data: dict[str, Any], principal: Any = None) -> int:
    """The structure a new record goes into: the body's ``structure_id`` (taken out of
    ``data``; one of the caller's) or, absent or null, the caller's only one
    (:data:`~dispatch.web.scope.TARGET_STRUCTURE_SCHEMA`)."""
    value = data.pop("structure_id", None)
    if value is None:
        return target_structure(None, principal)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer: 2.0 is one
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"structure_id {shown(value)} is not a structure id: give one of yours, or leave it out"
        )
    return target_structure(value, principal)


def _team_view(team: dict[str, Any]) -> dict[str, Any]:
    return {
        **team,
        "shift_start": format_hhmm(team["shift_start_s"]),
        "shift_end": format_hhmm(team["shift_end_s"]),
    }


@bp.get("/api/teams")
@require()
def list_teams() -> ResponseReturnValue:
    """Teams are visible to every signed-in role (names and bases are not patient data)."""
    limit, offset = page_args()
    active = arg_bool("active") if request.args.get("active") else None
    page = get_store().list_teams(
        active=active, limit=limit, offset=offset, structures=visible_structures()
    )
    return paged(page, items=[_team_view(t) for t in page])


@bp.post("/api/teams")
@require("coordinator")
def create_team() -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    data = dict(json_body())
    structure_id = structure_field(data, principal)
    team = store.add_team(data, area=service_area(), structure_id=structure_id)
    store.audit(
        principal.actor,
        "team.create",
        role=principal.role,
        target=f"team:{team['id']}",
        ip=client_ip(),
    )
    publish("team", team)
    return ok(201, team=_team_view(team))


@bp.get("/api/teams/<int:team_id>")
@require()
def get_team(team_id: int) -> ResponseReturnValue:
    return ok(team=_team_view(get_store().get_team(team_id, structures=visible_structures())))


@bp.patch("/api/teams/<int:team_id>")
@require("coordinator")
def update_team(team_id: int) -> ResponseReturnValue:
    store = get_store()
    data = json_body()
    team = store.update_team(team_id, data, area=service_area(), structures=visible_structures())
    principal = current_principal()
    store.audit(
        principal.actor,
        "team.update",
        role=principal.role,
        target=f"team:{team_id}",
        ip=client_ip(),
        detail={"fields": sorted(data)},
    )
    publish("team", team)
    return ok(team=_team_view(team))


def pairing_link(code: str) -> str:
    """The absolute link a phone opens to pair (from the request's host)."""
    return f"{request.host_url.rstrip('/')}{PAIR_PAGE_PATH}?code={code}"


@bp.post("/api/teams/<int:team_id>/pairing")
@require("coordinator")
def create_pairing(team_id: int) -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    store.get_team(team_id, structures=visible_structures(principal))
    pairing = store.create_pairing(
        team_id, created_by=principal.id if principal.kind == "user" else None
    )
    store.audit(
        principal.actor,
        "device.pairing.create",
        role=principal.role,
        target=f"team:{team_id}",
        ip=client_ip(),
    )
    code = pairing["code"]
    return ok(
        201,
        code=code,
        team_id=team_id,
        link=pairing_link(code),
        qr_svg_url=f"/api/pairing/qr?code={code}",
        expires_at_s=pairing["expires_at_s"],
    )


def qr_image(text: str, *, fmt: str = "svg") -> bytes:
    """A QR code of ``text`` as SVG or PNG bytes."""
    if fmt == "png":
        img = qrcode.make(text, box_size=8, border=2)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return img.to_string(encoding="unicode").encode()  # type: ignore[no-any-return]


@bp.get("/api/pairing/qr")
@require("coordinator")
def pairing_qr() -> ResponseReturnValue:
    code = request.args.get("code", "")
    fmt = request.args.get("format", "svg")
    if fmt not in ("svg", "png"):
        raise ValidationError(f"format={shown(fmt)}: use svg or png")
    if not code or len(code) > 20:
        raise ValidationError("code is required: the pairing code, e.g. K7QD-3MZP")
    store = get_store()
    team_id = store.pairing_team(code)
    if team_id is None or not _visible_team(store, team_id):
        raise NotFoundError(
            f"pairing code {shown(code)} is unknown, expired or used: create a new one"
        )
    norm = normalise_pairing_code(code)
    link = pairing_link(f"{norm[:4]}-{norm[4:]}")
    mimetype = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(
        qr_image(link, fmt=fmt), mimetype=mimetype, headers={"Cache-Control": "no-store"}
    )


def _visible_team(store: Any, team_id: int) -> bool:
    """True when the caller may see team ``team_id`` (one of their structures')."""
    try:
        store.get_team(team_id, structures=visible_structures())
    except NotFoundError:
        return False
    return True


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
