// Page texts in French (first) and English: t(key, vars), setLocale(lang), apply(root).
const DICT = {
  fr: {
    "app.title": "Dispatch — carte des équipes",
    "phone.title": "Dispatch — équipe mobile",
    "lang.toggle": "English",
    "conn.online": "Connecté",
    "conn.offline": "Hors ligne — les positions sont gardées et seront envoyées",
    "conn.reconnecting": "Reconnexion…",
    "conn.lost": "Connexion perdue : les positions affichées vieillissent",
    "teams.title": "Équipes",
    "teams.none": "Aucune équipe",
    "alerts.title": "Alertes",
    "alerts.none": "Aucune alerte",
    "visits.title": "Visites du jour",
    "presence.live": "en direct",
    "presence.unknown": "position inconnue",
    "presence.never": "pas de position aujourd'hui",
    "age.s": "il y a {n} s",
    "age.min": "il y a {n} min",
    "age.h": "il y a {n} h",
    "battery": "batterie {n} %",
    "speed": "{n} km/h",
    "status.planned": "prévue",
    "status.assigned": "planifiée",
    "status.arrived": "équipe arrivée",
    "status.in_progress": "en cours",
    "status.done": "terminée",
    "status.missed": "manquée",
    "status.cancelled": "annulée",
    "alert.late": "{team} : en retard pour {visit} (fin de créneau {end})",
    "alert.unknown": "{team} : position inconnue depuis {age}",
    "alert.arrival": "{team} : arrivée chez {visit}",
    "alert.check_in": "{team} : début de visite chez {visit}",
    "alert.check_out": "{team} : fin de visite chez {visit}",
    "alert.missed": "{team} : visite manquée chez {visit}",
    "alert.dropped": "{visit} retirée de la tournée de {team}",
    "alert.absence": "{who}, absence {when} : {n} visites de ses tournées à réaffecter (Semaine → « Proposer la réaffectation »)",
    "alert.absence.one": "{who}, absence {when} : 1 visite de ses tournées à réaffecter (Semaine → « Proposer la réaffectation »)",
    "alert.absence.on": "le {day}",
    "alert.dropped_many": "{n} visites retirées des tournées du {day} (par {by}) : voir « Visites non affectées »",
    "alert.absence.span": "du {from} au {to}",
    "alert.at_risk": "{team} : risque de retard pour {visit} (arrivée estimée {eta}, fin de créneau {end})",
    "alerts.ack": "Acquitter",
    "alerts.ack.label": "Acquitter l'alerte : {text}",
    "alerts.ack.failed": "L'alerte n'a pas pu être acquittée : {error}",
    "alerts.acked": "Acquittées ou résolues",
    "alerts.resolved": "résolue : la visite a commencé ou la position est revenue",
    "alerts.acked.by": "acquittée par {by} à {time}",
    "journal.title": "Journal",
    "journal.none": "Rien pour l'instant",
    "team.current": "{status} : {name}",
    "admin.link": "Gestion",
    "map.label": "Carte",
    "panel.toggle": "Afficher ou masquer le panneau",
    "visits.none": "Aucune visite",
    "visits.adminOnly": "Les visites et les tournées sont réservées aux coordinateurs : un administrateur gère les comptes et les téléphones.",
    "visits.arrival": "arrivée prévue {time}",
    "visits.arrival.none": "arrivée prévue : –",
    "visits.eta.title": "Heure estimée d'après la position de l'équipe",
    "visits.plan.title": "Heure du plan publié",
    "visits.window": "créneau {range}",
    "visits.unassigned": "non affectée",
    "visits.insert": "Insérer",
    "visits.insert.label": "Insérer {name} dans une tournée",
    "visits.selected": "{name} choisie",
    "notice.close": "Fermer ce message",
    "change.notice": "Plan modifié ({change}) par {by} : {teams}",
    "change.dropped.one": "{n} visite retirée",
    "change.dropped.other": "{n} visites retirées",
    "change.optimise": "optimisation",
    "change.move": "déplacement",
    "change.insert": "insertion",
    "change.delay": "retard",
    "change.team_unavailable": "équipe indisponible",
    "change.visit": "visite",
    "change.edit": "modification manuelle",
    "layer.trails": "Traces",
    "layer.routes": "Tournées prévues",
    "layer.visits": "Visites",
    "layer.osm": "Fond OpenStreetMap en ligne",
    "login.title": "Connexion coordinateur",
    "login.username": "Identifiant",
    "login.password": "Mot de passe",
    "login.submit": "Se connecter",
    "login.failed": "Connexion refusée : {error}",
    "logout": "Se déconnecter",
    "pair.title": "Associer ce téléphone à une équipe",
    "pair.help": "Saisissez le code affiché par le coordinateur (ou ouvrez le lien reçu).",
    "pair.code": "Code d'association",
    "pair.submit": "Associer",
    "pair.failed": "Association refusée : {error}",
    "phone.team": "Équipe {name}",
    "phone.gps.waiting": "GPS : en attente d'une position…",
    "phone.gps.ok": "GPS : ±{acc} m, {age}",
    "phone.gps.denied": "GPS refusé : autorisez la localisation pour ce site",
    "phone.gps.unavailable": "GPS : position momentanément indisponible",
    "phone.outbox": "{n} position(s) en attente d'envoi",
    "phone.outbox.empty": "Tout est envoyé",
    "phone.wakelock.on": "Écran maintenu allumé",
    "phone.wakelock.off": "Écran non maintenu : gardez la page ouverte",
    "phone.next": "Prochaine visite",
    "phone.round": "Tournée du jour",
    "phone.none": "Aucune visite prévue aujourd'hui",
    "phone.window": "créneau {start}–{end}",
    "phone.distance": "à {d}",
    "phone.navigate": "Itinéraire",
    "phone.navigate.osm": "Carte OSM",
    "phone.checkin": "Arrivé — début de visite",
    "phone.checkout": "Fin de visite",
    "phone.near": "Vous êtes chez le patient : commencez la visite ?",
    "phone.unpair": "Dissocier ce téléphone",
    "phone.background": "Suivi en arrière-plan : application Traccar Client",
    "phone.traccar.help": "Dans Traccar Client, saisissez ces deux réglages. L'identifiant sert seulement à envoyer les positions de l'équipe.",
    "phone.traccar.url": "Adresse du serveur",
    "phone.traccar.id": "Identifiant de l'appareil",
    "phone.arrival": "arrivée prévue {time}",
    "phone.eta": "arrivée estimée {time}",
    "phone.mark.added": "nouvelle",
    "phone.mark.retimed": "horaire modifié",
    "phone.changes": "Tournée modifiée : {parts}.",
    "phone.changes.added.one": "{n} visite ajoutée",
    "phone.changes.added.other": "{n} visites ajoutées",
    "phone.changes.removed.one": "{n} visite retirée",
    "phone.changes.removed.other": "{n} visites retirées",
    "phone.changes.removed.short.one": "{n} retirée",
    "phone.changes.removed.short.other": "{n} retirées",
    "phone.changes.retimed.one": "{n} horaire changé",
    "phone.changes.retimed.other": "{n} horaires changés",
    "phone.changes.gone.one": "Retirée : {names}.",
    "phone.changes.gone.other": "Retirées : {names}.",
    "phone.changes.seen": "Vu",
    "phone.pair.expired": "Ce code a expiré ou a déjà servi : demandez un nouveau code au coordinateur.",
    "phone.pair.invalid": "Ce code n'est pas valide : vérifiez-le ou demandez un nouveau code au coordinateur.",
    "phone.pair.rate_limited": "Trop d'essais : attendez une minute avant de réessayer.",
    "phone.pair.offline": "Pas de réseau : réessayez quand le téléphone est connecté.",
    "phone.pair.failed": "Association refusée : {error}",
    "map.attribution": "© les contributeurs d’OpenStreetMap",
    "ctrl.zoom_in": "Zoom avant",
    "ctrl.zoom_out": "Zoom arrière",
    "ctrl.compass": "Remettre le nord en haut",
    "ctrl.attribution": "Afficher ou masquer les sources de la carte",
  },
  en: {
    "app.title": "Dispatch — team map",
    "phone.title": "Dispatch — mobile team",
    "lang.toggle": "Français",
    "conn.online": "Connected",
    "conn.offline": "Offline — positions are kept and will be sent",
    "conn.reconnecting": "Reconnecting…",
    "conn.lost": "Connection lost: the positions shown are getting old",
    "teams.title": "Teams",
    "teams.none": "No team",
    "alerts.title": "Alerts",
    "alerts.none": "No alert",
    "visits.title": "Today's visits",
    "presence.live": "live",
    "presence.unknown": "position unknown",
    "presence.never": "no position today",
    "age.s": "{n} s ago",
    "age.min": "{n} min ago",
    "age.h": "{n} h ago",
    "battery": "battery {n} %",
    "speed": "{n} km/h",
    "status.planned": "planned",
    "status.assigned": "scheduled",
    "status.arrived": "team arrived",
    "status.in_progress": "in progress",
    "status.done": "done",
    "status.missed": "missed",
    "status.cancelled": "cancelled",
    "alert.late": "{team}: late for {visit} (window ends {end})",
    "alert.unknown": "{team}: position unknown for {age}",
    "alert.arrival": "{team}: arrived at {visit}",
    "alert.check_in": "{team}: visit started at {visit}",
    "alert.check_out": "{team}: visit finished at {visit}",
    "alert.missed": "{team}: visit missed at {visit}",
    "alert.dropped": "{visit} removed from {team}'s round",
    "alert.absence": "{who}, absent {when}: {n} visits of their rounds to reassign (Week → “Propose a replanning”)",
    "alert.absence.one": "{who}, absent {when}: 1 visit of their rounds to reassign (Week → “Propose a replanning”)",
    "alert.absence.on": "on {day}",
    "alert.dropped_many": "{n} visits taken out of the rounds of {day} (by {by}): see “Unassigned visits”",
    "alert.absence.span": "from {from} to {to}",
    "alert.at_risk": "{team}: may be late for {visit} (estimated arrival {eta}, window ends {end})",
    "alerts.ack": "Acknowledge",
    "alerts.ack.label": "Acknowledge the alert: {text}",
    "alerts.ack.failed": "The alert could not be acknowledged: {error}",
    "alerts.acked": "Acknowledged or resolved",
    "alerts.resolved": "resolved: the visit started or the position came back",
    "alerts.acked.by": "acknowledged by {by} at {time}",
    "journal.title": "Journal",
    "journal.none": "Nothing yet",
    "team.current": "{status}: {name}",
    "admin.link": "Management",
    "map.label": "Map",
    "panel.toggle": "Show or hide the panel",
    "visits.none": "No visit",
    "visits.adminOnly": "Visits and rounds are shown to coordinators only: an administrator manages accounts and phones.",
    "visits.arrival": "planned arrival {time}",
    "visits.arrival.none": "planned arrival: –",
    "visits.eta.title": "Time estimated from the team's position",
    "visits.plan.title": "Time of the published plan",
    "visits.window": "window {range}",
    "visits.unassigned": "unassigned",
    "visits.insert": "Insert",
    "visits.insert.label": "Insert {name} into a round",
    "visits.selected": "{name} selected",
    "notice.close": "Dismiss this message",
    "change.notice": "Plan changed ({change}) by {by}: {teams}",
    "change.dropped.one": "{n} visit removed",
    "change.dropped.other": "{n} visits removed",
    "change.optimise": "optimisation",
    "change.move": "move",
    "change.insert": "insertion",
    "change.delay": "delay",
    "change.team_unavailable": "team unavailable",
    "change.visit": "visit",
    "change.edit": "manual edit",
    "layer.trails": "Trails",
    "layer.routes": "Planned rounds",
    "layer.visits": "Visits",
    "layer.osm": "Online OpenStreetMap background",
    "login.title": "Coordinator sign-in",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Sign-in refused: {error}",
    "logout": "Sign out",
    "pair.title": "Pair this phone with a team",
    "pair.help": "Type the code shown by the coordinator (or open the link you received).",
    "pair.code": "Pairing code",
    "pair.submit": "Pair",
    "pair.failed": "Pairing refused: {error}",
    "phone.team": "Team {name}",
    "phone.gps.waiting": "GPS: waiting for a position…",
    "phone.gps.ok": "GPS: ±{acc} m, {age}",
    "phone.gps.denied": "GPS refused: allow location for this site",
    "phone.gps.unavailable": "GPS: position unavailable for now",
    "phone.outbox": "{n} position(s) waiting to be sent",
    "phone.outbox.empty": "Everything is sent",
    "phone.wakelock.on": "Screen kept on",
    "phone.wakelock.off": "Screen not kept on: keep the page open",
    "phone.next": "Next visit",
    "phone.round": "Today's round",
    "phone.none": "No visit planned today",
    "phone.window": "window {start}–{end}",
    "phone.distance": "{d} away",
    "phone.navigate": "Directions",
    "phone.navigate.osm": "OSM map",
    "phone.checkin": "Arrived — start visit",
    "phone.checkout": "End visit",
    "phone.near": "You are at the patient's home: start the visit?",
    "phone.unpair": "Unpair this phone",
    "phone.background": "Background tracking: Traccar Client app",
    "phone.traccar.help": "In Traccar Client, enter these two settings. The identifier can only send the team's positions.",
    "phone.traccar.url": "Server URL",
    "phone.traccar.id": "Device identifier",
    "phone.arrival": "planned arrival {time}",
    "phone.eta": "estimated arrival {time}",
    "phone.mark.added": "new",
    "phone.mark.retimed": "time changed",
    "phone.changes": "Round changed: {parts}.",
    "phone.changes.added.one": "{n} visit added",
    "phone.changes.added.other": "{n} visits added",
    "phone.changes.removed.one": "{n} visit removed",
    "phone.changes.removed.other": "{n} visits removed",
    "phone.changes.removed.short.one": "{n} removed",
    "phone.changes.removed.short.other": "{n} removed",
    "phone.changes.retimed.one": "{n} time changed",
    "phone.changes.retimed.other": "{n} times changed",
    "phone.changes.gone.one": "Removed: {names}.",
    "phone.changes.gone.other": "Removed: {names}.",
    "phone.changes.seen": "Seen",
    "phone.pair.expired": "This code has expired or was already used: ask the coordinator for a new one.",
    "phone.pair.invalid": "This code is not valid: check it or ask the coordinator for a new one.",
    "phone.pair.rate_limited": "Too many attempts: wait a minute before trying again.",
    "phone.pair.offline": "No network: try again once the phone is connected.",
    "phone.pair.failed": "Pairing refused: {error}",
    "map.attribution": "© OpenStreetMap contributors",
    "ctrl.zoom_in": "Zoom in",
    "ctrl.zoom_out": "Zoom out",
    "ctrl.compass": "Reset bearing to north",
    "ctrl.attribution": "Show or hide the map's sources",
  },
};

