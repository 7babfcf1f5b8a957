"""REST endpoints for administrators: structures, users, API tokens, paired devices, audit log.

The rule for passwords (issue 21): **no one sets or sees another user's password over the
web.** An administrator creates an account with the user's e-mail address; the server e-mails
a one-time link (expires, works once, only its hash is stored) with which the user chooses
their password on ``/account/``. For an account in use, an administrator can only have a
reset link e-mailed to the address the account already has (which they cannot change once
the account is in use). Every such action is in the audit log and shown to coordinators
(``GET /api/account-events``, the "Comptes" tab of ``/admin/``). The server operator's
command line (``dispatch user add/passwd``) still sets passwords: shell access to the server
is full access already.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.errors import (
    ConflictError,
    DispatchError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)
from dispatch.limits import RateLimiter
from dispatch.mail import ADDRESS_PATTERN, Mailer
from dispatch.store.models import ROLES, STRUCTURE_KINDS, shown
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import (
    ID_QUERY,
    NOT_BLANK,
    PAGE_PARAMS,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import arg_int, json_body, ok, page_args, paged, publish
from dispatch.web.scope import visible_structures

#: Fields PATCH /api/users/{id} may change (``password`` only to be refused with the rule).
#: Longest audit target or actor filter (longer ones match no line: refused, as documented).
AUDIT_FILTER_CHARS = 100
USER_FIELDS = {"role", "team_id", "display_name", "active", "email", "password", "structure_ids"}
MAILER_KEY = "dispatch.mailer"
LINK_LIMITER_KEY = "dispatch.account_link_limiter"
#: Link checks and completions allowed per address per minute (the page makes two per use).
LINK_ATTEMPTS_PER_MIN = 20
#: Days of account actions shown to coordinators.
ACCOUNT_EVENTS_DAYS = 90
PARIS = ZoneInfo("Europe/Paris")

NO_PASSWORD_RULE = (
    "an administrator never sets or resets another user's password: give the account an"
    " e-mail address and send it a link (POST /api/users/{id}/password-link), with which the"
    " user chooses their own; on the server, `dispatch user passwd NAME` still works"
)

bp = Blueprint("api_admin", __name__)

USER_INPUT = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"},
        "role": {"enum": list(ROLES)},
        "team_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**53},
        "display_name": {"type": "string", "minLength": 1, "maxLength": 80},
        "email": {
            "type": ["string", "null"],
            "format": "email",
            "maxLength": 254,
            # A plain name@host.tld, checked by the server with the same pattern (dispatch.mail).
            "pattern": ADDRESS_PATTERN,
        },
        "active": {"type": "boolean"},
        "structure_ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 2**53},
            "minItems": 1,
            "maxItems": 100,
            "description": "the structures whose patients, staff, teams and visits the user sees",
        },
    },
    "additionalProperties": False,
}
STRUCTURE_INPUT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120, "pattern": NOT_BLANK},
        "kind": {"enum": list(STRUCTURE_KINDS)},
        "finess": {
            "type": ["string", "null"],
            "pattern": "^([0-9][0-9ABab][0-9]{7})?$",
            "description": "FINESS number: 9 characters (2A/2B for Corsica); empty: none",
        },
    },
    "additionalProperties": False,
}
STRUCTURE_OUTPUT = {
    "type": "object",
    "required": ["ok", "structure"],
    "properties": {"ok": {"const": True}, "structure": {"type": "object"}},
}
USER_OUTPUT = {"type": "object", "properties": {"ok": {"const": True}, "user": {"type": "object"}}}
_ADMIN = ("admin",)

OPENAPI_PATHS = {
    "/api/structures": {
        "get": operation(
            "Structures: yours (an administrator sees all)",
            tags=["structures"],
            response={
                "type": "object",
                "required": ["ok", "items"],
                "properties": {"ok": {"const": True}, "items": {"type": "array"}},
            },
            description="Each with its counts of users, teams, patients and staff. Kinds: "
            + ", ".join(STRUCTURE_KINDS)
            + ".",
        ),
        "post": operation(
            "Create a structure (SSIAD, HAD, nursing centre, SAAD, mobile team, DAC)",
            roles=_ADMIN,
            tags=["structures"],
            body={**STRUCTURE_INPUT, "required": ["name", "kind"]},
            status=201,
            response=STRUCTURE_OUTPUT,
        ),
    },
    "/api/structures/directory": {
        "get": operation(
            "Every structure of the deployment by name and kind (to share a record with one)",
            tags=["structures"],
            response={
                "type": "object",
                "required": ["ok", "items"],
                "properties": {
                    "ok": {"const": True},
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "name", "kind"],
                            "properties": {
                                "id": {"type": "integer"},
                                "name": {"type": "string"},
                                "kind": {"enum": list(STRUCTURE_KINDS)},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
            },
            description="Names and kinds only, as in the public FINESS directory: a coordinator "
            "chooses the structure (a DAC...) a patient consented to share their record with. "
            "Nothing of a structure's records or users.",
        )
    },
    "/api/structures/{structure_id}": {
        "get": operation(
            "One structure (one of yours; an administrator: any)",
            tags=["structures"],
            params=[path_param("structure_id")],
            response=STRUCTURE_OUTPUT,
        ),
        "patch": operation(
            "Rename a structure, change its kind or FINESS number",
            roles=_ADMIN,
            tags=["structures"],
            params=[path_param("structure_id")],
            body=STRUCTURE_INPUT,
            response=STRUCTURE_OUTPUT,
        ),
    },
    "/api/users": {
        "get": operation(
            "List users", roles=_ADMIN, tags=["admin"], params=PAGE_PARAMS, paged=True
        ),
        "post": operation(
            "Create a user; with an e-mail address, the server e-mails a one-time activation link",
            roles=_ADMIN,
            tags=["admin"],
            description="No password is accepted (403): the user chooses it through the link. "
            "Answers 503 (code mail_not_configured) when an address is given and no SMTP "
            "server is configured. 'mail' says whether the link was sent.",
            body={
                **USER_INPUT,
                # A new user is active: 'active' is set later with PATCH.
                "properties": {
                    k: v
                    for k, v in USER_INPUT["properties"].items()  # type: ignore[attr-defined]
                    if k != "active"
                },
                "required": ["username", "role"],
            },
            status=201,
            response=USER_OUTPUT,
        ),
    },
    "/api/users/{user_id}": {
        "get": operation(
            "One user",
            roles=_ADMIN,
            tags=["admin"],
            params=[path_param("user_id")],
            response=USER_OUTPUT,
        ),
        "patch": operation(
            "Change a user (role, team, name, active; e-mail only before activation)",
            roles=_ADMIN,
            tags=["admin"],
            params=[path_param("user_id")],
            body={k: v for k, v in USER_INPUT.items()}
            | {
                "properties": {
                    k: v
                    for k, v in USER_INPUT["properties"].items()  # type: ignore[attr-defined]
                    if k != "username"
                }
            },
            response=USER_OUTPUT,
        ),
    },
    "/api/users/{user_id}/password-link": {
        "post": operation(
            "E-mail the user a one-time link to choose their password",
            roles=_ADMIN,
            tags=["admin"],
            description="An activation link for an account without a password, else a reset "
            "link; the password stays unchanged until the user opens the link. Coordinators "
            "see the action (GET /api/account-events).",
            params=[path_param("user_id")],
            body={"type": "object", "additionalProperties": False},
            response={
                "type": "object",
                "required": ["ok", "purpose", "expires_at_s"],
                "properties": {
                    "ok": {"const": True},
                    "purpose": {"enum": ["activate", "reset"]},
                    "expires_at_s": {"type": "number"},
                    "user": {"type": "object"},
                },
            },
        )
    },
    "/api/mail": {
        "get": operation(
            "Is an SMTP server configured for account e-mails (and how to configure it)?",
            roles=_ADMIN,
            tags=["admin"],
            response={
                "type": "object",
                "required": ["ok", "mail"],
                "properties": {"ok": {"const": True}, "mail": {"type": "object"}},
            },
        )
    },
    "/api/account-events": {
        "get": operation(
            "Actions on accounts (created, changed, links sent, passwords chosen), newest first",
            roles=("coordinator", "admin"),
            tags=["admin"],
            description=f"The last {ACCOUNT_EVENTS_DAYS} days: who did what to which account.",
            response={
                "type": "object",
                "required": ["ok", "events"],
                "properties": {"ok": {"const": True}, "events": {"type": "array"}},
            },
        )
    },
    "/api/account-links/check": {
        "post": operation(
            "What a one-time account link is for (public; the token is the link's secret)",
            roles=None,
            tags=["auth"],
            body={
                "type": "object",
                "required": ["token"],
                "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 200}},
                "additionalProperties": False,
            },
            response={
                "type": "object",
                "required": ["ok", "purpose", "user"],
                "properties": {
                    "ok": {"const": True},
                    "purpose": {"enum": ["activate", "reset"]},
                    "expires_at_s": {"type": "number"},
                    "user": {"type": "object"},
                },
            },
        )
    },
    "/api/account-links/complete": {
        "post": operation(
            "Choose your password with a one-time account link (public; works once)",
            roles=None,
            tags=["auth"],
            body={
                "type": "object",
                "required": ["token", "password"],
                "properties": {
                    "token": {"type": "string", "minLength": 1, "maxLength": 200},
                    "password": {"type": "string", "minLength": 10, "maxLength": 1024},
                },
                "additionalProperties": False,
            },
            response={
                "type": "object",
                "required": ["ok", "user"],
                "properties": {"ok": {"const": True}, "user": {"type": "object"}},
            },
        )
    },
    "/api/users/{user_id}/tokens": {
        "get": operation(
            "API tokens of a user (no secrets)",
            roles=_ADMIN,
            tags=["admin"],
            params=[path_param("user_id")],
        ),
        "post": operation(
            "Create an API token for your own account (shown once)",
            roles=_ADMIN,
            tags=["admin"],
            description="user_id must be the calling administrator: tokens for other users are "
            "created on the server with `dispatch user token NAME`.",
            params=[path_param("user_id")],
            body={
                "type": "object",
                "properties": {"label": {"type": "string", "maxLength": 80}},
                "additionalProperties": False,
            },
            status=201,
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "token": {"type": "string"}},
            },
        ),
    },
    "/api/tokens/{token_id}": {
        "delete": operation(
            "Revoke an API token", roles=_ADMIN, tags=["admin"], params=[path_param("token_id")]
        )
    },
    "/api/devices": {
        "get": operation(
            "Paired devices",
            roles=("coordinator", "admin"),
            tags=["devices"],
            params=[
                *PAGE_PARAMS,
                query_param("team_id", ID_QUERY),
            ],
            paged=True,
        )
    },
    "/api/devices/{device_id}": {
        "delete": operation(
            "Revoke a device (lost or replaced phone)",
            roles=("coordinator", "admin"),
            tags=["devices"],
            params=[path_param("device_id")],
        )
    },
    "/api/audit": {
        "get": operation(
            "The audit log, newest first",
            roles=_ADMIN,
            tags=["admin"],
            params=[
                *PAGE_PARAMS,
                query_param("target", {"type": "string", "maxLength": AUDIT_FILTER_CHARS}),
                query_param("actor", {"type": "string", "maxLength": AUDIT_FILTER_CHARS}),
            ],
            paged=True,
        )
    },
}


#: Unknown field names quoted in an error, at most (a body may carry thousands).
SHOWN_NAMES = 5


def _names(names: Any) -> str:
    """Field names for an error message: each cut to 80 characters (a name of megabytes
    must not come back whole), at most SHOWN_NAMES of them and the count of the others."""
    ordered = sorted(names, key=str)
    text = ", ".join(shown(name) for name in ordered[:SHOWN_NAMES])
    if len(ordered) > SHOWN_NAMES:
        text += f" and {len(ordered) - SHOWN_NAMES} more"
    return text


def _audit(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    principal = current_principal()
    get_store().audit(
        principal.actor, action, role=principal.role, target=target, ip=client_ip(), detail=detail
    )


@bp.get("/api/structures")
@require()
def list_structures() -> ResponseReturnValue:
    """An administrator manages every structure; others see the ones they work for."""
    return ok(items=get_store().list_structures(structures=_visible()))


@bp.get("/api/structures/directory")
@require()
def structure_directory() -> ResponseReturnValue:
    items = get_store().list_structures()
    return ok(items=[{k: x[k] for k in ("id", "name", "kind")} for x in items])


@bp.post("/api/structures")
@require("admin")
def create_structure() -> ResponseReturnValue:
    structure = get_store().add_structure(json_body())
    _audit("structure.create", f"structure:{structure['id']}", {"kind": structure["kind"]})
    return ok(201, structure=structure)


@bp.get("/api/structures/<int:structure_id>")
@require()
def get_structure(structure_id: int) -> ResponseReturnValue:
    return ok(structure=get_store().get_structure(structure_id, structures=_visible()))


@bp.patch("/api/structures/<int:structure_id>")
@require("admin")
def update_structure(structure_id: int) -> ResponseReturnValue:
    data = json_body()
    structure = get_store().update_structure(structure_id, data)
    _audit("structure.update", f"structure:{structure_id}", {"fields": sorted(data)})
    return ok(structure=structure)


def _visible() -> tuple[int, ...] | None:
    """The structures the caller may list: all for an administrator, else their own."""
    principal = current_principal()
    return None if principal.role == "admin" else visible_structures(principal)


def _structure_ids(data: dict[str, Any]) -> Any:
    """The body's ``structure_ids`` (None when absent); the store checks them."""
    value = data.get("structure_ids")
    if value is not None and not isinstance(value, list):
        raise ValidationError("structure_ids must be a list of structure ids, e.g. [1, 2]")
    return value


