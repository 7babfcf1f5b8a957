"""The management screens (/admin/) on a real server, driven as people would: an admin creates
a coordinator, who chooses her password through the link e-mailed to her; the coordinator
creates a team with a start clicked on the map, sees it on the live map, pairs a phone from the
code on screen and revokes it after confirming; coordinators see every action on accounts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, WAKE_LOCK_STUB, RealServer, module_settings
from mail_support import Inbox

from dispatch.mail import Mailer
from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
NARROW = {"width": 1024, "height": 768}
PHONE = {"width": 360, "height": 780}
#: Where the new team's start is clicked (a nurse's home east of Melun's centre), lon, lat.
HOME = (2.6700, 48.5450)
COORD_PASSWORD = "coordinatrice-2026"


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server with an admin and one existing team (red)."""
    settings = module_settings(tmp_path_factory.mktemp("admin"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    team = store.add_team(
        {"name": "Équipe Nord", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#1f77b4"}
    )
    store.add_user("admin", role="admin", password=PASSWORD)
    # A coordinator that already exists (the map page's second viewer).
    store.add_user("coord-carte", role="coordinator", password=PASSWORD)
    # A real SMTP server on loopback receives the account e-mails.
    inbox = Inbox()
    app.extensions["dispatch.mailer"] = Mailer(
        settings.replace(
            smtp_host="127.0.0.1",
            smtp_port=inbox.port,
            smtp_starttls=False,
            smtp_from="Dispatch <dispatch@example.fr>",
        )
    )
    server = RealServer(app)
    yield server, {"store": store, "team": team, "inbox": inbox, "settings": settings}
    server.stop()
    inbox.stop()
    store.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"))


def open_admin(browser: Any, base_url: str, user: str, password: str, viewport: dict) -> Any:
    """A new browser context logged in on /admin/ through the login dialog."""
    _, instance = browser
    ctx = instance.new_context(viewport=viewport, locale="fr-FR")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}/admin/")
    page.wait_for_selector("#login[open]")
    page.get_by_label("Identifiant", exact=True).fill(user)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.errors = errors  # type: ignore[attr-defined]
    return ctx, page


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def click_map_at(page: Any, lonlat: tuple[float, float]) -> None:
    """Click the team form's map where ``lonlat`` is drawn."""
    page.wait_for_selector("body[data-map-ready='1']", timeout=15000)
    page.wait_for_function("!window.adminMap.isMoving()")
    box = page.locator("#tf-map canvas").bounding_box()
    x, y = page.evaluate(
        "p => { const q = window.adminMap.project(p); return [q.x, q.y]; }", list(lonlat)
    )
    assert 0 < x < box["width"] and 0 < y < box["height"], "the point is off the map"
    page.mouse.click(box["x"] + x, box["y"] + y)


#: Words of one language that must not show on the page in the other (data such as team
#: names aside): the tabs, buttons, states and messages of the management screens.
FRENCH_WORDS = (
    "Téléphone",
    "Utilisateur",
    "Enregistr",
    "Annuler",
    "Modifier",
    "Désactiv",
    "Réactiv",
    "Mot de passe",
    "Se déconnecter",
    "Début de service",
    "Couleur",
    "Identifiant",
    "Rôle",
    "actif",
    "associé",
    "révoqué",
    "Nouvelle",
    "Nouvel",
    "Départ",
    "Carte des équipes",
)
ENGLISH_WORDS = (
    "Save",
    "Cancel",
    "Edit",
    "Deactivat",
    "Reactivat",
    "Password",
    "Log out",
    "Phones",
    "Users",
    "Revoke",
    "paired",
    "revoked",
    "Shift",
    "New team",
    "New user",
    "Team map",
    "Start",
    "Colour",
    "Login",
)


def check_language(page: Any, locale: str) -> None:
    """The rendered text holds no word of the other language."""
    text = page.inner_text("body")
    if locale == "en":
        text = text.replace("Domicile", "")  # a place name typed by the coordinator
        found = [w for w in FRENCH_WORDS if w in text]
    else:
        text = text.replace("English", "")  # the language toggle names its language
        found = [w for w in ENGLISH_WORDS if w in text]
    assert not found, f"{locale} page shows {found}"


def axe_both_locales(page: Any, name: str) -> None:
    """axe in French and English at 1400×900 and 1024×768 (a screenshot of each), then back
    to French at 1400×900."""
    for viewport, suffix in ((WIDE, ""), (NARROW, "-1024")):
        page.set_viewport_size(viewport)
        for locale in ("fr", "en"):
            set_locale(page, locale)
            check_language(page, locale)
            check_axe(page)
            shot(page, f"{name}-{locale}{suffix}")
    page.set_viewport_size(WIDE)
    set_locale(page, "fr")


def test_admin_creates_a_coordinator_who_sets_up_a_team_and_its_phone(live, browser) -> None:  # type: ignore[no-untyped-def]
    """The whole journey: admin → coordinator account; coordinator → team (start clicked on the
    map, a colour no active team uses) seen on the live map without reload; pairing code, link
    and QR code on screen; the phone opens the link and lands on its team's page; revoking asks
    for confirmation (cancel keeps the phone) and then ends the phone's access."""
    server, world = live
    store = world["store"]
    p, _ = browser

    # -- the admin creates a coordinator ------------------------------------------------------
    admin_ctx, admin = open_admin(browser, server.base_url, "admin", PASSWORD, WIDE)
    try:
        assert admin.locator("#tab-users").is_visible()
        admin.get_by_role("tab", name="Utilisateurs").click()
        admin.wait_for_selector("#user-table tbody tr")
        admin.get_by_role("button", name="Nouvel utilisateur").click()
        admin.get_by_label("Identifiant de connexion").fill("camille")
        admin.get_by_label("Nom affiché").fill("Camille Martin")
        admin.get_by_label("Rôle", exact=True).select_option(label="Coordinateur")
        assert not admin.locator("#uf-team").is_visible(), "a coordinator has no team"
        # No password here: the address receives a link with which she chooses it.
        assert admin.locator("#panel-users input[type=password]").count() == 0
        assert admin.locator("#mail-notice").is_hidden()
        admin.get_by_label("Adresse e-mail", exact=True).fill("camille-sans-arobase")
        admin.get_by_role("button", name="Enregistrer").click()
        assert "marie.dupont" in admin.inner_text("#user-error")
        admin.get_by_label("Adresse e-mail", exact=True).fill("camille@example.fr")
        axe_both_locales(admin, "users-form")
        admin.get_by_role("button", name="Enregistrer").click()
        admin.wait_for_selector(
            '#users-status:has-text("Utilisateur camille créé : lien d\'activation envoyé")'
        )
        row = admin.locator("#user-table tr", has_text="camille")
        assert "Coordinateur" in row.inner_text() and "en attente d'activation" in row.inner_text()
        user = store.find_user("camille")
        assert user["role"] == "coordinator" and user["display_name"] == "Camille Martin"
        assert user["has_password"] is False and user["email"] == "camille@example.fr"
        shot(admin, "users-created")
        axe_both_locales(admin, "users")
        assert not admin.errors  # type: ignore[attr-defined]
    finally:
        admin_ctx.close()

    # -- camille opens the link of her e-mail and chooses her password --------------------------
    inbox = world["inbox"]
    [(to, message)] = [m for m in inbox.messages if m[0] == ["camille@example.fr"]]
    assert "activez votre compte" in message["Subject"]
    _, instance = browser
    account_ctx = instance.new_context(viewport=PHONE, locale="fr-FR")
    try:
        account = account_ctx.new_page()
        account.goto(inbox.link())
        account.wait_for_selector("#form:not([hidden])")
        assert "token" not in account.url, "the link's secret leaves the address bar"
        assert "camille" in account.inner_text("#intro")
        assert account.evaluate("document.activeElement.id") == "pw1"
        account.get_by_label("Nouveau mot de passe (10 caractères au moins)").fill("court")
        account.get_by_role("button", name="Enregistrer mon mot de passe").click()
        assert "10 caractères" in account.inner_text("#error")
        account.get_by_label("Nouveau mot de passe (10 caractères au moins)").fill(COORD_PASSWORD)
        account.get_by_label("Le même mot de passe, une seconde fois").fill("autre-chose-2026")
        account.get_by_role("button", name="Enregistrer mon mot de passe").click()
        assert "pas les mêmes" in account.inner_text("#error")
        check_axe(account)
        shot(account, "account-activate-fr")
        account.click("#lang")
        account.wait_for_function("document.documentElement.lang === 'en'")
        assert "Activate your account" in account.inner_text("h1")
        check_axe(account)
        shot(account, "account-activate-en")
        account.click("#lang")
        account.get_by_label("Le même mot de passe, une seconde fois").fill(COORD_PASSWORD)
        account.get_by_role("button", name="Enregistrer mon mot de passe").click()
        account.wait_for_selector("#done:not([hidden])")
        assert "est activé" in account.inner_text("#done")
        check_axe(account)
        shot(account, "account-done-fr")
        # The link works once.
        account.goto("about:blank")
        account.goto(inbox.link())
        account.wait_for_selector("#bad:not([hidden])")
        assert "déjà servi" in account.inner_text("#bad")
        check_axe(account)
    finally:
        account_ctx.close()
    assert store.find_user("camille")["has_password"] is True

    # -- a second coordinator watches the live map ----------------------------------------------
    map_ctx = instance.new_context(viewport=WIDE, locale="fr-FR")
    watcher = map_ctx.new_page()
    watcher.goto(f"{server.base_url}/map/")
    watcher.fill("input[name=username]", "coord-carte")
    watcher.fill("input[name=password]", PASSWORD)
    watcher.click("#login-form button[type=submit]")
    watcher.wait_for_selector("body[data-ready='1']", timeout=20000)
    watcher.wait_for_function("window.dispatchMap.state.teams.size === 1", timeout=10000)
    watcher.evaluate("window.__sameDocument = true")

    # -- the coordinator creates a team ----------------------------------------------------------
    coord_ctx, coord = open_admin(browser, server.base_url, "camille", COORD_PASSWORD, WIDE)
    phone_ctx = None
    try:
        assert not coord.locator("#tab-users").is_visible(), "a coordinator does not manage users"
        assert coord.get_by_role("link", name="Carte des équipes").get_attribute("href") == "/map/"
        coord.wait_for_selector("#team-table tr[data-team-id]")
        axe_both_locales(coord, "teams-before")
        coord.get_by_role("button", name="Nouvelle équipe").click()
        assert coord.evaluate("document.activeElement.id") == "tf-name"
        offered = coord.input_value("#tf-color")
        assert offered.lower() != "#1f77b4", "the colour of Équipe Nord must not be offered"
        # Saving without a start says what is missing.
        coord.get_by_label("Nom de l'équipe").fill("Équipe Soins Est")
        coord.get_by_role("button", name="Enregistrer").click()
        assert "Placez le départ" in coord.inner_text("#team-error")
        coord.get_by_label("Type de service").select_option(
            label="Hospitalisation à domicile (HAD)"
        )
        click_map_at(coord, HOME)
        assert coord.input_value("#tf-base-name") == "Domicile"
        assert "48.545" in coord.inner_text("#tf-point")
        coord.get_by_label("Début de service").fill("07:30")
        coord.get_by_label("Fin de service").fill("15:00")
        coord.get_by_label("Compétences (séparées par des virgules)").fill("insuline, pansement")
        coord.get_by_label("Déplacement", exact=True).select_option(label="Vélo")
        # Taking the other team's colour is refused on the spot.
        coord.locator("#tf-color").fill("#1f77b4")
        assert "Équipe Nord" in coord.inner_text("#tf-color-hint")
        coord.get_by_role("button", name="Enregistrer").click()
        assert "Équipe Nord" in coord.inner_text("#team-error")
        coord.locator("#tf-color").fill(offered)
        axe_both_locales(coord, "team-form")
        coord.get_by_role("button", name="Enregistrer").click()
        coord.wait_for_selector(
            "#teams-status:has-text('Nouvelle équipe enregistrée : Équipe Soins Est')"
        )
        team = store.find_team("Équipe Soins Est")
        assert team["kind"] == "had" and team["vehicle_profile"] == "bike"
        assert team["skills"] == ["insuline", "pansement"]
        assert (team["shift_start_s"], team["shift_end_s"]) == (7 * 3600 + 1800, 15 * 3600)
        assert abs(team["base_lon"] - HOME[0]) < 2e-3 and abs(team["base_lat"] - HOME[1]) < 2e-3
        assert team["base_name"] == "Domicile"
        assert team["color"].lower() == offered.lower() != world["team"]["color"]
        row = coord.locator("#team-table tr", has_text="Équipe Soins Est")
        assert (
            "Hospitalisation à domicile" in row.inner_text() and "07:30–15:00" in row.inner_text()
        )
        shot(coord, "teams-created")
        axe_both_locales(coord, "teams")

        # The live map shows it without a reload, in its own colour.
        watcher.wait_for_function(
            "id => window.dispatchMap.state.teams.has(id)", arg=team["id"], timeout=5000
        )
        watcher.wait_for_selector("#team-list >> text=Équipe Soins Est", timeout=5000)
        assert watcher.evaluate("window.__sameDocument === true"), "the map was reloaded"
        assert (
            watcher.evaluate("id => window.dispatchMap.state.teams.get(id).color", team["id"])
            == team["color"]
        )
        watcher.screenshot(path=str(SCREENSHOTS / "admin-map-new-team.png"))

        # -- pairing a phone from the screen ---------------------------------------------------
        coord.get_by_role("tab", name="Téléphones").click()
        coord.locator("#panel-phones").get_by_label("Équipe", exact=True).select_option(
            label="Équipe Soins Est"
        )
        coord.wait_for_selector("#phone-table >> text=Aucun téléphone associé")
        coord.get_by_role("button", name="Associer un téléphone").click()
        coord.wait_for_selector("#pairing:not([hidden])")
        code = coord.inner_text("#pairing-code").strip()
        assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code), code
        link = coord.get_attribute("#pairing-link", "href")
        assert link.endswith(f"/pair?code={code}") and link.startswith(server.base_url)
        coord.wait_for_function(
            "() => { const i = document.getElementById('pairing-qr'); return i.complete && i.naturalWidth > 0; }"
        )
        assert "Équipe Soins Est" in coord.get_attribute("#pairing-qr", "alt")
        axe_both_locales(coord, "phones-pairing")

        phone_ctx = instance.new_context(
            **{**p.devices["Pixel 7"], "viewport": PHONE},
            geolocation={"latitude": HOME[1], "longitude": HOME[0], "accuracy": 5},
            permissions=["geolocation"],
            locale="fr-FR",
        )
        phone_ctx.add_init_script(WAKE_LOCK_STUB)
        phone = phone_ctx.new_page()
        phone.goto(link)
        phone.wait_for_selector("body[data-ready='1']", timeout=15000)
        assert "/phone/" in phone.url and "code=" not in phone.url
        phone.wait_for_selector("#team-name:has-text('Équipe Soins Est')", timeout=10000)
        assert phone.evaluate("!!localStorage.getItem('dispatch.deviceToken')")
        phone.screenshot(path=str(SCREENSHOTS / "admin-phone-paired.png"))

        # The coordinator's screen sees the new phone (polling) and closes the code.
        coord.wait_for_selector(
            "#phones-status:has-text('Téléphone associé : Équipe Soins Est')", timeout=10000
        )
        assert coord.locator("#pairing").is_hidden()
        devices = store.list_devices(team_id=team["id"])
        assert len(devices) == 1
        device = devices[0]
        assert "1 téléphone" in coord.inner_text(f"#team-table tr[data-team-id='{team['id']}']")
        row = coord.locator(f"#phone-table tr[data-device-id='{device['id']}']")
        assert "associé" in row.inner_text() and "Pixel 7 · Android" in row.inner_text()
        shot(coord, "phones-list")

        # Revoke: cancelling keeps the phone, confirming ends its access.
        row.get_by_role("button", name=re.compile("^Révoquer")).click()
        coord.wait_for_selector("#confirm[open]")
        assert "positions" in coord.inner_text("#confirm-text")
        assert "Équipe Soins Est" in coord.inner_text("#confirm-title")
        check_axe(coord)
        shot(coord, "phones-revoke-confirm")
        coord.get_by_role("button", name="Annuler").click()
        assert not store.get_device(device["id"])["revoked"]
        row.get_by_role("button", name=re.compile("^Révoquer")).click()
        coord.locator("#confirm-ok").click()
        coord.wait_for_selector("#phones-status:has-text('révoqué')")
        assert store.get_device(device["id"])["revoked"]
        assert "révoqué" in row.inner_text()
        shot(coord, "phones-revoked")
        # On a coordinator's own phone the page still fits (tables scroll inside their box).
        coord.set_viewport_size(PHONE)
        assert coord.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        check_axe(coord)
        shot(coord, "phones-360")
        coord.set_viewport_size(WIDE)

        # -- deactivate the team after confirming ------------------------------------------------
        coord.get_by_role("tab", name="Équipes").click()
        new_row = coord.locator(f"#team-table tr[data-team-id='{team['id']}']")
        assert "0 téléphone" in new_row.inner_text()
        coord.get_by_role("button", name="Désactiver Équipe Soins Est").click()
        coord.locator("#confirm-ok").click()
        coord.wait_for_selector("#teams-status:has-text('Désactivée : Équipe Soins Est')")
        assert store.get_team(team["id"])["active"] is False
        assert not coord.errors  # type: ignore[attr-defined]
        # Logout brings the login dialog back.
        coord.get_by_role("button", name="Se déconnecter").click()
        coord.wait_for_selector("#login[open]")
    finally:
        coord_ctx.close()
        map_ctx.close()
        if phone_ctx is not None:
            phone_ctx.close()


def test_a_team_member_cannot_use_the_management_page(live, browser) -> None:  # type: ignore[no-untyped-def]
    """A team member who logs in on /admin/ is told the page is not for them and stays out."""
    server, world = live
    store = world["store"]
    if not store.user_exists("membre"):
        store.add_user("membre", role="team_member", team_id=world["team"]["id"], password=PASSWORD)
    _, instance = browser
    ctx = instance.new_context(viewport=WIDE, locale="fr-FR")
    try:
        page = ctx.new_page()
        page.goto(f"{server.base_url}/admin/")
        page.wait_for_selector("#login[open]")
        page.get_by_label("Identifiant", exact=True).fill("membre")
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_selector("#login-error:has-text('réservée aux coordinateurs')")
        assert page.locator("#main").is_hidden()
        check_axe(page)
        shot(page, "login-refused")
        # The language can be changed in the dialog itself (the page behind it is inert).
        page.locator("#login-lang").click()
        page.wait_for_selector("#login-error:has-text('coordinators and administrators')")
        assert page.get_by_role("button", name="Log in").is_visible()
        check_axe(page)
        shot(page, "login-refused-en")
        page.locator("#login-lang").click()
    finally:
        ctx.close()


def test_admin_sends_a_reset_link_disables_and_moves_a_user(live, browser) -> None:  # type: ignore[no-untyped-def]
    """From the users tab: an admin cannot set a password, only e-mail a reset link (after
    confirming); the old password works until the user chooses a new one through the link.
    Disabling (after confirming) refuses the login, enabling lets it back; a user made a team
    member must be given a team."""
    import requests

    server, world = live
    store = world["store"]
    inbox = world["inbox"]
    if not store.user_exists("infirmier"):
        store.add_user(
            "infirmier", role="coordinator", password=PASSWORD, email="infirmier@example.fr"
        )
    user_id = store.find_user("infirmier")["id"]

    def login(password: str) -> int:
        return requests.post(
            f"{server.base_url}/api/session",
            json={"username": "infirmier", "password": password},
            timeout=10,
        ).status_code

    ctx, page = open_admin(browser, server.base_url, "admin", PASSWORD, WIDE)
    try:
        page.get_by_role("tab", name="Utilisateurs").click()
        row = page.locator(f"#user-table tr[data-user-id='{user_id}']")
        assert "infirmier@example.fr" in row.inner_text()
        sent_before = len(inbox.messages)
        # Cancelling sends nothing.
        row.get_by_role("button", name="Envoyer un lien à infirmier").click()
        page.get_by_role("button", name="Annuler").click()
        assert len(inbox.messages) == sent_before
        row.get_by_role("button", name="Envoyer un lien à infirmier").click()
        assert "lien de réinitialisation à infirmier" in page.inner_text("#confirm-title")
        assert "infirmier@example.fr" in page.inner_text("#confirm-text")
        check_axe(page)
        shot(page, "users-reset-link")
        page.locator("#confirm-ok").click()
        page.wait_for_selector(
            "#users-status:has-text('Lien de réinitialisation envoyé à infirmier')"
        )
        assert page.evaluate("document.activeElement.dataset.act") == "link"
        assert inbox.messages[-1][0] == ["infirmier@example.fr"]
        assert login(PASSWORD) == 200, "the password stays until the user chooses a new one"
        # The address of an account in use cannot be changed from here.
        row.get_by_role("button", name="Modifier infirmier").click()
        assert page.locator("#uf-email").is_disabled()
        assert "dispatch user email" in page.inner_text("#uf-email-hint")
        page.get_by_role("button", name="Annuler").click()
        # The user opens the link and chooses (as the account page does).
        done = requests.post(
            f"{server.base_url}/api/account-links/complete",
            json={"token": inbox.link_token(), "password": "nouveau-secret-42"},
            timeout=10,
        )
        assert done.status_code == 200
        assert login(PASSWORD) == 401 and login("nouveau-secret-42") == 200

        # Disable: cancelling changes nothing; confirming refuses the login.
        row.get_by_role("button", name="Désactiver infirmier").click()
        page.get_by_role("button", name="Annuler").click()
        assert store.get_user(user_id)["active"] is True
        row.get_by_role("button", name="Désactiver infirmier").click()
        assert "Désactiver infirmier" in page.inner_text("#confirm-title")
        page.locator("#confirm-ok").click()
        page.wait_for_selector("#users-status:has-text('Utilisateur infirmier désactivé')")
        assert "désactivé" in row.inner_text()
        assert login("nouveau-secret-42") in (401, 403)
        row.get_by_role("button", name="Réactiver infirmier").click()
        page.wait_for_selector("#users-status:has-text('Utilisateur infirmier réactivé')")
        assert login("nouveau-secret-42") == 200

        # Made a team member: the team is asked for and saved.
        row.get_by_role("button", name="Modifier infirmier").click()
        page.get_by_label("Rôle", exact=True).select_option(label="Membre d'équipe")
        team_select = page.locator("#panel-users").get_by_label("Équipe", exact=True)
        assert team_select.is_visible()
        team_select.select_option(label="Équipe Nord")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#users-status:has-text('Utilisateur infirmier enregistré')")
        user = store.get_user(user_id)
        assert user["role"] == "team_member" and user["team_id"] == world["team"]["id"]
        assert "Équipe Nord" in row.inner_text() and "Membre d'équipe" in row.inner_text()
        # An admin's own role cannot be changed from their own screen.
        page.get_by_role("button", name="Modifier admin", exact=True).click()
        assert page.locator("#uf-role").is_disabled()
        page.get_by_label("Nom affiché").fill("Admin du service")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#users-status:has-text('Utilisateur admin enregistré')")
        me = store.find_user("admin")
        assert me["role"] == "admin" and me["display_name"] == "Admin du service"
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_coordinator_edits_a_team_from_a_territory_base_and_reactivates_it(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Editing a team: its start moves to a base picked in the list (named after it), its
    shift changes, an inverted shift is refused in French; a deactivated team is reactivated;
    the start can also be found by its address with the keyboard only."""
    server, world = live
    store = world["store"]
    team = store.add_team(
        {"name": "Équipe Sud", "base_lon": MELUN[0], "base_lat": MELUN[1], "active": False}
    )
    ctx, page = open_admin(browser, server.base_url, "coord-carte", PASSWORD, WIDE)
    try:
        row = page.locator(f"#team-table tr[data-team-id='{team['id']}']")
        assert "désactivée" in row.inner_text()
        row.get_by_role("button", name="Réactiver Équipe Sud").click()
        page.wait_for_selector("#teams-status:has-text('Réactivée : Équipe Sud')")
        assert store.get_team(team["id"])["active"] is True

        # Its phones are one click away.
        row.get_by_role("button", name="Équipe Sud : 0 téléphone, voir ou associer").click()
        page.wait_for_selector("#panel-phones:not([hidden])")
        assert page.evaluate("document.activeElement.id") == "tab-phones"
        assert page.input_value("#ph-team") == str(team["id"])
        page.wait_for_selector("#phone-table >> text=Aucun téléphone associé")
        page.get_by_role("tab", name="Équipes").click()

        row.get_by_role("button", name="Modifier Équipe Sud").click()
        assert page.input_value("#tf-name") == "Équipe Sud"
        options = page.eval_on_selector_all("#tf-base option", "os => os.map(o => o.textContent)")
        bases = options[1:]
        assert bases, "the territory's bases are offered"
        page.get_by_label("Base du territoire").select_option(label=bases[0])
        assert page.input_value("#tf-base-name") == bases[0]
        page.get_by_label("Début de service").fill("14:00")
        page.get_by_label("Fin de service").fill("13:00")
        page.get_by_role("button", name="Enregistrer").click()
        assert "fin de service" in page.inner_text("#team-error").lower()
        page.get_by_label("Fin de service").fill("21:00")
        assert page.inner_text("#team-error") == ""
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#teams-status:has-text('Modifications enregistrées : Équipe Sud')")
        saved = store.get_team(team["id"])
        assert saved["base_name"] == bases[0]
        assert (saved["shift_start_s"], saved["shift_end_s"]) == (14 * 3600, 21 * 3600)
        assert bases[0] in row.inner_text() and "14:00–21:00" in row.inner_text()

        # With the keyboard only: the start found by its address.
        row.get_by_role("button", name="Modifier Équipe Sud").click()
        page.get_by_label("Ou chercher une adresse").fill("avenue Thiers, Melun")
        page.keyboard.press("Enter")
        page.wait_for_selector("#tf-address-status:has-text('trouvée')")
        assert page.locator("#team-form").is_visible(), "Enter searched, it did not submit"
        first = page.locator("#tf-address-results button").first
        assert "Avenue Thiers, Melun" in first.inner_text()
        assert "milieu de la rue" in first.inner_text()
        check_axe(page)
        shot(page, "team-address")
        first.focus()
        page.keyboard.press("Enter")
        assert page.input_value("#tf-base-name") == "Avenue Thiers, Melun"
        assert page.evaluate("document.activeElement.id") == "tf-base-name"
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#team-form", state="hidden")
        saved = store.get_team(team["id"])
        assert saved["base_name"] == "Avenue Thiers, Melun"
        assert abs(saved["base_lon"] - 2.6546) < 1e-3 and abs(saved["base_lat"] - 48.5295) < 1e-3
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_an_ended_session_asks_to_log_in_again_and_goes_on(live, browser) -> None:  # type: ignore[no-untyped-def]
    """When the session ends (expired, or closed elsewhere), the next action brings the login
    dialog back, and after logging in the page carries on without a reload."""
    server, _ = live
    ctx, page = open_admin(browser, server.base_url, "admin", PASSWORD, WIDE)
    try:
        page.evaluate("window.__sameDocument = true")
        csrf = page.evaluate("sessionStorage.getItem('dispatch.csrf')")
        ended = ctx.request.delete(f"{server.base_url}/api/session", headers={"X-CSRF-Token": csrf})
        assert ended.ok
        page.get_by_role("tab", name="Utilisateurs").click()
        page.wait_for_selector("#login[open]")
        page.get_by_label("Identifiant", exact=True).fill("admin")
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_selector("#user-table tr[data-user-id]")
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_an_unused_pairing_code_is_taken_off_the_screen_when_it_expires(live, browser) -> None:  # type: ignore[no-untyped-def]
    """A code nobody used is not left on screen past its expiry: the card goes and the
    coordinator is told to create another one."""
    server, world = live
    ctx, page = open_admin(browser, server.base_url, "coord-carte", PASSWORD, WIDE)
    try:
        page.get_by_role("tab", name="Téléphones").click()
        page.locator("#panel-phones").get_by_label("Équipe", exact=True).select_option(
            label=world["team"]["name"]
        )
        page.get_by_role("button", name="Associer un téléphone").click()
        page.wait_for_selector("#pairing:not([hidden])")
        assert re.search(r"Valable jusqu'à \d\d:\d\d", page.inner_text("#pairing-expiry"))
        # The device's clock jumps past the code's expiry (one hour later).
        page.evaluate("() => { const real = Date.now; Date.now = () => real() + 3600e3; }")
        page.wait_for_selector("#phones-status:has-text('a expiré sans servir')", timeout=10000)
        assert page.locator("#pairing").is_hidden()
    finally:
        ctx.close()


def test_coordinators_see_every_action_on_accounts(live, browser) -> None:  # type: ignore[no-untyped-def]
    """What an administrator does to accounts (here: a reset link sent to a coordinator) is
    announced to coordinators on arrival and listed in the "Actions sur les comptes" tab."""
    import requests

    server, world = live
    store = world["store"]
    if not store.user_exists("aide-soignante"):
        store.add_user(
            "aide-soignante", role="coordinator", password=PASSWORD, email="aide@example.fr"
        )
    target = store.find_user("aide-soignante")
    admin_token = store.create_api_token(store.find_user("admin")["id"], label="test")
    sent = requests.post(
        f"{server.base_url}/api/users/{target['id']}/password-link",
        json={},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert sent.status_code == 200
    ctx, page = open_admin(browser, server.base_url, "coord-carte", PASSWORD, WIDE)
    try:
        notice = page.locator("#accounts-notice")
        notice.wait_for(state="visible")
        assert "action(s) sur les comptes" in notice.inner_text()
        assert "lien de réinitialisation" in notice.inner_text()
        check_axe(page)
        shot(page, "accounts-notice-fr")
        page.get_by_role("button", name="Voir les actions").click()
        row = page.locator("#account-table tbody tr", has_text="aide-soignante").first
        row.wait_for()
        text = row.inner_text()
        assert "admin" in text
        assert "a envoyé un lien de réinitialisation du mot de passe à aide@example.fr" in text
        disabled = page.locator("#account-table tbody tr", has_text="a désactivé le compte")
        assert "infirmier" in disabled.first.inner_text()
        assert notice.is_hidden()
        axe_both_locales(page, "accounts")
        # Seen: not announced again on the next visit.
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#accounts-notice").is_hidden()
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()


def test_without_an_smtp_server_the_users_tab_says_how_to_configure_it(live, browser) -> None:  # type: ignore[no-untyped-def]
    server, world = live
    app = server.app
    configured = app.extensions["dispatch.mailer"]
    app.extensions["dispatch.mailer"] = Mailer(world["settings"])
    ctx, page = open_admin(browser, server.base_url, "admin", PASSWORD, WIDE)
    try:
        page.get_by_role("tab", name="Utilisateurs").click()
        page.locator("#mail-notice").wait_for(state="visible")
        text = page.inner_text("#mail-notice")
        assert "Aucun serveur d'e-mail" in text and "smtp_host" in text
        assert "dispatch user add" in text
        page.get_by_role("button", name="Nouvel utilisateur").click()
        page.get_by_label("Identifiant de connexion").fill("sans-smtp")
        page.get_by_label("Adresse e-mail", exact=True).fill("sans-smtp@example.fr")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#user-error:has-text('aucun serveur d')")
        assert not world["store"].user_exists("sans-smtp")
        check_axe(page)
        shot(page, "users-no-mail-fr")
        set_locale(page, "en")
        assert "No e-mail server is configured" in page.inner_text("#mail-notice")
        check_axe(page)
        shot(page, "users-no-mail-en")
        set_locale(page, "fr")
    finally:
        app.extensions["dispatch.mailer"] = configured
        ctx.close()


def test_admin_creates_and_renames_structures_and_chooses_a_users(live, browser) -> None:  # type: ignore[no-untyped-def]
    """Structures tab (administrators): create an HAD with its FINESS number (a wrong one is
    refused on the form), rename the default structure; in the users tab, a coordinator is
    given a second structure, and a new user must be given at least one. The coordinator of
    two structures then chooses the structure of a new team."""
    server, world = live
    store = world["store"]
    ctx, page = open_admin(browser, server.base_url, "admin", PASSWORD, WIDE)
    try:
        page.get_by_role("tab", name="Structures").click()
        table = page.locator("#structure-table")
        table.locator("tr[data-structure-id='1']").wait_for()
        page.get_by_role("button", name="Nouvelle structure").click()
        page.get_by_label("Nom de la structure").fill("HAD Haute-Corse")
        page.get_by_label("Type de structure").select_option(
            label="Hospitalisation à domicile (HAD)"
        )
        page.get_by_label("Numéro FINESS (facultatif)").fill("12")
        page.get_by_role("button", name="Enregistrer").click()
        assert "Numéro FINESS" in page.inner_text("#structure-error")
        assert page.locator("#sf-finess").get_attribute("aria-invalid") == "true"
        page.get_by_label("Numéro FINESS (facultatif)").fill("2b0001234")
        check_axe(page)
        shot(page, "structures-form-fr")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector(
            "#structures-status:has-text('Nouvelle structure enregistrée : HAD Haute-Corse')"
        )
        had = store.find_structure("HAD Haute-Corse")
        assert had["kind"] == "had" and had["finess"] == "2B0001234"
        row = table.locator(f"tr[data-structure-id='{had['id']}']")
        assert "Hospitalisation à domicile (HAD)" in row.inner_text()
        # Rename the default structure (every record of before the upgrade is in it).
        default = store.get_structure(1)["name"]
        page.get_by_role("button", name=f"Modifier {default}", exact=True).click()
        page.get_by_label("Nom de la structure").fill("SSIAD de Melun")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#structures-status:has-text('SSIAD de Melun')")
        assert store.get_structure(1)["name"] == "SSIAD de Melun"
        assert page.evaluate("document.activeElement.dataset.act") == "edit"
        axe_both_locales(page, "structures")

        # A coordinator gets the HAD too.
        page.get_by_role("tab", name="Utilisateurs").click()
        coordinator = store.find_user("coord-carte")
        user_row = page.locator(f"#user-table tr[data-user-id='{coordinator['id']}']")
        user_row.get_by_role("button", name="Modifier coord-carte").click()
        boxes = page.locator("#uf-structures")
        assert boxes.get_by_label("SSIAD de Melun").is_checked()
        assert not boxes.get_by_label("HAD Haute-Corse").is_checked()
        boxes.get_by_label("HAD Haute-Corse").check()
        check_axe(page)
        shot(page, "users-structures-fr")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#users-status:has-text('Utilisateur coord-carte enregistré')")
        assert store.get_user(coordinator["id"])["structure_ids"] == [1, had["id"]]
        assert "HAD Haute-Corse" in user_row.inner_text()
        # A new user of a deployment of two structures: none ticked, one must be.
        page.get_by_role("button", name="Nouvel utilisateur").click()
        page.get_by_label("Identifiant de connexion").fill("coord-had")
        page.get_by_role("button", name="Enregistrer").click()
        assert "Cochez au moins une structure" in page.inner_text("#user-error")
        assert not store.user_exists("coord-had")
        page.locator("#uf-structures").get_by_label("HAD Haute-Corse").check()
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("#users-status:has-text('coord-had')")
        assert store.find_user("coord-had")["structure_ids"] == [had["id"]]
        set_locale(page, "en")
        assert "Role · organisations" in page.inner_text("#user-table thead")
        check_language(page, "en")
        check_axe(page)
        shot(page, "users-structures-en")
        set_locale(page, "fr")
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()
    # The coordinator of two structures says which one a new team belongs to.
    ctx, page = open_admin(browser, server.base_url, "coord-carte", PASSWORD, WIDE)
    try:
        assert page.get_by_role("tab", name="Structures").is_hidden()
        page.get_by_role("button", name="Nouvelle équipe").click()
        choice = page.get_by_label("Structure", exact=True)
        assert choice.is_visible()
        options = choice.locator("option").all_inner_texts()
        assert options == ["HAD Haute-Corse", "SSIAD de Melun"]
        # With several structures, each team says which one it belongs to.
        nord = page.locator(f"#team-table tr[data-team-id='{world['team']['id']}']")
        assert "SSIAD de Melun" in nord.inner_text()
        check_axe(page)
        assert not page.errors  # type: ignore[attr-defined]
    finally:
        ctx.close()
