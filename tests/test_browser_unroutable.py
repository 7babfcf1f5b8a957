"""Issue 21 item 12 on the coordinator's screen: a team whose base is outside the territory
(stored before the checks) and a visit whose home is outside it are named, each with its
reason and where to fix it, wherever the coordinator plans (optimise, move, urgent visit),
while the other teams' rounds are proposed as usual."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
#: Patients' homes around Melun (lon, lat).
HOMES = ((2.6600, 48.5430), (2.6480, 48.5460), (2.6450, 48.5350), (2.6350, 48.5300))


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server at 09:00: teams A and B with a published round each, team « Pôle » whose
    base is the South Pole and visit M-NULLEPART in the Gulf of Guinea (both written straight
    into the store, as rows from before the territory checks), a coordinator."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("unroutable"), territory_cache, shared_dir),
        clock_start=f"{today}T09:00:00",
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    shift = {"shift_start": "08:00", "shift_end": "18:00"}
    base = {"base_lon": MELUN[0], "base_lat": MELUN[1]}
    team_a = store.add_team({"name": "Équipe A", "color": "#d62728", **base, **shift})
    team_b = store.add_team({"name": "Équipe B", "color": "#1f77b4", **base, **shift})
    # Straight into the store: the API refuses these places now.
    pole = store.add_team({"name": "Pôle", "base_lon": 0.0, "base_lat": -90.0, **shift})
    store.add_user("coord", role="coordinator", password=PASSWORD)

    def visit(name: str, lon: float, lat: float) -> dict[str, Any]:
        return store.add_visit(
            {
                "day": day,
                "pseudonym": name,
                "lon": lon,
                "lat": lat,
                "commune": "Melun",
                "duration_s": 1800,
                "windows": [["08:00", "18:00"]],
            }
        )

    good = [visit(f"M-{i}", *home) for i, home in enumerate(HOMES)]
    nowhere = visit("M-NULLEPART", 0.0, 0.0)
    store.save_plan(
        day,
        [
            {
                "team_id": team["id"],
                "stops": [
                    {"visit_id": v["id"], "arrival_s": t, "start_s": t, "end_s": t + 1800}
                    for v, t in zip(visits, (36000, 39600), strict=True)
                ],
            }
            for team, visits in ((team_a, good[:2]), (team_b, good[2:]))
        ],
        publish=True,
    )
    server = RealServer(app)
    yield (
        server,
        {"team_a": team_a, "team_b": team_b, "pole": pole, "good": good, "nowhere": nowhere},
    )
    server.stop()
    store.close()


def _login(browser: Any, base_url: str, viewport: dict[str, int]) -> tuple[Any, Any, list[str]]:
    _, instance = browser
    ctx = instance.new_context(viewport=viewport, locale="fr-FR")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}/map/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.wait_for_selector(".dispatch-panel #dp-move", timeout=10000)
    page.wait_for_function("window.dispatchMap.state.plans.size > 0", timeout=10000)
    return ctx, page, errors


def _optimise(page: Any) -> None:
    if page.get_attribute("#dp-optimise", "open") is None:
        page.click("#dp-optimise > summary")
    page.select_option("#dp-budget", "3")
    page.click("#dp-run")
    page.wait_for_selector("#dp-result .dp-unroutable li", timeout=60000)


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def test_optimise_names_the_team_out_of_territory_and_plans_the_others(live, browser) -> None:  # type: ignore[no-untyped-def]
    """« Optimiser la journée » proposes rounds for A and B, and says in words (a status line
    and a list, not a colour) that Pôle and M-NULLEPART are left out, why, and where to fix
    them: the team's form in the management page, the visit selected on the map."""
    server, world = live
    pole, nowhere = world["pole"], world["nowhere"]
    ctx, page, errors = _login(browser, server.base_url, WIDE)
    try:
        _optimise(page)
        result = page.inner_text("#dp-result")
        team_line = page.inner_text(f"#dp-result .dp-unroutable li[data-team-id='{pole['id']}']")
        assert "L'équipe Pôle est hors de la planification" in team_line, team_line
        assert "sa base (0,00000 ; -90,00000) est hors de Melun (longitude" in team_line, team_line
        assert "Corrigez-la dans la gestion" in team_line, team_line
        visit_line = page.inner_text(
            f"#dp-result .dp-unroutable li[data-visit-id='{nowhere['id']}']"
        )
        assert "M-NULLEPART ne peut pas être planifiée" in visit_line, visit_line
        assert "son domicile (0,00000 ; 0,00000) est hors de Melun" in visit_line, visit_line
        # Said by the live region, not only shown.
        status = page.inner_text("#dp-status")
        assert re.search(r"1 équipe et 1 visite .*hors de la planification", status), status
        # The link opens the team in the management page.
        link = page.locator(f"#dp-result .dp-unroutable li[data-team-id='{pole['id']}'] a")
        assert link.get_attribute("href") == f"/admin/#team-{pole['id']}"
        assert "Pôle" in link.inner_text()

        # The other teams' rounds are proposed: every good visit planned, A and B drawn.
        assert "Proposé" in result
        served = page.inner_text("#dp-result .dp-compare tbody tr:nth-child(4) td:last-child")
        assert served.strip() == str(len(world["good"])), result
        drawn = page.evaluate(
            "() => window.dispatchMap.map.getSource('dispatch-proposal').serialize().data"
            ".features.map(f => Number(f.properties.team_id))"
        )
        assert set(drawn) <= {world["team_a"]["id"], world["team_b"]["id"]} and drawn, drawn
        assert page.is_visible("#dp-apply")
        _shot(page, "unroutable-optimise-1400.png")
        check_axe(page)

        # English, complete.
        page.click("#lang")
        team_line = page.inner_text(f"#dp-result .dp-unroutable li[data-team-id='{pole['id']}']")
        assert "Team Pôle is left out of planning" in team_line, team_line
        assert "its base (0.00000, -90.00000) is outside Melun" in team_line, team_line
        assert "Correct it in the management page" in team_line, team_line
        assert "M-NULLEPART cannot be planned" in page.inner_text("#dp-result .dp-unroutable")
        assert "1 team and 1 visit left out of planning" in page.inner_text("#dp-status")
        _shot(page, "unroutable-optimise-1400-en.png")
        check_axe(page)
        page.click("#lang")

        # The visit's button selects it on the map and in the day's list.
        page.click(f"#dp-result .dp-unroutable li[data-visit-id='{nowhere['id']}'] button")
        page.wait_for_function(
            "id => window.dispatchMap.state.selectedVisit === id", arg=nowhere["id"]
        )

        # Moving a visit says it too (once, above the move's own answer).
        page.click(f"#visit-list button.vsel[data-visit-id='{world['good'][0]['id']}']")
        page.click("#dp-move-check")
        page.wait_for_selector("#dp-move-out .dp-unroutable li", timeout=20000)
        assert "L'équipe Pôle est hors de la planification" in page.inner_text("#dp-move-out")
        page.locator("#dp-move-out .dp-unroutable").scroll_into_view_if_needed()
        _shot(page, "unroutable-move-1400.png")
        check_axe(page)
        assert not errors, errors
    finally:
        ctx.close()


