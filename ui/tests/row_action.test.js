// The rule of a list row's action button (ui/src/row_action.ts: Revoke, a device's Log out, Remove),
// on the JS the console ships: off while the action runs, on again as soon as it fails.
import assert from "node:assert/strict";
import { test } from "node:test";

import { runRowAction } from "../public/js/row_action.js";

test("a row's button is on again after its action fails, with why", async () => {
  const button = { disabled: false };
  const refused = { code: "server_unreachable", message: "the server could not be reached" };
  let offWhileRunning = false;
  const outcome = await runRowAction(button, async () => {
    offWhileRunning = button.disabled;
    throw refused;
  });
  assert.equal(offWhileRunning, true, "off while the action runs");
  assert.deepEqual(outcome, { ok: false, failure: refused });
  assert.equal(button.disabled, false, "on again at once, before any reload that may fail too");
});

test("a row's button stays off after its action succeeds: the reload takes the row away", async () => {
  const button = { disabled: false };
  const outcome = await runRowAction(button, async () => 3);
  assert.deepEqual(outcome, { ok: true, value: 3 });
  assert.equal(button.disabled, true);
});
