"""REST endpoints for visits: list, create, change, cancel, CSV import, protected details, events."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, request
from flask.typing import ResponseReturnValue

from dispatch.errors import DispatchError, NotFoundError, PermissionDeniedError, ValidationError
from dispatch.intake.review import CSV_COLUMNS as INTAKE_COLUMNS
from dispatch.intake.review import csv_delimiter
from dispatch.planning.privacy import planner_visit
from dispatch.store.care import MISSED_REASONS
from dispatch.store.models import (
    CARE_KINDS,
    EVENT_KINDS,
    VISIT_STATUSES,
    ServiceArea,
    format_hhmm,
    parse_visit,
    shown,
)
from dispatch.web.api_teams import structure_field
from dispatch.web.auth import Principal, client_ip, current_principal, get_store, require
from dispatch.web.openapi import (
    BOOL_QUERY,
    DAY_QUERY,
    DAY_SCHEMA,
    ID_QUERY,
    NOT_BLANK,
    PAGE_PARAMS,
    SKILLS_SCHEMA,
    WINDOWS_SCHEMA,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import (
    arg_bool,
    arg_choice,
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

bp = Blueprint("api_visits", __name__)

#: Most rows accepted in one CSV import.
MAX_IMPORT_ROWS = 5000
#: Fields a planner does not need (they plan on places and times, not addresses).
PLANNER_HIDDEN = ("address", "external_ref")

VISIT_INPUT = {
    "type": "object",
    "properties": {
        "day": DAY_SCHEMA,
        "pseudonym": {
            "type": "string",
            "minLength": 1,
            "maxLength": 40,
            "pattern": NOT_BLANK,
            "example": "Patient 7F3A",
        },
        "care_kind": {"enum": list(CARE_KINDS)},
        "address": {"type": ["string", "null"], "maxLength": 200},
        "commune": {"type": ["string", "null"], "maxLength": 200},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "duration_s": {"type": "integer", "minimum": 60, "maximum": 43200},
        "windows": WINDOWS_SCHEMA,
        "skills": SKILLS_SCHEMA,
        "priority": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 3,
            "description": "null: the default 1",
        },
        "mandatory": {
            "anyOf": [
                {"type": "boolean"},
                {"enum": [0, 1, "1", "0", "true", "false", "oui", "non", "yes", "no"]},
            ],
            "description": "false: may wait for another day",
        },
        "preferred_team_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**53},
        "team_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**53},
        "status": {"enum": list(VISIT_STATUSES)},
        "external_ref": {"type": ["string", "null"], "maxLength": 200},
        "protected": {
            "type": ["object", "null"],
            "properties": {
                k: {"type": ["string", "null"], "maxLength": 2000}
                for k in ("name", "phone", "address_details", "notes")
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
VISIT_OUTPUT = {
    "type": "object",
    "required": ["ok", "visit"],
    "properties": {"ok": {"const": True}, "visit": {"type": "object"}},
}
EVENT_INPUT = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"enum": list(EVENT_KINDS)},
        "reason": {"enum": list(MISSED_REASONS)},
        "note": {"type": "string", "maxLength": 2000},
        "client_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "device_time_s": {"type": "number", "minimum": 946684800, "maximum": 4102444800},
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
    },
    "additionalProperties": False,
}
_VID = [path_param("visit_id")]
#: A new record's structure: one of the caller's (needed when they work for several).

OPENAPI_PATHS = {
    "/api/visits": {
        "get": operation(
            "List visits (a team member sees only their team's round)",
            roles=("coordinator", "planner", "team_member", "admin"),
            tags=["visits"],
            params=[
                *PAGE_PARAMS,
                query_param("day", DAY_QUERY),
                query_param("team_id", ID_QUERY),
                query_param("status", {"enum": list(VISIT_STATUSES)}),
                query_param("unassigned", BOOL_QUERY),
            ],
            paged=True,
        ),
        "post": operation(
            "Create a visit",
            roles=("coordinator", "admin"),
            tags=["visits"],
            body={
                **VISIT_INPUT,
                "properties": {
                    **VISIT_INPUT["properties"],  # type: ignore[dict-item]
                    "structure_id": TARGET_STRUCTURE_SCHEMA,
                },
                "required": ["day", "pseudonym", "lon", "lat", "duration_s", "windows"],
            },
            status=201,
            response=VISIT_OUTPUT,
            description='Time windows are [start, end] pairs of "HH:MM" or seconds since midnight.',
        ),
    },
    "/api/visits/import": {
        "post": operation(
            "Import visits from CSV (all rows or none; per-row errors in details)",
            roles=("coordinator", "admin"),
            tags=["visits"],
            params=[
                query_param("day", DAY_QUERY, "day of rows without a day column"),
                query_param("dry_run", BOOL_QUERY, "check only, store nothing"),
                query_param(
                    "structure_id", ID_QUERY, "structure of the visits (if you work for several)"
                ),
            ],
            body={"type": "string", "minLength": 1},
            body_content_type="text/csv",
            status=201,
            description="Columns: day, pseudonym, care_kind, address, commune, lon, lat, "
            'duration_min (or duration_s), windows ("08:00-10:00;17:00-18:00"), skills '
            '("insulin;wound"), priority, preferred_team (name or id), external_ref, name, '
            "phone, address_details, notes. Separator ';', ',' or tab (read from the header "
            "line); French decimal commas in lon/lat/durations are accepted ('9,41'); UTF-8 "
            "(with or without BOM), Windows-1252 or UTF-16 with BOM (Excel's exports).",
        )
    },
    "/api/visits/{visit_id}": {
        "get": operation(
            "One visit (public view: pseudonym, place, times)",
            roles=("coordinator", "planner", "team_member", "admin"),
            tags=["visits"],
            params=_VID,
            response=VISIT_OUTPUT,
        ),
        "patch": operation(
            "Change a visit",
            roles=("coordinator", "admin"),
            tags=["visits"],
            description="Only the fields sent change. 'protected' is merged key by key: a key "
            "sent replaces that detail, a key sent as null removes it, the others stay; "
            "'protected': null removes every detail. 'priority': null means the default 1.",
            params=_VID,
            body=VISIT_INPUT,
            response=VISIT_OUTPUT,
        ),
        "delete": operation(
            "Cancel a visit (kept, with status cancelled)",
            roles=("coordinator", "admin"),
            tags=["visits"],
            params=_VID,
            response=VISIT_OUTPUT,
        ),
    },
    "/api/visits/{visit_id}/details": {
        "get": operation(
            "Protected patient details (name, phone, address details, notes); every read is audited",
            roles=("coordinator", "team_member"),
            tags=["visits"],
            description="Administrators and planners have no access. A team member (or a "
            "team's phone) reads only the visits of their team's round of today; another "
            "team's visit or another day's answers 403, and the refusal is audited too. "
            "Answers carry Cache-Control: no-store.",
            params=[
                *_VID,
                query_param(
                    "from",
                    {"enum": ["map", "list", "phone", ""]},
                    "the screen asking (audited; empty: not said)",
                ),
            ],
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "details": {"type": "object"}},
            },
        )
    },
    "/api/visits/{visit_id}/audit": {
        "get": operation(
            "Who read this visit's patient details, when and from where (newest first)",
            roles=("coordinator", "admin"),
            tags=["visits"],
            params=[*_VID, *PAGE_PARAMS],
            paged=True,
            description="The audit lines of the visit: reads of its details and notes, refused "
            "reads, changes. Each names the user or the phone (with its team) and the address "
            "it called from.",
        )
    },
    "/api/visits/{visit_id}/events": {
        "get": operation(
            "Events of a visit",
            roles=("coordinator", "team_member"),
            tags=["visits"],
            description="Free-text notes are patient details: like /details, an administrator "
            "may not read them, and a read returning notes is written to the audit log.",
            params=[*_VID, *PAGE_PARAMS],
            paged=True,
        ),
        "post": operation(
            "Record an arrival, check-in, check-out, missed visit or note",
            roles=("coordinator", "team_member", "admin"),
            tags=["visits"],
            params=_VID,
            body=EVENT_INPUT,
            status=201,
            replay_status=200,
            description="Idempotent on client_id: a retried event is stored once. A missed "
            f"visit gives a reason ({', '.join(MISSED_REASONS)}) and/or a note; a note event "
            "needs its note.",
        ),
    },
}


def visit_view(visit: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The visit as ``principal`` may see it (windows also as "HH:MM")."""
    view = dict(visit)
    view["windows_hhmm"] = [[format_hhmm(a), format_hhmm(b)] for a, b in visit["windows"]]
    if principal.role == "planner":  # no address, places to about 100 m
        view = planner_visit(view)
    return view


