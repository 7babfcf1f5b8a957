"""Referrers' requests on a real server, driven from both screens (issue 24's acceptance
journey): a coordinator invites a GP from « Demandes » (/requests/); the activation e-mail
reaches a real SMTP server (aiosmtpd); the GP chooses a password, logs in on the « Espace
prescripteur » (/referrer/) of her phone, makes a request with a PDF attached, sees the slots
computed over the rounds and books one; the coordinator, in a second browser, sees it booked
and the visit in a team's round and the patient's record. Then: a request declined with a
reason the GP reads, slots offered with a message and booked, a one-off request accepted at a
slot and a repeated one as a care plan, a cancellation by the GP, a file refused by its
content, and another GP of the same service who sees none of it. E-mails at each step (links
to the request, never the patient's name). axe (WCAG 2.1 AA) on each screen in French and
English, at 1280x800 and 390x844; screenshots in tests/screenshots/referrals-*."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_support import check_axe
from live_support import MELUN, PASSWORD, RealServer, module_settings
from mail_support import Inbox

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
GP_EMAIL = "anne.martin@cabinet.example.fr"
GP_PASSWORD = "ordonnance-du-mardi-matin"
COORD_EMAIL = "coordination@ssiad.example.fr"
#: A tiny but real PDF (magic bytes %PDF-) as the prescription scan.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>"
    b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
#: Words of one language that must not show in the other (typed data aside).
FRENCH_WORDS = ("Demande", "Réserver", "Suivi", "Créneaux", "Urgence", "Période", "Refus", "Envoy")
ENGLISH_WORDS = ("Request", "Book", "Follow-up", "Slots", "Urgency", "Period", "Declin", "Sent")


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server: a home-care service in Melun with two active teams and a coordinator
    who has an e-mail address; e-mails go to a real SMTP server on loopback."""
    inbox = Inbox()
    settings = module_settings(
        tmp_path_factory.mktemp("referrals"), territory_cache, shared_dir
    ).replace(
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
        smtp_from="Dispatch <dispatch@example.fr>",
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    teams = [
        store.add_team(
            {
                "name": name,
                "base_lon": MELUN[0],
                "base_lat": MELUN[1],
                "color": color,
                "skills": ["hygiene", "insulin", "wound_care"],
            },
            structure_id=1,
        )
        for name, color in (("Équipe Nord", "#1f77b4"), ("Équipe Sud", "#d62728"))
    ]
    store.add_user(
        "coord", role="coordinator", password=PASSWORD, email=COORD_EMAIL, structure_ids=[1]
    )
    # Another GP of the same service: she must never see the first one's requests.
    other = store.add_user(
        "autre.gp@cabinet.example.fr",
        role="referrer",
        password=PASSWORD,
        email="autre.gp@cabinet.example.fr",
        structure_ids=[1],
    )
    store.set_referrer_profile(other["id"], profession="gp", invited_by="test")
    # The coming week's rounds are published (empty): a booked visit goes into a team's round.
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    for n in range(8):
        store.save_plan(
            (today + dt.timedelta(days=n)).isoformat(),
            [{"team_id": team["id"], "stops": []} for team in teams],
            publish=True,
            structure_id=1,
        )
    server = RealServer(app)
    yield server, {"store": store, "inbox": inbox, "teams": teams, "settings": settings}
    server.stop()
    inbox.stop()
    store.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOTS / f"referrals-{name}.png"), full_page=True, caret="initial"
    )


#: Each watched page's script errors and Content-Security-Policy refusals.
ERRORS: dict[int, list[str]] = {}


def watch(page: Any) -> list[str]:
    """Script errors and Content-Security-Policy refusals of ``page``."""
    errors = ERRORS.setdefault(id(page), [])
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    return errors


def axe(page: Any) -> None:
    """check_axe, whose own inline styles (axe-core measuring colours) the page's CSP refuses:
    those refusals are not the page's."""
    errors = ERRORS.get(id(page), [])
    before = len(errors)
    check_axe(page)
    errors[before:] = [e for e in errors[before:] if "Content Security Policy" not in e]


def set_locale(page: Any, locale: str) -> None:
    if page.evaluate("document.documentElement.lang") != locale:
        page.click("#lang")
    page.wait_for_function(f"document.documentElement.lang === '{locale}'")


def check_language(page: Any, locale: str, typed: tuple[str, ...] = ()) -> None:
    """The page's own text is in ``locale`` only (what people typed aside)."""
    text = page.inner_text("main")
    for value in typed:
        text = text.replace(value, "")
    words = FRENCH_WORDS if locale == "en" else ENGLISH_WORDS
    found = [w for w in words if w in text]
    assert not found, (locale, found, text[:2000])


