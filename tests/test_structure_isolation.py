"""Structure isolation over the whole REST API, read from its OpenAPI document.

Two structures share the deployment: A (the test world's default structure, with its users of
every role) and B (its own team, users, phone, visits, plan, and — where their endpoints exist
— patients, care plans, suspensions, sharings, staff and absences). Every operation of the
document is called as A's coordinator, planner, team member and phone:

- with a path id, with B's records: 403 or 404, never an answer (and, for paths with several
  ids, with A's parent and B's child, e.g. A's patient and B's care plan);
- the lists: nothing of B in the answer, even when asked with B's ids in the query;
- the other writes naming B's records in their body: never a success.

New endpoints are covered as they are documented: a path parameter the mapping below does not
know fails the test until it is added (with the kind of record it names).
"""

from __future__ import annotations

import io
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from api_world import DAY, World, make_world
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

#: Text in every name of B's records (users, teams, visits, patients, staff): an answer to
#: one of A's callers holding it (any case) shows B's data.
MARK = "zzb"
#: (collection segment before the parameter, parameter name) -> kind of record named.
PATH_IDS: dict[tuple[str, str], str] = {
    ("visits", "visit_id"): "visit",
    ("teams", "team_id"): "team",
    ("track", "team_id"): "team",
    ("plans", "plan_id"): "plan",
    ("jobs", "job_id"): "job",
    ("plan", "job_id"): "week_job",
    ("structures", "structure_id"): "structure",
    ("users", "user_id"): "user",
    ("devices", "device_id"): "device",
    ("tokens", "token_id"): "token",
    ("patients", "patient_id"): "patient",
    ("care-plans", "plan_id"): "care_plan",
    ("care-plans", "care_plan_id"): "care_plan",
    ("suspensions", "suspension_id"): "suspension",
    ("suspensions", "sid"): "suspension",
    ("sharings", "sharing_id"): "sharing",
    ("staff", "staff_id"): "staff",
    ("absences", "absence_id"): "absence",
    ("referrals", "referral_id"): "referral",
    ("attachments", "attachment_id"): "referral_attachment",
}
#: Path parameters naming no structure's record, and why.
NOT_STRUCTURE_DATA: dict[tuple[str, str], str] = {
    ("scenarios", "slug"): "planning scenarios study the territory for the whole deployment",
    ("simulations", "job_id"): "planning simulations study the territory, no patient data",
    ("calendar", "token"): "a private calendar link's secret, not a record id (unknown: 404)",
}
#: Lists that name other structures on purpose: path -> the only keys their items may have.
DIRECTORIES = {"/api/structures/directory": {"id", "name", "kind"}}
#: Query and body fields naming a record -> its kind (plural names take a list).
FIELD_IDS = {
    "visit_id": "visit",
    "team_id": "team",
    "preferred_team_id": "team",
    "plan_id": "plan",
    "base_plan_id": "plan",
    "patient_id": "patient",
    "care_plan_id": "care_plan",
    "staff_id": "staff",
    "user_id": "user",
    "structure_id": "structure",
    "absence_id": "absence",
    "visit_ids": "visit",
    "team_ids": "team",
    "staff_ids": "staff",
    "patient_ids": "patient",
    "care_plan_ids": "care_plan",
    "preferred_staff_ids": "staff",
    "excluded_staff_ids": "staff",
}
#: A's callers: (name in World.tokens / headers).
CALLERS = ("coordinator", "planner", "member_a", "device_b")
#: Generated examples per operation and caller (positive: bodies the document calls valid).
EXAMPLES = 2
#: Status codes that answer "not yours" without revealing anything.
REFUSED = {403, 404}


