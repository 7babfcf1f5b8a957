// Team phone page: pairing, adaptive geolocation, wake lock, an IndexedDB outbox replayed in order, the day's round.
//
// Every fix and every check-in/out first goes to the outbox (IndexedDB), then the outbox is
// sent in order: through the socket when it is connected (acknowledged once stored), else
// through the REST batch endpoints. Each item carries a client_id, so a resend after a lost
// acknowledgement is stored once.
import { apply, formatAge, formatDistance, hhmm, onChange, t, toggle } from "./i18n.js";
import { api, ApiError, connectSocket, deviceToken, distanceM, escapeHtml, setDeviceToken, syncClock } from "./common.js";

const NEAR_M = 50;
const BATCH_MAX = 100;
const ACK_TIMEOUT_MS = 8000;
const HEARTBEAT_MS = 60000;

const state = { config: null, visits: [], plan: null, lastFix: null, lastRecorded: null, battery: null, online: navigator.onLine, flushing: false, wakeLock: null };
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
  document.getElementById("gps").textContent = t("phone.gps.ok", { acc: Math.round(fix.accuracy_m ?? 0), age: formatAge(0) });
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
  const el = document.getElementById("gps");
  el.textContent = err.code === 1 ? t("phone.gps.denied") : t("phone.gps.unavailable");
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
  const el = document.getElementById("wakelock");
  if (!("wakeLock" in navigator) || document.visibilityState !== "visible") { el.textContent = t("phone.wakelock.off"); return; }
  try {
    state.wakeLock = await navigator.wakeLock.request("screen");
    el.textContent = t("phone.wakelock.on");
    el.dataset.state = "on";
    state.wakeLock.addEventListener("release", () => { el.textContent = t("phone.wakelock.off"); el.dataset.state = "off"; });
  } catch (err) {
    el.textContent = t("phone.wakelock.off");
    el.dataset.state = "refused";
  }
}

// ---------------------------------------------------------------- round
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
  const window0 = (visit.windows || [])[0];
  body.innerHTML = `<div class="who">${escapeHtml(visit.pseudonym)}</div>`
    + `<div>${escapeHtml(visit.address || "")} ${escapeHtml(visit.commune || "")}</div>`
    + (window0 ? `<div>${escapeHtml(t("phone.window", { start: hhmm(window0[0]), end: hhmm(window0[1]) }))}</div>` : "")
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
  list.innerHTML = state.visits.map((v) => {
    const w = (v.windows || [])[0];
    return `<li class="${escapeHtml(v.status)}" data-visit-id="${v.id}">${w ? `${hhmm(w[0])} ` : ""}<strong>${escapeHtml(v.pseudonym)}</strong> ${escapeHtml(v.commune || "")} <span class="st">${escapeHtml(t(`status.${v.status}`))}</span></li>`;
  }).join("") || `<li>${escapeHtml(t("phone.none"))}</li>`;
  renderNext();
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
  state.plan = (snap.plans || []).find((p) => p.team_id === teamId) || null;
  state.visits = orderVisits((snap.visits || []).filter((v) => v.team_id === teamId), state.plan);
  renderRound();
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

// ---------------------------------------------------------------- start
function showPairing(message) {
  document.getElementById("main").hidden = true;
  document.getElementById("pairing").hidden = false;
  if (message) document.getElementById("pair-error").textContent = message;
}

async function pair(code) {
  const reply = await api("/api/devices/pair", { method: "POST", body: { code, label: navigator.userAgent.slice(0, 60) }, token: null, csrf: false });
  setDeviceToken(reply.token);
}

function setConn(status) {
  const el = document.getElementById("conn");
  const shown = state.online ? status : "offline";
  el.dataset.state = shown;
  el.textContent = t(shown === "online" ? "conn.online" : shown === "offline" ? "conn.offline" : shown === "reconnecting" ? "conn.reconnecting" : "conn.lost");
}

async function start() {
  state.config = await api("/api/live/config");
  syncClock(state.config.server_time);
  const principal = state.config.principal;
  if (!principal || principal.team_id == null) { showPairing(); return; }
  document.getElementById("pairing").hidden = true;
  document.getElementById("main").hidden = false;
  document.getElementById("team-name").textContent = principal.team_name || t("phone.team", { name: principal.team_id });
  document.getElementById("traccar-url").textContent = `${location.origin}/osmand`;
  document.getElementById("traccar-id").textContent = principal.traccar_id || "—";
  document.getElementById("traccar").hidden = !principal.traccar_id;
  socket = connectSocket({ onStatus: setConn });
  socket.on("connect", () => { loadSnapshot().catch(console.error); flush(); });
  socket.on("live", (batch) => {
    syncClock(batch.server_time);
    let changed = false;
    for (const v of batch.visits || []) {
      if (v.team_id !== principal.team_id) { state.visits = state.visits.filter((x) => x.id !== v.id); changed = true; continue; }
      const i = state.visits.findIndex((x) => x.id === v.id);
      if (i >= 0) state.visits[i] = { ...state.visits[i], ...v }; else state.visits.push(v);
      changed = true;
    }
    for (const plan of batch.plans || []) if (plan.team_id === principal.team_id) { state.plan = plan; changed = true; }
    if (changed) { state.visits = orderVisits(state.visits, state.plan); renderRound(); }
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
  document.body.dataset.ready = "1";
}

async function main() {
  apply();
  document.getElementById("lang").addEventListener("click", toggle);
  onChange(() => { renderRound(); showOutbox(); });
  document.getElementById("unpair").addEventListener("click", async () => { setDeviceToken(null); await outbox.clear(); location.href = "/phone/"; });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/phone/sw.js", { scope: "/phone/" }).catch((err) => console.warn("service worker", err));
  const params = new URLSearchParams(location.search);
  document.getElementById("pair-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await pair(document.getElementById("pair-code").value.trim());
      history.replaceState(null, "", "/phone/");
      await start();
    } catch (err) {
      document.getElementById("pair-error").textContent = t("pair.failed", { error: err.message });
    }
  });
  if (params.get("code") && !deviceToken()) {
    try { await pair(params.get("code")); history.replaceState(null, "", "/phone/"); } catch (err) { showPairing(t("pair.failed", { error: err.message })); return; }
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
