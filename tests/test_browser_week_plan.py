"""The coordinator's week screens of issue 23 on a real server: continuity of care per patient
(how many different staff came this week, and who: sorted, filtered, more than 2 flagged in
words), hours per staff member against the contract, and « Planifier la semaine »: progress,
then the proposal compared with the current plan and day by day (each day's draft opens on the
map), applied with the visits it takes out of published rounds listed and confirmed first.
French and English, axe at desktop (1280 × 800) and phone (Pixel 7) sizes, screenshots in
tests/screenshots/week-plan-*.png.

A small structure: three nurses on staggered rotas, six patients with a daily care plan, next
week's visits generated and each day published as the rounds service optimises it alone (the
current plan the week's planning is compared with); a short solver budget per day."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings

from dispatch.care.service import generate_visits
from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
#: The patients' family names (their homes around Melun's centre).
PATIENTS = ("Rossi", "Santoni", "Albertini", "Mattei", "Paoli", "Cristofari")
#: Who works which days (Monday first): every day has two or three nurses.
STAFF = (
    ("Marie Lefèvre", "MO,TU,WE,TH,FR"),
    ("Claire Bianchi", "MO,TU,WE,SA,SU"),
    ("Jean Casanova", "MO,TH,FR,SA,SU"),
)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server with the small structure above; next week is the week planned."""
    settings = module_settings(tmp_path_factory.mktemp("week-plan"), territory_cache, shared_dir)
    settings = dataclasses.replace(
        settings, solver_time_limit_s=0.5, solver_searches=1, week_day_time_limit_s=0.2
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    today = dt.date.fromisoformat(app.extensions["dispatch.live"].today())
    monday = _monday(today) + dt.timedelta(days=7)
    since = (_monday(today) - dt.timedelta(days=7)).isoformat()
    store.add_user("coord", role="coordinator", password=PASSWORD, structure_ids=[1])
    staff = [
        store.add_staff(
            {
                "name": name,
                "gender": "female",
                "job": "nurse",
                "skills": ["insulin"],
                "contract_h_per_week": 35,
                "base_lon": MELUN[0],
                "base_lat": MELUN[1],
                "rotas": [{"start_day": since, "weekdays": days, "shift": "07:00-14:00"}],
            },
            structure_id=1,
        )  # fmt: skip
        for name, days in STAFF
    ]
    for i, family in enumerate(PATIENTS):
        patient = store.add_patient(
            {"structure_id": 1, "family_name": family, "given_name": "Lucienne",
             "birth_date": "1936-02-11", "sex": "female", "address": f"{i + 1} rue du Château",
             "commune": "Melun", "lon": MELUN[0] + 0.004 * (i % 3 - 1),
             "lat": MELUN[1] + 0.003 * (i // 3 - 0.5), "geocode_precision": "housenumber"},
            actor="test", today=today.isoformat(),
        )  # fmt: skip
        store.add_care_plan(
            patient["id"],
            {"label": "Insuline", "kind": "insulin", "duration_s": 1200,
             "windows": ["08:00-11:00"], "rrule": "FREQ=DAILY", "start_day": since},
            structures=[1], actor="test",
        )  # fmt: skip
    generate_visits(store, from_day=monday, days=7, structures=[1], actor="test")
    # The current plan: each day optimised alone and published, the patients passed from one
    # nurse to the next each day (so that some see all three this week); the preference
    # used for that is taken away afterwards.
    rounds = app.extensions["dispatch.rounds"]
    codes = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
    for i in range(7):
        day = (monday + dt.timedelta(days=i)).isoformat()
        on = [s for s, (_, days) in zip(staff, STAFF, strict=True) if codes[i] in days]
        visits = sorted(store.list_visits(day=day, structures=[1]), key=lambda v: v["patient_id"])
        for k, visit in enumerate(visits):
            store.update_visit(visit["id"], {"preferred_team_id": on[(k + i) % len(on)]["team_id"]})
        draft = rounds.optimise(day, by="test", structure_id=1, time_limit_s=0.2)
        rounds.apply(draft["plan_id"], by="test")
        for visit in visits:
            store.update_visit(visit["id"], {"preferred_team_id": None})
    # A palliative team beside the SSIAD (nothing planned yet), and a coordinator of both.
    palliative = store.add_structure(
        {"name": "Équipe mobile de soins palliatifs", "kind": "palliative_team"}
    )
    store.add_user(
        "coord-deux", role="coordinator", password=PASSWORD, structure_ids=[1, palliative["id"]]
    )
    server = RealServer(app)
    yield server, {"store": store, "today": today, "monday": monday, "staff": staff,
                   "palliative": palliative}  # fmt: skip
    server.stop()
    store.close()


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"week-plan-{name}.png"), full_page=full_page)


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.evaluate("document.getElementById('lang').click()")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def watch(page: Any, errors: list[str]) -> None:
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )


