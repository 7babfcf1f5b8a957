// Coordinator map: live team markers, trails, visits, planned rounds and alerts over the self-hosted base map.
//
// Data flow (traccar-web style): GET /api/live/snapshot fills every layer; Socket.IO "live"
// batches then apply deltas (enter/update/exit by stable id); after any reconnection the
// snapshot is loaded again. Ages are recomputed every second on the server's clock, so a team
// whose reports stop turns grey ("position inconnue") even if this page's own socket is down.
//
// Plan changes arrive the same way (kinds `plans`, `visits`, `changes`, `etas`, `alerts`): the
// page never reloads to show them; `refresh()` (the snapshot) is only the fallback after a drop.
//
// Extension panels (static/map/dispatch-*.js, listed by the server in config.extensions) are
// imported if present and called as `init(ctx)` with ctx = {map, state, api, t, on(event, fn),
// container, refresh(), arrivalOf(visitId), selectVisit(id), pickPlace(fn|null), teamName(id),
// visitName(id)}. Local events: "snapshot", "live", "changes", "select-visit", "insert-visit".
import { apply, extend, formatAge, hhmm, onChange, t, toggle } from "./i18n.js";
import { api, ApiError, connectSocket, escapeHtml, serverNow, setCsrf, syncClock } from "./common.js";
import { GLYPHS_URL, LABEL_LAYER_IDS, labelLayers } from "./basemap-style.js";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f"];
const TRAIL_MAX_POINTS = 2000;
const ALERT_MAX = 200;
const JOURNAL_MAX = 300;
/** The roles that acknowledge alerts and open the management page. */
const MANAGERS = ["coordinator", "admin"];
/** Header links to the other screens (ids of index.html's links) and the roles that see each:
 * an admin manages accounts and sees no patient; a planner reads the week, not the records. */
const SCREEN_LINKS = { "patients-link": ["coordinator"], "week-link": ["coordinator", "planner"] };

extend({
  fr: {
    "patients.link": "Patients", "week.link": "Semaine", "nav.label": "Écrans", "teams.structure": "{name} · {structure}",
    "day.viewing": "Vous regardez le {day}", "day.back": "retour à aujourd'hui", "visits.ofDay": "Visites du {day}",
    "structure.filter": "Structure", "structure.all": "Toutes mes structures",
  },
  en: {
    "patients.link": "Patients", "week.link": "Week", "nav.label": "Screens", "teams.structure": "{name} · {structure}",
    "day.viewing": "You are looking at {day}", "day.back": "back to today", "visits.ofDay": "Visits of {day}",
    "structure.filter": "Structure", "structure.all": "All my structures",
  },
});

const state = {
  config: null,
  teams: new Map(),
  positions: new Map(),
  trails: new Map(),
  visits: new Map(),
  plans: new Map(),
  /** Alerts that need action (late, at_risk, unknown, dropped, missed), newest first. */
  alerts: [],
  /** Routine events (arrival, check-in, check-out): the journal, newest first. */
  journal: [],
  connected: false,
  /** Id of the day's published plan (snapshot and `changes` keep it current). */
  planId: null,
  /** team_id -> {at, etas: {visit_id: arrival_s}} from the live `etas` kind. */
  etas: new Map(),
  /** visit_id -> {team_id, seq, arrival_s} from the published plan's stops. */
  stops: new Map(),
  selectedVisit: null,
  /** structure id -> name, of the structures the caller sees (GET /api/structures). */
  structures: new Map(),
  /** The structure whose teams, visits and rounds the map shows (null: all the caller's). */
  structureFilter: null,
  /** The day the address asks for (/map/?day=DAY) when it is not the live day, else null:
   * the map then shows that day's visits, not today's rounds, trails or visits. */
  otherDay: null,
  /** visit_id -> {team_id, arrival_s} of ``otherDay``'s published rounds. */
  dayStops: new Map(),
  /** visit_id -> visit of ``otherDay`` (GET /api/visits?day=). */
  dayVisits: new Map(),
};
const NOTICE_MAX = 4;
const markers = new Map();
const listeners = new Map();
let map = null;
let socket = null;
let dirty = { trails: false, visits: false, plans: false, teams: false, alerts: false };
/** While the urgent-visit form picks a place, map clicks go to this function only. */
let pickHandler = null;

function emitLocal(event, payload) {
  for (const fn of listeners.get(event) || []) {
    try { fn(payload); } catch (err) { console.error(err); }
  }
}

function teamColor(team) {
  if (team && team.color) return team.color;
  return PALETTE[(team ? team.id : 0) % PALETTE.length];
}

function teamName(id) {
  const team = state.teams.get(id);
  return team ? team.name : `#${id}`;
}

/** The team's structure's name when the map shows teams of several structures (a coordinator
 * of several, or an admin), else null: one structure needs no label. */
function structureLabel(team) {
  if (!team || team.structure_id == null) return null;
  const ids = new Set([...state.teams.values()].map((x) => x.structure_id).filter((x) => x != null));
  if (ids.size < 2) return null;
  return state.structures.get(team.structure_id) || `#${team.structure_id}`;
}

/** True when the map shows what belongs to this structure (every structure when none is chosen). */
function inFilter(structureId) {
  return state.structureFilter == null || structureId == null || Number(structureId) === state.structureFilter;
}

function teamShown(teamId) {
  const team = state.teams.get(teamId);
  return !team || inFilter(team.structure_id);
}

/** The visits the map shows: the day asked for's, or the live day's, of the chosen structure. */
function shownVisits() {
  return [...(state.otherDay ? state.dayVisits : state.visits).values()].filter((v) => inFilter(v.structure_id));
}

/** The day the address asks for, if any (/map/?day=DAY, the week screen's links). */
function askedDay() {
  const day = new URLSearchParams(location.search).get("day") || "";
  return /^\d{4}-\d{2}-\d{2}$/.test(day) ? day : null;
}

/** « mercredi 9 décembre » / « Wednesday 9 December ». */
function dayName(day) {
  const date = new Date(`${day}T12:00:00`);
  return date.toLocaleDateString(document.documentElement.lang === "en" ? "en-GB" : "fr-FR", { weekday: "long", day: "numeric", month: "long" });
}

function visitName(id) {
  const visit = state.visits.get(id);
  return visit ? visit.pseudonym || `#${id}` : `#${id}`;
}

function presenceOf(pos) {
  if (!pos || pos.seen_at == null) return "never";
  return serverNow() - pos.seen_at <= state.config.stale_s ? "live" : "unknown";
}

/** Seconds since local midnight on the rounds' clock (the device's clock when unknown). */
function nowS() {
  if (state.dayClock) return (state.dayClock.time_s + serverNow() - state.dayClock.at) % 86400;
  const d = new Date();
  return d.getHours() * 3600 + d.getMinutes() * 60 + d.getSeconds();
}

