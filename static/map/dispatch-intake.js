// Visit intake for coordinators: a "new visit" form with address search (the server's offline
// geocoder) and a pin to drag on the map, and a CSV import with a review table (match,
// precision, likely duplicates, a tick per row, a pin to correct per row) before anything is
// stored.
//
// Loaded by map.js as an extension: init(ctx). REST: GET /api/geocode, POST /api/visits,
// POST /api/visits/import/preview and /confirm. New visits reach the day's list through the
// socket (the server publishes them); the page is never reloaded.
import { getLocale, onChange } from "./i18n.js";
import { distanceM, escapeHtml, loadStylesheet } from "./common.js";

const TEXT = {
  fr: {
    newTitle: "Nouvelle visite",
    pseudonym: "Pseudonyme",
    address: "Adresse (numéro, rue, commune)",
    addressHelp: "Tapez au moins 3 lettres puis choisissez une suggestion ; déplacez ensuite l'épingle sur la carte si besoin.",
    suggestions: "Suggestions d'adresse",
    noSuggestion: "Aucune adresse trouvée : précisez la rue ou la commune, ou placez l'épingle sur la carte.",
    searching: "Recherche…",
    place: "Lieu",
    placeNone: "non choisi",
    placeAt: "{label} — précision : {precision}",
    placeMoved: "épingle déplacée (lat. {lat}, long. {lon})",
    pickOn: "Placer l'épingle sur la carte",
    pickHelp: "Cliquez sur la carte à l'adresse du patient.",
    pinLabel: "Épingle de la nouvelle visite (déplaçable)",
    day: "Jour",
    windows: "Créneaux",
    from: "De",
    to: "à",
    windowN: "Créneau {n}",
    addWindow: "Ajouter un créneau",
    removeWindow: "Retirer le créneau {n}",
    duration: "Durée (min)",
    careKind: "Type de soin",
    "care.nursing": "soins infirmiers",
    "care.palliative": "soins palliatifs",
    "care.geriatric": "gériatrie",
    "care.other": "autre",
    skills: "Compétences requises",
    otherSkills: "Autres compétences (séparées par des virgules)",
    priority: "Priorité",
    "priority.0": "faible",
    "priority.1": "normale",
    "priority.2": "haute",
    "priority.3": "urgente",
    mandatory: "Visite",
    "mandatory.yes": "obligatoire",
    "mandatory.no": "facultative (peut être reportée)",
    team: "Équipe souhaitée",
    teamNone: "aucune",
    details: "Informations patient (protégées)",
    name: "Nom du patient",
    phone: "Téléphone",
    access: "Accès (digicode, étage, clés)",
    notes: "Notes",
    save: "Enregistrer la visite",
    reset: "Effacer",
    saved: "Visite {name} créée : elle apparaît dans les visites du jour.",
    savedOther: "Visite {name} créée pour le {day}.",
    "importedOther.one": "{n} visite importée (jours : {days}).",
    "importedOther.other": "{n} visites importées (jours : {days}).",
    needName: "Saisissez un pseudonyme.",
    needPlace: "Choisissez une adresse dans les suggestions ou placez l'épingle sur la carte.",
    needDuration: "La durée doit être un nombre de minutes entre 1 et 720.",
    needWindow: "Chaque créneau doit finir après son début.",
    failed: "Échec : {error}",
    duplicate: "Doublon probable : {name} est déjà prévue ce jour-là à un créneau qui se chevauche ({why}).",
    "why.name": "même pseudonyme",
    "why.place": "à moins de 50 m",
    saveAnyway: "Enregistrer quand même",
    "precision.housenumber": "numéro",
    "precision.street": "rue",
    "precision.commune": "commune seulement",
    "precision.given": "coordonnées du fichier",
    "precision.manual": "corrigée sur la carte",
    // import
    csvTitle: "Importer un CSV",
    csvHelp: "Colonnes : pseudonym, address, commune, duration_min, windows (08:00-10:00;17:00-18:00), skills, priority, mandatory (oui/non), preferred_team, name, phone, address_details, notes. Séparateur « ; » ou « , ».",
    csvDay: "Jour des lignes sans colonne day",
    csvFile: "Fichier CSV",
    check: "Vérifier le fichier",
    checking: "Lecture et géocodage…",
    needFile: "Choisissez un fichier CSV.",
    reviewTitle: "Vérification avant import",
    summary: "{rows} lignes : {ready} prêtes, {dupes}, {bad} à corriger.",
    "dupes.one": "{n} doublon probable",
    "dupes.other": "{n} doublons probables",
    colImport: "Importer",
    colLine: "Ligne",
    colName: "Pseudonyme",
    colAddress: "Adresse",
    colMatch: "Lieu trouvé",
    colPrecision: "Précision",
    colNote: "Remarque",
    colPin: "Carte",
    tickRow: "Importer la ligne {line} ({name})",
    show: "Voir",
    showRow: "Voir et corriger le lieu de la ligne {line}",
    dupStored: "doublon probable de la visite {name} déjà enregistrée",
    dupLine: "doublon probable de la ligne {line} ({name})",
    notFound: "adresse introuvable : placez l'épingle",
    approx: "rue introuvable : placez l'épingle",
    rowHelp: "Ligne {line} : déplacez l'épingle pour corriger le lieu.",
    "importN.one": "Importer la visite cochée",
    "importN.other": "Importer les {n} visites cochées",
    importing: "Import…",
    "imported.one": "{n} visite importée : elle apparaît dans les visites du jour.",
    "imported.other": "{n} visites importées : elles apparaissent dans les visites du jour.",
    importFailed: "Rien n'a été importé : {error}",
    noneTicked: "Cochez au moins une ligne.",
    cancel: "Annuler",
    chooseFile: "Choisir un fichier",
    noFile: "aucun fichier choisi",
    close: "Fermer la vérification",
  },
  en: {
    newTitle: "New visit",
    pseudonym: "Pseudonym",
    address: "Address (number, street, town)",
    addressHelp: "Type at least 3 letters, then choose a suggestion; then drag the pin on the map if needed.",
    suggestions: "Address suggestions",
    noSuggestion: "No address found: give the street or the town, or place the pin on the map.",
    searching: "Searching…",
    place: "Place",
    placeNone: "not chosen",
    placeAt: "{label} — precision: {precision}",
    placeMoved: "pin moved (lat. {lat}, lon. {lon})",
    pickOn: "Place the pin on the map",
    pickHelp: "Click the map at the patient's address.",
    pinLabel: "Pin of the new visit (draggable)",
    day: "Day",
    windows: "Time windows",
    from: "From",
    to: "to",
    windowN: "Window {n}",
    addWindow: "Add a window",
    removeWindow: "Remove window {n}",
    duration: "Duration (min)",
    careKind: "Kind of care",
    "care.nursing": "nursing",
    "care.palliative": "palliative care",
    "care.geriatric": "geriatrics",
    "care.other": "other",
    skills: "Skills needed",
    otherSkills: "Other skills (comma separated)",
    priority: "Priority",
    "priority.0": "low",
    "priority.1": "normal",
    "priority.2": "high",
    "priority.3": "urgent",
    mandatory: "Visit",
    "mandatory.yes": "mandatory",
    "mandatory.no": "optional (can be postponed)",
    team: "Preferred team",
    teamNone: "none",
    details: "Patient details (protected)",
    name: "Patient's name",
    phone: "Phone",
    access: "Access (door code, floor, keys)",
    notes: "Notes",
    save: "Save the visit",
    reset: "Clear",
    saved: "Visit {name} created: it is in today's visits.",
    savedOther: "Visit {name} created for {day}.",
    "importedOther.one": "{n} visit imported (days: {days}).",
    "importedOther.other": "{n} visits imported (days: {days}).",
    needName: "Type a pseudonym.",
    needPlace: "Choose an address among the suggestions or place the pin on the map.",
    needDuration: "The duration must be a number of minutes between 1 and 720.",
    needWindow: "Each window must end after it starts.",
    failed: "Failed: {error}",
    duplicate: "Likely duplicate: {name} is already planned that day in an overlapping window ({why}).",
    "why.name": "same pseudonym",
    "why.place": "less than 50 m away",
    saveAnyway: "Save anyway",
    "precision.housenumber": "house number",
    "precision.street": "street",
    "precision.commune": "town only",
    "precision.given": "coordinates from the file",
    "precision.manual": "corrected on the map",
    csvTitle: "Import a CSV",
    csvHelp: "Columns: pseudonym, address, commune, duration_min, windows (08:00-10:00;17:00-18:00), skills, priority, mandatory (yes/no), preferred_team, name, phone, address_details, notes. Separator “;” or “,”.",
    csvDay: "Day of rows without a day column",
    csvFile: "CSV file",
    check: "Check the file",
    checking: "Reading and geocoding…",
    needFile: "Choose a CSV file.",
    reviewTitle: "Review before import",
    summary: "{rows} rows: {ready} ready, {dupes}, {bad} to fix.",
    "dupes.one": "{n} likely duplicate",
    "dupes.other": "{n} likely duplicates",
    colImport: "Import",
    colLine: "Line",
    colName: "Pseudonym",
    colAddress: "Address",
    colMatch: "Place found",
    colPrecision: "Precision",
    colNote: "Note",
    colPin: "Map",
    tickRow: "Import line {line} ({name})",
    show: "Show",
    showRow: "Show and correct the place of line {line}",
    dupStored: "likely duplicate of the stored visit {name}",
    dupLine: "likely duplicate of line {line} ({name})",
    notFound: "address not found: place the pin",
    approx: "street not found: place the pin",
    rowHelp: "Line {line}: drag the pin to correct the place.",
    "importN.one": "Import the ticked visit",
    "importN.other": "Import the {n} ticked visits",
    importing: "Importing…",
    "imported.one": "{n} visit imported: it is in today's visits.",
    "imported.other": "{n} visits imported: they are in today's visits.",
    importFailed: "Nothing was imported: {error}",
    noneTicked: "Tick at least one row.",
    cancel: "Cancel",
    chooseFile: "Choose a file",
    noFile: "no file chosen",
    close: "Close the review",
  },
};

