'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createApi } = require('../lib/api');
const { createSession } = require('../lib/session');
const { createScanLogin, formatTime } = require('../lib/scan-login');
const { createStubWx, contractError } = require('./stub_wx');

const SCENE = 'AbCdEfGhIjKlMnOpQrStUvWxYz012345';
const CREATED_AT = 1700000000;

/** The name the server gives a console that gave none, read from its source: the page must know it. */
function serverUnnamedConsole() {
  const source = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'server', 'src', 'domain', 'scenes', 'mod.rs'), 'utf8');
  const found = /const UNNAMED_CONSOLE: &str = "([^"]+)";/.exec(source);
  assert.ok(found, 'server/src/domain/scenes/mod.rs names UNNAMED_CONSOLE');
  return found[1];
}

function loginRoute({ data }) {
  return {
    statusCode: 200,
    data: {
      access_token: `token-for-${data.code}`, token_type: 'Bearer', expires_in: 7200,
      login_ticket: `ticket-for-${data.code}`, login_ticket_expires_in: 120,
      user: { id: 'u1', display_name: 'Alice', avatar_url: null, roles: ['organizer'] },
    },
  };
}

function scanRoute() {
  return { statusCode: 200, data: { console: { device_name: 'Front desk PC', ip: '203.0.113.7', created_at: CREATED_AT }, app: 'organizer' } };
}

function setup(overrides = {}, { lang } = {}) {
  const wx = createStubWx({
    'POST /auth/wechat/login': loginRoute,
    [`POST /auth/scenes/${SCENE}/scan`]: scanRoute,
    [`POST /auth/scenes/${SCENE}/confirm`]: () => ({ statusCode: 204, data: '' }),
    [`POST /auth/scenes/${SCENE}/cancel`]: () => ({ statusCode: 204, data: '' }),
    ...overrides,
  });
  const api = createApi({ wx, baseUrl: 'https://auth.example.com/' });
  const session = createSession({ wx, api, app: 'organizer' });
  return { wx, session, scanLogin: createScanLogin({ api, session, lang }) };
}

test('scanning logs in, claims the scene and shows the console', async () => {
  const { wx, scanLogin } = setup();
  const view = await scanLogin.open({ scene: SCENE });
  assert.deepEqual(view, { state: 'confirm', deviceName: 'Front desk PC', ip: '203.0.113.7', time: formatTime(CREATED_AT) });
  const [login, scan] = wx.requests;
  assert.deepEqual([login.method, login.path, login.data], ['POST', '/auth/wechat/login', { code: 'code-1', app: 'organizer' }]);
  assert.equal(scan.path, `/auth/scenes/${SCENE}/scan`);
  assert.equal(scan.header.Authorization, 'Bearer token-for-code-1');
});

