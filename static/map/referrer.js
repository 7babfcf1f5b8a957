// The referrer's space (/referrer/): a GP, a hospital discharge nurse, a DAC coordinator or a
// pharmacist logs in, sees the requests they made (state and timeline), makes a new request
// (patient, home address found with the offline geocoder and confirmed, care asked for,
// period, prescription, an attachment), then books one of the slots proposed, or reads the
// service's answer. French first, English complete; one column on a phone.
import { ApiError } from "/static/map/common.js";
import {
  actText, allActs, dayText, errorText, eventText, patientName, personName,
  recurrenceText, renderTimeline, setActs, sizeText, slotDetail, slotText, statePill, todText,
  uploadAttachment, urgencyText, visitText, whenText,
} from "/static/map/referrals-common.js";
import { createSession } from "/static/map/session.js";
import { apply, extend, getLocale, onChange, setLocale, t } from "/static/map/i18n.js";

extend({
  fr: {
    "rr.title": "Dispatch — espace prescripteur",
    "rr.brand": "Espace prescripteur",
    "rr.logout": "Se déconnecter",
    "rr.whoami": "{name} (prescripteur)",
    "rr.login.title": "Connexion prescripteur",
    "rr.login.username": "Identifiant (votre adresse e-mail)",
    "rr.login.failed": "Connexion refusée : vérifiez l'identifiant et le mot de passe.",
    "rr.login.role": "Cet espace est réservé aux prescripteurs invités par un service de soins.",
    "rr.list.title": "Mes demandes",
    "rr.list.hint": "Vous voyez les demandes que vous avez faites, leur état et leur suivi.",
    "rr.list.none": "Aucune demande pour l'instant : « Nouvelle demande » pour commencer.",
    "rr.list.count": "{n} demande(s).",
    "rr.list.shown": "{shown} demande(s) affichée(s) sur {n}.",
    "rr.more": "Afficher plus",
    "rr.list.open": "Voir la demande n° {id}",
    "rr.card.sent": "envoyée le {when}",
    "rr.card.visit": "Visite : {when}",
    "rr.new": "Nouvelle demande",
    "rr.back": "← Mes demandes",
    "rr.form.title": "Nouvelle demande de soins",
    "rr.form.required": "Les champs marqués d'un astérisque (*) sont obligatoires.",
    "rr.f.structure": "Service destinataire *",
    "rr.f.patient": "Patient",
    "rr.f.family": "Nom de famille *",
    "rr.f.given": "Prénom *",
    "rr.f.birth": "Date de naissance *",
    "rr.f.gender": "Sexe",
    "rr.f.gender.none": "Non précisé",
    "rr.f.phone": "Téléphone du patient",
    "rr.f.home": "Domicile",
    "rr.f.address": "Adresse (numéro, rue et commune) *",
    "rr.f.address.hint": "Cherchez l'adresse puis choisissez-la dans la liste : c'est elle qui place le domicile sur les tournées.",
    "rr.f.search": "Chercher l'adresse",
    "rr.f.searching": "Recherche de l'adresse…",
    "rr.f.matches": "Adresses trouvées : choisissez la bonne",
    "rr.f.nomatch": "Adresse introuvable sur le territoire du service : vérifiez l'orthographe et la commune.",
    "rr.f.found": "{n} adresse(s) trouvée(s) : choisissez la bonne ci-dessous.",
    "rr.f.confirmed": "Adresse retenue : {label} ({precision}).",
    "rr.f.imprecise.street": "Le domicile sera placé au milieu de la rue, pas au numéro : si un autre numéro de la liste convient, choisissez-le ; sinon précisez l'accès ci-dessous. Le service vérifiera l'adresse.",
    "rr.f.imprecise.commune": "Le domicile sera placé au centre de {commune}, pas à l'adresse : cherchez la rue sans le numéro ou une autre orthographe ; sinon précisez l'accès ci-dessous. Le service vérifiera l'adresse.",
    "rr.f.precision.housenumber": "numéro exact",
    "rr.f.precision.street": "milieu de la rue",
    "rr.f.precision.commune": "centre de la commune seulement",
    "rr.f.access": "Accès (code, étage, clés…)",
    "rr.f.care": "Soins demandés",
    "rr.f.reason": "Motif de la demande *",
    "rr.f.act": "Soin demandé *",
    "rr.f.act.hint": "Les soins que propose {service}.",
    "rr.f.duration": "Durée d'une visite (minutes) *",
    "rr.f.urgency": "Urgence *",
    "rr.f.from": "Période souhaitée : du *",
    "rr.f.to": "au *",
    "rr.f.from.repeat": "Début des soins entre le *",
    "rr.f.to.repeat": "et le *",
    "rr.f.tod": "Moment de la journée",
    "rr.f.period.hint": "Dans les 28 jours qui viennent.",
    "rr.f.repeat": "Soins répétés (plusieurs visites)",
    "rr.f.times": "Passages par jour",
    "rr.f.until": "Fin des soins le *",
    "rr.f.until.hint": "Le dernier jour de soins ; la période ci-dessus ne dit que quand ils commencent.",
    "rr.f.moments.2": "Deux passages par jour : le matin (entre 7 h et 10 h) et le soir (entre 17 h et 20 h).",
    "rr.f.moments.3": "Trois passages par jour : le matin (entre 7 h et 10 h), le midi (entre 11 h 30 et 13 h 30) et le soir (entre 17 h et 20 h).",
    "rr.f.weekdays": "Jours de la semaine",
    "rr.f.prescription": "Prescription (facultatif)",
    "rr.f.prescriber": "Prescripteur",
    "rr.f.rx_date": "Date de la prescription",
    "rr.f.rx_details": "Détails (soins, posologie, durée)",
    "rr.f.attachment": "Pièce jointe (facultatif)",
    "rr.f.file": "Ordonnance ou compte rendu",
    "rr.f.file.hint": "PDF, PNG ou JPEG, {size} au plus. Elle est conservée chiffrée.",
    "rr.f.submit": "Envoyer la demande",
    "rr.f.sending": "Envoi de la demande…",
    "rr.f.cancel": "Abandonner",
    "rr.error.family": "Donnez le nom de famille du patient.",
    "rr.error.given": "Donnez le prénom du patient.",
    "rr.error.birth": "Donnez la date de naissance du patient.",
    "rr.error.address": "Cherchez l'adresse du domicile et choisissez-la dans la liste.",
    "rr.error.reason": "Donnez le motif de la demande.",
    "rr.error.act": "Choisissez le soin demandé.",
    "rr.error.duration": "La durée d'une visite est de 5 à 240 minutes.",
    "rr.error.period": "La période commence aujourd'hui au plus tôt, finit après son début et dans les 28 jours.",
    "rr.error.until": "Donnez le dernier jour des soins répétés (après leur début).",
    "rr.error.file.size": "La pièce jointe dépasse {size} : réduisez-la ou envoyez-en une autre.",
    "rr.error.file.type": "La pièce jointe doit être un PDF, une image PNG ou JPEG.",
    "rr.error.attachment": "La demande n° {id} est envoyée, mais pas la pièce jointe : {error} Ajoutez-la depuis la demande.",
    "rr.sent": "Demande n° {id} envoyée au service.",
    "rr.slots.title": "Créneaux proposés",
    "rr.slots.loading": "Recherche des créneaux dans les tournées…",
    "rr.slots.hint": "Calculés sur les tournées réelles du service. Réservez celui qui convient : la visite est réservée aussitôt et l'équipe arrive dans le créneau indiqué.",
    "rr.slots.proposed": "Le service vous propose ces créneaux. Réservez celui qui convient.",
    "rr.slots.none": "Aucun créneau libre sur la période : le service va étudier votre demande et vous répondre.",
    "rr.slots.book": "Réserver",
    "rr.slots.book.label": "Réserver le {slot}",
    "rr.slots.booking": "Réservation…",
    "rr.slots.taken": "Ce créneau vient d'être pris : choisissez-en un autre.",
    "rr.booked": "Réservation enregistrée : le service est prévenu.",
    "rr.s.placed.street": "au milieu de la rue (le numéro n'est pas sur la carte) : le service vérifiera l'adresse",
    "rr.s.placed.commune": "au centre de {commune} (la rue n'est pas sur la carte) : le service vérifiera l'adresse",
    "rr.outcome.booked": "Visite réservée : {visit}. L'équipe passera au domicile dans ce créneau.",
    "rr.outcome.accepted": "Le service a accepté la demande.",
    "rr.outcome.accepted.visit": "Le service a accepté la demande. Première visite : {visit}.",
    "rr.outcome.declined": "Le service a refusé la demande. Raison : {reason}",
    "rr.outcome.cancelled": "Demande annulée.",
    "rr.outcome.message": "Message du service : {message}",
    "rr.outcome.submitted": "Le service étudie votre demande ; vous pouvez aussi réserver vous-même un des créneaux ci-dessous.",
    "rr.outcome.waiting": "Le service étudie votre demande et vous répondra ; vous serez prévenu(e) par e-mail.",
    "rr.summary": "La demande",
    "rr.s.patient": "Patient",
    "rr.s.born": "né(e) le {day}",
    "rr.s.address": "Adresse",
    "rr.s.placed": "Domicile placé",
    "rr.s.structure": "Service",
    "rr.s.care": "Soin",
    "rr.s.reason": "Motif",
    "rr.s.urgency": "Urgence",
    "rr.s.period": "Période",
    "rr.s.period.value": "du {from} au {to}, {tod}",
    "rr.s.period.day": "le {from}, {tod}",
    "rr.s.recurrence": "Soins répétés",
    "rr.s.prescription": "Prescription",
    "rr.s.prescription.value": "{prescriber}, {day} : {details}",
    "rr.attachments": "Pièces jointes",
    "rr.att.none": "Aucune pièce jointe.",
    "rr.att.add": "Ajouter une pièce jointe",
    "rr.att.send": "Envoyer",
    "rr.att.sent": "Pièce jointe ajoutée : {name}.",
    "rr.att.need": "Choisissez d'abord le fichier.",
    "rr.timeline": "Suivi",
    "rr.cancel": "Annuler la demande",
    "rr.cancel.title": "Annuler cette demande ?",
    "rr.cancel.text": "Le service est prévenu ; une visite réservée est annulée.",
    "rr.cancel.reason": "Raison (facultatif)",
    "rr.cancel.no": "Garder la demande",
    "rr.cancel.ok": "Annuler la demande",
    "rr.cancelled.told": "Annulation enregistrée : le service est prévenu.",
  },
  en: {
    "rr.title": "Dispatch — referrer's space",
    "rr.brand": "Referrer's space",
    "rr.logout": "Log out",
    "rr.whoami": "{name} (referrer)",
    "rr.login.title": "Referrer log-in",
    "rr.login.username": "Username (your e-mail address)",
    "rr.login.failed": "Log-in refused: check the username and the password.",
    "rr.login.role": "This space is for referrers invited by a care service.",
    "rr.list.title": "My requests",
    "rr.list.hint": "You see the requests you made, their state and their follow-up.",
    "rr.list.none": "No request yet: “New request” to start.",
    "rr.list.count": "{n} request(s).",
    "rr.list.shown": "{shown} request(s) shown of {n}.",
    "rr.more": "Show more",
    "rr.list.open": "Open request no. {id}",
    "rr.card.sent": "sent {when}",
    "rr.card.visit": "Visit: {when}",
    "rr.new": "New request",
    "rr.back": "← My requests",
    "rr.form.title": "New care request",
    "rr.form.required": "Fields marked with an asterisk (*) are required.",
    "rr.f.structure": "Care service *",
    "rr.f.patient": "Patient",
    "rr.f.family": "Family name *",
    "rr.f.given": "Given name *",
    "rr.f.birth": "Date of birth *",
    "rr.f.gender": "Sex",
    "rr.f.gender.none": "Not given",
    "rr.f.phone": "Patient's phone",
    "rr.f.home": "Home",
    "rr.f.address": "Address (number, street and town) *",
    "rr.f.address.hint": "Search the address, then choose it in the list: it places the home on the rounds.",
    "rr.f.search": "Search the address",
    "rr.f.searching": "Searching the address…",
    "rr.f.matches": "Addresses found: choose the right one",
    "rr.f.nomatch": "Address not found in the service's area: check the spelling and the town.",
    "rr.f.found": "{n} address(es) found: choose the right one below.",
    "rr.f.confirmed": "Address chosen: {label} ({precision}).",
    "rr.f.imprecise.street": "The home will be placed in the middle of the street, not at the number: if another number in the list fits, choose it; otherwise describe the access below. The service will check the address.",
    "rr.f.imprecise.commune": "The home will be placed at the centre of {commune}, not at the address: search the street without the number or with another spelling; otherwise describe the access below. The service will check the address.",
    "rr.f.precision.housenumber": "exact number",
    "rr.f.precision.street": "middle of the street",
    "rr.f.precision.commune": "centre of the town only",
    "rr.f.access": "Access (code, floor, keys…)",
    "rr.f.care": "Care asked for",
    "rr.f.reason": "Reason for the request *",
    "rr.f.act": "Care act asked for *",
    "rr.f.act.hint": "The care acts {service} provides.",
    "rr.f.duration": "Length of a visit (minutes) *",
    "rr.f.urgency": "Urgency *",
    "rr.f.from": "Desired period: from *",
    "rr.f.to": "to *",
    "rr.f.from.repeat": "Care to start between *",
    "rr.f.to.repeat": "and *",
    "rr.f.tod": "Time of day",
    "rr.f.period.hint": "Within the next 28 days.",
    "rr.f.repeat": "Repeated care (several visits)",
    "rr.f.times": "Visits a day",
    "rr.f.until": "Last day of care *",
    "rr.f.until.hint": "The last day of care; the period above only says when it starts.",
    "rr.f.moments.2": "Two visits a day: in the morning (between 7:00 and 10:00) and in the evening (between 17:00 and 20:00).",
    "rr.f.moments.3": "Three visits a day: in the morning (between 7:00 and 10:00), at midday (between 11:30 and 13:30) and in the evening (between 17:00 and 20:00).",
    "rr.f.weekdays": "Days of the week",
    "rr.f.prescription": "Prescription (optional)",
    "rr.f.prescriber": "Prescriber",
    "rr.f.rx_date": "Date of the prescription",
    "rr.f.rx_details": "Details (care, dosage, length)",
    "rr.f.attachment": "Attachment (optional)",
    "rr.f.file": "Prescription or report",
    "rr.f.file.hint": "PDF, PNG or JPEG, {size} at most. It is stored encrypted.",
    "rr.f.submit": "Send the request",
    "rr.f.sending": "Sending the request…",
    "rr.f.cancel": "Give up",
    "rr.error.family": "Give the patient's family name.",
    "rr.error.given": "Give the patient's given name.",
    "rr.error.birth": "Give the patient's date of birth.",
    "rr.error.address": "Search the home address and choose it in the list.",
    "rr.error.reason": "Give the reason for the request.",
    "rr.error.act": "Choose the care act asked for.",
    "rr.error.duration": "A visit lasts 5 to 240 minutes.",
    "rr.error.period": "The period starts today at the earliest, ends after its start and within 28 days.",
    "rr.error.until": "Give the last day of the repeated care (after it starts).",
    "rr.error.file.size": "The attachment is over {size}: make it smaller or send another one.",
    "rr.error.file.type": "The attachment must be a PDF, a PNG or a JPEG image.",
    "rr.error.attachment": "Request no. {id} is sent, but not its attachment: {error} Add it from the request.",
    "rr.sent": "Request no. {id} sent to the service.",
    "rr.slots.title": "Slots offered",
    "rr.slots.loading": "Looking for slots in the rounds…",
    "rr.slots.hint": "Computed on the service's real rounds. Book the one that suits: the visit is booked at once and the team arrives within the window shown.",
    "rr.slots.proposed": "The service offers you these slots. Book the one that suits.",
    "rr.slots.none": "No free slot in the period: the service will look at your request and answer you.",
    "rr.slots.book": "Book",
    "rr.slots.book.label": "Book {slot}",
    "rr.slots.booking": "Booking…",
    "rr.slots.taken": "This slot was just taken: choose another one.",
    "rr.booked": "Booking saved: the service is told.",
    "rr.s.placed.street": "in the middle of the street (the number is not on the map): the service will check the address",
    "rr.s.placed.commune": "at the centre of {commune} (the street is not on the map): the service will check the address",
    "rr.outcome.booked": "Visit booked: {visit}. The team will come to the home within this window.",
    "rr.outcome.accepted": "The service accepted the request.",
    "rr.outcome.accepted.visit": "The service accepted the request. First visit: {visit}.",
    "rr.outcome.declined": "The service declined the request. Reason: {reason}",
    "rr.outcome.cancelled": "Request cancelled.",
    "rr.outcome.message": "Message from the service: {message}",
    "rr.outcome.submitted": "The service is looking at your request; you may also book one of the slots below yourself.",
    "rr.outcome.waiting": "The service is looking at your request and will answer you; you will be told by e-mail.",
    "rr.summary": "The request",
    "rr.s.patient": "Patient",
    "rr.s.born": "born {day}",
    "rr.s.address": "Address",
    "rr.s.placed": "Home placed",
    "rr.s.structure": "Service",
    "rr.s.care": "Care",
    "rr.s.reason": "Reason",
    "rr.s.urgency": "Urgency",
    "rr.s.period": "Period",
    "rr.s.period.value": "from {from} to {to}, {tod}",
    "rr.s.period.day": "on {from}, {tod}",
    "rr.s.recurrence": "Repeated care",
    "rr.s.prescription": "Prescription",
    "rr.s.prescription.value": "{prescriber}, {day}: {details}",
    "rr.attachments": "Attachments",
    "rr.att.none": "No attachment.",
    "rr.att.add": "Add an attachment",
    "rr.att.send": "Send",
    "rr.att.sent": "Attachment added: {name}.",
    "rr.att.need": "Choose the file first.",
    "rr.timeline": "Follow-up",
    "rr.cancel": "Cancel the request",
    "rr.cancel.title": "Cancel this request?",
    "rr.cancel.text": "The service is told; a booked visit is cancelled.",
    "rr.cancel.reason": "Reason (optional)",
    "rr.cancel.no": "Keep the request",
    "rr.cancel.ok": "Cancel the request",
    "rr.cancelled.told": "Cancellation saved: the service is told.",
  },
});

