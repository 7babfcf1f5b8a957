"""Position ingest seen from the screens, on a real server (issue 21, items 5 and 9).

The coordinator sees that an arrival was detected automatically from Traccar Client and undoes
it from the visit's details (French and English, axe); the team's phone drops a fix the server
refuses for good and says so, while a fix that met a network error stays in its outbox and is
sent again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from axe_support import check_axe
from live_support import MELUN, PASSWORD, WAKE_LOCK_STUB, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
PHONE_VIEWPORT = {"width": 360, "height": 780}
ALPHA_HOME = (2.6600, 48.5430)
AVRIL_HOME = (2.6480, 48.5460)
BRAVO_HOME = (2.6450, 48.5350)
#: A fix dated 9 September 2001: older than position_max_age_s (7 days).
YEAR_2001 = 1_000_000_000


def _visit(store: Store, day: str, name: str, home: tuple[float, float], team_id: int) -> Any:
    return store.add_visit(
        {
            "day": day,
            "pseudonym": name,
            "lon": home[0],
            "lat": home[1],
            "address": f"3 rue de {name.title()}",
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
            "team_id": team_id,
            "protected": {"name": f"Patient {name.title()}"},
        }
    )


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("ingest"), territory_cache, shared_dir)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(settings, clock_start=f"{today}T08:30:00")
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    team_a = store.add_team({"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    team_b = store.add_team({"name": "Équipe B", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    store.add_user("coord", role="coordinator", password=PASSWORD)
    alpha = _visit(store, day, "MME-ALPHA", ALPHA_HOME, team_a["id"])
    avril = _visit(store, day, "M-AVRIL", AVRIL_HOME, team_a["id"])
    bravo = _visit(store, day, "M-BRAVO", BRAVO_HOME, team_b["id"])
    store.save_plan(
        day,
        [
            {
                "team_id": team_a["id"],
                "stops": [
                    {"visit_id": alpha["id"], "arrival_s": 9 * 3600},
                    {"visit_id": avril["id"], "arrival_s": 10 * 3600},
                ],
            },
            {"team_id": team_b["id"], "stops": [{"visit_id": bravo["id"], "arrival_s": 9 * 3600}]},
        ],
        publish=True,
    )
    device = store.pair_device(store.create_pairing(team_a["id"])["code"])["device"]
    server = RealServer(app)
    yield (
        server,
        {
            "store": store,
            "team_b": team_b,
            "alpha": alpha,
            "avril": avril,
            "traccar_id": store.get_device(device["id"])["traccar_id"],
        },
    )
    server.stop()
    store.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def traccar_arrives(server: Any, world: dict[str, Any], visit: dict[str, Any], t: float) -> None:
    """Traccar Client reports a fix at the visit's door: the geofence records the arrival."""
    reply = requests.get(
        f"{server.base_url}/osmand",
        params={
            "id": world["traccar_id"],
            "lat": visit["lat"],
            "lon": visit["lon"],
            "accuracy": 5,
            "timestamp": int(t),
        },
        timeout=10,
    )
    assert reply.status_code == 200 and reply.json()["stored"] == 1, reply.text
    deadline = time.time() + 5
    while world["store"].get_visit(visit["id"])["status"] != "arrived":
        assert time.time() < deadline, "the geofence recorded no arrival"
        time.sleep(0.05)


