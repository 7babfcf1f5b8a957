"""Socket.IO edge: authenticated connections, rooms per role and team, position and event intake."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, session
from flask_socketio import SocketIO, join_room
from socketio import packet as sio_packet

from dispatch.errors import (
    AuthenticationError,
    DispatchError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from dispatch.live.hub import rooms_for
from dispatch.store.positions import PositionReport
from dispatch.web.auth import (
    Principal,
    current_principal,
    get_store,
    principal_from_token,
    principal_from_user,
)
from dispatch.web.live import HUB_KEY, get_hub
from dispatch.web.position_pump import PositionPump
from dispatch.web.rest import subscribe
from dispatch.web.wire import Unreadable

log = logging.getLogger(__name__)

#: Every connection's credentials (token or session cookie) are checked again this often (the
#: setting ``socket_recheck_s`` overrides it), so a change made outside this process (the CLI)
#: ends a socket within that time.
RECHECK_S = 15.0
#: A ``position`` event re-checks its connection's credentials when older than this (positions
#: are the hot path: thousands a second); a ``visit_event`` always re-checks. Changes made
#: through the API (logout, user disabled or moved, team deactivated, device revoked) act at once.
POSITION_RECHECK_S = 5.0
#: Most fixes accepted in one ``position`` event (an outbox replay).
MAX_FIXES_PER_EVENT = 500
#: Event names of the protocol itself: a client sending one would run the server's own
#: connect/disconnect handlers (and drop out of the checked registry), so they are refused.
RESERVED_EVENTS = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
        "*",
    }
)


@dataclass
class Connection:
    """Who is behind one socket: the principal and the credential to check it again with."""

    principal: Principal
    token: str | None
    checked_at: float
    session_id: str | None = None


class Connections:
    """Socket id -> principal, thread-safe (handlers run in their own threads)."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def add(self, sid: str, conn: Connection) -> None:
        with self._lock:
            self._by_sid[sid] = conn

    def get(self, sid: str) -> Connection | None:
        # One dict lookup is atomic; no lock on the hot path (every position report).
        return self._by_sid.get(sid)

    def remove(self, sid: str) -> None:
        with self._lock:
            self._by_sid.pop(sid, None)

    def sids_where(self, predicate: Any) -> list[str]:
        """Socket ids whose connection satisfies ``predicate(conn)``."""
        with self._lock:
            return [sid for sid, c in self._by_sid.items() if predicate(c)]

    def sids_of_device(self, device_id: int) -> list[str]:
        return self.sids_where(
            lambda c: c.principal.kind == "device" and c.principal.id == device_id
        )

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
    settings = app.extensions["dispatch.settings"]
    hub = app.extensions.get(HUB_KEY)
    if hub is not None:  # the structure's grant (read here: the hub is built before sockets)
        hub.planner_live_positions = bool(settings.planner_live_positions)
    _subscribe_credential_changes(app, socketio)
    if getattr(socketio, "_dispatch_handlers", False):
        return
    socketio._dispatch_handlers = True  # type: ignore[attr-defined]

    def authenticate(auth: Any) -> Connection:
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
            return Connection(principal, token, time.time())
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
        sid = session.get("sid")
        return Connection(principal, None, time.time(), sid if isinstance(sid, str) else None)

    def caller() -> Principal:
        """The checked principal of a write event (credentials re-checked every time)."""
        return checked_principal(current_app._get_current_object(), request.sid, max_age_s=0.0)  # type: ignore[attr-defined]

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        _install_raw_position_handler(socketio)
        conn = authenticate(auth)
        principal = conn.principal
        if principal.role == "referrer":
            # An outside referrer follows their requests on /referrer/: no live room at all.
            raise ConnectionRefusedError(
                {"code": "forbidden", "error": "a referrer's account has no live map"}
            )
        _connections().add(request.sid, conn)  # type: ignore[attr-defined]
        for room in rooms_for(principal.role, principal.team_id, principal.structure_ids):
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
    def on_position(payload: Any = None) -> dict[str, Any]:
        """One fix, or ``{"positions": [...]}`` (an outbox replay); acknowledged once stored.

        Normally served by the raw handler installed at connect (no Flask request context per
        event); this one answers if an event arrives before that installation."""
        return ingest_position(current_app._get_current_object(), request.sid, payload)  # type: ignore[attr-defined]

    @socketio.on("visit_event")
    def on_visit_event(payload: Any = None) -> dict[str, Any]:  # None: sent with no data
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
            if principal.role == "coordinator":  # a visit of another structure does not exist
                found = store.visit_structure_ids([payload["visit_id"]])
                if found.get(payload["visit_id"]) not in principal.structure_ids:
                    raise NotFoundError(f"visit {payload['visit_id']} does not exist")
            event = store.add_visit_event(
                payload["visit_id"], data, actor=principal.actor, team_id=team_id
            )
            visit = store.get_visit(payload["visit_id"])
            if event.get("created", True):
                get_hub().on_visit_event({"event": event, "visit": visit})
            return {"ok": True, "event": event, "visit": visit}
        except DispatchError as exc:
            return _error(exc)


