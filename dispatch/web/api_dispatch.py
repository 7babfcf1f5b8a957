"""REST edge of the optimiser: optimise the day, urgent insertion, slots, delays, manual moves."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, current_app
from flask.typing import ResponseReturnValue

from dispatch.errors import DispatchError, NotFoundError, ValidationError
from dispatch.optimise import (
    Plan,
    Problem,
    TimeWindow,
    Visit,
    check_plan,
    compare_plans,
    diff_plans,
    insert_visit,
    move_visit,
    propose_slots,
    replan_after_delay,
    solve,
    team_unavailable,
)
from dispatch.optimise.rows import (
    RowContext,
    places,
    plan_from_stored,
    plan_rows,
    problem_from_rows,
    usable_visits,
)
from dispatch.settings import Settings
from dispatch.store.models import parse_day, parse_skills, parse_time_s, parse_windows
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.openapi import operation, path_param
from dispatch.web.rest import json_body, ok

log = logging.getLogger(__name__)
bp = Blueprint("dispatch_optimise", __name__)
JOBS_KEY = "dispatch.optimise.jobs"
SOCKET_KEY = "dispatch.optimise.socketio"
ROLES = ("coordinator",)
#: Finished jobs kept this long for the coordinator to read them.
JOB_TTL_S = 3600
_build_lock = threading.Lock()


# -- building the day's problem from the store and the router -----------------------------------
def _settings() -> Settings:
    settings: Settings = current_app.extensions["dispatch.settings"]
    return settings


def _all(fetch: Any, **kwargs: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = fetch(limit=1000, offset=offset, **kwargs)
        rows.extend(page)
        if page.next_offset is None:
            return rows
        offset = page.next_offset


def _router(app: Flask) -> Any:
    from dispatch.web.live import get_territory

    territory = get_territory(app)
    if territory is None:
        from dispatch.errors import NotBuiltError

        settings: Settings = app.extensions["dispatch.settings"]
        raise NotBuiltError(
            f"territory {settings.territory} is not built: run `dispatch territory build {settings.territory}`"
        )
    from dispatch.routing import Router

    return Router.for_territory(territory), territory


def build_day(
    store: Any,
    router: Any,
    territory_id: str,
    day: str,
    *,
    extra: Sequence[tuple[float, float]] = (),
    now_s: int | None = None,
) -> tuple[Problem, RowContext, Plan, dict[str, Any] | None]:
    """The day's problem (active teams, the day's visits, road times), its context and live plan.

    Used by the web edge and by `dispatch plan`; ``extra`` points get the last matrix indices.
    """
    import numpy as np

    teams = _all(store.list_teams, active=True)
    if not teams:
        raise ValidationError("no active team: add a team (or activate one) before optimising")
    visits = usable_visits(_all(store.list_visits, day=day))
    stored = store.published_plan(day)
    pts = places(teams, visits, list(extra))
    nodes, _ = router.snap_many(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
    with _build_lock:
        time_s, dist_m = router.matrix_with_distance(nodes, nodes)
    problem, ctx = problem_from_rows(
        teams, visits, time_s, dist_m, day=day, now_s=now_s, stored_plan=stored, lonlats=pts
    )
    ctx.territory = territory_id
    return problem, ctx, plan_from_stored(problem, stored), stored


def day_problem(
    app: Flask, day: str, *, extra: Sequence[tuple[float, float]] = (), now_s: int | None = None
) -> tuple[Problem, RowContext, Plan, dict[str, Any] | None]:
    """:func:`build_day` with the app's store and territory."""
    router, territory = _router(app)
    return build_day(get_store(app), router, territory.id, day, extra=extra, now_s=now_s)