def test_the_team_link_opens_the_management_page(live, browser) -> None:  # type: ignore[no-untyped-def]
    """At 1024×768: the warning fits, and its link leads to the teams of the management page."""
    server, world = live
    pole = world["pole"]
    ctx, page, errors = _login(browser, server.base_url, NARROW)
    try:
        _optimise(page)
        line = page.locator(f"#dp-result .dp-unroutable li[data-team-id='{pole['id']}']")
        line.scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
        _shot(page, "unroutable-optimise-1024.png")
        check_axe(page)
        # The urgent visit's options say it too.
        page.click("#dp-urgent > summary")
        page.fill("#dp-urg-name", "M-URGENT")
        page.click("#dp-urg-centre")
        page.click("#dp-urg-find")
        page.wait_for_selector("#dp-urg-options li", timeout=30000)
        page.wait_for_selector(f"#dp-urg-unroutable li[data-team-id='{pole['id']}']")
        page.locator("#dp-urg-unroutable").scroll_into_view_if_needed()
        _shot(page, "unroutable-urgent-1024.png")
        check_axe(page)

        line.locator("a").click()
        page.wait_for_url(re.compile(r"/admin/#team-\d+$"))
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        assert "Pôle" in page.inner_text("#team-table")
        # The link opens that team's form, where its base is corrected.
        assert page.locator("#team-form").is_visible()
        assert page.input_value("#tf-name") == "Pôle"
        assert not errors, errors
    finally:
        ctx.close()
