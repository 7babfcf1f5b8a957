"""The coordinator's rounds panel on a real server, driven with clicks and keys only: move a
visit, insert an urgent visit, optimise with dropped-visit confirmation, all seen live."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
PHONE = {"width": 360, "height": 780}
#: Patients' homes around Melun (lon, lat).
HOMES_A = ((2.6600, 48.5430), (2.6480, 48.5460), (2.6700, 48.5380))
HOMES_B = ((2.6450, 48.5350), (2.6350, 48.5300))
DIALYSE_HOME = (2.6530, 48.5450)
CARNOT_HOME = (2.6420, 48.5420)
#: Where the urgent visit is clicked on the map.
URGENT_HOME = (2.6520, 48.5380)
#: The rounds' clock stands at 09:00 local time, whatever the hour of the test run.
START = "09:00:00"


def _visit(
    store: Store, day: str, name: str, home: tuple[float, float], **extra: Any
) -> dict[str, Any]:
    return store.add_visit(
        {
            "day": day,
            "pseudonym": name,
            "lon": home[0],
            "lat": home[1],
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
            **extra,
        }
    )


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server at 09:00: team A (insulin) and team B with a published round each, two
    visits not in any round (one needs a skill no team has), a coordinator."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("rounds-coord"), territory_cache, shared_dir),
        clock_start=f"{today}T{START}",
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    shift = {"shift_start": "08:00", "shift_end": "18:00"}
    team_a = store.add_team(
        {
            "name": "Équipe A",
            "base_lon": MELUN[0],
            "base_lat": MELUN[1],
            "color": "#d62728",
            "skills": ["insulin"],
            **shift,
        }
    )
    team_b = store.add_team(
        {
            "name": "Équipe B",
            "base_lon": MELUN[0],
            "base_lat": MELUN[1],
            "color": "#1f77b4",
            **shift,
        }
    )
    user = store.add_user("coord", role="coordinator", password=PASSWORD)
    visits_a = [
        _visit(store, day, "MME-ALPHA", HOMES_A[0], skills=["insulin"]),
        _visit(store, day, "M-AVRIL", HOMES_A[1]),
        _visit(store, day, "MME-ARNAUD", HOMES_A[2]),
    ]
    visits_b = [
        _visit(store, day, "M-BRAVO", HOMES_B[0]),
        _visit(store, day, "MME-BLANC", HOMES_B[1]),
    ]
    dialyse = _visit(store, day, "M-DIALYSE", DIALYSE_HOME, skills=["dialyse"])
    carnot = _visit(store, day, "MME-CARNOT", CARNOT_HOME)

    def stops(visits: list[dict[str, Any]], first_s: int) -> list[dict[str, Any]]:
        return [
            {
                "visit_id": v["id"],
                "arrival_s": first_s + i * 3600,
                "start_s": first_s + i * 3600,
                "end_s": first_s + i * 3600 + 1800,
            }
            for i, v in enumerate(visits)
        ]

    store.save_plan(
        day,
        [
            {"team_id": team_a["id"], "stops": stops(visits_a, 9 * 3600 + 30 * 60)},
            {"team_id": team_b["id"], "stops": stops(visits_b, 10 * 3600)},
        ],
        publish=True,
    )
    server = RealServer(app)
    world = {
        "store": store,
        "day": day,
        "team_a": team_a,
        "team_b": team_b,
        "alpha": visits_a[0],
        "bravo": visits_b[0],
        "dialyse": dialyse,
        "carnot": carnot,
        "token": store.create_api_token(user["id"], label="tests"),
    }
    yield server, world
    server.stop()
    store.close()


class Coordinator:
    """A logged-in coordinator map page that counts the snapshots it loads."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int]) -> None:
        _, instance = browser
        self.ctx = instance.new_context(viewport=viewport, locale="fr-FR")
        self.page = self.ctx.new_page()
        self.snapshots = 0
        self.errors: list[str] = []
        self.page.on("request", self._count)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base_url}/map/")
        self.page.fill("input[name=username]", "coord")
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("body[data-ready='1']", timeout=20000)
        self.page.wait_for_selector(".dispatch-panel #dp-move", timeout=10000)
        self.page.wait_for_function("window.dispatchMap.state.plans.size > 0", timeout=10000)
        # A mark that a reload would wipe out.
        self.page.evaluate("window.__sameDocument = true")

    def _count(self, request: Any) -> None:
        if "/api/live/snapshot" in request.url:
            self.snapshots += 1

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def stops_of(self, team_id: int) -> list[int]:
        return self.js(
            "id => (window.dispatchMap.state.plans.get(id)?.stops || []).map(s => s.visit_id)",
            team_id,
        )

    def wait(self, expression: str, arg: Any = None, timeout: int = 15000) -> None:
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)

    def click_map_at(self, lonlat: tuple[float, float]) -> None:
        """Click the map where ``lonlat`` is drawn, as a person would."""
        box = self.page.locator("#map canvas").bounding_box()
        x, y = self.js(
            "p => { const q = window.dispatchMap.map.project(p); return [q.x, q.y]; }", list(lonlat)
        )
        self.page.mouse.click(box["x"] + x, box["y"] + y)

    def assert_no_reload(self) -> None:
        assert self.js("window.__sameDocument === true"), "the page was reloaded"
        assert self.snapshots == 1, (
            f"the snapshot was read again ({self.snapshots} times): the socket must bring changes"
        )
        assert not self.errors, self.errors

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name))

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def coord(live, browser):  # type: ignore[no-untyped-def]
    """A coordinator's page at 1400×900."""
    server, _ = live
    page = Coordinator(browser, server.base_url, WIDE)
    yield page
    page.close()


