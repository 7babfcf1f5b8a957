"""The rounds panel per structure on a real server: a coordinator of two structures chooses the
one planned; a team off that day is left out with its reason; /map/?day=DAY&team=ID (the week
screen's cells) opens that team's round of that day."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings
from playwright.sync_api import expect

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
HOMES = ((2.6600, 48.5430), (2.6480, 48.5460), (2.6700, 48.5380), (2.6450, 48.5350))


def _visit(store: Store, day: str, name: str, home: tuple[float, float], sid: int) -> Any:
    return store.add_visit(
        {
            "day": day,
            "pseudonym": name,
            "lon": home[0],
            "lat": home[1],
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
        },
        structure_id=sid,
    )


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Structure 1 (staff: Marie works every day, Paul only tomorrow) and « SSIAD Bastia »
    (a team with a fixed shift), each with visits today; Marie's round of tomorrow published.
    « coord-deux » works for both structures, « coord-un » for structure 1."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("rounds-structures"), territory_cache, shared_dir),
        clock_start=f"{today.isoformat()}T09:00:00",
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    tomorrow = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    other = store.add_structure({"name": "SSIAD Bastia", "kind": "ssiad"})["id"]
    base = {"base_lon": MELUN[0], "base_lat": MELUN[1]}
    rota = {"start_day": "2026-01-05", "weekdays": ",".join(WEEKDAYS), "shift": "08:00-18:00"}
    marie = store.add_staff(
        {"name": "Marie", "job": "nurse", "contract_h_per_week": 35, "rotas": [rota], **base},
        structure_id=1,
    )
    off_day = WEEKDAYS[dt.date.fromisoformat(tomorrow).weekday()]
    paul = store.add_staff(
        {
            "name": "Paul",
            "job": "nurse",
            "contract_h_per_week": 35,
            "rotas": [{**rota, "weekdays": off_day}],
            **base,
        },
        structure_id=1,
    )
    bastia = store.add_team(
        {
            "name": "Équipe Bastia",
            "color": "#1f77b4",
            "shift_start": "08:00",
            "shift_end": "18:00",
            **base,
        },
        structure_id=other,
    )
    for i in range(2):
        _visit(store, day, f"UN-{i}", HOMES[i], 1)
        _visit(store, day, f"DEUX-{i}", HOMES[i + 2], other)
    later = [_visit(store, tomorrow, f"DEMAIN-{i}", HOMES[i], 1) for i in range(3)]
    store.save_plan(
        tomorrow,
        [
            {
                "team_id": marie["team_id"],
                "stops": [
                    {
                        "visit_id": v["id"],
                        "arrival_s": 9 * 3600 + i * 3600,
                        "start_s": 9 * 3600 + i * 3600,
                        "end_s": 9 * 3600 + i * 3600 + 1800,
                    }
                    for i, v in enumerate(later)
                ],
            }
        ],
        publish=True,
        structure_id=1,
    )
    store.add_user("coord-deux", role="coordinator", password=PASSWORD, structure_ids=[1, other])
    store.add_user("coord-un", role="coordinator", password=PASSWORD, structure_ids=[1])
    server = RealServer(app)
    world = {
        "day": day,
        "tomorrow": tomorrow,
        "other": other,
        "marie": marie,
        "paul": paul,
        "bastia": bastia,
    }
    yield server, world
    server.stop()
    store.close()


def _open(browser: Any, base_url: str, user: str, path: str = "/map/") -> tuple[Any, Any, list]:
    _, instance = browser
    ctx = instance.new_context(viewport=WIDE, locale="fr-FR")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}{path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.wait_for_selector(".dispatch-panel #dp-move", timeout=10000)
    return ctx, page, errors


def _optimise(page: Any) -> None:
    if not page.is_visible("#dp-run"):
        page.click("#dp-optimise > summary")
    page.select_option("#dp-budget", "3")
    page.click("#dp-run")
    page.wait_for_selector("#dp-result table", timeout=60000)


def test_a_coordinator_of_two_structures_chooses_the_one_planned(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The select names both structures; optimising « SSIAD Bastia » sends its id and plans
    its team only; structure 1's optimisation leaves Paul out: « ne travaille pas », with a
    link to the week. Checked by axe."""
    server, world = live
    ctx, page, errors = _open(browser, server.base_url, "coord-deux")
    try:
        options = page.locator("#dp-structure option").all_inner_texts()
        assert "SSIAD Bastia" in options and len(options) == 2
        assert page.inner_text("label[for=dp-structure]") == "Structure planifiée"
        sent: list[dict[str, Any]] = []
        page.on(
            "request",
            lambda r: (
                sent.append(r.post_data_json) if r.url.endswith("/api/dispatch/optimise") else None
            ),
        )
        page.select_option("#dp-structure", str(world["other"]))
        _optimise(page)
        assert sent[-1]["structure_id"] == world["other"]
        result = page.inner_text("#dp-result")
        assert "Paul" not in result
        page.select_option("#dp-structure", "1")
        assert page.inner_text("#dp-result") == ""  # the other structure's proposal is gone
        _optimise(page)
        assert sent[-1]["structure_id"] == 1
        # Paul does not work that day by his rota: said plainly, not as a problem to fix.
        assert page.locator("#dp-result .dp-unroutable").count() == 0
        left = page.locator("#dp-result .dp-off-teams")
        text = left.inner_text()
        assert text.startswith("Ne travaillent pas ce jour d'après le planning : Paul"), text
        href = left.locator("a").get_attribute("href")
        assert href == f"/week/?from={world['day']}"
        left.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "rounds-structures-choice.png"))
        check_axe(page, context=".dispatch-panel")
        assert not errors, errors
    finally:
        ctx.close()


