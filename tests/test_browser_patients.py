"""The patients screen (/patients/) on a real server, driven as a coordinator would (issue 22's
acceptance journey, part 1): she creates a patient (address located offline, the pin dragged
to the right house), gives her a twice-daily care plan, generates two weeks of visits, records
a hospitalisation from Wednesday to Friday and sees those visits cancelled on screen; then
exports the record, discharges the patient and readmits her. French and English, axe at desktop
and phone sizes, screenshots in tests/screenshots/patients-*.png."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from axe_support import check_axe
from live_support import PASSWORD, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
PHONE = {"width": 360, "height": 780}
PHONE_390 = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server with a coordinator of structure 1 (and of a nursing centre) and two of its
    staff."""
    settings = module_settings(tmp_path_factory.mktemp("patients"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    centre = store.add_structure({"name": "Centre de soins du Mée", "kind": "nursing_centre"})
    store.add_user("coord", role="coordinator", password=PASSWORD, structure_ids=[1, centre["id"]])
    staff = [
        store.add_staff(
            {
                "name": name,
                "gender": gender,
                "job": "nurse",
                "skills": ["insulin"],
                "contract_h_per_week": 35,
            },
            structure_id=1,
        )
        for name, gender in (("Marie Lefèvre", "female"), ("Paul Santoni", "male"))
    ]
    # A patient of another structure: never shown to this coordinator.
    other = store.add_structure({"name": "SSIAD voisin", "kind": "ssiad"})
    stranger = store.add_patient(
        {
            "structure_id": other["id"],
            "family_name": "Inconnue",
            "given_name": "Berthe",
            "address": "1 place Saint-Jean",
            "commune": "Melun",
            "lon": 2.657,
            "lat": 48.539,
            "geocode_precision": "housenumber",
        },
        actor="test",
    )
    # The area's DAC and its coordinator: they read a patient only by recorded consent.
    dac = store.add_structure({"name": "DAC Sud 77", "kind": "dac"})
    store.add_user("dac", role="coordinator", password=PASSWORD, structure_ids=[dac["id"]])
    server = RealServer(app)
    yield (
        server,
        {
            "store": store,
            "staff": staff,
            "settings": settings,
            "stranger": stranger,
            "dac": dac,
            "centre": centre,
            "home": store.get_structure(1, structures=None),
        },
    )
    server.stop()
    store.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"patients-{name}.png"), full_page=True)


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


#: Words of one language that must not show in the other (data typed by the coordinator aside).
FRENCH_WORDS = (
    "Nouveau patient",
    "Enregistr",
    "Annuler",
    "Suspendre",
    "Prochaines visites",
    "annulée",
    "Tous les jours",
    "Passage",
    "Identité",
    "Commune",
    "Générer",
    "Se déconnecter",
    "Pris en charge",
)
ENGLISH_WORDS = (
    "New patient",
    "Save",
    "Cancel",
    "Coming visits",
    "cancelled",
    "Every day",
    "Identity",
    "Town",
    "Generate",
    "Log out",
    "In care",
)


def check_language(page: Any, locale: str) -> None:
    """The rendered text holds no word of the other language."""
    text = page.inner_text("body")
    if locale == "en":
        # What the coordinator typed (the plan's label, the town) stays as typed.
        text = text.replace("Insuline matin et soir", "").replace("Melun", "")
        found = [w for w in FRENCH_WORDS if w in text]
    else:
        text = text.replace("English", "")
        found = [w for w in ENGLISH_WORDS if w in text]
    assert not found, f"{locale} page shows {found}"


def axe_both_locales(page: Any, name: str, sizes: tuple[dict[str, int], ...] = (WIDE,)) -> None:
    """axe and the language check in French and English at each size (a screenshot of each),
    then back to French at 1400×900."""
    for viewport in sizes:
        page.set_viewport_size(viewport)
        suffix = "" if viewport == WIDE else f"-{viewport['width']}"
        for locale in ("fr", "en"):
            set_locale(page, locale)
            check_language(page, locale)
            check_axe(page)
            shot(page, f"{name}-{locale}{suffix}")
    page.set_viewport_size(WIDE)
    set_locale(page, "fr")


#: A CSV of patients as a service would export it (French dates, semicolons): Jeanne Martin
#: again (already followed), a new patient, and an address the territory does not know.
CSV = (
    "family_name;given_name;birth_date;sex;address;commune;phone\n"
    "Martin;Jeanne;12/04/1938;F;2 rue du Château;Melun;\n"
    "Dupont;Marcel;03/02/1941;H;2 rue du Château;Melun;01 02 03 04 05\n"
    "Nowhere;Zoé;;F;12 impasse des Nuages;Nullepart-sur-Mer;\n"
)


def next_wednesday(today: dt.date) -> dt.date:
    """The first Wednesday after today (within the 14 generated days)."""
    return today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7)


