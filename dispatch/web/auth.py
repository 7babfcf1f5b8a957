"""Who is calling: session cookies (with CSRF), bearer tokens and device tokens; role checks.

For the other web modules:

- ``get_store(app=None)``: the app's :class:`~dispatch.store.Store` (opened from
  ``settings.database`` on first use if ``create_app`` was not given one).
- ``current_principal()``: the :class:`Principal` of this request (``anonymous`` if none).
- ``require(*roles, admin=True)``: view decorator; 401 if anonymous, 403 if the role is not
  listed (``admin`` is admitted too unless ``admin=False``); enforces CSRF on cookie-based
  unsafe requests (header ``X-CSRF-Token``, the token returned by ``/api/session``).
- ``principal_from_token(store, token)``: for Socket.IO ``auth`` (user API token or device token).

Roles: ``admin``, ``coordinator``, ``planner``, ``team_member``, ``referrer``. A paired phone
acts as a ``team_member`` of its team (``kind == "device"``). A ``referrer`` (a GP, a discharge
nurse... outside the service) passes only the routes that name the role, and the account
self-service of :data:`REFERRER_SELF_SERVICE`: ``require()`` without roles does not admit it.
"""

from __future__ import annotations

import functools
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session

from dispatch.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from dispatch.store import Store
from dispatch.store.accounts import DEVICE_TOKEN_PREFIX, USER_TOKEN_PREFIX
from dispatch.web.client import client_address

F = TypeVar("F", bound=Callable[..., Any])

ROLES = ("admin", "coordinator", "planner", "team_member", "referrer")
#: Endpoints without a role list that a referrer may call too: who am I, log out.
REFERRER_SELF_SERVICE = frozenset({"api_auth.whoami", "api_auth.logout"})
STORE_KEY = "dispatch.store"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_store_lock = threading.Lock()


@dataclass(frozen=True)
class Principal:
    """The caller of a request or socket: a user, a paired device, or nobody.

    Attributes
    ----------
    kind
        ``"user"``, ``"device"`` or ``"anonymous"``.
    id
        The user or device id (None when anonymous).
    role
        One of :data:`ROLES` (``team_member`` for devices), None when anonymous.
    team_id
        The team of a team member or device, else None.
    name
        Username or device label, for display.
    via
        ``"session"``, ``"bearer"``, ``"device"`` or ``"none"``.
    csrf_token
        The session's CSRF token (session callers only).
    structure_ids
        The structures whose patients, staff, teams, visits and plans the caller may see
        (a device: its team's structure).
    """

    kind: str
    id: int | None = None
    role: str | None = None
    team_id: int | None = None
    name: str = ""
    via: str = "none"
    csrf_token: str | None = None
    structure_ids: tuple[int, ...] = ()
    #: The person's name as the screens show it (a user's display name; else ``name``).
    display_name: str = ""

    @property
    def authenticated(self) -> bool:
        """True for a user or a device."""
        return self.kind != "anonymous"

    @property
    def actor(self) -> str:
        """The audit-log name: ``user:3``, ``device:5`` or ``anonymous``."""
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind

    def to_dict(self) -> dict[str, Any]:
        """Public view (no CSRF token)."""
        return {
            "kind": self.kind,
            "id": self.id,
            "role": self.role,
            "team_id": self.team_id,
            "name": self.name,
            "display_name": self.display_name or self.name,
            "structure_ids": list(self.structure_ids),
        }


ANONYMOUS = Principal(kind="anonymous")


def get_store(app: Flask | None = None) -> Store:
    """The app's Store: ``app.extensions["dispatch.store"]``, opened from settings if absent."""
    app = app or current_app
    store = app.extensions.get(STORE_KEY)
    if store is None:
        with _store_lock:
            store = app.extensions.get(STORE_KEY)
            if store is None:
                store = Store(app.extensions["dispatch.settings"].database)
                app.extensions[STORE_KEY] = store
    return store  # type: ignore[no-any-return]