def _check_round(visit: dict[str, Any], principal: Principal) -> None:
    # The partner team of a two-person visit works on it as the main team does.
    if principal.role == "team_member" and principal.team_id not in (
        visit["team_id"],
        visit.get("partner_team_id"),
    ):
        raise PermissionDeniedError(
            f"visit {visit['id']} is not in your team's round: ask the coordinator"
        )


def _today() -> str:
    from dispatch.web.live import get_clock

    return get_clock().today()


def _check_today(visit: dict[str, Any], principal: Principal) -> None:
    """A team reads its patients' details and notes for today's round only."""
    if principal.role == "team_member" and visit["day"] != _today():
        raise PermissionDeniedError(
            f"visit {visit['id']} is on {visit['day']}, not in today's round:"
            " a team sees its patients' details on the day of the visit only"
        )


#: Endpoints whose answers hold patient details: never kept by a browser or proxy cache.
_NO_STORE = {"api_visits.visit_details", "api_visits.list_events", "api_visits.visit_audit"}


@bp.after_request
def _no_store(response: Response) -> Response:
    if request.endpoint in _NO_STORE:
        response.headers["Cache-Control"] = "no-store, private"
    return response


def _read_detail(principal: Principal) -> dict[str, Any]:
    """What the audit line says about the reader beyond actor and address."""
    detail: dict[str, Any] = {"via": principal.via}
    where = arg_choice("from", ("map", "list", "phone"))
    if where is not None:
        detail["from"] = where
    if principal.kind == "device":
        detail["device"] = principal.name[:60]
    return detail


