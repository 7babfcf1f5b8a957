"""The planner page and /api/planning: coverage, accessibility, siting and simulation jobs."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, request, send_from_directory
from flask.typing import ResponseReturnValue

from dispatch.errors import DispatchError, NotFoundError, ValidationError
from dispatch.settings import PROJECT_ROOT, Settings
from dispatch.web.auth import require
from dispatch.web.openapi import operation, query_param
from dispatch.web.rest import json_body, ok

log = logging.getLogger(__name__)
STATIC_MAP = PROJECT_ROOT / "static" / "map"
ROLES = ("planner", "coordinator")
STATE_KEY = "dispatch.planning"
#: Limits of what one web request may ask (longer runs: `dispatch simulate`).
MAX_WEB_DAYS = 7
MAX_WEB_TIME_LIMIT_S = 10.0
MAX_JOBS_KEPT = 20

bp = Blueprint("planning", __name__)


class PlanningState:
    """Per-app caches (analyses, commune shapes) and the simulation jobs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.analyses: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self.communes: dict[str, dict[str, Any]] = {}
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planning")


def _state() -> PlanningState:
    state: PlanningState = current_app.extensions[STATE_KEY]
    return state


def _settings() -> Settings:
    settings: Settings = current_app.extensions["dispatch.settings"]
    return settings


def _territory_router(settings: Settings) -> tuple[Any, Any]:
    from dispatch.planning.runner import territory_and_router

    return territory_and_router(settings.territory, settings)


def _scenario_dir(settings: Settings) -> Path:
    return settings.territories_dir / settings.territory / "scenarios"


def _scenario_files(settings: Settings) -> list[Path]:
    folder = _scenario_dir(settings)
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def _scenarios_of(settings: Settings, file: str) -> list[Any]:
    from dispatch.planning.scenario import Scenario, load_scenarios

    if file in ("", "default"):
        return [Scenario(name="Bases du territoire", territory=settings.territory)]
    for path in _scenario_files(settings):
        if path.stem == file:
            return load_scenarios(path)
    raise NotFoundError(
        f"no scenario file {file!r} for {settings.territory}: "
        f"GET /api/planning/scenarios lists them"
    )


def _scenario(settings: Settings, scenario_id: str) -> Any:
    """A scenario from its id ``<file stem>#<index>`` (``default`` for the territory's bases)."""
    file, _, index = (scenario_id or "default").partition("#")
    scenarios = _scenarios_of(settings, file)
    try:
        i = int(index or 0)
        return scenarios[i]
    except (ValueError, IndexError):
        raise NotFoundError(
            f"scenario {scenario_id!r} does not exist (file {file} has {len(scenarios)})"
        ) from None