def test_coordinator_plans_a_patient_and_records_a_hospitalisation(live, browser) -> None:  # type: ignore[no-untyped-def]
    server, world = live
    store = world["store"]
    _, instance = browser
    ctx = instance.new_context(viewport=WIDE, locale="fr-FR", accept_downloads=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A style or script the Content-Security-Policy refuses fails the journey too.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    try:
        page.goto(f"{server.base_url}/patients/")
        page.wait_for_selector("#login[open]")
        page.get_by_label("Identifiant", exact=True).fill("coord")
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        today = dt.date.fromisoformat(page.evaluate("window.patientsToday"))
        assert "Aucun patient" in page.inner_text("#patient-table")
        axe_both_locales(page, "list-empty")

        # Another structure's patient: not found, nothing of the record on screen.
        page.goto(f"{server.base_url}/patients/#patient-{world['stranger']['id']}")
        page.wait_for_selector("#record-status-text:has-text('pas suivi par votre structure')")
        assert page.inner_text("#record-h") == "Dossier introuvable"
        assert "Inconnue" not in page.inner_text("body")
        assert page.locator("#record-grid").is_hidden()
        check_axe(page)
        page.get_by_role("button", name="← Liste des patients").click()
        page.wait_for_selector("#list-view:not([hidden])")

        # -- a new patient: identity, address located offline, the pin moved by hand --------------
        page.get_by_role("button", name="Nouveau patient").click()
        page.wait_for_function("document.activeElement.id === 'pf-family'")
        # Sex unknown until said; a coordinator of two structures chooses the patient's.
        assert page.input_value("#pf-sex") == "unknown"
        assert page.locator("#pf-structure").is_visible()
        page.locator("#pf-structure").select_option(label=world["home"]["name"])
        page.get_by_role("button", name="Enregistrer", exact=True).click()
        assert "nom de famille" in page.inner_text("#patient-error")
        page.get_by_label("Nom de famille").fill("Martin")
        page.get_by_label("Prénom").fill("Jeanne")
        page.get_by_label("Date de naissance").fill("1938-04-12")
        page.get_by_label("Sexe").select_option(label="Femme")
        page.get_by_label("Téléphone", exact=True).fill("01 64 00 00 00")
        # An address the offline geocoder does not know says what to do.
        page.get_by_label("Numéro et rue").fill("12 impasse des Nuages")
        page.get_by_label("Commune", exact=True).fill("Nullepart-sur-Mer")
        page.get_by_role("button", name="Localiser").click()
        page.wait_for_selector("#pf-precision:has-text('Adresse introuvable')")
        # Saved as it is, the server refuses it in French and says what to do.
        page.get_by_role("button", name="Enregistrer", exact=True).click()
        page.wait_for_selector("#patient-error:has-text('introuvable sur le territoire')")
        assert "placez" in page.inner_text("#patient-error")
        assert not store.list_patients(structures=[1], actor="test")
        page.get_by_label("Numéro et rue").fill("2 rue du Château")
        page.get_by_label("Commune", exact=True).fill("Melun")
        page.get_by_role("button", name="Localiser").click()
        page.wait_for_selector("#pf-precision:has-text('Trouvée')")
        assert "précision" in page.inner_text("#pf-precision")
        page.wait_for_selector("body[data-map-ready='1']", timeout=15000)
        page.wait_for_function("!window.patientsMap.isMoving()")
        before = page.evaluate("window.patientsPin()")
        # Dragged with the mouse a few tens of metres east...
        pin = page.locator(".home-marker").bounding_box()
        assert pin, "the pin is on the map"
        x, y = pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 20, y + 5, steps=5)
        page.mouse.up()
        page.wait_for_selector("#pf-precision:has-text('Épingle déplacée')")
        dragged = page.evaluate("window.patientsPin()")
        assert dragged[0] > before[0], "dragged east"
        # ...and nudged with the keyboard.
        page.locator(".home-marker").focus()
        page.keyboard.press("ArrowUp")
        nudged = page.evaluate("window.patientsPin()")
        assert nudged[1] > dragged[1], "moved north"
        page.get_by_label("Accès (code de porte, clés, animaux…)").fill("Code 1234B, chien")
        page.get_by_label("Médecin traitant").fill("Dr Paoli")
        page.get_by_role("button", name="Ajouter une personne").click()
        page.locator("#pf-contacts li").first.get_by_label("Nom", exact=True).fill("Luc Martin")
        page.locator("#pf-contacts li").first.get_by_label("Lien (fille, voisin, aidant…)").fill(
            "fils"
        )
        page.locator("#pf-contacts li").first.get_by_label("Téléphone").fill("06 00 00 00 00")
        page.get_by_role("button", name="Ajouter un identifiant").click()
        page.locator("#pf-ids li").first.get_by_label("Système (INS, n° de dossier…)").fill("INS")
        page.locator("#pf-ids li").first.get_by_label("Valeur").fill("2380475123456")
        axe_both_locales(page, "new", sizes=(WIDE, PHONE))
        page.get_by_role("button", name="Enregistrer", exact=True).click()
        page.wait_for_selector("#record-status-text:has-text('Patient créé')")
        [patient] = store.list_patients(structures=[1], actor="test")
        patient = store.get_patient(patient["id"], structures=None, actor="test")
        assert (patient["family_name"], patient["given_name"]) == ("Martin", "Jeanne")
        assert patient["birth_date"] == "1938-04-12" and patient["sex"] == "female"
        assert patient["pin_corrected"] and patient["geocode_precision"] == "manual"
        assert abs(patient["lon"] - nudged[0]) < 1e-5 and abs(patient["lat"] - nudged[1]) < 1e-5
        assert patient["contacts"] == [{"name": "Luc Martin", "relation": "fils",
                                        "phone": "06 00 00 00 00"}]  # fmt: skip
        assert patient["external_ids"] == {"INS": "2380475123456"}
        assert page.url.endswith(f"#patient-{patient['id']}")
        assert "placée à la main" in page.inner_text("#pf-precision")
        assert page.inner_text("#record-structure") == f"Structure : {world['home']['name']}"

        # -- a twice-daily care plan ---------------------------------------------------------------
        page.get_by_role("button", name="Nouveau plan de soins").click()
        page.get_by_label("Intitulé").fill("Insuline matin et soir")
        page.get_by_label("Soin", exact=True).select_option("insulin")
        page.get_by_label("Durée (minutes)").fill("15")
        page.get_by_label("Passage 1 : de").fill("08:00")
        page.locator("#cp-windows li").first.get_by_label("à", exact=True).fill("09:00")
        page.get_by_role("button", name="Ajouter un passage").click()
        page.get_by_label("Passage 2 : de").fill("18:00")
        page.locator("#cp-windows li").nth(1).get_by_label("à", exact=True).fill("19:00")
        page.get_by_label("Tous les jours").check()
        assert page.input_value("#cp-start") == today.isoformat()
        page.locator("#cp-preferred").get_by_label("Marie Lefèvre (infirmier·e)").check()
        page.get_by_label("Préférence du patient").select_option("female")
        # The recurrence builder: weekdays, then back to every day.
        page.get_by_label("Certains jours de la semaine").check()
        page.get_by_role("button", name="Enregistrer le plan").click()
        assert "au moins un jour" in page.inner_text("#plan-error")
        page.locator("#cp-days").get_by_label("lundi").check()
        page.locator("#cp-days").get_by_label("mercredi").check()
        assert page.inner_text("#cp-rule-text") == "Chaque semaine : lun., mer."
        page.get_by_label("Tous les jours").check()
        axe_both_locales(page, "plan-form", sizes=(WIDE, PHONE))
        page.get_by_role("button", name="Enregistrer le plan").click()
        page.wait_for_selector("#plans-status:has-text('Insuline matin et soir')", timeout=30000)
        [plan] = store.list_care_plans(patient["id"], structures=None)
        assert plan["windows"] == ["08:00-09:00", "18:00-19:00"]
        assert plan["rrule"] == "FREQ=DAILY" and plan["duration_s"] == 900
        assert plan["wishes"]["preferred_staff_ids"] == [world["staff"][0]["id"]]
        assert plan["wishes"]["gender"] == "female"
        assert "08:00–09:00, 18:00–19:00" in page.inner_text("#plan-list")
        # The rule in words only; the skills in words.
        assert "FREQ=" not in page.inner_text("#plan-list")
        assert "Compétences : insuline" in page.inner_text("#plan-list")

        # -- two weeks generated -------------------------------------------------------------------
        page.get_by_role("button", name="Générer les visites (14 jours)").click()
        page.wait_for_selector("#generate-status:has-text('inchangée')", timeout=60000)
        page.wait_for_function(
            "document.querySelectorAll('#visit-table tr[data-visit-id]').length >= 26"
        )
        rows = page.locator("#visit-table tr[data-visit-id]")
        days = {rows.nth(i).get_attribute("data-day") for i in range(rows.count())}
        last = (today + dt.timedelta(days=13)).isoformat()
        assert last in days and all(today.isoformat() <= d <= last for d in days)
        assert "prévue (pas encore dans une tournée)" in page.inner_text("#visit-table")
        assert page.locator("#visits-legend").is_visible()
        # On a phone, the daily cards come before the identity form.
        page.set_viewport_size(PHONE_390)
        plans_top = page.locator("#plans").bounding_box()["y"]
        visits_top = page.locator("#visits").bounding_box()["y"]
        assert plans_top < visits_top < page.locator("#patient-form").bounding_box()["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        shot(page, "record-phone-fr")
        page.set_viewport_size(WIDE)

        # -- hospitalisation from Wednesday to Friday ------------------------------------------------
        wednesday = next_wednesday(today)
        friday = wednesday + dt.timedelta(days=2)
        page.get_by_label("Motif").select_option("hospitalisation")
        page.get_by_label("Du", exact=True).fill(wednesday.isoformat())
        page.get_by_label("Au (inclus, facultatif)").fill(friday.isoformat())
        page.get_by_role("button", name="Enregistrer la suspension").click()
        page.wait_for_selector("#susp-status:has-text('6 visite(s) annulée(s)')", timeout=30000)
        assert "Hospitalisation du mer." in page.inner_text("#susp-status")
        assert "6 visites annulées" in page.inner_text("#susp-list")
        cancelled = page.locator("#visit-table tr[data-status='cancelled']")
        assert cancelled.count() == 6
        for i in range(6):
            row = cancelled.nth(i)
            assert wednesday.isoformat() <= row.get_attribute("data-day") <= friday.isoformat()
            assert "annulée — hospitalisation" in row.inner_text()
        others = page.locator("#visit-table tr[data-visit-id]:not([data-status='cancelled'])")
        for i in range(others.count()):
            day = others.nth(i).get_attribute("data-day")
            assert not wednesday.isoformat() <= day <= friday.isoformat()
        # Each day links to that day's rounds on the map.
        link = page.locator(f"#visit-table tr[data-day='{wednesday.isoformat()}'] a").first
        assert link.get_attribute("href") == f"/map/?day={wednesday.isoformat()}"
        page.locator("#visits").scroll_into_view_if_needed()
        axe_both_locales(page, "hospitalisation", sizes=(WIDE, NARROW, PHONE))
        check_language(page, "fr")

        # -- export (subject-access request) -------------------------------------------------------
        with page.expect_download() as download:
            page.get_by_role("button", name="Exporter le dossier").click()
        exported = json.loads(Path(download.value.path()).read_text())
        assert "Martin" in json.dumps(exported)
        page.wait_for_selector("#record-status-text:has-text('Dossier exporté')")

        # -- the plan changed: its coming visits follow ----------------------------------------
        page.locator("#plan-list").get_by_role("button", name="Modifier").click()
        assert page.input_value("#cp-label") == "Insuline matin et soir"
        assert page.locator("input[name=cp-freq][value=daily]").is_checked()
        page.get_by_label("Durée (minutes)").fill("20")
        # A day skipped (the family takes over that Sunday, say).
        skipped = (today + dt.timedelta(days=12)).isoformat()
        page.get_by_label("Jours sautés", exact=True).fill(skipped)
        page.locator("#cp-exception-add").click()
        assert page.locator("#cp-exceptions li").count() == 1
        page.get_by_role("button", name="Enregistrer le plan").click()
        page.wait_for_selector("#plans-status:has-text('0 visite(s) créée(s)')", timeout=30000)
        changed = store.get_care_plan(patient["id"], plan["id"], structures=None)
        assert changed["duration_s"] == 1200 and changed["exceptions"] == [skipped]
        page.wait_for_selector(f"#visit-table tr[data-day='{skipped}'][data-status='cancelled']")
        assert "plus prévue au plan" in page.inner_text(f"#visit-table tr[data-day='{skipped}']")
        assert "20 min" in page.inner_text("#plan-list")

        # -- the patient is back early: the suspension lifted brings the visits back -------------
        page.locator("#susp-list").get_by_role("button", name="Lever").click()
        page.wait_for_selector("#confirm[open]")
        assert "Hospitalisation du mer." in page.inner_text("#confirm-text")
        assert ".. " not in page.inner_text("#confirm-text")
        page.locator("#confirm-ok").click()
        page.wait_for_selector(
            "#susp-status:has-text('Suspension levée : 6 visite(s)')", timeout=30000
        )
        still = page.locator("#visit-table tr[data-status='cancelled']")
        assert {still.nth(i).get_attribute("data-day") for i in range(still.count())} == {skipped}
        assert "levée" in page.inner_text("#susp-list")
        # And it comes again, for the list's next suspension.
        page.get_by_label("Du", exact=True).fill(wednesday.isoformat())
        page.get_by_label("Au (inclus, facultatif)").fill(friday.isoformat())
        page.get_by_role("button", name="Enregistrer la suspension").click()
        page.wait_for_selector("#susp-status:has-text('6 visite(s) annulée(s)')", timeout=30000)

        # -- the list: search, status filter, next suspension --------------------------------------
        page.get_by_role("button", name="← Liste des patients").click()
        page.wait_for_selector(f"#patient-table tr[data-patient-id='{patient['id']}']")
        row = page.locator(f"#patient-table tr[data-patient-id='{patient['id']}']")
        assert "MARTIN Jeanne" in row.inner_text() and "Hospitalisation du" in row.inner_text()
        assert world["home"]["name"] in row.inner_text(), "the structure column"
        # The count counts the patient created since the list was first shown.
        page.wait_for_selector("#list-status:has-text('1 patient(s) affiché(s) sur 1.')")
        # On a phone the list fits: the secondary columns go under the name.
        page.set_viewport_size(PHONE_390)
        assert page.evaluate(
            "(el => el.scrollWidth <= el.clientWidth)"
            "(document.querySelector('#patient-table').parentElement)"
        ), "the list table fits a 390 px screen"
        assert "Melun" in row.inner_text()
        shot(page, "list-phone-fr")
        page.set_viewport_size(WIDE)
        page.get_by_label("Chercher (nom, pseudonyme, commune)").fill("zzz")
        page.wait_for_selector("#patient-table:has-text('Aucun patient ne correspond')")
        page.get_by_label("Chercher (nom, pseudonyme, commune)").fill("Mart")
        page.wait_for_selector(f"#patient-table tr[data-patient-id='{patient['id']}']")
        axe_both_locales(page, "list", sizes=(WIDE, PHONE))

        # -- CSV import with its review: a duplicate unticked, an unknown address refused -------
        page.get_by_role("button", name="Importer un fichier CSV").click()
        page.locator("#import-structure").select_option(label=world["home"]["name"])
        page.get_by_label("Fichier CSV").set_input_files(
            {"name": "patients.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
        )
        page.get_by_role("button", name="Vérifier le fichier").click()
        page.wait_for_selector("#import-review:not([hidden])", timeout=30000)
        assert "3 ligne(s) : 1 prête(s), 1 doublon(s) probable(s), 1 à corriger" in page.inner_text(
            "#import-summary"
        )
        assert "Déjà suivi" in page.inner_text("#import-table tr[data-line='2']")
        assert not page.locator("#import-table tr[data-line='2'] input").is_checked()
        assert page.locator("#import-table tr[data-line='3'] input").is_checked()
        assert "Adresse introuvable" in page.inner_text("#import-table tr[data-line='4']")
        assert page.locator("#import-table tr[data-line='4'] input").is_disabled()
        # The unknown address placed by hand on the map (the pin moved with the keyboard).
        page.get_by_role("button", name="Placer la ligne 4 (NOWHERE Zoé) sur la carte").click()
        page.wait_for_selector("#import-pin:not([hidden])")
        page.wait_for_function("window.patientsImportMap && window.patientsImportMap.loaded()")
        page.keyboard.press("ArrowUp")
        page.wait_for_selector("#import-table tr[data-line='4']:has-text('placée à la main')")
        assert page.locator("#import-table tr[data-line='4'] input").is_checked()
        axe_both_locales(page, "import-review", sizes=(WIDE, PHONE))
        page.get_by_role("button", name="Importer les 2 patients cochés").click()
        page.wait_for_selector("#import-status:has-text('2 patient(s) importé(s)')", timeout=30000)
        [zoe] = store.list_patients(structures=[1], actor="test", q="Nowhere")
        zoe = store.get_patient(zoe["id"], structures=None, actor="test")
        assert zoe["pin_corrected"] and zoe["geocode_precision"] == "manual"
        page.get_by_label("Chercher (nom, pseudonyme, commune)").fill("Dupont")
        page.wait_for_selector("#patient-table tr[data-patient-id]:has-text('DUPONT Marcel')")
        imported = store.list_patients(structures=[1], actor="test", q="Dupont")
        assert [(p["given_name"], p["birth_date"]) for p in imported] == [("Marcel", "1941-02-03")]
        page.get_by_role("button", name="Fermer").click()
        page.get_by_label("Chercher (nom, pseudonyme, commune)").fill("Mart")
        page.wait_for_selector(f"#patient-table tr[data-patient-id='{patient['id']}']")

        # -- discharge -----------------------------------------------------------------------------
        # With the keyboard: from the status filter, the table's region, then the patient.
        page.locator("#status-filter").focus()
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.dataset.open") == str(patient["id"])
        page.keyboard.press("Enter")
        page.wait_for_selector("#record-view:not([hidden]) #plan-list li[data-plan-id]")
        page.wait_for_function("document.activeElement.id === 'record-h'")

        # -- consent-based sharing with the DAC --------------------------------------------------
        dac_id = world["dac"]["id"]
        # The receiving structure is chosen by name; the patient's own is not offered.
        chooser = page.get_by_label("Structure destinataire")
        names = chooser.locator("option").all_inner_texts()
        assert any(world["dac"]["name"] in n for n in names), names
        values = chooser.locator("option").evaluate_all("os => os.map(o => o.value)")
        assert str(patient["structure_id"]) not in values, values
        chooser.select_option(str(dac_id))
        assert page.input_value("#sh-consent") == today.isoformat()
        page.get_by_label("Objet").fill("Coordination du parcours")
        page.get_by_role("button", name="Enregistrer le partage").click()
        page.wait_for_selector(
            f"#share-status:has-text('Partage enregistré avec {world['dac']['name']}')"
        )
        assert world["dac"]["name"] in page.inner_text("#share-list")
        dac_ctx = instance.new_context(viewport=WIDE, locale="fr-FR")
        try:
            reader = dac_ctx.new_page()
            reader.goto(f"{server.base_url}/patients/")
            reader.wait_for_selector("#login[open]")
            reader.get_by_label("Identifiant", exact=True).fill("dac")
            reader.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
            reader.get_by_role("button", name="Se connecter").click()
            reader.wait_for_selector("body[data-ready='1']", timeout=15000)
            assert "Aucun patient" in reader.inner_text("#patient-table")
            reader.get_by_label("Statut", exact=True).select_option("shared")
            reader.wait_for_selector(f"#patient-table button[data-open='{patient['id']}']")
            reader.click(f"#patient-table button[data-open='{patient['id']}']")
            reader.wait_for_selector("#shared-note:not([hidden])")
            assert "lecture seule" in reader.inner_text("#shared-note")
            assert "Coordination du parcours" in reader.inner_text("#shared-note")
            assert reader.input_value("#pf-family") == "Martin"
            assert reader.input_value("#pf-access") == "", "access notes stay with the structure"
            assert reader.locator("#pf-family").is_disabled()
            for hidden in ("#plans", "#suspensions", "#visits", "#sharing", "#export"):
                assert reader.locator(hidden).is_hidden(), hidden
            check_axe(reader)
            reader.screenshot(path=str(SCREENSHOTS / "patients-shared-dac-fr.png"), full_page=True)
            # Revoked: the DAC no longer finds the patient.
            page.locator("#share-list").get_by_role("button", name="Révoquer").click()
            page.wait_for_selector("#confirm[open]")
            page.locator("#confirm-ok").click()
            page.wait_for_selector("#share-status:has-text('révoqué')")
            assert "révoqué" in page.inner_text("#share-list")
            reader.get_by_role("button", name="← Liste des patients").click()
            reader.wait_for_selector("#patient-table:has-text('Aucun patient ne correspond')")
        finally:
            dac_ctx.close()
        page.get_by_role("button", name="Sortie du patient").click()
        page.wait_for_selector("#discharge[open]")
        check_axe(page)
        page.get_by_role("button", name="Confirmer la sortie").click()
        page.wait_for_selector("#record-status-text:has-text('sorti')", timeout=30000)
        assert page.inner_text("#record-status") == "Sorti"
        assert "annulée — sortie du patient" in page.inner_text("#visit-table")
        assert store.get_patient(patient["id"], structures=None, actor="test")["status"] == (
            "discharged"
        )
        shot(page, "discharged-fr")
        # Discharged patients leave the default list; the status filter finds them.
        page.get_by_role("button", name="← Liste des patients").click()
        page.wait_for_selector("#patient-table:has-text('Aucun patient ne correspond')")
        page.get_by_label("Statut", exact=True).select_option("discharged")
        page.wait_for_selector(f"#patient-table tr[data-patient-id='{patient['id']}']")
        assert "Sorti" in page.inner_text(f"#patient-table tr[data-patient-id='{patient['id']}']")
        # On a phone the page fits the screen (tables scroll inside their box).
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.set_viewport_size(WIDE)

        # -- readmission: in care again today; the care plans ended by the discharge stay ended
        page.click(f"#patient-table button[data-open='{patient['id']}']")
        page.get_by_role("button", name="Réadmettre").click()
        page.wait_for_selector("#readmit[open]")
        assert page.input_value("#readmit-day") == today.isoformat()
        check_axe(page)
        page.get_by_role("button", name="Confirmer la réadmission").click()
        page.wait_for_selector("#record-status-text:has-text('réadmis')", timeout=30000)
        assert page.inner_text("#record-status") == "Pris en charge"
        assert "restent terminés" in page.inner_text("#plans-ended")
        assert store.get_patient(patient["id"], structures=None, actor="test")["archived"] is False
        axe_both_locales(page, "readmitted")
        page.get_by_role("button", name="Ajouter un plan de soins").click()
        page.wait_for_function("document.activeElement.id === 'cp-label'")
        assert page.locator("#plans-ended").is_hidden()
        assert not errors, errors
    finally:
        ctx.close()


def test_a_hospitalisation_replans_the_rounds_that_held_the_patient(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Issue 23: the hospitalisation recorded on the record, « Replanifier les tournées » drafts
    each coming day whose published rounds held the patient (POST /api/week/replan-patient):
    the day in words, the visit that changes team named from which team to which, nothing left
    unassigned, the link to the draft on the map; a day nobody works says it has no proposal; a
    suspension whose days no published round held says there is nothing to replan."""
    from dispatch.web.api_dispatch import get_rounds

    server, world = live
    store = world["store"]
    centre = world["centre"]["id"]
    rounds = get_rounds(server.app)
    today = dt.date.fromisoformat(rounds.clock.today())
    day, next_day = today + dt.timedelta(days=2), today + dt.timedelta(days=3)
    weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
    # Anne works the first day only; Luc neither day (he held a visit on the first day).
    anne, luc = (
        store.add_staff(
            {
                "name": name,
                "gender": "female",
                "skills": ["insulin"],
                "contract_h_per_week": 35,
                "rotas": [
                    {
                        "start_day": today.isoformat(),
                        "weekdays": weekday[works.weekday()],
                        "shift": "07:00-15:00",
                    }
                ],
                "base_lon": 2.6555,
                "base_lat": 48.5400,
            },
            structure_id=centre,
        )
        for name, works in (("Anne Costa", day), ("Luc Bernard", today + dt.timedelta(days=5)))
    )
    patient = store.add_patient(
        {
            "structure_id": centre,
            "family_name": "Giacomi",
            "given_name": "Rose",
            "address": "4 rue Saint-Aspais",
            "commune": "Melun",
            "lon": 2.6600,
            "lat": 48.5430,
            "geocode_precision": "housenumber",
        },
        actor="test",
    )
    user = store.add_user("replanner", role="coordinator", structure_ids=[centre])
    token = store.create_api_token(user["id"], label="t")
    client = server.app.test_client()
    r = client.post(
        f"/api/patients/{patient['id']}/care-plans",
        json={
            "label": "Pansement",
            "kind": "insulin",
            "duration_s": 900,
            "windows": ["08:00-09:00"],
            "rrule": "FREQ=DAILY",
            "start_day": today.isoformat(),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.get_json()
    with store.engine.read() as conn:
        hers = {
            row["day"]: int(row["id"])
            for row in conn.execute(
                "SELECT id, day FROM visits WHERE patient_id = ?", (patient["id"],)
            )
        }
    others = store.add_visits(
        [
            {
                "day": day.isoformat(),
                "pseudonym": f"Voisin-{i}",
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [["08:00", "14:00"]],
            }
            for i, (lon, lat) in enumerate(((2.6450, 48.5350), (2.6700, 48.5480)))
        ],
        structure_id=centre,
    )
    rounds_of_day = [
        {"team_id": anne["team_id"], "stops": [
            {"visit_id": hers[day.isoformat()], "arrival_s": 30000},
            {"visit_id": others[0]["id"], "arrival_s": 33000}]},
        {"team_id": luc["team_id"], "stops": [
            {"visit_id": others[1]["id"], "arrival_s": 30000}]},
    ]  # fmt: skip
    store.save_plan(day.isoformat(), rounds_of_day, publish=True, structure_id=centre)
    store.save_plan(
        next_day.isoformat(),
        [
            {
                "team_id": anne["team_id"],
                "stops": [{"visit_id": hers[next_day.isoformat()], "arrival_s": 30000}],
            }
        ],
        publish=True,
        structure_id=centre,
    )

    _, instance = browser
    ctx = instance.new_context(viewport=WIDE, locale="fr-FR")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{server.base_url}/patients/#patient-{patient['id']}")
        page.wait_for_selector("#login[open]")
        page.get_by_label("Identifiant", exact=True).fill("coord")
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_selector(
            "#record-view:not([hidden]) #plan-list li[data-plan-id]", timeout=15000
        )
        replan = page.get_by_role("button", name="Replanifier les tournées")
        assert replan.is_hidden(), "offered once a suspension is recorded"
        page.get_by_label("Motif").select_option("hospitalisation")
        page.get_by_label("Du", exact=True).fill(day.isoformat())
        page.get_by_label("Au (inclus, facultatif)").fill(next_day.isoformat())
        page.get_by_role("button", name="Enregistrer la suspension").click()
        page.wait_for_selector("#susp-status:has-text('2 visite(s) annulée(s)')", timeout=30000)
        assert replan.is_visible() and replan.is_enabled()
        # The cancellation took her visit out of the first day's round at once (the rounds
        # service re-timed and republished it); the second day, nobody working, kept it.
        republished = store.published_plan(day.isoformat(), structure_id=centre)
        published = republished["id"]
        assert hers[day.isoformat()] not in {
            s["visit_id"] for r in republished["routes"] for s in r["stops"]
        }
        check_axe(page)
        # With the keyboard; while it runs (the answer held back here) the button waits and the
        # status line says so.
        held: list[Any] = []
        page.route("**/api/week/replan-patient", lambda route: held.append(route))
        replan.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#sr-status:has-text('Replanification des tournées en cours')")
        assert page.get_attribute("#sr-status", "role") == "status"
        assert replan.is_disabled()
        page.wait_for_function("true")  # let the route handler run
        assert len(held) == 1
        assert json.loads(held[0].request.post_data) == {
            "patient_id": patient["id"],
            "from": day.isoformat(),
            "to": next_day.isoformat(),
        }
        held[0].continue_()
        page.unroute("**/api/week/replan-patient")
        page.wait_for_selector("#sr-days li", timeout=60000)
        assert "Propositions prêtes" in page.inner_text("#sr-status")
        first = page.locator(f"#sr-days li[data-day='{day.isoformat()}']")
        draft = int(first.get_attribute("data-plan-id"))
        plan = store.get_plan(draft)
        assert plan["status"] == "draft" and draft != published
        served = {s["visit_id"]: r["team_id"] for r in plan["routes"] for s in r["stops"]}
        assert served == {others[0]["id"]: anne["team_id"], others[1]["id"]: anne["team_id"]}
        text = first.inner_text()
        weekdays = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
        assert f"{weekdays[day.weekday()]} {day.day}" in text, text
        # Luc is off that day: his visit came back without a team when the day was republished.
        assert "1 visite replacée dans une tournée (Anne Costa)" in text, text
        assert "aucune visite sans équipe" in text, text
        link = first.get_by_role("link", name="Voir et appliquer sur la carte")
        assert link.get_attribute("href") == f"/map/?day={day.isoformat()}&plan={draft}"
        second = page.locator(f"#sr-days li[data-day='{next_day.isoformat()}']")
        assert "pas de proposition (aucune équipe ne travaille le" in second.inner_text(), (
            second.inner_text()
        )
        assert "vérifiez les rotas" in second.inner_text(), second.inner_text()
        assert second.get_attribute("data-plan-id") is None
        assert page.evaluate("document.activeElement.closest('#sr-days') !== null")
        page.locator("#suspensions").scroll_into_view_if_needed()
        for locale in ("fr", "en"):
            set_locale(page, locale)
            check_language(page, locale)
            check_axe(page)
            shot(page, f"replan-{locale}")
        text = first.inner_text()
        assert "1 visit put back in a round (Anne Costa)" in text, text
        assert "no visit left without a team" in text, text
        assert first.get_by_role("link", name="See and apply on the map").is_visible()
        assert "no proposal" in second.inner_text()
        # On a phone the days and their links fit the screen.
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        check_axe(page)
        page.locator("#susp-replan").screenshot(
            path=str(SCREENSHOTS / "patients-replan-en-360.png")
        )
        page.set_viewport_size(WIDE)
        # A suspension whose days no published round held: nothing to replan, in words.
        later = today + dt.timedelta(days=6)
        page.get_by_label("Reason").select_option("hospitalisation")
        page.get_by_label("From", exact=True).fill(later.isoformat())
        page.get_by_label("To (included, optional)").fill(later.isoformat())
        page.get_by_role("button", name="Save the suspension").click()
        page.wait_for_selector("#susp-status:has-text('1 visit(s) cancelled')", timeout=30000)
        assert page.locator("#sr-days li").count() == 0, "the last answer goes with its suspension"
        page.get_by_role("button", name="Replan the rounds").click()
        page.wait_for_selector("#sr-status:has-text('nothing to replan')", timeout=30000)
        set_locale(page, "fr")
        assert page.inner_text("#sr-status") == (
            "Aucune tournée publiée ne comptait ce patient : rien à replanifier."
        )
        check_axe(page)
        # The patient is back: lifting the hospitalisation reinstates both visits, in none of
        # the published rounds; the same offer puts them back (the first day's draft takes
        # hers into Anne's round, the others keeping theirs).
        lifted = page.locator("#susp-list li[data-suspension-id]").last
        assert f"{day.day}" in lifted.inner_text(), lifted.inner_text()
        lifted.get_by_role("button", name="Lever").click()
        page.wait_for_selector("#confirm[open]")
        page.locator("#confirm-ok").click()
        page.wait_for_selector(
            "#sr-status:has-text('2 visites rétablies à replacer dans les tournées')",
            timeout=30000,
        )
        assert "Suspension levée : 2 visite(s) rétablie(s)" in page.inner_text("#susp-status")
        assert "replacer" in page.inner_text("#sr-offer")
        assert replan.is_visible() and replan.is_enabled()
        assert page.locator("#sr-days li").count() == 0
        assert page.evaluate("document.activeElement.id") == "sr-run"
        check_axe(page)
        page.locator("#suspensions").screenshot(
            path=str(SCREENSHOTS / "patients-replan-lifted-offer-fr.png")
        )
        set_locale(page, "en")
        check_language(page, "en")
        assert "2 reinstated visits to put back in the rounds" in page.inner_text("#sr-status")
        assert "put them back" in page.inner_text("#sr-offer")
        set_locale(page, "fr")
        replan.click()
        page.wait_for_selector("#sr-days li", timeout=60000)
        back = page.locator(f"#sr-days li[data-day='{day.isoformat()}']")
        draft = int(back.get_attribute("data-plan-id"))
        served = {s["visit_id"]: r["team_id"] for r in store.get_plan(draft)["routes"]
                  for s in r["stops"]}  # fmt: skip
        assert served[hers[day.isoformat()]] == anne["team_id"], served
        assert "2 visites replacées dans les tournées (2 × Anne Costa)" in back.inner_text(), (
            back.inner_text()
        )
        link = back.get_by_role("link", name="Voir et appliquer sur la carte")
        assert link.get_attribute("href") == f"/map/?day={day.isoformat()}&plan={draft}"
        page.locator("#suspensions").scroll_into_view_if_needed()
        check_axe(page)
        shot(page, "replan-lifted-fr")
        assert not errors, errors
    finally:
        ctx.close()
