// Leaving the team from the Team page (ui/src/screens/team.ts: an admin removing themself), on the
// JS the console ships, through its router: while the leave runs, and after it succeeded until the
// login replaces the page, the page is inert, every button off and the leave saying so, so no
// second leave, no other action and no reload can race it; a leave that fails gives every control
// back as it was, says why, and gives the keyboard back to the user's own row (or to why).
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { adminAnn, annAsMember, heldCommand, preferences, unreachable } from "./fixtures.js";

const team = {
  members: [annAsMember, { ...annAsMember, user_id: "u-bob", display_name: "Bob", roles: ["organizer"], you: false }],
  you_are_admin: true,
};
const openInvite = { id: "i-1", role: "organizer", created_by: "Ann", created_at: 1_800_000_000, expires_at: 1_900_000_000, accepted_by: null, accepted_at: null, role_held: false };
const newInvite = { invite: { ...openInvite, id: "i-2" }, qr: "data:image/png;base64,cXI=", link: null };
const revoked = { code: "session_revoked", message: "the session was revoked" };
const leaving = { en: "Leaving the team…", "zh-CN": "正在离开团队…" };
const youLeft = { en: "You left the team. This console is logged out.", "zh-CN": "你已离开团队，此控制台已退出登录。" };
const removeLabel = { en: "Remove from team", "zh-CN": "移出团队" };

/** The console on the Team page of Ann, an admin, with `held` commands answered by the test. */
async function teamPage(language, held) {
  const answers = { list_sessions: () => [], list_team: () => team, list_invites: () => [openInvite] };
  for (const [command, holder] of Object.entries(held)) answers[command] = holder.answer;
  const page = await openConsole({ preferences: { ...preferences, language }, answers });
  await page.send("start", { kind: "home", session: adminAnn });
  page.part("nav-team").click();
  await settle();
  const removeButton = (userId) => page.part("team").querySelector(`li[data-user-id=${userId}]`).querySelector("button.remove-member");
  const buttons = () => page.part("team").querySelectorAll("button");
  /** What each button of the page is (its id, or its label) and whether it is on. */
  const switches = () => buttons().map((button) => `${button.id || button.getAttribute("aria-label")}: ${button.disabled ? "off" : "on"}`);
  const leave = () => {
    removeButton("u-ann").click();
    page.part("confirm-remove").click();
  };
  return { page, removeButton, buttons, switches, leave };
}

for (const language of ["en", "zh-CN"]) {
  test(`${language}: while leaving the team runs and after it succeeded, the Team page is inert and nothing else is asked of the Rust side`, async () => {
    const [remove, create, revoke, logout] = [heldCommand(), heldCommand(), heldCommand(), heldCommand()];
    const { page, removeButton, buttons, leave } = await teamPage(language, {
      remove_member: remove,
      create_invite: create,
      revoke_invite: revoke,
      logout,
    });
    const teamPart = page.part("team");
    // Two actions on their way when the leave starts.
    page.part("invite-organizer").click();
    teamPart.querySelector("button.revoke-invite").click();
    await settle();
    const loadsBefore = page.called("list_team").length;

    leave();
    await settle();
    assert.deepEqual(page.called("remove_member").map((call) => call.args), [{ userId: "u-ann" }]);
    assert.equal(teamPart.inert, true);
    assert.equal(teamPart.getAttribute("aria-busy"), "true");
    assert.deepEqual(buttons().filter((button) => !button.disabled), [], "every button is off");
    assert.equal(removeButton("u-ann").textContent, leaving[language]);

    // The invite is created meanwhile, which turns its buttons on again and draws the QR's; the
    // revoke finds the session over, ended by the leave: the leave still says where the page goes.
    create.next().resolve(newInvite);
    revoke.next().reject(revoked);
    await settle();
    assert.equal(page.document.body.dataset.screen, "team");
    for (const id of ["confirm-remove", "invite-admin", "save-invite-qr", "nav-home"]) page.part(id).click();
    removeButton("u-ann").click();
    removeButton("u-bob").click();
    page.window.dispatchEvent(new Event("focus"));
    await settle();
    assert.equal(page.called("remove_member").length, 1, "one leave");
    assert.equal(page.called("create_invite").length, 1);
    assert.equal(page.called("save_invite_qr").length, 0);
    assert.equal(page.called("list_team").length, loadsBefore, "no reload of the team");
    assert.equal(page.part("remove-dialog").hasAttribute("open"), false);
    assert.equal(page.document.body.dataset.screen, "team");

    // Left: the logout that follows runs with the page still inert.
    remove.next().resolve();
    await settle();
    assert.equal(page.called("logout").length, 1);
    assert.equal(teamPart.inert, true);
    removeButton("u-bob").click();
    page.window.dispatchEvent(new Event("focus"));
    await settle();
    assert.equal(page.called("remove_member").length, 1);
    assert.equal(page.called("list_team").length, loadsBefore);

    logout.next().resolve({ revoked_on_server: true, keychain_cleared: true });
    await settle();
    assert.equal(page.document.body.dataset.screen, "login");
    assert.equal(page.part("scan-notice").textContent, youLeft[language], "said as leaving, not as a session ended elsewhere");
  });
}

