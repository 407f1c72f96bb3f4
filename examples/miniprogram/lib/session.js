// The mini program's login state: wx.login -> POST /auth/wechat/login. The server's access token is kept
// in the mini program's storage until it expires, so a cold start logs in again only when it must (as
// WeChat advises: wx.login anew only once your own login state is gone); the one-time login ticket is
// held in memory. WeChat's session_key never reaches the phone.
'use strict';

const TOKEN_KEY = 'meeteasy.access_token';

function wxLogin(wx) {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res && res.code ? resolve(res.code) : reject(new Error('wx.login gave no code'))),
      fail: (err) => reject(new Error((err && err.errMsg) || 'wx.login failed')),
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

  /** A login ticket nobody has used yet: the one from login if still fresh, else a new one. */
  async function freshTicket() {
    if (!ticket || ticket.expiresAt <= now()) {
      if (token && token.expiresAt > now()) {
        const answer = await withToken((value) => api.loginTicket(value));
        return answer.login_ticket;
      }
      await login(); // brings a fresh ticket with it
    }
    const value = ticket.value;
    ticket = null;
    return value;
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
