// Patients (/patients/): the coordinator's list of the structure's patients, a patient's record
// (identity, address geocoded offline with a pin to correct, access notes, contacts), care plans
// (windows of the day, recurrence, staff wishes), suspensions, discharge, export, the coming
// visits, and the generation of the next 14 days. French first, English complete.
import { GLYPHS_URL, labelLayers } from "/static/map/basemap-style.js";
import { api, ApiError, escapeHtml } from "/static/map/common.js";
import { createSession } from "/static/map/session.js";
import { apply, extend, getLocale, onChange, setLocale, t } from "/static/map/i18n.js";

extend({
  fr: {
    "pt.title": "Dispatch — patients",
    "pt.brand": "Dispatch — patients",
    "pt.nav": "Pages",
    "pt.nav.map": "Carte des équipes",
    "pt.nav.week": "Semaine",
    "pt.nav.admin": "Gestion",
    "pt.logout": "Se déconnecter",
    "pt.whoami": "{name} (coordination)",
    "pt.login.title": "Connexion coordinateur",
    "pt.login.failed": "Connexion refusée : vérifiez l'identifiant et le mot de passe.",
    "pt.login.role": "Cette page est réservée aux coordinateurs.",
    "pt.list.title": "Patients",
    "pt.list.new": "Nouveau patient",
    "pt.list.more": "Afficher plus",
    "pt.list.count": "{shown} patient(s) affiché(s) sur {total}.",
    "pt.list.none": "Aucun patient ne correspond.",
    "pt.list.empty": "Aucun patient pour l'instant : créez le premier.",
    "pt.import.place": "Placer",
    "pt.import.place.label": "Placer la ligne {line} ({name}) sur la carte",
    "pt.import.pin.help": "Ligne {line}, {name} : déplacez l'épingle jusqu'au domicile (souris ou flèches du clavier), ou cliquez sur la carte.",
    "pt.import.placed": "Épingle placée à la main.",
    "pt.import.map": "Carte de l'import",
    "pt.import.open": "Importer un fichier CSV",
    "pt.import.title": "Importer des patients (CSV)",
    "pt.import.hint": "Une ligne par patient ; la première ligne nomme les colonnes : family_name (obligatoire), given_name, birth_date, sex, phone, address, commune, access_notes, referring_doctor, contact_name, contact_relation, contact_phone, id_INS… Séparateur virgule ou point-virgule. Rien n'est enregistré avant votre vérification.",
    "pt.import.file": "Fichier CSV",
    "pt.import.check": "Vérifier le fichier",
    "pt.import.close": "Fermer",
    "pt.import.review": "Vérification avant import",
    "pt.import.col.tick": "Importer",
    "pt.import.col.line": "Ligne",
    "pt.import.col.match": "Adresse trouvée",
    "pt.import.col.note": "Remarque",
    "pt.import.needfile": "Choisissez d'abord le fichier CSV.",
    "pt.import.checking": "Vérification du fichier…",
    "pt.import.summary": "{rows} ligne(s) : {ready} prête(s), {dupes} doublon(s) probable(s), {bad} à corriger.",
    "pt.import.tick": "Importer la ligne {line} ({name})",
    "pt.import.confirm.one": "Importer le patient coché",
    "pt.import.confirm.other": "Importer les {n} patients cochés",
    "pt.import.none": "Cochez au moins une ligne à importer.",
    "pt.import.importing": "Import…",
    "pt.import.done": "{n} patient(s) importé(s) : ajoutez leurs plans de soins depuis leur dossier.",
    "pt.import.failed": "Rien n'a été importé : {error}",
    "pt.import.notfound": "Adresse introuvable sur le territoire : corrigez la ligne, ou créez ce patient à la main et placez l'épingle.",
    "pt.import.approx": "Seule la commune est trouvée : corrigez l'adresse, ou créez ce patient à la main et placez l'épingle.",
    "pt.import.dup.stored": "Déjà suivi : {name}",
    "pt.import.dup.line": "Même personne que la ligne {line}",
    "pt.share": "Partage avec une autre structure",
    "pt.share.hint": "Avec le consentement du patient (ou de son représentant), une autre structure du bassin, un DAC par exemple, peut lire ce dossier ; chaque lecture est tracée.",
    "pt.share.new": "Enregistrer un consentement",
    "pt.share.structure": "Structure destinataire",
    "pt.share.choose": "Choisir une structure…",
    "pt.share.structure.hint": "Les structures du bassin inscrites sur la plateforme, par nom : celle que le patient a désignée.",
    "pt.share.consent": "Consentement du",
    "pt.share.purpose": "Objet",
    "pt.share.save": "Enregistrer le partage",
    "pt.share.none": "Ce dossier n'est partagé avec aucune autre structure.",
    "pt.share.unknown": "Structure n° {id}",
    "pt.share.item": "{name} — consentement du {day}",
    "pt.share.revoked": "révoqué",
    "pt.share.revoke": "Révoquer",
    "pt.share.revoke.label": "Révoquer le partage avec {name}",
    "pt.share.revoke.title": "Révoquer le partage avec {name} ?",
    "pt.share.revoke.text": "Elle ne pourra plus lire ce dossier ; ce qu'elle a lu reste tracé.",
    "pt.share.saved": "Partage enregistré avec {name}.",
    "pt.share.done": "Partage avec {name} révoqué.",
    "pt.error.share.structure": "Choisissez la structure destinataire.",
    "pt.error.share.consent": "Donnez la date du consentement.",
    "pt.shared.note": "Dossier d'une autre structure (n° {id}), partagé avec la vôtre par consentement du {day}{purpose} : lecture seule ; chaque lecture est tracée.",
    "pt.filter.shared": "Partagés avec ma structure",
    "pt.search": "Chercher (nom, pseudonyme, commune)",
    "pt.search.label": "Chercher un patient",
    "pt.filter.status": "Statut",
    "pt.filter.all": "Tous (sauf sortis)",
    "pt.col.patient": "Patient",
    "pt.col.commune": "Commune",
    "pt.col.status": "Statut",
    "pt.col.suspension": "Prochaine suspension",
    "pt.col.plans": "Plans de soins",
    "pt.col.day": "Jour",
    "pt.col.window": "Créneau",
    "pt.col.care": "Soin",
    "pt.open.label": "Ouvrir le dossier de {name}",
    "pt.status.admitted": "Pris en charge",
    "pt.status.suspended": "Suspendu",
    "pt.status.discharged": "Sorti",
    "pt.demo": "DÉMO",
    "pt.generate": "Générer les visites (14 jours)",
    "pt.generate.running": "Génération des visites en cours…",
    "pt.generate.done": "Visites des 14 jours à partir du {day} : {created} créée(s), {updated} modifiée(s), {unchanged} inchangée(s), {cancelled} annulée(s).",
    "pt.back": "← Liste des patients",
    "pt.new.title": "Nouveau patient",
    "pt.export": "Exporter le dossier",
    "pt.export.done": "Dossier exporté : {file}.",
    "pt.discharge": "Sortie du patient",
    "pt.discharge.title": "Sortie de {name} ?",
    "pt.discharge.text": "Ses visites à venir sont annulées et le dossier est archivé, puis effacé après la durée de conservation.",
    "pt.discharge.day": "Date de sortie",
    "pt.discharge.confirm": "Confirmer la sortie",
    "pt.discharge.done": "{name} est sorti(e) le {day} : {cancelled} visite(s) à venir annulée(s).",
    "pt.discharged.on": "Sorti(e) le {day} : dossier archivé.",
    "pt.readmit": "Réadmettre",
    "pt.readmit.title": "Réadmettre {name} ?",
    "pt.readmit.text": "Le dossier redevient actif à cette date et n'est plus archivé. Les plans de soins terminés à la sortie restent terminés : ajoutez ensuite celui dont le patient a besoin.",
    "pt.readmit.day": "Date de réadmission",
    "pt.readmit.confirm": "Confirmer la réadmission",
    "pt.readmit.done": "{name} est réadmis(e) le {day} : le dossier est de nouveau actif.",
    "pt.error.readmit.day": "Donnez la date de réadmission (pas avant la sortie du {day}).",
    "pt.plans.ended.readmitted": "Réadmis(e) le {day} : les plans de soins terminés à la sortie restent terminés, aucune visite n'est prévue. Ajoutez un plan de soins pour prévoir ses visites.",
    "pt.plans.ended": "Aucun plan de soins en cours : ceux de la liste ont pris fin, aucune visite n'est prévue. Ajoutez un plan de soins pour prévoir ses visites.",
    "pt.plans.ended.add": "Ajouter un plan de soins",
    "pt.plan.over": "terminé",
    "pt.identity": "Identité",
    "pt.f.family": "Nom de famille",
    "pt.f.given": "Prénom",
    "pt.f.birth": "Date de naissance",
    "pt.f.sex": "Sexe",
    "pt.f.phone": "Téléphone",
    "pt.f.structure": "Structure",
    "pt.f.pseudonym": "Pseudonyme (écrans partagés)",
    "pt.f.pseudonym.hint": "Montré sur la carte et les téléphones à la place du nom. Laissez vide pour qu'il soit créé.",
    "pt.sex.female": "Femme",
    "pt.sex.male": "Homme",
    "pt.sex.other": "Autre",
    "pt.sex.unknown": "Non précisé",
    "pt.address": "Adresse",
    "pt.f.address": "Numéro et rue",
    "pt.f.commune": "Commune",
    "pt.locate": "Localiser",
    "pt.locate.empty": "Tapez l'adresse et la commune à localiser.",
    "pt.locate.none": "Adresse introuvable sur le territoire : vérifiez l'orthographe, ou placez l'épingle sur la carte.",
    "pt.locate.found": "Trouvée : {label} — précision : {precision}.",
    "pt.precision": "Précision de la position : {precision}.",
    "pt.precision.none": "Pas encore localisée : cliquez sur « Localiser » ou placez l'épingle sur la carte.",
    "pt.precision.moved": "Épingle déplacée à la main ({lat}, {lon}) : enregistrez pour la garder.",
    "pt.precision.housenumber": "numéro exact",
    "pt.precision.street": "milieu de la rue",
    "pt.precision.commune": "centre de la commune",
    "pt.precision.manual": "placée à la main",
    "pt.precision.given": "position donnée",
    "pt.map.hint": "Déplacez l'épingle (souris, ou flèches du clavier une fois l'épingle sélectionnée) ou cliquez sur la carte si le domicile est mal placé.",
    "pt.map.label": "Carte du domicile",
    "pt.pin.label": "Épingle du domicile : flèches pour la déplacer",
    "pt.f.access": "Accès (code de porte, clés, animaux…)",
    "pt.f.doctor": "Médecin traitant",
    "pt.contacts": "Personnes à contacter",
    "pt.contacts.add": "Ajouter une personne",
    "pt.contact.name": "Nom",
    "pt.contact.relation": "Lien (fille, voisin, aidant…)",
    "pt.contact.phone": "Téléphone",
    "pt.contact.remove": "Retirer {what}",
    "pt.contact.this": "cette personne",
    "pt.ids": "Identifiants externes",
    "pt.ids.add": "Ajouter un identifiant",
    "pt.id.system": "Système (INS, n° de dossier…)",
    "pt.id.value": "Valeur",
    "pt.id.this": "cet identifiant",
    "pt.save": "Enregistrer",
    "pt.cancel": "Annuler",
    "pt.add": "Ajouter",
    "pt.remove": "Retirer",
    "pt.edit": "Modifier",
    "pt.saved": "Dossier enregistré : {name}.",
    "pt.created": "Patient créé : {name}. Ajoutez maintenant son plan de soins.",
    "pt.error.family": "Donnez le nom de famille du patient.",
    "pt.error.address": "Donnez l'adresse (numéro et rue) et la commune, ou placez l'épingle sur la carte.",
    "pt.error.contact": "Chaque personne à contacter a besoin d'un nom.",
    "pt.error.id": "Chaque identifiant externe a besoin d'un système et d'une valeur.",
    "pt.error.server": "Refusé par le serveur : {error}",
    "pt.error.network": "Le serveur ne répond pas : réessayez dans un instant.",
    "pt.error.forbidden": "Votre rôle ne permet pas cette action.",
    "pt.error.missing": "Ce patient n'existe pas ou n'est pas suivi par votre structure.",
    "pt.missing.title": "Dossier introuvable",
    "pt.plans": "Plans de soins",
    "pt.plan.new": "Nouveau plan de soins",
    "pt.plan.form.new": "Nouveau plan de soins",
    "pt.plan.form.edit": "Modifier : {label}",
    "pt.plan.label": "Intitulé",
    "pt.plan.kind": "Soin",
    "pt.plan.duration": "Durée (minutes)",
    "pt.plan.priority": "Priorité",
    "pt.plan.skills": "Compétences",
    "pt.plan.skills.hint": "Codes séparés par des virgules, par exemple : insulin (insuline), wound_care (pansements), blood_test (prise de sang).",
    "pt.plan.windows": "Passages de la journée (créneau de chaque visite)",
    "pt.plan.window.add": "Ajouter un passage",
    "pt.plan.window.from": "Passage {n} : de",
    "pt.plan.window.to": "à",
    "pt.plan.window.remove": "Retirer le passage {n}",
    "pt.plan.recurrence": "Jours",
    "pt.freq.daily": "Tous les jours",
    "pt.freq.weekdays": "Certains jours de la semaine",
    "pt.freq.weeks": "Toutes les N semaines",
    "pt.freq.custom": "Autre règle (RRULE)",
    "pt.freq.rrule": "Règle de récurrence (RFC 5545)",
    "pt.freq.rrule.hint": "Par exemple FREQ=DAILY;INTERVAL=2 (un jour sur deux) ou FREQ=MONTHLY;BYMONTHDAY=1.",
    "pt.freq.interval": "Toutes les",
    "pt.freq.interval.unit": "semaines",
    "pt.freq.days": "Jours de la semaine",
    "pt.plan.start": "Début",
    "pt.plan.end": "Fin (facultative)",
    "pt.plan.exceptions": "Jours sautés",
    "pt.plan.additions": "Jours ajoutés (ponctuels)",
    "pt.plan.exceptions.list": "Liste des jours sautés",
    "pt.plan.additions.list": "Liste des jours ajoutés",
    "pt.plan.day.remove": "Retirer le {day}",
    "pt.plan.wishes": "Intervenants",
    "pt.plan.two": "Visite à deux (deux soignants en même temps, transfert lourd)",
    "pt.plan.gender": "Préférence du patient",
    "pt.gender.none": "Aucune",
    "pt.gender.female": "Une soignante (femme)",
    "pt.gender.male": "Un soignant (homme)",
    "pt.plan.preferred": "Soignants préférés",
    "pt.plan.excluded": "Soignants exclus",
    "pt.plan.nostaff": "Aucun soignant enregistré dans la structure.",
    "pt.job.nurse": "infirmier·e",
    "pt.job.care_aide": "aide-soignant·e",
    "pt.job.doctor": "médecin",
    "pt.job.psychologist": "psychologue",
    "pt.job.other": "autre métier",
    "pt.plan.save": "Enregistrer le plan",
    "pt.plan.delete": "Supprimer ce plan",
    "pt.plan.delete.title": "Supprimer le plan « {label} » ?",
    "pt.plan.delete.text": "Ses visites à venir qui n'ont pas été modifiées à la main sont annulées.",
    "pt.plan.deleted": "Plan « {label} » supprimé : {cancelled} visite(s) annulée(s).",
    "pt.plan.saved": "Plan « {label} » enregistré : {created} visite(s) créée(s), {updated} modifiée(s), {cancelled} annulée(s).",
    "pt.plan.none": "Aucun plan de soins : ajoutez-en un pour que les visites soient générées.",
    "pt.plan.savefirst": "Enregistrez d'abord l'identité du patient.",
    "pt.plan.inactive": "inactif",
    "pt.plan.two.short": "à deux",
    "pt.plan.duration.short": "{n} min",
    "pt.plan.from": "à partir du {day}",
    "pt.plan.fromto": "du {from} au {to}",
    "pt.plan.wish.gender.female": "soignante demandée",
    "pt.plan.wish.gender.male": "soignant demandé",
    "pt.plan.wish.preferred": "préférés : {names}",
    "pt.plan.wish.excluded": "exclus : {names}",
    "pt.plan.except.count": "{n} jour(s) sauté(s)",
    "pt.plan.add.count": "{n} jour(s) ajouté(s)",
    "pt.error.windows": "Donnez au moins un passage, avec une fin après le début.",
    "pt.error.overlap": "Les passages {a} et {b} se chevauchent : chaque visite de la journée a son propre créneau.",
    "pt.error.duration": "Durée : un nombre de minutes, de 1 à 720.",
    "pt.error.days": "Cochez au moins un jour de la semaine.",
    "pt.error.interval": "Intervalle : de 2 à 52 semaines.",
    "pt.error.start": "Donnez la date de début du plan.",
    "pt.error.end": "La fin doit venir après le début.",
    "pt.error.rrule": "Écrivez la règle, par exemple FREQ=DAILY;INTERVAL=2.",
    "pt.error.skills": "Compétence « {skill} » : lettres minuscules, chiffres, _ ou - seulement.",
    "pt.rule.daily": "Tous les jours",
    "pt.skill.insulin": "insuline",
    "pt.skill.wound_care": "pansements",
    "pt.skill.blood_test": "prise de sang",
    "pt.skill.assessment": "évaluation",
    "pt.skill.injection": "injections",
    "pt.skill.hygiene": "toilette",
    "pt.skill.palliative": "soins palliatifs",
    "pt.skill.infusion": "perfusion",
    "pt.skill.medication": "médicaments",
    "pt.skill.catheter": "sonde",
    "pt.skill.stoma": "stomie",
    "pt.plan.skills.text": "Compétences : {skills}",
    "pt.col.structure": "Structure",
    "pt.record.structure": "Structure : {name}",
    "pt.structure.number": "structure n° {id}",
    "pt.visits.legend": "« planifiée » : dans la tournée d'une équipe ; « prévue » : pas encore dans une tournée.",
    "pt.rule.weekly": "Chaque semaine : {days}",
    "pt.rule.weeks": "Toutes les {n} semaines : {days}",
    "pt.rule.everyday": "tous les jours",
    "pt.kind.hygiene": "Toilette",
    "pt.kind.evening_care": "Aide au coucher",
    "pt.kind.insulin": "Insuline",
    "pt.kind.dressing": "Pansement",
    "pt.kind.injection": "Injection",
    "pt.kind.blood_test": "Prise de sang",
    "pt.kind.assessment": "Bilan de soins",
    "pt.kind.palliative_assessment": "Évaluation palliative",
    "pt.kind.medication": "Aide à la prise de médicaments",
    "pt.kind.infusion": "Perfusion",
    "pt.kind.other": "Autre soin",
    "pt.kind.nursing": "Soins infirmiers",
    "pt.kind.palliative": "Soins palliatifs",
    "pt.kind.geriatric": "Gériatrie",
    "pt.priority.0": "Faible",
    "pt.priority.1": "Normale",
    "pt.priority.2": "Haute",
    "pt.priority.3": "Urgente",
    "pt.susp": "Suspensions",
    "pt.susp.new": "Suspendre les visites",
    "pt.susp.reason": "Motif",
    "pt.susp.from": "Du",
    "pt.susp.to": "Au (inclus, facultatif)",
    "pt.susp.note": "Note",
    "pt.susp.save": "Enregistrer la suspension",
    "pt.susp.none": "Aucune suspension.",
    "pt.susp.text.range": "{reason} du {from} au {to}",
    "pt.susp.text.open": "{reason} à partir du {from}, jusqu'à nouvel ordre",
    "pt.susp.cancelled.one": "{n} visite annulée",
    "pt.susp.cancelled.other": "{n} visites annulées",
    "pt.susp.saved": "{text} : {cancelled} visite(s) annulée(s).",
    "pt.susp.end": "Lever",
    "pt.susp.end.label": "Lever la suspension : {text}",
    "pt.susp.end.title": "Lever la suspension ?",
    "pt.susp.end.text": "{text}. Les visites qu'elle annulait et qui sont encore à venir sont rétablies.",
    "pt.susp.ended": "Suspension levée : {reinstated} visite(s) rétablie(s).",
    "pt.susp.lifted": "levée",
    "pt.susp.now": "en cours",
    "pt.error.susp.from": "Donnez le premier jour de la suspension.",
    "pt.error.susp.to": "Le dernier jour doit venir le premier jour ou après.",
    "pt.replan.offer": "Les tournées déjà publiées qui comptaient ce patient peuvent être recalculées sans ses visites ; les autres visites gardent leur équipe autant que possible.",
    "pt.replan.run": "Replanifier les tournées",
    "pt.replan.running": "Replanification des tournées en cours, jour par jour…",
    "pt.replan.done": "Propositions prêtes : vérifiez chaque jour sur la carte, puis appliquez-les.",
    "pt.replan.none": "Aucune tournée publiée ne comptait ce patient : rien à replanifier.",
    "pt.replan.offer.lifted": "Les visites rétablies ne sont dans aucune tournée publiée : les tournées de ces jours peuvent être recalculées pour les y replacer ; les autres visites gardent leur équipe autant que possible.",
    "pt.replan.lifted.one": "{n} visite rétablie à replacer dans les tournées",
    "pt.replan.lifted.other": "{n} visites rétablies à replacer dans les tournées",
    "pt.replan.none.lifted": "Aucune tournée publiée ces jours-là : les visites rétablies seront placées à la prochaine planification des tournées.",
    "pt.replan.day": "{day} : {moves}, {unassigned}",
    "pt.replan.moves.zero": "aucune visite ne change d'équipe",
    "pt.replan.moves.one": "{n} visite change d'équipe ({moves})",
    "pt.replan.moves.other": "{n} visites changent d'équipe ({moves})",
    "pt.replan.unassigned.zero": "aucune visite sans équipe",
    "pt.replan.unassigned.one": "{n} visite sans équipe",
    "pt.replan.unassigned.other": "{n} visites sans équipe",
    "pt.replan.dropped": "{n} retirée(s) d'autres tournées, à vérifier",
    "pt.replan.placed.one": "{n} visite replacée dans une tournée ({moves})",
    "pt.replan.placed.other": "{n} visites replacées dans les tournées ({moves})",
    "pt.replan.move": "{from} → {to}",
    "pt.replan.move.many": "{n} × {from} → {to}",
    "pt.replan.noteam": "sans équipe",
    "pt.replan.team": "équipe n° {id}",
    "pt.replan.open": "Voir et appliquer sur la carte",
    "pt.replan.open.day": " : proposition du {day}",
    "pt.replan.failed": "{day} : pas de proposition ({error})",
    "pt.replan.failed.open": "Voir la journée sur la carte",
    "pt.replan.failed.open.day": " : {day}",
    "pt.reason.hospitalisation": "Hospitalisation",
    "pt.reason.holiday": "Vacances",
    "pt.reason.respite": "Séjour de répit",
    "pt.reason.other": "Absence",
    "pt.visits": "Prochaines visites (14 jours)",
    "pt.visits.none": "Aucune visite prévue dans les 14 prochains jours : enregistrez un plan de soins, puis générez les visites.",
    "pt.visits.count": "{n} visite(s) à venir, {cancelled} annulée(s).",
    "pt.visit.cancelled.suspended": "annulée — {reason}",
    "pt.visit.cancelled.plan": "annulée — plus prévue au plan",
    "pt.visit.cancelled.discharge": "annulée — sortie du patient",
    "pt.visit.cancelled": "annulée",
    "pt.visit.two": "à deux",
    "pt.visit.round": "Tournée du {day} sur la carte",
    "pt.visit.edited": "modifiée à la main",
    "pt.vstatus.planned": "prévue (pas encore dans une tournée)",
    "pt.vstatus.assigned": "planifiée (dans une tournée)",
    "pt.vstatus.arrived": "équipe arrivée",
    "pt.vstatus.in_progress": "en cours",
    "pt.vstatus.done": "terminée",
    "pt.vstatus.missed": "manquée",
    "pt.vstatus.cancelled": "annulée",
  },
  en: {
    "pt.title": "Dispatch — patients",
    "pt.brand": "Dispatch — patients",
    "pt.nav": "Pages",
    "pt.nav.map": "Team map",
    "pt.nav.week": "Week",
    "pt.nav.admin": "Management",
    "pt.logout": "Log out",
    "pt.whoami": "{name} (coordination)",
    "pt.login.title": "Coordinator login",
    "pt.login.failed": "Login refused: check the login and the password.",
    "pt.login.role": "This page is for coordinators.",
    "pt.list.title": "Patients",
    "pt.list.new": "New patient",
    "pt.list.more": "Show more",
    "pt.list.count": "{shown} patient(s) shown out of {total}.",
    "pt.list.none": "No patient matches.",
    "pt.list.empty": "No patient yet: create the first one.",
    "pt.import.place": "Place",
    "pt.import.place.label": "Place line {line} ({name}) on the map",
    "pt.import.pin.help": "Line {line}, {name}: drag the pin to the home (mouse or arrow keys), or click on the map.",
    "pt.import.placed": "Pin placed by hand.",
    "pt.import.map": "Map of the import",
    "pt.import.open": "Import a CSV file",
    "pt.import.title": "Import patients (CSV)",
    "pt.import.hint": "One line per patient; the first line names the columns: family_name (required), given_name, birth_date, sex, phone, address, commune, access_notes, referring_doctor, contact_name, contact_relation, contact_phone, id_INS… Comma or semicolon separated. Nothing is stored before you have checked it.",
    "pt.import.file": "CSV file",
    "pt.import.check": "Check the file",
    "pt.import.close": "Close",
    "pt.import.review": "Review before import",
    "pt.import.col.tick": "Import",
    "pt.import.col.line": "Line",
    "pt.import.col.match": "Address found",
    "pt.import.col.note": "Note",
    "pt.import.needfile": "Choose the CSV file first.",
    "pt.import.checking": "Checking the file…",
    "pt.import.summary": "{rows} line(s): {ready} ready, {dupes} likely duplicate(s), {bad} to correct.",
    "pt.import.tick": "Import line {line} ({name})",
    "pt.import.confirm.one": "Import the ticked patient",
    "pt.import.confirm.other": "Import the {n} ticked patients",
    "pt.import.none": "Tick at least one line to import.",
    "pt.import.importing": "Importing…",
    "pt.import.done": "{n} patient(s) imported: add their care plans from their records.",
    "pt.import.failed": "Nothing was imported: {error}",
    "pt.import.notfound": "Address not found in the territory: correct the line, or create this patient by hand and place the pin.",
    "pt.import.approx": "Only the town was found: correct the address, or create this patient by hand and place the pin.",
    "pt.import.dup.stored": "Already followed: {name}",
    "pt.import.dup.line": "Same person as line {line}",
    "pt.share": "Sharing with another structure",
    "pt.share.hint": "With the patient's (or their representative's) consent, another structure of the area, a DAC for example, can read this record; every read is logged.",
    "pt.share.new": "Record a consent",
    "pt.share.structure": "Receiving structure",
    "pt.share.choose": "Choose a structure…",
    "pt.share.structure.hint": "The structures of the area registered on the platform, by name: the one the patient named.",
    "pt.share.consent": "Consent given on",
    "pt.share.purpose": "Purpose",
    "pt.share.save": "Save the sharing",
    "pt.share.none": "This record is not shared with any other structure.",
    "pt.share.unknown": "Structure no. {id}",
    "pt.share.item": "{name} — consent of {day}",
    "pt.share.revoked": "revoked",
    "pt.share.revoke": "Revoke",
    "pt.share.revoke.label": "Revoke the sharing with {name}",
    "pt.share.revoke.title": "Revoke the sharing with {name}?",
    "pt.share.revoke.text": "It will no longer read this record; what it read stays logged.",
    "pt.share.saved": "Sharing recorded with {name}.",
    "pt.share.done": "Sharing with {name} revoked.",
    "pt.error.share.structure": "Choose the receiving structure.",
    "pt.error.share.consent": "Give the date of the consent.",
    "pt.shared.note": "Record of another structure (no. {id}), shared with yours by consent of {day}{purpose}: read only; every read is logged.",
    "pt.filter.shared": "Shared with my structure",
    "pt.search": "Search (name, pseudonym, town)",
    "pt.search.label": "Search a patient",
    "pt.filter.status": "Status",
    "pt.filter.all": "All (but discharged)",
    "pt.col.patient": "Patient",
    "pt.col.commune": "Town",
    "pt.col.status": "Status",
    "pt.col.suspension": "Next suspension",
    "pt.col.plans": "Care plans",
    "pt.col.day": "Day",
    "pt.col.window": "Window",
    "pt.col.care": "Care",
    "pt.open.label": "Open the record of {name}",
    "pt.status.admitted": "In care",
    "pt.status.suspended": "Suspended",
    "pt.status.discharged": "Discharged",
    "pt.demo": "DEMO",
    "pt.generate": "Generate the visits (14 days)",
    "pt.generate.running": "Generating the visits…",
    "pt.generate.done": "Visits of the 14 days from {day}: {created} created, {updated} changed, {unchanged} unchanged, {cancelled} cancelled.",
    "pt.back": "← Patient list",
    "pt.new.title": "New patient",
    "pt.export": "Export the record",
    "pt.export.done": "Record exported: {file}.",
    "pt.discharge": "Discharge the patient",
    "pt.discharge.title": "Discharge {name}?",
    "pt.discharge.text": "Their coming visits are cancelled and the record is archived, then erased after the retention period.",
    "pt.discharge.day": "Discharge date",
    "pt.discharge.confirm": "Confirm the discharge",
    "pt.discharge.done": "{name} was discharged on {day}: {cancelled} coming visit(s) cancelled.",
    "pt.discharged.on": "Discharged on {day}: record archived.",
    "pt.readmit": "Readmit",
    "pt.readmit.title": "Readmit {name}?",
    "pt.readmit.text": "The record is active again from that date and no longer archived. The care plans ended by the discharge stay ended: then add the one the patient needs.",
    "pt.readmit.day": "Readmission date",
    "pt.readmit.confirm": "Confirm the readmission",
    "pt.readmit.done": "{name} was readmitted on {day}: the record is active again.",
    "pt.error.readmit.day": "Give the readmission date (not before the discharge on {day}).",
    "pt.plans.ended.readmitted": "Readmitted on {day}: the care plans ended by the discharge stay ended, no visit is planned. Add a care plan to plan the visits.",
    "pt.plans.ended": "No care plan running: those listed have ended, no visit is planned. Add a care plan to plan the visits.",
    "pt.plans.ended.add": "Add a care plan",
    "pt.plan.over": "ended",
    "pt.identity": "Identity",
    "pt.f.family": "Family name",
    "pt.f.given": "Given name",
    "pt.f.birth": "Date of birth",
    "pt.f.sex": "Sex",
    "pt.f.phone": "Phone",
    "pt.f.structure": "Structure",
    "pt.f.pseudonym": "Pseudonym (shared screens)",
    "pt.f.pseudonym.hint": "Shown on the map and the phones instead of the name. Leave empty to have one made.",
    "pt.sex.female": "Female",
    "pt.sex.male": "Male",
    "pt.sex.other": "Other",
    "pt.sex.unknown": "Not given",
    "pt.address": "Address",
    "pt.f.address": "Number and street",
    "pt.f.commune": "Town",
    "pt.locate": "Locate",
    "pt.locate.empty": "Type the address and the town to locate.",
    "pt.locate.none": "Address not found in the territory: check the spelling, or place the pin on the map.",
    "pt.locate.found": "Found: {label} — precision: {precision}.",
    "pt.precision": "Precision of the position: {precision}.",
    "pt.precision.none": "Not located yet: click \"Locate\" or place the pin on the map.",
    "pt.precision.moved": "Pin moved by hand ({lat}, {lon}): save to keep it.",
    "pt.precision.housenumber": "exact number",
    "pt.precision.street": "middle of the street",
    "pt.precision.commune": "centre of the town",
    "pt.precision.manual": "placed by hand",
    "pt.precision.given": "given position",
    "pt.map.hint": "Drag the pin (mouse, or arrow keys once the pin is selected) or click on the map if the home is misplaced.",
    "pt.map.label": "Map of the home",
    "pt.pin.label": "Pin of the home: arrow keys move it",
    "pt.f.access": "Access (door code, keys, pets…)",
    "pt.f.doctor": "General practitioner",
    "pt.contacts": "People to contact",
    "pt.contacts.add": "Add a person",
    "pt.contact.name": "Name",
    "pt.contact.relation": "Relation (daughter, neighbour, carer…)",
    "pt.contact.phone": "Phone",
    "pt.contact.remove": "Remove {what}",
    "pt.contact.this": "this person",
    "pt.ids": "External identifiers",
    "pt.ids.add": "Add an identifier",
    "pt.id.system": "System (INS, file number…)",
    "pt.id.value": "Value",
    "pt.id.this": "this identifier",
    "pt.save": "Save",
    "pt.cancel": "Cancel",
    "pt.add": "Add",
    "pt.remove": "Remove",
    "pt.edit": "Edit",
    "pt.saved": "Record saved: {name}.",
    "pt.created": "Patient created: {name}. Now add their care plan.",
    "pt.error.family": "Give the patient's family name.",
    "pt.error.address": "Give the address (number and street) and the town, or place the pin on the map.",
    "pt.error.contact": "Each person to contact needs a name.",
    "pt.error.id": "Each external identifier needs a system and a value.",
    "pt.error.server": "Refused by the server: {error}",
    "pt.error.network": "The server does not answer: try again in a moment.",
    "pt.error.forbidden": "Your role does not allow this action.",
    "pt.error.missing": "This patient does not exist or is not followed by your structure.",
    "pt.missing.title": "Record not found",
    "pt.plans": "Care plans",
    "pt.plan.new": "New care plan",
    "pt.plan.form.new": "New care plan",
    "pt.plan.form.edit": "Edit: {label}",
    "pt.plan.label": "Title",
    "pt.plan.kind": "Care",
    "pt.plan.duration": "Duration (minutes)",
    "pt.plan.priority": "Priority",
    "pt.plan.skills": "Skills",
    "pt.plan.skills.hint": "Codes separated by commas, for example: insulin (insulin), wound_care (wound care), blood_test (blood test).",
    "pt.plan.windows": "Visits of the day (window of each visit)",
    "pt.plan.window.add": "Add a visit of the day",
    "pt.plan.window.from": "Visit {n}: from",
    "pt.plan.window.to": "to",
    "pt.plan.window.remove": "Remove visit {n} of the day",
    "pt.plan.recurrence": "Days",
    "pt.freq.daily": "Every day",
    "pt.freq.weekdays": "Chosen days of the week",
    "pt.freq.weeks": "Every N weeks",
    "pt.freq.custom": "Another rule (RRULE)",
    "pt.freq.rrule": "Recurrence rule (RFC 5545)",
    "pt.freq.rrule.hint": "For example FREQ=DAILY;INTERVAL=2 (every other day) or FREQ=MONTHLY;BYMONTHDAY=1.",
    "pt.freq.interval": "Every",
    "pt.freq.interval.unit": "weeks",
    "pt.freq.days": "Days of the week",
    "pt.plan.start": "Start",
    "pt.plan.end": "End (optional)",
    "pt.plan.exceptions": "Days skipped",
    "pt.plan.additions": "Days added (one-off)",
    "pt.plan.exceptions.list": "List of the days skipped",
    "pt.plan.additions.list": "List of the days added",
    "pt.plan.day.remove": "Remove {day}",
    "pt.plan.wishes": "Staff",
    "pt.plan.two": "Two-person visit (two carers at the same time, heavy transfer)",
    "pt.plan.gender": "Patient's preference",
    "pt.gender.none": "None",
    "pt.gender.female": "A female carer",
    "pt.gender.male": "A male carer",
    "pt.plan.preferred": "Preferred staff",
    "pt.plan.excluded": "Excluded staff",
    "pt.plan.nostaff": "No staff recorded in the structure.",
    "pt.job.nurse": "nurse",
    "pt.job.care_aide": "care aide",
    "pt.job.doctor": "doctor",
    "pt.job.psychologist": "psychologist",
    "pt.job.other": "other job",
    "pt.plan.save": "Save the plan",
    "pt.plan.delete": "Delete this plan",
    "pt.plan.delete.title": "Delete the plan \"{label}\"?",
    "pt.plan.delete.text": "Its coming visits that were not edited by hand are cancelled.",
    "pt.plan.deleted": "Plan \"{label}\" deleted: {cancelled} visit(s) cancelled.",
    "pt.plan.saved": "Plan \"{label}\" saved: {created} visit(s) created, {updated} changed, {cancelled} cancelled.",
    "pt.plan.none": "No care plan: add one so that visits are generated.",
    "pt.plan.savefirst": "Save the patient's identity first.",
    "pt.plan.inactive": "inactive",
    "pt.plan.two.short": "two-person",
    "pt.plan.duration.short": "{n} min",
    "pt.plan.from": "from {day}",
    "pt.plan.fromto": "from {from} to {to}",
    "pt.plan.wish.gender.female": "female carer asked",
    "pt.plan.wish.gender.male": "male carer asked",
    "pt.plan.wish.preferred": "preferred: {names}",
    "pt.plan.wish.excluded": "excluded: {names}",
    "pt.plan.except.count": "{n} day(s) skipped",
    "pt.plan.add.count": "{n} day(s) added",
    "pt.error.windows": "Give at least one visit of the day, ending after it starts.",
    "pt.error.overlap": "Visits {a} and {b} overlap: each visit of the day has its own window.",
    "pt.error.duration": "Duration: a number of minutes, from 1 to 720.",
    "pt.error.days": "Tick at least one day of the week.",
    "pt.error.interval": "Interval: from 2 to 52 weeks.",
    "pt.error.start": "Give the plan's start date.",
    "pt.error.end": "The end must come after the start.",
    "pt.error.rrule": "Write the rule, for example FREQ=DAILY;INTERVAL=2.",
    "pt.error.skills": "Skill \"{skill}\": lowercase letters, digits, _ or - only.",
    "pt.rule.daily": "Every day",
    "pt.skill.insulin": "insulin",
    "pt.skill.wound_care": "wound care",
    "pt.skill.blood_test": "blood test",
    "pt.skill.assessment": "assessment",
    "pt.skill.injection": "injections",
    "pt.skill.hygiene": "hygiene care",
    "pt.skill.palliative": "palliative care",
    "pt.skill.infusion": "infusion",
    "pt.skill.medication": "medication",
    "pt.skill.catheter": "catheter",
    "pt.skill.stoma": "stoma",
    "pt.plan.skills.text": "Skills: {skills}",
    "pt.col.structure": "Structure",
    "pt.record.structure": "Structure: {name}",
    "pt.structure.number": "structure no. {id}",
    "pt.visits.legend": "“scheduled”: in a team's round; “planned”: not yet in a round.",
    "pt.rule.weekly": "Every week: {days}",
    "pt.rule.weeks": "Every {n} weeks: {days}",
    "pt.rule.everyday": "every day",
    "pt.kind.hygiene": "Personal care",
    "pt.kind.evening_care": "Help to bed",
    "pt.kind.insulin": "Insulin",
    "pt.kind.dressing": "Wound dressing",
    "pt.kind.injection": "Injection",
    "pt.kind.blood_test": "Blood test",
    "pt.kind.assessment": "Nursing assessment",
    "pt.kind.palliative_assessment": "Palliative assessment",
    "pt.kind.medication": "Help with medication",
    "pt.kind.infusion": "Infusion",
    "pt.kind.other": "Other care",
    "pt.kind.nursing": "Nursing care",
    "pt.kind.palliative": "Palliative care",
    "pt.kind.geriatric": "Geriatric care",
    "pt.priority.0": "Low",
    "pt.priority.1": "Normal",
    "pt.priority.2": "High",
    "pt.priority.3": "Urgent",
    "pt.susp": "Suspensions",
    "pt.susp.new": "Suspend the visits",
    "pt.susp.reason": "Reason",
    "pt.susp.from": "From",
    "pt.susp.to": "To (included, optional)",
    "pt.susp.note": "Note",
    "pt.susp.save": "Save the suspension",
    "pt.susp.none": "No suspension.",
    "pt.susp.text.range": "{reason} from {from} to {to}",
    "pt.susp.text.open": "{reason} from {from}, until further notice",
    "pt.susp.cancelled.one": "{n} visit cancelled",
    "pt.susp.cancelled.other": "{n} visits cancelled",
    "pt.susp.saved": "{text}: {cancelled} visit(s) cancelled.",
    "pt.susp.end": "Lift",
    "pt.susp.end.label": "Lift the suspension: {text}",
    "pt.susp.end.title": "Lift the suspension?",
    "pt.susp.end.text": "{text}. The coming visits it cancelled are reinstated.",
    "pt.susp.ended": "Suspension lifted: {reinstated} visit(s) reinstated.",
    "pt.susp.lifted": "lifted",
    "pt.susp.now": "current",
    "pt.error.susp.from": "Give the first day of the suspension.",
    "pt.error.susp.to": "The last day must be on or after the first day.",
    "pt.replan.offer": "The published rounds that held this patient can be recomputed without their visits; the other visits keep their team as far as possible.",
    "pt.replan.run": "Replan the rounds",
    "pt.replan.running": "Replanning the rounds, day by day…",
    "pt.replan.done": "Proposals ready: check each day on the map, then apply them.",
    "pt.replan.none": "No published round held this patient: nothing to replan.",
    "pt.replan.offer.lifted": "The reinstated visits are in no published round: the rounds of those days can be recomputed to put them back; the other visits keep their team as far as possible.",
    "pt.replan.lifted.one": "{n} reinstated visit to put back in the rounds",
    "pt.replan.lifted.other": "{n} reinstated visits to put back in the rounds",
    "pt.replan.none.lifted": "No published round on those days: the reinstated visits will be placed when the rounds are next planned.",
    "pt.replan.day": "{day}: {moves}, {unassigned}",
    "pt.replan.moves.zero": "no visit changes team",
    "pt.replan.moves.one": "{n} visit changes team ({moves})",
    "pt.replan.moves.other": "{n} visits change team ({moves})",
    "pt.replan.unassigned.zero": "no visit left without a team",
    "pt.replan.unassigned.one": "{n} visit left without a team",
    "pt.replan.unassigned.other": "{n} visits left without a team",
    "pt.replan.dropped": "{n} taken out of other rounds, to check",
    "pt.replan.placed.one": "{n} visit put back in a round ({moves})",
    "pt.replan.placed.other": "{n} visits put back in the rounds ({moves})",
    "pt.replan.move": "{from} → {to}",
    "pt.replan.move.many": "{n} × {from} → {to}",
    "pt.replan.noteam": "no team",
    "pt.replan.team": "team no. {id}",
    "pt.replan.open": "See and apply on the map",
    "pt.replan.open.day": ": proposal of {day}",
    "pt.replan.failed": "{day}: no proposal ({error})",
    "pt.replan.failed.open": "See the day on the map",
    "pt.replan.failed.open.day": ": {day}",
    "pt.reason.hospitalisation": "Hospitalisation",
    "pt.reason.holiday": "Holiday",
    "pt.reason.respite": "Respite stay",
    "pt.reason.other": "Away",
    "pt.visits": "Coming visits (14 days)",
    "pt.visits.none": "No visit in the next 14 days: save a care plan, then generate the visits.",
    "pt.visits.count": "{n} coming visit(s), {cancelled} cancelled.",
    "pt.visit.cancelled.suspended": "cancelled — {reason}",
    "pt.visit.cancelled.plan": "cancelled — no longer in the plan",
    "pt.visit.cancelled.discharge": "cancelled — patient discharged",
    "pt.visit.cancelled": "cancelled",
    "pt.visit.two": "two-person",
    "pt.visit.round": "Round of {day} on the map",
    "pt.visit.edited": "edited by hand",
    "pt.vstatus.planned": "planned (not yet in a round)",
    "pt.vstatus.assigned": "scheduled (in a round)",
    "pt.vstatus.arrived": "team arrived",
    "pt.vstatus.in_progress": "in progress",
    "pt.vstatus.done": "done",
    "pt.vstatus.missed": "missed",
    "pt.vstatus.cancelled": "cancelled",
  },
});

