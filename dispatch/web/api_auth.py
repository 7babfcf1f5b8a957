"""Health check, browser login/logout (session cookie + CSRF token) and phone pairing exchange."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Flask, session
from flask.typing import ResponseReturnValue

from dispatch.errors import (
    AuthenticationError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)
from dispatch.limits import RateLimiter
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import operation
from dispatch.web.rest import json_body, ok, publish

bp = Blueprint("api_auth", __name__)

try:
    VERSION = version("dispatch")
except PackageNotFoundError:  # running from a plain checkout
    VERSION = "0"

_PRINCIPAL = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "id": {"type": ["integer", "null"]},
        "role": {"type": ["string", "null"]},
        "team_id": {"type": ["integer", "null"]},
        "name": {"type": "string"},
        "display_name": {"type": "string"},
    },
}
_SESSION = {
    "type": "object",
    "required": ["ok", "user", "csrf_token"],
    "properties": {"ok": {"const": True}, "user": _PRINCIPAL, "csrf_token": {"type": "string"}},
}

OPENAPI_PATHS = {
    "/api/health": {
        "get": operation(
            "Is the service up (database able to store a write)?",
            roles=None,
            tags=["auth"],
            response={
                "type": "object",
                "required": ["ok"],
                "properties": {
                    "ok": {"const": True},
                    "version": {"type": "string"},
                    "database": {"type": "boolean"},
                },
            },
        )
    },
    "/api/session": {
        "post": operation(
            "Log in with a username and password (sets the session cookie)",
            roles=None,
            tags=["auth"],
            description="Rate-limited per username and address (every attempt counts; a success"
            " clears it), per address across usernames, and per username across addresses the"
            " user never logged in from (the user's own recent addresses are never limited by"
            " others' failures); 429 with Retry-After when a limit is reached, or when every"
            " password-hashing slot is busy. Returns the CSRF token to send "
            "as X-CSRF-Token on every unsafe request made with the cookie.",
            body={
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "username": {"type": "string", "minLength": 1, "maxLength": 64},
                    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                },
                "additionalProperties": False,
            },
            response=_SESSION,
        ),
        "get": operation(
            "Who am I, and the session's CSRF token", roles=(), tags=["auth"], response=_SESSION
        ),
        "delete": operation("Log out", roles=(), tags=["auth"]),
    },
    "/api/devices/self": {
        "delete": operation(
            "A paired phone unpairs itself: its device token is revoked",
            roles=("team_member",),
            tags=["auth"],
            response={"type": "object", "required": ["ok", "device"]},
        )
    },
    "/api/devices/pair": {
        "post": operation(
            "Exchange a one-time pairing code for a device token",
            roles=None,
            tags=["auth"],
            description="The phone sends the code shown by the coordinator (or read from the "
            "QR code); it receives a token to send as 'Authorization: Bearer' from then on.",
            body={
                "type": "object",
                "required": ["code"],
                "properties": {
                    "code": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 20,
                        "example": "K7QD-3MZP",
                    },
                    "label": {"type": "string", "maxLength": 80},
                },
                "additionalProperties": False,
            },
            status=201,
            response={
                "type": "object",
                "required": ["ok", "token", "device"],
                "properties": {
                    "ok": {"const": True},
                    "token": {"type": "string"},
                    "device": {"type": "object"},
                    "team": {"type": "object"},
                },
            },
        ),
    },
}


#: The per-username limit (across addresses new to that user) is this many times the
#: per-(username, address) one, 20 at least.
USER_LIMIT_FACTOR = 4
#: The per-address limit (across usernames) is this many times the per-(username, address) one.
ADDRESS_LIMIT_FACTOR = 6
#: An address the user logged in from within this many seconds is theirs: failures from
#: elsewhere never limit it (strangers cannot lock an account out).
KNOWN_ADDRESS_S = 30 * 86400
#: Password hashes (Argon2id, 64 MiB each) checked at the same time, at most.
MAX_CONCURRENT_HASHES = 4
#: Seconds a log-in waits for a free hashing slot before it is told to retry.
HASH_WAIT_S = 0.5
GUARD_KEY = "dispatch.login_guard"


class LoginGuard:
    """The log-in limits of one server process.

    - per (username, address): ``per_min`` attempts a minute, every attempt counted, a success
      clears it (guessing one account from one place);
    - per address across usernames: ``per_min * ADDRESS_LIMIT_FACTOR`` a minute (one place
      trying many accounts, each try costing a 64 MiB hash);
    - per username across addresses it never logged in from: ``per_min * USER_LIMIT_FACTOR``
      (at least 20) a minute (a distributed guess); the user's own recent addresses are not
      counted nor limited, so strangers cannot lock the account out;
    - at most ``max_hashes`` passwords checked at once; a log-in that finds every slot busy
      for ``HASH_WAIT_S`` is answered 429 with ``Retry-After: 1`` instead of queueing.

    Limits are in memory, per process: several processes multiply them.
    """

    def __init__(
        self,
        per_min: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_hashes: int = MAX_CONCURRENT_HASHES,
        hash_wait_s: float = HASH_WAIT_S,
    ) -> None:
        per_min = max(1, int(per_min))
        self.per_pair = RateLimiter(per_min, 60.0, clock=clock)
        self.per_address = RateLimiter(per_min * ADDRESS_LIMIT_FACTOR, 60.0, clock=clock)
        self.per_user = RateLimiter(max(per_min * USER_LIMIT_FACTOR, 20), 60.0, clock=clock)
        self.max_hashes = max_hashes
        self.hash_wait_s = hash_wait_s
        self.hashes = threading.BoundedSemaphore(max_hashes)

    def admit(self, store: Any, username: str, address: str) -> None:
        """Count one attempt of ``username`` from ``address`` BEFORE the password is checked
        (parallel guesses cannot all pass a "not yet over the limit" check); RateLimitedError
        with the seconds to wait when a limit is reached."""
        decision = self.per_address.hit(address)
        if not decision.allowed:
            raise RateLimitedError(
                f"too many log-in attempts from this address: retry in"
                f" {decision.retry_after_header} s",
                retry_after_s=decision.retry_after_s,
            )
        decision = self.per_pair.hit((username, address))
        if not decision.allowed:
            raise RateLimitedError(
                f"too many log-in attempts for this user from this address: retry in"
                f" {decision.retry_after_header} s",
                retry_after_s=decision.retry_after_s,
            )
        if store.known_login_address(username, address, within_s=KNOWN_ADDRESS_S):
            return
        decision = self.per_user.hit(username)
        if not decision.allowed:
            raise RateLimitedError(
                f"too many log-in attempts for this user from new addresses: retry in"
                f" {decision.retry_after_header} s",
                retry_after_s=decision.retry_after_s,
            )

    def succeeded(self, username: str, address: str) -> None:
        """A right password: that pair starts afresh."""
        self.per_pair.reset((username, address))

    @contextlib.contextmanager
    def hashing(self) -> Iterator[None]:
        """Hold one of the hashing slots while a password is hashed or checked."""
        if not self.hashes.acquire(timeout=self.hash_wait_s):
            raise RateLimitedError(
                "the server is busy checking other passwords: retry in 1 s", retry_after_s=1.0
            )
        try:
            yield
        finally:
            self.hashes.release()


def login_guard(app: Flask | None = None) -> LoginGuard:
    """The app's :class:`LoginGuard` (made from the settings on first use)."""
    from flask import current_app

    app = app or current_app
    guard = app.extensions.get(GUARD_KEY)
    if guard is None:
        with _guard_lock:
            guard = app.extensions.get(GUARD_KEY)
            if guard is None:
                settings = app.extensions["dispatch.settings"]
                guard = LoginGuard(settings.login_attempts_per_min)
                app.extensions[GUARD_KEY] = guard
    return guard  # type: ignore[no-any-return]


