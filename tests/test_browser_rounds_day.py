"""Issue 19 acceptance: the Melun demo day at 17:05, played with clicks by two coordinators and a
team's phone paired with the CLI's link: optimise the rest of the day, move a visit, insert an
urgent visit; every change reaches the other screens within a second, without a reload."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_support import check_axe
from click.testing import CliRunner
from live_support import PASSWORD, RealServer, module_settings
from test_browser_rounds_coordinator import NARROW, URGENT_HOME, WIDE, Coordinator
from test_browser_rounds_phone import phone_context

from dispatch.cli import cli
from dispatch.demo import plan_demo_day, seed_demo
from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DAY = "2026-12-06"
#: The rounds' clock stands at 17:05 on the demo day, whatever the hour of the run.
CLOCK_START = f"{DAY}T17:05:00+01:00"
NOW_S = 17 * 3600 + 5 * 60
PARIS = ZoneInfo("Europe/Paris")
#: A visit whose only window is over at 17:05, put back into a published round.
LATE_NAME = "MME-CRENEAU-PASSE"
LATE_HOME = (2.6600, 48.5430)
LATE_WINDOW = ("16:00", "16:40")
URGENT_NAME = "MME-URGENTE-1705"
#: A change must show on the other screens within a second of the server's answer; the pages
#: are polled every POLL_MS, which may add up to that much to what is measured.
LATENCY_MS = 1000
POLL_MS = 10
POLL_MARGIN_MS = 50
SCREENSHOTS = Path(__file__).parent / "screenshots"
#: Measured figures (ms), printed at the end of the module (run with -s to see them).
LATENCIES: dict[str, float] = {}


def _epoch(seconds_of_day: int) -> float:
    """Unix time of ``seconds_of_day`` on the demo day in Paris."""
    midnight = dt.datetime.fromisoformat(DAY).replace(tzinfo=PARIS)
    return (midnight + dt.timedelta(seconds=seconds_of_day)).timestamp()


def _served(plan: dict[str, Any]) -> set[int]:
    return {int(s["visit_id"]) for r in plan["routes"] for s in r["stops"]}


@pytest.fixture(scope="module")
def day(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server at 17:05 on the demo day: the day seeded and planned whole the evening
    before, what was due before 17:05 checked in and out, and a visit whose window closed at
    16:40 put back into the round of a team that still has visits to do."""
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("rounds-day"), territory_cache, shared_dir),
        clock_start=CLOCK_START,
    )
    store = Store(settings.database)
    seed_demo(store, melun, day=DAY, seed=0)
    plan_demo_day(store, melun, day=DAY, time_limit_s=2)
    planned = store.published_plan(DAY)
    assert planned is not None
    for route in planned["routes"]:
        for stop in route["stops"]:
            if stop["start_s"] < NOW_S:
                for kind, at_s in (("check_in", stop["start_s"]), ("check_out", stop["end_s"])):
                    store.add_visit_event(
                        stop["visit_id"],
                        {"kind": kind, "device_time_s": _epoch(at_s)},
                        actor=f"team:{route['team_id']}",
                        team_id=route["team_id"],
                    )
    later = {
        r["team_id"]: [s for s in r["stops"] if s["start_s"] >= NOW_S] for r in planned["routes"]
    }
    phone_team_id = max(later, key=lambda t: len(later[t]))
    assert len(later[phone_team_id]) >= 2, f"no team has visits left after 17:05: {later}"

    late = store.add_visit(
        {
            "day": DAY,
            "pseudonym": LATE_NAME,
            "lon": LATE_HOME[0],
            "lat": LATE_HOME[1],
            "commune": "Melun",
            "duration_s": 1800,
            "windows": [list(LATE_WINDOW)],
        }
    )
    routes = []
    for route in planned["routes"]:
        stops = list(route["stops"])
        if route["team_id"] == phone_team_id:
            at = next(i for i, s in enumerate(stops) if s["start_s"] > 16 * 3600)
            stops.insert(
                at,
                {
                    "visit_id": late["id"],
                    "arrival_s": 16 * 3600,
                    "start_s": 16 * 3600,
                    "end_s": 16 * 3600 + 1800,
                },
            )
        routes.append({"team_id": route["team_id"], "stops": stops})
    store.save_plan(
        DAY,
        routes,
        unassigned=planned.get("unassigned"),
        territory="melun",
        created_by="tests",
        publish=True,
        base_plan_id=planned["id"],
    )
    store.add_user("coord", role="coordinator", password=PASSWORD)
    app = create_app(settings, **{"dispatch.store": store})
    assert app.extensions["dispatch.live"].today() == DAY
    server = RealServer(app)
    teams = {t["id"]: t for t in store.list_teams(limit=100)}
    world = {
        "settings": settings,
        "store": store,
        "teams": teams,
        "phone_team": teams[phone_team_id],
        "late": late,
    }
    yield server, world
    server.stop()
    store.close()


