"""The OpenAPI 3.1 document of the REST API, served at /api/openapi.json.

How modules describe their routes: each web module listed in ``WEB_MODULES`` may define a
module-level ``OPENAPI_PATHS`` dict (OpenAPI ``paths`` fragment: ``{"/api/x/{id}": {"get":
{...}}}``); this module merges all of them when the document is requested. Paths use OpenAPI
templates (``{team_id}``) for Flask's ``<int:team_id>``. Helpers below build operations:
``operation(summary, roles=..., params=[...], body=schema, response=schema)``,
``path_param(name)``, ``query_param(name, schema)``. A test checks that every ``/api`` route
of the app is described.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

ERROR_REF = {"$ref": "#/components/schemas/Error"}

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["ok", "error", "status", "code"],
            "properties": {
                "ok": {"const": False},
                "error": {"type": "string", "description": "What is wrong and how to fix it."},
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "details": {},
            },
        },
        "Page": {
            "type": "object",
            "required": ["ok", "items", "total", "limit", "offset", "next"],
            "properties": {
                "ok": {"const": True},
                "items": {"type": "array"},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "next": {"type": ["string", "null"]},
            },
        },
        "Ok": {
            "type": "object",
            "required": ["ok"],
            "properties": {"ok": {"const": True}},
        },
    },
    "securitySchemes": {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "User token (`dispatch user token NAME`) or device token (pairing).",
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "Browser session from POST /api/session; unsafe requests also need "
            "the X-CSRF-Token header.",
        },
    },
}

SECURED: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]


def path_param(name: str, description: str = "") -> dict[str, Any]:
    """An integer path parameter (ids)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description or name.replace("_", " "),
        "schema": {"type": "integer", "minimum": 1},
    }


def query_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description or name.replace("_", " "),
    }


#: An empty query argument means its default (``?limit=`` is ``?limit=100``).
_EMPTY = {"type": "string", "maxLength": 0}
PAGE_PARAMS = [
    query_param(
        "limit",
        {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 1000}, _EMPTY]},
        "page size (100)",
    ),
    query_param(
        "offset",
        {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**53}, _EMPTY]},
        "rows to skip",
    ),
]
#: What Python's str.strip() removes (the endpoints strip input): a pattern's \s and \S mean
#: these, whatever regex engine reads the document (ECMA's \s lacks \x1c-\x1f and \x85).
_WS_CHARS = (
    "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)


def ws_pattern(pattern: str) -> str:
    """``pattern`` with ``\\s`` and ``\\S`` spelt as the characters str.strip() removes."""
    return (
        pattern.replace("[;,\\s]", f"[;,{_WS_CHARS}]")
        .replace("\\s", f"[{_WS_CHARS}]")
        .replace("\\S", f"[^{_WS_CHARS}]")
    )


#: Text that is not blank once stripped.
NOT_BLANK = ws_pattern("\\S")
DAY_SCHEMA = {
    "type": "string",
    "format": "date",
    "pattern": ws_pattern("^\\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\\s*$"),
    "example": "2026-11-23",
}
#: A day in a query string, where an empty value means the argument's default.
DAY_QUERY = {"anyOf": [DAY_SCHEMA, {"type": "string", "maxLength": 0}]}
#: A yes/no query argument: true/false (also 1/0, yes/no, oui/non); empty means the default.
BOOL_QUERY = {
    "anyOf": [
        {"type": "boolean"},
        {"enum": ["", "1", "0", "true", "false", "yes", "no", "oui", "non"]},
    ]
}
#: An id in a query string (empty: not given).
ID_QUERY = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": 2**53},
        {"type": "string", "maxLength": 0},
    ]
}
#: A time of day: "HH:MM" (or "HH:MM:SS") from 00:00 to 24:00, or seconds since midnight.
_HHMM = "([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?|24:00(:00)?"
TIME_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": ws_pattern(f"^\\s*({_HHMM})\\s*$"), "example": "08:00"},
        {"type": "integer", "minimum": 0, "maximum": 86400},
    ]
}
#: Time windows: 1 to 8 [start, end] pairs, or one text "08:00-10:00;14:00-16:00".
#: Each must end after it starts and none overlap (400 otherwise).
WINDOWS_SCHEMA = {
    "anyOf": [
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 8,
            "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": TIME_SCHEMA},
        },
        {
            "type": "string",
            "pattern": ws_pattern(
                f"^[;,\\s]*\\s*({_HHMM})\\s*-\\s*({_HHMM})\\s*"
                f"([;,][;,\\s]*\\s*({_HHMM})\\s*-\\s*({_HHMM})\\s*){{0,7}}[;,\\s]*$"
            ),
        },
    ],
    "example": [["08:00", "10:00"]],
}
#: A skill name (case and spaces around it do not matter).
SKILL_PATTERN = ws_pattern("^\\s*[A-Za-z0-9][A-Za-z0-9_-]{0,39}\\s*$")
#: Skills: a list of names, one text of names separated by commas, or null (none).
SKILLS_SCHEMA = {
    "anyOf": [
        {"type": "array", "items": {"type": "string", "pattern": SKILL_PATTERN}},
        {
            "type": "string",
            "pattern": ws_pattern("^[;,\\s]*([A-Za-z0-9][A-Za-z0-9_-]{0,39}([;,\\s]+|$))*$"),
        },
        {"type": "null"},
    ],
    "example": ["insulin"],
}