const $ = (id) => document.getElementById(id);
/** The request of an answer ({"referral": REFERRAL}). */
const referralOf = (reply) => reply.referral || reply;
const OPEN_STATES = ["submitted", "proposed"];
const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;
const state = {
  me: null,
  options: null,
  referrals: [],
  total: 0,
  /** How many requests the list shows (« Afficher plus » adds a page). */
  limit: 50,
  referral: null,
  slots: null,
  slotsReason: null,
  matches: [],
  place: null,
  busy: false,
};
/** Messages kept as functions so that they follow a change of language. */
const shown = new Map();

/** Writes `message` (a function: it follows a change of language) into `el`; `warn` marks a
 * refusal or an error in a status line (red, not green). */
function show(el, message, warn = false) {
  if (message) shown.set(el, message);
  else shown.delete(el);
  el.textContent = message ? message() : "";
  el.classList.toggle("warn", Boolean(message) && warn);
}

function say(el, message, warn = false) {
  show(el, null);
  // Written a moment later so that screen readers announce a repeated message too.
  setTimeout(() => show(el, message, warn), 30);
}

function isoDay(date) {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return isoDay(new Date(y, m - 1, d + n, 12));
}

const today = () => isoDay(new Date());
const maxBytes = () => (state.options && state.options.max_attachment_bytes) || DEFAULT_MAX_BYTES;

