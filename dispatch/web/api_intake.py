"""REST endpoints of visit intake: address search, CSV preview with review, confirmed import.

Coordinators only: the rows carry patients' details, and administrators manage accounts, not
patients.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.errors import NotBuiltError, ValidationError
from dispatch.intake import confirm_rows, find_duplicates, preview_csv
from dispatch.web.api_teams import structure_field
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import DAY_QUERY, NOT_BLANK, operation, query_param
from dispatch.web.rest import arg_day, arg_int, json_body, ok, publish, service_area
from dispatch.web.scope import visible_structures

bp = Blueprint("api_intake", __name__)

GEOCODER_KEY = "dispatch.intake.geocoder"
_geocoder_lock = threading.Lock()

_MATCH = {
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        "lon": {"type": "number"},
        "lat": {"type": "number"},
        "score": {"type": "number"},
        "precision": {"enum": ["housenumber", "street", "commune", "given"]},
        "commune": {"type": "string", "description": "INSEE code"},
    },
}
_ROW = {
    "type": "object",
    "properties": {
        "line": {"type": "integer"},
        "visit": {"type": "object", "description": "fields as POST /api/visits takes them"},
        "match": {"oneOf": [_MATCH, {"type": "null"}]},
        "error": {"type": ["string", "null"]},
        "warning": {"type": ["string", "null"]},
        "duplicate_of": {"type": ["object", "null"]},
        "importable": {"type": "boolean"},
    },
}
_CSV_HELP = (
    "Columns as POST /api/visits/import; lon and lat may be left out, the address (and "
    "commune) then place the visit with the offline geocoder."
)

OPENAPI_PATHS = {
    "/api/geocode": {
        "get": operation(
            "Places matching an address in the served territory (offline geocoder)",
            roles=("coordinator",),
            tags=["intake"],
            params=[
                {
                    **query_param(
                        "q",
                        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK},
                        "address",
                    ),
                    "required": True,
                },
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": 20}),
            ],
            response={
                "type": "object",
                "required": ["ok", "items"],
                "properties": {"ok": {"const": True}, "items": {"type": "array", "items": _MATCH}},
            },
            description="Precision: housenumber, street (the street's middle) or commune.",
        )
    },
    "/api/visits/import/preview": {
        "post": operation(
            "Check a CSV of visits: each line geocoded, likely duplicates flagged; nothing stored",
            roles=("coordinator",),
            tags=["intake"],
            params=[query_param("day", DAY_QUERY, "day of rows without a day column")],
            body={"type": "string", "minLength": 1},
            body_content_type="text/csv",
            response={
                "type": "object",
                "required": ["ok", "rows"],
                "properties": {"ok": {"const": True}, "rows": {"type": "array", "items": _ROW}},
            },
            description=_CSV_HELP + " Also accepted as a multipart upload named 'file'. A "
            "likely duplicate is on the same day, with an overlapping window, and has the same "
            "pseudonym or lies within 50 m (a stored visit or an earlier line).",
        )
    },
    "/api/visits/import/confirm": {
        "post": operation(
            "Create the reviewed visits in one transaction (all or none; per-row errors in details)",
            roles=("coordinator",),
            tags=["intake"],
            body={
                "type": "object",
                "required": ["rows"],
                "properties": {
                    "rows": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["visit"],
                            "properties": {
                                "line": {"type": "integer"},
                                "visit": {"type": "object"},
                            },
                        },
                    },
                    "structure_id": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 2**53,
                        "description": "structure of the visits (if you work for several)",
                    },
                },
            },
            status=201,
            description="Rows as the preview returned them, coordinates possibly corrected, "
            "rows left out removed. A row without lon/lat is placed from its address; a row "
            "that cannot be placed is an error (nothing is created).",
        )
    },
}


def get_geocoder(app: Flask | None = None) -> Any | None:
    """The geocoder of the served territory (built once), or None when it is not built."""
    app = app or current_app
    if GEOCODER_KEY not in app.extensions:
        from dispatch.web.live import get_territory

        territory = get_territory(app)
        if territory is None:
            return None
        with _geocoder_lock:
            if GEOCODER_KEY not in app.extensions:
                from dispatch.territory import Geocoder

                app.extensions[GEOCODER_KEY] = Geocoder(territory)
    return app.extensions[GEOCODER_KEY]


def _csv_text() -> str:
    upload = request.files.get("file")
    raw = upload.read() if upload is not None else request.get_data()
    if not raw:
        raise ValidationError(
            "send the CSV as the request body (Content-Type: text/csv) or as a 'file' upload"
        )
    # Excel: UTF-8 with a BOM, Windows-1252 (French Windows) or UTF-16 with a BOM.
    encodings = ("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            return str(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise ValidationError("the CSV is neither UTF-8 nor Windows-1252 text: save it as 'CSV UTF-8'")


@bp.get("/api/geocode")
@require("coordinator", admin=False)
def geocode() -> ResponseReturnValue:
    query = (request.args.get("q") or "").strip()
    if not query:
        raise ValidationError("q is empty: type an address, a street or a commune")
    if len(query) > 200:
        raise ValidationError("q is longer than 200 characters: type the address only")
    limit = arg_int("limit", lo=1, hi=20, default=5)
    geocoder = get_geocoder()
    if geocoder is None:
        raise NotBuiltError(
            "the territory is not built, addresses cannot be searched: place the pin on the map"
        )
    return ok(items=[r.to_dict() for r in geocoder.geocode(query, limit=limit or 5)])


@bp.post("/api/visits/import/preview")
@require("coordinator", admin=False)
def import_preview() -> ResponseReturnValue:
    store = get_store()
    default_day = arg_day()
    text = _csv_text()
    mine = visible_structures()
    teams = store.list_teams(limit=1000, structures=mine)
    team_ids = {t["name"]: t["id"] for t in teams}
    geocoder = get_geocoder()
    rows = preview_csv(
        text, default_day=default_day, team_ids=team_ids, geocoder=geocoder, area=service_area()
    )
    days = {str(r.visit["day"]) for r in rows if r.visit.get("day")}
    existing: list[dict[str, Any]] = []
    for day in sorted(days):
        offset: int | None = 0
        while offset is not None:
            page = store.list_visits(day=day, limit=1000, offset=offset, structures=mine)
            existing.extend(page)
            offset = page.next_offset
    if existing:  # flagged again, now against the stored visits too
        find_duplicates(rows, existing)
    return ok(rows=[r.to_dict() for r in rows])


@bp.post("/api/visits/import/confirm")
@require("coordinator", admin=False)
def import_confirm() -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    body = json_body()
    structure_id = structure_field(dict(body), principal)
    visits, labels, errors = confirm_rows(body.get("rows"), geocoder=get_geocoder())
    if errors:
        raise ValidationError(
            f"{len(errors)} row(s) cannot be imported; nothing was imported: place their pins"
            " or leave them out",
            details=errors,
        )
    created = store.add_visits(
        visits, labels=labels, area=service_area(), structure_id=structure_id
    )
    store.audit(
        principal.actor,
        "visit.import",
        role=principal.role,
        ip=client_ip(),
        detail={"rows": len(created), "via": "review"},
    )
    for visit in created:
        publish("visit", visit)
    return ok(201, imported=len(created), ids=[v["id"] for v in created], errors=[])


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
