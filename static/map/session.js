// The log-in of the coordinators' pages (week, patients, management): the session cookie's
// user, the log-in dialog, REST calls that bring the dialog back when the session has ended,
// and the log-out. Each page keeps its own texts and its own way of writing messages.
import { api, ApiError, setCsrf } from "/static/map/common.js";

/**
 * The session of a page.
 *
 * @param {object} options
 * @param {(user: object) => boolean} options.allowed Whether this user may use the page.
 * @param {() => string} options.failedText Wrong username or password.
 * @param {() => string} options.roleText The user's role cannot use the page.
 * @param {(err: Error) => string} options.errorText Any other error (network, 429…).
 * @param {(el: Element, message: (() => string) | null) => void} [options.show] How the page
 *   writes a message (kept as a function so that it follows a change of language).
 * @param {string} [options.dialog] Id of the log-in <dialog> ("login").
 * @param {string} [options.form] Id of its <form> ("login-form"), with username and password.
 * @param {string} [options.error] Id of its error line ("login-error").
 * @returns {{start: () => Promise<object>, whoami: () => Promise<object|null>,
 *   login: () => Promise<object>, call: (path: string, options?: object) => Promise<any>,
 *   logout: () => Promise<void>, readonly me: object|null}}
 */
export function createSession({
  allowed,
  failedText,
  roleText,
  errorText,
  show = (el, message) => { el.textContent = message ? message() : ""; },
  dialog = "login",
  form = "login-form",
  error = "login-error",
}) {
  const $ = (id) => document.getElementById(id);
  let me = null;
  let relogin = null;

  /** The user of the session cookie, or null when nobody is logged in. */
  async function whoami() {
    try {
      const reply = await api("/api/session", { token: null });
      if (reply.csrf_token) setCsrf(reply.csrf_token);
      return reply.user;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      throw err;
    }
  }

  /** Shows the log-in dialog until someone logs in; resolves with that user. */
  function login() {
    const box = $(dialog);
    const fields = $(form);
    if (!box.open) box.showModal();
    return new Promise((resolve) => {
      const submit = async (e) => {
        e.preventDefault();
        const data = Object.fromEntries(new FormData(fields));
        try {
          const reply = await api("/api/session", { method: "POST", body: data, token: null, csrf: false });
          setCsrf(reply.csrf_token);
          fields.removeEventListener("submit", submit);
          fields.reset();
          show($(error), null);
          box.close();
          resolve(reply.user);
        } catch (err) {
          show($(error), () => (err instanceof ApiError && err.status !== 429 ? failedText() : errorText(err)));
        }
      };
      fields.addEventListener("submit", submit);
    });
  }

  /** The page's user: the session's, or whoever logs in; a user whose role cannot use the
   * page is logged out and told so, and the dialog stays. */
  async function start() {
    let user = await whoami();
    for (;;) {
      if (!user) user = await login();
      if (user && user.kind === "user" && allowed(user)) break;
      show($(error), roleText);
      await api("/api/session", { method: "DELETE", token: null }).catch(() => {});
      setCsrf(null);
      user = null;
    }
    me = user;
    return user;
  }

  /** A REST call of the page; when the session has ended, the log-in dialog comes back and
   * the call is made again once the same person has logged in (another person: the page
   * restarts). */
  async function call(path, options = {}) {
    try {
      return await api(path, { token: null, ...options });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || !me) throw err;
      if (!relogin) relogin = login().finally(() => { relogin = null; });
      const user = await relogin;
      if (!user || user.id !== me.id) {
        location.reload();
        throw err;
      }
      return api(path, { token: null, ...options });
    }
  }

  async function logout() {
    try {
      await api("/api/session", { method: "DELETE", token: null });
    } finally {
      setCsrf(null);
      location.reload();
    }
  }

  return {
    start,
    whoami,
    login,
    call,
    logout,
    get me() { return me; },
  };
}
