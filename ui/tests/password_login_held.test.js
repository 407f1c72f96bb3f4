// A password login (ui/src/screens/login.ts, its password tab), on the JS the console ships,
// through its router: while it runs, the login screen, its tabs included, and the Settings entry
// hold still, so nothing draws the login afresh under it; a login that fails says why on the form
// the user is looking at, with what they typed, gives the tabs and the Settings back, and puts the
// keyboard back in the password field, which the hold took it from.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { heldCommand, organizerAnn, preferences } from "./fixtures.js";

const wrongPassword = { code: "invalid_credentials", message: "invalid credentials" };
const wrongPasswordText = { en: "Wrong email, phone or password.", "zh-CN": "邮箱、手机号或密码错误。" };
const busy = { en: "Logging in…", "zh-CN": "正在登录…" };

/** The console on the login's password tab, with a password login sent and held. */
async function passwordLoginSent(language) {
  const login = heldCommand();
  const page = await openConsole({ preferences: { ...preferences, language }, answers: { password_login: login.answer, list_sessions: () => [] } });
  await page.send("start", { kind: "login_required", ended: null, storage: { kind: "keychain" } });
  page.part("tab-password").click();
  await settle();
  page.part("login-input").value = "ann@example.org";
  page.part("password-input").value = "not hers";
  // Sent with Enter from the password field.
  page.part("password-input").focus();
  page.part("password-submit").click();
  await settle();
  assert.deepEqual(page.called("password_login").map((call) => call.args), [{ login: "ann@example.org", password: "not hers" }]);
  return { page, login };
}

for (const language of ["en", "zh-CN"]) {
  test(`${language}: while a password login runs, neither the tabs nor the Settings draw the login afresh, and its failure is said on the form shown`, async () => {
    const { page, login } = await passwordLoginSent(language);
    const screen = page.part("login-screen");
    const scanLoginsStarted = page.called("start_scan_login").length;
    assert.equal(screen.inert, true);
    assert.equal(screen.getAttribute("aria-busy"), "true");
    assert.equal(page.part("tab-scan").disabled, true);
    assert.equal(page.part("open-settings").disabled, true);
    assert.equal(page.part("password-submit").textContent, busy[language]);
    assert.equal(page.document.activeElement, page.document.body, "the inert screen keeps no focus");

    page.part("tab-scan").click();
    await settle();
    page.part("open-settings").click();
    await settle();
    page.part("close-settings")?.click();
    await settle();
    assert.equal(page.part("login-screen"), screen, "the login sent from, not a fresh one");
    assert.equal(screen.dataset.tab, "password");
    assert.equal(page.called("start_scan_login").length, scanLoginsStarted, "no scan login started meanwhile");

    login.next().reject(wrongPassword);
    await settle();
    const error = page.part("password-error");
    assert.ok(screen.contains(error), "said on the form shown");
    assert.equal(error.hidden, false);
    assert.equal(error.textContent, wrongPasswordText[language]);
    assert.equal(page.part("login-input").value, "ann@example.org", "what was typed stays");
    assert.equal(page.document.activeElement, page.part("password-input"), "the keyboard is back in the password field, to type it again");
    assert.equal(screen.inert, false);
    assert.equal(screen.hasAttribute("aria-busy"), false);
    assert.deepEqual(["tab-scan", "tab-password", "password-submit", "open-settings"].map((id) => page.part(id).disabled), [false, false, false, false]);

    page.part("tab-scan").click();
    await settle();
    assert.equal(page.part("login-screen").dataset.tab, "scan", "the other tab can be picked again");
  });
}

test("a password login that succeeds leads home, where the Settings can be opened", async () => {
  const { page, login } = await passwordLoginSent("en");
  login.next().resolve(organizerAnn);
  await settle();
  assert.equal(page.document.body.dataset.screen, "home");
  assert.equal(page.part("open-settings").disabled, false);
  page.part("open-settings").click();
  await settle();
  assert.equal(page.document.body.dataset.screen, "settings");
});