// ------------------------------------------------------------------ log-in
const session = createSession({
  allowed: (user) => user.role === "referrer",
  failedText: () => t("rr.login.failed"),
  roleText: () => t("rr.login.role"),
  errorText: (err) => errorText(err),
  show: (el, message) => show(el, message),
});
const call = session.call;

// ------------------------------------------------------------------ list
/** The referrer's display name, as their own requests give it (the session gives only the
 * username, their e-mail address): the top bar and the form's « Prescripteur » use it. */
function learnName(referrals) {
  if (state.myName || !state.me) return;
  const mine = referrals.find((r) => r && r.referrer && r.referrer.id === state.me.id && r.referrer.display_name);
  if (!mine) return;
  state.myName = mine.referrer.display_name;
  show($("whoami"), () => t("rr.whoami", { name: personName(state.me, state.myName) }));
}

async function loadList() {
  show($("list-status"), null);
  try {
    const reply = await call(`/api/referrals?limit=${state.limit}`);
    state.referrals = reply.items || [];
    state.total = reply.total ?? state.referrals.length;
    learnName(state.referrals);
    renderList();
  } catch (err) {
    show($("list-status"), () => errorText(err), true);
  }
}

/** The requests' ids, states and last changes: what a refresh compares. */
const signature = (items) => items.map((r) => `${r.id}:${r.state}:${r.updated_at}`).join(",");
/** The list is read again this often while it is on screen (each read is audited: not more). */
const REFRESH_MS = 60000;

