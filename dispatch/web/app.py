"""create_app: binds settings, store, blueprints and Socket.IO handlers into one Flask app."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import sys
from typing import Any

from flask import Flask, jsonify, request
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from dispatch.errors import DispatchError, ValidationError
from dispatch.settings import Settings, load_settings
from dispatch.web.wire import FastPacket, OrjsonCodec

log = logging.getLogger(__name__)

#: Created unbound, bound in create_app (Flask-SocketIO's factory pattern).
socketio = SocketIO()

#: Modules that each expose ``register(app: Flask, socketio: SocketIO) -> None``. Each module
#: owns its blueprint(s) or socket handlers; the factory imports them here, never at top level.
WEB_MODULES: tuple[str, ...] = (
    "dispatch.web.api_auth",
    "dispatch.web.api_teams",
    "dispatch.web.api_visits",
    "dispatch.web.api_positions",
    "dispatch.web.api_admin",
    "dispatch.web.openapi",
    "dispatch.web.live",
    "dispatch.web.sockets",
    "dispatch.web.pages",
    "dispatch.web.api_plans",
    "dispatch.web.api_planning",
    "dispatch.web.api_dispatch",
    "dispatch.web.api_intake",
)


def error_body(message: str, status: int, code: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of every endpoint."""
    body: dict[str, Any] = {"ok": False, "error": message, "status": status, "code": code}
    if details is not None:
        body["details"] = details
    return body


#: Generation-0 threshold of the cyclic garbage collector while serving (default 700). A full
#: collection walks every object the server holds; at 2,000 reports a second the default
#: thresholds made such pauses the tail of the report-to-map latency (gevent server, p99
#: 186-370 ms against 82 ms with these values, `dispatch bench live`).
GC_THRESHOLDS = (50_000, 20, 1000)


def tune_gc() -> None:
    """For a long-running server: freeze what start-up allocated and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def missing_for_gevent() -> list[str]:
    """The modules the gevent server needs that are not installed (extra `production`)."""
    return [m for m in ("gevent", "geventwebsocket") if importlib.util.find_spec(m) is None]


def gevent_patched() -> bool:
    """True in a process gevent patched first (where Socket.IO may run in gevent mode)."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("threading") and monkey.is_module_patched("socket"))


def create_app(settings: Settings | None = None, **extensions: Any) -> Flask:
    """Build the Flask application for ``settings`` (default: :func:`load_settings`).

    ``extensions`` are put in ``app.extensions`` as they are (tests pass a ready store).
    """
    settings = settings or load_settings()
    if settings.server == "gevent" and not gevent_patched():
        raise ValidationError(
            "server 'gevent' runs only in a process gevent patched first: start it with "
            "`dispatch serve --server gevent` (pip install -e '.[production]')"
        )
    app = Flask(__name__, static_folder=None)
    app.config["SECRET_KEY"] = settings.flask_secret()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions["dispatch.settings"] = settings
    app.extensions.update(extensions)

    @app.errorhandler(DispatchError)
    def _dispatch_error(exc: DispatchError):  # type: ignore[no-untyped-def]
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        return jsonify(error_body(message, status, code)), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error_body("internal error: the incident was logged", 500, "internal")), 500

    for module_name in WEB_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(app, socketio)

    message_queue = settings.redis_url or None
    if message_queue and importlib.util.find_spec("redis") is None:
        # Without the client library Flask-SocketIO would only log the failure, and events
        # would silently stay inside each process.
        raise ValidationError(
            f"redis_url is set ({message_queue}) but the redis package is not installed: "
            "pip install 'dispatch[redis]'"
        )
    socketio.init_app(
        app,
        # "gevent" only in a process gevent patched first (`dispatch serve --server gevent`).
        async_mode=settings.server,
        message_queue=message_queue,
        # No cors_allowed_origins: the default accepts only the server's own origin, so a page
        # on another origin cannot open a socket with a coordinator's session cookie.
        json=OrjsonCodec,
        serializer=FastPacket,
    )
    return app


def get_settings() -> Settings:
    """The Settings of the current app (inside a request or app context)."""
    from flask import current_app

    settings: Settings = current_app.extensions["dispatch.settings"]
    return settings
