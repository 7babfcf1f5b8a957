"""REST endpoints for staff, their absences (with their impact and the replanning they call
for), the coordinator's week and a team member's coming days."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.care import week
from dispatch.care.rota import ABSENCE_KINDS, GENDERS, MAX_CONTRACT_H, MAX_CYCLE_DAYS, WEEKDAYS
from dispatch.errors import ValidationError
from dispatch.store.models import VEHICLE_PROFILES
from dispatch.store.rows import Page
from dispatch.store.staff import MAX_ROTAS, STAFF_JOBS, parse_absence
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import (
    BOOL_QUERY,
    DAY_QUERY,
    DAY_SCHEMA,
    NOT_BLANK,
    PAGE_PARAMS,
    SKILLS_SCHEMA,
    operation,
    path_param,
    query_param,
    ws_pattern,
)
from dispatch.web.rest import (
    arg_bool,
    arg_day,
    arg_int,
    json_body,
    ok,
    page_args,
    paged,
    publish,
    service_area,
)
from dispatch.web.scope import TARGET_STRUCTURE_SCHEMA, target_structure, visible_structures

bp = Blueprint("api_staff", __name__)

#: Who manages staff and reads the week (an administrator too: no patient data here).
MANAGERS = ("coordinator",)
#: Who reads them (a planner plans on the week's hours).
READERS = ("coordinator", "planner")

_H = "([01]?[0-9]|2[0-3]):[0-5][0-9]|24:00"
#: Hours of a day, "07:00-15:00" (they must end after they start: 400 otherwise).
RANGE_SCHEMA = {
    "type": "string",
    "pattern": ws_pattern(f"^\\s*({_H})\\s*-\\s*({_H})\\s*$"),
    "example": "07:00-15:00",
}
_BREAKS = {"type": "array", "maxItems": 8, "items": RANGE_SCHEMA, "example": ["12:00-12:30"]}
_WD = "|".join(f"[{d[0]}{d[0].lower()}][{d[1]}{d[1].lower()}]" for d in WEEKDAYS)
_WEEKDAYS = {
    "anyOf": [
        {
            "type": "string",
            "pattern": ws_pattern(f"^\\s*({_WD})\\s*(,\\s*({_WD})\\s*)*$"),
            "example": "MO,TU,TH,FR",
        },
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 7,
            "items": {"type": "string", "pattern": ws_pattern(f"^\\s*({_WD})\\s*$")},
        },
    ]
}
ROTA_SCHEMA = {
    "anyOf": [
        {
            "type": "object",
            "description": "Fixed weekdays",
            "required": ["start_day", "weekdays", "shift"],
            "properties": {
                "start_day": DAY_SCHEMA,
                "weekdays": _WEEKDAYS,
                "shift": RANGE_SCHEMA,
                "breaks": _BREAKS,
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "description": "A cycle: day counts on, off, on... ([7, 7]) or one flag a day",
            "required": ["start_day", "cycle", "shift"],
            "properties": {
                "start_day": DAY_SCHEMA,
                "cycle": {
                    "anyOf": [
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_CYCLE_DAYS,
                            "items": {"type": "integer", "minimum": 1, "maximum": MAX_CYCLE_DAYS},
                        },
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_CYCLE_DAYS,
                            "items": {"type": "boolean"},
                        },
                    ],
                    "example": [7, 7],
                },
                "shift": RANGE_SCHEMA,
                "breaks": _BREAKS,
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "description": "A cycle of one shift (or null: off) a day",
            "required": ["start_day", "days"],
            "properties": {
                "start_day": DAY_SCHEMA,
                "days": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_CYCLE_DAYS,
                    "items": {
                        "anyOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "required": ["shift"],
                                "properties": {"shift": RANGE_SCHEMA, "breaks": _BREAKS},
                                "additionalProperties": False,
                            },
                        ]
                    },
                },
            },
            "additionalProperties": False,
        },
    ]
}
_ID = {"type": "integer", "minimum": 1, "maximum": 2**53}
STAFF_PROPERTIES: dict[str, Any] = {
    "name": {
        "type": "string",
        "minLength": 1,
        "maxLength": 80,
        "pattern": NOT_BLANK,
        "example": "Marie Santoni",
    },
    "gender": {"enum": [*GENDERS, None]},
    "job": {"enum": list(STAFF_JOBS)},
    "skills": SKILLS_SCHEMA,
    "contract_h_per_week": {"type": "number", "minimum": 0, "maximum": MAX_CONTRACT_H},
    "rotas": {"type": "array", "maxItems": MAX_ROTAS, "items": ROTA_SCHEMA},
    "user_id": {"anyOf": [_ID, {"type": "null"}]},
    "active": {"type": "boolean"},
    "base_name": {"type": ["string", "null"], "maxLength": 200},
    "base_lon": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
    "base_lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
    "vehicle_profile": {"enum": list(VEHICLE_PROFILES)},
}
STAFF_INPUT = {
    "type": "object",
    "required": ["name", "contract_h_per_week"],
    "properties": {**STAFF_PROPERTIES, "structure_id": TARGET_STRUCTURE_SCHEMA},
    "additionalProperties": False,
}
STAFF_PATCH = {"type": "object", "properties": STAFF_PROPERTIES, "additionalProperties": False}
ABSENCE_INPUT = {
    "type": "object",
    "required": ["kind", "from_day"],
    "properties": {
        "kind": {"enum": list(ABSENCE_KINDS)},
        "from_day": DAY_SCHEMA,
        "to_day": {"anyOf": [DAY_SCHEMA, {"type": "null"}]},
        "part": {"anyOf": [RANGE_SCHEMA, {"type": "null"}]},
        "note": {"type": ["string", "null"], "maxLength": 500},
    },
    "additionalProperties": False,
}
PAIR_INPUT = {
    "type": "object",
    "required": ["staff_ids"],
    "properties": {
        "staff_ids": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "uniqueItems": True,
            "items": _ID,
        },
        "name": {"type": ["string", "null"], "maxLength": 80},
    },
    "additionalProperties": False,
}
_STAFF_OUT = {
    "type": "object",
    "required": ["ok", "staff"],
    "properties": {"ok": {"const": True}, "staff": {"type": "object"}},
}
_DEPARTURE = {
    "type": "object",
    "required": ["last_day", "unassigned", "pairs_ended"],
    "properties": {
        "last_day": {"type": "string", "description": "their last working day"},
        "unassigned": {"type": "integer", "description": "visits that lost their team"},
        "pairs_ended": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "the pair teams that no longer go out",
        },
        "republished_days": {
            "type": "array",
            "items": {"type": "string"},
            "description": "days whose published rounds were published again without them "
            "(their visits waiting for a team)",
        },
    },
    "additionalProperties": False,
}
_IMPACT = {
    "type": "object",
    "required": ["staff_id", "name", "total", "days", "message"],
    "properties": {
        "staff_id": {"type": "integer"},
        "name": {"type": "string"},
        "total": {"type": "integer"},
        "lost_h": {"type": "number"},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["day", "count", "visit_ids"],
                "properties": {
                    "day": {"type": "string"},
                    "count": {"type": "integer"},
                    "visit_ids": {"type": "array", "items": {"type": "integer"}},
                },
            },
        },
        "capacity": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["day", "lost_h", "remaining_h", "visit_h", "short"],
                "properties": {
                    "day": {"type": "string"},
                    "lost_h": {"type": "number"},
                    "remaining_h": {"type": "number"},
                    "visit_h": {"type": "number"},
                    "short": {"type": "boolean"},
                },
            },
        },
        "reassign": {"type": "boolean"},
        "message": {"type": "string"},
    },
}
_SID = [path_param("staff_id")]
_AID = [*_SID, path_param("absence_id")]
_LOCALE = query_param("locale", {"enum": ["fr", "en", ""]}, "language of the message")
_WEEK_DAYS = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": week.MAX_DAYS},
        {"type": "string", "maxLength": 0},
    ]
}
_RULES = (
    " Rules between fields answer 400 with what to fix: a shift or part of a day that ends "
    "before it starts, breaks outside their shift or overlapping, a cycle that never works "
    f"or lasts more than {MAX_CYCLE_DAYS} days, two rotas starting the same day, an "
    "absence ending before it starts."
)

OPENAPI_PATHS = {
    "/api/staff": {
        "get": operation(
            "Staff of your structures, by name, with their rotas and absences",
            roles=READERS,
            tags=["staff"],
            params=[*PAGE_PARAMS, query_param("all", BOOL_QUERY, "also those who left")],
            paged=True,
        ),
        "post": operation(
            "Add a member of staff (their personal team is created with them)",
            roles=MANAGERS,
            tags=["staff"],
            body=STAFF_INPUT,
            status=201,
            response=_STAFF_OUT,
            description="Rotas: fixed weekdays {start_day, weekdays: 'MO,TU,TH,FR', shift: "
            "'08:00-16:00', breaks: ['12:00-12:30']}, a cycle of day counts {start_day, cycle: "
            "[7, 7], shift} (7 on, 7 off) or of flags, or one shift a day {start_day, days: "
            "[{shift, breaks} or null]}. The rota in force is the latest started. Their "
            "personal team (to pair their phone, to assign visits) starts from base_lon/"
            "base_lat, else from the structure's first team's base." + _RULES,
        ),
    },
    "/api/staff/{staff_id}": {
        "get": operation(
            "A member of staff", roles=READERS, tags=["staff"], params=_SID, response=_STAFF_OUT
        ),
        "patch": operation(
            "Change a member of staff (their personal team follows)",
            roles=MANAGERS,
            tags=["staff"],
            params=_SID,
            body=STAFF_PATCH,
            response=_STAFF_OUT,
            description="Only the fields sent change." + _RULES,
        ),
        "delete": operation(
            "A member of staff who left (kept inactive, with their teams): their coming visits"
            " lose their team",
            roles=MANAGERS,
            tags=["staff"],
            params=[
                *_SID,
                query_param("last_day", DAY_QUERY, "their last working day (today)"),
            ],
            response={
                "type": "object",
                "required": ["ok", "staff", "departure"],
                "properties": {
                    "ok": {"const": True},
                    "staff": {"type": "object"},
                    "departure": _DEPARTURE,
                },
            },
            description="Their visits (own team or pairs') on the days after last_day, from "
            "today on, not yet started or done, lose their team: the week counts them without "
            "a team and the next planning gives them to others (departure.unassigned says how "
            "many). Their pairs end (departure.pairs_ended: the pair teams). Days already gone "
            "keep their visits. A last_day after today answers 409: record the departure on "
            "the day (an absence keeps the person out of the planning until then).",
        ),
    },
    "/api/staff/{staff_id}/absences": {
        "get": operation(
            "Absences of a member of staff",
            roles=READERS,
            tags=["staff"],
            params=[*_SID, query_param("cancelled", BOOL_QUERY, "also cancelled ones")],
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "items": {"type": "array"}},
            },
        ),
        "post": operation(
            "Record leave, sickness or training, and see its impact",
            roles=MANAGERS,
            tags=["staff"],
            params=[*_SID, _LOCALE],
            body=ABSENCE_INPUT,
            status=201,
            response={
                "type": "object",
                "required": ["ok", "absence", "impact"],
                "properties": {
                    "ok": {"const": True},
                    "absence": {"type": "object"},
                    "impact": _IMPACT,
                },
            },
            description="to_day defaults to from_day; part ('13:00-15:00') limits it to those "
            "hours of each day. An absence overlapping another answers 409. The impact names "
            "the visits to reassign, e.g. « Marie absente jeudi 14 janvier : 14 visites à "
            "réaffecter »." + _RULES,
        ),
    },
    "/api/staff/{staff_id}/absences/impact": {
        "post": operation(
            "The impact of an absence before recording it (nothing is written)",
            roles=MANAGERS,
            tags=["staff"],
            params=[*_SID, _LOCALE],
            body=ABSENCE_INPUT,
            response={
                "type": "object",
                "required": ["ok", "impact"],
                "properties": {"ok": {"const": True}, "impact": _IMPACT},
            },
            description="Visits not yet started on the absence's days whose window no longer "
            "fits the hours kept." + _RULES,
        )
    },
    "/api/staff/{staff_id}/absences/{absence_id}": {
        "delete": operation(
            "Cancel an absence (kept, marked cancelled): the rota applies again",
            roles=MANAGERS,
            tags=["staff"],
            params=_AID,
        )
    },
    "/api/staff/{staff_id}/absences/{absence_id}/replan": {
        "post": operation(
            "Propose, for each day of the absence with visits to reassign, a round without "
            "this person (drafts to apply from the day's map)",
            roles=MANAGERS,
            tags=["staff"],
            params=[*_AID, _LOCALE],
            response={
                "type": "object",
                "required": ["ok", "days"],
                "properties": {
                    "ok": {"const": True},
                    "days": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "day": {"type": "string"},
                                "plan_id": {"type": ["integer", "null"]},
                                "moved": {"type": "integer"},
                                "unassigned": {"type": "integer"},
                                "dropped": {"type": "integer"},
                                "moves": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["visit_id", "from_team_id", "to_team_id"],
                                        "properties": {
                                            "visit_id": {"type": "integer"},
                                            "from_team_id": {"type": ["integer", "null"]},
                                            "to_team_id": {"type": ["integer", "null"]},
                                        },
                                    },
                                },
                                "error": {"type": "string"},
                            },
                        },
                    },
                },
            },
            description="Each day's answer carries the draft's plan_id, the visits it gives to "
            "others (moved), those it leaves unassigned and the visits already planned in "
            "other rounds that it would take out (dropped: check them before applying) and every "
            "visit it changes (moves: from and to team; others keep their rounds); a day that cannot be planned "
            "(no territory, no team working) carries its error instead.",
        )
    },
    "/api/pairs": {
        "get": operation(
            "Two-person teams of your structures: on days both work, they go out together",
            roles=READERS,
            tags=["staff"],
            response={
                "type": "object",
                "required": ["ok", "items"],
                "properties": {"ok": {"const": True}, "items": {"type": "array"}},
            },
        ),
        "post": operation(
            "Pair two members of staff (a heavy transfer needs two)",
            roles=MANAGERS,
            tags=["staff"],
            body=PAIR_INPUT,
            status=201,
            response={
                "type": "object",
                "required": ["ok", "pair"],
                "properties": {"ok": {"const": True}, "pair": {"type": "object"}},
            },
            description="The pair is a team of its own (name: 'Marie & Paul' by default). On a "
            "day both work, the day's teams hold the pair on their common hours instead of "
            "each alone. Two different members of one structure (400 otherwise).",
        ),
    },
    "/api/teams/{team_id}/pair": {
        "delete": operation(
            "They no longer go out together (the pair's team becomes inactive)",
            roles=MANAGERS,
            tags=["staff"],
            params=[path_param("team_id")],
        )
    },
    "/api/week": {
        "get": operation(
            "The week: staff × days, rostered hours against the contract, visits",
            roles=READERS,
            tags=["staff"],
            params=[
                query_param("from", DAY_QUERY, "first day (default: today)"),
                query_param("days", _WEEK_DAYS, "days shown (7)"),
            ],
            response={
                "type": "object",
                "required": ["ok", "from", "days", "staff", "unassigned"],
                "properties": {
                    "ok": {"const": True},
                    "from": {"type": "string"},
                    "days": {"type": "array", "items": {"type": "string"}},
                    "staff": {"type": "array", "items": {"type": "object"}},
                    "unassigned": {"type": "array", "items": {"type": "object"}},
                },
            },
            description="Each staff row: id, name, job, contract_h_per_week, rostered_h, "
            "visit_h and one cell a day {day, shift: {start, end, breaks} or null, absence: "
            "{id, kind, part} or null, hours, visits, visit_h, team_id (the team they go out "
            "in: their own or their pair)}. unassigned: visits of no team, per day.",
        )
    },
    "/api/week/mine": {
        "get": operation(
            "My coming days: shift, absence and visits (pseudonyms only)",
            roles=("team_member", "coordinator"),
            tags=["staff"],
            params=[query_param("days", _WEEK_DAYS, "days from today (7)")],
            response={
                "type": "object",
                "required": ["ok", "days"],
                "properties": {
                    "ok": {"const": True},
                    "days": {"type": "array", "items": {"type": "object"}},
                },
            },
            description="For the caller's team (a team member or a paired phone): each day "
            "{day, shift, absence, visits: [{id, pseudonym, window: '08:00-09:00', "
            "duration_s, team_id, with: the other team's name for a two-person visit served with "
            "another team, else null}]}. No patient details.",
        )
    },
}


def _tz() -> str:
    from dispatch.web.live import get_clock

    return str(get_clock().tz.key)


def _today() -> str:
    from dispatch.web.live import get_clock

    return get_clock().today()


def _locale() -> str:
    value = request.args.get("locale") or ""
    if value in ("fr", "en"):
        return value
    if value:
        raise ValidationError('query argument locale must be "fr" or "en"')
    best = request.accept_languages.best_match(["fr", "en"])
    return best or str(current_app.extensions["dispatch.settings"].locale)


def _check_base(data: dict[str, Any]) -> None:
    """A personal team's base given must be inside the served territory (as a team's)."""
    area = service_area()
    lon, lat = data.get("base_lon"), data.get("base_lat")
    if area is not None and isinstance(lon, int | float) and isinstance(lat, int | float):
        area.check(lon, lat, what="staff: base")


def _publish_team(team_id: int | None) -> None:
    """The live map and the phones learn of a personal or pair team's change."""
    if team_id is not None:
        publish("team", get_store().get_team(team_id))


