// The week screen's exports: the « Exports » tab (the structure's activity CSV for a period,
// per visit or per day and team, and the week shown as iCalendar) and the « Agenda
// personnel » part of the staff editor (create, copy and revoke a member's private calendar
// link). French first, English complete. Downloads go through fetch so that a refusal is
// shown on the page (not saved as a file).
import { ApiError } from "/static/map/common.js";
import { extend, getLocale, t } from "/static/map/i18n.js";

extend({
  fr: {
    "views.exports": "Exports",
    "ex.activity.h": "Activité pour le financeur (CSV)",
    "ex.activity.hint": "Visites réalisées avec l'arrivée, le départ et le temps sur place, visites manquées avec leur motif, km des tournées publiées et des traces GPS (tant que les positions sont gardées). Fichier CSV séparé par des points-virgules, pour un tableur ; patients désignés par leur pseudonyme.",
    "ex.from": "Premier jour de la période",
    "ex.to": "Dernier jour (inclus)",
    "ex.detail": "Détail",
    "ex.detail.visits": "Une ligne par visite",
    "ex.detail.summary": "Une ligne par jour et par équipe, avec le total",
    "ex.activity.go": "Télécharger l'activité (CSV)",
    "ex.week.h": "Semaine de la structure (iCalendar)",
    "ex.week.hint": "Les visites des 7 jours de la semaine affichée, à importer dans un agenda (fichier .ics) ; patients désignés par leur pseudonyme.",
    "ex.week.go": "Télécharger la semaine du {from} (.ics)",
    "ex.busy": "Préparation du fichier…",
    "ex.done": "Fichier « {name} » téléchargé.",
    "ex.bad.period": "Choisissez un premier jour et un dernier jour, le dernier après le premier.",
    "ex.bad.long": "Exportez au plus 366 jours à la fois.",
    "feed.h": "Agenda personnel",
    "feed.hint": "Un lien privé à ajouter dans l'agenda du téléphone de la personne (abonnement) : ses visites des 14 prochains jours, patients désignés par leur pseudonyme. Qui a le lien voit ces visites : révoquez-le si le téléphone est perdu.",
    "feed.none": "Aucun lien privé actif.",
    "feed.active": "Lien privé actif depuis le {date}.",
    "feed.active.used": "Lien privé actif depuis le {date}, lu pour la dernière fois le {used}.",
    "feed.create": "Créer le lien privé",
    "feed.replace": "Remplacer le lien privé",
    "feed.replace.label": "Remplacer le lien privé de {name} (l'ancien ne marchera plus)",
    "feed.create.label": "Créer le lien privé de l'agenda de {name}",
    "feed.url": "Lien privé (affiché une seule fois : copiez-le maintenant)",
    "feed.copy": "Copier le lien",
    "feed.copied": "Lien copié : collez-le dans l'agenda du téléphone (ajouter un agenda par URL).",
    "feed.copy.failed": "Copie impossible : sélectionnez le lien et copiez-le à la main.",
    "feed.created": "Nouveau lien privé créé ; l'ancien, s'il y en avait un, ne marche plus.",
    "feed.revoke": "Révoquer le lien",
    "feed.revoke.label": "Révoquer le lien privé de l'agenda de {name}",
    "feed.revoked": "Lien révoqué : l'agenda ne reçoit plus les visites.",
  },
  en: {
    "views.exports": "Exports",
    "ex.activity.h": "Activity for the funder (CSV)",
    "ex.activity.hint": "Visits done with check-in, check-out and time on site, missed visits with their reason, km of the published rounds and of the GPS tracks (while positions are kept). Semicolon-separated CSV for a spreadsheet; patients by pseudonym.",
    "ex.from": "First day of the period",
    "ex.to": "Last day (included)",
    "ex.detail": "Detail",
    "ex.detail.visits": "One line per visit",
    "ex.detail.summary": "One line per day and team, with the total",
    "ex.activity.go": "Download the activity (CSV)",
    "ex.week.h": "The structure's week (iCalendar)",
    "ex.week.hint": "The visits of the 7 days of the week shown, to import into a calendar (.ics file); patients by pseudonym.",
    "ex.week.go": "Download the week of {from} (.ics)",
    "ex.busy": "Preparing the file…",
    "ex.done": "File “{name}” downloaded.",
    "ex.bad.period": "Choose a first and a last day, the last after the first.",
    "ex.bad.long": "Export at most 366 days at a time.",
    "feed.h": "Personal calendar",
    "feed.hint": "A private link to add to the person's phone calendar (subscription): their visits of the coming 14 days, patients by pseudonym. Whoever has the link sees these visits: revoke it if the phone is lost.",
    "feed.none": "No private link is active.",
    "feed.active": "Private link active since {date}.",
    "feed.active.used": "Private link active since {date}, last read {used}.",
    "feed.create": "Create the private link",
    "feed.replace": "Replace the private link",
    "feed.replace.label": "Replace {name}'s private link (the old one will stop working)",
    "feed.create.label": "Create the private link of {name}'s calendar",
    "feed.url": "Private link (shown once: copy it now)",
    "feed.copy": "Copy the link",
    "feed.copied": "Link copied: paste it into the phone's calendar (add a calendar by URL).",
    "feed.copy.failed": "Could not copy: select the link and copy it by hand.",
    "feed.created": "New private link created; the old one, if any, no longer works.",
    "feed.revoke": "Revoke the link",
    "feed.revoke.label": "Revoke the private link of {name}'s calendar",
    "feed.revoked": "Link revoked: the calendar no longer receives the visits.",
  },
});