@bp.get("/api/visits")
@require("coordinator", "planner", "team_member", admin=False)
def list_visits() -> ResponseReturnValue:
    principal = current_principal()
    limit, offset = page_args()
    team_id = arg_int("team_id", lo=1)
    unassigned = arg_bool("unassigned")
    if principal.role == "team_member":
        if team_id is not None and team_id != principal.team_id:
            raise PermissionDeniedError("a team member sees only their own team's round")
        if unassigned:
            raise PermissionDeniedError("a team member sees only their own team's round")
        team_id = principal.team_id
    page = get_store().list_visits(
        day=arg_day(),
        team_id=team_id,
        status=arg_choice("status", VISIT_STATUSES),
        unassigned=unassigned,
        limit=limit,
        offset=offset,
        structures=visible_structures(principal),
    )
    return paged(page, items=[visit_view(v, principal) for v in page])


@bp.post("/api/visits")
@require("coordinator", admin=False)
def create_visit() -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    data = dict(json_body())
    structure_id = structure_field(data, principal)
    visit = store.add_visit(data, area=service_area(), structure_id=structure_id)
    store.audit(
        principal.actor,
        "visit.create",
        role=principal.role,
        target=f"visit:{visit['id']}",
        ip=client_ip(),
    )
    publish("visit", visit)
    return ok(201, visit=visit_view(visit, principal))


