"""Issue 21 items 3, 7 and 16 on the real servers: access logs without secrets, security
headers on every response, the session cookie's Secure flag, gevent as `dispatch serve`'s
default server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
from api_world import make_world
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.settings import PROJECT_ROOT, Settings
from dispatch.store import Store
from dispatch.web.access_log import redact
from dispatch.web.app import create_app

#: A Traccar Client identifier (16 digits), a pairing code and a token that must never be logged.
TRACCAR_ID = "4242424242424242"
PAIRING_CODE = "QZ7K-W3XP"
URL_TOKEN = "tok_9f8e7d6c5b4a39281706"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(args: list[str], var: Path, territory_cache: Path, shared_dir: Path) -> dict[str, Any]:
    """`dispatch serve ARGS --no-demo` on a free port over ``var``; its output in a file."""
    port = _free_port()
    env = {
        **os.environ,
        "DISPATCH_VAR_DIR": str(var),
        "DISPATCH_CACHE_DIR": str(territory_cache),
        "DISPATCH_DATA_PATH": str(Path(shared_dir) / "territories"),
        "DISPATCH_TERRITORY": "melun",
    }
    env.pop("DISPATCH_SERVER", None)
    log_path = var / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch", "serve", "--port", str(port), "--no-demo", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"dispatch serve exited: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/api/health", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        if time.time() > deadline:
            raise AssertionError("dispatch serve did not answer in 120 s")
        time.sleep(0.2)
    return {"url": url, "proc": proc, "log": log_path, "file": log}


def _stop(server: dict[str, Any]) -> None:
    server["proc"].terminate()
    try:
        server["proc"].wait(timeout=10)
    except subprocess.TimeoutExpired:
        server["proc"].kill()
    server["file"].close()


@pytest.fixture(scope="module", params=["threading", "gevent"])
def served(request, melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """`dispatch serve` as a user starts it: gevent without --server (the default), or
    `--server threading`; --debug for gevent (its access log is written in debug mode only)."""
    var = tmp_path_factory.mktemp(f"serve-{request.param}")
    store = Store(var / "dispatch.sqlite")
    team = store.add_team({"name": "Équipe L", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    store.add_user("coord", role="coordinator", password=PASSWORD)
    store.close()
    args = ["--server", "threading"] if request.param == "threading" else ["--debug"]
    server = _serve(args, var, territory_cache, shared_dir)
    server.update(kind=request.param, team=team)
    yield server
    _stop(server)


# --- item 3: no secret in access logs ------------------------------------------------------


def test_redact_keeps_harmless_values_only() -> None:
    line = f'"GET /osmand?id={TRACCAR_ID}&lat=48.5&lon=2.6 HTTP/1.1" 200 -'
    assert TRACCAR_ID not in redact(line) and "48.5" not in redact(line)
    assert redact("GET /socket.io/?EIO=4&transport=polling&sid=Ab12Cd34Ef56Gh78 HTTP/1.1") == (
        "GET /socket.io/?EIO=4&transport=polling&sid=[redacted] HTTP/1.1"
    )
    assert redact(f"GET /activate/{URL_TOKEN} HTTP/1.1") == "GET /activate/[redacted] HTTP/1.1"
    assert redact(f"GET /pair/{PAIRING_CODE}") == "GET /pair/[redacted]"
    assert redact("GET /api/teams/12/day?day=2026-01-02 HTTP/1.1").endswith(
        "day=2026-01-02 HTTP/1.1"
    )
    assert redact("GET /static/map/vendor/maplibre-gl.js HTTP/1.1") == (
        "GET /static/map/vendor/maplibre-gl.js HTTP/1.1"
    )


@pytest.mark.slow
def test_access_log_has_no_identifier_or_token(served) -> None:  # type: ignore[no-untyped-def]
    """A Traccar report, a pairing link and a token in a URL: the requests are logged, their
    secrets are not (threading server: Werkzeug's log; gevent: pywsgi's access log)."""
    url = served["url"]
    requests.get(f"{url}/osmand", params={"id": TRACCAR_ID, "lat": 48.54, "lon": 2.65}, timeout=5)
    requests.get(f"{url}/pair", params={"code": PAIRING_CODE}, timeout=5, allow_redirects=False)
    requests.get(f"{url}/phone/", params={"code": PAIRING_CODE}, timeout=5)
    requests.get(f"{url}/api/teams", params={"token": URL_TOKEN}, timeout=5)
    requests.get(f"{url}/account/{URL_TOKEN}", timeout=5)
    requests.get(f"{url}/osmand/{TRACCAR_ID}", timeout=5)
    time.sleep(0.5)
    log = served["log"].read_text()
    assert "/osmand?id=" in log and "/pair?code=" in log, log[-2000:]
    for secret in (TRACCAR_ID, PAIRING_CODE, URL_TOKEN):
        assert secret not in log, f"{secret} in the {served['kind']} server's log"


# --- item 7: headers -------------------------------------------------------------------------


def _csp(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _check_security_headers(response: Any) -> None:
    headers = response.headers
    csp = _csp(headers.get("Content-Security-Policy", ""))
    assert csp.get("default-src") == ["'self'"], headers
    assert csp.get("script-src") == ["'self'"]
    assert "blob:" in csp["worker-src"] and "'self'" in csp["worker-src"]
    assert set(csp["img-src"]) >= {"'self'", "data:", "blob:"}
    # Styles are as strict as scripts: no inline <style>, no style attribute in HTML text.
    assert csp.get("style-src") == ["'self'"]
    assert not [d for d, sources in csp.items() if "'unsafe-inline'" in sources], csp
    assert set(csp["connect-src"]) >= {"'self'", "ws:", "wss:"}
    assert csp.get("frame-ancestors") == ["'none'"]
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin")


def test_every_response_has_the_security_headers(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    client = world.app.test_client()
    coordinator = world.headers("coordinator")
    for path, headers in (
        ("/map/", {}),
        ("/phone/", {}),
        ("/admin/", {}),
        ("/patients/", {}),
        ("/week/", {}),
        ("/static/map/map.css", {}),
        ("/api/health", {}),
        ("/api/teams", coordinator),
        ("/api/teams", {}),
        ("/api/no-such-thing", {}),
        ("/socket.io/?EIO=4&transport=polling", {}),
    ):
        response = client.get(path, headers=headers)
        _check_security_headers(response)
        if path.startswith(("/api/", "/socket.io/")):
            assert "no-store" in response.headers.get("Cache-Control", ""), path
    # Patient details keep their own stricter value.
    response = client.get(f"/api/visits/{world.ids['visit_a']}", headers=coordinator)
    assert "no-store" in response.headers["Cache-Control"]


def test_csp_names_the_tile_server_only_when_the_online_layer_is_offered(tmp_path: Path) -> None:
    off = make_world(tmp_path / "off").app.test_client().get("/map/")
    assert "openstreetmap" not in off.headers["Content-Security-Policy"]
    on = make_world(tmp_path / "on", online_tiles=True).app.test_client().get("/map/")
    csp = _csp(on.headers["Content-Security-Policy"])
    assert "https://tile.openstreetmap.org" in csp["img-src"]
    assert "https://tile.openstreetmap.org" in csp["connect-src"]


def _login_cookie(client: Any, **kwargs: Any) -> str:
    response = client.post(
        "/api/session", json={"username": "coordinator", "password": PASSWORD}, **kwargs
    )
    assert response.status_code == 200, response.json
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies
    return cookies[0]


def test_session_cookie_is_secure_over_https_or_when_configured(tmp_path: Path) -> None:
    world = make_world(tmp_path / "a", trusted_proxies=("10.0.0.1",))
    client = world.app.test_client()
    assert "Secure" not in _login_cookie(client)
    assert "Secure" in _login_cookie(client, base_url="https://dispatch.example.fr")
    proxied = {"X-Forwarded-Proto": "https"}
    via_proxy = {"REMOTE_ADDR": "10.0.0.1"}
    assert "Secure" in _login_cookie(client, headers=proxied, environ_base=via_proxy)
    # The header from anyone but a trusted proxy is ignored.
    stranger = {"REMOTE_ADDR": "192.0.2.7"}
    assert "Secure" not in _login_cookie(client, headers=proxied, environ_base=stranger)
    configured = make_world(tmp_path / "b", cookie_secure=True).app.test_client()
    assert "Secure" in _login_cookie(configured)


@pytest.mark.slow
def test_the_real_servers_send_the_headers_and_no_version(served) -> None:  # type: ignore[no-untyped-def]
    """Both servers of `dispatch serve`: the headers, and no Server header naming versions."""
    for path in ("/map/", "/api/health", "/static/map/map.js", "/nope"):
        response = requests.get(f"{served['url']}{path}", timeout=5)
        _check_security_headers(response)
        server = response.headers.get("Server", "")
        assert not any(ch.isdigit() for ch in server), f"{served['kind']}: Server: {server}"


def test_the_test_server_sends_no_version(
    tmp_path: Path, melun, territory_cache, shared_dir
) -> None:  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path, territory_cache, shared_dir)
    store = Store(settings.database)
    server = RealServer(create_app(settings, **{"dispatch.store": store}))
    try:
        response = requests.get(f"{server.base_url}/api/health", timeout=5)
        assert "Werkzeug" not in response.headers.get("Server", "")
    finally:
        server.stop()
        store.close()


# --- item 16: gevent by default --------------------------------------------------------------


def test_gevent_is_the_default_server_and_a_plain_dependency() -> None:
    assert Settings().server == "gevent"
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = {
        d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]
    }
    assert {"gevent", "gevent-websocket"} <= names


def test_an_app_built_in_an_ordinary_process_serves_in_threading_mode(tmp_path: Path) -> None:
    """Tests and WSGI hosts build the app without gevent's patching: threading mode, no error."""
    app = create_app(Settings(var_dir=tmp_path / "var", secret_key="x"))
    assert Settings().server == "gevent"
    assert app.extensions["socketio"].server.eio.async_mode == "threading"


