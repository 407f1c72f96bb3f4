// The auth server's own pages that a phone or browser opens (server/assets: the `/m/scan/…` page, its
// not-found page, `/h5/demo`) speak zh-CN or English by the browser's languages through /h5/i18n.js.
// They are checked here, with the same jsdom the mini program's page tests use: every text the HTML
// marks, and every sentence demo.js asks for, exists in both languages, and the choice follows
// navigator.languages. (Their behaviour in a real browser is tested by the Rust suite, in headless Chromium.)
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { JSDOM } = require('jsdom');

const ASSETS = path.join(__dirname, '..', '..', '..', 'server', 'assets');
const I18N = fs.readFileSync(path.join(ASSETS, 'h5', 'i18n.js'), 'utf8');
const PAGES = ['m/scan.html', 'm/not-found.html', 'h5/demo.html'];

/** The page as a browser whose preferred languages are `languages` shows it once i18n.js has run. */
function open(page, languages) {
  const html = fs.readFileSync(path.join(ASSETS, page), 'utf8');
  const dom = new JSDOM(html, { runScripts: 'outside-only' });
  Object.defineProperty(dom.window.navigator, 'languages', { value: languages });
  dom.window.eval(I18N);
  return dom.window;
}

test('the language is the first of Chinese or English in the browser\'s list, else English', () => {
  const cases = [
    [['zh-CN'], 'zh-CN'], [['zh-TW', 'en'], 'zh-CN'], [['zh'], 'zh-CN'], [['en-US', 'zh-CN'], 'en'],
    [['fr-FR', 'zh-CN'], 'zh-CN'], [['fr-FR', 'de'], 'en'], [[], 'en'],
  ];
  for (const [languages, expected] of cases) {
    const window = open('m/scan.html', languages);
    assert.equal(window.MeetEasyI18n.lang, expected, languages.join(','));
    assert.equal(window.document.documentElement.lang, expected);
  }
});

test('every marked text of every page is in both languages, and the HTML keeps English as its default', () => {
  for (const page of PAGES) {
    const english = open(page, ['en-US']);
    const chinese = open(page, ['zh-CN']);
    const raw = new JSDOM(fs.readFileSync(path.join(ASSETS, page), 'utf8')).window.document;
    const marked = [...raw.querySelectorAll('[data-i18n]')];
    assert.ok(marked.length > 0, page);
    for (const element of marked) {
      const key = element.getAttribute('data-i18n');
      const zh = chinese.MeetEasyI18n.t(key);
      const en = english.MeetEasyI18n.t(key);
      assert.ok(zh && en, `${page}: ${key} in both tables`);
      assert.notEqual(zh, en, `${page}: ${key} is translated`);
      assert.equal(element.textContent.replace(/\s+/g, ' ').trim(), en, `${page}: the HTML's own text of ${key} is the English one`);
    }
    const shown = (window) => [...window.document.querySelectorAll('[data-i18n]')].map((element) => element.textContent);
    assert.ok(shown(chinese).every((text) => /[\u4e00-\u9fff]/.test(text)), `${page} in Chinese: ${shown(chinese)}`);
  }
});

test('every sentence demo.js asks for exists in both languages, with its placeholders filled', () => {
  const demo = fs.readFileSync(path.join(ASSETS, 'h5', 'demo.js'), 'utf8');
  const keys = [...demo.matchAll(/say\("([\w.]+)"/g)].map((match) => match[1]);
  // demo.js shows an error as the `error.<code>` sentence when there is one: each is in both languages.
  const errorKeys = [...new Set([...I18N.matchAll(/"(error\.\w+)":/g)].map((match) => match[1]))];
  assert.ok(keys.length >= 6 && errorKeys.length >= 6, `${keys} ${errorKeys}`);
  const [zh, en] = [['zh-CN'], ['en']].map((languages) => open('h5/demo.html', languages).MeetEasyI18n.t);
  for (const key of errorKeys) assert.ok(zh(key) && en(key) && zh(key) !== en(key), `${key} in both languages`);
  for (const languages of [['zh-CN'], ['en']]) {
    const { t } = open('h5/demo.html', languages).MeetEasyI18n;
    for (const key of keys) assert.ok(t(key), `${languages}: ${key}`);
    assert.ok(t('demo.switch_to', { name: 'Eve' }).includes('Eve'));
    assert.ok(t('demo.retry_in', { seconds: 30 }).includes('30'));
  }
  assert.equal(open('h5/demo.html', ['zh-CN']).MeetEasyI18n.t('demo.stay_as', { name: 'Ann' }), '保持为 Ann');
});

/**
 * The error codes a script makes up itself, wherever it writes one: `failure(status, "code", ...)` in the
 * login-ticket script, an `{error: "code", ...}` object anywhere.
 */
function codesMadeUpIn(file) {
  const source = fs.readFileSync(path.join(ASSETS, 'h5', file), 'utf8');
  const written = /\bfailure\([^,()]+,\s*"(\w+)"|\berror:\s*"(\w+)"/g;
  return [...source.matchAll(written)].map((match) => match[1] || match[2]);
}

test('every error the demo page can meet has its sentence in both languages', () => {
  // What its calls can answer: POST /auth/login (the form, sent unvalidated), the ticket exchange,
  // GET /auth/me and POST /auth/logout, by the contract; and every code its scripts make up themselves,
  // read from their source, so a new one without a sentence fails here rather than show the general one.
  const contract = [
    'invalid_request', 'invalid_credentials', 'too_many_attempts', 'server_busy', 'store_unavailable',
    'internal_error', 'ticket_invalid', 'ticket_expired', 'ticket_used', 'too_many_requests',
    'token_expired', 'token_revoked', 'invalid_token',
  ];
  const madeUp = [...new Set([...codesMadeUpIn('login-ticket-core.js'), ...codesMadeUpIn('demo.js')])];
  for (const code of ['network_error', 'unexpected_response', 'exchange_outcome_unknown']) {
    assert.ok(madeUp.includes(code), `${code} is found in the scripts: ${madeUp}`);
  }
  const codes = [...contract, ...madeUp];
  const [zh, en] = [['zh-CN'], ['en']].map((languages) => open('h5/demo.html', languages).MeetEasyI18n.t);
  const missing = codes.filter((code) => !(zh(`error.${code}`) && en(`error.${code}`)));
  assert.deepEqual(missing, []);
  assert.ok(/[\u4e00-\u9fff]/.test(zh('error.other')), 'a code from a newer server is said in Chinese too');
});
