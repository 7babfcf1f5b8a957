// The coordinators' requests (/requests/): the referrers' requests of the coordinator's
// structures by state (with counts), a request's detail and attachments, the free slots of the
// rounds (with the teams), and the answers: accept at a slot (or create the care plan of a
// repeated request), propose up to 5 slots with a message, decline with a reason. Also the
// invitation of a referrer. French first, English complete.
import { ApiError } from "/static/map/common.js";
import {
  actText, dayText, errorText, patientName, personName, precisionWarning, professionText,
  recurrenceText, renderTimeline, setActs, sizeText, slotDetail, slotText, statePill, todText,
  urgencyText, urgentFirst, visitText, whenText,
} from "/static/map/referrals-common.js";
import { createSession } from "/static/map/session.js";
import { apply, extend, getLocale, onChange, setLocale, t } from "/static/map/i18n.js";

extend({
  fr: {
    "rq.title": "Dispatch — demandes",
    "rq.brand": "Dispatch — demandes",
    "rq.nav": "Pages",
    "rq.nav.map": "Carte des équipes",
    "rq.nav.patients": "Patients",
    "rq.nav.week": "Semaine",
    "rq.nav.admin": "Gestion",
    "rq.logout": "Se déconnecter",
    "rq.whoami": "{name} (coordination)",
    "rq.login.title": "Connexion coordinateur",
    "rq.login.failed": "Connexion refusée : vérifiez l'identifiant et le mot de passe.",
    "rq.login.role": "Cette page est réservée aux coordinateurs.",
    "rq.list.title": "Demandes des prescripteurs",
    "rq.filter.label": "État des demandes",
    "rq.filter.all": "Toutes",
    "rq.filter.submitted": "À traiter",
    "rq.filter.proposed": "Créneaux proposés",
    "rq.filter.booked": "Réservées",
    "rq.filter.accepted": "Acceptées",
    "rq.filter.declined": "Refusées",
    "rq.filter.cancelled": "Annulées",
    "rq.filter.count": "{label} ({n})",
    "rq.list.none": "Aucune demande dans cet état.",
    "rq.list.count": "{n} demande(s) : {label}.",
    "rq.list.shown": "{shown} demande(s) affichée(s) sur {n} : {label}.",
    "rq.more": "Afficher plus",
    "rq.card.from": "de {referrer}",
    "rq.card.sent": "reçue le {when}",
    "rq.card.visit": "Visite : {when}",
    "rq.back": "← Demandes",
    "rq.invite.open": "Inviter un prescripteur",
    "rq.invite.title": "Inviter un prescripteur",
    "rq.invite.hint": "Un médecin, une infirmière de sortie d'hospitalisation, un DAC ou un pharmacien reçoit par e-mail un lien pour choisir son mot de passe ; il pourra ensuite adresser des demandes à votre service et ne verra que les siennes.",
    "rq.invite.email": "Adresse e-mail *",
    "rq.invite.name": "Nom affiché (par exemple « Dr Anne Martin ») *",
    "rq.invite.profession": "Profession *",
    "rq.invite.structure": "Service qui l'invite *",
    "rq.invite.send": "Envoyer l'invitation",
    "rq.invite.sent": "Invitation envoyée à {email} : le lien d'activation est dans sa boîte aux lettres.",
    "rq.invite.nomail": "Aucun serveur d'e-mail n'est configuré : transmettez vous-même ce lien à {email} (il ne sert qu'une fois).",
    "rq.invite.added": "{email} a déjà un compte : votre service est ajouté à ceux auxquels il peut adresser des demandes.",
    "rq.invite.url": "Lien d'activation à transmettre",
    "rq.invite.error.email": "Donnez une adresse e-mail valide.",
    "rq.invite.error.name": "Donnez le nom affiché du prescripteur.",
    "rq.referrers": "Prescripteurs invités",
    "rq.referrers.none": "Aucun prescripteur invité pour l'instant.",
    "rq.referrer.item": "{name} — {profession} — {email}",
    "rq.referrer.pending": "compte désactivé",
    "rq.from": "Demande de {name} ({profession}) pour {structure}, reçue le {when}.",
    "rq.summary": "La demande",
    "rq.attachments": "Pièces jointes",
    "rq.att.none": "Aucune pièce jointe.",
    "rq.att.open": "Ouvrir {name}",
    "rq.s.patient": "Patient",
    "rq.s.born": "né(e) le {day}",
    "rq.s.address": "Adresse",
    "rq.s.care": "Soin",
    "rq.s.reason": "Motif",
    "rq.s.urgency": "Urgence",
    "rq.s.period": "Période",
    "rq.s.period.value": "du {from} au {to}, {tod}",
    "rq.s.period.day": "le {from}, {tod}",
    "rq.s.recurrence": "Soins répétés",
    "rq.s.prescription": "Prescription",
    "rq.s.prescription.value": "{prescriber}, {day} : {details}",
    "rq.decide": "Répondre",
    "rq.slots.loading": "Recherche des créneaux libres dans les tournées…",
    "rq.slots.hint": "Acceptez à un créneau (la visite est ajoutée à la tournée de l'équipe), ou cochez jusqu'à 5 créneaux à proposer au prescripteur.",
    "rq.slots.hint.proposed": "Pour changer la proposition, cochez d'autres créneaux libres : ils remplacent ceux proposés.",
    "rq.offered.title": "Créneaux proposés au prescripteur",
    "rq.offered.hint": "Le prescripteur en choisit un depuis son espace. S'il vous en donne un par téléphone, acceptez-le pour lui.",
    "rq.offered.none": "Les créneaux proposés sont passés ou pris : proposez-en d'autres ci-dessous.",
    "rq.offered.accept": "Accepter pour le prescripteur",
    "rq.offered.accept.label": "Accepter pour le prescripteur le {slot}",
    "rq.propose.replace": "Remplacer la proposition par les créneaux cochés",
    "rq.decline.confirm.title": "Refuser la demande n° {id} ?",
    "rq.decline.confirm.text": "Le prescripteur est prévenu par e-mail et lira votre raison dans son espace. La demande ne pourra plus être acceptée.",
    "rq.decline.confirm.no": "Garder la demande",
    "rq.decline.confirm.ok": "Refuser la demande",
    "rq.placed.fix": "Corriger le domicile sur le dossier du patient",
    "rq.placed.ask": "Faites préciser l'adresse au prescripteur ou au patient avant le passage.",
    "rq.slots.none": "Aucun créneau libre sur la période demandée.",
    "rq.slots.none.other": "Pas d'autre créneau libre sur la période demandée.",
    "rq.slots.legend": "Créneaux libres dans les tournées",
    "rq.slot.tick": "Proposer le {slot}",
    "rq.accept": "Accepter",
    "rq.accept.label": "Accepter au {slot}",
    "rq.accept.plan": "Accepter : créer le plan de soins",
    "rq.accepting": "Enregistrement…",
    "rq.accepted": "Demande acceptée : {slot}.",
    "rq.accepted.plan": "Demande acceptée : le plan de soins du patient est créé.",
    "rq.propose": "Proposer les créneaux cochés",
    "rq.propose.message": "Message au prescripteur (facultatif)",
    "rq.propose.none": "Cochez de 1 à 5 créneaux à proposer.",
    "rq.proposed": "{n} créneau(x) proposé(s) au prescripteur.",
    "rq.decline.open": "Refuser la demande",
    "rq.decline.reason": "Raison du refus (le prescripteur la lira) *",
    "rq.decline": "Refuser la demande",
    "rq.decline.need": "Donnez la raison du refus : le prescripteur la lira.",
    "rq.declined": "Demande refusée ; le prescripteur est prévenu.",
    "rq.taken": "Ce créneau n'est plus libre : choisissez-en un autre.",
    "rq.outcome.booked": "Réservée par le prescripteur : {visit}.",
    "rq.outcome.accepted": "Acceptée : {visit}.",
    "rq.outcome.accepted.plan": "Acceptée : plan de soins créé.",
    "rq.outcome.declined": "Refusée. Raison : {reason}",
    "rq.outcome.cancelled": "Annulée.",
    "rq.outcome.proposed": "Créneaux proposés, en attente du choix du prescripteur : {slots}.",
    "rq.sep": " ; ",
    "rq.outcome.message": "Votre message : {message}",
    "rq.link.patient": "Dossier du patient",
    "rq.link.round": "Tournée du {day}",
    "rq.timeline": "Suivi",
  },
  en: {
    "rq.title": "Dispatch — requests",
    "rq.brand": "Dispatch — requests",
    "rq.nav": "Pages",
    "rq.nav.map": "Team map",
    "rq.nav.patients": "Patients",
    "rq.nav.week": "Week",
    "rq.nav.admin": "Management",
    "rq.logout": "Log out",
    "rq.whoami": "{name} (coordination)",
    "rq.login.title": "Coordinator log-in",
    "rq.login.failed": "Log-in refused: check the username and the password.",
    "rq.login.role": "This page is for coordinators.",
    "rq.list.title": "Referrers' requests",
    "rq.filter.label": "State of the requests",
    "rq.filter.all": "All",
    "rq.filter.submitted": "To answer",
    "rq.filter.proposed": "Slots offered",
    "rq.filter.booked": "Booked",
    "rq.filter.accepted": "Accepted",
    "rq.filter.declined": "Declined",
    "rq.filter.cancelled": "Cancelled",
    "rq.filter.count": "{label} ({n})",
    "rq.list.none": "No request in this state.",
    "rq.list.count": "{n} request(s): {label}.",
    "rq.list.shown": "{shown} request(s) shown of {n}: {label}.",
    "rq.more": "Show more",
    "rq.card.from": "from {referrer}",
    "rq.card.sent": "received {when}",
    "rq.card.visit": "Visit: {when}",
    "rq.back": "← Requests",
    "rq.invite.open": "Invite a referrer",
    "rq.invite.title": "Invite a referrer",
    "rq.invite.hint": "A doctor, a hospital discharge nurse, a DAC or a pharmacist receives by e-mail a link to choose their password; they can then send requests to your service and see only their own.",
    "rq.invite.email": "E-mail address *",
    "rq.invite.name": "Display name (for example 'Dr Anne Martin') *",
    "rq.invite.profession": "Profession *",
    "rq.invite.structure": "Inviting service *",
    "rq.invite.send": "Send the invitation",
    "rq.invite.sent": "Invitation sent to {email}: the activation link is in their mailbox.",
    "rq.invite.nomail": "No e-mail server is configured: pass this link on to {email} yourself (it works once).",
    "rq.invite.added": "{email} already has an account: your service is added to those they may send requests to.",
    "rq.invite.url": "Activation link to pass on",
    "rq.invite.error.email": "Give a valid e-mail address.",
    "rq.invite.error.name": "Give the referrer's display name.",
    "rq.referrers": "Invited referrers",
    "rq.referrers.none": "No referrer invited yet.",
    "rq.referrer.item": "{name} — {profession} — {email}",
    "rq.referrer.pending": "account disabled",
    "rq.from": "Request from {name} ({profession}) for {structure}, received {when}.",
    "rq.summary": "The request",
    "rq.attachments": "Attachments",
    "rq.att.none": "No attachment.",
    "rq.att.open": "Open {name}",
    "rq.s.patient": "Patient",
    "rq.s.born": "born {day}",
    "rq.s.address": "Address",
    "rq.s.care": "Care",
    "rq.s.reason": "Reason",
    "rq.s.urgency": "Urgency",
    "rq.s.period": "Period",
    "rq.s.period.value": "from {from} to {to}, {tod}",
    "rq.s.period.day": "on {from}, {tod}",
    "rq.s.recurrence": "Repeated care",
    "rq.s.prescription": "Prescription",
    "rq.s.prescription.value": "{prescriber}, {day}: {details}",
    "rq.decide": "Answer",
    "rq.slots.loading": "Looking for free slots in the rounds…",
    "rq.slots.hint": "Accept at a slot (the visit is added to the team's round), or tick up to 5 slots to offer the referrer.",
    "rq.slots.hint.proposed": "To change the offer, tick other free slots: they replace the ones offered.",
    "rq.offered.title": "Slots offered to the referrer",
    "rq.offered.hint": "The referrer picks one in their space. If they give you one on the phone, accept it for them.",
    "rq.offered.none": "The slots offered are past or taken: offer others below.",
    "rq.offered.accept": "Accept for the referrer",
    "rq.offered.accept.label": "Accept for the referrer {slot}",
    "rq.propose.replace": "Replace the offer with the ticked slots",
    "rq.decline.confirm.title": "Decline request no. {id}?",
    "rq.decline.confirm.text": "The referrer is told by e-mail and will read your reason in their space. The request can no longer be accepted.",
    "rq.decline.confirm.no": "Keep the request",
    "rq.decline.confirm.ok": "Decline the request",
    "rq.placed.fix": "Correct the home on the patient's record",
    "rq.placed.ask": "Have the referrer or the patient give the exact address before the visit.",
    "rq.slots.none": "No free slot in the period asked for.",
    "rq.slots.none.other": "No other free slot in the period asked for.",
    "rq.slots.legend": "Free slots in the rounds",
    "rq.slot.tick": "Offer {slot}",
    "rq.accept": "Accept",
    "rq.accept.label": "Accept at {slot}",
    "rq.accept.plan": "Accept: create the care plan",
    "rq.accepting": "Saving…",
    "rq.accepted": "Request accepted: {slot}.",
    "rq.accepted.plan": "Request accepted: the patient's care plan is created.",
    "rq.propose": "Offer the ticked slots",
    "rq.propose.message": "Message to the referrer (optional)",
    "rq.propose.none": "Tick 1 to 5 slots to offer.",
    "rq.proposed": "{n} slot(s) offered to the referrer.",
    "rq.decline.open": "Decline the request",
    "rq.decline.reason": "Reason for declining (the referrer will read it) *",
    "rq.decline": "Decline the request",
    "rq.decline.need": "Give the reason for declining: the referrer will read it.",
    "rq.declined": "Request declined; the referrer is told.",
    "rq.taken": "This slot is no longer free: choose another one.",
    "rq.outcome.booked": "Booked by the referrer: {visit}.",
    "rq.outcome.accepted": "Accepted: {visit}.",
    "rq.outcome.accepted.plan": "Accepted: care plan created.",
    "rq.outcome.declined": "Declined. Reason: {reason}",
    "rq.outcome.cancelled": "Cancelled.",
    "rq.outcome.proposed": "Slots offered, waiting for the referrer's choice: {slots}.",
    "rq.sep": "; ",
    "rq.outcome.message": "Your message: {message}",
    "rq.link.patient": "Patient's record",
    "rq.link.round": "Round of {day}",
    "rq.timeline": "Follow-up",
  },
});

