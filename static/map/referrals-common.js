// What the referrer's page (/referrer/) and the coordinators' requests page (/requests/) share:
// the texts of a request's states, urgencies, kinds of care, times of day and professions
// (French first, English complete), the way a day, a slot and a request's timeline are
// written, and the attachment upload (multipart, with the session's CSRF token).
import { ApiError } from "/static/map/common.js";
import { extend, getLocale, t } from "/static/map/i18n.js";

extend({
  fr: {
    "rf.state.submitted": "Envoyée",
    "rf.state.proposed": "Créneaux proposés",
    "rf.state.booked": "Visite réservée",
    "rf.state.accepted": "Acceptée",
    "rf.state.declined": "Refusée",
    "rf.state.cancelled": "Annulée",
    "rf.urgency.routine": "Habituelle",
    "rf.urgency.soon": "Dans les jours qui viennent",
    "rf.urgency.urgent": "Urgente",
    "rf.tod.any": "Indifférent",
    "rf.tod.morning": "Matin",
    "rf.tod.afternoon": "Après-midi",
    "rf.tod.evening": "Soir",
    "rf.profession.gp": "Médecin généraliste",
    "rf.profession.discharge_nurse": "Infirmier(e) de sortie d'hospitalisation",
    "rf.profession.dac": "Coordinateur DAC",
    "rf.profession.pharmacist": "Pharmacien(ne)",
    "rf.profession.other": "Autre professionnel",
    "rf.gender.female": "Femme",
    "rf.gender.male": "Homme",
    "rf.gender.other": "Autre",
    "rf.kind.visit": "Visite ponctuelle",
    "rf.kind.care_plan": "Soins répétés",
    "rf.care.nursing": "Soins infirmiers",
    "rf.care.hygiene": "Toilette",
    "rf.care.evening_care": "Aide au coucher",
    "rf.care.insulin": "Insuline",
    "rf.care.dressing": "Pansement",
    "rf.care.injection": "Injection",
    "rf.care.blood_test": "Prise de sang",
    "rf.care.assessment": "Bilan de soins",
    "rf.care.palliative_assessment": "Évaluation palliative",
    "rf.care.palliative": "Soins palliatifs",
    "rf.care.geriatric": "Gériatrie",
    "rf.care.medication": "Aide à la prise de médicaments",
    "rf.care.infusion": "Perfusion",
    "rf.care.other": "Autre soin",
    "rf.number": "Demande n° {id}",
    "rf.slot": "{day}, {window}",
    "rf.window": "passage entre {from} et {to}",
    "rf.window.at": "passage à {from}",
    "rf.slot.team": "{team}",
    "rf.visit.team": "équipe {team}",
    "rf.precision.street": "adresse placée au milieu de la rue : vérifiez",
    "rf.precision.commune": "adresse placée au centre de la commune : vérifiez",
    "rf.precision.commune.named": "adresse placée au centre de {commune} : vérifiez",
    "rf.minutes": "{n} min",
    "rf.size.kb": "{n} ko",
    "rf.size.mb": "{n} Mo",
    "rf.wd.1": "lundi",
    "rf.wd.2": "mardi",
    "rf.wd.3": "mercredi",
    "rf.wd.4": "jeudi",
    "rf.wd.5": "vendredi",
    "rf.wd.6": "samedi",
    "rf.wd.7": "dimanche",
    "rf.recurrence": "{times} passage(s) par jour, {days}, jusqu'au {until}",
    "rf.everyday": "tous les jours",
    "rf.error.server": "Refusé par le serveur : {error}",
    "rf.error.network": "Le serveur ne répond pas : réessayez dans un instant.",
    "rf.error.forbidden": "Votre rôle ne permet pas cette action.",
    "rf.error.missing": "Cette demande n'existe pas ou ne vous est pas accessible.",
  },
  en: {
    "rf.state.submitted": "Sent",
    "rf.state.proposed": "Slots proposed",
    "rf.state.booked": "Booked",
    "rf.state.accepted": "Accepted",
    "rf.state.declined": "Declined",
    "rf.state.cancelled": "Cancelled",
    "rf.urgency.routine": "Routine",
    "rf.urgency.soon": "In the coming days",
    "rf.urgency.urgent": "Urgent",
    "rf.tod.any": "Any time",
    "rf.tod.morning": "Morning",
    "rf.tod.afternoon": "Afternoon",
    "rf.tod.evening": "Evening",
    "rf.profession.gp": "General practitioner",
    "rf.profession.discharge_nurse": "Hospital discharge nurse",
    "rf.profession.dac": "DAC coordinator",
    "rf.profession.pharmacist": "Pharmacist",
    "rf.profession.other": "Other professional",
    "rf.gender.female": "Female",
    "rf.gender.male": "Male",
    "rf.gender.other": "Other",
    "rf.kind.visit": "One-off visit",
    "rf.kind.care_plan": "Repeated care",
    "rf.care.nursing": "Nursing care",
    "rf.care.hygiene": "Personal care",
    "rf.care.evening_care": "Help to bed",
    "rf.care.insulin": "Insulin",
    "rf.care.dressing": "Wound dressing",
    "rf.care.injection": "Injection",
    "rf.care.blood_test": "Blood test",
    "rf.care.assessment": "Nursing assessment",
    "rf.care.palliative_assessment": "Palliative assessment",
    "rf.care.palliative": "Palliative care",
    "rf.care.geriatric": "Geriatric care",
    "rf.care.medication": "Help with medication",
    "rf.care.infusion": "Infusion",
    "rf.care.other": "Other care",
    "rf.number": "Request no. {id}",
    "rf.slot": "{day}, {window}",
    "rf.window": "arrival between {from} and {to}",
    "rf.window.at": "arrival at {from}",
    "rf.slot.team": "{team}",
    "rf.visit.team": "team {team}",
    "rf.precision.street": "address placed in the middle of the street: check it",
    "rf.precision.commune": "address placed at the centre of the town: check it",
    "rf.precision.commune.named": "address placed at the centre of {commune}: check it",
    "rf.minutes": "{n} min",
    "rf.size.kb": "{n} kB",
    "rf.size.mb": "{n} MB",
    "rf.wd.1": "Monday",
    "rf.wd.2": "Tuesday",
    "rf.wd.3": "Wednesday",
    "rf.wd.4": "Thursday",
    "rf.wd.5": "Friday",
    "rf.wd.6": "Saturday",
    "rf.wd.7": "Sunday",
    "rf.recurrence": "{times} visit(s) a day, {days}, until {until}",
    "rf.everyday": "every day",
    "rf.error.server": "Refused by the server: {error}",
    "rf.error.network": "The server does not answer: try again in a moment.",
    "rf.error.forbidden": "Your role does not allow this action.",
    "rf.error.missing": "This request does not exist or is not yours to see.",
  },
});