def _audit(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    principal = current_principal()
    get_store().audit(
        principal.actor, action, role=principal.role, target=target, ip=client_ip(), detail=detail
    )


@bp.get("/api/staff")
@require(*READERS)
def list_staff() -> ResponseReturnValue:
    limit, offset = page_args()
    everyone = get_store().list_staff(
        structures=visible_structures(), active=None if arg_bool("all") else True
    )
    page = Page(everyone[offset : offset + limit], total=len(everyone), limit=limit, offset=offset)
    return paged(page)


@bp.post("/api/staff")
@require(*MANAGERS)
def create_staff() -> ResponseReturnValue:
    data = dict(json_body())
    # null or absent: the caller's only structure (a caller of several must choose).
    structure_id = target_structure(data.pop("structure_id", None))
    _check_base(data)
    staff = get_store().add_staff(data, structure_id=structure_id)
    _audit("staff.create", f"staff:{staff['id']}")
    _publish_team(staff["team_id"])
    return ok(201, staff=staff)


@bp.get("/api/staff/<int:staff_id>")
@require(*READERS)
def get_staff(staff_id: int) -> ResponseReturnValue:
    return ok(staff=get_store().get_staff(staff_id, structures=visible_structures()))


@bp.patch("/api/staff/<int:staff_id>")
@require(*MANAGERS)
def update_staff(staff_id: int) -> ResponseReturnValue:
    data = json_body()
    _check_base(data)
    staff = get_store().update_staff(staff_id, data, structures=visible_structures())
    _audit("staff.update", f"staff:{staff_id}", {"fields": sorted(data)})
    _publish_team(staff["team_id"])
    return ok(staff=staff)


@bp.delete("/api/staff/<int:staff_id>")
@require(*MANAGERS)
def deactivate_staff(staff_id: int) -> ResponseReturnValue:
    store = get_store()
    today = _today()
    staff = store.deactivate_staff(
        staff_id, structures=visible_structures(), last_day=arg_day("last_day"), today=today
    )
    departure = staff.pop("departure")
    moved = departure.pop("unassigned_ids")
    _audit("staff.deactivate", f"staff:{staff_id}", departure)
    teams = store.teams_of_staff([staff_id])[staff_id]
    for team_id in teams:
        _publish_team(team_id)
    # The published rounds of the person's teams from today on are published again without
    # them, their visits waiting for a team with the reason: maps and phones stop showing a
    # round nobody will do.
    days = {v["day"] for v in store.get_visits(moved)} if moved else set()
    departure["republished_days"] = []
    if days:
        from dispatch.web.api_dispatch import _by, get_rounds

        departure["republished_days"] = get_rounds().teams_left(
            teams, days, structure_id=int(staff["structure_id"]), by=_by(), locale=_locale()
        )
    # Today's visits leave the round on the live map and the phones at once.
    for visit in store.get_visits(moved) if moved else ():
        if visit["day"] == today:
            publish("visit", visit)
    return ok(staff=staff, departure=departure)


@bp.get("/api/staff/<int:staff_id>/absences")
@require(*READERS)
def list_absences(staff_id: int) -> ResponseReturnValue:
    items = get_store().list_absences(
        staff_id, structures=visible_structures(), include_cancelled=arg_bool("cancelled")
    )
    return ok(items=items)


@bp.post("/api/staff/<int:staff_id>/absences")
@require(*MANAGERS)
def add_absence(staff_id: int) -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    data = json_body()
    locale = _locale()
    absence = store.add_absence(
        staff_id, data, structures=visible_structures(), actor=principal.actor
    )
    _audit("staff.absence", f"staff:{staff_id}", {"absence_id": absence["id"]})
    parsed, _ = parse_absence(data)
    staff = store.get_staff(staff_id)
    impact = week.impact_of_recorded(store, staff, parsed, locale=locale, tz=_tz())
    if impact["total"]:
        # Until the reassignment is applied the person's rounds still hold these visits (and
        # their phone shows them): every coordinator of the structure is told, on the map.
        from dispatch.web.live import get_hub

        get_hub().alert(
            "absence",
            team_id=staff.get("team_id"),
            key=f"absence:{absence['id']}",
            staff_id=staff_id,
            staff_name=staff["name"],
            count=impact["total"],
            from_day=parsed.from_day.isoformat(),
            to_day=parsed.to_day.isoformat(),
        )
    return ok(201, absence=absence, impact=impact)


@bp.post("/api/staff/<int:staff_id>/absences/impact")
@require(*MANAGERS)
def absence_impact(staff_id: int) -> ResponseReturnValue:
    impact = week.absence_impact_of(
        get_store(),
        staff_id,
        json_body(),
        structures=visible_structures(),
        locale=_locale(),
        tz=_tz(),
    )
    return ok(impact=impact)


@bp.delete("/api/staff/<int:staff_id>/absences/<int:absence_id>")
@require(*MANAGERS)
def cancel_absence(staff_id: int, absence_id: int) -> ResponseReturnValue:
    absence = get_store().cancel_absence(staff_id, absence_id, structures=visible_structures())
    _audit("staff.absence_cancel", f"staff:{staff_id}", {"absence_id": absence_id})
    return ok(absence=absence)


@bp.post("/api/staff/<int:staff_id>/absences/<int:absence_id>/replan")
@require(*MANAGERS, admin=False)
def replan_absence(staff_id: int, absence_id: int) -> ResponseReturnValue:
    from dispatch.web.api_dispatch import _by, get_rounds

    result = week.replan_absence(
        get_store(),
        get_rounds(),
        staff_id,
        absence_id,
        structures=visible_structures(),
        by=_by(),
        locale=_locale(),
        today=_today(),
        tz=_tz(),
    )
    _audit("staff.absence_replan", f"staff:{staff_id}", {"absence_id": absence_id})
    return ok(**result)


@bp.get("/api/pairs")
@require(*READERS)
def list_pairs() -> ResponseReturnValue:
    return ok(items=get_store().list_pairs(structures=visible_structures()))


@bp.post("/api/pairs")
@require(*MANAGERS)
def add_pair() -> ResponseReturnValue:
    data = json_body()
    unknown = sorted(set(data) - {"staff_ids", "name"})
    if unknown:
        raise ValidationError(
            f"pair: unknown field(s) {', '.join(unknown)}; known: staff_ids, name"
        )
    ids = data.get("staff_ids")
    # JSON numbers: 85.0 is the integer 85 (as JSON Schema counts it).
    if isinstance(ids, list):
        ids = [int(i) if isinstance(i, float) and i.is_integer() else i for i in ids]
    if (
        not isinstance(ids, list)
        or len(ids) != 2
        or any(isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= 2**53 for i in ids)
    ):
        raise ValidationError("pair: staff_ids must be two staff ids, e.g. [3, 8]")
    pair = get_store().add_pair(ids, name=data.get("name"), structures=visible_structures())
    _audit("staff.pair", f"team:{pair['team_id']}", {"staff_ids": pair["staff_ids"]})
    _publish_team(pair["team_id"])
    return ok(201, pair=pair)


@bp.delete("/api/teams/<int:team_id>/pair")
@require(*MANAGERS)
def remove_pair(team_id: int) -> ResponseReturnValue:
    get_store().remove_pair(team_id, structures=visible_structures())
    _audit("staff.unpair", f"team:{team_id}")
    _publish_team(team_id)
    return ok()


@bp.get("/api/week")
@require(*READERS)
def week_view() -> ResponseReturnValue:
    days = arg_int("days", lo=1, hi=week.MAX_DAYS, default=7)
    view = week.week_of(
        get_store(),
        from_day=arg_day("from") or _today(),
        days=days,
        structures=visible_structures(),
        tz=_tz(),
    )
    return ok(**view)


@bp.get("/api/week/mine")
@require("team_member", "coordinator", admin=False)
def my_week() -> ResponseReturnValue:
    principal = current_principal()
    days = arg_int("days", lo=1, hi=week.MAX_DAYS, default=7)
    mine = week.my_days_of(
        get_store(),
        team_id=principal.team_id,
        from_day=_today(),
        days=days,
        structures=visible_structures(principal),
    )
    return ok(**mine)


def register(app: Flask, socketio: Any) -> None:  # noqa: ARG001 - the modules' common signature
    """The staff and week routes."""
    app.register_blueprint(bp)