/** Planned arrival of a visit: the live ETA when known, else the published plan's arrival_s. */
function arrivalOf(visitId) {
  const id = Number(visitId);
  // Another day: the arrival of its published rounds (no live estimate).
  if (state.otherDay) {
    const planned = state.dayStops.get(id);
    return planned && planned.arrival_s != null ? { arrival_s: planned.arrival_s, source: "plan" } : null;
  }
  const stop = state.stops.get(id);
  const visit = state.visits.get(id);
  const teamId = stop ? stop.team_id : visit && visit.team_id;
  const eta = teamId != null ? state.etas.get(teamId) : null;
  if (eta && eta.etas) {
    const value = eta.etas[id] ?? eta.etas[String(id)];
    if (value != null) return { arrival_s: value, source: "eta" };
  }
  if (stop && stop.arrival_s != null) return { arrival_s: stop.arrival_s, source: "plan" };
  return null;
}

function indexStops() {
  state.stops = new Map();
  for (const plan of state.plans.values()) {
    (plan.stops || []).forEach((stop, i) => {
      if (stop.visit_id == null) return;
      state.stops.set(Number(stop.visit_id), { team_id: plan.team_id, seq: stop.seq ?? i, arrival_s: stop.arrival_s });
    });
  }
}

function arrivalText(visitId) {
  const a = arrivalOf(visitId);
  return a ? t("visits.arrival", { time: hhmm(a.arrival_s) }) : t("visits.arrival.none");
}

function windowText(v) {
  const range = (v.windows || []).map(([a, b]) => `${hhmm(a)}–${hhmm(b)}`).join(", ");
  return range ? t("visits.window", { range }) : "";
}

// ---------------------------------------------------------------- base map
function baseStyle(config) {
  const sources = {};
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#f3f1ec" } }];
  if (config.online_tiles) {
    sources.osm = {
      type: "raster",
      tiles: ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"],
      tileSize: 256,
      maxzoom: 19,
      attribution: t("map.attribution"),
    };
    layers.push({ id: "osm", type: "raster", source: "osm", layout: { visibility: "none" } });
  }
  if (config.basemap_url) {
    sources.base = { type: "vector", url: `pmtiles://${location.origin}${config.basemap_url}`, attribution: t("map.attribution") };
    const road = (id, classes, color, widths, minzoom = 0) => ({
      id, type: "line", source: "base", "source-layer": "roads", minzoom,
      filter: ["in", ["get", "class"], ["literal", classes]],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": color, "line-width": ["interpolate", ["exponential", 1.6], ["zoom"], 6, widths[0], 16, widths[1]] },
    });
    layers.push(
      { id: "areas-fill", type: "fill", source: "base", "source-layer": "areas", filter: ["!=", ["get", "code"], "boundary"], paint: { "fill-color": "#ece8df", "fill-outline-color": "#cfc8b8" } },
      { id: "areas-line", type: "line", source: "base", "source-layer": "areas", paint: { "line-color": ["case", ["==", ["get", "code"], "boundary"], "#6b5b95", "#c9c0ae"], "line-width": ["case", ["==", ["get", "code"], "boundary"], 2, 0.6], "line-dasharray": [3, 2] } },
      road("roads-minor", ["residential", "living_street", "unclassified", "service", "track", "other"], "#ffffff", [0.4, 6], 11),
      road("roads-tertiary", ["tertiary"], "#fefcd6", [0.6, 8]),
      road("roads-secondary", ["secondary"], "#f7e08f", [0.8, 10]),
      road("roads-primary", ["primary", "trunk", "motorway"], "#f2a65a", [1.2, 12]),
      { id: "bases", type: "circle", source: "base", "source-layer": "bases", paint: { "circle-radius": 5, "circle-color": "#123a5a", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } },
    );
    // Commune, place and street names from the territory's own tiles (self-hosted glyphs).
    layers.push(...labelLayers(config, t));
  }
  return { version: 8, glyphs: GLYPHS_URL, sources, layers };
}

/** MapLibre's own buttons are named in English: they get the page's language. */
const CONTROL_TEXTS = [
  [".maplibregl-ctrl-zoom-in", "ctrl.zoom_in"],
  [".maplibregl-ctrl-zoom-out", "ctrl.zoom_out"],
  [".maplibregl-ctrl-compass", "ctrl.compass"],
  [".maplibregl-ctrl-attrib-button", "ctrl.attribution"],
];
function localiseControls() {
  if (!map) return;
  const root = map.getContainer();
  for (const [selector, key] of CONTROL_TEXTS) {
    for (const el of root.querySelectorAll(selector)) { el.title = t(key); el.setAttribute("aria-label", t(key)); }
  }
  const canvas = map.getCanvas();
  canvas.setAttribute("aria-label", t("map.label"));
  // The sources' credit was written in the language of the page's start.
  const inner = root.querySelector(".maplibregl-ctrl-attrib-inner");
  if (inner) {
    const walker = document.createTreeWalker(inner, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (/OpenStreetMap/.test(node.nodeValue)) node.nodeValue = node.nodeValue.replace(/©[^|]*OpenStreetMap[^|]*/g, t("map.attribution"));
    }
  }
}

/** The online OSM raster in place of the self-hosted background: the territory's own fills
 * and roads are opaque over it, so they step aside while it shows (boundary, bases and
 * labels stay). */
function setOnlineBackground(on) {
  if (!map.getLayer("osm")) return;
  map.setLayoutProperty("osm", "visibility", on ? "visible" : "none");
  for (const layer of map.getStyle().layers) {
    // The raster has its own roads and names: ours would be drawn twice.
    const own = layer.id === "areas-fill" || layer.id.startsWith("roads-") || LABEL_LAYER_IDS.includes(layer.id);
    if (own) map.setLayoutProperty(layer.id, "visibility", on ? "none" : "visible");
  }
}

