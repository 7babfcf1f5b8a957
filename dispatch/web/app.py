"""create_app: binds settings, store, blueprints and Socket.IO handlers into one Flask app."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import math
import re
import sys
from typing import Any

from flask import Flask, jsonify, request
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from dispatch.errors import DispatchError, ValidationError
from dispatch.settings import Settings, load_settings
from dispatch.web import redis_bus
from dispatch.web.wire import FastPacket, OrjsonCodec

log = logging.getLogger(__name__)

#: Created unbound, bound in create_app (Flask-SocketIO's factory pattern).
socketio = SocketIO()

#: Modules that each expose ``register(app: Flask, socketio: SocketIO) -> None``. Each module
#: owns its blueprint(s) or socket handlers; the factory imports them here, never at top level.
WEB_MODULES: tuple[str, ...] = (
    "dispatch.web.api_auth",
    "dispatch.web.api_teams",
    "dispatch.web.api_visits",
    "dispatch.web.api_positions",
    "dispatch.web.api_admin",
    "dispatch.web.openapi",
    "dispatch.web.live",
    "dispatch.web.sockets",
    "dispatch.web.pages",
    "dispatch.web.api_plans",
    "dispatch.web.api_planning",
    "dispatch.web.api_dispatch",
    "dispatch.web.api_history",
    "dispatch.web.api_intake",
    "dispatch.web.api_alerts",
    "dispatch.web.api_patients",
    "dispatch.web.api_generate",
    "dispatch.web.api_staff",
    "dispatch.web.api_week",
    "dispatch.web.api_referrals",
    "dispatch.web.api_exports",
    "dispatch.web.fhir",
    "dispatch.web.headers",
    "dispatch.web.access_log",
)


#: Longest error message sent (a safety net: messages cut echoed input to 80 characters).
MAX_ERROR_CHARS = 600


def error_body(message: str, status: int, code: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of every endpoint."""
    body: dict[str, Any] = {"ok": False, "error": message, "status": status, "code": code}
    if details is not None:
        body["details"] = details
    return body