@bp.get("/api/users")
@require("admin")
def list_users() -> ResponseReturnValue:
    limit, offset = page_args()
    return paged(get_store().list_users(limit=limit, offset=offset))


@bp.post("/api/users")
@require("admin")
def create_user() -> ResponseReturnValue:
    data = json_body()
    if "password" in data:
        _refuse_password(None)
    unknown = set(data) - {
        "username",
        "role",
        "team_id",
        "display_name",
        "email",
        "active",
        "structure_ids",
    }
    if unknown:
        raise ValidationError(f"unknown field(s) {_names(unknown)}")
    if "active" in data:
        raise ValidationError("a new user is active: set active later with PATCH")
    email = data.get("email") or None
    if email is not None:
        mailer().require()  # before the account exists: nothing half done
    store = get_store()
    user = store.add_user(
        data.get("username"),  # type: ignore[arg-type]
        role=data.get("role"),  # type: ignore[arg-type]
        team_id=data.get("team_id"),
        display_name=data.get("display_name"),
        email=email,
        structure_ids=_structure_ids(data),
    )
    _audit(
        "user.create",
        f"user:{user['id']}",
        {"role": user["role"], "email": bool(email), "structure_ids": user["structure_ids"]},
    )
    mail: dict[str, Any] = {"sent": False}
    if email is not None:
        try:
            link = _send_link(user, "activate")
            mail = {"sent": True, "expires_at_s": link["expires_at_s"]}
        except DispatchError as exc:
            # The account exists: the screen says so and the link can be sent again.
            mail = {"sent": False, "error": exc.message}
    return ok(201, user=user, mail=mail)


