// The Settings entry (ui/src/main.ts: the one control outside the screens) while a screen's action
// ends its session, on the JS the console ships, through its router: leaving the team and logging
// out hold it off with the screen, so opening the Settings and going back cannot draw that screen
// afresh and usable under the session still ending; a leave that fails gives it back, and the
// login that follows either action has it. A hold released after its screen was replaced leaves
// the entry as the screen shown since set it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { sendPasswordLogin, leaveTheTeam } from "./page_actions.js";
import { adminAnn, heldCommand, preferences, teamOfAnn, unreachable } from "./fixtures.js";

/** The console on Home of Ann, an admin, with `held` commands answered by the test. */
async function home(held) {
  const answers = { list_sessions: () => [], list_team: () => teamOfAnn, list_invites: () => [] };
  for (const [command, holder] of Object.entries(held)) answers[command] = holder.answer;
  const page = await openConsole({ preferences, answers });
  await page.send("start", { kind: "home", session: adminAnn });
  return page;
}

/** Clicks the Settings entry and, if the Settings opened, their Back. */
async function openSettingsAndGoBack(page) {
  page.part("open-settings").click();
  await settle();
  page.part("close-settings")?.click();
  await settle();
}

test("while leaving the team runs, and the logout after it, the Settings cannot be opened over the Team page", async () => {
  const [remove, logout] = [heldCommand(), heldCommand()];
  const page = await home({ remove_member: remove, logout });
  await leaveTheTeam(page);
  const leaving = page.part("team");
  assert.equal(page.part("open-settings").disabled, true);

  await openSettingsAndGoBack(page);
  assert.equal(page.document.body.dataset.screen, "team");
  assert.equal(page.part("team"), leaving, "the page leaving, not a fresh one");
  assert.equal(leaving.inert, true);

  remove.next().resolve();
  await settle();
  assert.equal(page.called("logout").length, 1);
  await openSettingsAndGoBack(page);
  assert.equal(page.part("team"), leaving, "still the page leaving while its logout runs");

  logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("open-settings").disabled, false, "the login has the Settings");
  page.part("open-settings").click();
  await settle();
  assert.equal(page.document.body.dataset.screen, "settings");
});

test("a leave that fails gives the Settings back, and they lead back to the Team page", async () => {
  const remove = heldCommand();
  const page = await home({ remove_member: remove });
  await leaveTheTeam(page);
  remove.next().reject(unreachable);
  await settle();
  assert.equal(page.part("open-settings").disabled, false);

  page.part("open-settings").click();
  await settle();
  assert.equal(page.document.body.dataset.screen, "settings");
  page.part("close-settings").click();
  await settle();
  assert.equal(page.document.body.dataset.screen, "team");
});

test("while the logout runs, the Settings cannot be opened over Home; the login after it has them", async () => {
  const logout = heldCommand();
  const page = await home({ logout });
  const loggingOut = page.part("home");
  page.part("logout").click();
  await settle();
  assert.equal(page.part("open-settings").disabled, true);

  await openSettingsAndGoBack(page);
  assert.equal(page.document.body.dataset.screen, "home");
  assert.equal(page.part("home"), loggingOut, "the screen logging out, not a fresh one");
  assert.equal(loggingOut.inert, true);
  assert.equal(page.called("list_sessions").length, 1, "no fresh Home asked for the devices");

  logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("open-settings").disabled, false);
});

test("a hold's release that comes after its screen was replaced leaves the Settings as the new screen set them", async () => {
  const [login, logout] = [heldCommand(), heldCommand()];
  const page = await openConsole({ preferences, answers: { list_sessions: () => [], password_login: login.answer, logout: logout.answer } });
  await page.send("start", { kind: "login_required", ended: null, storage: { kind: "keychain" } });
  await sendPasswordLogin(page, "not hers");
  assert.equal(page.part("open-settings").disabled, true, "held by the password login");

  // The scan loop's session, delivered late, leads home; its logout holds the Settings in turn.
  await page.send("start_scan_login", { kind: "home", session: adminAnn });
  assert.equal(page.document.body.dataset.screen, "home");
  page.part("logout").click();
  await settle();
  const home = page.part("home");
  assert.equal(page.part("open-settings").disabled, true);

  // The password login fails now: its release is for the login screen, long gone.
  login.next().reject({ code: "invalid_credentials", message: "invalid credentials" });
  await settle();
  assert.equal(page.part("home"), home);
  assert.equal(home.inert, true, "the logout's hold stands");
  assert.equal(page.part("open-settings").disabled, true, "the Settings stay held by the logout");
  assert.equal(page.part("hold-status").textContent, "Logging out…", "and the logout is still said");

  logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("open-settings").disabled, false);
});