def coordinator_page(browser: Any, base_url: str) -> Any:
    _, instance = browser
    ctx = instance.new_context(viewport={"width": 1280, "height": 860}, locale="fr-FR")
    page = ctx.new_page()
    page.goto(f"{base_url}/map/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.wait_for_selector("#visit-list button.vdet", timeout=10000)
    return ctx, page


def test_coordinator_undoes_an_arrival_detected_by_traccar(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The visit's record says «Arrivée détectée automatiquement (Traccar)» with «Annuler
    l'arrivée»; the undo puts the visit back (server side too), is audited and listed in «Qui a
    consulté ?»; the same in English on another visit."""
    server, world = live
    store = world["store"]
    alpha, avril = world["alpha"]["id"], world["avril"]["id"]
    now = time.time()
    traccar_arrives(server, world, world["alpha"], now - 600)
    ctx, page = coordinator_page(browser, server.base_url)
    try:
        dialog = page.locator("#dd-dialog")
        page.click(f"#visit-list button.vdet[data-details-id='{alpha}']")
        line = dialog.locator("li.arrival.auto")
        line.wait_for(timeout=10000)
        undo = dialog.locator("button.dd-undo")
        undo.wait_for(timeout=5000)
        assert "Arrivée détectée automatiquement (Traccar)" in line.inner_text()
        assert undo.inner_text() == "Annuler l'arrivée"
        assert "Annuler l'arrivée détectée automatiquement à" in (
            undo.get_attribute("aria-label") or ""
        )
        check_axe(page)
        shot(page, "ingest-arrival-traccar-fr")
        undo.focus()
        page.keyboard.press("Enter")
        dialog.locator("li.auto-undone").wait_for(timeout=5000)
        status = dialog.locator("#dd-undo-status")
        assert "Arrivée annulée" in status.inner_text()
        assert dialog.locator("button.dd-undo").count() == 0
        assert "annulée par un coordinateur" in dialog.locator("li.auto-undone").inner_text()
        # The keyboard stays in the dialog (the button left with the arrival).
        assert page.evaluate(
            "document.getElementById('dd-dialog').contains(document.activeElement)"
        )
        assert store.get_visit(alpha)["status"] == "assigned"
        page.click("#dd-dialog .dd-who")
        dialog.locator(".dd-audit tr[data-action='visit.arrival.undone']").wait_for(timeout=5000)
        assert "a annulé l'arrivée automatique" in dialog.locator(".dd-audit").inner_text()
        check_axe(page)
        shot(page, "ingest-arrival-undone-fr")
        page.keyboard.press("Escape")
        # English, on the second visit of the round.
        traccar_arrives(server, world, world["avril"], now)
        set_locale(page, "en")
        page.click(f"#visit-list button.vdet[data-details-id='{avril}']")
        dialog.locator("button.dd-undo").wait_for(timeout=10000)
        text = dialog.inner_text()
        assert "Arrival detected automatically (Traccar)" in text and "Undo the arrival" in text
        for french in ("Arrivée", "Annuler", "automatiquement"):
            assert french not in text, (french, text)
        check_axe(page)
        shot(page, "ingest-arrival-traccar-en")
        # A refusal (the team checked in meanwhile) is said in the page's language.
        conflict = {
            "ok": False,
            "status": 409,
            "code": "conflict",
            "error": f"visit {avril}: the team has checked in since the automatic arrival",
        }
        page.route(
            "**/arrival/undo",
            lambda route: route.fulfill(
                status=409, content_type="application/json", body=json.dumps(conflict)
            ),
        )
        dialog.locator("button.dd-undo").click()
        page.wait_for_function(
            "document.getElementById('dd-undo-status').textContent.includes('nothing to undo')"
        )
        assert dialog.locator("#dd-undo-status").get_attribute("class") == "dd-error"
        check_axe(page)
        page.unroute("**/arrival/undo")
        dialog.locator("button.dd-undo").click()
        dialog.locator("li.auto-undone").wait_for(timeout=5000)
        assert "Arrival undone" in dialog.locator("#dd-undo-status").inner_text()
        assert "undone by a coordinator" in dialog.locator("li.auto-undone").inner_text()
        check_axe(page)
        assert store.get_visit(avril)["status"] == "assigned"
        lines = [
            a
            for a in store.list_audit(target=f"visit:{avril}")
            if a["action"] == "visit.arrival.undone"
        ]
        assert len(lines) == 1 and lines[0]["detail"]["source"] == "traccar"
    finally:
        ctx.close()


OUTBOX_ADD = """async (item) => {
  const db = await new Promise((ok, ko) => { const r = indexedDB.open('dispatch-phone', 1); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
  await new Promise((ok, ko) => { const t = db.transaction('outbox', 'readwrite'); t.objectStore('outbox').add(item); t.oncomplete = ok; t.onerror = () => ko(t.error); });
  db.close();
}"""


def _stored_ids(store: Store, team_id: int) -> set[str]:
    return {p["client_id"] for p in store.list_positions(team_id=team_id, limit=1000)}


def test_phone_drops_a_refused_fix_and_says_so(live, browser) -> None:  # type: ignore[no-untyped-def]
    """A 2001 fix in the outbox is refused by the server: dropped (not sent again) with a
    visible note; a fix sent while the network is down stays and is sent once it is back."""
    server, world = live
    store, team_b = world["store"], world["team_b"]["id"]
    p, instance = browser
    ctx = instance.new_context(
        **{**p.devices["Pixel 7"], "viewport": PHONE_VIEWPORT},
        geolocation={"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5},
        permissions=["geolocation"],
        locale="fr-FR",
    )
    ctx.add_init_script(WAKE_LOCK_STUB)
    try:
        page = ctx.new_page()
        code = store.create_pairing(team_b)["code"]
        page.goto(f"{server.base_url}/phone/?code={code}")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.wait_for_selector("#conn[data-state='online']", timeout=10000)
        page.wait_for_selector("#outbox[data-count='0']", timeout=10000)
        now = time.time()
        old = {
            "client_id": "phone-2001",
            "lon": MELUN[0],
            "lat": MELUN[1],
            "device_time_s": YEAR_2001,
            "accuracy_m": 5,
        }
        page.evaluate(OUTBOX_ADD, {"kind": "position", "body": old})
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.wait_for_selector("#outbox-refused[data-positions='1']", timeout=10000)
        page.wait_for_selector("#outbox[data-count='0']", timeout=10000)
        note = page.locator("#outbox-refused").inner_text()
        assert note == "1 position refusée par le serveur (supprimée)"
        notice = page.locator("#phone-notice").inner_text()
        assert "ne sera pas renvoyée" in notice and "date et l'heure du téléphone" in notice
        assert "phone-2001" not in _stored_ids(store, team_b)
        check_axe(page)
        shot(page, "ingest-phone-refused-fr")
        # In a batch with a good fix: the good one is stored, the old one dropped and counted.
        batch = [
            {
                "client_id": "phone-ok",
                "lon": MELUN[0],
                "lat": MELUN[1],
                "device_time_s": now - 30,
                "accuracy_m": 5,
            },
            {**old, "client_id": "phone-2001-b"},
        ]
        for fix in batch:
            page.evaluate(OUTBOX_ADD, {"kind": "position", "body": fix})
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.wait_for_selector("#outbox-refused[data-positions='2']", timeout=10000)
        page.wait_for_selector("#outbox[data-count='0']", timeout=10000)
        stored = _stored_ids(store, team_b)
        assert "phone-ok" in stored and "phone-2001-b" not in stored
        # A network error is not a refusal: the fix stays in the outbox and is sent later.
        ctx.set_offline(True)
        page.wait_for_selector("#conn:not([data-state='online'])", timeout=15000)
        late = {
            "client_id": "phone-offline",
            "lon": MELUN[0],
            "lat": MELUN[1],
            "device_time_s": time.time(),
            "accuracy_m": 5,
        }
        page.evaluate(OUTBOX_ADD, {"kind": "position", "body": late})
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.wait_for_timeout(1500)
        assert page.get_attribute("#outbox-refused", "data-positions") == "2"
        assert "phone-offline" not in _stored_ids(store, team_b)
        ctx.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        deadline = time.time() + 20
        while "phone-offline" not in _stored_ids(store, team_b):
            assert time.time() < deadline, "the fix kept offline was not sent again"
            page.wait_for_timeout(200)
        page.wait_for_selector("#outbox[data-count='0']", timeout=10000)
        assert page.get_attribute("#outbox-refused", "data-positions") == "2"
        set_locale(page, "en")
        page.wait_for_function(
            "document.getElementById('outbox-refused').textContent.includes('refused')"
        )
        english = page.locator("#outbox-refused").inner_text()
        assert "2 positions refused by the server" in english and "refusée" not in english
        check_axe(page)
        shot(page, "ingest-phone-refused-en")
    finally:
        ctx.close()