def test_the_week_cell_opens_the_teams_round_of_that_day(live, browser) -> None:  # type: ignore[no-untyped-def]
    """/map/?day=TOMORROW&team=MARIE: the panel shows Marie's round of tomorrow (3 visits from
    09:00) and draws it on the map; « Optimiser ce jour » prepares that day's optimisation. A
    coordinator of one structure has no structure to choose. In English too."""
    server, world = live
    team = world["marie"]["team_id"]
    path = f"/map/?day={world['tomorrow']}&team={team}"
    ctx, page, errors = _open(browser, server.base_url, "coord-un", path)
    try:
        assert page.locator("#dp-structure").count() == 0
        page.wait_for_selector("#dp-round ol.dp-round-stops li", timeout=10000)
        title = page.inner_text("#dp-round-title")
        assert title.startswith("Tournée de Marie — "), title
        stops = page.locator("#dp-round ol.dp-round-stops li").all_inner_texts()
        assert stops == ["09:00 · DEMAIN-0", "10:00 · DEMAIN-1", "11:00 · DEMAIN-2"]
        assert "3 visites, de 09:00 à 11:00" in page.inner_text("#dp-round")
        drawn = page.evaluate(
            "() => window.dispatchMap.map.getSource('dispatch-round').serialize().data.features.length"
        )
        assert drawn == 4  # the line and three stops
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "rounds-structures-week-link.png"))
        check_axe(page, context=".dispatch-panel")
        page.click("#dp-round-optimise")
        assert page.input_value("#dp-day") == world["tomorrow"]
        assert page.evaluate("document.activeElement.id") == "dp-run"
        page.click("#lang")
        page.wait_for_function(
            "() => document.querySelector('#dp-round-title').textContent.startsWith(\"Marie's round\")"
        )
        assert "3 visits, from 09:00 to 11:00" in page.inner_text("#dp-round")
        # Another structure's team: not found, said so.
        page.goto(f"{server.base_url}/map/?day={world['tomorrow']}&team={world['bastia']['id']}")
        page.wait_for_selector("#dp-round .error", timeout=10000)
        assert not errors, errors
    finally:
        ctx.close()