@pytest.mark.slow
@pytest.mark.parametrize("served", ["gevent"], indirect=True)
def test_dispatch_serve_runs_gevent_without_being_asked(served) -> None:  # type: ignore[no-untyped-def]
    assert served["kind"] == "gevent"
    args = subprocess.run(
        ["ps", "-o", "args=", "-p", str(served["proc"].pid)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dispatch.web.gevent_main" in args


# --- item 7: the policy breaks no page ---------------------------------------------------------

#: Records every Content-Security-Policy violation of the page (before its own scripts run).
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


#: Where the test's visit is (away from the team's position, whose marker would take the click).
CSP_VISIT = (2.6600, 48.5430)


@pytest.fixture(scope="module")
def csp_server(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server with one user per role, a team whose phone can pair, its position and a
    visit of today on its published round (markers, popups and panels to draw)."""
    settings = module_settings(tmp_path_factory.mktemp("csp"), territory_cache, shared_dir)
    store = Store(settings.database)
    team = store.add_team(
        {"name": "Équipe C", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#1f77b4"}
    )
    # Before the app: it reads the teams' last positions once, at its start.
    store.insert_positions(
        team["id"], [{"lon": 2.6480, "lat": 48.5460, "device_time_s": time.time() - 30}]
    )
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    visit = store.add_visit(
        {
            "day": day,
            "pseudonym": "MME-CSP",
            "lon": CSP_VISIT[0],
            "lat": CSP_VISIT[1],
            "address": "12 rue des Lilas",
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
            "team_id": team["id"],
            "protected": {"name": "Alice Martinez", "notes": "Insuline"},
        }
    )
    stop = {"visit_id": visit["id"], "arrival_s": 43200, "start_s": 43200, "end_s": 45000}
    store.save_plan(day, [{"team_id": team["id"], "stops": [stop]}], publish=True)
    for name, role in (("coord", "coordinator"), ("admin", "admin"), ("plan", "planner")):
        store.add_user(name, role=role, password=PASSWORD)
    server = RealServer(app)
    yield server, store, team
    server.stop()
    store.close()


def _open_the_map_panels(page: Any) -> None:
    """The coordinator's map draws what it adds after the load: the team's marker and its
    colour swatch, a visit's popup, its details dialog, the team's day (history panel)."""
    page.wait_for_selector(".team-marker", state="attached", timeout=10_000)
    page.wait_for_selector("#team-list .swatch", state="attached")
    page.wait_for_selector("#in-notes", state="attached")  # the intake form
    page.wait_for_function("!!window.dispatchMap.map.getLayer('visits')")
    page.wait_for_selector("#visit-list button.vdet", timeout=10_000)
    point = page.evaluate(
        "ll => { const p = window.dispatchMap.map.project(ll); return [p.x, p.y]; }",
        list(CSP_VISIT),
    )
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    page.wait_for_selector(".maplibregl-popup", timeout=10_000)
    page.click("#visit-list button.vdet")
    page.wait_for_selector("#dd-dialog[open]", timeout=10_000)
    page.keyboard.press("Escape")
    page.click("#team-list button.team-open")
    page.wait_for_selector("#dh-panel:not([hidden])", timeout=10_000)


def _violations(page: Any, console: list[str]) -> list[str]:
    page.wait_for_timeout(1500)  # late tiles, workers and sockets
    found = list(page.evaluate("window.__csp || []"))
    found += [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    return found


@pytest.mark.browser
@pytest.mark.slow
def test_no_page_breaks_the_content_security_policy(csp_server, browser) -> None:  # type: ignore[no-untyped-def]
    """Log-in dialog, map (with a team's marker, a visit's popup, its details dialog, the
    team's day and the intake form), admin (teams table), planner, phone and account pages:
    no violation at all."""
    from live_support import WAKE_LOCK_STUB

    server, store, team = csp_server
    _, instance = browser
    url = server.base_url
    problems: dict[str, list[str]] = {}

    def open_page(name: str) -> tuple[Any, Any, list[str]]:
        ctx = instance.new_context(
            viewport={"width": 1280, "height": 860},
            locale="fr-FR",
            geolocation={"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5},
            permissions=["geolocation"],
        )
        ctx.add_init_script(CSP_PROBE)
        ctx.add_init_script(WAKE_LOCK_STUB)
        page = ctx.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        return ctx, page, console

    def log_in(page: Any, path: str, user: str, ready: str) -> None:
        page.goto(f"{url}{path}")
        page.wait_for_selector("#login[open]", timeout=20_000)
        page.fill("#login-form input[name=username]", user)
        page.fill("#login-form input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector(ready, state="attached", timeout=30_000)

    ctx, page, console = open_page("login")
    page.goto(f"{url}/map/")
    page.wait_for_selector("#login[open]", timeout=20_000)
    problems["login"] = _violations(page, console)
    ctx.close()

    for name, path, user, ready in (
        ("map", "/map/", "coord", "body[data-ready='1']"),
        ("admin", "/admin/", "admin", "body[data-ready='1']"),
        ("patients", "/patients/", "coord", "body[data-ready='1']"),
        ("week", "/week/", "coord", "body[data-ready='1']"),
        ("planner", "/planner/", "plan", "#login:not([open])"),  # closed: its state
    ):
        ctx, page, console = open_page(name)
        log_in(page, path, user, ready)
        if name == "map":
            page.wait_for_function("window.dispatchMap && window.dispatchMap.map.loaded()")
            _open_the_map_panels(page)
        if name == "admin":
            page.wait_for_selector("#team-table .swatch", state="attached")
        if name == "planner":
            page.wait_for_function("window.planner && window.planner.state.chartsDrawn.bands")
        problems[name] = _violations(page, console)
        ctx.close()

    ctx, page, console = open_page("phone")
    code = store.create_pairing(team["id"])["code"]
    page.goto(f"{url}/phone/?code={code}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    page.wait_for_selector("#conn[data-state='online']", timeout=10_000)
    problems["phone"] = _violations(page, console)
    ctx.close()

    ctx, page, console = open_page("account")
    page.goto(f"{url}/account/#token=not-a-real-token")
    problems["account"] = _violations(page, console)
    ctx.close()

    assert not any(problems.values()), problems


@pytest.mark.load
@pytest.mark.slow
def test_acknowledgements_hold_with_many_idle_map_sockets() -> None:
    """`dispatch bench live --idle-sockets`: with 300 map sockets left open on the default
    (gevent) server, every report is stored and acknowledged quickly (generous bound: the
    machine is shared; 1,000 sockets took the threading server's p50 from 1.4 to 240 ms)."""
    from dispatch.cli.bench_live import run_bench

    result = run_bench(
        teams=20,
        coordinators=2,
        rate=1.0,
        duration_s=5.0,
        burst=1,
        load=1.0,
        load_s=0.0,
        procs=1,
        server_kind="gevent",
        idle_sockets=300,
    )
    steady = result["steady"]
    assert result["idle_sockets"] == 300
    assert steady["errors"] == 0 and steady["stored"] == steady["sent"] == 100
    assert steady["ack_ms"]["p50"] < 500, steady


def test_an_endpoint_keeps_its_stricter_policy_and_is_never_framed(tmp_path: Path) -> None:
    """The planning report sends its own policy (default-src 'none'): kept, never framed."""
    from flask import Response

    world = make_world(tmp_path)

    @world.app.get("/api/strict-test")
    def strict() -> Response:
        response = Response("<p>x</p>", mimetype="text/html")
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    csp = world.app.test_client().get("/api/strict-test").headers["Content-Security-Policy"]
    assert csp == "default-src 'none'; frame-ancestors 'none'"