@pytest.fixture(scope="module")
def coord1(day, browser):  # type: ignore[no-untyped-def]  # noqa: F811
    """Coordinator 1 at 1400×900: the one who acts."""
    server, _ = day
    page = Coordinator(browser, server.base_url, WIDE)
    _record_console(page.page, page.errors)
    yield page
    page.close()


@pytest.fixture(scope="module")
def coord2(day, browser):  # type: ignore[no-untyped-def]  # noqa: F811
    """Coordinator 2 at 1024×768: watches the map."""
    server, _ = day
    page = Coordinator(browser, server.base_url, NARROW)
    _record_console(page.page, page.errors)
    yield page
    page.close()


@pytest.fixture(scope="module")
def phone(day, browser):  # type: ignore[no-untyped-def]  # noqa: F811
    """A Pixel 7 of the team with visits after 17:05, paired by opening the link printed by
    `dispatch device pair "<team>" --base-url …`."""
    server, world = day
    settings = world["settings"]
    team = world["phone_team"]
    env = {
        "DISPATCH_CONFIG": None,
        "DISPATCH_VAR_DIR": str(settings.var_dir),
        "DISPATCH_DB_PATH": str(settings.database),
        "DISPATCH_CACHE_DIR": str(settings.cache),
        "DISPATCH_DATA_PATH": ":".join(str(p) for p in settings.data_path),
        "DISPATCH_TERRITORY": settings.territory,
    }
    result = CliRunner().invoke(
        cli, ["device", "pair", team["name"], "--base-url", server.base_url], env=env
    )
    assert result.exit_code == 0, result.output
    found = re.search(r"^link: (\S+)$", result.output, re.M)
    assert found, result.output
    link = found.group(1)
    assert link.startswith(f"{server.base_url}/pair?code="), link
    ctx = phone_context(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _record_console(page, errors)
    page.goto(link)
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    page.wait_for_selector("#conn[data-state='online']", timeout=10000)
    page.wait_for_selector("#round li[data-visit-id]", timeout=10000)
    page.evaluate("window.__sameDocument = true")
    yield {"ctx": ctx, "page": page, "link": link, "errors": errors}
    ctx.close()


def _record_console(page: Any, errors: list[str]) -> None:
    page.on(
        "console",
        lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None,
    )


def shot(page: Any, name: str) -> str:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"day-1705-{name}.png"
    page.screenshot(path=str(path))
    return str(path)


def round_ids(page: Any) -> list[int]:
    return [
        int(x)
        for x in page.eval_on_selector_all(
            "#round li[data-visit-id]", "els => els.map(e => e.dataset.visitId)"
        )
    ]


def watch(page: Any, name: str, predicate: str, arg: Any = None) -> None:
    """From now on, record in ``page`` the wall-clock time (Date.now()) at which the JS function
    ``predicate(arg)`` first returns something truthy (and that value), polled every POLL_MS.
    The predicate must not hold yet: the change is still to come."""
    page.evaluate(
        "([name, arg, every]) => {"
        f" const test = {predicate};"
        " window.__seen = window.__seen || {}; window.__timers = window.__timers || {};"
        " delete window.__seen[name]; clearInterval(window.__timers[name]);"
        " const tick = () => { let v = null; try { v = test(arg); } catch (e) { v = null; }"
        "   if (v) { window.__seen[name] = {at: Date.now(), value: v}; clearInterval(window.__timers[name]); } };"
        " window.__timers[name] = setInterval(tick, every); tick(); }",
        [name, arg, POLL_MS],
    )
    assert not page.evaluate("n => window.__seen[n]", name), (
        f"{name}: already true before the change"
    )


def seen(page: Any, name: str, *, timeout_ms: int = 10000) -> dict[str, Any]:
    """What :func:`watch` recorded (waits for it up to ``timeout_ms``)."""
    page.wait_for_function("n => window.__seen && window.__seen[n]", arg=name, timeout=timeout_ms)
    return page.evaluate("n => window.__seen[n]", name)


def answered_at_ms(response: Any) -> float:
    """Wall-clock time (ms) at which the page had the whole answer of ``response``."""
    response.finished()
    timing = response.request.timing
    return timing["startTime"] + timing["responseEnd"]


def _is_post(response: Any, path: str, **body: Any) -> bool:
    if response.request.method != "POST" or not response.url.split("?")[0].endswith(path):
        return False
    sent = json.loads(response.request.post_data or "{}")
    return all(sent.get(k) == v for k, v in body.items())


def latencies(
    label: str, answered_ms: float, clicked_ms: float, pages: dict[str, dict[str, Any]]
) -> list[str]:
    """Store and print each page's delay after the server's answer; the list of those too slow."""
    late = []
    for who, record in pages.items():
        after_answer = record["at"] - answered_ms
        LATENCIES[f"{label}: answer → {who}"] = round(after_answer)
        LATENCIES[f"{label}: click → {who}"] = round(record["at"] - clicked_ms)
        if after_answer > LATENCY_MS + POLL_MARGIN_MS:
            late.append(f"{who} {after_answer:.0f} ms after the answer")
    LATENCIES[f"{label}: click → answer"] = round(answered_ms - clicked_ms)
    print(
        f"\n{label}: "
        + ", ".join(
            f"{k.split(': ', 1)[1]} {v} ms" for k, v in LATENCIES.items() if k.startswith(label)
        )
    )
    return late


def test_phone_paired_with_the_cli_link_lands_on_its_round(day, phone) -> None:  # type: ignore[no-untyped-def]
    """The `/pair?code=…` link printed by `dispatch device pair` pairs the phone, which lands on
    /phone/ with its team's round: the visits left after 17:05, with their planned arrivals."""
    _, world = day
    page = phone["page"]
    assert "/phone/" in page.url and "code=" not in page.url, page.url
    assert page.evaluate("!!localStorage.getItem('dispatch.deviceToken')")
    assert world["phone_team"]["name"] in page.inner_text("#team-name")
    plan = world["store"].published_plan(DAY, team_id=world["phone_team"]["id"])
    mine = [s["visit_id"] for s in plan["routes"][0]["stops"]]
    assert set(round_ids(page)) == set(mine)
    assert world["late"]["id"] in round_ids(page)
    evening = next(s for s in plan["routes"][0]["stops"] if s["start_s"] >= NOW_S)
    text = page.inner_text(f"#round li[data-visit-id='{evening['visit_id']}']")
    assert "arrivée" in text, text
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "phone-paired")
    assert not phone["errors"], phone["errors"]