def test_a_replanning_proposal_opens_from_its_link_and_is_applied(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The week screen's replanning of Marie's absence tomorrow is a draft; its link
    /map/?day=TOMORROW&plan=ID shows it in the optimisation tool (what it changes, « à
    examiner ») and « Appliquer » publishes it: Paul takes Marie's three visits."""
    server, world = live
    rounds = server.app.extensions["dispatch.rounds"]
    draft = rounds.team_unavailable(
        world["tomorrow"], world["marie"]["team_id"], by="absence", apply=False, structure_id=1
    )
    path = f"/map/?day={world['tomorrow']}&plan={draft['plan_id']}"
    ctx, page, errors = _open(browser, server.base_url, "coord-un", path)
    try:
        page.wait_for_selector("#dp-result table", timeout=15000)
        assert page.input_value("#dp-day") == world["tomorrow"]
        # The proposal's heading takes the keyboard, its Apply / Discard in view under it.
        page.wait_for_function("() => document.activeElement.id === 'dp-result-title'")
        assert page.inner_text("#dp-result-title") == f"Proposition n° {draft['plan_id']}"
        expect(page.locator("#dp-apply")).to_be_in_viewport()
        expect(page.locator("#dp-discard")).to_be_in_viewport()
        assert f"Proposition n° {draft['plan_id']} (par absence) à examiner" in page.inner_text(
            "#dp-status"
        )
        assert "Aucune visite planifiée ne serait retirée" in page.inner_text("#dp-result")
        moved = page.locator("#dp-result .dp-reassigned li").all_inner_texts()
        assert sorted(moved) == [f"DEMAIN-{i} : Marie → Paul" for i in range(3)], moved
        page.locator("#dp-optimise").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "rounds-structures-replan-draft.png"))
        check_axe(page, context=".dispatch-panel")
        page.click("#dp-apply")
        page.wait_for_function(
            "() => document.querySelector('#dp-apply-status').textContent.startsWith('Plan appliqué')"
        )
        store = server.app.extensions["dispatch.store"]
        plan = store.published_plan(world["tomorrow"], structure_id=1)
        assert plan["id"] == draft["plan_id"]
        assert [r["team_id"] for r in plan["routes"]] == [world["paul"]["team_id"]]
        assert len(plan["routes"][0]["stops"]) == 3
        assert not errors, errors
    finally:
        ctx.close()


def test_a_drafts_reasons_follow_the_readers_language(live) -> None:  # type: ignore[no-untyped-def]
    """A replanning drafted in French (Marie absent the day after tomorrow, nobody else works)
    reads in English for an English page: the dropped visit's reason and the plan's unassigned
    messages come from the saved codes, not the drafter's text."""
    server, world = live
    store = server.app.extensions["dispatch.store"]
    rounds = server.app.extensions["dispatch.rounds"]
    later = (dt.date.fromisoformat(world["tomorrow"]) + dt.timedelta(days=1)).isoformat()
    visit = _visit(store, later, "APRES-0", HOMES[0], 1)
    stop = {"visit_id": visit["id"], "arrival_s": 9 * 3600, "start_s": 9 * 3600, "end_s": 34200}
    store.save_plan(
        later,
        [{"team_id": world["marie"]["team_id"], "stops": [stop]}],
        publish=True,
        structure_id=1,
    )
    draft = rounds.team_unavailable(
        later, world["marie"]["team_id"], by="absence", apply=False, structure_id=1, locale="fr"
    )
    assert draft["dropped"] and "équipe" in draft["dropped"][0]["reason"], draft["dropped"]
    english = rounds.proposal(draft["plan_id"], locale="en", structures=[1])
    reason = english["dropped"][0]["reason"]
    assert reason and "team" in reason and "équipe" not in reason, reason
    messages = [u["message"] for u in english["plan"]["unassigned"]]
    assert messages and all("équipe" not in m for m in messages), messages
    french = rounds.proposal(draft["plan_id"], locale="fr", structures=[1])
    assert "équipe" in french["dropped"][0]["reason"]


def _visit_names(page: Any) -> list[str]:
    return sorted(page.locator("#visit-list .who").all_inner_texts())


