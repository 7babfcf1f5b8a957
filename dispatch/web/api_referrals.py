"""REST endpoints of referrers' requests (issue 24): invitations of referrers by a
coordinator, a referrer's requests, their slots, booking, and the coordinator's decisions.

Thin edge of :class:`dispatch.referrals.service.Referrals` (get it with
:func:`get_referrals`): the service checks who may see and do what (a referrer sees only
their own requests, a coordinator their structures'; any other request is a 404).
Administrators manage accounts, not requests: these routes do not admit them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, has_request_context, request
from flask.typing import ResponseReturnValue

from dispatch.care import acts
from dispatch.care.patients import _commune_of
from dispatch.errors import NotBuiltError, ValidationError
from dispatch.mail import ADDRESS_PATTERN
from dispatch.referrals import core
from dispatch.referrals.service import ORDERS, Referrals, parse_state
from dispatch.referrals.vault import Vault
from dispatch.store.models import CARE_KINDS
from dispatch.store.rows import Page
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import (
    DAY_SCHEMA,
    NOT_BLANK,
    PAGE_PARAMS,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import (
    arg_int,
    get_bus,
    json_body,
    ok,
    page_args,
    paged,
    service_area,
    subscribe,
)
from dispatch.web.scope import TARGET_STRUCTURE_SCHEMA

log = logging.getLogger(__name__)
bp = Blueprint("api_referrals", __name__)
SERVICE_KEY = "dispatch.referrals"
#: Who makes requests, and who decides on them.
REFERRER = ("referrer",)
COORDINATOR = ("coordinator",)
BOTH = ("referrer", "coordinator")


def get_referrals(app: Flask | None = None) -> Referrals:
    """The app's referral service (one per app)."""
    app = app or current_app
    found = app.extensions.get(SERVICE_KEY)
    if found is None:
        found = app.extensions[SERVICE_KEY] = _build(app)
    return found  # type: ignore[no-any-return]


def _build(app: Flask) -> Referrals:
    from dispatch.web.api_admin import mailer
    from dispatch.web.live import get_clock

    settings = app.extensions["dispatch.settings"]
    clock = get_clock(app)

    def finder() -> Any:
        from dispatch.referrals.slots import finder_for
        from dispatch.web.api_dispatch import get_rounds

        return finder_for(get_rounds(app))

    def base_url() -> str:
        if settings.public_url:
            return str(settings.public_url)
        if has_request_context():
            return str(request.host_url)
        return f"http://{settings.host}:{settings.port}"

    return Referrals(
        get_store(app),
        finder=finder,
        vault=Vault(settings.var_dir),
        mailer=mailer(app),
        today=clock.today,
        now_s_of_day=clock.seconds_of_day,
        now_s=lambda: clock.local().timestamp(),
        tz=clock.tz.key,
        base_url=base_url,
        bus=get_bus(app),
        max_attachment_bytes=settings.referral_attachment_max_bytes,
        horizon_days=settings.generation_horizon_days,
        geocoder=lambda: _geocoder(app),
    )


def _geocoder(app: Flask) -> Any:
    from dispatch.web.api_intake import get_geocoder

    return get_geocoder(app)


def viewer() -> core.Viewer:
    """The caller as the service sees it."""
    principal = current_principal()
    best = request.accept_languages.best_match(["fr", "en"])
    return core.Viewer(
        user_id=principal.id if principal.kind == "user" else None,
        role=principal.role,
        structure_ids=tuple(principal.structure_ids),
        actor=principal.actor,
        locale=best or current_app.extensions["dispatch.settings"].locale,
        ip=client_ip(),
    )


# -- schemas -------------------------------------------------------------------------------------
_ID = {"type": "integer", "minimum": 1}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_NULLABLE_DAY = {"anyOf": [DAY_SCHEMA, {"type": "null"}]}


def _text(max_len: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_len, "pattern": NOT_BLANK}


