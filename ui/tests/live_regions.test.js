// The live regions (role status or alert) of the console's screens, on the JS it ships, drawn in a
// fake DOM: a screen drawn again with the same words (the scan loop repeats "waiting" or "scanned"
// at every poll; a reload fails as the last one did) leaves the region as it is, so a screen reader
// does not say them again; new words are written, and announced.
import assert from "node:assert/strict";
import { test } from "node:test";

import { installFakeDom } from "./fake_dom.js";
import { openConsole, settle } from "./fake_console.js";
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
  const unreachable = { code: "server_unreachable", message: "the server could not be reached" };
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
