// A team's day on the coordinator map: its trail with a time slider (and play/pause), its
// visits with check-in and check-out times, km driven, and the GPX / GeoJSON exports.
//
// Loaded by map.js as an extension: init(ctx), see map.js for ctx. Opens from a click on a
// team in the team list or on its marker (Enter or Space on a focused marker too), or from the
// "Journée d'une équipe" button of the side panel. REST: GET /api/teams/<id>/day?day= (every
// read is audited on the server), /day.gpx and /day.geojson (downloads). The panel draws on its
// own source and layers, which leave the map when it closes.
import { formatDistance, getLocale, hhmm, onChange } from "./i18n.js";
import { distanceM, escapeHtml, loadStylesheet } from "./common.js";

const TEXT = {
  fr: {
    open: "Journée d'une équipe",
    openHelp: "Ou cliquez une équipe dans la liste ou sur la carte.",
    title: "Journée de l'équipe",
    titleOf: "Journée de l'équipe {name}",
    close: "Fermer la journée de l'équipe",
    team: "Équipe",
    day: "Jour",
    loading: "Chargement de la journée…",
    failed: "Impossible de charger la journée : {error}",
    summary: "{km} parcourus · {n} positions tracées",
    span: "de {from} à {to}",
    noFix: "Aucune position enregistrée ce jour-là.",
    play: "Lecture",
    pause: "Pause",
    slider: "Heure sur la trace",
    at: "Position à {time}",
    visits: "Visites ({n})",
    noVisit: "Aucune visite pour cette équipe ce jour-là.",
    patient: "Patient",
    planned: "Prévue",
    arrival: "Arrivée",
    checkIn: "Début",
    checkOut: "Fin",
    checkInTitle: "Début de la visite (saisi sur le téléphone)",
    checkOutTitle: "Fin de la visite (saisie sur le téléphone)",
    arrivalTitle: "Arrivée détectée sur place",
    missedAt: "manquée à {time}",
    goTo: "Aller à {time} : {name}",
    exportGpx: "Exporter GPX",
    exportGeojson: "Exporter GeoJSON",
    exportHelp: "Les fichiers ne contiennent que les pseudonymes des patients.",
  },
  en: {
    open: "A team's day",
    openHelp: "Or click a team in the list or on the map.",
    title: "Team's day",
    titleOf: "Day of team {name}",
    close: "Close the team's day",
    team: "Team",
    day: "Day",
    loading: "Loading the day…",
    failed: "Could not load the day: {error}",
    summary: "{km} driven · {n} positions drawn",
    span: "from {from} to {to}",
    noFix: "No position recorded that day.",
    play: "Play",
    pause: "Pause",
    slider: "Time on the trail",
    at: "Position at {time}",
    visits: "Visits ({n})",
    noVisit: "No visit for this team that day.",
    patient: "Patient",
    planned: "Planned",
    arrival: "Arrival",
    checkIn: "Start",
    checkOut: "End",
    checkInTitle: "Start of the visit (entered on the phone)",
    checkOutTitle: "End of the visit (entered on the phone)",
    arrivalTitle: "Arrival detected on site",
    missedAt: "missed at {time}",
    goTo: "Go to {time}: {name}",
    exportGpx: "Export GPX",
    exportGeojson: "Export GeoJSON",
    exportHelp: "The files hold the patients' pseudonyms only.",
  },
};