def _text_or_null(max_len: int) -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "maxLength": max_len}, {"type": "null"}]}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(props) if required is None else required,
        "properties": props,
        "additionalProperties": False,
    }


PATIENT_IN = _obj(
    {
        "family_name": _text(100),
        "given_name": _text(100),
        "birth_date": {**DAY_SCHEMA, "description": "not in the future"},
        "gender": {"enum": [*core.GENDERS, None]},
        "phone": _text_or_null(40),
    },
    required=["family_name", "given_name", "birth_date"],
)
RECURRENCE = _obj(
    {
        "times_per_day": {"type": "integer", "minimum": 1, "maximum": 3},
        "weekdays": {
            "type": "array",
            "minItems": 1,
            "maxItems": 7,
            "items": {"type": "integer", "minimum": 1, "maximum": 7},
            "description": "1 = Monday .. 7 = Sunday",
        },
        "until": {**DAY_SCHEMA, "description": "last day of care (period_from + 366 at most)"},
    }
)
PRESCRIPTION = _obj({"prescriber": _text(200), "date": DAY_SCHEMA, "details": _text(2000)})
REQUEST_IN = _obj(
    {
        "structure_id": TARGET_STRUCTURE_SCHEMA,
        "patient": PATIENT_IN,
        "address": {
            **_text(200),
            "description": "the address as typed (number, street, building): kept as the"
            " patient's address next to the point",
        },
        "address_precision": {
            "enum": [*core.ADDRESS_PRECISIONS, None],
            "description": "the chosen geocoder match's precision; null or absent: a pin"
            " placed by hand (absent: the server geocodes the address at the point)",
        },
        "commune": {
            **_text_or_null(100),
            "description": "the commune's name (the chosen match's commune)",
        },
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "access_notes": _text_or_null(2000),
        "reason": _text(2000),
        "act": {
            "enum": list(acts.ACT_IDS),
            "description": "the care act asked (GET /api/referrals/options lists them): its"
            " skills choose the teams",
        },
        "care_kind": {"enum": list(CARE_KINDS), "description": "derived from act when absent"},
        "duration_min": {"type": "integer", "minimum": 5, "maximum": 240},
        "urgency": {"enum": list(core.URGENCIES)},
        "period_from": DAY_SCHEMA,
        "period_to": DAY_SCHEMA,
        "time_of_day": {"enum": list(core.TIMES_OF_DAY)},
        "recurrence": {"anyOf": [RECURRENCE, {"type": "null"}]},
        "prescription": {"anyOf": [PRESCRIPTION, {"type": "null"}]},
    },
    required=[
        "patient",
        "address",
        "lon",
        "lat",
        "reason",
        "act",
        "duration_min",
        "urgency",
        "period_from",
        "period_to",
    ],
)
SLOT = _obj(
    {
        "slot_id": {"type": "string"},
        "day": {"type": "string"},
        "start": {"type": "string"},
        "latest_start": {"type": "string"},
        "end": {"type": "string"},
        "start_at": {"type": "string", "description": "ISO 8601 with the Paris offset"},
        "team_name": {"type": ["string", "null"], "description": "coordinators only"},
    }
)
ATTACHMENT = _obj(
    {
        "id": {"type": "integer"},
        "filename": {"type": "string"},
        "media_type": {"enum": ["application/pdf", "image/png", "image/jpeg"]},
        "size_bytes": {"type": "integer"},
    }
)
REFERRAL = _obj(
    {
        "id": {"type": "integer"},
        "structure_id": {"type": "integer"},
        "structure_name": {"type": "string"},
        "state": {"enum": list(core.STATES)},
        "kind": {"enum": list(core.KINDS)},
        "urgency": {"enum": list(core.URGENCIES)},
        "patient": _obj(
            {
                "family_name": {"type": "string"},
                "given_name": {"type": "string"},
                "birth_date": {"type": "string"},
                "gender": {"enum": [*core.GENDERS, None]},
                "phone": _TEXT_OR_NULL,
            }
        ),
        "address": {"type": "string"},
        "address_precision": {
            "enum": [*core.ADDRESS_PRECISIONS, None],
            "description": "how the home was placed: at its number, the street's middle, the"
            " commune's centre; null: a pin placed by hand (or not known)",
        },
        "commune": _TEXT_OR_NULL,
        "lon": {"type": "number"},
        "lat": {"type": "number"},
        "access_notes": _TEXT_OR_NULL,
        "reason": {"type": "string"},
        "act": {"enum": list(acts.ACT_IDS)},
        "care_kind": {"type": "string"},
        "duration_min": {"type": "integer"},
        "period_from": {"type": "string"},
        "period_to": {"type": "string"},
        "time_of_day": {"enum": list(core.TIMES_OF_DAY)},
        "recurrence": {
            "anyOf": [
                _obj(
                    {
                        "times_per_day": {"type": "integer"},
                        "weekdays": {"type": "array", "items": {"type": "integer"}},
                        "until": {"type": "string"},
                    }
                ),
                {"type": "null"},
            ]
        },
        "prescription": {
            "anyOf": [
                _obj(
                    {
                        "prescriber": {"type": "string"},
                        "date": {"type": "string"},
                        "details": {"type": "string"},
                    }
                ),
                {"type": "null"},
            ]
        },
        "referrer": _obj(
            {
                "id": {"type": "integer"},
                "display_name": {"type": "string"},
                "profession": {"enum": list(core.PROFESSIONS)},
            }
        ),
        "patient_id": {"type": ["integer", "null"], "description": "coordinators only"},
        "care_plan_id": {"type": ["integer", "null"], "description": "coordinators only"},
        "visit": {
            "anyOf": [
                _obj(
                    {
                        "id": {"type": "integer"},
                        "day": {"type": "string"},
                        "start": {"type": ["string", "null"]},
                        "end": {"type": ["string", "null"]},
                        "status": {"type": "string"},
                        "arrival_from": {
                            "type": ["string", "null"],
                            "description": "HH:MM: the team arrives between arrival_from and"
                            " arrival_to (the booked slot's start and latest start)",
                        },
                        "arrival_to": {"type": ["string", "null"]},
                        "team_name": {
                            "type": ["string", "null"],
                            "description": "coordinators only",
                        },
                    }
                ),
                {"type": "null"},
            ]
        },
        "proposed_slots": {"type": "array", "items": SLOT},
        "message": _TEXT_OR_NULL,
        "decline_reason": _TEXT_OR_NULL,
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "events": {
            "type": "array",
            "items": _obj(
                {
                    "at": {"type": "string"},
                    "actor_role": {"type": ["string", "null"]},
                    "kind": {"type": "string"},
                    "text_fr": {"type": "string"},
                    "text_en": {"type": "string"},
                }
            ),
        },
        "attachments": {"type": "array", "items": ATTACHMENT},
    }
)
REFERRER_OUT = _obj(
    {
        "id": {"type": "integer"},
        "display_name": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "profession": {"enum": list(core.PROFESSIONS)},
        "active": {"type": "boolean"},
        "structure_ids": {"type": "array", "items": {"type": "integer"}},
    }
)
INVITE_IN = _obj(
    {
        "email": {"type": "string", "maxLength": 254, "pattern": ADDRESS_PATTERN},
        "display_name": _text(80),
        "profession": {"enum": list(core.PROFESSIONS)},
        "structure_id": TARGET_STRUCTURE_SCHEMA,
    },
    required=["email", "display_name", "profession"],
)