/** The text of `key`, or `fallback` (the raw code) when there is none. */
export function label(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

export const careText = (code) => label(`rf.care.${code}`, code);

// The care acts of GET /api/referrals/options (id, label_fr, label_en, skills, duration_min):
// the server's catalogue (dispatch/care/acts.py) names them in both languages.
let ACTS = [];
/** Keep the catalogue of care acts the options gave. */
export function setActs(acts) {
  ACTS = Array.isArray(acts) ? acts : [];
}
/** The care acts, in the order the server gives them. */
export const allActs = () => ACTS;
/** The name of a care act in the page's language (its code when the catalogue lacks it). */
export function actText(code) {
  const act = ACTS.find((a) => a.id === code);
  if (!act) return code || "";
  return getLocale() === "en" ? act.label_en : act.label_fr;
}
export const stateText = (state) => label(`rf.state.${state}`, state);
export const urgencyText = (code) => label(`rf.urgency.${code}`, code);
export const todText = (code) => label(`rf.tod.${code}`, code);
export const professionText = (code) => label(`rf.profession.${code}`, code);

function localeTag() {
  return getLocale() === "en" ? "en-GB" : "fr-FR";
}

/** « mardi 8 décembre » / « Tuesday 8 December » of "YYYY-MM-DD". */
export function dayText(day, { year = false } = {}) {
  if (!day) return "";
  const [y, m, d] = day.slice(0, 10).split("-").map(Number);
  const options = { weekday: "long", day: "numeric", month: "long" };
  if (year) options.year = "numeric";
  return new Date(y, m - 1, d, 12).toLocaleDateString(localeTag(), options);
}

/** A date and time of an ISO timestamp, in the page's language. */
export function whenText(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  // The service's clock (French home care), whatever the device's time zone.
  return date.toLocaleString(localeTag(), { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris" });
}

/** « passage entre 08:15 et 09:10 »: the arrival window promised (a time of arrival, not of
 * an appointment: the round may move the visit within the window). */
export function windowText(from, to) {
  if (!from) return "";
  return !to || to === from ? t("rf.window.at", { from }) : t("rf.window", { from, to });
}

/** « mardi 8 décembre, passage entre 08:15 et 09:10 » of a SLOT (its arrival window). */
export function slotText(slot) {
  return t("rf.slot", { day: dayText(slot.day), window: windowText(slot.start, slot.latest_start || slot.start) });
}

/** What else a slot says: its team (coordinators only; the API names no team to referrers). */
export function slotDetail(slot) {
  return slot.team_name ? t("rf.slot.team", { team: slot.team_name }) : "";
}

/** « mardi 8 décembre, passage entre 08:15 et 09:10 » of a REFERRAL.visit (the window promised
 * at booking; its start and end where the server gives no window), with « équipe … » when the
 * server names the team (coordinators only). */
export function visitText(visit, { team = true } = {}) {
  if (!visit) return "";
  const from = visit.arrival_from || visit.start;
  const to = visit.arrival_from ? visit.arrival_to : visit.end;
  const text = t("rf.slot", { day: dayText(visit.day), window: windowText(from, to) });
  if (!team || !visit.team_name) return text;
  // « équipe Audrey Q. », but a team already called « Équipe Nord » is not « équipe Équipe Nord ».
  const named = /^(équipe|team)\b/i.test(visit.team_name) ? visit.team_name : t("rf.visit.team", { team: visit.team_name });
  return `${text} — ${named}`;
}

/** The warning of a home placed less precisely than at its house number (« adresse placée au
 * milieu de la rue : vérifiez »); "" for a house number or an unknown precision. */
export function precisionWarning(precision, commune) {
  if (precision === "street") return t("rf.precision.street");
  if (precision === "commune") return commune ? t("rf.precision.commune.named", { commune }) : t("rf.precision.commune");
  return "";
}

/** The name the top bar gives the person logged in: their display name when the session (or
 * `known`, their own profile) gives one, else their username. */
export function personName(me, known) {
  return (me && (me.display_name || known || me.name || me.username)) || "";
}

/** Urgent requests still to answer first, then the server's order (the inbox asks the server
 * for that order too, `order=urgency`, so that it holds across pages). */
export function urgentFirst(items) {
  const rank = (r) => (r.urgency === "urgent" && (r.state === "submitted" || r.state === "proposed") ? 0 : 1);
  return items.map((r, i) => [r, i]).sort((x, y) => rank(x[0]) - rank(y[0]) || x[1] - y[1]).map(([r]) => r);
}


export function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return t("rf.size.mb", { n: new Intl.NumberFormat(localeTag(), { maximumFractionDigits: 1 }).format(bytes / 1024 / 1024) });
  return t("rf.size.kb", { n: Math.max(1, Math.round(bytes / 1024)) });
}

export function recurrenceText(rec) {
  if (!rec) return "";
  const days = rec.weekdays && rec.weekdays.length && rec.weekdays.length < 7
    ? rec.weekdays.map((d) => t(`rf.wd.${d}`)).join(", ")
    : t("rf.everyday");
  return t("rf.recurrence", { times: rec.times_per_day, days, until: dayText(rec.until, { year: false }) });
}

/** The patient's name as a professional writes it: « DUPONT Marie ». */
export function patientName(p) {
  if (!p) return "";
  return [p.family_name ? p.family_name.toUpperCase() : "", p.given_name || ""].filter(Boolean).join(" ");
}

/** The text of a timeline event in the page's language. */
export function eventText(event) {
  return getLocale() === "en" ? event.text_en || event.text_fr : event.text_fr || event.text_en;
}

/** A short explanation of an error for the page's status lines. */
export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return t("rf.error.forbidden");
    if (err.status === 404) return t("rf.error.missing");
    return t("rf.error.server", { error: err.message });
  }
  return t("rf.error.network");
}

/** Sends `file` as the attachment of request `id` (multipart field "file"). */
export async function uploadAttachment(id, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const headers = { Accept: "application/json", "Accept-Language": getLocale() };
  const csrf = sessionStorage.getItem("dispatch.csrf");
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(`/api/referrals/${id}/attachments`, {
    method: "POST",
    headers,
    body: form,
    credentials: "same-origin",
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(data, response.status);
  return data;
}

/** Writes the request's timeline into the <ol> `list`. */
export function renderTimeline(list, referral) {
  list.replaceChildren();
  for (const event of referral.events || []) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = event.at;
    time.textContent = whenText(event.at);
    const text = document.createElement("span");
    text.textContent = eventText(event);
    li.append(time, " ", text);
    list.append(li);
  }
}

/** A « pill » with the state's text. */
export function statePill(state) {
  const span = document.createElement("span");
  span.className = `pill state-${state}`;
  span.textContent = stateText(state);
  return span;
}