def position_report(app: Flask | None, sid: str, payload: Any) -> PositionReport:
    """Who sends this ``position`` event and which fixes: ``(team_id, fixes, device_id,
    source)``, or the DispatchError its acknowledgement carries (nothing is stored)."""
    if app is None:
        raise AuthenticationError("unknown connection: reconnect")
    principal = checked_principal(app, sid, max_age_s=POSITION_RECHECK_S)
    if principal.role != "team_member" or principal.team_id is None:
        raise PermissionDeniedError(
            "only a team's phone or member sends positions here; coordinators use "
            "POST /api/positions with a team_id"
        )
    fixes = (
        payload["positions"] if isinstance(payload, dict) and "positions" in payload else [payload]
    )
    if not isinstance(fixes, list) or not fixes:
        raise ValidationError(
            "send a fix {lon, lat, device_time_s, client_id} or {positions: [...]}"
        )
    if len(fixes) > MAX_FIXES_PER_EVENT:
        raise ValidationError(
            f"{len(fixes)} fixes in one event: send at most {MAX_FIXES_PER_EVENT}"
        )
    device_id = principal.id if principal.kind == "device" else None
    return (principal.team_id, fixes, device_id, "socket")


def ingest_position(app: Flask, sid: str, payload: Any) -> dict[str, Any]:
    """Store a phone's fix(es) and push them; the acknowledgement (or the error body).

    No Flask context is pushed (a cost on every report): everything here takes ``app``.
    """
    try:
        team_id, fixes, device_id, source = position_report(app, sid, payload)
        result = get_hub(app).ingest(team_id, fixes, device_id=device_id, source=source)
        return _stored_reply(result)
    except DispatchError as exc:
        return _error(exc)


def _stored_reply(result: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "server_time_s": time.time(), **result}


def _ingest_reports(app: Flask, reports: list[PositionReport]) -> list[Any]:
    return [
        r if isinstance(r, Exception) else _stored_reply(r)
        for r in get_hub(app).ingest_reports(reports)
    ]


def _install_raw_position_handler(socketio: SocketIO) -> None:
    """Serve ``position`` events straight from python-socketio, through one PositionPump.

    The hot path: thousands a second. Flask-SocketIO wraps each event in a Flask request
    context and opens the cookie session (about a millisecond of signing work per event); a
    position needs neither (the caller was authenticated at connect, and is re-checked every
    few seconds). The socket's reader queues the event and goes back to reading; the pump
    stores queued events in groups and acknowledges each once committed. Installed on the
    current server object (a new one is made each time the global SocketIO is bound to an app).
    python-socketio's event dispatch (``_handle_event``) is wrapped for this one event of the
    default namespace; every other event goes through it unchanged, except the names no client
    may send (reserved by the protocol, or handled by nothing): those get an error
    acknowledgement and reach no handler (a client-sent 'disconnect' would run the real one and
    drop the socket from the checked registry while it stays in its rooms).
    """
    server = socketio.server
    if server is None or getattr(server, "_dispatch_raw_position", False):
        return

    def ack(eio_sid: str, ack_id: int, reply: dict[str, Any]) -> None:
        server._send_packet(
            eio_sid, server.packet_class(sio_packet.ACK, namespace="/", id=ack_id, data=[reply])
        )

    pump = PositionPump(position_report, _ingest_reports, ack)
    handle_event = server._handle_event

    def handle_position_event(eio_sid: str, namespace: str | None, id: Any, data: Any) -> Any:
        refusal = _refused_event(server, namespace, data)
        if refusal is not None:
            if id is not None:
                server._send_packet(
                    eio_sid,
                    server.packet_class(
                        sio_packet.ACK, namespace=namespace or "/", id=id, data=[refusal]
                    ),
                )
            return None
        if (namespace or "/") != "/" or data[0] != "position":
            return handle_event(eio_sid, namespace, id, data)
        sid = server.manager.sid_from_eio_sid(eio_sid, "/")
        if not server.manager.is_connected(sid, "/"):
            return None
        environ = server.get_environ(sid, namespace="/") or {}
        item = (environ.get("flask.app"), sid, eio_sid, id, data[1] if len(data) > 1 else None)
        if eio_sid in server.eio.sockets:
            pump.submit(*item)
        else:  # no Engine.IO socket: Flask-SocketIO's test client, which expects the ack at once
            pump.serve([item])
        return None

    server._handle_event = handle_position_event
    server._dispatch_pump = pump  # type: ignore[attr-defined]
    # Other events run in the thread already reading their socket, not in a new thread per
    # event (python-socketio's default in threading mode): in order, and a phone sending
    # faster than it is served waits (back-pressure).
    server.async_handlers = False
    server._dispatch_raw_position = True  # type: ignore[attr-defined]