def _ok(**props: Any) -> dict[str, Any]:
    return _obj({"ok": {"const": True}, **props})


_REFERRAL_OUT = _ok(referral=REFERRAL)
_RID = [path_param("referral_id", "request id")]
_TAGS = ["referrals"]

OPENAPI_PATHS = {
    "/api/referrers": {
        "get": operation(
            "The referrers your structures invited",
            roles=COORDINATOR,
            tags=_TAGS,
            response=_ok(items={"type": "array", "items": REFERRER_OUT}),
        ),
        "post": operation(
            "Invite a referrer (a GP, a discharge nurse...): their account's activation link is"
            " e-mailed",
            roles=COORDINATOR,
            tags=_TAGS,
            body=INVITE_IN,
            status=201,
            response=_ok(
                referrer=REFERRER_OUT,
                mail={"enum": ["sent", "not_configured", "failed"]},
                activation_url={"type": ["string", "null"]},
            ),
            description="An address already invited by another structure gets this structure"
            " too (no new account). activation_url is given only when the e-mail could not be"
            " sent, for the coordinator to pass on. An address of a staff account is a 409.",
        ),
    },
    "/api/referrals/options": {
        "get": operation(
            "What the request form offers: your structures, professions, urgencies, times of"
            " day, the care acts (skills needed, usual duration), the largest attachment",
            roles=BOTH,
            tags=_TAGS,
            response=_ok(
                structures={
                    "type": "array",
                    "items": _obj(
                        {
                            "id": {"type": "integer"},
                            "name": {"type": "string"},
                            "care_kinds": {"type": "array", "items": {"type": "string"}},
                            "acts": {
                                "type": "array",
                                "items": {"enum": list(acts.ACT_IDS)},
                                "description": "the acts some staff member or team of the"
                                " structure can do (skills)",
                            },
                        }
                    ),
                },
                professions={"type": "array", "items": {"type": "string"}},
                urgencies={"type": "array", "items": {"type": "string"}},
                times_of_day={"type": "array", "items": {"type": "string"}},
                acts={
                    "type": "array",
                    "items": _obj(
                        {
                            "id": {"enum": list(acts.ACT_IDS)},
                            "label_fr": {"type": "string"},
                            "label_en": {"type": "string"},
                            "skills": {"type": "array", "items": {"type": "string"}},
                            "duration_min": {"type": "integer"},
                        }
                    ),
                },
                max_attachment_bytes={"type": "integer"},
            ),
        )
    },
    "/api/referrals/geocode": {
        "get": operation(
            "Addresses matching a text, from the territory's offline geocoder",
            roles=BOTH,
            tags=_TAGS,
            params=[
                {
                    "name": "q",
                    "in": "query",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 200,
                        "pattern": NOT_BLANK,
                    },
                    "description": "an address, a street or a commune",
                }
            ],  # fmt: skip
            response=_ok(
                matches={
                    "type": "array",
                    "items": _obj(
                        {
                            "label": {"type": "string"},
                            "lon": {"type": "number"},
                            "lat": {"type": "number"},
                            "precision": {"type": "string"},
                            "commune": {
                                "type": ["string", "null"],
                                "description": "the commune's name",
                            },
                        }
                    ),
                }
            ),
        )
    },
    "/api/referrals": {
        "get": operation(
            "Requests, newest first: a referrer's own, or your structures' (coordinator)",
            roles=BOTH,
            tags=_TAGS,
            params=[
                *PAGE_PARAMS,
                query_param("state", {"enum": ["", *core.STATES]}, "only this state"),
                query_param(
                    "order",
                    {"enum": ["", *ORDERS]},
                    "newest (default) or urgency: the requests awaiting an answer first,"
                    " urgent ones first among them, then newest first",
                ),
            ],
            response={
                "type": "object",
                "required": ["ok", "items", "total", "limit", "offset", "next"],
                "properties": {
                    "ok": {"const": True},
                    "items": {"type": "array", "items": REFERRAL},
                    "total": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "offset": {"type": "integer"},
                    "next": {"type": ["string", "null"]},
                },
                "additionalProperties": False,
            },
        ),
        "post": operation(
            "Send a request to a structure that invited you (state submitted)",
            roles=REFERRER,
            tags=_TAGS,
            body=REQUEST_IN,
            status=201,
            response=_REFERRAL_OUT,
            description="period_from is today or later, period_to on or after it and at most 28"
            " days ahead; lon/lat inside the served territory; the patient's birth_date is not"
            " in the future; recurrence.until is on"
            " or after period_from, at most 366 days later. A request with a recurrence becomes"
            " a care plan once accepted.",
        ),
    },
    "/api/referrals/{referral_id}": {
        "get": operation(
            "One request with its history (audited)",
            roles=BOTH,
            tags=_TAGS,
            params=_RID,
            response=_REFERRAL_OUT,
        )
    },
    "/api/referrals/{referral_id}/attachments": {
        "post": operation(
            "Attach a prescription or a letter: PDF, PNG or JPEG (judged by content), stored"
            " encrypted",
            roles=REFERRER,
            tags=_TAGS,
            params=_RID,
            body=_obj({"file": {"type": "string", "format": "binary"}}),
            body_content_type="multipart/form-data",
            status=201,
            response=_ok(attachment=ATTACHMENT),
            description="413 above the size GET /api/referrals/options gives; 415 for another"
            " type.",
        )
    },
    "/api/referrals/{referral_id}/attachments/{attachment_id}": {
        "get": operation(
            "An attachment's file (audited)",
            roles=BOTH,
            tags=_TAGS,
            params=[*_RID, path_param("attachment_id", "attachment id")],
            response={"type": "string", "format": "binary"},
            response_content_types=("application/pdf", "image/png", "image/jpeg"),
        )
    },
    "/api/referrals/{referral_id}/slots": {
        "get": operation(
            "Free slots over the request's period (its first 7 days from today), in its time of"
            " day; for a referrer on proposed times, those still ahead",
            roles=BOTH,
            tags=_TAGS,
            params=[
                *_RID,
                query_param(
                    "n",
                    {
                        "anyOf": [
                            {"type": "integer", "minimum": 1, "maximum": 10},
                            {"type": "string", "maxLength": 0},
                        ]
                    },
                    "how many (5)",
                ),
            ],  # fmt: skip
            response=_ok(
                slots={"type": "array", "items": SLOT}, reason={"type": ["string", "null"]}
            ),
        )
    },
    "/api/referrals/{referral_id}/book": {
        "post": operation(
            "Book a slot: the visit is placed in the round (state booked)",
            roles=REFERRER,
            tags=_TAGS,
            params=_RID,
            body=_obj({"slot_id": {"type": "string", "minLength": 1, "maxLength": 40}}),
            response=_REFERRAL_OUT,
            description="409 slot_taken when the slot is no longer free: choose another.",
        )
    },
    "/api/referrals/{referral_id}/accept": {
        "post": operation(
            "Accept a request: a one-off visit in the slot given; a request with a recurrence"
            " creates the patient's care plan (the slot, if given, is its first visit)",
            roles=COORDINATOR,
            tags=_TAGS,
            params=_RID,
            body=_obj(
                {
                    "slot_id": {
                        "anyOf": [
                            {"type": "string", "minLength": 1, "maxLength": 40},
                            {"type": "null"},
                        ]
                    }
                },
                required=[],
            ),  # fmt: skip
            response=_REFERRAL_OUT,
        )
    },
    "/api/referrals/{referral_id}/propose": {
        "post": operation(
            "Propose other times (1 to 5 slots of GET .../slots) with a message",
            roles=COORDINATOR,
            tags=_TAGS,
            params=_RID,
            body=_obj(
                {
                    "slot_ids": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 5,
                        "uniqueItems": True,
                        "items": {"type": "string", "minLength": 1, "maxLength": 40},
                    },
                    "message": _text_or_null(1000),
                },
                required=["slot_ids"],
            ),
            response=_REFERRAL_OUT,
        )
    },
    "/api/referrals/{referral_id}/decline": {
        "post": operation(
            "Decline a request, saying why",
            roles=COORDINATOR,
            tags=_TAGS,
            params=_RID,
            body=_obj({"reason": _text(1000)}),
            response=_REFERRAL_OUT,
        )
    },
    "/api/referrals/{referral_id}/cancel": {
        "post": operation(
            "Cancel a request (a booked visit not started is cancelled too)",
            roles=BOTH,
            tags=_TAGS,
            params=_RID,
            body=_obj({"reason": _text_or_null(1000)}, required=[]),
            response=_REFERRAL_OUT,
        )
    },
}


