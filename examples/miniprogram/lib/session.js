// The mini program's login state: wx.login -> POST /auth/wechat/login, kept in memory. The server's
// access token and one-time login ticket are held here; WeChat's session_key never reaches the phone.
'use strict';

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

function createSession({ wx, api, app, now = Date.now }) {
  let token = null; // { value, expiresAt }
  let ticket = null; // { value, expiresAt }, single use

  async function login() {
    const code = await wxLogin(wx);
    const answer = await api.wechatLogin(code, app);
    const at = now();
    token = { value: answer.access_token, expiresAt: at + answer.expires_in * 1000 };
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
      token = null;
      ticket = null;
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

  return { login, accessToken, withToken, freshTicket };
}

module.exports = { createSession };