@bp.get("/api/visits/<int:visit_id>")
@require("coordinator", "planner", "team_member", admin=False)
def get_visit(visit_id: int) -> ResponseReturnValue:
    principal = current_principal()
    visit = get_store().get_visit(visit_id, structures=visible_structures(principal))
    _check_round(visit, principal)
    return ok(visit=visit_view(visit, principal))


@bp.patch("/api/visits/<int:visit_id>")
@require("coordinator", admin=False)
def update_visit(visit_id: int) -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    data = json_body()
    visit = store.update_visit(
        visit_id, data, area=service_area(), structures=visible_structures(principal)
    )
    store.audit(
        principal.actor,
        "visit.update",
        role=principal.role,
        target=f"visit:{visit_id}",
        ip=client_ip(),
        detail={"fields": sorted(data)},
    )
    publish("visit", visit)
    return ok(visit=visit_view(visit, principal))


@bp.delete("/api/visits/<int:visit_id>")
@require("coordinator", admin=False)
def cancel_visit(visit_id: int) -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    visit = store.update_visit(
        visit_id, {"status": "cancelled"}, structures=visible_structures(principal)
    )
    store.audit(
        principal.actor,
        "visit.cancel",
        role=principal.role,
        target=f"visit:{visit_id}",
        ip=client_ip(),
    )
    publish("visit", visit)
    return ok(visit=visit_view(visit, principal))


@bp.get("/api/visits/<int:visit_id>/details")
@require("coordinator", "team_member", admin=False)
def visit_details(visit_id: int) -> ResponseReturnValue:
    principal = current_principal()
    member = principal.role == "team_member"
    if member and principal.team_id is None:
        raise PermissionDeniedError("this account belongs to no team: ask the coordinator")
    details = get_store().visit_details(
        visit_id,
        actor=principal.actor,
        role=principal.role or "",
        team_id=principal.team_id if member else None,
        day=_today() if member else None,
        ip=client_ip(),
        detail=_read_detail(principal),
        structures=visible_structures(principal),
    )
    return ok(details=details)


def _actor_names(store: Any, actors: set[str]) -> dict[str, dict[str, Any]]:
    """Display names of audit actors: users by login, phones by label and team."""
    names: dict[str, dict[str, Any]] = {}
    teams: dict[int, str] = {}

    def team_name(team_id: int | None) -> str | None:
        if team_id is None:
            return None
        if team_id not in teams:
            try:
                teams[team_id] = store.get_team(team_id)["name"]
            except NotFoundError:
                teams[team_id] = f"#{team_id}"
        return teams[team_id]

    for actor in actors:
        kind, _, raw = actor.partition(":")
        if not raw.isdigit():
            continue
        try:
            if kind == "user":
                user = store.get_user(int(raw))
                names[actor] = {
                    "actor_kind": "user",
                    "actor_name": user["username"],
                    "team_name": team_name(user.get("team_id")),
                }
            elif kind == "device":
                device = store.get_device(int(raw))
                names[actor] = {
                    "actor_kind": "device",
                    "actor_name": device.get("label") or f"device {raw}",
                    "team_name": team_name(device.get("team_id")),
                }
        except NotFoundError:
            continue
    return names


@bp.get("/api/visits/<int:visit_id>/audit")
@require("coordinator", admin=False)
def visit_audit(visit_id: int) -> ResponseReturnValue:
    """Who read (or tried to read) this visit's details, changed it, and when."""
    store = get_store()
    store.get_visit(visit_id, structures=visible_structures())
    limit, offset = page_args()
    page = store.list_audit(target=f"visit:{visit_id}", limit=limit, offset=offset)
    names = _actor_names(store, {e["actor"] for e in page})
    items = []
    for entry in page:
        item = dict(entry)
        item.update(names.get(entry["actor"], {"actor_kind": None, "actor_name": entry["actor"]}))
        item.setdefault("team_name", None)
        items.append(item)
    return paged(page, items=items)