const PAGE_SIZE = 50;
const HORIZON_DAYS = 14;
const KINDS = ["hygiene", "evening_care", "insulin", "dressing", "injection", "blood_test", "medication", "infusion", "assessment", "palliative_assessment", "other"];
/** Skills a care kind usually needs (the demonstration service's names), offered on a new plan. */
const KIND_SKILLS = { hygiene: ["hygiene"], evening_care: ["hygiene"], insulin: ["insulin"], dressing: ["wound_care"], injection: ["injection"], blood_test: ["blood_test"], assessment: ["assessment"], palliative_assessment: ["palliative"], infusion: ["infusion"] };
const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

const state = {
  me: null,
  config: null,
  today: null,
  structures: [],
  staff: [],
  sharings: [],
  list: { items: [], total: 0, offset: 0, next: null },
  patient: null, // the record open, or null for a new one
  plans: [],
  suspensions: [],
  replan: null, // {patientId, from, to, lifted, days|null, running} offered after a suspension is saved or lifted
  visits: [],
  editingPlan: null,
  readmitted: null, // {id, day} of the patient readmitted from this screen
  point: null, // [lon, lat] of the pin
  pointMoved: false, // moved by the coordinator since the record was loaded
  located: null, // the last geocoder match {label, precision}
  exceptions: new Set(),
  additions: new Set(),
};
let map = null;
let marker = null;

