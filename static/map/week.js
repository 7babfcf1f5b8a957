// The coordinator's week (/week/): a row per member of staff, a column per day, with the
// shift, absence, visits and hours of each day and the week's hours against the contract; a
// cell opens that day's round on the map. Staff are added and edited here (contract, rota),
// absences entered with their impact shown before saving, and their replanning proposed.
// Visits of the coming 14 days are generated from the care plans with one button.
// French first, English complete; REST calls through common.js (session cookie and CSRF).
import { ApiError, escapeHtml, shiftSpans } from "/static/map/common.js";
import { createSession } from "/static/map/session.js";
import { apply, extend, getLocale, onChange, t, toggle } from "/static/map/i18n.js";
import { openFeed, renderExports, renderFeedTexts, setupExports } from "/static/map/week-exports.js";

extend({
  fr: {
    "week.title": "Dispatch — semaine",
    "week.brand": "Dispatch — semaine",
    "week.nav.map": "Carte des équipes",
    "week.nav.patients": "Patients",
    "week.nav.admin": "Gestion",
    "week.nav.label": "Choix de la semaine",
    "week.heading": "Semaine du {from} au {to}",
    "week.caption": "Personnel et jours de la semaine du {from} au {to} : horaires, absences, visites et heures ; dernière colonne, heures de la semaine comparées au contrat.",
    "week.prev": "Semaine précédente",
    "week.next": "Semaine suivante",
    "week.current": "Cette semaine",
    "week.pick": "Aller à la semaine du",
    "week.staff.new": "Nouveau membre du personnel",
    "week.absence.new": "Saisir une absence",
    "week.generate": "Générer 14 jours",
    "week.generate.hint": "Crée les visites des plans de soins pour les 14 prochains jours (sans doublon, les visites modifiées à la main sont gardées).",
    "week.generate.running": "Génération des visites des 14 prochains jours…",
    "week.generate.done": "Visites du {from} au {to} : {created} créée(s), {updated} mise(s) à jour, {unchanged} inchangée(s), {cancelled} annulée(s).",
    "week.empty": "Aucun membre du personnel pour l'instant : ajoutez le premier avec « Nouveau membre du personnel ».",
    "week.legend": "Chaque case mène à la tournée de ce jour sur la carte. Les heures de la semaine sont comparées au contrat de la semaine entière (sans déduire les absences) : ▲ au-dessus, ▼ en dessous, ✓ dans le contrat (à une heure près). L'onglet « Heures et contrats » compare, lui, au contrat dû d'après le roulement, absences déduites.",
    "week.loading": "Chargement de la semaine…",
    "week.col.staff": "Personnel",
    "week.col.hours": "Heures prévues / contrat de la semaine",
    "week.today": "aujourd'hui",
    "week.unassigned": "Visites sans équipe",
    "week.unassigned.n.one": "{n} sans équipe",
    "week.unassigned.n.other": "{n} sans équipe",
    "week.unassigned.none": "aucune",
    "week.unassigned.more": " le {day} : voir la carte du jour",
    "week.off": "Repos",
    "week.visits.zero": "aucune visite",
    "week.reassign.one": "⚠ {n} visite à réaffecter",
    "week.reassign.other": "⚠ {n} visites à réaffecter",
    "week.visits.one": "{n} visite",
    "week.visits.other": "{n} visites",
    "week.hours": "{h} h",
    "week.cell.label": "{name}, {day} : ",
    "week.cell.open": "Tournée de {name}, {day}",
    "week.hours.of": "{h} h / {c} h",
    "week.hours.visits": "dont {h} h de visites",
    "week.hours.over": "▲ {d} h au-dessus du contrat",
    "week.hours.under": "▼ {d} h sous le contrat",
    "week.hours.ok": "✓ dans le contrat",
    "week.edit": "Modifier",
    "week.edit.label": "Modifier {name}",
    "week.absence": "Absence",
    "week.absence.label": "Saisir une absence pour {name}",
    "week.inactive": "retiré du planning",
    "week.save": "Enregistrer",
    "week.cancel": "Annuler",
    "week.close": "Fermer",
    "week.whoami": "{name} ({role})",
    "week.role.coordinator": "coordination",
    "week.role.planner": "planification",
    "week.login.title": "Connexion coordinateur",
    "week.login.failed": "Identifiant ou mot de passe incorrect.",
    "week.login.role": "Cet écran est réservé aux coordinateurs et aux planificateurs.",
    "week.error.server": "Refusé par le serveur : {error}",
    "week.error.network": "Le serveur ne répond pas : réessayez dans un instant.",
    "week.error.forbidden": "Votre rôle ne permet pas cette action.",
    "job.nurse": "Infirmier·e",
    "job.care_aide": "Aide-soignant·e",
    "job.doctor": "Médecin",
    "job.psychologist": "Psychologue",
    "job.other": "Autre métier",
    "gender.none": "Non précisé",
    "gender.female": "Femme",
    "gender.male": "Homme",
    "staff.new": "Nouveau membre du personnel",
    "staff.edit": "Modifier : {name}",
    "staff.structure": "Structure",
    "staff.name": "Nom",
    "staff.job": "Métier",
    "staff.gender": "Genre (vœux des patients)",
    "staff.skills": "Compétences (séparées par des virgules)",
    "staff.skills.hint": "Par exemple : hygiene, insulin, wound_care",
    "staff.contract": "Contrat (heures par semaine)",
    "staff.rota": "Roulement",
    "staff.rota.weekly": "Jours fixes de la semaine",
    "staff.rota.cycle": "Cycle : jours travaillés puis jours de repos",
    "staff.rota.days": "Jours travaillés",
    "staff.rota.on": "Jours travaillés",
    "staff.rota.off": "Jours de repos",
    "staff.rota.start": "À partir du",
    "staff.rota.start.hint": "Pour un cycle, le premier jour travaillé du cycle.",
    "staff.rota.kept": "Roulement actuel : {text}. Il reste tel quel tant que vous ne changez pas ces champs.",
    "staff.rota.complex": "roulement sur mesure de {n} jours",
    "staff.rota.weekly.text": "{days}, {shift}, depuis le {day}",
    "staff.rota.cycle.text": "{on} jours travaillés, {off} de repos, {shift}, depuis le {day}",
    "staff.shift.start": "Début de service",
    "staff.shift.end": "Fin de service",
    "staff.break.start": "Pause : début (facultatif)",
    "staff.break.end": "Pause : fin",
    "staff.absences": "Absences à venir",
    "staff.absences.none": "Aucune absence à venir.",
    "staff.absence.item": "{kind} du {from} au {to}",
    "staff.absence.item.one": "{kind} le {day}",
    "staff.absence.part": "{text}, de {start} à {end}",
    "staff.absence.cancel": "Annuler l'absence",
    "staff.absence.cancel.label": "Annuler l'absence : {text}",
    "staff.absence.cancelled": "Absence annulée : {text}.",
    "staff.absence.cancelled.of": "Absence de {name} annulée : {text}.",
    "staff.absence.confirm.title": "Annuler l'absence de {name} ?",
    "staff.absence.confirm.text": "{text}. Ses jours de service reviennent dans la semaine ; les tournées déjà réaffectées ne changent pas d'elles-mêmes.",
    "staff.absence.confirm.ok": "Annuler l'absence",
    "staff.absence.confirm.keep": "Garder l'absence",
    "staff.created": "{name} ajouté·e au personnel.",
    "staff.saved": "Modifications enregistrées : {name}.",
    "staff.error.name": "Donnez le nom de la personne.",
    "staff.error.contract": "Contrat : un nombre d'heures par semaine, de 0 à 80.",
    "staff.error.days": "Cochez au moins un jour travaillé.",
    "staff.error.cycle": "Cycle : au moins un jour travaillé et un jour de repos.",
    "staff.error.start": "Donnez le jour où ce roulement commence.",
    "staff.error.shift": "La fin de service doit venir après le début.",
    "staff.error.break": "La pause doit avoir un début et une fin, dans les heures de service.",
    "staff.error.skills": "Compétence « {skill} » : lettres minuscules, chiffres, _ ou - seulement.",
    "departure.open": "Départ",
    "departure.open.label": "Départ de {name}",
    "departure.title": "Départ de {name}",
    "departure.last_day": "Dernier jour travaillé",
    "departure.hint": "Au plus tard aujourd'hui : un départ à venir s'enregistre le jour même. D'ici là, une absence retire la personne du planning.",
    "departure.effect": "Après le {day}, {name} n'est plus au planning : ses visites à partir du {first} qui ne sont ni commencées ni faites perdent leur équipe, et ses binômes prennent fin.",
    "departure.save": "Enregistrer le départ",
    "departure.error.day": "Donnez le dernier jour travaillé.",
    "departure.error.future": "Le dernier jour travaillé ne peut pas venir après aujourd'hui : enregistrez le départ ce jour-là ; d'ici là, saisissez une absence.",
    "departure.confirm.title": "Confirmer le départ de {name} ?",
    "departure.confirm.text": "{name} quitte le service après le {day}. Ses visites à partir du {first}, ni commencées ni faites, perdront leur équipe et seront à replanifier ; ses binômes prendront fin et son nom sortira du planning.",
    "departure.confirm.ok": "Confirmer le départ",
    "departure.confirm.keep": "Ne rien changer",
    "departure.running": "Enregistrement du départ…",
    "departure.done": "{name} a quitté le service le {day} : {visits}{pairs}.",
    "departure.visits.zero": "aucune visite à replanifier",
    "departure.visits.one": "{n} visite à replanifier",
    "departure.visits.other": "{n} visites à replanifier",
    "departure.pairs.one": ", {n} binôme terminé",
    "departure.pairs.other": ", {n} binômes terminés",
    "wd.MO": "lundi", "wd.TU": "mardi", "wd.WE": "mercredi", "wd.TH": "jeudi", "wd.FR": "vendredi", "wd.SA": "samedi", "wd.SU": "dimanche",
    "wds.MO": "lun.", "wds.TU": "mar.", "wds.WE": "mer.", "wds.TH": "jeu.", "wds.FR": "ven.", "wds.SA": "sam.", "wds.SU": "dim.",
    "absence.title": "Saisir une absence",
    "absence.staff": "Membre du personnel",
    "absence.kind": "Motif",
    "absence.from": "Du",
    "absence.to": "Au (inclus)",
    "absence.note": "Note (facultatif)",
    "absence.part": "Une partie de la journée seulement",
    "absence.part.start": "Absent·e de",
    "absence.part.end": "À",
    "absence.part.order": "La fin de l'absence doit venir après son début.",
    "absence.save": "Enregistrer l'absence",
    "absence.replan": "Proposer la réaffectation",
    "absence.kind.leave": "Congé",
    "absence.kind.sickness": "Maladie",
    "absence.kind.training": "Formation",
    "absence.checking": "Calcul des visites touchées…",
    "absence.none": "Aucune visite n'est prévue pour cette personne sur ces jours.",
    "absence.day": "{day} : {visits}",
    "absence.need": "Choisissez la personne et les jours d'absence.",
    "absence.order": "Le dernier jour d'absence doit venir après le premier.",
    "absence.saved": "Absence enregistrée : {text}",
    "absence.replan.running": "Recherche d'une réaffectation, jour par jour…",
    "absence.replan.done": "Propositions prêtes : vérifiez chaque jour sur la carte, puis appliquez-les.",
    "absence.replan.day": "{day} : {moved} réaffectée(s), {unassigned} sans équipe",
    "absence.replan.dropped": "{day} : {moved} réaffectée(s), {unassigned} sans équipe, {dropped} retirée(s) d'autres tournées — à vérifier",
    "absence.capacity": "{day} : reste {left} h de travail pour {need} h de visites",
    "absence.replan.open": "Vérifier sur la carte",
    "absence.replan.open.more": " : proposition du {day}",
    "absence.replan.open.day": " : {day}",
    "absence.replan.failed": "{day} : pas de proposition, {unassigned} visite(s) à réaffecter à la main ({error})",
    "absence.replan.none": "Aucune visite à réaffecter.",
    "views.label": "Vues de la semaine",
    "views.grid": "Planning",
    "views.continuity": "Continuité des soins",
    "views.hours": "Heures et contrats",
    "views.scope": "Structure (continuité, heures, planification)",
    "views.loading": "Chargement…",
    "plan.start": "Planifier la semaine",
    "plan.hint": "Propose les tournées du {from} au {to} (continuité des soins, heures des contrats, trajets) ; rien ne change avant « Appliquer la semaine ».",
    "plan.hint.of": "Propose les tournées de « {structure} » du {from} au {to} (continuité des soins, heures des contrats, trajets) ; rien ne change avant « Appliquer la semaine ».",
    "plan.hint.past": "Cette semaine est passée : rien à planifier.",
    "plan.options": "Réglages de la planification",
    "plan.weight": "Poids de la continuité des soins (minutes de trajet)",
    "plan.weight.hint": "Ce que coûte chaque intervenant de plus chez un patient, ou un changement d'un jour au suivant, en minutes de trajet : plus il est fort, plus chaque patient garde les mêmes soignants. Vide : le réglage du service.",
    "plan.weight.error": "Poids de la continuité : un nombre entier de minutes, de 0 à 1440 (ou vide).",
    "plan.title": "Planification de la semaine",
    "plan.title.range": "Planification du {from} au {to}",
    "plan.progress": "Avancement",
    "plan.progress.text": "{done} jour(s) planifié(s) sur {total}",
    "plan.starting": "Planification demandée…",
    "plan.running": "Planification en cours : {done} jour(s) sur {total}…",
    "plan.done": "Proposition prête : comparez-la au plan actuel, vérifiez les jours sur la carte, puis appliquez-la ou abandonnez-la.",
    "plan.failed": "La planification a échoué : {error}",
    "plan.cmp.caption": "Comparaison avec le plan actuel, du {from} au {to}",
    "plan.cmp.metric": "Indicateur",
    "plan.cmp.current": "Plan actuel",
    "plan.cmp.proposed": "Proposition",
    "plan.cmp.change": "Différence",
    "plan.m.planned": "Visites planifiées",
    "plan.m.unassigned": "Visites sans équipe",
    "plan.m.travel_s": "Temps de trajet",
    "plan.m.distinct_staff_per_patient": "Intervenants différents par patient (moyenne)",
    "plan.m.max_contract_excess_pct": "Dépassement maximal d'un contrat",
    "plan.m.hours_spread_h": "Écart d'heures entre les personnes",
    "plan.m.violations": "Règles enfreintes",
    "plan.better": "{d} : mieux",
    "plan.worse": "{d} : moins bien",
    "plan.same": "= identique",
    "plan.days.caption": "Proposition jour par jour : brouillons à vérifier sur la carte",
    "plan.days.day": "Jour",
    "plan.days.visits": "Visites",
    "plan.days.unassigned": "Sans équipe",
    "plan.days.travel": "Trajet : proposé (actuel)",
    "plan.days.moved": "Changent d'équipe",
    "plan.days.review": "Vérifier",
    "plan.days.open": "Voir sur la carte",
    "plan.days.open.more": " : proposition du {day}",
    "plan.days.error": "pas de proposition : {error}",
    "plan.days.applied": "✓ appliqué",
    "plan.days.refused": "✗ refusé",
    "plan.days.waiting": "en attente de votre confirmation : {n} visite(s) retirée(s) de tournées publiées",
    "plan.hint.waiting": "Une proposition attend ci-dessous : appliquez-la ou abandonnez-la avant d'en demander une autre.",
    "plan.days.drops": "à confirmer avant publication : {n} visite(s) retirée(s) de tournées publiées",
    "plan.days.take": "Appliquer",
    "plan.days.take.label": "Appliquer le {day}",
    "plan.days.none": "Cochez au moins un jour à appliquer.",
    "plan.checking": "Vérification des visites que chaque jour retire des tournées publiées…",
    "plan.waiting": "Rien n'est encore publié : {m} jour(s) attendent votre confirmation (voir ci-dessous).",
    "plan.m.none": "pas de plan actuel",
    "plan.apply": "Appliquer la semaine",
    "plan.confirm.ok": "Confirmer et appliquer",
    "plan.discard": "Abandonner",
    "plan.close": "Fermer",
    "plan.applying": "Publication des tournées, jour par jour…",
    "plan.applied": "Semaine appliquée : {n} jour(s) publié(s).",
    "plan.applied.part": "{n} jour(s) publié(s), {m} refusé(s) ou en attente : voir ci-dessous.",
    "plan.refused": "{day} : {message}",
    "plan.confirm.title": "Visites retirées des tournées",
    "plan.confirm.text": "La proposition laisse sans équipe {n} visite(s) qui sont aujourd'hui dans une tournée publiée. Rien n'est publié avant votre confirmation : vérifiez-les, puis « Confirmer et appliquer », décochez ces jours, ou abandonnez.",
    "plan.confirm.item": "{day} : {label}",
    "plan.confirm.reason": "{text} ({reason})",
    "plan.discarded": "Proposition abandonnée : les tournées publiées restent telles quelles.",
    "plan.discarded.part": "Proposition abandonnée : les {n} jour(s) déjà appliqué(s) restent publiés, les autres jours restent tels quels.",
    "cont.search": "Chercher un patient ou un soignant",
    "cont.many": "Seulement les patients vus par plus de 2 personnes",
    "cont.legend": "Nombre de personnes différentes venues chez chaque patient cette semaine, d'après les tournées publiées. Au-delà de 2, la ligne est signalée par « ⚠ plus de 2 ».",
    "cont.caption": "Continuité des soins du {from} au {to} : personnes différentes venues chez chaque patient",
    "cont.col.patient": "Patient",
    "cont.col.visits": "Visites",
    "cont.col.distinct": "Intervenants différents",
    "cont.col.staff": "Qui (nombre de visites)",
    "cont.flag": "⚠ plus de 2",
    "cont.summary": "{n} patient(s) ; {d} intervenant(s) différent(s) par patient en moyenne ; {m} vu(s) par plus de 2 personnes.",
    "cont.shown": " {shown} affiché(s).",
    "cont.empty": "Aucune visite publiée cette semaine.",
    "cont.nomatch": "Aucun patient ne correspond à ces filtres.",
    "cont.staff.item": "{name} ({n})",
    "sort.asc": "croissant",
    "sort.desc": "décroissant",
    "hours.caption": "Heures du {from} au {to} comparées au contrat, personne par personne",
    "hours.col.staff": "Personnel",
    "hours.col.contract": "Contrat dû (absences déduites)",
    "hours.col.rota": "Roulement",
    "hours.col.planned": "Prévu (tournées)",
    "hours.col.excess": "Écart au contrat",
    "hours.h": "{h} h",
    "hours.pct": "{p} %",
    "hours.over": "▲ {p} au-dessus du contrat",
    "hours.over.limit": "▲ {p} au-dessus du contrat : plus de 10 %",
    "hours.under": "▼ {p} sous le contrat",
    "hours.ok": "✓ dans le contrat",
    "hours.summary": "{n} personne(s) ; dépassement maximal d'un contrat : {p} ; {m} au-delà de 10 %.",
    "hours.empty": "Personne au planning cette semaine.",
    "hours.legend": "Contrat dû : la part du contrat qui tombe sur ces jours d'après le roulement, absences (congés, maladie, formation) déduites — la grille de la semaine montre, elle, le contrat hebdomadaire entier. Heures prévues : du départ au retour de chaque tournée publiée, moins les pauses du roulement. Écart : heures prévues comparées au contrat dû, en pourcentage ; ▲ au-dessus, ▼ en dessous, ✓ dans le contrat.",
  },
  en: {
    "week.title": "Dispatch — week",
    "week.brand": "Dispatch — week",
    "week.nav.map": "Team map",
    "week.nav.patients": "Patients",
    "week.nav.admin": "Management",
    "week.nav.label": "Choice of week",
    "week.heading": "Week of {from} to {to}",
    "week.caption": "Staff and days of the week of {from} to {to}: shifts, absences, visits and hours; last column, the week's hours against the contract.",
    "week.prev": "Previous week",
    "week.next": "Next week",
    "week.current": "This week",
    "week.pick": "Go to the week of",
    "week.staff.new": "New staff member",
    "week.absence.new": "Enter an absence",
    "week.generate": "Generate 14 days",
    "week.generate.hint": "Creates the care plans' visits for the coming 14 days (no duplicates; visits edited by hand are kept).",
    "week.generate.running": "Generating the visits of the coming 14 days…",
    "week.generate.done": "Visits from {from} to {to}: {created} created, {updated} updated, {unchanged} unchanged, {cancelled} cancelled.",
    "week.empty": "No staff yet: add the first with “New staff member”.",
    "week.legend": "Each cell opens that day's round on the map. The week's hours are compared with the whole week's contract (absences not taken off): ▲ above, ▼ below, ✓ within the contract (to an hour). The “Hours and contracts” tab compares with the contract owed by the rota, absences taken off.",
    "week.loading": "Loading the week…",
    "week.col.staff": "Staff",
    "week.col.hours": "Rostered hours / weekly contract",
    "week.today": "today",
    "week.unassigned": "Visits without a team",
    "week.unassigned.n.one": "{n} without a team",
    "week.unassigned.n.other": "{n} without a team",
    "week.unassigned.none": "none",
    "week.unassigned.more": " on {day}: see the day's map",
    "week.off": "Day off",
    "week.visits.zero": "no visit",
    "week.reassign.one": "⚠ {n} visit to reassign",
    "week.reassign.other": "⚠ {n} visits to reassign",
    "week.visits.one": "{n} visit",
    "week.visits.other": "{n} visits",
    "week.hours": "{h} h",
    "week.cell.label": "{name}, {day}: ",
    "week.cell.open": "{name}'s round, {day}",
    "week.hours.of": "{h} h / {c} h",
    "week.hours.visits": "of which {h} h of visits",
    "week.hours.over": "▲ {d} h above the contract",
    "week.hours.under": "▼ {d} h below the contract",
    "week.hours.ok": "✓ within the contract",
    "week.edit": "Edit",
    "week.edit.label": "Edit {name}",
    "week.absence": "Absence",
    "week.absence.label": "Enter an absence for {name}",
    "week.inactive": "off the planning",
    "week.save": "Save",
    "week.cancel": "Cancel",
    "week.close": "Close",
    "week.whoami": "{name} ({role})",
    "week.role.coordinator": "coordination",
    "week.role.planner": "planning",
    "week.login.title": "Coordinator login",
    "week.login.failed": "Wrong username or password.",
    "week.login.role": "This screen is for coordinators and planners.",
    "week.error.server": "Refused by the server: {error}",
    "week.error.network": "The server does not answer: try again in a moment.",
    "week.error.forbidden": "Your role does not allow this action.",
    "job.nurse": "Nurse",
    "job.care_aide": "Care aide",
    "job.doctor": "Doctor",
    "job.psychologist": "Psychologist",
    "job.other": "Other job",
    "gender.none": "Not given",
    "gender.female": "Woman",
    "gender.male": "Man",
    "staff.new": "New staff member",
    "staff.edit": "Edit: {name}",
    "staff.structure": "Structure",
    "staff.name": "Name",
    "staff.job": "Job",
    "staff.gender": "Gender (patients' wishes)",
    "staff.skills": "Skills (separated by commas)",
    "staff.skills.hint": "For example: hygiene, insulin, wound_care",
    "staff.contract": "Contract (hours per week)",
    "staff.rota": "Rota",
    "staff.rota.weekly": "Fixed days of the week",
    "staff.rota.cycle": "Cycle: days on, then days off",
    "staff.rota.days": "Days worked",
    "staff.rota.on": "Days on",
    "staff.rota.off": "Days off",
    "staff.rota.start": "From",
    "staff.rota.start.hint": "For a cycle, the first day on of the cycle.",
    "staff.rota.kept": "Current rota: {text}. It stays as it is unless you change these fields.",
    "staff.rota.complex": "custom rota of {n} days",
    "staff.rota.weekly.text": "{days}, {shift}, since {day}",
    "staff.rota.cycle.text": "{on} days on, {off} off, {shift}, since {day}",
    "staff.shift.start": "Shift start",
    "staff.shift.end": "Shift end",
    "staff.break.start": "Break: start (optional)",
    "staff.break.end": "Break: end",
    "staff.absences": "Coming absences",
    "staff.absences.none": "No coming absence.",
    "staff.absence.item": "{kind} from {from} to {to}",
    "staff.absence.item.one": "{kind} on {day}",
    "staff.absence.part": "{text}, {start} to {end}",
    "staff.absence.cancel": "Cancel the absence",
    "staff.absence.cancel.label": "Cancel the absence: {text}",
    "staff.absence.cancelled": "Absence cancelled: {text}.",
    "staff.absence.cancelled.of": "{name}'s absence cancelled: {text}.",
    "staff.absence.confirm.title": "Cancel {name}'s absence?",
    "staff.absence.confirm.text": "{text}. Their working days come back into the week; rounds already reassigned do not change by themselves.",
    "staff.absence.confirm.ok": "Cancel the absence",
    "staff.absence.confirm.keep": "Keep the absence",
    "staff.created": "{name} added to the staff.",
    "staff.saved": "Changes saved: {name}.",
    "staff.error.name": "Give the person's name.",
    "staff.error.contract": "Contract: a number of hours per week, from 0 to 80.",
    "staff.error.days": "Tick at least one day worked.",
    "staff.error.cycle": "Cycle: at least one day on and one day off.",
    "staff.error.start": "Give the day this rota starts.",
    "staff.error.shift": "The shift must end after it starts.",
    "staff.error.break": "A break needs a start and an end, within the shift.",
    "staff.error.skills": "Skill “{skill}”: lower-case letters, digits, _ or - only.",
    "departure.open": "Departure",
    "departure.open.label": "Departure of {name}",
    "departure.title": "Departure of {name}",
    "departure.last_day": "Last working day",
    "departure.hint": "Today at the latest: a departure to come is recorded on the day. Until then, an absence takes the person off the schedule.",
    "departure.effect": "After {day}, {name} is off the schedule: their visits from {first} on that are neither started nor done lose their team, and their pairs end.",
    "departure.save": "Record the departure",
    "departure.error.day": "Give the last working day.",
    "departure.error.future": "The last working day cannot come after today: record the departure on that day; until then, enter an absence.",
    "departure.confirm.title": "Confirm the departure of {name}?",
    "departure.confirm.text": "{name} leaves the service after {day}. Their visits from {first} on, neither started nor done, will lose their team and need replanning; their pairs will end and their name will leave the schedule.",
    "departure.confirm.ok": "Confirm the departure",
    "departure.confirm.keep": "Change nothing",
    "departure.running": "Recording the departure…",
    "departure.done": "{name} left the service on {day}: {visits}{pairs}.",
    "departure.visits.zero": "no visit to replan",
    "departure.visits.one": "{n} visit to replan",
    "departure.visits.other": "{n} visits to replan",
    "departure.pairs.one": ", {n} pair ended",
    "departure.pairs.other": ", {n} pairs ended",
    "wd.MO": "Monday", "wd.TU": "Tuesday", "wd.WE": "Wednesday", "wd.TH": "Thursday", "wd.FR": "Friday", "wd.SA": "Saturday", "wd.SU": "Sunday",
    "wds.MO": "Mon", "wds.TU": "Tue", "wds.WE": "Wed", "wds.TH": "Thu", "wds.FR": "Fri", "wds.SA": "Sat", "wds.SU": "Sun",
    "absence.title": "Enter an absence",
    "absence.staff": "Staff member",
    "absence.kind": "Reason",
    "absence.from": "From",
    "absence.to": "To (included)",
    "absence.note": "Note (optional)",
    "absence.part": "Part of the day only",
    "absence.part.start": "Away from",
    "absence.part.end": "To",
    "absence.part.order": "The absence must end after it starts.",
    "absence.save": "Save the absence",
    "absence.replan": "Propose a replanning",
    "absence.kind.leave": "Leave",
    "absence.kind.sickness": "Sickness",
    "absence.kind.training": "Training",
    "absence.checking": "Counting the visits affected…",
    "absence.none": "No visit is planned for this person on these days.",
    "absence.day": "{day}: {visits}",
    "absence.need": "Choose the person and the days of absence.",
    "absence.order": "The last day of absence must come after the first.",
    "absence.saved": "Absence saved: {text}",
    "absence.replan.running": "Looking for a replanning, day by day…",
    "absence.replan.done": "Proposals ready: check each day on the map, then apply them.",
    "absence.replan.day": "{day}: {moved} reassigned, {unassigned} without a team",
    "absence.replan.dropped": "{day}: {moved} reassigned, {unassigned} without a team, {dropped} taken out of other rounds — to check",
    "absence.capacity": "{day}: {left} h of work left for {need} h of visits",
    "absence.replan.open": "Check on the map",
    "absence.replan.open.more": ": proposal of {day}",
    "absence.replan.open.day": ": {day}",
    "absence.replan.failed": "{day}: no proposal, {unassigned} visit(s) to reassign by hand ({error})",
    "absence.replan.none": "No visit to reassign.",
    "views.label": "Views of the week",
    "views.grid": "Schedule",
    "views.continuity": "Continuity of care",
    "views.hours": "Hours and contracts",
    "views.scope": "Structure (continuity, hours, planning)",
    "views.loading": "Loading…",
    "plan.start": "Plan the week",
    "plan.hint": "Proposes the rounds from {from} to {to} (continuity of care, contract hours, travel); nothing changes before “Apply the week”.",
    "plan.hint.of": "Proposes the rounds of “{structure}” from {from} to {to} (continuity of care, contract hours, travel); nothing changes before “Apply the week”.",
    "plan.hint.past": "This week is over: nothing to plan.",
    "plan.options": "Planning settings",
    "plan.weight": "Weight of continuity of care (minutes of travel)",
    "plan.weight.hint": "What each additional carer for a patient, or a change from one day to the next, costs in minutes of travel: the higher, the more each patient keeps the same carers. Empty: the service's setting.",
    "plan.weight.error": "Weight of continuity: a whole number of minutes, 0 to 1440 (or empty).",
    "plan.title": "Planning the week",
    "plan.title.range": "Planning from {from} to {to}",
    "plan.progress": "Progress",
    "plan.progress.text": "{done} of {total} day(s) planned",
    "plan.starting": "Planning requested…",
    "plan.running": "Planning under way: {done} of {total} day(s)…",
    "plan.done": "Proposal ready: compare it with the current plan, check the days on the map, then apply or discard it.",
    "plan.failed": "Planning failed: {error}",
    "plan.cmp.caption": "Comparison with the current plan, {from} to {to}",
    "plan.cmp.metric": "Measure",
    "plan.cmp.current": "Current plan",
    "plan.cmp.proposed": "Proposal",
    "plan.cmp.change": "Difference",
    "plan.m.planned": "Visits planned",
    "plan.m.unassigned": "Visits without a team",
    "plan.m.travel_s": "Travel time",
    "plan.m.distinct_staff_per_patient": "Different staff per patient (mean)",
    "plan.m.max_contract_excess_pct": "Largest excess over a contract",
    "plan.m.hours_spread_h": "Spread of hours between people",
    "plan.m.violations": "Rules broken",
    "plan.better": "{d}: better",
    "plan.worse": "{d}: worse",
    "plan.same": "= same",
    "plan.days.caption": "Proposal day by day: drafts to check on the map",
    "plan.days.day": "Day",
    "plan.days.visits": "Visits",
    "plan.days.unassigned": "Without a team",
    "plan.days.travel": "Travel: proposed (current)",
    "plan.days.moved": "Change team",
    "plan.days.review": "Check",
    "plan.days.open": "See on the map",
    "plan.days.open.more": ": proposal of {day}",
    "plan.days.error": "no proposal: {error}",
    "plan.days.applied": "✓ applied",
    "plan.days.refused": "✗ refused",
    "plan.days.waiting": "waiting for your confirmation: {n} visit(s) taken out of published rounds",
    "plan.hint.waiting": "A proposal is waiting below: apply or discard it before asking for another.",
    "plan.days.drops": "to confirm before publishing: {n} visit(s) taken out of published rounds",
    "plan.days.take": "Apply",
    "plan.days.take.label": "Apply {day}",
    "plan.days.none": "Tick at least one day to apply.",
    "plan.checking": "Checking the visits each day takes out of the published rounds…",
    "plan.waiting": "Nothing is published yet: {m} day(s) wait for your confirmation (see below).",
    "plan.m.none": "no current plan",
    "plan.apply": "Apply the week",
    "plan.confirm.ok": "Confirm and apply",
    "plan.discard": "Discard",
    "plan.close": "Close",
    "plan.applying": "Publishing the rounds, day by day…",
    "plan.applied": "Week applied: {n} day(s) published.",
    "plan.applied.part": "{n} day(s) published, {m} refused or waiting: see below.",
    "plan.refused": "{day}: {message}",
    "plan.confirm.title": "Visits taken out of the rounds",
    "plan.confirm.text": "The proposal leaves {n} visit(s) without a team that are in a published round now. Nothing is published before you confirm: check them, then “Confirm and apply”, untick those days, or discard.",
    "plan.confirm.item": "{day}: {label}",
    "plan.confirm.reason": "{text} ({reason})",
    "plan.discarded": "Proposal discarded: the published rounds stay as they are.",
    "plan.discarded.part": "Proposal discarded: the {n} day(s) already applied stay published, the other days stay as they are.",
    "cont.search": "Search for a patient or a carer",
    "cont.many": "Only patients seen by more than 2 people",
    "cont.legend": "Number of different people who visited each patient this week, from the published rounds. Above 2, the row is marked “⚠ more than 2”.",
    "cont.caption": "Continuity of care from {from} to {to}: different staff who visited each patient",
    "cont.col.patient": "Patient",
    "cont.col.visits": "Visits",
    "cont.col.distinct": "Different staff",
    "cont.col.staff": "Who (number of visits)",
    "cont.flag": "⚠ more than 2",
    "cont.summary": "{n} patient(s); {d} different staff per patient on average; {m} seen by more than 2 people.",
    "cont.shown": " {shown} shown.",
    "cont.empty": "No published visit this week.",
    "cont.nomatch": "No patient matches these filters.",
    "cont.staff.item": "{name} ({n})",
    "sort.asc": "ascending",
    "sort.desc": "descending",
    "hours.caption": "Hours from {from} to {to} against the contract, person by person",
    "hours.col.staff": "Staff",
    "hours.col.contract": "Contract owed (absences taken off)",
    "hours.col.rota": "Rota",
    "hours.col.planned": "Planned (rounds)",
    "hours.col.excess": "Against the contract",
    "hours.h": "{h} h",
    "hours.pct": "{p}%",
    "hours.over": "▲ {p} above the contract",
    "hours.over.limit": "▲ {p} above the contract: more than 10%",
    "hours.under": "▼ {p} below the contract",
    "hours.ok": "✓ within the contract",
    "hours.summary": "{n} people; largest excess over a contract: {p}; {m} above 10%.",
    "hours.empty": "Nobody on the schedule this week.",
    "hours.legend": "Contract owed: the share of the contract that falls on these days by the rota, absences (leave, sickness, training) taken off — the week grid shows the whole weekly contract. Planned hours: from departure to return of each published round, less the rota's breaks. Against the contract: planned hours compared with the contract owed, in per cent; ▲ above, ▼ below, ✓ within the contract.",
  },
});

