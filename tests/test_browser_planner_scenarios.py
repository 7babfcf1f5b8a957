"""A planner's journey in Debian's chromium: place a base by clicking the map, see the coverage
recomputed, move and remove bases, save the scenario by name, find it, open its report, log out."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from axe_support import check_axe
from live_support import PASSWORD, RealServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
#: Folelli (Penta-di-Casinca), the least covered part of Haute-Corse: where the base is placed.
FOLELLI = (9.5063, 42.4558)
#: UI phrases of each language that must not show on the other language's page.
FRENCH_UI = (
    "Bases du scénario",
    "Placer une base",
    "Enregistrer",
    "Scénarios enregistrés",
    "Couverture",
    "Retirer",
    "Se déconnecter",
    "Population à",
    "Accessibilité",
    "Avec vos bases",
    "Rapport",
    "Supprimer",
    "Comparaison",
    "enregistré",
    "Réseau routier",
)
ENGLISH_UI = (
    "Scenario bases",
    "Place a base",
    "Save scenario",
    "Saved scenarios",
    "Coverage",
    "Remove",
    "Log out",
    "Population within",
    "With your bases",
    "Report",
    "Delete",
    "Road network",
    "saved on",
)


@pytest.fixture(scope="module")
def server(haute_corse, territory_cache, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The API world (a planner among its users) on Haute-Corse, served for real."""
    from api_world import make_world
    from conftest import SHARED_TERRITORIES

    world = make_world(
        tmp_path_factory.mktemp("planner-scenarios"),
        cache_dir=territory_cache,
        data_path=(SHARED_TERRITORIES,),
    )
    srv = RealServer(world.app)
    yield srv, world
    srv.stop()


def _login(page: Any, base_url: str, who: str = "planner") -> None:
    page.goto(f"{base_url}/planner/")
    page.wait_for_selector("#login[open]", timeout=20_000)
    page.fill("#login-form input[name=username]", who)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_function(
        "window.planner && window.planner.state.chartsDrawn.bands"
        " && window.planner.rendered('communes-fill') > 50",
        timeout=60_000,
    )


def _covered(page: Any, band: int = 2) -> float:
    return page.evaluate(f"window.planner.state.analysis.coverage.cumulative_population[{band}]")