function $(id) {
  return document.getElementById(id);
}

function locale() {
  return getLocale() === "en" ? "en-GB" : "fr-FR";
}

// ------------------------------------------------------------------ messages
/** Messages on screen, kept as functions so that they follow a change of language. */
const shown = new Map();

/** One full stop where an abbreviated date ("ven. 18 déc.") ends a sentence. */
function tidy(text) {
  return String(text).replace(/\.\.(?=\s|$)/g, ".");
}

function show(el, message) {
  if (message) shown.set(el, message);
  else shown.delete(el);
  el.textContent = message ? tidy(message()) : "";
}

function reshow() {
  for (const [el, message] of shown) el.textContent = tidy(message());
}

function say(id, message) {
  const el = $(id);
  show(el, null);
  // Written a moment later so that screen readers announce a repeated message too.
  setTimeout(() => show(el, message), 30);
}

function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return t("pt.error.forbidden");
    return t("pt.error.server", { error: err.message });
  }
  return t("pt.error.network");
}

// ------------------------------------------------------------------ dates
function parseDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d, 12);
}

function isoDay(date) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
}

/** "mer. 9 déc." / "Wed 9 Dec". */
function dayText(day, { year = false } = {}) {
  if (!day) return "";
  const options = { weekday: "short", day: "numeric", month: "short" };
  if (year) options.year = "numeric";
  return parseDay(day).toLocaleDateString(locale(), options);
}

function longDay(day) {
  return parseDay(day).toLocaleDateString(locale(), { day: "numeric", month: "long", year: "numeric" });
}

function weekdayName(code, style = "short") {
  // 2024-01-01 was a Monday.
  const d = new Date(2024, 0, 1 + WEEKDAYS.indexOf(code), 12);
  return d.toLocaleDateString(locale(), { weekday: style });
}

function plural(n, key) {
  const form = new Intl.PluralRules(getLocale()).select(n) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { n });
}

// ------------------------------------------------------------------ login
const session = createSession({
  allowed: (user) => user.role === "coordinator",
  failedText: () => t("pt.login.failed"),
  roleText: () => t("pt.login.role"),
  errorText: (err) => errorText(err),
  show: (el, message) => show(el, message),
});
/** A REST call of the page (the log-in comes back when the session has ended). */
const call = session.call;

// ------------------------------------------------------------------ list
function displayName(p) {
  const name = [p.family_name ? p.family_name.toUpperCase() : "", p.given_name || ""].filter(Boolean).join(" ");
  return name || p.pseudonym || `#${p.id}`;
}

function suspensionText(s) {
  if (!s) return "";
  const reason = t(`pt.reason.${s.reason}`) === `pt.reason.${s.reason}` ? s.reason : t(`pt.reason.${s.reason}`);
  return s.to_day
    ? t("pt.susp.text.range", { reason, from: dayText(s.from_day), to: dayText(s.to_day) })
    : t("pt.susp.text.open", { reason, from: dayText(s.from_day) });
}

function statusPill(status) {
  return `<span class="pill ${escapeHtml(status)}">${escapeHtml(t(`pt.status.${status}`))}</span>`;
}

async function loadList({ more = false } = {}) {
  const q = $("q").value.trim();
  const status = $("status-filter").value;
  const offset = more ? state.list.items.length : 0;
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  if (q) params.set("q", q);
  if (status === "shared") params.set("shared", "true");
  else if (status) params.set("status", status);
  const asked = params.toString();
  loadList.last = asked;
  try {
    const reply = await call(`/api/patients?${asked}`);
    if (loadList.last !== asked) return; // a newer search was typed meanwhile
    state.list = {
      items: more ? [...state.list.items, ...reply.items] : reply.items,
      total: reply.total,
      next: reply.next,
      filtered: !!(q || status),
    };
    renderList();
  } catch (err) {
    show($("list-status"), () => errorText(err));
  }
}

/** The name of one of the caller's structures (another one's: its number). */
function structureName(id) {
  const s = state.structures.find((x) => x.id === id);
  return s ? s.name : t("pt.structure.number", { id });
}