def _refused_event(server: Any, namespace: str | None, data: Any) -> dict[str, Any] | None:
    """The error acknowledgement of an event no client may send (None: serve it): a reserved
    name, a name that is not text, or an event nothing handles."""
    if isinstance(data, Unreadable):
        error = (
            f"this event could not be read ({data[0] if data else 'not valid JSON'}): send a"
            " JSON array [name, payload], as socket.emit(name, payload) does"
        )
        return {**ValidationError(error).to_dict(), "code": "unreadable_event"}
    name = data[0] if isinstance(data, list) and data else None
    if not isinstance(name, str):
        error = "an event needs a name: emit('position', ...) or emit('visit_event', ...)"
        return {**ValidationError(error).to_dict(), "code": "invalid_event"}
    if name in RESERVED_EVENTS:
        error = f"'{name[:40]}' is reserved by Socket.IO and cannot be sent by a client"
        return {**ValidationError(error).to_dict(), "code": "reserved_event"}
    if name not in server.handlers.get(namespace or "/", {}):
        known = sorted(n for n in server.handlers.get("/", {}) if n not in RESERVED_EVENTS)
        error = f"unknown event {name[:40]!r}: send one of {', '.join(known)}"
        return {**NotFoundError(error).to_dict(), "code": "unknown_event"}
    return None


def resolve(store: Any, conn: Connection) -> Principal | None:
    """The principal behind ``conn``'s credential now (None: revoked, logged out or disabled)."""
    if conn.token:
        return principal_from_token(store, conn.token)
    if conn.session_id:
        found = store.get_session(conn.session_id)
        if found is None:
            return None
        return principal_from_user(found["user"], via="session", csrf_token=found["csrf_token"])
    return None


def _server(app: Flask) -> Any:
    return app.extensions["socketio"].server


def _end(app: Flask, sid: str, reason: str) -> None:
    """Tell the page why, then drop the socket (the client does not reconnect by itself)."""
    server = _server(app)
    app.extensions[CONNECTIONS_KEY].remove(sid)
    try:
        server.emit("session_ended", {"reason": reason}, to=sid, namespace="/")
        server.disconnect(sid, namespace="/")
    except Exception:  # already gone
        log.debug("socket %s was already closed", sid)


def _apply(app: Flask, sid: str, conn: Connection, principal: Principal, now: float) -> None:
    """Store the fresh principal; a new role, team or structure moves the socket to the right
    rooms (a coordinator taken out of a structure stops getting its pushes at once)."""
    old = conn.principal
    conn.principal, conn.checked_at = principal, now
    if (old.role, old.team_id, old.structure_ids) == (
        principal.role,
        principal.team_id,
        principal.structure_ids,
    ):
        return
    server = _server(app)
    before = set(rooms_for(old.role, old.team_id, old.structure_ids))
    after = set(rooms_for(principal.role, principal.team_id, principal.structure_ids))
    for room in before - after:
        server.leave_room(sid, room, namespace="/")
    for room in after - before:
        server.enter_room(sid, room, namespace="/")
    server.emit("principal", principal.to_dict(), to=sid, namespace="/")


