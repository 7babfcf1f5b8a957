"""The FHIR R4 API under /fhir: the service's records as FHIR resources (application/fhir+json).

``GET /fhir/metadata`` (no authentication) says what is supported. Everything else takes the
REST API's credentials (bearer token, or the session cookie with the CSRF header on POST), its
roles and its structures: a record of another structure is not found (404), a referrer reads
only their own requests, their appointments and the encounters of their requests' patients.
Every read of patient data writes an audit line. Every error is an OperationOutcome with the
error's status (4xx; 5xx for the server's faults).

The mapping is :mod:`dispatch.fhir`; referrals go through the referrals service
(:func:`dispatch.web.api_referrals.get_referrals`), as the REST API's do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, UnsupportedMediaType

import dispatch
from dispatch.errors import (
    AddressNotFoundError,
    AuthenticationError,
    DispatchError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from dispatch.fhir import mapping
from dispatch.fhir.capability import SUPPORTED, capability_statement
from dispatch.fhir.inbound import booking_input, read_resource, referral_input
from dispatch.fhir.outcome import operation_outcome
from dispatch.fhir.profiles import FHIR_JSON
from dispatch.fhir.records import done_visits
from dispatch.fhir.search import check_params, date_bounds, int_id, page, reference_id
from dispatch.store.models import format_hhmm
from dispatch.store.rows import MAX_LIMIT
from dispatch.web.auth import Principal, check_csrf, client_ip, current_principal, get_store

log = logging.getLogger(__name__)

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"
#: Who reads what (admins manage accounts, not care: no patient data for them).
PATIENT_READERS = ("coordinator", "referrer")
STAFF_READERS = ("coordinator", "planner", "admin")
REFERRAL_USERS = ("coordinator", "referrer")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


# -- plumbing --------------------------------------------------------------------------------------
def _respond(
    data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False),
        status=status,
        content_type=CONTENT_TYPE,
        headers=headers,
    )


def _outcome(message: str, status: int, code: str | None, headers: Any = None) -> Response:
    from dispatch.web.app import MAX_ERROR_CHARS, localise, request_locale

    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    body = operation_outcome(localise(message, request_locale()), status=status, code=code)
    return _respond(body, status, dict(headers or {}))


@bp.errorhandler(DispatchError)
def _dispatch_error(exc: DispatchError) -> Response:
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    return _outcome(exc.message, exc.status, exc.code, headers)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 404:
        message = (
            f"no such endpoint: {request.method} {request.path} (GET /fhir/metadata lists"
            " what this server supports)"
        )
    elif status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
    code = (exc.name or "error").lower().replace(" ", "_")
    return _outcome(message, status, code, headers)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _outcome("internal error: the incident was logged", 500, "internal")


@bp.after_request
def _no_store(response: Response) -> Response:
    # Patient data: never kept by a browser or proxy cache.
    response.headers["Cache-Control"] = "no-store, private"
    return response


def _caller(*roles: str) -> Principal:
    """The authenticated caller, with one of ``roles`` (any role when none is given)."""
    principal = current_principal()
    if not principal.authenticated:
        raise AuthenticationError(
            "log in first (POST /api/session) or send 'Authorization: Bearer <token>'"
        )
    if roles and principal.role not in roles:
        raise PermissionDeniedError(
            f"this needs the role {' or '.join(sorted(roles))}; you are {principal.role}"
        )
    check_csrf(principal)
    return principal


def _audit(principal: Principal, action: str, target: str | None, detail: dict[str, Any]) -> None:
    get_store().audit(
        principal.actor,
        action,
        role=principal.role,
        target=target,
        ip=client_ip(),
        detail={"via": "fhir", **detail},
    )


def _base() -> str:
    return request.url_root.rstrip("/") + "/fhir"


def _canonical_base() -> str | None:
    """The service's canonical FHIR base (settings.public_url + /fhir), which names its own
    code systems whatever address a client used; None without a public address (the URNs)."""
    public = current_app.extensions["dispatch.settings"].public_url
    return f"{str(public).rstrip('/')}/fhir" if public else None


#: Media types of a body this server reads (FHIR's JSON; JSON as such).
JSON_BODIES = (FHIR_JSON, "application/json")


def _body(resource_type: str) -> dict[str, Any]:
    """The ``resource_type`` sent as the request's body: 415 for anything but JSON (XML
    above all, which FHIR clients may send), else read and validated."""
    raw = request.get_data()
    mimetype = request.mimetype
    xml = raw.lstrip()[:1] == b"<"
    if xml or (mimetype and mimetype not in JSON_BODIES and not mimetype.endswith("+json")):
        sent = mimetype or ("XML" if xml else "no Content-Type")
        raise UnsupportedMediaType(
            f"this server reads {FHIR_JSON} only ({sent} was sent): send the {resource_type}"
            f" as JSON with Content-Type: {FHIR_JSON}"
        )
    return read_resource(raw, resource_type)


def _self_url() -> str:
    query = request.query_string.decode("latin-1")
    return f"{_base()}{request.path[len('/fhir') :]}" + (f"?{query}" if query else "")


def _tz() -> str:
    from dispatch.web.live import get_clock

    return str(get_clock().tz.key)


def _today() -> str:
    from dispatch.web.live import get_clock

    today: str = get_clock().today()
    return today


def _number(text: str, resource_type: str) -> int:
    value = int_id(text)
    if value is None:
        raise NotFoundError(f"{resource_type}/{text} does not exist")
    return value


def _params(resource_type: str) -> dict[str, str]:
    """The search's parameters (one value each but ``start``), checked."""
    _interactions, params = SUPPORTED[resource_type]
    check_params(request.args, params, resource_type)
    for name in request.args:
        if name != "start" and len(request.args.getlist(name)) > 1:
            raise ValidationError(f"search parameter {name} is given twice: give it once")
    return request.args.to_dict()