function renderList() {
  const body = document.querySelector("#patient-table tbody");
  const { items, total, filtered } = state.list;
  // The structure column, for a coordinator of several structures (or a list of shared records).
  const several = state.structures.length > 1 || items.some((p) => !state.structures.some((x) => x.id === p.structure_id));
  document.querySelector("#patient-table th.col-structure").hidden = !several;
  if (!items.length) {
    body.innerHTML = `<tr><td colspan="6">${escapeHtml(t(filtered ? "pt.list.none" : "pt.list.empty"))}</td></tr>`;
  } else {
    body.innerHTML = items.map((p) => {
      const name = displayName(p);
      return `<tr data-patient-id="${p.id}" class="${escapeHtml(p.status)}">
        <th scope="row"><button type="button" class="linkish" data-open="${p.id}" aria-label="${escapeHtml(t("pt.open.label", { name: `${p.pseudonym} — ${name}` }))}">${escapeHtml(p.pseudonym)}</button>${p.demo ? ` <span class="pill demo">${escapeHtml(t("pt.demo"))}</span>` : ""}<span class="sub">${escapeHtml(name)}</span><span class="sub phone-only">${escapeHtml([p.commune, several ? structureName(p.structure_id) : ""].filter(Boolean).join(" · "))}</span></th>
        <td class="col-structure"${several ? "" : " hidden"}>${escapeHtml(structureName(p.structure_id))}</td>
        <td class="col-commune">${escapeHtml(p.commune || "–")}</td>
        <td>${statusPill(p.status)}</td>
        <td class="col-suspension">${p.suspension ? escapeHtml(suspensionText(p.suspension)) : "–"}</td>
        <td class="num col-plans">${Number(p.care_plans || 0)}</td>
      </tr>`;
    }).join("");
  }
  $("more").hidden = items.length >= total;
  show($("list-status"), () => (items.length ? t("pt.list.count", { shown: items.length, total }) : ""));
}

function setupList() {
  let timer = null;
  $("q").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => loadList(), 250);
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadList(); });
  $("status-filter").addEventListener("change", () => loadList());
  $("more").addEventListener("click", () => loadList({ more: true }));
  $("patient-new").addEventListener("click", () => go("new"));
  $("generate").addEventListener("click", generate);
  document.querySelector("#patient-table tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-open]");
    if (button) go(`patient-${button.dataset.open}`);
  });
}

async function generate() {
  const button = $("generate");
  button.disabled = true;
  say("generate-status", () => t("pt.generate.running"));
  const from = state.today;
  try {
    const reply = await call("/api/visits/generate", { method: "POST", body: { from, days: HORIZON_DAYS }, timeoutMs: 120000 });
    const counts = { created: reply.created ?? 0, updated: reply.updated ?? 0, unchanged: reply.unchanged ?? 0, cancelled: reply.cancelled ?? 0 };
    say("generate-status", () => t("pt.generate.done", { day: dayText(from), ...counts }));
    if (state.patient) await loadVisits();
  } catch (err) {
    say("generate-status", () => errorText(err));
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ CSV import
const importState = { rows: [], ticked: new Set(), current: null, map: null, pin: null };

function rowReady(r) {
  return !!r.corrected || (r.importable && !r.warning);
}

/** A line the coordinator can place by hand: its address not found, or found at the town only. */
function placeable(r) {
  return !r.corrected && !!r.patient && !!r.patient.family_name && (!!r.warning || (!!r.error && /not found/.test(r.error)));
}

function importName(r) {
  const p = r.patient || {};
  return [p.family_name ? String(p.family_name).toUpperCase() : "", p.given_name || ""].filter(Boolean).join(" ");
}

function placeRow(line) {
  const r = importState.rows.find((x) => x.line === line);
  if (!r) return;
  importState.current = line;
  $("import-pin").hidden = false;
  show($("import-pin-help"), () => t("pt.import.pin.help", { line, name: importName(r) }));
  if (!importState.map) {
    importState.map = newMap("import-map");
    importState.map.on("click", (e) => moveImportPin([e.lngLat.lng, e.lngLat.lat]));
    importState.map.on("load", localiseMap);
    window.patientsImportMap = importState.map;
  }
  importState.map.resize();
  const p = r.patient;
  const at = p.lon != null && p.lat != null ? [p.lon, p.lat] : r.match && r.match.lon != null ? [r.match.lon, r.match.lat] : importState.map.getCenter().toArray();
  if (!importState.pin) importState.pin = newPin(moveImportPin, () => importState.map);
  importState.pin.setLngLat(at).addTo(importState.map);
  importState.map.jumpTo({ center: at, zoom: Math.max(importState.map.getZoom(), 14) });
  importState.pin.getElement().focus();
}

function moveImportPin(lonlat) {
  const r = importState.rows.find((x) => x.line === importState.current);
  if (!r) return;
  importState.pin.setLngLat(lonlat);
  // The coordinator's pin: the server keeps it as placed by hand.
  r.patient = { ...r.patient, lon: Number(lonlat[0].toFixed(6)), lat: Number(lonlat[1].toFixed(6)), geocode_precision: "manual", pin_corrected: true };
  if (!r.corrected) importState.ticked.add(r.line);
  r.corrected = true;
  renderImport();
}

function rowNote(r) {
  const notes = [];
  const d = r.duplicate_of;
  if (d) notes.push(d.patient_id != null ? t("pt.import.dup.stored", { name: d.pseudonym || `#${d.patient_id}` }) : t("pt.import.dup.line", { line: d.line }));
  if (r.corrected) notes.push(t("pt.import.placed"));
  else if (r.error) notes.push(/not found/.test(r.error) ? t("pt.import.notfound") : r.error);
  else if (r.warning) notes.push(t("pt.import.approx"));
  return notes.join(" ; ");
}

function renderImport() {
  const box = $("import-review");
  const rows = importState.rows;
  box.hidden = !rows.length;
  if (!rows.length) return;
  const ready = rows.filter((r) => rowReady(r) && !r.duplicate_of).length;
  const dupes = rows.filter((r) => r.duplicate_of).length;
  const bad = rows.filter((r) => !rowReady(r)).length;
  show($("import-summary"), () => t("pt.import.summary", { rows: rows.length, ready, dupes, bad }));
  document.querySelector("#import-table tbody").innerHTML = rows.map((r) => {
    const p = r.patient || {};
    const name = importName(r);
    const ok = rowReady(r);
    const precision = r.corrected ? t("pt.precision.manual") : r.match && r.match.precision ? t(`pt.precision.${r.match.precision}`) : "";
    return `<tr data-line="${r.line}" class="${ok ? "" : "bad"}${r.duplicate_of ? " dup" : ""}">
      <td><input type="checkbox" data-line="${r.line}" aria-label="${escapeHtml(t("pt.import.tick", { line: r.line, name }))}"${importState.ticked.has(r.line) ? " checked" : ""}${ok ? "" : " disabled"}></td>
      <td class="num">${r.line}</td>
      <th scope="row">${escapeHtml(name)}${p.birth_date ? `<span class="sub">${escapeHtml(longDay(p.birth_date))}</span>` : ""}</th>
      <td>${escapeHtml([p.address, p.commune].filter(Boolean).join(", "))}</td>
      <td>${escapeHtml(r.match && r.match.label ? r.match.label : "–")}${precision ? `<span class="sub">${escapeHtml(precision)}</span>` : ""}</td>
      <td>${escapeHtml(rowNote(r))}${placeable(r) || r.corrected ? ` <button type="button" class="small" data-place="${r.line}" aria-label="${escapeHtml(t("pt.import.place.label", { line: r.line, name }))}">${escapeHtml(t("pt.import.place"))}</button>` : ""}</td>
    </tr>`;
  }).join("");
  const n = importState.ticked.size;
  $("import-confirm").textContent = plural(n, "pt.import.confirm");
  $("import-confirm").disabled = !n;
}

/** POST a CSV body (common.js's api() sends JSON only). */
async function postCsv(path, bytes) {
  const headers = { Accept: "application/json", "Content-Type": "text/csv", "Accept-Language": getLocale() };
  let csrf = sessionStorage.getItem("dispatch.csrf");
  if (!csrf) {
    const session = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } }).then((r) => r.json()).catch(() => null);
    csrf = session && session.csrf_token;
  }
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, { method: "POST", headers, body: bytes, credentials: "same-origin", cache: "no-store" });
  const data = await response.json().catch(() => null);
  if (!response.ok || !data || data.ok === false) throw new ApiError(data, response.status);
  return data;
}

function importStructure() {
  return !$("import-structure-row").hidden && $("import-structure").value ? Number($("import-structure").value) : null;
}

async function checkImport() {
  const file = $("import-file").files[0];
  if (!file) {
    say("import-status", () => t("pt.import.needfile"));
    $("import-file").focus();
    return;
  }
  say("import-status", () => t("pt.import.checking"));
  $("import-check").disabled = true;
  try {
    const structure = importStructure();
    const reply = await postCsv(`/api/patients/import/preview${structure ? `?structure_id=${structure}` : ""}`, await file.arrayBuffer());
    importState.rows = reply.rows || [];
    importState.current = null;
    $("import-pin").hidden = true;
    // A line repeating a stored patient starts unticked (the file was probably imported already).
    importState.ticked = new Set(importState.rows.filter((r) => rowReady(r) && !(r.duplicate_of && r.duplicate_of.patient_id != null)).map((r) => r.line));
    say("import-status", null);
    renderImport();
    $("import-review-h").focus();
  } catch (err) {
    importState.rows = [];
    renderImport();
    say("import-status", () => errorText(err));
  } finally {
    $("import-check").disabled = false;
  }
}

async function confirmImport() {
  const rows = importState.rows.filter((r) => importState.ticked.has(r.line) && rowReady(r));
  if (!rows.length) {
    say("import-status", () => t("pt.import.none"));
    return;
  }
  $("import-confirm").disabled = true;
  say("import-status", () => t("pt.import.importing"));
  try {
    const body = { rows: rows.map((r) => ({ line: r.line, patient: r.patient })) };
    const structure = importStructure();
    if (structure) body.structure_id = structure;
    const reply = await call("/api/patients/import/confirm", { method: "POST", body, timeoutMs: 120000 });
    importState.rows = [];
    importState.ticked.clear();
    importState.current = null;
    $("import-pin").hidden = true;
    $("import-file").value = "";
    renderImport();
    const n = reply.imported;
    say("import-status", () => t("pt.import.done", { n }));
    await loadList();
    $("import-file").focus();
  } catch (err) {
    const details = err instanceof ApiError && err.body && Array.isArray(err.body.details) ? err.body.details.map((d) => d.error || "").filter(Boolean).join(" ; ") : "";
    say("import-status", () => t("pt.import.failed", { error: details || errorText(err) }));
    renderImport();
  }
}

function toggleImport(open) {
  $("import").hidden = !open;
  $("import-open").setAttribute("aria-expanded", String(open));
  if (open) {
    const several = state.structures.length > 1;
    $("import-structure-row").hidden = !several;
    if (several && !$("import-structure").options.length) {
      $("import-structure").innerHTML = state.structures.map((x) => `<option value="${x.id}">${escapeHtml(x.name)}</option>`).join("");
    }
    $("import-file").focus();
  } else $("import-open").focus();
}

function setupImport() {
  $("import-open").addEventListener("click", () => toggleImport($("import").hidden));
  $("import-close").addEventListener("click", () => toggleImport(false));
  $("import-check").addEventListener("click", checkImport);
  $("import-confirm").addEventListener("click", confirmImport);
  document.querySelector("#import-table tbody").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-place]");
    if (button) placeRow(Number(button.dataset.place));
  });
  document.querySelector("#import-table tbody").addEventListener("change", (e) => {
    const box = e.target.closest("input[data-line]");
    if (!box) return;
    const line = Number(box.dataset.line);
    if (box.checked) importState.ticked.add(line);
    else importState.ticked.delete(line);
    const n = importState.ticked.size;
    $("import-confirm").textContent = plural(n, "pt.import.confirm");
    $("import-confirm").disabled = !n;
  });
}

// ------------------------------------------------------------------ views (list / record)
/** #patient-12 opens a record, #new the form of a new patient, anything else the list. */
function go(hash) {
  if (location.hash.slice(1) === hash) route();
  else location.hash = hash;
}

/** « Générer les visites » in the actions row of the view on screen (list or record). */
function placeGenerate(inRecord) {
  const head = document.querySelector(inRecord ? "#record-view .record-head" : "#list-view .panel-head");
  head.insertBefore($("generate"), inRecord ? $("export") : null);
  head.after($("generate-status"));
}

async function route() {
  const hash = location.hash.slice(1);
  const match = /^patient-(\d+)$/.exec(hash);
  if (match) return openRecord(Number(match[1]));
  if (hash === "new") return openRecord(null);
  $("record-view").hidden = true;
  $("list-view").hidden = false;
  placeGenerate(false);
  document.title = t("pt.title");
  await loadList();
  const back = state.patient && document.querySelector(`#patient-table button[data-open="${state.patient.id}"]`);
  state.patient = null;
  (back || $("q")).focus();
}

async function openRecord(id) {
  state.sharings = [];
  state.plans = [];
  state.suspensions = [];
  state.replan = null;
  state.visits = [];
  $("list-view").hidden = true;
  $("record-view").hidden = false;
  placeGenerate(true);
  show($("record-status-text"), null);
  for (const id2 of ["plans-status", "susp-status", "patient-error", "plan-error", "susp-error"]) show($(id2), null);
  closePlanForm({ focus: false });
  if (id == null) {
    state.patient = null;
    state.plans = [];
    state.suspensions = [];
    state.visits = [];
    fillPatientForm(null);
    renderRecord();
    $("pf-family").focus();
    return;
  }
  try {
    const reply = await call(`/api/patients/${id}`);
    state.patient = reply.patient;
  } catch (err) {
    // Another structure's patient is not found either: nothing of it is shown.
    state.patient = null;
    $("record-grid").hidden = true;
    for (const el of ["record-status", "export", "discharge-open", "readmit-open"]) $(el).hidden = true;
    show($("record-h"), () => t("pt.missing.title"));
    show($("record-status-text"), () => (err instanceof ApiError && err.status === 404 ? t("pt.error.missing") : errorText(err)));
    $("back").focus();
    return;
  }
  fillPatientForm(state.patient);
  renderRecord();
  await Promise.all([loadPlans(), loadSuspensions(), loadVisits(), loadSharings()]);
  $("record-h").focus();
}

function renderRecord() {
  const p = state.patient;
  $("record-grid").hidden = false;
  $("record-status").hidden = false;
  show($("record-h"), null);
  const title = p ? `${p.pseudonym} — ${displayName(p)}` : t("pt.new.title");
  $("record-h").textContent = title;
  $("record-h").tabIndex = -1;
  document.title = `${title} — ${t("pt.title")}`;
  show($("record-structure"), p ? () => t("pt.record.structure", { name: structureName(p.structure_id) }) : null);
  const pill = $("record-status");
  pill.className = `pill ${p ? p.status : ""}`;
  pill.textContent = p ? t(`pt.status.${p.status}`) : "";
  $("export").hidden = !p || !!p.shared;
  $("discharge-open").hidden = !p || p.status === "discharged" || !!p.shared;
  // A discharged record comes back into care unless the retention has erased its identity.
  $("readmit-open").hidden = !p || p.status !== "discharged" || !!p.shared || !!p.purged;
  // A new patient: the care plans wait for the identity to be saved. Another structure's
  // record shared with this one is read only: its identity and address, nothing else.
  const shared = !!(p && p.shared);
  // On a phone the day-to-day cards (plans, suspensions, coming visits) come before the identity.
  $("record-grid").classList.toggle("daily-first", !!p && !shared);
  for (const id of ["suspensions", "visits", "sharing"]) $(id).hidden = !p || shared;
  $("plans").hidden = shared;
  $("shared-note").hidden = !shared;
  if (shared) {
    const x = p.shared;
    show($("shared-note"), () => t("pt.shared.note", { id: x.structure_id, day: longDay(x.consent_on), purpose: x.purpose ? ` (${x.purpose})` : "" }));
  } else show($("shared-note"), null);
  if (p && p.status === "discharged" && p.discharged_on) {
    show($("record-status-text"), () => t("pt.discharged.on", { day: longDay(p.discharged_on) }));
  }
  $("susp-form").hidden = !p || p.status === "discharged";
  $("share-form").hidden = !p || p.status === "discharged";
  if (!$("sh-consent").value) $("sh-consent").value = state.today;
  renderSharings();
  $("plan-new").hidden = !p || p.status === "discharged";
  renderPlans();
  renderSuspensions();
  renderVisits();
}

// ------------------------------------------------------------------ record form
let rowSeq = 0;

