// The pages themselves, rendered by miniprogram-simulate: each state in Chinese and English, and each
// button's request (URL, method, body, token) on a stubbed wx.request.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderPage } = require('./simulate');
const { createStubWx, contractError } = require('./stub_wx');
const { createApi } = require('../lib/api');
const { createSession } = require('../lib/session');
const { formatTime } = require('../lib/scan-login');

const ORIGIN = 'https://auth.example.com';
const SCENE = 'AbCdEfGhIjKlMnOpQrStUvWxYz012345';
const CODE = 'InV1teC0deInV1teC0deInV1teC0de12';
const CREATED_AT = 1700000000;
const LANGS = ['zh', 'en'];

function loginRoute({ data }) {
  return {
    statusCode: 200,
    data: {
      access_token: `token-for-${data.code}`, token_type: 'Bearer', expires_in: 7200,
      login_ticket: 'ticket', login_ticket_expires_in: 120,
      user: { id: 'u1', display_name: 'Alice', avatar_url: null, roles: [] },
    },
  };
}

function scanRoute(extra = {}) {
  return () => ({
    statusCode: 200,
    data: { console: { device_name: 'Front desk PC', ip: '203.0.113.7', created_at: CREATED_AT }, app: 'organizer', ...extra },
  });
}

function open(page, { lang, query, routes, codes }) {
  const wx = createStubWx({ 'POST /auth/wechat/login': loginRoute, ...routes }, codes && { codes });
  const api = createApi({ wx, baseUrl: ORIGIN });
  const session = createSession({ wx, api, app: 'organizer' });
  return { wx, page: renderPage(page, { query, globalData: { api, session, lang } }) };
}

const settled = (data) => data.state !== 'loading' && !data.busy;

function lastRequest(wx) {
  const { method, url, data, header } = wx.requests.at(-1);
  return { method, url, data, authorization: header.Authorization };
}

// --- The scan page ----------------------------------------------------------------------------------

const SCAN_TEXT = {
  zh: { title: '登录控制台', linkTitle: '关联微信', question: '登录这台控制台？', link: '将你的微信关联到 Pat 的账号？', confirm: '确认', decline: '拒绝',
    loggedIn: '控制台已登录', linked: '你的微信已关联到这个账号', declined: '你已拒绝', exit: '完成并退出',
    identityInUse: '这个微信已属于另一个', expired: '这个登录码已过期', loading: '正在检查请求', tryAgain: '再试一次',
    device: '设备', unnamed: '桌面控制台' },
  en: { title: 'Console login', linkTitle: 'Link WeChat', question: 'Log in to this console?', link: "Link your WeChat to Pat's account?", confirm: 'Confirm',
    decline: 'Decline', loggedIn: 'The console is logged in.', linked: 'Your WeChat is now linked', declined: 'You declined.',
    exit: 'Done, leave', identityInUse: 'This WeChat already belongs to another MeetEasy account', expired: 'This login code has expired',
    loading: 'Checking the request', tryAgain: 'Try again', device: 'Device', unnamed: 'Desktop console' },
};

function openScan(lang, routes = {}, query = { scene: SCENE }) {
  return open('pages/scan-login/index', {
    lang,
    query,
    routes: {
      [`POST /auth/scenes/${SCENE}/scan`]: scanRoute(),
      [`POST /auth/scenes/${SCENE}/confirm`]: () => ({ statusCode: 204, data: '' }),
      [`POST /auth/scenes/${SCENE}/cancel`]: () => ({ statusCode: 204, data: '' }),
      ...routes,
    },
  });
}