def axe_both(page: Any, name: str, typed: tuple[str, ...] = ()) -> None:
    """axe in the page's language, then in the other one (screenshot of each), back again."""
    first = page.evaluate("document.documentElement.lang")
    other = "en" if first == "fr" else "fr"
    axe(page)
    check_language(page, first, typed)
    shot(page, f"{name}-{first}")
    set_locale(page, other)
    axe(page)
    check_language(page, other, typed)
    shot(page, f"{name}-{other}")
    set_locale(page, first)


def wait_mail(inbox: Inbox, count: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(inbox.messages) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(inbox.messages) >= count, [m[1]["Subject"] for m in inbox.messages]


#: The messages already matched by next_mail.
SEEN_MAILS: set[int] = set()


def next_mail(inbox: Inbox, to: str, referral_id: int, timeout_s: float = 10.0) -> int:
    """The index of the first message not matched before that goes to ``to`` about request
    ``referral_id`` (its link), waiting for it: each step's e-mail in turn, whatever else is
    sent meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        for i in range(len(inbox.messages)):
            if i in SEEN_MAILS or to not in inbox.messages[i][0]:
                continue
            if re.search(rf"#request-{referral_id}\b", inbox.body(i)):
                SEEN_MAILS.add(i)
                return i
        assert time.monotonic() < deadline, [(m[0], m[1]["Subject"]) for m in inbox.messages]
        time.sleep(0.05)


def mail_link(inbox: Inbox, i: int, page: str) -> str:
    """The link of message ``i`` to a request on ``page`` (/referrer/ or /requests/)."""
    match = re.search(rf"https?://\S+/{page}/#request-\d+", inbox.body(i))
    assert match, inbox.body(i)
    return match.group(0)


def mail_text(inbox: Inbox, i: int) -> str:
    message = inbox.messages[i][1]
    return f"{message['Subject']}\n{inbox.body(i)}"


def login(page: Any, username: str, password: str, locale: str = "fr") -> None:
    page.wait_for_selector("#login[open]")
    page.locator("#login-form input[name=username]").fill(username)
    page.locator("#login-form input[name=password]").fill(password)
    page.get_by_role("button", name="Se connecter" if locale == "fr" else "Log in").click()
    page.wait_for_selector("body[data-ready='1']", timeout=20000)


#: The care acts the form is tried with, and the usual length each one fills in.
ACT_MINUTES = {"dressing": "20", "insulin": "15", "hygiene": "30"}


STREET_ADDRESS = "2 rue du Château Melun"
#: A street the territory's roads do not name: placed at the town's centre only.
UNKNOWN_STREET = "avenue Sébastien Bonaparte Melun"


def fill_request(
    page: Any,
    *,
    family: str,
    given: str,
    reason: str,
    en: bool = False,
    act: str = "dressing",
    address: str = STREET_ADDRESS,
) -> None:
    """The new-request form, address searched and confirmed, a PDF attached; « Soin demandé »
    fills the visit's length until the referrer types one."""
    page.wait_for_selector("body[data-view='form']")
    page.locator("#f-family").fill(family)
    page.locator("#f-given").fill(given)
    page.locator("#f-birth").fill("1941-03-03")
    page.locator("#f-gender").select_option("female")
    page.locator("#f-phone").fill("01 64 00 00 00")
    page.locator("#f-address").fill(address)
    page.get_by_role("button", name="Search the address" if en else "Chercher l'adresse").click()
    page.wait_for_selector("#f-matches input[type=radio]")
    page.locator("#f-matches input[type=radio]").first.check()
    page.wait_for_selector(
        "#f-address-status:has-text('Address chosen')"
        if en
        else "#f-address-status:has-text('Adresse retenue')"
    )
    # The test territory places « 2 rue du Château » at the street's middle, an unknown street
    # at the town's centre: said before sending, with what to do.
    where = {
        (STREET_ADDRESS, False): "milieu de la rue",
        (STREET_ADDRESS, True): "middle of the street",
        (UNKNOWN_STREET, False): "centre de la commune seulement",
        (UNKNOWN_STREET, True): "centre of the town only",
    }[(address, en)]
    assert page.locator("#f-matches label .sub").first.inner_text() == where
    page.wait_for_selector("#f-imprecise:not([hidden])")
    page.locator("#f-access").fill("Code 1234B")
    page.locator("#f-reason").fill(reason)
    page.locator("#f-act").select_option("hygiene")
    assert page.input_value("#f-duration") == ACT_MINUTES["hygiene"]
    page.locator("#f-act").select_option(act)
    assert page.input_value("#f-duration") == ACT_MINUTES[act]
    page.locator("#f-duration").fill("30")
    page.locator("#f-act").select_option("hygiene")  # a typed length is kept
    assert page.input_value("#f-duration") == "30"
    page.locator("#f-act").select_option(act)


def send_request(page: Any, button: str) -> int:
    """Sends the form; the request's number once its page shows (else the form's error)."""
    page.get_by_role("button", name=button).click()
    page.wait_for_function(
        """() => document.body.dataset.view === 'detail'
          || (document.getElementById('form-error').textContent.trim() !== ''
              && !document.getElementById('f-submit').disabled)""",
        timeout=20000,
    )
    assert page.evaluate("document.body.dataset.view") == "detail", page.inner_text("#form-error")
    return int(page.inner_text("#detail-h").split("—")[0].split()[-1])


def window_start(slot: str) -> str:
    """« lundi 7 décembre, passage entre 07:25 » of a slot's text: what the booked visit says
    whether the server gives its arrival window or only its start."""
    return slot.split(" et ")[0].split(" and ")[0]


def submit_by_api(
    page: Any,
    family: str,
    given: str,
    *,
    time_of_day: str = "any",
    recurrence: Any = None,
    urgency: str = "soon",
) -> int:
    """A request sent by the referrer's page through the API (the form is tested above)."""
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    body = {
        "patient": {
            "family_name": family,
            "given_name": given,
            "birth_date": "1936-11-02",
            "gender": None,
            "phone": None,
        },
        "address": "Place Saint-Jean, Melun",
        "lon": MELUN[0],
        "lat": MELUN[1],
        "access_notes": None,
        "reason": "Bilan de chute",
        "act": "other",
        "care_kind": "nursing",
        "duration_min": 45,
        "urgency": urgency,
        "period_from": today.isoformat(),
        "period_to": (today + dt.timedelta(days=5)).isoformat(),
        "time_of_day": time_of_day,
        "recurrence": recurrence,
        "prescription": None,
    }
    reply = page.evaluate(
        """async (body) => {
          const r = await fetch('/api/referrals', {method: 'POST', body: JSON.stringify(body),
            headers: {'Content-Type': 'application/json',
                      'X-CSRF-Token': sessionStorage.getItem('dispatch.csrf')}});
          return [r.status, await r.json()];
        }""",
        body,
    )
    assert reply[0] == 201, reply
    return int(reply[1]["referral"]["id"])


def test_invite_request_book_offer_accept_decline_cancel(live, browser) -> None:  # type: ignore[no-untyped-def]
    server, world = live
    inbox: Inbox = world["inbox"]
    _, instance = browser
    base = server.base_url

    # -- the coordinator invites a GP (desktop) -------------------------------------------------
    coord_ctx = instance.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Europe/Paris")
    coord = coord_ctx.new_page()
    coord_errors = watch(coord)
    coord.goto(f"{base}/requests/")
    login(coord, "coord", PASSWORD)
    assert coord.inner_text("#list-h") == "Demandes des prescripteurs"
    assert "Aucune demande" in coord.inner_text("#list-status")
    # An empty inbox is a plain fact, not written as a success.
    assert "fact" in coord.get_attribute("#list-status", "class")
    assert coord.locator("#list-status").evaluate("e => getComputedStyle(e).fontWeight") == "400"
    # Every page's /favicon.ico is the service's icon, not a 404.
    icon = coord.request.get(f"{base}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/png"
    assert icon.body()[:8] == b"\x89PNG\r\n\x1a\n"
    axe_both(coord, "inbox-empty")
    coord.get_by_role("link", name="Inviter un prescripteur").click()
    coord.wait_for_selector("body[data-view='invite']")
    coord.get_by_label("Adresse e-mail").fill(GP_EMAIL)
    coord.get_by_label("Nom affiché").fill("Dr Anne Martin")
    coord.get_by_label("Profession").select_option("gp")
    coord.get_by_role("button", name="Envoyer l'invitation").click()
    coord.wait_for_selector(f"#invite-status:has-text('Invitation envoyée à {GP_EMAIL}')")
    coord.wait_for_selector("#referrers li:has-text('Dr Anne Martin')")
    axe_both(coord, "invite", typed=("Dr Anne Martin", GP_EMAIL))

    # The activation e-mail, to the GP, with her one-time link.
    wait_mail(inbox, 1)
    assert inbox.messages[0][0] == [GP_EMAIL]
    link = inbox.link(0)

    # -- the GP activates her account and logs in on her phone ----------------------------------
    gp_ctx = instance.new_context(
        viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris", is_mobile=True, has_touch=True
    )
    gp = gp_ctx.new_page()
    gp_errors = watch(gp)
    gp.goto(link)
    gp.wait_for_selector("#form:not([hidden])")
    gp.locator("#pw1").fill(GP_PASSWORD)
    gp.locator("#pw2").fill(GP_PASSWORD)
    gp.get_by_role("button", name="Enregistrer mon mot de passe").click()
    gp.wait_for_selector("#done:not([hidden])")
    # The activation page's « Se connecter » leads a referrer to their space, not to the map.
    gp.locator("#go").click()
    gp.wait_for_url(f"{base}/referrer/")
    gp.wait_for_selector("#login[open]")
    assert gp.inner_text("#login-title") == "Connexion prescripteur"
    axe(gp)
    shot(gp, "referrer-login-phone-fr")
    login(gp, GP_EMAIL, GP_PASSWORD)
    assert gp.inner_text("#list-h") == "Mes demandes"
    assert "Aucune demande" in gp.inner_text("#list-status")
    assert "fact" in gp.get_attribute("#list-status", "class")
    assert (
        gp.locator("#list-status").evaluate("e => getComputedStyle(e).color") != "rgb(30, 107, 67)"
    )
    # The top bar stays compact on the phone (the name on one line, ellipsis if long).
    assert gp.locator("header.topbar").bounding_box()["height"] <= 100
    axe_both(gp, "referrer-empty-phone")

    # -- a request with a prescription attached --------------------------------------------------
    gp.get_by_role("link", name="Nouvelle demande").click()
    fill_request(
        gp, family="Lefranc", given="Odette", reason="Pansement d'ulcère après sortie d'hôpital"
    )
    gp.get_by_role("radio", name="Urgente").check()
    # Repeated care: the period says when care starts, « Fin des soins le » is its one end, and
    # two visits a day say their moments.
    assert gp.inner_text("label[for=f-until]") == "Fin des soins le *"
    gp.locator("label[for=f-repeat]").click()
    assert gp.inner_text("#f-from-label") == "Début des soins entre le *"
    assert gp.inner_text("#f-to-label") == "et le *"
    gp.locator("#f-times").select_option("2")
    assert "le matin" in gp.inner_text("#f-moments") and "le soir" in gp.inner_text("#f-moments")
    assert gp.locator("#f-tod").is_hidden()
    axe(gp)
    shot(gp, "referrer-repeat-phone-fr")
    gp.locator("label[for=f-repeat]").click()
    assert gp.inner_text("#f-from-label") == "Période souhaitée : du *"
    gp.locator("#f-tod").select_option("morning")
    gp.locator("#f-prescriber").fill("Dr Anne Martin")
    gp.locator("#f-rx-details").fill("Pansement tous les 2 jours pendant 15 jours")
    gp.locator("#f-file").set_input_files(
        files=[{"name": "ordonnance.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    axe(gp)
    shot(gp, "referrer-form-phone-fr")
    referral_id = send_request(gp, "Envoyer la demande")
    gp.wait_for_selector("#slots button.book", timeout=20000)
    assert "envoyée au service" in gp.inner_text("#detail-status")
    # The address is the request's now: a reload shows the request, not a blank form.
    assert gp.url.endswith(f"/referrer/#request-{referral_id}")
    # The top bar names the GP (her display name), not her e-mail address.
    assert gp.inner_text("#whoami") == "Dr Anne Martin (prescripteur)"
    # What she typed (the house number) is kept as the address text; the street placed it.
    assert "2 rue du château" in gp.inner_text("#summary").lower()
    assert "Pansement, 30 min" in gp.inner_text("#summary")
    assert "ordonnance.pdf" in gp.inner_text("#attachments")
    slots = gp.locator("#slots li")
    assert 1 <= slots.count() <= 5
    # No team name for the referrer: the rounds are not theirs to see.
    assert "Équipe" not in gp.inner_text("#slots")
    assert gp.locator("#slots button.book").first.bounding_box()["height"] >= 44
    axe_both(
        gp,
        "referrer-slots-phone",
        typed=("Lefranc", "Odette", "Pansement", "Code 1234B", "Dr Anne Martin", "ordonnance.pdf"),
    )

    # The coordinators are told of the new request, without the patient's name.
    text = mail_text(inbox, next_mail(inbox, COORD_EMAIL, referral_id))
    assert str(referral_id) in text and "/requests/" in text
    assert "Lefranc" not in text and "Odette" not in text

    # She books the first slot.
    first_slot = gp.locator("#slots li .slot-text strong").first.inner_text()
    gp.locator("#slots button.book").first.click()
    gp.wait_for_selector("#outcome.state-booked", timeout=20000)
    # A booking is an arrival window, as the slot offered said.
    assert "passage entre" in first_slot or "passage à" in first_slot
    assert "Visite réservée" in gp.inner_text("#outcome")
    assert window_start(first_slot) in gp.inner_text("#outcome")
    assert "Visite réservée" in gp.inner_text("#detail-state")
    assert "Visite réservée" in gp.inner_text("#timeline")
    shot(gp, "referrer-booked-phone-fr")
    text = mail_text(inbox, next_mail(inbox, GP_EMAIL, referral_id))
    assert str(referral_id) in text and "/referrer/" in text and "Lefranc" not in text

    # -- the coordinator sees it booked, and the visit in the patient's record -------------------
    coord.goto(f"{base}/requests/")
    coord.wait_for_selector("body[data-view='list']")
    coord.locator("#filters button[data-state='booked']").click()
    coord.wait_for_selector(f"#requests a[href='#request-{referral_id}']")
    assert "(1)" in coord.inner_text("#filters button[data-state='booked']")
    coord.locator(f"#requests a[href='#request-{referral_id}']").click()
    coord.wait_for_selector("#outcome.state-booked")
    assert "Réservée par le prescripteur" in coord.inner_text("#outcome")
    assert window_start(first_slot) in coord.inner_text("#outcome")
    booked = coord.request.get(f"{base}/api/referrals/{referral_id}").json()["referral"]
    if booked["visit"].get("team_name"):  # the team, for coordinators (booking's API)
        assert booked["visit"]["team_name"] in coord.inner_text("#outcome")
    if booked.get("address_precision") == "street":
        assert "milieu de la rue" in coord.inner_text("#placed")
        assert coord.get_by_role("link", name="Corriger le domicile").is_visible()
    assert "Dr Anne Martin" in coord.inner_text("#detail-from")
    assert "Pansement" in coord.inner_text("#summary")
    assert "ordonnance.pdf" in coord.inner_text("#attachments")
    # The attachment opens, decrypted, for the coordinator.
    href = coord.locator("#attachments a").first.get_attribute("href")
    got = coord.request.get(f"{base}{href}")
    assert got.status == 200 and got.body() == PDF
    axe_both(
        coord,
        "request-booked",
        typed=(
            "Lefranc",
            "Odette",
            "Pansement",
            "Code 1234B",
            "Dr Anne Martin",
            "ordonnance.pdf",
            "Pansement d'ulcère après sortie d'hôpital",
        ),
    )
    coord.get_by_role("link", name="Dossier du patient", exact=True).click()
    # The record of the patient the booking admitted (has-text: any case).
    coord.wait_for_selector("#record-h:has-text('Lefranc Odette')", timeout=20000)
    # The visit is in a team's round (« planifiée »), on the day booked.
    coord.wait_for_selector("#visit-table tbody tr .pill.assigned")
    shot(coord, "patient-record")
    # The patients page leads back to the requests (the top bar's « Demandes »).
    assert coord.get_by_role("link", name="Demandes").get_attribute("href") == "/requests/"
    visit = coord.request.get(f"{base}/api/referrals/{referral_id}").json()["referral"]["visit"]
    plan = world["store"].published_plan(visit["day"], structure_id=1)
    rounds = {r["team_id"]: [s["visit_id"] for s in r["stops"]] for r in plan["routes"]}
    assert [t for t, ids in rounds.items() if visit["id"] in ids], rounds

    # -- a second request, in English at desktop size, declined with a reason --------------------
    gp.set_viewport_size(DESKTOP)
    set_locale(gp, "en")

    # The chosen service's acts only: a second service that provides only palliative
    # assessments (the options as the server gives them, with that service added).
    def options(route: Any) -> None:
        reply = route.fetch()
        data = reply.json()
        first = data["structures"][0]
        first.setdefault("acts", [a["id"] for a in data["acts"]])
        data["structures"].append(
            {**first, "id": 999, "name": "Équipe palliative", "acts": ["palliative_assessment"]}
        )
        route.fulfill(response=reply, json=data)

    gp.route("**/api/referrals/options", options)
    gp.goto(f"{base}/referrer/#new")
    gp.reload()  # the options are read when the page loads
    gp.wait_for_selector("body[data-view='form']")
    assert gp.input_value("#f-prescriber") == "Dr Anne Martin"
    gp.locator("#f-structure").select_option(label="Équipe palliative")
    assert gp.locator("#f-act option").all_inner_texts() == ["—", "Palliative assessment"]
    assert "Équipe palliative" in gp.inner_text("#f-act-hint")
    gp.locator("#f-structure").select_option(index=0)
    assert gp.locator("#f-act option").count() > 2
    gp.unroute("**/api/referrals/options")
    fill_request(
        gp,
        family="Rossi",
        given="Paul",
        reason="Insulin twice a day",
        en=True,
        act="insulin",
        address=UNKNOWN_STREET,
    )
    axe(gp)
    check_language(
        gp,
        "en",
        typed=("Rossi", "Paul", "Insulin twice a day", "Code 1234B", UNKNOWN_STREET),
    )
    shot(gp, "referrer-form-desktop-en")
    second_id = send_request(gp, "Send the request")
    assert second_id != referral_id
    # Placed at the town's centre only, the request keeps the street the GP typed.
    assert UNKNOWN_STREET in gp.inner_text("main")
    i = next_mail(inbox, COORD_EMAIL, second_id)

    coord.set_viewport_size(PHONE)
    # The coordinator follows the e-mail's link to the request.
    assert mail_link(inbox, i, "requests").endswith(f"/requests/#request-{second_id}")
    coord.goto(mail_link(inbox, i, "requests"))
    coord.wait_for_selector("body[data-view='detail']")
    coord.wait_for_selector("#slots li", timeout=20000)
    # Coordinators see which team each slot is in.
    assert "Équipe" in coord.inner_text("#slots")
    axe_both(
        coord,
        "request-slots-phone",
        typed=("Rossi", "Paul", "Insulin twice a day", "Code 1234B", "Dr Anne Martin"),
    )
    coord.locator("#decline-box summary").click()
    coord.get_by_label("Raison du refus").fill(
        "Hors de notre secteur : adressez-la au SSIAD de Dammarie."
    )
    coord.get_by_role("button", name="Refuser la demande").click()
    # Declining is confirmed in a dialog (« Garder la demande » first).
    dialog = coord.locator("#decline-dialog")
    dialog.wait_for(state="visible")
    assert f"n° {second_id}" in dialog.inner_text()
    dialog.get_by_role("button", name="Garder la demande").click()
    assert coord.locator("#outcome.state-declined").count() == 0
    coord.get_by_role("button", name="Refuser la demande").click()
    dialog.wait_for(state="visible")
    axe(coord)
    shot(coord, "decline-confirm-phone-fr")
    dialog.get_by_role("button", name="Refuser la demande").click()
    coord.wait_for_selector("#outcome.state-declined")
    assert "Hors de notre secteur" in coord.inner_text("#outcome")
    text = mail_text(inbox, next_mail(inbox, GP_EMAIL, second_id))
    assert str(second_id) in text and "Rossi" not in text

    # The GP reads the reason (English, desktop).
    gp.goto(f"{base}/referrer/")
    gp.wait_for_selector("body[data-view='list']")
    assert "Declined" in gp.inner_text(f"#requests li:has(a[href='#request-{second_id}'])")
    assert "Booked" in gp.inner_text(f"#requests li:has(a[href='#request-{referral_id}'])")
    axe_both(gp, "referrer-list-desktop", typed=("Rossi", "Paul", "Lefranc", "Odette"))
    gp.locator(f"a[href='#request-{second_id}']").click()
    gp.wait_for_selector("#outcome.state-declined")
    assert "Hors de notre secteur" in gp.inner_text("#outcome")
    assert "declined" in gp.inner_text("#outcome")
    # A declined request's home (placed at the town's centre) needs no more checking.
    assert "Home placed" not in gp.inner_text("main")
    shot(gp, "referrer-declined-desktop-en")

    # -- a third request: the coordinator offers two slots with a message; the GP books one ------
    third_id = submit_by_api(gp, "Vidal", "Jeanne", time_of_day="afternoon")
    next_mail(inbox, COORD_EMAIL, third_id)
    coord.goto(f"{base}/requests/#request-{third_id}")
    coord.wait_for_selector("#slots li input[type=checkbox]", timeout=20000)
    boxes = coord.locator("#slots li input[type=checkbox]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    offered = [coord.locator("#slots li .slot-text strong").nth(i).inner_text() for i in range(2)]
    coord.get_by_label("Message au prescripteur").fill("Plutôt l'après-midi, comme demandé.")
    coord.get_by_role("button", name="Proposer les créneaux cochés").click()
    coord.wait_for_selector("#outcome.state-proposed")
    assert "l'après-midi" in coord.inner_text("#outcome")
    # She still sees the times she offered (their teams too), can accept one for the GP, or
    # replace the offer with other free slots.
    coord.wait_for_selector("#offered li")
    assert coord.locator("#offered li .slot-text strong").all_inner_texts() == offered
    assert "Équipe" in coord.inner_text("#offered")
    assert all(o in coord.inner_text("#outcome") for o in offered)
    coord.wait_for_selector("#propose:has-text('Remplacer la proposition')", timeout=20000)
    axe_both(
        coord,
        "request-proposed",
        typed=(
            "Vidal",
            "Jeanne",
            "Bilan de chute",
            "Plutôt l'après-midi, comme demandé.",
            "Dr Anne Martin",
            "Place Saint-Jean",
        ),
    )
    i = next_mail(inbox, GP_EMAIL, third_id)
    assert "Vidal" not in mail_text(inbox, i)

    # The GP follows the e-mail's link to her request.
    gp.goto(mail_link(inbox, i, "referrer"))
    gp.wait_for_selector("#slots button.book", timeout=20000)
    assert "Message from the service: Plutôt l'après-midi" in gp.inner_text("#outcome")
    assert gp.locator("#slots li").count() == 2
    # The same two slots (their arrival windows: the words are in the GP's language).
    hours = gp.locator("#slots li .slot-text strong").all_inner_texts()
    assert sorted(re.findall(r"\d\d:\d\d", " ".join(hours))) == sorted(
        re.findall(r"\d\d:\d\d", " ".join(offered))
    )
    assert all(h.split(", ")[-1].startswith("arrival between") for h in hours), hours
    # A file that is not what its name says is refused, and the page says so.
    gp.locator("#att-file").set_input_files(
        files=[{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"plain text"}]
    )
    gp.get_by_role("button", name="Send", exact=True).click()
    gp.wait_for_selector("#att-status:has-text('Refused by the server')")
    assert "No attachment" in gp.inner_text("#attachments")
    axe(gp)
    shot(gp, "referrer-proposed-desktop-en")
    gp.locator("#slots button.book").nth(1).click()
    gp.wait_for_selector("#outcome.state-booked", timeout=20000)
    next_mail(inbox, GP_EMAIL, third_id)

    # -- the coordinator accepts a one-off request at a slot, and a repeated one as a care plan --
    fourth_id = submit_by_api(gp, "Nicolas", "Marcel")
    fifth_id = submit_by_api(
        gp,
        "Giudicelli",
        "Rose",
        recurrence={
            "times_per_day": 1,
            "weekdays": [1, 2, 3, 4, 5],
            "until": (
                dt.datetime.now(ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=10)
            ).isoformat(),
        },
    )
    next_mail(inbox, COORD_EMAIL, fourth_id)
    next_mail(inbox, COORD_EMAIL, fifth_id)
    coord.goto(f"{base}/requests/#request-{fourth_id}")
    coord.wait_for_selector("#slots li button", timeout=20000)
    assert coord.locator("#accept-plan").is_hidden()
    # One slot offered; the GP rings to say it suits: the coordinator accepts it for her.
    coord.locator("#slots li input[type=checkbox]").first.check()
    chosen = coord.locator("#slots li .slot-text strong").first.inner_text()
    coord.get_by_role("button", name="Proposer les créneaux cochés").click()
    coord.wait_for_selector("#outcome.state-proposed")
    coord.locator("#offered li button").first.click()
    coord.wait_for_selector("#outcome.state-accepted", timeout=20000)
    assert "Acceptée" in coord.inner_text("#outcome") and window_start(chosen) in coord.inner_text(
        "#outcome"
    )
    assert coord.get_by_role("link", name="Dossier du patient", exact=True).is_visible()
    coord.goto(f"{base}/requests/#request-{fifth_id}")
    coord.wait_for_selector("#slots li button", timeout=20000)
    coord.get_by_role("button", name="Accepter : créer le plan de soins").click()
    coord.wait_for_selector("#outcome.state-accepted", timeout=20000)
    assert "Soins répétés" in coord.inner_text("#summary")
    accepted = coord.request.get(f"{base}/api/referrals/{fifth_id}").json()["referral"]
    assert accepted["kind"] == "care_plan" and accepted["care_plan_id"] is not None
    # The GP is told of the offer, then of each acceptance.
    next_mail(inbox, GP_EMAIL, fourth_id)
    next_mail(inbox, GP_EMAIL, fourth_id)
    next_mail(inbox, GP_EMAIL, fifth_id)

    # The inbox with requests in every state, on the phone, in both languages.
    coord.goto(f"{base}/requests/")
    coord.wait_for_selector("body[data-view='list']")
    coord.locator("#filters button[data-state='']").click()
    coord.wait_for_selector("#filters button[data-state=''][aria-pressed='true']")
    coord.wait_for_selector(f"#requests a[href='#request-{fifth_id}']")
    assert coord.locator("#requests li").count() == 5
    assert "(2)" in coord.inner_text("#filters button[data-state='accepted']")
    if booked.get("address_precision") == "street":  # the home to check, in the inbox too
        first_card = coord.locator(f"#requests li:has(a[href='#request-{referral_id}'])")
        assert "milieu de la rue" in first_card.inner_text()
    axe_both(
        coord,
        "inbox-phone",
        typed=(
            "Lefranc",
            "Odette",
            "Rossi",
            "Paul",
            "Vidal",
            "Jeanne",
            "Nicolas",
            "Marcel",
            "Giudicelli",
            "Rose",
            "Dr Anne Martin",
        ),
    )
    coord.get_by_role("link", name="Inviter un prescripteur").click()
    coord.wait_for_selector("#referrers li:has-text('Dr Anne Martin')")
    axe_both(coord, "invite-phone", typed=("Dr Anne Martin", GP_EMAIL))

    # -- the GP cancels the accepted one-off request: the visit goes, the coordinators are told --
    gp.goto(f"{base}/referrer/#request-{fourth_id}")
    gp.wait_for_selector("#outcome.state-accepted")
    gp.get_by_role("button", name="Cancel the request").click()
    dialog = gp.locator("#cancel-dialog")
    dialog.get_by_label("Reason (optional)").fill("Hospitalised yesterday.")
    axe(gp)
    dialog.get_by_role("button", name="Cancel the request").click()
    gp.wait_for_selector("#outcome.state-cancelled")
    gp.wait_for_selector("#detail-status:has-text('Cancellation saved')")
    # Said once (the outcome), not twice.
    assert gp.inner_text("main").count("Request cancelled.") == 1
    assert gp.locator("#cancel-request").is_hidden()
    assert "Nicolas" not in mail_text(inbox, next_mail(inbox, COORD_EMAIL, fourth_id))
    cancelled = gp.request.get(f"{base}/api/referrals/{fourth_id}").json()["referral"]
    assert cancelled["state"] == "cancelled" and cancelled["visit"]["status"] == "cancelled"
    # In her list, the cancelled request no longer shows the visit's time as an appointment.
    gp.goto(f"{base}/referrer/")
    card = gp.locator("li.card.state-cancelled", has=gp.locator(f"a[href='#request-{fourth_id}']"))
    card.wait_for()
    assert card.locator(".visit").count() == 0

    # Urgent requests to answer come first in the inbox, even when older.
    urgent_id = submit_by_api(gp, "Orsini", "Ange", urgency="urgent")
    routine_id = submit_by_api(gp, "Paoli", "Lucie", urgency="routine")
    coord.goto(f"{base}/requests/")
    coord.wait_for_selector(f"#requests a[href='#request-{routine_id}']")
    hrefs = coord.locator("#requests h2 a").evaluate_all("els => els.map(a => a.hash)")
    assert hrefs[:2] == [f"#request-{urgent_id}", f"#request-{routine_id}"], hrefs

    # The map's top bar leads to the requests too (coordinators only, as the patients link).
    coord.goto(f"{base}/map/")
    coord.wait_for_selector("#requests-link:not([hidden])")
    assert coord.inner_text("#requests-link") == "Demandes"

    # -- another GP of the same service sees none of these requests -------------------------------
    other_ctx = instance.new_context(viewport=PHONE, locale="fr-FR", timezone_id="Europe/Paris")
    other = other_ctx.new_page()
    other_errors = watch(other)
    other.goto(f"{base}/referrer/#request-{referral_id}")
    login(other, "autre.gp@cabinet.example.fr", PASSWORD)
    other.wait_for_selector("#detail-status:has-text('ne vous est pas accessible')")
    other.goto(f"{base}/referrer/")
    other.wait_for_selector("body[data-view='list']")
    assert "Aucune demande" in other.inner_text("#list-status")
    body = other.inner_text("body")
    assert not any(name in body for name in ("Lefranc", "LEFRANC", "Rossi", "ROSSI", "Vidal"))
    # A referrer who opens the map (the site's root) is sent to their space: they have no map.
    other.goto(f"{base}/")
    other.wait_for_url(f"{base}/referrer/")
    other.wait_for_selector("body[data-view='list']")
    other_ctx.close()
    assert other_errors == []

    assert coord_errors == [] and gp_errors == []
    coord_ctx.close()
    gp_ctx.close()