def _bands(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(round(float(x) * 60)) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValidationError(
            f"bands={text!r}: give minutes separated by commas, e.g. 10,20,30"
        ) from None


def _analysis(
    settings: Settings, scenario_id: str, bands: tuple[int, ...] | None
) -> dict[str, Any]:
    from dispatch.planning.coverage import validate_bands
    from dispatch.planning.runner import analyse

    scenario = _scenario(settings, scenario_id)
    if bands is not None:
        scenario = replace(scenario, bands_s=validate_bands(bands))
    key = (settings.territory, scenario_id, scenario.bands_s)
    state = _state()
    with state.lock:
        if key in state.analyses:
            state.analyses.move_to_end(key)
            return state.analyses[key]
    territory, router = _territory_router(settings)
    result = analyse(scenario, territory, router)
    body = {
        "scenario_id": scenario_id,
        "scenario": {"name": scenario.name, "description": scenario.description},
        "bases": result.bases,
        "coverage": result.coverage.to_dict(),
        "accessibility": result.accessibility.to_dict(),
        "isochrones": result.isochrones,
    }
    with state.lock:
        state.analyses[key] = body
        while len(state.analyses) > 16:
            state.analyses.popitem(last=False)
    return body


@bp.get("/planner")
def planner_no_slash() -> ResponseReturnValue:
    return redirect("/planner/")


@bp.get("/planner/")
def planner_page() -> ResponseReturnValue:
    """The planners' page (its data calls need a planner, coordinator or admin login)."""
    response = send_from_directory(STATIC_MAP, "planner.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/planner/<path:name>")
def planner_asset(name: str) -> ResponseReturnValue:
    """planner.js / planner.css (also reachable under /static/map/ when the pages module is on)."""
    if name not in ("planner.js", "planner.css"):
        raise NotFoundError(f"no planner file {name!r}")
    response = send_from_directory(STATIC_MAP, name, max_age=0)
    if name.endswith(".js"):
        response.mimetype = "text/javascript"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/planning/territory")
@require(*ROLES)
def territory_info() -> ResponseReturnValue:
    """Name, bounding box, population and bases of the served territory."""
    settings = _settings()
    territory, _ = _territory_router(settings)
    return ok(
        id=territory.id,
        name=territory.name,
        bbox=list(territory.graph.bbox()),
        population=round(float(territory.node_population.sum())),
        bases=[{"id": b.id, "name": b.name, "lon": b.lon, "lat": b.lat} for b in territory.bases],
        online_tiles=settings.online_tiles,
    )


@bp.get("/api/planning/communes")
@require(*ROLES)
def communes() -> ResponseReturnValue:
    """The communes as GeoJSON (simplified outlines, or points when no outline is known)."""
    settings = _settings()
    state = _state()
    with state.lock:
        cached = state.communes.get(settings.territory)
    if cached is None:
        from shapely.geometry import mapping

        territory, _ = _territory_router(settings)
        features = []
        for i, c in enumerate(territory.communes):
            if c.geometry is not None:
                geom = mapping(c.geometry.simplify(0.0008, preserve_topology=True))
            else:
                geom = {"type": "Point", "coordinates": [c.lon, c.lat]}
            features.append(
                {
                    "type": "Feature",
                    "id": i,
                    "properties": {
                        "code_insee": c.code_insee,
                        "name": c.name,
                        "population": c.population,
                    },
                    "geometry": geom,
                }
            )
        cached = {"type": "FeatureCollection", "features": features}
        with state.lock:
            state.communes[settings.territory] = cached
    return current_app.response_class(
        json.dumps({"ok": True, **cached}, separators=(",", ":")), mimetype="application/json"
    )


@bp.get("/api/planning/scenarios")
@require(*ROLES)
def scenarios() -> ResponseReturnValue:
    """Scenario files of the territory and the scenarios (base and variants) each holds."""
    settings = _settings()
    items = [{"id": "default", "file": "default", "name": "Bases du territoire", "description": ""}]
    errors = []
    for path in _scenario_files(settings):
        try:
            from dispatch.planning.scenario import load_scenarios

            for i, sc in enumerate(load_scenarios(path)):
                if sc.territory != settings.territory:
                    continue
                items.append(
                    {
                        "id": f"{path.stem}#{i}",
                        "file": path.stem,
                        "name": sc.name,
                        "description": sc.description,
                    }
                )
        except DispatchError as exc:
            errors.append({"file": path.name, "error": exc.message})
    return ok(items=items, errors=errors)


@bp.get("/api/planning/analysis")
@require(*ROLES)
def analysis() -> ResponseReturnValue:
    """Coverage per band and commune, E2SFCA accessibility and isochrones of one scenario."""
    body = _analysis(
        _settings(), request.args.get("scenario", "default"), _bands(request.args.get("bands"))
    )
    return ok(**body)


@bp.get("/api/planning/compare")
@require(*ROLES)
def compare() -> ResponseReturnValue:
    """Coverage and accessibility figures of every scenario of a file, side by side."""
    settings = _settings()
    file = request.args.get("file", "default")
    from dispatch.planning.runner import analyse

    territory, router = _territory_router(settings)
    rows = []
    for i, sc in enumerate(_scenarios_of(settings, file)):
        result = analyse(sc, territory, router, with_isochrones=False)
        row = result.kpis()
        rows.append(
            {
                "scenario_id": "default" if file == "default" else f"{file}#{i}",
                **{
                    k: v
                    for k, v in row.items()
                    if k
                    in ("scenario", "bases", "teams", "uncovered_population", "apl_mean_per_1000")
                    or k.startswith("covered_")
                },
            }
        )
    return ok(items=rows)


@bp.post("/api/planning/siting")
@require(*ROLES)
def siting() -> ResponseReturnValue:
    """Propose ``k`` new bases (``mclp`` or ``pmedian``) keeping the scenario's bases."""
    from dispatch.planning.simulate import prepare
    from dispatch.planning.siting import METHODS, site_bases

    settings = _settings()
    data = json_body()
    k = data.get("k", 1)
    method = data.get("method", "mclp")
    radius_min = data.get("radius_min", 30)
    if not isinstance(k, int) or not 1 <= k <= 10:
        raise ValidationError("k must be a whole number from 1 to 10")
    if method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}")
    if not isinstance(radius_min, int | float) or not 1 <= radius_min <= 120:
        raise ValidationError("radius_min must be between 1 and 120 minutes")
    scenario = _scenario(settings, str(data.get("scenario", "default")))
    territory, router = _territory_router(settings)
    setup = prepare(scenario, territory, router)
    result = site_bases(
        territory,
        router,
        setup.base_nodes,
        k=k,
        radius_s=float(radius_min) * 60,
        method=method,
        existing_ids=[b.id for b in setup.bases],
        time_limit_s=30,
    )
    return ok(**result.to_dict())


def _run_job(app: Flask, job_id: str, scenario: Any, days: int, time_limit_s: float) -> None:
    from dispatch.planning.runner import run_scenarios

    with app.app_context():
        state: PlanningState = app.extensions[STATE_KEY]
        job = state.jobs[job_id]
        job["status"] = "running"

        def progress(message: str, done: int, total: int) -> None:
            job.update(done=done, total=total, message=message)

        try:
            results = run_scenarios(
                [scenario],
                app.extensions["dispatch.settings"],
                days=days,
                time_limit_s=time_limit_s,
                with_teams_needed=False,
                progress=progress,
            )
            r = results[0]
            job["result"] = {
                "kpis": r.kpis(),
                "summary": r.summary,
                "days": [d.to_dict(points=True) for d in r.days],
            }
            job["status"] = "done"
        except DispatchError as exc:
            job.update(status="failed", error=exc.message)
        except Exception:  # noqa: BLE001 - reported to the page, logged with its traceback
            log.exception("planning simulation %s failed", job_id)
            job.update(status="failed", error="internal error: the incident was logged")
        job["finished_at"] = time.time()


