// Coordinator panel of the rounds: move a visit, insert an urgent visit, optimise the day, all
// with clicks (no id typed) and a confirmation whenever an action breaks or removes something.
//
// Loaded by map.js as an extension: init(ctx), see map.js for ctx. REST: /api/dispatch/* and
// POST /api/visits (contract: /work/notes/contract.md).
//
// A day's plan belongs to one structure. A coordinator of several chooses the structure
// planned (GET /api/structures); its id goes with every request (structure_id), a move taking
// the visit's own structure. /map/?day=DAY&team=TEAM_ID (the week screen's cells) opens that
// team's round of that day (GET /api/teams/<id>/round?day=), drawn on the map, with the day
// ready to optimise. The map is never reloaded after an
// action: the server publishes the change and the socket's "live" batch redraws the rounds; the
// snapshot is fetched only when the socket is down.
import { getLocale, hhmm, onChange } from "./i18n.js";
import { escapeHtml } from "./common.js";

/** A number written as the page's language writes it (a decimal comma in French). */
function num(value, digits) {
  return Number(value).toLocaleString(getLocale() === "fr" ? "fr-FR" : "en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const TEXT = {
  fr: {
    // optimise
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
    apply: "Appliquer",
    applyPlan: "Appliquer ce plan",
    discard: "Ignorer",
    applied: "Plan appliqué : équipes prévenues, la carte se met à jour.",
    saved: "Plan proposé (brouillon n° {id}), pas encore appliqué.",
    reasons: "Visites non affectées",
    dropped: "Visites planifiées qui seraient retirées",
    droppedNone: "Aucune visite planifiée ne serait retirée.",
    reassigned: "Visites qui changeraient d'équipe ({n})",
    reassignedItem: "{name} : {from} → {to}",
    noTeam: "non affectée",
    "droppedTitle.one": "Retirer {n} visite planifiée ?",
    "droppedTitle.other": "Retirer {n} visites planifiées ?",
    droppedIntro: "Ce plan retire ces visites des tournées publiées. Les équipes concernées seront prévenues.",
    "droppedTick.one": "Je confirme le retrait de cette visite",
    "droppedTick.other": "Je confirme le retrait de ces {n} visites",
    droppedOk: "Appliquer et retirer",
    rerun: "Relancer l'optimisation",
    min: "{n} min",
    // move
    move: "Déplacer une visite",
    moveHelp: "Choisissez la visite : cliquez-la sur la carte ou dans la liste des visites, ou cherchez-la ici.",
    search: "Chercher une visite (pseudonyme ou commune)",
    noMatch: "Aucune visite ne correspond.",
    chosen: "Visite choisie : {name}",
    chosenNone: "Visite choisie : aucune",
    chosenDetail: "{team}, {arrival}",
    team: "Équipe",
    teamCurrent: "{name} (actuelle)",
    position: "Position dans la tournée",
    best: "meilleure place",
    first: "en premier",
    after: "après {time} {name}",
    check: "Vérifier",
    needVisit: "Choisissez d'abord une visite.",
    needTeam: "Choisissez une équipe.",
    feasible: "Faisable.",
    infeasible: "Ce déplacement enfreint des règles :",
    slot: "Arrivée prévue chez {team} : {time}",
    confirmMoveTitle: "Appliquer ce déplacement malgré tout ?",
    confirmMoveIntro: "Déplacer {name} vers {team} casse ceci :",
    applyAnyway: "Appliquer quand même",
    cancel: "Annuler",
    moved: "Déplacement appliqué : la carte se met à jour.",
    cancelled: "Rien n'a été modifié.",
    // urgent
    urgent: "Nouvelle visite urgente",
    pseudonym: "Pseudonyme",
    place: "Lieu",
    placeNone: "non choisi",
    placeAt: "lat. {lat}, long. {lon}",
    pickOn: "Choisir sur la carte",
    pickHelp: "Cliquez sur la carte à l'adresse du patient.",
    useCentre: "Prendre le centre de la carte",
    duration: "Durée (min)",
    from: "Créneau de",
    to: "à",
    skills: "Compétences requises",
    otherSkills: "Autres compétences (séparées par des virgules)",
    find: "Chercher les meilleures insertions",
    another: "Nouvelle visite",
    created: "Visite {name} créée (non affectée). Options :",
    needName: "Saisissez un pseudonyme.",
    needPlace: "Choisissez le lieu : cliquez sur la carte.",
    needDuration: "La durée doit être un nombre de minutes entre 1 et 720.",
    needWindow: "Le créneau doit finir après son début.",
    optionsFor: "Meilleures insertions pour {name}",
    searching: "Recherche des meilleures insertions…",
    option: "{team} : arrivée {time}, +{extra} min de route",
    optFeasible: "faisable",
    optInfeasible: "enfreint des règles",
    noOption: "Aucune insertion possible : {reason}",
    confirmInsertTitle: "Insérer {name} chez {team} ?",
    confirmInsertIntro: "Arrivée prévue {time}, +{extra} min de route. L'équipe sera prévenue.",
    confirmInsertBreaks: "Arrivée prévue {time}. Cette insertion casse ceci :",
    insert: "Insérer",
    insertAnyway: "Insérer quand même",
    inserted: "{name} insérée chez {team} : la carte se met à jour.",
    // teams and visits whose place cannot be routed (outside the territory, far from roads)
    unroutableTitle: "Hors de la planification ({n})",
    "teamsCount.one": "{n} équipe",
    "teamsCount.other": "{n} équipes",
    "visitsCount.one": "{n} visite",
    "visitsCount.other": "{n} visites",
    and: "{a} et {b}",
    unroutableSummary: "{what} hors de la planification : voir pourquoi ci-dessous.",
    lonlat: "{lon} ; {lat}",
    where: "{name} (longitude {w} à {e}, latitude {s} à {n})",
    "team.outside": "L'équipe {name} est hors de la planification : sa base ({place}) est hors de {where}. Corrigez-la dans la gestion.",
    "team.no_road": "L'équipe {name} est hors de la planification : sa base ({place}) est trop loin des routes de {territory}. Corrigez-la dans la gestion.",
    "visit.outside": "La visite {name} ne peut pas être planifiée : son domicile ({place}) est hors de {where}. Elle reste non affectée tant que son lieu n'est pas corrigé.",
    "visit.no_road": "La visite {name} ne peut pas être planifiée : son domicile ({place}) est trop loin des routes de {territory}. Elle reste non affectée tant que son lieu n'est pas corrigé.",
    fixTeam: "Ouvrir {name} dans la gestion",
    showVisit: "Sélectionner {name} sur la carte",
    // teams whose staff do not work that day, or with no base
    "team.off": "L'équipe {name} ne travaille pas le {day} d'après le planning de son personnel : elle reste hors de la planification ce jour-là.",
    offTeams: "Ne travaillent pas ce jour d'après le planning : {names}.",
    "team.absent": "L'équipe {name} est absente le {day} ({absence}) : elle reste hors de la planification ce jour-là.",
    "team.no_base": "L'équipe {name} n'a pas de point de départ : elle reste hors de la planification tant que sa base n'est pas donnée. Donnez-la dans la gestion.",
    "absence.leave": "congé",
    "absence.sickness": "arrêt maladie",
    "absence.training": "formation",
    openWeek: "Voir la semaine de l'équipe",
    // the structure planned, for a coordinator of several
    structure: "Structure planifiée",
    structureHelp: "Les tournées, déplacements, urgences et optimisations portent sur cette structure.",
    // a team's round of a day (/map/?day=…&team=…)
    roundTitle: "Tournée de {team} — {day}",
    roundLoading: "Chargement de la tournée…",
    roundFailed: "Tournée introuvable : {error}",
    roundNoPlan: "Pas encore de tournées publiées pour ce jour : optimisez la journée pour les calculer.",
    roundEmpty: "Aucune visite dans la tournée de {team} ce jour-là.",
    roundStops: "{n} visites, de {first} à {last}",
    roundStop: "{time} · {name}",
    roundOptimise: "Optimiser ce jour",
    roundClose: "Fermer la tournée",
    // a proposal made elsewhere (/map/?day=…&plan=…: a staff absence's replanning)
    draftLoaded: "Proposition n° {id} (par {by}) à examiner : appliquez-la ou écartez-la.",
    draftGone: "Le plan n° {id} n'est plus une proposition : la journée a été planifiée à nouveau depuis.",
    draftFailed: "Proposition introuvable : {error}",
    resultTitle: "Proposition n° {id}",
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
    apply: "Apply",
    applyPlan: "Apply this plan",
    discard: "Discard",
    applied: "Plan applied: teams notified, the map is updating.",
    saved: "Proposed plan (draft no. {id}), not applied yet.",
    reasons: "Unassigned visits",
    dropped: "Planned visits that would be removed",
    droppedNone: "No planned visit would be removed.",
    reassigned: "Visits that would change team ({n})",
    reassignedItem: "{name}: {from} → {to}",
    noTeam: "unassigned",
    "droppedTitle.one": "Remove {n} planned visit?",
    "droppedTitle.other": "Remove {n} planned visits?",
    droppedIntro: "This plan removes these visits from the published rounds. The teams concerned will be told.",
    "droppedTick.one": "I confirm removing this visit",
    "droppedTick.other": "I confirm removing these {n} visits",
    droppedOk: "Apply and remove",
    rerun: "Run the optimisation again",
    min: "{n} min",
    move: "Move a visit",
    moveHelp: "Choose the visit: click it on the map or in the list of visits, or search for it here.",
    search: "Search a visit (pseudonym or town)",
    noMatch: "No visit matches.",
    chosen: "Chosen visit: {name}",
    chosenNone: "Chosen visit: none",
    chosenDetail: "{team}, {arrival}",
    team: "Team",
    teamCurrent: "{name} (current)",
    position: "Place in the round",
    best: "best place",
    first: "first",
    after: "after {time} {name}",
    check: "Check",
    needVisit: "Choose a visit first.",
    needTeam: "Choose a team.",
    feasible: "Feasible.",
    infeasible: "This move breaks rules:",
    slot: "Planned arrival with {team}: {time}",
    confirmMoveTitle: "Apply this move anyway?",
    confirmMoveIntro: "Moving {name} to {team} breaks this:",
    applyAnyway: "Apply anyway",
    cancel: "Cancel",
    moved: "Move applied: the map is updating.",
    cancelled: "Nothing was changed.",
    urgent: "New urgent visit",
    pseudonym: "Pseudonym",
    place: "Place",
    placeNone: "not chosen",
    placeAt: "lat. {lat}, lon. {lon}",
    pickOn: "Pick on the map",
    pickHelp: "Click the map at the patient's address.",
    useCentre: "Use the map centre",
    duration: "Duration (min)",
    from: "Window from",
    to: "to",
    skills: "Skills needed",
    otherSkills: "Other skills (comma separated)",
    find: "Find the best insertions",
    another: "New visit",
    created: "Visit {name} created (unassigned). Options:",
    needName: "Type a pseudonym.",
    needPlace: "Choose the place: click the map.",
    needDuration: "The duration must be a number of minutes between 1 and 720.",
    needWindow: "The window must end after it starts.",
    optionsFor: "Best insertions for {name}",
    searching: "Looking for the best insertions…",
    option: "{team}: arrival {time}, +{extra} min of driving",
    optFeasible: "feasible",
    optInfeasible: "breaks rules",
    noOption: "No possible insertion: {reason}",
    confirmInsertTitle: "Insert {name} with {team}?",
    confirmInsertIntro: "Planned arrival {time}, +{extra} min of driving. The team will be told.",
    confirmInsertBreaks: "Planned arrival {time}. This insertion breaks this:",
    insert: "Insert",
    insertAnyway: "Insert anyway",
    inserted: "{name} inserted with {team}: the map is updating.",
    unroutableTitle: "Left out of planning ({n})",
    "teamsCount.one": "{n} team",
    "teamsCount.other": "{n} teams",
    "visitsCount.one": "{n} visit",
    "visitsCount.other": "{n} visits",
    and: "{a} and {b}",
    unroutableSummary: "{what} left out of planning: see why below.",
    lonlat: "{lon}, {lat}",
    where: "{name} (longitude {w} to {e}, latitude {s} to {n})",
    "team.outside": "Team {name} is left out of planning: its base ({place}) is outside {where}. Correct it in the management page.",
    "team.no_road": "Team {name} is left out of planning: its base ({place}) is too far from the roads of {territory}. Correct it in the management page.",
    "visit.outside": "Visit {name} cannot be planned: its home ({place}) is outside {where}. It stays unassigned until its place is corrected.",
    "visit.no_road": "Visit {name} cannot be planned: its home ({place}) is too far from the roads of {territory}. It stays unassigned until its place is corrected.",
    fixTeam: "Open {name} in the management page",
    showVisit: "Select {name} on the map",
    "team.off": "Team {name} does not work on {day} according to its staff's rota: it is left out of planning that day.",
    offTeams: "Not working that day according to the rota: {names}.",
    "team.absent": "Team {name} is absent on {day} ({absence}): it is left out of planning that day.",
    "team.no_base": "Team {name} has no base to start from: it is left out of planning until its base is given. Give it in the management page.",
    "absence.leave": "leave",
    "absence.sickness": "sick leave",
    "absence.training": "training",
    openWeek: "Open the team's week",
    structure: "Structure planned",
    structureHelp: "Rounds, moves, urgent visits and optimisations apply to this structure.",
    roundTitle: "{team}'s round — {day}",
    roundLoading: "Loading the round…",
    roundFailed: "Round not found: {error}",
    roundNoPlan: "No published rounds for this day yet: optimise the day to compute them.",
    roundEmpty: "No visit in {team}'s round that day.",
    roundStops: "{n} visits, from {first} to {last}",
    roundStop: "{time} · {name}",
    roundOptimise: "Optimise this day",
    roundClose: "Close the round",
    draftLoaded: "Proposal no. {id} (by {by}) to review: apply or discard it.",
    draftGone: "Plan {id} is no longer a proposal: the day was planned again since.",
    draftFailed: "Proposal not found: {error}",
    resultTitle: "Proposal no. {id}",
  },
};

function tr(key, vars = {}) {
  const dict = TEXT[getLocale()] || TEXT.fr;
  // Counted texts have ".one"/".other" forms, chosen by the language's plural rules.
  if (!(key in dict) && typeof vars.n === "number") key = `${key}.${new Intl.PluralRules(getLocale()).select(vars.n) === "one" ? "one" : "other"}`;
  const text = dict[key] || TEXT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const PROPOSAL_SOURCE = "dispatch-proposal";
const ROUND_SOURCE = "dispatch-round";
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** A day written out in the page's language: « lundi 4 janvier 2027 ». */
function longDay(day) {
  if (!DAY_RE.test(day || "")) return day || "";
  const date = new Date(`${day}T12:00:00`);
  return date.toLocaleDateString(getLocale() === "fr" ? "fr-FR" : "en-GB", { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}
/** Visit statuses of a round's stops that nothing can be put before. */
const STARTED = new Set(["arrived", "in_progress", "done", "missed"]);
const SEARCH_MAX = 8;

/** Replace an element's content only when it changed: a live batch must not close an open
 * select or take the focus from a button the coordinator is on. */
const shown = new WeakMap();
function setHtml(el, html) {
  if (shown.get(el) === html) return false;
  const focused = el.contains(document.activeElement) ? document.activeElement.dataset.visitId : null;
  el.innerHTML = html;
  shown.set(el, html);
  if (focused) { const again = el.querySelector(`[data-visit-id="${focused}"]`); if (again) again.focus(); }
  return true;
}

/** True when the keyboard focus is nowhere useful (the page, or a dialog just closed). */
function focusLost() {
  const el = document.activeElement;
  return !el || el === document.body || !!el.closest("dialog:not([open])") || el.disabled === true;
}

function errorText(err) { return (err && err.message) || String(err); }
function errorCode(err) { return err && err.body ? err.body.code : null; }
function minutes(seconds) { return Math.round((seconds || 0) / 60); }

export async function init(ctx) {
  const { map, api, container, state } = ctx;
  const root = document.createElement("div");
  root.className = "dispatch-panel";
  container.appendChild(root);
  // The visits' buttons of the unroutable lists, whichever tool shows them.
  root.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-unroutable-visit]");
    if (button) showUnroutableVisit(Number(button.dataset.unroutableVisit));
  });
  const dialog = document.createElement("dialog");
  dialog.id = "dp-confirm";
  dialog.className = "dp-confirm";
  dialog.setAttribute("aria-labelledby", "dp-confirm-title");
  dialog.setAttribute("aria-describedby", "dp-confirm-intro");
  document.body.appendChild(dialog);

  // The live day (the map's) for moves and insertions; the optimiser may plan another day.
  // (the server's day, not the device's: they differ around midnight or in another zone)
  let liveDay = (state.config && state.config.day) || new Date().toISOString().slice(0, 10);
  let day = liveDay;
  let dayTouched = false;
  // The structures the coordinator works for; with several, the one planned is chosen.
  let structures = [];
  try { structures = (await api("/api/structures")).items || []; } catch (err) { console.error(err); }
  let structureId = structures.length > 1 ? Number(structures[0].id) : null;
  // A team's round of a day asked in the address (/map/?day=DAY&team=TEAM_ID).
  const asked = new URLSearchParams(location.search);
  const roundView = {
    day: DAY_RE.test(asked.get("day") || "") ? asked.get("day") : null,
    teamId: /^[1-9]\d{0,15}$/.test(asked.get("team") || "") ? Number(asked.get("team")) : null,
    data: null,
    error: null,
  };
  if (roundView.day) { day = roundView.day; dayTouched = true; }
  const draftId = /^[1-9]\d{0,15}$/.test(asked.get("plan") || "") ? Number(asked.get("plan")) : null;
  let proposal = null; // the optimisation job shown
  const moveSel = { visitId: null, teamId: null, position: "", checked: null };
  const urgent = { place: null, marker: null, picking: false, visitId: null, name: null, isNew: true, options: [], unroutable: [], windowTouched: false };
  const open = { move: true, urgent: false, optimise: false };
  /** The structure a request is about: ``own`` (a visit's) or the one chosen, when the
   * coordinator works for several (with one, the server knows it). */
  const scoped = (extra, own = null) => {
    if (structures.length < 2) return extra;
    const sid = own ?? structureId;
    return sid == null ? extra : { ...extra, structure_id: Number(sid) };
  };
  const body = (extra, own = null) => scoped({ day: liveDay, locale: getLocale(), ...extra }, own);
  const structureOfVisit = (id) => { const v = state.visits.get(id); return v && v.structure_id != null ? Number(v.structure_id) : null; };
  /** The teams a visit may go to: those of its structure, one of the coordinator's. */
  const mine = new Set(structures.map((st) => Number(st.id)));
  const teamsFor = (visitId) => {
    const own = visitId == null ? structureId : (structureOfVisit(visitId) ?? structureId);
    const ours = (tm) => tm.structure_id == null || !mine.size
      || (mine.has(Number(tm.structure_id)) && (own == null || Number(tm.structure_id) === own));
    return [...state.teams.values()]
      .filter((tm) => tm.active !== false && ours(tm))
      .sort((a, b) => a.name.localeCompare(b.name));
  };

  ctx.on("snapshot", (snap) => {
    if (snap && snap.day) liveDay = snap.day;
    if (snap && snap.day && !dayTouched) { day = snap.day; const input = root.querySelector("#dp-day"); if (input) input.value = day; }
    if (!root.querySelector("#dp-urg-skillboxes input:checked")) renderSkills();
    if (!urgent.windowTouched && urgent.visitId == null) setDefaultWindow();
    refreshMoveChoices();
  });
  // A structure chosen at the top of the panel is the one planned.
  ctx.on("structure-filter", ({ structure_id: sid }) => {
    if (sid == null || structures.length < 2 || sid === structureId || !mine.has(Number(sid))) return;
    const select = root.querySelector("#dp-structure");
    if (select) { select.value = String(sid); select.dispatchEvent(new Event("change")); } else structureId = Number(sid);
  });
  ctx.on("live", (batch) => { if ((batch.plans && batch.plans.length) || (batch.visits && batch.visits.length)) refreshMoveChoices(); });
  ctx.on("select-visit", ({ visit_id: id, source }) => {
    if (id == null || id === moveSel.visitId) return;
    chooseVisit(id);
    if (source !== "panel" && source !== "insert") {
      const details = root.querySelector("#dp-move");
      details.open = true;
      details.scrollIntoView({ block: "nearest" });
    }
  });
  ctx.on("drop-visit", ({ visit_id: id, team_id: teamId, after_visit_id: after }) => {
    // A visit dragged onto a round: the same selects are filled in, then checked.
    if (moveSel.visitId !== id) chooseVisit(id);
    moveSel.teamId = Number(teamId);
    const stops = ((state.plans.get(moveSel.teamId) || {}).stops || []).filter((s) => s.visit_id != null && Number(s.visit_id) !== id);
    const index = after == null ? -1 : stops.findIndex((s) => Number(s.visit_id) === Number(after));
    moveSel.position = index >= 0 ? String(index + 1) : "";
    const details = root.querySelector("#dp-move");
    details.open = true;
    refreshMoveChoices();
    details.scrollIntoView({ block: "nearest" });
    move(false);
  });
  ctx.on("insert-visit", ({ visit_id: id }) => {
    const visit = state.visits.get(id);
    if (!visit) return;
    resetUrgent();
    urgent.visitId = id;
    urgent.name = visit.pseudonym;
    urgent.isNew = false;
    const details = root.querySelector("#dp-urgent");
    details.open = true;
    details.scrollIntoView({ block: "nearest" });
    findOptions();
  });

  // ------------------------------------------------------------------------------ rendering
  function render() {
    root.innerHTML = `${structureHtml()}${roundHtml()}
      <details id="dp-move" class="dp-tool"${open.move ? " open" : ""}>
        <summary><h2>${tr("move")}</h2></summary>
        <p class="dp-help" id="dp-move-help">${tr("moveHelp")}</p>
        <label for="dp-search">${tr("search")}</label>
        <input id="dp-search" type="search" autocomplete="off" aria-describedby="dp-move-help" aria-controls="dp-search-out">
        <ul id="dp-search-out" class="dp-choices"></ul>
        <p id="dp-move-visit" class="dp-chosen" aria-live="polite"></p>
        <label for="dp-move-team">${tr("team")}</label>
        <select id="dp-move-team"></select>
        <label for="dp-move-pos">${tr("position")}</label>
        <select id="dp-move-pos"></select>
        <div class="dp-actions">
          <button id="dp-move-check" type="button">${tr("check")}</button>
          <button id="dp-move-apply" type="button" class="primary">${tr("apply")}</button>
        </div>
        <div id="dp-move-out" class="dp-out" role="status"></div>
      </details>
      <details id="dp-urgent" class="dp-tool"${open.urgent ? " open" : ""}>
        <summary><h2>${tr("urgent")}</h2></summary>
        <form id="dp-urg-form" novalidate>
          <fieldset id="dp-urg-fields" class="dp-plain">
            <label for="dp-urg-name">${tr("pseudonym")}</label>
            <input id="dp-urg-name" maxlength="40" autocomplete="off" required>
            <div class="dp-place">
              <span id="dp-urg-place-label">${tr("place")}</span> :
              <output id="dp-urg-where" aria-labelledby="dp-urg-place-label dp-urg-where">${tr("placeNone")}</output>
              <div class="dp-actions">
                <button id="dp-urg-pick" type="button" aria-pressed="false" aria-describedby="dp-urg-pick-help">${tr("pickOn")}</button>
                <button id="dp-urg-centre" type="button">${tr("useCentre")}</button>
              </div>
              <p id="dp-urg-pick-help" class="dp-help">${tr("pickHelp")}</p>
            </div>
            <label for="dp-urg-dur">${tr("duration")}</label>
            <input id="dp-urg-dur" type="number" min="1" max="720" step="1" value="30" inputmode="numeric">
            <div class="dp-row">
              <div><label for="dp-urg-from">${tr("from")}</label><input id="dp-urg-from" type="time"></div>
              <div><label for="dp-urg-to">${tr("to")}</label><input id="dp-urg-to" type="time"></div>
            </div>
            <fieldset class="dp-skills"><legend>${tr("skills")}</legend>
              <div id="dp-urg-skillboxes"></div>
              <label for="dp-urg-skills">${tr("otherSkills")}</label>
              <input id="dp-urg-skills" type="text" autocomplete="off">
            </fieldset>
          </fieldset>
          <div class="dp-actions">
            <button id="dp-urg-find" type="submit" class="primary">${tr("find")}</button>
            <button id="dp-urg-reset" type="button" hidden>${tr("another")}</button>
          </div>
        </form>
        <p id="dp-urg-status" class="dp-out" role="status"></p>
        <h3 id="dp-urg-options-title" hidden></h3>
        <ul id="dp-urg-options" class="dp-options" aria-labelledby="dp-urg-options-title"></ul>
        <div id="dp-urg-unroutable"></div>
      </details>
      <details id="dp-optimise" class="dp-tool"${open.optimise ? " open" : ""}>
        <summary><h2>${tr("title")}</h2></summary>
        <div class="dp-row">
          <div><label for="dp-day">${tr("day")}</label><input id="dp-day" type="date" value="${escapeHtml(day)}"></div>
          <div><label for="dp-budget">${tr("budget")}</label>
            <select id="dp-budget"><option value="3">3 s</option><option value="10" selected>10 s</option><option value="60">60 s</option></select></div>
        </div>
        <div class="dp-actions"><button id="dp-run" type="button" class="primary">${tr("optimise")}</button></div>
        <progress id="dp-progress" max="100" value="0" hidden aria-label="${tr("optimise")}"></progress>
        <p id="dp-status" class="dp-out" role="status"></p>
        <div id="dp-result"></div>
      </details>`;
    for (const key of Object.keys(open)) {
      root.querySelector(`#dp-${key}`).addEventListener("toggle", (e) => { open[key] = e.target.open; });
    }
    root.querySelector("#dp-day").addEventListener("change", (e) => { day = e.target.value; dayTouched = true; });
    const structureSelect = root.querySelector("#dp-structure");
    if (structureSelect) {
      structureSelect.addEventListener("change", (e) => {
        structureId = Number(e.target.value);
        // The map shows the structure planned (its teams, visits and rounds).
        if (ctx.setStructureFilter) ctx.setStructureFilter(structureId);
        proposal = null;
        clearProposal();
        root.querySelector("#dp-result").innerHTML = "";
        status("");
        refreshMoveChoices();
      });
    }
    bindRound();
    root.querySelector("#dp-run").addEventListener("click", run);
    root.querySelector("#dp-search").addEventListener("input", renderSearch);
    root.querySelector("#dp-search").addEventListener("keydown", (e) => {
      // Enter takes the first match; the down arrow walks into the matches.
      const first = root.querySelector("#dp-search-out button[data-visit-id]");
      if (!first) return;
      if (e.key === "Enter") { e.preventDefault(); ctx.selectVisit(Number(first.dataset.visitId), { source: "panel" }); }
      if (e.key === "ArrowDown") { e.preventDefault(); first.focus(); }
    });
    root.querySelector("#dp-search-out").addEventListener("keydown", (e) => {
      const buttons = [...root.querySelectorAll("#dp-search-out button[data-visit-id]")];
      const i = buttons.indexOf(document.activeElement);
      if (i < 0 || (e.key !== "ArrowDown" && e.key !== "ArrowUp")) return;
      e.preventDefault();
      if (e.key === "ArrowUp" && i === 0) root.querySelector("#dp-search").focus();
      else (buttons[e.key === "ArrowDown" ? Math.min(i + 1, buttons.length - 1) : i - 1]).focus();
    });
    root.querySelector("#dp-search-out").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-visit-id]");
      if (button) ctx.selectVisit(Number(button.dataset.visitId), { source: "panel" });
    });
    root.querySelector("#dp-move-team").addEventListener("change", (e) => {
      moveSel.teamId = e.target.value ? Number(e.target.value) : null;
      moveSel.position = "";
      renderPositions();
    });
    root.querySelector("#dp-move-pos").addEventListener("change", (e) => { moveSel.position = e.target.value; });
    root.querySelector("#dp-move-check").addEventListener("click", () => move(false));
    root.querySelector("#dp-move-apply").addEventListener("click", () => move(true));
    root.querySelector("#dp-urg-form").addEventListener("submit", (e) => { e.preventDefault(); createUrgent(); });
    root.querySelector("#dp-urg-pick").addEventListener("click", () => setPicking(!urgent.picking));
    root.querySelector("#dp-urg-centre").addEventListener("click", () => { if (map) setPlace([map.getCenter().lng, map.getCenter().lat]); });
    for (const sel of ["#dp-urg-from", "#dp-urg-to"]) root.querySelector(sel).addEventListener("input", () => { urgent.windowTouched = true; });
    root.querySelector("#dp-urgent").addEventListener("toggle", (e) => { if (e.target.open && !urgent.windowTouched && urgent.visitId == null) setDefaultWindow(); });
    root.querySelector("#dp-urg-reset").addEventListener("click", () => { resetUrgent(); root.querySelector("#dp-urg-name").focus(); });
    root.querySelector("#dp-urg-options").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-index]");
      if (button) chooseOption(urgent.options[Number(button.dataset.index)]);
    });
    if (!urgent.windowTouched) setDefaultWindow();
    renderSkills();
    renderUrgentState();
    refreshMoveChoices();
    if (proposal) {
      showResult(proposal);
      if (unroutableSummary(proposal.unroutable)) status(unroutableSummary(proposal.unroutable), "warn");
    }
  }

  // ------------------------------------------------------------------------------ dialog
  /** A modal confirmation; resolves true when the coordinator confirms, false otherwise. */
  function confirmDialog({ title, intro, items = [], ok, tick = null }) {
    const opener = document.activeElement;
    dialog.innerHTML = `
      <h2 id="dp-confirm-title">${escapeHtml(title)}</h2>
      <p id="dp-confirm-intro">${escapeHtml(intro)}</p>
      ${items.length ? `<ul id="dp-confirm-list" class="dp-violations">${items.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>` : ""}
      ${tick ? `<label class="dp-tick"><input id="dp-confirm-tick" type="checkbox"> ${escapeHtml(tick)}</label>` : ""}
      <div class="dp-actions dp-dialog-actions">
        <button id="dp-confirm-cancel" type="button">${escapeHtml(tr("cancel"))}</button>
        <button id="dp-confirm-ok" type="button" class="danger"${tick ? " disabled" : ""}>${escapeHtml(ok)}</button>
      </div>`;
    const okButton = dialog.querySelector("#dp-confirm-ok");
    const box = dialog.querySelector("#dp-confirm-tick");
    if (box) box.addEventListener("change", () => { okButton.disabled = !box.checked; });
    return new Promise((resolve) => {
      let answer = false;
      const done = () => {
        dialog.removeEventListener("close", done);
        if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
        resolve(answer);
      };
      dialog.addEventListener("close", done);
      okButton.addEventListener("click", () => { answer = true; dialog.close(); });
      dialog.querySelector("#dp-confirm-cancel").addEventListener("click", () => dialog.close());
      dialog.showModal();
      (box || dialog.querySelector("#dp-confirm-cancel")).focus();
    });
  }

  // ------------------------------------------------------------------------------ move
  function visitLabel(id) {
    const v = state.visits.get(id);
    return v ? v.pseudonym || `#${id}` : `#${id}`;
  }

  function currentTeamOf(id) {
    const stop = state.stops.get(id);
    if (stop) return Number(stop.team_id);
    const v = state.visits.get(id);
    return v && v.team_id ? Number(v.team_id) : null;
  }

  function renderSearch() {
    const input = root.querySelector("#dp-search");
    const out = root.querySelector("#dp-search-out");
    const q = input.value.trim().toLocaleLowerCase();
    if (!q) { setHtml(out, ""); return; }
    const found = [...state.visits.values()]
      .filter((v) => `${v.pseudonym || ""} ${v.commune || ""}`.toLocaleLowerCase().includes(q))
      .slice(0, SEARCH_MAX);
    setHtml(out, found.length
      ? found.map((v) => {
        const team = currentTeamOf(v.id);
        return `<li><button type="button" data-visit-id="${v.id}" aria-pressed="${moveSel.visitId === v.id}">`
          + `<b>${escapeHtml(v.pseudonym)}</b> <span class="secondary">${escapeHtml(v.commune || "")} · ${escapeHtml(team ? ctx.teamName(team) : ctx.t("visits.unassigned"))}</span></button></li>`;
      }).join("")
      : `<li class="dp-help">${tr("noMatch")}</li>`);
  }

  function chooseVisit(id) {
    moveSel.visitId = id;
    moveSel.checked = null;
    const current = currentTeamOf(id);
    const teams = teamsFor(id);
    const other = teams.find((tm) => tm.id !== current);
    moveSel.teamId = other ? other.id : current;
    moveSel.position = "";
    root.querySelector("#dp-move-out").innerHTML = "";
    clearProposal();
    refreshMoveChoices();
  }

  function refreshMoveChoices() {
    const chosen = root.querySelector("#dp-move-visit");
    if (!chosen) return;
    const id = moveSel.visitId;
    if (id == null || !state.visits.has(id)) {
      setHtml(chosen, escapeHtml(tr("chosenNone")));
    } else {
      const team = currentTeamOf(id);
      const eta = ctx.arrivalOf(id);
      // A live region: written only when its text changes, so it is not re-announced per batch.
      setHtml(chosen, `${escapeHtml(tr("chosen", { name: visitLabel(id) }))}<br><span class="secondary">${escapeHtml(tr("chosenDetail", {
        team: team ? ctx.teamName(team) : ctx.t("visits.unassigned"),
        arrival: eta ? ctx.t("visits.arrival", { time: hhmm(eta.arrival_s) }) : ctx.t("visits.arrival.none"),
      }))}</span>`);
    }
    const select = root.querySelector("#dp-move-team");
    const current = id == null ? null : currentTeamOf(id);
    const teams = teamsFor(id);
    setHtml(select, teams.map((tm) => `<option value="${tm.id}">${escapeHtml(tm.id === current ? tr("teamCurrent", { name: tm.name }) : tm.name)}</option>`).join(""));
    if (moveSel.teamId != null && teams.some((tm) => tm.id === moveSel.teamId)) select.value = String(moveSel.teamId);
    else moveSel.teamId = teams.length ? Number(select.value) : null;
    renderPositions();
    if (root.querySelector("#dp-search").value) renderSearch();
  }

  function renderPositions() {
    const select = root.querySelector("#dp-move-pos");
    const plan = moveSel.teamId == null ? null : state.plans.get(moveSel.teamId);
    const stops = ((plan && plan.stops) || []).filter((s) => s.visit_id != null && Number(s.visit_id) !== moveSel.visitId);
    // Nothing goes before a visit already done or under way (the server counts them too).
    const started = stops.reduce((last, s, i) => (STARTED.has((state.visits.get(Number(s.visit_id)) || {}).status) ? i : last), -1);
    const options = [`<option value="">${escapeHtml(tr("best"))}</option>`];
    if (started < 0) options.push(`<option value="0">${escapeHtml(tr("first"))}</option>`);
    stops.forEach((s, i) => {
      if (i < started) return;
      const eta = ctx.arrivalOf(s.visit_id);
      const time = hhmm(eta ? eta.arrival_s : s.arrival_s);
      options.push(`<option value="${i + 1}">${escapeHtml(tr("after", { time, name: visitLabel(Number(s.visit_id)) }))}</option>`);
    });
    setHtml(select, options.join(""));
    select.value = [...select.options].some((o) => o.value === moveSel.position) ? moveSel.position : "";
    moveSel.position = select.value;
  }

  function moveKey() { return `${moveSel.visitId}|${moveSel.teamId}|${moveSel.position}`; }

  function showViolations(out, violations, lead) {
    out.innerHTML = `<p class="error">${escapeHtml(lead)}</p><ul class="dp-violations">${violations.map((v) => `<li>${escapeHtml(v)}</li>`).join("")}</ul>`;
  }

  async function move(apply) {
    const out = root.querySelector("#dp-move-out");
    if (moveSel.visitId == null) { out.innerHTML = `<p class="error">${escapeHtml(tr("needVisit"))}</p>`; root.querySelector("#dp-search").focus(); return; }
    if (moveSel.teamId == null) { out.innerHTML = `<p class="error">${escapeHtml(tr("needTeam"))}</p>`; return; }
    const key = moveKey();
    const request = body({
      visit_id: moveSel.visitId,
      team_id: moveSel.teamId,
      position: moveSel.position === "" ? null : Number(moveSel.position),
      apply,
      force: false,
    }, structureOfVisit(moveSel.visitId));
    const name = visitLabel(moveSel.visitId);
    const team = ctx.teamName(moveSel.teamId);
    const buttons = root.querySelectorAll("#dp-move-check, #dp-move-apply");
    const pressed = document.activeElement;
    buttons.forEach((b) => { b.disabled = true; });
    try {
      if (apply && moveSel.checked && moveSel.checked.key === key && moveSel.checked.violations.length) {
        // The check already said what this breaks: ask before sending anything.
        const yes = await confirmDialog({ title: tr("confirmMoveTitle"), intro: tr("confirmMoveIntro", { name, team }), items: moveSel.checked.violations, ok: tr("applyAnyway") });
        if (!yes) { out.innerHTML = `<p>${escapeHtml(tr("cancelled"))}</p>`; return; }
        request.force = true;
      }
      let res;
      try {
        res = await api("/api/dispatch/move", { method: "POST", body: request });
      } catch (err) {
        if (!(apply && err.status === 409 && errorCode(err) === "confirm_violations")) throw err;
        const violations = (err.body.details && err.body.details.violations) || [err.message];
        const yes = await confirmDialog({ title: tr("confirmMoveTitle"), intro: tr("confirmMoveIntro", { name, team }), items: violations, ok: tr("applyAnyway") });
        if (!yes) { out.innerHTML = `<p>${escapeHtml(tr("cancelled"))}</p>`; return; }
        res = await api("/api/dispatch/move", { method: "POST", body: { ...request, force: true } });
      }
      if (apply) {
        moveSel.checked = null;
        out.innerHTML = `<p class="ok">${escapeHtml(tr("moved"))}</p>${unroutableHtml(res.unroutable, "move")}`;
        clearProposal();
        afterChange();
        return;
      }
      const violations = res.violations || [];
      moveSel.checked = { key, violations };
      if (violations.length) showViolations(out, violations, tr("infeasible"));
      else out.innerHTML = `<p class="ok">${escapeHtml(tr("feasible"))}</p>`;
      if (res.slot && res.slot.arrival_s != null) {
        out.insertAdjacentHTML("beforeend", `<p>${escapeHtml(tr("slot", { team: ctx.teamName(Number(res.slot.team_id)), time: hhmm(res.slot.arrival_s) }))}</p>`);
      }
      out.insertAdjacentHTML("beforeend", unroutableHtml(res.unroutable, "move"));
      if (res.plan) {
        const concerned = new Set([String(moveSel.teamId), String(currentTeamOf(moveSel.visitId))]);
        drawProposal({ routes: (res.plan.routes || []).filter((r) => concerned.has(String(r.team_id))) });
      }
    } catch (err) {
      out.innerHTML = `<p class="error">${escapeHtml(errorText(err))}</p>`;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      // A disabled button loses the focus: give it back once the request is over.
      if (pressed && pressed.isConnected && focusLost()) pressed.focus();
    }
  }

  /** The socket brings the change; only without a socket is the snapshot read again. */
  function afterChange() {
    if (!state.connected) ctx.refresh().catch((err) => console.error(err));
  }

  // ------------------------------------------------------------------------------ urgent visit
  function setDefaultWindow() {
    // now .. now + 2 h on the rounds' clock, within the day.
    const now = Math.floor(ctx.nowS() / 60) * 60;
    root.querySelector("#dp-urg-from").value = hhmm(now);
    root.querySelector("#dp-urg-to").value = now + 7200 < 86400 ? hhmm(now + 7200) : "23:59";
  }

  function knownSkills() {
    const skills = new Set();
    for (const team of state.teams.values()) for (const s of team.skills || []) skills.add(s);
    return [...skills].sort();
  }

  function renderSkills() {
    const box = root.querySelector("#dp-urg-skillboxes");
    box.innerHTML = knownSkills().map((s, i) => `<label class="dp-inline"><input type="checkbox" id="dp-urg-skill-${i}" value="${escapeHtml(s)}"> ${escapeHtml(s)}</label>`).join("");
  }

  /** On a narrow screen the side panel is a drawer over the map: it steps aside while the
   * place is picked and comes back after. */
  function drawer(open) {
    const side = document.getElementById("side");
    const toggle = document.getElementById("panel-toggle");
    if (!side || !toggle || !window.matchMedia("(max-width: 800px)").matches) return;
    side.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  }

  function setPicking(on) {
    const was = urgent.picking;
    urgent.picking = on;
    const button = root.querySelector("#dp-urg-pick");
    button.setAttribute("aria-pressed", String(on));
    ctx.pickPlace(on ? (lonlat) => { setPlace(lonlat); setPicking(false); button.focus(); } : null);
    if (on !== was) drawer(!on);
  }

  function setPlace(lonlat) {
    urgent.place = lonlat;
    if (map) {
      if (!urgent.marker) {
        const el = document.createElement("div");
        el.className = "urgent-marker";
        el.setAttribute("role", "img");
        el.setAttribute("aria-label", tr("urgent"));
        urgent.marker = new maplibregl.Marker({ element: el, draggable: true, anchor: "bottom" });
        urgent.marker.on("dragend", () => { const p = urgent.marker.getLngLat(); urgent.place = [p.lng, p.lat]; renderUrgentState(); });
      }
      urgent.marker.setLngLat(lonlat).addTo(map);
    }
    renderUrgentState();
  }

  function renderUrgentState() {
    const where = root.querySelector("#dp-urg-where");
    if (!where) return;
    where.textContent = urgent.place ? tr("placeAt", { lat: num(urgent.place[1], 5), lon: num(urgent.place[0], 5) }) : tr("placeNone");
    const locked = urgent.visitId != null;
    root.querySelector("#dp-urg-fields").disabled = locked;
    root.querySelector("#dp-urg-find").hidden = locked;
    root.querySelector("#dp-urg-reset").hidden = !locked;
    const title = root.querySelector("#dp-urg-options-title");
    title.hidden = !locked;
    if (locked) title.textContent = tr("optionsFor", { name: urgent.name });
    renderOptions();
  }

  function resetUrgent() {
    if (urgent.picking) setPicking(false);
    if (urgent.marker) urgent.marker.remove();
    Object.assign(urgent, { place: null, marker: null, visitId: null, name: null, isNew: true, options: [], unroutable: [], windowTouched: false });
    const form = root.querySelector("#dp-urg-form");
    form.reset();
    setDefaultWindow();
    root.querySelector("#dp-urg-status").textContent = "";
    renderUrgentState();
  }

  function urgentStatus(text, cls = "") {
    const el = root.querySelector("#dp-urg-status");
    el.textContent = text;
    el.className = `dp-out ${cls}`;
  }

  async function createUrgent() {
    const nameInput = root.querySelector("#dp-urg-name");
    const durInput = root.querySelector("#dp-urg-dur");
    const from = root.querySelector("#dp-urg-from").value;
    const to = root.querySelector("#dp-urg-to").value;
    const name = nameInput.value.trim();
    const duration = Number(durInput.value);
    const fail = (text, el) => { urgentStatus(text, "error"); if (el) { el.setAttribute("aria-invalid", "true"); el.focus(); } };
    for (const el of root.querySelectorAll("#dp-urg-form [aria-invalid]")) el.removeAttribute("aria-invalid");
    if (!name) return fail(tr("needName"), nameInput);
    if (!urgent.place) return fail(tr("needPlace"), root.querySelector("#dp-urg-pick"));
    if (!Number.isFinite(duration) || duration < 1 || duration > 720) return fail(tr("needDuration"), durInput);
    if (!from || !to || to <= from) return fail(tr("needWindow"), root.querySelector("#dp-urg-to"));
    const skills = [
      ...[...root.querySelectorAll("#dp-urg-skillboxes input:checked")].map((b) => b.value),
      ...root.querySelector("#dp-urg-skills").value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean),
    ];
    if (urgent.picking) setPicking(false);
    const button = root.querySelector("#dp-urg-find");
    button.disabled = true;
    try {
      // POST /api/visits has its own strict field list: no `locale` there.
      const res = await api("/api/visits", {
        method: "POST",
        body: scoped({ day: liveDay, pseudonym: name, lon: urgent.place[0], lat: urgent.place[1], duration_s: Math.round(duration * 60), windows: [[from, to]], skills }),
      });
      const visit = res.visit || res;
      urgent.visitId = visit.id;
      urgent.name = visit.pseudonym || name;
      urgent.isNew = true;
      renderUrgentState();
      await findOptions();
    } catch (err) {
      urgentStatus(tr("failed", { error: errorText(err) }), "error");
    } finally {
      button.disabled = false;
    }
  }

  async function findOptions() {
    renderUrgentState();
    urgentStatus(tr("searching"));
    try {
      const res = await api("/api/dispatch/insert/options", { method: "POST", body: body({ visit_id: urgent.visitId, n: 3 }, structureOfVisit(urgent.visitId)) });
      urgent.options = res.options || [];
      urgent.unroutable = res.unroutable || [];
      urgentStatus(urgent.options.length ? "" : tr("noOption", { reason: res.reason ? res.reason.message : "?" }), urgent.options.length ? "" : "error");
      renderOptions();
      const first = root.querySelector("#dp-urg-options button");
      if (first && root.querySelector("#dp-urgent").contains(document.activeElement)) first.focus();
    } catch (err) {
      urgentStatus(tr("failed", { error: errorText(err) }), "error");
    }
  }

  function optionText(o) {
    return tr("option", { team: o.team_name || ctx.teamName(Number(o.team_id)), time: hhmm(o.arrival_s), extra: minutes(o.extra_travel_time_s) });
  }

  function renderOptions() {
    const list = root.querySelector("#dp-urg-options");
    if (!list) return;
    const left = root.querySelector("#dp-urg-unroutable");
    if (left) left.innerHTML = unroutableHtml(urgent.unroutable, "urgent");
    list.innerHTML = urgent.options.map((o, i) => {
      const violations = o.violations || [];
      const ok = o.feasible !== false && !violations.length;
      const id = `dp-opt-v-${i}`;
      return `<li class="${ok ? "feasible" : "infeasible"}"><button type="button" data-index="${i}"${violations.length ? ` aria-describedby="${id}"` : ""}>`
        + `<span>${escapeHtml(optionText(o))}</span> <span class="badge ${ok ? "ok" : "bad"}">${escapeHtml(ok ? tr("optFeasible") : tr("optInfeasible"))}</span></button>`
        + (violations.length ? `<ul id="${id}" class="dp-violations">${violations.map((v) => `<li>${escapeHtml(v)}</li>`).join("")}</ul>` : "")
        + "</li>";
    }).join("");
  }

  async function chooseOption(option) {
    if (!option) return;
    const team = option.team_name || ctx.teamName(Number(option.team_id));
    const violations = option.violations || [];
    const time = hhmm(option.arrival_s);
    const yes = await confirmDialog({
      title: tr("confirmInsertTitle", { name: urgent.name, team }),
      intro: violations.length ? tr("confirmInsertBreaks", { time }) : tr("confirmInsertIntro", { time, extra: minutes(option.extra_travel_time_s) }),
      items: violations,
      ok: violations.length ? tr("insertAnyway") : tr("insert"),
    });
    if (!yes) { urgentStatus(tr("cancelled")); return; }
    const request = body({ visit_id: urgent.visitId, team_id: Number(option.team_id), position: option.position ?? null, urgent: urgent.isNew }, structureOfVisit(urgent.visitId));
    if (violations.length) request.force = true;
    try {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await api("/api/dispatch/insert", { method: "POST", body: request });
          break;
        } catch (err) {
          const code = errorCode(err);
          if (attempt > 2 || err.status !== 409 || !["confirm_violations", "confirm_dropped"].includes(code)) throw err;
          const details = err.body.details || {};
          const again = code === "confirm_dropped"
            ? await confirmDropped(details.dropped || [])
            : await confirmDialog({
              title: tr("confirmInsertTitle", { name: urgent.name, team }),
              intro: tr("confirmInsertBreaks", { time }),
              items: details.violations || [err.message],
              ok: tr("insertAnyway"),
            });
          if (!again) { urgentStatus(tr("cancelled")); return; }
          if (code === "confirm_dropped") request.confirm_dropped = (details.dropped || []).map((d) => Number(d.visit_id));
          else request.force = true;
        }
      }
      const name = urgent.name;
      const visitId = urgent.visitId;
      resetUrgent();
      urgentStatus(tr("inserted", { name, team }), "ok");
      const said = root.querySelector("#dp-urg-status");
      said.tabIndex = -1;
      said.focus();
      ctx.selectVisit(visitId, { source: "panel" });
      afterChange();
    } catch (err) {
      urgentStatus(tr("failed", { error: errorText(err) }), "error");
    }
  }

  // ------------------------------------------------------------------------------ unroutable
  /** What the coordinator reads about a team or visit the rounds service left out because
   * its place cannot be routed: written here from the entry's fields, so that it follows the
   * page's language; the server's own reason when a field is missing. */
  function unroutableText(u) {
    const territory = state.config && state.config.territory;
    const key = `${u.kind}.${u.why}`;
    if (["off", "absent", "no_base"].includes(u.why)) {
      return tr(key, { name: u.name || `#${u.id}`, day: longDay(u.day || day), absence: u.absence ? tr(`absence.${u.absence}`) : "" });
    }
    if (!territory || !(key in TEXT.fr) || u.lon == null || u.lat == null) return u.reason || u.name;
    const [w, s, e, n] = territory.bbox || [];
    const where = territory.bbox ? tr("where", { name: territory.name, w: num(w, 3), e: num(e, 3), s: num(s, 3), n: num(n, 3) }) : territory.name;
    return tr(key, { name: u.name || `#${u.id}`, place: tr("lonlat", { lon: num(u.lon, 5), lat: num(u.lat, 5) }), where, territory: territory.name });
  }

  /** "1 équipe et 2 visites hors de la planification…", for the live region. */
  /** A team that does not work that day by its rota is not a problem to fix. */
  const offByRota = (u) => u.kind === "team" && u.why === "off";

  function unroutableSummary(list) {
    list = (list || []).filter((u) => !offByRota(u));
    const teams = (list || []).filter((u) => u.kind === "team").length;
    const visits = (list || []).length - teams;
    const parts = [];
    if (teams) parts.push(tr("teamsCount", { n: teams }));
    if (visits) parts.push(tr("visitsCount", { n: visits }));
    if (!parts.length) return "";
    return tr("unroutableSummary", { what: parts.length === 2 ? tr("and", { a: parts[0], b: parts[1] }) : parts[0] });
  }

  /** A titled list, one line per entity with its reason and where to fix it: a team's form in
   * the management page, a visit selected on the map. ``where`` names the tool (ids). */
  function unroutableHtml(all, where) {
    if (!all || !all.length) return "";
    // Teams off by their rota are said plainly, apart from what needs a fix.
    const off = all.filter(offByRota);
    const offLine = off.length
      ? `<p class="dp-off-teams">${escapeHtml(tr("offTeams", { names: off.map((u) => u.name || `#${u.id}`).join(", ") }))} `
        + `<a href="/week/?${new URLSearchParams({ from: off[0].day || day })}">${escapeHtml(tr("openWeek"))}</a></p>`
      : "";
    const list = all.filter((u) => !offByRota(u));
    if (!list.length) return offLine;
    const items = list.map((u) => {
      const name = u.name || `#${u.id}`;
      const action = u.kind === "team" && (u.why === "off" || u.why === "absent")
        ? `<a href="/week/?${new URLSearchParams({ from: u.day || day })}">${escapeHtml(tr("openWeek"))}</a>`
        : u.kind === "team"
        ? `<a href="/admin/#team-${encodeURIComponent(u.id)}">${escapeHtml(tr("fixTeam", { name }))}</a>`
        : `<button type="button" data-unroutable-visit="${escapeHtml(u.id)}">${escapeHtml(tr("showVisit", { name }))}</button>`;
      return `<li data-${u.kind === "team" ? "team" : "visit"}-id="${escapeHtml(u.id)}"><span class="dp-unroutable-mark" aria-hidden="true">!</span>`
        + `<span>${escapeHtml(unroutableText(u))} ${action}</span></li>`;
    }).join("");
    return `<section class="dp-unroutable" aria-labelledby="dp-unr-${where}-title"><h3 id="dp-unr-${where}-title">${escapeHtml(tr("unroutableTitle", { n: list.length }))}</h3><ul>${items}</ul></section>${offLine}`;
  }

  function showUnroutableVisit(id) {
    ctx.selectVisit(id, { source: "panel" });
    // The visit's line in the day's list, where its details open: the keyboard goes there.
    const entry = document.querySelector(`#visit-list button.vsel[data-visit-id="${id}"]`);
    if (entry) { entry.scrollIntoView({ block: "nearest" }); entry.focus(); }
  }

  // ------------------------------------------------------------------------------ optimise
  function status(text, cls = "") {
    const el = root.querySelector("#dp-status");
    el.textContent = text;
    el.className = `dp-out ${cls}`;
  }

  async function run() {
    const budget = Number(root.querySelector("#dp-budget").value);
    const bar = root.querySelector("#dp-progress");
    root.querySelector("#dp-run").disabled = true;
    root.querySelector("#dp-result").innerHTML = "";
    proposal = null;
    clearProposal();
    bar.hidden = false;
    bar.value = 0;
    status(tr("building"));
    try {
      const started = await api("/api/dispatch/optimise", { method: "POST", body: { ...body({ time_limit_s: budget }), day } });
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const job = await api(`/api/dispatch/jobs/${started.job_id}`);
        if (job.progress && job.progress.elapsed_s != null) {
          bar.value = Math.min(100, (100 * job.progress.elapsed_s) / budget);
          status(tr("running", { elapsed: num(job.progress.elapsed_s, 1), budget }));
        }
        if (job.state === "failed") { status(tr("failed", { error: job.error ? job.error.error : "?" }), "error"); break; }
        if (job.state === "done") { bar.value = 100; status(unroutableSummary(job.unroutable), unroutableSummary(job.unroutable) ? "warn" : ""); proposal = job; showResult(job); break; }
      }
    } catch (err) {
      status(tr("failed", { error: errorText(err) }), "error");
    } finally {
      const again = root.querySelector("#dp-run");
      if (again) again.disabled = false;
      bar.hidden = true;
    }
  }

  function droppedItems(dropped) {
    return dropped.map((d) => `${d.label || visitLabel(Number(d.visit_id))}${d.reason ? ` — ${d.reason}` : ""}`);
  }

  function showResult(job, { fromLink = false } = {}) {
    const c = job.comparison || { current: {}, proposed: {} };
    const row = (label, key, fmt = (v) => v ?? "–") => `<tr><th scope="row">${label}</th><td>${fmt(c.current[key])}</td><td>${fmt(c.proposed[key])}</td></tr>`;
    const mins = (s) => (s == null ? "–" : tr("min", { n: minutes(s) }));
    const reasons = ((job.plan && job.plan.unassigned) || []).filter((u) => u.code !== "unroutable").map((u) => `<li><b>${escapeHtml(u.label)}</b> : ${escapeHtml(u.message)}</li>`).join("");
    const dropped = job.dropped || [];
    // The proposal's heading and its Apply / Discard first: a proposal opened from a link shows
    // what it is and what can be done with it before the lists of what it changes.
    root.querySelector("#dp-result").innerHTML = `
      <h3 id="dp-result-title" class="dp-result-title" tabindex="-1">${escapeHtml(tr("resultTitle", { id: job.plan_id }))}</h3>
      <p id="dp-apply-status" class="dp-out" role="status">${job.applied ? tr("applied") : tr("saved", { id: job.plan_id })}</p>
      ${job.applied ? "" : `<div class="dp-actions"><button id="dp-apply" type="button" class="primary">${tr("applyPlan")}</button> <button id="dp-discard" type="button">${tr("discard")}</button></div>`}
      <table class="dp-compare"><thead><tr><th scope="col"><span class="visually-hidden">–</span></th><th scope="col">${tr("current")}</th><th scope="col">${tr("proposed")}</th></tr></thead><tbody>
        ${row(tr("km"), "distance_km", (v) => num(v, 1))}${row(tr("travel"), "travel_time_s", mins)}${row(tr("late"), "late_visits")}
        ${row(tr("served"), "visits_served")}${row(tr("unassigned"), "visits_unassigned")}
      </tbody></table>
      ${unroutableHtml(job.unroutable, "optimise")}
      <section class="dp-dropped${dropped.length ? " warn" : ""}" aria-labelledby="dp-dropped-title">
        <h3 id="dp-dropped-title">${tr("dropped")} (${dropped.length})</h3>
        ${dropped.length ? `<ul id="dp-dropped-list">${dropped.map((d) => `<li data-visit-id="${escapeHtml(d.visit_id)}"><b>${escapeHtml(d.label || visitLabel(Number(d.visit_id)))}</b>${d.reason ? ` : ${escapeHtml(d.reason)}` : ""}</li>`).join("")}</ul>` : `<p>${tr("droppedNone")}</p>`}
      </section>
      ${reassignedHtml(job)}
      ${reasons ? `<h3>${tr("reasons")}</h3><ul class="dp-reasons">${reasons}</ul>` : ""}`;
    if (!job.applied) drawProposal(job.plan || {});
    // What the proposal would remove must be seen before "Apply" is reached.
    const warn = root.querySelector(".dp-dropped");
    if (warn && !job.applied && !fromLink) warn.scrollIntoView({ block: "nearest" });
    const applyBtn = root.querySelector("#dp-apply");
    if (applyBtn) {
      applyBtn.addEventListener("click", () => applyPlan(job));
      root.querySelector("#dp-discard").addEventListener("click", () => { proposal = null; clearProposal(); root.querySelector("#dp-result").innerHTML = ""; });
    }
  }

  /** Who takes which visit, against the day's published rounds (none: nothing to compare):
   * open when short, folded when long. */
  function reassignedHtml(job) {
    const moved = job.reassigned || [];
    if (job.base_plan_id == null || !moved.length) return "";
    const items = moved.map((m) => `<li data-visit-id="${escapeHtml(m.visit_id)}">${escapeHtml(tr("reassignedItem", {
      name: m.label || visitLabel(Number(m.visit_id)),
      from: m.from_team || tr("noTeam"),
      to: m.to_team || tr("noTeam"),
    }))}</li>`).join("");
    return `<details class="dp-reassigned"${moved.length <= 8 ? " open" : ""}><summary><b>${escapeHtml(tr("reassigned", { n: moved.length }))}</b></summary><ul>${items}</ul></details>`;
  }

  async function confirmDropped(dropped) {
    return confirmDialog({
      title: tr("droppedTitle", { n: dropped.length }),
      intro: tr("droppedIntro"),
      items: droppedItems(dropped),
      tick: tr("droppedTick", { n: dropped.length }),
      ok: tr("droppedOk"),
    });
  }

  async function applyPlan(job) {
    const out = root.querySelector("#dp-apply-status");
    const button = root.querySelector("#dp-apply");
    let confirm = [];
    if (job.dropped && job.dropped.length) {
      if (!(await confirmDropped(job.dropped))) { out.textContent = tr("cancelled"); return; }
      confirm = job.dropped.map((d) => Number(d.visit_id));
    }
    button.disabled = true;
    try {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await api(`/api/dispatch/plans/${job.plan_id}/apply`, { method: "POST", body: { day: liveDay, locale: getLocale(), confirm_dropped: confirm } });
          break;
        } catch (err) {
          if (attempt > 2 || err.status !== 409 || errorCode(err) !== "confirm_dropped") throw err;
          const dropped = (err.body.details && err.body.details.dropped) || [];
          if (!dropped.length || !(await confirmDropped(dropped))) { out.textContent = err.message; return; }
          confirm = [...new Set([...confirm, ...dropped.map((d) => Number(d.visit_id))])];
        }
      }
      job.applied = true;
      showResult(job);
      clearProposal();
      // The button pressed is gone: keep the keyboard where the outcome is written.
      const done = root.querySelector("#dp-apply-status");
      done.tabIndex = -1;
      done.focus();
      afterChange();
    } catch (err) {
      if (err.status === 409 && errorCode(err) === "stale_plan") {
        out.innerHTML = `<span class="error">${escapeHtml(err.message)}</span>`;
        const again = document.createElement("button");
        again.type = "button";
        again.id = "dp-rerun";
        again.className = "primary";
        again.textContent = tr("rerun");
        again.addEventListener("click", run);
        root.querySelector("#dp-apply").replaceWith(again);
        again.focus();
        clearProposal();
        return;
      }
      out.innerHTML = `<span class="error">${escapeHtml(tr("failed", { error: errorText(err) }))}</span>`;
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        if (focusLost()) button.focus();
      }
    }
  }

  // ------------------------------------------------------------------------------ structure
  function structureHtml() {
    if (structures.length < 2) return "";
    const options = structures.map((st) => `<option value="${escapeHtml(st.id)}"${Number(st.id) === structureId ? " selected" : ""}>${escapeHtml(st.name)}</option>`).join("");
    return `<div class="dp-tool dp-structure"><label for="dp-structure">${escapeHtml(tr("structure"))}</label>`
      + `<select id="dp-structure" aria-describedby="dp-structure-help">${options}</select>`
      + `<p id="dp-structure-help" class="dp-help">${escapeHtml(tr("structureHelp"))}</p></div>`;
  }

  // ------------------------------------------------------------------------------ a team's round
  function roundHtml() {
    if (!roundView.day || roundView.teamId == null) return "";
    const r = roundView.data;
    const teamName = r ? r.team.name : ctx.teamName(roundView.teamId);
    let content;
    if (roundView.error) content = `<p class="dp-out error">${escapeHtml(tr("roundFailed", { error: roundView.error }))}</p>`;
    else if (!r) content = `<p class="dp-out">${escapeHtml(tr("roundLoading"))}</p>`;
    else if (r.plan_id == null) content = `<p class="dp-out">${escapeHtml(tr("roundNoPlan"))}</p>`;
    else if (!r.stops.length) content = `<p class="dp-out">${escapeHtml(tr("roundEmpty", { team: teamName }))}</p>`;
    else {
      const times = r.stops.map((s) => s.arrival_s ?? s.start_s).filter((x) => x != null);
      content = `<p class="dp-out">${escapeHtml(tr("roundStops", { n: r.stops.length, first: hhmm(Math.min(...times)), last: hhmm(Math.max(...times)) }))}</p>`
        + `<ol class="dp-round-stops">${r.stops.map((s) => `<li data-visit-id="${escapeHtml(s.visit_id)}">${escapeHtml(tr("roundStop", { time: hhmm(s.arrival_s ?? s.start_s ?? 0), name: (s.visit && s.visit.pseudonym) || `#${s.visit_id}` }))}</li>`).join("")}</ol>`;
    }
    return `<section id="dp-round" class="dp-tool" aria-labelledby="dp-round-title">
        <h2 id="dp-round-title">${escapeHtml(tr("roundTitle", { team: teamName, day: longDay(roundView.day) }))}</h2>
        <div role="status">${content}</div>
        <div class="dp-actions">
          <button id="dp-round-optimise" type="button" class="primary">${escapeHtml(tr("roundOptimise"))}</button>
          <button id="dp-round-close" type="button">${escapeHtml(tr("roundClose"))}</button>
        </div>
      </section>`;
  }

  function bindRound() {
    const go = root.querySelector("#dp-round-optimise");
    if (!go) return;
    go.addEventListener("click", () => {
      day = roundView.day;
      dayTouched = true;
      const tool = root.querySelector("#dp-optimise");
      tool.open = true;
      root.querySelector("#dp-day").value = day;
      tool.scrollIntoView({ block: "nearest" });
      root.querySelector("#dp-run").focus();
    });
    root.querySelector("#dp-round-close").addEventListener("click", () => {
      roundView.day = null;
      roundView.teamId = null;
      drawRound();
      history.replaceState(null, "", location.pathname);
      render();
      root.querySelector("#dp-move > summary").focus();
    });
  }

  async function loadRound() {
    if (!roundView.day || roundView.teamId == null) return;
    try {
      const res = await api(`/api/teams/${roundView.teamId}/round?${new URLSearchParams({ day: roundView.day })}`);
      roundView.data = res.round;
      const sid = res.round.team && res.round.team.structure_id;
      if (structures.length > 1 && sid != null && structures.some((st) => Number(st.id) === Number(sid))) structureId = Number(sid);
    } catch (err) {
      roundView.error = errorText(err);
    }
    render();
    drawRound();
    const section = root.querySelector("#dp-round");
    if (section) section.scrollIntoView({ block: "nearest" });
  }

  /** The round's stops on the map, in the team's colour, joined in their order (a dashed
   * line from the base: the order, not the roads, which only the live day's rounds carry). */
  function drawRound() {
    if (!map) return;
    const r = roundView.day ? roundView.data : null;
    const stops = r ? r.stops.filter((s) => s.visit && s.visit.lon != null) : [];
    const points = stops.map((s) => [Number(s.visit.lon), Number(s.visit.lat)]);
    const team = r && r.team;
    const start = team && team.base_lon != null ? [[Number(team.base_lon), Number(team.base_lat)]] : [];
    const line = [...start, ...points, ...start];
    const data = {
      type: "FeatureCollection",
      features: [
        ...(line.length > 1 ? [{ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: line } }] : []),
        ...points.map((c) => ({ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: c } })),
      ],
    };
    const colour = (team && team.color) || "#123a5a";
    const draw = () => {
      if (map.getSource(ROUND_SOURCE)) map.getSource(ROUND_SOURCE).setData(data);
      else {
        map.addSource(ROUND_SOURCE, { type: "geojson", data });
        map.addLayer({ id: `${ROUND_SOURCE}-line`, type: "line", source: ROUND_SOURCE, filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": colour, "line-width": 3, "line-opacity": 0.85, "line-dasharray": [3, 1.5] } });
        map.addLayer({ id: `${ROUND_SOURCE}-stops`, type: "circle", source: ROUND_SOURCE, filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 6, "circle-color": colour, "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
      }
      if (line.length) {
        const lons = line.map((c) => c[0]);
        const lats = line.map((c) => c[1]);
        map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60, maxZoom: 15, duration: 0 });
      }
    };
    if (map.isStyleLoaded()) draw();
    else map.once("load", draw);
  }

  /** A proposal saved elsewhere (the week screen's replanning of an absence), shown in the
   * optimisation tool as if just computed: what it changes, then Apply or Discard. */
  async function loadDraft() {
    if (draftId == null) return;
    open.optimise = true;
    const tool = root.querySelector("#dp-optimise");
    tool.open = true;
    try {
      const found = await api(`/api/dispatch/plans/${draftId}?${new URLSearchParams({ locale: getLocale() })}`);
      day = found.day;
      dayTouched = true;
      root.querySelector("#dp-day").value = day;
      if (structures.length > 1 && found.structure_id != null) {
        structureId = Number(found.structure_id);
        const select = root.querySelector("#dp-structure");
        if (select) select.value = String(structureId);
      }
      proposal = found;
      showResult(found, { fromLink: true });
      if (found.plan_status === "draft") status(tr("draftLoaded", { id: found.plan_id, by: found.created_by || "?" }), "warn");
      else if (found.plan_status === "archived") {
        status(tr("draftGone", { id: found.plan_id }), "warn");
        root.querySelector("#dp-apply-status").textContent = "";
      }
    } catch (err) {
      status(tr("draftFailed", { error: errorText(err) }), "error");
    }
    // The proposal's heading, its Apply / Discard under it, gets the view and the keyboard.
    const title = root.querySelector("#dp-result-title");
    if (title) { title.scrollIntoView({ block: "start" }); title.focus({ preventScroll: true }); } else tool.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------------------------ proposal layer
  function drawProposal(plan) {
    if (!map) return;
    const features = (plan.routes || []).filter((r) => r.geometry).map((r) => ({ type: "Feature", properties: { team_id: String(r.team_id) }, geometry: r.geometry }));
    const data = { type: "FeatureCollection", features };
    if (map.getSource(PROPOSAL_SOURCE)) { map.getSource(PROPOSAL_SOURCE).setData(data); return; }
    map.addSource(PROPOSAL_SOURCE, { type: "geojson", data });
    map.addLayer({ id: PROPOSAL_SOURCE, type: "line", source: PROPOSAL_SOURCE, paint: { "line-color": "#444", "line-width": 3, "line-dasharray": [2, 2], "line-opacity": 0.8 } });
  }

  function clearProposal() {
    if (map && map.getSource(PROPOSAL_SOURCE)) map.getSource(PROPOSAL_SOURCE).setData({ type: "FeatureCollection", features: [] });
  }

  onChange(() => {
    // Keep what was typed in the urgent form across a language switch.
    const keep = ["#dp-urg-name", "#dp-urg-dur", "#dp-urg-from", "#dp-urg-to", "#dp-urg-skills", "#dp-search", "#dp-budget"].map((sel) => [sel, root.querySelector(sel)?.value]);
    const ticked = [...root.querySelectorAll("#dp-urg-skillboxes input:checked")].map((b) => b.value);
    render();
    for (const [sel, value] of keep) if (value != null && root.querySelector(sel)) root.querySelector(sel).value = value;
    for (const b of root.querySelectorAll("#dp-urg-skillboxes input")) b.checked = ticked.includes(b.value);
    renderUrgentState();
    if (root.querySelector("#dp-search").value) renderSearch();
    // A proposal opened from its link: its reasons again, in the new language.
    if (draftId != null && proposal && Number(proposal.plan_id) === draftId) {
      api(`/api/dispatch/plans/${draftId}?${new URLSearchParams({ locale: getLocale() })}`)
        .then((found) => { if (proposal && Number(proposal.plan_id) === draftId) { proposal = found; showResult(found, { fromLink: true }); } })
        .catch((err) => console.warn("proposal not reloaded", err));
    }
  });
  render();
  loadRound();
  loadDraft();
}