const $ = (id) => document.getElementById(id);
/** The request of an answer ({"referral": REFERRAL}). */
const referralOf = (reply) => reply.referral || reply;
const STATES = ["submitted", "proposed", "booked", "accepted", "declined", "cancelled"];
const OPEN_STATES = ["submitted", "proposed"];
const PROFESSIONS = ["gp", "discharge_nurse", "dac", "pharmacist", "other"];
const MAX_PROPOSED = 5;
const state = {
  me: null,
  options: null,
  structures: [],
  filter: "submitted",
  counts: {},
  items: [],
  total: 0,
  /** How many requests the inbox shows (« Afficher plus » adds a page). */
  limit: 50,
  referral: null,
  slots: null,
  slotsReason: null,
  referrers: [],
  busy: false,
};
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
  setTimeout(() => show(el, message, warn), 30);
}

const session = createSession({
  allowed: (user) => user.role === "coordinator",
  failedText: () => t("rq.login.failed"),
  roleText: () => t("rq.login.role"),
  errorText: (err) => errorText(err),
  show: (el, message) => show(el, message),
});
const call = session.call;

// ------------------------------------------------------------------ inbox
function filterLabel(code) {
  return t(code === "" ? "rq.filter.all" : `rq.filter.${code}`);
}

function renderFilters() {
  const box = $("filters");
  // The keyboard stays on the filter it was on when they are drawn again.
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.state : null;
  box.replaceChildren();
  for (const code of [...STATES, ""]) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.state = code;
    button.setAttribute("aria-pressed", String(state.filter === code));
    const n = code === "" ? Object.values(state.counts).reduce((a, b) => a + b, 0) : state.counts[code] || 0;
    button.textContent = t("rq.filter.count", { label: filterLabel(code), n });
    button.addEventListener("click", () => {
      state.filter = code;
      state.limit = 50;
      loadList().then(() => box.querySelector(`button[data-state="${code}"]`).focus());
    });
    box.append(button);
  }
  if (focused != null) box.querySelector(`button[data-state="${focused}"]`).focus();
}