function addOverlayLayers() {
  map.addSource("routes", { type: "geojson", data: emptyFC() });
  map.addSource("trails", { type: "geojson", data: emptyFC() });
  map.addSource("visits", { type: "geojson", data: emptyFC() });
  map.addLayer({ id: "routes", type: "line", source: "routes", layout: { "line-join": "round" }, paint: { "line-color": ["get", "color"], "line-width": 3, "line-opacity": 0.55, "line-dasharray": [2, 1.5] } });
  map.addLayer({ id: "trails", type: "line", source: "trails", layout: { "line-join": "round", "line-cap": "round" }, paint: { "line-color": ["get", "color"], "line-width": 3, "line-opacity": 0.85 } });
  map.addLayer({
    id: "visits", type: "circle", source: "visits",
    paint: {
      "circle-radius": 7,
      "circle-stroke-width": 2,
      "circle-stroke-color": ["get", "color"],
      "circle-color": ["match", ["get", "status"], "done", "#2e8b57", "in_progress", "#f0b429", "arrived", "#f0b429", "missed", "#c0392b", "cancelled", "#bbbbbb", "#ffffff"],
    },
  });
  // A two-person visit served by two teams: a second ring in the partner's colour, the stop
  // being on both rounds' lines.
  map.addLayer({
    id: "visits-partner", type: "circle", source: "visits", filter: ["has", "partner_color"],
    paint: { "circle-radius": 10, "circle-color": "rgba(0,0,0,0)", "circle-stroke-width": 2, "circle-stroke-color": ["get", "partner_color"] },
  });
  map.addLayer({
    id: "visits-selected", type: "circle", source: "visits", filter: ["==", ["get", "id"], -1],
    paint: { "circle-radius": 12, "circle-color": "rgba(0,0,0,0)", "circle-stroke-width": 3, "circle-stroke-color": "#111" },
  });
  map.on("click", (e) => {
    if (pickHandler) { pickHandler([e.lngLat.lng, e.lngLat.lat]); return; }
    const f = map.getLayer("visits") && map.queryRenderedFeatures(e.point, { layers: ["visits"] })[0];
    if (!f) return;
    const v = state.visits.get(f.properties.id);
    if (!v) return;
    selectVisit(v.id, { source: "map" });
    const eta = arrivalOf(v.id);
    const popup = new maplibregl.Popup({ className: "visit-popup" }).setLngLat(e.lngLat).setHTML(
      `<strong>${escapeHtml(v.pseudonym)}</strong><br><b class="arrival" title="${escapeHtml(eta ? t(eta.source === "eta" ? "visits.eta.title" : "visits.plan.title") : "")}">${escapeHtml(arrivalText(v.id))}</b>`
      + `<br><span class="secondary">${escapeHtml(windowText(v))}</span><br>${escapeHtml(v.address || v.commune || "")}`
      + `<br>${escapeHtml(t(`status.${v.status}`))} · ${escapeHtml(v.team_id ? teamName(v.team_id) : t("visits.unassigned"))}`,
    ).addTo(map);
    emitLocal("visit-popup", { visit_id: v.id, element: popup.getElement() });
  });
  enableVisitDrag();
  map.on("mouseenter", "visits", () => { if (!pickHandler) map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "visits", () => { map.getCanvas().style.cursor = pickHandler ? "crosshair" : ""; });
}

/** Dragging a visit onto a team's round (its line, one of its visits or its marker) proposes
 * that move to the panel, which checks it; the selects remain the keyboard way. */
function enableVisitDrag() {
  let drag = null;
  const ghost = document.createElement("div");
  ghost.className = "drag-ghost";
  ghost.setAttribute("aria-hidden", "true");
  ghost.hidden = true;
  map.getContainer().appendChild(ghost);
  const targetAt = (point, original) => {
    const box = [[point.x - 8, point.y - 8], [point.x + 8, point.y + 8]];
    const onVisit = map.queryRenderedFeatures(box, { layers: ["visits"] })
      .map((f) => state.visits.get(f.properties.id))
      .find((v) => v && v.id !== drag.id && state.stops.has(v.id));
    if (onVisit) return { team_id: state.stops.get(onVisit.id).team_id, after_visit_id: onVisit.id };
    const el = document.elementsFromPoint(original.clientX, original.clientY).find((e) => e.closest && e.closest(".team-marker"));
    if (el) return { team_id: Number(el.closest(".team-marker").dataset.teamId), after_visit_id: null };
    const route = map.getLayer("routes") && map.queryRenderedFeatures(box, { layers: ["routes"] })[0];
    if (route) return { team_id: Number(route.properties.team_id), after_visit_id: null };
    return null;
  };
  map.on("mousedown", "visits", (e) => {
    if (pickHandler || e.originalEvent.button !== 0) return;
    const f = e.features && e.features[0];
    if (!f || !state.visits.has(f.properties.id)) return;
    e.preventDefault(); // no panning while a visit is held
    drag = { id: f.properties.id, start: e.point, moved: false };
  });
  map.on("mousemove", (e) => {
    if (!drag) return;
    if (!drag.moved && Math.hypot(e.point.x - drag.start.x, e.point.y - drag.start.y) < 6) return;
    drag.moved = true;
    const target = targetAt(e.point, e.originalEvent);
    ghost.hidden = false;
    ghost.style.transform = `translate(${e.point.x + 12}px, ${e.point.y + 12}px)`;
    ghost.textContent = target ? `${visitName(drag.id)} → ${teamName(target.team_id)}` : visitName(drag.id);
    ghost.classList.toggle("on-target", !!target);
    map.getCanvas().style.cursor = "grabbing";
  });
  const end = (e) => {
    if (!drag) return;
    const held = drag;
    const target = held.moved && e && e.point ? targetAt(e.point, e.originalEvent) : null;
    drag = null;
    ghost.hidden = true;
    map.getCanvas().style.cursor = "";
    if (target) {
      selectVisit(held.id, { source: "drag" });
      emitLocal("drop-visit", { visit_id: held.id, ...target });
    }
  };
  map.on("mouseup", end);
  map.getCanvas().addEventListener("mouseleave", () => end(null));
}

function emptyFC() {
  return { type: "FeatureCollection", features: [] };
}

// ---------------------------------------------------------------- markers
function markerFor(teamId) {
  let marker = markers.get(teamId);
  if (marker) return marker;
  const el = document.createElement("div");
  el.className = "team-marker";
  el.dataset.teamId = String(teamId);
  el.innerHTML = '<div class="dot"><div class="arrow"></div></div><div class="label"><span class="name"></span><span class="age"></span></div>';
  // MapLibre makes it a button named "Map marker": give it the visible text as its name and
  // the keyboard the same action as the click.
  el.setAttribute("role", "button");
  el.tabIndex = 0;
  el.addEventListener("click", () => focusTeam(teamId));
  el.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); focusTeam(teamId); } });
  marker = new maplibregl.Marker({ element: el, anchor: "top", offset: [0, -11] });
  marker.setLngLat([0, 0]);
  markers.set(teamId, marker);
  return marker;
}

function renderMarker(teamId) {
  const pos = state.positions.get(teamId);
  if (!pos || pos.lon == null) return;
  const marker = markerFor(teamId);
  const team = state.teams.get(teamId);
  marker.setLngLat([pos.lon, pos.lat]);
  const el = marker.getElement();
  el.querySelector(".dot").style.background = teamColor(team || { id: teamId });
  const arrow = el.querySelector(".arrow");
  arrow.style.display = pos.heading_deg == null ? "none" : "";
  if (pos.heading_deg != null) arrow.style.transform = `rotate(${pos.heading_deg}deg)`;
  if (!marker._added) { marker.addTo(map); marker._added = true; }
  el.classList.toggle("filtered-out", !teamShown(teamId));
  refreshMarkerAge(teamId);
}