@bp.get("/api/users/<int:user_id>")
@require("admin")
def get_user(user_id: int) -> ResponseReturnValue:
    return ok(user=get_store().get_user(user_id))


@bp.patch("/api/users/<int:user_id>")
@require("admin")
def update_user(user_id: int) -> ResponseReturnValue:
    data = json_body()
    unknown = set(data) - USER_FIELDS
    if unknown:
        raise ValidationError(
            f"user: unknown field(s) {_names(unknown)}; known: {', '.join(sorted(USER_FIELDS))}"
        )
    if "password" in data:
        _refuse_password(user_id)
    store = get_store()
    current = store.get_user(user_id)
    principal = current_principal()
    if principal.id == user_id and (
        ("role" in data and data["role"] != current["role"]) or data.get("active") is False
    ):
        raise PermissionDeniedError(
            "you cannot change your own role or disable yourself: another administrator or"
            " the server operator (`dispatch user ...`) does it"
        )
    if "email" in data and data["email"] != current.get("email") and _in_use(store, current):
        raise PermissionDeniedError(
            "the e-mail address of an account in use cannot be changed from this screen (a"
            " new address would receive its password-reset links): the server operator runs"
            f" `dispatch user email {current['username']} ADDRESS`"
        )
    user = store.update_user(user_id, **data)
    detail: dict[str, Any] = {"fields": sorted(data)}
    if "role" in data and data["role"] != current["role"]:
        detail.update(role_from=current["role"], role=user["role"])
    if "active" in data:
        detail["active"] = bool(data["active"])
    if "structure_ids" in data:
        detail.update(structures_from=current["structure_ids"], structure_ids=user["structure_ids"])
    _audit("user.update", f"user:{user_id}", detail)
    publish("user_changed", user)  # live sockets of this user: re-checked, moved or ended
    return ok(user=user)


