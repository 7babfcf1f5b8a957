// Planner page: isochrones and coverage, E2SFCA choropleth, scenario comparison, siting, simulation.
import { api, ApiError, setCsrf, escapeHtml } from "/static/map/common.js";
import { GLYPHS_URL, labelLayers } from "/static/map/basemap-style.js";

const DICT = {
  fr: {
    title: "Dispatch — planification",
    brand: "Planification",
    scenario: "Scénario",
    bands: "Tranches (min)",
    "lang.toggle": "English",
    "layer.title": "Carte",
    "layer.coverage": "Part de la population couverte",
    "layer.apl": "Accessibilité (E2SFCA, type APL)",
    "layer.iso": "Isochrones",
    "legend.coverage": "couverte ≤ {m} min",
    "legend.apl": "visites/jour pour 1 000 hab.",
    "coverage.title": "Couverture de la population",
    "coverage.summary": "{covered} habitants sur {total} ({share}) à moins de {m} min d'une base ; {uncovered} au-delà.",
    "coverage.least": "Communes les moins couvertes",
    "compare.title": "Comparaison des scénarios",
    "siting.title": "Implanter de nouvelles bases",
    "siting.k": "Nombre",
    "siting.method": "Méthode",
    "siting.mclp": "couverture maximale",
    "siting.pmedian": "p-médiane",
    "siting.run": "Proposer",
    "siting.result": "Avec ces sites : {covered} habitants à moins de {m} min ({share}).",
    "sim.title": "Simuler la demande",
    "sim.days": "Jours",
    "sim.budget": "Solveur (s)",
    "sim.run": "Simuler",
    "sim.running": "Simulation : {done}/{total} jour(s)…",
    "sim.failed": "Simulation impossible : {error}",
    "col.commune": "Commune",
    "col.population": "Population",
    "col.uncovered": "Non couverte",
    "col.scenario": "Scénario",
    "col.teams": "Équipes",
    "col.covered": "≤ {m} min",
    "col.apl": "APL moy.",
    "kpi.requested": "Demandes",
    "kpi.served": "Servies",
    "kpi.refused": "Refusées",
    "kpi.service_level": "Taux de service",
    "kpi.on_time_share": "Part à l'heure",
    "kpi.travel_share": "Part de trajet",
    "kpi.distance_km": "Kilomètres",
    "kpi.visits_per_team_day": "Visites par équipe et par jour",
    "chart.served": "servies",
    "chart.refused": "refusées",
    "chart.day": "J{n}",
    "band.within": "≤ {m} min",
    "band.beyond": "> {m} min",
    "loading": "Chargement…",
    "ready": "Prêt.",
    "error": "Erreur : {error}",
    "login.title": "Connexion planificateur",
    "login.username": "Identifiant",
    "login.password": "Mot de passe",
    "login.submit": "Se connecter",
    "login.failed": "Connexion refusée : {error}",
    attribution: "Réseau routier © contributeurs OpenStreetMap (ODbL) · communes INSEE",
    logout: "Se déconnecter",
    "map.label": "Carte de couverture",
    "chart.bands": "Population par tranche de temps de trajet",
    "chart.days": "Visites servies et refusées par jour",
    "scenario.default": "Bases du territoire",
    "bases.title": "Bases du scénario",
    "bases.hint": "Appuyez sur « Placer une base », puis cliquez sur la carte. Une base placée se déplace en la faisant glisser.",
    "bases.place": "Placer une base",
    "bases.placing": "Cliquez sur la carte pour placer la base (Échap pour annuler).",
    "bases.reset": "Annuler les changements",
    "bases.remove": "Retirer",
    "bases.remove_label": "Retirer la base {name}",
    "bases.new_name": "Nouvelle base ({commune})",
    "bases.new_name_plain": "Nouvelle base {n}",
    "bases.teams": "{n} équipe(s)",
    "bases.new": "hypothétique",
    "bases.marker": "Base hypothétique {name} : faites-la glisser pour la déplacer",
    "bases.changed": "Bases modifiées, non enregistrées : la couverture ci-dessous les inclut.",
    "bases.computing": "Calcul de la couverture…",
    "bases.computed": "Couverture recalculée avec vos bases en {s} s.",
    "bases.last": "Un scénario garde au moins une base.",
    "bases.outside": "Ce point est hors du territoire : placez la base à l'intérieur.",
    "bases.added": "Base « {name} » placée.",
    "bases.removed": "Base « {name} » retirée.",
    "bases.moved": "Base « {name} » déplacée.",
    "fig.band": "Population à ≤ {m} min",
    "fig.apl": "Accessibilité moyenne (APL)",
    "fig.before": "Scénario",
    "fig.after": "Avec vos bases",
    "fig.delta": "Écart",
    "fig.now": "Valeur",
    "save.name": "Nom du scénario",
    "save.submit": "Enregistrer le scénario",
    "save.done": "Scénario « {name} » enregistré.",
    "save.exists": "Un scénario « {name} » existe déjà. Le remplacer ?",
    "save.kept": "Enregistrement annulé : choisissez un autre nom.",
    "save.needs_name": "Donnez un nom au scénario.",
    "saved.title": "Scénarios enregistrés",
    "saved.empty": "Aucun scénario enregistré pour l'instant.",
    "saved.meta": "{n} bases · enregistré le {date}",
    "saved.open": "Afficher",
    "saved.open_label": "Afficher le scénario {name}",
    "saved.report": "Rapport",
    "saved.report_label": "Ouvrir le rapport du scénario {name} (nouvel onglet)",
    "saved.delete": "Supprimer",
    "saved.delete_label": "Supprimer le scénario {name}",
    "saved.delete_confirm": "Supprimer le scénario « {name} » ?",
    "saved.deleted": "Scénario « {name} » supprimé.",
    "report.current": "Rapport du scénario affiché",
    "compare.hint": "Le scénario choisi, ses variantes et les scénarios enregistrés.",
    "siting.add": "Ajouter ces sites aux bases",
    "siting.site": "Site proposé ({commune})",
    "popup.apl": "APL",
    "bases.discard": "Vos bases modifiées ne sont pas enregistrées. Les abandonner ?",
    "bases.in_commune": "Ou placer une base dans la commune",
    "bases.place_here": "Placer",
    "bases.unknown_commune": "Aucune commune « {name} » dans le territoire : choisissez-la dans la liste.",
    forbidden: "Ce compte n'a pas accès à la planification : connectez-vous avec un compte de planificateur ou de coordinateur.",
    "ctrl.zoom_in": "Zoom avant",
    "ctrl.zoom_out": "Zoom arrière",
  },
  en: {
    title: "Dispatch — planning",
    brand: "Planning",
    scenario: "Scenario",
    bands: "Bands (min)",
    "lang.toggle": "Français",
    "layer.title": "Map",
    "layer.coverage": "Share of population covered",
    "layer.apl": "Accessibility (E2SFCA, APL-like)",
    "layer.iso": "Isochrones",
    "legend.coverage": "covered ≤ {m} min",
    "legend.apl": "visits/day per 1,000 inhabitants",
    "coverage.title": "Population coverage",
    "coverage.summary": "{covered} of {total} inhabitants ({share}) within {m} min of a base; {uncovered} beyond.",
    "coverage.least": "Least covered communes",
    "compare.title": "Scenario comparison",
    "siting.title": "Site new bases",
    "siting.k": "How many",
    "siting.method": "Method",
    "siting.mclp": "maximal coverage",
    "siting.pmedian": "p-median",
    "siting.run": "Propose",
    "siting.result": "With these sites: {covered} inhabitants within {m} min ({share}).",
    "sim.title": "Simulate demand",
    "sim.days": "Days",
    "sim.budget": "Solver (s)",
    "sim.run": "Simulate",
    "sim.running": "Simulating: {done}/{total} day(s)…",
    "sim.failed": "Simulation failed: {error}",
    "col.commune": "Commune",
    "col.population": "Population",
    "col.uncovered": "Uncovered",
    "col.scenario": "Scenario",
    "col.teams": "Teams",
    "col.covered": "≤ {m} min",
    "col.apl": "Mean APL",
    "kpi.requested": "Requests",
    "kpi.served": "Served",
    "kpi.refused": "Refused",
    "kpi.service_level": "Service level",
    "kpi.on_time_share": "On-time share",
    "kpi.travel_share": "Travel share",
    "kpi.distance_km": "Kilometres",
    "kpi.visits_per_team_day": "Visits per team per day",
    "chart.served": "served",
    "chart.refused": "refused",
    "chart.day": "D{n}",
    "band.within": "≤ {m} min",
    "band.beyond": "> {m} min",
    "loading": "Loading…",
    "ready": "Ready.",
    "error": "Error: {error}",
    "login.title": "Planner login",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "Login refused: {error}",
    attribution: "Road network © OpenStreetMap contributors (ODbL) · INSEE communes",
    logout: "Log out",
    "map.label": "Coverage map",
    "chart.bands": "Population by travel-time band",
    "chart.days": "Visits served and refused per day",
    "scenario.default": "Territory bases",
    "bases.title": "Scenario bases",
    "bases.hint": "Press “Place a base”, then click the map. Drag a placed base to move it.",
    "bases.place": "Place a base",
    "bases.placing": "Click the map to place the base (Esc to cancel).",
    "bases.reset": "Undo changes",
    "bases.remove": "Remove",
    "bases.remove_label": "Remove base {name}",
    "bases.new_name": "New base ({commune})",
    "bases.new_name_plain": "New base {n}",
    "bases.teams": "{n} team(s)",
    "bases.new": "hypothetical",
    "bases.marker": "Hypothetical base {name}: drag it to move it",
    "bases.changed": "Bases changed, not saved: the coverage below includes them.",
    "bases.computing": "Computing coverage…",
    "bases.computed": "Coverage recomputed with your bases in {s} s.",
    "bases.last": "A scenario keeps at least one base.",
    "bases.outside": "This point is outside the territory: place the base inside it.",
    "bases.added": "Base “{name}” placed.",
    "bases.removed": "Base “{name}” removed.",
    "bases.moved": "Base “{name}” moved.",
    "fig.band": "Population within {m} min",
    "fig.apl": "Mean accessibility (APL)",
    "fig.before": "Scenario",
    "fig.after": "With your bases",
    "fig.delta": "Difference",
    "fig.now": "Value",
    "save.name": "Scenario name",
    "save.submit": "Save scenario",
    "save.done": "Scenario “{name}” saved.",
    "save.exists": "A scenario “{name}” already exists. Replace it?",
    "save.kept": "Not saved: choose another name.",
    "save.needs_name": "Give the scenario a name.",
    "saved.title": "Saved scenarios",
    "saved.empty": "No saved scenario yet.",
    "saved.meta": "{n} bases · saved on {date}",
    "saved.open": "Show",
    "saved.open_label": "Show scenario {name}",
    "saved.report": "Report",
    "saved.report_label": "Open the report of scenario {name} (new tab)",
    "saved.delete": "Delete",
    "saved.delete_label": "Delete scenario {name}",
    "saved.delete_confirm": "Delete scenario “{name}”?",
    "saved.deleted": "Scenario “{name}” deleted.",
    "report.current": "Report of the scenario shown",
    "compare.hint": "The chosen scenario, its variants and the saved scenarios.",
    "siting.add": "Add these sites to the bases",
    "siting.site": "Proposed site ({commune})",
    "popup.apl": "APL",
    "bases.discard": "Your changed bases are not saved. Drop them?",
    "bases.in_commune": "Or place a base in the commune",
    "bases.place_here": "Place",
    "bases.unknown_commune": "No commune “{name}” in the territory: pick it from the list.",
    forbidden: "This account has no access to planning: log in with a planner or coordinator account.",
    "ctrl.zoom_in": "Zoom in",
    "ctrl.zoom_out": "Zoom out",
  },
};