async function loadCounts() {
  const replies = await Promise.all(STATES.map((s) => call(`/api/referrals?state=${s}&limit=1`).then((r) => r.total).catch(() => 0)));
  STATES.forEach((s, i) => { state.counts[s] = replies[i]; });
}

async function loadList() {
  state.listError = null;
  try {
    const query = `${state.filter ? `state=${state.filter}&` : ""}order=urgency&limit=${state.limit}`;
    const [reply] = await Promise.all([call(`/api/referrals?${query}`), loadCounts()]);
    state.items = reply.items || [];
    state.total = reply.total ?? state.items.length;
  } catch (err) {
    state.items = [];
    state.listError = err;
  }
  renderFilters();
  renderList();
}

/** The requests' ids, states and last changes: what a refresh compares. */
const signature = (items) => items.map((r) => `${r.id}:${r.state}:${r.updated_at}`).join(",");
/** The inbox is read again this often while it is on screen (each read is audited: not more). */
const REFRESH_MS = 60000;

async function refreshList() {
  if (document.hidden || state.busy || !state.me || $("list-view").hidden) return;
  const before = signature(state.items);
  const total = state.total;
  const counts = JSON.stringify(state.counts);
  try {
    const query = `${state.filter ? `state=${state.filter}&` : ""}order=urgency&limit=${state.limit}`;
    const [reply] = await Promise.all([call(`/api/referrals?${query}`), loadCounts()]);
    state.items = reply.items || [];
    state.total = reply.total ?? state.items.length;
  } catch {
    return;
  }
  if (JSON.stringify(state.counts) !== counts) renderFilters();
  if (signature(state.items) !== before || state.total !== total) renderList();
}