test("a console that gave no name is called so in the phone's language; a real name is shown as sent", async () => {
  const named = (deviceName) => () => ({ statusCode: 200, data: { console: { device_name: deviceName, ip: '203.0.113.7', created_at: CREATED_AT }, app: 'organizer' } });
  const unnamed = serverUnnamedConsole();
  const cases = [
    ['zh', unnamed, '桌面控制台'],
    ['en', unnamed, 'Desktop console'],
    ['zh', 'Front desk PC', 'Front desk PC'],
    ['zh', `${unnamed} 2`, `${unnamed} 2`],
  ];
  for (const [lang, sent, shown] of cases) {
    const { scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/scan`]: named(sent) }, { lang });
    const view = await scanLogin.open({ scene: SCENE });
    assert.equal(view.deviceName, shown, `${lang} ${sent}`);
  }
});

test('confirm and decline each send their call with the same token', async () => {
  for (const [action, path] of [['confirm', 'confirm'], ['decline', 'cancel']]) {
    const { wx, scanLogin } = setup();
    await scanLogin.open({ q: encodeURIComponent(`https://auth.example.com/m/scan/${SCENE}`) });
    const view = await scanLogin[action]();
    assert.equal(view.state, 'done');
    const last = wx.requests.at(-1);
    assert.equal(last.path, `/auth/scenes/${SCENE}/${path}`);
    assert.equal(last.header.Authorization, 'Bearer token-for-code-1');
    assert.equal(wx.logins, 1, 'one wx.login for the whole page');
  }
});

test('contract errors become clear messages', async () => {
  const cases = [
    ['scan', 410, 'scene_expired', /expired/],
    ['scan', 409, 'scene_claimed', /already scanned/],
    ['confirm', 403, 'not_organizer', /not an organizer/],
  ];
  for (const [step, status, code, message] of cases) {
    const { scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/${step}`]: contractError(status, code) });
    let view = await scanLogin.open({ scene: SCENE });
    if (step === 'confirm') view = await scanLogin.confirm();
    assert.equal(view.state, 'error');
    assert.equal(view.code, code);
    assert.match(view.message, message);
  }
});

/** A confirm route that loses its first answer (the request failed on the way), then answers `then`. */
function losingFirstConfirm(then) {
  let confirms = 0;
  const route = (request) => {
    confirms += 1;
    return confirms === 1 ? null : then(request);
  };
  return { route, count: () => confirms };
}

test('a confirm whose answer was lost may be sent again, and logs the console in', async () => {
  const confirm = losingFirstConfirm(() => ({ statusCode: 204, data: '' }));
  const { scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/confirm`]: confirm.route });
  await scanLogin.open({ scene: SCENE });
  const lost = await scanLogin.confirm();
  assert.deepEqual([lost.state, lost.code, lost.canRetry], ['error', 'network_error', true]);
  const again = await scanLogin.confirm();
  assert.deepEqual([again.state, again.outcome], ['done', 'logged_in']);
  assert.equal(confirm.count(), 2);
});

test('a confirm refused for its rate after a lost one may be tried again, and still says the console may be logged in', async () => {
  let confirms = 0;
  const answers = [() => null, contractError(429, 'too_many_requests'), contractError(410, 'scene_expired')];
  const route = () => answers[Math.min(confirms++, answers.length - 1)]();
  const { scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/confirm`]: route });
  await scanLogin.open({ scene: SCENE });
  await scanLogin.confirm();
  const refused = await scanLogin.confirm();
  assert.deepEqual([refused.code, refused.canRetry], ['too_many_requests', true]);
  const expired = await scanLogin.confirm();
  assert.match(expired.message, /may already be logged in/);
});

test('scene_expired after a confirm whose answer was lost says the console may be logged in already', async () => {
  const confirm = losingFirstConfirm(contractError(410, 'scene_expired'));
  const { scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/confirm`]: confirm.route });
  await scanLogin.open({ scene: SCENE });
  await scanLogin.confirm();
  const expired = await scanLogin.confirm();
  assert.deepEqual([expired.state, expired.code, expired.canRetry], ['error', 'scene_expired', false]);
  assert.match(expired.message, /may already be logged in/);

  // On a first confirm it is an expired code, and a declined one is not offered again.
  const first = setup({ [`POST /auth/scenes/${SCENE}/confirm`]: contractError(410, 'scene_expired') }).scanLogin;
  await first.open({ scene: SCENE });
  assert.match((await first.confirm()).message, /has expired/);
  const declining = setup({ [`POST /auth/scenes/${SCENE}/cancel`]: () => null }).scanLogin;
  await declining.open({ scene: SCENE });
  assert.equal((await declining.decline()).canRetry, false);
});

test('a refusal for the rate says how long the server asked to wait, in seconds or minutes', async () => {
  const refused = (code, wait) => () => ({ statusCode: 429, header: { 'retry-after': wait }, data: { error: code, message: code } });
  const cases = [
    [`POST /auth/scenes/${SCENE}/scan`, refused('too_many_requests', '30'), /try again in 30 seconds/],
    ['POST /auth/wechat/login', refused('wechat_rate_limited', '300'), /try again in 5 minutes/],
    // No Retry-After, or one that is no number of seconds: the sentence without a time.
    [`POST /auth/scenes/${SCENE}/scan`, refused('too_many_requests', 'soon'), /wait a minute and try again/],
  ];
  for (const [route, answer, message] of cases) {
    const view = await setup({ [route]: answer }).scanLogin.open({ scene: SCENE });
    assert.equal(view.state, 'error');
    assert.match(view.message, message);
  }
});

