'use strict';
// The login state across runs: the access token kept in the mini program's storage until it expires,
// used by the next cold start without wx.login, and replaced when the server has ended it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createApi } = require('../lib/api');
const { createSession } = require('../lib/session');
const { createStubWx, contractError } = require('./stub_wx');

const KEY = 'meeteasy.access_token';
const NOW = 1_800_000_000_000;

function routes(refused = null) {
  return {
    'POST /auth/wechat/login': ({ data }) => ({
      statusCode: 200,
      data: { access_token: `token-for-${data.code}`, expires_in: 7200, login_ticket: 't', login_ticket_expires_in: 120, user: {} },
    }),
    'POST /auth/login-ticket': ({ header }) => (header.Authorization === `Bearer ${refused}`
      ? contractError(401, 'token_revoked')()
      : { statusCode: 201, data: { login_ticket: 'fresh', expires_in: 120 } }),
  };
}

/** A cold start whose storage holds `stored` (as an earlier run left it). */
function coldStart(stored, refused) {
  const wx = createStubWx(routes(refused));
  if (stored) wx.setStorageSync(KEY, stored);
  const api = createApi({ wx, baseUrl: 'https://auth.example.com' });
  return { wx, session: createSession({ wx, api, app: 'organizer', now: () => NOW }) };
}

test('a login is kept in storage and used by the next cold start without wx.login', async () => {
  const first = coldStart(null);
  assert.equal(await first.session.accessToken(), 'token-for-code-1');
  const kept = first.wx.getStorageSync(KEY);
  assert.deepEqual(kept, { app: 'organizer', value: 'token-for-code-1', expiresAt: NOW + 7200 * 1000 });

  const next = coldStart(kept);
  assert.equal(await next.session.accessToken(), 'token-for-code-1');
  assert.equal(next.wx.logins, 0);
});

test("an expired token, or another app's, is not used", async () => {
  for (const stored of [
    { app: 'organizer', value: 'old', expiresAt: NOW - 1 },
    { app: 'attendee', value: 'other-app', expiresAt: NOW + 60_000 },
    'not a token',
  ]) {
    const { wx, session } = coldStart(stored);
    assert.equal(await session.accessToken(), 'token-for-code-1', JSON.stringify(stored));
    assert.equal(wx.logins, 1);
  }
});

test('a stored token the server has ended is replaced, in storage too', async () => {
  const stored = { app: 'organizer', value: 'ended', expiresAt: NOW + 3_600_000 };
  const { wx, session } = coldStart(stored, 'ended');
  assert.equal((await session.freshTicket()).value, 'fresh');
  assert.equal(wx.logins, 1);
  assert.equal(wx.getStorageSync(KEY).value, 'token-for-code-1');
});

test("a stored token with too little left to give an H5 session is not used to mint a ticket", async () => {
  const stored = { app: 'organizer', value: 'ending', expiresAt: NOW + 10 * 60_000 };
  const { wx, session } = coldStart(stored);
  const ticket = await session.freshTicket();
  assert.deepEqual(ticket, { value: 't', sessionEndsBy: NOW + 7200 * 1000 });
  assert.equal(wx.logins, 1);
  assert.ok(!wx.requests.some((request) => request.path === '/auth/login-ticket'));
});

test('a failed wx.login is said as no connection, which trying again may mend', async () => {
  const wx = createStubWx(routes(), { codes: [] });
  const api = createApi({ wx, baseUrl: 'https://auth.example.com' });
  const session = createSession({ wx, api, app: 'organizer', now: () => NOW });
  await assert.rejects(session.accessToken(), (error) => error.code === 'network_error');
});