const MAX_DAYS = 366;
let ctx = null;
const feed = { staffId: null, name: "", state: null, url: null };

function $(id) {
  return document.getElementById(id);
}

function dateTimeText(iso) {
  if (!iso) return "";
  const format = new Intl.DateTimeFormat(getLocale() === "en" ? "en-GB" : "fr-FR", { dateStyle: "long", timeStyle: "short", timeZone: "Europe/Paris" });
  return format.format(new Date(iso));
}

function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86400000) + 1;
}

/** A message on a status line, in the error colour when ``bad``. */
function tell(el, message, { bad = false } = {}) {
  el.classList.toggle("is-error", bad);
  ctx.say(el, message);
}

/** Fetches a file of the API and saves it; a refusal is thrown as an ApiError. */
async function download(path, fallbackName) {
  const response = await fetch(path, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { "Accept-Language": getLocale() },
  });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(data, response.status);
  }
  const blob = await response.blob();
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const name = match ? match[1] : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

function params(extra) {
  const p = new URLSearchParams({ lang: getLocale() === "en" ? "en" : "fr", ...extra });
  const sid = ctx.scopeId();
  if (sid != null) p.set("structure_id", String(sid));
  return p;
}

async function run(button, path, fallback) {
  const status = $("ex-status");
  button.disabled = true;
  status.classList.remove("is-error");
  ctx.show(status, () => t("ex.busy"));
  try {
    const name = await download(path, fallback);
    tell(status, () => t("ex.done", { name }));
  } catch (err) {
    tell(status, () => ctx.errorText(err), { bad: true });
  } finally {
    button.disabled = false;
  }
}

function onActivity() {
  const from = $("ex-from").value;
  const to = $("ex-to").value;
  for (const id of ["ex-from", "ex-to"]) $(id).removeAttribute("aria-invalid");
  if (!from || !to || to < from) {
    $(!from ? "ex-from" : "ex-to").setAttribute("aria-invalid", "true");
    tell($("ex-status"), () => t("ex.bad.period"), { bad: true });
    $(!from ? "ex-from" : "ex-to").focus();
    return;
  }
  if (daysBetween(from, to) > MAX_DAYS) {
    $("ex-to").setAttribute("aria-invalid", "true");
    tell($("ex-status"), () => t("ex.bad.long"), { bad: true });
    $("ex-to").focus();
    return;
  }
  const detail = document.querySelector("input[name=ex-detail]:checked")?.value || "visits";
  run($("ex-activity"), `/api/exports/activity.csv?${params({ from, to, detail })}`, "activite.csv");
}

function onWeek() {
  const from = ctx.state.from;
  run($("ex-week"), `/api/exports/week.ics?${params({ from })}`, `semaine-${from}.ics`);
}

/** Texts of the tab that depend on the week shown or the language. */
export function renderExports() {
  if (!ctx || !ctx.state.from) return;
  $("ex-week").textContent = t("ex.week.go", { from: ctx.dayText(ctx.state.from, { weekday: false, year: true }) });
  // The period defaults to the month before the week shown's Monday up to that Sunday.
  if (!$("ex-from").value) $("ex-from").value = `${ctx.state.from.slice(0, 8)}01`;
  if (!$("ex-to").value) $("ex-to").value = ctx.addDays(ctx.state.from, 6);
}