def _bundle(resources: list[dict[str, Any]], *, total: int | None = None) -> Response:
    count, offset = page(request.args)
    if total is None:
        total = len(resources)
        resources = resources[offset : offset + count]
    next_url = None
    if offset + count < total:
        args = request.args.to_dict()
        args.update(_count=str(count), _offset=str(offset + count))
        from urllib.parse import urlencode

        next_url = f"{_base()}{request.path[len('/fhir') :]}?{urlencode(args)}"
    return _respond(
        mapping.searchset(
            resources, base_url=_base(), self_url=_self_url(), total=total, next_url=next_url
        )
    )


# -- capability ------------------------------------------------------------------------------------
@bp.get("/metadata")
def metadata() -> Response:
    """The CapabilityStatement (no authentication: it holds no record)."""
    return _respond(
        capability_statement(
            base_url=_base(),
            version=dispatch.__version__,
            date=dt.date.today().isoformat(),
            care_act_system=mapping.care_act_system(_canonical_base()),
        )
    )


@bp.get("/CodeSystem/<cid>")
def read_code_system(cid: str) -> Response:
    """The care acts' CodeSystem (no authentication: it holds no record)."""
    if cid != "care-act":
        raise NotFoundError(f"CodeSystem/{cid} does not exist (this server has care-act)")
    system = mapping.care_act_system(_canonical_base())
    return _respond(mapping.care_act_code_system(system))


# -- referrals (the referrals service) -------------------------------------------------------------
def _referrals() -> Any:
    from dispatch.web.api_referrals import get_referrals

    return get_referrals()


def _viewer(principal: Principal) -> Any:
    from dispatch.referrals.core import Viewer
    from dispatch.web.app import request_locale

    return Viewer(
        user_id=principal.id,
        role=principal.role,
        structure_ids=tuple(principal.structure_ids),
        actor=principal.actor,
        locale=request_locale(),
        ip=client_ip(),
    )


def _items(listed: Any) -> list[dict[str, Any]]:
    """The referrals of a ``Referrals.list`` answer (``(items, total)``)."""
    if isinstance(listed, tuple):
        listed = listed[0]
    if isinstance(listed, dict):
        return list(listed.get("items") or [])
    return list(listed)


def _own_rows(principal: Principal) -> dict[int, dict[str, Any]]:
    """A referrer's requests as stored (id -> row), for the patient each created or matched."""
    rows, _total = get_store().list_referrals(referrer_id=principal.id, limit=MAX_LIMIT)
    return {int(r["id"]): r for r in rows}


def _with_patient(principal: Principal, referral: dict[str, Any]) -> dict[str, Any]:
    """The referral with its patient's number for a referrer too: the FHIR subject of their
    own request, by which they search its Encounters (the identity is theirs already)."""
    if principal.role != "referrer" or referral.get("patient_id"):
        return referral
    row = _own_rows(principal).get(int(referral["id"]))
    return {**referral, "patient_id": row.get("patient_id") if row else None}


def _referral(principal: Principal, text: str, resource_type: str) -> dict[str, Any]:
    number = _number(text, resource_type)
    referral: dict[str, Any] = _referrals().get(_viewer(principal), number)
    _audit(principal, "fhir.read", f"referral:{number}", {"resource": resource_type})
    return referral