def _fields(data: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(unknown)[:200]}; known: {', '.join(known)}"
        )
    return data


# -- referrers -----------------------------------------------------------------------------------
@bp.get("/api/referrers")
@require(*COORDINATOR, admin=False)
def list_referrers() -> ResponseReturnValue:
    return ok(items=get_referrals().list_referrers(viewer()))


@bp.post("/api/referrers")
@require(*COORDINATOR, admin=False)
def invite_referrer() -> ResponseReturnValue:
    from dispatch.web.api_admin import _base_url, _when

    data = _fields(json_body(), ("email", "display_name", "profession", "structure_id"))
    from dispatch.web.scope import target_structure

    structure_id = target_structure(data.get("structure_id"))
    store = get_store()
    principal = current_principal()

    def link(user_id: int) -> tuple[str, tuple[str, str]]:
        made = store.create_account_link(user_id, purpose="activate", created_by=principal.actor)
        url = f"{_base_url()}/account/#token={made['token']}"
        return url, (_when(made["expires_at_s"], "fr"), _when(made["expires_at_s"], "en"))

    referrer, mail, url = get_referrals().invite_referrer(
        viewer(),
        email=data.get("email"),
        display_name=data.get("display_name"),
        profession=data.get("profession"),
        structure_id=structure_id,
        link=link,
    )
    return ok(201, referrer=referrer, mail=mail, activation_url=url)