def rest(live: Any, path: str, body: dict[str, Any], method: str = "POST") -> requests.Response:
    """A coordinator's REST call outside the page (what another coordinator would do)."""
    server, world = live
    return requests.request(
        method,
        f"{server.base_url}{path}",
        json={"day": world["day"], **body} if method == "POST" else body,
        headers={"Authorization": f"Bearer {world['token']}"},
        timeout=30,
    )


def test_move_a_visit_with_selects_confirms_what_it_breaks_and_shows_live(live, coord) -> None:  # type: ignore[no-untyped-def]
    """MME-ALPHA (insulin) is chosen on the map, in the list and by search; moving it first in
    team B is checked (the missing skill is named, in French), applying asks for confirmation
    listing it, and the map's rounds change through the socket without any reload."""
    _, world = live
    page = coord.page
    alpha, a_id, b_id = world["alpha"]["id"], world["team_a"]["id"], world["team_b"]["id"]
    assert alpha in coord.stops_of(a_id)

    # Three ways to choose the visit, no id typed: on the map (its popup gives the arrival)...
    coord.click_map_at(HOMES_A[0])
    coord.wait("id => window.dispatchMap.state.selectedVisit === id", alpha)
    assert "MME-ALPHA" in page.inner_text("#dp-move-visit")
    popup = page.inner_text(".maplibregl-popup-content")
    assert "MME-ALPHA" in popup and "arrivée prévue" in popup and "créneau 08:00–18:00" in popup
    page.click(".maplibregl-popup-close-button")
    # ... by search, and in the day's list.
    page.fill("#dp-search", "bravo")
    page.click("#dp-search-out button:has-text('M-BRAVO')")
    assert "M-BRAVO" in page.inner_text("#dp-move-visit")
    page.fill("#dp-search", "arnaud")  # by keyboard: type, then Enter takes the first match
    page.press("#dp-search", "Enter")
    assert "MME-ARNAUD" in page.inner_text("#dp-move-visit")
    page.click(f"#visit-list button.vsel[data-visit-id='{alpha}']")
    assert "MME-ALPHA" in page.inner_text("#dp-move-visit")
    assert (
        page.get_attribute(f"#visit-list button.vsel[data-visit-id='{alpha}']", "aria-pressed")
        == "true"
    )
    # The list shows the planned arrival (live ETA, else the plan's), not the window's start.
    arrival = coord.js("id => window.dispatchMap.arrivalOf(id)", alpha)
    expected = (
        f"arrivée prévue {arrival['arrival_s'] // 3600:02d}:{arrival['arrival_s'] % 3600 // 60:02d}"
    )
    assert expected in page.inner_text(f"#visit-list li[data-visit-id='{alpha}'] .arrival")
    assert expected != "arrivée prévue 08:00"

    # Team by name, position among team B's stops.
    page.select_option("#dp-move-team", label="Équipe B")
    labels = page.locator("#dp-move-pos option").all_inner_texts()
    assert labels[:2] == ["meilleure place", "en premier"]
    assert any(label.startswith("après ") and "M-BRAVO" in label for label in labels), labels
    page.select_option("#dp-move-pos", label="en premier")
    page.click("#dp-move-check")
    page.wait_for_selector("#dp-move-out .dp-violations li", timeout=15000)
    out = page.inner_text("#dp-move-out")
    assert "compétence" in out.lower(), out
    coord.shot("coordinator-move-check-1400.png")

    # Apply: the confirmation lists what it breaks; cancelling changes nothing.
    page.click("#dp-move-apply")
    page.wait_for_selector("#dp-confirm[open]")
    assert "compétence" in page.inner_text("#dp-confirm-list").lower()
    assert page.evaluate("document.activeElement.id") == "dp-confirm-cancel"
    coord.shot("coordinator-move-confirm-1400.png")
    check_axe(page)
    page.keyboard.press("Escape")
    page.wait_for_selector("#dp-confirm[open]", state="detached")
    assert alpha in coord.stops_of(a_id)
    page.click("#dp-move-apply")
    page.wait_for_selector("#dp-confirm[open]")
    page.click("#dp-confirm-ok:has-text('Appliquer quand même')")

    coord.wait(
        "([v, b]) => (window.dispatchMap.state.plans.get(b)?.stops || []).some(s => s.visit_id === v)"
        " && window.dispatchMap.state.visits.get(v).team_id === b",
        [alpha, b_id],
    )
    assert coord.stops_of(b_id)[0] == alpha
    assert alpha not in coord.stops_of(a_id)
    page.wait_for_selector("#notices .notice:has-text('déplacement')", timeout=5000)
    notice = page.inner_text("#notices .notice")
    assert "Équipe A" in notice and "Équipe B" in notice
    # The list is redrawn after the state changes: wait for its line to name the new team.
    page.wait_for_selector(
        f"#visit-list li[data-visit-id='{alpha}'] .secondary:has-text('Équipe B')", timeout=10000
    )
    assert "Équipe B" in page.inner_text(f"#visit-list li[data-visit-id='{alpha}']")
    coord.shot("coordinator-move-applied-1400.png")
    page.click("#notices .notice-close")
    assert page.locator("#notices .notice").count() == 0
    coord.assert_no_reload()
    assert "par coord" in notice, "the notice names who changed the plan by their username"