@bp.get("/api/visits/<int:visit_id>/events")
@require("coordinator", "team_member", admin=False)
def list_events(visit_id: int) -> ResponseReturnValue:
    """Events of a visit; notes are patient details (no admins, reads audited)."""
    principal = current_principal()
    store = get_store()
    visit = store.get_visit(visit_id, structures=visible_structures(principal))
    _check_round(visit, principal)
    _check_today(visit, principal)
    limit, offset = page_args()
    page = store.list_visit_events(
        visit_id, limit=limit, offset=offset, structures=visible_structures(principal)
    )
    with_notes = [e["id"] for e in page if e.get("note")]
    if with_notes:
        store.audit(
            principal.actor,
            "visit.events.read",
            role=principal.role,
            target=f"visit:{visit_id}",
            ip=client_ip(),
            detail={"events_with_notes": with_notes},
        )
    return paged(page)


@bp.post("/api/visits/<int:visit_id>/events")
@require("coordinator", "team_member", admin=False)
def add_event(visit_id: int) -> ResponseReturnValue:
    principal = current_principal()
    store = get_store()
    event = store.add_visit_event(
        visit_id,
        json_body(),
        actor=principal.actor,
        team_id=principal.team_id if principal.role == "team_member" else None,
        structures=visible_structures(principal),
    )
    visit = store.get_visit(visit_id)
    if event["created"]:
        publish("visit_event", {"event": event, "visit": visit})
    return ok(201 if event["created"] else 200, event=event, visit=visit_view(visit, principal))


# -- CSV import --------------------------------------------------------------------------------
#: The columns of a visits CSV: one list for the scripted import and the screen's review.
CSV_COLUMNS = set(INTAKE_COLUMNS)


def _csv_text() -> str:
    upload = request.files.get("file")
    raw = upload.read() if upload is not None else request.get_data()
    if not raw:
        raise ValidationError(
            "send the CSV as the request body (Content-Type: text/csv) or as a 'file' upload"
        )
    # Excel writes UTF-8 with a BOM ("CSV UTF-8"), Windows-1252 ("CSV (separateur: point-
    # virgule)" on a French Windows) or UTF-16 with a BOM ("Texte Unicode").
    encodings = ("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252")
    for encoding in encodings:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError("the CSV is neither UTF-8 nor Windows-1252 text: save it as 'CSV UTF-8'")