# -- requests ------------------------------------------------------------------------------------
@bp.get("/api/referrals/options")
@require(*BOTH, admin=False)
def options() -> ResponseReturnValue:
    return ok(**get_referrals().options(viewer()))


@bp.get("/api/referrals/geocode")
@require(*BOTH, admin=False)
def geocode() -> ResponseReturnValue:
    from dispatch.web.api_intake import get_geocoder

    query = (request.args.get("q") or "").strip()
    if not query:
        raise ValidationError("q is empty: type an address, a street or a commune")
    if len(query) > 200:
        raise ValidationError("q is longer than 200 characters: type the address only")
    geocoder = get_geocoder()
    if geocoder is None:
        raise NotBuiltError(
            "the territory is not built, addresses cannot be searched: place the pin on the map"
        )
    matches = [
        {
            "label": m.label,
            "lon": float(m.lon),
            "lat": float(m.lat),
            "precision": m.precision,
            "commune": _commune_of(m.label),
        }
        # A number typed stays in the label even when the point is the street's middle.
        for m in geocoder.geocode(query, limit=5, keep_number=True)
    ]
    return ok(matches=matches)


@bp.get("/api/referrals")
@require(*BOTH, admin=False)
def list_referrals() -> ResponseReturnValue:
    limit, offset = page_args()
    state = parse_state(request.args.get("state"))
    order = request.args.get("order") or "newest"
    items, total = get_referrals().list(viewer(), state, limit=limit, offset=offset, order=order)
    return paged(Page(items, total=total, limit=limit, offset=offset))


