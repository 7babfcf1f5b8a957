"""Access control over the REST API: roles × endpoints, team isolation, CSRF, error shape."""

from __future__ import annotations

import re

import pytest
from api_world import DAY, PASSWORD, World, make_world

#: /api routes open to anonymous callers: (method, rule).
PUBLIC = {
    ("GET", "/api/health"),
    ("POST", "/api/session"),
    ("POST", "/api/devices/pair"),
    ("GET", "/api/openapi.json"),
    # One-time account links: the link's token is the credential (test_hardening_accounts.py).
    ("POST", "/api/account-links/check"),
    ("POST", "/api/account-links/complete"),
}


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.store.close()


def _concrete(rule: str) -> str:
    """A rule with every converter replaced by the id 1."""
    return re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "1", rule)


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule.rule


def _assert_error_shape(response) -> None:
    body = response.get_json(silent=True)
    assert isinstance(body, dict), f"{response.request.method} {response.request.path}: not JSON"
    assert body["ok"] is False
    assert isinstance(body["error"], str) and body["error"]
    assert body["status"] == response.status_code
    assert isinstance(body["code"], str) and body["code"]


def test_anonymous_refused_everywhere_but_public_routes(world):
    """Every /api route answers 401 to an anonymous caller except health, login, pairing, docs."""
    client = world.app.test_client()
    checked = 0
    for method, rule in _routes(world.app):
        if not rule.startswith("/api") or (method, rule) in PUBLIC:
            continue
        response = client.open(_concrete(rule), method=method, json={})
        assert response.status_code == 401, f"{method} {rule} answered {response.status_code}"
        _assert_error_shape(response)
        checked += 1
    assert checked >= 25


def test_public_routes_answer_anonymous(world):
    """Health answers {"ok": true} without authentication; login works with a password."""
    client = world.app.test_client()
    health = client.get("/api/health")
    assert health.status_code == 200 and health.get_json()["ok"] is True
    login = client.post("/api/session", json={"username": "coordinator", "password": PASSWORD})
    assert login.status_code == 200
    assert login.get_json()["user"]["role"] == "coordinator"
    # The log-in answer names the user's structures, as GET /api/session does.
    assert login.get_json()["user"]["structure_ids"] == [1]
    assert client.get("/api/session").get_json()["user"]["structure_ids"] == [1]
    # Screens greet the person by name: the display name, else the login name.
    world.store.update_user(login.get_json()["user"]["id"], display_name="Marie Coordinatrice")
    assert client.get("/api/session").get_json()["user"]["display_name"] == "Marie Coordinatrice"
    assert client.get("/api/teams").status_code == 200  # the cookie now authenticates


def test_error_body_shape_on_every_route(world):
    """Whatever the route and method, an error answer is {ok: false, error, status, code}."""
    client = world.app.test_client()
    seen = 0
    for method, rule in _routes(world.app):
        if rule.startswith("/fhir"):
            # FHIR's errors are OperationOutcomes (tests/test_fhir_api.py checks them).
            continue
        path = _concrete(rule)
        for headers in ({}, world.headers("admin"), world.headers("member_a")):
            response = client.open(
                path,
                method=method,
                data="{not json",
                headers={**headers, "Content-Type": "application/json"},
            )
            if response.status_code >= 400:
                _assert_error_shape(response)
                seen += 1
        # A method the route does not accept is an error too.
        wrong = "PUT" if method != "PUT" else "PATCH"
        response = client.open(path, method=wrong)
        if response.status_code >= 400:
            _assert_error_shape(response)
    assert seen >= 50
    _assert_error_shape(client.get("/api/no-such-thing"))


# (who, method, path template, JSON body, allowed?) -- ids are filled from the world.
MATRIX_ROLES = ("admin", "coordinator", "planner", "member_a", "device_b")


