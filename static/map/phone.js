// Team phone page: pairing, adaptive geolocation, wake lock, an IndexedDB outbox replayed in order,
// and the day's round, kept in step with the published plan.
//
// Every fix and every check-in/out first goes to the outbox (IndexedDB), then the outbox is
// sent in order: through the socket when it is connected (acknowledged once stored), else
// through the REST batch endpoints. Each item carries a client_id, so a resend after a lost
// acknowledgement is stored once.
//
// The round follows plan changes live: each "live" batch (or the snapshot reloaded after a
// disconnection) is compared with the round shown before it, and what was added, removed or
// re-timed is marked and announced until the team member taps "Vu".
//
// Patient details (name, phone, access notes) of the team's own visits of today are fetched
// from GET /api/visits/{id}/details (each fetch audited by the server) and kept in memory only:
// never in IndexedDB, localStorage, sessionStorage or the service worker's cache (sw.js leaves
// /api/ alone). They are dropped when the day changes, when a visit leaves the round, and on
// unpairing or logout, which also wipe the outbox, its database and the shell's cache.
import { apply, extend, formatAge, formatDistance, getLocale, hhmm, onChange, t, toggle } from "./i18n.js";
import { api, ApiError, connectSocket, deviceToken, distanceM, escapeHtml, serverNow, setCsrf, setDeviceToken, shiftSpans, syncClock } from "./common.js";

// Texts of the patient details, missed visits, notes and unpairing (French first).
const PHONE_TEXT = {
  fr: {
    missed: "Visite manquée",
    note: "Ajouter une note",
    details: "Coordonnées",
    with: "à deux, avec {name}, début à {time}",
    detailsOf: "Coordonnées : {name}",
    missedOf: "Visite manquée : {name}",
    noteOf: "Ajouter une note : {name}",
    call: "Appeler {name} au {phone}",
    access: "Accès : {text}",
    care: "Notes de soin : {text}",
    loading: "Coordonnées en cours de chargement…",
    denied: "Coordonnées non disponibles pour cette visite (autre jour ou autre équipe).",
    unavailable: "Coordonnées indisponibles hors connexion.",
    "reason.legend": "Raison",
    "reason.absent": "Patient absent",
    "reason.refused": "Soin refusé",
    "reason.hospitalised": "Patient hospitalisé",
    "reason.no_access": "Accès impossible",
    "reason.other": "Autre raison",
    "missed.title": "Visite manquée",
    "note.title": "Ajouter une note",
    "missed.text": "Précisions (facultatif)",
    "note.text": "Note",
    "need.reason": "Choisissez une raison.",
    "need.note": "Écrivez la note.",
    cancel: "Annuler",
    send: "Enregistrer",
    "sent.missed": "Visite manquée enregistrée : {name}. Envoi au coordinateur…",
    "sent.note": "Note enregistrée : {name}. Envoi au coordinateur…",
    "sent.offline": "Enregistré sur le téléphone : sera envoyé au retour du réseau.",
    "last.missed": "Manquée : {reason}",
    "last.note": "Note : {note}",
    "unpair.title": "Dissocier ce téléphone ?",
    "logout.title": "Se déconnecter ?",
    "unpair.clean": "Les coordonnées des patients et la tournée seront effacées de ce téléphone.",
    "unpair.pending.one": "{n} envoi en attente (position, visite ou note) : il sera envoyé d'abord.",
    "unpair.pending.other": "{n} envois en attente (positions, visites ou notes) : ils seront envoyés d'abord.",
    "unpair.offline.one": "Hors ligne : {n} envoi en attente serait perdu. Reconnectez le téléphone pour l'envoyer, ou dissociez quand même.",
    "unpair.offline.other": "Hors ligne : {n} envois en attente seraient perdus. Reconnectez le téléphone pour les envoyer, ou dissociez quand même.",
    "unpair.failed.one": "{n} envoi n'a pas pu partir et serait perdu. Réessayez plus tard, ou dissociez quand même.",
    "unpair.failed.other": "{n} envois n'ont pas pu partir et seraient perdus. Réessayez plus tard, ou dissociez quand même.",
    "unpair.sending": "Envoi des données en attente…",
    "unpair.ok": "Dissocier",
    "unpair.force": "Dissocier quand même",
    logout: "Se déconnecter",
    "logout.ok": "Se déconnecter",
    "calendar.button": "Mon agenda (.ics)",
    "calendar.help": "Les visites des 14 prochains jours, à ouvrir dans l'agenda du téléphone : noms et adresses pour aujourd'hui seulement.",
    "calendar.failed": "Agenda indisponible pour l'instant (hors connexion ?). Réessayez plus tard.",
    "outbox.items.one": "{n} envoi en attente (visite, note ou position)",
    "outbox.items.other": "{n} envois en attente (visites, notes ou positions)",
    "outbox.refused.positions.one": "{n} position refusée par le serveur (supprimée)",
    "outbox.refused.positions.other": "{n} positions refusées par le serveur (supprimées)",
    "outbox.refused.events.one": "{n} envoi refusé par le serveur (supprimé)",
    "outbox.refused.events.other": "{n} envois refusés par le serveur (supprimés)",
    "refused.positions.one": "{n} position refusée par le serveur (date du téléphone fausse ou position trop ancienne) : supprimée, elle ne sera pas renvoyée. Mettez la date et l'heure du téléphone en automatique.",
    "refused.positions.other": "{n} positions refusées par le serveur (date du téléphone fausse ou positions trop anciennes) : supprimées, elles ne seront pas renvoyées. Mettez la date et l'heure du téléphone en automatique.",
    "refused.events.one": "{n} envoi (visite ou note) refusé par le serveur : supprimé, il ne sera pas renvoyé.",
    "refused.events.other": "{n} envois (visites ou notes) refusés par le serveur : supprimés, ils ne seront pas renvoyés.",
  },
  en: {
    missed: "Visit missed",
    note: "Add a note",
    details: "Contact details",
    with: "two-person visit, with {name}, starting at {time}",
    detailsOf: "Contact details: {name}",
    missedOf: "Visit missed: {name}",
    noteOf: "Add a note: {name}",
    call: "Call {name} on {phone}",
    access: "Access: {text}",
    care: "Care notes: {text}",
    loading: "Loading the contact details…",
    denied: "No contact details for this visit (another day or another team).",
    unavailable: "Contact details unavailable offline.",
    "reason.legend": "Reason",
    "reason.absent": "Patient away",
    "reason.refused": "Care refused",
    "reason.hospitalised": "Patient in hospital",
    "reason.no_access": "No access",
    "reason.other": "Other reason",
    "missed.title": "Visit missed",
    "note.title": "Add a note",
    "missed.text": "Details (optional)",
    "note.text": "Note",
    "need.reason": "Choose a reason.",
    "need.note": "Write the note.",
    cancel: "Cancel",
    send: "Save",
    "sent.missed": "Missed visit recorded: {name}. Sending to the coordinator…",
    "sent.note": "Note recorded: {name}. Sending to the coordinator…",
    "sent.offline": "Kept on the phone: it will be sent when the network is back.",
    "last.missed": "Missed: {reason}",
    "last.note": "Note: {note}",
    "unpair.title": "Unpair this phone?",
    "logout.title": "Log out?",
    "unpair.clean": "The patients' details and the round will be erased from this phone.",
    "unpair.pending.one": "{n} item waiting to be sent (position, visit or note): it will be sent first.",
    "unpair.pending.other": "{n} items waiting to be sent (positions, visits or notes): they will be sent first.",
    "unpair.offline.one": "Offline: {n} item waiting to be sent would be lost. Reconnect the phone to send it, or unpair anyway.",
    "unpair.offline.other": "Offline: {n} items waiting to be sent would be lost. Reconnect the phone to send them, or unpair anyway.",
    "unpair.failed.one": "{n} item could not be sent and would be lost. Try again later, or unpair anyway.",
    "unpair.failed.other": "{n} items could not be sent and would be lost. Try again later, or unpair anyway.",
    "unpair.sending": "Sending what is waiting…",
    "unpair.ok": "Unpair",
    "unpair.force": "Unpair anyway",
    logout: "Log out",
    "logout.ok": "Log out",
    "calendar.button": "My calendar (.ics)",
    "calendar.help": "The visits of the next 14 days, to open in the phone's calendar: names and addresses for today only.",
    "calendar.failed": "Calendar unavailable for now (offline?). Try again later.",
    "outbox.items.one": "{n} item waiting to be sent (visit, note or position)",
    "outbox.items.other": "{n} items waiting to be sent (visits, notes or positions)",
    "outbox.refused.positions.one": "{n} position refused by the server (removed)",
    "outbox.refused.positions.other": "{n} positions refused by the server (removed)",
    "outbox.refused.events.one": "{n} item refused by the server (removed)",
    "outbox.refused.events.other": "{n} items refused by the server (removed)",
    "refused.positions.one": "{n} position refused by the server (wrong phone date or position too old): removed, it will not be sent again. Set the phone's date and time to automatic.",
    "refused.positions.other": "{n} positions refused by the server (wrong phone date or positions too old): removed, they will not be sent again. Set the phone's date and time to automatic.",
    "refused.events.one": "{n} item (visit or note) refused by the server: removed, it will not be sent again.",
    "refused.events.other": "{n} items (visits or notes) refused by the server: removed, they will not be sent again.",
  },
};

