"""A coordinator replays a team's day on the map (trail, time slider, visits with check-in and
check-out times, km driven) and exports it as GPX, with clicks and keys only."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import gpxpy
import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.live.history import trail_distance_m
from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
PARIS = ZoneInfo("Europe/Paris")
#: The morning of team A: (place, arrive "HH:MM", leave "HH:MM"), driven in straight lines.
HOMES = ((2.6600, 48.5430), (2.6480, 48.5460), (2.6700, 48.5380))
STAYS = ((MELUN, None, "08:00"), (HOMES[0], "08:20", "08:50"), (HOMES[1], "09:10", "09:40"),
         (HOMES[2], "10:00", "10:30"), (MELUN, "10:50", None))  # fmt: skip


def _at(day: str, hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(h, m), PARIS).timestamp()


def morning_fixes(day: str) -> list[dict[str, Any]]:
    """A fix a minute while driving (with speed), one every 5 minutes while parked, in time order,
    and one impossible jump (flagged by the server, never drawn)."""
    fixes: list[dict[str, Any]] = []
    for (a, _, leave), (b, arrive, stay_until) in zip(STAYS, STAYS[1:], strict=False):
        t0, t1 = _at(day, leave), _at(day, arrive)
        n = int((t1 - t0) // 60)
        for i in range(n + 1):
            f = i / n
            fixes.append(
                {
                    "lon": a[0] + f * (b[0] - a[0]),
                    "lat": a[1] + f * (b[1] - a[1]),
                    "device_time_s": t0 + i * 60,
                    "speed_mps": 8.0,
                    "accuracy_m": 6.0,
                }
            )
        if stay_until:
            t = t1 + 300
            while t < _at(day, stay_until):
                fixes.append(
                    {
                        "lon": b[0],
                        "lat": b[1],
                        "device_time_s": t,
                        "speed_mps": 0.0,
                        "accuracy_m": 6.0,
                    }
                )
                t += 300
    jump_at = _at(day, "09:00") + 30
    fixes.append({"lon": 2.90, "lat": 48.80, "device_time_s": jump_at, "accuracy_m": 5.0})
    fixes.sort(key=lambda f: f["device_time_s"])
    for i, fix in enumerate(fixes):
        fix["client_id"] = f"morning-{i}"
    return fixes


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server; team A drove a round yesterday morning (three visits: two done with
    check-in and check-out, one missed), team B did nothing."""
    settings = module_settings(tmp_path_factory.mktemp("history"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    today = hub.today()
    day = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()
    team_a = store.add_team(
        {"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#d62728"}
    )
    team_b = store.add_team(
        {"name": "Équipe B", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#1f77b4"}
    )
    store.add_user("coord", role="coordinator", password=PASSWORD)
    visits = [
        store.add_visit(
            {
                "day": day,
                "pseudonym": name,
                "lon": home[0],
                "lat": home[1],
                "address": f"12 rue secrète de {name}",
                "commune": "Melun",
                "duration_s": 1800,
                "windows": [["08:00", "12:00"]],
                "protected": {"name": f"Nom caché {name}", "phone": "0600000000"},
            }
        )
        for name, home in zip(("MME-ALPHA", "M-AVRIL", "MME-ARNAUD"), HOMES, strict=True)
    ]
    store.save_plan(
        day,
        [
            {
                "team_id": team_a["id"],
                "stops": [
                    {"visit_id": v["id"], "arrival_s": s}
                    for v, s in zip(
                        visits, (8 * 3600 + 900, 9 * 3600 + 600, 10 * 3600), strict=True
                    )
                ],
            }
        ],
        publish=True,
    )
    fixes = morning_fixes(day)
    reply = hub.ingest(team_a["id"], fixes, device_id=None, source="test")
    assert reply["stored"] == len(fixes) and ["jump"] in reply["flags"]
    for visit, (check_in, check_out) in zip(
        visits, (("08:21", "08:48"), ("09:12", "09:38")), strict=False
    ):
        for kind, hhmm in (("check_in", check_in), ("check_out", check_out)):
            store.add_visit_event(
                visit["id"], {"kind": kind, "device_time_s": _at(day, hhmm)}, actor="test"
            )
    store.add_visit_event(
        visits[2]["id"],
        {"kind": "missed", "device_time_s": _at(day, "10:05"), "note": "personne à la porte"},
        actor="test",
    )
    server = RealServer(app)
    yield server, {"store": store, "day": day, "today": today, "team_a": team_a,
                   "team_b": team_b, "visits": visits, "fixes": fixes}  # fmt: skip
    server.stop()
    store.close()


class Coordinator:
    """A logged-in coordinator map page."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int]) -> None:
        _, instance = browser
        self.ctx = instance.new_context(viewport=viewport, locale="fr-FR", accept_downloads=True)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base_url}/map/")
        self.page.fill("input[name=username]", "coord")
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("body[data-ready='1']", timeout=20000)
        self.page.wait_for_selector("#dh-open-btn", timeout=10000)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def marker_lonlat(self) -> list[float]:
        return self.js(
            "() => { const el = document.querySelector('.dh-marker');"
            " const r = el.getBoundingClientRect(), m = window.dispatchMap.map;"
            " const c = m.getContainer().getBoundingClientRect();"
            " const p = m.unproject([r.x + r.width / 2 - c.x, r.y + r.height / 2 - c.y]);"
            " return [p.lng, p.lat]; }"
        )

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name))

    def close(self) -> None:
        self.ctx.close()


def drawn_km(fixes: list[dict[str, Any]]) -> float:
    """The km the page must show: the drawn fixes (not the jump, not the parked jitter)."""
    trail = [
        (f["lon"], f["lat"], f["device_time_s"])
        for f in fixes
        if f["lon"] < 2.8 and (f.get("speed_mps") or 0) > 0
    ]
    return trail_distance_m(trail) / 1000


def test_coordinator_replays_a_day_and_exports_gpx(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Clicking team A in the list opens its day; yesterday is chosen in the day picker; the
    trail is drawn, km driven and the visits' check-in/out times are shown; the slider moves a
    marker along the trail with the time shown (keys and play); the GPX download parses with
    the drawn points; closing removes the layers; English texts; reads are audited."""
    server, world = live
    team_id = world["team_a"]["id"]
    coord = Coordinator(browser, server.base_url, WIDE)
    page = coord.page
    try:
        page.click(f"#team-list li[data-team-id='{team_id}'] .name")
        page.wait_for_selector("#dh-panel:not([hidden])")
        assert page.inner_text("#dh-title") == "Journée de l'équipe Équipe A"
        assert page.evaluate("document.activeElement.id") == "dh-title"
        page.wait_for_function(
            "document.querySelector('#dh-summary').textContent.includes('Aucune')"
        )
        assert page.input_value("#dh-day") == world["today"]

        page.fill("#dh-day", world["day"])
        page.wait_for_selector("#dh-slider", state="visible")
        page.wait_for_function("document.querySelector('#dh-summary').textContent.includes('km')")
        summary = page.inner_text("#dh-summary")
        km = f"{drawn_km(world['fixes']):.1f}".replace(".", ",")
        assert f"{km} km parcourus" in summary, summary
        assert "de 08:00 à 10:50" in summary
        assert coord.js("!!window.dispatchMap.map.getLayer('dh-trail-all')")

        rows = {
            r[0]: r[1:]
            for r in page.eval_on_selector_all(
                ".dh-visits tbody tr",
                "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))",
            )
        }
        assert list(rows) == [
            "MME-ALPHA\nterminée",
            "M-AVRIL\nterminée",
            "MME-ARNAUD\nmanquée à 10:05",
        ]
        # Planned, arrival (none detected here), check-in, check-out.
        assert rows["MME-ALPHA\nterminée"] == ["08:15", "–", "08:21", "08:48"]
        assert rows["MME-ARNAUD\nmanquée à 10:05"] == ["10:00", "–", "–", "–"]
        assert "Nom caché" not in page.inner_text("#dh-panel")
        french = page.inner_text("#dh-panel") + page.inner_text(".dh-open")
        english_words = ("Day", "driven", "Play", "Planned", "Arrival", "Start", "End", "Export",
                         "done", "missed", "Visits", "Team", "pseudonyms")  # fmt: skip
        assert [w for w in english_words if re.search(rf"\b{w}\b", french)] == []

        # The slider: keys move the marker along the trail and the time shown follows.
        slider = page.locator("#dh-slider")
        slider.focus()
        page.keyboard.press("Home")
        assert page.inner_text("#dh-time") == "08:00"
        start = coord.marker_lonlat()
        assert math.dist(start, MELUN) < 0.001, start
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        assert page.inner_text("#dh-time") == "08:10"
        assert slider.get_attribute("aria-valuetext") == "08:10"
        moved = coord.marker_lonlat()
        assert math.dist(moved, start) > 0.001
        halfway = (MELUN[0] + (HOMES[0][0] - MELUN[0]) / 2, MELUN[1] + (HOMES[0][1] - MELUN[1]) / 2)
        assert math.dist(moved, halfway) < 0.0015, (moved, halfway)
        page.keyboard.press("End")
        assert page.inner_text("#dh-time") == "10:50"
        # Play from the start: the time runs on by itself, pause stops it.
        page.keyboard.press("Home")
        page.click("#dh-play")
        assert page.get_attribute("#dh-play", "aria-pressed") == "true"
        page.wait_for_function("document.querySelector('#dh-time').textContent >= '08:30'")
        page.click("#dh-play")
        stopped = page.inner_text("#dh-time")
        page.wait_for_timeout(400)
        assert page.inner_text("#dh-time") == stopped and stopped > "08:00"
        # A visit's name takes the replay to its check-in.
        page.click(".dh-visits button:has-text('M-AVRIL')")
        assert page.inner_text("#dh-time") == "09:12"
        assert page.get_attribute(".dh-visits tr.dh-now", "aria-current") == "true"
        assert page.inner_text(".dh-visits tr.dh-now td").startswith("M-AVRIL")
        assert math.dist(coord.marker_lonlat(), HOMES[1]) < 0.001
        coord.shot("history-1400.png")
        check_axe(page)

        with page.expect_download() as download:
            page.click("#dh-gpx")
        assert download.value.suggested_filename == f"team-{team_id}-{world['day']}.gpx"
        gpx = gpxpy.parse(Path(download.value.path()).read_text(encoding="utf-8"))
        points = [p for t in gpx.tracks for s in t.segments for p in s.points]
        moving = [f for f in world["fixes"] if f["lon"] < 2.8 and (f.get("speed_mps") or 0) > 0]
        assert len(points) == len(moving)
        assert gpx.length_2d() / 1000 == pytest.approx(drawn_km(world["fixes"]), rel=0.01)
        assert sorted(w.name for w in gpx.waypoints) == ["M-AVRIL", "MME-ALPHA", "MME-ARNAUD"]
        assert "rue secrète" not in gpx.to_xml() and "Nom caché" not in gpx.to_xml()

        page.click("#lang")
        assert page.inner_text("#dh-title") == "Day of team Équipe A"
        assert "km driven" in page.inner_text("#dh-summary")
        assert page.inner_text("#dh-gpx") == "Export GPX"
        english = page.inner_text("#dh-panel") + page.inner_text(".dh-open")
        french_words = ("Journée", "parcourus", "Lecture", "Prévue", "Arrivée", "Début", "Fin",
                        "Exporter", "terminée", "manquée", "Visites", "Jour", "Aucune", "patients.")  # fmt: skip
        assert [w for w in french_words if re.search(rf"\b{w}\b", english)] == []
        assert "missed at 10:05" in english and "done" in english
        coord.shot("history-1400-en.png")
        page.click("#lang")

        page.click("#dh-close")
        assert page.is_hidden("#dh-panel")
        assert coord.js(
            "!window.dispatchMap.map.getLayer('dh-trail-all') && !window.dispatchMap.map.getSource('dh-trail')"
        )
        assert page.locator(".dh-marker").count() == 0
        actions = [
            (a["action"], a["detail"]["format"])
            for a in world["store"].list_audit(target=f"team:{team_id}")
        ]
        assert ("team.day.read", "gpx") in actions and ("team.day.read", "json") in actions
        assert not coord.errors, coord.errors
    finally:
        coord.close()


def test_history_from_the_marker_and_keyboard_at_1024(live, browser) -> None:  # type: ignore[no-untyped-def]
    """At 1024×768 the team's marker (Enter on it) opens the day, Escape closes it and gives
    the focus back to the marker; the panel leaves room for the trail."""
    server, world = live
    team_id = world["team_a"]["id"]
    coord = Coordinator(browser, server.base_url, NARROW)
    page = coord.page
    try:
        marker = page.locator(f".team-marker[data-team-id='{team_id}']")
        marker.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#dh-panel:not([hidden])")
        page.fill("#dh-day", world["day"])
        page.wait_for_selector("#dh-slider", state="visible")
        page.locator("#dh-slider").focus()
        for _ in range(5):
            page.keyboard.press("PageUp")
        assert page.inner_text("#dh-time") > "08:00"
        page.wait_for_timeout(300)
        coord.shot("history-1024.png")
        check_axe(page)
        page.keyboard.press("Escape")
        assert page.is_hidden("#dh-panel")
        assert page.evaluate("document.activeElement.dataset.teamId") == str(team_id)
        assert not coord.errors, coord.errors
    finally:
        coord.close()


def test_todays_day_grows_with_live_positions(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Team B's day opened today with no position yet: positions arriving through the socket
    draw its trail, count its km and move the replay marker, without reloading the day."""
    import time

    server, world = live
    team_id = world["team_b"]["id"]
    coord = Coordinator(browser, server.base_url, WIDE)
    page = coord.page
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/day?" in r.url else None)
    try:
        page.click(f"#team-list li[data-team-id='{team_id}'] .name")
        page.wait_for_function(
            "document.querySelector('#dh-summary').textContent.includes('Aucune')"
        )
        hub = server.app.extensions["dispatch.live"]
        now = time.time()
        fixes = [
            {"lon": MELUN[0] + 0.002 * i, "lat": MELUN[1], "device_time_s": now - 240 + 60 * i,
             "speed_mps": 6.0, "accuracy_m": 5.0, "client_id": f"b-live-{i}"}
            for i in range(5)
        ]  # fmt: skip
        hub.ingest(team_id, fixes, device_id=None, source="test")
        page.wait_for_function(
            "document.querySelector('#dh-summary').textContent.includes('5 positions')",
            timeout=15000,
        )
        assert "km parcourus" in page.inner_text("#dh-summary") or "m parcourus" in page.inner_text(
            "#dh-summary"
        )
        assert math.dist(coord.marker_lonlat(), (fixes[-1]["lon"], fixes[-1]["lat"])) < 0.0005
        assert len(reads) == 1, reads
        assert not coord.errors, coord.errors
    finally:
        coord.close()


def test_history_on_a_phone_sized_coordinator_page(live, browser) -> None:  # type: ignore[no-untyped-def]
    """At 360×780 the side panel is a drawer: its "Journée d'une équipe" button opens the day
    over the map and the drawer steps aside; the team is chosen in the panel; Escape in the day
    field closes only the field's calendar, not the panel."""
    server, world = live
    coord = Coordinator(browser, server.base_url, {"width": 360, "height": 780})
    page = coord.page
    try:
        page.click("#panel-toggle")
        page.click("#dh-open-btn")
        page.wait_for_selector("#dh-panel:not([hidden])")
        assert page.get_attribute("#panel-toggle", "aria-expanded") == "false"
        page.select_option("#dh-team", label="Équipe A")
        page.fill("#dh-day", world["day"])
        page.wait_for_function("document.querySelector('#dh-summary').textContent.includes('km')")
        page.press("#dh-day", "Escape")
        assert page.is_visible("#dh-panel")
        # Headless Chromium leaves the calendar of a narrow page's date field drawn as a blank
        # box while the field has the focus: the screenshot is taken with the focus elsewhere.
        page.focus("#dh-play")
        assert page.inner_text("#dh-title") == "Journée de l'équipe Équipe A"
        page.wait_for_function("window.dispatchMap.map.areTilesLoaded()", timeout=10000)
        page.wait_for_timeout(300)
        coord.shot("history-360.png")
        check_axe(page)
        page.click("#dh-close")
        assert page.is_hidden("#dh-panel")
        assert not coord.errors, coord.errors
    finally:
        coord.close()
