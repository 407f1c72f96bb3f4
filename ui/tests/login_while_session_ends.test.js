// A password login that answers while a logout or a leave ends the session shown (ui/src/main.ts:
// holdWhileSessionEnds), on the JS the console ships, through its router. The race: a password
// login is held on the login screen, the scan loop's session arrives late (a phone confirmed
// meanwhile) and Home is drawn; the user logs out, or leaves the team, there; then the password
// login succeeds. Its Home is not drawn over the action still running: the action's outcome
// decides, as on the Rust side, whose logout ends whichever session is in effect and whose scan
// login, started by the login screen that follows, reports one still in effect. A leave that fails
// gives the screen back, and the login's session, the one now in effect, is shown.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { sendPasswordLogin, leaveTheTeam } from "./page_actions.js";
import { adminAnn, heldCommand, organizerAnn, preferences, teamOfAnn, unreachable } from "./fixtures.js";

/** Home of the scan loop's late session (Ann, an admin), drawn over a password login still held;
 * `held` commands (`password_login` among them) are answered by the test. */
async function homeOverAPasswordLogin(held) {
  const answers = { list_sessions: () => [], list_team: () => teamOfAnn, list_invites: () => [] };
  for (const [command, holder] of Object.entries(held)) answers[command] = holder.answer;
  const page = await openConsole({ preferences, answers });
  await page.send("start", { kind: "login_required", ended: null, storage: { kind: "keychain" } });
  await sendPasswordLogin(page, "hers");
  assert.equal(page.called("password_login").length, 1);
  await page.send("start_scan_login", { kind: "home", session: adminAnn });
  assert.equal(page.document.body.dataset.screen, "home");
  return page;
}

test("a password login that succeeds while the logout runs draws no Home over it: the logout's outcome leads to the login", async () => {
  const [login, logout] = [heldCommand(), heldCommand()];
  const page = await homeOverAPasswordLogin({ password_login: login, logout });
  const loggingOut = page.part("home");
  page.part("logout").click();
  await settle();

  login.next().resolve(organizerAnn);
  await settle();
  assert.equal(page.part("home"), loggingOut, "the Home logging out, not a fresh one");
  assert.equal(loggingOut.inert, true, "still held");
  assert.equal(page.part("open-settings").disabled, true, "the Settings still held");
  assert.equal(page.part("hold-status").textContent, "Logging out…");
  assert.equal(page.called("list_sessions").length, 1, "no fresh Home asked for the devices");

  const scanLoginsBefore = page.called("start_scan_login").length;
  logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("scan-notice").textContent, "You have logged out.", "said as the logout");
  assert.equal(page.called("start_scan_login").length, scanLoginsBefore + 1, "one scan login");
  assert.equal(page.part("open-settings").disabled, false);

  // Had the login been put in effect only after the logout ran, the Rust side's scan login
  // reports it: the login screen no longer holds anything back.
  await page.send("start_scan_login", { kind: "home", session: organizerAnn });
  assert.equal(page.document.body.dataset.screen, "home");
  assert.equal(page.part("user-roles").textContent, "Organizer");
});

test("a password login that succeeds while leaving the team runs, or its logout, draws no Home over the Team page", async () => {
  const [login, remove, logout] = [heldCommand(), heldCommand(), heldCommand()];
  const page = await homeOverAPasswordLogin({ password_login: login, remove_member: remove, logout });
  await leaveTheTeam(page);
  const leaving = page.part("team");

  login.next().resolve(organizerAnn);
  await settle();
  assert.equal(page.document.body.dataset.screen, "team");
  assert.equal(page.part("team"), leaving);
  assert.equal(leaving.inert, true);

  remove.next().resolve();
  await settle();
  assert.equal(page.called("logout").length, 1, "the console's session is forgotten after the leave");
  assert.equal(page.part("team"), leaving, "still the page leaving while its logout runs");

  logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("open-settings").disabled, false);
});

test("a leave that fails after a password login succeeded meanwhile shows that login's Home, the session in effect", async () => {
  const [login, remove] = [heldCommand(), heldCommand()];
  const page = await homeOverAPasswordLogin({ password_login: login, remove_member: remove });
  await leaveTheTeam(page);
  login.next().resolve(organizerAnn);
  await settle();
  assert.equal(page.document.body.dataset.screen, "team");

  remove.next().reject(unreachable);
  await settle();
  assert.equal(page.document.body.dataset.screen, "home");
  assert.equal(page.part("user-roles").textContent, "Organizer", "the password login's session");
  assert.equal(page.part("home").inert, false);
  assert.equal(page.part("open-settings").disabled, false);
  assert.equal(page.part("hold-status").textContent, "");
  assert.equal(page.called("logout").length, 0);
});
