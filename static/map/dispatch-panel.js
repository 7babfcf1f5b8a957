// Coordinator panel of the optimiser: optimise the day (progress, comparison, apply), manual
// moves with immediate feasibility feedback, appointment slots and urgent insertion.
//
// Loaded by map.js as an extension: init(ctx) with ctx = {map, state, api, t, container, on, refresh}.
// REST: /api/dispatch/* (dispatch/web/api_dispatch.py). Progress is polled from the job (the
// server also pushes "dispatch:progress" on the coordinators' room for pages that forward it).
import { getLocale, hhmm, onChange } from "./i18n.js";
import { escapeHtml } from "./common.js";

const TEXT = {
  fr: {
    title: "Optimisation de la journée",
    day: "Jour",
    budget: "Durée de calcul",
    optimise: "Optimiser la journée",
    running: "Calcul en cours… {elapsed} s / {budget} s",
    building: "Préparation (temps de trajet réels)…",
    failed: "Échec : {error}",
    current: "Actuel",
    proposed: "Proposé",
    km: "Distance (km)",
    travel: "Temps de route",
    late: "Visites en retard",
    served: "Visites planifiées",
    unassigned: "Non affectées",
    apply: "Appliquer ce plan",
    discard: "Ignorer",
    applied: "Plan appliqué : équipes prévenues.",
    saved: "Plan proposé enregistré (brouillon n° {id}).",
    reasons: "Visites non affectées",
    move: "Déplacer une visite",
    visit: "Visite",
    team: "Équipe",
    position: "Position (0 = première, vide = la meilleure)",
    check: "Vérifier",
    feasible: "Faisable.",
    infeasible: "Non faisable :",
    slots: "Proposer des créneaux",
    pick: "Cliquez sur la carte pour placer la visite",
    duration: "Durée (min)",
    skills: "Compétences (séparées par des virgules)",
    find: "Chercher",
    noslot: "Aucun créneau : {reason}",
    slot: "{team} : {start}–{latest} (+{extra} min de route)",
    urgent: "Insérer une visite urgente",
    visitId: "N° de visite",
    insert: "Insérer",
    inserted: "Visite insérée chez {team}.",
    notInserted: "Non insérée : {reason}",
    min: "{n} min",
  },
  en: {
    title: "Day optimisation",
    day: "Day",
    budget: "Computation time",
    optimise: "Optimise the day",
    running: "Computing… {elapsed} s / {budget} s",
    building: "Preparing (real travel times)…",
    failed: "Failed: {error}",
    current: "Current",
    proposed: "Proposed",
    km: "Distance (km)",
    travel: "Travel time",
    late: "Late visits",
    served: "Visits planned",
    unassigned: "Unassigned",
    apply: "Apply this plan",
    discard: "Discard",
    applied: "Plan applied: teams notified.",
    saved: "Proposed plan saved (draft no. {id}).",
    reasons: "Unassigned visits",
    move: "Move a visit",
    visit: "Visit",
    team: "Team",
    position: "Position (0 = first, empty = best)",
    check: "Check",
    feasible: "Feasible.",
    infeasible: "Not feasible:",
    slots: "Propose appointment slots",
    pick: "Click the map to place the visit",
    duration: "Duration (min)",
    skills: "Skills (comma separated)",
    find: "Search",
    noslot: "No slot: {reason}",
    slot: "{team}: {start}–{latest} (+{extra} min of driving)",
    urgent: "Insert an urgent visit",
    visitId: "Visit no.",
    insert: "Insert",
    inserted: "Visit inserted for {team}.",
    notInserted: "Not inserted: {reason}",
    min: "{n} min",
  },
};