@dataclass
class Side:
    """One structure's records, by kind."""

    structure_id: int
    ids: dict[str, int | str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Isolation:
    world: World
    a: Side
    b: Side
    doc: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def _post(client, path: str, body: Any, headers: dict[str, str], problems: list[str]) -> Any:
    """POST and return the JSON answer; a refusal is recorded (the setup of that kind failed)."""
    response = client.post(path, json=body, headers=headers)
    if response.status_code >= 300:
        problems.append(f"setup POST {path} -> {response.status_code}: {response.text[:300]}")
        return None
    return response.get_json()


def _documented(doc: dict[str, Any], path: str, method: str) -> bool:
    return method in doc["paths"].get(path, {})


def _records_through_the_api(iso_doc, client, side: Side, marker: str, other: int, problems):
    """Patients, care plans, suspensions, sharings, staff and absences of one structure,
    created through their documented endpoints (as that structure's coordinator)."""
    h = side.headers
    if _documented(iso_doc, "/api/patients", "post"):
        found = _post(
            client,
            "/api/patients",
            {
                "family_name": f"{marker.capitalize()}famille",
                "given_name": "Zoé",
                "birth_date": "1941-03-02",
                "sex": "female",
                "phone": "0495000000",
                "address": f"1 rue {marker.capitalize()}",
                "commune": "Bastia",
                "lon": 9.44,
                "lat": 42.69,
                "access_notes": f"code {marker}",
            },
            h,
            problems,
        )
        if found:
            side.ids["patient"] = found["patient"]["id"]
    patient = side.ids.get("patient")
    if patient is not None:
        base = f"/api/patients/{patient}"
        if _documented(iso_doc, "/api/patients/{patient_id}/care-plans", "post"):
            found = _post(
                client,
                f"{base}/care-plans",
                {
                    "label": f"Insuline {marker}",
                    "kind": "nursing",
                    "duration_s": 900,
                    "windows": ["08:00-09:00", "18:00-19:00"],
                    "rrule": "FREQ=DAILY",
                    "start_day": DAY,
                },
                h,
                problems,
            )
            if found:
                side.ids["care_plan"] = found["care_plan"]["id"]
        if _documented(iso_doc, "/api/patients/{patient_id}/suspensions", "post"):
            found = _post(
                client,
                f"{base}/suspensions",
                {"from_day": "2026-12-02", "to_day": "2026-12-04", "reason": "hospitalisation"},
                h,
                problems,
            )
            if found:
                side.ids["suspension"] = found["suspension"]["id"]
        if _documented(iso_doc, "/api/patients/{patient_id}/sharings", "post"):
            found = _post(
                client,
                f"{base}/sharings",
                {"structure_id": other, "consent_on": DAY, "purpose": "coordination"},
                h,
                problems,
            )
            if found:
                side.ids["sharing"] = found["sharing"]["id"]
    if _documented(iso_doc, "/api/staff", "post"):
        found = _post(
            client,
            "/api/staff",
            {
                "name": f"{marker.capitalize()} Infirmière",
                "job": "nurse",
                "skills": ["insulin"],
                "contract_h_per_week": 35,
                "rotas": [{"start_day": DAY, "weekdays": "MO,TU,WE,TH,FR", "shift": "07:00-14:00"}],
            },
            h,
            problems,
        )
        if found:
            side.ids["staff"] = found["staff"]["id"]
    if _documented(iso_doc, "/api/referrers", "post"):
        _referral_through_the_api(client, side, marker, problems)
    staff = side.ids.get("staff")
    if staff is not None and _documented(iso_doc, "/api/staff/{staff_id}/absences", "post"):
        found = _post(
            client,
            f"/api/staff/{staff}/absences",
            {"kind": "leave", "from_day": "2026-12-07", "to_day": "2026-12-08"},
            h,
            problems,
        )
        if found:
            side.ids["absence"] = found["absence"]["id"]


def _referral_through_the_api(client, side: Side, marker: str, problems) -> None:
    """A referrer invited by the structure's coordinator, their request and its attachment."""
    found = _post(
        client,
        "/api/referrers",
        {"email": f"ref-{marker}@example.fr", "display_name": f"Dr {marker}", "profession": "gp"},
        side.headers,
        problems,
    )
    if not found:
        return
    store = client.application.extensions["dispatch.store"]
    token = store.create_api_token(found["referrer"]["id"], label=f"iso {marker}")
    referrer = {"Authorization": f"Bearer {token}"}
    body = {
        "patient": {"family_name": f"{marker.capitalize()}demande", "given_name": "Zoé",
                    "birth_date": "1941-03-02"},
        "address": f"2 rue {marker.capitalize()}", "lon": 9.44, "lat": 42.69,
        "reason": f"Pansement {marker}", "act": "other", "care_kind": "nursing", "duration_min": 30,
        "urgency": "routine", "period_from": DAY, "period_to": DAY,
    }  # fmt: skip
    found = _post(client, "/api/referrals", body, referrer, problems)
    if not found:
        return
    side.ids["referral"] = found["referral"]["id"]
    response = client.post(
        f"/api/referrals/{side.ids['referral']}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4 " + marker.encode()), "ordonnance.pdf")},
        content_type="multipart/form-data",
        headers=referrer,
    )
    if response.status_code != 201:
        problems.append(f"setup attachment -> {response.status_code}: {response.text[:300]}")
        return
    side.ids["referral_attachment"] = response.get_json()["attachment"]["id"]