test("a leave that fails gives every control back as it was, says why, and reloads the team", async () => {
  const [remove, create] = [heldCommand(), heldCommand()];
  const { page, removeButton, switches, leave } = await teamPage("en", { remove_member: remove, create_invite: create });
  const teamPart = page.part("team");
  const before = switches();
  // An invite on its way keeps its buttons off whatever the leave does.
  page.part("invite-admin").click();
  await settle();
  const whileInviting = switches();
  assert.notDeepEqual(whileInviting, before);
  const loadsBefore = page.called("list_team").length;

  leave();
  await settle();
  assert.equal(teamPart.inert, true);
  remove.next().reject(unreachable);
  await settle();
  assert.equal(teamPart.inert, false);
  assert.equal(teamPart.hasAttribute("aria-busy"), false);
  assert.deepEqual(switches(), whileInviting, "every control as it was before the leave");
  assert.equal(removeButton("u-ann").textContent, removeLabel.en);
  assert.equal(page.part("team-message").textContent, "The server could not be reached. Check the server URL in Settings.");
  assert.equal(page.called("list_team").length, loadsBefore + 1, "the team is loaded again");
  assert.equal(page.document.activeElement, removeButton("u-ann"), "the keyboard is on the redrawn row's button, not the page's start");

  create.next().reject(unreachable);
  await settle();
  assert.deepEqual(switches(), before);
  removeButton("u-ann").click();
  page.part("confirm-remove").click();
  await settle();
  assert.equal(page.called("remove_member").length, 2, "the leave can be tried again");
});

test("a leave refused to a user no longer admin gives the keyboard to why, the rows having no button", async () => {
  const remove = heldCommand();
  let stillAdmin = true;
  const page = await openConsole({
    preferences,
    answers: {
      list_sessions: () => [],
      list_team: () => ({ ...team, you_are_admin: stillAdmin }),
      list_invites: () => [openInvite],
      remove_member: remove.answer,
    },
  });
  await page.send("start", { kind: "home", session: adminAnn });
  page.part("nav-team").click();
  await settle();
  page.part("team").querySelector("li[data-user-id=u-ann]").querySelector("button.remove-member").click();
  page.part("confirm-remove").click();
  await settle();
  stillAdmin = false;
  remove.next().reject({ code: "forbidden", message: "admins only" });
  await settle();
  assert.deepEqual(page.part("team").querySelectorAll("button.remove-member"), [], "redrawn for an organizer");
  assert.equal(page.part("team-message").textContent, "Only administrators can do that.");
  assert.equal(page.document.activeElement, page.part("team-message"));
});

test("a leave that fails after another action found the session over hands that over", async () => {
  const [remove, revoke] = [heldCommand(), heldCommand()];
  const { page, leave } = await teamPage("en", { remove_member: remove, revoke_invite: revoke });
  page.part("team").querySelector("button.revoke-invite").click();
  leave();
  await settle();
  revoke.next().reject(revoked);
  await settle();
  assert.equal(page.document.body.dataset.screen, "team", "the leave's outcome is awaited");

  remove.next().reject(unreachable);
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("scan-notice").textContent, "You were logged out from another device. Please log in again.");
});