function renderList() {
  const list = $("requests");
  list.replaceChildren();
  const err = state.listError;
  if (err) show($("list-status"), () => errorText(err), true);
  else {
    const n = state.total;
    const shownCount = state.items.length;
    show($("list-status"), () => {
      if (!shownCount) return t("rq.list.none");
      const vars = { shown: shownCount, n, label: filterLabel(state.filter) };
      return shownCount < n ? t("rq.list.shown", vars) : t("rq.list.count", vars);
    });
  }
  $("more").hidden = Boolean(err) || state.items.length >= state.total;
  // How many requests (or none) is a plain fact, not a success; an error stays red.
  $("list-status").classList.toggle("fact", !err);
  for (const r of urgentFirst(state.items)) {
    const li = document.createElement("li");
    li.className = `card req state-${r.state}${r.urgency === "urgent" ? " urgent" : ""}`;
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
    const parts = [actText(r.act), urgencyText(r.urgency), t("rq.card.from", { referrer: r.referrer ? r.referrer.display_name : "?" })];
    if (state.structures.length > 1) parts.push(r.structure_name);
    parts.push(t("rq.card.sent", { when: whenText(r.created_at) }));
    p.textContent = parts.join(" · ");
    li.append(head, p);
    // A home not placed at its number, while the request is still to settle or its visit ahead.
    const placed = ["cancelled", "declined"].includes(r.state) ? "" : precisionWarning(r.address_precision, r.commune);
    if (placed) {
      const w = document.createElement("p");
      w.className = "meta placed";
      w.textContent = placed;
      li.append(w);
    }
    if (r.visit) {
      const v = document.createElement("p");
      v.className = "visit";
      v.textContent = t("rq.card.visit", { when: visitText(r.visit) });
      li.append(v);
    }
    list.append(li);
  }
}