function tr(key, vars = {}) {
  const dict = TEXT[getLocale()] || TEXT.fr;
  const text = dict[key] || TEXT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const PROPOSAL_SOURCE = "dispatch-proposal";

export async function init(ctx) {
  const { map, api, container } = ctx;
  const root = document.createElement("section");
  root.className = "dispatch-panel";
  container.appendChild(root);
  let day = new Date().toISOString().slice(0, 10);
  let proposal = null;
  let picked = null;
  let picking = false;

  ctx.on("snapshot", (snap) => { if (snap && snap.day) { day = snap.day; const input = root.querySelector("#dp-day"); if (input && !input.dataset.touched) input.value = day; } });

  function render() {
    root.innerHTML = `
      <h2>${tr("title")}</h2>
      <label>${tr("day")} <input id="dp-day" type="date" value="${escapeHtml(day)}"></label>
      <label>${tr("budget")} <select id="dp-budget"><option value="3">3 s</option><option value="10" selected>10 s</option><option value="60">60 s</option></select></label>
      <button id="dp-run" type="button">${tr("optimise")}</button>
      <progress id="dp-progress" max="100" value="0" hidden></progress>
      <p id="dp-status" role="status"></p>
      <div id="dp-result"></div>
      <details><summary>${tr("move")}</summary>
        <label>${tr("visit")} <input id="dp-move-visit" type="number" min="1"></label>
        <label>${tr("team")} <input id="dp-move-team" type="number" min="1"></label>
        <label>${tr("position")} <input id="dp-move-pos" type="number" min="0"></label>
        <button id="dp-move-check" type="button">${tr("check")}</button>
        <button id="dp-move-apply" type="button">${tr("apply")}</button>
        <div id="dp-move-out" role="status"></div>
      </details>
      <details><summary>${tr("slots")}</summary>
        <p>${tr("pick")}: <span id="dp-slot-where">–</span></p>
        <label>${tr("duration")} <input id="dp-slot-dur" type="number" min="5" value="30"></label>
        <label>${tr("skills")} <input id="dp-slot-skills" type="text"></label>
        <button id="dp-slot-find" type="button">${tr("find")}</button>
        <ol id="dp-slot-out"></ol>
      </details>
      <details><summary>${tr("urgent")}</summary>
        <label>${tr("visitId")} <input id="dp-urg-visit" type="number" min="1"></label>
        <button id="dp-urg-insert" type="button">${tr("insert")}</button>
        <p id="dp-urg-out" role="status"></p>
      </details>`;
    const dayInput = root.querySelector("#dp-day");
    dayInput.addEventListener("change", () => { day = dayInput.value; dayInput.dataset.touched = "1"; });
    root.querySelector("#dp-run").addEventListener("click", run);
    root.querySelector("#dp-move-check").addEventListener("click", () => move(false));
    root.querySelector("#dp-move-apply").addEventListener("click", () => move(true));
    root.querySelector("#dp-slot-find").addEventListener("click", findSlots);
    root.querySelector("#dp-urg-insert").addEventListener("click", insertUrgent);
    root.querySelector("details:nth-of-type(2)").addEventListener("toggle", (e) => { picking = e.target.open; });
    if (proposal) showResult(proposal);
  }

  function status(text, cls = "") {
    const el = root.querySelector("#dp-status");
    el.textContent = text;
    el.className = cls;
  }

  function errorText(err) { return (err && err.message) || String(err); }

  async function run() {
    const budget = Number(root.querySelector("#dp-budget").value);
    const bar = root.querySelector("#dp-progress");
    root.querySelector("#dp-run").disabled = true;
    root.querySelector("#dp-result").innerHTML = "";
    clearProposal();
    bar.hidden = false;
    bar.value = 0;
    status(tr("building"));
    try {
      const started = await api("/api/dispatch/optimise", { method: "POST", body: { day, time_limit_s: budget } });
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const job = await api(`/api/dispatch/jobs/${started.job_id}`);
        if (job.progress) {
          bar.value = Math.min(100, (100 * job.progress.elapsed_s) / budget);
          status(tr("running", { elapsed: job.progress.elapsed_s.toFixed(1), budget }));
        }
        if (job.state === "failed") { status(tr("failed", { error: job.error ? job.error.error : "?" }), "error"); break; }
        if (job.state === "done") { bar.value = 100; proposal = job; showResult(job); break; }
      }
    } catch (err) {
      status(tr("failed", { error: errorText(err) }), "error");
    } finally {
      root.querySelector("#dp-run").disabled = false;
      bar.hidden = true;
    }
  }

  function showResult(job) {
    const c = job.comparison;
    const row = (label, key, fmt = (v) => v) => `<tr><th>${label}</th><td>${fmt(c.current[key])}</td><td>${fmt(c.proposed[key])}</td></tr>`;
    const minutes = (s) => tr("min", { n: Math.round(s / 60) });
    const reasons = (job.plan.unassigned || []).map((u) => `<li><b>${escapeHtml(u.label)}</b> : ${escapeHtml(u.message)}</li>`).join("");
    root.querySelector("#dp-result").innerHTML = `
      <table class="dp-compare"><thead><tr><th></th><th>${tr("current")}</th><th>${tr("proposed")}</th></tr></thead><tbody>
        ${row(tr("km"), "distance_km")}${row(tr("travel"), "travel_time_s", minutes)}${row(tr("late"), "late_visits")}
        ${row(tr("served"), "visits_served")}${row(tr("unassigned"), "visits_unassigned")}
      </tbody></table>
      ${reasons ? `<h3>${tr("reasons")}</h3><ul class="dp-reasons">${reasons}</ul>` : ""}
      ${job.applied ? `<p>${tr("applied")}</p>` : `<p>${tr("saved", { id: job.plan_id })}</p>
      <button id="dp-apply" type="button">${tr("apply")}</button> <button id="dp-discard" type="button">${tr("discard")}</button>`}`;
    drawProposal(job.plan);
    const applyBtn = root.querySelector("#dp-apply");
    if (applyBtn) {
      applyBtn.addEventListener("click", async () => {
        try {
          await api(`/api/dispatch/plans/${job.plan_id}/apply`, { method: "POST", body: {} });
          job.applied = true;
          showResult(job);
          clearProposal();
          ctx.refresh();
        } catch (err) { status(tr("failed", { error: errorText(err) }), "error"); }
      });
      root.querySelector("#dp-discard").addEventListener("click", () => { proposal = null; clearProposal(); root.querySelector("#dp-result").innerHTML = ""; });
    }
  }

  function drawProposal(plan) {
    if (!map) return;
    const features = (plan.routes || []).filter((r) => r.geometry).map((r) => ({ type: "Feature", id: Number(r.team_id), properties: { team_id: r.team_id }, geometry: r.geometry }));
    const data = { type: "FeatureCollection", features };
    if (map.getSource(PROPOSAL_SOURCE)) { map.getSource(PROPOSAL_SOURCE).setData(data); return; }
    map.addSource(PROPOSAL_SOURCE, { type: "geojson", data });
    map.addLayer({ id: PROPOSAL_SOURCE, type: "line", source: PROPOSAL_SOURCE, paint: { "line-color": "#444", "line-width": 3, "line-dasharray": [2, 2], "line-opacity": 0.8 } });
  }

  function clearProposal() {
    if (map && map.getSource(PROPOSAL_SOURCE)) map.getSource(PROPOSAL_SOURCE).setData({ type: "FeatureCollection", features: [] });
  }

  async function move(apply) {
    const out = root.querySelector("#dp-move-out");
    const pos = root.querySelector("#dp-move-pos").value;
    const body = { day, visit_id: Number(root.querySelector("#dp-move-visit").value), team_id: Number(root.querySelector("#dp-move-team").value), position: pos === "" ? null : Number(pos), apply };
    try {
      const res = await api("/api/dispatch/move", { method: "POST", body });
      const violations = res.violations || [];
      out.innerHTML = violations.length ? `<p class="error">${tr("infeasible")}</p><ul>${violations.map((v) => `<li>${escapeHtml(v)}</li>`).join("")}</ul>` : `<p>${apply ? tr("applied") : tr("feasible")}</p>`;
      if (res.plan) drawProposal(res.plan);
      if (apply) ctx.refresh();
    } catch (err) {
      out.innerHTML = `<p class="error">${escapeHtml(errorText(err))}</p>`;
    }
  }

  if (map) {
    map.on("click", (e) => {
      if (!picking) return;
      picked = [e.lngLat.lng, e.lngLat.lat];
      root.querySelector("#dp-slot-where").textContent = `${picked[0].toFixed(5)}, ${picked[1].toFixed(5)}`;
    });
  }

  async function findSlots() {
    const out = root.querySelector("#dp-slot-out");
    if (!picked) { out.innerHTML = `<li class="error">${tr("pick")}</li>`; return; }
    const skills = root.querySelector("#dp-slot-skills").value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    const body = { day, lon: picked[0], lat: picked[1], duration_s: Math.round(Number(root.querySelector("#dp-slot-dur").value) * 60), skills, n: 5 };
    try {
      const res = await api("/api/dispatch/slots", { method: "POST", body });
      out.innerHTML = res.slots.length
        ? res.slots.map((s) => `<li>${escapeHtml(tr("slot", { team: s.team_name, start: hhmm(s.start_s), latest: hhmm(s.latest_start_s), extra: Math.round(s.extra_travel_time_s / 60) }))}</li>`).join("")
        : `<li>${escapeHtml(tr("noslot", { reason: res.reason ? res.reason.message : "" }))}</li>`;
    } catch (err) {
      out.innerHTML = `<li class="error">${escapeHtml(errorText(err))}</li>`;
    }
  }

  async function insertUrgent() {
    const out = root.querySelector("#dp-urg-out");
    const id = Number(root.querySelector("#dp-urg-visit").value);
    try {
      const res = await api("/api/dispatch/insert", { method: "POST", body: { day, visit_id: id, urgent: true } });
      const moved = res.diff.moved[String(id)];
      if (moved && moved[1]) {
        const route = res.plan.routes.find((r) => r.team_id === moved[1]);
        out.textContent = tr("inserted", { team: route ? route.team_name : moved[1] });
      } else {
        const reason = (res.plan.unassigned || []).find((u) => u.visit_id === String(id));
        out.textContent = tr("notInserted", { reason: reason ? reason.message : "?" });
      }
      drawProposal(res.plan);
      if (res.applied) ctx.refresh();
    } catch (err) {
      out.textContent = errorText(err);
    }
  }

  onChange(render);
  render();
}
