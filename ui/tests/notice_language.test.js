// The console's notices (ui/src/notice.ts) on the JS it ships, through its router: a notice kept
// for the login screen (why the session ended) is worded when the screen is drawn, so after the
// Settings switch the language it reads in the new one.
import assert from "node:assert/strict";
import { test } from "node:test";

import { installFakeDom } from "./fake_dom.js";
import { openConsole, settle } from "./fake_console.js";
import { organizerAnn, preferences } from "./fixtures.js";
import { setLanguage } from "../public/js/i18n.js";
import { noticeText } from "../public/js/notice.js";

const revokedEn = "You were logged out from another device. Please log in again.";
const revokedZh = "你已在其他设备上被退出登录，请重新登录。";

/** In the Settings shown, picks `language` and saves (the same server: back to the screen before). */
async function saveLanguage(page, language) {
  page.part("language").value = language;
  page.part("save-settings").click();
  await settle();
}

test("why the session ended reads in the language the Settings switched to", async () => {
  const page = await openConsole({
    preferences,
    answers: { save_preferences: ({ serverUrl, language }) => ({ ...preferences, server_url: serverUrl, language }) },
  });
  await page.send("start", { kind: "login_required", ended: "revoked", storage: { kind: "keychain" } });
  assert.equal(page.part("scan-notice").textContent, revokedEn);

  page.part("open-settings").click();
  await saveLanguage(page, "zh-CN");
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("scan-notice").textContent, revokedZh);
});

test("a session found ended while the Settings are open is told in the language they switch to", async () => {
  let endSessionsList;
  const page = await openConsole({
    preferences,
    answers: {
      save_preferences: ({ serverUrl, language }) => ({ ...preferences, server_url: serverUrl, language }),
      // Home's device list, asked when home is shown, answers once the Settings are open.
      list_sessions: () => new Promise((_, reject) => (endSessionsList = reject)),
    },
  });
  await page.send("start", { kind: "home", session: organizerAnn });
  page.part("open-settings").click();
  endSessionsList({ code: "session_revoked", message: "the session was revoked" });
  await settle();
  assert.equal(page.document.body.dataset.screen, "settings", "the Settings stay open");

  await saveLanguage(page, "zh-CN");
  assert.equal(page.document.body.dataset.screen, "login");
  assert.equal(page.part("scan-notice").textContent, revokedZh);
});

test("every kind of notice has words in each language", () => {
  installFakeDom();
  const notices = [
    ...["expired", "revoked", "invalid"].map((ended) => ({ kind: "session_ended", ended })),
    { kind: "logged_out", revokedOnServer: false, keychainCleared: false },
    { kind: "left_team", keychainCleared: false },
    { kind: "logout_failed", failure: { code: "not_logged_in", message: "no session is held" } },
    { kind: "scan_stopped", problem: { code: "client_setup_failed", message: "the console's HTTP client could not be set up: no TLS roots" } },
    ...["login", "link"].flatMap((purpose) =>
      ["declined", "expired", "not_organizer", "identity_in_use"].map((refusal) => ({ kind: "scan_refused", purpose, refusal })),
    ),
  ];
  for (const notice of notices) {
    setLanguage("en");
    const english = noticeText(notice);
    setLanguage("zh-CN");
    const chinese = noticeText(notice);
    const what = JSON.stringify(notice);
    assert.match(english, /^[^\u4e00-\u9fff]+$/, what);
    assert.match(chinese, /[\u4e00-\u9fff]/, what);
  }
});
