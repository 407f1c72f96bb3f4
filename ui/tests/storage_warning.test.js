// The warning that this run keeps sessions in memory only (the keychain could not be used), on the
// JS the console ships, through its router: once the Rust side said so, every screen that shows
// the warning keeps showing it, whichever screen the console moves to, until it says otherwise.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { annSession, keychain, preferences } from "./fixtures.js";

const memoryOnly = { kind: "memory_only", problem: "failed" };

test("a keychain that failed to save the session is still warned of after the logout and in the Settings", async () => {
  const page = await openConsole({
    preferences,
    answers: { logout: () => ({ revoked_on_server: true, keychain_cleared: true }) },
  });
  await page.send("start", { kind: "home", session: annSession("organizer", memoryOnly) });
  assert.match(page.part("storage-notice")?.textContent ?? "", /this run only/, "home warns");

  page.part("logout").click();
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.match(page.part("storage-notice")?.textContent ?? "", /this run only/, "the login warns");

  page.part("open-settings").click();
  assert.equal(page.document.body.dataset.screen, "settings");
  assert.match(page.part("storage-notice")?.textContent ?? "", /this run only/, "the Settings warn");
});

test("the warning goes once the Rust side says the keychain is used", async () => {
  const page = await openConsole({ preferences: { ...preferences, storage: memoryOnly } });
  await page.send("start", { kind: "login_required", ended: null, storage: memoryOnly });
  assert.ok(page.part("storage-notice"), "the login warns");
  await page.send("start_scan_login", { kind: "home", session: annSession("organizer", keychain) });
  assert.equal(page.document.body.dataset.screen, "home");
  assert.equal(page.part("storage-notice"), null);
});