def attach_geometry(app: Flask, plan: Plan, ctx: RowContext) -> Plan:
    """Each route with its road geometry (GeoJSON LineString) drawn by the router."""
    from dataclasses import replace

    router, _ = _router(app)
    routes = []
    for r in plan.routes:
        if not r.stops:
            routes.append(r)
            continue
        seq = [r.start_location] + [s.location for s in r.stops] + [r.end_location]
        coords: list[list[float]] = []
        for a, b in zip(seq, seq[1:], strict=False):
            if a == b:
                continue
            leg = router.route_lonlat(ctx.lonlat(a), ctx.lonlat(b))
            part = [[float(x), float(y)] for x, y in leg.coordinates]
            coords.extend(part[1:] if coords else part)
        geometry = {"type": "LineString", "coordinates": coords} if len(coords) > 1 else None
        routes.append(replace(r, geometry=geometry))
    return replace(plan, routes=tuple(routes))


def _plan_payload(plan: Plan, ctx: RowContext, locale: str) -> dict[str, Any]:
    body = plan.to_dict(locale)
    for r in body["routes"]:
        r["team_name"] = ctx.team_names.get(r["team_id"], r["team_id"])
        for s in r["stops"]:
            s["lon"], s["lat"] = ctx.lonlat(s["location"])
            if s["visit_id"]:
                s["label"] = ctx.visit_labels.get(s["visit_id"], s["visit_id"])
    for u in body["unassigned"]:
        u["label"] = ctx.visit_labels.get(u["visit_id"], u["visit_id"])
    return body


def _emit(event: str, payload: dict[str, Any], rooms: list[str]) -> None:
    socketio = current_app.extensions.get(SOCKET_KEY)
    if socketio is None:
        return
    for room in rooms:
        try:
            socketio.emit(event, payload, to=room)
        except Exception:  # a push failing must not fail the request
            log.exception("could not push %s to %s", event, room)


def _rooms(team_ids: list[str]) -> list[str]:
    from dispatch.live.hub import ROOM_COORDINATORS, team_room

    return [ROOM_COORDINATORS] + [team_room(int(t)) for t in team_ids]


def _save(
    problem: Problem, plan: Plan, ctx: RowContext, day: str, *, publish: bool
) -> dict[str, Any]:
    routes, unassigned = plan_rows(plan, locale=_settings().locale)
    who = current_principal().actor if current_principal().authenticated else "optimiser"
    return get_store().save_plan(
        day,
        routes,
        unassigned=unassigned,
        summary=plan.summary(),
        territory=ctx.territory,
        created_by=who,
        publish=publish,
    )


def _change(
    problem: Problem,
    ctx: RowContext,
    day: str,
    old: Plan,
    new: Plan,
    what: str,
    *,
    apply: bool | None = None,
) -> ResponseReturnValue:
    """Save a changed plan (published when auto-apply is on or asked), push the diff, answer."""
    settings = _settings()
    publish = settings.auto_apply_changes if apply is None else apply
    diff = diff_plans(old, new)
    saved = _save(problem, new, ctx, day, publish=publish)
    payload = {
        "day": day,
        "change": what,
        "plan_id": saved.get("id"),
        "applied": publish,
        "diff": diff.to_dict(),
    }
    if publish:
        _emit("dispatch:plan", payload, _rooms(list(diff.changed_team_ids)))
    else:
        _emit("dispatch:proposal", payload, _rooms([]))
    return ok(
        200,
        **payload,
        violations=check_plan(problem, new, locale=settings.locale),
        comparison=compare_plans(problem, old, new),
        plan=_plan_payload(new, ctx, settings.locale),
    )


# -- optimise the day: a background job with progress ------------------------------------------
def _jobs(app: Flask) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = app.extensions.setdefault(JOBS_KEY, {})
    now = time.time()
    for key in [k for k, j in jobs.items() if j.get("finished_at", now) < now - JOB_TTL_S]:
        jobs.pop(key, None)
    return jobs