function tp(key, vars = {}) {
  const dict = PHONE_TEXT[getLocale()] || PHONE_TEXT.fr;
  if (!(key in dict) && typeof vars.n === "number") key = `${key}.${new Intl.PluralRules(getLocale()).select(vars.n) === "one" ? "one" : "other"}`;
  const text = dict[key] || PHONE_TEXT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

function applyPhoneTexts() {
  for (const el of document.querySelectorAll("[data-pt]")) el.textContent = tp(el.dataset.pt);
}

// « Mes prochains jours »: the team member's coming days (GET /api/week/mine), pseudonyms only.
extend({
  fr: {
    "mine.title": "Mes prochains jours",
    "mine.loading": "Chargement des prochains jours…",
    "mine.none": "Aucun jour prévu pour l'instant.",
    "mine.failed": "Prochains jours indisponibles pour l'instant (hors connexion ?).",
    "mine.today": "aujourd'hui",
    "mine.tomorrow": "demain",
    "mine.off": "Repos",
    "mine.visits.zero": "aucune visite",
    "mine.visits.one": "{n} visite",
    "mine.visits.other": "{n} visites",
    "mine.novisit": "Aucune visite prévue ce jour-là.",
    "mine.duration": "{n} min",
    "mine.with": "à deux, avec {name}",
    "mine.absence.leave": "Congé",
    "mine.absence.sickness": "Maladie",
    "mine.absence.training": "Formation",
  },
  en: {
    "mine.title": "My coming days",
    "mine.loading": "Loading the coming days…",
    "mine.none": "No day planned yet.",
    "mine.failed": "Coming days unavailable for now (offline?).",
    "mine.today": "today",
    "mine.tomorrow": "tomorrow",
    "mine.off": "Day off",
    "mine.visits.zero": "no visit",
    "mine.visits.one": "{n} visit",
    "mine.visits.other": "{n} visits",
    "mine.novisit": "No visit planned that day.",
    "mine.duration": "{n} min",
    "mine.with": "two-person, with {name}",
    "mine.absence.leave": "Leave",
    "mine.absence.sickness": "Sickness",
    "mine.absence.training": "Training",
  },
});
const MINE_DAYS = 7;
const MINE_REFRESH_MS = 10 * 60 * 1000;
const MINE_AFTER_CHANGE_MS = 3000;

const NEAR_M = 50;
const BATCH_MAX = 100;
const ACK_TIMEOUT_MS = 8000;
const HEARTBEAT_MS = 60000;
const STATUS_REFRESH_MS = 15000;
const VIBRATION_MS = [150, 80, 150];
const PIECES_WAIT_MS = 400;
const PIECES_MAX_MS = 1500;
// An arrival moved by more than this is marked "horaire modifié" (the server's threshold too).
const RETIMED_S = 120;

const state = {
  config: null,
  visits: [],
  plan: null,
  // visit id -> estimated arrival_s from the team's live position (the "etas" kind).
  etas: new Map(),
  loaded: false,
  // A change not yet worked out, waiting for its other pieces: {before, server, first, timer}
  // (see applyLive).
  pending: null,
  // The day of the round shown (the snapshot's): pushes about other days are not for this page.
  day: null,
  lastFix: null,
  lastRecorded: null,
  battery: null,
  online: navigator.onLine,
  flushing: false,
  wakeLock: null,
  conn: "reconnecting",
  gps: "waiting",
  wake: "off",
  pairError: null,
  // What changed in the round since the team member last tapped "Vu".
  marks: { added: new Set(), retimed: new Set(), removed: new Map() },
  // Round rows whose patient details are shown.
  expanded: new Set(),
  // What the team member recorded on a visit from this page: visit id -> {kind, reason, note}.
  recorded: new Map(),
  // The coming days (GET /api/week/mine), in memory only: null until loaded, "failed" on error.
  mine: null,
  // Days whose fold is open in « Mes prochains jours ».
  mineOpen: new Set(),
};
// Patient details of today's visits, in memory only: visit id -> {data} | {loading} |
// {denied} | {failedAt}. `endsAt` is the server time at which the service's day ends.
const patient = { byId: new Map(), endsAt: null };
const DETAILS_RETRY_MS = 30000;
const DAY_CHECK_MS = 10000;
let socket = null;
let dbPromise = null;

// ---------------------------------------------------------------- outbox (IndexedDB)
function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open("dispatch-phone", 1);
      req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const conn = await db();
  return new Promise((resolve, reject) => {
    const transaction = conn.transaction("outbox", mode);
    const result = fn(transaction.objectStore("outbox"));
    transaction.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    transaction.onerror = () => reject(transaction.error);
  });
}

const outbox = {
  add: (item) => tx("readwrite", (store) => store.add(item)),
  count: () => tx("readonly", (store) => store.count()),
  head: (n) => tx("readonly", (store) => store.getAll(null, n)),
  remove: (seqs) => tx("readwrite", (store) => { for (const seq of seqs) store.delete(seq); }),
  clear: () => tx("readwrite", (store) => store.clear()),
};

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function showOutbox() {
  const n = await outbox.count();
  const el = document.getElementById("outbox");
  // Visit events (check-ins, missed visits, notes) wait with the positions: say "items" then.
  const events = n ? (await outbox.head(1000)).filter((i) => i.kind !== "position").length : 0;
  el.textContent = !n ? t("phone.outbox.empty") : events ? tp("outbox.items", { n }) : t("phone.outbox", { n });
  el.dataset.count = String(n);
  renderRefused();
}

// Items the server refused for good (a fix dated years back, an event on a cancelled visit):
// dropped from the outbox, unlike a network error (kept and sent again), and said on a status
// line until the page is reloaded.
const refused = { positions: 0, events: 0 };