def test_dragging_a_visit_onto_another_round_fills_the_move_and_checks_it(live, coord) -> None:  # type: ignore[no-untyped-def]
    """M-AVRIL (team A) dragged with the mouse onto M-BRAVO (team B) on the map: the move tool
    shows team B, "after M-BRAVO", and its feasibility, without applying anything."""
    _, world = live
    page = coord.page
    avril = coord.js(
        "() => [...window.dispatchMap.state.visits.values()].find(v => v.pseudonym === 'M-AVRIL').id"
    )
    before = coord.stops_of(world["team_a"]["id"])
    box = page.locator("#map canvas").bounding_box()
    project = "p => { const q = window.dispatchMap.map.project(p); return [q.x, q.y]; }"
    x0, y0 = coord.js(project, list(HOMES_A[1]))
    x1, y1 = coord.js(project, list(HOMES_B[0]))
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    page.mouse.down()
    page.mouse.move(box["x"] + (x0 + x1) / 2, box["y"] + (y0 + y1) / 2, steps=8)
    page.mouse.move(box["x"] + x1, box["y"] + y1, steps=8)
    assert "M-AVRIL → Équipe B" in page.inner_text(".drag-ghost")
    page.mouse.up()
    page.wait_for_selector("#dp-move-out p", timeout=15000)
    assert "M-AVRIL" in page.inner_text("#dp-move-visit")
    assert page.locator("#dp-move-team option:checked").inner_text() == "Équipe B"
    position = page.locator("#dp-move-pos option:checked").inner_text()
    assert position.startswith("après ") and position.endswith("M-BRAVO"), position
    out = page.inner_text("#dp-move-out")
    assert "Faisable." in out or page.locator("#dp-move-out .dp-violations li").count() > 0, out
    assert coord.stops_of(world["team_a"]["id"]) == before, "a drag only proposes the move"
    assert avril in before
    coord.shot("coordinator-move-drag-1400.png")
    coord.assert_no_reload()


