"""The three pages in French and in English (no string of the other language on screen), and
the coordinator's alerts: acknowledged in one map, seen acknowledged in another without a
reload; routine events in a journal folded by default; the map's small defects at 1024×768."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
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
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
PHONE = {"width": 360, "height": 780}
START = "09:00:00"
#: Team names and pseudonyms that are no word of either language.
TEAM_NAMES = ("Alpha", "Bravo Nord-Est Longue Tournée")
HOMES = ((2.6600, 48.5430), (2.6480, 48.5460), (2.6700, 48.5380), (2.6450, 48.5350))

#: Words that are English and not French (whole words, lower case; "position", "zoom",
#: "minutes", "directions" or "report" are French words too).
ENGLISH = re.compile(
    r"\b(the|and|of|to|with|from|for|this|that|is|are|not|no|yes|none|visit|visits|team|teams"
    r"|round|rounds|planned|arrival|window|windows|connected|connection|alert|alerts|unknown"
    r"|late|move|insert|show|hide|sign|map|background|trails|today|select|choose|day|days"
    r"|error|failed|acknowledge|acknowledged|waiting|loading|save|cancel|close|next|start|end"
    r"|done|missing|reset|contributors|coverage|scenario|scenarios|demand|run"
    r"|simulate|nothing|yet|shift|skills?|phone|everything|screen"
    r"|travel|time|hours?|ago|live|battery|speed|optimise|apply|out|north|bearing)\b"
)
#: Words that are French and not English.
FRENCH = re.compile(
    r"\b(le|la|les|des|du|une?|et|aucune?|équipes?|visites?|tournées?|prévues?|arrivée"
    r"|créneau|connecté|connexion|carte|alertes?|acquitt\w*|afficher|masquer|déconnecter"
    r"|traces|fond|ligne|il y a|jour|heure|à|avec|pour|sur|dans|pas|enregistr\w*"
    r"|choisissez|annuler|fermer|rapport|couverture|scénarios?|envoy\w*|attente|prochaine"
    r"|retard|manquée|retirée|gestion|identifiant|mot de passe|rien|batterie|inconnue"
    r"|écran|associer|itinéraire)\b|[éèêàçùâîôû]",
    re.IGNORECASE,
)
#: Proper nouns and the other language's name on the language button.
ALLOWED = ("Français", "English", "Dispatch", "OpenStreetMap", "MapLibre", "Melun", "GPS", "OSM")

VISIBLE_TEXT = """() => {
  const parts = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll("[title], [aria-label], [placeholder], [alt]")) {
    if (el.checkVisibility && !el.checkVisibility()) continue;
    for (const name of ["title", "aria-label", "placeholder", "alt"]) {
      const value = el.getAttribute(name);
      if (value) parts.push(value);
    }
  }
  return parts.join("\\n");
}"""


def other_language_words(text: str, locale: str, names: tuple[str, ...] = ()) -> list[str]:
    """The words of ``text`` that belong to the other language than ``locale``."""
    for name in sorted((*ALLOWED, *TEAM_NAMES, *names), key=len, reverse=True):
        text = text.replace(name, " ")
    pattern = FRENCH if locale == "en" else ENGLISH
    found = []
    for line in text.splitlines():
        for match in pattern.finditer(line if locale == "en" else line.lower()):
            found.append(f"{match.group(0)!r} in {line.strip()[:120]!r}")
    return found


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server at 09:00: two teams near each other with positions, a published round
    whose first visit is late and second at risk, two coordinators, a planner, a phone."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("i18n"), territory_cache, shared_dir),
        clock_start=f"{today}T{START}",
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    day = hub.today()
    shift = {"shift_start": "08:00", "shift_end": "18:00", "base_lon": MELUN[0]}
    alpha = store.add_team({"name": TEAM_NAMES[0], "base_lat": MELUN[1], **shift})
    bravo = store.add_team({"name": TEAM_NAMES[1], "base_lat": MELUN[1], **shift})
    for name in ("coord", "coord2"):
        store.add_user(name, role="coordinator", password=PASSWORD)
    store.add_user("planner", role="planner", password=PASSWORD)

    def visit(name: str, home: tuple[float, float], window: list[str], team: Any) -> Any:
        return store.add_visit(
            {
                "day": day,
                "pseudonym": name,
                "lon": home[0],
                "lat": home[1],
                "commune": "Melun",
                "duration_s": 1800,
                "windows": [window],
                "team_id": team["id"],
            }
        )

    late = visit("MME-XRAY", HOMES[0], ["08:00", "08:30"], alpha)
    risky = visit("M-YANKEE", HOMES[1], ["08:00", "09:40"], alpha)
    later = visit("MME-ZULU", HOMES[2], ["08:00", "17:00"], alpha)
    other = visit("M-KILO", HOMES[3], ["08:00", "17:00"], bravo)
    stops = [
        {"visit_id": v["id"], "arrival_s": s, "start_s": s, "end_s": s + 1800}
        for v, s in ((late, 9 * 3600 + 1200), (risky, 10 * 3600), (later, 11 * 3600))
    ]
    store.save_plan(
        day,
        [
            {"team_id": alpha["id"], "stops": stops},
            {
                "team_id": bravo["id"],
                "stops": [{"visit_id": other["id"], "arrival_s": 36000, "start_s": 36000}],
            },
        ],
        publish=True,
    )
    now = time.time()
    # Two teams 30 m apart: their markers' labels would cover each other.
    for team, lon in ((alpha, 2.6555), (bravo, 2.6559)):
        hub.ingest(
            team["id"],
            [{"client_id": f"p{team['id']}", "lon": lon, "lat": 48.54, "device_time_s": now}],
            device_id=None,
            source="test",
        )
    hub.alert("check_in", team_id=bravo["id"], visit_id=other["id"], key="journal:check_in")
    server = RealServer(app)
    hub.sweep(time.time())
    world = {"store": store, "hub": hub, "day": day, "alpha": alpha, "bravo": bravo}
    world.update(late=late, risky=risky)
    yield server, world
    server.stop()
    hub.stop()
    store.close()


def context(browser: Any, locale: str, viewport: dict[str, int], **extra: Any) -> Any:
    """A browser context whose pages start in ``locale`` (the pages keep it in localStorage)."""
    _, instance = browser
    ctx = instance.new_context(viewport=viewport, locale="fr-FR", **extra)
    ctx.add_init_script(f"localStorage.setItem('dispatch.locale', '{locale}')")
    return ctx


def open_map(browser: Any, base_url: str, locale: str, viewport: dict[str, int], user: str) -> Any:
    ctx = context(browser, locale, viewport)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}/map/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    # Open or already acknowledged (folded), the two alerts are on the page.
    page.wait_for_selector("li[data-kind='late']", state="attached", timeout=15000)
    page.wait_for_selector("li[data-kind='at_risk']", state="attached", timeout=15000)
    page.wait_for_selector(".team-marker", timeout=10000)
    page.wait_for_timeout(300)
    page.errors = errors
    return ctx, page


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_map_shows_only_the_page_language(live, browser, locale) -> None:  # type: ignore[no-untyped-def]
    """The coordinator map (panels, alerts, journal opened, map buttons) in one language."""
    server, _ = live
    ctx, page = open_map(browser, server.base_url, locale, WIDE, "coord")
    try:
        page.click("#journal summary")
        text = page.evaluate(VISIBLE_TEXT)
        assert page.evaluate("document.documentElement.lang") == locale
        words = other_language_words(text, locale, ("MME-XRAY", "M-YANKEE", "MME-ZULU", "M-KILO"))
        assert not words, "\n".join(words)
        shot(page, f"map-alerts-1400-{locale}.png")
        check_axe(page)
        assert not page.errors, page.errors
    finally:
        ctx.close()


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_phone_shows_only_the_page_language(live, browser, locale) -> None:  # type: ignore[no-untyped-def]
    """The paired phone's round in one language."""
    server, world = live
    p, _ = browser
    ctx = context(
        browser,
        locale,
        PHONE,
        geolocation={"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5},
        permissions=["geolocation"],
    )
    ctx.add_init_script(WAKE_LOCK_STUB)
    try:
        page = ctx.new_page()
        code = world["store"].create_pairing(world["alpha"]["id"])["code"]
        page.goto(f"{server.base_url}/phone/?code={code}")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
        page.wait_for_timeout(500)
        text = page.evaluate(VISIBLE_TEXT)
        words = other_language_words(text, locale, ("MME-XRAY", "M-YANKEE", "MME-ZULU"))
        assert not words, "\n".join(words)
    finally:
        ctx.close()


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_planner_shows_only_the_page_language(live, browser, locale) -> None:  # type: ignore[no-untyped-def]
    """The planner page after login, in one language (commune names are proper nouns)."""
    server, _ = live
    ctx = context(browser, locale, WIDE)
    try:
        page = ctx.new_page()
        page.goto(f"{server.base_url}/planner/")
        page.wait_for_selector("#login[open]", timeout=20000)
        page.fill("#login-form input[name=username]", "planner")
        page.fill("#login-form input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_function("window.planner && window.planner.state.analysis", timeout=90000)
        page.wait_for_timeout(500)
        # Communes and bases are named as the territory names them.
        communes = page.evaluate(
            "() => [...(window.planner.state.communes?.features || [])"
            ".map(f => f.properties.name || f.properties.nom),"
            " ...(window.planner.state.territory?.bases || []).map(b => b.name),"
            " ...(window.planner.state.working || []).map(b => b.name)].filter(Boolean)"
        )
        text = page.evaluate(VISIBLE_TEXT)
        words = other_language_words(text, locale, tuple(communes))
        assert not words, "\n".join(words)
    finally:
        ctx.close()


def test_acknowledged_in_one_map_shows_acknowledged_in_the_other(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Coordinator 1 acknowledges the late alert: it folds away in their list and in
    coordinator 2's, who sees who acknowledged it, without a reload."""
    server, world = live
    ctx1, one = open_map(browser, server.base_url, "fr", WIDE, "coord")
    ctx2, two = open_map(browser, server.base_url, "fr", WIDE, "coord2")
    try:
        two.evaluate("window.__sameDocument = true")
        late = f"#alert-list li[data-kind='late'][data-key='late:{world['late']['id']}']"
        button = one.locator(f"{late} button.ack")
        assert button.get_attribute("aria-label").startswith("Acquitter l'alerte : Alpha")
        button.focus()
        one.keyboard.press("Enter")
        one.wait_for_selector(late, state="detached", timeout=5000)
        two.wait_for_selector(late, state="detached", timeout=5000)
        assert two.is_visible("#alerts-acked") and not two.is_visible("#acked-list")
        two.click("#alerts-acked summary")
        acked = two.inner_text("#acked-list")
        assert "MME-XRAY" in acked and "acquittée par coord à" in acked
        assert two.evaluate("window.__sameDocument === true")
        # At risk stays open: only the acknowledged alert folded away; the keyboard is on it.
        assert one.locator("#alert-list li[data-kind='at_risk'] button.ack").count() == 1
        assert one.evaluate("document.activeElement.className") == "ack"
        shot(two, "map-alert-acknowledged-1400.png")
        # Once the visit at risk has started, its alert needs nothing more: it folds away.
        store, hub = world["store"], world["hub"]
        event = store.add_visit_event(
            world["risky"]["id"],
            {"kind": "check_in", "client_id": "i18n-check-in", "device_time_s": time.time()},
            actor="test",
            team_id=world["alpha"]["id"],
        )
        hub.on_visit_event({"event": event, "visit": store.get_visit(world["risky"]["id"])})
        risky = f"#acked-list li[data-kind='at_risk'][data-key='at_risk:{world['risky']['id']}']"
        two.wait_for_selector(risky, timeout=5000)
        assert "résolue" in two.inner_text(risky)
        assert two.inner_text("#alert-list").strip() == "Aucune alerte"
    finally:
        ctx1.close()
        ctx2.close()


def test_journal_is_folded_and_lists_routine_events(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Arrivals and visits started are not alerts: they are in the journal, closed at first."""
    server, _ = live
    ctx, page = open_map(browser, server.base_url, "en", WIDE, "coord")
    try:
        assert page.locator("#alert-list li[data-kind='check_in']").count() == 0
        assert not page.is_visible("#journal-list")
        assert re.fullmatch(r"Journal \(\d+\)", page.inner_text("#journal summary").strip())
        page.click("#journal summary")
        assert "visit started at M-KILO" in page.inner_text("#journal-list")
    finally:
        ctx.close()


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400", "1024"])
def test_team_names_and_marker_labels_fit(live, browser, viewport) -> None:  # type: ignore[no-untyped-def]
    """Team names take at most two lines in the list; the markers' visible labels never
    overlap (a covered one shows on focus); a team renamed shows without a reload."""
    server, world = live
    ctx, page = open_map(browser, server.base_url, "fr", viewport, "coord")
    try:
        heights = page.eval_on_selector_all(
            "#team-list li .name",
            "els => els.map(e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight || 20))",
        )
        assert heights and max(heights) < 2.5, heights
        page.evaluate("window.dispatchMap.map.jumpTo({center: [2.6557, 48.54], zoom: 13})")
        page.wait_for_timeout(500)
        boxes = page.eval_on_selector_all(
            ".team-marker:not(.label-hidden) .label",
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
        )
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
        assert page.locator(".team-marker.label-hidden").count() == 1
        shot(page, f"map-markers-{viewport['width']}.png")
        hidden = page.locator(".team-marker.label-hidden")
        hidden.focus()
        assert hidden.locator(".label").evaluate("e => getComputedStyle(e).opacity") == "1"
        # A renamed team (what the management page does) shows at once.
        renamed = world["store"].update_team(world["bravo"]["id"], {"name": "Charlie"})
        world["hub"].on_team(renamed)
        page.wait_for_function(
            "[...document.querySelectorAll('#team-list .name')].some(e => e.textContent === 'Charlie')",
            timeout=5000,
        )
        back = world["store"].update_team(world["bravo"]["id"], {"name": TEAM_NAMES[1]})
        world["hub"].on_team(back)
        shot(page, f"map-{viewport['width']}.png")
    finally:
        ctx.close()


def test_online_background_box_shows_the_osm_layer(live, browser) -> None:  # type: ignore[no-untyped-def]
    """With online tiles on, the box shows the OSM layer and hides the opaque own fills."""
    server, _ = live
    settings = server.app.extensions["dispatch.settings"]
    server.app.extensions["dispatch.settings"] = dataclasses.replace(settings, online_tiles=True)
    try:
        ctx, page = open_map(browser, server.base_url, "fr", WIDE, "coord")
        # No network in tests: the tiles are answered with nothing, the layer's state counts.
        page.route("https://tile.openstreetmap.org/**", lambda route: route.abort())
        assert page.is_visible("#osm-toggle")
        visibility = "id => window.dispatchMap.map.getLayoutProperty(id, 'visibility') || 'visible'"
        assert page.evaluate(visibility, "osm") == "none"
        page.check("#layer-osm")
        assert page.evaluate(visibility, "osm") == "visible"
        assert page.evaluate(visibility, "areas-fill") == "none"
        assert page.evaluate(visibility, "label-streets") == "none"
        page.uncheck("#layer-osm")
        assert page.evaluate(visibility, "osm") == "none"
        assert page.evaluate(visibility, "areas-fill") == "visible"
        ctx.close()
    finally:
        server.app.extensions["dispatch.settings"] = settings
