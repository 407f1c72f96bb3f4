// Saving the Settings and creating an invite on the Team page (ui/src/screens/settings.ts and
// team.ts), on the JS the console ships, through its router: while one is on its way, its buttons
// are off, so it cannot be sent twice; they are on again once it answered, or failed.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { adminAnn, heldCommand, preferences, teamOfAnn, unreachable } from "./fixtures.js";

test("Save is off while the settings are being saved, and on again after a failure", async () => {
  const save = heldCommand();
  const page = await openConsole({ preferences, answers: { save_preferences: save.answer } });
  await page.send("start", { kind: "login_required", ended: null, storage: { kind: "keychain" } });
  page.part("open-settings").click();

  page.part("save-settings").click();
  page.part("save-settings").click();
  await settle();
  assert.equal(page.called("save_preferences").length, 1, "saved once");
  assert.equal(page.part("save-settings").disabled, true);

  save.next().reject(unreachable);
  await settle();
  assert.equal(page.part("save-settings").disabled, false, "on again to try once more");
  assert.equal(page.part("settings-message").hidden, false, "says why");
  page.part("save-settings").click();
  await settle();
  assert.equal(page.called("save_preferences").length, 2);
});

test("both invite buttons are off while an invite is created, and on again once it answered or failed", async () => {
  const create = heldCommand();
  const page = await openConsole({
    preferences,
    answers: { list_sessions: () => [], list_team: () => teamOfAnn, list_invites: () => [], create_invite: create.answer },
  });
  await page.send("start", { kind: "home", session: adminAnn });
  page.part("nav-team").click();
  await settle();
  const buttons = () => [page.part("invite-organizer"), page.part("invite-admin")];

  page.part("invite-organizer").click();
  page.part("invite-admin").click();
  page.part("invite-organizer").click();
  await settle();
  assert.equal(page.called("create_invite").length, 1, "one invite on its way");
  assert.deepEqual(buttons().map((button) => button.disabled), [true, true]);

  create.next().reject(unreachable);
  await settle();
  assert.deepEqual(buttons().map((button) => button.disabled), [false, false]);

  page.part("invite-admin").click();
  await settle();
  assert.deepEqual(buttons().map((button) => button.disabled), [true, true]);
  const invite = { id: "i-1", role: "admin", created_by: "Ann", created_at: 1_800_000_000, expires_at: 1_900_000_000, accepted_by: null, accepted_at: null, role_held: false };
  create.next().resolve({ invite, qr: "data:image/png;base64,cXI=", link: null });
  await settle();
  assert.equal(page.part("invite-panel").hidden, false, "the invite is shown");
  assert.deepEqual(buttons().map((button) => button.disabled), [false, false]);
  assert.equal(page.called("create_invite").length, 2);
});