def test_optimise_at_1705_drops_only_the_visit_whose_window_passed(
    day, coord1, coord2, phone
) -> None:  # type: ignore[no-untyped-def]
    """At 17:05 "Optimiser la journée" lists as removed only the visit due 16:00-16:40, never a
    visit a team can still serve; applying asks to confirm it by name; the published plan then
    serves everything it served before but that visit, and coordinator 2's map and the phone
    show it within a second of the server's answer, without reloading."""
    _, world = day
    store, late = world["store"], world["late"]
    page = coord1.page
    before = store.published_plan(DAY)
    visits = {v["id"]: v for v in store.list_visits(day=DAY, limit=1000)}
    # Visits still to do whose window is still open: someone can still serve them.
    servable = {
        vid
        for vid in _served(before)
        if visits[vid]["status"] not in ("done", "in_progress", "arrived")
        and max(int(w[1]) for w in visits[vid]["windows"]) > NOW_S + 1800
    }
    assert late["id"] not in servable and len(servable) >= 2, servable
    assert coord2.js("v => window.dispatchMap.state.stops.has(v)", late["id"])
    assert late["id"] in round_ids(phone["page"])

    page.click("#dp-optimise > summary")
    page.select_option("#dp-budget", "3")
    page.get_by_role("button", name="Optimiser la journée", exact=True).click()
    page.wait_for_selector("#dp-dropped-title", timeout=90000)
    shot(page, "optimise-result-1400")
    title = page.inner_text("#dp-dropped-title")
    dropped = page.eval_on_selector_all(
        "#dp-dropped-list li", "els => els.map(e => Number(e.dataset.visitId))"
    )
    assert not servable & set(dropped), (
        f"visits a team can still serve listed as removed: {sorted(servable & set(dropped))} ({title})"
    )
    assert dropped == [late["id"]], f"{title}: {page.inner_text('#dp-result')}"
    assert LATE_NAME in page.inner_text("#dp-dropped-list")
    assert "Visites planifiées qui seraient retirées (1)" in title

    page.get_by_role("button", name="Appliquer ce plan").click()
    page.wait_for_selector("#dp-confirm[open]")
    assert LATE_NAME in page.inner_text("#dp-confirm-list")
    assert "Retirer 1 visite" in page.inner_text("#dp-confirm-title")
    assert page.is_disabled("#dp-confirm-ok")
    page.check("#dp-confirm-tick")
    shot(page, "optimise-confirm-1400")

    watch(
        coord2.page,
        "optimise",
        "v => !window.dispatchMap.state.stops.has(v) && document.querySelector('#notices .notice')?.textContent.includes('optimisation')",
        late["id"],
    )
    watch(
        phone["page"],
        "optimise",
        "a => !document.querySelector(`#round li[data-visit-id='${a.id}']`)"
        " && document.getElementById('changes-text').textContent.includes(a.name)"
        " && document.getElementById('changes-text').textContent",
        {"id": late["id"], "name": LATE_NAME},
    )
    with page.expect_response(
        lambda r: "/api/dispatch/plans/" in r.url and r.url.endswith("/apply"), timeout=30000
    ) as info:
        clicked = time.time() * 1000
        page.click("#dp-confirm-ok")
    response = info.value
    assert response.status == 200, response.text()
    answered = answered_at_ms(response)
    on_coord2, on_phone = seen(coord2.page, "optimise"), seen(phone["page"], "optimise")
    slow = latencies("apply", answered, clicked, {"coordinator 2": on_coord2, "phone": on_phone})

    page.wait_for_selector("#dp-apply-status:has-text('Plan appliqué')")
    shot(page, "optimise-applied-1400")
    coord2.page.wait_for_selector("#alert-list li[data-kind='dropped']", timeout=5000)
    assert LATE_NAME in coord2.page.inner_text("#alert-list")
    shot(coord2.page, "optimise-applied-coordinator2-1024")
    assert "1 visite retirée" in on_phone["value"] and LATE_NAME in on_phone["value"], on_phone[
        "value"
    ]
    shot(phone["page"], "optimise-applied-phone")

    after = store.published_plan(DAY)
    assert after["id"] != before["id"]
    assert _served(after) == _served(before) - {late["id"]}, (
        f"lost: {sorted(_served(before) - _served(after) - {late['id']})},"
        f" gained: {sorted(_served(after) - _served(before))}"
    )
    assert store.get_visit(late["id"])["team_id"] is None
    for c in (coord1, coord2):
        c.assert_no_reload()
    assert phone["page"].evaluate("window.__sameDocument === true"), "the phone page reloaded"
    assert not phone["errors"], phone["errors"]
    assert not slow, f"the change reached them late: {slow}"
    phone["page"].click("#changes-seen")  # the nurse has read it


