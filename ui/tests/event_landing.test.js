// Where what the console learns lands (ui/src/event_landing.ts), on the JS the console ships: a
// session reached or ended never takes away the Settings being typed in, and a late offline notice
// never replaces a logged-in screen.
import assert from "node:assert/strict";
import { test } from "node:test";

import { keptUnderSettings, offlineLanding } from "../public/js/event_landing.js";
import { initialState } from "../public/js/state.js";

const loggedIn = ["home", "team", "account"];
const ann = { user: { id: "u-ann", display_name: "Ann", roles: ["organizer"] } };
const ended = { kind: "session_ended", ended: "revoked" };

function shown(screen, before = "login") {
  return { ...initialState(), screen, screenBeforeSettings: before };
}

test("a session reached while the Settings are open waits under them", () => {
  const app = shown("settings", "login");
  app.loginNotice = ended;
  assert.equal(keptUnderSettings(app, { to: "home", session: ann }), true);
  assert.equal(app.screen, "settings", "the Settings stay");
  assert.equal(app.screenBeforeSettings, "home", "closing them shows home");
  assert.equal(app.session, ann);
  assert.equal(app.loginNotice, null);
});

test("a session ended while the Settings are open waits under them, with why", () => {
  const app = shown("settings", "team");
  app.session = ann;
  app.loginTab = "password";
  assert.equal(keptUnderSettings(app, { to: "login", notice: ended }), true);
  assert.equal(app.screen, "settings", "the Settings stay");
  assert.equal(app.screenBeforeSettings, "login", "closing them shows the login");
  assert.equal(app.session, null);
  assert.equal(app.loginNotice, ended);
  assert.equal(app.loginTab, "scan");
});

test("with any other screen shown, the outcome is the caller's to show", () => {
  for (const screen of ["starting", "offline", "login", ...loggedIn]) {
    const app = shown(screen);
    const before = { ...app };
    assert.equal(keptUnderSettings(app, { to: "home", session: ann }), false, screen);
    assert.equal(keptUnderSettings(app, { to: "login", notice: ended }), false, screen);
    assert.deepEqual({ ...app }, before, `${screen}: nothing changed`);
  }
});

test("an offline notice arriving after the console reached a logged-in screen is dropped", () => {
  for (const screen of loggedIn) assert.equal(offlineLanding(screen), "dropped", screen);
  assert.equal(offlineLanding("settings"), "dropped");
});

test("an offline notice shows while the console waits for the server", () => {
  assert.equal(offlineLanding("starting"), "replace_screen");
  assert.equal(offlineLanding("offline"), "replace_screen");
  assert.equal(offlineLanding("login"), "scan_panel");
});