@bp.post("/api/users/<int:user_id>/password-link")
@require("admin")
def password_link(user_id: int) -> ResponseReturnValue:
    """E-mail the user a link to choose their password: activation or reset."""
    data = json_body() if request.get_data() else {}
    if data:
        raise ValidationError(f"unknown field(s) {_names(data)}: send {{}}")
    user = get_store().get_user(user_id)
    if not user["active"]:
        raise ConflictError(
            f"user {user['username']} is disabled: enable the account before sending a link"
        )
    if not user.get("email"):
        raise ConflictError(
            f"user {user['username']} has no e-mail address: the server operator sets one with"
            f" `dispatch user email {user['username']} ADDRESS`"
        )
    link = _send_link(user, "reset" if user["has_password"] else "activate")
    return ok(purpose=link["purpose"], expires_at_s=link["expires_at_s"], user=user)


@bp.get("/api/mail")
@require("admin")
def mail_status() -> ResponseReturnValue:
    return ok(mail=mailer().status())


@bp.get("/api/account-events")
@require("coordinator")
def account_events() -> ResponseReturnValue:
    """Who did what to which account: coordinators see what administrators do."""
    from dispatch.store.core import now_s

    events = get_store().account_events(
        since_s=now_s() - ACCOUNT_EVENTS_DAYS * 86400, structures=_visible()
    )
    keep = (
        "id",
        "at_s",
        "actor",
        "actor_name",
        "role",
        "action",
        "target",
        "target_name",
        "detail",
    )
    return ok(events=[{k: e.get(k) for k in keep} for e in events])