// ------------------------------------------------------------------ invitation
function fillInvite() {
  const prof = $("i-profession");
  const kept = prof.value;
  prof.replaceChildren();
  for (const code of (state.options && state.options.professions) || PROFESSIONS) prof.append(new Option(professionText(code), code));
  if (kept) prof.value = kept;
  const sel = $("i-structure");
  const keptS = sel.value;
  sel.replaceChildren();
  for (const s of state.structures) sel.append(new Option(s.name, String(s.id)));
  if (keptS) sel.value = keptS;
  $("i-structure-row").hidden = state.structures.length < 2;
}

async function loadReferrers() {
  try {
    state.referrers = (await call("/api/referrers")).items || [];
  } catch {
    state.referrers = [];
  }
  renderReferrers();
}

function renderReferrers() {
  const list = $("referrers");
  list.replaceChildren();
  for (const r of state.referrers) {
    const li = document.createElement("li");
    li.textContent = t("rq.referrer.item", { name: r.display_name, profession: professionText(r.profession), email: r.email });
    if (!r.active) {
      const span = document.createElement("span");
      span.className = "sub";
      span.textContent = t("rq.referrer.pending");
      li.append(span);
    }
    list.append(li);
  }
  if (!list.children.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = t("rq.referrers.none");
    list.append(li);
  }
}

