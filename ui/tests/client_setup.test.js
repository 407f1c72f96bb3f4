// A console that cannot set up its HTTP client (this computer's TLS setup failed), on the JS it
// ships, through its router: the scan login stops for good with `scan_stopped`, and the scan panel
// says why in the chosen language, with no code and no spinner left on screen, and offers to start
// again, the keyboard then on the panel's status; a password login failing the same way
// (`client_setup_failed`) says the same words.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { sendPasswordLogin } from "./page_actions.js";
import { preferences } from "./fixtures.js";

const setupFailed = { code: "client_setup_failed", message: "the console's HTTP client could not be set up: no TLS roots" };
const setupFailedText = {
  en: "The console could not set up secure connections (TLS) on this computer, so it cannot reach any server. Check this computer's certificates and TLS setup, then try again, or restart the console.",
  "zh-CN": "控制台无法在本机建立安全连接（TLS），因此无法连接任何服务器。请检查本机的证书和 TLS 设置，然后重试，或重新启动控制台。",
};
const stopped = { en: "The scan login has stopped.", "zh-CN": "扫码登录已停止。" };
const preparing = { en: "Preparing a code…", "zh-CN": "正在生成二维码…" };
const tryAgain = { en: "Try again", "zh-CN": "重试" };
const code = (image) => ({ kind: "qr", image, refresh_at_ms: Date.now() + 60_000 });

/** The console on the login's scan tab, in `language`, its scan login started. */
async function onTheScanTab(language, answers = {}) {
  const page = await openConsole({ preferences: { ...preferences, language }, answers });
  await page.send("start", { kind: "login_required", ended: "revoked", storage: { kind: "keychain" } });
  assert.equal(page.part("login-screen").dataset.tab, "scan");
  assert.equal(page.called("start_scan_login").length, 1);
  return page;
}

for (const language of ["en", "zh-CN"]) {
  test(`${language}: a scan login that stopped for good says why, shows no code nor spinner, and starts again on request`, async () => {
    const page = await onTheScanTab(language);
    await page.send("start_scan_login", code("data:image/png;base64,b2xk"));
    assert.equal(page.part("qr-frame").dataset.state, "ready");

    await page.send("start_scan_login", { kind: "scan_stopped", problem: setupFailed });
    const notice = page.part("scan-notice");
    assert.equal(notice.hidden, false, "says why");
    assert.equal(notice.textContent, setupFailedText[language], "in the console's words, replacing why the last session ended");
    assert.equal(notice.className, "banner error");
    assert.equal(page.part("qr-image").hidden, true, "the stale code is gone");
    assert.equal(page.part("qr-refresh").hidden, true, "no refresh countdown");
    assert.equal(page.part("new-code").hidden, true);
    assert.equal(page.part("qr-frame").dataset.state, "stopped", "no spinner: no code is coming");
    assert.equal(page.part("scan-status").dataset.state, "stopped");
    assert.equal(page.part("scan-status").textContent, stopped[language], `not "${preparing[language]}"`);
    const again = page.part("scan-again");
    assert.equal(again.hidden, false, "a way forward");
    assert.equal(again.textContent, tryAgain[language]);

    // Pressed from the keyboard: it hides itself, so the keyboard goes to the status it changed.
    again.focus();
    again.click();
    await settle();
    assert.equal(page.called("start_scan_login").length, 2, "a new scan login is asked for");
    assert.equal(page.document.activeElement, page.part("scan-status"), "not dropped to the page's start");
    assert.equal(page.part("scan-notice").hidden, true);
    assert.equal(page.part("scan-again").hidden, true);
    assert.equal(page.part("scan-status").textContent, preparing[language]);
    assert.equal(page.part("qr-frame").dataset.state, "loading");

    await page.send("start_scan_login", code("data:image/png;base64,bmV3"));
    assert.equal(page.part("qr-image").hidden, false, "the new scan login's code is shown");
    assert.equal(page.part("qr-image").src, "data:image/png;base64,bmV3");
    assert.equal(page.part("qr-frame").dataset.state, "ready");
  });

  test(`${language}: a password login whose HTTP client cannot be set up says what to do`, async () => {
    const page = await onTheScanTab(language, {
      password_login: () => Promise.reject(setupFailed),
    });
    await sendPasswordLogin(page, "hers");
    assert.equal(page.called("password_login").length, 1);
    const error = page.part("password-error");
    assert.equal(error.hidden, false);
    assert.equal(error.textContent, setupFailedText[language]);
  });
}