#: French for the English messages the three pages (map, phone, planner) can show, when the
#: request asks for French (``Accept-Language: fr``, which the pages send). Messages already
#: written in the request's language (the optimiser's reasons, the rounds service) pass as
#: they are; an API client that asks nothing keeps the English messages.
_FRENCH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{pattern}$"), french)
    for pattern, french in (
        (r"wrong username or password", "identifiant ou mot de passe incorrect"),
        # Referrers' requests (dispatch.referrals): what the referrer's and the coordinator's
        # pages show.
        (
            r"this slot is no longer free: choose another slot",
            "ce créneau n'est plus libre : choisissez-en un autre",
        ),
        (
            r"the place (\S+) cannot be reached by road( \(outside the territory\))?: check"
            r" the address",
            "le lieu \\1 n'est pas accessible par la route : vérifiez l'adresse",
        ),
        (r"request (\d+) does not exist", "la demande \\1 n'existe pas"),
        (
            r"request (\d+) changed meanwhile: reload it",
            "la demande \\1 a changé entre-temps : rechargez-la",
        ),
        (
            r"request (\d+) is \w+ \((.+)\): it cannot be .+ now; reload it to see its"
            r" current state",
            "la demande \\1 est \\2 : cette action n'est plus possible ; rechargez-la",
        ),
        (
            r"period_from (\S+) is over: the period starts today or later",
            "le début de la période (\\1) est passé : la période commence aujourd'hui ou après",
        ),
        (
            r"period_to (\S+) is before period_from (\S+)",
            "la fin de la période (\\1) est avant son début (\\2)",
        ),
        (
            r"period_to (\S+) is more than (\d+) days ahead: ask for a period ending by (\S+)",
            "la fin de la période (\\1) est à plus de \\2 jours : demandez une période finissant"
            " au plus tard le \\3",
        ),
        (
            r"patient birth_date (\S+) is in the future: check the date",
            "la date de naissance (\\1) est dans le futur : vérifiez-la",
        ),
        (
            r"the file is not a PDF, a PNG or a JPEG \(judged by its content\): .*",
            "le fichier n'est ni un PDF, ni un PNG, ni un JPEG (d'après son contenu) : numérisez"
            " le document en PDF ou photographiez-le (JPEG)",
        ),
        (
            r"the file is larger than (\d+) MB: scan it at a lower resolution or split it",
            "le fichier dépasse \\1 Mo : numérisez-le en plus basse résolution ou découpez-le",
        ),
        (
            r"a one-off request needs a slot: .*",
            "une demande ponctuelle a besoin d'un créneau : choisissez-en un parmi ceux proposés",
        ),
        (
            r"(\S+) is the address of a staff account: a referrer needs an address of their own",
            "\\1 est l'adresse d'un compte du personnel : un prescripteur a besoin de sa propre"
            " adresse",
        ),
        (
            r"a referrer's account opens the referrer's space \(/referrer/\) only",
            "un compte de prescripteur n'ouvre que l'espace prescripteur (/referrer/)",
        ),
        (
            r"(\d{4}-\d\d-\d\d) is over: plan from today \((\d{4}-\d\d-\d\d)\) on, the past"
            r" is not re-planned",
            "le \\1 est passé : planifiez à partir d'aujourd'hui (\\2), le passé ne se"
            " replanifie pas",
        ),
        (
            r"week planning (\w+) is still running: apply it once done",
            "la planification de la semaine n'est pas terminée : appliquez-la une fois finie",
        ),
        (
            r"week planning (\w+) failed: plan the week again",
            "la planification de la semaine a échoué : relancez-la",
        ),
        (r"week planning (\w+) does not exist", "cette planification de la semaine n'existe pas"),
        (
            r"too many (?:failed )?attempts \((\d+) in the last minute\): wait a minute and retry",
            "trop d'essais (\\1 dans la dernière minute) : attendez une minute et réessayez",
        ),
        (
            r"too many log-in attempts from this address: retry in (\d+) s",
            "trop d'essais de connexion depuis cette adresse : réessayez dans \\1 s",
        ),
        (
            r"too many log-in attempts for this user (?:from this address|from new addresses):"
            r" retry in (\d+) s",
            "trop d'essais de connexion pour cet utilisateur : réessayez dans \\1 s",
        ),
        (
            r"an administrator never sets or resets another user's password: .*",
            "un administrateur ne fixe ni ne change le mot de passe d'un autre utilisateur :"
            " donnez au compte une adresse e-mail et envoyez-lui un lien, avec lequel"
            " l'utilisateur choisit lui-même son mot de passe (sur le serveur, `dispatch user"
            " passwd NOM` fonctionne toujours)",
        ),
        (
            r"no SMTP server is configured for e-mails: .*",
            "aucun serveur d'e-mail n'est configuré : renseignez smtp_host et smtp_from dans les"
            " réglages du serveur puis redémarrez-le ; en attendant, l'exploitant du serveur crée"
            " les comptes avec `dispatch user add NOM --role RÔLE`",
        ),
        (
            r"the e-mail could not be sent through (\S+) \((.*)\): check the SMTP settings and"
            r" send the link again",
            "l'e-mail n'a pas pu être envoyé par \\1 (\\2) : vérifiez les réglages SMTP et"
            " envoyez le lien de nouveau",
        ),
        (
            r"the e-mail address of an account in use cannot be changed from this screen .*:"
            r" the server operator runs `(.+)`",
            "l'adresse e-mail d'un compte en service ne se change pas depuis cet écran (elle"
            " reçoit ses liens de mot de passe) : l'exploitant du serveur lance `\\1`",
        ),
        (
            r"you cannot change your own role or disable yourself: .*",
            "vous ne pouvez ni changer votre propre rôle ni vous désactiver : un autre"
            " administrateur ou l'exploitant du serveur le fait",
        ),
        (
            r"user (\S+) is disabled: enable the account before sending a link",
            "l'utilisateur \\1 est désactivé : réactivez le compte avant d'envoyer un lien",
        ),
        (
            r"user (\S+) has no e-mail address: the server operator sets one with `(.+)`",
            "l'utilisateur \\1 n'a pas d'adresse e-mail : l'exploitant du serveur en donne une"
            " avec `\\2`",
        ),
        (
            r"email (.+) is not an e-mail address \(marie@example.fr\)",
            "\\1 n'est pas une adresse e-mail (par exemple marie@exemple.fr)",
        ),
        (
            r"this link is unknown, expired or already used: ask an administrator to send a new"
            r" one",
            "ce lien est inconnu, a expiré ou a déjà servi : demandez à un administrateur d'en"
            " envoyer un nouveau",
        ),
        (
            r"too many link attempts from this address: retry in (\d+) s",
            "trop d'essais de liens depuis cette adresse : réessayez dans \\1 s",
        ),
        (
            r"the server is busy checking other passwords: retry in (\d+) s",
            "le serveur vérifie d'autres mots de passe : réessayez dans \\1 s",
        ),
        (
            r"your team is deactivated: .*",
            "votre équipe est désactivée : demandez au coordinateur de la réactiver ou de vous"
            " affecter à une autre équipe",
        ),
        (
            r"log in first .*",
            "connectez-vous d'abord (la session a peut-être expiré) : rechargez la page",
        ),
        (
            r"this action needs the role (.+); you are (.+)",
            "cette action demande le rôle \\1 ; votre rôle est \\2",
        ),
        (
            r"missing or wrong X-CSRF-Token header: .*",
            "la session de cette page n'est plus valide : rechargez la page",
        ),
        (
            r"this token is unknown or revoked: .*",
            "ce téléphone n'est plus associé (jeton inconnu ou révoqué) : associez-le de nouveau",
        ),
        (
            r"this pairing code is unknown, expired or already used: .*",
            "ce code d'association est inconnu, expiré ou déjà utilisé : demandez un nouveau"
            " code au coordinateur",
        ),
        (r"team (\d+) does not exist", "l'équipe \\1 n'existe pas"),
        (r"visit (\d+) does not exist", "la visite \\1 n'existe pas"),
        (r"plan (\d+) does not exist", "le plan \\1 n'existe pas"),
        (r"user (\d+) does not exist", "l'utilisateur \\1 n'existe pas"),
        (r"device (\d+) does not exist", "l'appareil \\1 n'existe pas"),
        (
            r"alert '(.+)' does not exist \(or is no longer kept\)",
            "l'alerte « \\1 » n'existe pas (ou n'est plus gardée)",
        ),
        (
            r"send a JSON body with the header 'Content-Type: application/json'",
            "la requête doit contenir un corps JSON (en-tête 'Content-Type: application/json')",
        ),
        (
            r"the day (\S+) is already being optimised: wait for that job to finish",
            "la journée \\1 est déjà en cours d'optimisation : attendez la fin du calcul",
        ),
        (
            r"optimisation job (\S+) does not exist \(finished jobs are kept one hour\)",
            "le calcul \\1 n'existe pas (les calculs terminés sont gardés une heure)",
        ),
        (
            r"time_limit_s must be a number of seconds between 0.5 and 600",
            "la durée du calcul doit être comprise entre 0,5 et 600 secondes",
        ),
        (
            r"n must be a whole number between 1 and 20",
            "le nombre de propositions doit être un entier de 1 à 20",
        ),
        (
            r"duration_s must be whole seconds between 60 and 28800",
            "la durée de la visite doit être comprise entre 1 minute et 8 heures",
        ),
        (r"duration_s is required .*", "indiquez la durée de la visite"),
        (
            r"lon and lat must be numbers .*",
            "choisissez le lieu de la visite sur la carte (longitude et latitude)",
        ),
        (
            r"position must be a whole number .*",
            "la place dans la tournée doit être un entier à partir de 0 (ou la meilleure place)",
        ),
        (
            r"visit (\d+) is not an open visit of (\S+): .*",
            "la visite \\1 n'est pas une visite ouverte du \\2 : créez-la d'abord, ou vérifiez"
            " qu'elle n'est pas annulée",
        ),
        (
            r"team (\d+) is not an active team: activate it first",
            "l'équipe \\1 n'est pas active : activez-la d'abord",
        ),
        (
            r"territory (\S+) is not built: run (.+)",
            "le territoire \\1 n'est pas construit : lancez \\2",
        ),
        (
            r"user (\S+): a team_member needs a team.*",
            "utilisateur \\1 : un membre d'équipe doit appartenir à une équipe",
        ),
        (
            r"user (\S+): only a team_member belongs to a team",
            "utilisateur \\1 : seul un membre d'équipe appartient à une équipe",
        ),
        (
            r"user '(.+)' already exists: choose another name",
            "l'utilisateur « \\1 » existe déjà : choisissez un autre nom",
        ),
        (
            r"password must be at least (\d+) characters long",
            "le mot de passe doit compter au moins \\1 caractères",
        ),
        (
            r"password must be at most (\d+) characters long",
            "le mot de passe doit compter au plus \\1 caractères",
        ),
        (
            r"(?P<label>.+): shift (\S+)-(\S+) ends before it starts",
            "\\g<label> : le service \\2-\\3 finit avant de commencer",
        ),
        (
            r"(?P<label>.+): time window (\S+)-(\S+) ends before it starts",
            "\\g<label> : le créneau \\2-\\3 finit avant de commencer",
        ),
        (
            r"(?P<label>.+): (?:base|home) (\S+) is outside the territory: choose a place in "
            r"(.+) \(longitude (\S+) to (\S+), latitude (\S+) to (\S+)\)",
            "\\g<label> : le lieu \\2 est hors du territoire : choisissez un lieu dans \\3 "
            "(longitude \\4 à \\5, latitude \\6 à \\7)",
        ),
        (
            r"(?P<label>.+): (?:base|home) (\S+) is outside the territory \(swapped\? the order "
            r"is longitude, latitude\): choose a place in (.+) \(longitude (\S+) to (\S+), "
            r"latitude (\S+) to (\S+)\)",
            "\\g<label> : le lieu \\2 est hors du territoire (inversé ? l'ordre est longitude, "
            "latitude) : choisissez un lieu dans \\3 (longitude \\4 à \\5, latitude \\6 à \\7)",
        ),
        (
            r"(?P<label>.+): (\w+) is required",
            "\\g<label> : le champ \\2 est obligatoire",
        ),
        (
            r"visit (\S+) has already started: it cannot be moved",
            "la visite \\1 a déjà commencé : elle ne peut plus être déplacée",
        ),
        (
            r"position (\d+) is outside 0\.\.(\d+) for team (\S+)",
            "la place \\1 n'existe pas dans la tournée de l'équipe \\3 (de 0 à \\2)",
        ),
        (r"visit (\S+) is not in the plan", "la visite \\1 n'est pas dans le plan"),
        (r"no such endpoint: (.+)", "adresse inconnue : \\1"),
        (r"(\S+) is not allowed on (.+)", "la méthode \\1 n'est pas permise sur \\2"),
        (
            r"(?P<label>.+): address (.+) not found in the territory: correct it or place the pin"
            r" on the map",
            "\\g<label> : adresse \\2 introuvable sur le territoire : corrigez-la ou placez"
            " l'épingle sur la carte",
        ),
        (
            r"give the address \(it is placed on the map\) or lon and lat \(the pin\)",
            "donnez l'adresse (elle est placée sur la carte) ou placez l'épingle",
        ),
        (
            r"(?P<label>.+): give the address \(it is placed on the map\) or lon and lat"
            r" \(the pin\)",
            "\\g<label> : donnez l'adresse (elle est placée sur la carte) ou placez l'épingle",
        ),
        (
            r"(?P<label>.+): the territory is not built, addresses cannot be placed: place the pin"
            r" on the map \(lon and lat\)",
            "\\g<label> : le territoire n'est pas construit, les adresses ne peuvent pas être"
            " placées : placez l'épingle sur la carte",
        ),
        (
            r"suspension: to_day (\S+) is before from_day (\S+): .*",
            "suspension : le retour \\1 est avant le départ \\2 : donnez le dernier jour"
            " d'absence, ou aucun tant qu'elle dure",
        ),
        (
            r"sharing: consent_on (\S+) is in the future: .*",
            "partage : le consentement du \\1 est dans le futur : enregistrez le partage une fois"
            " que le patient a donné son accord",
        ),
        (
            r"patient (\d+) is already shared with structure (\d+): .*",
            "le patient \\1 est déjà partagé avec la structure \\2 : révoquez ce partage avant"
            " d'enregistrer un nouveau consentement",
        ),
        (
            r"patient (\d+) was already discharged on (\S+)",
            "le patient \\1 est déjà sorti le \\2",
        ),
        (
            r"patient (\d+)'s record was erased after the retention period: .*",
            "le dossier du patient \\1 a été effacé après la durée de conservation : admettez"
            " le patient comme un nouveau dossier",
        ),
        (
            r"patient (\d+) is in care \(\w+\): .*",
            "le patient \\1 est pris en charge : seul un patient sorti peut être réadmis",
        ),
        (
            r"readmission day (\S+) is before the discharge \((\S+)\): .*",
            "la réadmission le \\1 est avant la sortie (\\2) : donnez le jour où le patient"
            " revient en soins",
        ),
        (
            r"care plan(?: \d+)?: (\S+) ends before it starts: .*",
            "plan de soins : le créneau \\1 finit avant de commencer : donnez d'abord le début,"
            " par ex. 08:00-10:00",
        ),
        (
            r"care plan(?: \d+)?: end_day (\S+) is before start_day (\S+): .*",
            "plan de soins : la fin \\1 est avant le début \\2",
        ),
        (
            r"(\d+) row\(s\) cannot be imported; nothing was imported: place their pins or leave"
            r" them out",
            "\\1 ligne(s) ne peuvent pas être importées ; rien n'a été importé : placez leurs"
            " épingles ou retirez-les",
        ),
        (
            r"(.+) is already absent from (\S+) to (\S+) \(absence (\d+)\): .*",
            "\\1 est déjà absent·e du \\2 au \\3 (absence \\4) : annulez cette absence ou"
            " choisissez d'autres jours",
        ),
        (
            r"absence: to_day (\S+) is before from_day (\S+): .*",
            "absence : le dernier jour \\1 est avant le premier \\2 : donnez le dernier jour"
            " d'absence",
        ),
        (
            r"absence: (\S+) ends before it starts: .*",
            "absence : les heures \\1 finissent avant de commencer : par ex. 13:00-15:00",
        ),
        (
            r"rotas\[(\d+)\]: weekdays '(.*)': use MO,TU,WE,TH,FR,SA,SU",
            "roulement \\1 : jour '\\2' inconnu : utilisez MO,TU,WE,TH,FR,SA,SU (lundi à dimanche)",
        ),
        (
            r"rotas\[(\d+)\]: (?:break )?(\S+) ends before it starts: .*",
            "roulement \\1 : l'horaire \\2 finit avant de commencer : par ex. 07:00-15:00",
        ),
        (
            r"rotas: (\d+) rotas start on (\S+): .*",
            "\\1 roulements commencent le \\2 : gardez-en un par jour de début",
        ),
        (
            r"absence (\d+) was cancelled: there is nothing to replan",
            "l'absence \\1 a été annulée : il n'y a rien à réaffecter",
        ),
        (
            r"give structure_id: you work for several structures \(([0-9, ]+)\)",
            "choisissez la structure : vous travaillez pour plusieurs structures (\\1)",
        ),
        (
            r"structure (\d+) is not one of yours \(([0-9, ]*)\)",
            "la structure \\1 n'est pas l'une des vôtres (\\2)",
        ),
        (
            r"this account belongs to no structure: ask an administrator to add it to one",
            "ce compte n'appartient à aucune structure : demandez à un administrateur de l'y"
            " ajouter",
        ),
        (
            r"internal error: the incident was logged",
            "erreur interne : l'incident est enregistré, réessayez ou prévenez l'administrateur",
        ),
    )
)


