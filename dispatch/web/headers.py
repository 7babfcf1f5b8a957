"""Security headers on every response, the session cookie's Secure flag, no server version.

- ``Content-Security-Policy``: scripts, styles, images, fonts and connections from this
  origin only (MapLibre's workers from ``blob:``, Socket.IO over ``ws:``/``wss:``), no inline
  script, no framing; the OpenStreetMap tile server only when the setting ``online_tiles``
  offers its layer. No inline style either: no ``<style>`` element and no ``style``
  attribute in HTML text (the pages' modules load their ``.css`` files with ``<link>`` and
  set colours through CSSOM, ``element.style.x = ...``, which the policy allows, as MapLibre
  does); style sheets from elsewhere are refused.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` (browsers without ``frame-ancestors``).
- ``Cache-Control: no-store`` on every answer of ``/api/`` and ``/socket.io/`` (they carry
  patient data) unless the endpoint already forbids storing.
- The session cookie is ``Secure`` when the request came over HTTPS (directly, or through a
  trusted proxy's ``X-Forwarded-Proto``) or when the setting ``cookie_secure`` says so.
- No ``Server`` header: :class:`QuietRequestHandler` for Werkzeug's server (gevent's pywsgi
  sends none).

The headers are added by a WSGI middleware around the whole application (Socket.IO's
polling answers included), installed by :func:`wrap` once Socket.IO is bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.serving import WSGIRequestHandler

from dispatch.settings import Settings

#: The tile server of the online layer (static/map/map.js and planner.js).
ONLINE_TILES_ORIGIN = "https://tile.openstreetmap.org"

#: Paths whose answers carry patient data or credentials.
NO_STORE_PREFIXES = ("/api/", "/socket.io/")


def content_security_policy(settings: Settings) -> str:
    """The policy of every page for ``settings``."""
    tiles = f" {ONLINE_TILES_ORIGIN}" if settings.online_tiles else ""
    directives = (
        "default-src 'self'",
        "script-src 'self'",
        # MapLibre starts its workers from a blob: URL of its bundled worker code.
        "worker-src 'self' blob:",
        "child-src 'self' blob:",
        f"img-src 'self' data: blob:{tiles}",
        "style-src 'self'",
        "font-src 'self'",
        # Socket.IO (WebSocket, then long-polling), MapLibre's tile and glyph requests.
        f"connect-src 'self' ws: wss:{tiles}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
    return "; ".join(directives)


def security_headers(settings: Settings) -> list[tuple[str, str]]:
    """The headers every response carries."""
    return [
        ("Content-Security-Policy", content_security_policy(settings)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]


StartResponse = Callable[..., Any]


class SecurityHeaders:
    """WSGI middleware: adds each of :func:`security_headers` that the response does not set
    itself (an endpoint may send a stricter policy, e.g. the planning report's; it gets
    ``frame-ancestors 'none'`` if it lacks it), and ``Cache-Control: no-store`` on
    :data:`NO_STORE_PREFIXES`."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], settings: Settings) -> None:
        self.wsgi_app = wsgi_app
        self.headers = security_headers(settings)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        no_store = str(environ.get("PATH_INFO", "")).startswith(NO_STORE_PREFIXES)

        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [
                (k, v + "; frame-ancestors 'none'")
                if k.lower() == "content-security-policy" and "frame-ancestors" not in v
                else (k, v)
                for k, v in headers
            ]
            present = {k.lower() for k, _ in kept}
            if no_store:
                cache = [v for k, v in kept if k.lower() == "cache-control"]
                if not any("no-store" in v for v in cache):
                    kept = [(k, v) for k, v in kept if k.lower() != "cache-control"]
                    kept.append(("Cache-Control", "no-store"))
            kept.extend((k, v) for k, v in self.headers if k.lower() not in present)
            # Keep the middleware out of the traceback when the app passes exc_info.
            if exc_info is None:
                return start_response(status, kept)
            return start_response(status, kept, exc_info)

        return self.wsgi_app(environ, _start)


def request_is_https() -> bool:
    """True when the current request came over HTTPS: directly, or through a trusted proxy
    (setting ``trusted_proxies``) that says so in ``X-Forwarded-Proto``."""
    if request.is_secure:
        return True
    from flask import current_app

    from dispatch.web.client import _address, _networks, _trusted

    settings = current_app.extensions.get("dispatch.settings")
    trusted = _networks(tuple(getattr(settings, "trusted_proxies", ()) or ()))
    peer = _address(request.remote_addr or "")
    if not trusted or peer is None or not _trusted(peer, trusted):
        return False
    # The proxy nearest to this server appended the last value.
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` on HTTPS requests or when configured."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        try:
            return request_is_https()
        except RuntimeError:  # outside a request
            return False


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler without the ``Server`` header (its version and Python's)."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "server":
            return
        super().send_header(keyword, value)


def wrap(app: Flask) -> None:
    """Put :class:`SecurityHeaders` around ``app``'s WSGI stack (Socket.IO included): call it
    after Socket.IO is bound to the app."""
    settings: Settings = app.extensions["dispatch.settings"]
    app.wsgi_app = SecurityHeaders(app.wsgi_app, settings)  # type: ignore[method-assign]


def register(app: Flask, socketio: Any) -> None:
    """The session cookie's Secure flag (the headers come with :func:`wrap`)."""
    settings: Settings = app.extensions["dispatch.settings"]
    app.config["SESSION_COOKIE_SECURE"] = bool(getattr(settings, "cookie_secure", False))
    app.session_interface = SessionInterface()
