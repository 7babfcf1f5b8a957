"""A two-person visit on the phones of its two staff (issue 23): each phone shows it in its
round, « à deux, avec <l'autre>, début à 09:30 » (the start both keep), with the patient's
details for both; a third team's phone does not show it. FR and EN, WCAG AA."""

from __future__ import annotations

import dataclasses
import datetime as dt
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
#: The two-person visit starts at 09:30 for both staff.
DUO_S = 9 * 3600 + 30 * 60


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("sync-phones"), territory_cache, shared_dir)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(settings, clock_start=f"{today}T08:30:00")
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    store.add_user("coord", role="coordinator", password=PASSWORD)
    teams = [
        store.add_team({"name": name, "base_lon": MELUN[0], "base_lat": MELUN[1], "color": color})
        for name, color in (("Aline", "#d62728"), ("Bruno", "#1f77b4"), ("Chloé", "#2ca02c"))
    ]

    def visit(name: str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
        return store.add_visit(
            {
                "day": day,
                "pseudonym": name,
                "lon": lon,
                "lat": lat,
                "address": f"3 rue de {name.title()}",
                "commune": "Melun",
                "duration_s": 1800,
                "windows": [["08:00", "18:00"]],
                **extra,
            }
        )

    duo = visit("M-LEVAGE", 2.6600, 48.5430, protected={"name": "Marcel Levage"})
    store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    solo_a = visit("MME-ALPHA", 2.6480, 48.5460)
    solo_b = visit("M-BRAVO", 2.6450, 48.5350)
    solo_c = visit("MME-CHARLIE", 2.6350, 48.5300)

    def stop(v: dict[str, Any], start_s: int) -> dict[str, Any]:
        return {
            "visit_id": v["id"],
            "arrival_s": start_s,
            "start_s": start_s,
            "end_s": start_s + 1800,
        }

    store.save_plan(
        day,
        [
            {"team_id": teams[0]["id"], "stops": [stop(duo, DUO_S), stop(solo_a, DUO_S + 3600)]},
            {"team_id": teams[1]["id"], "stops": [stop(duo, DUO_S), stop(solo_b, DUO_S + 3000)]},
            {"team_id": teams[2]["id"], "stops": [stop(solo_c, DUO_S)]},
        ],
        publish=True,
    )
    server = RealServer(app)
    yield server, {"store": store, "teams": teams, "duo": duo}
    server.stop()
    store.close()


def _phone(browser: Any, server: RealServer, store: Store, team_id: int) -> tuple[Any, Any]:
    p, instance = browser
    ctx = instance.new_context(
        **{**p.devices["Pixel 7"], "viewport": PHONE_VIEWPORT},
        geolocation={"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5},
        permissions=["geolocation"],
        locale="fr-FR",
    )
    ctx.add_init_script(WAKE_LOCK_STUB)
    page = ctx.new_page()
    code = store.create_pairing(team_id)["code"]
    page.goto(f"{server.base_url}/phone/?code={code}")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
    return ctx, page


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def test_both_staff_see_the_two_person_visit_at_the_same_time(live, browser) -> None:  # type: ignore[no-untyped-def]
    server, world = live
    store, teams, duo = world["store"], world["teams"], world["duo"]
    phones = [_phone(browser, server, store, t["id"]) for t in teams]
    try:
        pages = [page for _ctx, page in phones]
        row = f"#round li[data-visit-id='{duo['id']}']"
        for page, partner in ((pages[0], "Bruno"), (pages[1], "Aline")):
            text = page.inner_text(row)
            assert f"à deux, avec {partner}, début à 09:30" in text, text
            # The next visit's card: the same time, the partner, and the patient's details.
            page.wait_for_selector("#next-body .patient .name", timeout=10000)
            card = page.inner_text("#next-body")
            assert "M-LEVAGE" in card and "Marcel Levage" in card, card
            assert f"à deux, avec {partner}, début à 09:30" in card, card
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
            check_axe(page)
        # « Mes prochains jours » says it too (with whom, not when: the window is shown).
        mine = pages[0].locator("#mine-days .mine-visits li", has_text="M-LEVAGE")
        pages[0].locator("#mine-days summary").first.click()
        mine.wait_for(timeout=10000)
        assert "à deux, avec Bruno" in mine.inner_text(), mine.inner_text()
        _shot(pages[0], "sync-phone-aline-fr")
        _shot(pages[1], "sync-phone-bruno-fr")
        # A third team's phone has neither the visit nor its patient.
        assert pages[2].query_selector(row) is None
        assert "M-LEVAGE" not in pages[2].content()
        for page, partner in ((pages[0], "Bruno"), (pages[1], "Aline")):
            _set_locale(page, "en")
            text = page.inner_text(row)
            assert f"two-person visit, with {partner}, starting at 09:30" in text, text
            check_axe(page)
        _shot(pages[1], "sync-phone-bruno-en")
    finally:
        for ctx, _page in phones:
            ctx.close()


def test_the_coordinators_map_draws_the_shared_stop_on_both_rounds(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Both teams' round lines pass through the two-person visit, whose marker carries a second
    ring in the partner team's colour."""
    server, world = live
    teams, duo = world["teams"], world["duo"]
    _, instance = browser
    ctx = instance.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    try:
        page = ctx.new_page()
        page.goto(f"{server.base_url}/map/")
        page.fill("input[name=username]", "coord")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        page.wait_for_function("window.dispatchMap.state.plans.size === 3", timeout=10000)
        rounds = page.evaluate(
            "[...window.dispatchMap.state.plans.values()].map(p => [p.team_id, p.stops.map(s => s.visit_id)])"
        )
        holding = sorted(tid for tid, ids in rounds if duo["id"] in ids)
        assert holding == sorted((teams[0]["id"], teams[1]["id"]))
        page.wait_for_function(
            "window.dispatchMap.map.getSource('visits').serialize().data.features.length === 4"
        )
        features = page.evaluate(
            "window.dispatchMap.map.getSource('visits').serialize().data.features.map(f => f.properties)"
        )
        shared = next(f for f in features if f["id"] == duo["id"])
        assert shared["color"] == "#d62728" and shared["partner_color"] == "#1f77b4", shared
        assert all("partner_color" not in f for f in features if f["id"] != duo["id"])
        assert page.evaluate("!!window.dispatchMap.map.getLayer('visits-partner')")
        _shot(page, "sync-map-shared-stop")
    finally:
        ctx.close()