def _run_job(app: Flask, job: dict[str, Any], time_limit_s: float) -> None:
    from dispatch.live.hub import ROOM_COORDINATORS

    socketio = app.extensions.get(SOCKET_KEY)

    def push(event: str, payload: dict[str, Any]) -> None:
        if socketio is not None:
            try:
                socketio.emit(event, payload, to=ROOM_COORDINATORS)
            except Exception:
                log.exception("could not push %s", event)

    with app.app_context():
        settings: Settings = app.extensions["dispatch.settings"]
        try:
            job["state"] = "building"
            problem, ctx, current, _ = day_problem(app, job["day"])

            def progress(p: dict[str, Any]) -> None:
                job["progress"] = {**p, "budget_s": time_limit_s}
                push(
                    "dispatch:progress", {"job_id": job["id"], "day": job["day"], **job["progress"]}
                )

            job["state"] = "solving"
            plan = solve(
                problem,
                time_limit_s=time_limit_s,
                progress=progress,
                current=current if current.routes else None,
                searches=settings.solver_searches,
            )
            plan = attach_geometry(app, plan, ctx)
            violations = check_plan(problem, plan, locale=settings.locale)
            routes, unassigned = plan_rows(plan, locale=settings.locale)
            saved = get_store(app).save_plan(
                job["day"],
                routes,
                unassigned=unassigned,
                summary=plan.summary(),
                territory=ctx.territory,
                created_by=job["by"],
                publish=settings.auto_apply_changes,
            )
            job.update(
                state="done",
                plan_id=saved.get("id"),
                applied=settings.auto_apply_changes,
                violations=violations,
                comparison=compare_plans(problem, current, plan),
                plan=_plan_payload(plan, ctx, settings.locale),
            )
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
                {k: job.get(k) for k in ("id", "day", "state", "plan_id", "applied", "error")},
            )


@bp.post("/api/dispatch/optimise")
@require(*ROLES)
def optimise() -> ResponseReturnValue:
    body = json_body()
    day = _day(body)
    settings = _settings()
    limit = body.get("time_limit_s", settings.solver_time_limit_s)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or not 0.5 <= float(limit) <= 600
    ):
        raise ValidationError("time_limit_s must be a number of seconds between 0.5 and 600")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    jobs = _jobs(app)
    if any(j["day"] == day and "finished_at" not in j for j in jobs.values()):
        from dispatch.errors import ConflictError

        raise ConflictError(
            f"the day {day} is already being optimised: wait for that job to finish"
        )
    job: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "day": day,
        "state": "queued",
        "progress": None,
        "started_at": time.time(),
        "by": current_principal().actor,
    }
    jobs[job["id"]] = job
    threading.Thread(
        target=_run_job, args=(app, job, float(limit)), daemon=True, name=f"optimise-{job['id']}"
    ).start()
    return ok(202, job_id=job["id"], day=day, time_limit_s=float(limit))


@bp.get("/api/dispatch/jobs/<job_id>")
@require(*ROLES)
def job_status(job_id: str) -> ResponseReturnValue:
    job = _jobs(current_app).get(job_id)
    if job is None:
        raise NotFoundError(
            f"optimisation job {job_id} does not exist (finished jobs are kept one hour)"
        )
    return ok(200, **{k: v for k, v in job.items() if k != "by"})


@bp.post("/api/dispatch/plans/<int:plan_id>/apply")
@require(*ROLES)
def apply_plan(plan_id: int) -> ResponseReturnValue:
    store = get_store()
    draft = store.get_plan(plan_id)
    day = draft["day"]
    before = store.published_plan(day)
    problem, ctx, current, _ = day_problem(current_app, day)
    store.publish_plan(plan_id)
    new = plan_from_stored(problem, store.get_plan(plan_id))
    old = plan_from_stored(problem, before) if before else Plan(routes=())
    diff = diff_plans(old, new)
    payload = {
        "day": day,
        "change": "apply",
        "plan_id": plan_id,
        "applied": True,
        "diff": diff.to_dict(),
    }
    _emit("dispatch:plan", payload, _rooms(list(diff.changed_team_ids)))
    return ok(**payload)