const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const JOBS = ["nurse", "care_aide", "doctor", "psychologist", "other"];
const GENDERS = ["", "female", "male"];
const ABSENCE_KINDS = ["leave", "sickness", "training"];
const SKILL_RE = /^[a-z0-9_-]+$/;
/** Hours within this much of the contract count as "within the contract". */
const CONTRACT_SLACK_H = 1;
const IMPACT_DELAY_MS = 250;
const GENERATE_DAYS = 14;
/** The roles that see the week (GET /api/week); coordinators only change it. */
const READERS = ["coordinator", "planner"];
/** The absence dialog's fields (locked once the absence is saved). */
const ABSENCE_FIELDS = ["af-staff", "af-kind", "af-from", "af-to", "af-part-on", "af-part-start", "af-part-end", "af-note"];

const state = {
  me: null,
  today: null, // the rounds' day (server)
  from: null, // Monday of the week shown
  week: null, // GET /api/week answer: its rows are the active staff
  structures: [],
  editing: null, // staff member being edited, null for a new one
  departing: null, // staff member of the departure dialog
  rotaTouched: false,
  absence: null, // {staffId, absence, impact, body} of the absence dialog
  impactSeq: 0,
  view: "grid", // the tab shown: grid, continuity or hours
  continuity: null, // {key, data}: GET /api/week/continuity of the week and structure in key
  hours: null, // {key, data}: GET /api/week/hours
  contSort: { key: "distinct", dir: "desc" },
  hoursSort: { key: "gap", dir: "desc" }, // the furthest above their contract first
  viewSeq: 0,
  plan: null, // the week's planning job: {jobId, state, from, days, done, total, result, applied, refused, confirming, finished}
  planTimer: null,
};

