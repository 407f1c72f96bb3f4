'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { sceneFromLaunch, inviteCodeFromLaunch } = require('../lib/scene');

test('a mini program code scene is URI-decoded once', () => {
  assert.equal(sceneFromLaunch({ scene: 'AbC123' }), 'AbC123');
  assert.equal(sceneFromLaunch({ scene: 'a%3Db%2525' }), 'a=b%25');
});

test('an ordinary link QR gives the scene in q', () => {
  const q = encodeURIComponent('https://auth.example.com/m/scan/AbC123');
  assert.equal(sceneFromLaunch({ q, scancode_time: '1605179075' }), 'AbC123');
  assert.equal(sceneFromLaunch({ q: encodeURIComponent('https://auth.example.com/m/scan/Xy9?utm=1') }), 'Xy9');
});

test('anything else has no scene', () => {
  for (const query of [undefined, {}, { scene: '' }, { q: encodeURIComponent('https://example.com/other') },
    { q: encodeURIComponent('https://auth.example.com/m/scan/') }, { scene: '%E0%A4%A' }]) {
    assert.equal(sceneFromLaunch(query), null, JSON.stringify(query));
  }
});

test('an invite code comes from its mini program code or its url-mode link', () => {
  const code = 'InV1teC0deInV1teC0deInV1teC0de12';
  assert.equal(inviteCodeFromLaunch({ scene: code }), code);
  assert.equal(inviteCodeFromLaunch({ q: encodeURIComponent(`https://auth.example.com/m/invite/${code}`), scancode_time: '1' }), code);
  assert.equal(inviteCodeFromLaunch({ q: encodeURIComponent(`https://auth.example.com/m/scan/${code}`) }), null, 'a login code is no invite');
  assert.equal(sceneFromLaunch({ q: encodeURIComponent(`https://auth.example.com/m/invite/${code}`) }), null, 'an invite is no login code');
  assert.equal(inviteCodeFromLaunch({}), null);
});