# -- live changes ------------------------------------------------------------------------------
def _id(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValidationError(
            f"{key} is required: the whole-number id of the {key.removesuffix('_id')}"
        )
    return str(value)


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
    return float(lon), float(lat)


def _now_s(body: dict[str, Any]) -> int | None:
    if body.get("now") is None:
        from dispatch.web.live import get_hub

        try:
            return int(get_hub().seconds_of_day())
        except Exception:
            return None
    return parse_time_s(body["now"], what="now")


def _day(body: dict[str, Any]) -> str:
    if not isinstance(body.get("day"), str):
        raise ValidationError('day is required: "YYYY-MM-DD"')
    return parse_day(body["day"], what="day")


def _visit_from_body(body: dict[str, Any], location: int, vid: str) -> Visit:
    if "duration_s" not in body:
        raise ValidationError("duration_s is required (seconds the visit lasts)")
    duration = body["duration_s"]
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or not 60 <= duration <= 8 * 3600
    ):
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


@bp.post("/api/dispatch/insert")
@require(*ROLES)
def insert() -> ResponseReturnValue:
    """Insert a visit of the day (often urgent) into the live plan with the least disruption."""
    body = json_body()
    day = _day(body)
    vid = _id(body, "visit_id")
    problem, ctx, current, _ = day_problem(current_app, day, now_s=_now_s(body))
    visit = problem.visits_by_id().get(vid)
    if visit is None:
        raise NotFoundError(
            f"visit {vid} is not a visit of {day}: create it first (POST /api/visits)"
        )
    if body.get("urgent", True):
        from dataclasses import replace

        visit = replace(visit, priority=5)
    new = insert_visit(problem, current, visit)
    return _change(problem, ctx, day, current, new, "insert")


@bp.post("/api/dispatch/slots")
@require(*ROLES)
def slots() -> ResponseReturnValue:
    """The best appointment slots for a new visit (place, duration, skills) on the day's plan."""
    body = json_body()
    day = _day(body)
    lonlat = _lonlat(body, required=True)
    assert lonlat is not None
    n = body.get("n", 5)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 20:
        raise ValidationError("n must be a whole number between 1 and 20")
    problem, ctx, current, _ = day_problem(
        current_app, day, extra=[lonlat], now_s=_now_s(body) if body.get("from_now") else None
    )
    visit = _visit_from_body(body, problem.n_locations - 1, "new")
    found = propose_slots(problem, current, visit, n=n)
    from dispatch.optimise.reasons import explain

    reason = (
        None
        if found
        else explain(problem.with_changes(visits=problem.visits + (visit,)), visit).to_dict(
            _settings().locale
        )
    )
    items = [{**s.to_dict(), "team_name": ctx.team_names.get(s.team_id, s.team_id)} for s in found]
    return ok(day=day, slots=items, reason=reason)


@bp.post("/api/dispatch/move")
@require(*ROLES)
def move() -> ResponseReturnValue:
    """Manual override: a visit to another team or place, with immediate feasibility feedback."""
    body = json_body()
    day = _day(body)
    problem, ctx, current, _ = day_problem(current_app, day)
    vid, tid = _id(body, "visit_id"), _id(body, "team_id")
    position = body.get("position")
    if position is not None and (
        isinstance(position, bool) or not isinstance(position, int) or position < 0
    ):
        raise ValidationError("position must be a whole number from 0 (first) or null (best place)")
    new, violations = move_visit(problem, current, vid, tid, position, locale=_settings().locale)
    if not body.get("apply"):
        return ok(
            day=day,
            feasible=not violations,
            violations=violations,
            comparison=compare_plans(problem, current, new),
            diff=diff_plans(current, new).to_dict(),
            plan=_plan_payload(new, ctx, _settings().locale),
        )
    if violations and not body.get("force"):
        raise ValidationError(
            "the move breaks the plan: "
            + "; ".join(violations[:5])
            + " (send force: true to apply anyway)",
            details={"violations": violations},
        )
    return _change(problem, ctx, day, current, new, "move", apply=True)


