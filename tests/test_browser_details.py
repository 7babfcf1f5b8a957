"""Patient details where care needs them, on a real server: the coordinator opens a visit's
details from the map and from the day's list and sees who read them; the team's phone shows its
own patients' name, phone and door code for today, records a missed visit and a note (seen by the
coordinator without a reload), and after unpairing keeps nothing of them in any storage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, WAKE_LOCK_STUB, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
PHONE_VIEWPORT = {"width": 360, "height": 780}
#: What must never stay on the phone once unpaired (and never be written while paired).
ALPHA = {
    "name": "Alice Martinez",
    "phone": "06 12 34 56 78",
    "address_details": "Code porte 4521B, clés chez la voisine",
    "notes": "Insuline 10 UI avant le repas",
}
AVRIL = {"name": "Bernard Avrillon", "phone": "0698765432", "address_details": "Digicode 9090"}
BRAVO = {"name": "Claire Bravoure", "phone": "0611223344"}
SECRETS = (
    "Alice Martinez",
    "06 12 34 56 78",
    "0612345678",
    "4521B",
    "Insuline 10 UI",
    "Bernard Avrillon",
    "0698765432",
    "Digicode 9090",
    "rue des Lilas",
    "rue du Moulin",
)
DUMP_STORAGE = """async () => {
  const out = { indexeddb: {}, local: {}, session: {}, caches: {} };
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, ko) => { const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
    out.indexeddb[info.name] = {};
    for (const name of db.objectStoreNames) {
      out.indexeddb[info.name][name] = await new Promise((ok) => { const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(r.result); });
    }
    db.close();
  }
  for (let i = 0; i < localStorage.length; i++) out.local[localStorage.key(i)] = localStorage.getItem(localStorage.key(i));
  for (let i = 0; i < sessionStorage.length; i++) out.session[sessionStorage.key(i)] = sessionStorage.getItem(sessionStorage.key(i));
  for (const key of await caches.keys()) {
    const cache = await caches.open(key);
    out.caches[key] = {};
    for (const request of await cache.keys()) out.caches[key][request.url] = await (await cache.match(request)).text();
  }
  return out;
}"""


def _visit(
    store: Store,
    day: str,
    name: str,
    home: tuple[float, float],
    address: str,
    team_id: int,
    protected: dict[str, str],
) -> dict[str, Any]:
    return store.add_visit(
        {
            "day": day,
            "pseudonym": name,
            "lon": home[0],
            "lat": home[1],
            "address": address,
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
            "team_id": team_id,
            "protected": protected,
        }
    )


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("details"), territory_cache, shared_dir)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(settings, clock_start=f"{today}T08:30:00")
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    tomorrow = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    team_a = store.add_team({"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    team_b = store.add_team({"name": "Équipe B", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    store.add_user("coord", role="coordinator", password=PASSWORD)
    alpha = _visit(
        store, day, "MME-ALPHA", (2.6600, 48.5430), "12 rue des Lilas", team_a["id"], ALPHA
    )
    avril = _visit(store, day, "M-AVRIL", (2.6480, 48.5460), "4 rue du Moulin", team_a["id"], AVRIL)
    bravo = _visit(
        store, day, "M-BRAVO", (2.6450, 48.5350), "1 place Saint-Jean", team_b["id"], BRAVO
    )
    later = _visit(
        store,
        tomorrow,
        "MME-DEMAIN",
        (2.6500, 48.5400),
        "9 rue Neuve",
        team_a["id"],
        {"name": "Denise Demain"},
    )
    store.save_plan(
        day,
        [
            {
                "team_id": team_a["id"],
                "stops": [
                    {
                        "visit_id": alpha["id"],
                        "arrival_s": 9 * 3600,
                        "start_s": 9 * 3600,
                        "end_s": 9 * 3600 + 1800,
                    },
                    {
                        "visit_id": avril["id"],
                        "arrival_s": 10 * 3600,
                        "start_s": 10 * 3600,
                        "end_s": 10 * 3600 + 1800,
                    },
                ],
            },
            {
                "team_id": team_b["id"],
                "stops": [
                    {
                        "visit_id": bravo["id"],
                        "arrival_s": 9 * 3600,
                        "start_s": 9 * 3600,
                        "end_s": 9 * 3600 + 1800,
                    },
                ],
            },
        ],
        publish=True,
    )
    server = RealServer(app)
    yield (
        server,
        {
            "store": store,
            "team_a": team_a,
            "alpha": alpha,
            "avril": avril,
            "bravo": bravo,
            "later": later,
        },
    )
    server.stop()
    store.close()


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def coordinator_page(browser: Any, base_url: str, viewport: dict[str, int]) -> Any:
    _, instance = browser
    ctx = instance.new_context(viewport=viewport, locale="fr-FR")
    page = ctx.new_page()
    page.goto(f"{base_url}/map/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.wait_for_selector("#visit-list button.vdet", timeout=10000)
    page.evaluate("window.__sameDocument = true")
    return ctx, page


def click_visit_on_map(page: Any, lonlat: tuple[float, float]) -> None:
    page.wait_for_function(
        "window.dispatchMap.map.loaded() && !!window.dispatchMap.map.getLayer('visits')"
    )
    point = page.evaluate(
        "ll => { const p = window.dispatchMap.map.project(ll); return [p.x, p.y]; }", list(lonlat)
    )
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])


def phone_context(browser: Any) -> Any:
    p, instance = browser
    ctx = instance.new_context(
        **{**p.devices["Pixel 7"], "viewport": PHONE_VIEWPORT},
        geolocation={"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5},
        permissions=["geolocation"],
        locale="fr-FR",
    )
    ctx.add_init_script(WAKE_LOCK_STUB)
    return ctx


def test_coordinator_opens_details_from_list_and_map(live, browser) -> None:  # type: ignore[no-untyped-def]
    """From the list and from the map's popup: name, address, tel: link, door code, care notes;
    each opening is an audited read that "Qui a consulté ?" lists with the screen it came from."""
    server, world = live
    ctx, page = coordinator_page(browser, server.base_url, {"width": 1400, "height": 900})
    try:
        alpha = world["alpha"]["id"]
        page.click(f"#visit-list button.vdet[data-details-id='{alpha}']")
        dialog = page.locator("#dd-dialog")
        dialog.locator("dd a[href^='tel:']").wait_for(timeout=10000)
        text = dialog.inner_text()
        for part in (
            "Détails — MME-ALPHA",
            "Alice Martinez",
            "12 rue des Lilas",
            "Code porte 4521B",
            "Insuline 10 UI",
            "Équipe A",
        ):
            assert part in text, (part, text)
        assert dialog.locator("a[href^='tel:']").get_attribute("href") == "tel:0612345678"
        assert page.evaluate("document.activeElement.classList.contains('dd-close')")
        check_axe(page)
        shot(page, "details-coordinator-list")
        # The list is redrawn while the dialog is open (as a live push does): the button that
        # opened it is replaced by a new one for the same visit.
        page.evaluate(
            "() => { const l = document.getElementById('visit-list'); l.innerHTML = l.innerHTML; }"
        )
        page.keyboard.press("Escape")
        assert not page.evaluate("document.getElementById('dd-dialog').open")
        # Focus goes back to the list's button for that visit (the dialog's close event, which
        # puts it there, comes in a task after the closing).
        focused = (
            "id => document.activeElement"
            ".matches(`#visit-list button.vdet[data-details-id='${id}']`)"
        )
        page.wait_for_function(focused, arg=alpha, timeout=5000)
        # ... and stays there when the list is redrawn again.
        page.evaluate(
            "() => { const l = document.getElementById('visit-list'); l.innerHTML = l.innerHTML; }"
        )
        page.wait_for_function(focused, arg=alpha, timeout=5000)
        # From the map: the popup of the visit has a "Détails" button.
        click_visit_on_map(page, (2.6600, 48.5430))
        page.click(".visit-popup .dd-popup-open", timeout=5000)
        dialog.locator("dd a[href^='tel:']").wait_for(timeout=10000)
        page.click("#dd-dialog .dd-who")
        rows = dialog.locator(".dd-audit tbody tr")
        rows.first.wait_for(timeout=5000)
        audit = dialog.locator(".dd-audit").inner_text()
        assert audit.count("a lu les coordonnées") == 2, audit
        assert "carte" in audit and "liste des visites" in audit and "coord" in audit
        check_axe(page)
        shot(page, "details-coordinator-audit")
        # English (the dialog is modal: closed, the language switched, opened again).
        page.keyboard.press("Escape")
        set_locale(page, "en")
        page.click(f"#visit-list button.vdet[data-details-id='{alpha}']")
        dialog.locator("dd a[href^='tel:']").wait_for(timeout=10000)
        page.click("#dd-dialog .dd-who")
        dialog.locator(".dd-audit tbody tr").first.wait_for(timeout=5000)
        english = dialog.inner_text()
        assert "Who read it?" in english and "read the details" in english, english
        for french in (
            "Détails",
            "Téléphone",
            "Qui a consulté",
            "a lu les",
            "Notes de soin",
            "carte",
        ):
            assert french not in english, (french, english)
        check_axe(page)
        page.set_viewport_size({"width": 1024, "height": 768})
        shot(page, "details-coordinator-en-1024")
        page.keyboard.press("Escape")
        set_locale(page, "fr")
        page.locator("#visit-list").scroll_into_view_if_needed()
        shot(page, "details-coordinator-list-1024")
        # The server audited both reads with the screen used.
        lines = [
            e
            for e in world["store"].list_audit(target=f"visit:{alpha}")
            if e["action"] == "visit.details.read"
        ]
        assert sorted(e["detail"]["from"] for e in lines) == ["list", "list", "map"]
        assert page.evaluate("window.__sameDocument === true")
    finally:
        ctx.close()


def test_phone_details_missed_note_and_unpair(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The team's phone shows its patients' name, phone and door code for today; records a
    missed visit and a note that the coordinator sees without a reload; another team's or
    another day's details are refused; unpairing asks first, warns of unsent items offline, and
    leaves no patient data in IndexedDB, localStorage, sessionStorage or CacheStorage."""
    server, world = live
    store = world["store"]
    alpha, avril = world["alpha"]["id"], world["avril"]["id"]
    coord_ctx, coord = coordinator_page(browser, server.base_url, {"width": 1400, "height": 900})
    ctx = phone_context(browser)
    try:
        # The coordinator watches MME-ALPHA's details while the nurse works.
        coord.click(f"#visit-list button.vdet[data-details-id='{alpha}']")
        coord.locator("#dd-dialog dd a[href^='tel:']").wait_for(timeout=10000)

        page = ctx.new_page()
        code = store.create_pairing(world["team_a"]["id"])["code"]
        page.goto(f"{server.base_url}/phone/?code={code}")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.wait_for_selector("#conn[data-state='online']", timeout=10000)
        page.wait_for_selector("#next-body .patient .name", timeout=10000)
        assert page.inner_text("#next-body .who") == "MME-ALPHA"
        next_text = page.inner_text("#next-body")
        assert "Alice Martinez" in next_text and "Code porte 4521B" in next_text
        assert page.get_attribute("#next-body a[href^='tel:']", "href") == "tel:0612345678"
        # Another visit's details, on demand from the round.
        page.click(f"#round button[data-act='details'][data-id='{avril}']")
        page.wait_for_selector(f"#patient-{avril} .name", timeout=10000)
        assert "Bernard Avrillon" in page.inner_text(f"#patient-{avril}")
        assert (
            page.get_attribute(
                f"#round button[data-act='details'][data-id='{avril}']", "aria-expanded"
            )
            == "true"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        check_axe(page)
        shot(page, "details-phone-next", full_page=True)
        # Nothing of it was written anywhere while paired.
        dumped = json.dumps(page.evaluate(DUMP_STORAGE), ensure_ascii=False)
        for secret in SECRETS:
            assert secret not in dumped, secret
        # Another team's visit and another day's: 403, each refusal audited.
        token = page.evaluate("localStorage.getItem('dispatch.deviceToken')")
        for other in (world["bravo"]["id"], world["later"]["id"]):
            status = page.evaluate(
                "async ([id, token]) => (await fetch(`/api/visits/${id}/details`, {headers: {Authorization: `Bearer ${token}`}})).status",
                [other, token],
            )
            assert status == 403
            assert store.list_audit(target=f"visit:{other}")[0]["action"] == "visit.details.denied"
        phone_reads = [
            e for e in store.list_audit(target=f"visit:{alpha}") if e["actor"].startswith("device:")
        ]
        assert phone_reads and phone_reads[0]["detail"]["from"] == "phone"

        # Missed visit with a reason on MME-ALPHA.
        page.click(f"#round button[data-act='missed'][data-id='{alpha}']")
        page.wait_for_selector("#event-dialog[open]")
        assert page.inner_text("#event-title") == "Visite manquée"
        page.click("#event-send")  # no reason chosen: the form says so
        page.check("#reason-set input[value='absent']")
        page.fill("#event-note", "Volets fermés, pas de réponse")
        check_axe(page)
        shot(page, "details-phone-missed")
        page.click("#event-send")
        page.wait_for_selector("#event-dialog", state="hidden")
        page.wait_for_selector(f"#round li.missed[data-visit-id='{alpha}']")
        # The notice comes once the event is recorded, which can be after the round is redrawn.
        page.wait_for_selector("#phone-notice:has-text('Visite manquée enregistrée')", timeout=5000)
        assert "Visite manquée enregistrée" in page.inner_text("#phone-notice")
        # A note on M-AVRIL.
        page.click(f"#round button[data-act='note'][data-id='{avril}']")
        page.fill("#event-note", "Pansement refait, cicatrisation correcte")
        page.click("#event-send")
        page.wait_for_selector("#outbox[data-count='0']", timeout=10000)

        # The coordinator sees the missed visit in the open dialog, without a reload.
        coord.wait_for_function(
            "document.querySelector('#dd-dialog .dd-events')?.textContent.includes('Visite manquée : patient absent')",
            timeout=10000,
        )
        assert "Volets fermés" in coord.inner_text("#dd-dialog .dd-events")
        coord.keyboard.press("Escape")
        coord.click(f"#visit-list button.vdet[data-details-id='{avril}']")
        coord.wait_for_function(
            "document.querySelector('#dd-dialog .dd-events')?.textContent.includes('Pansement refait')",
            timeout=10000,
        )
        shot(coord, "details-coordinator-events")
        assert coord.evaluate("window.__sameDocument === true")
        events = {e["kind"]: e for e in store.list_visit_events(alpha)}
        assert events["missed"]["reason"] == "absent"
        assert [e["note"] for e in store.list_visit_events(avril) if e["kind"] == "note"] == [
            "Pansement refait, cicatrisation correcte"
        ]

        # English: the phone's new texts, and the connection status stays true.
        set_locale(page, "en")
        assert page.inner_text("#conn") == "Connected"
        assert page.inner_text(f"#round button[data-act='note'][data-id='{avril}']") == "Add a note"
        assert (
            page.inner_text(f"#round button[data-act='details'][data-id='{avril}']")
            == "Contact details"
        )
        page.click(f"#round button[data-act='note'][data-id='{avril}']")
        assert page.inner_text("#event-title") == "Add a note"
        page.click("#event-cancel")
        shown = page.inner_text("body")
        for french in (
            "Coordonnées",
            "Visite manquée",
            "Ajouter une note",
            "enregistrée",
            "Accès :",
            "Manquée",
            "Dissocier",
        ):
            assert french not in shown, (french, shown)
        assert "Missed: Patient away — Volets fermés" in shown and "Access: Digicode 9090" in shown
        check_axe(page)
        shot(page, "details-phone-en", full_page=True)
        set_locale(page, "fr")

        # Unpairing offline: the unsent note is announced before anything is dropped.
        ctx.set_offline(True)
        page.wait_for_selector("#conn[data-state='offline']")
        page.click(f"#round button[data-act='note'][data-id='{avril}']")
        page.fill("#event-note", "Hors réseau")
        page.click("#event-send")
        page.wait_for_selector("#outbox[data-count='1']")
        assert page.inner_text("#outbox") == "1 envoi en attente (visite, note ou position)"
        page.click("#unpair")
        page.wait_for_selector("#unpair-dialog[open]")
        warning = page.inner_text("#unpair-text")
        assert "Hors ligne : 1 envoi en attente serait perdu" in warning, warning
        assert page.inner_text("#unpair-ok") == "Dissocier quand même"
        check_axe(page)
        shot(page, "details-phone-unpair-offline")
        page.click("#unpair-cancel")
        assert page.evaluate("!!localStorage.getItem('dispatch.deviceToken')")
        # The phone believes it is back online but nothing gets through: the confirmation tries
        # to send first, then says what would be lost and asks again.
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.click("#unpair")
        page.wait_for_selector("#unpair-dialog[open]")
        assert (
            "1 envoi en attente (position, visite ou note) : il sera envoyé d'abord"
            in page.inner_text("#unpair-text")
        )
        page.click("#unpair-ok")
        page.wait_for_function(
            "document.getElementById('unpair-text').textContent.includes(\"n'a pas pu partir\")",
            timeout=20000,
        )
        assert page.inner_text("#unpair-ok") == "Dissocier quand même"
        page.click("#unpair-cancel")
        assert page.evaluate("!!localStorage.getItem('dispatch.deviceToken')")
        ctx.set_offline(False)
        page.wait_for_selector("#outbox[data-count='0']", timeout=20000)
        assert "Hors réseau" in [e["note"] for e in store.list_visit_events(avril)]
        # Online, nothing waiting: one confirmation, then the pairing screen.
        page.click("#unpair")
        page.wait_for_selector("#unpair-dialog[open]")
        assert "seront effacées" in page.inner_text("#unpair-text")
        page.click("#unpair-ok")
        page.wait_for_selector("#pairing:not([hidden])", timeout=10000)
        dumped = page.evaluate(DUMP_STORAGE)
        text = json.dumps(dumped, ensure_ascii=False)
        for secret in (*SECRETS, "MME-ALPHA", "Volets fermés", "Pansement"):
            assert secret not in text, (secret, text[:2000])
        assert "dispatch.deviceToken" not in dumped["local"]
        assert not any(dumped["indexeddb"].get("dispatch-phone", {}).values())
    finally:
        ctx.close()
        coord_ctx.close()


def test_team_member_with_a_password_logs_out(live, browser) -> None:  # type: ignore[no-untyped-def]
    """A team member logged in with a password (no pairing) sees the same details on the phone
    page; its button says "Se déconnecter", asks first, ends the session and keeps nothing."""
    server, world = live
    store = world["store"]
    store.add_user(
        "infirmiere", role="team_member", team_id=world["team_a"]["id"], password=PASSWORD
    )
    ctx = phone_context(browser)
    try:
        page = ctx.new_page()
        login = page.request.post(
            f"{server.base_url}/api/session", data={"username": "infirmiere", "password": PASSWORD}
        )
        assert login.ok, login.text()
        page.goto(f"{server.base_url}/phone/")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.wait_for_selector("#next-body .patient .name", timeout=10000)
        assert page.inner_text("#unpair") == "Se déconnecter"
        page.click("#unpair")
        page.wait_for_selector("#unpair-dialog[open]")
        assert page.inner_text("#unpair-title") == "Se déconnecter ?"
        check_axe(page)
        page.click("#unpair-ok")
        page.wait_for_selector("#pairing:not([hidden])", timeout=10000)
        assert page.request.get(f"{server.base_url}/api/live/config").status == 401
        text = json.dumps(page.evaluate(DUMP_STORAGE), ensure_ascii=False)
        for secret in SECRETS:
            assert secret not in text, secret
    finally:
        ctx.close()


# A second server made in this module rebinds the global Socket.IO object: its tests come
# after every test of the module-wide server.
@pytest.fixture(scope="module")
def midnight(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A server whose day ends 20 seconds after it starts, one team with today's visit."""
    settings = module_settings(tmp_path_factory.mktemp("midnight"), territory_cache, shared_dir)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(settings, clock_start=f"{today}T23:59:40")
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    team = store.add_team({"name": "Équipe N", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    _visit(
        store,
        day,
        "MME-NUIT",
        (2.6600, 48.5430),
        "12 rue des Lilas",
        team["id"],
        {"name": "Nadia Nocturne", "phone": "0600000001", "address_details": "Code 7777"},
    )
    server = RealServer(app)
    yield server, store, team
    server.stop()
    store.close()


def test_phone_drops_details_when_the_day_ends(midnight, browser) -> None:  # type: ignore[no-untyped-def]
    """At the end of the service's day the phone forgets its patients: the name, phone and door
    code leave the page, and the round of the new day (empty here) is loaded."""
    server, store, team = midnight
    ctx = phone_context(browser)
    try:
        page = ctx.new_page()
        code = store.create_pairing(team["id"])["code"]
        page.goto(f"{server.base_url}/phone/?code={code}")
        page.wait_for_selector("#next-body .patient .name", timeout=15000)
        assert "Nadia Nocturne" in page.inner_text("#next-body")
        page.wait_for_function(
            "!document.body.innerText.includes('Nadia Nocturne') && !document.body.innerText.includes('Code 7777')",
            timeout=45000,
        )
        page.wait_for_function("!document.querySelector('#round li[data-visit-id]')", timeout=10000)
        dumped = json.dumps(page.evaluate(DUMP_STORAGE), ensure_ascii=False)
        assert "Nadia" not in dumped and "0600000001" not in dumped
    finally:
        ctx.close()