def _side(world: World, structure_id: int, marker: str, *, team_name: str) -> Side:
    """Users of every role, a team, its phone, visits (one with events), a published plan."""
    store = world.store
    side = Side(structure_id)
    team = store.add_team(
        {"name": team_name, "base_lon": 9.40, "base_lat": 42.60, "skills": ["insulin"]},
        structure_id=structure_id,
    )
    side.ids["team"] = team["id"]
    for role, name, team_id in (
        ("coordinator", f"coord_{marker}", None),
        ("planner", f"planner_{marker}", None),
        ("team_member", f"member_{marker}", team["id"]),
    ):
        user = store.add_user(name, role=role, team_id=team_id, structure_ids=[structure_id])
        side.ids[f"user_{role}"] = user["id"]
        token = store.create_api_token(user["id"], label=f"iso {marker}")
        if role == "coordinator":
            side.headers = {"Authorization": f"Bearer {token}"}
    side.ids["user"] = side.ids["user_coordinator"]
    side.ids["token"] = store.list_api_tokens(side.ids["user"])[0]["id"]
    side.ids["device"] = store.pair_device(store.create_pairing(team["id"])["code"])["device"]["id"]
    visits = store.add_visits(
        [
            {
                "day": DAY,
                "pseudonym": f"Patient {marker.upper()}1",
                "lon": 9.41,
                "lat": 42.61,
                "duration_s": 1200,
                "windows": [["08:00", "10:00"]],
                "team_id": team["id"],
                "protected": {"name": f"{marker} nom", "phone": "0600"},
            },
            {
                "day": DAY,
                "pseudonym": f"Patient {marker.upper()}2",
                "lon": 9.42,
                "lat": 42.62,
                "duration_s": 1800,
                "windows": [["14:00", "16:00"]],
            },
        ],
        structure_id=structure_id,
    )
    side.ids["visit"] = visits[0]["id"]
    store.add_visit_event(visits[0]["id"], {"kind": "note", "note": f"note {marker}"}, actor="t")
    plan = store.save_plan(
        DAY,
        [{"team_id": team["id"], "stops": [{"visit_id": visits[0]["id"], "arrival_s": 30000}]}],
        unassigned=[{"visit_id": visits[1]["id"], "reason": "test"}],
        publish=True,
        structure_id=structure_id,
    )
    side.ids["plan"] = plan["id"]
    side.ids["structure"] = structure_id
    return side


def _optimise_job(client, side: Side) -> str | None:
    """An optimisation job started by the structure's coordinator (None without a territory)."""
    response = client.post(
        "/api/dispatch/optimise", json={"day": DAY, "time_limit_s": 1}, headers=side.headers
    )
    if response.status_code == 202:
        return str(response.get_json()["job_id"])
    return None


@pytest.fixture(scope="module")
def iso(tmp_path_factory) -> Isolation:
    world = make_world(tmp_path_factory.mktemp("isolation"))
    store = world.store
    client = world.app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    b_id = store.add_structure({"name": f"SSIAD {MARK.upper()}", "kind": "ssiad"})["id"]
    dac = store.add_structure({"name": "DAC tiers", "kind": "dac"})["id"]
    a = _side(world, 1, "zza", team_name="Équipe ZZA")
    a.headers = world.headers("coordinator")
    a.ids["user"] = world.ids["coordinator"]
    b = _side(world, b_id, MARK, team_name=f"Équipe {MARK.upper()}")
    iso = Isolation(world=world, a=a, b=b, doc=doc)
    for side, marker in ((a, "zza"), (b, MARK)):
        _records_through_the_api(doc, client, side, marker, dac, iso.problems)
        job = _optimise_job(client, side)
        if job is not None:
            side.ids["job"] = job
        week = client.post("/api/week/plan", json={"from": DAY, "days": 1}, headers=side.headers)
        if week.status_code == 202:
            side.ids["week_job"] = str(week.get_json()["job_id"])
    yield iso
    store.close()


def _operations(doc: dict[str, Any]):
    for path, item in sorted(doc["paths"].items()):
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, op


def _path_kinds(path: str, names: list[str]) -> dict[str, str | None]:
    """Each path parameter's kind of record (None: not a structure's record); KeyError for
    one the mappings do not know."""
    kinds: dict[str, str | None] = {}
    for name in names:
        segment = re.search(r"([^/]+)/\{" + re.escape(name) + r"\}", path)
        key = (segment.group(1) if segment else "", name)
        if key in NOT_STRUCTURE_DATA:
            kinds[name] = None
        else:
            kinds[name] = PATH_IDS[key]
    return kinds


def _path_names(op: dict[str, Any]) -> list[str]:
    return [p["name"] for p in op.get("parameters", []) if p.get("in") == "path"]