def principal_from_user(
    user: dict[str, Any], *, via: str, csrf_token: str | None = None
) -> Principal:
    """A Principal for a user row of the store."""
    return Principal(
        kind="user",
        id=user["id"],
        role=user["role"],
        team_id=user["team_id"],
        name=user["username"],
        display_name=user.get("display_name") or "",
        via=via,
        csrf_token=csrf_token,
        structure_ids=tuple(user.get("structure_ids") or ()),
    )


def principal_from_token(store: Store, token: str | None) -> Principal | None:
    """The user or device owning a bearer/device token, or None if it is unknown or revoked."""
    if not token or not isinstance(token, str):
        return None
    token = token.strip()
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = store.device_for_token(token)
        if device is None:
            return None
        return Principal(
            kind="device",
            id=device["id"],
            role="team_member",
            team_id=device["team_id"],
            name=device["label"] or f"device {device['id']}",
            via="device",
            structure_ids=(int(device["structure_id"]),),
        )
    if token.startswith(USER_TOKEN_PREFIX):
        user = store.user_for_token(token)
        return None if user is None else principal_from_user(user, via="bearer")
    return None


def _resolve() -> Principal:
    store = get_store()
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "Authorization header must be 'Bearer <token>' (get one with `dispatch user token NAME`)"
            )
        principal = principal_from_token(store, token)
        if principal is None:
            raise AuthenticationError(
                "this token is unknown or revoked: create a new one with `dispatch user token NAME`"
                " or pair the phone again"
            )
        return principal
    sid = session.get("sid")
    if isinstance(sid, str):
        found = store.get_session(sid)
        if found is not None:
            return principal_from_user(found["user"], via="session", csrf_token=found["csrf_token"])
        session.pop("sid", None)
    return ANONYMOUS


def current_principal() -> Principal:
    """Who is calling this request (resolved once per request; ``ANONYMOUS`` if nobody)."""
    if "dispatch_principal" not in g:
        g.dispatch_principal = _resolve()
    principal: Principal = g.dispatch_principal
    return principal


def check_csrf(principal: Principal) -> None:
    """Refuse a cookie-authenticated unsafe request without the session's CSRF token."""
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
        raise PermissionDeniedError(
            f"missing or wrong {CSRF_HEADER} header: send the csrf_token returned by"
            " GET /api/session"
        )


def require(*roles: str, admin: bool = True) -> Callable[[F], F]:
    """View decorator: the caller must be authenticated with one of ``roles``.

    With no roles, any authenticated caller passes but a ``referrer`` (see
    :data:`REFERRER_SELF_SERVICE`). ``admin`` (default True) admits admins
    as well; pass ``admin=False`` where even an administrator has no business (patient details).
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; known: {ROLES}")
    allowed = set(roles) | ({"admin"} if admin and roles else set())

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for name, value in kwargs.items():
                # SQLite integers are 64-bit: a larger id cannot exist (and must not reach SQL).
                if isinstance(value, int) and not 0 < value < 2**63:
                    raise NotFoundError(f"{name.removesuffix('_id')} {value} does not exist")
            principal = current_principal()
            if not principal.authenticated:
                raise AuthenticationError(
                    "log in first (POST /api/session) or send 'Authorization: Bearer <token>'"
                )
            if (
                not allowed
                and principal.role == "referrer"
                and request.endpoint not in REFERRER_SELF_SERVICE
            ):
                # An outside referrer sees their own requests only: no team, structure, map
                # or round of the service.
                raise PermissionDeniedError(
                    "a referrer's account opens the referrer's space (/referrer/) only"
                )
            if allowed and principal.role not in allowed:
                raise PermissionDeniedError(
                    f"this action needs the role {' or '.join(sorted(allowed))};"
                    f" you are {principal.role}"
                )
            check_csrf(principal)
            return view(*args, **kwargs)

        wrapper.required_roles = tuple(sorted(allowed))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def client_ip() -> str:
    """The caller's address: the TCP peer, or behind a proxy listed in the setting
    ``trusted_proxies`` the address that proxy forwarded (see :mod:`dispatch.web.client`)."""
    return client_address()