def _referrer_patients(principal: Principal) -> dict[int, set[int]]:
    """patient id -> the structures of the referrer's requests that created or matched it."""
    out: dict[int, set[int]] = {}
    for row in _own_rows(principal).values():
        if row.get("patient_id"):
            out.setdefault(int(row["patient_id"]), set()).add(int(row["structure_id"]))
    return out


def _sent_contact(principal: Principal, patient_id: int) -> dict[str, Any]:
    """The phone and home a referrer gave in their latest request for ``patient_id``."""
    for row in _own_rows(principal).values():  # newest first
        if row.get("patient_id") == patient_id:
            identity = row.get("patient") or {}
            return {
                "phone": identity.get("phone") if isinstance(identity, dict) else None,
                "address": row.get("address"),
                "commune": row.get("commune"),
                "lon": row.get("lon"),
                "lat": row.get("lat"),
            }
    return {}


#: Geocoder precisions good enough to send a team to (a commune's centre is not).
PLACED_PRECISIONS = ("housenumber", "street")


def _place(address: str) -> tuple[float, float]:
    """The home's lon/lat from its address, by the served territory's offline geocoder (the
    intake's instance), when the ServiceRequest's Location gave no position."""
    from dispatch.web.api_intake import get_geocoder

    where = "ServiceRequest.contained(Location)"
    geocoder = get_geocoder()
    if geocoder is None:
        raise ValidationError(
            f"{where}.position: give the home's longitude and latitude (the territory is not"
            " built, addresses cannot be placed)"
        )
    found = [m for m in geocoder.geocode(address, limit=1) if m.precision in PLACED_PRECISIONS]
    if not found:
        raise AddressNotFoundError(
            f"{where}.address: {address[:80]!r} is not found in the territory to the street:"
            " correct it or give the position (longitude, latitude)"
        )
    return float(found[0].lon), float(found[0].lat)


@bp.post("/ServiceRequest")
def create_service_request() -> Response:
    """A referrer's request (Referrals.submit), from a ServiceRequest."""
    principal = _caller("referrer")
    data = referral_input(_body("ServiceRequest"))
    if data["lon"] is None:
        data["lon"], data["lat"] = _place(data["address"])
    referral = _referrals().submit(_viewer(principal), data)
    resource = mapping.service_request(
        _with_patient(principal, referral), base_url=_canonical_base()
    )
    location = f"{_base()}/ServiceRequest/{referral['id']}"
    return _respond(resource, 201, {"Location": location})


@bp.get("/ServiceRequest/<rid>")
def read_service_request(rid: str) -> Response:
    principal = _caller(*REFERRAL_USERS)
    referral = _with_patient(principal, _referral(principal, rid, "ServiceRequest"))
    return _respond(mapping.service_request(referral, base_url=_canonical_base()))


@bp.get("/ServiceRequest")
def search_service_requests() -> Response:
    principal = _caller(*REFERRAL_USERS)
    params = _params("ServiceRequest")
    status = params.get("status")
    if status is not None and status not in ("active", "revoked"):
        raise ValidationError(f"status={status[:40]}: use active or revoked")
    items = _items(_referrals().list(_viewer(principal), limit=MAX_LIMIT))
    if principal.role == "referrer":
        own = _own_rows(principal)
        items = [
            {**r, "patient_id": (own.get(int(r["id"])) or {}).get("patient_id")} for r in items
        ]
    resources = [mapping.service_request(r, base_url=_canonical_base()) for r in items]
    if status:
        resources = [r for r in resources if r["status"] == status]
    _audit(principal, "fhir.search", None, {"resource": "ServiceRequest", "count": len(resources)})
    return _bundle(resources)


def _horizon(referral: dict[str, Any]) -> tuple[str, str]:
    """The days whose slots the Schedule offers (those of Referrals.slots)."""
    from dispatch.referrals.core import slot_days

    first, days = slot_days(referral["period_from"], referral["period_to"], today=_today())
    last = dt.date.fromisoformat(first) + dt.timedelta(days=max(days, 1) - 1)
    return first, last.isoformat()


@bp.get("/Schedule/<sid>")
def read_schedule(sid: str) -> Response:
    principal = _caller(*REFERRAL_USERS)
    if not sid.startswith("referral-"):
        raise NotFoundError(
            f"Schedule/{sid} does not exist (a request's is Schedule/referral-<id>)"
        )
    referral = _referral(principal, sid.removeprefix("referral-"), "Schedule")
    return _respond(mapping.schedule(referral, horizon=_horizon(referral)))


