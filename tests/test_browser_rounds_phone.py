"""The team phone's round on a real server: pairing link, live plan changes, arrival times, a11y."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from axe_support import check_axe
from live_support import MELUN, PASSWORD, WAKE_LOCK_STUB, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.api_dispatch import ROUNDS_KEY
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Records the vibrations the page asks for (headless Chromium has no vibrator).
VIBRATE_STUB = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
"""
SCREENSHOTS = Path(__file__).parent / "screenshots"
PHONE_VIEWPORT = {"width": 360, "height": 780}
#: Patients' homes around Melun (lon, lat): three for team A, two for team B.
HOMES_A = ((2.6600, 48.5430), (2.6480, 48.5460), (2.6700, 48.5380))
HOMES_B = ((2.6450, 48.5350), (2.6350, 48.5300))
#: Planned arrivals (seconds since midnight) of the first published plan.
ARRIVALS_A = (9 * 3600, 10 * 3600 + 40 * 60, 12 * 3600 + 5 * 60)
ARRIVALS_B = (9 * 3600 + 30 * 60, 11 * 3600)


def _visit(store: Store, day: str, name: str, home: tuple[float, float]) -> dict[str, Any]:
    # M-AVRIL has two windows: the phone shows the one its arrival aims at.
    windows = (
        [["08:00", "10:00"], ["10:30", "18:00"]] if name == "M-AVRIL" else [["08:00", "18:00"]]
    )
    return store.add_visit(
        {
            "day": day,
            "pseudonym": name,
            "lon": home[0],
            "lat": home[1],
            "address": f"3 rue de {name.title()}",
            "commune": "Melun",
            "duration_s": 1800,
            "windows": windows,
        }
    )


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server, two teams with a published round each, a coordinator."""
    settings = module_settings(tmp_path_factory.mktemp("rounds-phone"), territory_cache, shared_dir)
    # The rounds' clock stands at 08:30 today whenever the tests run: re-timed rounds then fall
    # inside the visits' windows, and no arrival runs past midnight.
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()  # Melun
    settings = dataclasses.replace(settings, clock_start=f"{today}T08:30:00")
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    team_a = store.add_team(
        {"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#d62728"}
    )
    team_b = store.add_team(
        {"name": "Équipe B", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#1f77b4"}
    )
    store.add_user("coord", role="coordinator", password=PASSWORD)
    visits_a = [
        _visit(store, day, name, home)
        for name, home in zip(("MME-ALPHA", "M-AVRIL", "MME-ARNAUD"), HOMES_A, strict=True)
    ]
    visits_b = [
        _visit(store, day, name, home)
        for name, home in zip(("M-BRAVO", "MME-BLANC"), HOMES_B, strict=True)
    ]

    def stops(visits: list[dict[str, Any]], arrivals: tuple[int, ...]) -> list[dict[str, Any]]:
        return [
            {"visit_id": v["id"], "arrival_s": a, "start_s": a, "end_s": a + 1800}
            for v, a in zip(visits, arrivals, strict=True)
        ]

    store.save_plan(
        day,
        [
            {"team_id": team_a["id"], "stops": stops(visits_a, ARRIVALS_A)},
            {"team_id": team_b["id"], "stops": stops(visits_b, ARRIVALS_B)},
        ],
        publish=True,
    )
    # The server re-times the rounds from live positions about once a minute; here the ETA test
    # alone sends them, so that the other journeys see the planned arrivals.
    rounds = app.extensions[ROUNDS_KEY]
    publish_etas = rounds.publish_etas
    rounds.publish_etas = lambda day=None: 0
    server = RealServer(app)
    world = {
        "store": store,
        "app": app,
        "rounds": rounds,
        "publish_etas": publish_etas,
        "day": day,
        "team_a": team_a,
        "team_b": team_b,
        "visits_a": visits_a,
        "visits_b": visits_b,
    }
    yield server, world
    server.stop()
    store.close()


def phone_context(browser: Any) -> Any:
    """A Pixel 7 at 360×780 with a GPS fix in Melun and a wake lock."""
    p, instance = browser
    ctx = instance.new_context(
        **{**p.devices["Pixel 7"], "viewport": PHONE_VIEWPORT},
        geolocation={"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5},
        permissions=["geolocation"],
        locale="fr-FR",
    )
    ctx.add_init_script(WAKE_LOCK_STUB)
    ctx.add_init_script(VIBRATE_STUB)
    return ctx


@pytest.fixture(scope="module")
def phone(live, browser):  # type: ignore[no-untyped-def]
    """Team A's phone, paired through /phone/?code=, connected and with a fix."""
    server, world = live
    ctx = phone_context(browser)
    page = ctx.new_page()
    code = world["store"].create_pairing(world["team_a"]["id"])["code"]
    page.goto(f"{server.base_url}/phone/?code={code}")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.wait_for_selector("#conn[data-state='online']", timeout=10000)
    page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
    yield {"ctx": ctx, "page": page}
    ctx.close()