function refreshMarkerAge(teamId) {
  const marker = markers.get(teamId);
  const pos = state.positions.get(teamId);
  if (!marker || !pos) return;
  const presence = presenceOf(pos);
  const el = marker.getElement();
  el.classList.remove("live", "unknown", "never");
  el.classList.add(presence);
  el.dataset.presence = presence;
  const age = pos.seen_at == null ? null : serverNow() - pos.seen_at;
  const label = presence === "live" ? formatAge(age) : `${t("presence.unknown")} · ${formatAge(age)}`;
  el.querySelector(".label .name").textContent = teamName(teamId);
  el.querySelector(".label .age").textContent = `· ${label}`;
  el.title = `${teamName(teamId)} — ${label}`;
  el.setAttribute("aria-label", `${teamName(teamId)} · ${label}`);
  scheduleDeclutter();
}

let declutterPending = false;
function scheduleDeclutter() {
  if (declutterPending) return;
  declutterPending = true;
  requestAnimationFrame(() => { declutterPending = false; declutterLabels(); });
}

/** Labels of team markers that would overlap one already shown are hidden (the marker stays;
 * its label shows on hover or keyboard focus). Teams whose position is unknown come first,
 * then the others by name, so that the same labels stay from one frame to the next. */
function declutterLabels() {
  const order = [...markers.entries()].filter(([id, m]) => m._added && teamShown(id)).sort(([a, ma], [b, mb]) => {
    const ua = ma.getElement().classList.contains("live") ? 1 : 0;
    const ub = mb.getElement().classList.contains("live") ? 1 : 0;
    return ua - ub || teamName(a).localeCompare(teamName(b));
  });
  const placed = [];
  for (const [, marker] of order) {
    const el = marker.getElement();
    const label = el.querySelector(".label");
    const box = label.getBoundingClientRect();
    const hit = placed.some((p) => box.left < p.right + 2 && box.right > p.left - 2 && box.top < p.bottom + 1 && box.bottom > p.top - 1);
    el.classList.toggle("label-hidden", hit);
    if (!hit) placed.push(box);
    const dot = el.querySelector(".dot").getBoundingClientRect();
    placed.push(dot);
  }
}

function focusTeam(teamId) {
  const pos = state.positions.get(teamId);
  if (pos && pos.lon != null) map.flyTo({ center: [pos.lon, pos.lat], zoom: Math.max(map.getZoom(), 14) });
}

// ---------------------------------------------------------------- panels
/** Colours each `.swatch[data-color]` under `root` through CSSOM: the Content-Security-Policy
 * allows no style attribute in HTML text. */
function paintSwatches(root) {
  for (const el of root.querySelectorAll(".swatch[data-color]")) el.style.background = el.dataset.color;
}

/** The team whose round the address asks for (/map/?day=DAY&team=TEAM_ID, the week screen's
 * cells; the rounds panel draws it), marked in the team list while the address names it. */
function askedTeam() {
  const id = Number(new URLSearchParams(location.search).get("team"));
  return Number.isInteger(id) && id > 0 ? id : null;
}

function renderTeams() {
  const list = document.getElementById("team-list");
  const asked = askedTeam();
  // Teams of several structures: grouped by structure, each labelled with its structure's name.
  const teams = [...state.teams.values()].filter((team) => inFilter(team.structure_id)).map((team) => ({ team, structure: structureLabel(team) }))
    .sort((a, b) => (a.structure || "").localeCompare(b.structure || "") || a.team.name.localeCompare(b.team.name))
    .map(({ team }) => team);
  if (!teams.length) { list.innerHTML = `<li>${escapeHtml(t("teams.none"))}</li>`; return; }
  const active = document.activeElement;
  const focused = active && list.contains(active) && active.classList.contains("team-open") ? active.dataset.teamId : null;
  list.innerHTML = teams.map((team) => {
    const pos = state.positions.get(team.id);
    const presence = presenceOf(pos);
    const age = pos && pos.seen_at != null ? formatAge(serverNow() - pos.seen_at) : "";
    const details = [];
    const structure = structureLabel(team);
    if (pos && pos.speed_mps != null && presence === "live") details.push(t("speed", { n: Math.round(pos.speed_mps * 3.6) }));
    if (pos && pos.battery_pct != null) details.push(t("battery", { n: Math.round(pos.battery_pct) }));
    const current = [...state.visits.values()].find((v) => v.team_id === team.id && (v.status === "in_progress" || v.status === "arrived"));
    if (current) details.push(t("team.current", { status: t(`status.${current.status}`), name: current.pseudonym }));
    return `<li class="${presence}${team.id === asked ? " asked" : ""}" data-team-id="${team.id}"${team.id === asked ? ' aria-current="true"' : ""}><span class="swatch" data-color="${escapeHtml(teamColor(team))}"></span>`
      // A button, so that the keyboard opens the team's day (dispatch-history.js) like a click.
      + `<button type="button" class="team-open name" data-team-id="${team.id}" title="${escapeHtml(structure ? t("teams.structure", { name: team.name, structure }) : team.name)}">${escapeHtml(team.name)}</button>`
      + `<span class="presence"title="${escapeHtml(age)}">${escapeHtml(t(`presence.${presence}`))}${age ? ` · ${escapeHtml(age)}` : ""}</span>`
      + (structure ? `<span class="structure">${escapeHtml(structure)}</span>` : "")
      + `<span class="detail">${escapeHtml(details.join(" · "))}</span></li>`;
  }).join("");
  paintSwatches(list);
  if (focused) {
    // Re-drawn every second: the keyboard stays on the same team.
    const again = list.querySelector(`button.team-open[data-team-id="${focused}"]`);
    if (again) again.focus();
  }
}

function alertText(alert) {
  const vars = {
    team: teamName(alert.team_id),
    visit: visitName(alert.visit_id),
    end: hhmm(alert.end_s),
    eta: hhmm(alert.eta_s),
    age: formatAge(alert.age_s).replace(/^il y a |ago$/g, "").trim(),
  };
  if (alert.kind === "dropped_many") {
    const day = alert.day ? new Date(`${alert.day}T12:00:00`).toLocaleDateString(document.documentElement.lang, { weekday: "long", day: "numeric", month: "long" }) : "";
    return t("alert.dropped_many", { n: alert.count, day, by: alert.by || "?" });
  }
  if (alert.kind === "absence") {
    // « Xavier H. absent du … au … : 16 visites de ses tournées à réaffecter »
    const day = (iso) => new Date(`${iso}T12:00:00`).toLocaleDateString(document.documentElement.lang, { weekday: "long", day: "numeric", month: "long" });
    const when = alert.from_day === alert.to_day ? t("alert.absence.on", { day: day(alert.from_day) }) : t("alert.absence.span", { from: day(alert.from_day), to: day(alert.to_day) });
    return t(alert.count === 1 ? "alert.absence.one" : "alert.absence", { who: alert.staff_name || vars.team, when, n: alert.count });
  }
  return t(`alert.${alert.kind}`, vars);
}

function clock(at) {
  return new Date(at * 1000).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
}