def test_move_a_visit_of_the_phone_team_with_clicks_only(day, coord1, coord2, phone) -> None:  # type: ignore[no-untyped-def]
    """Coordinator 1 picks one of the phone team's evening visits in the day's list, chooses
    another team and a place in the selects, checks, applies (confirming what it breaks): the
    phone shows it removed, with the notice, within a second; coordinator 2's map draws the
    new round."""
    _, world = day
    store, teams = world["store"], world["teams"]
    mine = world["phone_team"]["id"]
    page = coord1.page
    plan = store.published_plan(DAY)
    routes = {r["team_id"]: r["stops"] for r in plan["routes"]}
    visits = {v["id"]: v for v in store.list_visits(day=DAY, limit=1000)}
    to_do = [s for s in routes[mine] if visits[s["visit_id"]]["status"] in ("planned", "assigned")]
    assert len(to_do) >= 2, to_do
    moved = to_do[-1]["visit_id"]
    name = visits[moved]["pseudonym"]
    # The other team still on shift longest takes it.
    other = max((t for t in teams.values() if t["id"] != mine), key=lambda t: t["shift_end_s"])
    before_geometry = coord2.js(
        "t => JSON.stringify(window.dispatchMap.state.plans.get(t)?.geometry)", other["id"]
    )

    page.click(f"#visit-list button.vsel[data-visit-id='{moved}']")
    assert name in page.inner_text("#dp-move-visit")
    page.select_option("#dp-move-team", label=other["name"])
    labels = page.locator("#dp-move-pos option").all_inner_texts()
    # At 17:05 the team has done visits: no place is offered before them.
    assert labels[0] == "meilleure place" and "en premier" not in labels and len(labels) >= 2, (
        labels
    )
    page.select_option("#dp-move-pos", index=len(labels) - 1)  # after the team's last visit
    position = page.locator("#dp-move-pos option:checked").inner_text()
    with page.expect_response(
        lambda r: _is_post(r, "/api/dispatch/move", apply=False), timeout=30000
    ) as info:
        page.click("#dp-move-check")
    page.wait_for_selector("#dp-move-out p", timeout=30000)
    checked = page.inner_text("#dp-move-out")
    breaks = page.locator("#dp-move-out .dp-violations li").count() > 0
    assert info.value.status == 200 and (breaks or page.locator("#dp-move-out p.ok").count()), (
        f"checking {name} → {other['name']}, {position!r} (offered by the select) gives {checked!r};"
        f" POST /api/dispatch/move {info.value.request.post_data} -> {info.value.status} {info.value.text()}"
    )
    shot(page, "move-check-1400")

    watch(
        phone["page"],
        "move",
        "a => !document.querySelector(`#round li[data-visit-id='${a.id}']`)"
        " && document.getElementById('changes-text').textContent.includes(a.name)"
        " && document.getElementById('changes-text').textContent",
        {"id": moved, "name": name},
    )
    watch(
        coord2.page,
        "move",
        "([v, t, old]) => { const s = window.dispatchMap.state;"
        " return s.stops.get(v)?.team_id === t && JSON.stringify(s.plans.get(t)?.geometry) !== old; }",
        [moved, other["id"], before_geometry],
    )
    with page.expect_response(
        lambda r: _is_post(r, "/api/dispatch/move", apply=True) and r.status == 200, timeout=30000
    ) as info:
        clicked = time.time() * 1000
        page.click("#dp-move-apply")
        if breaks:
            page.wait_for_selector("#dp-confirm[open]")
            confirm = page.inner_text("#dp-confirm")
            assert name in confirm and other["name"] in confirm, confirm
            shot(page, "move-confirm-1400")
            clicked = time.time() * 1000
            page.click("#dp-confirm-ok")
    answered = answered_at_ms(info.value)
    on_phone, on_coord2 = seen(phone["page"], "move"), seen(coord2.page, "move")
    slow = latencies("move", answered, clicked, {"phone": on_phone, "coordinator 2": on_coord2})

    assert "1 visite retirée" in on_phone["value"], on_phone["value"]
    shot(phone["page"], "move-phone")
    # Coordinator 2's map draws the new round: the line of the routes layer is the new one.
    drawn = coord2.page.evaluate(
        """async (t) => {
          const data = await window.dispatchMap.map.getSource('routes').getData();
          const f = data.features.find(f => f.properties.team_id === t);
          return f && JSON.stringify(f.geometry) === JSON.stringify(window.dispatchMap.state.plans.get(t).geometry);
        }""",
        other["id"],
    )
    assert drawn, "coordinator 2's routes layer does not hold the new round of the team"
    assert other["name"] in coord2.page.inner_text(f"#visit-list li[data-visit-id='{moved}']")
    shot(coord2.page, "move-coordinator2-1024")
    page.wait_for_selector("#dp-move-out p.ok", timeout=5000)
    shot(page, "move-applied-1400")
    after = store.published_plan(DAY)
    new_routes = {r["team_id"]: [s["visit_id"] for s in r["stops"]] for r in after["routes"]}
    assert moved in new_routes[other["id"]] and moved not in new_routes[mine]
    for c in (coord1, coord2):
        c.assert_no_reload()
    assert phone["page"].evaluate("window.__sameDocument === true"), "the phone page reloaded"
    assert not phone["errors"], phone["errors"]
    assert not slow, f"the move reached them late: {slow} (check said: {checked})"
    phone["page"].click("#changes-seen")