function tr(key, vars = {}) {
  const dict = TEXT[getLocale()] || TEXT.fr;
  // Counted texts have ".one"/".other" forms, chosen by the language's plural rules (0 is
  // singular in French, plural in English).
  if (!(key in dict) && typeof vars.n === "number") key = `${key}.${new Intl.PluralRules(getLocale()).select(vars.n) === "one" ? "one" : "other"}`;
  const text = dict[key] || TEXT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const CARE_KINDS = ["nursing", "palliative", "geriatric", "other"];

export async function init(ctx) {
  const { map, api, container, state } = ctx;
  const role = state.config && state.config.principal ? state.config.principal.role : null;
  if (role !== "coordinator") return; // admins manage accounts, planners plan: no patients.
  await loadStylesheet("/static/map/dispatch-intake.css");
  const root = document.createElement("div");
  root.className = "dispatch-intake";
  container.appendChild(root);
  // The review table needs the map's width; it sits over the bottom of the map, whose top
  // half keeps showing the row's pin.
  const reviewBox = document.createElement("section");
  reviewBox.id = "in-review";
  reviewBox.className = "in-review-panel";
  reviewBox.setAttribute("aria-labelledby", "in-review-title");
  reviewBox.hidden = true;
  (document.querySelector(".map-wrap") || document.body).appendChild(reviewBox);
  let fileName = "";

  let liveDay = state.config.day || new Date().toISOString().slice(0, 10);
  const form = { place: null, precision: null, label: "", commune: "", address: "", addressShown: null, moved: false, picking: false, windows: [["08:00", "10:00"]], suggestions: [], searchSeq: 0, searchingFor: null, pendingEnter: false };
  const review = { rows: [], ticked: new Set(), current: null, status: "", statusCls: "" };
  let newPin = null;
  let reviewPin = null;

  ctx.on("snapshot", (snap) => {
    if (snap && snap.day && snap.day !== liveDay) {
      const old = liveDay;
      liveDay = snap.day;
      for (const sel of ["#in-day", "#in-csv-day"]) { const el = root.querySelector(sel); if (el && (!el.value || el.value === old)) el.value = liveDay; }
    }
    renderTeams();
    renderSkills();
  });
  ctx.on("live", (batch) => { if (batch.teams && batch.teams.length) { renderTeams(); renderSkills(); } });

  // --------------------------------------------------------------------- markup
  function render() {
    root.innerHTML = `
      <details id="in-new" class="dp-tool">
        <summary><h2>${tr("newTitle")}</h2></summary>
        <form id="in-form" novalidate>
          <label for="in-name">${tr("pseudonym")}</label>
          <input id="in-name" maxlength="40" autocomplete="off" required>
          <label for="in-addr">${tr("address")}</label>
          <input id="in-addr" type="search" autocomplete="off" maxlength="200" aria-describedby="in-addr-help" aria-controls="in-suggest">
          <p id="in-addr-help" class="dp-help">${tr("addressHelp")}</p>
          <ul id="in-suggest" class="in-suggest" aria-label="${escapeHtml(tr("suggestions"))}"></ul>
          <p id="in-suggest-status" class="dp-out" role="status"></p>
          <div class="dp-place">
            <span id="in-place-label">${tr("place")}</span> :
            <output id="in-where" aria-labelledby="in-place-label in-where"></output>
            <div class="dp-actions">
              <button id="in-pick" type="button" aria-pressed="false" aria-describedby="in-pick-help">${tr("pickOn")}</button>
            </div>
            <p id="in-pick-help" class="dp-help">${tr("pickHelp")}</p>
          </div>
          <div class="dp-row">
            <div><label for="in-day">${tr("day")}</label><input id="in-day" type="date" required></div>
            <div><label for="in-dur">${tr("duration")}</label><input id="in-dur" type="number" min="1" max="720" step="1" value="30" required></div>
          </div>
          <fieldset class="dp-skills"><legend>${tr("windows")}</legend>
            <div id="in-windows"></div>
            <div class="dp-actions"><button id="in-add-window" type="button">${tr("addWindow")}</button></div>
          </fieldset>
          <div class="dp-row">
            <div><label for="in-care">${tr("careKind")}</label><select id="in-care">${CARE_KINDS.map((k) => `<option value="${k}">${escapeHtml(tr(`care.${k}`))}</option>`).join("")}</select></div>
            <div><label for="in-priority">${tr("priority")}</label><select id="in-priority">${[0, 1, 2, 3].map((p) => `<option value="${p}"${p === 1 ? " selected" : ""}>${escapeHtml(tr(`priority.${p}`))}</option>`).join("")}</select></div>
          </div>
          <fieldset class="dp-skills"><legend>${tr("skills")}</legend><div id="in-skillboxes"></div>
            <label for="in-skills">${tr("otherSkills")}</label><input id="in-skills" autocomplete="off">
          </fieldset>
          <label for="in-mandatory">${tr("mandatory")}</label>
          <select id="in-mandatory"><option value="1">${escapeHtml(tr("mandatory.yes"))}</option><option value="0">${escapeHtml(tr("mandatory.no"))}</option></select>
          <label for="in-team">${tr("team")}</label>
          <select id="in-team"></select>
          <fieldset class="dp-skills"><legend>${tr("details")}</legend>
            <label for="in-pname">${tr("name")}</label><input id="in-pname" autocomplete="off" maxlength="200">
            <label for="in-phone">${tr("phone")}</label><input id="in-phone" type="tel" autocomplete="off" maxlength="40">
            <label for="in-access">${tr("access")}</label><input id="in-access" autocomplete="off" maxlength="2000">
            <label for="in-notes">${tr("notes")}</label><textarea id="in-notes" rows="2" maxlength="2000"></textarea>
          </fieldset>
          <div class="dp-actions">
            <button id="in-save" type="submit" class="primary">${tr("save")}</button>
            <button id="in-reset" type="button">${tr("reset")}</button>
          </div>
          <p id="in-status" class="dp-out" role="status"></p>
          <div id="in-dup" class="dp-actions" hidden><button id="in-save-anyway" type="button">${tr("saveAnyway")}</button></div>
        </form>
      </details>
      <details id="in-csv" class="dp-tool">
        <summary><h2>${tr("csvTitle")}</h2></summary>
        <p id="in-csv-help" class="dp-help">${tr("csvHelp")}</p>
        <label for="in-csv-day">${tr("csvDay")}</label>
        <input id="in-csv-day" type="date">
        <span class="in-file-label" id="in-file-caption">${tr("csvFile")}</span>
        <div class="in-file">
          <input id="in-file" type="file" accept=".csv,text/csv,text/plain" aria-labelledby="in-file-caption in-file-button in-file-name" aria-describedby="in-csv-help">
          <label for="in-file" id="in-file-button" class="in-file-button">${tr("chooseFile")}</label>
          <span id="in-file-name" class="in-file-name">${escapeHtml(fileName || tr("noFile"))}</span>
        </div>
        <div class="dp-actions"><button id="in-check" type="button" class="primary">${tr("check")}</button></div>
        <p id="in-csv-status" class="dp-out" role="status"></p>
      </details>`;
    root.querySelector("#in-day").value = liveDay;
    root.querySelector("#in-csv-day").value = liveDay;
    renderWindows();
    renderTeams();
    renderSkills();
    renderPlace();
    renderReview();
    wire();
  }

  function renderWindows() {
    const box = root.querySelector("#in-windows");
    box.innerHTML = form.windows.map(([a, b], i) => `
      <div class="in-window" role="group" aria-label="${escapeHtml(tr("windowN", { n: i + 1 }))}">
        <div><label for="in-from-${i}">${tr("from")}</label><input id="in-from-${i}" type="time" value="${a}" data-i="${i}" data-end="0"></div>
        <div><label for="in-to-${i}">${tr("to")}</label><input id="in-to-${i}" type="time" value="${b}" data-i="${i}" data-end="1"></div>
        <div>${form.windows.length > 1 ? `<button type="button" class="in-rm" data-i="${i}" aria-label="${escapeHtml(tr("removeWindow", { n: i + 1 }))}">✕</button>` : ""}</div>
      </div>`).join("");
  }

  function teamsByName() {
    return [...state.teams.values()].filter((t) => t.active !== false).sort((a, b) => String(a.name).localeCompare(String(b.name), "fr"));
  }

  function renderTeams() {
    const select = root.querySelector("#in-team");
    if (!select) return;
    const value = select.value;
    select.innerHTML = `<option value="">${escapeHtml(tr("teamNone"))}</option>` + teamsByName().map((t) => `<option value="${t.id}">${escapeHtml(t.name)}</option>`).join("");
    select.value = [...select.options].some((o) => o.value === value) ? value : "";
  }

  function knownSkills() {
    const skills = new Set();
    for (const team of state.teams.values()) for (const s of team.skills || []) skills.add(s);
    return [...skills].sort();
  }

  function renderSkills() {
    const box = root.querySelector("#in-skillboxes");
    if (!box) return;
    const ticked = new Set([...box.querySelectorAll("input:checked")].map((b) => b.value));
    box.innerHTML = knownSkills().map((s, i) => `<label class="dp-inline"><input type="checkbox" id="in-skill-${i}" value="${escapeHtml(s)}"${ticked.has(s) ? " checked" : ""}> ${escapeHtml(s)}</label>`).join("");
  }

  function renderPlace() {
    const where = root.querySelector("#in-where");
    if (!where) return;
    if (!form.place) where.textContent = tr("placeNone");
    else if (form.moved) where.textContent = `${form.label ? `${form.label} — ` : ""}${tr("placeMoved", { lat: form.place[1].toFixed(5), lon: form.place[0].toFixed(5) })}`;
    else where.textContent = tr("placeAt", { label: form.label, precision: tr(`precision.${form.precision}`) });
  }

  function renderSuggestions() {
    const list = root.querySelector("#in-suggest");
    list.innerHTML = form.suggestions.map((s, i) => `<li><button type="button" data-i="${i}">${escapeHtml(s.label)} <span class="secondary">(${escapeHtml(tr(`precision.${s.precision}`))})</span></button></li>`).join("");
  }

  function status(sel, text, cls = "") {
    const el = root.querySelector(sel);
    el.textContent = text;
    el.className = `dp-out ${cls}`;
  }

  // --------------------------------------------------------------------- pins
  function pinElement(label) {
    const el = document.createElement("div");
    el.className = "intake-pin";
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", label);
    el.innerHTML = '<svg width="22" height="30" viewBox="0 0 22 30" aria-hidden="true"><path d="M11 29C11 29 21 17 21 11A10 10 0 0 0 1 11C1 17 11 29 11 29Z" fill="#b35900" stroke="#fff" stroke-width="2"/><circle cx="11" cy="11" r="4" fill="#fff"/></svg>';
    return el;
  }

  function setNewPin(lonlat) {
    if (!newPin) {
      newPin = new maplibregl.Marker({ element: pinElement(tr("pinLabel")), draggable: true, anchor: "bottom" });
      newPin.on("dragend", () => {
        const p = newPin.getLngLat();
        form.place = [p.lng, p.lat];
        form.moved = true;
        renderPlace();
      });
    }
    newPin.setLngLat(lonlat).addTo(map);
    window.dispatchIntake.newPin = newPin;
  }

  function setPicking(on) {
    form.picking = on;
    const button = root.querySelector("#in-pick");
    button.setAttribute("aria-pressed", String(on));
    ctx.pickPlace(on ? (lonlat) => {
      form.place = lonlat;
      form.moved = true;
      setNewPin(lonlat);
      renderPlace();
      setPicking(false);
      button.focus();
    } : null);
  }

  // --------------------------------------------------------------------- address search
  // Only the answer to the field's text as it is now is shown: an answer to an earlier, shorter
  // text (typed on, the next search not yet answered) would offer, and Enter pick, a wrong address.
  let searchTimer = null;
  const fieldText = () => (root.querySelector("#in-addr")?.value || "").trim();
  function search(text) {
    clearTimeout(searchTimer);
    form.pendingEnter = false;
    const query = text.trim();
    if (query.length < 3) { form.searchingFor = null; form.suggestions = []; renderSuggestions(); status("#in-suggest-status", ""); return; }
    form.searchingFor = query;
    searchTimer = setTimeout(async () => {
      const seq = ++form.searchSeq;
      status("#in-suggest-status", tr("searching"));
      try {
        const reply = await api(`/api/geocode?q=${encodeURIComponent(query)}&limit=5`);
        if (seq !== form.searchSeq || query !== fieldText()) return;
        form.searchingFor = null;
        form.suggestions = reply.items || [];
        renderSuggestions();
        status("#in-suggest-status", form.suggestions.length ? "" : tr("noSuggestion"));
        // Enter pressed while this text was being searched takes its first suggestion.
        if (form.pendingEnter) {
          form.pendingEnter = false;
          if (form.suggestions.length) choose(form.suggestions[0]);
        }
      } catch (err) {
        if (seq !== form.searchSeq || query !== fieldText()) return;
        form.searchingFor = null;
        form.pendingEnter = false;
        status("#in-suggest-status", tr("failed", { error: err.message }), "error");
      }
    }, 250);
  }

  function choose(suggestion) {
    clearTimeout(searchTimer);
    form.searchingFor = null;
    form.pendingEnter = false;
    form.place = [suggestion.lon, suggestion.lat];
    form.precision = suggestion.precision;
    form.label = suggestion.label;
    form.moved = false;
    const parts = suggestion.label.split(", ");
    form.commune = parts.length > 1 ? parts[parts.length - 1] : suggestion.precision === "commune" ? suggestion.label : "";
    // The address kept is the street as the territory spells it, with the number typed.
    const input = root.querySelector("#in-addr");
    const street = parts.length > 1 ? parts.slice(0, -1).join(", ") : "";
    const number = input.value.match(/^\s*(\d+\s*(?:bis|ter|[a-d])?)\b/i);
    form.address = suggestion.precision === "street" && number ? `${number[1].trim()} ${street}` : street;
    input.value = [form.address, form.commune].filter(Boolean).join(", ");
    form.addressShown = input.value;
    form.suggestions = [];
    renderSuggestions();
    status("#in-suggest-status", "");
    setNewPin(form.place);
    map.easeTo({ center: form.place, zoom: Math.max(map.getZoom(), 15) });
    renderPlace();
  }

  function resetForm() {
    if (form.picking) setPicking(false);
    if (newPin) newPin.remove();
    root.querySelector("#in-dup").hidden = true;
    Object.assign(form, { confirmedDuplicate: null, pendingDuplicate: null, place: null, precision: null, label: "", commune: "", address: "", addressShown: null, moved: false, windows: [["08:00", "10:00"]], suggestions: [], searchingFor: null, pendingEnter: false });
    root.querySelector("#in-form").reset();
    root.querySelector("#in-day").value = liveDay;
    renderWindows();
    renderSuggestions();
    renderPlace();
  }

  async function save() {
    const name = root.querySelector("#in-name").value.trim();
    const duration = Number(root.querySelector("#in-dur").value);
    for (const el of root.querySelectorAll("#in-form [aria-invalid]")) el.removeAttribute("aria-invalid");
    const fail = (text, el) => { status("#in-status", text, "error"); if (el) { el.setAttribute("aria-invalid", "true"); el.focus(); } };
    if (!name) return fail(tr("needName"), root.querySelector("#in-name"));
    if (!form.place) return fail(tr("needPlace"), root.querySelector("#in-addr"));
    if (!Number.isFinite(duration) || duration < 1 || duration > 720) return fail(tr("needDuration"), root.querySelector("#in-dur"));
    readWindows();
    const bad = form.windows.findIndex(([a, b]) => !a || !b || b <= a);
    if (bad >= 0) return fail(tr("needWindow"), root.querySelector(`#in-to-${bad}`));
    const skills = [...root.querySelectorAll("#in-skillboxes input:checked")].map((b) => b.value);
    for (const s of root.querySelector("#in-skills").value.split(",")) if (s.trim() && !skills.includes(s.trim())) skills.push(s.trim());
    const body = {
      day: root.querySelector("#in-day").value || liveDay,
      pseudonym: name,
      care_kind: root.querySelector("#in-care").value,
      lon: form.place[0],
      lat: form.place[1],
      duration_s: Math.round(duration * 60),
      windows: form.windows,
      skills,
      priority: Number(root.querySelector("#in-priority").value),
      mandatory: root.querySelector("#in-mandatory").value === "1",
    };
    const typed = root.querySelector("#in-addr").value.trim();
    const address = typed === form.addressShown ? form.address : typed;
    if (address) body.address = address;
    if (form.commune) body.commune = form.commune;
    const team = root.querySelector("#in-team").value;
    if (team) body.preferred_team_id = Number(team);
    const protectedDetails = {};
    for (const [key, sel] of [["name", "#in-pname"], ["phone", "#in-phone"], ["address_details", "#in-access"], ["notes", "#in-notes"]]) {
      const value = root.querySelector(sel).value.trim();
      if (value) protectedDetails[key] = value;
    }
    if (Object.keys(protectedDetails).length) body.protected = protectedDetails;
    const dup = likelyDuplicate(body);
    if (dup && form.confirmedDuplicate !== dup.visit.id) {
      form.pendingDuplicate = dup.visit.id;
      status("#in-status", tr("duplicate", { name: dup.visit.pseudonym, why: tr(`why.${dup.why}`) }), "error");
      root.querySelector("#in-dup").hidden = false;
      root.querySelector("#in-save-anyway").focus();
      return;
    }
    root.querySelector("#in-dup").hidden = true;
    const button = root.querySelector("#in-save");
    button.disabled = true;
    try {
      await api("/api/visits", { method: "POST", body });
      resetForm();
      status("#in-status", body.day === liveDay ? tr("saved", { name }) : tr("savedOther", { name, day: formatDay(body.day) }), "ok");
    } catch (err) {
      status("#in-status", tr("failed", { error: err.message }), "error");
    } finally {
      // Focus stays by the message (a disabled button loses it).
      button.disabled = false;
      if (focusLost()) button.focus();
    }
  }

  /** A visit of the live day this one probably repeats (same rule as the CSV review). */
  function likelyDuplicate(body) {
    if (body.day !== liveDay) return null;
    const seconds = (t) => (typeof t === "number" ? t : Number(t.slice(0, 2)) * 3600 + Number(t.slice(3, 5)) * 60);
    const mine = body.windows.map(([a, b]) => [seconds(a), seconds(b)]);
    const name = body.pseudonym.trim().toLowerCase();
    for (const visit of state.visits.values()) {
      if (visit.status === "cancelled") continue;
      const theirs = (visit.windows || []).map(([a, b]) => [seconds(a), seconds(b)]);
      if (!mine.some(([a, b]) => theirs.some(([c, d]) => a < d && c < b))) continue;
      if (String(visit.pseudonym || "").trim().toLowerCase() === name) return { visit, why: "name" };
      if (visit.lon != null && distanceM(visit.lon, visit.lat, body.lon, body.lat) <= 50) return { visit, why: "place" };
    }
    return null;
  }

  function readWindows() {
    for (const input of root.querySelectorAll("#in-windows input[type=time]")) {
      form.windows[Number(input.dataset.i)][Number(input.dataset.end)] = input.value;
    }
  }

  // --------------------------------------------------------------------- CSV review
  function placed(row) { return row.visit && row.visit.lon != null && row.visit.lat != null && (!row.error || row.corrected); }

  function rowNote(row) {
    if (row.corrected) return "";
    if (row.error && !row.match) return row.visit && (row.visit.address || row.visit.commune) && /not found/.test(row.error) ? tr("notFound") : row.error;
    if (row.warning) return tr("approx");
    return row.error || "";
  }

  function dupNote(row) {
    const d = row.duplicate_of;
    if (!d) return "";
    return d.visit_id != null ? tr("dupStored", { name: d.pseudonym || `#${d.visit_id}` }) : tr("dupLine", { line: d.line, name: d.pseudonym || "" });
  }

  function renderReview() {
    const box = reviewBox;
    box.hidden = !review.rows.length;
    if (!review.rows.length) { box.innerHTML = ""; return; }
    const rows = review.rows;
    const ready = rows.filter((r) => placed(r) && !r.duplicate_of && !(r.warning && !r.corrected)).length;
    const dupes = rows.filter((r) => r.duplicate_of).length;
    const bad = rows.filter((r) => !placed(r) || (r.warning && !r.corrected)).length;
    const n = review.ticked.size;
    box.innerHTML = `
      <div class="in-head">
        <h2 id="in-review-title" tabindex="-1">${tr("reviewTitle")}</h2>
        <p id="in-summary">${escapeHtml(tr("summary", { rows: rows.length, ready, dupes: tr("dupes", { n: dupes }), bad }))}</p>
        <button id="in-import" type="button" class="primary"${n ? "" : " disabled"}>${escapeHtml(tr("importN", { n }))}</button>
        <button id="in-cancel" type="button">${tr("cancel")}</button>
      </div>
      <p id="in-review-status" class="dp-out" role="status"></p>
      <div class="in-review-wrap" role="region" aria-labelledby="in-review-title" tabindex="0">
      <table class="in-review" aria-labelledby="in-review-title">
        <thead><tr><th scope="col">${tr("colImport")}</th><th scope="col">${tr("colPin")}</th><th scope="col">${tr("colLine")}</th><th scope="col">${tr("colName")}</th><th scope="col">${tr("colAddress")}</th><th scope="col">${tr("colMatch")}</th><th scope="col">${tr("colPrecision")}</th><th scope="col">${tr("colNote")}</th></tr></thead>
        <tbody>${rows.map((r) => {
          const v = r.visit || {};
          const ok = placed(r);
          const cls = [r.duplicate_of ? "in-dup" : "", !ok || (r.warning && !r.corrected) ? "in-bad" : "", review.current === r.line ? "in-current" : ""].join(" ").trim();
          const precision = r.corrected ? "manual" : r.match ? r.match.precision : null;
          const note = [dupNote(r), rowNote(r)].filter(Boolean).join(" ; ");
          return `<tr data-line="${r.line}" class="${cls}">
            <td><input type="checkbox" class="in-tick" data-line="${r.line}" aria-label="${escapeHtml(tr("tickRow", { line: r.line, name: v.pseudonym || "" }))}"${review.ticked.has(r.line) ? " checked" : ""}${ok ? "" : " disabled"}></td>
            <td><button type="button" class="in-show" data-line="${r.line}" aria-label="${escapeHtml(tr("showRow", { line: r.line }))}">${tr("show")}</button></td>
            <td>${r.line}</td>
            <td>${escapeHtml(v.pseudonym || "")}</td>
            <td>${escapeHtml([v.address, v.commune].filter(Boolean).join(", "))}</td>
            <td>${escapeHtml(r.match && r.match.label ? r.match.label : "")}</td>
            <td class="in-precision">${precision ? escapeHtml(tr(`precision.${precision}`)) : "–"}</td>
            <td class="in-note">${escapeHtml(note)}</td>
          </tr>`;
        }).join("")}</tbody>
      </table></div>
      <p id="in-row-help" class="dp-help" aria-live="polite">${review.current != null ? escapeHtml(tr("rowHelp", { line: review.current })) : ""}</p>`;
  }

  function showRow(line) {
    const row = review.rows.find((r) => r.line === line);
    if (!row) return;
    review.current = line;
    const v = row.visit || {};
    const c = map.getCenter();
    const lonlat = v.lon != null && v.lat != null ? [v.lon, v.lat] : [c.lng, c.lat];
    if (!reviewPin) {
      reviewPin = new maplibregl.Marker({ element: pinElement(tr("pinLabel")), draggable: true, anchor: "bottom" });
      reviewPin.on("dragend", () => {
        const p = reviewPin.getLngLat();
        const current = review.rows.find((r) => r.line === review.current);
        if (!current) return;
        current.visit = { ...current.visit, lon: p.lng, lat: p.lat };
        current.corrected = true;
        review.ticked.add(current.line);
        renderReview();
      });
    }
    reviewPin.setLngLat(lonlat).addTo(map);
    window.dispatchIntake.reviewPin = reviewPin;
    map.easeTo({ center: lonlat, zoom: Math.max(map.getZoom(), 15), offset: [0, -reviewBox.offsetHeight / 2] });
    renderReview();
  }

  async function check() {
    const file = root.querySelector("#in-file").files[0];
    if (!file) { status("#in-csv-status", tr("needFile"), "error"); root.querySelector("#in-file").focus(); return; }
    status("#in-csv-status", tr("checking"));
    const day = root.querySelector("#in-csv-day").value || liveDay;
    try {
      const text = await file.arrayBuffer();
      const reply = await rawPost(`/api/visits/import/preview?day=${encodeURIComponent(day)}`, text);
      review.rows = reply.rows || [];
      // A row repeating a stored visit starts unticked (the file was probably imported
      // already); one repeating an earlier row stays ticked but flagged: the coordinator knows
      // whether the patient has two visits that day.
      review.ticked = new Set(review.rows.filter((r) => r.importable && !r.warning && !(r.duplicate_of && r.duplicate_of.visit_id != null)).map((r) => r.line));
      review.current = null;
      status("#in-csv-status", "");
      renderReview();
      reviewBox.querySelector("#in-review-title").focus();
    } catch (err) {
      review.rows = [];
      renderReview();
      status("#in-csv-status", tr("failed", { error: err.message }), "error");
    }
  }

  /** POST a CSV body (common.js's api() sends JSON only). */
  async function rawPost(path, bytes) {
    const headers = { Accept: "application/json", "Content-Type": "text/csv" };
    let csrf = sessionStorage.getItem("dispatch.csrf");
    if (!csrf) {
      const session = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } }).then((r) => r.json()).catch(() => null);
      csrf = session && session.csrf_token;
    }
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, { method: "POST", headers, body: bytes, credentials: "same-origin", cache: "no-store" });
    const data = await response.json().catch(() => null);
    if (!response.ok || !data || data.ok === false) {
      const err = new Error((data && data.error) || `HTTP ${response.status}`);
      err.body = data;
      throw err;
    }
    return data;
  }

  async function importRows() {
    const rows = review.rows.filter((r) => review.ticked.has(r.line) && placed(r));
    if (!rows.length) { reviewStatus(tr("noneTicked"), "error"); return; }
    const button = reviewBox.querySelector("#in-import");
    button.disabled = true;
    reviewStatus(tr("importing"));
    try {
      const reply = await api("/api/visits/import/confirm", { method: "POST", body: { rows: rows.map((r) => ({ line: r.line, visit: r.visit })) }, timeoutMs: 60000 });
      // Show where the new visits are.
      const bounds = new maplibregl.LngLatBounds();
      for (const r of rows) bounds.extend([r.visit.lon, r.visit.lat]);
      map.fitBounds(bounds, { padding: 60, maxZoom: 15, duration: 500 });
      review.rows = [];
      review.ticked.clear();
      review.current = null;
      if (reviewPin) reviewPin.remove();
      root.querySelector("#in-file").value = "";
      fileName = "";
      root.querySelector("#in-file-name").textContent = tr("noFile");
      renderReview();
      const days = [...new Set(rows.map((r) => r.visit.day))].sort();
      const text = days.length === 1 && days[0] === liveDay ? tr("imported", { n: reply.imported }) : tr("importedOther", { n: reply.imported, days: days.map(formatDay).join(", ") });
      status("#in-csv-status", text, "ok");
      root.querySelector("#in-check").focus();
    } catch (err) {
      const details = err.body && Array.isArray(err.body.details) ? err.body.details.map((d) => d.error).join(" ; ") : "";
      reviewStatus(tr("importFailed", { error: details || err.message }), "error");
      button.disabled = false;
    }
  }

  function reviewStatus(text, cls = "") {
    const el = reviewBox.querySelector("#in-review-status");
    if (!el) return;
    el.textContent = text;
    el.className = `dp-out ${cls}`;
  }

  // --------------------------------------------------------------------- events
  function wire() {
    const addr = root.querySelector("#in-addr");
    addr.addEventListener("input", () => search(addr.value));
    addr.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" && form.suggestions.length) { e.preventDefault(); root.querySelector("#in-suggest button")?.focus(); }
      if (e.key !== "Enter") return;
      // The text typed is still being searched: Enter waits for its suggestions, not the ones shown.
      if (form.searchingFor && form.searchingFor === fieldText()) { e.preventDefault(); form.pendingEnter = true; return; }
      if (form.suggestions.length) { e.preventDefault(); choose(form.suggestions[0]); }
    });
    root.querySelector("#in-suggest").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-i]");
      if (b) { choose(form.suggestions[Number(b.dataset.i)]); addr.focus(); }
    });
    root.querySelector("#in-suggest").addEventListener("keydown", (e) => {
      const b = e.target.closest("button[data-i]");
      if (!b) return;
      const items = [...root.querySelectorAll("#in-suggest button")];
      const i = items.indexOf(b);
      if (e.key === "ArrowDown" && i < items.length - 1) { e.preventDefault(); items[i + 1].focus(); }
      if (e.key === "ArrowUp") { e.preventDefault(); (i > 0 ? items[i - 1] : addr).focus(); }
      if (e.key === "Escape") { form.suggestions = []; renderSuggestions(); addr.focus(); }
    });
    root.querySelector("#in-pick").addEventListener("click", () => setPicking(!form.picking));
    root.querySelector("#in-add-window").addEventListener("click", () => {
      readWindows();
      const last = form.windows[form.windows.length - 1];
      form.windows.push([last[1] || "14:00", last[1] ? addHours(last[1], 2) : "16:00"]);
      renderWindows();
      root.querySelector(`#in-from-${form.windows.length - 1}`).focus();
    });
    root.querySelector("#in-windows").addEventListener("click", (e) => {
      const b = e.target.closest("button.in-rm");
      if (!b) return;
      readWindows();
      form.windows.splice(Number(b.dataset.i), 1);
      renderWindows();
      root.querySelector("#in-add-window").focus();
    });
    root.querySelector("#in-form").addEventListener("submit", (e) => { e.preventDefault(); save(); });
    root.querySelector("#in-reset").addEventListener("click", () => { resetForm(); status("#in-status", ""); });
    root.querySelector("#in-save-anyway").addEventListener("click", () => { form.confirmedDuplicate = form.pendingDuplicate; save(); });
    root.querySelector("#in-check").addEventListener("click", check);
    root.querySelector("#in-file").addEventListener("change", (e) => {
      fileName = e.target.files[0] ? e.target.files[0].name : "";
      root.querySelector("#in-file-name").textContent = fileName || tr("noFile");
    });
  }

  function wireReview() {
    reviewBox.addEventListener("change", (e) => {
      const box = e.target.closest("input.in-tick");
      if (!box) return;
      const line = Number(box.dataset.line);
      if (box.checked) review.ticked.add(line); else review.ticked.delete(line);
      const button = reviewBox.querySelector("#in-import");
      button.textContent = tr("importN", { n: review.ticked.size });
      button.disabled = review.ticked.size === 0;
    });
    reviewBox.addEventListener("click", (e) => {
      if (e.target.closest("#in-import")) { importRows(); return; }
      if (e.target.closest("#in-cancel")) { review.rows = []; review.ticked.clear(); review.current = null; if (reviewPin) reviewPin.remove(); renderReview(); root.querySelector("#in-check").focus(); return; }
      if (e.target.closest("input, label")) return;
      const tr_ = e.target.closest("tr[data-line]");
      if (tr_) {
        const line = Number(tr_.dataset.line);
        showRow(line);
        reviewBox.querySelector(`.in-show[data-line="${line}"]`)?.focus();
      }
    });
  }

  function formatDay(day) {
    const [y, m, d] = String(day).split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(getLocale() === "en" ? "en-GB" : "fr-FR", { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  function focusLost() {
    const el = document.activeElement;
    return !el || el === document.body || el.disabled === true;
  }

  function addHours(hhmm, h) {
    const [a, b] = hhmm.split(":").map(Number);
    return `${String(Math.min(23, a + h)).padStart(2, "0")}:${String(b).padStart(2, "0")}`;
  }

  window.dispatchIntake = { form, review };
  render();
  wireReview();
  onChange(() => {
    const keep = ["#in-name", "#in-addr", "#in-dur", "#in-day", "#in-care", "#in-priority", "#in-mandatory", "#in-skills", "#in-team", "#in-pname", "#in-phone", "#in-access", "#in-notes", "#in-csv-day"].map((sel) => [sel, root.querySelector(sel)?.value]);
    const ticked = [...root.querySelectorAll("#in-skillboxes input:checked")].map((b) => b.value);
    const opened = [...root.querySelectorAll("details[open]")].map((d) => d.id);
    readWindows();
    render();
    for (const [sel, value] of keep) if (value != null && root.querySelector(sel)) root.querySelector(sel).value = value;
    for (const b of root.querySelectorAll("#in-skillboxes input")) b.checked = ticked.includes(b.value);
    for (const id of opened) root.querySelector(`#${id}`).open = true;
    for (const pin of [newPin, reviewPin]) if (pin) pin.getElement().setAttribute("aria-label", tr("pinLabel"));
  });
}