#: The labels that open the store's validation messages ("line 5: ...", "team 'A': ...").
_FRENCH_LABELS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), french)
    for pattern, french in (
        (r"\bline (\d+)", "ligne \\1"),
        (r"\bteam\b", "équipe"),
        (r"\bvisit\b", "visite"),
        (r"\buser\b", "utilisateur"),
        (r"\bposition (\d+)", "position \\1"),
    )
)


def request_locale() -> str:
    """ "fr" when the request asks for French first (the pages send their language), else "en"."""
    if not request.headers.get("Accept-Language"):
        return "en"
    return request.accept_languages.best_match(["en", "fr"]) or "en"


def localise(message: str, locale: str) -> str:
    """``message`` in ``locale``: the French of a known English message (else unchanged)."""
    if locale != "fr":
        return message
    for pattern, french in _FRENCH:
        match = pattern.match(message)
        if match:
            text = match.expand(french)
            label = match.groupdict().get("label")
            if label:
                french_label = label
                for word, replacement in _FRENCH_LABELS:
                    french_label = word.sub(replacement, french_label)
                text = french_label + text[len(label) :]
            return text
    return message


def localised(body: dict[str, Any]) -> dict[str, Any]:
    """An error body with its message in the request's language."""
    body["error"] = localise(str(body.get("error", "")), request_locale())
    return body