async function sendInvite(e) {
  e.preventDefault();
  if (state.busy) return;
  for (const el of $("invite-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  show($("invite-status"), null);
  $("invite-link").hidden = true;
  const email = $("i-email").value.trim();
  const name = $("i-name").value.trim();
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    $("i-email").setAttribute("aria-invalid", "true");
    $("i-email").focus();
    return say($("invite-error"), () => t("rq.invite.error.email"));
  }
  if (!name) {
    $("i-name").setAttribute("aria-invalid", "true");
    $("i-name").focus();
    return say($("invite-error"), () => t("rq.invite.error.name"));
  }
  show($("invite-error"), null);
  const body = { email, display_name: name, profession: $("i-profession").value };
  if (state.structures.length > 1) body.structure_id = Number($("i-structure").value);
  state.busy = true;
  $("invite-send").disabled = true;
  try {
    const known = state.referrers.some((r) => r.email.toLowerCase() === email.toLowerCase());
    const reply = await call("/api/referrers", { method: "POST", body });
    if (reply.activation_url) {
      say($("invite-status"), null);
      show($("invite-link-text"), () => t("rq.invite.nomail", { email }));
      $("invite-url").value = reply.activation_url;
      $("invite-link").hidden = false;
    } else {
      const added = known || (reply.referrer.structure_ids || []).length > 1;
      say($("invite-status"), () => t(added ? "rq.invite.added" : "rq.invite.sent", { email }));
    }
    $("i-email").value = "";
    $("i-name").value = "";
    await loadReferrers();
  } catch (err) {
    say($("invite-error"), () => errorText(err));
  } finally {
    state.busy = false;
    $("invite-send").disabled = false;
  }
}

// ------------------------------------------------------------------ one request
async function openRequest(id) {
  state.referral = null;
  state.slots = null;
  $("detail-h").textContent = t("rf.number", { id });
  $("detail-state").replaceChildren();
  show($("detail-from"), null);
  show($("detail-status"), null);
  show($("decide-error"), null);
  $("outcome").hidden = true;
  $("decide").hidden = true;
  $("propose-message").value = "";
  $("decline-reason").value = "";
  $("decline-box").open = false;
  try {
    state.referral = referralOf(await call(`/api/referrals/${id}`));
  } catch (err) {
    show($("detail-status"), () => errorText(err), true);
    for (const el of ["summary", "attachments", "timeline"]) $(el).replaceChildren();
    return;
  }
  renderRequest();
  if (OPEN_STATES.includes(state.referral.state)) await loadSlots();
}

async function loadSlots() {
  const r = state.referral;
  show($("slots-hint"), () => t("rq.slots.loading"));
  try {
    const reply = await call(`/api/referrals/${r.id}/slots?n=5`, { timeoutMs: 30000 });
    if (state.referral !== r) return;
    state.slots = reply.slots || [];
    state.slotsReason = reply.reason || null;
  } catch (err) {
    state.slots = [];
    state.slotsReason = errorText(err);
  }
  renderDecide();
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
  if (r.state === "booked" && v) return t("rq.outcome.booked", { visit: visitText(v) });
  if (r.state === "accepted") return v ? t("rq.outcome.accepted", { visit: visitText(v) }) : t("rq.outcome.accepted.plan");
  if (r.state === "declined") return t("rq.outcome.declined", { reason: r.decline_reason || "—" });
  if (r.state === "cancelled") return t("rq.outcome.cancelled");
  if (r.state === "proposed") {
    const offered = t("rq.outcome.proposed", { slots: (r.proposed_slots || []).map(slotText).join(t("rq.sep")) || "—" });
    return r.message ? `${offered} ${t("rq.outcome.message", { message: r.message })}` : offered;
  }
  return "";
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function renderRequest() {
  const r = state.referral;
  if (!r) return;
  document.title = `${t("rf.number", { id: r.id })} — ${t("rq.title")}`;
  $("detail-h").textContent = `${t("rf.number", { id: r.id })} — ${patientName(r.patient)}`;
  $("detail-state").replaceChildren(statePill(r.state));
  show($("detail-from"), () => t("rq.from", {
    name: r.referrer ? r.referrer.display_name : "?",
    profession: professionText(r.referrer ? r.referrer.profession : "other"),
    structure: r.structure_name,
    when: whenText(r.created_at),
  }));
  const text = outcomeText(r);
  $("outcome").hidden = !text;
  $("outcome").className = `notice state-${r.state}`;
  $("outcome-text").textContent = text;
  const links = $("outcome-links");
  links.replaceChildren();
  if (r.patient_id) links.append(link(`/patients/#patient-${r.patient_id}`, t("rq.link.patient")));
  if (r.visit && r.visit.day) {
    if (links.children.length) links.append(" · ");
    links.append(link(`/map/?day=${r.visit.day}`, t("rq.link.round", { day: dayText(r.visit.day) })));
  }
  const dl = $("summary");
  dl.replaceChildren();
  const p = r.patient || {};
  const born = p.birth_date ? t("rq.s.born", { day: dayText(p.birth_date, { year: true }).replace(/^\S+ /, "") }) : "";
  addRow(dl, "rq.s.patient", [patientName(p), born, p.phone || ""].filter(Boolean).join(", "));
  addRow(dl, "rq.s.address", [r.address, r.access_notes].filter(Boolean).join(" — "));
  // A declined or cancelled request's home needs no more checking.
  renderPlaced(r, ["cancelled", "declined"].includes(r.state) ? "" : precisionWarning(r.address_precision, r.commune));
  addRow(dl, "rq.s.care", `${actText(r.act)}, ${t("rf.minutes", { n: r.duration_min })}`);
  addRow(dl, "rq.s.reason", r.reason);
  addRow(dl, "rq.s.urgency", urgencyText(r.urgency));
  addRow(dl, "rq.s.period", t(r.period_from === r.period_to ? "rq.s.period.day" : "rq.s.period.value", { from: dayText(r.period_from), to: dayText(r.period_to), tod: todText(r.time_of_day).toLowerCase() }));
  addRow(dl, "rq.s.recurrence", recurrenceText(r.recurrence));
  if (r.prescription) {
    addRow(dl, "rq.s.prescription", t("rq.s.prescription.value", { prescriber: r.prescription.prescriber || "—", day: dayText(r.prescription.date, { year: true }), details: r.prescription.details || "—" }));
  }
  const atts = $("attachments");
  atts.replaceChildren();
  for (const a of r.attachments || []) {
    const li = document.createElement("li");
    const open = link(`/api/referrals/${r.id}/attachments/${a.id}`, a.filename);
    open.target = "_blank";
    open.rel = "noopener";
    open.setAttribute("aria-label", t("rq.att.open", { name: a.filename }));
    li.append(open, ` (${a.media_type}, ${sizeText(a.size_bytes)})`);
    atts.append(li);
  }
  if (!atts.children.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = t("rq.att.none");
    atts.append(li);
  }
  renderTimeline($("timeline"), r);
  renderDecide();
}

/** A home placed at the street's middle or the town's centre: said at the top of the request,
 * with the patient's record to move the pin to (once the request made the patient). */
function renderPlaced(r, warning) {
  const box = $("placed");
  box.hidden = !warning;
  if (!warning) return;
  $("placed-text").textContent = `${warning.charAt(0).toUpperCase()}${warning.slice(1)}.`;
  const links = $("placed-links");
  links.replaceChildren();
  if (r.patient_id) links.append(link(`/patients/#patient-${r.patient_id}`, t("rq.placed.fix")));
  else links.textContent = t("rq.placed.ask");
}

/** The slots offered to the referrer (request « proposed »), each with its team and the way to
 * accept it for the referrer (who chose it on the phone). */
function renderOffered(r) {
  const offered = r.state === "proposed" ? r.proposed_slots || [] : [];
  $("offered-box").hidden = r.state !== "proposed";
  const list = $("offered");
  list.replaceChildren();
  show($("offered-hint"), r.state !== "proposed" ? null : () => t(offered.length ? "rq.offered.hint" : "rq.offered.none"));
  for (const slot of offered) {
    const li = document.createElement("li");
    const words = document.createElement("span");
    words.className = "slot-text";
    const strong = document.createElement("strong");
    strong.textContent = slotText(slot);
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = slotDetail(slot);
    words.append(strong, sub);
    const accept = document.createElement("button");
    accept.type = "button";
    accept.className = "primary";
    accept.textContent = t("rq.offered.accept");
    accept.setAttribute("aria-label", t("rq.offered.accept.label", { slot: [slotText(slot), slotDetail(slot)].filter(Boolean).join(", ") }));
    accept.addEventListener("click", () => act("accept", { slot_id: slot.slot_id }, () => t("rq.accepted", { slot: [slotText(slot), slotDetail(slot)].filter(Boolean).join(", ") })));
    li.append(words, accept);
    list.append(li);
  }
}

function renderDecide() {
  const r = state.referral;
  const open = r && OPEN_STATES.includes(r.state);
  $("decide").hidden = !open;
  if (!open) return;
  renderOffered(r);
  $("propose").textContent = t(r.state === "proposed" ? "rq.propose.replace" : "rq.propose");
  $("accept-plan-row").hidden = !r.recurrence;
  const list = $("slots");
  const ticked = new Set([...list.querySelectorAll("input:checked")].map((el) => el.value));
  list.replaceChildren();
  if (state.slots == null) {
    $("slots-box").hidden = true;
    $("propose-row").hidden = true;
    return;
  }
  const reason = state.slotsReason;
  // The slots already offered are listed above (to accept for the referrer), not again here.
  const offeredIds = new Set(r.state === "proposed" ? (r.proposed_slots || []).map((s) => s.slot_id) : []);
  const free = state.slots.filter((slot) => !offeredIds.has(slot.slot_id));
  const hint = r.state === "proposed" ? "rq.slots.hint.proposed" : "rq.slots.hint";
  const none = offeredIds.size ? "rq.slots.none.other" : "rq.slots.none";
  show($("slots-hint"), () => (free.length ? t(hint) : reason ? `${t(none)} (${reason})` : t(none)));
  $("slots-box").hidden = !free.length;
  $("propose-row").hidden = !free.length;
  free.forEach((slot, i) => {
    const li = document.createElement("li");
    const label = document.createElement("label");
    label.className = "slot-text";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = slot.slot_id;
    box.id = `slot-${i}`;
    box.checked = ticked.has(slot.slot_id);
    const named = [slotText(slot), slotDetail(slot)].filter(Boolean).join(", ");
    box.setAttribute("aria-label", t("rq.slot.tick", { slot: named }));
    const words = document.createElement("span");
    const strong = document.createElement("strong");
    strong.textContent = slotText(slot);
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = slotDetail(slot);
    words.append(strong, sub);
    label.append(box, words);
    const accept = document.createElement("button");
    accept.type = "button";
    accept.className = "primary";
    accept.textContent = t("rq.accept");
    accept.setAttribute("aria-label", t("rq.accept.label", { slot: named }));
    accept.addEventListener("click", () => act("accept", { slot_id: slot.slot_id }, () => t("rq.accepted", { slot: named })));
    li.append(label, accept);
    list.append(li);
  });
}

async function act(action, body, done) {
  if (state.busy) return;
  state.busy = true;
  for (const b of $("decide").querySelectorAll("button")) b.disabled = true;
  show($("decide-error"), null);
  const r = state.referral;
  try {
    state.referral = referralOf(await call(`/api/referrals/${r.id}/${action}`, { method: "POST", body, timeoutMs: 30000 }));
    state.slots = null;
    renderRequest();
    say($("detail-status"), done);
    $("detail-h").focus();
    // Still open (slots offered): the free slots again, to change the offer.
    if (OPEN_STATES.includes(state.referral.state)) {
      state.busy = false;
      await loadSlots();
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      say($("decide-error"), () => t("rq.taken"));
      state.busy = false;
      await loadSlots();
    } else {
      say($("decide-error"), () => errorText(err));
    }
  } finally {
    state.busy = false;
    for (const b of $("decide").querySelectorAll("button")) b.disabled = false;
  }
}

function propose() {
  const ids = [...$("slots").querySelectorAll("input:checked")].map((el) => el.value);
  if (!ids.length || ids.length > MAX_PROPOSED) return say($("decide-error"), () => t("rq.propose.none"));
  const message = $("propose-message").value.trim() || null;
  return act("propose", { slot_ids: ids, message }, () => t("rq.proposed", { n: ids.length }));
}

function decline() {
  const reason = $("decline-reason").value.trim();
  if (!reason) {
    $("decline-reason").setAttribute("aria-invalid", "true");
    $("decline-reason").focus();
    return say($("decide-error"), () => t("rq.decline.need"));
  }
  $("decline-reason").removeAttribute("aria-invalid");
  // Declining is final: asked once more, in a dialog that says what follows.
  const dialog = $("decline-dialog");
  $("decline-title").textContent = t("rq.decline.confirm.title", { id: state.referral.id });
  dialog.returnValue = "";
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "ok") act("decline", { reason }, () => t("rq.declined"));
    else $("decline").focus();
  }, { once: true });
  dialog.showModal();
  return null;
}