// ------------------------------------------------------------------ « Agenda personnel »
function renderFeed() {
  const box = $("sf-feed");
  if (!box || box.hidden) return;
  const s = feed.state;
  let text = "";
  if (s && s.active) {
    text = s.last_used_at
      ? t("feed.active.used", { date: dateTimeText(s.created_at), used: dateTimeText(s.last_used_at) })
      : t("feed.active", { date: dateTimeText(s.created_at) });
  } else if (s) {
    text = t("feed.none");
  }
  $("sf-feed-state").textContent = text;
  const active = !!(s && s.active);
  const create = $("sf-feed-create");
  create.textContent = t(active ? "feed.replace" : "feed.create");
  create.setAttribute("aria-label", t(active ? "feed.replace.label" : "feed.create.label", { name: feed.name }));
  const revoke = $("sf-feed-revoke");
  revoke.hidden = !active;
  revoke.setAttribute("aria-label", t("feed.revoke.label", { name: feed.name }));
  $("sf-feed-link").hidden = !(active && feed.url);
  if (feed.url) $("sf-feed-url").value = feed.url;
}

/** Shows the part for ``member`` (null: a new member, nothing to show yet). */
export async function openFeed(member) {
  const box = $("sf-feed");
  feed.staffId = member ? member.id : null;
  feed.name = member ? member.name : "";
  feed.state = null;
  feed.url = null;
  $("sf-feed-note").classList.remove("is-error");
  ctx.show($("sf-feed-note"), null);
  box.hidden = !member || !ctx.canEdit();
  if (box.hidden) return;
  renderFeed();
  const id = feed.staffId;
  try {
    const reply = await ctx.call(`/api/staff/${id}/calendar-feed`);
    if (feed.staffId !== id) return;
    feed.state = reply;
  } catch (err) {
    $("sf-feed-note").classList.add("is-error");
    ctx.show($("sf-feed-note"), () => ctx.errorText(err));
  }
  renderFeed();
}

export function renderFeedTexts() {
  renderFeed();
}

async function createFeed() {
  const id = feed.staffId;
  const button = $("sf-feed-create");
  button.disabled = true;
  try {
    const reply = await ctx.call(`/api/staff/${id}/calendar-feed`, { method: "POST" });
    if (feed.staffId !== id) return;
    feed.url = reply.url;
    feed.state = { active: true, created_at: reply.created_at, last_used_at: null };
    renderFeed();
    tell($("sf-feed-note"), () => t("feed.created"));
    $("sf-feed-url").focus();
    $("sf-feed-url").select();
  } catch (err) {
    tell($("sf-feed-note"), () => ctx.errorText(err), { bad: true });
  } finally {
    button.disabled = false;
  }
}

async function revokeFeed() {
  const id = feed.staffId;
  try {
    await ctx.call(`/api/staff/${id}/calendar-feed`, { method: "DELETE" });
    if (feed.staffId !== id) return;
    feed.url = null;
    feed.state = { active: false, created_at: null, last_used_at: null };
    renderFeed();
    tell($("sf-feed-note"), () => t("feed.revoked"));
    $("sf-feed-create").focus();
  } catch (err) {
    tell($("sf-feed-note"), () => ctx.errorText(err), { bad: true });
  }
}

async function copyFeed() {
  const input = $("sf-feed-url");
  try {
    await navigator.clipboard.writeText(input.value);
    tell($("sf-feed-note"), () => t("feed.copied"));
  } catch {
    input.focus();
    input.select();
    tell($("sf-feed-note"), () => t("feed.copy.failed"), { bad: true });
  }
}

/** Wires the tab and the staff editor's part; ``context`` gives the page's helpers. */
export function setupExports(context) {
  ctx = context;
  $("ex-activity").addEventListener("click", onActivity);
  $("ex-week").addEventListener("click", onWeek);
  for (const id of ["ex-from", "ex-to"]) $(id).addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
  $("sf-feed-create").addEventListener("click", createFeed);
  $("sf-feed-revoke").addEventListener("click", revokeFeed);
  $("sf-feed-copy").addEventListener("click", copyFeed);
}

