"""REST endpoints of the week planning: plan a structure's week (a background job with its
progress), apply its drafts, and read continuity of care and hours against contract."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.errors import ValidationError
from dispatch.rounds import week as week_view
from dispatch.rounds.week import MAX_WEEK_DAYS, WeekJobs, apply_week, week_days
from dispatch.web.auth import client_ip, current_principal, get_store, require
from dispatch.web.openapi import DAY_QUERY, DAY_SCHEMA, ID_QUERY, operation, query_param
from dispatch.web.rest import arg_day, arg_int, json_body
from dispatch.web.scope import target_structure, visible_structures

bp = Blueprint("api_week", __name__)

#: Who plans the week and reads its continuity (patients' names) and hours.
COORDINATORS = ("coordinator",)
JOBS_KEY = "dispatch.week_jobs"

_STRUCTURE = {"type": ["integer", "null"], "minimum": 1}
PLAN_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from"],
    "properties": {
        "from": DAY_SCHEMA,
        "days": {"type": "integer", "minimum": 1, "maximum": MAX_WEEK_DAYS, "default": 7},
        "structure_id": _STRUCTURE,
        "continuity_weight_s": {"type": "integer", "minimum": 0, "maximum": 86400},
    },
}
APPLY_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "confirm_dropped": {
            "type": "array",
            "maxItems": 10000,
            "items": {"type": "integer", "minimum": 1},
        }
    },
}
METRICS = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "planned",
        "unassigned",
        "travel_s",
        "distinct_staff_per_patient",
        "max_contract_excess_pct",
        "hours_spread_h",
        "violations",
    ],
    "properties": {
        "planned": {"type": "integer"},
        "unassigned": {"type": "integer"},
        "travel_s": {"type": "integer"},
        "distinct_staff_per_patient": {"type": "number"},
        "max_contract_excess_pct": {"type": "number"},
        "hours_spread_h": {"type": "number"},
        "violations": {"type": "integer"},
    },
}
_DAY_RESULT = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "day",
        "plan_id",
        "error",
        "visits",
        "unassigned",
        "travel_s",
        "current_travel_s",
        "moved",
    ],
    "properties": {
        "day": {"type": "string"},
        "plan_id": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
        "visits": {"type": "integer"},
        "unassigned": {"type": "integer"},
        "travel_s": {"type": "integer"},
        "current_travel_s": {"type": ["integer", "null"]},
        "moved": {"type": "integer"},
    },
}
RESULT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from", "days", "comparison"],
    "properties": {
        "from": {"type": "string"},
        "days": {"type": "array", "items": _DAY_RESULT},
        "comparison": {
            "type": "object",
            "additionalProperties": False,
            "required": ["current", "proposed"],
            "properties": {"current": METRICS, "proposed": METRICS},
        },
    },
}
JOB = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok", "job_id", "state", "done_days", "total_days", "error", "result"],
    "properties": {
        "ok": {"const": True},
        "job_id": {"type": "string"},
        "state": {"enum": ["running", "done", "failed"]},
        "done_days": {"type": "integer"},
        "total_days": {"type": "integer"},
        "error": {"type": ["string", "null"]},
        "result": {"anyOf": [{"type": "null"}, RESULT]},
    },
}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "the week planning's job id (from POST /api/week/plan)",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
_RANGE = [
    query_param("from", DAY_QUERY, "first day (default: today)"),
    query_param(
        "days",
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_WEEK_DAYS},
                {"type": "string", "maxLength": 0},
            ]
        },
        "number of days (default 7)",
    ),
    query_param("structure_id", ID_QUERY, "the structure (required when you belong to several)"),
]
_NAMED = {
    "type": "object",
    "additionalProperties": False,
    "required": ["staff_id", "name", "visits"],
    "properties": {
        "staff_id": {"type": "integer"},
        "name": {"type": "string"},
        "visits": {"type": "integer"},
    },
}
CONTINUITY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok", "from", "days", "mean_distinct_staff", "patients"],
    "properties": {
        "ok": {"const": True},
        "from": {"type": "string"},
        "days": {"type": "integer"},
        "mean_distinct_staff": {"type": "number"},
        "patients": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["patient_id", "name", "visits", "distinct_staff", "staff"],
                "properties": {
                    "patient_id": {"type": "integer"},
                    "name": {"type": "string"},
                    "visits": {"type": "integer"},
                    "distinct_staff": {"type": "integer"},
                    "staff": {"type": "array", "items": _NAMED},
                },
            },
        },
    },
}
HOURS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok", "from", "days", "staff"],
    "properties": {
        "ok": {"const": True},
        "from": {"type": "string"},
        "days": {"type": "integer"},
        "staff": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "staff_id",
                    "name",
                    "contract_h",
                    "rota_h",
                    "planned_h",
                    "excess_pct",
                    "days",
                ],
                "properties": {
                    "staff_id": {"type": "integer"},
                    "name": {"type": "string"},
                    "contract_h": {"type": "number"},
                    "rota_h": {"type": "number"},
                    "planned_h": {"type": "number"},
                    "excess_pct": {"type": "number"},
                    "days": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["day", "planned_h"],
                            "properties": {
                                "day": {"type": "string"},
                                "planned_h": {"type": "number"},
                            },
                        },
                    },
                },
            },
        },
    },
}

REPLAN_PATIENT_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["patient_id", "from"],
    "properties": {
        "patient_id": {"type": "integer", "minimum": 1},
        "from": DAY_SCHEMA,
        "to": {"anyOf": [DAY_SCHEMA, {"type": "null"}]},
    },
}
_MOVE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["day", "visit_id", "from", "to"],
    "properties": {
        "day": {"type": "string"},
        "visit_id": {"type": "string"},
        "from": {"type": ["string", "null"]},
        "to": {"type": ["string", "null"]},
    },
}
REPLAN_PATIENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok", "days"],
    "properties": {
        "ok": {"const": True},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["day", "plan_id"],
                "properties": {
                    "day": {"type": "string"},
                    "plan_id": {"type": ["integer", "null"]},
                    "base_plan_id": {"type": ["integer", "null"]},
                    "moves": {"type": "array", "items": _MOVE},
                    "dropped": {"type": "array", "items": {"type": "integer"}},
                    "unassigned": {"type": "integer"},
                    "error": {"type": "string"},
                },
            },
        },
    },
}

OPENAPI_PATHS = {
    "/api/week/replan-patient": {
        "post": operation(
            "After a patient's hospitalisation: a draft of each day whose rounds held them, "
            "the others' visits kept in their rounds",
            roles=COORDINATORS,
            tags=["week"],
            body=REPLAN_PATIENT_INPUT,
            response=REPLAN_PATIENT,
            description="Call it once the suspension is recorded (its visits cancelled). Only "
            "the days from today (or from) to to (at most 7 days) whose published plan held "
            "one of the patient's visits are re-planned, each visit preferring its current "
            "round: moves lists what changes (visit, from, to team ids), usually nothing "
            "but the rounds closing the gap. Each day is a draft to apply from the day's "
            "map; a day that cannot be planned carries its error. Once the suspension is "
            "lifted, a day whose published plan leaves out a reinstated visit of the patient "
            "is re-planned too, the visit's move going from null to the round that takes it. "
            "A patient of another structure is a 404.",
        )
    },
    "/api/week/plan": {
        "post": operation(
            "Plan a structure's week (continuity of care, legal hours): each day a draft",
            roles=COORDINATORS,
            tags=["week"],
            body=PLAN_INPUT,
            status=202,
            response={
                "type": "object",
                "additionalProperties": False,
                "required": ["ok", "job_id"],
                "properties": {"ok": {"const": True}, "job_id": {"type": "string"}},
            },
            description="Starts a background job (follow it with GET /api/week/plan/{job_id}). "
            "Days before today are refused (400); today is planned from now. Each visit "
            "prefers the patient's usual caregiver (continuity_weight_s, default the setting, "
            "is what another one costs in seconds of travel); each person's shifts are cut so "
            "that 11 h of daily rest, 48 h a week and the contract plus 10 % hold. "
            "structure_id is required when you belong to several structures.",
        )
    },
    "/api/week/plan/{job_id}": {
        "get": operation(
            "A week planning's progress and, once done, each day's draft and the comparison",
            roles=COORDINATORS,
            tags=["week"],
            params=[_JOB_ID],
            response=JOB,
            description="result.days: each day's draft (plan_id, null with its error when the "
            "day cannot be planned), visits, unassigned, travel against the current plan, "
            "visits moved to another team. result.comparison: the current and proposed "
            "week's figures.",
        )
    },
    "/api/week/plan/{job_id}/apply": {
        "post": operation(
            "Apply every day's draft of a week planning (each through the day's apply)",
            roles=COORDINATORS,
            tags=["week"],
            params=[_JOB_ID],
            body=APPLY_INPUT,
            response={
                "type": "object",
                "additionalProperties": False,
                "required": ["ok", "applied", "refused"],
                "properties": {
                    "ok": {"const": True},
                    "applied": {"type": "array", "items": {"type": "string"}},
                    "refused": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["day", "code", "message"],
                            "properties": {
                                "day": {"type": "string"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "dropped": {
                                    "type": "array",
                                    "description": "with code confirm_dropped: the visits "
                                    "to confirm ({visit_id, label, team_id, reason})",
                                    "items": {"type": "object"},
                                },
                            },
                        },
                    },
                },
            },
            description="A day whose draft drops visits now planned needs them in "
            "confirm_dropped (refused with code confirm_dropped and the visits in dropped), "
            "a day changed since is merged or refused: refused days say why (code, message, "
            "in the request's language); the others are applied. A day already applied by an "
            "earlier call counts as applied. A job still running or failed is a 409.",
        )
    },
    "/api/week/continuity": {
        "get": operation(
            "Continuity of care over the days: how many staff saw each patient, and who",
            roles=COORDINATORS,
            tags=["week"],
            params=_RANGE,
            response=CONTINUITY,
            description="From the published plans; patients by distinct staff, most first. "
            "The read of the patients' names is audited.",
        )
    },
    "/api/week/hours": {
        "get": operation(
            "Hours per staff member over the days: contract, rota, planned",
            roles=COORDINATORS,
            tags=["week"],
            params=_RANGE,
            response=HOURS,
            description="planned_h from the published plans' rounds (departure to return, less "
            "the rota's breaks); contract_h what the contract makes the person owe over these "
            "days (their rota's share of its cycle: twice the weekly contract in a week on of "
            "7 on / 7 off); excess_pct planned against it.",
        )
    },
}


def get_jobs(app: Flask | None = None) -> WeekJobs:
    app = app or current_app
    jobs: WeekJobs = app.extensions.setdefault(JOBS_KEY, WeekJobs())
    return jobs


def _settings() -> Any:
    return current_app.extensions["dispatch.settings"]


def _today() -> str:
    from dispatch.web.live import get_clock

    return get_clock().today()


def _audit(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    principal = current_principal()
    get_store().audit(
        principal.actor, action, role=principal.role, target=target, ip=client_ip(), detail=detail
    )


def _locale() -> str:
    """The request's language (Accept-Language, which the pages send), else the service's."""
    best = request.accept_languages.best_match(["fr", "en"])
    return best or str(_settings().locale)


def _range() -> tuple[str, int, int]:
    from_day = arg_day("from") or _today()
    days = arg_int("days", lo=1, hi=MAX_WEEK_DAYS, default=7) or 7
    sid = target_structure(request.args.get("structure_id") or None)
    return from_day, days, sid


@bp.post("/api/week/plan")
@require(*COORDINATORS, admin=False)
def plan_week() -> ResponseReturnValue:
    from dispatch.web.api_dispatch import _by, get_rounds

    data = json_body()
    unknown = sorted(set(data) - {"from", "days", "structure_id", "continuity_weight_s"})
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(unknown)}; known: from, days, structure_id, "
            "continuity_weight_s"
        )
    days = data.get("days", 7)
    if isinstance(days, float) and days.is_integer():
        days = int(days)
    # Absent: the setting; given, 0 to 86400 (null is not a number of seconds).
    weight = data.get("continuity_weight_s", int(_settings().continuity_weight_s))
    if isinstance(weight, float) and weight.is_integer():
        weight = int(weight)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 86400:
        raise ValidationError("continuity_weight_s: give 0 to 86400 seconds of travel")
    if not isinstance(data.get("from"), str):
        raise ValidationError("from: give the first day as YYYY-MM-DD")
    week_days(data["from"], days)
    sid = target_structure(data.get("structure_id"))
    job = get_jobs().start(
        get_rounds(),
        data["from"],
        days,
        structure_id=sid,
        by=_by(),
        continuity_weight_s=weight,
        time_limit_s=float(_settings().week_day_time_limit_s),
        locale=_locale(),
    )
    _audit("week.plan", f"structure:{sid}", {"from": data["from"], "days": days})
    return {"ok": True, "job_id": job.job_id}, 202


@bp.get("/api/week/plan/<job_id>")
@require(*COORDINATORS, admin=False)
def plan_job(job_id: str) -> ResponseReturnValue:
    job = get_jobs().get(job_id, visible_structures())
    return {"ok": True, **job.to_dict()}, 200


@bp.post("/api/week/plan/<job_id>/apply")
@require(*COORDINATORS, admin=False)
def apply_job(job_id: str) -> ResponseReturnValue:
    from dispatch.errors import ConflictError
    from dispatch.web.api_dispatch import _by, get_rounds

    data = json_body()
    unknown = sorted(set(data) - {"confirm_dropped"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; known: confirm_dropped")
    confirm = data.get("confirm_dropped") or []
    if not isinstance(confirm, list) or any(
        isinstance(i, bool) or not isinstance(i, int | float) or int(i) != i or i < 1
        for i in confirm
    ):
        raise ValidationError("confirm_dropped: give a list of visit ids")
    job = get_jobs().get(job_id, visible_structures())
    if job.state != "done" or job.result is None:
        if job.state == "running":
            raise ConflictError(f"week planning {job_id} is still running: apply it once done")
        raise ConflictError(f"week planning {job_id} failed: plan the week again")
    result = apply_week(
        get_rounds(),
        {d["day"]: d["plan_id"] for d in job.result["days"]},
        by=_by(),
        confirm_dropped=[int(i) for i in confirm],
        structures=visible_structures(),
        locale=_locale(),
    )
    _audit("week.apply", f"structure:{job.structure_id}", {"applied": result["applied"]})
    return {"ok": True, **result}, 200


@bp.post("/api/week/replan-patient")
@require(*COORDINATORS, admin=False)
def replan_patient() -> ResponseReturnValue:
    from dispatch.rounds.week import patient_structure, replan_suspension
    from dispatch.web.api_dispatch import _by, get_rounds

    data = json_body()
    unknown = sorted(set(data) - {"patient_id", "from", "to"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; known: patient_id, from, to")
    patient_id = data.get("patient_id")
    if isinstance(patient_id, float) and patient_id.is_integer():
        patient_id = int(patient_id)
    if isinstance(patient_id, bool) or not isinstance(patient_id, int) or patient_id < 1:
        raise ValidationError("patient_id: give the patient's id")
    first = week_days(data.get("from"), 1)[0]
    last = data.get("to")
    if last is not None:
        last = week_days(last, 1)[0]
    sid = patient_structure(get_store(), patient_id, visible_structures())
    days = replan_suspension(
        get_rounds(),
        patient_id,
        first,
        last,
        structure_id=sid,
        by=_by(),
        locale=_locale(),
        time_limit_s=float(_settings().week_day_time_limit_s),
    )
    _audit("week.replan_patient", f"patient:{patient_id}", {"days": [d["day"] for d in days]})
    return {"ok": True, "days": days}, 200


@bp.get("/api/week/continuity")
@require(*COORDINATORS, admin=False)
def continuity() -> ResponseReturnValue:
    from_day, days, sid = _range()
    body = week_view.continuity_of(get_store(), from_day, days, structure_id=sid)
    principal = current_principal()
    if body["patients"]:
        get_store().audit(
            principal.actor,
            "patient.read",
            role=principal.role,
            target=f"structure:{sid}",
            ip=client_ip(),
            detail={
                "patients": [p["patient_id"] for p in body["patients"]],
                "view": "week.continuity",
            },
        )
    return {"ok": True, **body}, 200


@bp.get("/api/week/hours")
@require(*COORDINATORS, admin=False)
def hours() -> ResponseReturnValue:
    from_day, days, sid = _range()
    body = week_view.hours_of(get_store(), from_day, days, structure_id=sid)
    return {"ok": True, **body}, 200


def register(app: Flask, socketio: Any) -> None:  # noqa: ARG001 - the modules' common signature
    """The week planning routes."""
    get_jobs(app)
    app.register_blueprint(bp)
