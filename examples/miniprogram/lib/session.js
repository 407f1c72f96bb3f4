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

  /** A login ticket nobody has used yet: the one from login if still fresh, else a new one. */
  async function freshTicket() {
    if (!ticket || ticket.expiresAt <= now()) {
      if (token && token.expiresAt > now()) {
        const answer = await api.loginTicket(token.value);
        return answer.login_ticket;
      }
      await login(); // brings a fresh ticket with it
    }
    const value = ticket.value;
    ticket = null;
    return value;
  }

  return { login, accessToken, freshTicket };
}

module.exports = { createSession };