@bp.get("/account/")
def account_page() -> Response:
    """The page a one-time link opens (the token is in the fragment, never sent in a URL)."""
    from dispatch.web.pages import _page

    response = _page("account.html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/account-links/check")
def check_link() -> ResponseReturnValue:
    data = _link_body({"token"})
    found = get_store().account_link(data["token"])
    return ok(**found)


@bp.post("/api/account-links/complete")
def complete_link() -> ResponseReturnValue:
    from dispatch.web.api_auth import login_guard

    data = _link_body({"token", "password"})
    password = data.get("password")
    if not isinstance(password, str):
        raise ValidationError("password is required (text of at least 10 characters)")
    with login_guard().hashing():
        done = get_store().complete_account_link(data["token"], password)
    user = done["user"]
    action = "user.activated" if done["purpose"] == "activate" else "user.password_reset"
    get_store().audit(
        f"user:{user['id']}", action, role=user["role"], target=f"user:{user['id']}", ip=client_ip()
    )
    publish("user_changed", user)  # sessions ended by the new password: their sockets too
    return ok(user={"username": user["username"], "role": user["role"]})


@bp.get("/api/users/<int:user_id>/tokens")
@require("admin")
def list_tokens(user_id: int) -> ResponseReturnValue:
    store = get_store()
    store.get_user(user_id)
    return ok(tokens=store.list_api_tokens(user_id))