function renderRefused() {
  let el = document.getElementById("outbox-refused");
  if (!refused.positions && !refused.events) { if (el) el.remove(); return; }
  if (!el) {
    el = document.createElement("li");
    el.id = "outbox-refused";
    document.getElementById("outbox").after(el);
  }
  el.dataset.positions = String(refused.positions);
  el.dataset.events = String(refused.events);
  el.textContent = [
    refused.positions ? tp("outbox.refused.positions", { n: refused.positions }) : "",
    refused.events ? tp("outbox.refused.events", { n: refused.events }) : "",
  ].filter(Boolean).join(" · ");
}

function noteRefused(kind, n, detail) {
  if (!n) return;
  const key = kind === "position" ? "positions" : "events";
  refused[key] += n;
  console.warn("outbox items refused by the server", detail);
  renderRefused();
  showNotice({ key: `refused.${key}`, vars: { n } });
}

function emitWithAck(event, payload) {
  return new Promise((resolve, reject) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, reply) => {
      if (err) reject(err);
      else if (reply && reply.ok === false) reject(new ApiError(reply, reply.status || 400));
      else resolve(reply);
    });
  });
}

async function sendItems(items) {
  // Items are consecutive and of one kind: positions go as one batch, an event alone.
  const viaSocket = socket && socket.connected;
  if (items[0].kind === "position") {
    const positions = items.map((i) => i.body);
    if (viaSocket) return emitWithAck("position", { positions });
    return api("/api/positions", { method: "POST", body: { positions } });
  }
  const body = items[0].body;
  if (viaSocket) return emitWithAck("visit_event", body);
  const { visit_id: visitId, ...event } = body;
  return api(`/api/visits/${visitId}/events`, { method: "POST", body: event });
}

async function flush() {
  if (state.flushing) { state.flushAgain = true; return; }
  state.flushing = true;
  try {
    for (;;) {
      if (!state.online) break;
      const head = await outbox.head(BATCH_MAX);
      if (!head.length) break;
      const run = [head[0]];
      if (head[0].kind === "position") for (const item of head.slice(1)) { if (item.kind !== "position") break; run.push(item); }
      try {
        const reply = await sendItems(run);
        // Fixes of a batch refused one by one (dated too far back or ahead): the rest is stored.
        const rejected = reply && Array.isArray(reply.rejected) ? reply.rejected : [];
        noteRefused(run[0].kind, rejected.length, rejected);
      } catch (err) {
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 408 && err.status !== 429) {
          // The server refuses these items for good (invalid): drop them rather than block the
          // queue, and say so.
          noteRefused(run[0].kind, run.length, err.body);
        } else {
          if (err instanceof ApiError && err.status === 401) showPairing();
          break;
        }
      }
      await outbox.remove(run.map((i) => i.seq));
    }
  } finally {
    state.flushing = false;
    await showOutbox();
    if (state.flushAgain) { state.flushAgain = false; setTimeout(flush, 0); }
  }
}

// ---------------------------------------------------------------- status lines
// Drawn from `state` alone, so that a change of language never shows a stale or false status.
function renderStatus() {
  const conn = document.getElementById("conn");
  const shown = state.online ? state.conn : "offline";
  conn.dataset.state = shown;
  conn.textContent = t({ online: "conn.online", offline: "conn.offline", reconnecting: "conn.reconnecting" }[shown] || "conn.lost");
  const gps = document.getElementById("gps");
  gps.dataset.state = state.gps;
  const fix = state.lastFix;
  if (state.gps === "ok" && fix) {
    gps.textContent = t("phone.gps.ok", { acc: Math.round(fix.accuracy_m ?? 0), age: formatAge(Date.now() / 1000 - fix.device_time_s) });
  } else {
    gps.textContent = t({ denied: "phone.gps.denied", unavailable: "phone.gps.unavailable" }[state.gps] || "phone.gps.waiting");
  }
  const wake = document.getElementById("wakelock");
  wake.dataset.state = state.wake;
  wake.textContent = t(state.wake === "on" ? "phone.wakelock.on" : "phone.wakelock.off");
}

function setConn(status) {
  state.conn = status;
  renderStatus();
}

// ---------------------------------------------------------------- geolocation
function intervalMs(fix) {
  const speed = fix.speed_mps ?? 0;
  if (speed > 8) return 5000;
  if (speed > 1) return 10000;
  return 30000;
}

async function onFix(position) {
  const c = position.coords;
  const fix = {
    client_id: newId(),
    lon: c.longitude,
    lat: c.latitude,
    device_time_s: position.timestamp / 1000,
    accuracy_m: c.accuracy ?? null,
    speed_mps: c.speed != null && c.speed >= 0 ? c.speed : null,
    heading_deg: c.heading != null && !Number.isNaN(c.heading) && c.heading >= 0 ? c.heading % 360 : null,
    battery_pct: state.battery ? Math.round(state.battery.level * 100) : null,
  };
  state.lastFix = fix;
  state.gps = "ok";
  renderStatus();
  const last = state.lastRecorded;
  const moved = last ? distanceM(last.lon, last.lat, fix.lon, fix.lat) : Infinity;
  const elapsed = last ? (fix.device_time_s - last.device_time_s) * 1000 : Infinity;
  renderNext();
  if (moved >= 20 || elapsed >= intervalMs(fix)) {
    state.lastRecorded = fix;
    await outbox.add({ kind: "position", body: fix });
    await showOutbox();
    flush();
  }
}

function onGeoError(err) {
  // A momentary failure after a good fix keeps the fix (its age tells how old it is).
  if (err.code === 1) state.gps = "denied";
  else if (!state.lastFix) state.gps = "unavailable";
  renderStatus();
}

function startGeolocation() {
  if (!("geolocation" in navigator)) { onGeoError({ code: 2 }); return; }
  const options = { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 };
  navigator.geolocation.watchPosition(onFix, onGeoError, options);
  // A still phone gets no watch callbacks: ask for a fresh fix now and then, so the team
  // stays "live" on the map with a real (not replayed) position.
  setInterval(() => navigator.geolocation.getCurrentPosition(onFix, onGeoError, options), HEARTBEAT_MS);
}

// ---------------------------------------------------------------- wake lock
async function acquireWakeLock() {
  if (!("wakeLock" in navigator) || document.visibilityState !== "visible") { state.wake = "off"; renderStatus(); return; }
  try {
    state.wakeLock = await navigator.wakeLock.request("screen");
    state.wake = "on";
    state.wakeLock.addEventListener("release", () => { state.wake = "off"; renderStatus(); });
  } catch (err) {
    state.wake = "refused";
  }
  renderStatus();
}

// ---------------------------------------------------------------- round
function stopsById() {
  const stops = new Map();
  for (const stop of state.plan?.stops || []) stops.set(stop.visit_id, stop);
  return stops;
}

/** The arrival to show: the live estimate when there is one, else the plan's arrival. */
function arrivalText(visitId, stops) {
  const eta = state.etas.get(visitId);
  if (eta != null) return t("phone.eta", { time: hhmm(eta) });
  const planned = stops.get(visitId)?.arrival_s;
  return planned != null ? t("phone.arrival", { time: hhmm(planned) }) : "";
}

/** The window the arrival aims at: the first one not over by then (else the last one). */
function windowText(visit, stops) {
  const windows = visit.windows || [];
  const arrival = state.etas.get(visit.id) ?? stops.get(visit.id)?.arrival_s;
  const w = arrival != null ? windows.find((x) => x[1] >= arrival) || windows[windows.length - 1] : windows[0];
  return w ? t("phone.window", { start: hhmm(w[0]), end: hhmm(w[1]) }) : "";
}