def open_week(
    browser: Any, base_url: str, path: str, user: str = "coord", **context: Any
) -> tuple[Any, Any]:
    """A new context (desktop unless told) logged in as ``user`` on ``path``."""
    _, instance = browser
    ctx = instance.new_context(**({"viewport": DESKTOP} | context), locale="fr-FR")
    page = ctx.new_page()
    errors: list[str] = []
    watch(page, errors)
    page.goto(f"{base_url}{path}")
    page.wait_for_selector("#login[open]")
    page.get_by_label("Identifiant", exact=True).fill(user)
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.errors = errors  # type: ignore[attr-defined]
    return ctx, page


#: Words of one language that must not show in the other (names typed by people aside).
FRENCH_WORDS = ("Semaine", "Planifier", "Continuité", "Heures", "contrat", "Visites",
                "Proposition", "Intervenants", "Appliquer", "Abandonner", "jour")  # fmt: skip
ENGLISH_WORDS = ("Week", "Plan the", "Continuity", "Hours", "contract", "Visits", "Proposal",
                 "Different staff", "Apply", "Discard", "day")  # fmt: skip
PEOPLE = tuple(name for name, _ in STAFF) + tuple(f"Lucienne {p}" for p in PATIENTS)


def check_language(page: Any, locale: str, root: str) -> None:
    """The rendered text of ``root`` holds no word of the other language."""
    text = page.inner_text(root)
    for name in PEOPLE:
        text = text.replace(name, "")
    if locale == "en":
        found = [w for w in FRENCH_WORDS if w in text]
    else:
        found = [w for w in ENGLISH_WORDS if w in text]
    assert not found, f"{locale} {root} shows {found}"


def table_rows(page: Any, selector: str) -> list[list[str]]:
    """The text of each body row's cells (header cell first)."""
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.innerText.trim()))",
    )


