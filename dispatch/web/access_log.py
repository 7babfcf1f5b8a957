"""Access logs without secrets: request lines are redacted before any server writes them.

A request line can carry credentials and personal data: ``GET /osmand?id=<Traccar device
identifier>``, ``/pair?code=<pairing code>``, Socket.IO's ``sid``, a search for a patient's name.
Only the values of a few harmless query parameters are kept (:data:`KEPT_QUERY_VALUES`); every
other value becomes ``[redacted]``, and so does any path segment that looks like a token or an
identifier (long runs of letters and digits, or 8 digits or more).

Werkzeug (the threading server) and gevent-websocket log through :mod:`logging`: a filter
rewrites their records. gevent's pywsgi writes its own access lines (``dispatch serve --debug``
under gevent): :func:`patch_pywsgi` makes it format them redacted.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

#: Query parameters whose values are kept in access logs: nothing secret or personal.
KEPT_QUERY_VALUES = frozenset(
    {
        "EIO",
        "transport",
        "t",
        "day",
        "date",
        "format",
        "lang",
        "limit",
        "offset",
        "page",
        "active",
        "scenario",
        "bands",
        "file",
        "since",
        "until",
        "kind",
        "status",
        "role",
    }
)

REDACTED = "[redacted]"

#: A query string: from "?" to the HTTP version, a quote or the end (Werkzeug logs the query
#: decoded, so a value may hold spaces).
_QUERY = re.compile(r"\?([^\s\"']*(?:\s+(?!HTTP/)[^\s\"']+)*)")
#: A path segment that looks like a token, a code or a device identifier.
_TOKEN_SEGMENT = re.compile(
    r"(?<=/)(?:(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}|[0-9]{8,}|"
    r"[A-Z0-9]{4}-[A-Z0-9]{4})(?=[/?\s\"']|$)"
)


def _redact_query(match: re.Match[str]) -> str:
    parts = []
    for pair in match.group(1).split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and name not in KEPT_QUERY_VALUES:
            value = REDACTED
        parts.append(f"{name}{sep}{value}")
    return "?" + "&".join(parts)


def redact(text: str) -> str:
    """``text`` (a request line, a URL, a log message) with secret values replaced."""
    if "?" in text:
        text = _QUERY.sub(_redact_query, text)
    return _TOKEN_SEGMENT.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message through :func:`redact` (the record is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


#: Loggers that write request lines: Werkzeug's server, gevent-websocket's handler.
ACCESS_LOGGERS = ("werkzeug", "geventwebsocket.handler")

_FILTER = RedactingFilter()


def install() -> None:
    """Put the filter on :data:`ACCESS_LOGGERS` (once per process)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    if "gevent.monkey" in sys.modules:  # a gevent server process (never import it otherwise)
        patch_pywsgi()


def patch_pywsgi() -> None:
    """Make gevent's pywsgi format its access lines redacted."""
    try:
        from gevent import pywsgi
    except ImportError:
        return
    handler: Any = pywsgi.WSGIHandler
    if getattr(handler.format_request, "redacted", False):
        return
    original = handler.format_request

    def format_request(self: Any) -> str:
        return redact(original(self))

    format_request.redacted = True  # type: ignore[attr-defined]
    handler.format_request = format_request


def register(app: Any, socketio: Any) -> None:
    """Redact the access logs of whichever server runs this app."""
    install()
