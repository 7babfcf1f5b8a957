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


PAGE_PARAMS = [
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (100)"),
    query_param("offset", {"type": "integer", "minimum": 0}, "rows to skip"),
]
DAY_SCHEMA = {"type": "string", "format": "date", "example": "2026-11-23"}


def operation(
    summary: str,
    *,
    roles: tuple[str, ...] | None = (),
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    body_content_type: str = "application/json",
    response: dict[str, Any] | None = None,
    paged: bool = False,
    status: int = 200,
    tags: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """One OpenAPI operation.

    ``roles`` None means public (no security); an empty tuple means any authenticated caller.
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
            "content": {"application/json": {"schema": ok_schema}},
        },
        "default": {"description": "Error", "content": {"application/json": {"schema": ERROR_REF}}},
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
