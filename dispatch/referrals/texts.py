"""Texts of a request's history and e-mails, in French then English.

Nothing here names the patient: the history is read by both sides, and e-mails are not a
secure channel (they say what happened, with the request's number and the link to the screen
where it is read once logged in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

#: Who is told of each step by e-mail: the structure's coordinators, the referrer or both
#: (a referrer's booking: the referrer's confirmation, and the coordinators learn that a
#: visit was put in their rounds).
MAIL_TO = {
    "submitted": "coordinators",
    "cancelled": None,  # the other side of whoever cancelled
    "proposed": "referrer",
    "booked": "both",
    "accepted": "referrer",
    "declined": "referrer",
    "visit_done": "referrer",
    "visit_missed": "referrer",
}


def _day(day: str | None, locale: str) -> str:
    if not day:
        return ""
    d = dt.date.fromisoformat(day)
    return d.strftime("%d/%m/%Y") if locale == "fr" else d.isoformat()


def _size(size_bytes: int, locale: str) -> str:
    kb = max(1, round(size_bytes / 1024))
    return f"{kb} ko" if locale == "fr" else f"{kb} KB"


def _when(t: Mapping[str, Any], locale: str) -> str:
    """« 08/12/2026 entre 08:15 et 09:10 » of a slot's day, start and latest start."""
    day = _day(t.get("day"), locale)
    if t.get("arrival_to") and t["arrival_to"] != t.get("start"):
        if locale == "fr":
            return f"{day} entre {t.get('start')} et {t['arrival_to']}"
        return f"{day} between {t.get('start')} and {t['arrival_to']}"
    return f"{day} {'à' if locale == 'fr' else 'at'} {t.get('start')}"


def event_text(kind: str, detail: Mapping[str, Any], locale: str) -> str:
    """One line of a request's history."""
    fr = locale == "fr"
    d = detail
    if kind == "submitted":
        text = (
            f"Demande envoyée à {d.get('structure_name')}"
            if fr
            else (f"Request sent to {d.get('structure_name')}")
        )
    elif kind == "attachment":
        kind_name = str(d.get("media_type", "")).split("/")[-1].upper()
        size = _size(int(d.get("size_bytes") or 0), locale)
        text = (
            f"Pièce jointe ajoutée ({kind_name}, {size})"
            if fr
            else (f"Attachment added ({kind_name}, {size})")
        )
    elif kind == "proposed":
        n = int(d.get("count") or 0)
        text = (
            f"{n} créneau{'x' if n > 1 else ''} proposé{'s' if n > 1 else ''} par la structure"
            if fr
            else f"{n} time{'s' if n > 1 else ''} proposed by the service"
        )
        if d.get("times"):
            text += " (" + " ; ".join(_when(t, locale) for t in d["times"]) + ")"
        if d.get("message"):
            text += f" : « {d['message']} »" if fr else f": “{d['message']}”"
    elif kind in ("booked", "accepted") and d.get("day"):
        if d.get("arrival_to") and d.get("arrival_to") != d.get("start"):
            # A window, not an appointment: the round may move the visit inside it.
            when = (
                f"{_day(d['day'], locale)}, passage entre {d.get('start')} et {d['arrival_to']}"
                if fr
                else f"{_day(d['day'], locale)}, arriving between {d.get('start')} and"
                f" {d['arrival_to']}"
            )
        else:
            when = f"{_day(d['day'], locale)} {'à' if fr else 'at'} {d.get('start')}"
        if kind == "booked":
            text = f"Visite réservée le {when}" if fr else f"Visit booked on {when}"
        else:
            text = (
                f"Demande acceptée : visite le {when}"
                if fr
                else (f"Request accepted: visit on {when}")
            )
        if d.get("care_plan_until"):
            text += (
                f", puis plan de soins jusqu'au {_day(d['care_plan_until'], locale)}"
                if fr
                else f", then a care plan until {_day(d['care_plan_until'], locale)}"
            )
    elif kind == "accepted":
        text = (
            f"Demande acceptée : plan de soins du {_day(d.get('care_plan_from'), locale)} au"
            f" {_day(d.get('care_plan_until'), locale)}"
            if fr
            else f"Request accepted: care plan from {_day(d.get('care_plan_from'), locale)} to"
            f" {_day(d.get('care_plan_until'), locale)}"
        )
    elif kind == "declined":
        # The reason is free text, left out of e-mails: they point to the screen instead.
        reason = d.get("reason") or (
            "motif dans l'espace prescripteur" if fr else "reason in the referrer's space"
        )
        text = f"Demande refusée : {reason}" if fr else f"Request declined: {reason}"
    elif kind == "cancelled":
        who = d.get("by")
        if fr:
            text = "Demande annulée par " + (
                "le prescripteur" if who == "referrer" else "la structure"
            )
        else:
            text = "Request cancelled by " + (
                "the referrer" if who == "referrer" else "the service"
            )
        if d.get("reason"):
            text += f" : {d['reason']}" if fr else f": {d['reason']}"
        if d.get("visit_cancelled"):
            text += " (visite annulée)" if fr else " (visit cancelled)"
    elif kind == "visit_done":
        text = (
            f"Visite faite le {_day(d.get('day'), locale)}"
            if fr
            else (f"Visit done on {_day(d.get('day'), locale)}")
        )
    elif kind == "visit_missed":
        text = (
            f"La visite du {_day(d.get('day'), locale)} n'a pas pu avoir lieu : la structure"
            " vous recontactera"
            if fr
            else f"The visit of {_day(d.get('day'), locale)} could not take place: the service"
            " will contact you"
        )
    else:
        text = kind
    mail = d.get("mail")
    if mail in ("failed", "not_configured"):
        text += " (e-mail non envoyé)" if fr else " (e-mail not sent)"
    return text