def test_urgent_visit_placed_on_the_map_is_inserted_where_chosen(live, coord) -> None:  # type: ignore[no-untyped-def]
    """A new urgent visit placed by clicking the map gets insertion options (team, arrival,
    extra driving); the chosen one is confirmed and the round shows it live. An existing
    unassigned visit is inserted the same way from the day's list."""
    _, world = live
    page = coord.page
    page.click("#dp-urgent > summary")
    page.fill("#dp-urg-name", "MME-URGENTE")
    assert page.input_value("#dp-urg-from") == "09:00"
    assert page.input_value("#dp-urg-to") == "11:00"
    page.click("#dp-urg-pick")
    assert page.get_attribute("#dp-urg-pick", "aria-pressed") == "true"
    coord.click_map_at(URGENT_HOME)
    page.wait_for_selector(".urgent-marker")
    assert page.get_attribute("#dp-urg-pick", "aria-pressed") == "false"
    assert "48,53" in page.inner_text("#dp-urg-where")  # a decimal comma in French
    page.fill("#dp-urg-dur", "20")
    page.click("#dp-urg-find")
    page.wait_for_selector("#dp-urg-options li button", timeout=20000)
    options = page.locator("#dp-urg-options li button").all_inner_texts()
    assert any("Équipe" in o and "arrivée" in o and "min de route" in o for o in options), options
    coord.shot("coordinator-urgent-options-1400.png")
    check_axe(page)
    chosen = page.locator("#dp-urg-options li button").first
    team_name = chosen.inner_text().split(" :")[0]
    chosen.click()
    page.wait_for_selector("#dp-confirm[open]")
    assert "MME-URGENTE" in page.inner_text("#dp-confirm-title")
    page.click("#dp-confirm-ok")
    coord.wait(
        "() => [...window.dispatchMap.state.visits.values()].some(v => v.pseudonym === 'MME-URGENTE' && v.team_id)"
    )
    visit_id, team_id = coord.js(
        "() => { const v = [...window.dispatchMap.state.visits.values()].find(v => v.pseudonym === 'MME-URGENTE');"
        " return [v.id, v.team_id]; }"
    )
    team = world["team_a"] if world["team_a"]["id"] == team_id else world["team_b"]
    assert team["name"] == team_name
    coord.wait(
        "([v, t]) => (window.dispatchMap.state.plans.get(t)?.stops || []).some(s => s.visit_id === v)",
        [visit_id, team_id],
    )
    page.wait_for_selector("#dp-urg-status:has-text('insérée')")
    page.wait_for_selector(
        f"#visit-list li[data-visit-id='{visit_id}'] .arrival:has-text('arrivée prévue')"
    )
    assert page.locator(".urgent-marker").count() == 0

    # An unassigned visit of the day: "Insérer" in the list, same options, same confirmation.
    carnot = world["carnot"]["id"]
    page.click(f"#visit-list button.vins[data-visit-id='{carnot}']")
    page.wait_for_selector("#dp-urg-options li button", timeout=20000)
    assert "MME-CARNOT" in page.inner_text("#dp-urg-options-title")
    page.locator("#dp-urg-options li button").first.click()
    page.wait_for_selector("#dp-confirm[open]")
    page.click("#dp-confirm-ok")
    coord.wait(
        "v => window.dispatchMap.state.stops.has(v) && window.dispatchMap.state.visits.get(v).team_id",
        carnot,
    )
    assert page.locator(f"#visit-list button.vins[data-visit-id='{carnot}']").count() == 0
    # A visit no team can serve: no option, and the reason says why.
    page.click(f"#visit-list button.vins[data-visit-id='{world['dialyse']['id']}']")
    page.wait_for_selector("#dp-urg-status:has-text('Aucune insertion possible')", timeout=20000)
    assert "dialyse" in page.inner_text("#dp-urg-status")
    assert page.locator("#dp-urg-options li").count() == 0
    page.click("#dp-urg-reset")
    coord.shot("coordinator-urgent-inserted-1400.png")
    coord.assert_no_reload()