const LOCALE_KEY = "dispatch.locale";
let locale = localStorage.getItem(LOCALE_KEY) || document.documentElement.dataset.locale || "fr";
if (!DICT[locale]) locale = "fr";

function t(key, vars = {}) {
  const text = (DICT[locale] && DICT[locale][key]) || DICT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : `{${k}}`));
}
function applyTexts() {
  document.documentElement.lang = locale;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
const nf = () => new Intl.NumberFormat(locale === "fr" ? "fr-FR" : "en-GB", { maximumFractionDigits: 0 });
const pct = (x) => new Intl.NumberFormat(locale === "fr" ? "fr-FR" : "en-GB", { style: "percent", maximumFractionDigits: 1 }).format(x);
const num = (x, d = 2) => new Intl.NumberFormat(locale === "fr" ? "fr-FR" : "en-GB", { maximumFractionDigits: d }).format(x);

const state = {
  territory: null,
  communes: null,
  user: null,
  baseline: null, // analysis of the chosen scenario as it stands (saved or from a file)
  analysis: null, // analysis shown: the baseline, or with the bases changed on this page
  working: [], // the bases on the page: {id, name, lon, lat, teams, movable}
  changed: false,
  placing: false,
  computeSeq: 0,
  scenarios: [],
  simulation: null,
  runs: new Map(),
  sites: [],
  mapReady: false,
  chartsDrawn: { bands: false, days: false },
};
let map;
const markers = new Map(); // base id -> draggable maplibregl.Marker of a base placed on the page

// ------------------------------------------------------------------ API with login
async function login() {
  const dialog = document.getElementById("login");
  const form = document.getElementById("login-form");
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => {
    const submit = async (e) => {
      e.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      try {
        const reply = await api("/api/session", { method: "POST", body: data, token: null, csrf: false });
        setCsrf(reply.csrf_token);
        showUser(reply.user);
        form.removeEventListener("submit", submit);
        form.reset();
        document.getElementById("login-error").textContent = "";
        dialog.close();
        resolve();
      } catch (err) {
        document.getElementById("login-error").textContent = t("login.failed", { error: err.message });
      }
    };
    form.addEventListener("submit", submit);
  });
}

