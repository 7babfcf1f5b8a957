"""The planner page and the HTML report in Debian's chromium: maps and charts actually draw."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(haute_corse, territory_cache, tmp_path_factory):
    """The app (API world with a planner) served on a free loopback port."""
    from api_world import PASSWORD, make_world
    from conftest import SHARED_TERRITORIES
    from werkzeug.serving import make_server

    world = make_world(
        tmp_path_factory.mktemp("planner-browser"),
        cache_dir=territory_cache,
        data_path=(SHARED_TERRITORIES,),
    )
    srv = make_server("127.0.0.1", 0, world.app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", PASSWORD
    srv.shutdown()


@pytest.fixture(scope="module")
def browser(browser):
    """The session's headless chromium (conftest) itself."""
    return browser[1]


def test_planner_page_draws_map_and_charts(server, browser):
    """After login the page draws commune polygons, isochrones, bases and the band chart."""
    url, password = server
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/planner/")
    page.wait_for_selector("#login[open]", timeout=20_000)
    page.fill("#login-form input[name=username]", "planner")
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_function(
        "window.planner && window.planner.state.chartsDrawn.bands", timeout=60_000
    )
    page.wait_for_function(
        "window.planner.rendered('communes-fill') > 50 && window.planner.rendered('iso-line') > 0"
        " && window.planner.rendered('bases') > 0",
        timeout=60_000,
    )
    assert page.locator("#chart-bands rect").count() == 4
    assert page.locator("#least tbody tr").count() > 0
    page.wait_for_selector("#compare tbody tr", timeout=30_000)
    # The territory's bases, then the file's three scenarios (the one shown highlighted).
    assert page.locator("#compare tbody tr").count() == 4
    assert page.locator("#compare tbody tr.current").count() == 1
    assert "Couverture de la population" in page.inner_text("body")
    # Accessibility choropleth, then English.
    page.check("input[name=choropleth][value=apl]")
    assert "visites/jour" in page.inner_text("#legend")
    # The legend's ramp is coloured through CSSOM, which a CSP without inline style allows.
    ramp = page.eval_on_selector("#legend .ramp", "e => getComputedStyle(e).backgroundImage")
    assert ramp.startswith("linear-gradient"), ramp
    page.click("#lang")
    assert "Population coverage" in page.inner_text("body")
    # A one-day simulation from the page fills the KPI table and the day chart.
    page.fill("#sim-form input[name=time_limit_s]", "0.5")
    page.click("#sim-form button[type=submit]")
    page.wait_for_function("window.planner.state.chartsDrawn.days", timeout=90_000)
    assert page.locator("#chart-days rect").count() == 2
    page.wait_for_function("window.planner.rendered('demand') > 0", timeout=20_000)
    assert not errors, errors
    page.close()


def test_html_report_images_load(haute_corse, settings, browser, tmp_path):
    """Every map and chart of a simulate report is an image that decodes in the browser."""
    from dispatch.planning.report import write_report
    from dispatch.planning.runner import run_scenarios
    from dispatch.planning.scenario import Scenario

    sc = Scenario(name="Défaut", territory="haute-corse", seed=5, teams_per_base=1)
    results = run_scenarios([sc], settings, days=1, time_limit_s=0.5, with_teams_needed=False)
    path = write_report(results, haute_corse, tmp_path / "report")
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    sizes = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
    )
    assert len(sizes) >= 6  # bands, KPI and days charts; coverage, accessibility and demand maps
    assert all(ok and w > 200 and h > 150 for ok, w, h in sizes), sizes
    assert page.locator("#kpi-table tbody tr").count() == 1
    page.close()
