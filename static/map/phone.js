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
import { apply, formatAge, formatDistance, getLocale, hhmm, onChange, t, toggle } from "./i18n.js";
import { api, ApiError, connectSocket, deviceToken, distanceM, escapeHtml, setDeviceToken, syncClock } from "./common.js";

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
};
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
  el.textContent = n ? t("phone.outbox", { n }) : t("phone.outbox.empty");
  el.dataset.count = String(n);
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
        await sendItems(run);
      } catch (err) {
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 408 && err.status !== 429) {
          // The server refuses these items for good (invalid): drop them rather than block the queue.
          console.warn("outbox items refused", err.body);
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

function renderNext() {
  const visit = nextVisit();
  const body = document.getElementById("next-body");
  const checkIn = document.getElementById("check-in");
  const checkOut = document.getElementById("check-out");
  const near = document.getElementById("near");
  if (!visit) {
    body.textContent = t("phone.none");
    delete body.dataset.visitId;
    for (const el of [checkIn, checkOut]) el.disabled = true;
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
  body.innerHTML = `<div class="who">${escapeHtml(visit.pseudonym)}${badges(markList(visit.id))}</div>`
    + (arrival ? `<div class="arrival">${escapeHtml(arrival)}</div>` : "")
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
  const isNear = d != null && d <= NEAR_M;
  near.hidden = !(isNear && !started);
  checkIn.classList.toggle("suggested", isNear && !started);
}

function renderRound() {
  const list = document.getElementById("round");
  const stops = stopsById();
  list.innerHTML = state.visits.map((v) => {
    const marks = markList(v.id);
    const arrival = arrivalText(v.id, stops);
    const secondary = [windowText(v, stops), v.commune || ""].filter(Boolean).join(" · ");
    return `<li class="${escapeHtml(v.status)}" data-visit-id="${v.id}"${marks.length ? ` data-mark="${marks.join(" ")}"` : ""}>`
      + `<div><strong>${escapeHtml(v.pseudonym)}</strong>${badges(marks)}</div>`
      + `<div>${arrival ? `<span class="arrival">${escapeHtml(arrival)}</span> · ` : ""}<span class="st">${escapeHtml(t(`status.${v.status}`))}</span></div>`
      + (secondary ? `<div class="secondary">${escapeHtml(secondary)}</div>` : "") + "</li>";
  }).join("") || `<li>${escapeHtml(t("phone.none"))}</li>`;
  renderNext();
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
  state.day = snap.day || null;
  state.plan = (snap.plans || []).find((p) => p.team_id === teamId) || null;
  if (state.plan?.plan_id !== planId) state.etas = new Map();
  state.visits = (snap.visits || []).filter((v) => v.team_id === teamId);
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
    if (v.deleted || v.team_id !== teamId || (v.day && state.day && v.day !== state.day)) {
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
  const fix = state.lastFix;
  const body = { visit_id: visit.id, kind, client_id: newId(), device_time_s: Date.now() / 1000, lon: fix ? fix.lon : null, lat: fix ? fix.lat : null };
  visit.status = kind === "check_in" ? "in_progress" : "done";
  renderRound();
  await outbox.add({ kind: "event", body });
  await showOutbox();
  flush();
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
  const principal = state.config.principal;
  if (!principal || principal.team_id == null) { showPairing(); return; }
  document.getElementById("pairing").hidden = true;
  document.getElementById("main").hidden = false;
  renderTeamName();
  document.getElementById("traccar-url").textContent = `${location.origin}/osmand`;
  document.getElementById("traccar-id").textContent = principal.traccar_id || "—";
  document.getElementById("traccar").hidden = !principal.traccar_id;
  socket = connectSocket({ onStatus: setConn });
  socket.on("connect", () => { loadSnapshot().catch(console.error); flush(); });
  socket.on("live", (batch) => {
    syncClock(batch.server_time);
    applyLive(batch, principal.team_id);
  });
  window.addEventListener("online", () => { state.online = true; if (!socket.connected) socket.connect(); setConn(socket.connected ? "online" : "reconnecting"); flush(); });
  window.addEventListener("offline", () => { state.online = false; socket.disconnect(); setConn("offline"); });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") { acquireWakeLock(); flush(); } });
  document.getElementById("check-in").addEventListener("click", () => recordEvent("check_in"));
  document.getElementById("check-out").addEventListener("click", () => recordEvent("check_out"));
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
  renderStatus();
  renderTeamName();
  renderPairError();
  showOutbox();
  if (state.loaded) renderRound();
  renderChanges();
}

async function main() {
  apply();
  onLocale();
  document.getElementById("lang").addEventListener("click", toggle);
  onChange(onLocale);
  document.getElementById("changes-seen").addEventListener("click", acknowledgeChanges);
  document.getElementById("unpair").addEventListener("click", async () => { setDeviceToken(null); await outbox.clear(); location.href = "/phone/"; });
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