// ------------------------------------------------------------------ small helpers
function $(id) {
  return document.getElementById(id);
}

function localeTag() {
  return getLocale() === "en" ? "en-GB" : "fr-FR";
}

/** Intl objects are slow to build: one per locale and options, kept (the grid asks for
 * thousands of dates and numbers). */
const formats = new Map();
function cached(kind, options, make) {
  const key = `${kind}|${getLocale()}|${JSON.stringify(options)}`;
  if (!formats.has(key)) formats.set(key, make());
  return formats.get(key);
}

function plural(key, n, vars = {}) {
  if (n === 0 && t(`${key}.zero`) !== `${key}.zero`) return t(`${key}.zero`, vars);
  const rules = cached("plural", {}, () => new Intl.PluralRules(getLocale()));
  const form = rules.select(n) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { n, ...vars });
}

function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function mondayOf(day) {
  const d = new Date(`${day}T12:00:00Z`);
  return addDays(day, -((d.getUTCDay() + 6) % 7));
}

function weekdayOf(day) {
  return WEEKDAYS[(new Date(`${day}T12:00:00Z`).getUTCDay() + 6) % 7];
}

function isDay(text) {
  return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T12:00:00Z`));
}

/** "jeudi 10 décembre" / "Thursday 10 December" (with the year when asked). */
function dayText(day, { year = false, short = false, weekday = true } = {}) {
  const options = short ? { weekday: "short", day: "numeric", month: "short" } : { weekday: "long", day: "numeric", month: "long" };
  if (!weekday) delete options.weekday;
  if (year) options.year = "numeric";
  const format = cached("date", options, () => new Intl.DateTimeFormat(localeTag(), { timeZone: "UTC", ...options }));
  return format.format(new Date(`${day}T12:00:00Z`));
}

function hoursText(h) {
  const format = cached("number", {}, () => new Intl.NumberFormat(getLocale(), { maximumFractionDigits: 1 }));
  return format.format(Math.round((h || 0) * 10) / 10);
}

function shiftText(shift) {
  return shiftSpans(shift);
}

function count(value) {
  return Array.isArray(value) ? value.length : Number(value) || 0;
}

function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return t("week.error.forbidden");
    return t("week.error.server", { error: err.message });
  }
  return t("week.error.network");
}

/** Messages on screen, kept as functions so that they follow a change of language. */
const shown = new Map();
/** Messages about to be written by say(), per element: a newer show() cancels them. */
const pendingSay = new Map();
function show(el, message) {
  clearTimeout(pendingSay.get(el));
  pendingSay.delete(el);
  if (message) shown.set(el, message);
  else shown.delete(el);
  el.textContent = message ? message() : "";
}
function reshow() {
  for (const [el, message] of shown) el.textContent = message();
}
function say(el, message) {
  show(el, null);
  // Written a moment later so that screen readers announce a repeated message too.
  pendingSay.set(el, setTimeout(() => show(el, message), 30));
}

// ------------------------------------------------------------------ login
const session = createSession({
  allowed: (user) => READERS.includes(user.role),
  failedText: () => t("week.login.failed"),
  roleText: () => t("week.login.role"),
  errorText: (err) => errorText(err),
  show: (el, message) => show(el, message),
});
/** A REST call of the page (the log-in comes back when the session has ended). */
const call = session.call;

// ------------------------------------------------------------------ the week
function weekDays() {
  if (state.week && Array.isArray(state.week.days) && state.week.days.length) return state.week.days;
  return Array.from({ length: 7 }, (_, i) => addDays(state.from, i));
}

function mapLink(day, teamId) {
  const params = new URLSearchParams({ day });
  if (teamId != null) params.set("team", String(teamId));
  return `/map/?${params}`;
}

async function loadWeek() {
  say($("status"), () => t("week.loading"));
  state.week = await call(`/api/week?${new URLSearchParams({ from: state.from, days: "7" })}`);
  show($("status"), null);
  renderWeek();
}

async function goTo(day, { focus = null } = {}) {
  state.from = mondayOf(day);
  $("week-day").value = state.from;
  history.replaceState(null, "", `/week/?${new URLSearchParams({ from: state.from })}`);
  renderHeading();
  try {
    await loadWeek();
  } catch (err) {
    say($("status"), () => errorText(err));
  }
  loadView();
  if (focus) $(focus).focus();
}

function renderHeading() {
  const days = weekDays();
  const vars = { from: dayText(days[0], { weekday: false }), to: dayText(days[days.length - 1], { year: true, weekday: false }) };
  $("week-h").textContent = t("week.heading", vars);
  $("week-caption").textContent = t("week.caption", vars);
  renderViewCaptions();
  renderPlanHint();
}

function contractState(row) {
  const contract = Number(row.contract_h_per_week) || 0;
  const hours = Number(row.rostered_h) || 0;
  const diff = hours - contract;
  if (diff > CONTRACT_SLACK_H) return { key: "over", text: t("week.hours.over", { d: hoursText(diff) }) };
  if (diff < -CONTRACT_SLACK_H) return { key: "under", text: t("week.hours.under", { d: hoursText(-diff) }) };
  return { key: "ok", text: t("week.hours.ok") };
}

function cellHtml(row, cell) {
  const parts = [];
  if (cell.absence) {
    const part = cell.absence.part ? ` ${shiftText(cell.absence.part)}` : "";
    parts.push(`<span class="absence ${escapeHtml(cell.absence.kind)}">${escapeHtml(t(`absence.kind.${cell.absence.kind}`) + part)}</span>`);
  }
  if (cell.shift) {
    // Each working span on one line where it fits: « 07:00–11:30, 17:00–19:30 ».
    const spans = shiftText(cell.shift).split(", ").map((x) => `<span class="span">${escapeHtml(x)}</span>`);
    parts.push(`<span class="shift">${spans.join(", ")}</span>`);
  }
  else if (!cell.absence) parts.push(`<span class="off">${escapeHtml(t("week.off"))}</span>`);
  const visits = count(cell.visits);
  if (visits && cell.absence && !cell.shift) {
    // Visits still on the round of someone away all day: to give to colleagues.
    parts.push(`<span class="visits reassign">${escapeHtml(plural("week.reassign", visits))}</span>`);
  } else if (visits || cell.shift) {
    parts.push(`<span class="visits${visits ? "" : " none"}">${escapeHtml(plural("week.visits", visits))}</span>`);
  }
  if (cell.hours) parts.push(`<span class="hours">${escapeHtml(t("week.hours", { h: hoursText(cell.hours) }))}</span>`);
  const inner = parts.join("");
  const teamId = cell.team_id ?? row.team_id;
  const classes = ["cell", cell.absence ? "is-absent" : cell.shift ? "is-on" : "is-off"];
  if (cell.day === state.today) classes.push("today");
  if (teamId == null) return `<td class="${classes.join(" ")}"><div class="cell-body">${inner}</div></td>`;
  const label = t("week.cell.open", { name: row.name, day: dayText(cell.day) });
  return `<td class="${classes.join(" ")}"><a class="cell-body" href="${escapeHtml(mapLink(cell.day, teamId))}" title="${escapeHtml(label)}">`
    + `<span class="visually-hidden">${escapeHtml(t("week.cell.label", { name: row.name, day: dayText(cell.day) }))}</span>${inner}</a></td>`;
}

function renderWeek() {
  renderHeading();
  const days = weekDays();
  $("week-head").innerHTML = `<th scope="col" class="who">${escapeHtml(t("week.col.staff"))}</th>`
    + days.map((day) => `<th scope="col" class="${day === state.today ? "today" : ""}">${day === state.today ? `<span class="tag">${escapeHtml(t("week.today"))}</span>` : ""}<span class="wd">${escapeHtml(t(`wds.${weekdayOf(day)}`))}</span> `
      + `<span class="dm">${escapeHtml(cached("date", { dm: 1 }, () => new Intl.DateTimeFormat(localeTag(), { timeZone: "UTC", day: "numeric", month: "short" })).format(new Date(`${day}T12:00:00Z`)))}</span></th>`).join("")
    + `<th scope="col" class="total">${escapeHtml(t("week.col.hours"))}</th>`;
  const rows = groupedRows((state.week && state.week.staff) || []);
  const grouped = new Set(rows.map((r) => r.structure_id)).size > 1;
  let group = null;
  $("week-body").innerHTML = rows.map((row) => {
    let heading = "";
    if (grouped && row.structure_id !== group) {
      group = row.structure_id;
      heading = `<tr class="structure"><th scope="rowgroup" colspan="${days.length + 2}"><span class="group-name">${escapeHtml(structureName(row.structure_id) || `#${row.structure_id}`)}</span></th></tr>`;
    }
    const cells = new Map((row.cells || []).map((c) => [c.day, c]));
    const contract = contractState(row);
    const job = row.job;
    return `${heading}<tr data-staff-id="${row.id}">`
      + `<th scope="row" class="who"><span class="name">${escapeHtml(row.name)}</span>`
      + (job ? `<span class="sub">${escapeHtml(t(`job.${job}`))}</span>` : "")
      + (state.structures.length > 1 ? `<span class="sub">${escapeHtml(structureName(row.structure_id))}</span>` : "")
      + (!canEdit() ? "" : `<span class="row-actions">`
      + `<button type="button" data-act="edit" data-id="${row.id}" aria-label="${escapeHtml(t("week.edit.label", { name: row.name }))}">${escapeHtml(t("week.edit"))}</button>`
      + `<button type="button" data-act="absence" data-id="${row.id}" aria-label="${escapeHtml(t("week.absence.label", { name: row.name }))}">${escapeHtml(t("week.absence"))}</button>`
      + `</span>`)
      + `</th>`
      + days.map((day) => cellHtml(row, cells.get(day) || { day })).join("")
      + `<td class="total ${contract.key}"><span class="of">${escapeHtml(t("week.hours.of", { h: hoursText(row.rostered_h), c: hoursText(row.contract_h_per_week) }))}</span>`
      + `<span class="verdict">${escapeHtml(contract.text)}</span>`
      + (row.visit_h != null ? `<span class="sub">${escapeHtml(t("week.hours.visits", { h: hoursText(row.visit_h) }))}</span>` : "")
      + `</td></tr>`;
  }).join("");
  const unassigned = new Map(((state.week && state.week.unassigned) || []).map((u) => [u.day, count(u.count)]));
  $("week-foot").innerHTML = rows.length
    ? `<tr><th scope="row" class="who">${escapeHtml(t("week.unassigned"))}</th>`
      + days.map((day) => {
        const n = unassigned.get(day) || 0;
        if (!n) return `<td class="cell unassigned none">${escapeHtml(t("week.unassigned.none"))}</td>`;
        return `<td class="cell unassigned"><a href="${escapeHtml(mapLink(day, null))}">${escapeHtml(plural("week.unassigned.n", n))}`
          + `<span class="visually-hidden">${escapeHtml(t("week.unassigned.more", { day: dayText(day) }))}</span></a></td>`;
      }).join("")
      + `<td class="total"></td></tr>`
    : "";
  $("week-empty").hidden = rows.length > 0;
}

/** Focus back on the button that opened a dialog; a row's button drawn again since (the grid
 * is reloaded after a save) is found by what it does and for whom. */
function refocus(opener) {
  if (!opener) return;
  if (document.contains(opener)) { opener.focus(); return; }
  const { act, id } = opener.dataset || {};
  if (act && id) document.querySelector(`#week-body button[data-act="${act}"][data-id="${id}"]`)?.focus();
}