@bp.get("/Slot")
def search_slots() -> Response:
    """The slots of a request (Referrals.slots), filtered by ``start`` bounds."""
    principal = _caller(*REFERRAL_USERS)
    params = _params("Slot")
    schedule = reference_id(params.get("schedule"), "Schedule", what="schedule")
    if not schedule.startswith("referral-"):
        raise ValidationError(f"schedule={schedule}: give Schedule/referral-<id>")
    number = _number(schedule.removeprefix("referral-"), "Schedule")
    tz = _tz()
    bounds = date_bounds(request.args.getlist("start"), tz=tz, what="start")
    count, _offset = page(request.args)
    answer = _referrals().slots(
        _viewer(principal), number, n=max(1, min(count, 10)) if "_count" in params else 5
    )
    slots = answer.get("slots", []) if isinstance(answer, dict) else list(answer)
    resources = []
    for item in slots:
        resource = mapping.slot(number, item, tz=tz)
        start = dt.datetime.fromisoformat(resource["start"])
        if all(b.admits(start) for b in bounds):
            resources.append(resource)
    _audit(
        principal,
        "fhir.search",
        f"referral:{number}",
        {"resource": "Slot", "count": len(resources)},
    )
    return _bundle(resources)


def _timed(referral: dict[str, Any]) -> dict[str, Any]:
    """The referral with its visit's arrival window (``arrival_from``, ``arrival_to``: the
    booked slot's start and latest start) as the referrals service gives it, else read from
    the visit's window as stored."""
    visit = referral.get("visit")
    if not visit or (visit.get("arrival_from") and visit.get("arrival_to")):
        return referral
    try:
        row = get_store().get_visit(int(visit["id"]))
    except NotFoundError:
        return referral
    windows = row.get("windows")
    if isinstance(windows, str):
        windows = json.loads(windows)
    if not windows:
        return referral
    came, until = (format_hhmm(int(windows[0][i])) for i in (0, 1))
    return {**referral, "visit": {**visit, "arrival_from": came, "arrival_to": until}}


@bp.post("/Appointment")
def create_appointment() -> Response:
    """A referrer books one of their request's slots (Referrals.book): 409 when it was taken."""
    principal = _caller("referrer")
    request_id, slot_id = booking_input(_body("Appointment"))
    number = int_id(request_id)
    if number is None:
        raise NotFoundError(f"ServiceRequest/{request_id} does not exist")
    referral = _with_patient(principal, _referrals().book(_viewer(principal), number, slot_id))
    referral = _timed(referral)
    resource = mapping.appointment(referral, tz=_tz())
    return _respond(resource, 201, {"Location": f"{_base()}/Appointment/{referral['id']}"})


@bp.get("/Appointment/<aid>")
def read_appointment(aid: str) -> Response:
    principal = _caller(*REFERRAL_USERS)
    referral = _with_patient(principal, _referral(principal, aid, "Appointment"))
    if not referral.get("visit"):
        raise NotFoundError(f"Appointment/{aid} does not exist: the request has no visit yet")
    return _respond(mapping.appointment(_timed(referral), tz=_tz()))


# -- patients, encounters --------------------------------------------------------------------------
@bp.get("/Patient/<pid>")
def read_patient(pid: str) -> Response:
    principal = _caller(*PATIENT_READERS)
    number = _number(pid, "Patient")
    store = get_store()
    if principal.role == "referrer":
        structures = _referrer_patients(principal).get(number)
        if structures is None:
            _audit(principal, "patient.read.denied", f"patient:{number}", {})
            raise NotFoundError(f"patient {number} does not exist")
        row = store.get_patient(
            number,
            structures=tuple(structures),
            actor=principal.actor,
            role=principal.role,
            ip=client_ip(),
            today=_today(),
            detail={"via": "fhir"},
            allow_shared=False,
        )
        # A referrer gets back the identity of their request's patient with the phone and
        # home they sent in it (their latest request for the patient), nothing of the record.
        keep = ("id", "structure_id", "family_name", "given_name", "birth_date", "sex", "status")
        row = {k: row.get(k) for k in keep} | _sent_contact(principal, number)
    else:
        row = store.get_patient(
            number,
            structures=principal.structure_ids,
            actor=principal.actor,
            role=principal.role,
            ip=client_ip(),
            today=_today(),
            detail={"via": "fhir"},
        )
    return _respond(mapping.patient(row))


