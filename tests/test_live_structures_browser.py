"""The coordinator map with two structures (issue 22), in Chromium on a real server: a
coordinator of both sees both structures' teams, each labelled with its structure; a
coordinator of one sees only its own (no marker, team, visit or alert of the other); the header
links to the patients (coordinators) and week (coordinators, planners) screens, in French and
English."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from axe_support import check_axe
from live_support import HOME_A, HOME_B, MELUN, PASSWORD, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

SCREENSHOTS = Path(__file__).parent / "screenshots"


def _sql(store: Store, sql: str, *args: Any) -> None:
    store.engine.write(lambda conn: conn.execute(sql, args))


@pytest.fixture(scope="module")
def server(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Structure 1 « SSIAD Nord » and 2 « HAD Sud », a team with a position and a visit in
    each; users coord-ab (both), coord-a (Nord) and an admin."""
    settings = module_settings(
        tmp_path_factory.mktemp("map-structures"), territory_cache, shared_dir
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    _sql(store, "UPDATE structures SET name = 'SSIAD Nord' WHERE id = 1")
    b = store.add_structure({"name": "HAD Sud", "kind": "had"})["id"]
    teams = {}
    for key, name, structure, home, pseudonym in (
        ("a", "Équipe Nord", 1, HOME_A, "ALPHA-NORD"),
        ("b", "Équipe Sud", b, HOME_B, "BRAVO-SUD"),
    ):
        team = store.add_team({"name": name, "base_lon": MELUN[0], "base_lat": MELUN[1]})
        _sql(store, "UPDATE teams SET structure_id = ? WHERE id = ?", structure, team["id"])
        visit = store.add_visit(
            {
                "day": day,
                "pseudonym": pseudonym,
                "lon": home[0],
                "lat": home[1],
                "duration_s": 1800,
                "windows": [["00:00", "23:59"]],
            }
        )
        _sql(
            store,
            "UPDATE visits SET structure_id = ?, team_id = ?, status = 'assigned' WHERE id = ?",
            structure,
            team["id"],
            visit["id"],
        )
        now = time.time()
        app.extensions["dispatch.live"].ingest(  # stored and put on the live board
            team["id"],
            [
                {
                    "client_id": f"{key}-1",
                    "lon": home[0],
                    "lat": home[1],
                    "device_time_s": now - 5,
                    "accuracy_m": 5,
                }
            ],
            device_id=None,
            source="api",
        )
        teams[key] = team
    store.add_user("coord-ab", role="coordinator", password=PASSWORD, structure_ids=[1, b])
    store.add_user("coord-a", role="coordinator", password=PASSWORD, structure_ids=[1])
    store.add_user("chef", role="admin", password=PASSWORD, structure_ids=[1])
    store.add_user("plan-a", role="planner", password=PASSWORD, structure_ids=[1])
    teams["day"] = day
    real = RealServer(app)
    yield real, teams
    real.stop()
    store.close()


def open_map(browser: Any, base_url: str, username: str, query: str = "") -> tuple[Any, Any]:
    _, instance = browser
    ctx = instance.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = ctx.new_page()
    page.goto(f"{base_url}/map/{query}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    return ctx, page


@pytest.mark.browser
def test_a_coordinator_of_two_structures_sees_both_labelled(server, browser) -> None:  # type: ignore[no-untyped-def]
    real, teams = server
    # Opened from the week screen's cell of team Sud: its row is marked in the team list.
    query = f"?day={teams['day']}&team={teams['b']['id']}"
    ctx, page = open_map(browser, real.base_url, "coord-ab", query)
    try:
        for key in ("a", "b"):
            page.wait_for_function(
                f"window.dispatchMap.markers.has({teams[key]['id']})", timeout=10000
            )
        page.wait_for_function(
            "document.querySelectorAll('#team-list li .structure').length === 2", timeout=10000
        )
        rows = page.locator("#team-list li")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        # Grouped by structure (HAD Sud before SSIAD Nord), each with its structure's name.
        assert "Équipe Sud" in texts[0] and "HAD Sud" in texts[0], texts
        assert "Équipe Nord" in texts[1] and "SSIAD Nord" in texts[1], texts
        assert rows.nth(0).get_attribute("aria-current") == "true"
        assert rows.nth(1).get_attribute("aria-current") is None
        visits = page.inner_text("#visit-list")
        assert "ALPHA-NORD" in visits and "BRAVO-SUD" in visits
        patients, week = page.locator("#patients-link"), page.locator("#week-link")
        assert patients.is_visible() and week.is_visible()
        assert (
            patients.get_attribute("href") == "/patients/" and patients.inner_text() == "Patients"
        )
        assert week.get_attribute("href") == "/week/" and week.inner_text() == "Semaine"
        check_axe(page)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "live-structures-two-fr.png"))
        page.click("#lang")
        assert week.inner_text() == "Week" and patients.inner_text() == "Patients"
        page.set_viewport_size({"width": 1024, "height": 768})
        check_axe(page)
        page.screenshot(path=str(SCREENSHOTS / "live-structures-two-en-1024.png"))
        # A phone-sized window: the links get a row of their own, nothing is cut off.
        page.set_viewport_size({"width": 390, "height": 800})
        widths = page.evaluate(
            "[document.querySelector('.topbar').scrollWidth, innerWidth,"
            " document.querySelector('#logout').getBoundingClientRect().right]"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
        assert week.is_visible() and patients.is_visible()
        check_axe(page)
        page.screenshot(path=str(SCREENSHOTS / "live-structures-two-en-390.png"))
    finally:
        ctx.close()


@pytest.mark.browser
def test_a_coordinator_of_one_structure_sees_nothing_of_the_other(server, browser) -> None:  # type: ignore[no-untyped-def]
    real, teams = server
    ctx, page = open_map(browser, real.base_url, "coord-a")
    try:
        page.wait_for_function(f"window.dispatchMap.markers.has({teams['a']['id']})", timeout=10000)
        time.sleep(0.5)
        assert page.evaluate(f"window.dispatchMap.markers.has({teams['b']['id']})") is False
        listed = page.inner_text("#team-list")
        assert "Équipe Nord" in listed and "Équipe Sud" not in listed
        assert page.locator("#team-list .structure").count() == 0  # one structure: no label
        body = page.inner_text("body")
        assert "BRAVO-SUD" not in body and "HAD Sud" not in body
        assert page.locator("#week-link").is_visible()
    finally:
        ctx.close()
    ctx, page = open_map(browser, real.base_url, "chef")
    try:  # an admin: every structure's teams, no visit, no link to the patients' screens
        page.wait_for_function(f"window.dispatchMap.markers.has({teams['b']['id']})", timeout=10000)
        assert page.locator("#admin-link").is_visible()
        assert page.locator("#patients-link").is_hidden() and page.locator("#week-link").is_hidden()
        assert "BRAVO-SUD" not in page.inner_text("body")
    finally:
        ctx.close()
    ctx, page = open_map(browser, real.base_url, "plan-a")
    try:  # a planner of Nord: the week (not the records), nothing of Sud
        page.wait_for_function(
            "document.querySelector('#team-list').innerText.includes('Équipe Nord')",
            timeout=10000,
        )
        assert page.locator("#week-link").is_visible()
        assert page.locator("#patients-link").is_hidden()
        body = page.inner_text("body")
        assert "Équipe Sud" not in body and "BRAVO-SUD" not in body
    finally:
        ctx.close()
