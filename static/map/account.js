// The page a one-time account link opens (/account/#token=...): the user chooses their own
// password (activation of a new account, or reset). The token stays in the URL's fragment,
// which the browser never sends to a server; it is removed from the address bar at once.
// French first, English complete.
const TEXT = {
  fr: {
    title: "Dispatch — votre mot de passe",
    "lang.toggle": "English",
    "heading.activate": "Activez votre compte",
    "heading.reset": "Choisissez un nouveau mot de passe",
    checking: "Vérification du lien…",
    "intro.activate": "Compte « {username} » ({name})\u00a0: choisissez le mot de passe avec lequel vous vous connecterez.",
    "intro.reset": "Compte « {username} » ({name})\u00a0: choisissez votre nouveau mot de passe. L'ancien ne fonctionnera plus.",
    password: "Nouveau mot de passe (10 caractères au moins)",
    "password.hint": "Une phrase de plusieurs mots est facile à retenir et difficile à deviner. Personne d'autre ne la connaîtra, pas même l'administrateur.",
    "password.again": "Le même mot de passe, une seconde fois",
    save: "Enregistrer mon mot de passe",
    go: "Se connecter",
    "error.short": "Le mot de passe doit avoir 10 caractères au moins.",
    "error.same": "Les deux mots de passe ne sont pas les mêmes.",
    "error.link": "Ce lien ne fonctionne pas : il est inconnu, a expiré ou a déjà servi. Demandez à l'administrateur de vous en envoyer un nouveau.",
    "error.nolink": "Ce lien est incomplet : ouvrez-le de nouveau depuis le message reçu, en entier.",
    "error.server": "Le mot de passe n'a pas été enregistré : {error}",
    "error.network": "Le serveur ne répond pas : vérifiez la connexion et réessayez.",
    "done.activate": "Votre compte « {username} » est activé. Vous pouvez vous connecter.",
    "done.reset": "Votre nouveau mot de passe est enregistré. Vos sessions ouvertes ont été fermées : connectez-vous de nouveau.",
  },
  en: {
    title: "Dispatch — your password",
    "lang.toggle": "Français",
    "heading.activate": "Activate your account",
    "heading.reset": "Choose a new password",
    checking: "Checking the link…",
    "intro.activate": "Account '{username}' ({name}): choose the password you will log in with.",
    "intro.reset": "Account '{username}' ({name}): choose your new password. The old one will stop working.",
    password: "New password (at least 10 characters)",
    "password.hint": "A sentence of several words is easy to remember and hard to guess. Nobody else will know it, not even the administrator.",
    "password.again": "The same password, once more",
    save: "Save my password",
    go: "Log in",
    "error.short": "The password needs at least 10 characters.",
    "error.same": "The two passwords are not the same.",
    "error.link": "This link does not work: it is unknown, expired or already used. Ask the administrator to send you a new one.",
    "error.nolink": "This link is incomplete: open it again from the message you received, in full.",
    "error.server": "The password was not saved: {error}",
    "error.network": "The server does not answer: check the connection and try again.",
    "done.activate": "Your account '{username}' is active. You can log in.",
    "done.reset": "Your new password is saved. Your open sessions were closed: log in again.",
  },
};

const LOCALE_KEY = "dispatch.locale";
let locale = localStorage.getItem(LOCALE_KEY) === "en" ? "en" : "fr";
const state = { token: null, link: null, done: null, error: null, message: null };

function $(id) {
  return document.getElementById(id);
}

function t(key, vars = {}) {
  const text = TEXT[locale][key] ?? TEXT.fr[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

function render() {
  document.documentElement.lang = locale;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-a]")) el.textContent = t(el.dataset.a);
  const lang = $("lang");
  lang.textContent = t("lang.toggle");
  lang.setAttribute("lang", locale === "fr" ? "en" : "fr");
  const purpose = state.link ? state.link.purpose : "activate";
  $("heading").textContent = t(`heading.${purpose}`);
  if (state.link) {
    const user = state.link.user;
    $("intro").textContent = t(`intro.${purpose}`, { username: user.username, name: user.display_name || user.username });
  }
  if (state.done) $("done-text").textContent = t(`done.${state.done.purpose}`, { username: state.done.username });
  if (state.bad) $("bad-text").textContent = t(state.bad);
  $("error").textContent = state.error ? t(state.error, { error: state.message || "" }) : "";
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "Accept-Language": locale },
    body: JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  return { status: response.status, data };
}

function fail(bad) {
  state.bad = bad;
  document.body.dataset.ready = "1";
  $("checking").hidden = true;
  $("form").hidden = true;
  $("bad").hidden = false;
  render();
}

async function submit(e) {
  e.preventDefault();
  const pw1 = $("pw1");
  const pw2 = $("pw2");
  for (const el of [pw1, pw2]) el.removeAttribute("aria-invalid");
  state.error = null;
  if (pw1.value.length < 10) {
    state.error = "error.short";
    pw1.setAttribute("aria-invalid", "true");
    render();
    pw1.focus();
    return;
  }
  if (pw1.value !== pw2.value) {
    state.error = "error.same";
    pw2.setAttribute("aria-invalid", "true");
    render();
    pw2.focus();
    return;
  }
  $("save").disabled = true;
  try {
    const { status, data } = await post("/api/account-links/complete", { token: state.token, password: pw1.value });
    if (status === 200) {
      state.done = { purpose: state.link.purpose, username: data.user.username };
      $("form").hidden = true;
      $("done").hidden = false;
      $("go").href = data.user.role === "team_member" ? "/phone/" : data.user.role === "planner" ? "/planner/" : data.user.role === "referrer" ? "/referrer/" : "/map/";
      render();
      $("done-text").focus();
      return;
    }
    if (status === 404) return fail("error.link");
    state.error = "error.server";
    state.message = (data && data.error) || `HTTP ${status}`;
    render();
  } catch {
    state.error = "error.network";
    render();
  } finally {
    $("save").disabled = false;
  }
}

async function main() {
  $("lang").addEventListener("click", () => {
    locale = locale === "fr" ? "en" : "fr";
    localStorage.setItem(LOCALE_KEY, locale);
    render();
  });
  $("form").addEventListener("submit", submit);
  $("done-text").tabIndex = -1;
  const params = new URLSearchParams(location.hash.slice(1));
  state.token = params.get("token");
  // Out of the address bar and the history: the link is a secret.
  history.replaceState(null, "", location.pathname);
  render();
  if (!state.token) return fail("error.nolink");
  try {
    const { status, data } = await post("/api/account-links/check", { token: state.token });
    if (status !== 200) return fail(status === 429 ? "error.network" : "error.link");
    state.link = data;
    $("username").value = data.user.username;
    $("checking").hidden = true;
    $("form").hidden = false;
    render();
    $("pw1").focus();
  } catch {
    fail("error.network");
  }
  document.body.dataset.ready = "1";
}

main();