function canAcknowledge() {
  const principal = state.config && state.config.principal;
  return !!principal && MANAGERS.includes(principal.role);
}

/** Visit statuses after which a late or at-risk alert needs nothing more. */
const SETTLED = ["arrived", "in_progress", "done", "cancelled"];

/** An alert no longer needs action once the visit is under way or done, or the lost team
 * reports again; it then folds away with the acknowledged ones. */
function resolved(alert) {
  if (alert.kind === "late" || alert.kind === "at_risk") {
    const visit = state.visits.get(alert.visit_id);
    return !!visit && SETTLED.includes(visit.status);
  }
  if (alert.kind === "unknown") return presenceOf(state.positions.get(alert.team_id)) === "live";
  return false;
}

/** Replace a list's content only when it changed (a click between redraws is not lost). */
function setHtml(el, html) {
  if (el._html !== html) { el.innerHTML = html; el._html = html; }
}

function renderAlerts() {
  const open = state.alerts.filter((a) => !a.acknowledged_at_s && !resolved(a));
  const acked = state.alerts.filter((a) => a.acknowledged_at_s || resolved(a));
  const list = document.getElementById("alert-list");
  const focusedKey = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  document.getElementById("alert-count").textContent = open.length ? ` (${open.length})` : "";
  if (!open.length) setHtml(list, `<li class="none">${escapeHtml(t("alerts.none"))}</li>`);
  else {
    const ack = canAcknowledge();
    setHtml(list, open.slice(0, 60).map((a) => {
      const text = alertText(a);
      return `<li class="${escapeHtml(a.kind)}" data-kind="${escapeHtml(a.kind)}" data-key="${escapeHtml(a.key)}"><span class="alert-text"><time>${clock(a.at)}</time>${escapeHtml(text)}</span>`
        + (ack ? `<button type="button" class="ack" data-key="${escapeHtml(a.key)}" aria-label="${escapeHtml(t("alerts.ack.label", { text }))}">${escapeHtml(t("alerts.ack"))}</button>` : "")
        + "</li>";
    }).join(""));
  }
  if (focusedKey && !list.contains(document.activeElement)) {
    // The acknowledged alert leaves the list: the keyboard goes on to the next one.
    const next = list.querySelector(`button.ack[data-key="${CSS.escape(focusedKey)}"]`) || list.querySelector("button.ack")
      || document.querySelector("#alerts-acked:not([hidden]) summary");
    if (next) next.focus();
  }
  const folded = document.getElementById("alerts-acked");
  folded.hidden = !acked.length;
  document.getElementById("acked-count").textContent = String(acked.length);
  setHtml(document.getElementById("acked-list"), acked.slice(0, 60).map((a) => (
    `<li class="${escapeHtml(a.kind)}" data-kind="${escapeHtml(a.kind)}" data-key="${escapeHtml(a.key)}"><time>${clock(a.at)}</time>${escapeHtml(alertText(a))}`
    + `<span class="acked-by">${escapeHtml(a.acknowledged_at_s ? t("alerts.acked.by", { by: a.acknowledged_by || "?", time: clock(a.acknowledged_at_s) }) : t("alerts.resolved"))}</span></li>`
  )).join(""));
  document.getElementById("journal-count").textContent = String(state.journal.length);
  setHtml(document.getElementById("journal-list"), state.journal.length
    ? state.journal.slice(0, 100).map((a) => `<li class="${escapeHtml(a.kind)}" data-kind="${escapeHtml(a.kind)}"><time>${clock(a.at)}</time>${escapeHtml(alertText(a))}</li>`).join("")
    : `<li class="none">${escapeHtml(t("journal.none"))}</li>`);
}

const acknowledging = new Set();
async function acknowledgeAlert(button) {
  const key = button.dataset.key;
  // The button keeps the focus while the request runs (a disabled one would drop it).
  if (acknowledging.has(key)) return;
  acknowledging.add(key);
  button.setAttribute("aria-disabled", "true");
  try {
    const reply = await api("/api/alerts/acknowledge", { method: "POST", body: { key }, token: null });
    pushAlert(reply.alert);
    flushRender();
  } catch (err) {
    button.removeAttribute("aria-disabled");
    pushNotice(t("alerts.ack.failed", { error: err.message }));
  } finally {
    acknowledging.delete(key);
  }
}

function isUnassigned(v) {
  return !v.team_id && !state.stops.has(v.id) && v.status !== "cancelled" && v.status !== "done";
}

function renderVisits() {
  const list = document.getElementById("visit-list");
  const key = (v) => { const a = arrivalOf(v.id); return a ? a.arrival_s : 1e6 + (v.windows?.[0]?.[0] ?? 0); };
  const visits = shownVisits().sort((a, b) => key(a) - key(b));
  if (isAdmin()) { list.innerHTML = `<li>${escapeHtml(t("visits.adminOnly"))}</li>`; return; }
  if (!visits.length) { list.innerHTML = `<li>${escapeHtml(t("visits.none"))}</li>`; return; }
  const active = document.activeElement;
  const focused = active && list.contains(active) && active.dataset.visitId ? { id: active.dataset.visitId, cls: active.classList.contains("vins") ? "vins" : "vsel" } : null;
  list.innerHTML = visits.slice(0, 300).map((v) => {
    const eta = arrivalOf(v.id);
    const team = v.team_id || (state.stops.get(v.id) || {}).team_id;
    const selected = state.selectedVisit === v.id;
    return `<li data-visit-id="${v.id}" class="${selected ? "selected" : ""}">`
      + `<button type="button" class="vsel" data-visit-id="${v.id}" aria-pressed="${selected}">`
      + `<span class="who">${escapeHtml(v.pseudonym)}</span>`
      + `<span class="arrival"${eta ? ` title="${escapeHtml(t(eta.source === "eta" ? "visits.eta.title" : "visits.plan.title"))}"` : ""}>${escapeHtml(arrivalText(v.id))}</span>`
      + `<span class="secondary">${escapeHtml(team ? teamName(team) : t("visits.unassigned"))}${windowText(v) ? ` · ${escapeHtml(windowText(v))}` : ""}</span>`
      + `</button><span class="st ${escapeHtml(v.status)}">${escapeHtml(t(`status.${v.status}`))}</span>`
      + (!state.otherDay && isUnassigned(v) ? `<button type="button" class="vins" data-visit-id="${v.id}" aria-label="${escapeHtml(t("visits.insert.label", { name: v.pseudonym }))}">${escapeHtml(t("visits.insert"))}</button>` : "")
      + "</li>";
  }).join("");
  if (focused) {
    // A re-render must not throw the keyboard user's focus back to the top of the page.
    const again = list.querySelector(`button.${focused.cls}[data-visit-id="${focused.id}"]`) || list.querySelector(`button.vsel[data-visit-id="${focused.id}"]`);
    if (again) again.focus();
  }
}