/** Whether the caller changes staff, absences and visits (coordinators) or only reads. */
function canEdit() {
  return !!state.me && state.me.role === "coordinator";
}

/** The rows of staff grouped by structure (the structures in name order, the server's order
 * within each). */
function groupedRows(rows) {
  const order = new Map();
  for (const row of rows) if (!order.has(row.structure_id)) order.set(row.structure_id, structureName(row.structure_id));
  const keys = [...order.keys()].sort((a, b) => order.get(a).localeCompare(order.get(b), localeTag()));
  const rank = new Map(keys.map((k, i) => [k, i]));
  return rows.map((row, i) => [row, i]).sort((x, y) => rank.get(x[0].structure_id) - rank.get(y[0].structure_id) || x[1] - y[1]).map(([row]) => row);
}

/** A structure's name, for a coordinator of several (the rows say whose staff they are). */
function structureName(id) {
  const found = state.structures.find((x) => Number(x.id) === Number(id));
  return found ? found.name : "";
}

function onTableClick(e) {
  const button = e.target.closest("button[data-act]");
  if (!button) return;
  const id = Number(button.dataset.id);
  if (button.dataset.act === "edit") openStaffForm(id, button);
  else openAbsenceForm(id, button);
}

// ------------------------------------------------------------------ views: continuity, hours
const VIEWS = ["grid", "continuity", "hours", "exports"];
/** Above this many distinct staff for a patient in a week, the row is flagged. */
const CONTINUITY_FLAG = 2;
/** Above this excess over the contract (%), a person's hours are flagged (issue 23's target). */
const EXCESS_LIMIT_PCT = 10;
/** Within this much of the contract (%), hours count as within it. */
const EXCESS_SLACK_PCT = 0.5;
const PLAN_POLL_MS = 700;

function pctText(p) {
  const format = cached("number", { pct: 1 }, () => new Intl.NumberFormat(getLocale(), { maximumFractionDigits: 1 }));
  return t("hours.pct", { p: format.format(Math.round((Number(p) || 0) * 10) / 10) });
}

function numberText(value, digits = 1) {
  const format = cached("number", { digits }, () => new Intl.NumberFormat(getLocale(), { maximumFractionDigits: digits }));
  return format.format(value);
}

/** "45 min", "3 h 05" / "3 h 05 min". */
function durationText(seconds) {
  const total = Math.round(Math.abs(Number(seconds) || 0) / 60);
  const h = Math.floor(total / 60);
  const m = total % 60;
  if (!h) return `${m} min`;
  const mm = String(m).padStart(2, "0");
  return getLocale() === "en" ? `${h} h ${mm} min` : `${h} h ${mm}`;
}

/** The caller's structure for the week's planning, continuity and hours (null: their only one). */
function scopeId() {
  if (state.structures.length < 2) return null;
  const value = Number($("scope").value);
  return Number.isFinite(value) && value > 0 ? value : null;
}

function scopeParams(extra = {}) {
  const params = new URLSearchParams({ from: state.from, days: "7", ...extra });
  const sid = scopeId();
  if (sid != null) params.set("structure_id", String(sid));
  return params;
}

function renderScope() {
  const many = state.structures.length > 1;
  // Shown on every tab: « Planifier la semaine » plans the structure chosen there.
  $("scope-row").hidden = !many;
  if (many) fillSelect($("scope"), state.structures.map((s) => String(s.id)), (v) => structureName(v) || `#${v}`);
}

function selectView(view, { focus = false } = {}) {
  state.view = view;
  for (const name of VIEWS) {
    const tab = $(`tab-${name}`);
    const on = name === view;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`view-${name}`).hidden = !on;
  }
  if (focus) $(`tab-${view}`).focus();
  renderScope();
  loadView();
}

function onTabKey(e) {
  const i = VIEWS.indexOf(state.view);
  const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: VIEWS.length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  selectView(VIEWS[(next + VIEWS.length) % VIEWS.length], { focus: true });
}

/** Loads the continuity or hours of the week shown, when that view is open (once per week
 * and structure, until something is applied). */
async function loadView({ again = false } = {}) {
  const view = state.view;
  if (view === "exports") { renderExports(); return; }
  if (view === "grid" || !canEdit()) return;
  const key = `${state.from}|${scopeId() ?? ""}`;
  const slot = view === "continuity" ? "continuity" : "hours";
  if (!again && state[slot] && state[slot].key === key) { renderView(); return; }
  const summary = $(view === "continuity" ? "cont-summary" : "hours-summary");
  show(summary, () => t("views.loading"));
  const seq = ++state.viewSeq;
  try {
    const reply = await call(`/api/week/${slot}?${scopeParams()}`);
    if (seq !== state.viewSeq) return;
    state[slot] = { key, data: reply };
    renderView();
  } catch (err) {
    if (seq !== state.viewSeq) return;
    state[slot] = null;
    $(view === "continuity" ? "cont-body" : "hours-body").innerHTML = "";
    show(summary, () => errorText(err));
  }
}

function renderView() {
  renderViewCaptions();
  if (state.view === "continuity") renderContinuity();
  else if (state.view === "hours") renderHours();
  else if (state.view === "exports") renderExports();
}

function renderViewCaptions() {
  if (!state.from) return;
  const vars = { from: dayText(state.from, { weekday: false }), to: dayText(addDays(state.from, 6), { year: true, weekday: false }) };
  $("cont-caption").textContent = t("cont.caption", vars);
  $("hours-caption").textContent = t("hours.caption", vars);
}

const CONT_COLUMNS = [
  { key: "name", label: "cont.col.patient", sort: (a, b) => a.name.localeCompare(b.name, localeTag()) },
  { key: "visits", label: "cont.col.visits", num: true, sort: (a, b) => count(a.visits) - count(b.visits) },
  { key: "distinct", label: "cont.col.distinct", num: true, sort: (a, b) => count(a.distinct_staff) - count(b.distinct_staff) },
  { key: "staff", label: "cont.col.staff" },
];

/** A column header: a button that sorts by it when the column sorts (aria-sort says how). */
function sortHeader(col, { key, dir }) {
  const cls = col.num ? ' class="num"' : "";
  if (!col.sort) return `<th scope="col"${cls}>${escapeHtml(t(col.label))}</th>`;
  const sorted = col.key === key;
  const aria = sorted ? ` aria-sort="${dir === "asc" ? "ascending" : "descending"}"` : "";
  const arrow = sorted ? (dir === "asc" ? "▲" : "▼") : "↕";
  return `<th scope="col"${aria}${cls}><button type="button" class="sort" data-sort="${col.key}">${escapeHtml(t(col.label))}`
    + ` <span aria-hidden="true">${arrow}</span>${sorted ? `<span class="visually-hidden"> (${escapeHtml(t(`sort.${dir}`))})</span>` : ""}</button></th>`;
}

/** The next sort after a click on `key`'s header: the other way, or numbers from the largest
 * and names from A. */
function nextSort(current, key) {
  if (key === current.key) return { key, dir: current.dir === "asc" ? "desc" : "asc" };
  return { key, dir: key === "name" ? "asc" : "desc" };
}