async function refreshList() {
  if (document.hidden || state.busy || !state.me || $("list-view").hidden) return;
  try {
    const reply = await call(`/api/referrals?limit=${state.limit}`);
    const items = reply.items || [];
    if (signature(items) !== signature(state.referrals) || reply.total !== state.total) {
      state.referrals = items;
      state.total = reply.total ?? items.length;
      renderList();
    }
  } catch {
    // The next refresh tries again.
  }
}

function renderList() {
  const list = $("requests");
  list.replaceChildren();
  const n = state.total;
  const shownCount = state.referrals.length;
  show($("list-status"), () => {
    if (!shownCount) return t("rr.list.none");
    return shownCount < n ? t("rr.list.shown", { shown: shownCount, n }) : t("rr.list.count", { n });
  });
  // How many requests (or none) is a plain fact, not a success.
  $("list-status").classList.add("fact");
  $("more").hidden = shownCount >= n;
  for (const r of state.referrals) {
    const li = document.createElement("li");
    li.className = `card req state-${r.state}`;
    const head = document.createElement("div");
    head.className = "card-head";
    const h = document.createElement("h2");
    const a = document.createElement("a");
    a.href = `#request-${r.id}`;
    a.textContent = `${t("rf.number", { id: r.id })} — ${patientName(r.patient)}`;
    h.append(a);
    head.append(h, statePill(r.state));
    const p = document.createElement("p");
    p.className = "meta";
    p.textContent = [actText(r.act), urgencyText(r.urgency), t("rr.card.sent", { when: whenText(r.created_at) })].join(" · ");
    li.append(head, p);
    // The request's latest step, as in its history.
    const last = (r.events || [])[r.events ? r.events.length - 1 : 0];
    if (last) {
      const e = document.createElement("p");
      e.className = "meta last";
      const time = document.createElement("time");
      time.dateTime = last.at;
      time.textContent = whenText(last.at);
      e.append(time, ` ${eventText(last)}`);
      li.append(e);
    }
    // A cancelled request's or visit's time is no longer an appointment: not shown.
    if (r.visit && r.state !== "cancelled" && r.visit.status !== "cancelled") {
      const v = document.createElement("p");
      v.className = "visit";
      v.textContent = t("rr.card.visit", { when: visitText(r.visit, { team: false }) });
      li.append(v);
    }
    list.append(li);
  }
}

