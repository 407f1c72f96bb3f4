// The one source of the MeetEasy login-ticket script. The server serves two builds of it (see
// server/src/http/pages.rs): a classic script (`/h5/login-ticket.js`, publishes `window.MeetEasyLogin`) and an
// ES module (`/h5/login-ticket.mjs`, default and named exports). Each build only wraps this file: it tells
// `createMeetEasyLogin` the script's own URL (the default server origin) and the options on its <script> tag.
//
// Use on a conference page:
//   <script src="https://auth.example/h5/login-ticket.js" data-login-url="/login"></script>
//   MeetEasyLogin.start({loginUrl, origin, storage, storageKey, retries, retryDelayMs, timeoutMs})
//     .then((outcome) => ...)   // {status: "logged_in" | "prompt" | "redirecting" | "switch_account", ...};
//                               // see start().
// Classic-script options may also come from data-origin, data-login-url, data-storage, data-storage-key.
// `storage` is "local" (default), "session", "memory" or an object with getItem/setItem/removeItem.
//
// Errors reach the page as the contract's `{error, message}`; three codes are the script's own: for failures
// that never got an answer from the server, `network_error` and `unexpected_response`; and
// `exchange_outcome_unknown` when the ticket's exchange may have worked but its answer was lost (see exchange).

function createMeetEasyLogin(scriptUrl, scriptOptions) {
  "use strict";

  const TICKET_PARAM = "login_ticket";
  const TIMESTAMP_PARAM = "_t";
  // Seconds by which a session of the page's own user must outlive the stored one to replace it: far
  // above the play of the two ends the page computed from answers seconds apart.
  const OUTLIVES_BY = 60;
  // A 429 that asks to wait at most this long (seconds) is waited out and asked again, within the call's
  // retries: the server refuses so when it is at its connection limit, before handling anything, so even a
  // ticket's exchange is safe to send again, and a page shown at a busy venue's opening keeps its ticket.
  // A longer wait (an address over a rate limit) is the user's to know of.
  const LONGEST_RETRY_AFTER_WAITED = 5;

  // First thing, before anything can fail or wait: the ticket leaves the address bar (and so the history,
  // bookmarks, shared links and a reload) whatever happens next.
  const pendingTicket = takeTicketFromAddressBar();

  const settings = {
    origin: originOf(scriptOptions.origin) || originOf(scriptUrl) || window.location.origin,
    storage: scriptOptions.storage || "local",
    storageKey: scriptOptions.storageKey || "meeteasy.session",
    loginUrl: scriptOptions.loginUrl || null,
    retries: 3,
    retryDelayMs: 400,
    timeoutMs: 10000,
  };
  let storage = null;
  let started = null;
  // The id of the user this page settled on and shows. The stored session is shared by every tab of
  // the site: when another tab switches it to someone else, this page's calls must not act as them.
  let pageUser = null;

  class MeetEasyLoginError extends Error {
    constructor(body, status, retryAfter) {
      super(body.message);
      this.name = "MeetEasyLoginError";
      this.error = body.error;
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function takeTicketFromAddressBar() {
    const url = new URL(window.location.href);
    const ticket = url.searchParams.get(TICKET_PARAM);
    if (ticket === null && !url.searchParams.has(TIMESTAMP_PARAM)) {
      return null;
    }
    url.searchParams.delete(TICKET_PARAM);
    url.searchParams.delete(TIMESTAMP_PARAM);
    try {
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    } catch {
      // A sandboxed frame may refuse; the ticket is single-use, so it is still exchanged (and so spent).
    }
    return ticket;
  }

  function originOf(value) {
    if (!value) {
      return null;
    }
    try {
      return new URL(value, window.location.href).origin;
    } catch {
      return null;
    }
  }

  // Settles the page's login once: exchanges the ticket the page was opened with, or else resumes the stored
  // session. Resolves with {status: "logged_in", user, via, ticketError?} (`ticketError` when a ticket was
  // refused but the stored session holds), {status: "prompt", error, miniProgram},
  // {status: "redirecting", to, error} or, when a ticket for someone else arrives on a page already logged in,
  // {status: "switch_account", current, offered, accept(), keep()} (see arriveWithTicket); never rejects.
  // Later calls return the first call's promise.
  function start(options) {
    if (started === null) {
      configure(options || {});
      started = pendingTicket === null ? resumeSession() : arriveWithTicket(pendingTicket);
    }
    return started;
  }

  function configure(options) {
    for (const key of Object.keys(settings)) {
      if (options[key] !== undefined) {
        settings[key] = options[key];
      }
    }
    settings.origin = originOf(settings.origin) || window.location.origin;
    storage = null;
  }

  // A link can carry a ticket minted by anyone: someone could send a logged-in user a link with a ticket of
  // their own account (login CSRF), and the page would quietly become theirs. So a ticket for another user
  // than the page's stored session never switches silently: the page is told both users and decides.
  // accept() keeps the offered session (and logs the replaced one out); keep() logs the offered session out on
  // the server and stays with the stored one. Each resolves with the outcome a start() would have given, and
  // the first choice is the only one. `current` is null when the stored session could not be checked (the
  // server was not reachable): then the choice is asked too, unless the page stored that session for the
  // ticket's own user. A ticket of the stored session's own user keeps the stored session and logs the
  // ticket's out (the page holds one session, and leaves none it dropped live), unless the ticket's session
  // lasts longer (see below); a stored session that is over is simply replaced.
  async function arriveWithTicket(ticket) {
    const stored = readSession();
    if (stored === null) {
      return exchangeTicket(ticket);
    }
    const [current, offered] = await Promise.all([
      call("GET", "/auth/me", undefined, stored.token, settings.retries),
      exchange(ticket),
    ]);
    if (!offered.ok) {
      // A ticket that could not be exchanged (spent, expired or unknown: the same link opened again, or
      // in a second tab; or the server not answering) leaves a stored session that still holds as it
      // was: the page stays logged in, told why the ticket did not.
      if (current.ok) {
        pageUser = current.body.id;
        return { status: "logged_in", user: current.body, via: "session", ticketError: offered.error };
      }
      return ticketRefused(offered);
    }
    if (current.status === 401) {
      forgetSession();
      return loggedInWithTicket(offered.body);
    }
    // Whose the stored session is: the server's answer, or, when the server did not give one (no 401: it
    // was not reachable), the user the page stored with it. Asking then would be wrong: "switching" to
    // the same user logs the stored session out, and with it the ticket's when it derives from it
    // (minted by a page of the site), leaving the page on a dead token.
    const storedUser = current.ok ? current.body.id : stored.user;
    if (storedUser === offered.body.user.id) {
      // The page's own user: it keeps the session it holds and logs the ticket's out, so it
      // leaves no second session live. Not the other way round: a ticket's session may derive from
      // the stored one (a page minting a ticket for another page of the site), and ending that
      // would end the ticket's with it. Unless the ticket's session outlives the stored one by
      // more than the clocks' play: a derived session never outlives its parent, so that one is
      // not the stored one's, and the page keeps the longer (a fresh link from the console while
      // the page's session is about to end). The stored one is not logged out: pages it logged in
      // with tickets of its own derive from it and would end with it; it ends soon by itself.
      const offeredEndsAt = Math.floor(Date.now() / 1000) + offered.body.expires_in;
      if (offeredEndsAt > stored.expiresAt + OUTLIVES_BY) {
        return loggedInWithTicket(offered.body);
      }
      // The stored session, not refused, is kept even when it could not be checked: the exchange was
      // just answered, so the server is back, and should the session have ended meanwhile, the page's
      // next call with it meets a 401 as with any ended session.
      await call("POST", "/auth/logout", undefined, offered.body.access_token, settings.retries);
      const user = current.ok ? current.body : offered.body.user;
      pageUser = user.id;
      return { status: "logged_in", user: user, via: "session" };
    }
    let decided = null;
    const decideOnce = (choice) => {
      if (decided === null) {
        decided = choice();
      }
      return decided;
    };
    return {
      status: "switch_account",
      current: current.ok ? current.body : null,
      offered: offered.body.user,
      accept: () => decideOnce(() => replaceSession(stored, offered.body)),
      keep: () =>
        decideOnce(async () => {
          await call("POST", "/auth/logout", undefined, offered.body.access_token, settings.retries);
          return resumeSession();
        }),
    };
  }

  // The exchange is retried like any call, although a failed attempt may have been carried out (see call)
  // and spent the single-use ticket; the retry then meets `ticket_used`, caused by the page itself. Retrying
  // still serves the user best: an attempt that never arrived, the usual case on a phone's network, is
  // made good, and a session created by one that did is lost either way (its token never reached the
  // page). Only the wording changes: not "already used" (as if in another tab) but what is known, that
  // the link may have worked and must be opened again.
  async function exchange(ticket) {
    const answer = await call("POST", "/auth/login-ticket/exchange", { login_ticket: ticket }, null, settings.retries);
    if (!answer.ok && answer.error.error === "ticket_used" && answer.repeated) {
      const message = "The login link may have worked, but its answer was lost; open it again.";
      return failure(answer.status, "exchange_outcome_unknown", message, false);
    }
    return answer;
  }

  async function exchangeTicket(ticket) {
    const answer = await exchange(ticket);
    return answer.ok ? loggedInWithTicket(answer.body) : ticketRefused(answer);
  }

  // Keeps the offered session, then logs the stored one out on the server, retried like any call: a session
  // the page no longer holds would otherwise stay live (in the user's devices list) until it expires.
  async function replaceSession(stored, tokenResponse) {
    const outcome = loggedInWithTicket(tokenResponse);
    await call("POST", "/auth/logout", undefined, stored.token, settings.retries);
    return outcome;
  }

  function loggedInWithTicket(tokenResponse) {
    keepSession(tokenResponse);
    return { status: "logged_in", user: tokenResponse.user, via: "ticket" };
  }

  function ticketRefused(answer) {
    const code = answer.error.error;
    if (code === "ticket_expired" || code === "ticket_used" || code === "exchange_outcome_unknown" || answer.status !== 401) {
      return prompt(answer.error);
    }
    return redirectToLogin(answer.error);
  }

  async function resumeSession() {
    const stored = readSession();
    if (stored === null) {
      return prompt(null);
    }
    const answer = await call("GET", "/auth/me", undefined, stored.token, settings.retries);
    if (answer.ok) {
      pageUser = answer.body.id;
      return { status: "logged_in", user: answer.body, via: "session" };
    }
    if (answer.status === 401) {
      forgetSession();
    }
    return prompt(answer.error);
  }

  function prompt(error) {
    return { status: "prompt", error: error, miniProgram: inMiniProgram() };
  }

  function redirectToLogin(error) {
    // Inside the mini program a web login page is the wrong place: the page asks the mini program instead.
    if (settings.loginUrl === null || inMiniProgram()) {
      return prompt(error);
    }
    const to = new URL(settings.loginUrl, window.location.href).href;
    window.location.assign(to);
    return { status: "redirecting", to: to, error: error };
  }

  // Standard login outside WeChat. Resolves with the user; rejects with a MeetEasyLoginError.
  async function loginWithPassword(login, password) {
    const answer = await call("POST", "/auth/login", { login: login, password: password, client: "h5" }, null, 0);
    if (!answer.ok) {
      throw new MeetEasyLoginError(answer.error, answer.status, answer.retryAfter);
    }
    keepSession(answer.body);
    return answer.body.user;
  }

  // Revokes the session on the server, then forgets it here whatever the server said. A stored session
  // another tab switched to someone else is not this page's to end: it is left alone.
  // Resolves with {revoked: boolean}.
  async function logout() {
    const stored = pagesSession();
    pageUser = null;
    if (stored === null) {
      return { revoked: false };
    }
    const answer = await call("POST", "/auth/logout", undefined, stored.token, 0);
    forgetSession();
    return { revoked: answer.ok };
  }

  // The access token for the page's own API calls, or null (also when another tab has switched the
  // stored session to someone else than the page shows).
  function token() {
    const stored = pagesSession();
    return stored === null ? null : stored.token;
  }

  // The stored session, if it is the one of the user this page shows (or the page has not settled yet;
  // a session stored by an older script names no user).
  function pagesSession() {
    const stored = readSession();
    const theirs = stored !== null && pageUser !== null && stored.user !== undefined && stored.user !== pageUser;
    return theirs ? null : stored;
  }

  function inMiniProgram() {
    return window.__wxjs_environment === "miniprogram" || /miniProgram/i.test(window.navigator.userAgent);
  }

  // Inside a mini program web-view: hands the login back to the mini program (its login page when given,
  // else the page that opened this one). False when WeChat's JS-SDK (wx.miniProgram) is not on the page: the
  // page must load it, and its CSP allow that.
  function reauthenticateInMiniProgram(options) {
    const miniProgram = window.wx && window.wx.miniProgram;
    if (!miniProgram) {
      return false;
    }
    const page = options && options.page;
    if (page) {
      miniProgram.reLaunch({ url: page });
    } else {
      miniProgram.navigateBack();
    }
    return true;
  }

  function keepSession(tokenResponse) {
    const expiresAt = Math.floor(Date.now() / 1000) + tokenResponse.expires_in;
    const user = tokenResponse.user.id;
    pageUser = user;
    sessionStore().setItem(settings.storageKey, JSON.stringify({ token: tokenResponse.access_token, expiresAt: expiresAt, user: user }));
  }

  function readSession() {
    let stored = null;
    try {
      stored = JSON.parse(sessionStore().getItem(settings.storageKey));
    } catch {
      stored = null;
    }
    if (stored === null || typeof stored.token !== "string" || typeof stored.expiresAt !== "number") {
      return null;
    }
    if (stored.expiresAt <= Date.now() / 1000) {
      forgetSession();
      return null;
    }
    return stored;
  }

  function forgetSession() {
    sessionStore().removeItem(settings.storageKey);
  }

  // "local", "session", "memory" or any object with getItem/setItem/removeItem. A browser storage that
  // refuses writes (private mode, disabled storage) falls back to memory: logged in for this page only.
  function sessionStore() {
    if (storage !== null) {
      return storage;
    }
    const choice = settings.storage;
    if (choice !== null && typeof choice === "object") {
      storage = choice;
      return storage;
    }
    try {
      const browserStorage = choice === "local" ? window.localStorage : choice === "session" ? window.sessionStorage : null;
      if (browserStorage) {
        const probe = settings.storageKey + ".probe";
        browserStorage.setItem(probe, "1");
        browserStorage.removeItem(probe);
        storage = browserStorage;
        return storage;
      }
    } catch {
      // Storage denied: memory below.
    }
    storage = memoryStorage();
    return storage;
  }

  function memoryStorage() {
    const items = new Map();
    return {
      getItem: (key) => (items.has(key) ? items.get(key) : null),
      setItem: (key, value) => items.set(key, String(value)),
      removeItem: (key) => items.delete(key),
    };
  }

  // One API call with up to `retries` more attempts when the server could not be reached, was
  // unavailable, or refused it briefly (see LONGEST_RETRY_AFTER_WAITED; waited out for its Retry-After).
  // Answers {ok, status, body} or {ok: false, status, error: {error, message}, retryAfter}, with
  // `repeated`: whether it answers a repeat, after attempts that may have been carried out all the same:
  // a timeout or a dropped connection may come after the server handled the request, a gateway's 502 or
  // 504 after it reached the server, and even the server's own 503 may follow a store write whose
  // acknowledgement was lost. A brief refusal carried out nothing.
  async function call(method, path, body, bearer, retries) {
    let answer = await callOnce(method, path, body, bearer);
    let repeated = false;
    for (let attempt = 1; attempt <= retries && answer.retryable; attempt += 1) {
      const delayMs = answer.refusedBriefly ? answer.retryAfter * 1000 : settings.retryDelayMs * 2 ** (attempt - 1);
      repeated = repeated || !answer.refusedBriefly;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      answer = await callOnce(method, path, body, bearer);
    }
    answer.repeated = repeated;
    return answer;
  }

  async function callOnce(method, path, body, bearer) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (bearer !== null) {
      headers.Authorization = "Bearer " + bearer;
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), settings.timeoutMs);
    try {
      const response = await fetch(settings.origin + path, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        mode: "cors",
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
        signal: abort.signal,
      });
      const text = await response.text();
      return readAnswer(response, text);
    } catch {
      return failure(0, "network_error", "Could not reach the login server.", true);
    } finally {
      clearTimeout(timer);
    }
  }

  function readAnswer(response, text) {
    let payload = null;
    try {
      payload = text === "" ? null : JSON.parse(text);
    } catch {
      payload = null;
    }
    // A success is a JSON object, or nothing with a 204 (a logout's); anything else (a catch-all's
    // page, or an empty 200, answering for a misrouted path) is no answer of the contract, and no
    // caller may read it as one.
    const contractSuccess = response.status === 204 ? text === "" : payload !== null && typeof payload === "object";
    if (response.ok && contractSuccess) {
      return { ok: true, status: response.status, body: payload, retryable: false };
    }
    const unavailable = response.status === 502 || response.status === 503 || response.status === 504;
    if (payload !== null && typeof payload.error === "string") {
      const retryAfter = Number(response.headers.get("Retry-After")) || null;
      const refusedBriefly = response.status === 429 && retryAfter !== null && retryAfter <= LONGEST_RETRY_AFTER_WAITED;
      const answer = failure(response.status, payload.error, String(payload.message || payload.error), unavailable || refusedBriefly);
      answer.retryAfter = retryAfter;
      answer.refusedBriefly = refusedBriefly;
      return answer;
    }
    return failure(response.status, "unexpected_response", "The login server answered HTTP " + response.status + ".", unavailable);
  }

  function failure(status, code, message, retryable) {
    return { ok: false, status: status, error: { error: code, message: message }, retryAfter: null, retryable: retryable, refusedBriefly: false };
  }

  return Object.freeze({
    start: start,
    loginWithPassword: loginWithPassword,
    logout: logout,
    token: token,
    inMiniProgram: inMiniProgram,
    reauthenticateInMiniProgram: reauthenticateInMiniProgram,
    MeetEasyLoginError: MeetEasyLoginError,
  });
}