function selectVisit(id, { source = "panel" } = {}) {
  const visitId = id == null ? null : Number(id);
  state.selectedVisit = visitId;
  if (map && map.getLayer("visits-selected")) map.setFilter("visits-selected", ["==", ["get", "id"], visitId ?? -1]);
  for (const button of document.querySelectorAll("#visit-list button.vsel")) {
    const on = Number(button.dataset.visitId) === visitId;
    button.setAttribute("aria-pressed", String(on));
    button.parentElement.classList.toggle("selected", on);
  }
  // Another day's visit is only shown: the rounds tools work on the live day's.
  if (!state.otherDay) emitLocal("select-visit", { visit_id: visitId, source });
}

function pushNotice(text) {
  const box = document.getElementById("notices");
  if (!box) return;
  const item = document.createElement("div");
  item.className = "notice";
  const span = document.createElement("span");
  span.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "notice-close";
  close.setAttribute("aria-label", t("notice.close"));
  close.textContent = "×";
  close.addEventListener("click", () => item.remove());
  item.append(span, close);
  box.prepend(item);
  while (box.children.length > NOTICE_MAX) box.lastElementChild.remove();
}

function changeText(change) {
  const teams = (change.teams || (change.team_id != null ? [change.team_id] : [])).map((id) => teamName(Number(id)));
  const kind = t(`change.${change.change}`);
  let text = t("change.notice", { change: kind === `change.${change.change}` ? change.change : kind, by: change.by || "?", teams: teams.join(", ") || "–" });
  if (change.dropped && change.dropped.length) {
    const n = change.dropped.length;
    text += ` · ${t(`change.dropped.${new Intl.PluralRules(document.documentElement.lang).select(n) === "one" ? "one" : "other"}`, { n })}`;
  }
  return text;
}

// ---------------------------------------------------------------- data
function setTrails() {
  const features = [];
  for (const [teamId, points] of state.trails) {
    if (points.length < 2 || state.otherDay || !teamShown(teamId)) continue;
    features.push({ type: "Feature", properties: { team_id: teamId, color: teamColor(state.teams.get(teamId) || { id: teamId }) }, geometry: { type: "LineString", coordinates: points.map((p) => [p[0], p[1]]) } });
  }
  map.getSource("trails").setData({ type: "FeatureCollection", features });
}

function setVisits() {
  const features = shownVisits().filter((v) => v.lon != null).map((v) => ({
    type: "Feature",
    properties: {
      id: v.id, status: v.status, color: v.team_id ? teamColor(state.teams.get(v.team_id) || { id: v.team_id }) : "#555",
      ...(v.partner_team_id ? { partner_color: teamColor(state.teams.get(v.partner_team_id) || { id: v.partner_team_id }) } : {}),
    },
    geometry: { type: "Point", coordinates: [v.lon, v.lat] },
  }));
  map.getSource("visits").setData({ type: "FeatureCollection", features });
}

function setPlans() {
  const features = [];
  for (const plan of state.plans.values()) {
    // Another day's round is drawn by the rounds panel, not the live day's lines.
    if (!plan.geometry || state.otherDay || !teamShown(plan.team_id)) continue;
    features.push({ type: "Feature", properties: { team_id: plan.team_id, color: teamColor(state.teams.get(plan.team_id) || { id: plan.team_id }) }, geometry: plan.geometry });
  }
  map.getSource("routes").setData({ type: "FeatureCollection", features });
}

function addTrailPoint(pos) {
  let trail = state.trails.get(pos.team_id);
  if (!trail) { trail = []; state.trails.set(pos.team_id, trail); }
  const point = [pos.lon, pos.lat, pos.fix_at];
  // Late points (an old buffer replayed) go in time order, so the trail never zigzags.
  let i = trail.length;
  while (i > 0 && trail[i - 1][2] > point[2]) i -= 1;
  if (i > 0 && trail[i - 1][2] === point[2]) return;
  trail.splice(i, 0, point);
  if (trail.length > TRAIL_MAX_POINTS) trail.splice(0, trail.length - TRAIL_MAX_POINTS);
  dirty.trails = true;
}

function applyPosition(pos, { trail = true } = {}) {
  const current = state.positions.get(pos.team_id);
  if (pos.moves_marker !== false && (!current || current.fix_at == null || pos.fix_at >= current.fix_at)) {
    // A drawn fix replaces the team's position (absent keys mean unknown, e.g. no heading).
    state.positions.set(pos.team_id, pos.presence ? { ...pos } : { seen_at: pos.fix_at, ...pos });
    renderMarker(pos.team_id);
  } else if (current && pos.seen_at != null && pos.seen_at > (current.seen_at || 0)) {
    current.seen_at = pos.seen_at;
    refreshMarkerAge(pos.team_id);
  }
  if (trail && pos.display !== false && pos.lon != null) addTrailPoint(pos);
  dirty.teams = true;
}

/** An alert (or journal line) from the snapshot or a live batch. The same key again is the
 * same alert with news (its acknowledgement): it is merged, never listed twice. */
function pushAlert(alert) {
  const list = alert.journal ? state.journal : state.alerts;
  const known = alert.key ? list.find((a) => a.key === alert.key) : null;
  dirty.alerts = true;
  if (known) { Object.assign(known, alert); return; }
  list.unshift(alert);
  list.sort((a, b) => b.at - a.at);
  const max = alert.journal ? JOURNAL_MAX : ALERT_MAX;
  if (list.length > max) list.length = max;
}

function applySnapshot(snap) {
  syncClock(snap.server_time);
  state.teams = new Map(snap.teams.filter((team) => team.active !== false).map((team) => [team.id, team]));
  state.visits = new Map((snap.visits || []).map((v) => [v.id, v]));
  state.plans = new Map((snap.plans || []).filter((p) => p.stops && p.stops.length).map((p) => [p.team_id, p]));
  state.planId = snap.plan_id ?? (snap.plans && snap.plans[0] ? snap.plans[0].plan_id : null) ?? null;
  state.etas = new Map((snap.etas || []).map((e) => [e.team_id, e]));
  // The rounds' clock may differ from the device's (time zone, a replayed day): keep its time.
  state.dayClock = typeof snap.time_s === "number" ? { time_s: snap.time_s, at: serverNow() } : null;
  indexStops();
  state.trails = new Map(Object.entries(snap.trails || {}).map(([id, pts]) => [Number(id), pts]));
  state.positions = new Map();
  for (const [id, marker] of markers) {
    if (!state.teams.has(id)) { marker.remove(); markers.delete(id); }
  }
  for (const pos of snap.positions || []) applyPosition(pos, { trail: false });
  state.alerts = [];
  state.journal = [];
  for (const alert of snap.alerts || []) pushAlert(alert);
  for (const line of snap.journal || []) pushAlert({ ...line, journal: true });
  dirty = { trails: true, visits: true, plans: true, teams: true, alerts: true };
  setDay(snap.day);
  emitLocal("snapshot", snap);
}

