"""Alerts that need action (late, at risk, position unknown, dropped, missed): acknowledged by
one coordinator, seen acknowledged by the others and after a restart; routine events go to the
journal; error bodies in the page's language."""

from __future__ import annotations

import time
from typing import Any

import pytest
from live_support import HOME_A, PASSWORD, make_world, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app, socketio


def login(app: Any, username: str = "coord") -> Any:
    client = app.test_client()
    reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.json
    client.environ_base["HTTP_X_CSRF_TOKEN"] = reply.json["csrf_token"]
    return client


@pytest.fixture(scope="module")
def env(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("alerts"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    world = make_world(store, hub.today())
    store.add_user("coord2", role="coordinator", password=PASSWORD)
    world.extra["coord"] = login(app)
    world.extra["coord2"] = login(app, "coord2")
    world.extra["settings"] = settings
    yield app, world
    hub.stop()
    store.close()


def add_visit(world: Any, hub: Any, name: str, window: list[str]) -> dict[str, Any]:
    return world.store.add_visit(
        {
            "day": hub.today(),
            "pseudonym": name,
            "lon": HOME_A[0],
            "lat": HOME_A[1],
            "duration_s": 1800,
            "windows": [window],
            "team_id": world.team_a["id"],
        }
    )


def alerts_of(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for b in batches for a in b.get("alerts", [])]


def wait_alerts(client: Any, predicate: Any, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got += alerts_of([m["args"][0] for m in client.get_received() if m["name"] == "live"])
        if predicate(got):
            return got
        time.sleep(0.05)
    return got


def test_late_alert_acknowledged_by_one_coordinator_is_seen_by_the_other(env) -> None:  # type: ignore[no-untyped-def]
    """A late visit raises one alert; coordinator 1 acknowledges it; coordinator 2's socket
    gets it again with who and when, and GET /api/alerts lists it acknowledged."""
    app, world = env
    hub = app.extensions["dispatch.live"]
    visit = add_visit(world, hub, "M-RETARD", ["00:00", "00:01"])
    other = socketio.test_client(app, flask_test_client=world.extra["coord2"])
    other.get_received()
    hub.sweep(time.time())
    got = wait_alerts(other, lambda a: any(x["kind"] == "late" for x in a))
    late = next(a for a in got if a["kind"] == "late" and a["visit_id"] == visit["id"])
    assert "acknowledged_by" not in late and "journal" not in late
    reply = world.extra["coord"].post("/api/alerts/acknowledge", json={"key": late["key"]})
    assert reply.status_code == 200, reply.json
    assert reply.json["alert"]["acknowledged_by"] == "coord"
    got = wait_alerts(other, lambda a: any(x.get("acknowledged_by") == "coord" for x in a))
    acked = [a for a in got if a["key"] == late["key"] and a.get("acknowledged_by")]
    assert acked and acked[-1]["acknowledged_at_s"] > 0
    listed = world.extra["coord2"].get("/api/alerts").json["alerts"]
    assert next(a for a in listed if a["key"] == late["key"])["acknowledged_by"] == "coord"
    hub.sweep(time.time())  # still late: not raised a second time
    assert sum(a["key"] == late["key"] for a in hub.alert_lists()[0]) == 1


def test_acknowledgement_survives_a_restart(env) -> None:  # type: ignore[no-untyped-def]
    """A second app on the same database (a restarted server) shows the alert acknowledged."""
    app, world = env
    hub = app.extensions["dispatch.live"]
    visit = add_visit(world, hub, "M-REDEMARRE", ["00:00", "00:01"])
    hub.sweep(time.time())
    key = f"late:{visit['id']}"
    world.extra["coord"].post("/api/alerts/acknowledge", json={"key": key})
    again = create_app(world.extra["settings"], **{"dispatch.store": world.store})
    hub2 = again.extensions["dispatch.live"]
    try:
        hub2.start(sweep_s=3600)
        hub2.sweep(time.time())
        alert = next(a for a in hub2.alert_lists()[0] if a["key"] == key)
        assert alert["acknowledged_by"] == "coord"
    finally:
        hub2.stop()


def test_eta_after_the_window_end_raises_at_risk(env) -> None:  # type: ignore[no-untyped-def]
    """A fresh live ETA after the visit's window end raises "at_risk" once; an ETA within the
    window raises nothing."""
    app, world = env
    hub = app.extensions["dispatch.live"]
    risky = add_visit(world, hub, "M-RISQUE", ["00:00", "23:58"])
    fine = add_visit(world, hub, "M-ATEMPS", ["00:00", "23:58"])
    hub.on_etas(
        {
            "team_id": world.team_a["id"],
            "at": time.time(),
            "etas": {risky["id"]: 23 * 3600 + 59 * 60, fine["id"]: 0},
        }
    )
    hub.sweep(time.time())
    hub.sweep(time.time())
    alerts = hub.alert_lists()[0]
    risks = [a for a in alerts if a["kind"] == "at_risk" and a["visit_id"] == risky["id"]]
    assert len(risks) == 1 and risks[0]["eta_s"] == 86340 and risks[0]["end_s"] == 86280
    assert not any(a["kind"] == "at_risk" and a["visit_id"] == fine["id"] for a in alerts)


def test_routine_events_go_to_the_journal(env) -> None:  # type: ignore[no-untyped-def]
    """Arrivals, check-ins and check-outs are journal lines, not alerts (and cannot be
    acknowledged); the snapshot keeps them apart."""
    app, world = env
    hub = app.extensions["dispatch.live"]
    for kind in ("arrival", "check_in", "check_out"):
        hub.alert(kind, team_id=world.team_a["id"], visit_id=world.visit_a["id"], key=f"t:{kind}")
    hub.alert("missed", team_id=world.team_a["id"], visit_id=world.visit_a["id"], key="t:missed")
    snap = world.extra["coord"].get("/api/live/snapshot").json
    assert {"t:arrival", "t:check_in", "t:check_out"} <= {j["key"] for j in snap["journal"]}
    assert all(j["journal"] for j in snap["journal"])
    keys = {a["key"] for a in snap["alerts"]}
    assert "t:missed" in keys and not keys & {"t:arrival", "t:check_in", "t:check_out"}
    refused = world.extra["coord"].post("/api/alerts/acknowledge", json={"key": "t:arrival"})
    assert refused.status_code == 404


def test_only_coordinators_acknowledge(env) -> None:  # type: ignore[no-untyped-def]
    """A team member may not acknowledge; a body without a key says what to send."""
    app, world = env
    member = login(app, "membre-b")
    assert member.post("/api/alerts/acknowledge", json={"key": "t:missed"}).status_code == 403
    bad = world.extra["coord"].post("/api/alerts/acknowledge", json={})
    assert bad.status_code == 400 and "key is required" in bad.json["error"]


def test_error_bodies_follow_the_page_language(env) -> None:  # type: ignore[no-untyped-def]
    """The pages send Accept-Language: French errors for fr, English for en or no header."""
    app, world = env
    client = world.extra["coord"]
    fr = client.get("/api/nothing-here", headers={"Accept-Language": "fr"}).json
    assert fr["error"] == "adresse inconnue : GET /api/nothing-here"
    en = client.get("/api/nothing-here", headers={"Accept-Language": "en"}).json
    assert en["error"] == "no such endpoint: GET /api/nothing-here"
    assert client.get("/api/nothing-here").json["error"].startswith("no such endpoint")
    wrong = app.test_client().post(
        "/api/session",
        json={"username": "coord", "password": "wrong"},
        headers={"Accept-Language": "fr"},
    )
    assert wrong.json["error"] == "identifiant ou mot de passe incorrect"
    missing = client.post(
        "/api/alerts/acknowledge", json={"key": "nope"}, headers={"Accept-Language": "fr"}
    )
    assert missing.json["error"] == "l'alerte « nope » n'existe pas (ou n'est plus gardée)"
    shift = client.post(
        "/api/teams",
        json={
            "name": "Nuit",
            "base_lon": 2.65,
            "base_lat": 48.54,
            "shift_start": "18:00",
            "shift_end": "08:00",
        },
        headers={"Accept-Language": "fr"},
    )
    assert shift.status_code == 400
    assert shift.json["error"] == "équipe 'Nuit' : le service 18:00-08:00 finit avant de commencer"


def test_many_visits_dropped_by_one_change_raise_one_alert(env) -> None:  # type: ignore[no-untyped-def]
    """Three visits taken out of the rounds by one change raise one alert each; more (a week
    applied) raise one alert giving their number and the day, instead of a flood."""
    app, world = env
    hub = app.extensions["dispatch.live"]
    few = [add_visit(world, hub, f"M-PEU-{i}", ["18:00", "19:00"]) for i in range(3)]
    many = [add_visit(world, hub, f"M-BEAUCOUP-{i}", ["18:00", "19:00"]) for i in range(5)]
    tid = world.team_a["id"]

    def change(plan_id: int, visits: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "day": hub.today(),
            "plan_id": plan_id,
            "by": "coord",
            "teams": [tid],
            "visits": [],
            "dropped": [{"visit_id": v["id"], "team_id": tid} for v in visits],
        }

    hub.on_plan_change(change(9001, few))
    hub.on_plan_change(change(9002, many))
    listed = world.extra["coord"].get("/api/alerts").json["alerts"]
    singles = [a for a in listed if a["kind"] == "dropped" and a["key"].endswith(":9001")]
    assert sorted(a["visit_id"] for a in singles) == sorted(v["id"] for v in few)
    grouped = [a for a in listed if a["key"].endswith(":9002")]
    assert [(a["kind"], a["count"], a["day"]) for a in grouped] == [
        ("dropped_many", 5, hub.today())
    ]