def test_urgent_visit_inserted_in_the_phone_team_with_clicks_only(
    day, coord1, coord2, phone
) -> None:  # type: ignore[no-untyped-def]
    """Coordinator 1 places an urgent visit by clicking the map, gets the insertion options,
    picks the phone's team and confirms: the phone shows the new visit marked "nouvelle" with
    its planned arrival within a second; coordinator 2 sees it in that team's round."""
    _, world = day
    store = world["store"]
    team = world["phone_team"]
    page = coord1.page
    page.click("#dp-urgent > summary")
    page.fill("#dp-urg-name", URGENT_NAME)
    start = page.input_value("#dp-urg-from")
    assert "17:05" <= start <= "17:15", (
        f"the urgent window starts at {start}, not at the rounds' 17:05"
    )
    page.click("#dp-urg-pick")
    coord1.js("p => window.dispatchMap.map.jumpTo({center: p, zoom: 14})", list(URGENT_HOME))
    page.wait_for_timeout(300)
    coord1.click_map_at(URGENT_HOME)
    page.wait_for_selector(".urgent-marker")
    page.fill("#dp-urg-dur", "20")
    page.get_by_role("button", name="Chercher les meilleures insertions").click()
    page.wait_for_selector("#dp-urg-options li button", timeout=30000)
    options = page.locator("#dp-urg-options li button").all_inner_texts()
    shot(page, "urgent-options-1400")
    mine = page.locator("#dp-urg-options li button", has_text=f"{team['name']} :")
    assert mine.count() == 1, f"no option for {team['name']}: {options}"
    option_text = mine.inner_text()
    mine.click()
    page.wait_for_selector("#dp-confirm[open]")
    assert URGENT_NAME in page.inner_text("#dp-confirm-title") and team["name"] in page.inner_text(
        "#dp-confirm-title"
    )
    shot(page, "urgent-confirm-1400")

    watch(
        phone["page"],
        "insert",
        "n => { const li = [...document.querySelectorAll('#round li[data-visit-id]')]"
        ".find(e => e.textContent.includes(n)); return li && (li.dataset.mark || '').includes('added')"
        " && {id: Number(li.dataset.visitId), text: li.textContent, notice: document.getElementById('changes-text').textContent}; }",
        URGENT_NAME,
    )
    watch(
        coord2.page,
        "insert",
        "([n, t]) => { const s = window.dispatchMap.state; const v = [...s.visits.values()].find(v => v.pseudonym === n);"
        " return v && s.stops.get(v.id)?.team_id === t && v.id; }",
        [URGENT_NAME, team["id"]],
    )
    with page.expect_response(
        lambda r: _is_post(r, "/api/dispatch/insert") and r.status == 200, timeout=30000
    ) as info:
        clicked = time.time() * 1000
        page.click("#dp-confirm-ok")
    answered = answered_at_ms(info.value)
    on_phone, on_coord2 = seen(phone["page"], "insert"), seen(coord2.page, "insert")
    slow = latencies("insert", answered, clicked, {"phone": on_phone, "coordinator 2": on_coord2})

    visit_id = on_phone["value"]["id"]
    after = store.published_plan(DAY, team_id=team["id"])
    stop = next(s for s in after["routes"][0]["stops"] if s["visit_id"] == visit_id)
    planned = f"{stop['arrival_s'] // 3600:02d}:{stop['arrival_s'] % 3600 // 60:02d}"
    text = on_phone["value"]["text"]
    assert "nouvelle" in text and f"arrivée prévue {planned}" in text, text
    assert f"arrivée {planned}" in option_text, (
        f"option said {option_text!r}, the round has {planned}"
    )
    assert "1 visite ajoutée" in on_phone["value"]["notice"], on_phone["value"]["notice"]
    assert on_coord2["value"] == visit_id
    shot(phone["page"], "urgent-phone")
    coord2.page.wait_for_selector(
        f"#visit-list li[data-visit-id='{visit_id}'] .arrival:has-text('{planned}')", timeout=5000
    )
    shot(coord2.page, "urgent-coordinator2-1024")
    page.wait_for_selector("#dp-urg-status:has-text('insérée')")
    shot(page, "urgent-inserted-1400")
    for c in (coord1, coord2):
        c.assert_no_reload()
    assert phone["page"].evaluate("window.__sameDocument === true"), "the phone page reloaded"
    assert not phone["errors"], phone["errors"]
    print("\nlatencies (ms):", json.dumps(LATENCIES, indent=1, ensure_ascii=False))
    assert not slow, f"the insertion reached them late: {slow}"


def test_coordinator_page_passes_axe_with_the_day_on_screen(day, coord1) -> None:  # type: ignore[no-untyped-def]
    """After the three changes (notices, the applied plan's result, a team's live marker on the
    map, every tool open), axe-core finds no WCAG A/AA issue on coordinator 1's page."""
    page = coord1.page
    for tool in ("#dp-move", "#dp-urgent", "#dp-optimise"):
        if page.get_attribute(tool, "open") is None:
            page.click(f"{tool} > summary")
    shot(page, "coordinator-axe-1400")
    check_axe(page)
