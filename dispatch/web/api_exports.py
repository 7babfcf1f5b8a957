"""REST edge of the calendar feeds and exports.

- ``/api/staff/<id>/calendar-feed`` (coordinator): create (a new private link; the previous
  one stops working), read whether one is live, revoke;
- ``/calendar/<token>.ics`` (no login: the secret link is the key): the member's coming
  visits, pseudonymised; an unknown or revoked link is a 404;
- ``/api/phone/calendar.ics`` (the phone's own device token): the team's coming visits, with
  names and addresses for today's visits only;
- ``/api/exports/week.ics`` and ``/api/exports/activity.csv`` (coordinator): the structure's
  week and its activity for a period.

Every answer holding patient data is written to the audit log and never cached.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.errors import NotFoundError, PermissionDeniedError
from dispatch.exports import activity as act
from dispatch.exports import service
from dispatch.store.models import parse_day
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.live import get_clock
from dispatch.web.openapi import (
    DAY_QUERY,
    ERROR_REF,
    ID_QUERY,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import arg_choice, arg_day, ok
from dispatch.web.scope import target_structure, visible_structures

bp = Blueprint("api_exports", __name__)

#: Who manages feeds and exports: coordinators (an administrator manages accounts, not
#: patients' visits).
MANAGERS = ("coordinator",)
NO_STORE = "no-store, private"
LOCALES = ("fr", "en")
_LANG = query_param(
    "lang", {"enum": ["", "fr", "en"]}, "language of the texts (fr, the default, or en)"
)
_ISO = {"type": "string", "format": "date-time"}
_FEED = {
    "type": "object",
    "required": ["ok", "url", "created_at"],
    "properties": {
        "ok": {"const": True},
        "url": {"type": "string", "description": "the private link (shown once)"},
        "created_at": _ISO,
    },
    "additionalProperties": False,
}
_FEED_STATE = {
    "type": "object",
    "required": ["ok", "active", "created_at", "last_used_at"],
    "properties": {
        "ok": {"const": True},
        "active": {"type": "boolean"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "additionalProperties": False,
}
_ICS = {"type": "string", "description": "an RFC 5545 calendar"}
_WHY_FEED = (
    "A private link a member of staff adds to their calendar application (subscription): "
    "their visits of the coming 14 days, patients by pseudonym and commune only. Creating a "
    "link revokes the previous one. A member of a structure the caller does not belong to "
    "is not found (404)."
)


def _revoked_op() -> dict[str, Any]:
    op = operation(
        "Revoke a member of staff's private calendar link (it answers 404 from now on)",
        roles=MANAGERS,
        tags=["exports"],
        params=[path_param("staff_id")],
        status=204,
        description=_WHY_FEED,
    )
    op["responses"]["204"] = {"description": "Revoked (or there was no live link)"}
    return op


OPENAPI_PATHS = {
    "/api/staff/{staff_id}/calendar-feed": {
        "post": operation(
            "A new private calendar link for a member of staff",
            roles=MANAGERS,
            tags=["exports"],
            params=[path_param("staff_id")],
            status=201,
            response=_FEED,
            description=_WHY_FEED,
        ),
        "get": operation(
            "Whether a member of staff has a live calendar link, since when, last read when",
            roles=MANAGERS,
            tags=["exports"],
            params=[path_param("staff_id")],
            response=_FEED_STATE,
            description=_WHY_FEED,
        ),
        "delete": _revoked_op(),
    },
    "/calendar/{token}.ics": {
        "get": operation(
            "A member of staff's coming visits (14 days) as iCalendar, pseudonymised",
            roles=None,
            tags=["exports"],
            params=[
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "description": "the private link's secret",
                    "schema": {"type": "string", "maxLength": 100},
                },
                _LANG,
            ],
            response=_ICS,
            response_content_types=("text/calendar",),
            description="No login: the link is the key (an unknown or revoked one is a 404). "
            "Times carry TZID=Europe/Paris with the zone's VTIMEZONE; UIDs are stable; a "
            "moved visit's SEQUENCE goes up; a cancelled visit stays as STATUS:CANCELLED. "
            "Every read is audited.",
        )
    },
    "/api/phone/calendar.ics": {
        "get": operation(
            "The phone's team's coming visits (14 days) as iCalendar",
            roles=("team_member",),
            tags=["exports"],
            params=[_LANG],
            response=_ICS,
            response_content_types=("text/calendar",),
            description="With the phone's own device token only. Today's visits carry the "
            "patient's name, address and phone (each read audited, as the visit's details); "
            "the following days are pseudonymised.",
        )
    },
    "/api/exports/week.ics": {
        "get": operation(
            "A structure's week (7 days from `from`) as iCalendar, pseudonymised",
            roles=MANAGERS,
            tags=["exports"],
            params=[
                query_param("from", DAY_QUERY, "first day (default today)"),
                query_param("structure_id", ID_QUERY, "one of your structures"),
                _LANG,
            ],
            response=_ICS,
            response_content_types=("text/calendar",),
            description="Audited.",
        )
    },
    "/api/exports/activity.csv": {
        "get": operation(
            "A structure's activity for a period as CSV (visits done, missed, times, km)",
            roles=MANAGERS,
            tags=["exports"],
            params=[
                query_param("from", DAY_QUERY, "first day (default: the 1st of the month)"),
                query_param("to", DAY_QUERY, "last day, included (default today)"),
                query_param("structure_id", ID_QUERY, "one of your structures"),
                query_param(
                    "detail",
                    {"enum": ["", *act.DETAILS]},
                    "visits (one line per visit, the default) or summary (per day and team)",
                ),
                _LANG,
            ],
            response={"type": "string"},
            response_content_types=("text/csv",),
            description="Semicolon-separated, UTF-8 with a byte-order mark (French "
            "spreadsheets), decimal comma in French. Patients by pseudonym. km of the "
            "published rounds, and of the GPS tracks while positions are kept. From `from` to `to` in order, at most 366 "
            "days. Audited.",
        )
    },
}
# Keep the generic error response on the 204 operation too.
OPENAPI_PATHS["/api/staff/{staff_id}/calendar-feed"]["delete"]["responses"]["default"] = {
    "description": "Error",
    "content": {"application/json": {"schema": ERROR_REF}},
}


def _iso(at_s: float | None) -> str | None:
    if at_s is None:
        return None
    return dt.datetime.fromtimestamp(at_s, dt.UTC).isoformat(timespec="seconds")


def _base_url() -> str:
    settings = current_app.extensions["dispatch.settings"]
    return str(settings.public_url or request.host_url).rstrip("/")


def _place() -> service.Place:
    clock = get_clock()
    settings = current_app.extensions["dispatch.settings"]
    host = urlsplit(settings.public_url).hostname if settings.public_url else None
    return service.Place(
        timezone=clock.tz.key, offset_s=clock.offset_s, uid_domain=host or "dispatch"
    )


def _who() -> service.Who:
    principal = current_principal()
    return service.Who(principal.actor, principal.role, client_ip(), principal.via)


def _lang() -> str:
    return arg_choice("lang", LOCALES) or "fr"


def _download(body: bytes, *, mimetype: str, filename: str, inline: bool = False) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename}"',
            "Cache-Control": NO_STORE,
            "X-Content-Type-Options": "nosniff",
        },
    )


def _calendar(body: bytes, filename: str) -> Response:
    response = _download(body, mimetype="text/calendar", filename=filename, inline=True)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    return response


# -- feeds ---------------------------------------------------------------------------------------
@bp.post("/api/staff/<int:staff_id>/calendar-feed")
@require(*MANAGERS, admin=False)
def create_feed(staff_id: int) -> ResponseReturnValue:
    principal = current_principal()
    feed = get_store().create_calendar_feed(
        staff_id,
        created_by=principal.actor,
        role=principal.role,
        ip=client_ip(),
        structures=visible_structures(),
    )
    return ok(
        201,
        url=f"{_base_url()}/calendar/{feed['token']}.ics",
        created_at=_iso(feed["created_at_s"]),
    )


@bp.get("/api/staff/<int:staff_id>/calendar-feed")
@require(*MANAGERS, admin=False)
def feed_state(staff_id: int) -> ResponseReturnValue:
    feed = get_store().calendar_feed(staff_id, structures=visible_structures())
    return ok(
        active=feed["active"],
        created_at=_iso(feed["created_at_s"]),
        last_used_at=_iso(feed["last_used_at_s"]),
    )


@bp.delete("/api/staff/<int:staff_id>/calendar-feed")
@require(*MANAGERS, admin=False)
def revoke_feed(staff_id: int) -> ResponseReturnValue:
    principal = current_principal()
    get_store().revoke_calendar_feed(
        staff_id,
        by=principal.actor,
        role=principal.role,
        ip=client_ip(),
        structures=visible_structures(),
    )
    return Response(status=204)


@bp.get("/calendar/<token>.ics")
def feed(token: str) -> ResponseReturnValue:
    store = get_store()
    found = store.staff_for_calendar_token(token) if len(token) <= 100 else None
    if found is None:
        raise NotFoundError(
            "this calendar link is unknown or was revoked: ask your coordinator for a new one"
        )
    who = service.Who(f"calendar_feed:{found['feed_id']}", None, client_ip(), "feed")
    body = service.staff_feed(
        store,
        int(found["staff_id"]),
        today=get_clock().today(),
        who=who,
        place=_place(),
        locale=_lang(),
    )
    return _calendar(body, "tournees.ics")


@bp.get("/api/phone/calendar.ics")
@require("team_member", admin=False)
def phone_feed() -> ResponseReturnValue:
    principal = current_principal()
    if principal.kind != "device" or principal.team_id is None:
        raise PermissionDeniedError(
            "this calendar is read with the phone's own token (pairing): a member's private"
            " link comes from the coordinator"
        )
    body = service.team_feed(
        get_store(),
        principal.team_id,
        today=get_clock().today(),
        who=_who(),
        place=_place(),
        locale=_lang(),
        structures=visible_structures(),
    )
    return _calendar(body, "tournee.ics")


# -- exports -------------------------------------------------------------------------------------
@bp.get("/api/exports/week.ics")
@require(*MANAGERS, admin=False)
def week_ics() -> ResponseReturnValue:
    structure_id = target_structure(request.args.get("structure_id"))
    first = arg_day("from") or get_clock().today()
    body = service.structure_week(
        get_store(), structure_id, from_day=first, who=_who(), place=_place(), locale=_lang()
    )
    return _download(body, mimetype="text/calendar", filename=f"semaine-{first}.ics")


@bp.get("/api/exports/activity.csv")
@require(*MANAGERS, admin=False)
def activity_csv() -> ResponseReturnValue:
    structure_id = target_structure(request.args.get("structure_id"))
    today = get_clock().today()
    last = arg_day("to") or today
    first = arg_day("from") or parse_day(last)[:8] + "01"
    detail = arg_choice("detail", act.DETAILS) or "visits"
    body = service.activity(
        get_store(),
        structure_id,
        from_day=first,
        to_day=last,
        detail=detail,
        who=_who(),
        place=_place(),
        locale=_lang(),
    )
    response = _download(
        body, mimetype="text/csv", filename=f"activite-{detail}-{first}-{last}.csv"
    )
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    return response


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