/** A visit of this team's round: its own, or a two-person visit it serves as partner. */
function ourVisit(visit, teamId) {
  return visit.team_id === teamId || visit.partner_team_id === teamId;
}

/** « avec <partner> » and the start both keep, for a two-person visit this team serves with
 * another team. */
function partnerText(visitId, stops) {
  const stop = stops.get(visitId);
  return stop?.partner_name ? tp("with", { name: stop.partner_name, time: hhmm(stop.start_s) }) : "";
}

function markList(visitId) {
  const marks = [];
  if (state.marks.added.has(visitId)) marks.push("added");
  else if (state.marks.retimed.has(visitId)) marks.push("retimed");
  return marks;
}

function badges(marks) {
  return marks.map((m) => ` <span class="badge ${m}">${escapeHtml(t(`phone.mark.${m}`))}</span>`).join("");
}

function nextVisit() {
  return state.visits.find((v) => v.status === "in_progress" || v.status === "arrived")
    || state.visits.find((v) => !["done", "cancelled", "missed"].includes(v.status));
}

// ---------------------------------------------------------------- patient details (memory only)
function isTodaysVisit(visit) {
  return Boolean(visit) && state.visits.some((v) => v.id === visit.id) && (!visit.day || !state.day || visit.day === state.day);
}

async function loadDetails(visit) {
  if (!isTodaysVisit(visit)) return;
  const known = patient.byId.get(visit.id);
  if (known && !(known.failedAt && Date.now() - known.failedAt > DETAILS_RETRY_MS)) return;
  if (!state.online) { patient.byId.set(visit.id, { failedAt: Date.now() }); return; }
  const endsAt = patient.endsAt;
  patient.byId.set(visit.id, { loading: true });
  let entry;
  try {
    const reply = await api(`/api/visits/${visit.id}/details?from=phone`);
    entry = { data: reply.details || {} };
  } catch (err) {
    entry = err instanceof ApiError && (err.status === 403 || err.status === 404) ? { denied: true } : { failedAt: Date.now() };
  }
  // Dropped meanwhile (day over, unpaired, visit gone): keep nothing.
  if (patient.endsAt !== endsAt || !patient.byId.has(visit.id) || !state.visits.some((v) => v.id === visit.id)) return;
  patient.byId.set(visit.id, entry);
  renderRound();
}

function dropDetails() {
  patient.byId.clear();
  state.expanded.clear();
}

/** Forget the details of visits no longer in today's round. */
function pruneDetails() {
  const present = new Set(state.visits.map((v) => v.id));
  for (const id of [...patient.byId.keys()]) if (!present.has(id)) patient.byId.delete(id);
  for (const id of [...state.expanded]) if (!present.has(id)) state.expanded.delete(id);
}

function telHref(phone) {
  return `tel:${String(phone).replace(/[^\d+]/g, "")}`;
}

function patientHtml(visit) {
  const entry = patient.byId.get(visit.id);
  if (!entry || entry.loading) return `<div class="patient secondary">${escapeHtml(tp("loading"))}</div>`;
  if (entry.denied) return `<div class="patient"><span class="denied">${escapeHtml(tp("denied"))}</span></div>`;
  if (!entry.data) return `<div class="patient secondary">${escapeHtml(tp("unavailable"))}</div>`;
  const d = entry.data;
  const name = d.name || visit.pseudonym;
  return `<div class="patient">`
    + (d.name ? `<div class="name">${escapeHtml(d.name)}</div>` : "")
    + (d.phone ? `<div><a href="${escapeHtml(telHref(d.phone))}" aria-label="${escapeHtml(tp("call", { name, phone: d.phone }))}">${escapeHtml(d.phone)}</a></div>` : "")
    + (d.address_details ? `<div class="access">${escapeHtml(tp("access", { text: d.address_details }))}</div>` : "")
    + (d.notes ? `<div class="care">${escapeHtml(tp("care", { text: d.notes }))}</div>` : "")
    + "</div>";
}

function recordedText(visitId) {
  const r = state.recorded.get(visitId);
  if (!r) return "";
  if (r.kind === "missed") return tp("last.missed", { reason: tp(`reason.${r.reason}`) + (r.note ? ` — ${r.note}` : "") });
  return tp("last.note", { note: r.note });
}

function renderNext() {
  const visit = nextVisit();
  const body = document.getElementById("next-body");
  const checkIn = document.getElementById("check-in");
  const checkOut = document.getElementById("check-out");
  const near = document.getElementById("near");
  const missed = document.getElementById("next-missed");
  const note = document.getElementById("next-note");
  if (!visit) {
    body.textContent = t("phone.none");
    delete body.dataset.visitId;
    for (const el of [checkIn, checkOut, missed, note]) el.disabled = true;
    near.hidden = true;
    for (const id of ["nav-geo", "nav-osm"]) {
      const link = document.getElementById(id);
      link.removeAttribute("href");
      link.setAttribute("aria-disabled", "true");
    }
    return;
  }
  const fix = state.lastFix;
  const d = fix ? distanceM(fix.lon, fix.lat, visit.lon, visit.lat) : null;
  const stops = stopsById();
  const arrival = arrivalText(visit.id, stops);
  const window0 = windowText(visit, stops);
  loadDetails(visit);
  body.innerHTML = `<div class="who">${escapeHtml(visit.pseudonym)}${badges(markList(visit.id))}</div>`
    + patientHtml(visit)
    + (arrival ? `<div class="arrival">${escapeHtml(arrival)}</div>` : "")
    + (partnerText(visit.id, stops) ? `<div class="partner">${escapeHtml(partnerText(visit.id, stops))}</div>` : "")
    + (window0 ? `<div class="secondary">${escapeHtml(window0)}</div>` : "")
    + `<div>${escapeHtml(visit.address || "")} ${escapeHtml(visit.commune || "")}</div>`
    + (d != null ? `<div>${escapeHtml(t("phone.distance", { d: formatDistance(d) }))}</div>` : "")
    + `<div class="st">${escapeHtml(t(`status.${visit.status}`))}</div>`;
  body.dataset.visitId = String(visit.id);
  for (const id of ["nav-geo", "nav-osm"]) document.getElementById(id).removeAttribute("aria-disabled");
  document.getElementById("nav-geo").href = `geo:${visit.lat},${visit.lon}?q=${visit.lat},${visit.lon}`;
  const from = fix ? `${fix.lat},${fix.lon}` : "";
  document.getElementById("nav-osm").href = `https://www.openstreetmap.org/directions?engine=fossgis_osrm_car&route=${from}%3B${visit.lat}%2C${visit.lon}`;
  const started = visit.status === "in_progress";
  checkIn.disabled = started;
  checkOut.disabled = !started;
  missed.disabled = false;
  note.disabled = false;
  missed.setAttribute("aria-label", tp("missedOf", { name: visit.pseudonym }));
  note.setAttribute("aria-label", tp("noteOf", { name: visit.pseudonym }));
  const isNear = d != null && d <= NEAR_M;
  near.hidden = !(isNear && !started);
  checkIn.classList.toggle("suggested", isNear && !started);
}