def test_optimise_names_the_dropped_visits_and_applies_only_once_confirmed(live, coord) -> None:  # type: ignore[no-untyped-def]
    """M-DIALYSE (a skill no team has) was forced into team B: the proposal leaves it out, the
    result lists it as removed, and the plan is applied only after ticking the confirmation;
    the rounds and a "dropped" alert arrive live."""
    _, world = live
    page = coord.page
    dialyse, b_id = world["dialyse"]["id"], world["team_b"]["id"]
    r = rest(
        live,
        "/api/dispatch/move",
        {"visit_id": dialyse, "team_id": b_id, "position": None, "apply": True, "force": True},
    )
    assert r.status_code == 200, r.text
    coord.wait("v => window.dispatchMap.state.stops.has(v)", dialyse)

    page.click("#dp-optimise > summary")
    page.select_option("#dp-budget", "3")
    page.click("#dp-run")
    page.wait_for_selector("#dp-dropped-list li", timeout=60000)
    assert "M-DIALYSE" in page.inner_text("#dp-dropped-list")
    assert "Visites planifiées qui seraient retirées" in page.inner_text("#dp-result")
    coord.shot("coordinator-optimise-result-1400.png")

    page.click("#dp-apply")
    page.wait_for_selector("#dp-confirm[open]")
    assert "M-DIALYSE" in page.inner_text("#dp-confirm-list")
    assert page.is_disabled("#dp-confirm-ok"), "applying must wait for the tick"
    page.keyboard.press("Space")  # focus starts on the confirmation box
    assert page.is_checked("#dp-confirm-tick")
    coord.shot("coordinator-optimise-confirm-1400.png")
    check_axe(page)
    page.click("#dp-confirm-ok")
    coord.wait("v => !window.dispatchMap.state.stops.has(v)", dialyse)
    page.wait_for_selector("#alert-list li[data-kind='dropped']", timeout=10000)
    assert "M-DIALYSE retirée de la tournée de Équipe B" in page.inner_text("#alert-list")
    page.wait_for_selector("#dp-apply-status:has-text('Plan appliqué')")
    page.wait_for_selector("#notices .notice:has-text('optimisation')")
    coord.shot("coordinator-optimise-applied-1400.png")
    coord.assert_no_reload()


def test_a_proposal_overtaken_by_another_change_offers_to_run_again(live, coord) -> None:  # type: ignore[no-untyped-def]
    """A proposal that changes teams A and B, then another coordinator moves a visit of
    those teams: applying is refused with the localised "stale" message and the page offers to
    run the optimisation again, which gives a proposal that can be applied."""
    _, world = live
    page = coord.page
    alpha, bravo = world["alpha"]["id"], world["bravo"]["id"]
    a_id, b_id = world["team_a"]["id"], world["team_b"]["id"]
    r = rest(
        live,
        "/api/dispatch/move",
        {"visit_id": alpha, "team_id": b_id, "position": 0, "apply": True, "force": True},
    )
    assert r.status_code == 200, r.text
    coord.wait(
        "([v, b]) => (window.dispatchMap.state.plans.get(b)?.stops || []).some(s => s.visit_id === v)",
        [alpha, b_id],
    )
    page.click("#dp-optimise > summary")
    page.select_option("#dp-budget", "3")
    page.click("#dp-run")
    page.wait_for_selector("#dp-apply", timeout=60000)
    r = rest(
        live,
        "/api/dispatch/move",
        {"visit_id": bravo, "team_id": a_id, "position": 0, "apply": True, "force": True},
    )
    assert r.status_code == 200, r.text
    page.click("#dp-apply")
    page.wait_for_selector("#dp-rerun", timeout=10000)
    assert "relancez" in page.inner_text("#dp-apply-status").lower()
    coord.shot("coordinator-optimise-stale-1400.png")
    page.click("#dp-rerun")
    page.wait_for_selector("#dp-apply", timeout=60000)
    page.click("#dp-apply")
    page.wait_for_selector("#dp-apply-status:has-text('Plan appliqué')", timeout=15000)
    page.wait_for_selector("#notices .notice:has-text('optimisation')", timeout=10000)
    # The insulin visit is back with the only team able to serve it.
    coord.wait("([v, a]) => window.dispatchMap.state.stops.get(v)?.team_id === a", [alpha, a_id])
    coord.assert_no_reload()