@bp.post("/api/referrals")
@require(*REFERRER, admin=False)
def submit() -> ResponseReturnValue:
    return ok(201, referral=get_referrals().submit(viewer(), json_body(), area=service_area()))


@bp.get("/api/referrals/<int:referral_id>")
@require(*BOTH, admin=False)
def get_referral(referral_id: int) -> ResponseReturnValue:
    return ok(referral=get_referrals().get(viewer(), referral_id))


@bp.post("/api/referrals/<int:referral_id>/attachments")
@require(*REFERRER, admin=False)
def add_attachment(referral_id: int) -> ResponseReturnValue:
    upload = request.files.get("file")
    if upload is None:
        raise ValidationError("send the file as a multipart upload named 'file'")
    content = upload.read()
    attachment = get_referrals().add_attachment(
        viewer(), referral_id, filename=upload.filename, content=content
    )
    return ok(201, attachment=attachment)


@bp.get("/api/referrals/<int:referral_id>/attachments/<int:attachment_id>")
@require(*BOTH, admin=False)
def get_attachment(referral_id: int, attachment_id: int) -> ResponseReturnValue:
    found, content = get_referrals().attachment(viewer(), referral_id, attachment_id)
    response = Response(content, mimetype=found["media_type"])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{found["filename"].encode("ascii", "replace").decode()}"'
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/api/referrals/<int:referral_id>/slots")
@require(*BOTH, admin=False)
def slots(referral_id: int) -> ResponseReturnValue:
    n = arg_int("n", lo=1, hi=10, default=5)
    return ok(**get_referrals().slots(viewer(), referral_id, n=n or 5))


