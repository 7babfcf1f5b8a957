"""What the rounds service tells a coordinator, in French and in English."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "confirm_dropped.one": {
        "fr": "ce changement retire une visite déjà planifiée : {names}. Confirmez son retrait "
        "en la nommant (confirm_dropped) pour l'appliquer",
        "en": "this change takes a planned visit out of the rounds: {names}. Confirm its "
        "removal by naming it (confirm_dropped) to apply it",
    },
    "confirm_dropped.other": {
        "fr": "ce changement retire {n} visites déjà planifiées : {names}. Confirmez leur "
        "retrait en les nommant (confirm_dropped) pour l'appliquer",
        "en": "this change takes {n} planned visits out of the rounds: {names}. Confirm "
        "their removal by naming them (confirm_dropped) to apply it",
    },
    "confirm_violations": {
        "fr": "ce changement enfreint des contraintes : {what}. Confirmez pour l'appliquer quand "
        "même (force)",
        "en": "this change breaks constraints: {what}. Confirm to apply it anyway (force)",
    },
    "stale_plan": {
        "fr": "la journée a changé depuis ce calcul (version {version}, par {by}) et les deux "
        "changements touchent les mêmes équipes : relancez l'optimisation",
        "en": "the day changed since this proposal was computed (version {version}, by {by}) "
        "and both changes touch the same teams: optimise again",
    },
    "already_applied": {
        "fr": "le plan {plan} n'est plus une proposition (déjà appliqué ou remplacé)",
        "en": "plan {plan} is no longer a proposal (already applied or replaced)",
    },
    "already_planned": {
        "fr": "la visite {visit} est déjà dans la tournée de {team} : déplacez-la plutôt",
        "en": "visit {visit} is already in {team}'s round: move it instead",
    },
    "not_inserted": {
        "fr": "la visite {visit} n'a pu être insérée : {reason}",
        "en": "visit {visit} could not be inserted: {reason}",
    },
    "position_out": {
        "fr": "la place {position} n'existe pas dans la tournée de {team} ({n} visite(s)) : "
        "choisissez une place de 0 à {n}",
        "en": "place {position} does not exist in {team}'s round ({n} visit(s)): choose a "
        "place from 0 to {n}",
    },
    "two_person_move": {
        "fr": "visite à deux {visit} : une seule personne ne peut la faire, elle resterait à "
        "moitié servie ; déplacez-la avec l'optimisation de la journée, ou vers un binôme",
        "en": "two-person visit {visit}: one person cannot do it alone, it would be left half "
        "served; move it with the day's optimisation, or to a pair",
    },
    "position_done": {
        "fr": "{team} a déjà fait ou commencé les visites jusqu'à {after} : placez la visite après",
        "en": "{team} has already done or started its visits up to {after}: place the visit "
        "after it",
    },
    "unroutable.team.outside": {
        "fr": "la base de l'équipe {name} ({place}) est hors de {territory} : l'équipe reste "
        "hors de la planification tant que sa base n'est pas corrigée",
        "en": "the base of team {name} ({place}) is outside {territory}: the team is left out "
        "of planning until its base is corrected",
    },
    "unroutable.team.no_road": {
        "fr": "la base de l'équipe {name} ({place}) est trop loin des routes de {territory} : "
        "l'équipe reste hors de la planification tant que sa base n'est pas corrigée",
        "en": "the base of team {name} ({place}) is too far from the roads of {territory}: the "
        "team is left out of planning until its base is corrected",
    },
    "unroutable.visit.outside": {
        "fr": "le domicile de la visite {name} ({place}) est hors de {territory} : elle ne peut "
        "être planifiée tant que son lieu n'est pas corrigé",
        "en": "the home of visit {name} ({place}) is outside {territory}: it cannot be planned "
        "until its place is corrected",
    },
    "unroutable.visit.no_road": {
        "fr": "le domicile de la visite {name} ({place}) est trop loin des routes de {territory} "
        ": elle ne peut être planifiée tant que son lieu n'est pas corrigé",
        "en": "the home of visit {name} ({place}) is too far from the roads of {territory}: it "
        "cannot be planned until its place is corrected",
    },
    "unroutable.team.off": {
        "fr": "l'équipe {name} ne travaille pas le {day} d'après le planning de son personnel : "
        "elle reste hors de la planification ce jour-là",
        "en": "team {name} does not work on {day} according to its staff's rota: it is left "
        "out of planning that day",
    },
    "unroutable.team.absent": {
        "fr": "l'équipe {name} est absente le {day} ({absence}) : elle reste hors de la "
        "planification ce jour-là",
        "en": "team {name} is absent on {day} ({absence}): it is left out of planning that day",
    },
    "unroutable.team.no_base": {
        "fr": "l'équipe {name} n'a pas de point de départ : elle reste hors de la planification "
        "tant que sa base n'est pas donnée",
        "en": "team {name} has no base to start from: it is left out of planning until its "
        "base is given",
    },
    "no_team_works": {
        "fr": "aucune équipe ne travaille le {day} : {who} : vérifiez les rotas et les absences "
        "du personnel",
        "en": "no team works on {day}: {who}: check the rotas and absences of the staff",
    },
    "off": {"fr": "repos", "en": "off"},
    "absence.leave": {"fr": "congé", "en": "leave"},
    "absence.sickness": {"fr": "arrêt maladie", "en": "sick leave"},
    "absence.training": {"fr": "formation", "en": "training"},
    "not_today": {
        "fr": "{day} n'est pas aujourd'hui : un retard ne se déclare que le jour même",
        "en": "{day} is not today: a delay is only reported on the day",
    },
}


def text(key: str, locale: str, **values: object) -> str:
    """The message ``key`` in ``locale`` ("fr" or "en"), filled with ``values``; a key with
    ``.one`` and ``.other`` forms takes the one that agrees with ``n``."""
    if key not in _TEXTS:
        key = f"{key}.one" if values.get("n") == 1 else f"{key}.other"
    entry = _TEXTS[key]
    return entry.get(locale, entry["fr"]).format(**values)