def _overlaps(page: Any) -> list[str]:
    """Visible controls of the side panel that overlap another or spill out of the panel."""
    return page.evaluate(
        """() => {
          const side = document.getElementById('side').getBoundingClientRect();
          const els = [...document.querySelectorAll('#side button, #side input, #side select, #side summary')]
            .filter(e => e.offsetParent !== null && !e.closest('details:not([open]) > :not(summary)'));
          const boxes = els.map(e => [e, e.getBoundingClientRect()]).filter(([, r]) => r.width && r.height);
          const bad = [];
          for (const [e, r] of boxes) {
            if (r.left < side.left - 1 || r.right > side.right + 1) bad.push(`${e.id || e.className || e.tagName} spills out`);
          }
          for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const [a, ra] = boxes[i], [b, rb] = boxes[j];
            if (a.contains(b) || b.contains(a)) continue;
            const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
            const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
            if (w > 2 && h > 2) bad.push(`${a.id || a.className || a.tagName} / ${b.id || b.className || b.tagName}`);
          }
          return bad;
        }"""
    )


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1400x900", "1024x768"])
def test_panel_is_usable_without_overlap_and_passes_axe(live, browser, viewport) -> None:  # type: ignore[no-untyped-def]
    """With every tool open, no control of the side panel overlaps another or leaves it, the
    page does not scroll sideways, English is complete, and axe-core finds no WCAG A/AA issue."""
    server, world = live
    # Team A reports where it is, so its live marker is on the map (and checked by axe).
    r = requests.post(
        f"{server.base_url}/api/positions",
        json={
            "team_id": world["team_a"]["id"],
            "positions": [
                {
                    "client_id": f"axe-{viewport['width']}",
                    "lon": MELUN[0],
                    "lat": MELUN[1],
                    "device_time_s": time.time(),
                }
            ],
        },
        headers={"Authorization": f"Bearer {world['token']}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    coord = Coordinator(browser, server.base_url, viewport)
    page = coord.page
    try:
        page.wait_for_selector(
            f".team-marker[data-team-id='{world['team_a']['id']}']", timeout=10000
        )
        marker = page.locator(".team-marker").first
        assert marker.get_attribute("aria-label").startswith(
            marker.locator(".label").inner_text().strip()[:8]
        )
        for tool in ("#dp-move", "#dp-urgent", "#dp-optimise"):
            if page.get_attribute(tool, "open") is None:
                page.click(f"{tool} > summary")
        assert _overlaps(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        name = f"coordinator-panel-{viewport['width']}.png"
        coord.shot(name)

        check_axe(page)
        page.click("#lang")
        coord.shot(f"coordinator-panel-{viewport['width']}-en.png")
        assert page.inner_text("#dp-move > summary") == "Move a visit"
        assert "Find the best insertions" in page.inner_text("#dp-urg-find")
        assert "planned arrival" in page.inner_text("#visit-list")
        assert _overlaps(page) == []
        check_axe(page)
        page.click("#lang")
    finally:
        coord.close()


def test_phone_size_panel_toggles(live, browser) -> None:  # type: ignore[no-untyped-def]
    """At 360×780 the side panel is a drawer opened by its labelled toggle."""
    server, _ = live
    coord = Coordinator(browser, server.base_url, PHONE)
    page = coord.page
    try:
        toggle = page.locator("#panel-toggle")
        assert toggle.get_attribute("aria-label")
        assert toggle.get_attribute("aria-expanded") == "false"
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        page.wait_for_timeout(300)
        box = page.locator("#dp-move-check").bounding_box()
        assert box and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        coord.shot("coordinator-panel-360.png")
        # Picking the urgent visit's place: the drawer steps aside, then comes back.
        page.click("#dp-urgent > summary")
        page.click("#dp-urg-pick")
        assert toggle.get_attribute("aria-expanded") == "false"
        page.wait_for_timeout(300)
        coord.click_map_at(URGENT_HOME)
        assert toggle.get_attribute("aria-expanded") == "true"
        assert "48,53" in page.inner_text("#dp-urg-where")  # a decimal comma in French
        assert page.evaluate("document.activeElement.id") == "dp-urg-pick"
    finally:
        coord.close()


def test_an_emptied_round_leaves_the_map(live, coord) -> None:  # type: ignore[no-untyped-def]
    """When another coordinator moves every visit of team B to team A, team B's round arrives
    empty (stops: []) and its line leaves the map, without reload."""
    _, world = live
    a_id, b_id = world["team_a"]["id"], world["team_b"]["id"]
    line_of_b = "b => window.dispatchMap.map.querySourceFeatures('routes').some(f => f.properties.team_id === b)"
    coord.wait(line_of_b, b_id)
    for visit_id in coord.stops_of(b_id):
        r = rest(
            live,
            "/api/dispatch/move",
            {"visit_id": visit_id, "team_id": a_id, "position": None, "apply": True, "force": True},
        )
        assert r.status_code == 200, r.text
    coord.wait("b => !window.dispatchMap.state.plans.has(b)", b_id)
    coord.wait(f"b => !({line_of_b})(b)", b_id)
    assert coord.stops_of(a_id)
    coord.assert_no_reload()


def test_the_english_page_gets_english_answers(live, coord) -> None:  # type: ignore[no-untyped-def]
    """In English, the move tool, its check and the server's violations (the page sends its
    locale) are all in English."""
    _, world = live
    page = coord.page
    alpha, a_id = world["alpha"]["id"], world["team_a"]["id"]
    if alpha not in coord.stops_of(a_id):  # run alone: the insulin visit goes back to team A
        r = rest(
            live,
            "/api/dispatch/move",
            {"visit_id": alpha, "team_id": a_id, "apply": True, "force": True},
        )
        assert r.status_code == 200, r.text
        coord.wait(
            "([v, a]) => window.dispatchMap.state.stops.get(v)?.team_id === a", [alpha, a_id]
        )
        coord.snapshots = 1
    page.click("#lang")
    page.click(f"#visit-list button.vsel[data-visit-id='{alpha}']")
    assert "Chosen visit: MME-ALPHA" in page.inner_text("#dp-move-visit")
    page.select_option("#dp-move-team", label="Équipe B")
    assert page.locator("#dp-move-pos option").all_inner_texts()[:2] == ["best place", "first"]
    page.click("#dp-move-check")
    page.wait_for_selector("#dp-move-out .dp-violations li", timeout=15000)
    out = page.inner_text("#dp-move-out")
    assert "This move breaks rules:" in out and "lacks skill insulin" in out, out
    page.click("#dp-move-apply")
    page.wait_for_selector("#dp-confirm[open]")
    assert page.inner_text("#dp-confirm-ok") == "Apply anyway"
    assert page.inner_text("#dp-confirm-cancel") == "Cancel"
    coord.shot("coordinator-move-confirm-1400-en.png")
    page.keyboard.press("Escape")
    page.wait_for_selector("#dp-confirm[open]", state="detached")
    page.wait_for_selector("#dp-move-out:has-text('Nothing was changed.')")
    # Applying a move never checked: the server's refusal (409) opens the same confirmation.
    page.select_option("#dp-move-pos", label="best place")
    page.click("#dp-move-apply")
    page.wait_for_selector("#dp-confirm[open]", timeout=15000)
    assert "lacks skill insulin" in page.inner_text("#dp-confirm-list")
    page.click("#dp-confirm-cancel")
    page.wait_for_selector("#dp-confirm[open]", state="detached")
    page.wait_for_selector("#dp-move-out:has-text('Nothing was changed.')")
    page.wait_for_function("document.activeElement.id === 'dp-move-apply'", timeout=2000)
    assert alpha in coord.stops_of(a_id)
    coord.assert_no_reload()


def test_positions_start_after_the_visits_already_done(live, coord) -> None:  # type: ignore[no-untyped-def]
    """Once a team's first visit is done, the place select offers no place before it ("en
    premier" is gone), and the first place offered, after it, is accepted by the check."""
    _, world = live
    page = coord.page
    a_id = world["team_a"]["id"]
    stops = coord.stops_of(a_id)
    assert len(stops) >= 3
    first, last = stops[0], stops[-1]
    r = rest(live, f"/api/visits/{first}", {"status": "done"}, method="PATCH")
    assert r.status_code == 200, r.text
    coord.wait("v => window.dispatchMap.state.visits.get(v).status === 'done'", first)
    page.click(f"#visit-list button.vsel[data-visit-id='{last}']")
    page.select_option("#dp-move-team", label="Équipe A (actuelle)")
    labels = page.locator("#dp-move-pos option").all_inner_texts()
    name = coord.js("v => window.dispatchMap.state.visits.get(v).pseudonym", first)
    assert "en premier" not in labels, labels
    assert labels[1].startswith("après ") and labels[1].endswith(name), labels
    page.select_option("#dp-move-pos", index=1)
    page.click("#dp-move-check")
    page.wait_for_selector("#dp-move-out p", timeout=15000)
    out = page.inner_text("#dp-move-out")
    assert "Faisable." in out or page.locator("#dp-move-out .dp-violations li").count(), out
    coord.assert_no_reload()
