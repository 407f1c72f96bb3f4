// A session found ended while Home's logout runs (ui/src/screens/home.ts, and its Devices section),
// on the JS the console ships, through its router: an action on its way when the user pressed Log
// out ("Open in browser", a device's "Log out", "Log out everywhere else") that answers "session
// over" most likely met the logout's own work; the logout's outcome says where the console goes,
// so the login is drawn, and a scan login started, once. A logout that fails (no session was held:
// the other action found it ended first) hands over how it ended.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { heldCommand, organizerAnn, preferences } from "./fixtures.js";

const revoked = { code: "session_revoked", message: "the session was revoked" };
const notLoggedIn = { code: "not_logged_in", message: "not logged in" };
const device = { client: "console", device_name: "Laptop", ip: "192.0.2.1", created_at: 1_800_000_000, last_seen_at: 1_800_000_000, methods: ["wechat"] };
const sessions = [
  { ...device, id: "s-here", current: true },
  { ...device, id: "s-other", current: false },
];

/** Home, with `held` commands answered by the test, and `start` the action under test on its way. */
async function logoutAfter(held, start) {
  const answers = { list_sessions: () => sessions };
  for (const [command, holder] of Object.entries(held)) answers[command] = holder.answer;
  const page = await openConsole({ preferences, answers });
  await page.send("start", { kind: "home", session: organizerAnn });
  start(page);
  await settle();
  page.part("logout").click();
  await settle();
  return page;
}

const actionsOnTheirWay = {
  "Open in browser": ["open_in_browser", (page) => page.part("open-browser").click()],
  "a device's Log out": ["end_session", (page) => page.part("home").querySelector("button.end-session").click()],
  "Log out everywhere else": [
    "end_other_sessions",
    (page) => {
      page.part("end-other-sessions").click();
      page.part("confirm-end-others").click();
    },
  ],
};

for (const [name, [command, start]] of Object.entries(actionsOnTheirWay)) {
  test(`${name} finding the session over while the logout runs waits for the logout, which draws the login once`, async () => {
    const [action, logout] = [heldCommand(), heldCommand()];
    const page = await logoutAfter({ [command]: action, logout }, start);
    assert.equal(page.called(command).length, 1);

    action.next().reject(revoked);
    await settle();
    assert.equal(page.document.body.dataset.screen, "home", "the logout's outcome is awaited");
    assert.equal(page.called("start_scan_login").length, 0);

    logout.next().resolve({ revoked_on_server: false, keychain_cleared: true });
    await settle();
    assert.equal(page.document.body.dataset.screen, "login");
    assert.equal(page.called("start_scan_login").length, 1, "one scan login");
    assert.equal(page.part("scan-notice").textContent, "Logged out on this computer. The server could not be told; the session ends when it expires.", "said as the logout");
  });
}

test("a logout that fails after another action found the session over hands that over", async () => {
  const [open, logout] = [heldCommand(), heldCommand()];
  const page = await logoutAfter({ open_in_browser: open, logout }, actionsOnTheirWay["Open in browser"][1]);
  open.next().reject(revoked);
  await settle();
  logout.next().reject(notLoggedIn);
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.called("start_scan_login").length, 1);
  assert.equal(page.part("scan-notice").textContent, "You were logged out from another device. Please log in again.", "how it ended, not the logout's failure");
});

test("a session found over with no logout running still leads to the login at once", async () => {
  const open = heldCommand();
  const page = await openConsole({ preferences, answers: { list_sessions: () => sessions, open_in_browser: open.answer } });
  await page.send("start", { kind: "home", session: organizerAnn });
  page.part("open-browser").click();
  await settle();
  open.next().reject(revoked);
  await settle();
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("scan-notice").textContent, "You were logged out from another device. Please log in again.");
});