@bp.post("/api/dispatch/delay")
@require(*ROLES)
def delay() -> ResponseReturnValue:
    """A team is late: new ETAs from where it is now; visits it would miss go to other teams."""
    body = json_body()
    day = _day(body)
    now = _now_s(body)
    if now is None:
        raise ValidationError('now is required ("HH:MM")')
    extra = []
    if body.get("lon") is not None and body.get("lat") is not None:
        extra = [(float(body["lon"]), float(body["lat"]))]
    problem, ctx, current, _ = day_problem(current_app, day, extra=extra, now_s=now)
    location = problem.n_locations - 1 if extra else None
    new = replan_after_delay(
        problem, current, str(body.get("team_id")), now_s=now, location=location
    )
    return _change(problem, ctx, day, current, new, "delay")


@bp.post("/api/dispatch/team-unavailable")
@require(*ROLES)
def unavailable() -> ResponseReturnValue:
    """A team stops for the day: its visits not yet started are reassigned or explained."""
    body = json_body()
    day = _day(body)
    team_id = _id(body, "team_id")
    problem, ctx, current, _ = day_problem(current_app, day, now_s=_now_s(body))
    problem2, new = team_unavailable(problem, current, team_id)
    return _change(problem2, ctx, day, current, new, "team_unavailable")


def register(app: Flask, socketio: Any) -> None:
    """The optimiser's routes; pushes go through ``socketio`` to the coordinators and teams."""
    app.extensions[SOCKET_KEY] = socketio
    app.register_blueprint(bp)


_DAY = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
_TAGS = ["dispatch"]
_CHANGE = {"type": "object", "description": "plan_id, applied, diff, violations, comparison, plan"}
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
                "properties": {"day": _DAY, "time_limit_s": {"type": "number"}},
            },
            response={"type": "object", "properties": {"job_id": {"type": "string"}}},
        )
    },
    "/api/dispatch/jobs/{job_id}": {
        "get": operation(
            "Status, progress and result of an optimisation job",
            roles=ROLES,
            tags=_TAGS,
            params=[path_param("job_id")],
            response={"type": "object"},
        )
    },
    "/api/dispatch/plans/{plan_id}/apply": {
        "post": operation(
            "Publish a proposed plan and push the changes to the map and the teams",
            roles=ROLES,
            tags=_TAGS,
            params=[path_param("plan_id")],
            response={"type": "object"},
        )
    },
    "/api/dispatch/insert": {
        "post": operation(
            "Insert a visit of the day into the live plan (least disruption)",
            roles=ROLES,
            tags=_TAGS,
            body={
                "type": "object",
                "required": ["day", "visit_id"],
                "properties": {
                    "day": _DAY,
                    "visit_id": {"type": "integer"},
                    "urgent": {"type": "boolean"},
                    "now": {"type": "string"},
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
                    "lon": {"type": "number"},
                    "lat": {"type": "number"},
                    "duration_s": {"type": "integer"},
                    "skills": {"type": "array", "items": {"type": "string"}},
                    "windows": {"type": "array"},
                    "n": {"type": "integer"},
                    "from_now": {"type": "boolean"},
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
                    "visit_id": {"type": "integer"},
                    "team_id": {"type": "integer"},
                    "position": {"type": ["integer", "null"]},
                    "apply": {"type": "boolean"},
                    "force": {"type": "boolean"},
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
                "required": ["day", "team_id", "now"],
                "properties": {
                    "day": _DAY,
                    "team_id": {"type": "integer"},
                    "now": {"type": "string"},
                    "lon": {"type": "number"},
                    "lat": {"type": "number"},
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
                    "team_id": {"type": "integer"},
                    "now": {"type": "string"},
                },
            },
            response=_CHANGE,
        )
    },
}
