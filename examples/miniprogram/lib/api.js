// The MeetEasy auth server as the mini program calls it: wx.request wrapped in promises, every failure
// turned into an ApiError carrying the contract's stable error code.
'use strict';

class ApiError extends Error {
  /** `retryAfter`: the seconds a refusal for the rate asked to wait (`Retry-After`), or null. */
  constructor(code, message, status, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** `Retry-After` in seconds (the server sends seconds), or null; header names in any case. */
function retryAfterOf(header) {
  const name = Object.keys(header || {}).find((key) => key.toLowerCase() === 'retry-after');
  const seconds = name === undefined ? NaN : Number(header[name]);
  return Number.isInteger(seconds) && seconds > 0 ? seconds : null;
}

function createApi({ wx, baseUrl }) {
  const origin = baseUrl.replace(/\/+$/, '');

  function request(method, path, { body, token } = {}) {
    return new Promise((resolve, reject) => {
      const header = { 'content-type': 'application/json' };
      if (token) header.Authorization = `Bearer ${token}`;
      wx.request({
        url: origin + path,
        method,
        data: body === undefined ? undefined : body,
        header,
        success(res) {
          if (res.statusCode >= 200 && res.statusCode < 300) {
            resolve(res.data);
            return;
          }
          const data = res.data && typeof res.data === 'object' ? res.data : {};
          const code = data.error || 'unexpected_status';
          reject(new ApiError(code, data.message || `HTTP ${res.statusCode}`, res.statusCode, retryAfterOf(res.header)));
        },
        fail(err) {
          reject(new ApiError('network_error', (err && err.errMsg) || 'request failed', 0));
        },
      });
    });
  }

  return {
    wechatLogin: (code, app) => request('POST', '/auth/wechat/login', { body: app ? { code, app } : { code } }),
    loginTicket: (token) => request('POST', '/auth/login-ticket', { body: {}, token }),
    scan: (scene, token) => request('POST', `/auth/scenes/${encodeURIComponent(scene)}/scan`, { token }),
    confirm: (scene, token) => request('POST', `/auth/scenes/${encodeURIComponent(scene)}/confirm`, { token }),
    cancel: (scene, token) => request('POST', `/auth/scenes/${encodeURIComponent(scene)}/cancel`, { token }),
    inspectInvite: (code) => request('POST', '/auth/invites/inspect', { body: { code } }),
    acceptInvite: (code, token) => request('POST', '/auth/invites/accept', { body: { code }, token }),
    me: (token) => request('GET', '/auth/me', { token }),
  };
}

module.exports = { ApiError, createApi };