for (const lang of LANGS) {
  const text = SCAN_TEXT[lang];

  test(`scan page (${lang}): asks to log in the console, confirm logs it in, then offers to leave`, async () => {
    const { wx, page } = openScan(lang);
    assert.match(page.text(), new RegExp(text.loading));
    assert.deepEqual(page.wxCalls[0], ['setNavigationBarTitle', text.title]);
    await page.until(settled);
    const shown = page.text();
    for (const part of [text.question, 'Front desk PC', '203.0.113.7', formatTime(CREATED_AT), text.confirm, text.decline]) {
      assert.ok(shown.includes(part), `${part} in ${shown}`);
    }
    assert.equal(page.has('.exit'), false);
    assert.deepEqual(lastRequest(wx), { method: 'POST', url: `${ORIGIN}/auth/scenes/${SCENE}/scan`, data: undefined, authorization: 'Bearer token-for-code-1' });

    await page.tap('.confirm');
    await page.until((data) => data.state === 'done');
    assert.deepEqual(lastRequest(wx), { method: 'POST', url: `${ORIGIN}/auth/scenes/${SCENE}/confirm`, data: undefined, authorization: 'Bearer token-for-code-1' });
    assert.ok(page.text().includes(text.loggedIn), page.text());
    assert.ok(page.text().includes(text.exit));
    await page.tap('.exit');
    assert.deepEqual(page.wxCalls.at(-1), ['exitMiniProgram']);
  });

  test(`scan page (${lang}): a console that gave no name is called so in the page's language`, async () => {
    const { page } = openScan(lang, { [`POST /auth/scenes/${SCENE}/scan`]: () => ({
      statusCode: 200, data: { console: { device_name: 'Desktop console', ip: '203.0.113.7', created_at: CREATED_AT }, app: 'organizer' },
    }) });
    await page.until(settled);
    const row = page.comp.querySelector('.row').dom.textContent;
    assert.equal(row, `${text.device}${text.unnamed}`);
  });

  test(`scan page (${lang}): a link scene asks to link WeChat to the named account`, async () => {
    const { wx, page } = openScan(lang, { [`POST /auth/scenes/${SCENE}/scan`]: scanRoute({ purpose: 'link', account: { display_name: 'Pat' } }) });
    await page.until(settled);
    assert.ok(page.text().includes(text.link), page.text());
    assert.ok(!page.text().includes(text.question));
    assert.deepEqual(page.wxCalls.at(-1), ['setNavigationBarTitle', text.linkTitle]);
    await page.tap('.confirm');
    await page.until((data) => data.state === 'done');
    assert.equal(lastRequest(wx).url, `${ORIGIN}/auth/scenes/${SCENE}/confirm`);
    assert.ok(page.text().includes(text.linked), page.text());
    assert.ok(page.has('.exit'));
  });

  test(`scan page (${lang}): identity_in_use on a link confirm is said in words`, async () => {
    const { page } = openScan(lang, {
      [`POST /auth/scenes/${SCENE}/scan`]: scanRoute({ purpose: 'link', account: { display_name: 'Pat' } }),
      [`POST /auth/scenes/${SCENE}/confirm`]: contractError(409, 'identity_in_use'),
    });
    await page.until(settled);
    await page.tap('.confirm');
    await page.until((data) => data.state === 'error');
    assert.ok(page.text().includes(text.identityInUse), page.text());
    assert.ok(!page.text().includes('identity_in_use'), 'never the code');
  });

  test(`scan page (${lang}): decline cancels the scene and offers no exit`, async () => {
    const { wx, page } = openScan(lang, {}, { q: encodeURIComponent(`${ORIGIN}/m/scan/${SCENE}`), scancode_time: '1700000000' });
    await page.until(settled);
    await page.tap('.decline');
    await page.until((data) => data.state === 'done');
    assert.equal(lastRequest(wx).url, `${ORIGIN}/auth/scenes/${SCENE}/cancel`);
    assert.ok(page.text().includes(text.declined), page.text());
    assert.equal(page.has('.exit'), false);
  });

  test(`scan page (${lang}): a confirm whose answer was lost offers to try again, which logs the console in`, async () => {
    let confirms = 0;
    const losingFirst = () => {
      confirms += 1;
      return confirms === 1 ? null : { statusCode: 204, data: '' };
    };
    const { page } = openScan(lang, { [`POST /auth/scenes/${SCENE}/confirm`]: losingFirst });
    await page.until(settled);
    await page.tap('.confirm');
    await page.until((data) => data.state === 'error' && !data.busy);
    assert.equal(page.comp.querySelector('.retry').dom.textContent, text.tryAgain);
    await page.tap('.retry');
    await page.until((data) => data.state === 'done');
    assert.ok(page.text().includes(text.loggedIn), page.text());
    assert.ok(!page.has('.retry'));
  });

  test(`scan page (${lang}): an expired scene is said in words`, async () => {
    const { page } = openScan(lang, { [`POST /auth/scenes/${SCENE}/scan`]: contractError(410, 'scene_expired') });
    await page.until(settled);
    assert.equal(page.data.state, 'error');
    assert.ok(page.text().includes(text.expired), page.text());
    assert.equal(page.has('.confirm'), false);
    assert.equal(page.has('.exit'), true, 'a dead end offers a way out');
  });

  test(`scan page (${lang}): leaving the question unanswered declines, leaving after an answer sends nothing`, async () => {
    const { wx, page } = openScan(lang);
    await page.until(settled);
    page.comp.detach();
    for (let turn = 0; turn < 200 && lastRequest(wx).url.endsWith('/scan'); turn += 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(lastRequest(wx).url, `${ORIGIN}/auth/scenes/${SCENE}/cancel`);
    assert.equal(lastRequest(wx).authorization, 'Bearer token-for-code-1');

    // Left while the scene is still being claimed: declined once the claim is made.
    const early = openScan(lang);
    early.page.comp.detach();
    const cancelled = () => early.wx.requests.some((request) => request.path.endsWith('/cancel'));
    for (let turn = 0; turn < 200 && !cancelled(); turn += 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(lastRequest(early.wx).url, `${ORIGIN}/auth/scenes/${SCENE}/cancel`);

    const answered = openScan(lang);
    await answered.page.until(settled);
    await answered.page.tap('.confirm');
    await answered.page.until((data) => data.state === 'done');
    const asked = answered.wx.requests.length;
    answered.page.comp.detach();
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered.wx.requests.length, asked);
  });
}

// --- The invite page --------------------------------------------------------------------------------

const INVITE_TEXT = {
  zh: { title: '团队邀请', question: 'Pat 邀请你成为 MeetEasy 团队的管理员', organizer: '组织者', accept: '接受', decline: '拒绝',
    accepted: '你已成为 MeetEasy 团队的管理员', declined: '你已拒绝邀请', exit: '完成并退出',
    invite_used: '这个邀请已经被使用过了', invite_expired: '这个邀请已过期或已被撤销', invite_invalid: '这个邀请码无效',
    too_many_requests: '尝试次数过多', network_error: '无法连接服务器', no_invite: '请用微信扫描邀请二维码',
    store_unavailable: '服务暂时不可用', server_busy: '服务器正忙', tryAgain: '再试一次' },
  en: { title: 'Team invite', question: 'Pat invites you to join the MeetEasy team as an admin', organizer: 'as an organizer',
    accept: 'Accept', decline: 'Decline', accepted: 'You are now an admin of the MeetEasy team', declined: 'You declined the invite',
    exit: 'Done, leave', invite_used: 'This invite has already been used', invite_expired: 'This invite has expired or was withdrawn',
    invite_invalid: 'This invite code is not valid', too_many_requests: 'Too many attempts', network_error: 'No connection to the server',
    no_invite: 'Open this page by scanning an invite QR code',
    store_unavailable: 'The service is temporarily unavailable', server_busy: 'The server is busy', tryAgain: 'Try again' },
};

function inspectRoute(role = 'admin') {
  return () => ({
    statusCode: 200,
    data: { role, invited_by: { display_name: 'Pat', avatar_url: 'https://cdn.example.com/pat.png' }, expires_at: CREATED_AT },
  });
}

function acceptRoute({ data }) {
  return { statusCode: 200, data: { user: { id: 'u1', display_name: 'Alice', avatar_url: null, roles: data.code === CODE ? ['organizer', 'admin'] : [] } } };
}

function openInvite(lang, routes = {}, query = { scene: CODE }) {
  return open('pages/invite/index', {
    lang,
    query,
    routes: { 'POST /auth/invites/inspect': inspectRoute(), 'POST /auth/invites/accept': acceptRoute, ...routes },
  });
}

for (const lang of LANGS) {
  const text = INVITE_TEXT[lang];

  test(`invite page (${lang}): shows who invites to which role, with Accept and Decline alike`, async () => {
    const { wx, page } = openInvite(lang);
    assert.deepEqual(page.wxCalls[0], ['setNavigationBarTitle', text.title]);
    await page.until(settled);
    assert.deepEqual(wx.requests.map((r) => [r.method, r.url, r.data, r.header.Authorization]), [
      ['POST', `${ORIGIN}/auth/invites/inspect`, { code: CODE }, undefined],
    ], 'inspect needs no login');
    assert.ok(page.text().includes(text.question), page.text());
    assert.equal(page.data.inviterAvatar, 'https://cdn.example.com/pat.png');
    assert.ok(page.has('.avatar'));
    const accept = page.comp.querySelector('.accept');
    const decline = page.comp.querySelector('.decline');
    assert.equal(accept.dom.textContent, text.accept);
    assert.equal(decline.dom.textContent, text.decline);
    assert.equal(accept.dom.className.replace('accept', ''), decline.dom.className.replace('decline', ''), 'same look');
  });

  test(`invite page (${lang}): accept logs in and accepts with the mini program token`, async () => {
    const { wx, page } = openInvite(lang);
    await page.until(settled);
    await page.tap('.accept');
    await page.until((data) => data.state === 'done');
    assert.deepEqual(wx.requests.slice(1).map((r) => [r.method, r.url, r.data, r.header.Authorization]), [
      ['POST', `${ORIGIN}/auth/wechat/login`, { code: 'code-1', app: 'organizer' }, undefined],
      ['POST', `${ORIGIN}/auth/invites/accept`, { code: CODE }, 'Bearer token-for-code-1'],
    ]);
    assert.ok(page.text().includes(text.accepted), page.text());
    await page.tap('.exit');
    assert.deepEqual(page.wxCalls.at(-1), ['exitMiniProgram']);
  });

  test(`invite page (${lang}): an organizer invite by its url-mode link, declined without a call`, async () => {
    const { wx, page } = openInvite(lang, { 'POST /auth/invites/inspect': inspectRoute('organizer') },
      { q: encodeURIComponent(`${ORIGIN}/m/invite/${CODE}`), scancode_time: '1700000000' });
    await page.until(settled);
    assert.deepEqual(wx.requests[0].data, { code: CODE });
    assert.ok(page.text().includes(text.organizer), page.text());
    await page.tap('.decline');
    await page.until((data) => data.state === 'done');
    assert.equal(wx.requests.length, 1, 'declining tells the server nothing');
    assert.ok(page.text().includes(text.declined), page.text());
  });

  test(`invite page (${lang}): every failure is a clear sentence`, async () => {
    const cases = [
      ['accept', contractError(409, 'invite_used'), 'invite_used'],
      ['inspect', contractError(410, 'invite_expired'), 'invite_expired'],
      ['inspect', contractError(404, 'invite_invalid'), 'invite_invalid'],
      ['accept', contractError(410, 'invite_expired'), 'invite_expired'],
      ['inspect', contractError(429, 'too_many_requests'), 'too_many_requests'],
      ['accept', () => null, 'network_error'],
      ['accept', contractError(503, 'server_busy'), 'server_busy'],
    ];
    for (const [step, route, code] of cases) {
      const { page } = openInvite(lang, { [`POST /auth/invites/${step}`]: route });
      await page.until(settled);
      if (step === 'accept') {
        await page.tap('.accept');
        await page.until((data) => data.state !== 'ask' && !data.busy);
      }
      assert.equal(page.data.state, 'error', code);
      assert.ok(page.text().includes(text[code]), `${code}: ${page.text()}`);
      const retryable = ['network_error', 'server_busy'].includes(code);
      assert.equal(page.has('.retry'), retryable, `${code}: only a failure that left the invite may be tried again`);
      assert.ok(!page.text().includes(code), 'never the code');
    }
  });

  test(`invite page (${lang}): an accept the store failed offers to try again, and then succeeds`, async () => {
    let accepts = 0;
    const failingOnce = (request) => {
      accepts += 1;
      return accepts === 1 ? contractError(503, 'store_unavailable')() : acceptRoute(request);
    };
    const { page } = openInvite(lang, { 'POST /auth/invites/accept': failingOnce });
    await page.until(settled);
    await page.tap('.accept');
    await page.until((data) => data.state === 'error' && !data.busy);
    assert.ok(page.text().includes(text.store_unavailable), page.text());
    assert.equal(page.comp.querySelector('.retry').dom.textContent, text.tryAgain);
    await page.tap('.retry');
    await page.until((data) => data.state === 'done');
    assert.ok(page.text().includes(text.accepted), page.text());
    assert.equal(accepts, 2);
    assert.ok(!page.has('.retry'), 'nothing left to try again');
  });

  test(`invite page (${lang}): opened without an invite says how to open it`, async () => {
    const { wx, page } = openInvite(lang, {}, {});
    await page.until(settled);
    assert.ok(page.text().includes(text.no_invite), page.text());
    assert.equal(wx.requests.length, 0);
  });
}

// --- Opening again -----------------------------------------------------------------------------------

test('scan and invite pages: an opening that failed for a moment offers to open again, which gets through', async () => {
  for (const [openPage, route, reached] of [
    [(routes) => openScan('zh', routes), `POST /auth/scenes/${SCENE}/scan`, (data) => data.state === 'confirm'],
    [(routes) => openInvite('zh', routes), 'POST /auth/invites/inspect', (data) => data.state === 'ask'],
  ]) {
    let online = false;
    const answer = route.endsWith('/scan') ? scanRoute() : inspectRoute();
    const { page } = openPage({ [route]: (request) => (online ? answer(request) : null) });
    await page.until(settled);
    assert.equal(page.comp.querySelector('.reopen').dom.textContent, '再试一次', route);
    online = true;
    await page.tap('.reopen');
    await page.until(reached);
    assert.ok(!page.has('.reopen'), route);
  }
  // A refusal that will answer the same again offers no such button.
  const { page } = openScan('zh', { [`POST /auth/scenes/${SCENE}/scan`]: contractError(409, 'scene_claimed') });
  await page.until(settled);
  assert.ok(!page.has('.reopen'));
});

// --- The WebView page -------------------------------------------------------------------------------

for (const [lang, expected] of [['zh', '无法连接服务器'], ['en', 'No connection to the server']]) {
  test(`webview page (${lang}): a failed login is said in words`, async () => {
    const { page } = open('pages/webview/index', { lang, routes: { 'POST /auth/wechat/login': () => null } });
    await page.until((data) => data.message !== '');
    assert.ok(page.text().includes(expected), page.text());
  });
}

test('webview page: a failure offers to try again, which opens the site; it never asks to scan', async () => {
  let online = false;
  const routes = { 'POST /auth/wechat/login': (request) => (online ? loginRoute(request) : null) };
  const { page } = open('pages/webview/index', { lang: 'zh', routes });
  await page.until((data) => data.message !== '');
  assert.equal(page.comp.querySelector('.retry').dom.textContent, '再试一次');
  online = true;
  await page.tap('.retry');
  await page.until((data) => data.src !== '');
  assert.ok(!page.has('.retry'));
  // wx.login itself failing (no code from WeChat): said as no connection, not "scan again".
  const noCode = open('pages/webview/index', { lang: 'zh', routes: {}, codes: [] });
  await noCode.page.until((data) => data.message !== '');
  assert.ok(!noCode.page.text().includes('扫码'), noCode.page.text());
  assert.ok(noCode.page.has('.retry'));
});

test("webview page: back in the foreground after the site's H5 session ended, it opens the site anew", async (t) => {
  // The page reads the time from Date: the test moves it past the phone login's end.
  t.mock.timers.enable({ apis: ['Date'], now: 1_800_000_000_000 });
  const { wx, page } = open('pages/webview/index', { lang: 'en', routes: {} });
  await page.until((data) => data.src !== '');
  t.mock.timers.tick(7200 * 1000);
  page.comp.instance.onShow();
  await page.until((data) => data.src !== '' && /login_ticket=ticket&_t=1800007200000$/.test(data.src));
  assert.equal(wx.logins, 2, 'the ended login is not used to mint the ticket');
});

test('webview page: a refusal says to try again, never to scan; one that trying cannot mend offers no button', async () => {
  for (const [lang, code, status, expected] of [
    ['zh', 'wechat_code_invalid', 401, '微信登录失败。请再试一次。'],
    ['en', 'token_revoked', 401, 'Your login has ended. Please try again.'],
    ['en', 'something_new', 500, 'Something went wrong. Please try again.'],
  ]) {
    const { page } = open('pages/webview/index', { lang, routes: { 'POST /auth/wechat/login': contractError(status, code) } });
    await page.until((data) => data.message !== '');
    assert.equal(page.data.message, expected, code);
    assert.ok(page.has('.retry'), code);
  }
  const { page } = open('pages/webview/index', { lang: 'en', routes: { 'POST /auth/wechat/login': contractError(404, 'unknown_app') } });
  await page.until((data) => data.message !== '');
  assert.ok(page.text().includes('does not know this mini program'), page.text());
  assert.ok(!page.has('.retry'));
});

for (const [name, openFailing] of [
  ['scan page', () => open('pages/scan-login/index', { lang: 'zh', query: { scene: SCENE }, routes: {}, codes: [] })],
  ['invite page', () => open('pages/invite/index', { lang: 'zh', query: { scene: CODE }, routes: {}, codes: [] })],
]) {
  test(`${name}: a failed wx.login is said as no connection, with a way to try again, not "scan again"`, async () => {
    const { page } = openFailing();
    await page.until(settled);
    assert.ok(page.text().includes('无法连接服务器'), page.text());
    assert.ok(!page.text().includes('扫码'), page.text());
    assert.ok(page.has('.reopen'));
  });
}

test('webview page: back in the foreground it keeps the site it opened; one that failed tries again', async () => {
  let tickets = 0;
  const { wx, page } = open('pages/webview/index', { lang: 'en', routes: {} });
  await page.until((data) => data.src !== '');
  const opened = page.data.src;
  assert.match(opened, /login_ticket=ticket&/);
  page.comp.instance.onShow();
  // Nothing should happen: give a new launch the turns it would need to show.
  for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(page.data.src, opened, 'the site the user was reading stays');
  assert.equal(wx.requests.length, 1, 'no new ticket, no new H5 session');

  let online = false;
  const routes = {
    'POST /auth/wechat/login': (request) => (online ? loginRoute(request) : null),
    'POST /auth/login-ticket': () => ({ statusCode: 201, data: { login_ticket: `fresh-${(tickets += 1)}`, expires_in: 120 } }),
  };
  const retried = open('pages/webview/index', { lang: 'en', routes });
  await retried.page.until((data) => data.message !== '');
  online = true;
  retried.page.comp.instance.onShow();
  await retried.page.until((data) => data.src !== '');
  assert.equal(retried.page.data.message, '');
});
