'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { sceneFromLaunch, inviteCodeFromLaunch } = require('../lib/scene');

const SCENE = 'AbCdEfGhIjKlMnOpQrStUvWxYz012345';

test('a mini program code scene is URI-decoded once', () => {
  assert.equal(sceneFromLaunch({ scene: SCENE }), SCENE);
  assert.equal(sceneFromLaunch({ scene: `%41${SCENE.slice(1)}` }), `A${SCENE.slice(1)}`);
  // Decoded twice this would be SCENE itself: only a single decode leaves `%41...`, which is no scene.
  assert.equal(sceneFromLaunch({ scene: `%2541${SCENE.slice(1)}` }), null, 'decoded once: %41 is no scene');
});

test('an ordinary link QR gives the scene in q', () => {
  const q = encodeURIComponent(`https://auth.example.com/m/scan/${SCENE}`);
  assert.equal(sceneFromLaunch({ q, scancode_time: '1605179075' }), SCENE);
  assert.equal(sceneFromLaunch({ q: encodeURIComponent(`https://auth.example.com/m/scan/${SCENE}?utm=1`) }), SCENE);
});

test('anything else has no scene', () => {
  for (const query of [undefined, {}, { scene: '' }, { q: encodeURIComponent('https://example.com/other') },
    { q: encodeURIComponent('https://auth.example.com/m/scan/') }, { scene: '%E0%A4%A' }]) {
    assert.equal(sceneFromLaunch(query), null, JSON.stringify(query));
  }
});

test('a scene or code not shaped as the server makes them (32 of [0-9A-Za-z]) is none', () => {
  for (const scene of ['AbC123', `${SCENE}x`, `${SCENE.slice(1)}=`, 'a=b%25', `${SCENE.slice(1)}é`]) {
    assert.equal(sceneFromLaunch({ scene: encodeURIComponent(scene) }), null, scene);
    assert.equal(sceneFromLaunch({ q: encodeURIComponent(`https://auth.example.com/m/scan/${encodeURIComponent(scene)}`) }), null, scene);
    assert.equal(inviteCodeFromLaunch({ scene: encodeURIComponent(scene) }), null, scene);
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
