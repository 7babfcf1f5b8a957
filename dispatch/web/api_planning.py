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
from dispatch.store.models import shown
from dispatch.web.auth import current_principal, require
from dispatch.web.openapi import operation, query_param
from dispatch.web.rest import json_body, ok, whole_number

log = logging.getLogger(__name__)
STATIC_MAP = PROJECT_ROOT / "static" / "map"
ROLES = ("planner", "coordinator")
STATE_KEY = "dispatch.planning"
#: Limits of what one web request may ask (longer runs: `dispatch simulate`).
MAX_WEB_DAYS = 7
#: Longest travel-time band, in minutes (a day: a band beyond it means nothing).
MAX_BAND_MIN = 1440
MAX_WEB_TIME_LIMIT_S = 10.0
MAX_JOBS_KEPT = 20
#: Scenario ids of saved scenarios: ``saved:<slug>#0``.
SAVED_PREFIX = "saved:"

bp = Blueprint("planning", __name__)
#: Reports draw with matplotlib, whose state every thread shares: one report at a time.
_REPORT_LOCK = threading.Lock()


class PlanningState:
    """Per-app caches (analyses, commune shapes) and the simulation jobs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.analyses: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self.communes: dict[str, dict[str, Any]] = {}
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: The last simulation of each scenario id run from the page (for its report).
        self.simulated: OrderedDict[str, Any] = OrderedDict()
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


def _saved(settings: Settings) -> Any:
    """Scenarios saved from the page: ``<var dir>/planning/<territory>/scenarios/*.toml``."""
    from dispatch.planning.saved import SavedScenarios

    folder = settings.var_dir / "planning" / settings.territory / "scenarios"
    return SavedScenarios(folder, settings.territory)


def _scenarios_of(settings: Settings, file: str) -> list[Any]:
    from dispatch.planning.scenario import Scenario, load_scenarios

    if file in ("", "default"):
        return [Scenario(name="Bases du territoire", territory=settings.territory)]
    if file.startswith(SAVED_PREFIX):
        return [_saved(settings).load(file.removeprefix(SAVED_PREFIX))]
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
        minutes = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValidationError(
            f"bands={shown(text)}: give minutes separated by commas, e.g. 10,20,30"
        ) from None
    return _bands_s(minutes, "bands")


def _bands_s(minutes: list[float], what: str) -> tuple[int, ...]:
    """Bands in minutes as seconds; each finite, above 0 and at most MAX_BAND_MIN (1e308
    minutes would overflow the conversion)."""
    for band in minutes:
        if not 0 < band <= MAX_BAND_MIN:  # also false for nan
            raise ValidationError(
                f"{what}: {shown(band)} minutes is not a travel-time band: give minutes above 0"
                f" and at most {MAX_BAND_MIN} (a day), e.g. 10,20,30"
            )
    return tuple(int(round(band * 60)) for band in minutes)


def _is_number(value: Any) -> bool:
    """A JSON number (true and false are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _with_bases(settings: Settings, scenario: Any, items: Any) -> tuple[Any, tuple[Any, ...]]:
    """``scenario`` with the bases sent by the page instead of its own (and those bases)."""
    from dispatch.planning.saved import parse_bases, with_bases

    territory, _ = _territory_router(settings)
    bases = parse_bases(items, bbox=territory.graph.bbox())
    return with_bases(scenario, bases), bases


def _scenario_of_body(settings: Settings, data: dict[str, Any]) -> tuple[str, Any, bool]:
    """(scenario id, scenario, changed) from a body's ``scenario`` and optional ``bases``."""
    scenario_id = str(data.get("scenario", "default"))
    scenario = _scenario(settings, scenario_id)
    if data.get("bases") is None:
        return scenario_id, scenario, False
    scenario, _ = _with_bases(settings, scenario, data["bases"])
    return scenario_id, scenario, True


def _analysis(
    settings: Settings,
    scenario_id: str,
    bands: tuple[int, ...] | None,
    *,
    scenario: Any = None,
    with_isochrones: bool = True,
) -> dict[str, Any]:
    """The analysis of a scenario by id, or of ``scenario`` (bases changed on the page).

    Without isochrones (their polygons take seconds) it takes milliseconds.
    """
    from dispatch.planning.coverage import validate_bands
    from dispatch.planning.runner import analyse

    changed = scenario is not None
    if scenario is None:
        scenario = _scenario(settings, scenario_id)
    if bands is not None:
        scenario = replace(scenario, bands_s=validate_bands(bands))
    bases_key = tuple((b.id, b.name, b.lon, b.lat) for b in scenario.bases) if changed else None
    key = (settings.territory, scenario_id, scenario.bands_s, bases_key, with_isochrones)
    state = _state()
    with state.lock:
        if key in state.analyses:
            state.analyses.move_to_end(key)
            return state.analyses[key]
    territory, router = _territory_router(settings)
    result = analyse(scenario, territory, router, with_isochrones=with_isochrones)
    body = {
        "scenario_id": scenario_id,
        "changed": changed,
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
                        # Where a base placed "in this commune" goes (keyboard placing).
                        "lon": round(float(c.lon), 6),
                        "lat": round(float(c.lat), 6),
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
    items: list[dict[str, Any]] = [
        {"id": "default", "file": "default", "name": "Bases du territoire", "description": ""}
    ]
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
    for saved in _saved(settings).items():
        items.append(
            {
                "id": f"{SAVED_PREFIX}{saved.slug}#0",
                "file": f"{SAVED_PREFIX}{saved.slug}",
                "name": saved.name,
                "description": saved.description,
                "saved": True,
                "bases": saved.bases,
                "saved_at": saved.saved_at,
            }
        )
    return ok(items=items, errors=errors)


@bp.post("/api/planning/scenarios")
@require(*ROLES)
def save_scenario() -> ResponseReturnValue:
    """Save a set of bases as a named scenario (on the server, under the var dir)."""
    from dispatch.planning.saved import parse_bases, scenario_mapping

    settings = _settings()
    data = json_body()
    scenario_id = str(data.get("scenario", "default"))
    scenario = _scenario(settings, scenario_id)
    territory, _ = _territory_router(settings)
    bases = parse_bases(data.get("bases"), bbox=territory.graph.bbox())
    mapping = scenario_mapping(
        scenario,
        name=data.get("name", ""),  # type: ignore[arg-type]
        description=data.get("description", ""),  # type: ignore[arg-type]
        bases=bases,
        territory_bases=territory.bases,
    )
    replace_existing = data.get("replace", False)
    if not isinstance(replace_existing, bool):
        raise ValidationError("replace must be true or false")
    slug = _saved(settings).save(
        mapping, replace_existing=replace_existing, by=current_principal().name or ""
    )
    new_id = f"{SAVED_PREFIX}{slug}#0"
    _forget(new_id)
    log.info("planning scenario %s saved", new_id)
    return ok(
        201,
        scenario={
            "id": new_id,
            "file": f"{SAVED_PREFIX}{slug}",
            "name": mapping["name"],
            "description": mapping["description"],
            "saved": True,
            "bases": len(bases),
        },
    )


@bp.delete("/api/planning/scenarios/<slug>")
@require(*ROLES)
def delete_scenario(slug: str) -> ResponseReturnValue:
    """Delete a scenario saved from the page (the territory's own files stay)."""
    _saved(_settings()).delete(slug)
    _forget(f"{SAVED_PREFIX}{slug}#0")
    return ok(deleted=f"{SAVED_PREFIX}{slug}#0")


def _forget(scenario_id: str) -> None:
    """Drop what is cached about ``scenario_id`` (saved again or deleted)."""
    state = _state()
    with state.lock:
        for key in [k for k in state.analyses if k[1] == scenario_id]:
            del state.analyses[key]
        state.simulated.pop(scenario_id, None)


@bp.get("/api/planning/analysis")
@require(*ROLES)
def analysis() -> ResponseReturnValue:
    """Coverage per band and commune, E2SFCA accessibility and isochrones of one scenario."""
    body = _analysis(
        _settings(), request.args.get("scenario", "default"), _bands(request.args.get("bands"))
    )
    return ok(**body)


@bp.post("/api/planning/analysis")
@require(*ROLES)
def analysis_of_bases() -> ResponseReturnValue:
    """The analysis of a scenario with the bases placed on the page (``bases``) instead."""
    settings = _settings()
    data = json_body()
    bands = data.get("bands_min")
    bands_s = None
    if bands is not None:
        if not isinstance(bands, list) or not all(
            isinstance(b, int | float) and not isinstance(b, bool) for b in bands
        ):
            raise ValidationError("bands_min: give a list of minutes, e.g. [10, 20, 30]")
        bands_s = _bands_s([float(b) for b in bands], "bands_min")
    scenario_id, scenario, _ = _scenario_of_body(settings, data)
    with_isochrones = data.get("isochrones", True)
    if not isinstance(with_isochrones, bool):
        raise ValidationError("isochrones must be true or false")
    changed = scenario if data.get("bases") is not None else None
    return ok(
        **_analysis(
            settings, scenario_id, bands_s, scenario=changed, with_isochrones=with_isochrones
        )
    )


@bp.get("/api/planning/compare")
@require(*ROLES)
def compare() -> ResponseReturnValue:
    """Coverage and accessibility figures of every scenario of a file (``file``), or of the
    scenarios listed in ``ids`` (comma-separated), side by side."""
    settings = _settings()
    file = request.args.get("file", "default")
    from dispatch.planning.runner import analyse

    territory, router = _territory_router(settings)
    ids_text = request.args.get("ids")
    if ids_text:
        ids = list(dict.fromkeys(i.strip() for i in ids_text.split(",") if i.strip()))
        if len(ids) > 30:
            raise ValidationError("ids: compare at most 30 scenarios at once")
        pairs = [(sid, _scenario(settings, sid)) for sid in ids]
    else:
        pairs = [
            ("default" if file == "default" else f"{file}#{i}", sc)
            for i, sc in enumerate(_scenarios_of(settings, file))
        ]
    rows = []
    for sid, sc in pairs:
        result = analyse(sc, territory, router, with_isochrones=False)
        row = result.kpis()
        rows.append(
            {
                "scenario_id": sid,
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
    # JSON Schema's integer includes 8.0: whole floats are accepted.
    k = whole_number(data.get("k", 1))
    method = data.get("method", "mclp")
    radius_min = data.get("radius_min", 30)
    if k is None or not 1 <= k <= 10:
        raise ValidationError("k must be a whole number from 1 to 10")
    if method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}")
    if not _is_number(radius_min) or not 1 <= radius_min <= 120:
        raise ValidationError("radius_min must be between 1 and 120 minutes")
    _, scenario, _ = _scenario_of_body(settings, data)
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


def _run_job(
    app: Flask, job_id: str, scenario: Any, days: int, time_limit_s: float, changed: bool
) -> None:
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
            if not changed:  # the report of this scenario shows its last simulation
                with state.lock:
                    state.simulated[job["scenario_id"]] = r
                    state.simulated.move_to_end(job["scenario_id"])
                    while len(state.simulated) > MAX_JOBS_KEPT:
                        state.simulated.popitem(last=False)
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
    days = whole_number(data.get("days", 1))  # 2.0 is a whole number of days
    time_limit_s = data.get("time_limit_s", 3)
    if days is None or not 1 <= days <= MAX_WEB_DAYS:
        raise ValidationError(
            f"days must be 1 to {MAX_WEB_DAYS} (longer runs: `dispatch simulate`)"
        )
    if not _is_number(time_limit_s) or not 0.5 <= time_limit_s <= MAX_WEB_TIME_LIMIT_S:
        raise ValidationError(f"time_limit_s must be between 0.5 and {MAX_WEB_TIME_LIMIT_S}")
    sid, scenario, changed = _scenario_of_body(settings, data)
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
    state.pool.submit(_run_job, app, job_id, scenario, days, float(time_limit_s), changed)
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


@bp.get("/api/planning/report")
@require(*ROLES)
def report() -> ResponseReturnValue:
    """The HTML report of a scenario (maps and charts embedded), in ``lang`` (fr or en).

    It shows the scenario's last simulation run from the page, if any; coverage and
    accessibility otherwise.
    """
    from dispatch.planning.report import report_html
    from dispatch.planning.runner import analyse

    settings = _settings()
    scenario_id = request.args.get("scenario", "default")
    locale = request.args.get("lang", "fr")
    if locale not in ("fr", "en"):
        raise ValidationError(f"lang={locale!r}: use fr or en")
    territory, router = _territory_router(settings)
    state = _state()
    with state.lock:
        result = state.simulated.get(scenario_id)
    if result is None:
        scenario = _scenario(settings, scenario_id)
        if scenario_id == "default" and locale == "en":
            scenario = replace(scenario, name="Territory bases")
        result = analyse(scenario, territory, router)
    with _REPORT_LOCK:
        document = report_html([result], territory, locale=locale)
    response = current_app.response_class(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


_SC = query_param(
    "scenario",
    {"type": "string", "example": "bases-actuelles#1"},
    "scenario id (default: the territory's bases)",
)
_BASES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "lon", "lat"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "lon": {"type": "number"},
            "lat": {"type": "number"},
        },
    },
}
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
            "Scenario files, their scenarios and the scenarios saved from the page",
            roles=ROLES,
            tags=["planning"],
            response={"type": "object"},
        ),
        "post": operation(
            "Save a set of bases as a named scenario",
            roles=ROLES,
            tags=["planning"],
            status=201,
            body={
                "type": "object",
                "required": ["name", "bases"],
                "properties": {
                    "name": {"type": "string", "maxLength": 120},
                    "description": {"type": "string"},
                    "scenario": {"type": "string", "description": "the scenario it derives from"},
                    "bases": _BASES,
                    "replace": {
                        "type": "boolean",
                        "description": "replace a scenario of that name",
                    },
                },
            },
            response={"type": "object"},
        ),
    },
    "/api/planning/scenarios/{slug}": {
        "delete": operation(
            "Delete a scenario saved from the page",
            roles=ROLES,
            tags=["planning"],
            params=[{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
            response={"type": "object"},
        )
    },
    "/api/planning/report": {
        "get": operation(
            "HTML report of a scenario (text/html)",
            roles=ROLES,
            tags=["planning"],
            params=[_SC, query_param("lang", {"enum": ["fr", "en"]}, "language of the report")],
            response={"type": "string"},
        )
    },
    "/api/planning/analysis": {
        "get": operation(
            "Coverage, E2SFCA accessibility and isochrones of a scenario",
            roles=ROLES,
            tags=["planning"],
            params=[
                _SC,
                query_param(
                    "bands",
                    {
                        "type": "string",
                        "pattern": "^\\s*[0-9]{1,3}(\\.[0-9]+)?(\\s*,\\s*[0-9]{1,3}(\\.[0-9]+)?)*\\s*$",
                        "example": "10,20,30",
                    },
                    "bands in minutes, increasing",
                ),
            ],
            response={"type": "object"},
        ),
        "post": operation(
            "Coverage, accessibility and isochrones of a scenario with other bases",
            roles=ROLES,
            tags=["planning"],
            body={
                "type": "object",
                "properties": {
                    "scenario": {"type": "string"},
                    "bases": _BASES,
                    "bands_min": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_BAND_MIN},
                        "description": "minutes, increasing",
                    },
                    "isochrones": {
                        "type": "boolean",
                        "description": "false: coverage and accessibility only, in milliseconds",
                    },
                },
            },
            response={"type": "object"},
        ),
    },
    "/api/planning/compare": {
        "get": operation(
            "Coverage figures of every scenario of a file",
            roles=ROLES,
            tags=["planning"],
            params=[
                query_param(
                    "file", {"type": "string", "example": "bases-actuelles"}, "scenario file stem"
                ),
                query_param(
                    "ids",
                    {"type": "string", "example": "default,saved:folelli#0"},
                    "scenario ids separated by commas (instead of file)",
                ),
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
                    "radius_min": {"type": "number", "minimum": 1, "maximum": 120},
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
                    "time_limit_s": {
                        "type": "number",
                        "minimum": 0.5,
                        "maximum": MAX_WEB_TIME_LIMIT_S,
                    },
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