// ------------------------------------------------------------------ new request
function fillStructures() {
  const select = $("f-structure");
  const structures = (state.options && state.options.structures) || [];
  const kept = select.value;
  select.replaceChildren();
  for (const s of structures) select.append(new Option(s.name, String(s.id)));
  if (kept) select.value = kept;
  $("structure-row").hidden = structures.length < 2;
  fillActs();
}

function chosenStructure() {
  const structures = (state.options && state.options.structures) || [];
  return structures.find((s) => String(s.id) === $("f-structure").value) || structures[0] || null;
}

/** The care acts the chosen service provides (its `acts` in the options; the whole catalogue
 * from a server that does not list them), in the catalogue's order. */
function structureActs() {
  const structure = chosenStructure();
  const offered = structure && Array.isArray(structure.acts) ? new Set(structure.acts) : null;
  return offered ? allActs().filter((a) => offered.has(a.id)) : allActs();
}

/** The care acts offered by the chosen service, the choice kept across a language change (and
 * across a change of service when the new one provides it too). */
function fillActs() {
  const select = $("f-act");
  const kept = select.value;
  const acts = structureActs();
  select.replaceChildren(new Option("—", ""));
  for (const act of acts) select.append(new Option(actText(act.id), act.id));
  if (kept && acts.some((a) => a.id === kept)) select.value = kept;
  const structure = chosenStructure();
  const listed = structure && Array.isArray(structure.acts);
  show($("f-act-hint"), listed ? () => t("rr.f.act.hint", { service: structure.name }) : null);
}

/** Picking an act fills the visit's usual length, unless the referrer typed one. */
function actPicked() {
  const act = allActs().find((a) => a.id === $("f-act").value);
  const duration = $("f-duration");
  if (act && duration.dataset.touched !== "1") duration.value = String(act.duration_min);
}

function fillWeekdays() {
  const box = $("f-weekdays");
  const checked = new Set([...box.querySelectorAll("input:checked")].map((el) => el.value));
  const first = !box.children.length;
  box.replaceChildren();
  for (let d = 1; d <= 7; d += 1) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = String(d);
    input.checked = first || checked.has(String(d));
    label.append(input, " ", t(`rf.wd.${d}`));
    box.append(label);
  }
}

