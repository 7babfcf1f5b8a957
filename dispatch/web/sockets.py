"""Socket.IO edge: authenticated connections, rooms per role and team, position and event intake."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_socketio import SocketIO, join_room

from dispatch.errors import (
    AuthenticationError,
    DispatchError,
    PermissionDeniedError,
    ValidationError,
)
from dispatch.live.hub import rooms_for
from dispatch.web.auth import Principal, current_principal, get_store, principal_from_token
from dispatch.web.live import get_hub
from dispatch.web.rest import subscribe

log = logging.getLogger(__name__)

#: A connected phone's credentials are checked again at most this often (revoked devices).
RECHECK_S = 60.0
#: Most fixes accepted in one ``position`` event (an outbox replay).
MAX_FIXES_PER_EVENT = 500


@dataclass
class Connection:
    """Who is behind one socket."""

    principal: Principal
    token: str | None
    checked_at: float


class Connections:
    """Socket id -> principal, thread-safe (handlers run in their own threads)."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def add(self, sid: str, conn: Connection) -> None:
        with self._lock:
            self._by_sid[sid] = conn

    def get(self, sid: str) -> Connection | None:
        with self._lock:
            return self._by_sid.get(sid)

    def remove(self, sid: str) -> None:
        with self._lock:
            self._by_sid.pop(sid, None)

    def sids_of_device(self, device_id: int) -> list[str]:
        with self._lock:
            return [
                sid
                for sid, c in self._by_sid.items()
                if c.principal.kind == "device" and c.principal.id == device_id
            ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_sid)


def _error(exc: DispatchError) -> dict[str, Any]:
    return exc.to_dict()


CONNECTIONS_KEY = "dispatch.live.connections"


def _connections() -> Connections:
    connections: Connections = current_app.extensions[CONNECTIONS_KEY]
    return connections


def register(app: Flask, socketio: SocketIO) -> None:
    """Attach the connect/position/visit_event handlers to ``socketio``.

    The handlers find the app, store and hub through ``current_app`` (never a closure): the
    SocketIO object is module-global and keeps the handlers of the first app it was bound to.
    """
    app.extensions[CONNECTIONS_KEY] = Connections()
    if getattr(socketio, "_dispatch_handlers", False):
        subscribe(app, "device_revoked", _device_revoked(app, socketio))
        return
    socketio._dispatch_handlers = True  # type: ignore[attr-defined]

    def authenticate(auth: Any) -> tuple[Principal, str | None]:
        token = auth.get("token") if isinstance(auth, dict) else None
        if token:
            principal = principal_from_token(get_store(), token)
            if principal is None:
                raise ConnectionRefusedError(
                    {
                        "code": "unauthenticated",
                        "error": "unknown or revoked token: pair the phone again or log in",
                    }
                )
            return principal, token
        try:
            principal = current_principal()  # the session cookie of the handshake
        except DispatchError as exc:
            raise ConnectionRefusedError({"code": exc.code, "error": exc.message}) from None
        if not principal.authenticated:
            raise ConnectionRefusedError(
                {
                    "code": "unauthenticated",
                    "error": "log in, or connect with auth={'token': <device or API token>}",
                }
            )
        return principal, None

    def caller() -> Principal:
        conn = _connections().get(request.sid)  # type: ignore[attr-defined]
        if conn is None:
            raise AuthenticationError("this connection is not authenticated: reconnect")
        now = time.time()
        if conn.token and now - conn.checked_at > RECHECK_S:
            principal = principal_from_token(get_store(), conn.token)
            if principal is None:
                raise AuthenticationError("this token was revoked: pair the phone again")
            conn.principal, conn.checked_at = principal, now
        return conn.principal

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        _install_raw_position_handler(socketio)
        principal, token = authenticate(auth)
        _connections().add(request.sid, Connection(principal, token, time.time()))  # type: ignore[attr-defined]
        for room in rooms_for(principal.role, principal.team_id):
            join_room(room)
        hub = get_hub()
        socketio.emit(
            "hello",
            {
                "principal": principal.to_dict(),
                "server_time": time.time(),
                "stale_s": hub.board.stale_s,
            },
            to=request.sid,  # type: ignore[attr-defined]
        )

    @socketio.on("disconnect")
    def on_disconnect(*_: Any) -> None:
        _connections().remove(request.sid)  # type: ignore[attr-defined]

    @socketio.on("position")
    def on_position(payload: Any) -> dict[str, Any]:
        """One fix, or ``{"positions": [...]}`` (an outbox replay); acknowledged once stored.

        Normally served by the raw handler installed at connect (no Flask request context per
        event); this one answers if an event arrives before that installation."""
        return ingest_position(current_app._get_current_object(), request.sid, payload)  # type: ignore[attr-defined]

    @socketio.on("visit_event")
    def on_visit_event(payload: Any) -> dict[str, Any]:
        """A check-in, check-out, missed visit or note from a phone; acknowledged once stored."""
        try:
            principal = caller()
            if not isinstance(payload, dict) or not isinstance(payload.get("visit_id"), int):
                raise ValidationError("send {visit_id, kind, client_id, device_time_s, lon, lat}")
            data = {k: v for k, v in payload.items() if k != "visit_id" and v is not None}
            store = get_store()
            team_id = principal.team_id if principal.role == "team_member" else None
            if principal.role == "team_member" and team_id is None:
                raise PermissionDeniedError("this account belongs to no team")
            if principal.role not in ("team_member", "coordinator", "admin"):
                raise PermissionDeniedError("only a team or a coordinator records visit events")
            event = store.add_visit_event(
                payload["visit_id"], data, actor=principal.actor, team_id=team_id
            )
            visit = store.get_visit(payload["visit_id"])
            if event.get("created", True):
                get_hub().on_visit_event({"event": event, "visit": visit})
            return {"ok": True, "event": event, "visit": visit}
        except DispatchError as exc:
            return _error(exc)

    subscribe(app, "device_revoked", _device_revoked(app, socketio))


