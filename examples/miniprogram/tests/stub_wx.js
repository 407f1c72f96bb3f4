// A stand-in for the mini program's `wx`: wx.login hands out codes, wx.request answers from a routing
// table of `METHOD /path` -> (request) => { statusCode, data }, and every call is recorded.
'use strict';

function createStubWx(routes, { codes = ['code-1', 'code-2', 'code-3'] } = {}) {
  const requests = [];
  let logins = 0;
  const storage = new Map();
  const wx = {
    requests,
    storage,
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => storage.set(key, JSON.parse(JSON.stringify(value))),
    removeStorageSync: (key) => storage.delete(key),
    get logins() {
      return logins;
    },
    login({ success, fail }) {
      const code = codes[logins];
      logins += 1;
      setImmediate(() => (code ? success({ code, errMsg: 'login:ok' }) : fail({ errMsg: 'login:fail' })));
    },
    request({ url, method, data, header, success, fail }) {
      const path = url.replace(/^https?:\/\/[^/]+/, '');
      const request = { method, url, path, data, header };
      requests.push(request);
      const route = routes[`${method} ${path}`];
      setImmediate(() => {
        if (!route) return fail({ errMsg: 'request:fail' });
        const answer = route(request);
        return answer ? success(answer) : fail({ errMsg: 'request:fail timeout' });
      });
    },
  };
  return wx;
}

function contractError(statusCode, error) {
  return () => ({ statusCode, data: { error, message: `${error} (stub)` } });
}

module.exports = { createStubWx, contractError };
