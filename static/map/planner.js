// Planner page: isochrones and coverage, E2SFCA choropleth, scenario comparison, siting, simulation.
import { api, ApiError, setCsrf, escapeHtml } from "/static/map/common.js";

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
  analysis: null,
  scenarios: [],
  simulation: null,
  runs: new Map(),
  sites: [],
  mapReady: false,
  chartsDrawn: { bands: false, days: false },
};
let map;

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
        form.removeEventListener("submit", submit);
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

function setStatus(text, isError = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
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
  map = new maplibregl.Map({
    container: "map",
    style: { version: 8, sources, layers },
    bounds: [[w, s], [e, n]],
    fitBoundsOptions: { padding: 20 },
    attributionControl: { compact: false, customAttribution: t("attribution") },
    preserveDrawingBuffer: true,
  });
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
  map.on("click", "communes-fill", (ev) => {
    const f = ev.features[0];
    const fs = map.getFeatureState({ source: "communes", id: f.id });
    new maplibregl.Popup().setLngLat(ev.lngLat).setHTML(
      `<strong>${escapeHtml(f.properties.name)}</strong><br>${t("col.population")} : ${nf().format(f.properties.population)}` +
      `<br>${t("layer.coverage")} : ${pct(fs.share || 0)}<br>APL : ${num(fs.apl || 0, 3)}`).addTo(map);
  });
  state.mapReady = true;
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
  map.getSource("bases").setData({ type: "FeatureCollection", features: a.bases.map((b) => ({ type: "Feature", id: b.node, properties: { name: b.name, teams: b.teams }, geometry: { type: "Point", coordinates: [b.lon, b.lat] } })) });
  const lastMin = a.coverage.bands_s[a.coverage.bands_s.length - 1] / 60;
  const ramp = mode === "apl" ? APL_RAMP : COVERAGE_RAMP;
  document.getElementById("legend").innerHTML =
    `<span>0</span><span class="ramp" style="background:linear-gradient(to right,${ramp.join(",")})"></span>` +
    `<span>${mode === "apl" ? num(aplMax, 2) : "100 %"}</span><span>${mode === "apl" ? t("legend.apl") : t("legend.coverage", { m: lastMin })}</span>`;
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
  el.innerHTML = `<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c))}</td>`).join("")}</tr>`).join("")}</tbody>`;
}

function renderCoverage() {
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
}

async function loadCompare() {
  const file = (document.getElementById("scenario").value || "default").split("#")[0];
  const reply = await call(`/api/planning/compare?file=${encodeURIComponent(file)}`);
  const rows = reply.items;
  if (!rows.length) return;
  const bandKeys = Object.keys(rows[0]).filter((k) => /^covered_\d+min_share$/.test(k));
  table(document.getElementById("compare"),
    [t("col.scenario"), t("col.teams"), ...bandKeys.map((k) => t("col.covered", { m: k.match(/\d+/)[0] })), t("col.apl")],
    rows.map((r) => [r.scenario, r.teams, ...bandKeys.map((k) => pct(r[k])), num(r.apl_mean_per_1000, 3)]));
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

async function loadAnalysis() {
  setStatus(t("loading"));
  const scenario = document.getElementById("scenario").value || "default";
  const bands = document.getElementById("bands").value;
  state.analysis = await call(`/api/planning/analysis?scenario=${encodeURIComponent(scenario)}&bands=${encodeURIComponent(bands)}`);
  renderCoverage();
  paintMap();
  setStatus(t("ready"));
}

async function runSiting(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  setStatus(t("loading"));
  const bands = state.analysis.coverage.bands_s;
  const reply = await call("/api/planning/siting", { method: "POST", body: {
    scenario: document.getElementById("scenario").value || "default", k: Number(form.get("k")), method: form.get("method"), radius_min: bands[bands.length - 1] / 60 } });
  state.sites = reply.sites.filter((s) => !s.existing);
  const list = document.getElementById("sites");
  list.innerHTML = state.sites.map((s) => `<li>${escapeHtml(s.commune)} (${s.lon.toFixed(4)}, ${s.lat.toFixed(4)})</li>`).join("") +
    `<li class="note">${escapeHtml(t("siting.result", { covered: nf().format(reply.covered_population), m: reply.radius_s / 60, share: pct(reply.covered_population / reply.total_population) }))}</li>`;
  map.getSource("sites").setData({ type: "FeatureCollection", features: state.sites.map((s, i) => ({ type: "Feature", id: i, properties: { commune: s.commune }, geometry: { type: "Point", coordinates: [s.lon, s.lat] } })) });
  setStatus(t("ready"));
}

async function runSimulation(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const progress = document.getElementById("sim-progress");
  const started = await call("/api/planning/simulations", { method: "POST", body: {
    scenario: document.getElementById("scenario").value || "default", days: Number(form.get("days")), time_limit_s: Number(form.get("time_limit_s")) } });
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
  state.simulation = { scenario: job.scenario, ...job.result };
  state.runs.set(job.scenario_id, state.simulation);
  renderKpis();
  setStatus(t("ready"));
}

function guard(fn) {
  return (...args) => fn(...args).catch((err) => { console.error(err); setStatus(t("error", { error: err.message }), true); });
}

async function start() {
  applyTexts();
  document.getElementById("lang").addEventListener("click", () => {
    locale = locale === "fr" ? "en" : "fr";
    localStorage.setItem(LOCALE_KEY, locale);
    applyTexts();
    if (state.analysis) { renderCoverage(); paintMap(); loadCompare().catch(() => {}); }
    renderKpis();
  });
  setStatus(t("loading"));
  state.territory = await call("/api/planning/territory");
  document.getElementById("territory-name").textContent = state.territory.name;
  const [communes, scenarios] = await Promise.all([call("/api/planning/communes"), call("/api/planning/scenarios")]);
  state.communes = { type: "FeatureCollection", features: communes.features };
  state.scenarios = scenarios.items;
  const select = document.getElementById("scenario");
  select.innerHTML = state.scenarios.map((s) => `<option value="${escapeHtml(s.id)}">${escapeHtml(s.name)}</option>`).join("");
  if (state.scenarios.length > 1) select.value = state.scenarios[1].id;
  await initMap();
  await loadAnalysis();
  await loadCompare();
  select.addEventListener("change", guard(async () => { await loadAnalysis(); await loadCompare(); }));
  document.getElementById("bands").addEventListener("change", guard(loadAnalysis));
  for (const el of document.querySelectorAll("input[name=choropleth], #show-iso")) el.addEventListener("change", paintMap);
  document.getElementById("siting-form").addEventListener("submit", guard(runSiting));
  document.getElementById("sim-form").addEventListener("submit", guard(runSimulation));
}

// For tests and the curious: what the page holds and how many map features are drawn.
window.planner = {
  state,
  get map() { return map; },
  rendered(layer) { return map && map.getLayer(layer) ? map.queryRenderedFeatures({ layers: [layer] }).length : 0; },
};

guard(start)();
