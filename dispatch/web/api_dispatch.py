"""REST edge of the rounds service: optimise the day, apply, move, urgent insertion, slots, delays.

A day's plan belongs to one structure: each body may name ``structure_id`` (one of the
caller's; left out, the caller's only structure). Teams, visits and plans of another
structure are answered 404, as if they did not exist.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask.typing import ResponseReturnValue

from dispatch.errors import (
    ConflictError,
    DispatchError,
    NotBuiltError,
    NotFoundError,
    ValidationError,
)
from dispatch.optimise import TimeWindow, Visit, propose_slots
from dispatch.rounds import Rounds, RoundsOptions
from dispatch.settings import Settings
from dispatch.store.models import parse_day, parse_skills, parse_windows
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.openapi import (
    DAY_SCHEMA,
    SKILLS_SCHEMA,
    WINDOWS_SCHEMA,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import json_body, ok, service_area, whole_number
from dispatch.web.scope import TARGET_STRUCTURE_SCHEMA, target_structure, visible_structures

log = logging.getLogger(__name__)
bp = Blueprint("dispatch_optimise", __name__)
JOBS_KEY = "dispatch.optimise.jobs"
ROUNDS_KEY = "dispatch.rounds"
SOCKET_KEY = "dispatch.optimise.socketio"
ROLES = ("coordinator",)
#: Finished jobs kept this long for the coordinator to read them.
JOB_TTL_S = 3600
#: Arrival times are recomputed from live positions this often (seconds).
ETA_EVERY_S = 60.0


# -- the rounds service of the app -----------------------------------------------------------
def _settings() -> Settings:
    settings: Settings = current_app.extensions["dispatch.settings"]
    return settings


def _router(app: Flask) -> tuple[Any, str]:
    from dispatch.web.live import get_territory

    territory = get_territory(app)
    if territory is None:
        from dispatch.errors import NotBuiltError

        settings: Settings = app.extensions["dispatch.settings"]
        raise NotBuiltError(
            f"territory {settings.territory} is not built: run `dispatch territory build {settings.territory}`"
        )
    from dispatch.routing import Router

    return Router.for_territory(territory), territory.id


def get_rounds(app: Flask | None = None) -> Rounds:
    """The app's rounds service (one per app: its locks serialise the changes of a day)."""
    app = app or current_app
    rounds: Rounds = app.extensions[ROUNDS_KEY]
    return rounds


def _by() -> str:
    """Who makes a change, as the other coordinators and the teams read it (username)."""
    principal = current_principal()
    if not principal.authenticated:
        return "optimiser"
    return principal.name or principal.actor


def _structure(body: dict[str, Any]) -> int:
    """The structure planned: ``structure_id`` of the body, else the caller's only one."""
    return target_structure(body.get("structure_id"))


def _locale(body: dict[str, Any]) -> str:
    """The page's language (``locale`` in the body), else the browser's, else the service's."""
    value = body.get("locale")
    if value in ("fr", "en"):
        return str(value)
    if value is not None:
        raise ValidationError('locale must be "fr" or "en"')
    best = request.accept_languages.best_match(["fr", "en"])
    return best or _settings().locale


# -- optimise the day: a background job with progress ------------------------------------------
def _jobs(app: Flask) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = app.extensions.setdefault(JOBS_KEY, {})
    now = time.time()
    for key in [k for k, j in jobs.items() if j.get("finished_at", now) < now - JOB_TTL_S]:
        jobs.pop(key, None)
    return jobs


def _run_job(app: Flask, job: dict[str, Any], time_limit_s: float, locale: str) -> None:
    from dispatch.live.hub import coordinator_room

    socketio = app.extensions.get(SOCKET_KEY)

    def push(event: str, payload: dict[str, Any]) -> None:
        if socketio is not None:
            try:
                # The job's structure's coordinators only: another structure's activity is
                # none of theirs.
                socketio.emit(event, payload, to=coordinator_room(job["structure_id"]))
            except Exception:
                log.exception("could not push %s", event)

    def progress(p: dict[str, Any]) -> None:
        job["state"] = "solving"
        job["progress"] = {**p, "budget_s": time_limit_s}
        push(
            "dispatch:progress",
            {
                "job_id": job["id"],
                "day": job["day"],
                "structure_id": job["structure_id"],
                **job["progress"],
            },
        )

    try:
        job["state"] = "building"
        result = get_rounds(app).optimise(
            job["day"],
            by=job["by"],
            structure_id=job["structure_id"],
            time_limit_s=time_limit_s,
            progress=progress,
            locale=locale,
        )
        job.update(state="done", **result)
    except DispatchError as exc:
        job.update(state="failed", error=exc.to_dict())
    except Exception as exc:  # the coordinator must see the job end either way
        log.exception("optimisation job %s failed", job["id"])
        job.update(
            state="failed",
            error={
                "ok": False,
                "error": f"internal error: {type(exc).__name__}",
                "status": 500,
                "code": "internal",
            },
        )
    finally:
        job["finished_at"] = time.time()
        push(
            "dispatch:job",
            {
                k: job.get(k)
                for k in ("id", "day", "structure_id", "state", "plan_id", "applied", "error")
            },
        )