test('login failures and a missing scene are reported, not thrown', async () => {
  const { scanLogin } = setup({ 'POST /auth/wechat/login': contractError(502, 'wechat_unavailable') });
  const view = await scanLogin.open({ scene: SCENE });
  assert.equal(view.code, 'wechat_unavailable');
  const noScene = await setup().scanLogin.open({});
  assert.equal(noScene.code, 'no_scene');
  // Another app's QR (or a damaged one): said so before a login code is spent on it.
  const foreign = setup();
  assert.equal((await foreign.scanLogin.open({ scene: 'AbC123' })).code, 'no_scene');
  assert.equal(foreign.wx.logins, 0);
  const offline = await setup({ [`POST /auth/scenes/${SCENE}/scan`]: () => null }).scanLogin.open({ scene: SCENE });
  assert.equal(offline.code, 'network_error');
});

/** A route that refuses the first login's token as the server does once it has ended that session
 * (linking this WeChat to a console account, or "log out everywhere else", ends the phone's). */
function refusingFirstToken(route) {
  return (request) => (request.header.Authorization === 'Bearer token-for-code-1'
    ? contractError(401, 'token_revoked')()
    : route(request));
}

test('a token the server has ended is replaced by a new login, and the step goes through', async () => {
  const { wx, scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/scan`]: refusingFirstToken(scanRoute) });
  const view = await scanLogin.open({ scene: SCENE });
  assert.equal(view.state, 'confirm', JSON.stringify(view));
  assert.equal(wx.logins, 2);
  assert.equal(wx.requests.at(-1).header.Authorization, 'Bearer token-for-code-2');
  // The new login's token goes on being used.
  assert.equal((await scanLogin.confirm()).state, 'done');
  assert.equal(wx.requests.at(-1).header.Authorization, 'Bearer token-for-code-2');
  assert.equal(wx.logins, 2);
});

test('a token refused again after the new login is reported once, not retried in a loop', async () => {
  const { wx, scanLogin } = setup({ [`POST /auth/scenes/${SCENE}/scan`]: contractError(401, 'token_revoked') });
  const view = await scanLogin.open({ scene: SCENE });
  assert.equal(view.state, 'error');
  assert.equal(view.code, 'token_revoked');
  assert.equal(wx.logins, 2);
  // Other refusals are not a reason to log in again.
  const claimed = setup({ [`POST /auth/scenes/${SCENE}/scan`]: contractError(409, 'scene_claimed') });
  await claimed.scanLogin.open({ scene: SCENE });
  assert.equal(claimed.wx.logins, 1);
});

test('after a link, the next page logs in anew rather than open with the ticket the link ended', async () => {
  const linkScan = () => ({
    statusCode: 200,
    data: { ...scanRoute().data, purpose: 'link', account: { display_name: 'Pat' } },
  });
  const mint = () => ({ statusCode: 201, data: { login_ticket: 'minted', expires_in: 120 } });
  const { wx, session, scanLogin } = setup({
    [`POST /auth/scenes/${SCENE}/scan`]: linkScan,
    'POST /auth/login-ticket': refusingFirstToken(mint),
  });
  await scanLogin.open({ scene: SCENE });
  assert.equal((await scanLogin.confirm()).outcome, 'linked');
  // The link folded this WeChat's account: the login's ticket died with it, and so did its token,
  // which the server refuses: a new login mints the ticket.
  assert.equal((await session.freshTicket()).value, 'minted');
  assert.equal(wx.logins, 2);
  assert.equal(wx.requests.at(-1).header.Authorization, 'Bearer token-for-code-2');
});