def test_another_day_is_said_and_shows_that_days_visits_not_todays(live, browser) -> None:  # type: ignore[no-untyped-def]
    """/map/?day=TOMORROW&team=MARIE: a banner says which day is shown, the visits listed and
    drawn are tomorrow's (not today's), no live round or trail is drawn, Marie's round of
    tomorrow is; « retour à aujourd'hui » brings back the live day. In English too; axe."""
    server, world = live
    store = server.app.extensions["dispatch.store"]
    # Marie's round, or Paul's once the replanning of Marie's absence is applied.
    team = store.published_plan(world["tomorrow"], structure_id=1)["routes"][0]["team_id"]
    path = f"/map/?day={world['tomorrow']}&team={team}"
    ctx, page, errors = _open(browser, server.base_url, "coord-deux", path)
    try:
        page.wait_for_selector("#day-banner", timeout=10000)
        banner = page.inner_text("#day-banner")
        assert banner.startswith("Vous regardez le ") and banner.endswith("retour à aujourd'hui")
        page.wait_for_function("() => document.querySelectorAll('#visit-list .who').length === 3")
        assert _visit_names(page) == ["DEMAIN-0", "DEMAIN-1", "DEMAIN-2"]
        # Each visit of tomorrow's published rounds gives its planned arrival, not « – ».
        page.wait_for_function(
            "() => [...document.querySelectorAll('#visit-list .arrival')]"
            ".every((e) => /arrivée prévue \\d\\d:\\d\\d/.test(e.textContent))"
        )
        assert page.inner_text("#visit-list >> xpath=preceding-sibling::h2").startswith(
            "Visites du "
        )
        drawn = page.evaluate(
            """() => { const m = window.dispatchMap.map;
              const n = (id) => m.getSource(id).serialize().data.features.length;
              return [n('visits'), n('routes'), n('trails')]; }"""
        )
        assert drawn == [3, 0, 0], drawn
        page.wait_for_selector("#dp-round ol.dp-round-stops li", timeout=10000)
        page.screenshot(path=str(SCREENSHOTS / "rounds-structures-other-day.png"))
        check_axe(page)
        page.click("#lang")
        page.wait_for_function(
            "() => document.querySelector('#day-banner').textContent.startsWith('You are looking at')"
        )
        assert "back to today" in page.inner_text("#day-banner")
        page.click("#lang")
        page.click("#day-back")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        page.wait_for_function("() => document.querySelectorAll('#visit-list .who').length === 4")
        assert page.locator("#day-banner").count() == 0
        assert _visit_names(page) == ["DEUX-0", "DEUX-1", "UN-0", "UN-1"]
        assert page.inner_text("#visit-list >> xpath=preceding-sibling::h2") == "Visites du jour"
        assert not errors, errors
    finally:
        ctx.close()


def test_the_structure_chosen_at_the_top_filters_teams_and_visits(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The structure choice opens the panel: « SSIAD Bastia » leaves only its team (list and
    marker) and its visits, and becomes the structure planned; « Toutes mes structures » shows
    everything again. Checked by axe."""
    server, world = live
    ctx, page, errors = _open(browser, server.base_url, "coord-deux")
    try:
        page.wait_for_selector("#structure-filter", timeout=10000)
        first = page.evaluate("document.querySelector('#side').firstElementChild.id")
        assert first == "structure-filter-box"
        options = page.locator("#structure-filter option").all_inner_texts()
        assert options[0] == "Toutes mes structures" and "SSIAD Bastia" in options
        page.wait_for_function("() => document.querySelectorAll('#visit-list .who').length === 4")
        page.select_option("#structure-filter", str(world["other"]))
        page.wait_for_function("() => document.querySelectorAll('#visit-list .who').length === 2")
        assert _visit_names(page) == ["DEUX-0", "DEUX-1"]
        teams = page.locator("#team-list button.team-open").all_inner_texts()
        assert teams == ["Équipe Bastia"], teams
        assert page.input_value("#dp-structure") == str(world["other"])
        shown = page.evaluate(
            "() => window.dispatchMap.map.getSource('visits').serialize().data.features.length"
        )
        assert shown == 2
        hidden = page.locator(".team-marker.filtered-out").count()
        visible = page.locator(".team-marker:not(.filtered-out)").count()
        assert visible <= 1 and hidden + visible == page.locator(".team-marker").count()
        page.screenshot(path=str(SCREENSHOTS / "rounds-structures-filter.png"))
        check_axe(page)
        # The structure planned chosen in the panel filters the map the same way.
        page.select_option("#dp-structure", "1")
        page.wait_for_function("() => document.querySelector('#structure-filter').value === '1'")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#visit-list .who')].every(e => e.textContent.startsWith('UN-'))"
        )
        assert _visit_names(page) == ["UN-0", "UN-1"]
        page.select_option("#structure-filter", "")
        page.wait_for_function("() => document.querySelectorAll('#visit-list .who').length === 4")
        assert len(page.locator("#team-list button.team-open").all_inner_texts()) == 3
        assert not errors, errors
    finally:
        ctx.close()