function tr(key, vars = {}) {
  const dict = TEXT[getLocale()] || TEXT.fr;
  const text = dict[key] || TEXT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const SOURCE = "dh-trail";
const LAYER_ALL = "dh-trail-all";
const LAYER_DONE = "dh-trail-done";
const VISITS = "dh-visits";
const PLAY_TICK_MS = 100;
/** A whole day's trail plays in about this many ticks (15 s). */
const PLAY_TICKS = 150;

export async function init(ctx) {
  const { map, api, container, state } = ctx;
  await loadStylesheet("/static/map/dispatch-history.css");
  const opener = document.createElement("section");
  opener.className = "dh-open";
  container.appendChild(opener);
  const panel = document.createElement("section");
  panel.id = "dh-panel";
  panel.className = "dh-panel";
  panel.hidden = true;
  panel.setAttribute("aria-labelledby", "dh-title");
  (map ? map.getContainer().parentElement : document.body).appendChild(panel);

  const view = { teamId: null, day: null, data: null, time: null, playing: null, marker: null, returnTo: null, loading: 0 };

  // ------------------------------------------------------------------------------ opening
  function renderOpener() {
    opener.innerHTML = `<button type="button" id="dh-open-btn" aria-controls="dh-panel" aria-expanded="${!panel.hidden}">${escapeHtml(tr("open"))}</button><p>${escapeHtml(tr("openHelp"))}</p>`;
    opener.querySelector("button").addEventListener("click", (e) => {
      const teams = sortedTeams();
      const id = view.teamId ?? (teams[0] && teams[0].id);
      if (id != null) open(id, e.currentTarget);
    });
  }

  const teamList = document.getElementById("team-list");
  if (teamList) {
    teamList.addEventListener("click", (e) => {
      const li = e.target.closest("li[data-team-id]");
      // Controls other extensions may put in a team's row keep their own action (a button
      // of class "team-open", the team's name, opens the day like the row).
      const control = e.target.closest("button, a, input, select, textarea");
      if (!li || (control && !control.classList.contains("team-open"))) return;
      open(Number(li.dataset.teamId), null);
    });
  }
  if (map) {
    const markers = map.getContainer();
    markers.addEventListener("click", (e) => {
      const el = e.target.closest(".team-marker[data-team-id]");
      if (el) open(Number(el.dataset.teamId), el);
    });
    markers.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" && e.key !== " ") return;
      const el = e.target.closest && e.target.closest(".team-marker[data-team-id]");
      if (el) open(Number(el.dataset.teamId), el);
    });
  }

  function sortedTeams() {
    return [...state.teams.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  function teamColor(id) {
    const team = state.teams.get(id);
    return (team && team.color) || "#123a5a";
  }

  function today() {
    return (state.config && state.config.day) || new Date().toISOString().slice(0, 10);
  }

  /** On a narrow screen the side panel is a drawer over the map: it steps aside for the day. */
  function closeDrawer() {
    const side = document.getElementById("side");
    const toggle = document.getElementById("panel-toggle");
    if (!side || !window.matchMedia("(max-width: 800px)").matches || !side.classList.contains("open")) return;
    side.classList.remove("open");
    if (toggle) toggle.setAttribute("aria-expanded", "false");
    if (view.returnTo && side.contains(view.returnTo)) view.returnTo = toggle;
  }

  function open(teamId, returnTo) {
    view.returnTo = returnTo || document.getElementById("dh-open-btn");
    closeDrawer();
    if (!view.day) view.day = today();
    const wasHidden = panel.hidden;
    panel.hidden = false;
    opener.querySelector("button").setAttribute("aria-expanded", "true");
    if (wasHidden) {
      view.teamId = teamId;
      view.data = null;
      render();
      load();
    } else if (view.teamId !== teamId) {
      view.teamId = teamId;
      panel.querySelector("#dh-team").value = String(teamId);
      changed();
    }
    const title = panel.querySelector("#dh-title");
    if (title) title.focus();
  }

  function close() {
    stop();
    panel.hidden = true;
    opener.querySelector("button").setAttribute("aria-expanded", "false");
    removeLayers();
    view.data = null;
    const back = view.returnTo && view.returnTo.isConnected ? view.returnTo : document.getElementById("dh-open-btn");
    if (back) back.focus();
  }

  // ------------------------------------------------------------------------------ data
  async function load() {
    const ticket = ++view.loading;
    const teamId = view.teamId;
    const day = view.day;
    setSummary(tr("loading"));
    try {
      const data = await api(`/api/teams/${teamId}/day?day=${encodeURIComponent(day)}`);
      if (ticket !== view.loading || panel.hidden) return;
      view.data = data;
      const trail = data.trail || [];
      view.time = trail.length ? trail[0][3] : null;
      stop();
      renderTitle();
      renderBody();
      draw(true);
    } catch (err) {
      if (ticket !== view.loading) return;
      view.data = null;
      renderBody();
      removeLayers();
      setSummary(tr("failed", { error: (err && err.message) || String(err) }), true);
    }
  }

  function setSummary(text, error = false) {
    const el = panel.querySelector("#dh-summary");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("error", error);
  }

  // ------------------------------------------------------------------------------ panel
  function timeCell(s, title) {
    return `<td class="t"${title ? ` title="${escapeHtml(title)}"` : ""}>${s == null ? "–" : escapeHtml(hhmm(s))}</td>`;
  }

  /** The whole panel: the frame (title, team, day, summary) and the body. */
  function render() {
    const active = document.activeElement;
    const focusedId = active && panel.contains(active) ? active.id : null;
    const teams = sortedTeams();
    panel.innerHTML = `
      <header><h2 id="dh-title" tabindex="-1"></h2>
        <button type="button" class="dh-close" id="dh-close" aria-label="${escapeHtml(tr("close"))}" title="${escapeHtml(tr("close"))}">×</button></header>
      <div class="dh-row">
        <label>${escapeHtml(tr("team"))}<select id="dh-team">${teams.map((t) => `<option value="${t.id}"${t.id === view.teamId ? " selected" : ""}>${escapeHtml(t.name)}</option>`).join("")}</select></label>
        <label>${escapeHtml(tr("day"))}<input type="date" id="dh-day" value="${escapeHtml(view.day)}" max="${escapeHtml(today())}" required></label>
      </div>
      <p id="dh-summary" class="dh-summary" role="status"></p>
      <div id="dh-body"></div>`;
    panel.querySelector("#dh-close").addEventListener("click", close);
    panel.querySelector("#dh-team").addEventListener("change", (e) => { view.teamId = Number(e.target.value); changed(); });
    let typing = null;
    panel.querySelector("#dh-day").addEventListener("change", (e) => {
      // Typing a date fires a change per valid partial value (year 2, 20, 202...): wait for
      // the keys to settle, and never rebuild the field under the fingers.
      clearTimeout(typing);
      typing = setTimeout(() => {
        const value = e.target.value;
        if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || value < "2000-01-01") return;
        view.day = value;
        changed();
      }, 350);
    });
    renderTitle();
    renderBody();
    const again = focusedId && panel.querySelector(`#${focusedId}`);
    if (again) again.focus();
  }

  function changed() {
    view.data = null;
    stop();
    removeLayers();
    renderTitle();
    renderBody();
    load();
  }

  function renderTitle() {
    panel.querySelector("#dh-title").textContent = tr("titleOf", { name: ctx.teamName(view.teamId) });
    const data = view.data;
    setSummary(data ? summaryText(data) : "");
  }

  /** What depends on the loaded day: replay, visits, exports. */
  function renderBody() {
    const body = panel.querySelector("#dh-body");
    if (!body) return;
    const active = document.activeElement;
    const focusedId = active && body.contains(active) ? active.id : null;
    const data = view.data;
    const trail = (data && data.trail) || [];
    const visits = (data && data.visits) || [];
    const first = trail.length ? trail[0][3] : 0;
    const last = trail.length ? trail[trail.length - 1][3] : 0;
    const step = last - first >= 120 ? 60 : 1;
    const exportQuery = `day=${encodeURIComponent(view.day)}`;
    if (!data) { body.innerHTML = ""; return; }
    body.innerHTML = `
      <div class="dh-player"${trail.length ? "" : " hidden"}>
        <button type="button" id="dh-play" aria-pressed="${view.playing ? "true" : "false"}">${escapeHtml(view.playing ? tr("pause") : tr("play"))}</button>
        <input type="range" id="dh-slider" min="${first}" max="${last}" step="${step}" value="${view.time ?? first}" aria-label="${escapeHtml(tr("slider"))}" aria-valuetext="${escapeHtml(hhmm(view.time ?? first))}">
        <output id="dh-time" for="dh-slider" aria-hidden="true">${escapeHtml(hhmm(view.time ?? first))}</output>
      </div>
      <h3 id="dh-visits-title">${escapeHtml(tr("visits", { n: visits.length }))}</h3>
      ${visits.length ? `<table class="dh-visits" aria-labelledby="dh-visits-title"><thead><tr>
        <th scope="col">${escapeHtml(tr("patient"))}</th><th scope="col" class="t">${escapeHtml(tr("planned"))}</th>
        <th scope="col" class="t" title="${escapeHtml(tr("arrivalTitle"))}">${escapeHtml(tr("arrival"))}</th>
        <th scope="col" class="t" title="${escapeHtml(tr("checkInTitle"))}">${escapeHtml(tr("checkIn"))}</th>
        <th scope="col" class="t" title="${escapeHtml(tr("checkOutTitle"))}">${escapeHtml(tr("checkOut"))}</th></tr></thead><tbody>
        ${visits.map((v) => visitRow(v, trail.length > 0)).join("")}</tbody></table>` : `<p>${escapeHtml(tr("noVisit"))}</p>`}
      <div class="dh-actions">
        <a class="dh-button" id="dh-gpx" href="/api/teams/${view.teamId}/day.gpx?${exportQuery}" download>${escapeHtml(tr("exportGpx"))}</a>
        <a class="dh-button" id="dh-geojson" href="/api/teams/${view.teamId}/day.geojson?${exportQuery}" download>${escapeHtml(tr("exportGeojson"))}</a>
      </div>
      <p class="dh-help">${escapeHtml(tr("exportHelp"))}</p>`;
    const slider = body.querySelector("#dh-slider");
    slider.addEventListener("input", () => { stop(); seek(Number(slider.value)); });
    body.querySelector("#dh-play").addEventListener("click", () => (view.playing ? stop() : play()));
    for (const button of body.querySelectorAll(".dh-visits button[data-time]")) {
      button.addEventListener("click", () => {
        stop();
        seek(Number(button.dataset.time));
        const v = view.data.visits.find((x) => x.visit_id === Number(button.dataset.visitId));
        // Only a visit out of sight moves the map: the coordinator keeps the day's picture.
        if (v && v.lon != null && map && !map.getBounds().contains([v.lon, v.lat])) map.easeTo({ center: [v.lon, v.lat] });
      });
    }
    if (view.time != null) markRows(view.time);
    const again = focusedId && body.querySelector(`#${focusedId}`);
    if (again) again.focus();
  }

  function summaryText(data) {
    const trail = data.trail || [];
    if (!trail.length) return tr("noFix");
    const km = formatDistance(data.distance_m);
    return `${tr("summary", { km, n: trail.length })} · ${tr("span", { from: hhmm(trail[0][3]), to: hhmm(trail[trail.length - 1][3]) })}`;
  }

  function visitRow(v, canSeek) {
    const when = v.check_in_s ?? v.arrival_s ?? v.missed_s;
    const status = v.status === "missed" && v.missed_s != null ? tr("missedAt", { time: hhmm(v.missed_s) }) : ctx.t(`status.${v.status}`);
    const name = escapeHtml(v.pseudonym);
    const who = canSeek && when != null
      ? `<button type="button" data-time="${when}" data-visit-id="${v.visit_id}" aria-label="${escapeHtml(tr("goTo", { time: hhmm(when), name: v.pseudonym }))}">${name}</button>`
      : `<b>${name}</b>`;
    return `<tr data-visit-id="${v.visit_id}"><td>${who}<span class="st ${escapeHtml(v.status)}">${escapeHtml(status)}</span></td>`
      + `${timeCell(v.planned_arrival_s)}${timeCell(v.arrival_s)}${timeCell(v.check_in_s)}${timeCell(v.check_out_s)}</tr>`;
  }

  // ------------------------------------------------------------------------------ replay
  /** Where the team was at ``s`` (seconds of the day): between the two drawn fixes around it. */
  function positionAt(trail, s) {
    if (!trail.length) return null;
    if (s <= trail[0][3]) return [trail[0][0], trail[0][1], 0];
    let lo = 0;
    let hi = trail.length - 1;
    if (s >= trail[hi][3]) return [trail[hi][0], trail[hi][1], hi];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (trail[mid][3] <= s) lo = mid; else hi = mid;
    }
    const a = trail[lo];
    const b = trail[hi];
    const f = b[3] === a[3] ? 0 : (s - a[3]) / (b[3] - a[3]);
    return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), lo];
  }

  function seek(s) {
    view.time = s;
    const slider = panel.querySelector("#dh-slider");
    const text = hhmm(s);
    if (slider) {
      if (Number(slider.value) !== s) slider.value = String(s);
      slider.setAttribute("aria-valuetext", text);
    }
    const out = panel.querySelector("#dh-time");
    if (out) out.textContent = text;
    markRows(s);
    draw(false);
  }

  /** The visit under way at ``s`` stands out in the list. */
  function markRows(s) {
    for (const row of panel.querySelectorAll(".dh-visits tbody tr")) {
      const v = view.data && view.data.visits.find((x) => x.visit_id === Number(row.dataset.visitId));
      const from = v ? v.check_in_s ?? v.arrival_s : null;
      const to = v ? v.check_out_s ?? v.missed_s : null;
      const now = from != null && s >= from && (to == null ? s - from < 3600 : s <= to);
      row.classList.toggle("dh-now", now);
      if (now) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
    }
  }

  function play() {
    const trail = (view.data && view.data.trail) || [];
    if (trail.length < 2) return;
    const first = trail[0][3];
    const last = trail[trail.length - 1][3];
    if (view.time == null || view.time >= last) seek(first);
    const stepS = Math.max(60, Math.round((last - first) / PLAY_TICKS / 60) * 60);
    view.playing = setInterval(() => {
      const next = Math.min(last, (view.time ?? first) + stepS);
      seek(next);
      if (next >= last) stop();
    }, PLAY_TICK_MS);
    setPlayButton();
  }

  function stop() {
    if (view.playing) clearInterval(view.playing);
    view.playing = null;
    setPlayButton();
  }

  function setPlayButton() {
    const button = panel.querySelector("#dh-play");
    if (!button) return;
    button.textContent = view.playing ? tr("pause") : tr("play");
    button.setAttribute("aria-pressed", view.playing ? "true" : "false");
  }

  // ------------------------------------------------------------------------------ map layers
  function ensureLayers() {
    if (!map || map.getSource(SOURCE)) return;
    map.addSource(SOURCE, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addSource(VISITS, { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: LAYER_ALL, type: "line", source: SOURCE, filter: ["==", ["get", "part"], "all"], layout: { "line-join": "round", "line-cap": "round" }, paint: { "line-color": ["get", "color"], "line-width": 4, "line-opacity": 0.35 } });
    map.addLayer({ id: LAYER_DONE, type: "line", source: SOURCE, filter: ["==", ["get", "part"], "done"], layout: { "line-join": "round", "line-cap": "round" }, paint: { "line-color": ["get", "color"], "line-width": 5, "line-opacity": 0.95 } });
    map.addLayer({
      id: VISITS, type: "circle", source: VISITS,
      paint: {
        "circle-radius": 8, "circle-stroke-width": 3, "circle-stroke-color": ["get", "color"],
        "circle-color": ["match", ["get", "status"], "done", "#2e8b57", "in_progress", "#f0b429", "arrived", "#f0b429", "missed", "#c0392b", "#ffffff"],
      },
    });
  }

  function removeLayers() {
    if (view.marker) { view.marker.remove(); view.marker = null; }
    if (!map) return;
    for (const id of [VISITS, LAYER_DONE, LAYER_ALL]) if (map.getLayer(id)) map.removeLayer(id);
    for (const id of [VISITS, SOURCE]) if (map.getSource(id)) map.removeSource(id);
  }

  function draw(fit) {
    if (!map || !view.data) return;
    ensureLayers();
    const trail = view.data.trail || [];
    const color = teamColor(view.teamId);
    const s = view.time ?? (trail.length ? trail[0][3] : 0);
    const here = positionAt(trail, s);
    const features = [];
    if (trail.length > 1) {
      features.push({ type: "Feature", properties: { part: "all", color }, geometry: { type: "LineString", coordinates: trail.map((p) => [p[0], p[1]]) } });
      const done = trail.slice(0, here[2] + 1).map((p) => [p[0], p[1]]);
      done.push([here[0], here[1]]);
      if (done.length > 1) features.push({ type: "Feature", properties: { part: "done", color }, geometry: { type: "LineString", coordinates: done } });
    }
    map.getSource(SOURCE).setData({ type: "FeatureCollection", features });
    map.getSource(VISITS).setData({
      type: "FeatureCollection",
      features: (view.data.visits || []).filter((v) => v.lon != null).map((v) => ({ type: "Feature", properties: { id: v.visit_id, status: v.status, color }, geometry: { type: "Point", coordinates: [v.lon, v.lat] } })),
    });
    if (here) {
      if (!view.marker) {
        const el = document.createElement("div");
        el.className = "dh-marker";
        el.setAttribute("role", "img");
        view.marker = new maplibregl.Marker({ element: el }).setLngLat([here[0], here[1]]).addTo(map);
      }
      const el = view.marker.getElement();
      el.style.background = color;
      el.setAttribute("aria-label", tr("at", { time: hhmm(s) }));
      el.title = tr("at", { time: hhmm(s) });
      el.dataset.time = String(s);
      view.marker.setLngLat([here[0], here[1]]);
    } else if (view.marker) {
      view.marker.remove();
      view.marker = null;
    }
    if (fit) fitDay(trail, view.data.visits || []);
  }

  function fitDay(trail, visits) {
    const points = trail.map((p) => [p[0], p[1]]).concat(visits.filter((v) => v.lon != null).map((v) => [v.lon, v.lat]));
    if (!points.length) return;
    let [w, s, e, n] = [points[0][0], points[0][1], points[0][0], points[0][1]];
    for (const [x, y] of points) { w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y); }
    // The trail goes beside the panel on a wide map, above it on a narrow one.
    const box = map.getContainer().getBoundingClientRect();
    const own = panel.getBoundingClientRect();
    const padding = box.width > own.width + 230
      ? { top: 40, bottom: 40, right: 40, left: own.width + 30 }
      : { top: 30, left: 30, right: 30, bottom: Math.max(30, Math.min(own.height + 20, box.height - 140)) };
    map.fitBounds([[w, s], [e, n]], { padding, maxZoom: 15, duration: 0 });
  }

  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || panel.hidden || !panel.contains(document.activeElement)) return;
    // In the day field or the team select, Escape closes their own calendar or list first.
    if (e.target.matches && e.target.matches("input[type=date], select")) return;
    e.preventDefault();
    close();
  });
  onChange(() => {
    renderOpener();
    if (panel.hidden) return;
    render();
    if (view.marker) draw(false);
  });
  // Today's day grows with the team's drawn positions as they arrive (no new read of the day,
  // so no audit line per position); a replay standing at the newest point follows it.
  ctx.on("live", (batch) => {
    if (panel.hidden || !view.data || view.data.day !== today()) return;
    const mine = (batch.positions || []).filter((p) => p.team_id === view.teamId && p.display !== false && p.lon != null && p.fix_at != null);
    if (mine.length) extendTrail(mine);
  });

  function extendTrail(positions) {
    const data = view.data;
    const trail = data.trail;
    const wasEmpty = !trail.length;
    const last = trail.length ? trail[trail.length - 1] : null;
    const following = !last || view.time == null || view.time >= last[3];
    let added = 0;
    for (const p of positions.sort((a, b) => a.fix_at - b.fix_at)) {
      const tail = trail[trail.length - 1];
      if (p.fix_at >= data.end_s || p.fix_at < data.start_s || (tail && p.fix_at <= tail[2])) continue;
      if (tail) data.distance_m += distanceM(tail[0], tail[1], p.lon, p.lat);
      trail.push([p.lon, p.lat, p.fix_at, Math.round(p.fix_at - data.start_s)]);
      added += 1;
    }
    if (!added) return;
    setSummary(summaryText(data));
    const slider = panel.querySelector("#dh-slider");
    if (wasEmpty || !slider) { view.time = trail[trail.length - 1][3]; renderBody(); draw(false); return; }
    slider.max = String(trail[trail.length - 1][3]);
    if (following) seek(trail[trail.length - 1][3]); else draw(false);
  }

  ctx.on("snapshot", () => { if (!panel.hidden && view.data) { const sel = panel.querySelector("#dh-team"); if (sel && sel.options.length !== state.teams.size) render(); } });
  renderOpener();
}