function contactRow(c = {}) {
  const i = ++rowSeq;
  const li = document.createElement("li");
  li.className = "contact";
  li.innerHTML = `<div><label for="ct-name-${i}">${escapeHtml(t("pt.contact.name"))}</label><input id="ct-name-${i}" data-f="name" maxlength="100" autocomplete="off"></div>
    <div><label for="ct-rel-${i}">${escapeHtml(t("pt.contact.relation"))}</label><input id="ct-rel-${i}" data-f="relation" maxlength="60" autocomplete="off"></div>
    <div><label for="ct-phone-${i}">${escapeHtml(t("pt.contact.phone"))}</label><input id="ct-phone-${i}" data-f="phone" type="tel" maxlength="30" autocomplete="off"></div>
    <button type="button" class="small" data-remove aria-label="">${escapeHtml(t("pt.remove"))}</button>`;
  li.querySelector("[data-f=name]").value = c.name || "";
  li.querySelector("[data-f=relation]").value = c.relation || "";
  li.querySelector("[data-f=phone]").value = c.phone || "";
  labelRemove(li);
  return li;
}

function idRow(system = "", value = "") {
  const i = ++rowSeq;
  const li = document.createElement("li");
  li.className = "ext-id";
  li.innerHTML = `<div><label for="id-sys-${i}">${escapeHtml(t("pt.id.system"))}</label><input id="id-sys-${i}" data-f="system" maxlength="40" autocomplete="off"></div>
    <div><label for="id-val-${i}">${escapeHtml(t("pt.id.value"))}</label><input id="id-val-${i}" data-f="value" maxlength="100" autocomplete="off"></div>
    <button type="button" class="small" data-remove aria-label="">${escapeHtml(t("pt.remove"))}</button>`;
  li.querySelector("[data-f=system]").value = system;
  li.querySelector("[data-f=value]").value = value;
  labelRemove(li);
  return li;
}

/** A row's remove button names what it removes (« Retirer Jeanne Martin »). */
function labelRemove(li) {
  const button = li.querySelector("[data-remove]");
  const first = li.querySelector("input");
  const what = (first && first.value.trim()) || t(li.classList.contains("contact") ? "pt.contact.this" : "pt.id.this");
  button.setAttribute("aria-label", t("pt.contact.remove", { what }));
}

function relabelRows(list) {
  for (const li of list.children) {
    const labels = li.querySelectorAll("label");
    if (li.classList.contains("contact")) {
      [labels[0].textContent, labels[1].textContent, labels[2].textContent] = [t("pt.contact.name"), t("pt.contact.relation"), t("pt.contact.phone")];
    } else if (li.classList.contains("ext-id")) {
      [labels[0].textContent, labels[1].textContent] = [t("pt.id.system"), t("pt.id.value")];
    }
    const button = li.querySelector("[data-remove]");
    if (button) button.textContent = t("pt.remove");
    if (li.classList.contains("contact") || li.classList.contains("ext-id")) labelRemove(li);
  }
}

function fillPatientForm(p) {
  const form = $("patient-form");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("pf-family").value = p ? p.family_name || "" : "";
  $("pf-given").value = p ? p.given_name || "" : "";
  $("pf-birth").value = p ? p.birth_date || "" : "";
  $("pf-birth").max = state.today || "";
  $("pf-sex").value = p ? p.sex || "unknown" : "unknown";
  $("pf-phone").value = p ? p.phone || "" : "";
  $("pf-pseudonym").value = p ? p.pseudonym || "" : "";
  $("pf-address").value = p ? p.address || "" : "";
  $("pf-commune").value = p ? p.commune || "" : "";
  $("pf-access").value = p ? p.access_notes || "" : "";
  $("pf-doctor").value = p ? p.referring_doctor || "" : "";
  const contacts = $("pf-contacts");
  contacts.replaceChildren(...((p && p.contacts) || []).map((c) => contactRow(c)));
  const ids = $("pf-ids");
  ids.replaceChildren(...Object.entries((p && p.external_ids) || {}).map(([k, v]) => idRow(k, v)));
  $("pf-structure-row").hidden = !!p || state.structures.length < 2;
  if (!p && state.structures.length) {
    $("pf-structure").innerHTML = state.structures.map((s) => `<option value="${s.id}">${escapeHtml(s.name)}</option>`).join("");
  }
  const discharged = !!p && (p.status === "discharged" || !!p.shared);
  // A record that cannot change (discharged, or another structure's) shows no editing controls.
  form.classList.toggle("readonly", discharged);
  for (const el of form.querySelectorAll("input, select, textarea, button")) {
    if (!el.closest("#pf-map")) el.disabled = discharged;
  }
  state.located = null;
  state.pointMoved = false;
  state.point = p && p.lon != null && p.lat != null ? [p.lon, p.lat] : null;
  ensureMap();
  if (map) {
    map.resize();
    placePin({ fly: true });
  }
  showPrecision();
}

function showPrecision() {
  const p = state.patient;
  const el = $("pf-precision");
  el.classList.remove("warn");
  if (state.pointMoved && state.point) {
    show(el, () => t("pt.precision.moved", { lat: state.point[1].toFixed(5), lon: state.point[0].toFixed(5) }));
  } else if (state.located) {
    const m = state.located;
    show(el, () => t("pt.locate.found", { label: m.label, precision: t(`pt.precision.${m.precision}`) }));
    el.classList.toggle("warn", m.precision === "commune");
  } else if (p && p.geocode_precision) {
    const key = p.pin_corrected ? "manual" : p.geocode_precision;
    show(el, () => t("pt.precision", { precision: t(`pt.precision.${key}`) }));
    el.classList.toggle("warn", key === "commune");
  } else {
    show(el, () => t("pt.precision.none"));
  }
}

async function locate() {
  const address = $("pf-address").value.trim();
  const commune = $("pf-commune").value.trim();
  const query = [address, commune].filter(Boolean).join(", ");
  if (!query) {
    show($("pf-precision"), () => t("pt.locate.empty"));
    return;
  }
  try {
    const reply = await call(`/api/geocode?q=${encodeURIComponent(query)}&limit=1`);
    const match = (reply.items || [])[0];
    if (!match) {
      state.located = null;
      show($("pf-precision"), () => t("pt.locate.none"));
      $("pf-precision").classList.add("warn");
      return;
    }
    state.located = match;
    state.pointMoved = false;
    state.point = [match.lon, match.lat];
    placePin({ fly: true });
    showPrecision();
  } catch (err) {
    show($("pf-precision"), () => errorText(err));
  }
}

function readPatientForm() {
  const family = $("pf-family").value.trim();
  if (!family) return { error: () => t("pt.error.family"), field: "pf-family" };
  const address = $("pf-address").value.trim();
  const commune = $("pf-commune").value.trim();
  if (!state.point && (!address || !commune)) return { error: () => t("pt.error.address"), field: address ? "pf-commune" : "pf-address" };
  const contacts = [];
  for (const li of $("pf-contacts").children) {
    const c = Object.fromEntries([...li.querySelectorAll("[data-f]")].map((el) => [el.dataset.f, el.value.trim()]));
    if (!c.name && !c.relation && !c.phone) continue;
    if (!c.name) return { error: () => t("pt.error.contact"), field: li.querySelector("[data-f=name]").id };
    contacts.push(c);
  }
  const external = {};
  for (const li of $("pf-ids").children) {
    const system = li.querySelector("[data-f=system]").value.trim();
    const value = li.querySelector("[data-f=value]").value.trim();
    if (!system && !value) continue;
    if (!system || !value) return { error: () => t("pt.error.id"), field: li.querySelector(system ? "[data-f=value]" : "[data-f=system]").id };
    external[system] = value;
  }
  const body = {
    family_name: family,
    given_name: $("pf-given").value.trim(),
    sex: $("pf-sex").value,
    phone: $("pf-phone").value.trim(),
    address,
    commune,
    access_notes: $("pf-access").value.trim(),
    referring_doctor: $("pf-doctor").value.trim(),
    contacts,
    external_ids: external,
  };
  const birth = $("pf-birth").value;
  if (birth) body.birth_date = birth;
  const pseudonym = $("pf-pseudonym").value.trim();
  if (pseudonym) body.pseudonym = pseudonym;
  const p = state.patient;
  if (state.pointMoved && state.point) {
    body.lon = Number(state.point[0].toFixed(6));
    body.lat = Number(state.point[1].toFixed(6));
  } else if (p && state.located && ["housenumber", "street", "commune"].includes(state.located.precision)) {
    // Located again on screen: the record takes that place and its precision.
    body.lon = state.located.lon;
    body.lat = state.located.lat;
    body.geocode_precision = state.located.precision;
    body.pin_corrected = false;
  }
  if (!p) {
    // Empty optional texts are left out of a new record.
    for (const key of ["given_name", "phone", "access_notes", "referring_doctor"]) if (!body[key]) delete body[key];
    if (!$("pf-structure-row").hidden && $("pf-structure").value) body.structure_id = Number($("pf-structure").value);
    return { body };
  }
  // A change sends only what changed.
  const same = (a, b) => JSON.stringify(a ?? "") === JSON.stringify(b ?? "");
  const changes = {};
  for (const [key, value] of Object.entries(body)) if (!same(value, p[key])) changes[key] = value;
  if (!birth && p.birth_date) changes.birth_date = null;
  return { body: changes };
}

async function savePatient(e) {
  e.preventDefault();
  const form = $("patient-form");
  const errorEl = $("patient-error");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const { body, error, field } = readPatientForm();
  if (error) {
    show(errorEl, error);
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
    return;
  }
  show(errorEl, null);
  const editing = state.patient;
  if (editing && !Object.keys(body).length) {
    say("record-status-text", () => t("pt.saved", { name: displayName(editing) }));
    return;
  }
  $("pf-save").disabled = true;
  try {
    const reply = editing
      ? await call(`/api/patients/${editing.id}`, { method: "PATCH", body })
      : await call("/api/patients", { method: "POST", body });
    const patient = reply.patient;
    const name = displayName(patient);
    if (!editing) {
      // The record's own address: the new patient's page.
      state.patient = patient;
      history.replaceState(null, "", `#patient-${patient.id}`);
      fillPatientForm(patient);
      renderRecord();
      await Promise.all([loadPlans(), loadSuspensions(), loadVisits(), loadSharings()]);
      say("record-status-text", () => t("pt.created", { name }));
      $("plan-new").focus();
    } else {
      state.patient = patient;
      fillPatientForm(patient);
      renderRecord();
      say("record-status-text", () => t("pt.saved", { name }));
      if (body.address || body.commune || body.lon != null) await loadVisits();
    }
  } catch (err) {
    show(errorEl, () => errorText(err));
  } finally {
    $("pf-save").disabled = !!state.patient && state.patient.status === "discharged";
  }
}

function setupPatientForm() {
  $("patient-form").addEventListener("submit", savePatient);
  $("pf-cancel").addEventListener("click", () => {
    if (state.patient) {
      fillPatientForm(state.patient);
      show($("patient-error"), null);
    } else go("");
  });
  $("back").addEventListener("click", () => go(""));
  $("pf-locate").addEventListener("click", locate);
  for (const id of ["pf-address", "pf-commune"]) {
    $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); locate(); } });
  }
  $("pf-contact-add").addEventListener("click", () => {
    const li = contactRow();
    $("pf-contacts").append(li);
    li.querySelector("input").focus();
  });
  $("pf-id-add").addEventListener("click", () => {
    const li = idRow();
    $("pf-ids").append(li);
    li.querySelector("input").focus();
  });
  for (const list of [$("pf-contacts"), $("pf-ids")]) {
    list.addEventListener("click", (e) => {
      const button = e.target.closest("[data-remove]");
      if (!button) return;
      const li = button.closest("li");
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      (next ? next.querySelector("input") : list.nextElementSibling).focus();
    });
    list.addEventListener("change", (e) => { const li = e.target.closest("li"); if (li) labelRemove(li); });
  }
  $("patient-form").addEventListener("input", clearInvalid);
  $("export").addEventListener("click", exportRecord);
  $("discharge-open").addEventListener("click", openDischarge);
  $("readmit-open").addEventListener("click", openReadmit);
}

/** A field the user corrects loses its error mark, and the form its error message. */
function clearInvalid(e) {
  if (e.target.getAttribute("aria-invalid") !== "true") return;
  e.target.removeAttribute("aria-invalid");
  const error = e.currentTarget.querySelector(".error");
  if (error) show(error, null);
}

// ------------------------------------------------------------------ map of the home
function baseStyle() {
  const config = state.config || {};
  const sources = {};
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#f3f1ec" } }];
  if (config.basemap_url) {
    // The territory's own tiles, served by this server: no third-party tile server.
    sources.base = { type: "vector", url: `pmtiles://${location.origin}${config.basemap_url}`, attribution: t("map.attribution") };
    const road = (id, classes, color, widths, minzoom = 0) => ({
      id, type: "line", source: "base", "source-layer": "roads", minzoom,
      filter: ["in", ["get", "class"], ["literal", classes]],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": color, "line-width": ["interpolate", ["exponential", 1.6], ["zoom"], 6, widths[0], 16, widths[1]] },
    });
    layers.push(
      { id: "areas-fill", type: "fill", source: "base", "source-layer": "areas", filter: ["!=", ["get", "code"], "boundary"], paint: { "fill-color": "#ece8df", "fill-outline-color": "#cfc8b8" } },
      road("roads-minor", ["residential", "living_street", "unclassified", "service", "track", "other"], "#ffffff", [0.4, 6], 11),
      road("roads-tertiary", ["tertiary"], "#fefcd6", [0.6, 8]),
      road("roads-secondary", ["secondary"], "#f7e08f", [0.8, 10]),
      road("roads-primary", ["primary", "trunk", "motorway"], "#f2a65a", [1.2, 12]),
      ...labelLayers(config, t),
    );
    return { version: 8, glyphs: GLYPHS_URL, sources, layers };
  }
  return { version: 8, sources, layers };
}

const CONTROL_TEXTS = [
  [".maplibregl-ctrl-zoom-in", "ctrl.zoom_in"],
  [".maplibregl-ctrl-zoom-out", "ctrl.zoom_out"],
  [".maplibregl-ctrl-attrib-button", "ctrl.attribution"],
];

/** MapLibre's own buttons are named in English: they get the page's language. */
function localiseMap() {
  for (const [m, label, pin] of [[map, "pt.map.label", marker], [importState.map, "pt.import.map", importState.pin]]) {
    if (!m) continue;
    const root = m.getContainer();
    for (const [selector, key] of CONTROL_TEXTS) {
      for (const el of root.querySelectorAll(selector)) { el.title = t(key); el.setAttribute("aria-label", t(key)); }
    }
    m.getCanvas().setAttribute("aria-label", t(label));
    if (pin) pin.getElement().setAttribute("aria-label", t("pt.pin.label"));
  }
}

