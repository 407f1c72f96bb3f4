'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createApi } = require('../lib/api');
const { createSession } = require('../lib/session');
const { createInvite } = require('../lib/invite');
const { createStubWx, contractError } = require('./stub_wx');

const CODE = 'InV1teC0deInV1teC0deInV1teC0de12';

function setup(routes = {}, lang) {
  const wx = createStubWx({
    'POST /auth/wechat/login': ({ data }) => ({ statusCode: 200, data: { access_token: `token-for-${data.code}`, expires_in: 7200, login_ticket: 't', login_ticket_expires_in: 120, user: {} } }),
    'POST /auth/invites/inspect': () => ({ statusCode: 200, data: { role: 'organizer', invited_by: { display_name: 'Pat', avatar_url: null }, expires_at: 1700000000 } }),
    'POST /auth/invites/accept': () => ({ statusCode: 200, data: { user: { id: 'u1', roles: ['organizer'] } } }),
    ...routes,
  });
  const api = createApi({ wx, baseUrl: 'https://auth.example.com' });
  return { wx, invite: createInvite({ api, session: createSession({ wx, api, app: 'organizer' }), lang }) };
}

test('inspecting needs no login; accepting logs in once and sends the code with the token', async () => {
  const { wx, invite } = setup();
  const asked = await invite.open({ scene: CODE });
  assert.equal(asked.state, 'ask');
  assert.equal(asked.question, 'Pat invites you to join the MeetEasy team as an organizer');
  assert.equal(wx.logins, 0);
  const done = await invite.accept();
  assert.deepEqual([done.state, done.outcome], ['done', 'accepted']);
  assert.match(done.message, /You are now an organizer/);
  const accept = wx.requests.at(-1);
  assert.deepEqual([accept.path, accept.data, accept.header.Authorization], ['/auth/invites/accept', { code: CODE }, 'Bearer token-for-code-1']);
  assert.equal(wx.logins, 1);
});

test('an inviter without a name and an unknown error still read as sentences', async () => {
  const { invite } = setup({ 'POST /auth/invites/inspect': () => ({ statusCode: 200, data: { role: 'admin', invited_by: {} } }) }, 'zh');
  const asked = await invite.open({ scene: CODE });
  assert.equal(asked.question, '某位团队成员 邀请你成为 MeetEasy 团队的管理员');
  assert.equal(asked.expires, '');
  const odd = await setup({ 'POST /auth/invites/inspect': contractError(500, 'internal') }, 'zh').invite.open({ scene: CODE });
  assert.equal(odd.message, '出了点问题。请重新扫码。');
});

test('accepting before opening, or without a code, asks for the QR', async () => {
  const { wx, invite } = setup();
  assert.equal((await invite.accept()).code, 'no_invite');
  assert.equal((await invite.open({ q: encodeURIComponent('https://auth.example.com/other') })).code, 'no_invite');
  assert.equal(wx.requests.length, 0);
});

test('an accept the store failed may be tried again and finishes; a used invite may not', async () => {
  let accepts = 0;
  const accept = () => {
    accepts += 1;
    return accepts === 1 ? contractError(503, 'store_unavailable')() : { statusCode: 200, data: { user: { id: 'u1', roles: ['organizer'] } } };
  };
  const { invite } = setup({ 'POST /auth/invites/accept': accept });
  await invite.open({ scene: CODE });
  const failed = await invite.accept();
  assert.deepEqual([failed.state, failed.code, failed.canRetry], ['error', 'store_unavailable', true]);
  const done = await invite.accept();
  assert.deepEqual([done.state, done.outcome, done.canRetry], ['done', 'accepted', false]);
  assert.equal(accepts, 2);

  const used = setup({ 'POST /auth/invites/accept': contractError(409, 'invite_used') }).invite;
  await used.open({ scene: CODE });
  const refused = await used.accept();
  assert.deepEqual([refused.code, refused.canRetry], ['invite_used', false]);
});