/** A new or changed team (name, colour, active): the list, its marker and its lines follow. */
function applyTeam(team) {
  if (team.active === false || team.active === 0) {
    state.teams.delete(team.id);
    const marker = markers.get(team.id);
    if (marker) { marker.remove(); markers.delete(team.id); }
  } else {
    state.teams.set(team.id, team);
    if (state.positions.has(team.id)) renderMarker(team.id);
  }
  dirty = { ...dirty, teams: true, trails: true, plans: true, visits: true };
}

function applyBatch(batch) {
  syncClock(batch.server_time);
  for (const pos of batch.positions || []) applyPosition(pos);
  for (const status of batch.statuses || []) {
    if (status.team) { applyTeam(status.team); continue; } // a team created or changed
    applyPosition({ ...status, moves_marker: false }, { trail: false });
  }
  for (const team of batch.teams || []) applyTeam(team);
  for (const visit of batch.visits || []) {
    if (visit.deleted) state.visits.delete(visit.id); else state.visits.set(visit.id, { ...state.visits.get(visit.id), ...visit });
    dirty.visits = true;
  }
  for (const plan of batch.plans || []) {
    // An emptied round comes as stops: [] (geometry null): its line leaves the map.
    if (!plan.stops || !plan.stops.length) state.plans.delete(plan.team_id); else state.plans.set(plan.team_id, plan);
    // The new round's own arrival times are fresher than estimates made on the old one.
    state.etas.delete(plan.team_id);
    if (plan.plan_id != null) state.planId = plan.plan_id;
    dirty.plans = true;
    dirty.visits = true;
  }
  if (batch.plans && batch.plans.length) indexStops();
  for (const eta of batch.etas || []) { state.etas.set(eta.team_id, eta); dirty.visits = true; }
  for (const alert of batch.alerts || []) pushAlert(alert);
  for (const change of batch.changes || []) {
    if (change.plan_id != null) state.planId = change.plan_id;
    pushNotice(changeText(change));
    emitLocal("changes", change);
  }
  for (const event of batch.events || []) emitLocal("event", event);
  emitLocal("live", batch);
}

function flushRender() {
  if (!map || !map.isStyleLoaded() || !map.getSource("trails")) return;
  if (dirty.trails) setTrails();
  if (dirty.visits) { setVisits(); renderVisits(); }
  if (dirty.plans) setPlans();
  if (dirty.teams || dirty.visits) renderTeams();
  if (dirty.alerts || dirty.visits || dirty.teams) renderAlerts();
  dirty = { trails: false, visits: false, plans: false, teams: false, alerts: false };
}

async function loadSnapshot() {
  const snap = await api("/api/live/snapshot");
  applySnapshot(snap);
  flushRender();
}

function setConn(status) {
  const el = document.getElementById("conn");
  el.dataset.state = status;
  el.textContent = t(status === "online" ? "conn.online" : status === "reconnecting" ? "conn.reconnecting" : "conn.lost");
}

// ---------------------------------------------------------------- start
async function login() {
  const dialog = document.getElementById("login");
  const form = document.getElementById("login-form");
  dialog.showModal();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      try {
        const reply = await api("/api/session", { method: "POST", body: data, token: null, csrf: false });
        setCsrf(reply.csrf_token);
        dialog.close();
        resolve();
      } catch (err) {
        document.getElementById("login-error").textContent = t("login.failed", { error: err.message });
      }
    });
  });
}

async function whoAmI() {
  try { return (await api("/api/session", { token: null })).user; } catch { return null; }
}

async function loadConfig() {
  for (;;) {
    try {
      return await api("/api/live/config", { token: null });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { await login(); continue; }
      // A referrer has no map: their requests are on « Espace prescripteur ».
      if (err instanceof ApiError && err.status === 403 && (await whoAmI())?.role === "referrer") {
        location.replace("/referrer/");
        await new Promise(() => {});
      }
      throw err;
    }
  }
}

/** Admins manage accounts and phones: their map shows teams and alerts, no visit or round. */
function isAdmin() {
  const principal = state.config && state.config.principal;
  return !!principal && principal.role === "admin";
}

/** The names of the structures the caller sees, for the team list's labels. */
async function loadStructures() {
  try {
    const reply = await api("/api/structures");
    state.structures = new Map((reply.items || reply.structures || []).map((s) => [s.id, s.name]));
    dirty.teams = true;
    renderStructureFilter();
  } catch (err) {
    console.warn("structures not loaded", err);
  }
}

/** The structure choice at the top of the panel (a caller of several structures): « Toutes
 * mes structures » or one, whose teams, markers, visits and rounds alone stay shown. */