def _click_map_at(page: Any, lon: float, lat: float) -> None:
    """A real mouse click on the map where (lon, lat) is drawn."""
    x, y = page.evaluate(
        "([lon, lat]) => { const p = window.planner.map.project([lon, lat]); return [p.x, p.y]; }",
        [lon, lat],
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def _wait_recomputed(page: Any, previous: float) -> float:
    page.wait_for_function(
        "([prev]) => { const a = window.planner.state.analysis; return a && a.changed"
        " && a.coverage.cumulative_population[2] !== prev"
        " && !document.getElementById('figures').hasAttribute('aria-busy'); }",
        arg=[previous],
        timeout=15_000,
    )
    return _covered(page)


def _visible_text(page: Any) -> str:
    """The text a person sees in the page's own interface (not the scenario or base names,
    which are the planners' data, nor the map's canvas)."""
    return page.evaluate(
        """() => {
          const clone = document.body.cloneNode(true);
          for (const el of clone.querySelectorAll(
              '#base-list .base-name, #saved .saved-name, #compare td:first-child,'
              + ' #scenario, #territory-name, #who, #least td:first-child, #sites, #kpis th,'
              + ' #lang, dialog:not([open]), [hidden], script')) el.remove();
          return clone.innerText;
        }"""
    )


def test_planner_places_a_base_saves_the_scenario_and_opens_the_report(server, browser):
    """The acceptance journey: a placed base raises the population within 30 min (figures
    recomputed in seconds), it can be moved, a base can be removed; the scenario is saved by
    name, listed, compared, its report opens in a new tab; FR and EN pass axe and show no
    string of the other language; the page reads no patient data; logout ends the session."""
    srv, world = server
    _, browser_ = browser
    context = browser_.new_context(viewport=WIDE, locale="fr-FR")
    page = context.new_page()
    errors: list[str] = []
    api_calls: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda r: api_calls.append(r.url.split("/", 3)[-1]) if "/api/" in r.url else None,
    )
    _login(page, srv.base_url)
    page.wait_for_selector("#base-list li")
    page.wait_for_selector("#compare tbody tr", timeout=30_000)
    # The file's first variant is shown: its seven bases (Folelli already among them), so the
    # journey starts from the territory's own six bases.
    page.select_option("#scenario", "default")
    page.wait_for_function(
        "window.planner.state.baseline.scenario_id === 'default'"
        " && !document.getElementById('place-base').disabled"
    )
    assert page.locator("#base-list li").count() == 6
    assert page.locator("#logout").is_visible() and "planner" in page.inner_text("#who")
    before = _covered(page)
    assert "Population à ≤ 30 min" in page.inner_text("#figures")

    # Place a base: press the button (a toggle), click the map at Folelli.
    page.click("#place-base")
    assert page.get_attribute("#place-base", "aria-pressed") == "true"
    t0 = time.monotonic()
    _click_map_at(page, *FOLELLI)
    placed = _wait_recomputed(page, before)
    took_s = time.monotonic() - t0
    assert took_s < 5, f"coverage recomputed in {took_s:.1f} s"
    assert placed > before + 1000, (before, placed)
    assert page.get_attribute("#place-base", "aria-pressed") == "false"
    assert page.locator("#base-list li").count() == 7
    new_item = page.locator("#base-list li.movable")
    assert "Nouvelle base (Penta-di-Casinca)" in new_item.inner_text()
    figures = page.inner_text("#figures")
    assert "Avec vos bases" in figures and "Écart" in figures and "+" in figures
    assert "non enregistrées" in page.inner_text("#bases-changed")
    # The numbers are written the French way (narrow no-break space between thousands).
    assert re.search(r"\d[\u202f\u00a0]\d{3}", figures), figures
    assert page.locator(".new-base").count() == 1
    # The isochrones follow the figures (their polygons take a second or more).
    page.wait_for_function(
        "window.planner.state.analysis.isochrones.features.length > 0"
        " && !window.planner.state.analysis.isochronesPending",
        timeout=30_000,
    )
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "planner-base-placed.png"))

    # Move it: drag the marker about 25 km south-west (inland): fewer people gained.
    marker = page.locator(".new-base").bounding_box()
    cx, cy = marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 60, cy + 40, steps=8)
    page.mouse.up()
    moved = _wait_recomputed(page, placed)
    lon = page.evaluate("window.planner.state.working.find((b) => b.movable).lon")
    assert lon < FOLELLI[0] - 0.01 and moved != placed
    assert "déplacée" in page.inner_text("#status")

    # Remove one of the territory's bases (keyboard-reachable button named after it).
    page.get_by_role("button", name=re.compile("Retirer la base .*Calvi")).click()
    without_calvi = _wait_recomputed(page, moved)
    assert without_calvi < moved
    assert page.locator("#base-list li").count() == 6
    # Undo brings back the territory's bases; place Folelli again for the saved scenario.
    page.click("#reset-bases")
    page.wait_for_function(
        "!window.planner.state.changed && window.planner.state.working.length === 6"
        " && window.planner.state.analysis === window.planner.state.baseline"
    )
    assert _covered(page) == before
    page.click("#place-base")
    _click_map_at(page, *FOLELLI)
    placed = _wait_recomputed(page, before)

    # Save under a name; it is listed, selected, compared.
    page.fill("#save-name", "Casinca : base à Folelli")
    page.click("#save-form button[type=submit]")
    page.wait_for_selector("#saved li", timeout=15_000)
    row = page.locator("#saved li", has_text="Casinca : base à Folelli")
    assert row.count() == 1 and "7 bases" in row.inner_text()
    assert page.input_value("#scenario") == "saved:casinca-base-a-folelli#0"
    page.wait_for_function(
        "document.getElementById('save-status').textContent.includes('enregistré')"
        " && !window.planner.state.changed"
    )
    assert _covered(page) == pytest.approx(placed, abs=1)
    page.wait_for_selector("#compare tbody tr.current", timeout=30_000)
    assert "Casinca : base à Folelli" in page.inner_text("#compare")
    folder = srv.app.extensions["dispatch.settings"].var_dir / "planning" / "haute-corse"
    assert (folder / "scenarios" / "casinca-base-a-folelli.toml").is_file()
    check_axe(page)
    page.screenshot(path=str(SCREENSHOTS / "planner-saved.png"))

    # The report, from the saved list, opens in a new tab.
    with context.expect_page() as new_tab:
        row.get_by_role("link", name=re.compile("rapport", re.I)).click()
    report = new_tab.value
    report.wait_for_load_state("load", timeout=60_000)
    assert report.title().startswith("Rapport de planification")
    header = report.inner_text("body > p")
    assert "187\u202f180" in header and "Jours simulés" not in header  # French numbers
    assert "Casinca : base à Folelli" in report.inner_text("h2.scenario, section.scenario h2")
    assert "Nouvelle base (Penta-di-Casinca)" in report.inner_text("body")
    sizes = report.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert len(sizes) >= 3 and all(ok and w > 200 for ok, w in sizes), sizes
    report.set_viewport_size(WIDE)
    report.screenshot(path=str(SCREENSHOTS / "planner-report.png"))
    report.close()

    # English: every string of the interface, no French one; and the reverse before.
    fr_text = _visible_text(page)
    assert not [w for w in ENGLISH_UI if w in fr_text], fr_text
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'en'")
    en_text = _visible_text(page)
    assert not [w for w in FRENCH_UI if w in en_text], en_text
    assert "Saved scenarios" in en_text and "Population within 30 min" in en_text
    report_href = page.get_attribute("#report-link", "href")
    assert report_href.endswith("lang=en")
    check_axe(page)
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / "planner-saved-en-1024.png"))
    page.click("#lang")
    page.wait_for_function("document.documentElement.lang === 'fr'")

    # Aggregates only: the page never asked for visits, rounds or live positions.
    assert not [c for c in api_calls if re.match(r"api/(visits|rounds|live|teams)", c)], api_calls

    # Delete it (after the confirmation): gone from the list and the server; the territory's
    # bases are shown again.
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("Supprimer le scénario")).click()
    page.wait_for_function("document.querySelectorAll('#saved li').length === 0")
    assert page.is_visible("#saved-empty") and page.input_value("#scenario") == "default"
    assert not (folder / "scenarios" / "casinca-base-a-folelli.toml").exists()

    # Log out: the login dialog comes back and the session cookie no longer opens the API.
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    page.click("#logout")
    page.wait_for_selector("#login[open]", timeout=20_000)
    after = requests.get(f"{srv.base_url}/api/planning/territory", cookies=cookies, timeout=10)
    assert after.status_code == 401
    assert not errors, errors
    context.close()