async function call(path, options = {}) {
  for (;;) {
    try {
      return await api(path, { token: null, timeoutMs: 120000, ...options });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { await login(); continue; }
      throw err;
    }
  }
}

function showUser(user) {
  state.user = user || null;
  document.getElementById("who").textContent = user ? user.name : "";
  document.getElementById("logout").hidden = !user;
}

async function logout() {
  try { await api("/api/session", { method: "DELETE", token: null }); } catch (err) { console.warn(err); }
  setCsrf(null);
  location.reload();
}

function setStatus(text, isError = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// The server's scenario names are data, except the territory's own bases (named by the page).
function scenarioName(item) {
  return item.id === "default" || item.scenario_id === "default" ? t("scenario.default") : (item.name || item.scenario);
}

// ------------------------------------------------------------------ map
const COVERAGE_RAMP = ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"];
const APL_RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

function rampExpression(prop, max, colours) {
  const stops = [];
  colours.forEach((c, i) => { stops.push((max * i) / (colours.length - 1), c); });
  return ["interpolate", ["linear"], ["coalesce", ["feature-state", prop], 0], ...stops];
}

async function initMap() {
  const [w, s, e, n] = state.territory.bbox;
  const sources = {};
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#eef1f4" } }];
  if (state.territory.online_tiles) {
    sources.osm = { type: "raster", tiles: ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"], tileSize: 256, maxzoom: 19 };
    layers.push({ id: "osm", type: "raster", source: "osm", paint: { "raster-opacity": 0.5 } });
  }
  // The territory's own base map (self-hosted PMTiles): roads and names over the choropleth.
  if (typeof pmtiles !== "undefined") {
    if (!initMap.protocol) { initMap.protocol = new pmtiles.Protocol(); maplibregl.addProtocol("pmtiles", initMap.protocol.tile); }
    sources.base = { type: "vector", url: `pmtiles://${location.origin}/tiles/${encodeURIComponent(state.territory.id)}.pmtiles` };
  }
  map = new maplibregl.Map({
    container: "map",
    style: { version: 8, glyphs: GLYPHS_URL, sources, layers },
    bounds: [[w, s], [e, n]],
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
    preserveDrawingBuffer: true,
  });
  setAttribution();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  await new Promise((resolve) => map.on("load", resolve));
  const empty = { type: "FeatureCollection", features: [] };
  map.addSource("communes", { type: "geojson", data: state.communes });
  map.addSource("iso", { type: "geojson", data: empty });
  map.addSource("bases", { type: "geojson", data: empty });
  map.addSource("sites", { type: "geojson", data: empty });
  map.addSource("demand", { type: "geojson", data: empty });
  map.addLayer({ id: "communes-fill", type: "fill", source: "communes", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": rampExpression("share", 1, COVERAGE_RAMP), "fill-opacity": 0.75 } });
  map.addLayer({ id: "communes-line", type: "line", source: "communes", paint: { "line-color": "#667", "line-width": 0.4 } });
  map.addLayer({ id: "communes-point", type: "circle", source: "communes", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 5, "circle-color": rampExpression("share", 1, COVERAGE_RAMP) } });
  map.addLayer({ id: "iso-fill", type: "fill", source: "iso", paint: { "fill-color": "#2171b5", "fill-opacity": 0.12 } });
  map.addLayer({ id: "iso-line", type: "line", source: "iso", paint: { "line-color": ["interpolate", ["linear"], ["get", "limit_min"], 10, "#08306b", 30, "#6baed6"], "line-width": 1.0 } });
  map.addLayer({ id: "demand", type: "circle", source: "demand", paint: { "circle-radius": 3.5, "circle-color": ["match", ["get", "status"], "on_time", "#2ca02c", "late", "#ff7f0e", "#d62728"], "circle-stroke-color": "#fff", "circle-stroke-width": 0.5 } });
  map.addLayer({ id: "bases", type: "circle", source: "bases", paint: { "circle-radius": 7, "circle-color": "#c0392b", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
  map.addLayer({ id: "sites", type: "circle", source: "sites", paint: { "circle-radius": 8, "circle-color": "#8e44ad", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
  if (sources.base) {
    // Under the simulated demand and the bases, above the choropleth and the isochrones.
    map.addLayer({ id: "roads", type: "line", source: "base", "source-layer": "roads", minzoom: 11, paint: { "line-color": "#ffffff", "line-opacity": 0.7, "line-width": ["interpolate", ["linear"], ["zoom"], 11, 0.6, 16, 4] } }, "demand");
    for (const layer of labelLayers({}, t)) map.addLayer(layer, "demand");
  }
  localiseControls();
  map.on("click", (ev) => {
    if (state.placing) { placeBase(ev.lngLat, ev.point); return; }
    const f = map.queryRenderedFeatures(ev.point, { layers: ["communes-fill", "communes-point"] })[0];
    if (!f) return;
    const fs = map.getFeatureState({ source: "communes", id: f.id });
    new maplibregl.Popup().setLngLat(ev.lngLat).setHTML(
      `<strong>${escapeHtml(f.properties.name)}</strong><br>${escapeHtml(t("col.population"))} : ${nf().format(f.properties.population)}` +
      `<br>${escapeHtml(t("layer.coverage"))} : ${pct(fs.share || 0)}<br>${t("popup.apl")} : ${num(fs.apl || 0, 3)}`).addTo(map);
  });
  state.mapReady = true;
}

/** MapLibre's own buttons are named in English: they get the page's language. */
function localiseControls() {
  if (!map) return;
  const root = map.getContainer();
  for (const [selector, key] of [[".maplibregl-ctrl-zoom-in", "ctrl.zoom_in"], [".maplibregl-ctrl-zoom-out", "ctrl.zoom_out"]]) {
    for (const el of root.querySelectorAll(selector)) { el.title = t(key); el.setAttribute("aria-label", t(key)); }
  }
  map.getCanvas().setAttribute("aria-label", t("map.label"));
}

let attribution = null;
function setAttribution() {
  if (!map) return;
  if (attribution) map.removeControl(attribution);
  attribution = new maplibregl.AttributionControl({ compact: false, customAttribution: t("attribution") });
  map.addControl(attribution);
}

function choropleth() {
  return document.querySelector("input[name=choropleth]:checked").value;
}

function paintMap() {
  const a = state.analysis;
  if (!map || !a) return;
  const share = new Map(a.coverage.communes.map((c) => [c.code_insee, c.covered_share]));
  const apl = new Map(a.accessibility.communes.map((c) => [c.code_insee, c.apl_visits_per_day_per_1000]));
  const aplMax = Math.max(0.001, ...apl.values());
  for (const f of state.communes.features) {
    map.setFeatureState({ source: "communes", id: f.id }, { share: share.get(f.properties.code_insee) || 0, apl: apl.get(f.properties.code_insee) || 0 });
  }
  const mode = choropleth();
  const expr = mode === "apl" ? rampExpression("apl", aplMax, APL_RAMP) : rampExpression("share", 1, COVERAGE_RAMP);
  map.setPaintProperty("communes-fill", "fill-color", expr);
  map.setPaintProperty("communes-point", "circle-color", expr);
  map.getSource("iso").setData(a.isochrones);
  for (const id of ["iso-fill", "iso-line"]) map.setLayoutProperty(id, "visibility", document.getElementById("show-iso").checked ? "visible" : "none");
  drawBases();
  const lastMin = a.coverage.bands_s[a.coverage.bands_s.length - 1] / 60;
  const ramp = mode === "apl" ? APL_RAMP : COVERAGE_RAMP;
  const legend = document.getElementById("legend");
  legend.innerHTML =
    `<span>0</span><span class="ramp"></span>` +
    `<span>${mode === "apl" ? num(aplMax, 2) : pct(1)}</span><span>${escapeHtml(mode === "apl" ? t("legend.apl") : t("legend.coverage", { m: lastMin }))}</span>`;
  // Through CSSOM, not a style attribute in the HTML (the CSP allows no inline style text).
  legend.querySelector(".ramp").style.background = `linear-gradient(to right,${ramp.join(",")})`;
}

// Fixed bases are circles of the "bases" layer; bases placed on the page (or saved from it) are
// draggable markers.
function drawBases() {
  if (!map || !state.mapReady) return;
  const fixed = state.working.filter((b) => !b.movable);
  map.getSource("bases").setData({ type: "FeatureCollection", features: fixed.map((b, i) => ({ type: "Feature", id: i, properties: { id: b.id, name: b.name }, geometry: { type: "Point", coordinates: [b.lon, b.lat] } })) });
  const wanted = new Map(state.working.filter((b) => b.movable).map((b) => [b.id, b]));
  for (const [id, marker] of markers) {
    if (!wanted.has(id)) { marker.remove(); markers.delete(id); }
  }
  for (const b of wanted.values()) {
    let marker = markers.get(b.id);
    if (!marker) {
      const el = document.createElement("div");
      el.className = "new-base";
      el.innerHTML = '<span class="diamond"></span>';
      el.setAttribute("role", "img");
      el.dataset.baseId = b.id;
      marker = new maplibregl.Marker({ element: el, draggable: true }).setLngLat([b.lon, b.lat]).addTo(map);
      marker.on("dragend", () => {
        const base = state.working.find((x) => x.id === b.id);
        if (!base) return;
        const ll = marker.getLngLat();
        if (!insideTerritory(ll)) { marker.setLngLat([base.lon, base.lat]); setStatus(t("bases.outside"), true); return; }
        base.lon = round6(ll.lng);
        base.lat = round6(ll.lat);
        basesChanged(t("bases.moved", { name: base.name }));
      });
      markers.set(b.id, marker);
    } else {
      marker.setLngLat([b.lon, b.lat]);
    }
    const label = t("bases.marker", { name: b.name });
    marker.getElement().setAttribute("aria-label", label);
    marker.getElement().title = label;
  }
}

const round6 = (x) => Math.round(x * 1e6) / 1e6;

function insideTerritory(ll) {
  const [w, s, e, n] = state.territory.bbox;
  return ll.lng >= w - 0.05 && ll.lng <= e + 0.05 && ll.lat >= s - 0.05 && ll.lat <= n + 0.05;
}

// ------------------------------------------------------------------ bases placed on the page
function setPlacing(on) {
  state.placing = on;
  const button = document.getElementById("place-base");
  button.setAttribute("aria-pressed", on ? "true" : "false");
  if (map) map.getCanvas().style.cursor = on ? "crosshair" : "";
  if (on) setStatus(t("bases.placing"));
}

function newBaseId() {
  const used = new Set(state.working.map((b) => b.id));
  for (let i = 1; ; i++) if (!used.has(`new-${i}`)) return `new-${i}`;
}

function placeBase(lngLat, point) {
  setPlacing(false);
  if (!state.baseline) return;
  if (!insideTerritory(lngLat)) { setStatus(t("bases.outside"), true); return; }
  const f = point && map.queryRenderedFeatures(point, { layers: ["communes-fill"] })[0];
  const id = newBaseId();
  const name = f ? t("bases.new_name", { commune: f.properties.name }) : t("bases.new_name_plain", { n: id.slice(4) });
  addBase({ id, name, lon: round6(lngLat.lng), lat: round6(lngLat.lat) });
  document.getElementById("place-base").focus();
}

// Keyboard placing: a base at the commune's centre, chosen by name.
function placeInCommune(ev) {
  ev.preventDefault();
  if (!state.baseline) return;
  const input = document.getElementById("place-commune-name");
  const name = input.value.trim();
  const key = (x) => x.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  const f = state.communes.features.find((c) => key(c.properties.name) === key(name));
  if (!f || f.properties.lon == null) { setStatus(t("bases.unknown_commune", { name }), true); input.focus(); return; }
  addBase({ id: newBaseId(), name: t("bases.new_name", { commune: f.properties.name }), lon: f.properties.lon, lat: f.properties.lat });
  input.value = "";
}

function addBase(base) {
  state.working.push({ ...base, teams: null, movable: true });
  basesChanged(t("bases.added", { name: base.name }));
}

function removeBase(id) {
  if (state.working.length <= 1) { setStatus(t("bases.last"), true); return; }
  const i = state.working.findIndex((b) => b.id === id);
  if (i < 0) return;
  const [gone] = state.working.splice(i, 1);
  basesChanged(t("bases.removed", { name: gone.name }));
}

function sameBases(a, b) {
  const key = (list) => list.map((x) => `${x.id}|${x.lon}|${x.lat}`).join(";");
  return key(a) === key(b);
}

function basesOfAnalysis(a) {
  const own = new Set((state.territory.bases || []).map((b) => b.id));
  return a.bases.map((b) => ({ id: b.id, name: b.name, lon: b.lon, lat: b.lat, teams: b.teams, movable: !own.has(b.id) }));
}

let recomputeTimer = null;
function basesChanged(message) {
  state.changed = !sameBases(state.working, basesOfAnalysis(state.baseline));
  renderBaseList();
  drawBases();
  state.lastAction = message || "";
  setSaveNote(null);
  if (message) setStatus(message);
  state.computeSeq++; // replies to earlier changes, still on their way, are now stale
  clearTimeout(recomputeTimer);
  recomputeTimer = setTimeout(() => guard(recompute)(), state.changed ? 150 : 0);
}

function bandsMin() {
  return (state.baseline ? state.baseline.coverage.bands_s : [600, 1200, 1800]).map((b) => b / 60);
}

async function recompute() {
  const seq = state.computeSeq;
  if (!state.changed) {
    state.analysis = state.baseline;
  } else {
    setStatus(t("bases.computing"));
    document.getElementById("figures").setAttribute("aria-busy", "true");
    const started = performance.now();
    const body = {
      scenario: currentScenarioId(), bands_min: bandsMin(),
      bases: state.working.map((b) => ({ id: b.id, name: b.name, lon: b.lon, lat: b.lat })) };
    // Figures first (milliseconds), then the isochrones' polygons (seconds).
    const reply = await call("/api/planning/analysis", { method: "POST", body: { ...body, isochrones: false } });
    if (seq !== state.computeSeq) return; // a newer change is on its way
    state.analysis = { ...reply, isochrones: state.analysis.isochrones, isochronesPending: true };
    call("/api/planning/analysis", { method: "POST", body }).then((full) => {
      if (seq !== state.computeSeq) return;
      state.analysis = full;
      paintMap();
    }).catch((err) => { if (seq === state.computeSeq) setStatus(t("error", { error: err.message }), true); });
    // Team counts come from the server (new bases get the scenario's teams per base).
    const teams = new Map(reply.bases.map((b) => [b.id, b.teams]));
    for (const b of state.working) b.teams = teams.has(b.id) ? teams.get(b.id) : b.teams;
    setStatus(`${state.lastAction ? `${state.lastAction} ` : ""}${t("bases.computed", { s: num((performance.now() - started) / 1000, 1) })}`);
  }
  document.getElementById("figures").removeAttribute("aria-busy");
  renderBaseList();
  renderCoverage();
  paintMap();
}

function renderBaseList() {
  const list = document.getElementById("base-list");
  const last = state.working.length <= 1;
  list.innerHTML = state.working.map((b) =>
    `<li data-base-id="${escapeHtml(b.id)}" class="${b.movable ? "movable" : ""}">` +
    `<span class="base-dot" aria-hidden="true"></span>` +
    `<span class="base-name">${escapeHtml(b.name)}${b.movable ? ` <em>(${escapeHtml(t("bases.new"))})</em>` : ""}</span>` +
    `<span class="base-teams">${b.teams == null ? "" : escapeHtml(t("bases.teams", { n: b.teams }))}</span>` +
    `<button type="button" class="remove" data-remove="${escapeHtml(b.id)}" aria-label="${escapeHtml(t("bases.remove_label", { name: b.name }))}"${last ? " disabled" : ""}>${escapeHtml(t("bases.remove"))}</button></li>`).join("");
  document.getElementById("reset-bases").disabled = !state.changed;
  document.getElementById("bases-panel").classList.toggle("changed", state.changed);
}

function renderFigures() {
  const el = document.getElementById("figures");
  const now = state.analysis;
  const before = state.baseline;
  if (!now || !before) return;
  const bands = now.coverage.bands_s;
  const cum = (a) => a.coverage.cumulative_population;
  const total = now.coverage.total_population;
  const signed = (x, fmt) => (x > 0 ? "+" : x < 0 ? "−" : "±") + fmt(Math.abs(x));
  const rows = bands.map((b, i) => {
    const label = t("fig.band", { m: b / 60 });
    const value = (a) => `${nf().format(cum(a)[i])} (${pct(cum(a)[i] / total)})`;
    return state.changed
      ? [label, value(before), value(now), signed(cum(now)[i] - cum(before)[i], (x) => nf().format(x))]
      : [label, value(now)];
  });
  const aplRow = state.changed
    ? [t("fig.apl"), num(before.accessibility.territory_mean, 3), num(now.accessibility.territory_mean, 3),
      signed(now.accessibility.territory_mean - before.accessibility.territory_mean, (x) => num(x, 3))]
    : [t("fig.apl"), num(now.accessibility.territory_mean, 3)];
  rows.push(aplRow);
  const head = state.changed ? ["", t("fig.before"), t("fig.after"), t("fig.delta")] : ["", t("fig.now")];
  el.innerHTML = `<thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr><th scope="row">${escapeHtml(r[0])}</th>${r.slice(1).map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("")}</tbody>`;
  document.getElementById("bases-changed").textContent = state.changed ? t("bases.changed") : "";
}

// ------------------------------------------------------------------ charts (plain SVG)
const SVG_NS = "http://www.w3.org/2000/svg";
function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawBandsChart() {
  const svg = document.getElementById("chart-bands");
  svg.replaceChildren();
  const cov = state.analysis.coverage;
  const width = svg.clientWidth || 380;
  const height = 150;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const values = [...cov.band_population, cov.uncovered_population];
  const labels = [...cov.bands_s.map((b) => t("band.within", { m: b / 60 })), t("band.beyond", { m: cov.bands_s[cov.bands_s.length - 1] / 60 })];
  const colours = ["#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef"].slice(0, cov.bands_s.length).concat(["#bbbbbb"]);
  const max = Math.max(...values, 1);
  const barW = (width - 20) / values.length;
  values.forEach((v, i) => {
    const h = ((height - 40) * v) / max;
    const x = 10 + i * barW;
    svg.appendChild(svgEl("rect", { x: x + 4, y: height - 22 - h, width: barW - 8, height: Math.max(h, 0.5), fill: colours[i], "data-value": v }));
    svg.appendChild(svgEl("text", { x: x + barW / 2, y: height - 8, "text-anchor": "middle", "font-size": 11 }, labels[i]));
    svg.appendChild(svgEl("text", { x: x + barW / 2, y: height - 26 - h, "text-anchor": "middle", "font-size": 10 }, nf().format(v)));
  });
  state.chartsDrawn.bands = true;
}

function drawDaysChart(days) {
  const svg = document.getElementById("chart-days");
  svg.replaceChildren();
  if (!days || !days.length) return;
  const width = svg.clientWidth || 380;
  const height = 150;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const max = Math.max(1, ...days.map((d) => d.requested));
  const groupW = (width - 20) / days.length;
  days.forEach((d, i) => {
    const x = 10 + i * groupW;
    const hs = ((height - 40) * d.served) / max;
    const hr = ((height - 40) * d.refused) / max;
    svg.appendChild(svgEl("rect", { x: x + 4, y: height - 22 - hs, width: groupW / 2 - 6, height: Math.max(hs, 0.5), fill: "#2e8b57", "data-value": d.served }));
    svg.appendChild(svgEl("rect", { x: x + groupW / 2, y: height - 22 - hr, width: groupW / 2 - 6, height: Math.max(hr, 0.5), fill: "#c0392b", "data-value": d.refused }));
    svg.appendChild(svgEl("text", { x: x + groupW / 2, y: height - 8, "text-anchor": "middle", "font-size": 11 }, t("chart.day", { n: d.day + 1 })));
  });
  svg.appendChild(svgEl("text", { x: width - 10, y: 12, "text-anchor": "end", "font-size": 11, fill: "#2e8b57" }, t("chart.served")));
  svg.appendChild(svgEl("text", { x: width - 10, y: 26, "text-anchor": "end", "font-size": 11, fill: "#c0392b" }, t("chart.refused")));
  state.chartsDrawn.days = true;
}

// ------------------------------------------------------------------ panels
function table(el, head, rows) {
  el.innerHTML = `<thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c))}</td>`).join("")}</tr>`).join("")}</tbody>`;
}

function renderCoverage() {
  if (!state.analysis) return;
  const cov = state.analysis.coverage;
  const lastMin = cov.bands_s[cov.bands_s.length - 1] / 60;
  document.getElementById("coverage-summary").textContent = t("coverage.summary", {
    covered: nf().format(cov.covered_population), total: nf().format(cov.total_population),
    share: pct(cov.covered_population / cov.total_population), m: lastMin, uncovered: nf().format(cov.uncovered_population),
  });
  const least = cov.communes.filter((c) => c.uncovered > 0).sort((a, b) => b.uncovered - a.uncovered).slice(0, 10);
  table(document.getElementById("least"), [t("col.commune"), t("col.population"), t("col.uncovered")],
    least.map((c) => [c.commune, nf().format(c.population), nf().format(c.uncovered)]));
  drawBandsChart();
  renderFigures();
}

function currentScenarioId() {
  return document.getElementById("scenario").value || "default";
}

function reportUrl(id) {
  return `/api/planning/report?scenario=${encodeURIComponent(id)}&lang=${locale}`;
}

async function loadCompare() {
  const id = currentScenarioId();
  const file = id.split("#")[0];
  const ids = ["default"];
  for (const s of state.scenarios) if ((s.file === file || s.saved) && !ids.includes(s.id)) ids.push(s.id);
  const reply = await call(`/api/planning/compare?ids=${encodeURIComponent(ids.join(","))}`);
  const rows = reply.items;
  if (!rows.length) return;
  state.compareRows = rows;
  renderCompare();
}

function renderCompare() {
  const rows = state.compareRows;
  if (!rows) return;
  const bandKeys = Object.keys(rows[0]).filter((k) => /^covered_\d+min_share$/.test(k));
  table(document.getElementById("compare"),
    [t("col.scenario"), t("col.teams"), ...bandKeys.map((k) => t("col.covered", { m: k.match(/\d+/)[0] })), t("col.apl")],
    rows.map((r) => [scenarioName(r), nf().format(r.teams), ...bandKeys.map((k) => pct(r[k])), num(r.apl_mean_per_1000, 3)]));
  const current = currentScenarioId();
  document.querySelectorAll("#compare tbody tr").forEach((tr, i) => tr.classList.toggle("current", rows[i].scenario_id === current));
}

function renderScenarioSelect() {
  const select = document.getElementById("scenario");
  const value = select.value;
  select.innerHTML = state.scenarios.map((s) => `<option value="${escapeHtml(s.id)}">${escapeHtml(scenarioName(s))}</option>`).join("");
  if (value && state.scenarios.some((s) => s.id === value)) select.value = value;
  document.getElementById("report-link").href = reportUrl(currentScenarioId());
}

function renderSaved() {
  const saved = state.scenarios.filter((s) => s.saved);
  document.getElementById("saved-empty").hidden = saved.length > 0;
  const el = document.getElementById("saved");
  el.hidden = !saved.length;
  const date = new Intl.DateTimeFormat(locale === "fr" ? "fr-FR" : "en-GB", { dateStyle: "short", timeStyle: "short" });
  el.innerHTML = saved.map((s) => `<li data-id="${escapeHtml(s.id)}"${s.id === currentScenarioId() ? ' class="current" aria-current="true"' : ""}>` +
    `<div class="saved-main"><strong class="saved-name">${escapeHtml(s.name)}</strong>` +
    `<span class="meta">${escapeHtml(t("saved.meta", { n: nf().format(s.bases), date: date.format(new Date(s.saved_at * 1000)) }))}</span></div>` +
    `<div class="actions"><button type="button" data-open="${escapeHtml(s.id)}" aria-label="${escapeHtml(t("saved.open_label", { name: s.name }))}">${escapeHtml(t("saved.open"))}</button>` +
    `<a href="${escapeHtml(reportUrl(s.id))}" target="_blank" rel="noopener" data-report="${escapeHtml(s.id)}" aria-label="${escapeHtml(t("saved.report_label", { name: s.name }))}">${escapeHtml(t("saved.report"))}</a>` +
    `<button type="button" class="danger" data-delete="${escapeHtml(s.id)}" aria-label="${escapeHtml(t("saved.delete_label", { name: s.name }))}">${escapeHtml(t("saved.delete"))}</button>` +
    `</div></li>`).join("");
}

async function loadScenarios() {
  const reply = await call("/api/planning/scenarios");
  state.scenarios = reply.items;
  renderScenarioSelect();
  renderSaved();
}

function renderKpis() {
  const sim = state.simulation;
  if (!sim) return;
  // Every run of this page session, side by side (latest run of each scenario).
  const runs = [...state.runs.values()];
  const keys = ["requested", "served", "refused", "service_level", "on_time_share", "travel_share", "distance_km", "visits_per_team_day"];
  const rows = keys.map((k) => [t(`kpi.${k}`), ...runs.map((r) => (/share|level/.test(k) ? pct(r.summary[k]) : num(r.summary[k], 1)))]);
  table(document.getElementById("kpis"), ["", ...runs.map((r) => `${r.scenario} (${r.summary.days} ${t("sim.days").toLowerCase()})`)], rows);
  drawDaysChart(sim.days);
  const points = sim.days.length ? sim.days[0].points : [];
  if (map) map.getSource("demand").setData({ type: "FeatureCollection", features: points.map((p, i) => ({ type: "Feature", id: i, properties: { status: p.status, kind: p.kind }, geometry: { type: "Point", coordinates: [p.lon, p.lat] } })) });
}

// The chosen scenario as it stands: its analysis, its bases on the page, nothing changed.
async function loadAnalysis() {
  setStatus(t("loading"));
  const scenario = currentScenarioId();
  const bands = document.getElementById("bands").value;
  // No base can be placed while the scenario's own bases are on their way.
  setPlacing(false);
  document.getElementById("place-base").disabled = true;
  state.computeSeq++;
  let a;
  try {
    a = await call(`/api/planning/analysis?scenario=${encodeURIComponent(scenario)}&bands=${encodeURIComponent(bands)}`);
  } finally {
    document.getElementById("place-base").disabled = false;
  }
  if (scenario !== currentScenarioId()) return; // another scenario was chosen meanwhile
  state.baseline = a;
  state.analysis = a;
  state.working = basesOfAnalysis(a);
  state.changed = false;
  state.computeSeq++;
  document.getElementById("figures").removeAttribute("aria-busy");
  document.getElementById("report-link").href = reportUrl(scenario);
  renderBaseList();
  renderCoverage();
  paintMap();
  renderSaved();
  setStatus(t("ready"));
}

// New bands: the scenario again, then the page's bases again if they were changed.
async function changeBands() {
  const working = state.working.map((b) => ({ ...b }));
  const changed = state.changed;
  await loadAnalysis();
  if (changed) { state.working = working; basesChanged(); }
}

// The note under the save form, kept as a key so that it follows the language.
function setSaveNote(key, vars = {}) {
  state.saveNote = key ? { key, vars } : null;
  document.getElementById("save-status").textContent = key ? t(key, vars) : "";
}

async function saveScenario(ev) {
  ev.preventDefault();
  const input = document.getElementById("save-name");
  const name = input.value.trim();
  if (!name) { setSaveNote("save.needs_name"); input.focus(); return; }
  const body = { name, scenario: currentScenarioId(), bases: state.working.map((b) => ({ id: b.id, name: b.name, lon: b.lon, lat: b.lat })) };
  let reply;
  try {
    reply = await call("/api/planning/scenarios", { method: "POST", body });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
    if (!window.confirm(t("save.exists", { name }))) { setSaveNote("save.kept"); input.focus(); return; }
    reply = await call("/api/planning/scenarios", { method: "POST", body: { ...body, replace: true } });
  }
  await loadScenarios();
  document.getElementById("scenario").value = reply.scenario.id;
  await loadAnalysis();
  setSaveNote("save.done", { name: reply.scenario.name });
  setStatus(t("save.done", { name: reply.scenario.name }));
  input.value = "";
  await loadCompare();
}

async function deleteSaved(id) {
  const item = state.scenarios.find((s) => s.id === id);
  if (!item || !window.confirm(t("saved.delete_confirm", { name: item.name }))) return;
  const slug = id.replace(/^saved:/, "").replace(/#.*$/, "");
  await call(`/api/planning/scenarios/${encodeURIComponent(slug)}`, { method: "DELETE" });
  const wasCurrent = currentScenarioId() === id;
  await loadScenarios();
  if (wasCurrent) { document.getElementById("scenario").value = "default"; await loadAnalysis(); }
  await loadCompare();
  setStatus(t("saved.deleted", { name: item.name }));
}

async function openSaved(id) {
  if (state.changed && !window.confirm(t("bases.discard"))) return;
  document.getElementById("scenario").value = id;
  await loadAnalysis();
  await loadCompare();
  document.getElementById("bases-title").scrollIntoView({ block: "start" });
}

async function runSiting(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  setStatus(t("loading"));
  const bands = state.analysis.coverage.bands_s;
  const reply = await call("/api/planning/siting", { method: "POST", body: {
    scenario: currentScenarioId(), k: Number(form.get("k")), method: form.get("method"), radius_min: bands[bands.length - 1] / 60,
    bases: state.changed ? state.working.map((b) => ({ id: b.id, name: b.name, lon: b.lon, lat: b.lat })) : undefined } });
  state.sites = reply.sites.filter((s) => !s.existing);
  state.sitingReply = reply;
  renderSites();
  map.getSource("sites").setData({ type: "FeatureCollection", features: state.sites.map((s, i) => ({ type: "Feature", id: i, properties: { commune: s.commune }, geometry: { type: "Point", coordinates: [s.lon, s.lat] } })) });
  setStatus(t("ready"));
}

function renderSites() {
  const reply = state.sitingReply;
  if (!reply) return;
  const list = document.getElementById("sites");
  list.innerHTML = state.sites.map((s) => `<li>${escapeHtml(s.commune)} (${num(s.lon, 4)} ; ${num(s.lat, 4)})</li>`).join("") +
    `<li class="note">${escapeHtml(t("siting.result", { covered: nf().format(reply.covered_population), m: reply.radius_s / 60, share: pct(reply.covered_population / reply.total_population) }))}</li>`;
  document.getElementById("sites-add").hidden = !state.sites.length;
}

function addSites() {
  for (const s of state.sites) {
    const id = newBaseId();
    state.working.push({ id, name: t("siting.site", { commune: s.commune }), lon: round6(s.lon), lat: round6(s.lat), teams: null, movable: true });
  }
  state.sites = [];
  document.getElementById("sites-add").hidden = true;
  document.getElementById("sites").innerHTML = "";
  map.getSource("sites").setData({ type: "FeatureCollection", features: [] });
  basesChanged();
}

async function runSimulation(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const progress = document.getElementById("sim-progress");
  const started = await call("/api/planning/simulations", { method: "POST", body: {
    scenario: currentScenarioId(), days: Number(form.get("days")), time_limit_s: Number(form.get("time_limit_s")),
    bases: state.changed ? state.working.map((b) => ({ id: b.id, name: b.name, lon: b.lon, lat: b.lat })) : undefined } });
  let job = started.job;
  progress.hidden = false;
  while (job.status === "queued" || job.status === "running") {
    progress.max = job.total || 1;
    progress.value = job.done || 0;
    setStatus(t("sim.running", { done: job.done || 0, total: job.total || 1 }));
    await new Promise((r) => setTimeout(r, 700));
    job = (await call(`/api/planning/simulations/${job.id}`)).job;
  }
  progress.hidden = true;
  if (job.status !== "done") { setStatus(t("sim.failed", { error: job.error || job.status }), true); return; }
  const name = job.scenario_id === "default" ? t("scenario.default") : job.scenario;
  state.simulation = { scenario: name, ...job.result };
  state.runs.set(job.scenario_id, state.simulation);
  renderKpis();
  setStatus(t("ready"));
}

function guard(fn) {
  return (...args) => fn(...args).catch((err) => { console.error(err); setStatus(t("error", { error: err.message }), true); });
}

function applyAllTexts() {
  applyTexts();
  for (const el of document.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  document.getElementById("lang").lang = locale === "fr" ? "en" : "fr";
}

async function start() {
  applyAllTexts();
  document.getElementById("lang").addEventListener("click", () => {
    locale = locale === "fr" ? "en" : "fr";
    localStorage.setItem(LOCALE_KEY, locale);
    applyAllTexts();
    renderScenarioSelect();
    renderSaved();
    renderBaseList();
    drawBases();
    if (state.analysis) { renderCoverage(); paintMap(); renderCompare(); }
    renderSites();
    renderKpis();
    setAttribution();
    localiseControls();
    if (state.saveNote) setSaveNote(state.saveNote.key, state.saveNote.vars);
    setStatus(t("ready"));
  });
  document.getElementById("logout").addEventListener("click", logout);
  setStatus(t("loading"));
  showUser((await call("/api/session")).user);
  if (!["planner", "coordinator", "admin"].includes(state.user && state.user.role)) {
    setStatus(t("forbidden"), true); // a team member's account: nothing of the planning to show
    return;
  }
  state.territory = await call("/api/planning/territory");
  document.getElementById("territory-name").textContent = state.territory.name;
  const communes = await call("/api/planning/communes");
  state.communes = { type: "FeatureCollection", features: communes.features };
  document.getElementById("commune-names").innerHTML = [...new Set(state.communes.features.map((f) => f.properties.name))]
    .sort((a, b) => a.localeCompare(b, "fr")).map((n) => `<option value="${escapeHtml(n)}"></option>`).join("");
  await loadScenarios();
  const select = document.getElementById("scenario");
  if (state.scenarios.length > 1 && !state.scenarios[1].saved) select.value = state.scenarios[1].id;
  await initMap();
  await loadAnalysis();
  await loadCompare();
  select.addEventListener("change", guard(async () => {
    // Another scenario replaces the bases on the page: ask before dropping unsaved changes.
    if (state.changed && !window.confirm(t("bases.discard"))) { select.value = state.baseline.scenario_id; return; }
    await loadAnalysis();
    await loadCompare();
  }));
  document.getElementById("bands").addEventListener("change", guard(changeBands));
  for (const el of document.querySelectorAll("input[name=choropleth], #show-iso")) el.addEventListener("change", paintMap);
  document.getElementById("place-base").addEventListener("click", () => setPlacing(!state.placing));
  document.getElementById("place-commune").addEventListener("submit", placeInCommune);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.placing) { setPlacing(false); setStatus(t("ready")); } });
  document.getElementById("reset-bases").addEventListener("click", () => {
    state.working = basesOfAnalysis(state.baseline);
    basesChanged();
    document.getElementById("place-base").focus();
  });
  document.getElementById("base-list").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-remove]");
    if (button) removeBase(button.dataset.remove);
  });
  document.getElementById("saved").addEventListener("click", (e) => {
    const open = e.target.closest("button[data-open]");
    const del = e.target.closest("button[data-delete]");
    if (open) guard(openSaved)(open.dataset.open);
    if (del) guard(deleteSaved)(del.dataset.delete);
  });
  document.getElementById("save-form").addEventListener("submit", guard(saveScenario));
  document.getElementById("siting-form").addEventListener("submit", guard(runSiting));
  document.getElementById("sites-add").addEventListener("click", addSites);
  document.getElementById("sim-form").addEventListener("submit", guard(runSimulation));
}

// For tests and the curious: what the page holds and how many map features are drawn.
window.planner = {
  state,
  get map() { return map; },
  rendered(layer) { return map && map.getLayer(layer) ? map.queryRenderedFeatures({ layers: [layer] }).length : 0; },
};

guard(start)();
