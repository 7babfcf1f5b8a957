"""Issue 21 item 12 on the management screen: a team's start clicked outside the territory is
refused with a message saying where the territory is, in French and in English."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings
from test_browser_admin import WIDE, click_map_at, open_admin, set_locale

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
#: Meaux, 40 km north of Melun: on the map once zoomed out, outside the territory.
MEAUX = (2.878, 48.960)


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("contract"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    store.add_team({"name": "Équipe Nord", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    store.add_user("coord", role="coordinator", password=PASSWORD)
    server = RealServer(app)
    yield server, store
    server.stop()
    store.close()


def test_a_start_outside_the_territory_is_refused_with_where_it_is(live, browser) -> None:  # type: ignore[no-untyped-def]
    server, store = live
    ctx, page = open_admin(browser, server.base_url, "coord", PASSWORD, WIDE)
    try:
        page.wait_for_selector("#team-table tr[data-team-id]")
        page.get_by_role("button", name="Nouvelle équipe").click()
        page.get_by_label("Nom de l'équipe").fill("Équipe Meaux")
        page.wait_for_selector("body[data-map-ready='1']", timeout=15000)
        # Zoomed out far enough for Meaux to be on the form's map.
        page.evaluate("window.adminMap.jumpTo({center: [2.85, 48.9], zoom: 9})")
        click_map_at(page, MEAUX)
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#team-error:has-text('hors du territoire')", timeout=10000)
        error = page.inner_text("#team-error")
        assert "Melun" in error and "longitude 2.5" in error, error
        assert page.locator("#team-form").is_visible(), "the form stays open to move the start"
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "admin-team-outside-territory-fr.png"))
        check_axe(page)
        set_locale(page, "en")
        page.get_by_role("button", name="Save").click()
        page.wait_for_selector("#team-error:has-text('outside the territory')", timeout=10000)
        assert "Melun" in page.inner_text("#team-error")
        page.screenshot(path=str(SCREENSHOTS / "admin-team-outside-territory-en.png"))
        assert store.list_teams(limit=10).total == 1, "nothing was stored"
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        ctx.close()