@bp.post("/api/dispatch/optimise")
@require(*ROLES, admin=False)
def optimise() -> ResponseReturnValue:
    body = json_body()
    day = _day(body)
    structure_id = _structure(body)
    settings = _settings()
    limit = body.get("time_limit_s", settings.solver_time_limit_s)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or not 0.5 <= float(limit) <= 600
    ):
        raise ValidationError("time_limit_s must be a number of seconds between 0.5 and 600")
    get_rounds().now_s(day)  # a day already over is refused now, not in the job
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    jobs = _jobs(app)
    if any(
        j["day"] == day and j["structure_id"] == structure_id and "finished_at" not in j
        for j in jobs.values()
    ):
        raise ConflictError(
            f"the day {day} is already being optimised: wait for that job to finish"
        )
    job: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "day": day,
        "structure_id": structure_id,
        "state": "queued",
        "progress": None,
        "started_at": time.time(),
        "by": _by(),
    }
    jobs[job["id"]] = job
    threading.Thread(
        target=_run_job,
        args=(app, job, float(limit), _locale(body)),
        daemon=True,
        name=f"optimise-{job['id']}",
    ).start()
    return ok(202, job_id=job["id"], day=day, structure_id=structure_id, time_limit_s=float(limit))


@bp.get("/api/dispatch/jobs/<job_id>")
@require(*ROLES, admin=False)
def job_status(job_id: str) -> ResponseReturnValue:
    job = _jobs(current_app).get(job_id)
    if job is None or job["structure_id"] not in visible_structures():
        raise NotFoundError(
            f"optimisation job {job_id} does not exist (finished jobs are kept one hour)"
        )
    return ok(200, **{k: v for k, v in job.items() if k != "by"})


@bp.get("/api/dispatch/plans/<int:plan_id>")
@require(*ROLES, admin=False)
def proposal(plan_id: int) -> ResponseReturnValue:
    """A saved plan as an optimisation answers it (comparison, dropped visits, what it breaks,
    teams left out), against the day as it stands now: a proposal to review, then apply."""
    found = get_rounds().proposal(
        plan_id,
        locale=_locale({"locale": request.args.get("locale") or None}),
        structures=visible_structures(),
    )
    return ok(**found)


@bp.post("/api/dispatch/plans/<int:plan_id>/apply")
@require(*ROLES, admin=False)
def apply_plan(plan_id: int) -> ResponseReturnValue:
    """Publish a proposal; visits it drops must be confirmed by id in ``confirm_dropped``."""
    body = json_body() if request.content_length else {}
    confirm = _ids(body, "confirm_dropped")
    change = get_rounds().apply(
        plan_id,
        by=_by(),
        confirm_dropped=confirm,
        locale=_locale(body),
        structures=visible_structures(),
    )
    return ok(**change)


# -- live changes ------------------------------------------------------------------------------
def _id(body: dict[str, Any], key: str) -> int:
    value = whole_number(body.get(key))
    if value is None or not 0 < value < 2**63:
        raise ValidationError(
            f"{key} is required: the whole-number id of the {key.removesuffix('_id')}"
        )
    return value


def _ids(body: dict[str, Any], key: str) -> list[int]:
    value = body.get(key)
    if value is None:
        return []
    ids = [whole_number(v) for v in value] if isinstance(value, list) else [None]
    if any(v is None for v in ids):
        raise ValidationError(f"{key} must be a list of visit ids (whole numbers)")
    return [int(v) for v in ids if v is not None]