function resetForm() {
  $("request-form").reset();
  delete $("f-duration").dataset.touched;
  state.place = null;
  state.matches = [];
  renderMatches();
  show($("f-address-status"), null);
  show($("form-error"), null);
  for (const el of $("request-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const from = today();
  for (const id of ["f-from", "f-to", "f-until"]) $(id).min = from;
  for (const id of ["f-to", "f-until"]) $(id).max = addDays(from, 28);
  $("f-from").max = addDays(from, 28);
  $("f-birth").max = from;
  $("f-from").value = from;
  $("f-to").value = addDays(from, 6);
  $("f-until").value = addDays(from, 13);
  $("f-repeat").checked = false;
  syncRepeat();
  showImprecise();
  // The prescriber is most often the referrer: their name, to change when it is another.
  if (state.myName) $("f-prescriber").value = state.myName;
  fillStructures();
  fillWeekdays();
  show($("f-file-hint"), () => t("rr.f.file.hint", { size: sizeText(maxBytes()) }));
}

/** Repeated care: the period becomes when care starts (« Début des soins entre le … et le … »),
 * « Fin des soins le … » its one end, and 2 or 3 visits a day say their moments. */
function syncRepeat() {
  const on = $("f-repeat").checked;
  $("recurrence-box").hidden = !on;
  $("f-repeat").setAttribute("aria-expanded", String(on));
  $("f-from-label").dataset.i18n = on ? "rr.f.from.repeat" : "rr.f.from";
  $("f-to-label").dataset.i18n = on ? "rr.f.to.repeat" : "rr.f.to";
  $("f-from-label").textContent = t($("f-from-label").dataset.i18n);
  $("f-to-label").textContent = t($("f-to-label").dataset.i18n);
  const times = Number($("f-times").value);
  show($("f-moments"), on && times > 1 ? () => t(`rr.f.moments.${times}`) : null);
  // The moment of the day is the one visit's; with several a day the moments above apply.
  $("f-tod-row").hidden = on && times > 1;
}

async function searchAddress() {
  const q = $("f-address").value.trim();
  state.place = null;
  state.matches = [];
  renderMatches();
  showImprecise();
  if (q.length < 3) {
    say($("f-address-status"), () => t("rr.error.address"), true);
    return;
  }
  show($("f-address-status"), () => t("rr.f.searching"));
  try {
    const reply = await call(`/api/referrals/geocode?q=${encodeURIComponent(q)}`);
    if ($("f-address").value.trim() !== q) return;
    state.matches = reply.matches || [];
    renderMatches();
    say($("f-address-status"), () => (state.matches.length ? t("rr.f.found", { n: state.matches.length }) : t("rr.f.nomatch")), !state.matches.length);
    const first = $("f-matches").querySelector("input");
    if (first) first.focus();
  } catch (err) {
    say($("f-address-status"), () => errorText(err), true);
  }
}

function precisionText(code) {
  const key = `rr.f.precision.${code}`;
  const text = t(key);
  return text === key ? code : text;
}

/** Before sending: a home placed at the street's middle or the town's centre is said, with
 * what to do (another match, the access notes); the service is warned too. */
function showImprecise() {
  const m = state.place;
  const key = m && (m.precision === "street" || m.precision === "commune") ? `rr.f.imprecise.${m.precision}` : null;
  const commune = m ? m.commune || m.label.split(",").pop().trim() : "";
  show($("f-imprecise"), key ? () => t(key, { commune }) : null, true);
  $("f-imprecise").hidden = !key;
}

/** The address text sent: the label of the match chosen, or what the referrer typed when the
 * match lost their house number (« 12 avenue … » placed at the street or the town): the team
 * needs the number on the door even where the map has none. */
function addressText() {
  const m = state.place;
  const typed = $("f-address").value.trim();
  const number = /\d+/.exec(typed);
  if (m.precision !== "housenumber" && number && !new RegExp(`\\b${number[0]}\\b`).test(m.label)) return typed;
  // Placed at the town's centre only: the street typed is what the team needs (« Avenue
  // Sébastien Bonaparte, Bastia », not « Bastia »).
  if (m.precision === "commune" && typed.length > m.label.length) return typed;
  return m.label;
}

function renderMatches() {
  const box = $("f-matches");
  box.replaceChildren();
  $("f-matches-box").hidden = !state.matches.length;
  state.matches.forEach((m, i) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "match";
    input.value = String(i);
    input.checked = state.place === m;
    input.addEventListener("change", () => {
      state.place = m;
      $("f-address").removeAttribute("aria-invalid");
      say($("f-address-status"), () => t("rr.f.confirmed", { label: m.label, precision: precisionText(m.precision) }));
      showImprecise();
    });
    const text = document.createElement("span");
    text.textContent = m.label;
    const hint = document.createElement("span");
    hint.className = "sub";
    hint.textContent = precisionText(m.precision);
    label.append(input, " ", text, " ", hint);
    box.append(label);
  });
}

function invalid(id, key, vars) {
  const el = $(id);
  if (el) {
    el.setAttribute("aria-invalid", "true");
    el.focus();
  }
  say($("form-error"), () => t(key, vars));
  return null;
}

/** The request of the form (REQUEST_IN), or null after telling what to fix. */
function readForm() {
  const form = $("request-form");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const v = (id) => $(id).value.trim();
  if (!v("f-family")) return invalid("f-family", "rr.error.family");
  if (!v("f-given")) return invalid("f-given", "rr.error.given");
  if (!v("f-birth")) return invalid("f-birth", "rr.error.birth");
  if (!state.place) return invalid("f-address", "rr.error.address");
  if (!v("f-reason")) return invalid("f-reason", "rr.error.reason");
  if (!v("f-act")) return invalid("f-act", "rr.error.act");
  const duration = Number(v("f-duration"));
  if (!Number.isInteger(duration) || duration < 5 || duration > 240) return invalid("f-duration", "rr.error.duration");
  const from = v("f-from");
  const to = v("f-to");
  const limit = addDays(today(), 28);
  if (!from || from < today() || from > limit) return invalid("f-from", "rr.error.period");
  if (!to || to < from || to > limit) return invalid("f-to", "rr.error.period");
  let recurrence = null;
  if ($("f-repeat").checked) {
    const until = v("f-until");
    if (!until || until < from) return invalid("f-until", "rr.error.until");
    const weekdays = [...$("f-weekdays").querySelectorAll("input:checked")].map((el) => Number(el.value));
    recurrence = { times_per_day: Number($("f-times").value), weekdays: weekdays.length ? weekdays : [1, 2, 3, 4, 5, 6, 7], until };
  }
  const file = $("f-file").files[0] || null;
  if (file && file.size > maxBytes()) return invalid("f-file", "rr.error.file.size", { size: sizeText(maxBytes()) });
  if (file && !/\.(pdf|png|jpe?g)$/i.test(file.name) && !/^(application\/pdf|image\/(png|jpeg))$/.test(file.type)) {
    return invalid("f-file", "rr.error.file.type");
  }
  const prescriber = v("f-prescriber");
  const rxDate = v("f-rx-date");
  const rxDetails = v("f-rx-details");
  const structure = chosenStructure();
  const body = {
    patient: {
      family_name: v("f-family"),
      given_name: v("f-given"),
      birth_date: v("f-birth"),
      gender: v("f-gender") || null,
      phone: v("f-phone") || null,
    },
    address: addressText(),
    lon: state.place.lon,
    lat: state.place.lat,
    access_notes: v("f-access") || null,
    reason: v("f-reason"),
    act: v("f-act"),
    duration_min: duration,
    urgency: form.querySelector("input[name=urgency]:checked").value,
    period_from: from,
    period_to: to,
    time_of_day: v("f-tod"),
    recurrence,
    // The prescriber's name filled in alone (the referrer's own) is not a prescription.
    prescription: rxDate || rxDetails || (prescriber && prescriber !== state.myName) ? { prescriber, date: rxDate || today(), details: rxDetails } : null,
  };
  if (structure) body.structure_id = Number(structure.id);
  // How the home was placed and its commune, from a server whose address search gives them
  // (it then takes them with the request): the service is warned of a home not at its number.
  if ("commune" in state.place) {
    body.address_precision = state.place.precision || null;
    body.commune = state.place.commune || null;
  }
  return { body, file };
}

async function submitForm(e) {
  e.preventDefault();
  if (state.busy) return;
  const read = readForm();
  if (!read) return;
  state.busy = true;
  $("f-submit").disabled = true;
  say($("form-error"), null);
  show($("f-address-status"), null);
  let referral;
  try {
    show($("form-error"), () => t("rr.f.sending"));
    referral = referralOf(await call("/api/referrals", { method: "POST", body: read.body }));
  } catch (err) {
    say($("form-error"), () => errorText(err));
    state.busy = false;
    $("f-submit").disabled = false;
    return;
  }
  show($("form-error"), null);
  let note = () => t("rr.sent", { id: referral.id });
  let noteWarns = false;
  if (read.file) {
    try {
      await uploadAttachment(referral.id, read.file);
    } catch (err) {
      const why = errorText(err);
      note = () => t("rr.error.attachment", { id: referral.id, error: why });
      noteWarns = true;
    }
  }
  state.busy = false;
  $("f-submit").disabled = false;
  state.pendingNote = note;
  state.pendingWarns = noteWarns;
  // The form's address is replaced by the request's: back and reload lead to the request (or
  // the list before it), not to a blank form.
  history.replaceState(null, "", `#request-${referral.id}`);
  await route();
}

// ------------------------------------------------------------------ one request
async function openRequest(id) {
  state.referral = null;
  state.slots = null;
  $("detail-h").textContent = t("rf.number", { id });
  $("detail-state").replaceChildren();
  show($("detail-status"), state.pendingNote || null, state.pendingWarns);
  state.pendingNote = null;
  show($("slots-error"), null);
  show($("att-status"), null);
  $("outcome").hidden = true;
  $("slots-box").hidden = true;
  try {
    state.referral = referralOf(await call(`/api/referrals/${id}`));
    learnName([state.referral]);
  } catch (err) {
    show($("detail-status"), () => errorText(err), true);
    $("summary").replaceChildren();
    $("timeline").replaceChildren();
    $("attachments").replaceChildren();
    return;
  }
  renderRequest();
  if (OPEN_STATES.includes(state.referral.state)) await loadSlots();
}

async function loadSlots() {
  const r = state.referral;
  $("slots-box").hidden = false;
  $("slots").replaceChildren();
  show($("slots-hint"), () => t("rr.slots.loading"));
  try {
    const reply = await call(`/api/referrals/${r.id}/slots?n=5`, { timeoutMs: 30000 });
    if (state.referral !== r) return;
    state.slots = reply.slots || [];
    state.slotsReason = reply.reason || null;
  } catch (err) {
    state.slots = [];
    state.slotsReason = errorText(err);
  }
  renderSlots();
}

function renderSlots() {
  const r = state.referral;
  const box = $("slots-box");
  if (!r || !OPEN_STATES.includes(r.state) || state.slots == null) {
    box.hidden = r == null || !OPEN_STATES.includes(r.state);
    return;
  }
  box.hidden = false;
  renderOutcome();
  const list = $("slots");
  list.replaceChildren();
  if (!state.slots.length) {
    const reason = state.slotsReason;
    show($("slots-hint"), () => (reason ? `${t("rr.slots.none")} (${reason})` : t("rr.slots.none")));
    return;
  }
  show($("slots-hint"), () => (r.state === "proposed" ? t("rr.slots.proposed") : t("rr.slots.hint")));
  for (const slot of state.slots) {
    const li = document.createElement("li");
    const text = document.createElement("span");
    text.className = "slot-text";
    const strong = document.createElement("strong");
    strong.textContent = slotText(slot);
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = slotDetail(slot);
    text.append(strong, sub);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "primary book";
    button.textContent = t("rr.slots.book");
    button.setAttribute("aria-label", t("rr.slots.book.label", { slot: slotText(slot) }));
    button.dataset.slot = slot.slot_id;
    button.addEventListener("click", () => book(slot, button));
    li.append(text, button);
    list.append(li);
  }
}

async function book(slot, button) {
  if (state.busy) return;
  state.busy = true;
  for (const b of $("slots").querySelectorAll("button")) b.disabled = true;
  button.textContent = t("rr.slots.booking");
  show($("slots-error"), null);
  try {
    state.referral = referralOf(await call(`/api/referrals/${state.referral.id}/book`, { method: "POST", body: { slot_id: slot.slot_id }, timeoutMs: 30000 }));
    state.busy = false;
    state.slots = null;
    renderRequest();
    say($("detail-status"), () => t("rr.booked"));
    $("detail-h").focus();
  } catch (err) {
    state.busy = false;
    if (err instanceof ApiError && err.status === 409) {
      say($("slots-error"), () => t("rr.slots.taken"));
      await loadSlots();
    } else {
      say($("slots-error"), () => errorText(err));
      renderSlots();
    }
  }
}

function addRow(dl, key, value) {
  if (!value) return;
  const dt = document.createElement("dt");
  dt.textContent = t(key);
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

function outcomeText(r) {
  const v = r.visit;
  if (r.state === "booked" && v) return t("rr.outcome.booked", { visit: visitText(v, { team: false }) });
  if (r.state === "accepted") return v ? t("rr.outcome.accepted.visit", { visit: visitText(v, { team: false }) }) : t("rr.outcome.accepted");
  if (r.state === "declined") return t("rr.outcome.declined", { reason: r.decline_reason || "—" });
  if (r.state === "cancelled") return t("rr.outcome.cancelled");
  if (r.state === "proposed" && r.message) return t("rr.outcome.message", { message: r.message });
  if (r.state === "submitted") return state.slots && !state.slots.length ? t("rr.outcome.waiting") : t("rr.outcome.submitted");
  return "";
}

function renderOutcome() {
  const r = state.referral;
  const outcome = $("outcome");
  const text = r ? outcomeText(r) : "";
  outcome.hidden = !text;
  outcome.textContent = text;
  outcome.className = `notice state-${r ? r.state : ""}`;
}

function renderRequest() {
  const r = state.referral;
  if (!r) return;
  document.title = `${t("rf.number", { id: r.id })} — ${t("rr.title")}`;
  $("detail-h").textContent = `${t("rf.number", { id: r.id })} — ${patientName(r.patient)}`;
  $("detail-state").replaceChildren(statePill(r.state));
  renderOutcome();
  const dl = $("summary");
  dl.replaceChildren();
  const p = r.patient || {};
  addRow(dl, "rr.s.patient", [patientName(p), p.birth_date ? t("rr.s.born", { day: dayText(p.birth_date, { year: true }).replace(/^\S+ /, "") }) : "", p.phone || ""].filter(Boolean).join(", "));
  addRow(dl, "rr.s.address", [r.address, r.access_notes].filter(Boolean).join(" — "));
  if ((r.address_precision === "street" || r.address_precision === "commune") && !["cancelled", "declined"].includes(r.state)) {
    addRow(dl, "rr.s.placed", t(`rr.s.placed.${r.address_precision}`, { commune: r.commune || r.address }));
  }
  addRow(dl, "rr.s.structure", r.structure_name);
  addRow(dl, "rr.s.care", `${actText(r.act)}, ${t("rf.minutes", { n: r.duration_min })}`);
  addRow(dl, "rr.s.reason", r.reason);
  addRow(dl, "rr.s.urgency", urgencyText(r.urgency));
  addRow(dl, "rr.s.period", t(r.period_from === r.period_to ? "rr.s.period.day" : "rr.s.period.value", { from: dayText(r.period_from), to: dayText(r.period_to), tod: todText(r.time_of_day).toLowerCase() }));
  addRow(dl, "rr.s.recurrence", recurrenceText(r.recurrence));
  if (r.prescription) {
    addRow(dl, "rr.s.prescription", t("rr.s.prescription.value", { prescriber: r.prescription.prescriber || "—", day: dayText(r.prescription.date, { year: true }), details: r.prescription.details || "—" }));
  }
  const atts = $("attachments");
  atts.replaceChildren();
  for (const a of r.attachments || []) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/api/referrals/${r.id}/attachments/${a.id}`;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = a.filename;
    li.append(link, ` (${sizeText(a.size_bytes)})`);
    atts.append(li);
  }
  if (!atts.children.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = t("rr.att.none");
    atts.append(li);
  }
  $("att-add").hidden = !OPEN_STATES.includes(r.state);
  renderTimeline($("timeline"), r);
  $("cancel-request").hidden = !["submitted", "proposed", "booked", "accepted"].includes(r.state);
  renderSlots();
}

async function sendAttachment() {
  const file = $("att-file").files[0];
  if (!file) {
    say($("att-status"), () => t("rr.att.need"), true);
    return;
  }
  if (file.size > maxBytes()) {
    say($("att-status"), () => t("rr.error.file.size", { size: sizeText(maxBytes()) }), true);
    return;
  }
  try {
    const reply = await uploadAttachment(state.referral.id, file);
    $("att-file").value = "";
    state.referral = referralOf(await call(`/api/referrals/${state.referral.id}`));
    renderRequest();
    say($("att-status"), () => t("rr.att.sent", { name: reply.attachment.filename }));
  } catch (err) {
    say($("att-status"), () => errorText(err), true);
  }
}

function askCancel() {
  const dialog = $("cancel-dialog");
  $("cancel-reason").value = "";
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "ok") return;
    const reason = $("cancel-reason").value.trim() || null;
    try {
      state.referral = referralOf(await call(`/api/referrals/${state.referral.id}/cancel`, { method: "POST", body: { reason } }));
      state.slots = null;
      renderRequest();
      say($("detail-status"), () => t("rr.cancelled.told"));
    } catch (err) {
      say($("detail-status"), () => errorText(err), true);
    }
    $("detail-h").focus();
  }, { once: true });
}

// ------------------------------------------------------------------ routing and language
async function route() {
  const hash = location.hash.slice(1);
  const match = /^request-(\d+)$/.exec(hash);
  for (const id of ["list-view", "form-view", "detail-view"]) $(id).hidden = true;
  document.body.dataset.view = "";
  if (match) {
    $("detail-view").hidden = false;
    await openRequest(Number(match[1]));
    document.body.dataset.view = "detail";
    $("detail-h").focus();
  } else if (hash === "new") {
    // Opened straight on the form: the referrer's name from their latest request, for the
    // form's « Prescripteur ».
    if (!state.myName) await call("/api/referrals?limit=1").then((reply) => learnName(reply.items || [])).catch(() => null);
    $("form-view").hidden = false;
    document.title = `${t("rr.form.title")} — ${t("rr.title")}`;
    resetForm();
    document.body.dataset.view = "form";
    $("form-h").focus();
  } else {
    $("list-view").hidden = false;
    document.title = t("rr.title");
    await loadList();
    document.body.dataset.view = "list";
    $("list-h").focus();
  }
}

function rerender() {
  apply();
  document.documentElement.dataset.locale = getLocale();
  for (const id of ["lang", "login-lang"]) $(id).setAttribute("lang", getLocale() === "fr" ? "en" : "fr");
  for (const [el, message] of shown) el.textContent = message();
  if (!state.me) return;
  if (!$("list-view").hidden) {
    document.title = t("rr.title");
    renderList();
  }
  if (!$("form-view").hidden) {
    document.title = `${t("rr.form.title")} — ${t("rr.title")}`;
    fillActs();
    fillWeekdays();
    renderMatches();
  }
  if (!$("detail-view").hidden) renderRequest();
}

async function main() {
  rerender();
  onChange(rerender);
  const toggleLang = () => setLocale(getLocale() === "fr" ? "en" : "fr");
  $("lang").addEventListener("click", toggleLang);
  $("login-lang").addEventListener("click", toggleLang);
  $("logout").addEventListener("click", session.logout);
  const me = await session.start();
  state.me = me;
  $("logout").hidden = false;
  // The top bar names the referrer (their display name, as their requests give it) rather
  // than their e-mail address.
  state.myName = me.display_name || null;
  show($("whoami"), () => t("rr.whoami", { name: personName(me, state.myName) }));
  state.options = await call("/api/referrals/options").catch(() => null);
  setActs(state.options && state.options.acts);
  $("f-act").addEventListener("change", actPicked);
  $("f-duration").addEventListener("input", () => {
    $("f-duration").dataset.touched = "1";
  });
  $("f-search").addEventListener("click", searchAddress);
  $("f-address").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      searchAddress();
    }
  });
  $("f-address").addEventListener("input", () => {
    if (state.place) {
      state.place = null;
      state.matches = [];
      renderMatches();
      showImprecise();
      show($("f-address-status"), null);
    }
  });
  $("f-repeat").addEventListener("change", syncRepeat);
  $("f-times").addEventListener("change", syncRepeat);
  $("f-structure").addEventListener("change", fillActs);
  $("request-form").addEventListener("submit", submitForm);
  $("att-send").addEventListener("click", sendAttachment);
  $("more").addEventListener("click", async () => {
    const before = state.referrals.length;
    state.limit = Math.min(state.limit + 50, 1000);
    await loadList();
    // The keyboard goes on to the first request added.
    const next = $("requests").querySelectorAll("h2 a")[before];
    if (next) next.focus();
  });
  $("cancel-request").addEventListener("click", askCancel);
  window.addEventListener("hashchange", route);
  setInterval(refreshList, REFRESH_MS);
  document.addEventListener("visibilitychange", refreshList);
  $("main").hidden = false;
  await route();
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = t("rf.error.network");
  document.body.append(p);
});