/** A map of the territory on the local base map in ``container`` (no third-party tiles). */
function newMap(container) {
  if (typeof pmtiles !== "undefined" && !newMap.protocol) {
    newMap.protocol = new pmtiles.Protocol();
    maplibregl.addProtocol("pmtiles", newMap.protocol.tile);
  }
  const bbox = state.config && state.config.territory && state.config.territory.bbox;
  const m = new maplibregl.Map({
    container,
    style: baseStyle(),
    ...(bbox ? { bounds: [[bbox[0], bbox[1]], [bbox[2], bbox[3]]], fitBoundsOptions: { padding: 10 } } : { center: [2.35, 46.6], zoom: 4 }),
    attributionControl: { compact: true },
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  m.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  return m;
}

/** A draggable pin on ``getMap()`` that the arrow keys move too (a few metres; Shift: more). */
function newPin(onMove, getMap) {
  const el = document.createElement("div");
  el.className = "home-marker";
  el.tabIndex = 0;
  el.setAttribute("role", "button");
  el.setAttribute("aria-label", t("pt.pin.label"));
  const pin = new maplibregl.Marker({ element: el, anchor: "bottom", draggable: true });
  el.addEventListener("keydown", (e) => {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const step = steps[e.key];
    const m = getMap();
    if (!step || !m || !pin.isDraggable()) return;
    e.preventDefault();
    e.stopPropagation();
    const px = m.project(pin.getLngLat());
    const size = e.shiftKey ? 20 : 5;
    const to = m.unproject([px.x + step[0] * size, px.y + step[1] * size]);
    onMove([to.lng, to.lat]);
  });
  pin.on("dragend", () => {
    const at = pin.getLngLat();
    onMove([at.lng, at.lat]);
  });
  return pin;
}

function readOnly() {
  return !!state.patient && (state.patient.status === "discharged" || !!state.patient.shared);
}

function ensureMap() {
  if (map || typeof maplibregl === "undefined") return;
  map = newMap("pf-map");
  map.on("click", (e) => {
    if (readOnly()) return;
    movePin([e.lngLat.lng, e.lngLat.lat]);
  });
  window.patientsMap = map;
  map.on("load", () => {
    localiseMap();
    placePin({ fly: true });
    document.body.dataset.mapReady = "1";
  });
}

function movePin(lonlat) {
  state.point = [Number(lonlat[0]), Number(lonlat[1])];
  state.pointMoved = true;
  placePin();
  showPrecision();
}

function placePin({ fly = false } = {}) {
  if (!map) return;
  if (!state.point) {
    if (marker) marker.remove();
    marker = null;
    return;
  }
  if (!marker) marker = newPin(movePin, () => map);
  marker.setDraggable(!readOnly());
  marker.setLngLat(state.point).addTo(map);
  if (fly) map.jumpTo({ center: state.point, zoom: Math.max(map.getZoom(), 15) });
}

// ------------------------------------------------------------------ care plans
async function loadStaff() {
  try {
    const reply = await call("/api/staff?limit=1000");
    state.staff = (reply.items || []).filter((s) => s.active !== false);
  } catch {
    state.staff = [];
  }
}

async function loadPlans() {
  if (!state.patient || state.patient.shared) return;
  try {
    const reply = await call(`/api/patients/${state.patient.id}/care-plans`);
    state.plans = reply.items || reply.care_plans || [];
  } catch (err) {
    state.plans = [];
    show($("plans-status"), () => errorText(err));
  }
  renderPlans();
}

function kindText(kind) {
  const key = `pt.kind.${kind}`;
  const text = t(key);
  return text === key ? kind : text;
}

/** A skill's words ("wound_care" → "pansements"); a code the page does not know, as typed. */
function skillText(code) {
  const key = `pt.skill.${code}`;
  const text = t(key);
  return text === key ? code : text;
}

function skillsText(skills) {
  return (skills || []).map(skillText).join(", ");
}

function ruleText(rrule) {
  const parts = Object.fromEntries(String(rrule || "").split(";").filter(Boolean).map((x) => x.split("=")));
  const days = (parts.BYDAY || "").split(",").filter((d) => WEEKDAYS.includes(d));
  const interval = Number(parts.INTERVAL || 1);
  const names = days.map((d) => weekdayName(d)).join(", ");
  if (parts.FREQ === "DAILY" && interval === 1 && !parts.BYDAY) return t("pt.rule.daily");
  if (parts.FREQ === "WEEKLY" && days.length && interval === 1) return t("pt.rule.weekly", { days: names });
  if (parts.FREQ === "WEEKLY" && days.length) return t("pt.rule.weeks", { n: interval, days: names });
  return rrule;
}

function windowsText(windows) {
  return (windows || []).map((w) => String(w).replace("-", "–")).join(", ");
}

function staffName(id) {
  const s = state.staff.find((x) => x.id === id);
  return s ? s.name : `#${id}`;
}

/** A plan that still plans days: active, and not ended before today. */
function planRunning(plan) {
  return plan.active !== false && (!plan.end_day || plan.end_day >= state.today);
}

/** A patient in care whose care plans have all ended (after a readmission, the discharge
 * ended them and they stay ended): say so and offer to add one. */
function renderPlansEnded() {
  const p = state.patient;
  const ended = !!p && !p.shared && p.status !== "discharged" && state.plans.length > 0 && !state.plans.some(planRunning) && $("plan-form").hidden;
  $("plans-ended").hidden = !ended;
  if (!ended) {
    show($("plans-ended-text"), null);
    return;
  }
  const readmitted = state.readmitted && state.readmitted.id === p.id ? state.readmitted.day : null;
  show($("plans-ended-text"), () => (readmitted ? t("pt.plans.ended.readmitted", { day: longDay(readmitted) }) : t("pt.plans.ended")));
}

function renderPlans() {
  renderPlansEnded();
  const list = $("plan-list");
  if (!state.patient) {
    list.innerHTML = `<li class="empty">${escapeHtml(t("pt.plan.savefirst"))}</li>`;
    return;
  }
  if (!state.plans.length) {
    list.innerHTML = `<li class="empty">${escapeHtml(t("pt.plan.none"))}</li>`;
    return;
  }
  const discharged = state.patient.status === "discharged";
  list.innerHTML = state.plans.map((plan) => {
    const label = plan.label || kindText(plan.kind);
    const dates = plan.end_day ? t("pt.plan.fromto", { from: dayText(plan.start_day), to: dayText(plan.end_day) }) : t("pt.plan.from", { day: dayText(plan.start_day) });
    const bits = [
      `${kindText(plan.kind)} · ${t("pt.plan.duration.short", { n: Math.round(plan.duration_s / 60) })}`,
      windowsText(plan.windows),
      ruleText(plan.rrule),
      dates,
    ];
    if ((plan.skills || []).length) bits.push(t("pt.plan.skills.text", { skills: skillsText(plan.skills) }));
    if ((plan.exceptions || []).length) bits.push(t("pt.plan.except.count", { n: plan.exceptions.length }));
    if ((plan.additions || []).length) bits.push(t("pt.plan.add.count", { n: plan.additions.length }));
    const wishes = plan.wishes || {};
    const extra = [];
    if (plan.staff_count === 2) extra.push(t("pt.plan.two.short"));
    if (wishes.gender) extra.push(t(`pt.plan.wish.gender.${wishes.gender}`));
    if ((wishes.preferred_staff_ids || []).length) extra.push(t("pt.plan.wish.preferred", { names: wishes.preferred_staff_ids.map(staffName).join(", ") }));
    if ((wishes.excluded_staff_ids || []).length) extra.push(t("pt.plan.wish.excluded", { names: wishes.excluded_staff_ids.map(staffName).join(", ") }));
    const over = plan.active !== false && !planRunning(plan);
    return `<li data-plan-id="${plan.id}" class="${planRunning(plan) ? "" : "ended"}">
      <div class="what"><strong>${escapeHtml(label)}${plan.active === false ? ` (${escapeHtml(t("pt.plan.inactive"))})` : ""}${over ? ` (${escapeHtml(t("pt.plan.over"))})` : ""}</strong>
        <span class="sub">${escapeHtml(bits.join(" · "))}</span>
        ${extra.length ? `<span class="sub">${escapeHtml(extra.join(" · "))}</span>` : ""}</div>
      ${discharged ? "" : `<div class="row-actions"><button type="button" class="small" data-edit aria-label="${escapeHtml(`${t("pt.edit")} : ${label}`)}">${escapeHtml(t("pt.edit"))}</button></div>`}
    </li>`;
  }).join("");
}

function fillKinds(current) {
  const select = $("cp-kind");
  const kinds = current && !KINDS.includes(current) ? [...KINDS, current] : KINDS;
  select.innerHTML = kinds.map((k) => `<option value="${escapeHtml(k)}">${escapeHtml(kindText(k))}</option>`).join("");
  if (current) select.value = current;
}

function windowRow(range = "08:00-09:00") {
  const i = ++rowSeq;
  const [from, to] = String(range).split("-");
  const li = document.createElement("li");
  li.className = "window";
  li.innerHTML = `<div><label for="w-from-${i}"></label><input id="w-from-${i}" type="time" data-f="from" required></div>
    <div><label for="w-to-${i}"></label><input id="w-to-${i}" type="time" data-f="to" required></div>
    <button type="button" class="small" data-remove></button>`;
  li.querySelector("[data-f=from]").value = from || "";
  li.querySelector("[data-f=to]").value = to || "";
  return li;
}

/** "Passage 1 : de / à" — the windows' labels follow their order and the language. */
function relabelWindows() {
  const rows = [...$("cp-windows").children];
  rows.forEach((li, k) => {
    const labels = li.querySelectorAll("label");
    labels[0].textContent = t("pt.plan.window.from", { n: k + 1 });
    labels[1].textContent = t("pt.plan.window.to");
    const button = li.querySelector("[data-remove]");
    button.textContent = t("pt.remove");
    button.setAttribute("aria-label", t("pt.plan.window.remove", { n: k + 1 }));
    button.hidden = rows.length === 1;
  });
}

function renderDayBoxes(checked) {
  const box = $("cp-days");
  const legend = box.querySelector("legend");
  const keep = checked || new Set([...box.querySelectorAll("input:checked")].map((el) => el.value));
  box.replaceChildren(legend, ...WEEKDAYS.map((d) => {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${d}"> <span></span>`;
    label.querySelector("span").textContent = weekdayName(d, "long");
    label.querySelector("input").checked = keep.has(d);
    return label;
  }));
}

function freq() {
  return document.querySelector("input[name=cp-freq]:checked").value;
}

function syncFreq() {
  const f = freq();
  $("cp-days").hidden = !(f === "weekdays" || f === "weeks");
  $("cp-interval-row").hidden = f !== "weeks";
  $("cp-rrule-row").hidden = f !== "custom";
  const built = buildRule();
  show($("cp-rule-text"), () => (built.rrule && f !== "custom" ? ruleText(built.rrule) : ""));
}

function buildRule() {
  const f = freq();
  const days = [...$("cp-days").querySelectorAll("input:checked")].map((el) => el.value);
  if (f === "daily") return { rrule: "FREQ=DAILY" };
  if (f === "custom") {
    const text = $("cp-rrule").value.trim().toUpperCase().replace(/^RRULE:/, "");
    return text ? { rrule: text } : { error: "pt.error.rrule", field: "cp-rrule" };
  }
  if (!days.length) return { error: "pt.error.days", field: "cp-days" };
  if (f === "weekdays") return { rrule: `FREQ=WEEKLY;BYDAY=${days.join(",")}` };
  const n = Number($("cp-interval").value);
  if (!Number.isInteger(n) || n < 2 || n > 52) return { error: "pt.error.interval", field: "cp-interval" };
  return { rrule: `FREQ=WEEKLY;INTERVAL=${n};BYDAY=${days.join(",")}` };
}

/** The builder's controls from a stored rule (a rule it cannot draw is kept as text). */
function setRule(rrule) {
  const parts = Object.fromEntries(String(rrule || "FREQ=DAILY").split(";").filter(Boolean).map((x) => x.split("=")));
  const keys = Object.keys(parts).filter((k) => !["FREQ", "INTERVAL", "BYDAY", "WKST"].includes(k));
  const days = (parts.BYDAY || "").split(",").filter(Boolean);
  const plainDays = days.every((d) => WEEKDAYS.includes(d));
  const interval = Number(parts.INTERVAL || 1);
  let mode = "custom";
  if (!keys.length && plainDays) {
    if (parts.FREQ === "DAILY" && interval === 1 && !days.length) mode = "daily";
    else if (parts.FREQ === "WEEKLY" && days.length && interval === 1) mode = "weekdays";
    else if (parts.FREQ === "WEEKLY" && days.length && interval >= 2 && interval <= 52) mode = "weeks";
  }
  document.querySelector(`input[name=cp-freq][value=${mode}]`).checked = true;
  renderDayBoxes(new Set(mode === "weekdays" || mode === "weeks" ? days : []));
  $("cp-interval").value = String(mode === "weeks" ? interval : 2);
  $("cp-rrule").value = mode === "custom" ? rrule : "";
  syncFreq();
}

function renderChips(kind) {
  const set = kind === "exceptions" ? state.exceptions : state.additions;
  $(`cp-${kind}`).innerHTML = [...set].sort().map((d) => `<li><span>${escapeHtml(dayText(d, { year: true }))}</span><button type="button" data-day="${d}" aria-label="${escapeHtml(t("pt.plan.day.remove", { day: dayText(d, { year: true }) }))}">×</button></li>`).join("");
}

function addChip(kind) {
  const input = $(kind === "exceptions" ? "cp-exception" : "cp-addition");
  if (!input.value) { input.focus(); return; }
  const set = kind === "exceptions" ? state.exceptions : state.additions;
  const other = kind === "exceptions" ? state.additions : state.exceptions;
  other.delete(input.value);
  set.add(input.value);
  input.value = "";
  renderChips("exceptions");
  renderChips("additions");
  input.focus();
}

function renderStaffBoxes(wishes = {}) {
  for (const [id, key] of [["cp-preferred", "preferred_staff_ids"], ["cp-excluded", "excluded_staff_ids"]]) {
    const box = $(id);
    const legend = box.querySelector("legend");
    const chosen = new Set(wishes[key] || []);
    // The patient's own structure's staff (a coordinator may see several structures).
    const staff = state.staff.filter((x) => !state.patient || x.structure_id == null || x.structure_id === state.patient.structure_id);
    if (!staff.length) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = t("pt.plan.nostaff");
      box.replaceChildren(legend, p);
      continue;
    }
    box.replaceChildren(legend, ...staff.map((s) => {
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox" value="${s.id}"> <span></span>`;
      const job = s.job ? ` (${t(`pt.job.${s.job}`) === `pt.job.${s.job}` ? s.job : t(`pt.job.${s.job}`)})` : "";
      label.querySelector("span").textContent = `${s.name}${job}`;
      label.querySelector("input").checked = chosen.has(s.id);
      return label;
    }));
  }
}

function checkedStaff(id) {
  return [...$(id).querySelectorAll("input:checked")].map((el) => Number(el.value));
}

/** The typed skill codes in words, under the field. */
function showSkills() {
  const codes = $("cp-skills").value.split(/[,;]+/).map((x) => x.trim().toLowerCase()).filter(Boolean);
  show($("cp-skills-text"), codes.length ? () => t("pt.plan.skills.text", { skills: skillsText(codes) }) : null);
}

function openPlanForm(plan) {
  state.editingPlan = plan || null;
  const form = $("plan-form");
  form.hidden = false;
  show($("plan-error"), null);
  show($("plans-status"), null);
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  show($("plan-form-title"), () => (state.editingPlan ? t("pt.plan.form.edit", { label: state.editingPlan.label || kindText(state.editingPlan.kind) }) : t("pt.plan.form.new")));
  fillKinds(plan ? plan.kind : "insulin");
  $("cp-label").value = plan ? plan.label || "" : "";
  $("cp-duration").value = String(plan ? Math.round(plan.duration_s / 60) : 15);
  $("cp-priority").value = String(plan ? plan.priority ?? 1 : 1);
  $("cp-skills").value = plan ? (plan.skills || []).join(", ") : (KIND_SKILLS.insulin || []).join(", ");
  $("cp-skills").dataset.auto = plan ? "" : "1";
  showSkills();
  $("cp-windows").replaceChildren(...(plan ? plan.windows : ["08:00-09:00"]).map((w) => windowRow(w)));
  relabelWindows();
  setRule(plan ? plan.rrule : "FREQ=DAILY");
  const admitted = state.patient && state.patient.admitted_on;
  $("cp-start").value = plan ? plan.start_day : admitted && admitted > state.today ? admitted : state.today;
  $("cp-end").value = plan ? plan.end_day || "" : "";
  state.exceptions = new Set(plan ? plan.exceptions || [] : []);
  state.additions = new Set(plan ? plan.additions || [] : []);
  renderChips("exceptions");
  renderChips("additions");
  const wishes = (plan && plan.wishes) || {};
  $("cp-gender").value = wishes.gender || "";
  $("cp-two").checked = !!plan && plan.staff_count === 2;
  renderStaffBoxes(wishes);
  $("cp-delete").hidden = !plan;
  $("plan-new").hidden = true;
  renderPlansEnded();
  $("cp-label").focus();
}

function closePlanForm({ focus = true } = {}) {
  const editing = state.editingPlan;
  $("plan-form").hidden = true;
  state.editingPlan = null;
  $("plan-new").hidden = !state.patient || state.patient.status === "discharged";
  renderPlansEnded();
  if (!focus) return;
  const back = editing && document.querySelector(`#plan-list li[data-plan-id="${editing.id}"] [data-edit]`);
  (back || $("plan-new")).focus();
}

function readPlanForm() {
  const fail = (key, field, vars) => ({ error: () => t(key, vars), field });
  const kind = $("cp-kind").value;
  const minutes = Number($("cp-duration").value);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 720) return fail("pt.error.duration", "cp-duration");
  const windows = [];
  for (const li of $("cp-windows").children) {
    const from = li.querySelector("[data-f=from]");
    const to = li.querySelector("[data-f=to]");
    if (!from.value) return fail("pt.error.windows", from.id);
    if (!to.value || to.value <= from.value) return fail("pt.error.windows", to.id);
    windows.push([from.value, to.value, to.id]);
  }
  if (!windows.length) return fail("pt.error.windows", "cp-window-add");
  const sorted = [...windows].sort((a, b) => a[0].localeCompare(b[0]));
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k][0] < sorted[k - 1][1]) {
      return fail("pt.error.overlap", sorted[k][2], { a: `${sorted[k - 1][0]}–${sorted[k - 1][1]}`, b: `${sorted[k][0]}–${sorted[k][1]}` });
    }
  }
  const rule = buildRule();
  if (rule.error) return fail(rule.error, rule.field === "cp-days" ? $("cp-days").querySelector("input").id || "cp-days" : rule.field);
  const start = $("cp-start").value;
  if (!start) return fail("pt.error.start", "cp-start");
  const end = $("cp-end").value;
  if (end && end < start) return fail("pt.error.end", "cp-end");
  const skills = $("cp-skills").value.split(/[,;]+/).map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = skills.find((s) => !NAME.test(s));
  if (bad) return fail("pt.error.skills", "cp-skills", { skill: bad });
  const body = {
    label: $("cp-label").value.trim() || kindText(kind),
    kind,
    duration_s: minutes * 60,
    windows: sorted.map(([a, b]) => `${a}-${b}`),
    rrule: rule.rrule,
    start_day: start,
    end_day: end || null,
    skills,
    priority: Number($("cp-priority").value),
    exceptions: [...state.exceptions].sort(),
    additions: [...state.additions].sort(),
    wishes: {
      preferred_staff_ids: checkedStaff("cp-preferred"),
      excluded_staff_ids: checkedStaff("cp-excluded"),
      gender: $("cp-gender").value || null,
    },
    staff_count: $("cp-two").checked ? 2 : 1,
  };
  return { body };
}