function renderRound() {
  const list = document.getElementById("round");
  const stops = stopsById();
  pruneDetails();
  // The list is drawn again: keep the keyboard focus on the same button of the same visit.
  const focused = list.contains(document.activeElement) ? document.activeElement.closest("button[data-act]") : null;
  const keep = focused ? { act: focused.dataset.act, id: focused.dataset.id } : null;
  list.innerHTML = state.visits.map((v) => {
    const marks = markList(v.id);
    const arrival = arrivalText(v.id, stops);
    const secondary = [windowText(v, stops), v.commune || ""].filter(Boolean).join(" · ");
    const open = state.expanded.has(v.id);
    const closed = ["done", "cancelled"].includes(v.status);
    const recorded = recordedText(v.id);
    const partner = partnerText(v.id, stops);
    return `<li class="${escapeHtml(v.status)}" data-visit-id="${v.id}"${marks.length ? ` data-mark="${marks.join(" ")}"` : ""}>`
      + `<div><strong>${escapeHtml(v.pseudonym)}</strong>${badges(marks)}</div>`
      + `<div>${arrival ? `<span class="arrival">${escapeHtml(arrival)}</span> · ` : ""}<span class="st">${escapeHtml(t(`status.${v.status}`))}</span></div>`
      + (partner ? `<div class="partner">${escapeHtml(partner)}</div>` : "")
      + (secondary ? `<div class="secondary">${escapeHtml(secondary)}</div>` : "")
      + (recorded ? `<div class="ev">${escapeHtml(recorded)}</div>` : "")
      + (open ? `<div id="patient-${v.id}">${patientHtml(v)}</div>` : "")
      + `<div class="row-actions">`
      + `<button type="button" class="secondary" data-act="details" data-id="${v.id}" aria-expanded="${open}" aria-controls="patient-${v.id}" aria-label="${escapeHtml(tp("detailsOf", { name: v.pseudonym }))}">${escapeHtml(tp("details"))}</button>`
      + (closed || v.status === "missed" ? "" : `<button type="button" class="secondary" data-act="missed" data-id="${v.id}" aria-label="${escapeHtml(tp("missedOf", { name: v.pseudonym }))}">${escapeHtml(tp("missed"))}</button>`)
      + `<button type="button" class="secondary" data-act="note" data-id="${v.id}" aria-label="${escapeHtml(tp("noteOf", { name: v.pseudonym }))}">${escapeHtml(tp("note"))}</button>`
      + "</div></li>";
  }).join("") || `<li>${escapeHtml(t("phone.none"))}</li>`;
  if (keep) list.querySelector(`button[data-act="${keep.act}"][data-id="${keep.id}"]`)?.focus();
  renderNext();
}

// ---------------------------------------------------------------- coming days
function mineWindow(window) {
  if (!window) return "";
  if (typeof window === "string") return window.replace("-", "–");
  const pair = Array.isArray(window[0]) ? window[0] : window;
  const [start, end] = pair.map((x) => (typeof x === "number" ? hhmm(x) : String(x)));
  return `${start}–${end}`;
}

function mineShift(shift) {
  return shiftSpans(shift);
}