@bp.post("/api/planning/simulations")
@require(*ROLES)
def start_simulation() -> ResponseReturnValue:
    """Start simulating ``days`` days of a scenario; poll the returned job."""
    settings = _settings()
    data = json_body()
    days = data.get("days", 1)
    time_limit_s = data.get("time_limit_s", 3)
    if not isinstance(days, int) or not 1 <= days <= MAX_WEB_DAYS:
        raise ValidationError(
            f"days must be 1 to {MAX_WEB_DAYS} (longer runs: `dispatch simulate`)"
        )
    if not isinstance(time_limit_s, int | float) or not 0.5 <= time_limit_s <= MAX_WEB_TIME_LIMIT_S:
        raise ValidationError(f"time_limit_s must be between 0.5 and {MAX_WEB_TIME_LIMIT_S}")
    sid = str(data.get("scenario", "default"))
    scenario = _scenario(settings, sid)
    state = _state()
    job_id = uuid.uuid4().hex[:12]
    with state.lock:
        state.jobs[job_id] = {
            "id": job_id,
            "scenario_id": sid,
            "scenario": scenario.name,
            "status": "queued",
            "done": 0,
            "total": days,
            "message": "",
            "created_at": time.time(),
        }
        while len(state.jobs) > MAX_JOBS_KEPT:
            state.jobs.popitem(last=False)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state.pool.submit(_run_job, app, job_id, scenario, days, float(time_limit_s))
    return ok(202, job=state.jobs[job_id])


@bp.get("/api/planning/simulations/<job_id>")
@require(*ROLES)
def simulation(job_id: str) -> ResponseReturnValue:
    """A simulation job: status, progress and, once done, its KPIs and days."""
    job = _state().jobs.get(job_id)
    if job is None:
        raise NotFoundError(
            f"no simulation job {job_id!r} (jobs are kept in memory, the last {MAX_JOBS_KEPT})"
        )
    return ok(job=job)


_SC = query_param(
    "scenario",
    {"type": "string", "example": "bases-actuelles#1"},
    "scenario id (default: the territory's bases)",
)
OPENAPI_PATHS: dict[str, Any] = {
    "/api/planning/territory": {
        "get": operation(
            "Territory summary for the planner",
            roles=ROLES,
            tags=["planning"],
            response={"type": "object"},
        )
    },
    "/api/planning/communes": {
        "get": operation(
            "Communes as GeoJSON", roles=ROLES, tags=["planning"], response={"type": "object"}
        )
    },
    "/api/planning/scenarios": {
        "get": operation(
            "Scenario files and their scenarios",
            roles=ROLES,
            tags=["planning"],
            response={"type": "object"},
        )
    },
    "/api/planning/analysis": {
        "get": operation(
            "Coverage, E2SFCA accessibility and isochrones of a scenario",
            roles=ROLES,
            tags=["planning"],
            params=[
                _SC,
                query_param("bands", {"type": "string", "example": "10,20,30"}, "bands in minutes"),
            ],
            response={"type": "object"},
        )
    },
    "/api/planning/compare": {
        "get": operation(
            "Coverage figures of every scenario of a file",
            roles=ROLES,
            tags=["planning"],
            params=[
                query_param(
                    "file", {"type": "string", "example": "bases-actuelles"}, "scenario file stem"
                )
            ],
            response={"type": "object"},
        )
    },
    "/api/planning/siting": {
        "post": operation(
            "Propose k new bases",
            roles=ROLES,
            tags=["planning"],
            body={
                "type": "object",
                "properties": {
                    "scenario": {"type": "string"},
                    "k": {"type": "integer", "minimum": 1, "maximum": 10},
                    "method": {"enum": ["mclp", "pmedian"]},
                    "radius_min": {"type": "number"},
                },
            },
            response={"type": "object"},
        )
    },
    "/api/planning/simulations": {
        "post": operation(
            "Start a simulation job",
            roles=ROLES,
            tags=["planning"],
            status=202,
            body={
                "type": "object",
                "properties": {
                    "scenario": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": MAX_WEB_DAYS},
                    "time_limit_s": {"type": "number"},
                },
            },
            response={"type": "object"},
        )
    },
    "/api/planning/simulations/{job_id}": {
        "get": operation(
            "A simulation job",
            roles=ROLES,
            tags=["planning"],
            params=[
                {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            response={"type": "object"},
        )
    },
}


def register(app: Flask, socketio: Any) -> None:
    """Add the planner page and the /api/planning routes."""
    app.extensions[STATE_KEY] = PlanningState()
    app.register_blueprint(bp)