@bp.post("/api/users/<int:user_id>/tokens")
@require("admin")
def create_token(user_id: int) -> ResponseReturnValue:
    """A token for the calling admin only: minting one for someone else would let an admin
    act (and read patient details) as a coordinator without being audited as themselves."""
    principal = current_principal()
    if principal.kind != "user" or principal.id != user_id:
        raise PermissionDeniedError(
            "an administrator creates API tokens for their own account only: the user logs in "
            "and creates theirs, or the server operator runs `dispatch user token NAME`"
        )
    data = json_body()
    label = data.get("label", "api")
    if set(data) - {"label"} or not isinstance(label, str) or len(label) > 80:
        raise ValidationError('send {"label": text of at most 80 characters}')
    token = get_store().create_api_token(user_id, label=label)
    _audit("token.create", f"user:{user_id}", {"label": label})
    return ok(201, token=token)


@bp.delete("/api/tokens/<int:token_id>")
@require("admin")
def revoke_token(token_id: int) -> ResponseReturnValue:
    get_store().revoke_api_token(token_id)
    _audit("token.revoke", f"token:{token_id}")
    publish("token_revoked", {"id": token_id})  # live sockets opened with it are ended
    return ok()


@bp.get("/api/devices")
@require("coordinator")
def list_devices() -> ResponseReturnValue:
    limit, offset = page_args()
    return paged(
        get_store().list_devices(
            team_id=arg_int("team_id", lo=1),
            limit=limit,
            offset=offset,
            structures=visible_structures(),
        )
    )


@bp.delete("/api/devices/<int:device_id>")
@require("coordinator")
def revoke_device(device_id: int) -> ResponseReturnValue:
    device = get_store().revoke_device(device_id, structures=visible_structures())
    _audit("device.revoke", f"device:{device_id}")
    publish("device_revoked", device)
    return ok(device=device)


@bp.get("/api/audit")
@require("admin")
def audit_log() -> ResponseReturnValue:
    from flask import request

    limit, offset = page_args()
    target = request.args.get("target") or None
    actor = request.args.get("actor") or None
    for name, value in (("target", target), ("actor", actor)):
        if value is not None and len(value) > AUDIT_FILTER_CHARS:
            raise ValidationError(
                f"{name} is longer than {AUDIT_FILTER_CHARS} characters: give an audit line's"
                f" {name} as it appears in the log (e.g. user:12)"
            )
    return paged(get_store().list_audit(target=target, actor=actor, limit=limit, offset=offset))


def mailer(app: Flask | None = None) -> Mailer:
    """The app's Mailer (from the settings; tests may put another in app.extensions)."""
    app = app or current_app
    found = app.extensions.get(MAILER_KEY)
    if found is None:
        found = app.extensions[MAILER_KEY] = Mailer(app.extensions["dispatch.settings"])
    return found  # type: ignore[no-any-return]


def _in_use(store: Any, user: dict[str, Any]) -> bool:
    """An account someone already uses: it has a password, has logged in, or has a live API
    token. Its e-mail address (where its password links go) is then fixed."""
    if user["has_password"] or user.get("last_login_at_s"):
        return True
    return any(t.get("revoked_at_s") is None for t in store.list_api_tokens(user["id"]))


