"""Visit intake from the coordinator's map on a real server: a visit added by typing its
address, picking a suggestion and dragging the pin; a CSV of 20 addressed visits reviewed
(precision, duplicate, unknown address placed by hand) and imported; all seen without reload."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import requests
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
FIXTURE = Path(__file__).parent / "intake_visits.csv"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
PHONE = {"width": 360, "height": 780}
#: What axe checks: the side panel's forms and the review over the map.
INTAKE = {"include": [".dispatch-intake", "#in-review"]}


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server on Melun with two teams (A has insulin) and a coordinator."""
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("intake"), territory_cache, shared_dir)
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    for name, color, skills in (("Équipe A", "#d62728", ["insulin"]), ("Équipe B", "#1f77b4", [])):
        store.add_team(
            {
                "name": name,
                "base_lon": MELUN[0],
                "base_lat": MELUN[1],
                "color": color,
                "skills": skills,
                "shift_start": "08:00",
                "shift_end": "18:00",
            }
        )
    user = store.add_user("coord", role="coordinator", password=PASSWORD)
    server = RealServer(app)
    world = {"store": store, "day": day, "token": store.create_api_token(user["id"], label="t")}
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
        self.page.on(
            "request",
            lambda r: setattr(self, "snapshots", self.snapshots + ("/api/live/snapshot" in r.url)),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base_url}/map/")
        self.page.fill("input[name=username]", "coord")
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("body[data-ready='1']", timeout=20000)
        self.page.wait_for_selector(".dispatch-intake #in-new", timeout=10000)
        self.page.evaluate("window.__sameDocument = true")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def drag(self, selector: str, dx: float, dy: float) -> None:
        """Drag an element (a map pin) by (dx, dy) pixels with the mouse."""
        box = self.page.locator(selector).bounding_box()
        assert box, f"{selector} is not shown"
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
        self.page.mouse.move(x + dx, y + dy, steps=5)
        self.page.mouse.up()

    def assert_no_reload(self) -> None:
        assert self.js("window.__sameDocument === true"), "the page was reloaded"
        assert self.snapshots == 1, f"the snapshot was read {self.snapshots} times"
        assert not self.errors, self.errors

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name))

    def close(self) -> None:
        self.ctx.close()


def stored(live: Any, pseudonym: str) -> list[dict[str, Any]]:
    server, world = live
    r = requests.get(
        f"{server.base_url}/api/visits?day={world['day']}&limit=1000",
        headers={"Authorization": f"Bearer {world['token']}"},
        timeout=10,
    )
    return [v for v in r.json()["items"] if v["pseudonym"] == pseudonym]