def test_planner_page_at_1024_in_french(server, browser):
    """At 1024×768 the page keeps the map and a usable panel; axe passes in French."""
    srv, _ = server
    _, browser_ = browser
    context = browser_.new_context(viewport=NARROW, locale="fr-FR")
    page = context.new_page()
    _login(page, srv.base_url)
    page.wait_for_selector("#base-list li")
    box = page.locator("#map").bounding_box()
    assert box["width"] > 500 and box["height"] > 600
    assert page.locator("#place-base").is_visible()
    # The territory's own base map names the communes over the choropleth; MapLibre's buttons
    # speak French.
    page.wait_for_function("window.planner.rendered('label-communes') > 5", timeout=30_000)
    assert page.get_attribute(".maplibregl-ctrl-zoom-in", "aria-label") == "Zoom avant"
    check_axe(page)
    # Placing without a mouse: a commune typed (accents optional), then Enter.
    before = _covered(page)
    page.focus("#place-commune-name")
    page.keyboard.type("penta-di-casinca")
    page.keyboard.press("Enter")
    after = _wait_recomputed(page, before)
    assert after > before
    assert "Nouvelle base (Penta-di-Casinca)" in page.inner_text("#base-list")
    # Choosing another scenario asks first: declined, the placed base stays.
    shown = page.evaluate("window.planner.state.baseline.scenario_id")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.select_option("#scenario", "default")
    page.wait_for_function(f"document.getElementById('scenario').value === '{shown}'")
    assert page.evaluate("window.planner.state.changed")
    page.fill("#place-commune-name", "Paris")
    page.keyboard.press("Enter")
    assert "Aucune commune « Paris »" in page.inner_text("#status")
    page.screenshot(path=str(SCREENSHOTS / "planner-1024.png"))
    context.close()
