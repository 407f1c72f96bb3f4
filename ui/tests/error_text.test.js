// What the console says for a failed command (ui/src/screens/parts.ts), on the JS it ships: every
// error code the console's Rust side or the contract can hand the UI for a transient or local
// failure reads in the chosen language, with no English cause left inside a Chinese sentence.
import assert from "node:assert/strict";
import { test } from "node:test";

import { setLanguage } from "../public/js/i18n.js";
import { errorText } from "../public/js/screens/parts.js";

// setLanguage also marks the page's language (<html lang>): the one DOM touch of these modules.
globalThis.document = { documentElement: { lang: "" } };

const codes = [
  "server_unreachable",
  "store_unavailable",
  "server_busy",
  "wechat_unavailable",
  "too_many_requests",
  "slow_down",
  "server_redirected",
  "browser_failed",
  "file_not_saved",
  "not_logged_in",
];
const englishCause = "an English cause from the Rust side";

test("every transient or local failure has its own words in each language", () => {
  for (const language of ["zh-CN", "en"]) {
    setLanguage(language);
    const fallback = errorText({ code: "a_code_from_later", message: englishCause });
    for (const code of codes) {
      const text = errorText({ code, message: englishCause });
      assert.ok(!text.includes(englishCause), `${language} ${code}: ${text}`);
      assert.notEqual(text, fallback, `${language} ${code}`);
      if (language === "zh-CN") assert.match(text, /[\u4e00-\u9fff]/, `${code}: ${text}`);
    }
  }
});

test("a code nobody knows still shows the server's own words", () => {
  setLanguage("en");
  const text = errorText({ code: "a_code_from_later", message: "the server's words" });
  assert.equal(text, "Something went wrong: the server's words");
});