def _cases(operation, pinned: dict[str, Any] | None, n: int = EXAMPLES) -> list[Any]:
    """Up to ``n`` generated requests the document calls valid, path ids pinned."""
    found: list[Any] = []

    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=pinned)
    )
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def collect(case) -> None:
        found.append(case)

    try:
        collect()
    except Unsatisfiable:
        pass
    return found[:n]


def _schema(iso: Isolation):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", iso.world.app)


def _b_values(iso: Isolation) -> dict[str, set[Any]]:
    """B's ids by kind, with the kinds whose ids are the same numbers as A's left out
    (the default structure's ids would be B's too)."""
    return {kind: {value} for kind, value in iso.b.ids.items()}


def _leaks(payload: Any, iso: Isolation) -> list[str]:
    """Where an answer shows B's records: B's marker in text, or a field naming B's ids."""
    found = []
    if MARK in json.dumps(payload, ensure_ascii=False).lower():
        found.append(f"text {MARK!r} of B's records")
    b = _b_values(iso)

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                kind = FIELD_IDS.get(key)
                if kind is not None and kind in b:
                    items = item if isinstance(item, list) else [item]
                    hits = [i for i in items if isinstance(i, int | str) and i in b[kind]]
                    if hits:
                        found.append(f"{where}.{key} = {hits} (B's {kind})")
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")

    walk(payload, "$")
    return found


def test_isolation_world_was_built(iso):
    """Every record kind of both structures was created through its documented endpoint, and
    B's own coordinator sees B's records: the leak check can fail."""
    assert iso.problems == []
    for side in (iso.a, iso.b):
        expected = {"team", "user", "device", "token", "visit", "plan", "structure"}
        assert expected <= set(side.ids)
    client = iso.world.app.test_client()
    for path in ("/api/teams", f"/api/visits?day={DAY}", "/api/structures"):
        own = client.get(path, headers=iso.b.headers)
        assert own.status_code == 200 and _leaks(own.get_json(), iso), path


def test_every_path_id_of_another_structure_is_refused(iso):
    """Every documented operation with a path id, called by A's coordinator, planner, team
    member and phone with B's records (alone, and under A's parent records): 403 or 404."""
    schema = _schema(iso)
    failures: list[str] = []
    unknown: list[str] = []
    missing: set[str] = set()
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        if not names:
            continue
        label = f"{operation.method.upper()} {operation.path}"
        try:
            kinds = _path_kinds(operation.path, names)
        except KeyError:
            unknown.append(label)
            continue
        if all(k is None for k in kinds.values()):
            continue
        if any(
            k is not None and (k not in iso.b.ids or k not in iso.a.ids) for k in kinds.values()
        ):
            missing.update(k for k in kinds.values() if k and k not in iso.b.ids)
            missing.update(f"{k} (of A)" for k in kinds.values() if k and k not in iso.a.ids)
            continue
        # B's records everywhere, then each id B's under A's others (A's patient, B's plan).
        variants = [{n: iso.b.ids[k] for n, k in kinds.items() if k}]
        if len(names) > 1:
            for name in names:
                if kinds[name]:
                    variants.append(
                        {n: (iso.b if n == name else iso.a).ids[k] for n, k in kinds.items() if k}
                    )
        for pinned in variants:
            # Generated once per variant (the costly part), sent by each caller.
            cases = _cases(operation, pinned) or []
            for caller, case in itertools.product(CALLERS, cases):
                headers = iso.world.headers(caller)
                response = case.call(headers=headers)
                checked += 1
                b_names = [n for n, v in pinned.items() if v == iso.b.ids.get(kinds[n] or "")]
                if response.status_code not in REFUSED and not _as_for_nothing(
                    case, b_names, headers, response
                ):
                    failures.append(
                        f"{label} {pinned} as {caller} -> {response.status_code}:"
                        f" {response.text[:160]}"
                    )
                    break
    assert not unknown, (
        "path parameters this test does not know: add them to PATH_IDS (the kind of record"
        f" they name) or NOT_STRUCTURE_DATA (why they name none): {unknown}"
    )
    assert not missing, f"no record of these kinds to test with: {sorted(missing)}"
    assert checked > 100
    assert not failures, "\n".join(failures)


#: An id no record has (of any kind).
NO_SUCH_ID = 987_654_321


