// Coordinator: a visit's patient details (name, address, phone, access and care notes, what
// happened at the visit) opened from the map's popup or from "Visites du jour", and "Qui a
// consulté ?", the audit lines of that visit.
//
// Loaded by map.js as an extension: init(ctx), see map.js for ctx. Every opening is one read of
// GET /api/visits/{id}/details (audited by the server, with the screen it came from); the
// details live in the dialog only and are dropped when it closes. Events pushed live ("event")
// are added to the open dialog without another read.
import { getLocale, hhmm, onChange } from "./i18n.js";
import { escapeHtml, loadStylesheet } from "./common.js";

const TEXT = {
  fr: {
    open: "Détails",
    openLabel: "Détails du patient de {name}",
    title: "Détails — {name}",
    close: "Fermer",
    loading: "Chargement…",
    failed: "Détails indisponibles : {error}",
    audited: "Cette consultation est enregistrée (journal d'accès).",
    name: "Nom",
    address: "Adresse",
    phone: "Téléphone",
    phoneCall: "Appeler le {phone}",
    access: "Accès (code, clés)",
    notes: "Notes de soin",
    none: "—",
    visit: "Visite",
    windows: "Créneau {start}–{end}",
    team: "Équipe : {name}",
    unassigned: "non affectée",
    events: "Suivi de la visite",
    noEvents: "Rien d'enregistré pour cette visite.",
    "kind.arrival": "Arrivée détectée",
    "kind.check_in": "Début de visite",
    "kind.check_out": "Fin de visite",
    "kind.missed": "Visite manquée",
    "kind.note": "Note",
    "auto.traccar": "Arrivée détectée automatiquement (Traccar)",
    "auto.phone": "Arrivée détectée automatiquement (GPS du téléphone)",
    "auto.unknown": "Arrivée détectée automatiquement",
    "auto.undone": "Arrivée détectée automatiquement, annulée par un coordinateur",
    undo: "Annuler l'arrivée",
    undoLabel: "Annuler l'arrivée détectée automatiquement à {time}",
    undoing: "Annulation de l'arrivée…",
    undone: "Arrivée annulée : la visite attend l'équipe.",
    undoFailed: "L'arrivée n'a pas été annulée : {error}",
    undoConflict: "l'équipe a enregistré la visite depuis (début, fin ou visite manquée), il n'y a rien à annuler",
    undoGone: "elle a déjà été annulée",
    "reason.absent": "patient absent",
    "reason.refused": "soin refusé",
    "reason.hospitalised": "patient hospitalisé",
    "reason.no_access": "accès impossible",
    "reason.other": "autre raison",
    who: "Qui a consulté ?",
    whoTitle: "Accès à cette visite",
    whoEmpty: "Personne n'a encore consulté cette visite.",
    whoFailed: "Journal indisponible : {error}",
    "col.when": "Quand",
    "col.who": "Qui",
    "col.what": "Action",
    "col.where": "Depuis",
    "action.visit.details.read": "a lu les coordonnées",
    "action.visit.details.denied": "accès refusé",
    "action.visit.events.read": "a lu les notes",
    "action.visit.create": "a créé la visite",
    "action.visit.update": "a modifié la visite",
    "action.visit.cancel": "a annulé la visite",
    "action.visit.arrival.undone": "a annulé l'arrivée automatique",
    "from.map": "carte",
    "from.list": "liste des visites",
    "from.phone": "téléphone de l'équipe",
    phoneOf: "téléphone ({team})",
    more: "{n} lignes de plus dans le journal complet (administrateur).",
  },
  en: {
    open: "Details",
    openLabel: "Patient details of {name}",
    title: "Details — {name}",
    close: "Close",
    loading: "Loading…",
    failed: "Details unavailable: {error}",
    audited: "This read is recorded (access log).",
    name: "Name",
    address: "Address",
    phone: "Phone",
    phoneCall: "Call {phone}",
    access: "Access (door code, keys)",
    notes: "Care notes",
    none: "—",
    visit: "Visit",
    windows: "Window {start}–{end}",
    team: "Team: {name}",
    unassigned: "unassigned",
    events: "Visit record",
    noEvents: "Nothing recorded for this visit.",
    "kind.arrival": "Arrival detected",
    "kind.check_in": "Visit started",
    "kind.check_out": "Visit ended",
    "kind.missed": "Visit missed",
    "kind.note": "Note",
    "auto.traccar": "Arrival detected automatically (Traccar)",
    "auto.phone": "Arrival detected automatically (phone GPS)",
    "auto.unknown": "Arrival detected automatically",
    "auto.undone": "Arrival detected automatically, undone by a coordinator",
    undo: "Undo the arrival",
    undoLabel: "Undo the arrival detected automatically at {time}",
    undoing: "Undoing the arrival…",
    undone: "Arrival undone: the visit waits for the team.",
    undoFailed: "The arrival was not undone: {error}",
    undoConflict: "the team has recorded the visit since (start, end or missed), there is nothing to undo",
    undoGone: "it was undone already",
    "reason.absent": "patient away",
    "reason.refused": "care refused",
    "reason.hospitalised": "patient in hospital",
    "reason.no_access": "no access",
    "reason.other": "other reason",
    who: "Who read it?",
    whoTitle: "Access to this visit",
    whoEmpty: "Nobody has read this visit yet.",
    whoFailed: "Log unavailable: {error}",
    "col.when": "When",
    "col.who": "Who",
    "col.what": "Action",
    "col.where": "From",
    "action.visit.details.read": "read the details",
    "action.visit.details.denied": "access refused",
    "action.visit.events.read": "read the notes",
    "action.visit.create": "created the visit",
    "action.visit.update": "changed the visit",
    "action.visit.cancel": "cancelled the visit",
    "action.visit.arrival.undone": "undid the automatic arrival",
    "from.map": "map",
    "from.list": "visit list",
    "from.phone": "team phone",
    phoneOf: "phone ({team})",
    more: "{n} more lines in the full log (administrator).",
  },
};