_guard_lock = threading.Lock()


def _login_actor(store: Any, username: str) -> str:
    """Audit actor of a failed login: the name if it is a user, else a short hash of the text.

    What someone typed in the username box may be a password or a patient's name: it is not
    written to the audit log unless it is an existing login name.
    """
    if store.user_exists(username):
        return f"login:{username}"
    digest = hashlib.sha256(username.encode()).hexdigest()[:12]
    return f"login:unknown#{digest}"


def _text_field(data: dict[str, Any], key: str, *, max_len: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{key} is required (text)")
    if len(value) > max_len:
        raise ValidationError(f"{key} is longer than {max_len} characters")
    return value


@bp.get("/api/health")
def health() -> ResponseReturnValue:
    """Public liveness probe; ``database`` is true when a write can be stored (a probe write
    at most once a second), false on a full disk or a write error."""
    store = get_store()
    return ok(version=VERSION, database=store.writable())


@bp.post("/api/session")
def login() -> ResponseReturnValue:
    """Password login; the cookie holds only an opaque session id."""
    store = get_store()
    data = json_body()
    username = _text_field(data, "username", max_len=64)
    password = _text_field(data, "password", max_len=1024)
    name_key = username.strip().lower()
    address = client_ip()
    guard = login_guard()
    guard.admit(store, name_key, address)
    try:
        with guard.hashing():
            user = store.verify_password(username, password)
    except AuthenticationError:
        store.audit(_login_actor(store, username), "session.login.failed", ip=address)
        raise
    guard.succeeded(name_key, address)
    sid, csrf = store.create_session(user["id"], ip=client_ip())
    session.clear()
    session["sid"] = sid
    store.audit(f"user:{user['id']}", "session.login", role=user["role"], ip=client_ip())
    return ok(
        user={
            "kind": "user",
            "id": user["id"],
            "role": user["role"],
            "team_id": user["team_id"],
            "name": user["username"],
            "display_name": user.get("display_name") or user["username"],
            "structure_ids": user.get("structure_ids", []),
        },
        csrf_token=csrf,
    )


@bp.get("/api/session")
@require()
def whoami() -> ResponseReturnValue:
    """The caller and, for a browser session, its CSRF token."""
    principal = current_principal()
    return ok(user=principal.to_dict(), csrf_token=principal.csrf_token or "")


@bp.delete("/api/session")
@require()
def logout() -> ResponseReturnValue:
    """End the browser session (bearer callers: nothing to end)."""
    sid = session.get("sid")
    if isinstance(sid, str):
        store = get_store()
        store.revoke_session(sid)
        principal = current_principal()
        store.audit(principal.actor, "session.logout", role=principal.role, ip=client_ip())
        publish("session_ended", {"id": principal.id})  # its live sockets are ended
    session.clear()
    return ok()


@bp.delete("/api/devices/self")
@require("team_member")
def unpair_self() -> ResponseReturnValue:
    """A phone unpairing itself: its device token is revoked at once (a token left on a phone
    that was handed back must not keep working)."""
    principal = current_principal()
    if principal.kind != "device" or principal.id is None:
        # Well formed, but the caller is a user, not a phone: forbidden, not malformed.
        raise PermissionDeniedError("only a paired phone unpairs itself (send its device token)")
    store = get_store()
    device = store.revoke_device(principal.id)
    store.audit(
        principal.actor, "device.unpair", role="team_member", target=f"device:{principal.id}"
    )
    publish("device_revoked", device)
    return ok(device={"id": device["id"], "revoked": True})


@bp.post("/api/devices/pair")
def pair() -> ResponseReturnValue:
    """Pairing exchange (public, rate-limited per address)."""
    from flask import current_app

    settings = current_app.extensions["dispatch.settings"]
    store = get_store()
    data = json_body()
    unknown = set(data) - {"code", "label"}
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(sorted(unknown))}; known: code, label")
    code = _text_field(data, "code", max_len=20)
    label = data.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 80):
        raise ValidationError("label must be text of at most 80 characters")
    key = f"pair|{client_ip()}"
    # Counted before the code is tried (atomically, see login()); cleared once a phone pairs.
    store.register_login_attempt({key: max(settings.login_attempts_per_min, 10)})
    paired = store.pair_device(code, label=label)
    store.clear_login_attempts(key)
    device = paired["device"]
    store.audit(
        f"device:{device['id']}",
        "device.paired",
        role="team_member",
        target=f"team:{device['team_id']}",
        ip=client_ip(),
    )
    return ok(201, token=paired["token"], device=device, team=store.get_team(device["team_id"]))


def register(app: Flask, socketio: Any) -> None:
    """Add the routes; open the store now so the first request does not pay for it."""
    get_store(app)
    app.register_blueprint(bp)