def operation(
    summary: str,
    *,
    roles: tuple[str, ...] | None = (),
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    body_content_type: str = "application/json",
    response: dict[str, Any] | None = None,
    response_content_types: tuple[str, ...] = ("application/json",),
    paged: bool = False,
    status: int = 200,
    replay_status: int | None = None,
    tags: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """One OpenAPI operation.

    ``roles`` None means public (no security); an empty tuple means any authenticated caller.
    ``response_content_types``: media types of the success answer (a file: GPX, SVG...).
    ``replay_status``: the status of an idempotent request sent again (same body as
    ``status``).
    """
    op: dict[str, Any] = {"summary": summary}
    if tags:
        op["tags"] = tags
    text = description
    if roles:
        text = (text + "\n\n" if text else "") + f"Roles: {', '.join(roles)}."
    if text:
        op["description"] = text
    if roles is None:
        op["security"] = []
    else:
        op["security"] = SECURED
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {body_content_type: {"schema": body}}}
    ok_schema = (
        {"$ref": "#/components/schemas/Page"}
        if paged
        else (response or {"$ref": "#/components/schemas/Ok"})
    )
    op["responses"] = {
        str(status): {
            "description": "Success",
            "content": {media: {"schema": ok_schema} for media in response_content_types},
        },
        "default": {"description": "Error", "content": {"application/json": {"schema": ERROR_REF}}},
    }
    if replay_status is not None:
        op["responses"][str(replay_status)] = {
            **op["responses"][str(status)],
            "description": "Already recorded (the same request sent again)",
        }
    return op


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document: the ``OPENAPI_PATHS`` of every loaded web module, merged."""
    from dispatch.web.app import WEB_MODULES

    paths: dict[str, Any] = {}
    for name in WEB_MODULES:
        module = sys.modules.get(name)
        if module is None and importlib.util.find_spec(name) is not None:
            continue  # not registered in this app
        fragment = getattr(module, "OPENAPI_PATHS", None) or {}
        for path, ops in fragment.items():
            paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dispatch",
            "version": "1",
            "description": "Géolocalisation et répartition des équipes mobiles de soins. "
            "Every error has the body {ok: false, error, status, code}; lists take "
            "?limit=&offset= and answer {items, total, limit, offset, next}.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


OPENAPI_PATHS = {
    "/api/openapi.json": {
        "get": operation("This OpenAPI document", roles=None, response={"type": "object"})
    }
}


def register(app: Flask, socketio: Any) -> None:
    """Serve the document at /api/openapi.json (public: it holds no data)."""

    def openapi_json() -> ResponseReturnValue:
        return jsonify(build_document(app))

    app.add_url_rule("/api/openapi.json", "openapi_json", openapi_json, methods=["GET"])