const KEY = "dispatch.locale";
let locale = localStorage.getItem(KEY) || document.documentElement.dataset.locale || "fr";
if (!DICT[locale]) locale = "fr";

export function getLocale() {
  return locale;
}

/** Add a page's own texts ({fr: {...}, en: {...}}): each page module keeps its strings. */
export function extend(texts) {
  for (const lang of Object.keys(DICT)) Object.assign(DICT[lang], texts[lang] || {});
}

export function t(key, vars = {}) {
  const text = (DICT[locale] && DICT[locale][key]) || DICT.fr[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function apply(root = document) {
  document.documentElement.lang = locale;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
}

const listeners = [];
export function onChange(fn) {
  listeners.push(fn);
}

export function setLocale(next) {
  if (!DICT[next]) return;
  locale = next;
  localStorage.setItem(KEY, next);
  apply();
  for (const fn of listeners) fn(locale);
}

export function toggle() {
  setLocale(locale === "fr" ? "en" : "fr");
}

export function formatAge(seconds) {
  if (seconds == null) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return t("age.s", { n: s });
  if (s < 5400) return t("age.min", { n: Math.round(s / 60) });
  return t("age.h", { n: formatNumber(Math.round(s / 360) / 10) });
}

export function hhmm(secondsSinceMidnight) {
  if (secondsSinceMidnight == null) return "";
  const s = Math.round(secondsSinceMidnight);
  const h = String(Math.floor(s / 3600)).padStart(2, "0");
  const m = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  return `${h}:${m}`;
}

/** A number written the locale's way ("1,5" in French, "1.5" in English). */
export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(locale, options).format(value);
}

export function formatDistance(meters) {
  if (meters == null) return "";
  if (meters < 1000) return `${Math.round(meters)} m`;
  // "7,0 km" in French: the locale's decimal separator, one decimal.
  const km = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(meters / 1000);
  return `${km} km`;
}