def _refuse_password(user_id: int | None) -> None:
    principal = current_principal()
    get_store().audit(
        principal.actor,
        "user.password_refused",
        role=principal.role,
        target=f"user:{user_id}" if user_id is not None else None,
        ip=client_ip(),
    )
    raise PermissionDeniedError(NO_PASSWORD_RULE)


def _link_body(fields: set[str]) -> dict[str, Any]:
    limiter = current_app.extensions.get(LINK_LIMITER_KEY)
    if limiter is None:
        limiter = current_app.extensions.setdefault(
            LINK_LIMITER_KEY, RateLimiter(LINK_ATTEMPTS_PER_MIN, 60.0)
        )
    decision = limiter.hit(client_ip())
    if not decision.allowed:
        raise RateLimitedError(
            f"too many link attempts from this address: retry in {decision.retry_after_header} s",
            retry_after_s=decision.retry_after_s,
        )
    data = json_body()
    unknown = set(data) - fields
    if unknown:
        raise ValidationError(
            f"unknown field(s) {_names(unknown)}; known: {', '.join(sorted(fields))}"
        )
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > 200:
        raise ValidationError("token is required: open the link from the e-mail again")
    return data


def _base_url() -> str:
    settings = current_app.extensions["dispatch.settings"]
    return (settings.public_url or request.host_url).rstrip("/")


def _when(at_s: float, locale: str) -> str:
    moment = dt.datetime.fromtimestamp(at_s, PARIS)
    return moment.strftime("%d/%m/%Y %H:%M" if locale == "fr" else "%Y-%m-%d %H:%M")


def _send_link(user: dict[str, Any], purpose: str) -> dict[str, Any]:
    """Create a one-time link for ``user``, e-mail it to the user's address, audit it."""
    send = mailer()
    send.require()
    principal = current_principal()
    store = get_store()
    link = store.create_account_link(user["id"], purpose=purpose, created_by=principal.actor)
    url = f"{_base_url()}/account/#token={link['token']}"
    name = user["display_name"] or user["username"]
    if purpose == "activate":
        subject = "Dispatch : activez votre compte / activate your account"
        why_fr = f"un compte « {user['username']} » a été créé pour vous sur Dispatch par {principal.name}."
        why_en = (
            f"an account '{user['username']}' was created for you on Dispatch by {principal.name}."
        )
    else:
        subject = "Dispatch : choisissez un nouveau mot de passe / choose a new password"
        why_fr = f"{principal.name} a demandé un nouveau mot de passe pour votre compte « {user['username']} »."
        why_en = f"{principal.name} asked for a new password for your account '{user['username']}'."
    text = (
        f"Bonjour {name},\n\n{why_fr}\n\n"
        "Ouvrez ce lien pour choisir votre mot de passe. Il ne fonctionne qu'une fois, jusqu'au"
        f" {_when(link['expires_at_s'], 'fr')} (heure de Paris) :\n\n{url}\n\n"
        "Personne d'autre ne connaîtra votre mot de passe, pas même l'administrateur. Si vous"
        " n'attendiez pas ce message, n'ouvrez pas le lien et prévenez votre coordinateur.\n\n"
        f"-- English --\n\nHello {name},\n\n{why_en}\n\n"
        "Open this link to choose your password. It works once, until"
        f" {_when(link['expires_at_s'], 'en')} (Paris time):\n\n{url}\n\n"
        "Nobody else will know your password, not even the administrator. If you did not"
        " expect this message, do not open the link and tell your coordinator.\n"
    )
    send.send(user["email"], subject, text)
    # The address is shown to coordinators: a link sent to an unexpected address stands out.
    _audit("user.password_link", f"user:{user['id']}", {"purpose": purpose, "email": user["email"]})
    return link


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