function mineDayName(day) {
  const tag = getLocale() === "en" ? "en-GB" : "fr-FR";
  const text = new Date(`${day}T12:00:00Z`).toLocaleDateString(tag, { timeZone: "UTC", weekday: "long", day: "numeric", month: "long" });
  const today = state.config && state.config.day;
  if (!today) return text;
  const next = new Date(`${today}T12:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  if (day === today) return `${t("mine.today")}, ${text}`;
  if (day === next.toISOString().slice(0, 10)) return `${t("mine.tomorrow")}, ${text}`;
  return text;
}

function mineCount(n) {
  if (n === 0) return t("mine.visits.zero");
  return t(`mine.visits.${new Intl.PluralRules(getLocale()).select(n) === "one" ? "one" : "other"}`, { n });
}

function renderMine() {
  const box = document.getElementById("mine");
  const list = document.getElementById("mine-days");
  const status = document.getElementById("mine-status");
  if (state.mine === null) { box.hidden = true; return; }
  box.hidden = false;
  if (state.mine === "failed") {
    status.textContent = t("mine.failed");
    list.innerHTML = "";
    return;
  }
  status.textContent = state.mine.length ? "" : t("mine.none");
  list.innerHTML = state.mine.map((d) => {
    const visits = d.visits || [];
    const what = [];
    if (d.absence) what.push(`<span class="absence">${escapeHtml(t(`mine.absence.${d.absence.kind}`))}</span>`);
    if (d.shift) what.push(`<span>${escapeHtml(mineShift(d.shift))}</span>`);
    else if (!d.absence && state.mineRota) what.push(`<span class="off">${escapeHtml(t("mine.off"))}</span>`);
    if (visits.length || d.shift || !state.mineRota) what.push(`<span>${escapeHtml(mineCount(visits.length))}</span>`);
    const open = state.mineOpen.has(d.day);
    const body = visits.length
      ? `<ul class="mine-visits">${visits.map((v) => `<li><span class="time">${escapeHtml(mineWindow(v.window ?? v.windows))}</span>`
        + `<span><strong>${escapeHtml(v.pseudonym)}</strong>${v.duration_s ? ` <span class="dur">· ${escapeHtml(t("mine.duration", { n: Math.round(v.duration_s / 60) }))}</span>` : ""}`
        + `${v.with ? ` <span class="dur mine-with">· ${escapeHtml(t("mine.with", { name: v.with }))}</span>` : ""}</span></li>`).join("")}</ul>`
      : `<p class="hint mine-visits">${escapeHtml(t("mine.novisit"))}</p>`;
    return `<li><details data-day="${escapeHtml(d.day)}"${open ? " open" : ""}><summary><span class="day">${escapeHtml(mineDayName(d.day))}</span>`
      + `<span class="what">${what.join(" · ")}</span></summary>${body}</details></li>`;
  }).join("");
}

/** The coming days of the phone's team member; a team without one (404) shows nothing. */
async function loadMine() {
  if (state.mine === null) {
    document.getElementById("mine").hidden = false;
    document.getElementById("mine-status").textContent = t("mine.loading");
  }
  try {
    const reply = await api(`/api/week/mine?days=${MINE_DAYS}`);
    state.mine = Array.isArray(reply) ? reply : reply.days || [];
    // A team with no member of staff behind it has no rota: no "day off" is shown then.
    state.mineRota = !!(reply && reply.staff);
  } catch (err) {
    if (err instanceof ApiError && [401, 403, 404].includes(err.status)) state.mine = null;
    else if (state.mine === null || state.mine === "failed") state.mine = "failed";
  }
  renderMine();
}

function onRoundClick(e) {
  const button = e.target.closest("button[data-act]");
  if (!button) return;
  const visit = state.visits.find((v) => v.id === Number(button.dataset.id));
  if (!visit) return;
  if (button.dataset.act === "details") {
    if (state.expanded.has(visit.id)) state.expanded.delete(visit.id);
    else { state.expanded.add(visit.id); loadDetails(visit); }
    renderRound();
  } else openEventDialog(visit, button.dataset.act, button);
}

function plural(key, n) {
  const form = new Intl.PluralRules(getLocale()).select(n) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { n });
}

function renderChanges() {
  const { added, retimed, removed } = state.marks;
  const present = new Set(state.visits.map((v) => v.id));
  const nAdded = [...added].filter((id) => present.has(id)).length;
  const nRetimed = [...retimed].filter((id) => present.has(id)).length;
  const parts = [];
  if (nAdded) parts.push(plural("phone.changes.added", nAdded));
  // "1 visite ajoutée, 1 retirée": the noun is said once, in the first part.
  if (removed.size) parts.push(plural(nAdded ? "phone.changes.removed.short" : "phone.changes.removed", removed.size));
  if (nRetimed) parts.push(plural("phone.changes.retimed", nRetimed));
  let text = "";
  if (parts.length) {
    text = t("phone.changes", { parts: parts.join(", ") });
    if (removed.size) text += ` ${t(removed.size === 1 ? "phone.changes.gone.one" : "phone.changes.gone.other", { names: [...removed.values()].join(", ") })}`;
  }
  const el = document.getElementById("changes-text");
  if (el.textContent !== text) el.textContent = text;
  document.getElementById("changes").classList.toggle("active", Boolean(text));
  document.getElementById("changes-seen").hidden = !text;
}

function acknowledgeChanges() {
  const hadFocus = document.activeElement === document.getElementById("changes-seen");
  state.marks = { added: new Set(), retimed: new Set(), removed: new Map() };
  renderRound();
  renderChanges();
  // The button hides itself: keep keyboard and screen-reader users at the round.
  if (hadFocus) document.getElementById("next-title").focus();
}

/** The visits still to do in the round: visit id -> {name, arrival_s (planned, or null)}.
 * A cancelled visit stays in the list (struck through) but counts as removed from the round. */
function roundView() {
  const stops = stopsById();
  const view = new Map();
  for (const v of state.visits) {
    if (v.status !== "cancelled") view.set(v.id, { name: v.pseudonym, arrival_s: stops.get(v.id)?.arrival_s ?? null });
  }
  return view;
}

/** Mark what differs between two round views; true when something new is marked. */
function markDiff(before, after, server = null) {
  const marks = state.marks;
  let changed = false;
  const addId = (id) => {
    if (marks.added.has(id) || !after.has(id)) return;
    marks.added.add(id);
    marks.retimed.delete(id);
    marks.removed.delete(id);
    changed = true;
  };
  const removeId = (id, name) => {
    if (marks.removed.has(id) || after.has(id) || !name) return;
    const wasAdded = marks.added.delete(id);
    marks.retimed.delete(id);
    // Added and removed again before "Vu": it never reached the team member's round.
    if (!wasAdded) marks.removed.set(id, name);
    changed = true;
  };
  const retimeId = (id) => {
    if (marks.added.has(id) || marks.retimed.has(id) || !after.has(id)) return;
    marks.retimed.add(id);
    changed = true;
  };
  for (const [id, stop] of after) {
    const old = before.get(id);
    if (!old) addId(id);
    else if (old.arrival_s != null && stop.arrival_s != null && Math.abs(old.arrival_s - stop.arrival_s) > RETIMED_S) retimeId(id);
  }
  for (const [id, old] of before) if (!after.has(id)) removeId(id, old.name);
  // Re-timed is judged above on the arrival the phone shows (the server's summary judges the
  // start of the visit, which waits for the window).
  if (server) {
    for (const id of server.added || []) addId(id);
    for (const id of server.removed || []) removeId(id, before.get(id)?.name);
  }
  return changed;
}

function announceChanges() {
  renderChanges();
  try {
    if (navigator.vibrate) navigator.vibrate(VIBRATION_MS);
  } catch (err) {
    // Vibration needs a user gesture first on some browsers: the notice is enough.
  }
}

function orderVisits(visits, plan) {
  const seq = new Map();
  if (plan && plan.stops) for (const stop of plan.stops) seq.set(stop.visit_id, stop.seq);
  return visits.slice().sort((a, b) => (seq.get(a.id) ?? 1e9) - (seq.get(b.id) ?? 1e9) || ((a.windows?.[0]?.[0] ?? 0) - (b.windows?.[0]?.[0] ?? 0)));
}

async function loadSnapshot() {
  const snap = await api("/api/live/snapshot");
  syncClock(snap.server_time);
  const teamId = state.config.principal.team_id;
  // After a disconnection the snapshot is compared with the round shown before, so what
  // changed meanwhile is marked as if it had been pushed.
  const pending = state.pending;
  const before = pending ? pending.before : state.loaded ? roundView() : null;
  const planId = state.plan?.plan_id;
  if (state.day && snap.day && snap.day !== state.day) { dropDetails(); state.recorded.clear(); }
  state.day = snap.day || null;
  state.plan = (snap.plans || []).find((p) => p.team_id === teamId) || null;
  if (state.plan?.plan_id !== planId) state.etas = new Map();
  state.visits = (snap.visits || []).filter((v) => ourVisit(v, teamId));
  state.loaded = true;
  if (before) { settleChanges(before, pending ? pending.server : null); return; }
  state.visits = orderVisits(state.visits, state.plan);
  renderRound();
  renderChanges();
}

function applyLive(batch, teamId) {
  const pending = state.pending;
  const before = pending ? pending.before : roundView();
  let changed = false;
  for (const v of batch.visits || []) {
    if (v.deleted || !ourVisit(v, teamId) || (v.day && state.day && v.day !== state.day)) {
      const n = state.visits.length;
      state.visits = state.visits.filter((x) => x.id !== v.id);
      changed ||= state.visits.length !== n;
      continue;
    }
    const i = state.visits.findIndex((x) => x.id === v.id);
    if (i >= 0) state.visits[i] = { ...state.visits[i], ...v }; else state.visits.push(v);
    changed = true;
  }
  for (const plan of batch.plans || []) {
    if (plan.team_id !== teamId) continue;
    state.plan = plan;
    // Estimates were worked out for the previous order: show planned arrivals until new ones come.
    state.etas = new Map();
    changed = true;
  }
  let retimedOnly = false;
  for (const item of batch.etas || []) {
    if (item.team_id !== teamId) continue;
    state.etas = new Map(Object.entries(item.etas || {}).map(([id, s]) => [Number(id), s]));
    retimedOnly = true;
  }
  const server = pending ? pending.server : { added: [], removed: [], retimed: [] };
  let summarised = false;
  for (const item of batch.changes || []) {
    if (item.team_id != null && item.team_id !== teamId) continue;
    if (item.day && state.day && item.day !== state.day) continue;
    for (const key of ["added", "removed", "retimed"]) {
      const ids = Array.isArray(item[key]) ? item[key] : (item[key] || {})[teamId] || [];
      server[key].push(...ids.map(Number));
    }
    summarised = true;
  }
  if (!changed && !summarised) {
    if (retimedOnly) renderRound();
    return;
  }
  if (changed) {
    state.visits = orderVisits(state.visits, state.plan);
    renderRound();
  }
  // A change may reach the page in pieces (its summary, the round, the visits that joined or
  // left it). What changed is worked out and announced once the pieces agree, or when none
  // has come for PIECES_WAIT_MS (at most PIECES_MAX_MS after the first), so the notice and
  // the vibration come once.
  if (changed && roundAgrees()) { settleChanges(before, server); return; }
  const first = pending ? pending.first : Date.now();
  if (pending) clearTimeout(pending.timer);
  const wait = Math.max(0, Math.min(PIECES_WAIT_MS, first + PIECES_MAX_MS - Date.now()));
  state.pending = { before, server, first, timer: setTimeout(() => settleChanges(before, server), wait) };
}

/** True when the round's stops and the team's visits tell the same story: every stop is a
 * visit of the team still to do, and every visit waiting for the team is a stop. */
function roundAgrees() {
  const stops = state.plan?.stops;
  if (!stops) return true;
  const status = new Map(state.visits.map((v) => [v.id, v.status]));
  const planned = new Set(stops.map((s) => s.visit_id));
  return stops.every((s) => status.has(s.visit_id) && status.get(s.visit_id) !== "cancelled")
    && state.visits.every((v) => !["planned", "assigned"].includes(v.status) || planned.has(v.id));
}

function settleChanges(before, server) {
  if (state.pending) { clearTimeout(state.pending.timer); state.pending = null; }
  state.visits = orderVisits(state.visits, state.plan);
  const marked = state.loaded && markDiff(before, roundView(), server);
  renderRound();
  if (marked) announceChanges(); else renderChanges();
}

async function recordEvent(kind) {
  const visit = nextVisit();
  if (!visit) return;
  await recordVisitEvent(visit, kind);
}

/** A check-in, check-out, missed visit (with its reason) or note: to the outbox, then sent. */
async function recordVisitEvent(visit, kind, extra = {}) {
  const fix = state.lastFix;
  const body = { visit_id: visit.id, kind, client_id: newId(), device_time_s: Date.now() / 1000, lon: fix ? fix.lon : null, lat: fix ? fix.lat : null, ...extra };
  if (kind === "check_in") visit.status = "in_progress";
  else if (kind === "check_out") visit.status = "done";
  else if (kind === "missed") visit.status = "missed";
  if (kind === "missed" || kind === "note") state.recorded.set(visit.id, { kind, reason: extra.reason, note: extra.note || "" });
  renderRound();
  await outbox.add({ kind: "event", body });
  await showOutbox();
  flush();
}

// ---------------------------------------------------------------- missed visit and note
let eventTarget = null; // {visit, kind, opener}

function renderEventDialog() {
  if (!eventTarget) return;
  const { visit, kind } = eventTarget;
  document.getElementById("event-title").textContent = tp(`${kind}.title`);
  document.getElementById("event-visit").textContent = visit.pseudonym;
  document.getElementById("reason-set").hidden = kind !== "missed";
  for (const input of document.querySelectorAll("#reason-set input")) input.required = kind === "missed";
  document.getElementById("event-note-label").textContent = tp(`${kind}.text`);
  document.getElementById("event-note").required = kind === "note";
}

function openEventDialog(visit, kind, opener) {
  eventTarget = { visit, kind, opener };
  document.getElementById("event-form").reset();
  document.getElementById("event-error").textContent = "";
  renderEventDialog();
  const dialog = document.getElementById("event-dialog");
  dialog.showModal();
  (kind === "missed" ? document.querySelector("#reason-set input") : document.getElementById("event-note")).focus();
}

function closeEventDialog() {
  const opener = eventTarget?.opener;
  eventTarget = null;
  document.getElementById("event-dialog").close();
  if (opener && opener.isConnected) opener.focus();
  else document.getElementById("next-title").focus();
}

async function submitEvent(e) {
  e.preventDefault();
  if (!eventTarget) return;
  const { visit, kind } = eventTarget;
  const note = document.getElementById("event-note").value.trim();
  const reason = document.querySelector("#reason-set input:checked")?.value;
  const error = document.getElementById("event-error");
  if (kind === "missed" && !reason) { error.textContent = tp("need.reason"); document.querySelector("#reason-set input").focus(); return; }
  if (kind === "note" && !note) { error.textContent = tp("need.note"); document.getElementById("event-note").focus(); return; }
  const extra = kind === "missed" ? { reason, ...(note ? { note } : {}) } : { note };
  closeEventDialog();
  await recordVisitEvent(visit, kind, extra);
  showNotice(state.online && state.conn === "online" ? { key: `sent.${kind}`, vars: { name: visit.pseudonym } } : { key: "sent.offline" });
}

// The last confirmation, kept as a key so that a change of language rewrites it.
let notice = null;
let noticeTimer = null;
const NOTICE_MS = 12000;

function showNotice(next) {
  notice = next;
  renderNotice();
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice = null; renderNotice(); }, NOTICE_MS);
}

function renderNotice() {
  document.getElementById("phone-notice").textContent = notice ? tp(notice.key, notice.vars || {}) : "";
}

// ---------------------------------------------------------------- unpairing / logout
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let unpairForce = false;

function isSessionUser() {
  return state.config?.principal?.kind === "user";
}

// « Mon agenda »: the team's coming visits as an .ics file, read with this phone's own token
// (GET /api/phone/calendar.ics), so that today's visits carry names and addresses.
function renderCalendar() {
  document.getElementById("calendar").hidden = isSessionUser() || !deviceToken();
}

async function downloadCalendar() {
  const status = document.getElementById("calendar-status");
  try {
    const response = await fetch(`/api/phone/calendar.ics?lang=${getLocale()}`, {
      headers: { Authorization: `Bearer ${deviceToken()}`, Accept: "text/calendar" },
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = "tournee.ics";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = tp("calendar.help");
  } catch (err) {
    console.warn("calendar", err);
    status.textContent = tp("calendar.failed");
  }
}

function renderUnpairButton() {
  const button = document.getElementById("unpair");
  button.textContent = isSessionUser() ? tp("logout") : t("phone.unpair");
}

async function describeUnpair(reason = null) {
  const n = await outbox.count().catch(() => 0);
  const title = document.getElementById("unpair-title");
  title.textContent = tp(isSessionUser() ? "logout.title" : "unpair.title");
  let text = tp("unpair.clean");
  unpairForce = false;
  if (n && (reason === "failed" || !state.online)) {
    text = `${tp(reason === "failed" ? "unpair.failed" : "unpair.offline", { n })} ${text}`;
    unpairForce = true;
  } else if (n) text = `${tp("unpair.pending", { n })} ${text}`;
  document.getElementById("unpair-text").textContent = text;
  document.getElementById("unpair-ok").textContent = unpairForce ? tp("unpair.force") : tp(isSessionUser() ? "logout.ok" : "unpair.ok");
  return n;
}

async function askUnpair() {
  await describeUnpair();
  document.getElementById("unpair-ok").disabled = false;
  document.getElementById("unpair-dialog").showModal();
  document.getElementById("unpair-cancel").focus();
}

async function confirmUnpair() {
  const ok = document.getElementById("unpair-ok");
  if (!unpairForce) {
    const n = await outbox.count().catch(() => 0);
    if (n) {
      // Send what is waiting first; what cannot leave is only dropped on a second, explicit yes.
      ok.disabled = true;
      document.getElementById("unpair-text").textContent = tp("unpair.sending");
      await flush().catch(() => {});
      const deadline = Date.now() + 15000;
      while ((state.flushing || state.flushAgain) && Date.now() < deadline) await sleep(100);
      if (await outbox.count().catch(() => 0)) {
        await describeUnpair("failed");
        ok.disabled = false;
        ok.focus();
        return;
      }
    }
  }
  ok.disabled = true;
  await wipe();
  location.href = "/phone/";
}

/** Leave nothing of the team's day on the phone: details, round, outbox, its database, caches. */
async function wipe() {
  dropDetails();
  state.visits = [];
  state.recorded.clear();
  state.mine = null;
  clearTimeout(state.mineTimer);
  renderMine();
  if (socket) socket.disconnect();
  if (isSessionUser()) {
    try { await api("/api/session", { method: "DELETE", token: null }); } catch (err) { console.warn("logout", err); }
    setCsrf(null);
  }
  if (deviceToken()) {
    // The server revokes this phone's token: one left on a phone handed back must not work.
    try { await api("/api/devices/self", { method: "DELETE" }); } catch (err) { console.warn("unpair", err); }
  }
  setDeviceToken(null);
  try { await outbox.clear(); } catch (err) { console.warn("outbox", err); }
  try {
    const conn = await dbPromise;
    if (conn) conn.close();
  } catch (err) { /* never opened */ }
  dbPromise = null;
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase("dispatch-phone");
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
  if ("caches" in window) {
    for (const key of await caches.keys()) if (key.startsWith("dispatch-phone")) await caches.delete(key);
  }
}

// ---------------------------------------------------------------- the service's day
function setDayEnd(serverTime, timeS) {
  if (typeof serverTime === "number" && typeof timeS === "number") patient.endsAt = serverTime + (86400 - timeS);
}

async function checkDay() {
  if (patient.endsAt == null || serverNow() < patient.endsAt) return;
  // A new day: yesterday's patients leave the phone's memory, today's round is loaded again.
  dropDetails();
  state.recorded.clear();
  patient.endsAt = null;
  try {
    const config = await api("/api/live/config");
    syncClock(config.server_time);
    setDayEnd(config.server_time, config.time_s);
    await loadSnapshot();
  } catch (err) {
    renderRound();
  }
}

// ---------------------------------------------------------------- pairing and start
function pairErrorKey(err) {
  if (!(err instanceof ApiError)) return "phone.pair.offline";
  if (err.status === 401) return "phone.pair.expired";
  if (err.status === 429) return "phone.pair.rate_limited";
  if (err.status === 400) return "phone.pair.invalid";
  return "phone.pair.failed";
}

function renderPairError() {
  const el = document.getElementById("pair-error");
  const error = state.pairError;
  el.textContent = error ? t(error.key, { error: error.message }) : "";
  document.getElementById("pair-code").setAttribute("aria-invalid", error ? "true" : "false");
}

function showPairing(err) {
  document.getElementById("main").hidden = true;
  document.getElementById("pairing").hidden = false;
  state.pairError = err ? { key: pairErrorKey(err), message: err.message } : null;
  renderPairError();
}

async function pair(code) {
  const reply = await api("/api/devices/pair", { method: "POST", body: { code, label: navigator.userAgent.slice(0, 60) }, token: null, csrf: false });
  setDeviceToken(reply.token);
}

function renderTeamName() {
  const principal = state.config?.principal;
  if (!principal || principal.team_id == null) return;
  document.getElementById("team-name").textContent = principal.team_name || t("phone.team", { name: principal.team_id });
}

async function start() {
  state.config = await api("/api/live/config");
  syncClock(state.config.server_time);
  setDayEnd(state.config.server_time, state.config.time_s);
  const principal = state.config.principal;
  if (!principal || principal.team_id == null) { showPairing(); return; }
  document.getElementById("pairing").hidden = true;
  document.getElementById("main").hidden = false;
  renderTeamName();
  document.getElementById("traccar-url").textContent = `${location.origin}/osmand`;
  document.getElementById("traccar-id").textContent = principal.traccar_id || "—";
  document.getElementById("traccar").hidden = !principal.traccar_id;
  socket = connectSocket({ onStatus: setConn });
  socket.on("connect", () => { loadSnapshot().catch(console.error); flush(); if (state.mine === "failed") loadMine(); });
  // The server's bus between processes came back from an outage: pushes may have been lost.
  socket.on("resync", () => { loadSnapshot().catch(console.error); });
  socket.on("live", (batch) => {
    syncClock(batch.server_time);
    applyLive(batch, principal.team_id);
    // A visit or plan of the team changed: the coming days are read again a moment later.
    if ((batch.visits || []).some((v) => ourVisit(v, principal.team_id)) || (batch.plans || []).length || (batch.changes || []).length) {
      clearTimeout(state.mineTimer);
      state.mineTimer = setTimeout(loadMine, MINE_AFTER_CHANGE_MS);
    }
  });
  window.addEventListener("online", () => { state.online = true; if (!socket.connected) socket.connect(); setConn(socket.connected ? "online" : "reconnecting"); flush(); });
  window.addEventListener("offline", () => { state.online = false; socket.disconnect(); setConn("offline"); });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") { acquireWakeLock(); flush(); } });
  document.getElementById("check-in").addEventListener("click", () => recordEvent("check_in"));
  document.getElementById("check-out").addEventListener("click", () => recordEvent("check_out"));
  document.getElementById("next-missed").addEventListener("click", (e) => { const v = nextVisit(); if (v) openEventDialog(v, "missed", e.currentTarget); });
  document.getElementById("next-note").addEventListener("click", (e) => { const v = nextVisit(); if (v) openEventDialog(v, "note", e.currentTarget); });
  document.getElementById("round").addEventListener("click", onRoundClick);
  document.getElementById("mine-days").addEventListener("toggle", (e) => {
    const day = e.target.dataset && e.target.dataset.day;
    if (!day) return;
    if (e.target.open) state.mineOpen.add(day);
    else state.mineOpen.delete(day);
  }, true);
  loadMine();
  setInterval(loadMine, MINE_REFRESH_MS);
  renderUnpairButton();
  renderCalendar();
  document.getElementById("calendar-download").addEventListener("click", downloadCalendar);
  setInterval(checkDay, DAY_CHECK_MS);
  if (navigator.getBattery) navigator.getBattery().then((b) => { state.battery = b; }).catch(() => {});
  await acquireWakeLock();
  await showOutbox();
  startGeolocation();
  setInterval(flush, 15000);
  setInterval(renderStatus, STATUS_REFRESH_MS);
  document.body.dataset.ready = "1";
}

function onLocale() {
  const lang = document.getElementById("lang");
  lang.lang = getLocale() === "fr" ? "en" : "fr";
  applyPhoneTexts();
  renderNotice();
  renderUnpairButton();
  renderEventDialog();
  if (document.getElementById("unpair-dialog").open) describeUnpair();
  renderStatus();
  renderTeamName();
  renderPairError();
  renderRefused();
  showOutbox();
  if (state.loaded) renderRound();
  renderChanges();
  renderMine();
}

async function main() {
  apply();
  onLocale();
  document.getElementById("lang").addEventListener("click", toggle);
  onChange(onLocale);
  document.getElementById("changes-seen").addEventListener("click", acknowledgeChanges);
  document.getElementById("unpair").addEventListener("click", askUnpair);
  document.getElementById("unpair-cancel").addEventListener("click", () => { document.getElementById("unpair-dialog").close(); document.getElementById("unpair").focus(); });
  document.getElementById("unpair-ok").addEventListener("click", confirmUnpair);
  document.getElementById("event-form").addEventListener("submit", submitEvent);
  document.getElementById("event-cancel").addEventListener("click", closeEventDialog);
  document.getElementById("event-dialog").addEventListener("cancel", (e) => { e.preventDefault(); closeEventDialog(); });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/phone/sw.js", { scope: "/phone/" }).catch((err) => console.warn("service worker", err));
  document.getElementById("pair-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await pair(document.getElementById("pair-code").value.trim());
      state.pairError = null;
      renderPairError();
      history.replaceState(null, "", "/phone/");
      await start();
    } catch (err) {
      showPairing(err);
    }
  });
  const code = new URLSearchParams(location.search).get("code");
  if (code) {
    // The code leaves the address bar whatever happens: a reload must not try a spent code.
    history.replaceState(null, "", "/phone/");
    const paired = deviceToken();
    try {
      // A phone given to another team: what it recorded for the first one is sent with that
      // team's token first, and whatever could not be sent is dropped, never sent as the new team's.
      if (paired) await flush().catch(() => {});
      await pair(code);
      if (paired) await outbox.clear();
    } catch (err) {
      // A link opened again on a phone already paired: keep its pairing, say nothing.
      if (!paired) {
        document.getElementById("pair-code").value = code;
        showPairing(err);
        return;
      }
    }
  }
  try {
    await start();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { setDeviceToken(null); showPairing(); return; }
    // Offline at start: the shell came from the service worker; keep recording positions.
    document.getElementById("main").hidden = false;
    setConn("lost");
    startGeolocation();
    window.addEventListener("online", () => location.reload(), { once: true });
  }
}

main();