function counts(reply) {
  const g = (reply && reply.generation) || reply || {};
  return { created: g.created ?? 0, updated: g.updated ?? 0, unchanged: g.unchanged ?? 0, cancelled: g.cancelled ?? 0, reinstated: g.reinstated ?? g.updated ?? 0 };
}

async function savePlan(e) {
  e.preventDefault();
  const form = $("plan-form");
  const errorEl = $("plan-error");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const { body, error, field } = readPlanForm();
  if (error) {
    show(errorEl, error);
    const el = $(field);
    if (el) {
      el.setAttribute("aria-invalid", "true");
      el.focus();
    }
    return;
  }
  show(errorEl, null);
  const patient = state.patient;
  const editing = state.editingPlan;
  $("cp-save").disabled = true;
  try {
    const reply = editing
      ? await call(`/api/patients/${patient.id}/care-plans/${editing.id}`, { method: "PATCH", body, timeoutMs: 60000 })
      : await call(`/api/patients/${patient.id}/care-plans`, { method: "POST", body, timeoutMs: 60000 });
    const label = (reply.care_plan && reply.care_plan.label) || body.label;
    const c = counts(reply);
    await Promise.all([loadPlans(), loadVisits(), refreshPatient()]);
    show($("record-status-text"), null); // the record's last message is over
    closePlanForm();
    say("plans-status", () => t("pt.plan.saved", { label, ...c }));
  } catch (err) {
    show(errorEl, () => errorText(err));
  } finally {
    $("cp-save").disabled = false;
  }
}

async function deletePlan() {
  const plan = state.editingPlan;
  if (!plan) return;
  const label = plan.label || kindText(plan.kind);
  const sure = await confirmAction(t("pt.plan.delete.title", { label }), t("pt.plan.delete.text"), t("pt.plan.delete"));
  if (!sure) { $("cp-delete").focus(); return; }
  try {
    const reply = await call(`/api/patients/${state.patient.id}/care-plans/${plan.id}`, { method: "DELETE", timeoutMs: 60000 });
    const c = counts(reply);
    await Promise.all([loadPlans(), loadVisits(), refreshPatient()]);
    closePlanForm();
    say("plans-status", () => t("pt.plan.deleted", { label, ...c }));
  } catch (err) {
    show($("plan-error"), () => errorText(err));
  }
}