def _cases(w: World):
    a, b = w.ids["team_a"], w.ids["team_b"]
    va, vb = w.ids["visit_a"], w.ids["visit_b"]
    return [
        ("GET", "/api/teams", None, set(MATRIX_ROLES)),
        (
            "POST",
            "/api/teams",
            {"name": "T{who}", "base_lon": 9, "base_lat": 42},
            {"admin", "coordinator"},
        ),
        ("PATCH", f"/api/teams/{a}", {"color": "#112233"}, {"admin", "coordinator"}),
        ("POST", f"/api/teams/{a}/pairing", None, {"admin", "coordinator"}),
        ("GET", "/api/visits", None, set(MATRIX_ROLES) - {"admin"}),
        (
            "POST",
            "/api/visits",
            {
                "day": DAY,
                "pseudonym": "P",
                "lon": 9,
                "lat": 42,
                "duration_s": 900,
                "windows": [["08:00", "09:00"]],
            },
            {"coordinator"},
        ),
        ("GET", f"/api/visits/{va}", None, {"coordinator", "planner", "member_a"}),
        ("GET", f"/api/visits/{vb}", None, {"coordinator", "planner", "device_b"}),
        ("GET", f"/api/visits/{va}/details", None, {"coordinator", "member_a"}),
        ("GET", f"/api/visits/{vb}/details", None, {"coordinator", "device_b"}),
        (
            "POST",
            f"/api/visits/{va}/events",
            {"kind": "note", "note": "ok"},
            {"coordinator", "member_a"},
        ),
        ("GET", f"/api/visits/{vb}/events", None, {"coordinator", "device_b"}),
        ("PATCH", f"/api/visits/{va}", {"priority": 2}, {"coordinator"}),
        (
            "POST",
            "/api/positions",
            {"team_id": b, "positions": []},
            {"admin", "coordinator", "device_b"},
        ),
        ("GET", "/api/positions", None, {"admin", "coordinator"}),
        ("GET", "/api/positions/latest", None, {"admin", "coordinator", "member_a", "device_b"}),
        ("GET", "/api/plans", None, {"coordinator", "planner"}),
        ("GET", f"/api/plans/{w.ids['plan']}", None, set(MATRIX_ROLES) - {"admin"}),
        ("GET", f"/api/teams/{a}/round", None, {"coordinator", "member_a"}),
        ("GET", "/api/users", None, {"admin"}),
        ("GET", f"/api/users/{w.ids['planner']}", None, {"admin"}),
        ("GET", "/api/devices", None, {"admin", "coordinator"}),
        ("GET", "/api/audit", None, {"admin"}),
    ]


def test_role_endpoint_matrix(world):
    """Each role reaches exactly the endpoints its job needs; the others answer 403. Admins
    manage accounts, teams and phones: no visit, round or plan (patient data)."""
    client = world.app.test_client()
    for method, path, body, allowed in _cases(world):
        for who in MATRIX_ROLES:
            data = (
                None
                if body is None
                else {k: (v.format(who=who) if isinstance(v, str) else v) for k, v in body.items()}
            )
            response = client.open(path, method=method, json=data, headers=world.headers(who))
            if who in allowed:
                assert response.status_code < 400, (
                    f"{who} {method} {path}: {response.status_code} {response.get_json()}"
                )
            else:
                assert response.status_code == 403, (
                    f"{who} {method} {path}: {response.status_code} (expected 403)"
                )
                _assert_error_shape(response)


def test_team_member_sees_only_their_round(world):
    """A team member lists only their team's visits, plan route and never another's details."""
    client = world.app.test_client()
    h = world.headers("member_a")
    listed = client.get("/api/visits", headers=h).get_json()
    assert [v["id"] for v in listed["items"]] == [world.ids["visit_a"]]
    assert client.get(f"/api/visits?team_id={world.ids['team_b']}", headers=h).status_code == 403
    assert client.get("/api/visits?unassigned=true", headers=h).status_code == 403
    plan = client.get(f"/api/plans/{world.ids['plan']}", headers=h).get_json()["plan"]
    assert [r["team_id"] for r in plan["routes"]] == [world.ids["team_a"]]
    assert plan["unassigned"] == []
    for visit in ("visit_b", "visit_u"):
        response = client.get(f"/api/visits/{world.ids[visit]}/details", headers=h)
        assert response.status_code == 403
    round_ = client.get(f"/api/teams/{world.ids['team_a']}/round?day={DAY}", headers=h).get_json()
    assert [s["visit"]["pseudonym"] for s in round_["round"]["stops"]] == ["Patient 0A0A"]
    for item in listed["items"] + [s["visit"] for s in round_["round"]["stops"]]:
        assert "protected" not in item and "name" not in item


