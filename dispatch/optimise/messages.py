"""Reasons a visit is not served, as messages a coordinator can act on (French first)."""

from __future__ import annotations

from typing import Any

LOCALES = ("fr", "en")

#: code -> locale -> template; parameters are pre-formatted by :func:`render`.
MESSAGES: dict[str, dict[str, str]] = {
    "stored": {"fr": "{text}", "en": "{text}"},
    "no_team": {
        "fr": "aucune équipe n'est disponible ce jour-là : ajoutez une équipe ou changez le jour",
        "en": "no team is available that day: add a team or change the day",
    },
    "no_skill": {
        "fr": "aucune équipe n'a la compétence {skills} : affectez cette compétence à une équipe",
        "en": "no team has the skill {skills}: give this skill to a team",
    },
    "locked_team_missing": {
        "fr": "la visite est réservée à l'équipe {team}, qui n'est pas disponible : levez le verrou ou rendez l'équipe disponible",
        "en": "the visit is locked to team {team}, which is not available: unlock it or make the team available",
    },
    "locked_team_skill": {
        "fr": "la visite est réservée à l'équipe {team}, qui n'a pas la compétence {skills}",
        "en": "the visit is locked to team {team}, which lacks the skill {skills}",
    },
    "unreachable": {
        "fr": "l'adresse n'est pas accessible par la route depuis la base des équipes compatibles : vérifiez l'adresse",
        "en": "the address cannot be reached by road from the compatible teams' bases: check the address",
    },
    "window_too_short": {
        "fr": "le créneau {window} est déjà passé ou trop court pour la visite",
        "en": "the window {window} has passed or is too short for the visit",
    },
    "window_passed": {
        "fr": "le créneau {window} est déjà passé (il est {now}) : proposez un autre créneau",
        "en": "the window {window} has already passed (it is {now}): offer another slot",
    },
    "no_shift": {
        "fr": "aucune équipe{with_skills} n'est en service entre {window} (trajets compris) : élargissez le créneau ou prolongez un service",
        "en": "no team{with_skills} is on duty between {window} (travel included): widen the window or extend a shift",
    },
    "no_team_free": {
        "fr": "aucune équipe{with_skills} n'est libre entre {window} : élargissez le créneau, déplacez une visite ou ajoutez une équipe",
        "en": "no team{with_skills} is free between {window}: widen the window, move a visit or add a team",
    },
    "max_visits": {
        "fr": "les équipes{with_skills} ont atteint leur nombre maximal de visites : augmentez-le ou ajoutez une équipe",
        "en": "the teams{with_skills} have reached their maximum number of visits: raise it or add a team",
    },
    "capacity": {
        "fr": "les équipes{with_skills} n'ont plus la capacité de matériel nécessaire",
        "en": "the teams{with_skills} have no capacity left for the equipment needed",
    },
    "optional_left_out": {
        "fr": "visite facultative non planifiée : les équipes{with_skills} sont prises par des visites prioritaires entre {window}",
        "en": "optional visit not planned: the teams{with_skills} are busy with higher-priority visits between {window}",
    },
    "team_off": {
        "fr": "l'équipe {team} ne travaille plus ce jour-là (absence, repos ou départ enregistré après la tournée) : donnez la visite à une autre équipe ou optimisez la journée",
        "en": "team {team} no longer works that day (an absence, day off or departure recorded after the round): give the visit to another team or optimise the day",
    },
    "excluded_staff": {
        "fr": "les seules équipes{with_skills} disponibles sont exclues par les souhaits du patient : revoyez ces souhaits ou ajoutez une équipe",
        "en": "the only teams{with_skills} available are excluded by the patient's wishes: review those wishes or add a team",
    },
    "not_synchronised": {
        "fr": "visite à deux : ni binôme ni deux personnes{with_skills} libres à la même heure entre {window} : formez un binôme, élargissez le créneau ou libérez une seconde personne",
        "en": "two-person visit: no pair and no two people{with_skills} free at the same time between {window}: form a pair, widen the window or free a second person",
    },
    "team_unavailable": {
        "fr": "l'équipe {team} n'est plus disponible et aucune autre équipe{with_skills} n'est libre entre {window}",
        "en": "team {team} is no longer available and no other team{with_skills} is free between {window}",
    },
}


#: The skills' names as the screens show them (the patients and staff editors); a skill
#: not listed keeps its code.
SKILL_NAMES: dict[str, dict[str, str]] = {
    "insulin": {"fr": "insuline", "en": "insulin"},
    "wound_care": {"fr": "pansements", "en": "wound care"},
    "blood_test": {"fr": "prise de sang", "en": "blood test"},
    "assessment": {"fr": "évaluation", "en": "assessment"},
    "injection": {"fr": "injections", "en": "injections"},
    "hygiene": {"fr": "toilette", "en": "hygiene care"},
    "palliative": {"fr": "soins palliatifs", "en": "palliative care"},
    "infusion": {"fr": "perfusion", "en": "infusion"},
    "medication": {"fr": "médicaments", "en": "medication"},
    "catheter": {"fr": "sonde", "en": "catheter"},
    "stoma": {"fr": "stomie", "en": "stoma"},
    "medical": {"fr": "médical", "en": "medical"},
    "pain_management": {"fr": "prise en charge de la douleur", "en": "pain management"},
    "psychology": {"fr": "psychologie", "en": "psychology"},
}


def skill_name(skill: str, locale: str = "fr") -> str:
    """A skill's name in ``locale`` (its code when it has none)."""
    return SKILL_NAMES.get(skill, {}).get(locale if locale in LOCALES else "fr", skill)


def _skills(skills: list[str], locale: str) -> str:
    if locale == "fr":
        return " et ".join(f"« {skill_name(s, 'fr')} »" for s in skills)
    return " and ".join(f"'{skill_name(s, 'en')}'" for s in skills)


def render(code: str, params: dict[str, Any], locale: str = "fr") -> str:
    """The message for a reason ``code`` in ``locale`` (``fr`` unless ``en`` is asked)."""
    locale = locale if locale in LOCALES else "fr"
    template = MESSAGES.get(code, {}).get(locale)
    if template is None:
        return code
    values: dict[str, Any] = dict(params)
    skills = list(params.get("skills") or [])
    values["skills"] = _skills(skills, locale)
    if skills:
        word = "compétence" if locale == "fr" else "skill"
        values["with_skills"] = (
            f" avec la {word} {_skills(skills, locale)}"
            if locale == "fr"
            else f" with the {word} {_skills(skills, locale)}"
        )
    else:
        values["with_skills"] = ""
    windows = params.get("windows") or []
    if windows:
        sep = " et " if locale == "fr" else " and "
        alt = " ou " if locale == "fr" else " or "
        values["window"] = alt.join(f"{a}{sep}{b}" for a, b in windows)
        if code in ("window_too_short", "window_passed"):
            values["window"] = alt.join(f"{a}–{b}" for a, b in windows)
    else:
        values["window"] = "00:00 et 24:00" if locale == "fr" else "00:00 and 24:00"
    values.setdefault("team", params.get("team", ""))
    values.setdefault("now", params.get("now", ""))
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template