function renderContinuity() {
  const data = state.continuity && state.continuity.data;
  const { key, dir } = state.contSort;
  $("cont-head").innerHTML = CONT_COLUMNS.map((col) => sortHeader(col, state.contSort)).join("");
  if (!data) { $("cont-body").innerHTML = ""; return; }
  const patients = (data.patients || []).map((p) => ({ ...p, name: String(p.name || `#${p.patient_id}`) }));
  const needle = $("cont-search").value.trim().toLocaleLowerCase();
  const onlyMany = $("cont-many").checked;
  const col = CONT_COLUMNS.find((c) => c.key === key) || CONT_COLUMNS[2];
  const rows = patients
    .filter((p) => !onlyMany || count(p.distinct_staff) > CONTINUITY_FLAG)
    .filter((p) => !needle || p.name.toLocaleLowerCase().includes(needle)
      || (p.staff || []).some((s) => String(s.name || "").toLocaleLowerCase().includes(needle)))
    .sort((a, b) => (dir === "asc" ? 1 : -1) * col.sort(a, b) || a.name.localeCompare(b.name, localeTag()));
  const many = patients.filter((p) => count(p.distinct_staff) > CONTINUITY_FLAG).length;
  const filtered = rows.length !== patients.length;
  show($("cont-summary"), () => (patients.length
    ? t("cont.summary", { n: patients.length, d: numberText(Number(data.mean_distinct_staff) || 0), m: many })
      + (filtered ? t("cont.shown", { shown: rows.length }) : "")
    : t("cont.empty")));
  $("cont-body").innerHTML = rows.length
    ? rows.map((p) => {
      const flagged = count(p.distinct_staff) > CONTINUITY_FLAG;
      const staff = (p.staff || []).map((s) => `<li>${escapeHtml(t("cont.staff.item", { name: s.name, n: count(s.visits) }))}</li>`).join("");
      return `<tr data-patient-id="${escapeHtml(p.patient_id)}"${flagged ? ' class="many"' : ""}>`
        + `<th scope="row">${escapeHtml(p.name)}</th>`
        + `<td class="num">${count(p.visits)}</td>`
        + `<td class="num distinct"><span class="n">${count(p.distinct_staff)}</span>${flagged ? ` <span class="flag">${escapeHtml(t("cont.flag"))}</span>` : ""}</td>`
        + `<td><ul class="who-list">${staff}</ul></td></tr>`;
    }).join("")
    : (patients.length ? `<tr><td colspan="4">${escapeHtml(t("cont.nomatch"))}</td></tr>` : "");
}

function onSortClick(e) {
  const button = e.target.closest("button[data-sort]");
  if (!button) return;
  const key = button.dataset.sort;
  const hours = e.currentTarget.id === "hours-head";
  if (hours) {
    state.hoursSort = nextSort(state.hoursSort, key);
    renderHours();
  } else {
    state.contSort = nextSort(state.contSort, key);
    renderContinuity();
  }
  $(hours ? "hours-head" : "cont-head").querySelector(`button[data-sort="${key}"]`)?.focus();
}

/** A person's hours against the contract, in per cent (the server's excess is never below 0:
 * hours under the contract are worked out here). */
function hoursGap(s) {
  const contract = Number(s.contract_h) || 0;
  if (Number(s.excess_pct) > 0 || !contract) return Number(s.excess_pct) || 0;
  return (100 * ((Number(s.planned_h) || 0) - contract)) / contract;
}

const HOURS_COLUMNS = [
  { key: "name", label: "hours.col.staff", sort: (a, b) => String(a.name).localeCompare(String(b.name), localeTag()) },
  { key: "contract", label: "hours.col.contract", num: true, sort: (a, b) => (Number(a.contract_h) || 0) - (Number(b.contract_h) || 0) },
  { key: "rota", label: "hours.col.rota", num: true, sort: (a, b) => (Number(a.rota_h) || 0) - (Number(b.rota_h) || 0) },
  { key: "planned", label: "hours.col.planned", num: true, sort: (a, b) => (Number(a.planned_h) || 0) - (Number(b.planned_h) || 0) },
  { key: "gap", label: "hours.col.excess", sort: (a, b) => hoursGap(a) - hoursGap(b) },
];

function excessState(pct) {
  const p = Number(pct) || 0;
  if (p > EXCESS_LIMIT_PCT) return { key: "over limit", text: t("hours.over.limit", { p: pctText(p) }) };
  if (p > EXCESS_SLACK_PCT) return { key: "over", text: t("hours.over", { p: pctText(p) }) };
  if (p < -EXCESS_SLACK_PCT) return { key: "under", text: t("hours.under", { p: pctText(-p) }) };
  return { key: "ok", text: t("hours.ok") };
}

function renderHours() {
  const data = state.hours && state.hours.data;
  const days = data && Array.isArray(data.days) ? data.days
    : Array.from({ length: 7 }, (_, i) => addDays(state.from, i));
  const dayList = days.map((d) => (typeof d === "string" ? d : d.day));
  const short = (day) => `${t(`wds.${weekdayOf(day)}`)} ${cached("date", { d: 1 }, () => new Intl.DateTimeFormat(localeTag(), { timeZone: "UTC", day: "numeric" })).format(new Date(`${day}T12:00:00Z`))}`;
  $("hours-head").innerHTML = HOURS_COLUMNS.map((col) => sortHeader(col, state.hoursSort)).join("")
    + dayList.map((day) => `<th scope="col" class="num day"><abbr title="${escapeHtml(dayText(day))}">${escapeHtml(short(day))}</abbr></th>`).join("");
  if (!data) { $("hours-body").innerHTML = ""; return; }
  const { key, dir } = state.hoursSort;
  const col = HOURS_COLUMNS.find((c) => c.key === key) || HOURS_COLUMNS[4];
  const byName = HOURS_COLUMNS[0].sort;
  const staff = [...(data.staff || [])].sort((a, b) => (dir === "asc" ? 1 : -1) * col.sort(a, b) || byName(a, b));
  const worst = staff.reduce((m, s) => Math.max(m, Number(s.excess_pct) || 0), 0);
  const above = staff.filter((s) => (Number(s.excess_pct) || 0) > EXCESS_LIMIT_PCT).length;
  show($("hours-summary"), () => (staff.length
    ? t("hours.summary", { n: staff.length, p: pctText(worst), m: above })
    : t("hours.empty")));
  const h = (v) => escapeHtml(t("hours.h", { h: hoursText(v) }));
  $("hours-body").innerHTML = staff.map((s) => {
    const verdict = excessState(hoursGap(s));
    const perDay = new Map((s.days || []).map((d) => [d.day, d.planned_h]));
    return `<tr data-staff-id="${escapeHtml(s.staff_id)}" class="${verdict.key}">`
      + `<th scope="row">${escapeHtml(s.name)}</th>`
      + `<td class="num">${h(s.contract_h)}</td><td class="num">${h(s.rota_h)}</td><td class="num"><strong>${h(s.planned_h)}</strong></td>`
      + `<td class="verdict-cell"><span class="verdict">${escapeHtml(verdict.text)}</span></td>`
      + dayList.map((day) => {
        const v = Number(perDay.get(day)) || 0;
        return `<td class="num day${v ? "" : " zero"}">${v ? h(v) : "–"}</td>`;
      }).join("")
      + `</tr>`;
  }).join("");
}

// ------------------------------------------------------------------ planning the week
/** The days of the week shown that can still be planned (from today on), or null. */
function plannableRange() {
  const last = addDays(state.from, 6);
  if (state.today > last) return null;
  const from = state.today > state.from ? state.today : state.from;
  const days = Math.round((Date.parse(`${last}T12:00:00Z`) - Date.parse(`${from}T12:00:00Z`)) / 86400000) + 1;
  return { from, to: last, days };
}

function renderPlanHint() {
  if (!state.from) return;
  const range = plannableRange();
  const running = state.plan && state.plan.state === "running";
  // A proposal waiting to be applied or discarded: a second one would be another set of drafts.
  const waiting = state.plan && state.plan.state === "done" && !state.plan.finished;
  $("plan-week").disabled = !range || running || waiting;
  show($("plan-week-hint"), () => {
    if (!range) return t("plan.hint.past");
    if (waiting) return t("plan.hint.waiting");
    const vars = { from: dayText(range.from, { weekday: false }), to: dayText(range.to, { year: true, weekday: false }) };
    const sid = scopeId();
    return sid == null ? t("plan.hint", vars) : t("plan.hint.of", { ...vars, structure: structureName(sid) || `#${sid}` });
  });
}

async function startPlan() {
  const range = plannableRange();
  if (!range) return;
  clearTimeout(state.planTimer);
  const body = { from: range.from, days: range.days };
  const sid = scopeId();
  if (sid != null) body.structure_id = sid;
  const weight = $("plan-weight");
  if (weight.value.trim() !== "") {
    const minutes = Number(weight.value);
    if (!Number.isInteger(minutes) || minutes < 0 || minutes > 1440) {
      $("plan-options").open = true;
      weight.setAttribute("aria-invalid", "true");
      weight.focus();
      show($("plan-weight-error"), () => t("plan.weight.error"));
      return;
    }
    body.continuity_weight_s = minutes * 60;
  }
  weight.removeAttribute("aria-invalid");
  show($("plan-weight-error"), null);
  state.plan = newPlan(range.from, range.days);
  $("plan").hidden = false;
  renderPlan();
  planSay(() => t("plan.starting"), "ok");
  renderPlanHint();
  $("plan-h").focus();
  try {
    const reply = await call("/api/week/plan", { method: "POST", body });
    state.plan.jobId = reply.job_id;
    keepPlan(state.plan);
    pollPlan(state.plan);
  } catch (err) {
    state.plan.state = "failed";
    renderPlanHint();
    renderPlan();
    planSay(() => errorText(err), "warn");
  }
}

/** The planning's status line; a failure or a refusal is also said by its colour. */
function planSay(message, tone) {
  $("plan-status").classList.toggle("warn", tone === "warn");
  say($("plan-status"), message);
}

function newPlan(from, days) {
  return { state: "running", from, days, done: 0, total: days, result: null, applied: new Set(), skipped: new Set(), drops: new Map(), refused: [], confirming: null, finished: false };
}

/** The planning under way or to apply is kept for this tab, so that a reload finds it again
 * (the server keeps a job an hour). */
const PLAN_KEY = "dispatch.week.plan";
function keepPlan(plan) {
  try {
    if (plan && plan.jobId) sessionStorage.setItem(PLAN_KEY, JSON.stringify({ jobId: plan.jobId, from: plan.from, days: plan.days, applied: [...plan.applied] }));
    else sessionStorage.removeItem(PLAN_KEY);
  } catch {
    // Storage refused (private mode): a reload simply forgets the planning.
  }
}

/** Takes up again the planning of this tab before a reload, if the server still has it. */
function resumePlan() {
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(PLAN_KEY) || "null");
  } catch {
    kept = null;
  }
  if (!kept || typeof kept.jobId !== "string" || !isDay(kept.from)) return;
  const plan = newPlan(kept.from, Number(kept.days) || 7);
  plan.jobId = kept.jobId;
  for (const day of kept.applied || []) plan.applied.add(day);
  plan.resumed = true;
  state.plan = plan;
  $("plan").hidden = false;
  renderPlan();
  renderPlanHint();
  pollPlan(plan);
}

async function pollPlan(plan) {
  if (state.plan !== plan) return;
  try {
    const job = await call(`/api/week/plan/${encodeURIComponent(plan.jobId)}`);
    if (state.plan !== plan) return;
    const before = plan.done;
    plan.done = count(job.done_days);
    plan.total = count(job.total_days) || plan.total;
    if (job.state === "running") {
      renderPlan();
      if (plan.done !== before || !plan.announced) {
        plan.announced = true;
        planSay(() => t("plan.running", { done: plan.done, total: plan.total }), "ok");
      }
      state.planTimer = setTimeout(() => pollPlan(plan), PLAN_POLL_MS);
      return;
    }
    plan.state = job.state;
    plan.result = job.result || null;
    plan.error = job.error || null;
    renderPlanHint();
    renderPlan();
    if (job.state === "done") {
      planSay(() => t("plan.done"), "ok");
      previewDrops(plan);
    } else {
      keepPlan(null);
      planSay(() => t("plan.failed", { error: plan.error || "" }), "warn");
    }
  } catch (err) {
    if (state.plan !== plan) return;
    if (plan.resumed && err instanceof ApiError && err.status === 404) {
      discardQuietly();
      return;
    }
    plan.state = "failed";
    renderPlanHint();
    renderPlan();
    planSay(() => errorText(err), "warn");
  }
}

/** [key, better when larger, text of a value]. */
const METRICS = [
  ["planned", true, (v) => numberText(v, 0)],
  ["unassigned", false, (v) => numberText(v, 0)],
  ["travel_s", false, (v) => durationText(v)],
  ["distinct_staff_per_patient", false, (v) => numberText(v, 2)],
  ["max_contract_excess_pct", false, (v) => pctText(v)],
  ["hours_spread_h", false, (v) => t("hours.h", { h: hoursText(v) })],
  ["violations", false, (v) => numberText(v, 0)],
];

function changeText(current, proposed, largerIsBetter, text) {
  const a = Number(current) || 0;
  const b = Number(proposed) || 0;
  const diff = b - a;
  if (Math.abs(diff) < 1e-9 || text(Math.abs(diff)) === text(0)) return { key: "same", text: t("plan.same") };
  const sign = diff > 0 ? "+" : "−";
  const d = `${sign}${text(Math.abs(diff))}`;
  return (diff > 0) === largerIsBetter ? { key: "better", text: t("plan.better", { d }) } : { key: "worse", text: t("plan.worse", { d }) };
}