def recheck(app: Flask, sids: list[str] | None = None, *, now: float | None = None) -> int:
    """Check the credentials of ``sids`` (all connections if None) again; returns how many ended.

    A socket whose token was revoked, whose session was logged out or expired, whose user was
    disabled, or whose team was deactivated is disconnected; a user moved to another team,
    role or structure is moved to the matching rooms.
    """
    now = time.time() if now is None else now
    connections: Connections = app.extensions[CONNECTIONS_KEY]
    store = get_store(app)
    ended = 0
    for sid in connections.sids_where(lambda c: True) if sids is None else sids:
        conn = connections.get(sid)
        if conn is None:
            continue
        principal = resolve(store, conn)
        if principal is None:
            _end(app, sid, "credentials_revoked")
            ended += 1
        else:
            _apply(app, sid, conn, principal, now)
    return ended


def drop_unregistered(app: Flask) -> int:
    """Disconnect the sockets connected in this process that are not in the registry of checked
    connections (whatever removed them): nothing may receive pushes unchecked. Returns how many.

    A socket being connected or disconnected is not "connected" to the manager yet (or any
    more), and the connect handler registers it before that: no live socket is dropped."""
    server = _server(app)
    if server is None:
        return 0
    connections: Connections = app.extensions[CONNECTIONS_KEY]
    manager = server.manager
    dropped = 0
    for sid, _ in list(manager.get_participants("/", None)):
        if connections.get(sid) is not None or not manager.is_connected(sid, "/"):
            continue
        environ = server.get_environ(sid, namespace="/") or {}
        if environ.get("flask.app") is app:  # this app's only (tests bind several to a server)
            log.warning("socket %s was connected without a checked principal: dropped", sid)
            _end(app, sid, "credentials_revoked")
            dropped += 1
    return dropped


def checked_principal(app: Flask, sid: str, *, max_age_s: float) -> Principal:
    """The principal of socket ``sid``, its credential re-checked if older than ``max_age_s``."""
    connections: Connections = app.extensions[CONNECTIONS_KEY]
    conn = connections.get(sid)
    if conn is None:
        raise AuthenticationError("this connection is not authenticated: reconnect")
    now = time.time()
    if now - conn.checked_at >= max_age_s:
        principal = resolve(get_store(app), conn)
        if principal is None:
            _end(app, sid, "credentials_revoked")
            raise AuthenticationError(
                "these credentials were revoked or the session ended: log in or pair the phone again"
            )
        _apply(app, sid, conn, principal, now)
    return conn.principal


def _subscribe_credential_changes(app: Flask, socketio: SocketIO) -> None:
    """Re-check the sockets concerned by each credential change, and all of them periodically."""
    connections: Connections = app.extensions[CONNECTIONS_KEY]

    def of_user(user_id: int) -> list[str]:
        return connections.sids_where(
            lambda c: c.principal.kind == "user" and c.principal.id == user_id
        )

    def on_device_revoked(device: dict[str, Any]) -> None:
        recheck(app, connections.sids_of_device(int(device["id"])))

    def on_user(user: dict[str, Any]) -> None:
        recheck(app, of_user(int(user["id"])))

    def on_team(team: dict[str, Any]) -> None:
        if not team.get("active", True):
            recheck(app, connections.sids_where(lambda c: c.principal.team_id == team["id"]))

    settings = app.extensions["dispatch.settings"]
    every_s = float(settings.socket_recheck_s)

    def on_sweep(_: float) -> None:
        # Every connection, whatever its last check: a change is caught within ``every_s``
        # (one indexed read per socket; 1,000 sockets every 15 s is about 70 reads a second).
        recheck(app, now=time.time())
        drop_unregistered(app)

    subscribe(app, "device_revoked", on_device_revoked)
    subscribe(app, "user_changed", on_user)
    subscribe(app, "session_ended", on_user)
    subscribe(app, "team", on_team)

    def on_token_revoked(_: Any) -> None:
        recheck(app, connections.sids_where(lambda c: c.token is not None))

    subscribe(app, "token_revoked", on_token_revoked)
    get_hub(app).add_sweep_hook(on_sweep, every_s=every_s)