@bp.get("/Patient")
def search_patients() -> Response:
    principal = _caller("coordinator")
    params = _params("Patient")
    name = params.get("name")
    if name is not None and len(name) > 100:
        raise ValidationError("name is longer than 100 characters: type a name or a commune")
    count, offset = page(request.args)
    found = get_store().list_patients(
        structures=principal.structure_ids,
        actor=principal.actor,
        role=principal.role,
        ip=client_ip(),
        q=name,
        limit=max(count, 1),
        offset=offset,
        today=_today(),
    )
    resources = [mapping.patient(item) for item in found][:count]
    return _bundle(resources, total=found.total)


@bp.get("/Encounter")
def search_encounters() -> Response:
    """A patient's visits done or under way (check-in and check-out as the period)."""
    principal = _caller(*PATIENT_READERS)
    params = _params("Encounter")
    text = reference_id(params.get("patient"), "Patient", what="patient")
    number = int_id(text)
    visits: list[dict[str, Any]] = []
    if number is not None:
        if principal.role == "referrer":
            structures = _referrer_patients(principal).get(number)
            if structures:
                visits = done_visits(get_store(), number, structures=structures)
        else:
            visits = done_visits(get_store(), number, structures=principal.structure_ids)
    tz = _tz()
    resources = [mapping.encounter(v, tz=tz) for v in visits]
    _audit(
        principal,
        "fhir.search",
        f"patient:{number if number is not None else text}",
        {"resource": "Encounter", "count": len(resources)},
    )
    return _bundle(resources)


# -- staff, structures, bases ----------------------------------------------------------------------
@bp.get("/Practitioner/<sid>")
def read_practitioner(sid: str) -> Response:
    principal = _caller(*STAFF_READERS)
    staff = get_store().get_staff(_number(sid, "Practitioner"), structures=principal.structure_ids)
    _audit(principal, "fhir.read", f"staff:{staff['id']}", {"resource": "Practitioner"})
    return _respond(mapping.practitioner(staff))


@bp.get("/Practitioner")
def search_practitioners() -> Response:
    principal = _caller(*STAFF_READERS)
    params = _params("Practitioner")
    active_text = params.get("active", "true")
    if active_text not in ("true", "false"):
        raise ValidationError("active: use true or false")
    staff = get_store().list_staff(structures=principal.structure_ids, active=active_text == "true")
    _audit(principal, "fhir.search", None, {"resource": "Practitioner", "count": len(staff)})
    return _bundle([mapping.practitioner(s) for s in staff])


def _structures(principal: Principal) -> tuple[int, ...] | None:
    return None if principal.role == "admin" else principal.structure_ids


@bp.get("/Organization/<oid>")
def read_organization(oid: str) -> Response:
    principal = _caller()
    structure = get_store().get_structure(
        _number(oid, "Organization"), structures=_structures(principal)
    )
    _audit(principal, "fhir.read", f"structure:{structure['id']}", {"resource": "Organization"})
    return _respond(mapping.organization(structure))


@bp.get("/Organization")
def search_organizations() -> Response:
    principal = _caller()
    _params("Organization")
    structures = get_store().list_structures(structures=_structures(principal))
    _audit(principal, "fhir.search", None, {"resource": "Organization", "count": len(structures)})
    return _bundle([mapping.organization(s) for s in structures])


@bp.get("/Location/<lid>")
def read_location(lid: str) -> Response:
    principal = _caller(*STAFF_READERS)
    team = get_store().get_team(_number(lid, "Location"), structures=principal.structure_ids)
    _audit(principal, "fhir.read", f"team:{team['id']}", {"resource": "Location"})
    return _respond(mapping.location(team))


@bp.get("/Location")
def search_locations() -> Response:
    principal = _caller(*STAFF_READERS)
    _params("Location")
    count, offset = page(request.args)
    teams = get_store().list_teams(
        structures=principal.structure_ids, limit=max(count, 1), offset=offset
    )
    _audit(principal, "fhir.search", None, {"resource": "Location", "count": len(teams)})
    return _bundle([mapping.location(t) for t in teams][:count], total=teams.total)


# -- anything else under /fhir ---------------------------------------------------------------------
@bp.route("", defaults={"rest": ""}, methods=ALL_METHODS)
@bp.route("/<path:rest>", methods=ALL_METHODS)
def unknown(rest: str) -> Response:
    """A path or method this server does not support: a 404 or 405 OperationOutcome."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ALL_METHODS:
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "fhir.unknown":
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise NotFound()


def register(app: Flask, socketio: Any) -> None:
    """Mount /fhir."""
    app.register_blueprint(bp)