def test_add_a_visit_by_address_with_the_pin_dragged(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Typing « 12 rue saint-aspais » offers the street of Melun; choosing it drops a pin
    there, dragging the pin moves the visit's place; the visit is saved with two windows, a
    skill, a priority, a preferred team and protected details, and appears in the day's list
    at once."""
    server, world = live
    coord = Coordinator(browser, server.base_url, WIDE)
    page = coord.page
    try:
        page.click("#in-new summary")
        page.fill("#in-name", "MME-NOUVELLE")
        page.locator("#in-addr").press_sequentially("12 rue saint-aspais", delay=20)
        suggestion = page.locator("#in-suggest button", has_text="Rue Saint-Aspais, Melun")
        suggestion.first.wait_for(timeout=10000)
        assert "(rue)" in suggestion.first.inner_text()
        suggestion.first.click()
        assert page.input_value("#in-addr") == "12 Rue Saint-Aspais, Melun"
        where = page.inner_text("#in-where")
        assert "Rue Saint-Aspais, Melun" in where and "précision : rue" in where
        page.wait_for_selector(".intake-pin", timeout=5000)
        chosen = coord.js("window.dispatchIntake.form.place")
        page.wait_for_timeout(600)  # the map eases to the street
        coord.drag(".intake-pin", 40, 30)
        page.wait_for_function("window.dispatchIntake.form.moved === true", timeout=5000)
        moved = coord.js("window.dispatchIntake.form.place")
        assert moved != chosen and abs(moved[1] - chosen[1]) > 1e-5
        assert "épingle déplacée" in page.inner_text("#in-where")

        page.fill("#in-dur", "40")
        page.fill("#in-from-0", "08:00")
        page.fill("#in-to-0", "09:30")
        page.click("#in-add-window")
        page.fill("#in-from-1", "17:00")
        page.fill("#in-to-1", "18:00")
        page.check("#in-skillboxes input[value='insulin']")
        page.select_option("#in-priority", label="haute")
        page.select_option("#in-team", label="Équipe A")
        page.select_option("#in-mandatory", label="facultative (peut être reportée)")
        page.fill("#in-pname", "Marie Nouvelle")
        page.fill("#in-phone", "0612345678")
        page.fill("#in-access", "Digicode 1234, 2e étage")
        check_axe(page, context=INTAKE)
        coord.shot("intake-new-visit.png")
        page.click("#in-save")
        page.wait_for_function(
            "[...window.dispatchMap.state.visits.values()].some(v => v.pseudonym === 'MME-NOUVELLE')",
            timeout=10000,
        )
        page.wait_for_selector("#visit-list >> text=MME-NOUVELLE", timeout=5000)
        assert "MME-NOUVELLE créée" in page.inner_text("#in-status")
        (visit,) = stored(live, "MME-NOUVELLE")
        assert visit["lon"] == pytest.approx(moved[0], abs=1e-6)
        assert visit["lat"] == pytest.approx(moved[1], abs=1e-6)
        assert visit["windows"] == [[8 * 3600, 9 * 3600 + 1800], [17 * 3600, 18 * 3600]]
        assert visit["duration_s"] == 2400 and visit["skills"] == ["insulin"]
        assert visit["priority"] == 2 and visit["commune"] == "Melun"
        assert visit["mandatory"] is False
        assert visit["address"] == "12 Rue Saint-Aspais"  # as the territory spells it
        team_a = next(t for t in world["store"].list_teams() if t["name"] == "Équipe A")
        assert visit["preferred_team_id"] == team_a["id"]
        details = world["store"].get_visit(visit["id"])
        assert details["lon"] == visit["lon"]
        coord.shot("intake-new-visit-saved.png")
        coord.assert_no_reload()
    finally:
        coord.close()


def test_import_a_csv_of_20_addressed_visits_after_review(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The 20-row file is reviewed: each row's place and precision, the repeated MME-AUBERT
    flagged and unticked by the coordinator, the unknown address placed by dragging its pin;
    19 visits are imported in one go and appear in the day's list without a reload."""
    server, _ = live
    coord = Coordinator(browser, server.base_url, WIDE)
    page = coord.page
    try:
        before = coord.js("window.dispatchMap.state.visits.size")
        page.click("#in-csv summary")
        page.set_input_files("#in-file", str(FIXTURE))
        page.click("#in-check")
        page.wait_for_selector("table.in-review tbody tr", timeout=20000)
        rows = page.locator("table.in-review tbody tr")
        assert rows.count() == 20
        summary = page.inner_text("#in-summary")
        assert (
            "20 lignes" in summary and "1 doublon probable" in summary and "1 à corriger" in summary
        )
        precisions = page.locator("table.in-review td.in-precision").all_inner_texts()
        assert precisions.count("rue") == 19 and precisions[-1] == "–"
        klein = page.locator("tr[data-line='12']")
        assert "Rue de la Gare, Dammarie-les-Lys" in klein.inner_text()
        dup = page.locator("tr[data-line='20']")
        assert "in-dup" in dup.get_attribute("class")
        assert "doublon probable de la ligne 2 (MME-AUBERT)" in dup.inner_text()
        unknown = page.locator("tr[data-line='21']")
        assert "adresse introuvable" in unknown.inner_text()
        assert unknown.locator("input.in-tick").is_disabled()
        check_axe(page, context=INTAKE)
        dup.scroll_into_view_if_needed()
        coord.shot("intake-review.png")

        # The duplicate is left out.
        assert dup.locator("input.in-tick").is_checked()
        dup.locator("input.in-tick").uncheck()
        assert page.inner_text("#in-import") == "Importer les 18 visites cochées"
        # A row's pin on the map; the unknown address is placed by dragging its pin.
        page.click("tr[data-line='12'] td:nth-child(4)")
        page.wait_for_function("window.dispatchIntake.review.current === 12")
        page.click("tr[data-line='21'] .in-show")
        page.wait_for_timeout(600)
        coord.drag(".intake-pin", -60, 20)
        page.wait_for_function("window.dispatchIntake.review.ticked.has(21)", timeout=5000)
        fixed = page.locator("tr[data-line='21']")
        assert "corrigée sur la carte" in fixed.inner_text()
        assert fixed.locator("input.in-tick").is_checked()
        fixed.scroll_into_view_if_needed()
        coord.shot("intake-review-corrected.png")

        page.click("#in-import")
        page.wait_for_selector("#in-csv-status.ok", timeout=20000)
        assert "19 visites importées" in page.inner_text("#in-csv-status")
        page.wait_for_function(
            "n => window.dispatchMap.state.visits.size >= n", arg=before + 19, timeout=10000
        )
        page.wait_for_selector("#visit-list >> text=MME-KLEIN", timeout=5000)
        page.wait_for_selector("#visit-list >> text=M-INCONNU", timeout=5000)
        assert len(stored(live, "MME-AUBERT")) == 1
        (inconnu,) = stored(live, "M-INCONNU")
        assert abs(inconnu["lon"] - MELUN[0]) < 0.2
        coord.shot("intake-imported.png")
        coord.assert_no_reload()
    finally:
        coord.close()


def test_intake_in_english_at_1024_with_keyboard_and_a_duplicate(live, browser) -> None:  # type: ignore[no-untyped-def]
    """At 1024×768, in English: the form and the review show no French text; Enter takes the
    first suggestion; a visit placed where one is already planned at the same time is flagged
    and saved only when the coordinator confirms."""
    server, world = live
    auth = {"Authorization": f"Bearer {world['token']}"}
    pajol = requests.get(
        f"{server.base_url}/api/geocode?q=rue+pajol,+melun", headers=auth, timeout=10
    ).json()["items"][0]
    requests.post(
        f"{server.base_url}/api/visits",
        json={
            "day": world["day"],
            "pseudonym": "M-DOUBLE",
            "lon": pajol["lon"],
            "lat": pajol["lat"],
            "duration_s": 1800,
            "windows": [["08:00", "10:00"]],
        },
        headers=auth,
        timeout=10,
    ).raise_for_status()
    coord = Coordinator(browser, server.base_url, NARROW)
    page = coord.page
    try:
        page.wait_for_function(
            "[...window.dispatchMap.state.visits.values()].some(v => v.pseudonym === 'M-DOUBLE')"
        )
        page.click("#lang")
        page.click("#in-new summary")
        page.click("#in-csv summary")
        text = page.inner_text(".dispatch-intake")
        for french in ("Nouvelle visite", "Pseudonyme", "Créneau", "Importer", "Enregistrer"):
            assert french not in text, french
        assert "New visit" in text and "Import a CSV" in text and "Save the visit" in text
        check_axe(page, context=INTAKE)
        page.locator("#in-new").scroll_into_view_if_needed()
        coord.shot("intake-form-en-1024.png")

        page.fill("#in-name", "MR-SECOND")
        page.locator("#in-addr").press_sequentially("8 rue pajol", delay=20)
        # The suggestions of the whole text (an earlier, shorter text's list can show first).
        page.wait_for_selector("#in-suggest li:first-child button >> text=Rue Pajol, Melun")
        page.press("#in-addr", "Enter")
        assert "Rue Pajol, Melun — precision: street" in page.inner_text("#in-where")
        page.click("#in-save")
        warning = page.inner_text("#in-status")
        assert "Likely duplicate: M-DOUBLE" in warning and "less than 50 m away" in warning
        assert not stored(live, "MR-SECOND")
        assert page.locator("#in-save-anyway").is_visible()
        page.click("#in-save-anyway")
        page.wait_for_selector("#in-status.ok")
        assert "Visit MR-SECOND created" in page.inner_text("#in-status")
        assert page.locator("#in-save-anyway").is_hidden()
        # A visit for another day is not in today's list: the message says its day.
        tomorrow = (dt.date.fromisoformat(world["day"]) + dt.timedelta(days=1)).isoformat()
        page.fill("#in-name", "MR-TOMORROW")
        page.locator("#in-addr").press_sequentially("rue pajol", delay=20)
        # Enter before the text's suggestions have come waits for them and takes their first.
        page.press("#in-addr", "Enter")
        page.wait_for_function(
            "document.querySelector('#in-where').textContent.includes('Rue Pajol, Melun')"
        )
        page.fill("#in-day", tomorrow)
        page.click("#in-save")
        page.wait_for_function(
            "document.querySelector('#in-status').textContent.includes('MR-TOMORROW')"
        )
        weekday = dt.date.fromisoformat(tomorrow).strftime("%A")
        assert f"Visit MR-TOMORROW created for {weekday}" in page.inner_text("#in-status")
        assert len(stored(live, "MR-SECOND")) == 1

        page.set_input_files("#in-file", str(FIXTURE))
        page.click("#in-check")
        page.wait_for_selector("table.in-review tbody tr", timeout=20000)
        review = page.inner_text("#in-review")
        assert "Review before import" in review and "likely duplicate" in review
        for french in ("doublon", "Ligne", "Importer", "Précision"):
            assert french not in review, french
        precisions = set(page.locator("table.in-review td.in-precision").all_inner_texts())
        assert precisions <= {"street", "–"} and "street" in precisions
        check_axe(page, context=INTAKE)
        coord.shot("intake-review-en-1024.png")
        coord.assert_no_reload()
    finally:
        coord.close()


def test_intake_at_phone_width(live, browser) -> None:  # type: ignore[no-untyped-def]
    """At 360×780 the form opens from the panel button and the review table scrolls sideways
    over the map, its buttons reachable."""
    server, world = live
    if not stored(live, "M-BARRE"):  # the file imported already (when run alone)
        auth = {"Authorization": f"Bearer {world['token']}"}
        preview = requests.post(
            f"{server.base_url}/api/visits/import/preview?day={world['day']}",
            data=FIXTURE.read_bytes(),
            headers={**auth, "Content-Type": "text/csv"},
            timeout=30,
        ).json()
        rows = [
            {"line": r["line"], "visit": r["visit"]} for r in preview["rows"] if r["importable"]
        ]
        requests.post(
            f"{server.base_url}/api/visits/import/confirm",
            json={"rows": rows},
            headers=auth,
            timeout=30,
        ).raise_for_status()
    coord = Coordinator(browser, server.base_url, PHONE)
    page = coord.page
    try:
        page.click("#panel-toggle")
        page.click("#in-new summary")
        page.locator("#in-name").scroll_into_view_if_needed()
        coord.shot("intake-form-360.png")
        page.click("#in-csv summary")
        page.set_input_files("#in-file", str(FIXTURE))
        page.click("#in-check")
        page.wait_for_selector("table.in-review tbody tr", timeout=20000)
        page.click("#panel-toggle")  # the drawer closes, the review stays over the map
        assert page.locator("#in-import").is_visible()
        page.locator("tr[data-line='20'] .in-show").click()
        page.wait_for_function("window.dispatchIntake.review.current === 20")
        # Every row repeats a visit already imported: none starts ticked.
        assert "doublons probables" in page.inner_text("#in-summary")
        assert page.locator("input.in-tick:checked").count() == 0
        shifted = coord.js("document.querySelector('.layout').scrollLeft")
        assert shifted == 0, "the page slid sideways under the review"
        check_axe(page, context=INTAKE)
        coord.shot("intake-review-360.png")
    finally:
        coord.close()
