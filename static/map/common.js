// Shared by the pages: REST calls with the right credentials, the Socket.IO connection, server clock.
const TOKEN_KEY = "dispatch.deviceToken";

export function deviceToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setDeviceToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

// The session's CSRF token (cookie sessions must send it on unsafe requests).
let csrf = sessionStorage.getItem("dispatch.csrf");
export function setCsrf(token) {
  csrf = token || null;
  if (csrf) sessionStorage.setItem("dispatch.csrf", csrf);
  else sessionStorage.removeItem("dispatch.csrf");
}
async function csrfToken() {
  if (csrf) return csrf;
  const response = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
  const data = await response.json().catch(() => null);
  if (response.ok && data && data.csrf_token) setCsrf(data.csrf_token);
  return csrf;
}

/** The language the page is shown in (i18n.js sets <html lang>; "fr" first). */
export function pageLocale() {
  const lang = (document.documentElement.lang || "fr").slice(0, 2);
  return lang === "en" ? "en" : "fr";
}

export class ApiError extends Error {
  constructor(body, status) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, { method = "GET", body, token = deviceToken(), timeoutMs = 15000, csrf: sendCsrf = true } = {}) {
  // The page's language, so that the server answers (errors, the optimiser's reasons) in it.
  const headers = { Accept: "application/json", "Accept-Language": pageLocale() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (!token && sendCsrf && method !== "GET") {
    const value = await csrfToken();
    if (value) headers["X-CSRF-Token"] = value;
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
      cache: "no-store",
    });
    const data = await response.json().catch(() => null);
    if (!response.ok || (data && data.ok === false)) throw new ApiError(data, response.status);
    return data;
  } finally {
    clearTimeout(timer);
  }
}

/** Server clock: serverNow() follows the server's time even if the device clock is wrong. */
let offsetS = 0;
export function syncClock(serverTimeS) {
  if (typeof serverTimeS === "number") offsetS = serverTimeS - Date.now() / 1000;
}
export function serverNow() {
  return Date.now() / 1000 + offsetS;
}

export function connectSocket({ token = deviceToken(), onStatus } = {}) {
  // eslint-disable-next-line no-undef
  const socket = io({
    auth: token ? { token } : {},
    transports: ["websocket", "polling"],
    reconnectionDelay: 1000,
    reconnectionDelayMax: 10000,
    timeout: 10000,
  });
  if (onStatus) {
    socket.on("connect", () => onStatus("online"));
    socket.on("disconnect", () => onStatus("lost"));
    socket.io.on("reconnect_attempt", () => onStatus("reconnecting"));
    socket.on("connect_error", () => onStatus("lost"));
  }
  return socket;
}

/** Adds the style sheet at `href` to the page once, as a <link> (the Content-Security-Policy
 * allows no inline <style>); resolves once it is loaded (or failed), so that a panel built
 * after it is never drawn unstyled. */
export function loadStylesheet(href) {
  let link = [...document.querySelectorAll('link[rel="stylesheet"]')].find((l) => l.getAttribute("href") === href);
  if (!link) {
    link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.append(link);
  } else if (link.sheet) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    link.addEventListener("load", resolve, { once: true });
    link.addEventListener("error", resolve, { once: true });
  });
}

export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function distanceM(lon1, lat1, lon2, lat2) {
  const r = 6371008.8;
  const p1 = (lat1 * Math.PI) / 180;
  const p2 = (lat2 * Math.PI) / 180;
  const dp = p2 - p1;
  const dl = ((lon2 - lon1) * Math.PI) / 180;
  const a = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** "07:00" from seconds since midnight or from "07:00" itself. */
export function clockText(value) {
  if (value == null) return "";
  if (typeof value === "string") return value.slice(0, 5);
  const s = Math.round(value);
  return `${String(Math.floor(s / 3600)).padStart(2, "0")}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
}

/** A rota's shift as its working spans: « 07:00–11:30, 17:00–19:30 » for a split shift
 * ({start, end, breaks: ["11:30-17:00"]}), « 07:00–14:00 » for one without breaks. */
export function shiftSpans(shift) {
  if (!shift) return "";
  if (typeof shift === "string") return shift.replace("-", "–");
  if (shift.shift) return String(shift.shift).replace("-", "–");
  const start = clockText(shift.start ?? shift.start_s);
  const end = clockText(shift.end ?? shift.end_s);
  const breaks = (shift.breaks || [])
    .map((b) => String(b).split("-").map((x) => x.trim().slice(0, 5)))
    .filter(([a, b]) => a && b && a > start && b < end && a < b)
    .sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const spans = [];
  let from = start;
  for (const [a, b] of breaks) {
    if (a > from) spans.push(`${from}–${a}`);
    if (b > from) from = b;
  }
  spans.push(`${from}–${end}`);
  return spans.join(", ");
}
