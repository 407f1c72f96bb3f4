'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { detectLang, normalizeLang, TABLES, viewStrings, messageFor, siteMessageFor, roleName } = require('../lib/i18n');
const { MAY_HAVE_LANDED, PASSING } = require('../lib/failure');

test('English only when WeChat is set to English; Chinese otherwise', () => {
  for (const language of ['en', 'en_US', 'en-GB', 'EN']) assert.equal(normalizeLang(language), 'en', language);
  for (const language of ['zh_CN', 'zh_TW', 'zh_HK', 'ja', '', undefined, 'english-ish']) assert.equal(normalizeLang(language), 'zh', language);
});

test('the newer wx.getAppBaseInfo is asked first, then wx.getSystemInfoSync, then Chinese', () => {
  assert.equal(detectLang({ getAppBaseInfo: () => ({ language: 'en' }), getSystemInfoSync: () => ({ language: 'zh_CN' }) }), 'en');
  assert.equal(detectLang({ getSystemInfoSync: () => ({ language: 'en' }) }), 'en');
  assert.equal(detectLang({ getAppBaseInfo: () => { throw new Error('not supported'); }, getSystemInfoSync: () => ({ language: 'en_US' }) }), 'en');
  assert.equal(detectLang({ getAppBaseInfo: () => ({}) }), 'zh');
  assert.equal(detectLang({}), 'zh');
  assert.equal(detectLang(undefined), 'zh');
});

test('both tables say the same things', () => {
  const keys = (table) => Object.keys(table).sort();
  assert.deepEqual(keys(TABLES.zh), keys(TABLES.en));
  assert.deepEqual(keys(TABLES.zh.errors), keys(TABLES.en.errors));
  assert.deepEqual(keys(TABLES.zh.siteErrors), keys(TABLES.en.siteErrors));
  for (const lang of ['zh', 'en']) {
    for (const [key, value] of Object.entries(TABLES[lang])) {
      if (key !== 'errors') assert.equal(typeof value, typeof TABLES.zh[key], key);
    }
    assert.ok(Object.values(viewStrings(lang)).every((value) => typeof value === 'string'), 'view strings are JSON');
  }
});

test('every error code of the contract that reaches the phone has a sentence', () => {
  const codes = ['scene_expired', 'scene_claimed', 'not_organizer', 'identity_in_use', 'invite_invalid', 'invite_expired',
    'invite_used', 'forbidden', 'too_many_requests', 'slow_down', 'wechat_code_invalid', 'wechat_user_blocked',
    'wechat_rate_limited', 'wechat_unavailable', 'store_unavailable', 'server_busy', 'network_error',
    'internal_error', 'unknown_app', 'invalid_request',
    // An answer without a contract error body (a proxy's error page): the mini program's own code.
    'unexpected_status',
    // A token the server ended even after logging in again (the session retries once).
    'token_revoked', 'token_expired', 'invalid_token'];
  for (const lang of ['zh', 'en']) {
    for (const code of codes) assert.notEqual(messageFor(code, lang), TABLES[lang].fallbackError, `${lang} ${code}`);
    assert.equal(messageFor('something_new', lang), TABLES[lang].fallbackError);
  }
  assert.equal(TABLES.zh.linkQuestion('Pat'), '将你的微信关联到 Pat 的账号？');
  assert.equal(TABLES.en.linkQuestion('Pat'), "Link your WeChat to Pat's account?");
  assert.equal(roleName('admin', 'zh'), '管理员');
  assert.equal(roleName('organizer', 'en'), 'an organizer');
});

test('a failure after which the page offers Try again asks to try again, not to scan again', () => {
  // Sent again (MAY_HAVE_LANDED) or opened again (PASSING), with and without a wait to say.
  for (const code of new Set([...MAY_HAVE_LANDED, ...PASSING])) {
    for (const retryAfter of [null, 30]) {
      assert.match(messageFor(code, 'zh', retryAfter), /再试|重试/, `zh ${code}`);
      assert.doesNotMatch(messageFor(code, 'zh', retryAfter), /扫码/, `zh ${code}`);
      assert.match(messageFor(code, 'en', retryAfter), /try again/i, `en ${code}`);
      assert.doesNotMatch(messageFor(code, 'en', retryAfter), /scan/i, `en ${code}`);
    }
  }
});

test('the page that opens the site, which no scan opened, never says to scan', () => {
  // A scene's refusals and a page opened without its scene come only from a scan.
  const ofScans = (code) => code.startsWith('scene_') || ['no_scene', 'no_invite'].includes(code);
  const codes = [...Object.keys(TABLES.zh.errors).filter((code) => !ofScans(code)), 'something_new'];
  for (const code of codes) {
    assert.ok(!siteMessageFor(code, 'zh').includes('扫'), code);
    assert.ok(!/scan/i.test(siteMessageFor(code, 'en')), code);
  }
  assert.equal(siteMessageFor('too_many_requests', 'en', 30), messageFor('too_many_requests', 'en', 30));
});