def test_continuity_and_hours_of_the_current_plan(live, browser) -> None:  # type: ignore[no-untyped-def]
    """« Continuité des soins »: a row per patient with how many different staff came this
    week and who, the most first; more than 2 said in words (« ⚠ plus de 2 »), not by colour
    only; sorted by name from its column's header, filtered by a name and to the flagged
    patients. « Heures et contrats »: each nurse's contract, rota and planned hours and the
    gap in per cent, in words. Tabs by keyboard."""
    server, world = live
    monday = world["monday"]
    ctx, page = open_week(browser, server.base_url, f"/week/?from={monday.isoformat()}")
    try:
        page.locator("#tab-grid").focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.id") == "tab-continuity"
        assert page.locator("#tab-continuity").get_attribute("aria-selected") == "true"
        assert page.locator("#view-grid").is_hidden()
        page.locator("#cont-body tr[data-patient-id]").first.wait_for()
        rows = table_rows(page, "#cont-table")
        assert sorted(r[0] for r in rows) == sorted(f"Lucienne {p}" for p in PATIENTS)
        distinct = [int(r[2].split()[0]) for r in rows]
        assert distinct == sorted(distinct, reverse=True) and all(d >= 1 for d in distinct)
        assert all(r[1] == "7" for r in rows)  # a visit a day
        assert distinct[0] > 2  # the nurses took turns
        for r, n in zip(rows, distinct, strict=True):
            assert ("⚠ plus de 2" in r[2]) == (n > 2), r
            assert len(re.findall(r"\(\d+\)", r[3])) == n, r  # who, with their visits
        header = page.locator("#cont-head th[aria-sort]")
        assert header.get_attribute("aria-sort") == "descending"
        assert "Intervenants différents" in header.inner_text()
        summary = page.locator("#cont-summary").inner_text()
        assert re.match(r"6 patient\(s\) ; \d+(,\d+)? intervenant\(s\) différent\(s\)", summary)
        check_axe(page)
        shot(page, "continuity", full_page=True)

        # Sorted by name, A first, then Z first; filtered by a name.
        page.get_by_role("button", name="Patient").click()
        names = [r[0] for r in table_rows(page, "#cont-table")]
        assert names == sorted(names)
        assert page.locator("#cont-head th[aria-sort]").inner_text().startswith("Patient")
        page.keyboard.press("Enter")  # the keyboard stays on the header's button
        assert [r[0] for r in table_rows(page, "#cont-table")] == sorted(names, reverse=True)
        page.get_by_label("Chercher un patient ou un soignant").fill("rossi")
        assert [r[0] for r in table_rows(page, "#cont-table")] == ["Lucienne Rossi"]
        assert "1 affiché(s)" in page.locator("#cont-summary").inner_text()
        page.get_by_label("Chercher un patient ou un soignant").fill("")
        page.get_by_label("Seulement les patients vus par plus de 2 personnes").check()
        flagged = table_rows(page, "#cont-table")
        many = sum(1 for n in distinct if n > 2)
        if many:
            assert len(flagged) == many and all("⚠ plus de 2" in r[2] for r in flagged)
        else:
            assert flagged == [["Aucun patient ne correspond à ces filtres."]]
        page.get_by_label("Seulement les patients vus par plus de 2 personnes").uncheck()
        set_locale(page, "en")
        check_language(page, "en", "#view-continuity")
        assert page.locator("#cont-head th[aria-sort]").inner_text().startswith("Patient")
        set_locale(page, "fr")

        # Hours against the contract.
        page.locator("#tab-continuity").focus()
        page.keyboard.press("ArrowRight")
        page.locator("#hours-body tr[data-staff-id]").first.wait_for()
        hours = table_rows(page, "#hours-table")
        assert sorted(r[0] for r in hours) == sorted(name for name, _ in STAFF)
        for r in hours:
            assert r[1] == "35 h" and r[2] == "35 h", r  # contract, rota (5 × 7 h)
            assert re.fullmatch(r"\d+(,\d+)? h", r[3]), r
            assert re.match(
                r"(✓ dans le contrat|▲ \d+(,\d+)? % au-dessus|▼ \d+(,\d+)? % sous)", r[4]
            ), r
            assert len(r) == 5 + 7
        head = page.eval_on_selector_all("#hours-head th", "ths => ths.map(t => t.innerText)")
        assert [re.sub(r" [↕▲▼].*", "", h, flags=re.S) for h in head[:5]] == [
            "Personnel",
            "Contrat dû (absences déduites)",
            "Roulement",
            "Prévu (tournées)",
            "Écart au contrat",
        ]
        assert head[5].startswith("lun.")
        # The furthest above their contract first; sorted by planned hours from its header.
        sorted_by = page.locator("#hours-head th[aria-sort]")
        assert sorted_by.inner_text().startswith("Écart au contrat")
        assert sorted_by.get_attribute("aria-sort") == "descending"
        page.get_by_role("button", name="Prévu (tournées)").click()
        assert page.locator("#hours-head th[aria-sort]").inner_text().startswith("Prévu")
        planned = [
            float(r[3].split()[0].replace(",", ".")) for r in table_rows(page, "#hours-table")
        ]
        assert planned == sorted(planned, reverse=True)
        check_axe(page)
        shot(page, "hours")
        set_locale(page, "en")
        check_language(page, "en", "#view-hours")
        assert "Against the contract" in page.locator("#hours-head").inner_text()
        assert "Contract owed (absences taken off)" in page.locator("#hours-head").inner_text()
        # The grid says its contract is the whole week's (the tab's is owed after absences).
        assert "weekly contract" in (page.locator("#view-grid thead").text_content() or "")
        check_axe(page)
        shot(page, "hours-en")
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_the_week_is_planned_compared_with_the_current_plan_and_applied(live, browser) -> None:  # type: ignore[no-untyped-def]
    """« Planifier la semaine »: a progress bar (role progressbar, its value the days done)
    and a status line while it runs; then the proposal against the current plan (visits
    planned, without a team, travel, different staff per patient, largest contract excess,
    spread of hours, rules broken) in words, and each day with its draft to check on the
    map. « Appliquer la semaine » first lists a visit the proposal takes out of a published
    round (staged: this small week drops nothing), its day waiting for confirmation and
    nothing published before; a day unticked is left out, then applied on its own; each
    day's draft is then the published plan."""
    server, world = live
    store, monday = world["store"], world["monday"]
    days = [(monday + dt.timedelta(days=i)).isoformat() for i in range(7)]
    ctx, page = open_week(browser, server.base_url, f"/week/?from={monday.isoformat()}")
    try:
        hint = page.locator("#plan-week-hint").inner_text()
        assert re.match(r"Propose les tournées du \d+(er)? \w+ au \d+(er)? \w+ \d{4}", hint), hint
        # The weight of continuity, in minutes of travel (empty: the service's setting).
        page.get_by_text("Réglages de la planification").click()
        weight = page.get_by_label("Poids de la continuité des soins (minutes de trajet)")
        weight.fill("-5")
        page.get_by_role("button", name="Planifier la semaine").click()
        page.wait_for_function(
            "document.getElementById('plan-weight-error').textContent.includes('de 0 à 1440')"
        )
        assert weight.get_attribute("aria-invalid") == "true"
        assert page.locator("#plan").is_hidden()
        weight.fill("30")
        with page.expect_request("**/api/week/plan") as request:
            page.get_by_role("button", name="Planifier la semaine").click()
        assert request.value.post_data_json == {
            "from": days[0], "days": 7, "continuity_weight_s": 1800}  # fmt: skip
        assert page.locator("#plan-weight-error").inner_text() == ""
        bar = page.get_by_role("progressbar", name="Avancement")
        bar.wait_for()
        assert bar.get_attribute("aria-valuemax") == "7"
        assert int(bar.get_attribute("aria-valuenow") or "-1") >= 0
        assert page.evaluate("document.activeElement.id") == "plan-h"
        page.wait_for_function(
            "document.getElementById('plan-status').textContent.includes('Planification')"
        )
        page.locator("#plan-result:not([hidden])").wait_for(timeout=90000)
        assert page.locator("#plan-progress-box").is_hidden()
        page.wait_for_function(
            "document.getElementById('plan-status').textContent.includes('Proposition prête')"
        )
        # No second proposal while this one waits.
        assert page.get_by_role("button", name="Planifier la semaine").is_disabled()
        assert "Une proposition attend" in page.locator("#plan-week-hint").inner_text()
        cmp_rows = table_rows(page, "#plan-cmp")
        assert [r[0] for r in cmp_rows] == [
            "Visites planifiées", "Visites sans équipe", "Temps de trajet",
            "Intervenants différents par patient (moyenne)", "Dépassement maximal d'un contrat",
            "Écart d'heures entre les personnes", "Règles enfreintes",
        ]  # fmt: skip
        for r in cmp_rows:
            assert len(r) == 4 and re.search(r"(: mieux|: moins bien|= identique)$", r[3]), r
        assert re.fullmatch(r"\d+ h \d\d|\d+ min", cmp_rows[2][1]), cmp_rows[2]
        day_rows = page.locator("#plan-days-body tr")
        assert day_rows.count() == 7
        drafts: dict[str, int] = {}
        for day in days:
            link = page.locator(f"#plan-days-body tr[data-day='{day}'] a")
            href = link.get_attribute("href") or ""
            assert href.startswith(f"/map/?day={day}&plan="), href
            drafts[day] = int(href.rsplit("=", 1)[1])
            assert store.get_plan(drafts[day])["status"] == "draft"
        check_axe(page)
        shot(page, "proposal", full_page=True)
        set_locale(page, "en")
        check_language(page, "en", "#plan")
        page.wait_for_function(
            "document.getElementById('plan-status').textContent.includes('Proposal ready')"
        )
        shot(page, "proposal-en", full_page=True)
        set_locale(page, "fr")
        # Monday's draft takes a visit out of a round (staged: this small week drops
        # nothing): the press lists it first and publishes nothing before it is confirmed;
        # Tuesday is left out (unticked), then applied on its own.
        [visit] = [v for v in store.list_visits(day=days[0], structures=[1])][:1]
        sent: dict[str, Any] = {}
        page.on("request", lambda r: sent.update({r.url.split("/")[-2]: r.post_data_json})
                if r.method == "POST" and r.url.endswith("/apply") else None)  # fmt: skip

        def add_dropped(route: Any) -> None:
            reply = route.fetch()
            body = reply.json()
            body["dropped"] = [{"visit_id": visit["id"], "label": "MME-ROSSI",
                                "team_id": visit.get("team_id"), "reason": ""}]  # fmt: skip
            route.fulfill(response=reply, json=body)

        page.route(f"**/api/dispatch/plans/{drafts[days[0]]}", add_dropped)
        # A reload finds the proposal again (kept for the tab while the server keeps the job).
        page.reload()
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        page.locator("#plan-result:not([hidden])").wait_for()
        assert page.locator("#plan-days-body tr").count() == 7
        # Before any press, the day-by-day table says which day will need a confirmation.
        page.wait_for_function(
            f"document.querySelector(\"#plan-days-body tr[data-day='{days[0]}']\")"
            ".textContent.includes('à confirmer avant publication : 1 visite(s)')"
        )
        page.get_by_label(re.compile(r"Appliquer le mardi")).uncheck()
        page.get_by_role("button", name="Appliquer la semaine").click()
        confirm = page.locator("#plan-confirm")
        confirm.wait_for()
        assert page.evaluate("document.activeElement.id") == "plan-confirm-h"
        assert "Visites retirées des tournées" in confirm.inner_text()
        assert re.search(r"lundi \d+ \w+ : MME-ROSSI", confirm.inner_text())
        monday_row = page.locator(f"#plan-days-body tr[data-day='{days[0]}']").inner_text()
        assert "en attente de votre confirmation : 1 visite(s) retirée(s)" in monday_row
        assert "refusé" not in monday_row and not sent
        # The status line is a live region: its text is set a moment after it is cleared.
        page.wait_for_function(
            "document.getElementById('plan-status').textContent"
            '.includes("Rien n\'est encore publié")'
        )
        assert store.published_plan_id(days[2], structure_id=1) != drafts[days[2]]
        check_axe(page)
        shot(page, "confirm", full_page=True)
        set_locale(page, "en")
        check_language(page, "en", "#plan")
        assert (
            "waiting for your confirmation: 1 visit(s)" in page.locator("#plan-days").inner_text()
        )
        set_locale(page, "fr")
        page.get_by_role("button", name="Confirmer et appliquer").click()
        page.wait_for_function(
            "document.getElementById('plan-status').textContent.includes('Semaine appliquée')",
            timeout=60000,
        )
        assert sent[str(drafts[days[0]])]["confirm_dropped"] == [visit["id"]]
        assert "6 jour(s) publié(s)" in page.locator("#plan-status").inner_text()
        assert store.published_plan_id(days[1], structure_id=1) != drafts[days[1]]
        page.get_by_label(re.compile(r"Appliquer le mardi")).check()
        page.get_by_role("button", name="Appliquer la semaine").click()
        page.wait_for_function(
            "document.getElementById('plan-status').textContent.includes('7 jour(s) publié(s)')",
            timeout=60000,
        )
        assert page.locator("#plan-confirm").is_hidden()
        assert page.locator("#plan-days-body").inner_text().count("✓ appliqué") == 7
        assert page.get_by_role("button", name="Appliquer la semaine").is_hidden()
        for day in days:
            assert store.published_plan_id(day, structure_id=1) == drafts[day]
        shot(page, "applied", full_page=True)
        # Continuity read again from the plans now published.
        page.get_by_role("tab", name="Continuité des soins").click()
        page.locator("#cont-body tr[data-patient-id]").first.wait_for()
        assert len(table_rows(page, "#cont-table")) == len(PATIENTS)
        page.get_by_role("button", name="Fermer").click()
        assert page.locator("#plan").is_hidden()
        assert page.evaluate("document.activeElement.id") == "plan-week"
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_the_screens_on_a_phone(live, browser) -> None:  # type: ignore[no-untyped-def]
    """On a Pixel 7: continuity and hours fit (their tables scroll inside their frame), a
    week's planning runs to its comparison, and « Abandonner » leaves the published rounds
    as they are."""
    server, world = live
    store, monday = world["store"], world["monday"]
    playwright, _ = browser
    device = {k: v for k, v in playwright.devices["Pixel 7"].items() if k != "default_browser_type"}
    ctx, page = open_week(browser, server.base_url, f"/week/?from={monday.isoformat()}", **device)
    try:
        published = {
            d: store.published_plan_id(d, structure_id=1)
            for d in ((monday + dt.timedelta(days=i)).isoformat() for i in range(7))
        }
        page.get_by_role("tab", name="Continuité des soins").click()
        page.locator("#cont-body tr[data-patient-id]").first.wait_for()
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        check_axe(page)
        shot(page, "continuity-phone", full_page=True)
        page.get_by_role("tab", name="Heures et contrats").click()
        page.locator("#hours-body tr[data-staff-id]").first.wait_for()
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        check_axe(page)
        shot(page, "hours-phone")

        # Staged: no visit planned now. Travel, hours and staff rows are then not judged.
        def nothing_now(route: Any) -> None:
            reply = route.fetch()
            body = reply.json()
            if body.get("result"):
                current = body["result"]["comparison"]["current"]
                current.update({k: 0 for k in current})
            route.fulfill(response=reply, json=body)

        page.route("**/api/week/plan/*", nothing_now)
        page.get_by_role("button", name="Planifier la semaine").click()
        page.locator("#plan-result:not([hidden])").wait_for(timeout=90000)
        changes = [r[3] for r in table_rows(page, "#plan-cmp")]
        assert changes[0].endswith("mieux") and changes[2] == "pas de plan actuel", changes
        assert changes.count("pas de plan actuel") == 5, changes
        check_axe(page)
        shot(page, "proposal-phone", full_page=True)
        page.get_by_role("button", name="Abandonner").click()
        assert page.locator("#plan").is_hidden()
        page.wait_for_function(
            "document.getElementById('status').textContent.includes('Proposition abandonnée')"
        )
        assert page.evaluate("document.activeElement.id") == "plan-week"
        assert {d: store.published_plan_id(d, structure_id=1) for d in published} == published
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_a_coordinator_of_two_structures_chooses_the_one_shown_and_planned(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Working for the SSIAD and the palliative team, a coordinator chooses the structure of
    the continuity, hours and planning views (the grid shows both): the palliative team has
    nothing published yet; the SSIAD's patients are there; the week planned is the one
    chosen."""
    server, world = live
    monday, palliative = world["monday"], world["palliative"]
    ctx, page = open_week(
        browser, server.base_url, f"/week/?from={monday.isoformat()}", user="coord-deux"
    )
    try:
        scope = page.get_by_label("Structure (continuité, heures, planification)")
        assert scope.is_visible()  # on the grid too, which shows every structure
        page.get_by_role("tab", name="Continuité des soins").click()
        scope.select_option(str(palliative["id"]))
        hint = page.locator("#plan-week-hint").inner_text()
        assert hint.startswith("Propose les tournées de « Équipe mobile de soins palliatifs » du")
        page.wait_for_function(
            "document.getElementById('cont-summary').textContent.includes('Aucune visite')"
        )
        assert page.locator("#cont-body tr").count() == 0
        scope.select_option("1")
        page.locator("#cont-body tr[data-patient-id]").first.wait_for()
        assert len(table_rows(page, "#cont-table")) == len(PATIENTS)
        check_axe(page)
        scope.select_option(str(palliative["id"]))
        with page.expect_request("**/api/week/plan") as request:
            page.get_by_role("button", name="Planifier la semaine").click()
        body = request.value.post_data_json
        assert body["structure_id"] == palliative["id"] and body["days"] == 7, body
        page.wait_for_function(
            "/Proposition prête|a échoué/.test(document.getElementById('plan-status').textContent)",
            timeout=60000,
        )
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()