#: Column values where a French decimal comma ("9,45") is read as a decimal point.
_DECIMAL_COLUMNS = ("lon", "lat", "duration_min", "duration_s")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs; a malformed CSV becomes a ValidationError naming the line."""
    number = 1
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f"line {reader.line_num}"
            if "field larger than field limit" in str(exc):
                raise ValidationError(
                    f"{where}: a field is longer than {csv.field_size_limit()} characters:"
                    " check the quotes (an unclosed quote swallows the rest of the file)"
                ) from None
            raise ValidationError(f"{where}: the CSV cannot be read: {exc}") from None
        number += 1
        yield number, raw


def csv_rows_to_visits(
    text: str,
    *,
    default_day: str | None,
    team_ids: dict[str, int],
    locate: Callable[[str], tuple[float, float] | None] | None = None,
    area: ServiceArea | None = None,
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """Visits, their labels and per-row errors from CSV text (``;`` or ``,`` separated).

    A row without lon and lat is placed from its address and commune by ``locate`` (the
    offline geocoder); one that cannot be placed, or placed outside ``area`` (the served
    territory), is an error of its line.
    """
    reader = csv.DictReader(io.StringIO(text), delimiter=csv_delimiter(text))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationError(f"the CSV header cannot be read: {exc}") from None
    if not header:
        raise ValidationError("the CSV has no header line: first line must name the columns")
    unknown = sorted(set(header) - CSV_COLUMNS)
    if unknown:
        raise ValidationError(
            f"unknown CSV column(s) {', '.join(unknown)}; known: {', '.join(sorted(CSV_COLUMNS))}"
        )
    reader.fieldnames = header
    visits: list[dict[str, Any]] = []
    labels: list[str] = []
    errors: list[dict[str, Any]] = []
    for number, raw in _rows(reader):
        if len(visits) + len(errors) >= MAX_IMPORT_ROWS:
            raise ValidationError(f"more than {MAX_IMPORT_ROWS} rows: split the file")
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        for key in _DECIMAL_COLUMNS:
            if _DECIMAL_COMMA.match(row.get(key) or ""):
                row[key] = row[key].replace(",", ".")
        if not any(row.values()):
            continue
        label = f"line {number}"
        try:
            data: dict[str, Any] = {}
            for key in (
                "pseudonym",
                "care_kind",
                "address",
                "commune",
                "external_ref",
                "lon",
                "lat",
                "priority",
                "mandatory",
                "skills",
                "windows",
            ):
                if row.get(key):
                    data[key] = row[key]
            if ("lon" not in data or "lat" not in data) and data.get("address"):
                where = ", ".join(x for x in (data["address"], data.get("commune")) if x)
                found = locate(where) if locate is not None else None
                if found is None:
                    raise ValidationError(
                        f"{label}: the address {shown(where)} was not found in the territory: "
                        "correct it or give lon and lat"
                    )
                data["lon"], data["lat"] = found
            data["day"] = row.get("day") or default_day
            if data["day"] is None:
                raise ValidationError(f"{label}: day is empty: fill the column or pass ?day=")
            if row.get("duration_min"):
                data["duration_s"] = f"{row['duration_min']}min"
            elif row.get("duration_s"):
                data["duration_s"] = row["duration_s"]
            else:
                raise ValidationError(f"{label}: give duration_min or duration_s")
            if row.get("priority"):
                data["priority"] = row["priority"]
            team = row.get("preferred_team")
            if team:
                if team in team_ids:
                    data["preferred_team_id"] = team_ids[team]
                elif team.isdigit() and int(team) in team_ids.values():
                    data["preferred_team_id"] = int(team)
                else:
                    raise ValidationError(f"{label}: preferred_team {shown(team)} is not a team")
            protected = {
                k: row[k] for k in ("name", "phone", "address_details", "notes") if row.get(k)
            }
            if protected:
                data["protected"] = protected
            parsed = parse_visit(data, label=label)
            if area is not None:
                area.check(parsed["lon"], parsed["lat"], what=f"{label}: home")
            visits.append(data)
            labels.append(label)
        except DispatchError as exc:
            errors.append({"line": number, "error": exc.message})
    return visits, labels, errors


@bp.post("/api/visits/import")
@require("coordinator", admin=False)
def import_visits() -> ResponseReturnValue:
    store = get_store()
    principal = current_principal()
    structure_id = target_structure(request.args.get("structure_id"), principal)
    teams = store.list_teams(limit=1000, structures=[structure_id])
    team_ids = {t["name"]: t["id"] for t in teams}
    from dispatch.web.api_intake import get_geocoder

    geocoder = get_geocoder()

    def locate(text: str) -> tuple[float, float] | None:
        found = geocoder.geocode(text, limit=1) if geocoder is not None else []
        return (found[0].lon, found[0].lat) if found else None

    visits, labels, errors = csv_rows_to_visits(
        _csv_text(), default_day=arg_day(), team_ids=team_ids, locate=locate, area=service_area()
    )
    if errors:
        raise ValidationError(
            f"{len(errors)} row(s) have errors; nothing was imported: fix them and send the file again",
            details=errors,
        )
    if not visits:
        raise ValidationError("the CSV has a header but no visit rows")
    if arg_bool("dry_run"):
        return ok(imported=0, checked=len(visits), errors=[])
    created = store.add_visits(
        visits, labels=labels, area=service_area(), structure_id=structure_id
    )
    store.audit(
        principal.actor,
        "visit.import",
        role=principal.role,
        ip=client_ip(),
        detail={"rows": len(created)},
    )
    for visit in created:
        publish("visit", visit)
    return ok(201, imported=len(created), ids=[v["id"] for v in created], errors=[])


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