function tr(key, vars = {}) {
  const dict = TEXT[getLocale()] || TEXT.fr;
  const text = dict[key] || TEXT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}


export async function init(ctx) {
  const { api, state } = ctx;
  // Patient details are for coordinators (administrators and planners have no access).
  if (state.config?.principal?.role !== "coordinator") return;
  await loadStylesheet("/static/map/dispatch-details.css");

  const dialog = document.createElement("dialog");
  dialog.className = "dd-dialog";
  dialog.id = "dd-dialog";
  dialog.setAttribute("aria-labelledby", "dd-title");
  document.body.appendChild(dialog);

  // What the dialog shows; the patient's details are dropped when it closes.
  let open = null; // {visitId, from, details, events, audit, error, auditError, opener}

  const timeOf = (unixS) => {
    if (unixS == null) return "";
    return new Intl.DateTimeFormat(getLocale(), { hour: "2-digit", minute: "2-digit" }).format(new Date(unixS * 1000));
  };
  const whenOf = (unixS) => new Intl.DateTimeFormat(getLocale(), { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(unixS * 1000));

  // Arrivals the geofence recorded from a fix (not pressed by the team): marked with where the
  // fix came from, and undoable by the coordinator while the team has recorded nothing since.
  const GEOFENCE = "system:geofence";
  const isAutomatic = (e) => e.actor === GEOFENCE && e.kind === "arrival";

  function eventLine(e) {
    const fr = getLocale() === "fr";
    let text = tr(`kind.${e.kind}`);
    let undo = "";
    if (isAutomatic(e)) {
      const arrival = open?.arrival?.event_id === e.id ? open.arrival : null;
      text = tr(`auto.${arrival ? arrival.source : "unknown"}`);
      if (arrival?.undoable) {
        const time = timeOf(e.device_time_s ?? e.server_time_s);
        undo = ` <button type="button" class="dd-undo" data-undo-event="${escapeHtml(e.id)}" aria-label="${escapeHtml(tr("undoLabel", { time }))}"${open.undoing ? ' aria-disabled="true"' : ""}>${escapeHtml(tr("undo"))}</button>`;
      }
    } else if (e.actor === GEOFENCE && e.kind === "note") {
      const team = e.team_id != null ? ` (${ctx.teamName(e.team_id)})` : "";
      return `<li class="note auto-undone" data-event-id="${escapeHtml(e.id)}"><span class="dd-time">${escapeHtml(timeOf(e.device_time_s ?? e.server_time_s))}</span> ${escapeHtml(tr("auto.undone"))}${escapeHtml(team)}</li>`;
    }
    if (e.reason) text += `${fr ? " : " : ": "}${tr(`reason.${e.reason}`)}`;
    if (e.note && e.kind !== "arrival") text += fr ? ` — « ${e.note} »` : ` — “${e.note}”`;
    const team = e.team_id != null ? ` (${ctx.teamName(e.team_id)})` : "";
    return `<li class="${escapeHtml(e.kind)}${isAutomatic(e) ? " auto" : ""}" data-event-id="${escapeHtml(e.id)}"><span class="dd-time">${escapeHtml(timeOf(e.device_time_s ?? e.server_time_s))}</span> ${escapeHtml(text)}${escapeHtml(team)}${undo}</li>`;
  }

  function whoName(item) {
    if (item.actor_kind === "device") return tr("phoneOf", { team: item.team_name || "?" });
    return item.team_name ? `${item.actor_name} (${item.team_name})` : item.actor_name;
  }

  function whereOf(item) {
    const d = item.detail || {};
    const parts = [];
    if (d.from) parts.push(tr(`from.${d.from}`));
    if (item.actor_kind === "device" && d.device) parts.push(d.device);
    if (item.ip) parts.push(item.ip);
    return parts.join(" · ");
  }

  function render() {
    if (!open) return;
    const visit = state.visits.get(open.visitId) || { pseudonym: `#${open.visitId}` };
    const d = open.details;
    const row = (label, value) => `<dt>${escapeHtml(tr(label))}</dt><dd>${value || escapeHtml(tr("none"))}</dd>`;
    let body = `<p class="dd-note">${escapeHtml(tr("audited"))}</p>`;
    if (open.error) body += `<p class="dd-error" role="alert">${escapeHtml(tr("failed", { error: open.error }))}</p>`;
    else if (!d) body += `<p>${escapeHtml(tr("loading"))}</p>`;
    else {
      const address = [visit.address, visit.commune].filter(Boolean).join(", ");
      const phone = d.phone ? `<a href="tel:${escapeHtml(String(d.phone).replace(/[^\d+]/g, ""))}" aria-label="${escapeHtml(tr("phoneCall", { phone: d.phone }))}">${escapeHtml(d.phone)}</a>` : "";
      const w = (visit.windows || [])[0];
      const when = [w ? tr("windows", { start: hhmm(w[0]), end: hhmm(w[1]) }) : "", tr("team", { name: visit.team_id ? ctx.teamName(visit.team_id) : tr("unassigned") })].filter(Boolean).join(" · ");
      body += "<dl>"
        + row("name", escapeHtml(d.name || ""))
        + row("address", escapeHtml(address))
        + row("phone", phone)
        + row("access", escapeHtml(d.address_details || ""))
        + row("notes", escapeHtml(d.notes || ""))
        + row("visit", escapeHtml(when))
        + "</dl>";
      body += `<h3 id="dd-events-title">${escapeHtml(tr("events"))}</h3>`;
      const events = open.events || [];
      body += events.length
        ? `<ol class="dd-events" aria-labelledby="dd-events-title" aria-live="polite">${events.map(eventLine).join("")}</ol>`
        : `<p class="dd-note" aria-live="polite">${escapeHtml(tr("noEvents"))}</p>`;
      const undoText = open.undoError ? tr("undoFailed", { error: open.undoError }) : open.undoing ? tr("undoing") : open.undone ? tr("undone") : "";
      body += `<p id="dd-undo-status" class="${open.undoError ? "dd-error" : "dd-note"}" role="status">${escapeHtml(undoText)}</p>`;
      body += `<button type="button" class="dd-who" aria-expanded="${open.audit ? "true" : "false"}" aria-controls="dd-audit-box">${escapeHtml(tr("who"))}</button>`;
      body += `<div id="dd-audit-box">`;
      if (open.auditError) body += `<p class="dd-error" role="alert">${escapeHtml(tr("whoFailed", { error: open.auditError }))}</p>`;
      else if (open.audit) {
        const items = open.audit.items || [];
        body += items.length
          ? `<table class="dd-audit"><caption class="dd-note">${escapeHtml(tr("whoTitle"))}</caption><thead><tr><th scope="col">${escapeHtml(tr("col.when"))}</th><th scope="col">${escapeHtml(tr("col.who"))}</th><th scope="col">${escapeHtml(tr("col.what"))}</th><th scope="col">${escapeHtml(tr("col.where"))}</th></tr></thead><tbody>`
            + items.map((i) => `<tr data-action="${escapeHtml(i.action)}"><td>${escapeHtml(whenOf(i.at_s))}</td><td>${escapeHtml(whoName(i))}</td><td>${escapeHtml(tr(`action.${i.action}`))}</td><td>${escapeHtml(whereOf(i))}</td></tr>`).join("")
            + "</tbody></table>"
          : `<p class="dd-note">${escapeHtml(tr("whoEmpty"))}</p>`;
        if (open.audit.total > items.length) body += `<p class="dd-note">${escapeHtml(tr("more", { n: open.audit.total - items.length }))}</p>`;
      }
      body += "</div>";
    }
    const hadFocusOnWho = document.activeElement?.classList?.contains("dd-who");
    const hadFocusOnUndo = document.activeElement?.classList?.contains("dd-undo");
    // A push that redraws the dialog (the visit's events) keeps the keyboard on the message.
    const hadFocusOnStatus = document.activeElement?.id === "dd-undo-status";
    const hadFocusInDialog = dialog.contains(document.activeElement);
    dialog.innerHTML = `<div class="dd-head"><h2 id="dd-title">${escapeHtml(tr("title", { name: visit.pseudonym }))}</h2>`
      + `<button type="button" class="dd-close">${escapeHtml(tr("close"))}</button></div><div class="dd-body">${body}</div>`;
    dialog.querySelector(".dd-close").addEventListener("click", () => dialog.close());
    const who = dialog.querySelector(".dd-who");
    if (who) {
      who.addEventListener("click", loadAudit);
      if (hadFocusOnWho) who.focus();
    }
    const undo = dialog.querySelector(".dd-undo");
    if (undo) {
      undo.addEventListener("click", undoArrival);
      if (hadFocusOnUndo) undo.focus();
    } else if (hadFocusOnUndo || hadFocusOnStatus) {
      // The button left with the arrival: keep the keyboard in the dialog, on its message.
      const status = dialog.querySelector("#dd-undo-status");
      status.tabIndex = -1;
      status.focus();
    }
    // Any other element that had the keyboard left with the redraw (a live push, a language
    // change): the keyboard stays in the dialog, on its close button.
    if (hadFocusInDialog && !dialog.contains(document.activeElement)) dialog.querySelector(".dd-close").focus();
  }

  // The geofence's arrival of the open visit (its source, whether it can be undone): read
  // when the visit's record shows one.
  async function loadArrival(visitId) {
    if (!open || open.visitId !== visitId || !(open.events || []).some(isAutomatic)) {
      if (open && open.visitId === visitId) open.arrival = null;
      return;
    }
    try {
      const reply = await api(`/api/visits/${visitId}/arrival`, { token: null });
      if (open?.visitId === visitId) open.arrival = reply.arrival;
    } catch (err) {
      console.warn("could not read the visit's automatic arrival", err);
    }
  }

  async function reloadRecord(visitId) {
    try {
      const events = await api(`/api/visits/${visitId}/events?limit=200`, { token: null });
      if (open?.visitId !== visitId) return;
      open.events = events.items;
      await loadArrival(visitId);
    } catch (err) {
      console.warn("could not read the visit's events again", err);
    }
  }

  async function undoArrival() {
    if (!open || open.undoing) return;
    const visitId = open.visitId;
    open.undoing = true;
    open.undoError = null;
    open.undone = false;
    render();
    try {
      await api(`/api/visits/${visitId}/arrival/undo`, { method: "POST", token: null });
      if (open?.visitId !== visitId) return;
      open.undone = true;
      await reloadRecord(visitId);
    } catch (err) {
      if (open?.visitId !== visitId) return;
      open.undoError = err.status === 409 ? tr("undoConflict") : err.status === 404 ? tr("undoGone") : err.message;
      // What the team recorded meanwhile replaces the button.
      if (err.status === 409 || err.status === 404) await reloadRecord(visitId);
    } finally {
      if (open?.visitId === visitId) { open.undoing = false; render(); }
    }
  }

  async function loadAudit() {
    if (!open) return;
    const visitId = open.visitId;
    try {
      const audit = await api(`/api/visits/${visitId}/audit?limit=50`, { token: null });
      if (open?.visitId !== visitId) return;
      open.audit = audit;
      open.auditError = null;
    } catch (err) {
      if (open?.visitId !== visitId) return;
      open.auditError = err.message;
    }
    render();
  }

  async function openDetails(visitId, from, opener) {
    open = { visitId, from, details: null, events: null, audit: null, error: null, auditError: null, opener, arrival: null, undoing: false, undone: false, undoError: null };
    render();
    if (!dialog.open) dialog.showModal();
    dialog.querySelector(".dd-close").focus();
    try {
      const [details, events] = await Promise.all([
        api(`/api/visits/${visitId}/details?from=${from}`, { token: null }),
        api(`/api/visits/${visitId}/events?limit=200`, { token: null }),
      ]);
      if (open?.visitId !== visitId) return;
      open.details = details.details;
      open.events = events.items;
      await loadArrival(visitId);
    } catch (err) {
      if (open?.visitId !== visitId) return;
      open.error = err.message;
    }
    const focusClose = document.activeElement === dialog.querySelector(".dd-close");
    render();
    if (focusClose) dialog.querySelector(".dd-close").focus();
  }

  dialog.addEventListener("close", () => {
    const opener = open?.opener;
    const visitId = open?.visitId;
    open = null;
    dialog.innerHTML = "";
    if (!opener) return;
    if (opener.isConnected) { opener.focus(); return; }
    // The list was redrawn while the dialog was open: the keyboard goes back to the same visit's
    // button in the list as it is now, else (the visit left the list) to the list's heading.
    const again = list?.querySelector(`button.vdet[data-details-id='${visitId}']`);
    if (again) { again.focus(); return; }
    const heading = list?.closest("section")?.querySelector("h2");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
    }
  });
  // A click on the backdrop closes the dialog.
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });

  // A pushed event carries no note text nor reason (patient details): the open visit's events
  // are read again through the audited endpoint.
  // One read at a time; events pushed during it ask for one more read after it.
  let reloading = false;
  let again = false;
  async function reloadEvents(visitId) {
    if (reloading) { again = true; return; }
    reloading = true;
    try {
      const events = await api(`/api/visits/${visitId}/events?limit=200`, { token: null });
      if (open?.visitId === visitId && open.events) {
        open.events = events.items;
        await loadArrival(visitId);
        if (open?.visitId === visitId) render();
      }
    } catch (err) {
      console.warn("could not read the visit's events again", err);
    } finally {
      reloading = false;
      if (again && open?.visitId != null) { again = false; reloadEvents(open.visitId); }
    }
  }
  ctx.on("event", (event) => {
    if (!open || !open.events || event.visit_id !== open.visitId) return;
    if (open.events.some((e) => e.id === event.id)) return;
    reloadEvents(open.visitId);
  });
  ctx.on("live", () => { if (open && open.details) render(); });

  // "Visites du jour": a "Détails" button on each row (the list is redrawn often).
  const list = document.getElementById("visit-list");
  const decorateList = () => {
    for (const li of list.querySelectorAll("li[data-visit-id]")) {
      if (li.querySelector(".vdet")) continue;
      const id = Number(li.dataset.visitId);
      const v = state.visits.get(id);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "vdet";
      button.dataset.detailsId = String(id);
      button.textContent = tr("open");
      button.setAttribute("aria-label", tr("openLabel", { name: v ? v.pseudonym : `#${id}` }));
      li.appendChild(button);
    }
  };
  // The list's redraw (map.js) keeps the keyboard on its own buttons only: a "Détails" button
  // that had it is found again for the same visit once the list is redrawn.
  let focusedDetails = null;
  const redrawn = () => {
    decorateList();
    if (!focusedDetails || focusedDetails.isConnected) return;
    const id = focusedDetails.dataset.detailsId;
    focusedDetails = null;
    if (document.activeElement && document.activeElement !== document.body) return;
    const again = list.querySelector(`button.vdet[data-details-id='${id}']`);
    if (again) { focusedDetails = again; again.focus(); }
  };
  if (list) {
    list.addEventListener("focusin", (e) => { focusedDetails = e.target.matches("button.vdet") ? e.target : null; });
    // Focus moved elsewhere on purpose (the button is still in the list once the redraw, if any,
    // is done): not to be brought back.
    list.addEventListener("focusout", (e) => {
      const left = e.target;
      setTimeout(() => { if (focusedDetails === left && left.isConnected) focusedDetails = null; });
    });
    new MutationObserver(redrawn).observe(list, { childList: true });
    decorateList();
    list.addEventListener("click", (e) => {
      const button = e.target.closest("button.vdet");
      if (!button) return;
      const id = Number(button.dataset.detailsId);
      ctx.selectVisit(id, { source: "list" });
      openDetails(id, "list", button);
    });
  }

  // The map's visit popup: a "Détails" button for the visit just selected on the map.
  let popupVisit = null;
  ctx.on("select-visit", ({ visit_id: id, source }) => { if (source === "map") popupVisit = id; });
  const decoratePopup = () => {
    for (const content of document.querySelectorAll(".visit-popup .maplibregl-popup-content")) {
      if (content.querySelector(".dd-popup-open") || popupVisit == null) continue;
      const id = popupVisit;
      const v = state.visits.get(id);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "dd-popup-open";
      button.dataset.detailsId = String(id);
      button.textContent = tr("open");
      button.setAttribute("aria-label", tr("openLabel", { name: v ? v.pseudonym : `#${id}` }));
      button.addEventListener("click", () => openDetails(id, "map", null));
      content.appendChild(document.createElement("br"));
      content.appendChild(button);
    }
  };
  new MutationObserver(decoratePopup).observe(ctx.map.getContainer(), { childList: true, subtree: true });

  onChange(() => {
    for (const b of document.querySelectorAll(".vdet, .dd-popup-open")) {
      const v = state.visits.get(Number(b.dataset.detailsId));
      b.textContent = tr("open");
      b.setAttribute("aria-label", tr("openLabel", { name: v ? v.pseudonym : `#${b.dataset.detailsId}` }));
    }
    render();
  });
}