function renderPlan() {
  const plan = state.plan;
  if (!plan) { $("plan").hidden = true; return; }
  const to = addDays(plan.from, plan.days - 1);
  $("plan-h").textContent = t("plan.title.range", { from: dayText(plan.from, { weekday: false }), to: dayText(to, { year: true, weekday: false }) });
  const bar = $("plan-progress");
  const total = Math.max(1, plan.total);
  const done = plan.state === "done" ? total : Math.min(plan.done, total);
  bar.setAttribute("aria-valuemax", String(total));
  bar.setAttribute("aria-valuenow", String(done));
  bar.setAttribute("aria-valuetext", t("plan.progress.text", { done, total }));
  bar.querySelector(".bar").style.width = `${Math.round((100 * done) / total)}%`;
  $("plan-progress-box").hidden = plan.state !== "running";
  const result = plan.result;
  $("plan-result").hidden = !result;
  if (!result) return;
  const vars = { from: dayText(plan.from, { weekday: false }), to: dayText(to, { year: true, weekday: false }) };
  $("plan-cmp-caption").textContent = t("plan.cmp.caption", vars);
  $("plan-cmp-head").innerHTML = ["metric", "current", "proposed", "change"]
    .map((k) => `<th scope="col"${k === "metric" ? "" : ' class="num"'}>${escapeHtml(t(`plan.cmp.${k}`))}</th>`).join("");
  const current = (result.comparison && result.comparison.current) || {};
  const proposed = (result.comparison && result.comparison.proposed) || {};
  // Without a visit planned now, travel, hours and staff figures of the current plan are only
  // its absence: those rows are not judged.
  const noCurrent = !(Number(current.planned) > 0);
  $("plan-cmp-body").innerHTML = METRICS.map(([key, larger, text]) => {
    const change = noCurrent && !["planned", "violations"].includes(key)
      ? { key: "none", text: t("plan.m.none") } : changeText(current[key], proposed[key], larger, text);
    return `<tr data-metric="${key}"><th scope="row">${escapeHtml(t(`plan.m.${key}`))}</th>`
      + `<td class="num">${escapeHtml(text(Number(current[key]) || 0))}</td>`
      + `<td class="num"><strong>${escapeHtml(text(Number(proposed[key]) || 0))}</strong></td>`
      + `<td class="num change ${change.key}">${escapeHtml(change.text)}</td></tr>`;
  }).join("");
  $("plan-days-caption").textContent = t("plan.days.caption");
  $("plan-days-head").innerHTML = ["take", "day", "visits", "unassigned", "travel", "moved", "review"]
    .map((k) => `<th scope="col"${["take", "day", "review"].includes(k) ? "" : ' class="num"'}>${escapeHtml(t(`plan.days.${k}`))}</th>`).join("");
  const refusedDays = new Set(plan.refused.map((r) => r.day));
  const waiting = new Map((plan.confirming || []).map((c) => [c.day, c.visits.length]));
  $("plan-days-body").innerHTML = (result.days || []).map((d) => {
    const day = dayText(d.day, { short: true });
    if (d.plan_id == null) {
      return `<tr data-day="${escapeHtml(d.day)}"><td></td><th scope="row">${escapeHtml(day)}</th>`
        + `<td colspan="5">${escapeHtml(t("plan.days.error", { error: d.error || "" }))}</td></tr>`;
    }
    const params = new URLSearchParams({ day: d.day, plan: String(d.plan_id) });
    const mark = plan.applied.has(d.day) ? ` <span class="applied">${escapeHtml(t("plan.days.applied"))}</span>`
      : waiting.has(d.day) ? ` <span class="waiting-mark">${escapeHtml(t("plan.days.waiting", { n: waiting.get(d.day) }))}</span>`
        : refusedDays.has(d.day) ? ` <span class="refused-mark">${escapeHtml(t("plan.days.refused"))}</span>`
          : plan.drops.get(d.day) ? ` <span class="waiting-mark">${escapeHtml(t("plan.days.drops", { n: plan.drops.get(d.day) }))}</span>` : "";
    const take = plan.applied.has(d.day) ? "<td></td>"
      : `<td><input type="checkbox" class="plan-take" data-day="${escapeHtml(d.day)}"${plan.skipped.has(d.day) ? "" : " checked"}`
        + ` aria-label="${escapeHtml(t("plan.days.take.label", { day: dayText(d.day) }))}"></td>`;
    const travel = durationText(d.travel_s) + (d.current_travel_s != null ? ` (${durationText(d.current_travel_s)})` : "");
    return `<tr data-day="${escapeHtml(d.day)}">${take}<th scope="row">${escapeHtml(day)}${mark}</th>`
      + `<td class="num">${count(d.visits)}</td><td class="num">${count(d.unassigned)}</td>`
      + `<td class="num">${escapeHtml(travel)}</td><td class="num">${count(d.moved)}</td>`
      + `<td><a href="/map/?${escapeHtml(params.toString())}">${escapeHtml(t("plan.days.open"))}`
      + `<span class="visually-hidden">${escapeHtml(t("plan.days.open.more", { day: dayText(d.day) }))}</span></a></td></tr>`;
  }).join("");
  // Visits the proposal takes out of published rounds: listed, to confirm.
  const confirming = (plan.confirming || []).filter((c) => !plan.skipped.has(c.day));
  const dropped = confirming.flatMap((c) => c.visits.map((v) => ({ ...v, day: c.day })));
  $("plan-confirm").hidden = !dropped.length;
  $("plan-confirm-h").textContent = t("plan.confirm.title");
  show($("plan-confirm-text"), dropped.length ? () => t("plan.confirm.text", { n: dropped.length }) : null);
  $("plan-confirm-list").innerHTML = dropped.map((v) => {
    const text = t("plan.confirm.item", { day: dayText(v.day), label: v.label || `#${v.visit_id}` });
    return `<li>${escapeHtml(v.reason ? t("plan.confirm.reason", { text, reason: v.reason }) : text)}</li>`;
  }).join("");
  $("plan-refused").innerHTML = plan.refused
    .map((r) => `<li>${escapeHtml(t("plan.refused", { day: dayText(r.day), message: r.message || r.code || "" }))}</li>`).join("");
  const left = (result.days || []).some((d) => d.plan_id != null && !plan.applied.has(d.day));
  $("plan-apply").hidden = plan.finished || !left;
  $("plan-apply").textContent = t(dropped.length ? "plan.confirm.ok" : "plan.apply");
  $("plan-discard").textContent = t(plan.finished || !left ? "plan.close" : "plan.discard");
}

/** Before any press, each day's draft as the rounds service reviews it: the days that will
 * need a confirmation are said in the day-by-day table (the job's result does not carry it). */
async function previewDrops(plan) {
  for (const d of plan.result.days || []) {
    if (d.plan_id == null || plan.applied.has(d.day)) continue;
    const review = await call(`/api/dispatch/plans/${d.plan_id}`).catch(() => null);
    if (state.plan !== plan) return;
    if (review && Array.isArray(review.dropped)) plan.drops.set(d.day, review.dropped.length);
  }
  if ([...plan.drops.values()].some((n) => n > 0)) renderPlan();
}

/** The days ticked for applying whose draft is not published yet. */
function chosenDays(plan) {
  return (plan.result.days || []).filter((d) => d.plan_id != null && !plan.applied.has(d.day) && !plan.skipped.has(d.day));
}

/** « Appliquer la semaine »: the ticked days only, each draft through the day's apply
 * (POST /api/dispatch/plans/ID/apply: the week's apply takes no list of days). The visits the
 * days take out of published rounds are read first, so nothing is published before the
 * coordinator confirms them; a day still refused for drops then waits for confirmation. */
async function applyPlan() {
  const plan = state.plan;
  if (!plan || !plan.result || !plan.jobId) return;
  const chosen = chosenDays(plan);
  if (!chosen.length) { planSay(() => t("plan.days.none"), "warn"); return; }
  const button = $("plan-apply");
  button.disabled = true;
  try {
    if (!plan.confirming) {
      planSay(() => t("plan.checking"), "ok");
      const waiting = (await droppedOf(plan, chosen.map((d) => ({ day: d.day })))).filter((c) => c.visits.length);
      if (waiting.length) {
        plan.confirming = waiting;
        renderPlan();
        planSay(() => t("plan.waiting", { m: waiting.length }), "warn");
        $("plan-confirm-h").focus();
        return;
      }
    }
    const confirmOf = new Map((plan.confirming || []).map((c) => [c.day, c.visits.map((v) => Number(v.visit_id))]));
    planSay(() => t("plan.applying"), "ok");
    const refused = [];
    const waiting = [];
    for (const d of chosen) {
      try {
        await call(`/api/dispatch/plans/${d.plan_id}/apply`, {
          method: "POST", body: { locale: getLocale(), confirm_dropped: confirmOf.get(d.day) || [] }, timeoutMs: 180000,
        });
        plan.applied.add(d.day);
      } catch (err) {
        const body = (err && err.body) || {};
        const dropped = body.details && Array.isArray(body.details.dropped) ? body.details.dropped : null;
        if (err && err.status === 409 && body.code === "confirm_dropped" && dropped && dropped.length) {
          waiting.push({ day: d.day, message: err.message, visits: dropped });
        } else {
          refused.push({ day: d.day, code: body.code || "", message: errorText(err) });
        }
      }
    }
    plan.refused = refused;
    plan.confirming = waiting.length ? waiting : null;
    plan.finished = !refused.length && !waiting.length && !(plan.result.days || []).some((d) => d.plan_id != null && !plan.applied.has(d.day));
    keepPlan(plan.finished ? null : plan);
    renderPlan();
    renderPlanHint();
    const n = plan.applied.size;
    if (plan.finished || (!refused.length && !waiting.length)) {
      planSay(() => t("plan.applied", { n }), "ok");
      say($("status"), () => t("plan.applied", { n }));
      $(plan.finished ? "plan-discard" : "plan-h").focus();
    } else {
      planSay(() => t("plan.applied.part", { n, m: refused.length + waiting.length }), "warn");
      if (waiting.length) $("plan-confirm-h").focus();
    }
    state.continuity = null;
    state.hours = null;
    loadWeek().catch(() => {});
    loadView();
  } catch (err) {
    planSay(() => errorText(err), "warn");
  } finally {
    button.disabled = false;
  }
}

/** Each refused day's visits to confirm: the refusal's own list when it carries one, else
 * the day's draft as the rounds service reviews it (GET /api/dispatch/plans/ID). */
async function droppedOf(plan, refusals) {
  const drafts = new Map((plan.result.days || []).map((d) => [d.day, d.plan_id]));
  const out = [];
  for (const r of refusals) {
    let visits = Array.isArray(r.dropped) ? r.dropped : null;
    if (!visits && drafts.get(r.day) != null) {
      const review = await call(`/api/dispatch/plans/${drafts.get(r.day)}`).catch(() => null);
      visits = (review && review.dropped) || [];
    }
    out.push({ day: r.day, message: r.message, visits: visits || [] });
  }
  return out;
}

function discardPlan() {
  const plan = state.plan;
  clearTimeout(state.planTimer);
  state.plan = null;
  keepPlan(null);
  $("plan").hidden = true;
  renderPlanHint();
  if (plan && !plan.finished) {
    const n = plan.applied.size;
    say($("status"), () => (n ? t("plan.discarded.part", { n }) : t("plan.discarded")));
  }
  $("plan-week").focus();
}

function discardQuietly() {
  clearTimeout(state.planTimer);
  state.plan = null;
  keepPlan(null);
  $("plan").hidden = true;
  renderPlanHint();
}

function setupViews() {
  $("views").addEventListener("keydown", onTabKey);
  for (const name of VIEWS) $(`tab-${name}`).addEventListener("click", () => selectView(name));
  $("cont-head").addEventListener("click", onSortClick);
  $("hours-head").addEventListener("click", onSortClick);
  $("cont-search").addEventListener("input", () => renderContinuity());
  $("cont-many").addEventListener("change", () => renderContinuity());
  $("scope").addEventListener("change", () => {
    renderPlanHint();
    loadView();
  });
  $("plan-week").addEventListener("click", startPlan);
  $("plan-weight").addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  $("plan-apply").addEventListener("click", applyPlan);
  // A day unticked is left out of « Appliquer la semaine » (and of the visits to confirm).
  $("plan-days-body").addEventListener("change", (e) => {
    const box = e.target.closest(".plan-take");
    if (!box || !state.plan) return;
    if (box.checked) state.plan.skipped.delete(box.dataset.day);
    else state.plan.skipped.add(box.dataset.day);
    renderPlan();
    const again = $("plan-days-body").querySelector(`.plan-take[data-day="${box.dataset.day}"]`);
    if (again) again.focus();
  });
  $("plan-discard").addEventListener("click", discardPlan);
}