function renderStructureFilter() {
  const side = document.getElementById("side");
  let box = document.getElementById("structure-filter-box");
  if (state.structures.size < 2) { if (box) box.remove(); return; }
  if (!box) {
    box = document.createElement("div");
    box.id = "structure-filter-box";
    box.className = "structure-filter";
    side.prepend(box);
    box.addEventListener("change", (e) => setStructureFilter(e.target.value === "" ? null : Number(e.target.value)));
  }
  const names = [...state.structures.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  box.innerHTML = `<label for="structure-filter">${escapeHtml(t("structure.filter"))}</label>`
    + `<select id="structure-filter"><option value="">${escapeHtml(t("structure.all"))}</option>`
    + names.map(([id, name]) => `<option value="${id}"${id === state.structureFilter ? " selected" : ""}>${escapeHtml(name)}</option>`).join("")
    + "</select>";
}

/** Shows only ``structureId``'s teams, visits and rounds (null: all); the rounds panel plans
 * the structure chosen. */
function setStructureFilter(structureId) {
  const id = structureId == null || !state.structures.has(Number(structureId)) ? null : Number(structureId);
  if (id === state.structureFilter) return;
  state.structureFilter = id;
  const select = document.getElementById("structure-filter");
  if (select) select.value = id == null ? "" : String(id);
  for (const teamId of markers.keys()) markers.get(teamId).getElement().classList.toggle("filtered-out", !teamShown(teamId));
  scheduleDeclutter();
  dirty = { trails: true, visits: true, plans: true, teams: true, alerts: true };
  emitLocal("structure-filter", { structure_id: id });
}

/** The live day is ``liveDay``: an address asking for another day shows that day (its visits,
 * a banner to come back to today) in place of today's rounds, trails and visits. */
function setDay(liveDay) {
  const asked = askedDay();
  const other = asked && liveDay && asked !== liveDay && !isAdmin() ? asked : null;
  if (other === state.otherDay) { renderDayBanner(); return; }
  state.otherDay = other;
  state.dayVisits = new Map();
  state.dayStops = new Map();
  renderDayBanner();
  if (other) {
    api(`/api/visits?${new URLSearchParams({ day: other, limit: "1000" })}`).then((reply) => {
      if (state.otherDay !== other) return;
      state.dayVisits = new Map((reply.items || []).map((v) => [v.id, v]));
      dirty = { ...dirty, visits: true, teams: true };
    }).catch((err) => console.warn("visits of the day not loaded", err));
    loadDayStops(other).catch((err) => console.warn("rounds of the day not loaded", err));
  }
}

/** The planned arrivals of ``day``'s published rounds (each structure's), for its visit list. */
async function loadDayStops(day) {
  const listed = await api(`/api/plans?${new URLSearchParams({ day, status: "published", limit: "50" })}`);
  const stops = new Map();
  for (const item of listed.items || []) {
    const { plan } = await api(`/api/plans/${item.id}`);
    for (const route of plan.routes || []) {
      for (const stop of route.stops || []) {
        if (stop.visit_id != null && !stops.has(Number(stop.visit_id))) stops.set(Number(stop.visit_id), { team_id: route.team_id, arrival_s: stop.arrival_s });
      }
    }
  }
  if (state.otherDay !== day) return;
  state.dayStops = stops;
  dirty = { ...dirty, visits: true };
}

function renderDayBanner() {
  const wrap = document.querySelector(".map-wrap");
  let banner = document.getElementById("day-banner");
  const title = document.getElementById("visit-list").previousElementSibling;
  if (!state.otherDay) {
    if (banner) banner.remove();
    if (title && title.dataset.i18nWas) { title.dataset.i18n = title.dataset.i18nWas; title.textContent = t(title.dataset.i18n); }
    return;
  }
  if (!banner) {
    banner = document.createElement("div");
    banner.id = "day-banner";
    banner.className = "day-banner";
    wrap.prepend(banner);
  }
  banner.innerHTML = `<span>${escapeHtml(t("day.viewing", { day: dayName(state.otherDay) }))}</span> — <a id="day-back" href="/map/">${escapeHtml(t("day.back"))}</a>`;
  if (title) {
    // The list's title names the day shown (i18n.js would put back « Visites du jour »).
    if (title.dataset.i18n) { title.dataset.i18nWas = title.dataset.i18n; delete title.dataset.i18n; }
    title.textContent = t("visits.ofDay", { day: dayName(state.otherDay) });
  }
}

async function loadExtensions() {
  const container = document.getElementById("extensions");
  // The extensions are the coordinators' visit tools (moves, intake, details, history).
  if (isAdmin()) return;
  for (const url of state.config.extensions || []) {
    try {
      const mod = await import(url);
      if (typeof mod.init === "function") {
        await mod.init({
          map, state, api, t, container,
          on: (event, fn) => { if (!listeners.has(event)) listeners.set(event, []); listeners.get(event).push(fn); },
          refresh: loadSnapshot,
          arrivalOf,
          nowS,
          selectVisit,
          teamName,
          visitName,
          setStructureFilter,
          pickPlace: (fn) => {
            pickHandler = fn || null;
            map.getCanvas().style.cursor = pickHandler ? "crosshair" : "";
            // While a place is picked, a click on a team's marker is a click on the map.
            map.getContainer().classList.toggle("picking", !!pickHandler);
          },
        });
      }
    } catch (err) {
      console.error(`extension ${url} failed`, err);
    }
  }
}

async function main() {
  apply();
  document.getElementById("lang").addEventListener("click", toggle);
  onChange(() => { dirty = { trails: false, visits: true, plans: false, teams: true, alerts: true }; for (const id of markers.keys()) refreshMarkerAge(id); flushRender(); localiseControls(); setConn(document.getElementById("conn").dataset.state); renderStructureFilter(); renderDayBanner(); });
  const side = document.getElementById("side");
  document.getElementById("panel-toggle").addEventListener("click", (e) => {
    side.classList.toggle("open");
    e.currentTarget.setAttribute("aria-expanded", String(side.classList.contains("open")));
  });
  document.getElementById("visit-list").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-visit-id]");
    if (!button) return;
    const id = Number(button.dataset.visitId);
    if (button.classList.contains("vins")) { selectVisit(id, { source: "insert" }); emitLocal("insert-visit", { visit_id: id }); } else selectVisit(id, { source: "list" });
  });
  document.getElementById("alert-list").addEventListener("click", (e) => {
    const button = e.target.closest("button.ack");
    if (button) acknowledgeAlert(button);
  });
  state.config = await loadConfig();
  syncClock(state.config.server_time);
  document.getElementById("territory-name").textContent = state.config.territory.name;
  const logout = document.getElementById("logout");
  if (state.config.principal && MANAGERS.includes(state.config.principal.role)) document.getElementById("admin-link").hidden = false;
  for (const [id, roles] of Object.entries(SCREEN_LINKS)) {
    document.getElementById(id).hidden = !(state.config.principal && roles.includes(state.config.principal.role));
  }
  if (state.config.principal && state.config.principal.kind === "user") {
    logout.hidden = false;
    logout.addEventListener("click", async () => { try { await api("/api/session", { method: "DELETE", token: null }); } finally { setCsrf(null); location.reload(); } });
  }
  const protocol = new pmtiles.Protocol();
  maplibregl.addProtocol("pmtiles", protocol.tile);
  const [w, s, e, n] = state.config.territory.bbox;
  map = new maplibregl.Map({
    container: "map",
    style: baseStyle(state.config),
    bounds: [[w, s], [e, n]],
    fitBoundsOptions: { padding: 20 },
    attributionControl: { compact: false, customAttribution: t("map.attribution") },
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: true }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  map.on("moveend", scheduleDeclutter);
  localiseControls();
  window.dispatchMap = { map, state, markers, arrivalOf };
  await new Promise((resolve) => map.on("load", resolve));
  addOverlayLayers();
  for (const [box, layers] of [["layer-trails", ["trails"]], ["layer-routes", ["routes"]], ["layer-visits", ["visits"]]]) {
    document.getElementById(box).addEventListener("change", (e) => {
      for (const id of layers) if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", e.target.checked ? "visible" : "none");
    });
  }
  if (state.config.online_tiles && map.getLayer("osm")) {
    document.getElementById("osm-toggle").hidden = false;
    document.getElementById("layer-osm").addEventListener("change", (e) => setOnlineBackground(e.target.checked));
  }
  await loadStructures();
  socket = connectSocket({ token: null, onStatus: setConn });
  socket.on("connect", () => { state.connected = true; loadSnapshot().catch((err) => console.error(err)); });
  socket.on("disconnect", () => { state.connected = false; });
  socket.on("live", (batch) => { applyBatch(batch); });
  // The server's bus between processes came back from an outage: pushes may have been lost.
  socket.on("resync", () => { loadSnapshot().catch((err) => console.error(err)); });
  socket.on("error", (err) => console.warn("server error", err));
  setInterval(() => {
    for (const id of markers.keys()) refreshMarkerAge(id);
    dirty.teams = true;
  }, 1000);
  const loop = () => { flushRender(); requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  await loadExtensions();
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  document.getElementById("conn").textContent = err.message;
});
