// The live regions (role status or alert) of the console's screens, on the JS it ships, drawn in a
// fake DOM: a screen drawn again with the same words (the scan loop repeats "waiting" or "scanned"
// at every poll; a reload fails as the last one did) leaves the region as it is, so a screen reader
// does not say them again; new words are written, and announced.
import assert from "node:assert/strict";
import { test } from "node:test";

import { installFakeDom } from "./fake_dom.js";
import { openConsole, settle } from "./fake_console.js";
import { sendPasswordLogin } from "./page_actions.js";
import { adminAnn, heldCommand, preferences, teamOfAnn, unreachable } from "./fixtures.js";
import { setLanguage } from "../public/js/i18n.js";
import { applyScanStep, loginTexts, ScanPanel } from "../public/js/screens/login.js";

const server = "https://meet.example";
const code = { kind: "qr", image: "data:image/png;base64,cXI=", refresh_at_ms: Date.now() + 60_000 };

/** Applies each step in turn, and says whether the last one changed the region `id`. */
function lastStepChanges(steps, id) {
  const { document } = installFakeDom();
  setLanguage("en");
  const panel = new ScanPanel(null, loginTexts(), { newCode: () => {}, startAgain: () => {} });
  document.body.append(panel.element);
  for (const step of steps.slice(0, -1)) applyScanStep(panel, step, server, "login");
  const region = document.getElementById(id);
  const before = region.changes;
  applyScanStep(panel, steps[steps.length - 1], server, "login");
  return region.changes !== before;
}

test("the scan status is not written again with the words it shows", () => {
  const waiting = { kind: "waiting" };
  const bob = { kind: "scanned", display_name: "Bob", avatar: "data:image/png;base64,Ym9i" };
  const offline = { kind: "offline", retry_in_secs: 5 };
  assert.equal(lastStepChanges([code, waiting, waiting], "scan-status"), false, "waiting again");
  assert.equal(lastStepChanges([code, bob, bob], "scan-status"), false, "scanned by the same phone again");
  assert.equal(lastStepChanges([offline, offline], "scan-status"), false, "offline again");
  assert.equal(lastStepChanges([code, waiting, bob], "scan-status"), true, "scanned after waiting");
  assert.equal(lastStepChanges([code, bob, waiting], "scan-status"), true, "waiting after a scan");
  assert.equal(lastStepChanges([code, bob, { ...bob, display_name: "Carol" }], "scan-status"), true, "another phone");
});

test("the scan notice is not written again with the words it shows", () => {
  const declined = { kind: "declined" };
  assert.equal(lastStepChanges([code, declined, code, declined], "scan-notice"), false);
  assert.equal(lastStepChanges([code, declined, code, { kind: "expired" }], "scan-notice"), true);
});

test("a page's message is not written again when a reload fails as the last one did", async () => {
  const page = await openConsole({
    preferences: { server_url: server, server_from_env: false, language: "en", storage: { kind: "keychain" } },
    answers: {
      list_sessions: () => [],
      list_team: () => Promise.reject(unreachable),
    },
  });
  await page.send("start", { kind: "home", session: { display_name: "Ann", avatar: null, roles: ["organizer"], expires_at: 1_900_000_000, server, storage: { kind: "keychain" } } });
  page.part("nav-team").click();
  await settle();
  const message = page.part("team-message");
  assert.equal(message.hidden, false, "the failure is said");
  const before = message.changes;
  page.window.dispatchEvent(new Event("focus"));
  await settle();
  assert.equal(page.called("list_team").length, 2, "the page reloaded");
  assert.equal(message.changes, before, "and said nothing new");
});

// A screen held still (main.ts's holdStill: a logout, leaving the team, a password login) is inert,
// out of the accessibility tree with the words its button says: what it is doing is said in a live
// region outside #main instead, and taken away with the hold; a screen shown with nothing held
// does not write it.
test("what a held screen is doing is said outside it, and taken away with the hold", async () => {
  const [logout, login, remove] = [heldCommand(), heldCommand(), heldCommand()];
  const page = await openConsole({
    preferences,
    answers: { list_sessions: () => [], list_team: () => teamOfAnn, list_invites: () => [], logout: logout.answer, password_login: login.answer, remove_member: remove.answer },
  });
  await page.send("start", { kind: "home", session: adminAnn });
  const region = page.part("hold-status");
  assert.equal(page.part("main").contains(region), false, "not made inert with the screen");
  assert.equal(region.getAttribute("aria-live"), "polite");

  page.part("logout").click();
  await settle();
  assert.equal(region.textContent, "Logging out…");
  logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(region.textContent, "", "the login shown takes it away");

  await sendPasswordLogin(page, "not hers");
  assert.equal(region.textContent, "Logging in…");
  login.next().reject({ code: "invalid_credentials", message: "invalid credentials" });
  await settle();
  assert.equal(region.textContent, "", "a login that failed takes it away");

  page.part("password-submit").click();
  await settle();
  login.next().resolve(adminAnn);
  await settle();
  page.part("nav-team").click();
  await settle();
  page.part("team").querySelector("li[data-user-id=u-ann]").querySelector("button.remove-member").click();
  page.part("confirm-remove").click();
  await settle();
  assert.equal(region.textContent, "Leaving the team…");
  remove.next().reject(unreachable);
  await settle();
  assert.equal(region.textContent, "", "a leave that failed takes it away");
});

test("moving between screens with nothing held leaves the hold's live region untouched", async () => {
  const page = await openConsole({ preferences, answers: { list_sessions: () => [], list_team: () => teamOfAnn, list_invites: () => [] } });
  await page.send("start", { kind: "home", session: adminAnn });
  const region = page.part("hold-status");
  const before = region.changes;
  page.part("nav-team").click();
  await settle();
  page.part("nav-home").click();
  await settle();
  assert.equal(page.document.body.dataset.screen, "home");
  assert.equal(region.changes, before, "nothing written, nothing said");
});