def test_details_reads_are_audited(world):
    """Every read of protected details, and every refused attempt, is in the audit log."""
    client = world.app.test_client()
    va, vb = world.ids["visit_a"], world.ids["visit_b"]
    got = client.get(f"/api/visits/{va}/details", headers=world.headers("member_a")).get_json()
    assert got["details"]["name"] == "Test A"
    client.get(f"/api/visits/{vb}/details", headers=world.headers("member_a"))
    client.get(f"/api/visits/{vb}/details", headers=world.headers("coordinator"))
    log = world.store.list_audit(target=f"visit:{vb}")
    assert [(e["actor"], e["action"]) for e in reversed(log)] == [
        (f"user:{world.ids['member_a']}", "visit.details.denied"),
        (f"user:{world.ids['coordinator']}", "visit.details.read"),
    ]
    reads = world.store.list_audit(target=f"visit:{va}")
    assert [e["action"] for e in reads] == ["visit.details.read"]


def test_csrf_required_for_cookie_writes(world):
    """A logged-in browser must send X-CSRF-Token on unsafe requests; bearer callers need not."""
    client = world.app.test_client()
    login = client.post("/api/session", json={"username": "coordinator", "password": PASSWORD})
    csrf = login.get_json()["csrf_token"]
    body = {"name": "Nouvelle", "base_lon": 9.0, "base_lat": 42.0}
    refused = client.post("/api/teams", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.get_json()["error"]
    assert (
        client.post("/api/teams", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    )
    assert client.post("/api/teams", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert client.get("/api/session").get_json()["csrf_token"] == csrf
    other = world.app.test_client()
    ok = other.post(
        "/api/teams", json={**body, "name": "Autre"}, headers=world.headers("coordinator")
    )
    assert ok.status_code == 201
    assert client.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/teams").status_code == 401


def test_login_is_rate_limited(tmp_path):
    """After the allowed number of failures per minute, even the right password is refused."""
    world = make_world(tmp_path, login_attempts_per_min=3)
    client = world.app.test_client()
    for _ in range(3):
        bad = client.post("/api/session", json={"username": "planner", "password": "wrong-wrong"})
        assert bad.status_code == 401
    limited = client.post("/api/session", json={"username": "planner", "password": PASSWORD})
    assert limited.status_code == 429
    _assert_error_shape(limited)
    other = client.post("/api/session", json={"username": "coordinator", "password": PASSWORD})
    assert other.status_code == 200


def test_revoked_device_and_disabled_user_lose_access(world):
    """Revoking a device or disabling a user stops their token at once."""
    client = world.app.test_client()
    assert client.get("/api/visits", headers=world.headers("device_b")).status_code == 200
    response = client.delete(
        f"/api/devices/{world.ids['device_b']}", headers=world.headers("coordinator")
    )
    assert response.status_code == 200
    assert client.get("/api/visits", headers=world.headers("device_b")).status_code == 401
    response = client.patch(
        f"/api/users/{world.ids['planner']}", json={"active": False}, headers=world.headers("admin")
    )
    assert response.status_code == 200
    assert client.get("/api/plans", headers=world.headers("planner")).status_code == 401


def test_pairing_exchange_is_single_use(world):
    """A pairing code gives one device token, then stops working; the QR code is an SVG."""
    client = world.app.test_client()
    made = client.post(
        f"/api/teams/{world.ids['team_a']}/pairing", headers=world.headers("coordinator")
    ).get_json()
    assert made["link"].endswith(f"/pair?code={made['code']}")
    qr = client.get(made["qr_svg_url"], headers=world.headers("coordinator"))
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    png = client.get(made["qr_svg_url"] + "&format=png", headers=world.headers("coordinator"))
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    first = client.post("/api/devices/pair", json={"code": made["code"].lower(), "label": "Tel"})
    assert first.status_code == 201
    token = first.get_json()["token"]
    again = client.post("/api/devices/pair", json={"code": made["code"]})
    assert again.status_code == 401
    who = client.get("/api/session", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert who["user"]["kind"] == "device" and who["user"]["team_id"] == world.ids["team_a"]


def test_openapi_describes_every_api_route(world):
    """Each /api rule of the app (all modules) has its path and method in /api/openapi.json."""
    doc = world.app.test_client().get("/api/openapi.json").get_json()
    missing = []
    for method, rule in _routes(world.app):
        if not rule.startswith("/api"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
        if method.lower() not in doc["paths"].get(path, {}):
            missing.append(f"{method} {path}")
    assert missing == []
