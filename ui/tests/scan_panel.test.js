// The scan panel (ui/src/screens/login.ts: the login's scan tab and "Link WeChat"), on the JS the
// console ships, drawn in a fake DOM: a code that is over (declined, refused, expired, or given up
// with "Not you?") leaves the screen at once, with whoever scanned it, and the panel says a new code
// is being prepared until the scan loop sends it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { installFakeDom } from "./fake_dom.js";
import { setLanguage, t } from "../public/js/i18n.js";
import { applyScanStep, loginTexts, ScanPanel } from "../public/js/screens/login.js";

const preparing = { en: "Preparing a code…", "zh-CN": "正在生成二维码…" };
const oldCode = { kind: "qr", image: "data:image/png;base64,b2xk", refresh_at_ms: Date.now() + 60_000 };
const newCode = { kind: "qr", image: "data:image/png;base64,bmV3", refresh_at_ms: Date.now() + 60_000 };
const bobScanned = { kind: "scanned", display_name: "Bob", avatar: null };

/** A login scan panel showing a code that Bob scanned, in `language`. */
function scannedPanel(language, onNewCode = () => {}) {
  const { document } = installFakeDom();
  setLanguage(language);
  const panel = new ScanPanel(null, loginTexts(), { newCode: onNewCode, startAgain: () => {} });
  document.body.append(panel.element);
  applyScanStep(panel, oldCode, "https://meet.example", "login");
  applyScanStep(panel, { kind: "waiting" }, "https://meet.example", "login");
  applyScanStep(panel, bobScanned, "https://meet.example", "login");
  return { panel, document, part: (id) => document.getElementById(id) };
}

/** Nothing of the old code on screen, and the panel preparing the next one, in `language`. */
function assertAwaitingCode(part, language) {
  assert.equal(part("qr-image").hidden, true, "the old code is gone");
  assert.equal(part("qr-frame").dataset.state, "loading");
  assert.equal(part("scan-status").dataset.state, "loading");
  assert.equal(part("scan-status").textContent, preparing[language]);
  assert.ok(!part("scan-status").textContent.includes("Bob"), "who scanned the old code is gone");
  assert.equal(part("qr-refresh").hidden, true, "no refresh countdown for a code not shown");
  assert.equal(part("new-code").hidden, true, "no new code to ask for while one is on its way");
}

test("a declined, expired or refused code leaves the screen at once, until the new one arrives", () => {
  for (const language of ["en", "zh-CN"]) {
    for (const [kind, words] of [
      ["declined", () => t.scanDeclined],
      ["expired", () => t.scanExpired],
      ["not_organizer", () => t.scanNotOrganizer],
    ]) {
      const { panel, part } = scannedPanel(language);
      applyScanStep(panel, { kind }, "https://meet.example", "login");
      assertAwaitingCode(part, language);
      assert.equal(part("scan-notice").hidden, false, `${kind}: says why`);
      assert.equal(part("scan-notice").textContent, words());

      applyScanStep(panel, newCode, "https://meet.example", "login");
      assert.equal(part("qr-image").hidden, false, `${kind}: the new code is shown`);
      assert.equal(part("qr-image").src, newCode.image);
      assert.equal(part("qr-frame").dataset.state, "ready");
      applyScanStep(panel, { kind: "waiting" }, "https://meet.example", "login");
      assert.equal(part("scan-status").textContent, t.scanWaiting);
    }
  }
});

test("\"Not you?\" takes the scanned code off the screen before the new one is asked for", () => {
  for (const language of ["en", "zh-CN"]) {
    let stateWhenAsked = null;
    const { part } = scannedPanel(language, () => {
      stateWhenAsked = part("scan-status").textContent;
    });
    assert.equal(part("new-code").hidden, false, "offered while Bob's scan waits for his phone");
    part("new-code").click();
    assert.equal(stateWhenAsked, preparing[language], "asked once the panel left the old code");
    assertAwaitingCode(part, language);
  }
});

test("a link code whose WeChat belongs to another account leaves the screen at once", () => {
  const { document } = installFakeDom();
  setLanguage("en");
  const texts = { idPrefix: "link-", title: "Link", hint: "Scan to link", alt: "link code", tabPanel: false };
  const panel = new ScanPanel(null, texts);
  document.body.append(panel.element);
  applyScanStep(panel, oldCode, "https://meet.example", "link");
  applyScanStep(panel, bobScanned, "https://meet.example", "link");
  applyScanStep(panel, { kind: "identity_in_use" }, "https://meet.example", "link");
  const part = (id) => document.getElementById(`link-${id}`);
  assert.equal(part("qr-image").hidden, true);
  assert.equal(part("scan-status").textContent, preparing.en);
  assert.equal(part("scan-notice").textContent, t.linkInUse);
});
