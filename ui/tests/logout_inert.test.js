// Log out on the home screen (ui/src/screens/home.ts), on the JS the console ships, through its
// router: while the logout runs, the screen is inert, every button off and the logout saying so,
// so no second logout, no other action and no reload of the devices can race it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { openConsole, settle } from "./fake_console.js";
import { organizerAnn, preferences } from "./fixtures.js";

const device = { client: "console", device_name: "Laptop", ip: "192.0.2.1", created_at: 1_800_000_000, last_seen_at: 1_800_000_000, methods: ["wechat"] };
const sessions = [
  { ...device, id: "s-here", current: true },
  { ...device, id: "s-other", current: false },
];
const loggingOut = { en: "Logging out…", "zh-CN": "正在退出登录…" };

for (const language of ["en", "zh-CN"]) {
  test(`${language}: while the logout runs, home is inert and nothing else is asked of the Rust side`, async () => {
    let finishLogout;
    let finishOpen;
    const page = await openConsole({
      preferences: { ...preferences, language },
      answers: {
        logout: () => new Promise((resolve) => (finishLogout = resolve)),
        open_in_browser: () => new Promise((resolve) => (finishOpen = resolve)),
        list_sessions: () => sessions,
      },
    });
    await page.send("start", { kind: "home", session: organizerAnn });
    const home = page.part("home");
    assert.ok(home.querySelector("button.end-session"), "the other device's Log out is drawn");

    page.part("open-browser").click();
    page.part("logout").click();
    await settle();
    assert.equal(home.inert, true);
    assert.deepEqual(home.querySelectorAll("button").filter((button) => !button.disabled), [], "every button is off");
    assert.equal(page.part("logout").textContent, loggingOut[language]);

    // "Open in browser" answers meanwhile, which turns its button on again: the screen stays inert.
    finishOpen();
    await settle();
    page.part("open-browser").click();
    page.part("logout").click();
    home.querySelector("button.end-session").click();
    page.window.dispatchEvent(new Event("focus"));
    await settle();
    assert.equal(page.called("logout").length, 1, "one logout");
    assert.equal(page.called("open_in_browser").length, 1);
    assert.equal(page.called("end_session").length, 0);
    assert.equal(page.called("list_sessions").length, 1, "no reload of the devices");

    finishLogout({ revoked_on_server: true, keychain_cleared: true });
    await settle();
    assert.equal(page.document.body.dataset.screen, "login");
  });
}
