// The mini program's login state: wx.login -> POST /auth/wechat/login. The server's access token is kept
// in the mini program's storage until it expires, so a cold start logs in again only when it must (as
// WeChat advises: wx.login anew only once your own login state is gone); the one-time login ticket is
// held in memory. WeChat's session_key never reaches the phone.
'use strict';

const TOKEN_KEY = 'meeteasy.access_token';
/** The session a login ticket opens ends when the session of the token that minted it does (a derived
 * token never outlives its parent): minted with a token near its end, it would open an H5 session that
 * ends within minutes. With less than this left, a new login's ticket is used instead. */
const TICKET_PARENT_MIN_LEFT_MS = 30 * 60 * 1000;
/** A login's ticket with less than this left may expire before the page carrying it has exchanged it. */
const TICKET_MIN_LEFT_MS = 30 * 1000;

/** WeChat's own login failed (no network, WeChat busy): said as no connection, which trying again may mend. */
function wxLoginFailed(message) {
  return Object.assign(new Error(message), { code: 'network_error' });
}

function wxLogin(wx) {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res && res.code ? resolve(res.code) : reject(wxLoginFailed('wx.login gave no code'))),
      fail: (err) => reject(wxLoginFailed((err && err.errMsg) || 'wx.login failed')),
    });
  });
}

/** The server says the token itself is over (401): revoked (linking this WeChat to a console account,
 * or "log out everywhere else", ends the phone's sessions), expired, or not valid. */
function tokenIsOver(error) {
  return Boolean(error) && error.status === 401 && ['token_revoked', 'token_expired', 'invalid_token'].includes(error.code);
}

/** The token an earlier run stored for `app`, if it has not expired; storage errors read as none. */
function storedToken(wx, app, at) {
  try {
    const stored = wx.getStorageSync(TOKEN_KEY);
    const usable = stored && stored.app === app && typeof stored.value === 'string' && stored.expiresAt > at;
    return usable ? { value: stored.value, expiresAt: stored.expiresAt } : null;
  } catch (error) {
    return null;
  }
}

function createSession({ wx, api, app, now = Date.now }) {
  let token = storedToken(wx, app, now()); // { value, expiresAt }
  let ticket = null; // { value, expiresAt }, single use

  /** Keeps `next` (or forgets the token, for null) here and in storage; storage is best effort. */
  function keep(next) {
    token = next;
    try {
      if (next) wx.setStorageSync(TOKEN_KEY, { app, ...next });
      else wx.removeStorageSync(TOKEN_KEY);
    } catch (error) {
      // Full or unavailable storage: the token lives for this run only.
    }
  }

  async function login() {
    const code = await wxLogin(wx);
    const answer = await api.wechatLogin(code, app);
    const at = now();
    keep({ value: answer.access_token, expiresAt: at + answer.expires_in * 1000 });
    ticket = { value: answer.login_ticket, expiresAt: at + answer.login_ticket_expires_in * 1000 };
    return answer.user;
  }

  /** A valid access token, logging in again once ours has expired. */
  async function accessToken() {
    if (!token || token.expiresAt <= now()) await login();
    return token.value;
  }

  /** `call(token)` with a valid access token. When the server answers that the token is over, logs
   * in again and makes the call once more: the 401 came before the server did anything. */
  async function withToken(call) {
    try {
      return await call(await accessToken());
    } catch (error) {
      if (!tokenIsOver(error)) throw error;
      forget();
      await login();
      return call(token.value);
    }
  }

  /** A login ticket nobody has used yet (`value`), and when the session it opens ends at the latest
   * (`sessionEndsBy`, its parent token's end): the login's own while it has time left to be used, else
   * one minted with the token while that has time left to give, else the one a new login brings. */
  async function freshTicket() {
    const at = now();
    const held = ticket;
    ticket = null;
    if (held && held.expiresAt - at >= TICKET_MIN_LEFT_MS) {
      return { value: held.value, sessionEndsBy: token.expiresAt };
    }
    if (token && token.expiresAt - at >= TICKET_PARENT_MIN_LEFT_MS) {
      const answer = await withToken((value) => api.loginTicket(value));
      return { value: answer.login_ticket, sessionEndsBy: token.expiresAt };
    }
    await login();
    const brought = ticket;
    ticket = null;
    return { value: brought.value, sessionEndsBy: token.expiresAt };
  }

  /** Forgets the token and ticket: the server ended their session. */
  function forget() {
    keep(null);
    ticket = null;
  }

  /** Forgets the login's ticket, whose session may have ended (a link folds this WeChat's account
   * into the console user's): the next one is minted with the token, which a new login replaces if
   * it has ended too. The token stays, as its session may not have (the WeChat was the console
   * user's already), and dropping it would leave that session live with nobody holding it. */
  function forgetTicket() {
    ticket = null;
  }

  return { login, accessToken, withToken, freshTicket, forgetTicket };
}

module.exports = { createSession };