// ------------------------------------------------------------------ generation
async function generate() {
  const button = $("generate");
  button.disabled = true;
  say($("status"), () => t("week.generate.running"));
  try {
    const from = state.today;
    const reply = await call("/api/visits/generate", { method: "POST", body: { from, days: GENERATE_DAYS }, timeoutMs: 120000 });
    const vars = {
      from: dayText(reply.from || from),
      to: dayText(addDays(reply.from || from, (reply.days || GENERATE_DAYS) - 1), { year: true }),
      created: count(reply.created),
      updated: count(reply.updated),
      unchanged: count(reply.unchanged),
      cancelled: count(reply.cancelled),
    };
    await loadWeek().catch(() => {});
    say($("status"), () => t("week.generate.done", vars));
  } catch (err) {
    say($("status"), () => errorText(err));
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ staff form
let staffOpener = null;

function fillSelect(select, values, label) {
  const current = select.value;
  select.innerHTML = values.map((v) => `<option value="${escapeHtml(v)}">${escapeHtml(label(v))}</option>`).join("");
  if (values.includes(current)) select.value = current;
}

function renderWeekdayBoxes() {
  const box = $("sf-weekdays");
  const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  box.innerHTML = `<legend>${escapeHtml(t("staff.rota.days"))}</legend>`
    + WEEKDAYS.map((wd) => `<label><input type="checkbox" name="weekday" value="${wd}"${checked.has(wd) ? " checked" : ""}> <span>${escapeHtml(t(`wds.${wd}`))}</span></label>`).join("");
}

function rotaKind() {
  return $("staff-form").querySelector("input[name=rota_kind]:checked").value;
}

function syncRotaKind() {
  const cycle = rotaKind() === "cycle";
  $("sf-weekdays").hidden = cycle;
  $("sf-cycle").hidden = !cycle;
}

/** The rota in force on `day` (the latest that has started), else the first one. */
function currentRota(rotas, day) {
  const sorted = [...(rotas || [])].sort((a, b) => (a.start_day < b.start_day ? -1 : 1));
  let found = null;
  for (const r of sorted) if (r.start_day <= day) found = r;
  return found || sorted[sorted.length - 1] || null;
}

/** {on, off, shift} of a stored cycle (one shift or null a day) when it is N on then M off. */
function simpleCycle(days) {
  if (!Array.isArray(days) || !days.length) return null;
  let on = 0;
  while (on < days.length && days[on]) on += 1;
  const off = days.length - on;
  if (!on || !off || days.slice(on).some(Boolean)) return null;
  const first = JSON.stringify(days[0]);
  if (days.slice(0, on).some((d) => JSON.stringify(d) !== first)) return null;
  return { on, off, shift: days[0] };
}

function rotaText(rota) {
  const day = dayText(rota.start_day, { year: true });
  if (rota.weekdays) {
    const days = String(rota.weekdays).split(",").map((w) => t(`wds.${w.trim()}`)).join(", ");
    return t("staff.rota.weekly.text", { days, shift: shiftText(rota), day });
  }
  const cycle = simpleCycle(rota.days);
  if (cycle) return t("staff.rota.cycle.text", { on: cycle.on, off: cycle.off, shift: shiftText(cycle.shift), day });
  return `${t("staff.rota.complex", { n: (rota.days || []).length })}, ${day}`;
}

function setShiftFields(shift) {
  const [start, end] = String((shift && shift.shift) || "07:00-15:00").split("-");
  $("sf-shift-start").value = start;
  $("sf-shift-end").value = end;
  const [b] = (shift && shift.breaks) || [];
  const [bs, be] = b ? String(b).split("-") : ["", ""];
  $("sf-break-start").value = bs;
  $("sf-break-end").value = be;
}

function fillRota(rota) {
  const form = $("staff-form");
  for (const box of form.querySelectorAll("input[name=weekday]")) box.checked = false;
  $("sf-start-day").value = rota ? rota.start_day : state.today;
  if (rota && rota.weekdays) {
    form.querySelector("input[name=rota_kind][value=weekly]").checked = true;
    const days = new Set(String(rota.weekdays).split(",").map((w) => w.trim()));
    for (const box of form.querySelectorAll("input[name=weekday]")) box.checked = days.has(box.value);
    setShiftFields(rota);
  } else if (rota && rota.days) {
    form.querySelector("input[name=rota_kind][value=cycle]").checked = true;
    const cycle = simpleCycle(rota.days);
    $("sf-on").value = cycle ? cycle.on : 7;
    $("sf-off").value = cycle ? cycle.off : 7;
    setShiftFields(cycle ? cycle.shift : rota.days.find(Boolean));
  } else {
    form.querySelector("input[name=rota_kind][value=weekly]").checked = true;
    for (const box of form.querySelectorAll("input[name=weekday]")) box.checked = ["MO", "TU", "WE", "TH", "FR"].includes(box.value);
    setShiftFields(null);
  }
  syncRotaKind();
}

function renderStaffTexts() {
  fillSelect($("sf-job"), JOBS, (v) => t(`job.${v}`));
  fillSelect($("sf-gender"), GENDERS, (v) => t(`gender.${v || "none"}`));
  renderWeekdayBoxes();
  $("staff-title").textContent = state.editing ? t("staff.edit", { name: state.editing.name }) : t("staff.new");
  $("sf-depart").hidden = !state.editing;
  if (state.editing) $("sf-depart").setAttribute("aria-label", t("departure.open.label", { name: state.editing.name }));
  const rota = state.editing && currentRota(state.editing.rotas, state.today);
  show($("sf-rota-note"), rota && !state.rotaTouched ? () => t("staff.rota.kept", { text: rotaText(rota) }) : null);
  renderAbsenceList();
  renderFeedTexts();
}

function renderAbsenceList() {
  const member = state.editing;
  $("sf-absences").hidden = !member;
  if (!member) return;
  const coming = (member.absences || []).filter((a) => (a.to_day || a.from_day) >= state.today);
  $("sf-absence-list").innerHTML = coming.length
    ? coming.map((a) => {
      const text = absenceText(a);
      return `<li><span>${escapeHtml(text)}</span> <button type="button" data-absence-id="${a.id}" aria-label="${escapeHtml(t("staff.absence.cancel.label", { text }))}">${escapeHtml(t("staff.absence.cancel"))}</button></li>`;
    }).join("")
    : `<li>${escapeHtml(t("staff.absences.none"))}</li>`;
}

function absenceText(a) {
  const text = !a.to_day || a.to_day === a.from_day
    ? t("staff.absence.item.one", { kind: t(`absence.kind.${a.kind}`), day: dayText(a.from_day) })
    : t("staff.absence.item", { kind: t(`absence.kind.${a.kind}`), from: dayText(a.from_day), to: dayText(a.to_day) });
  if (!a.part) return text;
  const [start, end] = String(a.part).split("-");
  return t("staff.absence.part", { text, start, end });
}

async function openStaffForm(id, opener) {
  staffOpener = opener || null;
  state.rotaTouched = false;
  show($("staff-error"), null);
  show($("sf-absence-note"), null);
  const form = $("staff-form");
  form.reset();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  state.editing = null;
  if (id != null) {
    try {
      const reply = await call(`/api/staff/${id}`);
      state.editing = reply.staff || reply;
    } catch (err) {
      say($("status"), () => errorText(err));
      return;
    }
  }
  const member = state.editing;
  $("sf-structure-row").hidden = !!member || state.structures.length < 2;
  fillSelect($("sf-structure"), state.structures.map((s) => String(s.id)), (v) => (state.structures.find((s) => String(s.id) === v) || {}).name || v);
  renderStaffTexts();
  $("sf-name").value = member ? member.name : "";
  $("sf-job").value = member && JOBS.includes(member.job) ? member.job : "nurse";
  $("sf-gender").value = member && member.gender ? member.gender : "";
  $("sf-skills").value = member ? (member.skills || []).join(", ") : "";
  $("sf-contract").value = member ? String(member.contract_h_per_week) : "35";
  fillRota(member ? currentRota(member.rotas, state.today) : null);
  renderStaffTexts();
  $("staff-dialog").showModal();
  $("sf-name").focus();
  openFeed(member);
}

function closeStaffForm() {
  $("staff-dialog").close();
  state.editing = null;
  refocus(staffOpener);
}

function invalid(el, key, vars) {
  el.setAttribute("aria-invalid", "true");
  el.focus();
  show($("staff-error"), () => t(key, vars));
  return null;
}

/** The rota of the form ({start_day, weekdays | cycle, shift, breaks}), or null after showing
 * what to fix. */
function readRota() {
  const start = $("sf-shift-start").value;
  const end = $("sf-shift-end").value;
  if (!start || !end || end <= start) return invalid($("sf-shift-end"), "staff.error.shift");
  const bs = $("sf-break-start").value;
  const be = $("sf-break-end").value;
  if ((bs || be) && (!bs || !be || be <= bs || bs < start || be > end)) return invalid($(bs ? "sf-break-end" : "sf-break-start"), "staff.error.break");
  const startDay = $("sf-start-day").value;
  if (!isDay(startDay)) return invalid($("sf-start-day"), "staff.error.start");
  const rota = { start_day: startDay, shift: `${start}-${end}`, breaks: bs ? [`${bs}-${be}`] : [] };
  if (rotaKind() === "cycle") {
    const on = Number($("sf-on").value);
    const off = Number($("sf-off").value);
    if (!Number.isInteger(on) || on < 1) return invalid($("sf-on"), "staff.error.cycle");
    if (!Number.isInteger(off) || off < 1) return invalid($("sf-off"), "staff.error.cycle");
    rota.cycle = [on, off];
  } else {
    const days = [...$("staff-form").querySelectorAll("input[name=weekday]:checked")].map((b) => b.value);
    if (!days.length) return invalid($("staff-form").querySelector("input[name=weekday]"), "staff.error.days");
    rota.weekdays = days.join(",");
  }
  return rota;
}

function readStaffForm() {
  for (const el of $("staff-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const name = $("sf-name").value.trim();
  if (!name) return invalid($("sf-name"), "staff.error.name");
  const contract = Number($("sf-contract").value);
  if ($("sf-contract").value === "" || !Number.isFinite(contract) || contract < 0 || contract > 80) return invalid($("sf-contract"), "staff.error.contract");
  const skills = $("sf-skills").value.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = skills.find((s) => !SKILL_RE.test(s));
  if (bad) return invalid($("sf-skills"), "staff.error.skills", { skill: bad });
  const body = { name, job: $("sf-job").value, gender: $("sf-gender").value || null, skills, contract_h_per_week: contract };
  if (!state.editing || state.rotaTouched || !(state.editing.rotas || []).length) {
    const rota = readRota();
    if (!rota) return null;
    // A new rota from its start day on: the rotas that started before it stay for the past.
    const earlier = state.editing ? (state.editing.rotas || []).filter((r) => r.start_day < rota.start_day) : [];
    body.rotas = [...earlier, rota];
  }
  if (!state.editing && state.structures.length > 1) body.structure_id = Number($("sf-structure").value);
  return body;
}

async function saveStaff(e) {
  e.preventDefault();
  const body = readStaffForm();
  if (!body) return;
  const editing = state.editing;
  $("sf-save").disabled = true;
  try {
    const reply = editing
      ? await call(`/api/staff/${editing.id}`, { method: "PATCH", body })
      : await call("/api/staff", { method: "POST", body });
    const member = reply.staff || {};
    const name = member.name || body.name;
    closeStaffForm();
    await loadWeek().catch(() => {});
    say($("status"), () => t(editing ? "staff.saved" : "staff.created", { name }));
    // The keyboard goes to the person's row (drawn again): their « Modifier » button.
    document.querySelector(`#week-body button[data-act="edit"][data-id="${member.id ?? editing?.id}"]`)?.focus();
  } catch (err) {
    show($("staff-error"), () => errorText(err));
  } finally {
    $("sf-save").disabled = false;
  }
}

async function cancelAbsence(absenceId, button) {
  const member = state.editing;
  const absence = (member.absences || []).find((a) => a.id === absenceId);
  if (!absence) return;
  const text = absenceText(absence);
  const sure = await confirmAction(
    t("staff.absence.confirm.title", { name: member.name }),
    t("staff.absence.confirm.text", { text }),
    t("staff.absence.confirm.ok"),
  );
  if (!sure) {
    button?.focus();
    return;
  }
  try {
    await call(`/api/staff/${member.id}/absences/${absenceId}`, { method: "DELETE" });
    member.absences = (member.absences || []).filter((a) => a.id !== absenceId);
    renderAbsenceList();
    const name = member.name;
    // Said beside the list of absences, and at the top of the week once the grid is drawn.
    say($("sf-absence-note"), () => t("staff.absence.cancelled", { text }));
    ($("sf-absence-list").querySelector("button") || $("sf-absences-h")).focus();
    loadWeek()
      .then(() => say($("status"), () => t("staff.absence.cancelled.of", { name, text })))
      .catch(() => {});
  } catch (err) {
    show($("staff-error"), () => errorText(err));
  }
}

/** A modal question over the open dialog; resolves true when confirmed. */
function confirmAction(title, text, okLabel, keepLabel = t("staff.absence.confirm.keep")) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  $("confirm-cancel").textContent = keepLabel;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// ------------------------------------------------------------------ departure
/** The day after `lastDay`, or today when later: the first day whose visits lose their team. */
function departureFirstDay(lastDay) {
  const next = addDays(lastDay, 1);
  return next > state.today ? next : state.today;
}

/** Opens « Départ de … » over the staff form of the person being edited. */
function openDeparture() {
  const member = state.editing;
  if (!member) return;
  state.departing = member;
  $("departure-form").reset();
  $("dp-last-day").max = state.today;
  $("dp-last-day").value = state.today;
  $("dp-last-day").removeAttribute("aria-invalid");
  $("dp-save").disabled = false;
  show($("departure-title"), () => t("departure.title", { name: member.name }));
  show($("departure-error"), null);
  renderDepartureEffect();
  $("departure-dialog").showModal();
  $("dp-last-day").focus();
}

function closeDeparture() {
  $("departure-dialog").close();
  state.departing = null;
  $("sf-depart").focus();
}

/** What the departure does, for the day typed (nothing while the day is not valid). */
function renderDepartureEffect() {
  const member = state.departing;
  const day = $("dp-last-day").value;
  if (!member || !isDay(day) || day > state.today) { show($("dp-effect"), null); return; }
  // A day that fits: the earlier refusal no longer applies.
  $("dp-last-day").removeAttribute("aria-invalid");
  show($("departure-error"), null);
  show($("dp-effect"), () => t("departure.effect", { name: member.name, day: dayText(day), first: dayText(departureFirstDay(day)) }));
}

/** The last working day of the form, or null after showing what to fix. */
function readDeparture() {
  const input = $("dp-last-day");
  const day = input.value;
  let problem = null;
  if (!isDay(day)) problem = "departure.error.day";
  else if (day > state.today) problem = "departure.error.future";
  if (problem) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
    show($("departure-error"), () => t(problem));
    return null;
  }
  input.removeAttribute("aria-invalid");
  show($("departure-error"), null);
  return day;
}

async function saveDeparture(e) {
  e.preventDefault();
  const member = state.departing;
  const lastDay = readDeparture();
  if (!member || !lastDay) return;
  const vars = { name: member.name, day: dayText(lastDay), first: dayText(departureFirstDay(lastDay)) };
  const sure = await confirmAction(
    t("departure.confirm.title", vars),
    t("departure.confirm.text", vars),
    t("departure.confirm.ok"),
    t("departure.confirm.keep"),
  );
  if (!sure) { $("dp-save").focus(); return; }
  $("dp-save").disabled = true;
  show($("departure-error"), () => t("departure.running"));
  // The keyboard goes next to the row that disappears: the next person's, else the previous.
  const rows = [...document.querySelectorAll("#week-body tr[data-staff-id]")];
  const at = rows.findIndex((r) => Number(r.dataset.staffId) === member.id);
  const neighbour = at < 0 ? null : (rows[at + 1] || rows[at - 1] || null);
  const nextId = neighbour ? neighbour.dataset.staffId : null;
  try {
    const reply = await call(`/api/staff/${member.id}?${new URLSearchParams({ last_day: lastDay })}`, { method: "DELETE" });
    const departure = reply.departure || {};
    const day = departure.last_day || lastDay;
    const visits = count(departure.unassigned);
    const pairs = count(departure.pairs_ended);
    $("departure-dialog").close();
    $("staff-dialog").close();
    state.departing = null;
    state.editing = null;
    // The week's views count the person's hours and visits: read again when shown.
    state.continuity = null;
    state.hours = null;
    await loadWeek().catch(() => {});
    say($("status"), () => t("departure.done", {
      name: member.name,
      day: dayText(day, { weekday: false }),
      visits: plural("departure.visits", visits),
      pairs: pairs ? plural("departure.pairs", pairs) : "",
    }));
    const target = nextId && document.querySelector(`#week-body button[data-act="edit"][data-id="${nextId}"]`);
    (target || $("staff-new")).focus();
  } catch (err) {
    $("dp-save").disabled = false;
    show($("departure-error"), () => errorText(err));
  }
}

function setupDeparture() {
  $("sf-depart").addEventListener("click", openDeparture);
  $("departure-form").addEventListener("submit", saveDeparture);
  $("dp-cancel").addEventListener("click", closeDeparture);
  $("departure-dialog").addEventListener("cancel", (e) => { e.preventDefault(); closeDeparture(); });
  $("dp-last-day").addEventListener("input", renderDepartureEffect);
  $("dp-last-day").addEventListener("change", renderDepartureEffect);
}

function setupStaffForm() {
  const form = $("staff-form");
  form.addEventListener("submit", saveStaff);
  $("sf-cancel").addEventListener("click", closeStaffForm);
  $("staff-dialog").addEventListener("cancel", (e) => { e.preventDefault(); closeStaffForm(); });
  form.addEventListener("change", (e) => {
    e.target.removeAttribute("aria-invalid");
    if (e.target.closest("fieldset.rota")) {
      state.rotaTouched = true;
      show($("sf-rota-note"), null);
    }
    if (e.target.name === "rota_kind") syncRotaKind();
  });
  form.addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  $("sf-absence-list").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-absence-id]");
    if (button) cancelAbsence(Number(button.dataset.absenceId), button);
  });
}