def _flag(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ValidationError(f"{key} must be true or false")
    return value


def _position(body: dict[str, Any]) -> int | None:
    raw = body.get("position")
    position = whole_number(raw)
    if raw is not None and (position is None or position < 0):
        raise ValidationError("position must be a whole number from 0 (first) or null (best place)")
    return position


def _lonlat(body: dict[str, Any], *, required: bool) -> tuple[float, float] | None:
    lon, lat = body.get("lon"), body.get("lat")
    if lon is None and lat is None and not required:
        return None
    if (
        isinstance(lon, bool)
        or isinstance(lat, bool)
        or not isinstance(lon, int | float)
        or not isinstance(lat, int | float)
        or not (-180 <= lon <= 180 and -90 <= lat <= 90)
    ):
        raise ValidationError("lon and lat must be numbers in WGS84 degrees (longitude first)")
    area = service_area()
    if area is not None:
        area.check(lon, lat, what="new visit: home")
    return float(lon), float(lat)


def _day(body: dict[str, Any]) -> str:
    if not isinstance(body.get("day"), str):
        raise ValidationError('day is required: "YYYY-MM-DD"')
    return parse_day(body["day"], what="day")


def _visit_from_body(body: dict[str, Any], location: int, vid: str) -> Visit:
    if "duration_s" not in body:
        raise ValidationError("duration_s is required (seconds the visit lasts)")
    duration = whole_number(body["duration_s"])
    if duration is None or not 60 <= duration <= 8 * 3600:
        raise ValidationError("duration_s must be whole seconds between 60 and 28800")
    windows = parse_windows(body["windows"], label="visit") if body.get("windows") else []
    return Visit(
        id=vid,
        location=location,
        duration_s=duration,
        windows=tuple(TimeWindow(a, b) for a, b in windows),
        skills=frozenset(parse_skills(body.get("skills"), label="visit")),
        priority=int(body.get("priority", 3)) if str(body.get("priority", 3)).isdigit() else 3,
    )


@bp.post("/api/dispatch/insert/options")
@require(*ROLES, admin=False)
def insert_options() -> ResponseReturnValue:
    """The best places for a visit of the day not yet in a round (one per team)."""
    body = json_body()
    n = whole_number(body.get("n", 3))
    if n is None:
        raise ValidationError("n must be a whole number between 1 and 20")
    found = get_rounds().insert_options(
        _day(body),
        _id(body, "visit_id"),
        n=n,
        urgent=_flag(body, "urgent", True),
        locale=_locale(body),
        structure_id=_structure(body),
    )
    return ok(**found)


@bp.post("/api/dispatch/insert")
@require(*ROLES, admin=False)
def insert() -> ResponseReturnValue:
    """Put a visit of the day (often urgent) into a round, where chosen or where it disturbs
    least, and publish it at once."""
    body = json_body()
    team_id = _id(body, "team_id") if body.get("team_id") is not None else None
    change = get_rounds().insert(
        _day(body),
        _id(body, "visit_id"),
        team_id=team_id,
        position=_position(body),
        urgent=_flag(body, "urgent", True),
        force=_flag(body, "force"),
        confirm_dropped=_ids(body, "confirm_dropped"),
        by=_by(),
        locale=_locale(body),
        structure_id=_structure(body),
    )
    return ok(**change)


@bp.post("/api/dispatch/slots")
@require(*ROLES, admin=False)
def slots() -> ResponseReturnValue:
    """The best appointment slots for a new visit (place, duration, skills) on the day's plan."""
    body = json_body()
    day = _day(body)
    lonlat = _lonlat(body, required=True)
    assert lonlat is not None
    n = whole_number(body.get("n", 5))
    if n is None or not 1 <= n <= 20:
        raise ValidationError("n must be a whole number between 1 and 20")
    locale = _locale(body)
    d = get_rounds().day(day, structure_id=_structure(body), extra=[lonlat])
    problem = d.problem
    visit = _visit_from_body(body, d.extra_locations[0], "new")
    found = propose_slots(problem, d.current, visit, n=n)
    from dispatch.optimise.reasons import explain

    reason = (
        None
        if found
        else explain(problem.with_changes(visits=problem.visits + (visit,)), visit).to_dict(locale)
    )
    items = [{**s.to_dict(), "team_name": d.team_name(s.team_id)} for s in found]
    return ok(
        day=day,
        structure_id=d.structure_id,
        slots=items,
        reason=reason,
        unroutable=get_rounds().unroutable(d, locale),
    )


@bp.post("/api/dispatch/move")
@require(*ROLES, admin=False)
def move() -> ResponseReturnValue:
    """Manual move: a visit to another team or place, with feasibility for the teams concerned;
    ``apply`` publishes it (``force`` when it breaks something, after the user confirmed)."""
    body = json_body()
    result = get_rounds().move(
        _day(body),
        _id(body, "visit_id"),
        _id(body, "team_id"),
        position=_position(body),
        apply=_flag(body, "apply"),
        force=_flag(body, "force"),
        by=_by(),
        locale=_locale(body),
        structure_id=_structure(body),
    )
    return ok(**result)


@bp.post("/api/dispatch/delay")
@require(*ROLES, admin=False)
def delay() -> ResponseReturnValue:
    """A team is late: its times from where it is now; visits it would miss go to other teams."""
    body = json_body()
    change = get_rounds().delay(
        _day(body),
        _id(body, "team_id"),
        lonlat=_lonlat(body, required=False),
        by=_by(),
        locale=_locale(body),
        confirm_dropped=_ids(body, "confirm_dropped"),
        structure_id=_structure(body),
    )
    return ok(**change)


@bp.post("/api/dispatch/team-unavailable")
@require(*ROLES, admin=False)
def unavailable() -> ResponseReturnValue:
    """A team stops for the day: its visits not yet started are reassigned or explained."""
    body = json_body()
    change = get_rounds().team_unavailable(
        _day(body),
        _id(body, "team_id"),
        by=_by(),
        locale=_locale(body),
        confirm_dropped=_ids(body, "confirm_dropped"),
        structure_id=_structure(body),
    )
    return ok(**change)


def register(app: Flask, socketio: Any) -> None:
    """The rounds service of the app and the optimiser's routes."""
    from dispatch.web.live import HUB_KEY, get_clock, get_territory
    from dispatch.web.rest import get_bus, subscribe

    settings: Settings = app.extensions["dispatch.settings"]
    app.extensions[SOCKET_KEY] = socketio
    app.extensions[ROUNDS_KEY] = Rounds(
        get_store(app),
        lambda: _router(app),
        get_bus(app),
        clock=get_clock(app),
        options=RoundsOptions.from_settings(settings),
    )
    rounds = app.extensions[ROUNDS_KEY]

    def visit_changed(visit: dict[str, Any]) -> None:
        try:
            rounds.visit_changed(visit, by="visit-edit")
        except NotBuiltError:
            pass  # no road network served: there is no round to keep in step

    subscribe(app, "visit", visit_changed)
    last_etas = [0.0]

    def etas(now: float) -> None:
        # Arrival times from live positions, about once a minute (the hub sweeps every 5 s).
        if now - last_etas[0] < ETA_EVERY_S:
            return
        last_etas[0] = now
        if get_territory(app) is not None:
            rounds.publish_etas()

    app.extensions[HUB_KEY].add_sweep_hook(etas)
    app.register_blueprint(bp)


_DAY = DAY_SCHEMA
#: Ids in bodies: whole numbers from 1 (below 2**63, as the endpoints check).
_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_LON = {"type": "number", "minimum": -180, "maximum": 180, "description": "WGS84 longitude"}
_LAT = {"type": "number", "minimum": -90, "maximum": 90, "description": "WGS84 latitude"}
_N = {"type": "integer", "minimum": 1, "maximum": 20, "description": "how many (default 5)"}
_POSITION = {
    "type": ["integer", "null"],
    "minimum": 0,
    "description": "place among the team's visits from 0 (first); null: the best place",
}
_TAGS = ["dispatch"]
_CHANGE = {
    "type": "object",
    "description": "the applied change: plan_id, base_plan_id, change, teams, added, removed, "
    "retimed (per team), dropped; 409 confirm_dropped / confirm_violations / stale_plan",
}
_LOCALE = {
    "enum": ["fr", "en", None],
    "description": "language of the messages (null or left out: the browser's, else the service's)",
}
_STRUCTURE = {
    **TARGET_STRUCTURE_SCHEMA,
    "description": "the structure planned: one of yours (null or absent: your only one;"
    " needed if you work for several)",
}
_CONFIRM = {
    "type": ["array", "null"],
    "items": {"type": "integer"},
    "description": "ids of the planned visits the change may take out (named by the user)",
}
OPENAPI_PATHS = {
    "/api/dispatch/optimise": {
        "post": operation(
            "Optimise the day (background job; progress on the socket event dispatch:progress)",
            roles=ROLES,
            tags=_TAGS,
            status=202,
            body={
                "type": "object",
                "required": ["day"],
                "properties": {
                    "day": _DAY,
                    "time_limit_s": {
                        "type": "number",
                        "minimum": 0.5,
                        "maximum": 600,
                        "description": "solver time budget (seconds)",
                    },
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response={"type": "object", "properties": {"job_id": {"type": "string"}}},
        )
    },
    "/api/dispatch/jobs/{job_id}": {
        "get": operation(
            "Status, progress and result of an optimisation job",
            roles=ROLES,
            tags=_TAGS,
            params=[
                {
                    "name": "job_id",
                    "in": "path",
                    "required": True,
                    "description": "the job id answered by POST /api/dispatch/optimise",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{1,32}$"},
                }
            ],
            response={"type": "object"},
        )
    },
    "/api/dispatch/plans/{plan_id}": {
        "get": operation(
            "A saved plan as an optimisation answers it, against the day as it stands now "
            "(a proposal to review before applying it)",
            roles=ROLES,
            tags=_TAGS,
            params=[
                path_param("plan_id"),
                query_param("locale", {"enum": ["fr", "en", ""]}, "language of the messages"),
            ],
            response={
                "type": "object",
                "properties": {
                    "plan_id": {"type": "integer"},
                    "plan_status": {"enum": ["draft", "published", "archived"]},
                    "applied": {"type": "boolean"},
                },
            },
        )
    },
    "/api/dispatch/plans/{plan_id}/apply": {
        "post": operation(
            "Publish a proposed plan and push the changes to the map and the teams",
            roles=ROLES,
            tags=_TAGS,
            params=[path_param("plan_id")],
            body={
                "type": "object",
                "properties": {"confirm_dropped": _CONFIRM, "locale": _LOCALE},
            },
            response=_CHANGE,
        )
    },
    "/api/dispatch/insert/options": {
        "post": operation(
            "The best places (one per team) for a visit of the day not yet in a round",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "visit_id"],
                "properties": {
                    "day": _DAY,
                    "visit_id": _ID,
                    "n": _N,
                    "urgent": {"type": "boolean"},
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response={"type": "object", "properties": {"options": {"type": "array"}}},
        )
    },
    "/api/dispatch/insert": {
        "post": operation(
            "Insert a visit of the day into a round (chosen team and position, or least "
            "disruption) and publish it",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "visit_id"],
                "properties": {
                    "day": _DAY,
                    "visit_id": _ID,
                    "team_id": {**_ID, "type": ["integer", "null"]},
                    "position": _POSITION,
                    "urgent": {"type": "boolean"},
                    "force": {"type": "boolean"},
                    "confirm_dropped": _CONFIRM,
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response=_CHANGE,
        )
    },
    "/api/dispatch/slots": {
        "post": operation(
            "Propose the best appointment slots for a new visit",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "lon", "lat", "duration_s"],
                "properties": {
                    "day": _DAY,
                    "lon": _LON,
                    "lat": _LAT,
                    "duration_s": {"type": "integer", "minimum": 60, "maximum": 28800},
                    "skills": SKILLS_SCHEMA,
                    "windows": WINDOWS_SCHEMA,
                    "n": _N,
                    "from_now": {"type": "boolean"},
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response={"type": "object", "properties": {"slots": {"type": "array"}}},
        )
    },
    "/api/dispatch/move": {
        "post": operation(
            "Move a visit to a team and place: feasibility at once; apply: true saves and publishes",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "visit_id", "team_id"],
                "properties": {
                    "day": _DAY,
                    "visit_id": _ID,
                    "team_id": _ID,
                    "position": _POSITION,
                    "apply": {"type": "boolean"},
                    "force": {"type": "boolean"},
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response={"type": "object"},
        )
    },
    "/api/dispatch/delay": {
        "post": operation(
            "A team is late: recompute its ETAs and move the visits it would miss",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "team_id"],
                "dependentRequired": {"lon": ["lat"], "lat": ["lon"]},
                "properties": {
                    "day": _DAY,
                    "team_id": _ID,
                    "lon": _LON,
                    "lat": _LAT,
                    "confirm_dropped": _CONFIRM,
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response=_CHANGE,
        )
    },
    "/api/dispatch/team-unavailable": {
        "post": operation(
            "A team stops for the day: reassign its visits not yet started",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "team_id"],
                "properties": {
                    "day": _DAY,
                    "team_id": _ID,
                    "confirm_dropped": _CONFIRM,
                    "locale": _LOCALE,
                    "structure_id": _STRUCTURE,
                },
            },
            response=_CHANGE,
        )
    },
}