#: Generation-0 threshold of the cyclic garbage collector while serving (default 700). A full
#: collection walks every object the server holds; at 2,000 reports a second the default
#: thresholds made such pauses the tail of the report-to-map latency (gevent server, p99
#: 186-370 ms against 82 ms with these values, `dispatch bench live`).
GC_THRESHOLDS = (50_000, 20, 1000)


def tune_gc() -> None:
    """For a long-running server: freeze what start-up allocated and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def missing_for_gevent() -> list[str]:
    """The modules the gevent server needs that are missing (dependencies of dispatch)."""
    return [m for m in ("gevent", "geventwebsocket") if importlib.util.find_spec(m) is None]


def gevent_patched() -> bool:
    """True in a process gevent patched first (where Socket.IO may run in gevent mode)."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("threading") and monkey.is_module_patched("socket"))


def create_app(settings: Settings | None = None, **extensions: Any) -> Flask:
    """Build the Flask application for ``settings`` (default: :func:`load_settings`).

    ``extensions`` are put in ``app.extensions`` as they are (tests pass a ready store).
    """
    settings = settings or load_settings()
    # Socket.IO's gevent mode needs a process gevent patched before any import (`dispatch
    # serve` restarts itself so); an app built in an ordinary process (tests, scripts, a WSGI
    # host's threads) serves in threading mode, whatever the `server` setting.
    async_mode = "gevent" if settings.server == "gevent" and gevent_patched() else "threading"
    app = Flask(__name__, static_folder=None)
    app.config["SECRET_KEY"] = settings.flask_secret()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions["dispatch.settings"] = settings
    app.extensions.update(extensions)

    @app.errorhandler(DispatchError)
    def _dispatch_error(exc: DispatchError):  # type: ignore[no-untyped-def]
        headers = {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        body = exc.to_dict()
        # Messages quote the client's input: never send back more than a readable sentence.
        if len(body["error"]) > MAX_ERROR_CHARS:
            body["error"] = body["error"][: MAX_ERROR_CHARS - 1] + "…"
        return jsonify(localised(body)), exc.status, headers

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        # Keep the headers clients act on: Allow on a 405 (RFC 9110), Retry-After.
        headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
        return jsonify(localised(error_body(message, status, code))), status, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = error_body("internal error: the incident was logged", 500, "internal")
        return jsonify(localised(body)), 500

    for module_name in WEB_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(app, socketio)

    message_queue = settings.redis_url or None
    if message_queue and importlib.util.find_spec("redis") is None:
        # Without the client library Flask-SocketIO would only log the failure, and events
        # would silently stay inside each process.
        raise ValidationError(
            f"redis_url is set ({message_queue}) but the redis package is not installed: "
            "pip install 'dispatch[redis]'"
        )
    socketio.init_app(
        app,
        async_mode=async_mode,
        message_queue=message_queue,
        # Redis back within 2 s of an outage, then this process's pages reload their snapshot.
        client_manager=redis_bus.client_manager(message_queue, app),
        # No cors_allowed_origins: the default accepts only the server's own origin, so a page
        # on another origin cannot open a socket with a coordinator's session cookie.
        json=OrjsonCodec,
        serializer=FastPacket,
    )
    # Security headers around the whole WSGI stack, Socket.IO's answers included.
    from dispatch.web import headers

    headers.wrap(app)
    return app


def get_settings() -> Settings:
    """The Settings of the current app (inside a request or app context)."""
    from flask import current_app

    settings: Settings = current_app.extensions["dispatch.settings"]
    return settings