// ------------------------------------------------------------------ routing and language
async function route() {
  const hash = location.hash.slice(1);
  const match = /^request-(\d+)$/.exec(hash);
  for (const id of ["list-view", "invite-view", "detail-view"]) $(id).hidden = true;
  document.body.dataset.view = "";
  if (match) {
    $("detail-view").hidden = false;
    await openRequest(Number(match[1]));
    document.body.dataset.view = "detail";
    $("detail-h").focus();
  } else if (hash === "invite") {
    $("invite-view").hidden = false;
    document.title = `${t("rq.invite.title")} — ${t("rq.title")}`;
    fillInvite();
    await loadReferrers();
    document.body.dataset.view = "invite";
    $("invite-h").focus();
  } else {
    $("list-view").hidden = false;
    document.title = t("rq.title");
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
    document.title = t("rq.title");
    renderFilters();
    renderList();
  }
  if (!$("invite-view").hidden) {
    document.title = `${t("rq.invite.title")} — ${t("rq.title")}`;
    fillInvite();
    renderReferrers();
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
  show($("whoami"), () => t("rq.whoami", { name: personName(me) }));
  state.options = await call("/api/referrals/options").catch(() => null);
  setActs(state.options && state.options.acts);
  state.structures = (state.options && state.options.structures) || [];
  $("invite-form").addEventListener("submit", sendInvite);
  $("more").addEventListener("click", async () => {
    const before = state.items.length;
    state.limit = Math.min(state.limit + 50, 1000);
    await loadList();
    const next = $("requests").querySelectorAll("h2 a")[before];
    if (next) next.focus();
  });
  $("propose").addEventListener("click", propose);
  $("decline").addEventListener("click", decline);
  $("accept-plan").addEventListener("click", () => act("accept", { slot_id: null }, () => t("rq.accepted.plan")));
  $("invite-url").addEventListener("focus", () => $("invite-url").select());
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