@bp.post("/api/referrals/<int:referral_id>/book")
@require(*REFERRER, admin=False)
def book(referral_id: int) -> ResponseReturnValue:
    data = _fields(json_body(), ("slot_id",))
    if "slot_id" not in data:
        raise ValidationError("slot_id is required: one of GET /api/referrals/ID/slots")
    return ok(referral=get_referrals().book(viewer(), referral_id, data["slot_id"]))


@bp.post("/api/referrals/<int:referral_id>/accept")
@require(*COORDINATOR, admin=False)
def accept(referral_id: int) -> ResponseReturnValue:
    data = _fields(json_body(), ("slot_id",))
    return ok(referral=get_referrals().accept(viewer(), referral_id, data.get("slot_id")))


@bp.post("/api/referrals/<int:referral_id>/propose")
@require(*COORDINATOR, admin=False)
def propose(referral_id: int) -> ResponseReturnValue:
    data = _fields(json_body(), ("slot_ids", "message"))
    return ok(
        referral=get_referrals().propose(
            viewer(), referral_id, data.get("slot_ids"), data.get("message")
        )
    )


@bp.post("/api/referrals/<int:referral_id>/decline")
@require(*COORDINATOR, admin=False)
def decline(referral_id: int) -> ResponseReturnValue:
    data = _fields(json_body(), ("reason",))
    return ok(referral=get_referrals().decline(viewer(), referral_id, data.get("reason")))


@bp.post("/api/referrals/<int:referral_id>/cancel")
@require(*BOTH, admin=False)
def cancel(referral_id: int) -> ResponseReturnValue:
    data = _fields(json_body(), ("reason",))
    return ok(referral=get_referrals().cancel(viewer(), referral_id, data.get("reason")))


@bp.after_request
def _no_store(response: Response) -> Response:
    """Answers that hold patients' identities are never kept by a browser or proxy cache."""
    if request.endpoint and request.endpoint.startswith("api_referrals."):
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask, socketio: Any) -> None:
    """Add the routes; a visit done or missed tells the referrer of its request."""
    get_store(app)
    app.register_blueprint(bp)
    subscribe(app, "visit", lambda visit: _visit_changed(app, visit))
    subscribe(
        app,
        "visit_event",
        lambda p: _visit_changed(app, p.get("visit") if isinstance(p, dict) else None),
    )


def _visit_changed(app: Flask, visit: Any) -> None:
    if isinstance(visit, dict) and visit.get("status") in ("done", "missed"):
        try:
            with app.app_context():
                get_referrals(app).visit_changed(visit)
        except Exception:  # noqa: BLE001 - a listener never breaks the visit's own change
            log.exception("a request's visit outcome could not be recorded")