function setupPlans() {
  $("plan-new").addEventListener("click", () => openPlanForm(null));
  $("plans-ended-add").addEventListener("click", () => openPlanForm(null));
  $("cp-cancel").addEventListener("click", () => closePlanForm());
  $("cp-delete").addEventListener("click", deletePlan);
  $("plan-form").addEventListener("submit", savePlan);
  $("plan-form").addEventListener("input", clearInvalid);
  $("plan-form").addEventListener("change", clearInvalid);
  $("plan-form").addEventListener("keydown", (e) => { if (e.key === "Escape" && !e.defaultPrevented) closePlanForm(); });
  $("plan-list").addEventListener("click", (e) => {
    const button = e.target.closest("[data-edit]");
    if (!button) return;
    const plan = state.plans.find((p) => p.id === Number(button.closest("li").dataset.planId));
    if (plan) openPlanForm(plan);
  });
  $("cp-kind").addEventListener("change", () => {
    // A new plan's skills follow the kind until the coordinator types their own.
    if ($("cp-skills").dataset.auto === "1") $("cp-skills").value = (KIND_SKILLS[$("cp-kind").value] || []).join(", ");
    showSkills();
  });
  $("cp-skills").addEventListener("input", () => { $("cp-skills").dataset.auto = ""; showSkills(); });
  $("cp-window-add").addEventListener("click", () => {
    const rows = [...$("cp-windows").children];
    const last = rows[rows.length - 1];
    const lastEnd = last ? last.querySelector("[data-f=to]").value : "";
    // The next visit of the day: ten hours after the last one, if that still fits the day.
    let range = "18:00-19:00";
    if (lastEnd) {
      const [h, m] = lastEnd.split(":").map(Number);
      const start = Math.min(h + 9, 22);
      if (start > h) range = `${String(start).padStart(2, "0")}:${String(m).padStart(2, "0")}-${String(start + 1).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
    }
    const li = windowRow(range);
    $("cp-windows").append(li);
    relabelWindows();
    li.querySelector("input").focus();
  });
  $("cp-windows").addEventListener("click", (e) => {
    const button = e.target.closest("[data-remove]");
    if (!button) return;
    const li = button.closest("li");
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    relabelWindows();
    (next ? next.querySelector("input") : $("cp-window-add")).focus();
  });
  for (const radio of document.querySelectorAll("input[name=cp-freq]")) radio.addEventListener("change", syncFreq);
  $("cp-days").addEventListener("change", syncFreq);
  $("cp-interval").addEventListener("input", syncFreq);
  for (const kind of ["exceptions", "additions"]) {
    const single = kind === "exceptions" ? "exception" : "addition";
    $(`cp-${single}-add`).addEventListener("click", () => addChip(kind));
    $(`cp-${single}`).addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addChip(kind); } });
    $(`cp-${kind}`).addEventListener("click", (e) => {
      const button = e.target.closest("button[data-day]");
      if (!button) return;
      (kind === "exceptions" ? state.exceptions : state.additions).delete(button.dataset.day);
      renderChips(kind);
      $(`cp-${single}`).focus();
    });
  }
  // One person is either preferred or excluded.
  for (const [id, other] of [["cp-preferred", "cp-excluded"], ["cp-excluded", "cp-preferred"]]) {
    $(id).addEventListener("change", (e) => {
      if (!e.target.checked) return;
      const twin = $(other).querySelector(`input[value="${e.target.value}"]`);
      if (twin) twin.checked = false;
    });
  }
}

// ------------------------------------------------------------------ suspensions
async function loadSuspensions() {
  if (!state.patient || state.patient.shared) return;
  try {
    const reply = await call(`/api/patients/${state.patient.id}/suspensions`);
    state.suspensions = reply.items || reply.suspensions || [];
  } catch (err) {
    state.suspensions = [];
    show($("susp-status"), () => errorText(err));
  }
  renderSuspensions();
  // A cancelled visit names the suspension that covers it.
  renderVisits();
}

function covers(s, day) {
  return day >= s.from_day && (!s.to_day || day <= s.to_day);
}

/** Visits a suspension cancelled: the server's count, else those on screen in its days. */
function cancelledBy(s) {
  if (typeof s.cancelled === "number") return s.cancelled;
  if (typeof s.cancelled_visits === "number") return s.cancelled_visits;
  return (state.visits || []).filter((v) => v.status === "cancelled" && v.cancelled_by === "suspended" && covers(s, v.day)).length;
}

function liveSuspension(s) {
  return !s.cancelled_at_s && s.active !== false;
}

function renderSuspensions() {
  renderReplan();
  const list = $("susp-list");
  if (!state.patient) { list.innerHTML = ""; return; }
  const items = [...state.suspensions].sort((a, b) => (a.from_day < b.from_day ? 1 : -1));
  if (!items.length) {
    list.innerHTML = `<li class="empty">${escapeHtml(t("pt.susp.none"))}</li>`;
    return;
  }
  const discharged = state.patient.status === "discharged";
  list.innerHTML = items.map((s) => {
    const live = liveSuspension(s);
    const text = suspensionText(s);
    const n = cancelledBy(s);
    const now = live && covers(s, state.today);
    const tags = [];
    if (!live) tags.push(t("pt.susp.lifted"));
    else if (now) tags.push(t("pt.susp.now"));
    return `<li data-suspension-id="${s.id}" class="${live ? "" : "ended"}">
      <div class="what"><strong>${escapeHtml(text)}</strong>
        <span class="sub">${escapeHtml([live ? plural(n, "pt.susp.cancelled") : "", ...tags, s.note || ""].filter(Boolean).join(" · "))}</span></div>
      ${live && !discharged && (!s.to_day || s.to_day >= state.today) ? `<div class="row-actions"><button type="button" class="small" data-end aria-label="${escapeHtml(t("pt.susp.end.label", { text }))}">${escapeHtml(t("pt.susp.end"))}</button></div>` : ""}
    </li>`;
  }).join("");
}

async function saveSuspension(e) {
  e.preventDefault();
  const form = $("susp-form");
  const errorEl = $("susp-error");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const from = $("sf-from").value;
  const to = $("sf-to").value;
  const fail = (key, field) => {
    show(errorEl, () => t(key));
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
  };
  if (!from) return fail("pt.error.susp.from", "sf-from");
  if (to && to < from) return fail("pt.error.susp.to", "sf-to");
  show(errorEl, null);
  const body = { from_day: from, to_day: to || null, reason: $("sf-reason").value };
  const note = $("sf-note").value.trim();
  if (note) body.note = note;
  $("sf-save").disabled = true;
  try {
    const reply = await call(`/api/patients/${state.patient.id}/suspensions`, { method: "POST", body, timeoutMs: 60000 });
    const c = counts(reply);
    const saved = reply.suspension || body;
    $("sf-from").value = "";
    $("sf-to").value = "";
    $("sf-note").value = "";
    await Promise.all([loadSuspensions(), loadVisits(), refreshPatient()]);
    show($("record-status-text"), null); // the record's last message is over
    say("susp-status", () => t("pt.susp.saved", { text: suspensionText(saved), cancelled: c.cancelled }));
    offerReplan(saved);
  } catch (err) {
    show(errorEl, () => errorText(err));
  } finally {
    $("sf-save").disabled = false;
  }
}

async function endSuspension(s) {
  const text = suspensionText(s);
  const sure = await confirmAction(t("pt.susp.end.title"), t("pt.susp.end.text", { text }), t("pt.susp.end"));
  const back = () => {
    const button = document.querySelector(`#susp-list li[data-suspension-id="${s.id}"] [data-end]`);
    (button || $("sf-reason")).focus();
  };
  if (!sure) return back();
  try {
    const reply = await call(`/api/patients/${state.patient.id}/suspensions/${s.id}`, { method: "DELETE", timeoutMs: 60000 });
    const c = counts(reply);
    await Promise.all([loadSuspensions(), loadVisits(), refreshPatient()]);
    say("susp-status", () => t("pt.susp.ended", { reinstated: c.reinstated }));
    // The reinstated visits are in none of the days' published rounds: offer to put them back.
    if (c.reinstated > 0) {
      offerReplan(s, c.reinstated);
      if (state.replan) {
        say("sr-status", () => plural(c.reinstated, "pt.replan.lifted"));
        $("sr-run").focus();
        return;
      }
    }
  } catch (err) {
    say("susp-status", () => errorText(err));
  }
  back();
}

// ------------------------------------------------------------------ replanning after a suspension
// Once a suspension is recorded, the coming days whose published rounds held the patient can be
// drafted again without them (POST /api/week/replan-patient): each day's draft is reviewed and
// applied from the day's map, as the week screen does after an absence.

/** Offer the replanning for the suspension just saved (or just lifted, ``lifted`` visits
 * reinstated: its days as they were before lifting), when some of its days are to come. */
function offerReplan(s, lifted = 0) {
  const p = state.patient;
  if (!p || !s || !s.from_day || (s.to_day && s.to_day < state.today)) {
    state.replan = null;
  } else {
    const from = s.from_day < state.today ? state.today : s.from_day;
    state.replan = { patientId: p.id, from, to: s.to_day || null, lifted, days: null, running: false };
  }
  show($("sr-status"), null);
  renderReplan();
}

function longDayText(day) {
  return parseDay(day).toLocaleDateString(locale(), { weekday: "long", day: "numeric", month: "long" });
}

async function loadTeamNames() {
  try {
    const reply = await call("/api/teams?limit=1000");
    return new Map((reply.items || []).map((x) => [String(x.id), x.name]));
  } catch {
    return new Map();
  }
}

async function runReplan() {
  const r = state.replan;
  if (!r || r.running) return;
  r.running = true;
  r.days = null;
  renderReplan();
  say("sr-status", () => t("pt.replan.running"));
  try {
    const body = { patient_id: r.patientId, from: r.from };
    if (r.to) body.to = r.to;
    const [reply, teams] = await Promise.all([
      call("/api/week/replan-patient", { method: "POST", body, timeoutMs: 300000 }),
      loadTeamNames(),
    ]);
    r.teams = teams;
    r.days = reply.days || [];
    r.running = false;
    if (state.replan !== r) return; // another record or suspension since
    say("sr-status", () => t(r.days.length ? "pt.replan.done" : r.lifted ? "pt.replan.none.lifted" : "pt.replan.none"));
    renderReplan();
    const link = $("sr-days").querySelector("a");
    (link || $("sr-status")).focus();
  } catch (err) {
    r.running = false;
    if (state.replan !== r) return;
    renderReplan();
    say("sr-status", () => errorText(err));
    $("sr-run").focus();
  }
}

/** "Luc Bernard → Anne Costa" for each pair of teams the day's moves go between ("Anne Costa"
 * alone for visits put back from no round). */
function movesText(moves, teams) {
  const name = (id) => (id == null ? t("pt.replan.noteam") : teams.get(String(id)) || t("pt.replan.team", { id }));
  const pairs = new Map();
  for (const m of moves) {
    const key = `${m.from}|${m.to}`;
    const pair = pairs.get(key) || { from: name(m.from), to: name(m.to), n: 0, placed: m.from == null };
    pair.n += 1;
    pairs.set(key, pair);
  }
  return [...pairs.values()].map((p) => {
    if (p.placed) return p.n > 1 ? `${p.n} × ${p.to}` : p.to;
    return t(p.n > 1 ? "pt.replan.move.many" : "pt.replan.move", p);
  }).join(", ");
}

function countText(n, key, params = {}) {
  if (!n) return t(`${key}.zero`);
  const form = new Intl.PluralRules(getLocale()).select(n) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { n, ...params });
}

function replanDayHtml(d, teams) {
  const day = longDayText(d.day);
  if (d.plan_id == null) {
    const text = t("pt.replan.failed", { day, error: d.error || "" });
    const href = `/map/?${new URLSearchParams({ day: d.day })}`;
    return `<li data-day="${escapeHtml(d.day)}" class="failed"><span>${escapeHtml(tidy(text))}</span>
      <a href="${escapeHtml(href)}">${escapeHtml(t("pt.replan.failed.open"))}<span class="visually-hidden">${escapeHtml(t("pt.replan.failed.open.day", { day }))}</span></a></li>`;
  }
  // A visit coming from no round (reinstated, or left out when its team was off) is put back,
  // not moved.
  const moves = (d.moves || []).filter((m) => m.from != null);
  const placed = (d.moves || []).filter((m) => m.from == null && m.to != null);
  const dropped = (d.dropped || []).length;
  let text = t("pt.replan.day", {
    day,
    moves: countText(moves.length, "pt.replan.moves", { moves: movesText(moves, teams) })
      + (placed.length ? `, ${countText(placed.length, "pt.replan.placed", { moves: movesText(placed, teams) })}` : ""),
    unassigned: countText(Number(d.unassigned) || 0, "pt.replan.unassigned"),
  });
  if (dropped) text += `, ${t("pt.replan.dropped", { n: dropped })}`;
  const href = `/map/?${new URLSearchParams({ day: d.day, plan: String(d.plan_id) })}`;
  return `<li data-day="${escapeHtml(d.day)}" data-plan-id="${Number(d.plan_id)}"${dropped ? ' class="check"' : ""}><span>${escapeHtml(text)}</span>
    <a href="${escapeHtml(href)}">${escapeHtml(t("pt.replan.open"))}<span class="visually-hidden">${escapeHtml(t("pt.replan.open.day", { day }))}</span></a></li>`;
}

function renderReplan() {
  const r = state.replan && state.patient && state.replan.patientId === state.patient.id ? state.replan : null;
  $("susp-replan").hidden = !r;
  if (!r) {
    $("sr-days").innerHTML = "";
    return;
  }
  // Once answered, the drafts are on the map: the offer goes with its suspension.
  $("sr-run").hidden = Boolean(r.days);
  $("sr-run").disabled = r.running;
  $("sr-offer").hidden = Boolean(r.days);
  const offer = r.lifted ? "pt.replan.offer.lifted" : "pt.replan.offer";
  $("sr-offer").dataset.i18n = offer;
  $("sr-offer").textContent = t(offer);
  $("sr-days").innerHTML = (r.days || []).map((d) => replanDayHtml(d, r.teams || new Map())).join("");
}

function setupSuspensions() {
  $("susp-form").addEventListener("submit", saveSuspension);
  $("sr-run").addEventListener("click", runReplan);
  $("susp-form").addEventListener("input", clearInvalid);
  $("susp-form").addEventListener("change", clearInvalid);
  $("susp-list").addEventListener("click", (e) => {
    const button = e.target.closest("[data-end]");
    if (!button) return;
    const s = state.suspensions.find((x) => x.id === Number(button.closest("li").dataset.suspensionId));
    if (s) endSuspension(s);
  });
}

// ------------------------------------------------------------------ sharing (consent)
// The structures a record can be shared with, by name (GET /api/structures/directory): the
// receiving structure is chosen from a list, never typed as a number.
async function loadDirectory() {
  if (state.directory) return;
  try {
    const reply = await call("/api/structures/directory");
    state.directory = new Map((reply.items || []).map((x) => [x.id, x]));
  } catch {
    state.directory = new Map();
  }
}

function directoryName(id) {
  const x = state.directory && state.directory.get(id);
  return x ? x.name : t("pt.share.unknown", { id });
}

function renderDirectory() {
  const select = $("sh-structure");
  const chosen = select.value;
  const own = state.patient ? state.patient.structure_id : null;
  const others = [...(state.directory || new Map()).values()]
    .filter((x) => x.id !== own)
    .sort((a, b) => a.name.localeCompare(b.name, getLocale()));
  select.innerHTML = `<option value="">${escapeHtml(t("pt.share.choose"))}</option>`
    + others.map((x) => `<option value="${x.id}">${escapeHtml(`${x.name} (${x.kind})`)}</option>`).join("");
  select.value = chosen;
}

async function loadSharings() {
  if (!state.patient || state.patient.shared) return;
  await loadDirectory();
  renderDirectory();
  try {
    const reply = await call(`/api/patients/${state.patient.id}/sharings`);
    state.sharings = reply.items || [];
  } catch (err) {
    state.sharings = [];
    show($("share-status"), () => errorText(err));
  }
  renderSharings();
}

function renderSharings() {
  if (state.directory) renderDirectory();
  const list = $("share-list");
  const items = state.sharings || [];
  if (!items.length) {
    list.innerHTML = `<li class="empty">${escapeHtml(t("pt.share.none"))}</li>`;
    return;
  }
  list.innerHTML = items.map((x) => {
    const live = x.live !== false && !x.revoked_at_s;
    const text = t("pt.share.item", { name: directoryName(x.structure_id), day: longDay(x.consent_on) });
    return `<li data-sharing-id="${x.id}" class="${live ? "" : "ended"}">
      <div class="what"><strong>${escapeHtml(text)}</strong><span class="sub">${escapeHtml([x.purpose || "", live ? "" : t("pt.share.revoked")].filter(Boolean).join(" · "))}</span></div>
      ${live ? `<div class="row-actions"><button type="button" class="small" data-revoke aria-label="${escapeHtml(t("pt.share.revoke.label", { name: directoryName(x.structure_id) }))}">${escapeHtml(t("pt.share.revoke"))}</button></div>` : ""}
    </li>`;
  }).join("");
}

async function saveSharing(e) {
  e.preventDefault();
  const form = $("share-form");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const fail = (key, field) => {
    show($("share-error"), () => t(key));
    $(field).setAttribute("aria-invalid", "true");
    $(field).focus();
  };
  const id = Number($("sh-structure").value);
  if (!$("sh-structure").value || !Number.isInteger(id) || id < 1) return fail("pt.error.share.structure", "sh-structure");
  const consent = $("sh-consent").value;
  if (!consent) return fail("pt.error.share.consent", "sh-consent");
  show($("share-error"), null);
  const body = { structure_id: id, consent_on: consent };
  const purpose = $("sh-purpose").value.trim();
  if (purpose) body.purpose = purpose;
  $("sh-save").disabled = true;
  try {
    await call(`/api/patients/${state.patient.id}/sharings`, { method: "POST", body });
    $("sh-structure").value = "";
    $("sh-purpose").value = "";
    await loadSharings();
    say("share-status", () => t("pt.share.saved", { name: directoryName(id) }));
  } catch (err) {
    show($("share-error"), () => errorText(err));
  } finally {
    $("sh-save").disabled = false;
  }
}

async function revokeSharing(x) {
  const sure = await confirmAction(t("pt.share.revoke.title", { name: directoryName(x.structure_id) }), t("pt.share.revoke.text"), t("pt.share.revoke"));
  if (sure) {
    try {
      await call(`/api/patients/${state.patient.id}/sharings/${x.id}`, { method: "DELETE" });
      await loadSharings();
      say("share-status", () => t("pt.share.done", { name: directoryName(x.structure_id) }));
    } catch (err) {
      say("share-status", () => errorText(err));
    }
  }
  $("sh-structure").focus();
}

function setupSharing() {
  $("share-form").addEventListener("submit", saveSharing);
  $("share-form").addEventListener("input", clearInvalid);
  $("share-list").addEventListener("click", (e) => {
    const button = e.target.closest("[data-revoke]");
    if (!button) return;
    const x = (state.sharings || []).find((y) => y.id === Number(button.closest("li").dataset.sharingId));
    if (x) revokeSharing(x);
  });
}

// ------------------------------------------------------------------ coming visits
async function loadVisits() {
  if (!state.patient || state.patient.shared) return;
  const id = state.patient.id;
  const from = state.today;
  try {
    const reply = await call(`/api/patients/${id}/visits?from=${from}&days=${HORIZON_DAYS}`);
    state.visits = reply.items || [];
    state.visitsError = null;
  } catch (err) {
    state.visits = [];
    state.visitsError = () => errorText(err);
  }
  if (state.patient && state.patient.id === id) {
    renderVisits();
    renderSuspensions();
  }
}

function windowOf(v) {
  const hhmm = v.windows_hhmm && v.windows_hhmm[0];
  if (hhmm) return `${hhmm[0]}–${hhmm[1]}`;
  const w = v.windows && v.windows[0];
  if (!w) return "–";
  const f = (s) => `${String(Math.floor(s / 3600)).padStart(2, "0")}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
  return typeof w[0] === "number" ? `${f(w[0])}–${f(w[1])}` : `${w[0]}–${w[1]}`;
}

function visitStatus(v) {
  if (v.status !== "cancelled") return t(`pt.vstatus.${v.status}`);
  if (v.cancelled_by === "suspended") {
    const s = state.suspensions.find((x) => liveSuspension(x) && covers(x, v.day));
    return t("pt.visit.cancelled.suspended", { reason: s ? t(`pt.reason.${s.reason}`).toLowerCase() : t("pt.status.suspended").toLowerCase() });
  }
  const p = state.patient;
  if (p && p.status === "discharged" && p.discharged_on && v.day >= p.discharged_on) return t("pt.visit.cancelled.discharge");
  if (v.cancelled_by === "no_longer_planned") return t("pt.visit.cancelled.plan");
  return t("pt.visit.cancelled");
}

function renderVisits() {
  const body = document.querySelector("#visit-table tbody");
  if (!state.patient) { body.innerHTML = ""; return; }
  const visits = [...state.visits].sort((a, b) => (a.day === b.day ? windowOf(a).localeCompare(windowOf(b)) : a.day < b.day ? -1 : 1));
  if (!visits.length) {
    body.innerHTML = `<tr><td colspan="4">${escapeHtml(t("pt.visits.none"))}</td></tr>`;
    show($("visits-status"), state.visitsError);
    return;
  }
  const plans = new Map(state.plans.map((p) => [p.id, p]));
  body.innerHTML = visits.map((v) => {
    const plan = plans.get(v.care_plan_id);
    const care = plan ? plan.label || kindText(plan.kind) : kindText(v.care_kind || "other");
    const notes = [];
    if (v.staff_count === 2) notes.push(t("pt.visit.two"));
    if (v.hand_edited) notes.push(t("pt.visit.edited"));
    return `<tr data-visit-id="${v.id}" data-day="${v.day}" data-status="${escapeHtml(v.status)}" class="${v.status === "cancelled" ? "cancelled" : ""}">
      <td class="num"><a class="when" href="/map/?day=${encodeURIComponent(v.day)}${v.team_id ? `&amp;team=${encodeURIComponent(v.team_id)}` : ""}" aria-label="${escapeHtml(t("pt.visit.round", { day: dayText(v.day) }))}">${escapeHtml(dayText(v.day))}</a></td>
      <td class="num"><span class="when">${escapeHtml(windowOf(v))}</span><span class="sub phone-only">${escapeHtml([care, ...notes].join(" · "))}</span></td>
      <td class="care">${escapeHtml(care)}${notes.length ? `<span class="sub">${escapeHtml(notes.join(" · "))}</span>` : ""}</td>
      <td><span class="pill ${escapeHtml(v.status)}">${escapeHtml(visitStatus(v))}</span></td>
    </tr>`;
  }).join("");
  const cancelled = visits.filter((v) => v.status === "cancelled").length;
  show($("visits-status"), () => t("pt.visits.count", { n: visits.length - cancelled, cancelled }));
  $("visits-legend").hidden = !visits.some((v) => v.status === "planned" || v.status === "assigned");
}

async function refreshPatient() {
  if (!state.patient) return;
  try {
    const reply = await call(`/api/patients/${state.patient.id}`);
    state.patient = reply.patient;
    renderRecord();
  } catch {
    // The record on screen stays; the next action reports any error.
  }
}

// ------------------------------------------------------------------ export and discharge
async function exportRecord() {
  const p = state.patient;
  if (!p) return;
  try {
    const response = await fetch(`/api/patients/${p.id}/export`, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new ApiError(data, response.status);
    }
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const file = (/filename="?([^";]+)"?/.exec(disposition) || [])[1] || `patient-${p.id}.json`;
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = file;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say("record-status-text", () => t("pt.export.done", { file }));
  } catch (err) {
    say("record-status-text", () => errorText(err));
  }
}

function openDischarge() {
  const p = state.patient;
  if (!p) return;
  const dialog = $("discharge");
  show($("discharge-title"), () => t("pt.discharge.title", { name: displayName(p) }));
  show($("discharge-error"), null);
  $("discharge-day").value = state.today;
  dialog.returnValue = "";
  dialog.showModal();
  $("discharge-day").focus();
}

async function confirmDischarge(e) {
  const dialog = $("discharge");
  if (e.submitter && e.submitter.value !== "ok") return;
  e.preventDefault();
  const p = state.patient;
  const day = $("discharge-day").value;
  if (!day) {
    show($("discharge-error"), () => t("pt.error.susp.from"));
    $("discharge-day").focus();
    return;
  }
  $("discharge-ok").disabled = true;
  try {
    const reply = await call(`/api/patients/${p.id}/discharge`, { method: "POST", body: { day }, timeoutMs: 60000 });
    const c = counts(reply);
    dialog.close();
    state.patient = reply.patient || state.patient;
    await refreshPatient();
    fillPatientForm(state.patient);
    await Promise.all([loadPlans(), loadSuspensions(), loadVisits()]);
    say("record-status-text", () => t("pt.discharge.done", { name: displayName(p), day: longDay(day), cancelled: c.cancelled }));
    $("record-h").focus();
  } catch (err) {
    show($("discharge-error"), () => errorText(err));
  } finally {
    $("discharge-ok").disabled = false;
  }
}

function openReadmit() {
  const p = state.patient;
  if (!p) return;
  const dialog = $("readmit");
  show($("readmit-title"), () => t("pt.readmit.title", { name: displayName(p) }));
  show($("readmit-error"), null);
  $("readmit-day").removeAttribute("aria-invalid");
  $("readmit-day").min = p.discharged_on || "";
  $("readmit-day").value = p.discharged_on && p.discharged_on > state.today ? p.discharged_on : state.today;
  dialog.returnValue = "";
  dialog.showModal();
  $("readmit-day").focus();
}

async function confirmReadmit(e) {
  const dialog = $("readmit");
  if (e.submitter && e.submitter.value !== "ok") return;
  e.preventDefault();
  const p = state.patient;
  const day = $("readmit-day").value;
  if (!day || (p.discharged_on && day < p.discharged_on)) {
    show($("readmit-error"), () => t("pt.error.readmit.day", { day: longDay(p.discharged_on || state.today) }));
    $("readmit-day").setAttribute("aria-invalid", "true");
    $("readmit-day").focus();
    return;
  }
  $("readmit-ok").disabled = true;
  try {
    const reply = await call(`/api/patients/${p.id}/readmit`, { method: "POST", body: { day }, timeoutMs: 60000 });
    dialog.close();
    state.patient = reply.patient || state.patient;
    state.readmitted = { id: p.id, day };
    await refreshPatient();
    fillPatientForm(state.patient);
    await Promise.all([loadPlans(), loadSuspensions(), loadVisits()]);
    say("record-status-text", () => t("pt.readmit.done", { name: displayName(p), day: longDay(day) }));
    $("record-h").focus();
  } catch (err) {
    show($("readmit-error"), () => errorText(err));
  } finally {
    $("readmit-ok").disabled = false;
  }
}

// ------------------------------------------------------------------ confirmation
function confirmAction(title, text, okLabel) {
  const dialog = $("confirm");
  $("confirm-title").textContent = tidy(title);
  $("confirm-text").textContent = tidy(text);
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// ------------------------------------------------------------------ language
function applyTexts() {
  apply();
  document.documentElement.dataset.locale = getLocale();
  for (const id of ["lang", "login-lang"]) $(id).setAttribute("lang", getLocale() === "fr" ? "en" : "fr");
}

function rerender() {
  applyTexts();
  reshow();
  if (!state.me) return;
  if (!$("list-view").hidden) {
    renderList();
    renderImport();
  }
  if (!$("record-view").hidden && !$("record-grid").hidden) {
    renderRecord();
    relabelRows($("pf-contacts"));
    relabelRows($("pf-ids"));
    if (!$("plan-form").hidden) {
      const kind = $("cp-kind").value;
      fillKinds(kind);
      relabelWindows();
      renderDayBoxes();
      syncFreq();
      renderChips("exceptions");
      renderChips("additions");
      const wishes = { preferred_staff_ids: checkedStaff("cp-preferred"), excluded_staff_ids: checkedStaff("cp-excluded") };
      renderStaffBoxes(wishes);
      showSkills();
    }
  }
  localiseMap();
}

// ------------------------------------------------------------------ start
async function main() {
  applyTexts();
  onChange(rerender);
  const toggleLang = () => setLocale(getLocale() === "fr" ? "en" : "fr");
  $("lang").addEventListener("click", toggleLang);
  $("login-lang").addEventListener("click", toggleLang);
  $("logout").addEventListener("click", session.logout);
  const me = await session.start();
  state.me = me;
  $("logout").hidden = false;
  show($("whoami"), () => t("pt.whoami", { name: me.name || me.username || "" }));
  state.config = await api("/api/live/config", { token: null }).catch(() => null);
  if (state.config && state.config.territory) $("territory-name").textContent = state.config.territory.name;
  state.today = (state.config && state.config.day) || isoDay(new Date());
  // For the browser tests: the server's day and the pin's place.
  window.patientsToday = state.today;
  window.patientsPin = () => state.point;
  const structures = await call("/api/structures").catch(() => null);
  state.structures = (structures && (structures.items || structures.structures)) || [];
  await loadStaff();
  setupList();
  setupImport();
  setupPatientForm();
  setupPlans();
  setupSuspensions();
  setupSharing();
  $("discharge-form").addEventListener("submit", confirmDischarge);
  $("readmit-form").addEventListener("submit", confirmReadmit);
  window.addEventListener("hashchange", route);
  $("main").hidden = false;
  await route();
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = t("pt.error.network");
  document.body.append(p);
});
