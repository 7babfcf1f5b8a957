"""Live pushes and patient data in the browser (issue 21 item 1), on a real server: a note
recorded by a phone reaches the coordinator's open details dialog through the audited read,
never in a socket frame; an admin's map shows the teams moving and no patient at all."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import socketio
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
HOME = (2.6600, 48.5430)
NOTE = "Plaie du talon plus rouge, prévenir le médecin traitant"
ADMIN_NOTE = "Douleur thoracique signalée à 10 h"


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("pushes"), territory_cache, shared_dir)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(settings, clock_start=f"{today}T08:30:00")
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    team = store.add_team({"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    store.add_user("coord", role="coordinator", password=PASSWORD)
    store.add_user("admin", role="admin", password=PASSWORD)
    visit = store.add_visit(
        {
            "day": day,
            "pseudonym": "MME-TALON",
            "lon": HOME[0],
            "lat": HOME[1],
            "address": "8 rue des Tanneurs",
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
            "team_id": team["id"],
        }
    )
    stop = {"visit_id": visit["id"], "arrival_s": 32400, "start_s": 32400, "end_s": 34200}
    store.save_plan(day, [{"team_id": team["id"], "stops": [stop]}], publish=True)
    token = store.pair_device(store.create_pairing(team["id"])["code"])["token"]
    server = RealServer(app)
    yield server, {"store": store, "team": team, "visit": visit, "token": token}
    server.stop()
    store.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def map_page(browser: Any, base_url: str, username: str) -> tuple[Any, Any, list[str]]:
    """A logged-in /map/ page and every socket frame it receives (as text)."""
    _, instance = browser
    # bypass_csp: the page forbids inline scripts, and axe is injected as one.
    ctx = instance.new_context(viewport=WIDE, locale="fr-FR", bypass_csp=True)
    page = ctx.new_page()
    frames: list[str] = []

    def on_socket(ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        )

    page.on("websocket", on_socket)
    page.goto(f"{base_url}/map/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.wait_for_selector("#conn[data-state='online']", timeout=10000)
    return ctx, page, frames


def phone(base_url: str, token: str) -> Any:
    client = socketio.Client(reconnection=False)
    client.connect(base_url, auth={"token": token}, transports=["websocket"])
    return client


def test_coordinator_reads_a_pushed_note_through_the_audited_endpoint(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The details dialog is open when the nurse writes a note: the note appears in it, the
    socket frames never carried its text, and the audit log has this coordinator's read."""
    server, world = live
    store, vid = world["store"], world["visit"]["id"]
    ctx, page, frames = map_page(browser, server.base_url, "coord")
    nurse = phone(server.base_url, world["token"])
    try:
        page.click(f"#visit-list button.vdet[data-details-id='{vid}']")
        page.wait_for_selector("#dd-dialog .dd-events, #dd-dialog .dd-body", timeout=10000)
        reads_before = [
            a for a in store.list_audit(target=f"visit:{vid}") if a["action"] == "visit.events.read"
        ]
        ack = nurse.call(
            "visit_event",
            {
                "visit_id": vid,
                "kind": "note",
                "note": NOTE,
                "client_id": "talon-1",
                "device_time_s": time.time(),
            },
            timeout=10,
        )
        assert ack["ok"], ack
        page.wait_for_function(
            "text => document.querySelector('#dd-dialog')?.textContent.includes(text)",
            arg=NOTE,
            timeout=10000,
        )
        assert any('"has_note":true' in f.replace(" ", "") for f in frames), "the push came"
        assert not any(NOTE in f for f in frames), "a socket frame carried the note"
        reads = [
            a for a in store.list_audit(target=f"visit:{vid}") if a["action"] == "visit.events.read"
        ]
        assert len(reads) == len(reads_before) + 1
        assert reads[0]["actor"].startswith("user:") and reads[0]["role"] == "coordinator"
        check_axe(page)
        shot(page, "hardening-note-pushed-dialog")
    finally:
        nurse.disconnect()
        ctx.close()


def test_admin_map_shows_teams_moving_and_no_patient(live, browser) -> None:  # type: ignore[no-untyped-def]
    """An admin's map: the team and its marker follow the phone; no visit, no round, and no
    frame with a pseudonym, an address or a note, even while the team records one."""
    server, world = live
    team_id, vid = world["team"]["id"], world["visit"]["id"]
    ctx, page, frames = map_page(browser, server.base_url, "admin")
    nurse = phone(server.base_url, world["token"])
    try:
        page.wait_for_function("window.dispatchMap.state.teams.size === 1", timeout=10000)
        assert page.locator("#visit-list li[data-visit-id]").count() == 0
        # Said as such (not "no visit today"), and none of the coordinators' visit tools.
        page.wait_for_function(
            "document.getElementById('visit-list').textContent.includes('réservées aux coordinateurs')",
            timeout=5000,
        )
        assert page.locator("#extensions .dispatch-panel").count() == 0
        fix = {
            "client_id": "adm-map-1",
            "lon": MELUN[0] + 0.001,
            "lat": MELUN[1],
            "device_time_s": time.time(),
            "accuracy_m": 5,
        }
        assert nurse.call("position", fix, timeout=10)["ok"]
        page.wait_for_function(f"window.dispatchMap.state.positions.has({team_id})", timeout=10000)
        ack = nurse.call(
            "visit_event",
            {"visit_id": vid, "kind": "note", "note": ADMIN_NOTE, "client_id": "adm-note"},
            timeout=10,
        )
        assert ack["ok"], ack
        time.sleep(1.0)  # the coordinators' batch has left; nothing of it for the admin
        received = "\n".join(frames)
        for secret in (ADMIN_NOTE, "MME-TALON", "rue des Tanneurs"):
            assert secret not in received, secret
        assert page.evaluate("window.dispatchMap.state.visits.size") == 0
        assert page.evaluate("window.dispatchMap.state.plans.size") == 0
        check_axe(page)
        shot(page, "hardening-admin-map")
    finally:
        nurse.disconnect()
        ctx.close()