// ------------------------------------------------------------------ absence form
let absenceOpener = null;
let impactTimer = null;

function renderAbsenceTexts() {
  fillSelect($("af-kind"), ABSENCE_KINDS, (v) => t(`absence.kind.${v}`));
  const rows = (state.week && state.week.staff) || [];
  const names = new Map(rows.map((r) => [String(r.id), r.name]));
  const ids = [...names.keys()];
  fillSelect($("af-staff"), ids, (v) => names.get(v));
}

function openAbsenceForm(staffId, opener) {
  absenceOpener = opener || null;
  const form = $("absence-form");
  form.reset();
  state.absence = null;
  renderAbsenceTexts();
  if (staffId != null) $("af-staff").value = String(staffId);
  // Today in the current or a past week, the week's Monday in a coming one.
  const start = state.today >= state.from ? state.today : state.from;
  $("af-from").value = start;
  $("af-to").value = start;
  for (const id of ABSENCE_FIELDS) $(id).disabled = false;
  $("af-part").hidden = true;
  $("af-save").hidden = false;
  $("af-save").disabled = false;
  $("af-replan").hidden = true;
  show($("absence-error"), null);
  renderImpact(null);
  renderReplan(null);
  $("absence-dialog").showModal();
  (staffId != null ? $("af-kind") : $("af-staff")).focus();
  scheduleImpact();
}

function closeAbsenceForm() {
  $("absence-dialog").close();
  clearTimeout(impactTimer);
  state.impactSeq += 1;
  refocus(absenceOpener);
}

/** The absence body of the form, or null (with the reason shown when `explain`). */
function readAbsence(explain) {
  const staffId = Number($("af-staff").value);
  const from = $("af-from").value;
  const to = $("af-to").value || from;
  if (!staffId || !isDay(from) || !isDay(to)) {
    if (explain) show($("absence-error"), () => t("absence.need"));
    return null;
  }
  if (to < from) {
    if (explain) {
      $("af-to").setAttribute("aria-invalid", "true");
      show($("absence-error"), () => t("absence.order"));
    }
    return null;
  }
  $("af-to").removeAttribute("aria-invalid");
  const body = { kind: $("af-kind").value, from_day: from, to_day: to };
  if ($("af-part-on").checked) {
    const start = $("af-part-start").value;
    const end = $("af-part-end").value;
    if (!start || !end || end <= start) {
      if (explain) {
        $("af-part-end").setAttribute("aria-invalid", "true");
        show($("absence-error"), () => t("absence.part.order"));
      }
      return null;
    }
    body.part = `${start}-${end}`;
  }
  $("af-part-end").removeAttribute("aria-invalid");
  show($("absence-error"), null);
  const note = $("af-note").value.trim();
  if (note) body.note = note;
  return { staffId, body };
}

function scheduleImpact() {
  clearTimeout(impactTimer);
  impactTimer = setTimeout(previewImpact, IMPACT_DELAY_MS);
}

/** Asks the server what the absence would leave without a team (nothing is written). */
async function previewImpact({ again = false } = {}) {
  const saved = state.absence && state.absence.saved;
  if (saved && !again) return;
  // Once saved, the same question is asked again only for its message in the new language.
  const read = saved ? { staffId: state.absence.staffId, body: state.absence.body } : readAbsence(true);
  if (!read) { renderImpact(null); return; }
  const seq = ++state.impactSeq;
  show($("af-impact-text"), () => t("absence.checking"));
  try {
    const reply = await call(`/api/staff/${read.staffId}/absences/impact`, { method: "POST", body: read.body });
    if (seq !== state.impactSeq) return;
    renderImpact(reply.impact || reply);
  } catch (err) {
    if (seq !== state.impactSeq) return;
    renderImpact(null);
    show($("absence-error"), () => errorText(err));
  }
}

function renderImpact(impact) {
  if (impact) state.lastImpact = impact;
  else state.lastImpact = null;
  const list = $("af-impact-days");
  if (!impact) {
    show($("af-impact-text"), null);
    list.innerHTML = "";
    $("af-impact").classList.remove("has-impact");
    return;
  }
  const total = count(impact.total);
  const message = impact.message;
  show($("af-impact-text"), () => (total ? message || "" : message || t("absence.none")));
  $("af-impact").classList.toggle("has-impact", hasImpact(impact));
  const days = (impact.days || []).filter((d) => count(d.count) > 0);
  const short = (impact.capacity || []).filter((c) => c.short);
  // The days the others' hours no longer cover, when the message counts visits instead.
  const shortItems = total
    ? short.map((c) => `<li>${escapeHtml(t("absence.capacity", { day: dayText(c.day), left: hoursText(c.remaining_h), need: hoursText(c.visit_h) }))}</li>`)
    : [];
  list.innerHTML = (days.length > 1
    ? days.map((d) => `<li>${escapeHtml(t("absence.day", { day: dayText(d.day), visits: plural("week.visits", count(d.count)) }))}</li>`)
    : []).concat(shortItems).join("");
}

/** Something to replan: visits to give to others, or a day the others' hours cannot cover. */
function hasImpact(impact) {
  if (!impact) return false;
  return Boolean(impact.reassign) || count(impact.total) > 0;
}

async function saveAbsence(e) {
  e.preventDefault();
  const read = readAbsence(true);
  if (!read) return;
  $("af-save").disabled = true;
  clearTimeout(impactTimer);
  state.impactSeq += 1;
  try {
    const reply = await call(`/api/staff/${read.staffId}/absences`, { method: "POST", body: read.body });
    state.absence = { staffId: read.staffId, absence: reply.absence, impact: reply.impact, body: read.body, saved: true };
    renderImpact(reply.impact);
    for (const id of ABSENCE_FIELDS) $(id).disabled = true;
    $("af-save").hidden = true;
    const text = absenceText(read.body);
    $("af-replan").hidden = !hasImpact(reply.impact);
    say($("status"), () => t("absence.saved", { text }));
    show($("af-replan-text"), () => t("absence.saved", { text }));
    ($("af-replan").hidden ? $("af-close") : $("af-replan")).focus();
    loadWeek().catch(() => {});
  } catch (err) {
    $("af-save").disabled = false;
    show($("absence-error"), () => errorText(err));
  }
}

async function replan() {
  const saved = state.absence;
  if (!saved || !saved.absence) return;
  const button = $("af-replan");
  button.disabled = true;
  say($("af-replan-text"), () => t("absence.replan.running"));
  try {
    const reply = await call(`/api/staff/${saved.staffId}/absences/${saved.absence.id}/replan`, { method: "POST", body: {}, timeoutMs: 180000 });
    saved.replan = reply.days || [];
    button.hidden = true;
    renderReplan(saved.replan);
    $("af-replan-days").querySelector("a")?.focus();
  } catch (err) {
    button.disabled = false;
    say($("af-replan-text"), () => errorText(err));
  }
}

function renderReplan(days) {
  const list = $("af-replan-days");
  if (!days) {
    show($("af-replan-text"), null);
    list.innerHTML = "";
    return;
  }
  show($("af-replan-text"), () => t(days.length ? "absence.replan.done" : "absence.replan.none"));
  list.innerHTML = days.map((d) => {
    if (d.plan_id == null) {
      return `<li>${escapeHtml(t("absence.replan.failed", { day: dayText(d.day), unassigned: count(d.unassigned), error: d.error || "" }))} `
        + `<a href="${escapeHtml(mapLink(d.day, null))}">${escapeHtml(t("absence.replan.open"))}<span class="visually-hidden">${escapeHtml(t("absence.replan.open.day", { day: dayText(d.day) }))}</span></a></li>`;
    }
    const params = new URLSearchParams({ day: d.day });
    if (d.plan_id != null) params.set("plan", String(d.plan_id));
    const key = count(d.dropped) ? "absence.replan.dropped" : "absence.replan.day";
    return `<li${count(d.dropped) ? ' class="check"' : ""}><span>${escapeHtml(t(key, { day: dayText(d.day), moved: count(d.moved), unassigned: count(d.unassigned), dropped: count(d.dropped) }))}</span> `
      + `<a href="/map/?${escapeHtml(params.toString())}">${escapeHtml(t("absence.replan.open"))}`
      + `<span class="visually-hidden">${escapeHtml(t("absence.replan.open.more", { day: dayText(d.day) }))}</span></a></li>`;
  }).join("");
}

function setupAbsenceForm() {
  const form = $("absence-form");
  form.addEventListener("submit", saveAbsence);
  form.addEventListener("change", scheduleImpact);
  form.addEventListener("input", (e) => { if (e.target.type === "date") scheduleImpact(); });
  $("af-from").addEventListener("change", () => {
    if (!$("af-to").value || $("af-to").value < $("af-from").value) $("af-to").value = $("af-from").value;
  });
  $("af-part-on").addEventListener("change", (e) => { $("af-part").hidden = !e.target.checked; });
  $("af-replan").addEventListener("click", replan);
  $("af-close").addEventListener("click", closeAbsenceForm);
  $("absence-dialog").addEventListener("cancel", (e) => { e.preventDefault(); closeAbsenceForm(); });
}

// ------------------------------------------------------------------ start
function onLocale() {
  for (const id of ["lang", "login-lang"]) $(id).setAttribute("lang", getLocale() === "fr" ? "en" : "fr");
  reshow();
  if (!state.me) return;
  show($("whoami"), () => t("week.whoami", { name: state.me.display_name || state.me.name || state.me.username, role: t(`week.role.${state.me.role}`) }));
  if (state.from) {
    renderWeek();
    renderView();
    renderPlan();
  }
  if ($("staff-dialog").open) renderStaffTexts();
  if ($("absence-dialog").open) {
    const kind = $("af-kind").value;
    const staff = $("af-staff").value;
    renderAbsenceTexts();
    $("af-kind").value = kind;
    $("af-staff").value = staff;
    if (state.absence && state.absence.replan) renderReplan(state.absence.replan);
    // The impact message is the server's, in the page's language: asked again.
    if (state.lastImpact) previewImpact({ again: true });
  }
}

async function main() {
  apply();
  $("lang").addEventListener("click", toggle);
  $("login-lang").addEventListener("click", toggle);
  onChange(onLocale);
  onLocale();
  $("logout").addEventListener("click", session.logout);
  state.me = await session.start();
  $("logout").hidden = false;
  // A planner reads the week; staff, absences and generation are the coordinators'.
  $("actions-bar").hidden = !canEdit();
  // Continuity, hours and the week's planning are the coordinators' (the week API).
  $("views-bar").hidden = !canEdit();
  if (!canEdit()) $("view-grid").removeAttribute("role");
  const config = await call("/api/live/config").catch(() => null);
  if (config && config.territory) $("territory-name").textContent = config.territory.name;
  state.today = (config && config.day) || new Date().toISOString().slice(0, 10);
  const structures = await call("/api/structures").catch(() => null);
  state.structures = (structures && (structures.items || structures.structures)) || [];
  setupStaffForm();
  setupDeparture();
  setupAbsenceForm();
  setupViews();
  setupExports({ call, show, say, errorText, state, scopeId, canEdit, dayText, addDays });
  renderScope();
  $("week-body").addEventListener("click", onTableClick);
  $("prev").addEventListener("click", () => goTo(addDays(state.from, -7)));
  $("next").addEventListener("click", () => goTo(addDays(state.from, 7)));
  $("this-week").addEventListener("click", () => goTo(state.today));
  $("week-day").addEventListener("change", (e) => { if (isDay(e.target.value)) goTo(e.target.value); });
  $("staff-new").addEventListener("click", (e) => openStaffForm(null, e.currentTarget));
  $("absence-new").addEventListener("click", (e) => openAbsenceForm(null, e.currentTarget));
  $("generate").addEventListener("click", generate);
  $("main").hidden = false;
  onLocale();
  const wanted = new URLSearchParams(location.search).get("from");
  await goTo(isDay(wanted) ? wanted : state.today);
  if (canEdit()) resumePlan();
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = t("week.error.network");
  document.body.append(p);
});