test('a try again answered invite_used or invite_expired asks who the user is now: joined by their lost first accept, or not', async () => {
  const cases = [
    [['organizer'], 'invite_used', ['done', 'accepted']],
    [[], 'invite_used', ['error', 'invite_used']],
    // The creator was demoted, or the invite revoked, around the user's lost accept (an older
    // server, or a race with it): who the user is now still says whether they joined.
    [['organizer'], 'invite_expired', ['done', 'accepted']],
    [[], 'invite_expired', ['error', 'invite_expired']],
  ];
  for (const [roles, refusal, expected] of cases) {
    let accepts = 0;
    // The first answer is lost on the way, or the first try never reached the server; then the invite is refused.
    const accept = () => {
      accepts += 1;
      return accepts === 1 ? null : contractError(refusal === 'invite_used' ? 409 : 410, refusal)();
    };
    const me = () => ({ statusCode: 200, data: { id: 'u1', display_name: 'Alice', avatar_url: null, roles } });
    const { wx, invite } = setup({ 'POST /auth/invites/accept': accept, 'GET /auth/me': me });
    await invite.open({ scene: CODE });
    const lost = await invite.accept();
    assert.deepEqual([lost.code, lost.canRetry], ['network_error', true]);
    const used = await invite.accept();
    assert.deepEqual([used.state, used.outcome || used.code, used.canRetry], [...expected, false], JSON.stringify(used));
    assert.equal(wx.requests.at(-1).path, '/auth/me');
  }
});

test('a lost accept followed by a rate refusal or a proxy error page still asks who the user is at invite_used', async () => {
  for (const between of [contractError(429, 'too_many_requests'), () => ({ statusCode: 502, data: '<html>Bad Gateway</html>' })]) {
    let accepts = 0;
    const answers = [() => null, between, contractError(409, 'invite_used')];
    const accept = () => answers[Math.min(accepts++, answers.length - 1)]();
    const me = () => ({ statusCode: 200, data: { id: 'u1', display_name: 'Alice', avatar_url: null, roles: ['organizer'] } });
    const { invite } = setup({ 'POST /auth/invites/accept': accept, 'GET /auth/me': me });
    await invite.open({ scene: CODE });
    await invite.accept();
    const refused = await invite.accept();
    assert.equal(refused.canRetry, true, JSON.stringify(refused));
    const joined = await invite.accept();
    assert.deepEqual([joined.state, joined.outcome], ['done', 'accepted'], JSON.stringify(joined));
  }
});

test('a try again whose question of who the user is fails may be tried again', async () => {
  let accepts = 0;
  const accept = () => {
    accepts += 1;
    return accepts === 1 ? null : contractError(409, 'invite_used')();
  };
  const { invite } = setup({ 'POST /auth/invites/accept': accept, 'GET /auth/me': () => null });
  await invite.open({ scene: CODE });
  await invite.accept();
  const unsure = await invite.accept();
  assert.deepEqual([unsure.code, unsure.canRetry], ['invite_used', true]);
  assert.match(unsure.message, /Could not check whether you have joined the team/);
});

test('invite_used on a first accept is said as it is, without asking who the user is', async () => {
  const { wx, invite } = setup({ 'POST /auth/invites/accept': contractError(409, 'invite_used') });
  await invite.open({ scene: CODE });
  assert.equal((await invite.accept()).code, 'invite_used');
  assert.ok(!wx.requests.some((request) => request.path === '/auth/me'));
});

test('accepting with a token the server has ended logs in again and accepts', async () => {
  const accept = ({ header }) => (header.Authorization === 'Bearer token-for-code-1'
    ? contractError(401, 'token_revoked')()
    : { statusCode: 200, data: { user: { id: 'u1', roles: ['organizer'] } } });
  const { wx, invite } = setup({ 'POST /auth/invites/accept': accept });
  await invite.open({ scene: CODE });
  // The first login's token, ended on the server meanwhile (its WeChat linked to a console account).
  const done = await invite.accept();
  assert.deepEqual([done.state, done.outcome], ['done', 'accepted'], JSON.stringify(done));
  assert.equal(wx.logins, 2);
  assert.equal(wx.requests.at(-1).header.Authorization, 'Bearer token-for-code-2');
});
