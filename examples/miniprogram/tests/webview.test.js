'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createApi } = require('../lib/api');
const { createSession } = require('../lib/session');
const { buildH5Url, launchUrl } = require('../lib/webview');
const { createStubWx } = require('./stub_wx');

test('the H5 URL carries the ticket and a cache-busting timestamp', () => {
  assert.equal(buildH5Url('https://h5.example.com/', 't1', 42), 'https://h5.example.com/?login_ticket=t1&_t=42');
  assert.equal(
    buildH5Url('https://h5.example.com/a?x=1&login_ticket=old&_t=1#top', 'a+b/c', 43),
    'https://h5.example.com/a?x=1&login_ticket=a%2Bb%2Fc&_t=43#top',
  );
});

function setup() {
  let tickets = 0;
  const wx = createStubWx({
    'POST /auth/wechat/login': () => ({
      statusCode: 200,
      data: { access_token: 'tok', token_type: 'Bearer', expires_in: 7200, login_ticket: 'from-login', login_ticket_expires_in: 120, user: {} },
    }),
    'POST /auth/login-ticket': () => {
      tickets += 1;
      return { statusCode: 201, data: { login_ticket: `fresh-${tickets}`, expires_in: 120 } };
    },
  });
  let clock = 1000000;
  const now = () => clock;
  const api = createApi({ wx, baseUrl: 'https://auth.example.com' });
  const session = createSession({ wx, api, app: 'attendee', now });
  return { wx, session, now, advance: (ms) => { clock += ms; } };
}

test('each launch uses a ticket once, fetching a fresh one when needed', async () => {
  const { wx, session, now, advance } = setup();
  await session.login();
  const first = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
  assert.equal(first.src, `https://h5.example.com/?login_ticket=from-login&_t=${now()}`);
  advance(5);
  const second = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
  assert.equal(second.src, `https://h5.example.com/?login_ticket=fresh-1&_t=${now()}`);
  const ticketCall = wx.requests.at(-1);
  assert.equal(ticketCall.path, '/auth/login-ticket');
  assert.equal(ticketCall.header.Authorization, 'Bearer tok');
});

test("an expired login ticket is never used, nor one about to expire before the page exchanges it", async () => {
  for (const secondsLater of [121, 100]) {
    const { session, now, advance } = setup();
    await session.login();
    advance(secondsLater * 1000);
    const { src } = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
    assert.match(src, /login_ticket=fresh-1&/, `${secondsLater} s after the login`);
  }
});

test("the H5 session a launch opens ends with the phone's login: the launch says when, at the latest", async () => {
  const { session, now, advance } = setup();
  const opened = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
  assert.equal(opened.sessionEndsBy, now() + 7200 * 1000);
  advance(60 * 1000);
  const minted = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
  assert.match(minted.src, /login_ticket=fresh-1&/);
  assert.equal(minted.sessionEndsBy, opened.sessionEndsBy);
});

test("a login near its end mints no ticket: the H5 session would end with it, so a new login's ticket is used", async () => {
  const { wx, session, now, advance } = setup();
  await session.login();
  advance((7200 - 29 * 60) * 1000);
  const launched = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
  assert.match(launched.src, /login_ticket=from-login&/);
  assert.equal(wx.logins, 2);
  assert.equal(launched.sessionEndsBy, now() + 7200 * 1000);
});

test('without a login, launching logs in first and uses the ticket that came with it', async () => {
  const { wx, session, now } = setup();
  const { src } = await launchUrl({ session, h5Url: 'https://h5.example.com/', now });
  assert.match(src, /login_ticket=from-login&/);
  assert.equal(wx.logins, 1);
});