def _as_for_nothing(case, b_names: list[str], headers: dict[str, str], response) -> bool:
    """True when a refusal other than 403/404 (a 4xx about the body) is the very answer the
    same request gets for a record that does not exist: B's record is not revealed."""
    if response.status_code < 400 or response.status_code >= 500:
        return False
    kept = dict(case.path_parameters)
    try:
        case.path_parameters = {
            **kept,
            **{n: NO_SUCH_ID if isinstance(kept[n], int) else "nosuchid" for n in b_names},
        }
        ghost = case.call(headers=headers)
    finally:
        case.path_parameters = kept
    return ghost.status_code == response.status_code and _code(ghost) == _code(response)


def _code(response) -> str | None:
    """The error code of a JSON error answer (None for another answer)."""
    try:
        return response.json().get("code")
    except (ValueError, AttributeError):
        return None


def test_lists_show_nothing_of_another_structure(iso):
    """Every documented GET without a path id, called by A's callers (plainly, and with B's
    ids in its query parameters): no name, pseudonym or id of B's records in the answer."""
    schema = _schema(iso)
    client = iso.world.app.test_client()
    failures: list[str] = []
    checked = 0
    for path, method, op in _operations(iso.doc):
        if method != "get" or _path_names(op):
            continue
        if path in DIRECTORIES:
            for caller in CALLERS:
                items = client.get(path, headers=iso.world.headers(caller)).get_json()["items"]
                assert all(set(x) <= DIRECTORIES[path] for x in items), path
            continue
        query = {"day": DAY} if any(p["name"] == "day" for p in op.get("parameters", [])) else {}
        asked = dict(query)
        for param in op.get("parameters", []):
            kind = FIELD_IDS.get(param["name"])
            if param.get("in") == "query" and kind in iso.b.ids:
                asked[param["name"]] = iso.b.ids[kind]
        for caller, params in itertools.product(CALLERS, [query, asked]):
            response = client.get(path, query_string=params, headers=iso.world.headers(caller))
            checked += 1
            if not 200 <= response.status_code < 300:
                continue
            body = response.get_json(silent=True)
            payload = body if body is not None else response.get_data(as_text=True)
            leaks = _leaks(payload, iso)
            if leaks:
                failures.append(f"GET {path}?{params} as {caller}: {leaks[:3]}")
    del schema
    assert checked > 50
    assert not failures, "\n".join(failures)


#: Writes whose purpose is to name another structure: (method path, field) -> why.
ANOTHER_STRUCTURE_ON_PURPOSE = {
    ("POST /api/patients/{patient_id}/sharings", "structure_id"): (
        "a patient's record is shared with another structure, with the patient's consent"
    ),
}


def test_writes_naming_another_structures_records_are_refused(iso):
    """Every documented write whose body or query names records (visit_id, team_id,
    patient_id, structure_id...), sent by A's callers with B's (on A's own records where the
    path has ids): never a 2xx."""
    schema = _schema(iso)
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "GET":
            continue
        label = f"{operation.method.upper()} {operation.path}"
        names = [p.name for p in operation.path_parameters]
        try:
            kinds = _path_kinds(operation.path, names)
        except KeyError:
            continue  # reported by test_every_path_id_of_another_structure_is_refused
        if any(k is not None and k not in iso.a.ids for k in kinds.values()):
            continue
        pinned = {n: iso.a.ids[k] for n, k in kinds.items() if k} or None
        body_schema = _json_body_schema(operation.definition.raw)
        props = set((body_schema or {}).get("properties", {}))
        query = {
            p["name"]
            for p in operation.definition.raw.get("parameters", [])
            if p.get("in") == "query"
        }
        fields = {
            f
            for f in props | query
            if FIELD_IDS.get(f) in iso.b.ids and (label, f) not in ANOTHER_STRUCTURE_ON_PURPOSE
        }
        if not fields:
            continue
        for name in sorted(fields):
            kind = FIELD_IDS[name]
            value = iso.b.ids[kind]
            for case, caller in itertools.product(_cases(operation, pinned) or [], CALLERS):
                if name in props:
                    if not isinstance(case.body, dict):
                        continue
                    case.body[name] = [value] if name.endswith("_ids") else value
                else:
                    case.query = {**(case.query or {}), name: value}
                response = case.call(headers=iso.world.headers(caller))
                checked += 1
                if 200 <= response.status_code < 300:
                    failures.append(
                        f"{label} {pinned or ''} {name}={value} as {caller}"
                        f" -> {response.status_code}: {response.text[:160]}"
                    )
                    break
    assert checked > 10
    assert not failures, "\n".join(failures)


def _json_body_schema(raw: dict[str, Any]) -> dict[str, Any] | None:
    content = raw.get("requestBody", {}).get("content", {})
    found = content.get("application/json", {}).get("schema")
    return found if isinstance(found, dict) else None