@pytest.fixture(scope="module")
def coordinator(live):  # type: ignore[no-untyped-def]
    """A coordinator's HTTP session on the live server (cookie and CSRF token)."""
    server, _ = live
    session = requests.Session()
    reply = session.post(
        f"{server.base_url}/api/session",
        json={"username": "coord", "password": PASSWORD},
        timeout=10,
    )
    reply.raise_for_status()
    session.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
    yield session
    session.close()


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def round_ids(page: Any) -> list[int]:
    return [
        int(x)
        for x in page.eval_on_selector_all(
            "#round li[data-visit-id]", "els => els.map(e => e.dataset.visitId)"
        )
    ]


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def move(session: requests.Session, base_url: str, **body: Any) -> dict[str, Any]:
    reply = session.post(
        f"{base_url}/api/dispatch/move",
        json={"apply": True, "force": True, "locale": "fr", **body},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_pairing_link_lands_on_the_round(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The link made by `dispatch device pair` (/pair?code=…) pairs the phone and shows team A's
    round in the plan's order, each stop with its planned arrival and its window."""
    server, world = live
    ctx = phone_context(browser)
    try:
        page = ctx.new_page()
        code = world["store"].create_pairing(world["team_a"]["id"])["code"]
        page.goto(f"{server.base_url}/pair?code={code}")
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
        assert "code=" not in page.url, "the used code must leave the address bar"
        assert page.evaluate("!!localStorage.getItem('dispatch.deviceToken')")
        assert round_ids(page) == [v["id"] for v in world["visits_a"]]
        second = page.inner_text(f"#round li[data-visit-id='{world['visits_a'][1]['id']}']")
        assert "arrivée prévue 10:40" in second and "créneau 10:30–18:00" in second, second
        assert "arrivée prévue 09:00" in page.inner_text("#next-body")
        assert page.inner_text("#next-body .who") == "MME-ALPHA"
        assert "M-BRAVO" not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        shot(page, "phone-round-fr")
    finally:
        ctx.close()


def test_a_new_link_moves_a_paired_phone_to_another_team(live, browser) -> None:  # type: ignore[no-untyped-def]
    """A phone of team A that opens a pairing link of team B becomes team B's phone: B's name
    and B's round, none of A's visits; opening the spent link again keeps it paired to B."""
    server, world = live
    store = world["store"]
    ctx = phone_context(browser)
    try:
        page = ctx.new_page()
        code_a = store.create_pairing(world["team_a"]["id"])["code"]
        page.goto(f"{server.base_url}/pair?code={code_a}")
        page.wait_for_selector("#round li[data-visit-id]", timeout=15000)
        assert page.inner_text("#team-name") == "Équipe A"
        code_b = store.create_pairing(world["team_b"]["id"])["code"]
        for _ in range(2):
            page.goto(f"{server.base_url}/pair?code={code_b}")
            page.wait_for_selector("body[data-ready='1']", timeout=15000)
            page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
            assert page.inner_text("#team-name") == "Équipe B"
            teams = {v["team_id"] for v in store.get_visits(round_ids(page))}
            assert teams == {world["team_b"]["id"]}
            assert page.is_hidden("#pairing")
    finally:
        ctx.close()


def test_expired_pairing_code_says_so(live, browser) -> None:  # type: ignore[no-untyped-def]
    """An expired code shows the pairing form with an error that says the code has expired and
    what to do, in French, and leaves no device token."""
    server, world = live
    ctx = phone_context(browser)
    try:
        page = ctx.new_page()
        code = world["store"].create_pairing(world["team_a"]["id"], ttl_s=-1)["code"]
        page.goto(f"{server.base_url}/phone/?code={code}")
        page.wait_for_selector("#pairing:not([hidden])", timeout=10000)
        page.wait_for_function("document.getElementById('pair-error').textContent.length > 0")
        error = page.inner_text("#pair-error")
        assert "expiré" in error and "coordinateur" in error, error
        assert page.is_hidden("#main")
        assert not page.evaluate("localStorage.getItem('dispatch.deviceToken')")
        check_axe(page)
        shot(page, "phone-pairing-expired-fr")
        set_locale(page, "en")
        assert "expired" in page.inner_text("#pair-error")
        check_axe(page)
    finally:
        ctx.close()


def test_pairing_by_typing_the_code(live, browser) -> None:  # type: ignore[no-untyped-def]
    """On /phone/ without a token the pairing form shows; a wrong code gets the clear error, the
    right one opens team A's round."""
    server, world = live
    ctx = phone_context(browser)
    try:
        page = ctx.new_page()
        page.goto(f"{server.base_url}/phone/")
        page.wait_for_selector("#pairing:not([hidden])", timeout=10000)
        page.fill("#pair-code", "ZZZZ-ZZZZ")
        page.click("#pair-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('pair-error').textContent.includes('expiré')"
        )
        assert page.get_attribute("#pair-code", "aria-invalid") == "true"
        code = world["store"].create_pairing(world["team_a"]["id"])["code"]
        page.fill("#pair-code", code.lower())
        page.click("#pair-form button[type=submit]")
        page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
        assert page.is_hidden("#pairing") and page.inner_text("#pair-error") == ""
        assert page.inner_text("#team-name") == "Équipe A"
    finally:
        ctx.close()


def test_language_toggle_keeps_the_connection_and_gps_state(phone) -> None:  # type: ignore[no-untyped-def]
    """Switching to English and back re-renders from the current state: a connected phone with
    a fix stays "Connected"/"Connecté" with its GPS accuracy, never "Reconnecting…"; French
    distances use a decimal comma."""
    page = phone["page"]
    page.wait_for_selector("#gps[data-state='ok']", timeout=10000)
    set_locale(page, "fr")
    assert page.inner_text("#conn") == "Connecté"
    set_locale(page, "en")
    assert page.inner_text("#conn") == "Connected"
    assert page.get_attribute("#conn", "data-state") == "online"
    assert page.inner_text("#gps").startswith("GPS: ±5 m"), page.inner_text("#gps")
    assert "planned arrival 09:00" in page.inner_text("#next-body")
    assert page.inner_text("h2[data-i18n='phone.round']") == "Today's round"
    shot(page, "phone-round-en")
    set_locale(page, "fr")
    assert page.inner_text("#conn") == "Connecté"
    assert page.inner_text("#gps").startswith("GPS : ±5 m"), page.inner_text("#gps")
    distances = page.evaluate(
        "import('/static/map/i18n.js').then(m => [m.formatDistance(7000), m.formatDistance(850)])"
    )
    assert distances == ["7,0 km", "850 m"]


def test_phone_page_passes_axe_in_french_and_english(phone) -> None:  # type: ignore[no-untyped-def]
    """No WCAG 2.1 A/AA violation on the paired phone page, in French and in English."""
    page = phone["page"]
    set_locale(page, "fr")
    check_axe(page)
    set_locale(page, "en")
    check_axe(page)
    set_locale(page, "fr")


def test_my_calendar_downloads_todays_round_with_names(live, phone) -> None:  # type: ignore[no-untyped-def]
    """« Mon agenda (.ics) » downloads the team's visits read with the phone's own token: today's
    visits carry the patient's name, and the file parses back as RFC 5545."""
    import icalendar

    page = phone["page"]
    set_locale(page, "fr")
    button = page.locator("#calendar-download")
    assert button.is_visible() and button.inner_text() == "Mon agenda (.ics)"
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "tournee.ics"
    calendar = icalendar.Calendar.from_ical(open(download.path(), "rb").read())
    events = [c for c in calendar.walk("VEVENT")]
    assert len(events) == len(live[1]["visits_a"])
    assert all(e.decoded("dtstart").date().isoformat() == live[1]["day"] for e in events)
    assert page.locator("#calendar-status").inner_text().startswith("Les visites des 14")


def test_plan_change_shows_on_the_phone_within_a_second(live, phone, coordinator) -> None:  # type: ignore[no-untyped-def]
    """A visit moved into team A's round appears marked "nouvelle" within a second of the
    server's answer, a visit moved out disappears, the notice names what changed, all without
    a reload; "Vu" clears the marks."""
    server, world = live
    page = phone["page"]
    set_locale(page, "fr")
    page.evaluate("window.__sameDocument = true")
    a_ids = [v["id"] for v in world["visits_a"]]
    bravo = world["visits_b"][0]["id"]
    move(
        coordinator,
        server.base_url,
        day=world["day"],
        visit_id=bravo,
        team_id=world["team_a"]["id"],
        position=1,
    )
    page.wait_for_selector(f"#round li[data-visit-id='{bravo}'][data-mark~='added']", timeout=1000)
    notice = page.inner_text("#changes-text")
    assert "Tournée modifiée" in notice and "1 visite ajoutée" in notice, notice
    assert "nouvelle" in page.inner_text(f"#round li[data-visit-id='{bravo}']")
    assert round_ids(page)[:2] == [a_ids[0], bravo]
    time.sleep(0.6)  # a summary and its round may come in two batches: still one alert
    assert page.evaluate("window.__vibrations.length") == 1, "the phone vibrates once per change"
    check_axe(page)
    shot(page, "phone-change-added-fr")
    arnaud = a_ids[2]
    move(
        coordinator,
        server.base_url,
        day=world["day"],
        visit_id=arnaud,
        team_id=world["team_b"]["id"],
        position=None,
    )
    page.wait_for_selector(f"#round li[data-visit-id='{arnaud}']", state="detached", timeout=1000)
    notice = page.inner_text("#changes-text")
    assert "1 retirée" in notice and "MME-ARNAUD" in notice, notice
    assert page.evaluate("window.__sameDocument === true"), "the page must not reload"
    shot(page, "phone-change-removed-fr")
    shot(page, "phone-change-removed-fr-full", full_page=True)
    set_locale(page, "en")
    notice = page.inner_text("#changes-text")
    assert "Round changed: 1 visit added, 1 removed" in notice and "MME-ARNAUD" in notice, notice
    assert "new" in page.inner_text(f"#round li[data-visit-id='{bravo}'] .badge")
    check_axe(page)
    shot(page, "phone-change-removed-en")
    set_locale(page, "fr")
    page.click("#changes-seen")
    page.wait_for_selector("#round li[data-mark]", state="detached", timeout=1000)
    assert page.inner_text("#changes-text") == ""
    assert page.is_hidden("#changes-seen")


def test_resync_after_a_disconnection_shows_what_changed(live, phone, coordinator) -> None:  # type: ignore[no-untyped-def]
    """A change made while the phone was offline shows, once it is back, as marks and a notice
    computed from the old and new rounds (the snapshot reloaded on reconnection)."""
    server, world = live
    page, ctx = phone["page"], phone["ctx"]
    blanc = world["visits_b"][1]["id"]
    ctx.set_offline(True)
    page.wait_for_selector("#conn[data-state='offline']", timeout=5000)
    check_axe(page)
    move(
        coordinator,
        server.base_url,
        day=world["day"],
        visit_id=blanc,
        team_id=world["team_a"]["id"],
        position=0,
    )
    time.sleep(0.3)
    assert not page.query_selector(f"#round li[data-visit-id='{blanc}']")
    ctx.set_offline(False)
    page.wait_for_selector(f"#round li[data-visit-id='{blanc}'][data-mark~='added']", timeout=10000)
    assert "1 visite ajoutée" in page.inner_text("#changes-text")
    assert round_ids(page)[0] == blanc
    retimed = page.eval_on_selector_all(
        "#round li[data-mark~='retimed']", "els => els.map(e => e.dataset.visitId)"
    )
    assert retimed, "the visits after the new first one arrive later"
    assert "horaire modifié" in page.inner_text(f"#round li[data-visit-id='{retimed[0]}']")
    shot(page, "phone-resync-fr", full_page=True)
    page.click("#changes-seen")


def test_cancelled_visit_is_announced(live, phone, coordinator) -> None:  # type: ignore[no-untyped-def]
    """A visit of the round cancelled by the coordinator is struck through as "annulée" within
    a second, and the notice names it as removed from the round."""
    server, world = live
    page = phone["page"]
    set_locale(page, "fr")
    avril = world["visits_a"][1]["id"]
    assert avril in round_ids(page)
    reply = coordinator.delete(f"{server.base_url}/api/visits/{avril}", timeout=10)
    assert reply.status_code == 200, reply.text
    page.wait_for_selector(f"#round li.cancelled[data-visit-id='{avril}']", timeout=1000)
    page.wait_for_function(
        "document.getElementById('changes-text').textContent.includes('M-AVRIL')", timeout=1000
    )
    notice = page.inner_text("#changes-text")
    assert "1 visite retirée" in notice and "Retirée : M-AVRIL" in notice, notice
    assert "annulée" in page.inner_text(f"#round li[data-visit-id='{avril}']")
    assert page.get_attribute("#next-body", "data-visit-id") != str(avril)
    page.click("#changes-seen")
    assert page.inner_text("#changes-text") == ""


def test_visits_of_another_day_stay_off_the_round(live, phone, coordinator) -> None:  # type: ignore[no-untyped-def]
    """A visit of tomorrow given to team A (pushed to its phone like any visit of the team)
    does not join today's round, and raises no notice."""
    server, world = live
    page = phone["page"]
    tomorrow = (dt.date.fromisoformat(world["day"]) + dt.timedelta(days=1)).isoformat()
    before = round_ids(page)
    reply = coordinator.post(
        f"{server.base_url}/api/visits",
        json={
            "day": tomorrow,
            "pseudonym": "M-DEMAIN",
            "lon": HOMES_B[1][0],
            "lat": HOMES_B[1][1],
            "duration_s": 1800,
            "windows": [["08:00", "18:00"]],
            "team_id": world["team_a"]["id"],
        },
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    time.sleep(1.0)
    assert "M-DEMAIN" not in page.inner_text("#round")
    assert round_ids(page) == before
    assert page.inner_text("#changes-text") == ""


def test_eta_replaces_the_planned_arrival(live, phone) -> None:  # type: ignore[no-untyped-def]
    """The arrival times the server works out from team A's position (the `etas` kind) replace
    the planned arrivals on the phone, in the list and on the next-visit card."""
    _, world = live
    page = phone["page"]
    set_locale(page, "fr")
    first = round_ids(page)[0]
    expected = world["rounds"].etas(world["day"])[world["team_a"]["id"]]
    assert world["publish_etas"](world["day"]) >= 1
    text = f"arrivée estimée {hhmm(expected[first])}"
    page.wait_for_function(
        "([id, text]) => document.querySelector(`#round li[data-visit-id='${id}']`)"
        ".textContent.includes(text)",
        arg=[first, text],
        timeout=1000,
    )
    assert text in page.inner_text("#next-body")
    shown = page.eval_on_selector_all(
        "#round li[data-visit-id] .arrival", "els => els.map(e => e.textContent)"
    )
    assert all(a.startswith("arrivée estimée ") for a in shown), shown


def test_check_axe_reports_violations(browser) -> None:  # type: ignore[no-untyped-def]
    """check_axe fails on a page with WCAG violations and names each rule and element."""
    _, instance = browser
    page = instance.new_page()
    try:
        page.set_content(
            '<html lang="fr"><title>t</title><body><img src="x.png">'
            '<p style="color:#aaa;background:#fff">pâle</p><button></button></body></html>'
        )
        with pytest.raises(pytest.fail.Exception) as failure:
            check_axe(page)
        message = str(failure.value)
        for rule in ("image-alt", "color-contrast", "button-name"):
            assert rule in message
        assert "img" in message and "critical" in message
    finally:
        page.close()


def test_own_check_in_raises_no_notice(live, phone) -> None:  # type: ignore[no-untyped-def]
    """The team's own check-in comes back from the server as a status, not as a change of
    round: no notice, no vibration."""
    _, world = live
    page = phone["page"]
    visit_id = int(page.get_attribute("#next-body", "data-visit-id") or 0)
    vibrations = page.evaluate("window.__vibrations.length")
    page.click("#check-in")
    page.wait_for_selector("#outbox[data-count='0']", timeout=5000)
    deadline = time.time() + 5
    while world["store"].get_visit(visit_id)["status"] != "in_progress":
        assert time.time() < deadline, "the check-in never reached the server"
        time.sleep(0.1)
    time.sleep(0.8)
    assert "en cours" in page.inner_text(f"#round li[data-visit-id='{visit_id}']")
    assert page.is_enabled("#check-out")
    assert page.inner_text("#changes-text") == ""
    assert page.evaluate("window.__vibrations.length") == vibrations


def test_only_arrivals_moved_by_more_than_two_minutes_are_marked(live, phone) -> None:  # type: ignore[no-untyped-def]
    """A change that moves one arrival by a minute and another by ten shows both new times but
    marks only the second "horaire modifié" (the summary may list both)."""
    _, world = live
    page = phone["page"]
    store, hub = world["store"], world["app"].extensions["dispatch.live"]
    team_id = world["team_a"]["id"]
    plan = store.published_plan(world["day"])
    routes = [
        {"team_id": r["team_id"], "stops": [dict(s) for s in r["stops"]]} for r in plan["routes"]
    ]
    stops = next(r for r in routes if r["team_id"] == team_id)["stops"]
    nudged, moved = stops[-1], stops[-2]
    nudged["arrival_s"] += 60
    moved["arrival_s"] += 600
    new = store.save_plan(world["day"], routes, publish=True)
    hub.on_plan_change(
        {
            "day": world["day"],
            "plan_id": new["id"],
            "change": "edit",
            "by": "test",
            "at": time.time(),
            "teams": [team_id],
            "added": {},
            "removed": {},
            "retimed": {str(team_id): [nudged["visit_id"], moved["visit_id"]]},
            "visits": [],
        }
    )
    page.wait_for_selector(
        f"#round li[data-visit-id='{moved['visit_id']}'][data-mark~='retimed']", timeout=1000
    )
    nudged_text = page.inner_text(f"#round li[data-visit-id='{nudged['visit_id']}']")
    assert f"arrivée prévue {hhmm(nudged['arrival_s'])}" in nudged_text
    assert (
        page.get_attribute(f"#round li[data-visit-id='{nudged['visit_id']}']", "data-mark") is None
    )
    assert "1 horaire changé" in page.inner_text("#changes-text")
    page.click("#changes-seen")


@contextmanager
def batches_split(hub: Any, pause_s: float = 0.05) -> Iterator[None]:
    """The items of a change leave the hub one batch each (the fan-out's tick is 30 ms), the
    summary first: what a slower or older server, or a multi-process relay, may send."""
    fanout = hub.fanout

    def one_by_one(items: list[tuple[Any, str, Any, Any]]) -> None:
        for rooms, kind, item, key in sorted(items, key=lambda i: i[1] != "changes"):
            fanout.publish(rooms, kind, item, key=key)
            time.sleep(pause_s)

    fanout.publish_many = one_by_one
    try:
        yield
    finally:
        del fanout.publish_many


def test_a_change_in_pieces_is_announced_once(live, phone, coordinator) -> None:  # type: ignore[no-untyped-def]
    """A move whose summary, round and visit rows come in separate batches still shows one
    notice with the right counts and vibrates once, for a visit added and for one removed."""
    server, world = live
    page = phone["page"]
    set_locale(page, "fr")
    hub = world["app"].extensions["dispatch.live"]
    arnaud = world["visits_a"][2]["id"]
    vibrations = page.evaluate("window.__vibrations.length")
    with batches_split(hub):
        move(
            coordinator,
            server.base_url,
            day=world["day"],
            visit_id=arnaud,
            team_id=world["team_a"]["id"],
            position=None,
        )
    page.wait_for_selector(f"#round li[data-visit-id='{arnaud}'][data-mark~='added']", timeout=1000)
    time.sleep(0.6)
    assert page.evaluate("window.__vibrations.length") == vibrations + 1
    assert page.inner_text("#changes-text").startswith("Tournée modifiée : 1 visite ajoutée")
    page.click("#changes-seen")
    with batches_split(hub):
        move(
            coordinator,
            server.base_url,
            day=world["day"],
            visit_id=arnaud,
            team_id=world["team_b"]["id"],
            position=None,
        )
    page.wait_for_selector(f"#round li[data-visit-id='{arnaud}']", state="detached", timeout=1000)
    time.sleep(0.6)
    assert page.evaluate("window.__vibrations.length") == vibrations + 2
    notice = page.inner_text("#changes-text")
    assert notice.startswith("Tournée modifiée : 1 visite retirée") and "MME-ARNAUD" in notice
    page.click("#changes-seen")