_SUBJECT = {
    "submitted": ("nouvelle demande", "new request"),
    "proposed": ("créneaux proposés", "times proposed"),
    "booked": ("visite réservée", "visit booked"),
    "accepted": ("demande acceptée", "request accepted"),
    "declined": ("demande refusée", "request declined"),
    "cancelled": ("demande annulée", "request cancelled"),
    "visit_done": ("visite faite", "visit done"),
    "visit_missed": ("visite non faite", "visit missed"),
}


def mail(kind: str, referral_id: int, detail: Mapping[str, Any], url: str) -> tuple[str, str]:
    """(subject, text) of the e-mail of one step: what happened, the request's number, the
    link to the screen. No patient name, no address."""
    fr_what, en_what = _SUBJECT[kind]
    subject = (
        f"Dispatch : demande n° {referral_id}, {fr_what} / request no. {referral_id}: {en_what}"
    )
    # Free texts (a reason, a message) may name the patient: they are read on the screen only.
    plain = {k: v for k, v in detail.items() if k not in ("mail", "reason", "message")}
    line_fr = event_text(kind, plain, "fr")
    line_en = event_text(kind, plain, "en")
    text = (
        f"Bonjour,\n\nDemande n° {referral_id} : {line_fr}.\n\n"
        f"Ouvrez la demande (après connexion) :\n{url}\n\n"
        "Ce message ne contient aucune donnée de santé ; ne répondez pas par e-mail.\n\n"
        f"-- English --\n\nHello,\n\nRequest no. {referral_id}: {line_en}.\n\n"
        f"Open the request (after logging in):\n{url}\n\n"
        "This message holds no health data; do not answer by e-mail.\n"
    )
    return subject, text


def invitation(
    *,
    display_name: str,
    structure_name: str,
    inviter: str,
    url: str,
    expires: tuple[str, str],
    login: str = "",
) -> tuple[str, str]:
    """(subject, text) of a referrer's invitation: the activation link of their account."""
    subject = "Dispatch : invitation à adresser vos demandes / invitation to send your requests"
    text = (
        f"Bonjour {display_name},\n\n{inviter} ({structure_name}) vous invite à adresser vos"
        " demandes de prise en charge en ligne : vous choisirez un créneau de visite ou"
        " suivrez la réponse de la structure, sans téléphone ni fax.\n\n"
        "Ouvrez ce lien pour choisir votre mot de passe. Il ne fonctionne qu'une fois, jusqu'au"
        f" {expires[0]} (heure de Paris) ; seul le dernier lien reçu fonctionne :\n\n{url}\n\n"
        + (f"Votre identifiant de connexion : {login}\n\n" if login else "")
        + "Si vous n'attendiez pas ce message, n'ouvrez pas le lien.\n\n"
        f"-- English --\n\nHello {display_name},\n\n{inviter} ({structure_name}) invites you to"
        " send your care requests online: you will choose a visit time or follow the service's"
        " answer, without phone calls or faxes.\n\n"
        f"Open this link to choose your password. It works once, until {expires[1]} (Paris"
        f" time); only the latest link received works:\n\n{url}\n\n"
        + (f"Your login: {login}\n\n" if login else "")
        + "If you did not expect this message, do not open the link.\n"
    )
    return subject, text


def added(*, display_name: str, structure_name: str, inviter: str, url: str) -> tuple[str, str]:
    """(subject, text) telling a referrer with an account that one more structure invited
    them."""
    subject = "Dispatch : une structure de plus / one more care service"
    text = (
        f"Bonjour {display_name},\n\n{inviter} ({structure_name}) vous invite aussi à lui"
        " adresser vos demandes. Choisissez la structure dans le formulaire de demande :\n\n"
        f"{url}\n\n-- English --\n\nHello {display_name},\n\n{inviter} ({structure_name})"
        " invites you to send them your requests too. Choose the service in the request"
        f" form:\n\n{url}\n"
    )
    return subject, text