def ingest_position(app: Flask, sid: str, payload: Any) -> dict[str, Any]:
    """Store a phone's fix(es) and push them; the acknowledgement (or the error body)."""
    with app.app_context():
        try:
            conn = app.extensions[CONNECTIONS_KEY].get(sid)
            if conn is None:
                raise AuthenticationError("this connection is not authenticated: reconnect")
            now = time.time()
            if conn.token and now - conn.checked_at > RECHECK_S:
                principal = principal_from_token(get_store(), conn.token)
                if principal is None:
                    raise AuthenticationError("this token was revoked: pair the phone again")
                conn.principal, conn.checked_at = principal, now
            principal = conn.principal
            if principal.role != "team_member" or principal.team_id is None:
                raise PermissionDeniedError(
                    "only a team's phone or member sends positions here; coordinators use "
                    "POST /api/positions with a team_id"
                )
            fixes = (
                payload["positions"]
                if isinstance(payload, dict) and "positions" in payload
                else [payload]
            )
            if not isinstance(fixes, list) or not fixes:
                raise ValidationError(
                    "send a fix {lon, lat, device_time_s, client_id} or {positions: [...]}"
                )
            if len(fixes) > MAX_FIXES_PER_EVENT:
                raise ValidationError(
                    f"{len(fixes)} fixes in one event: send at most {MAX_FIXES_PER_EVENT}"
                )
            result = get_hub(app).ingest(
                principal.team_id,
                fixes,
                device_id=principal.id if principal.kind == "device" else None,
                source="socket",
            )
            return {"ok": True, "server_time_s": time.time(), **result}
        except DispatchError as exc:
            return _error(exc)


def _install_raw_position_handler(socketio: SocketIO) -> None:
    """Serve ``position`` straight from python-socketio (the hot path: thousands a second).

    Flask-SocketIO wraps each event in a Flask request context and opens the cookie session
    (about a millisecond of signing work per event); a position needs neither: the caller was
    authenticated at connect. The handler is installed on the current server object (a new one
    is made each time the global SocketIO is bound to an app).
    """
    server = socketio.server
    if server is None or getattr(server, "_dispatch_raw_position", False):
        return

    def raw_position(sid: str, payload: Any = None) -> dict[str, Any]:
        environ = server.get_environ(sid, namespace="/") or {}
        app = environ.get("flask.app")
        if app is None:
            return AuthenticationError("unknown connection: reconnect").to_dict()
        return ingest_position(app, sid, payload)

    server.on("position", raw_position, namespace="/")
    server._dispatch_raw_position = True  # type: ignore[attr-defined]


def _device_revoked(app: Flask, socketio: SocketIO) -> Any:
    def on_device_revoked(device: dict[str, Any]) -> None:
        connections: Connections = app.extensions[CONNECTIONS_KEY]
        for sid in connections.sids_of_device(int(device["id"])):
            socketio.server.disconnect(sid, namespace="/")
            connections.remove(sid)

    return on_device_revoked
