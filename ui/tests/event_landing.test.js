// Where the restore's and the scan login's events land (ui/src/event_landing.ts), on the JS the
// console ships: they never take away the Settings being typed in, and a late offline notice never
// replaces a logged-in screen.
import assert from "node:assert/strict";
import { test } from "node:test";

import { eventLanding } from "../public/js/event_landing.js";

const loggedIn = ["home", "team", "account"];

test("a restore's outcome arriving while the Settings are open waits under them", () => {
  assert.equal(eventLanding("settings", "home"), "under_settings");
  assert.equal(eventLanding("settings", "login_required"), "under_settings");
  for (const shown of ["starting", "offline", "login", ...loggedIn]) {
    assert.equal(eventLanding(shown, "home"), "replace_screen", shown);
    assert.equal(eventLanding(shown, "login_required"), "replace_screen", shown);
  }
});

test("an offline notice arriving after the console reached a logged-in screen is dropped", () => {
  for (const shown of loggedIn) assert.equal(eventLanding(shown, "offline"), "dropped", shown);
  assert.equal(eventLanding("settings", "offline"), "dropped");
});

test("an offline notice shows while the console waits for the server", () => {
  assert.equal(eventLanding("starting", "offline"), "replace_screen");
  assert.equal(eventLanding("offline", "offline"), "replace_screen");
  assert.equal(eventLanding("login", "offline"), "scan_panel");
});
