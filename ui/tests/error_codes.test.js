// Every error code the console's Rust side can hand the UI has the console's own words in each
// language (ui/src/error_words.ts, shown by errorText in ui/src/screens/parts.ts). The codes are read
// from the Rust sources that send them, so a code added there fails here until the UI has words for it:
// the contract's codes (ErrorCode::as_str in protocol/src/error.rs, passed through by the console) and
// the console's own (ConsoleError::code in console-core/src/failure.rs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { codesWithDetail, errorCodes } from "../public/js/error_words.js";
import { setLanguage } from "../public/js/i18n.js";
import { errorText } from "../public/js/screens/parts.js";

// setLanguage also marks the page's language (<html lang>): the one DOM touch of these modules.
globalThis.document = { documentElement: { lang: "" } };

/** The string literals a Rust function's match arms give (`=> "code"`), from its signature to the
 * end of its body (the first line that closes a block at the signature's indent). */
function codesReturnedBy(path, signature) {
  const source = readFileSync(new URL(path, import.meta.url), "utf8");
  const start = source.indexOf(signature);
  assert.notEqual(start, -1, `${path}: no \`${signature}\``);
  const indent = source.slice(source.lastIndexOf("\n", start) + 1, start);
  const end = source.indexOf(`\n${indent}}\n`, start);
  assert.notEqual(end, -1, `${path}: the end of \`${signature}\``);
  return [...source.slice(start, end).matchAll(/=>\s*"([a-z_]+)"/g)].map((match) => match[1]);
}

const contractCodes = codesReturnedBy("../../protocol/src/error.rs", "pub const fn as_str(self)");
const consoleCodes = codesReturnedBy("../../console-core/src/failure.rs", "pub fn code(&self)");
const rustCodes = [...new Set([...contractCodes, ...consoleCodes])].sort();
const englishCause = "an English cause from the Rust side";

test("the Rust sources are read: the contract's codes and the console's own", () => {
  // A reading that found nothing would pass the tests below without checking anything.
  assert.ok(contractCodes.includes("invalid_request") && contractCodes.length >= 30, contractCodes.join());
  assert.ok(consoleCodes.includes("preferences_not_saved") && consoleCodes.length >= 10, consoleCodes.join());
});

test("every error code the Rust side can send has the console's own words in each language", () => {
  for (const language of ["zh-CN", "en"]) {
    setLanguage(language);
    const fallback = errorText({ code: "a_code_from_later", message: englishCause });
    const missing = [];
    for (const code of rustCodes) {
      const text = errorText({ code, message: englishCause });
      // A code whose message names the field shows it after the UI's own words, never alone.
      const words = codesWithDetail.has(code) ? text.replace(englishCause, "") : text;
      const ownWords = text !== fallback && !words.includes(englishCause) && (language !== "zh-CN" || /[\u4e00-\u9fff]/.test(words));
      if (!ownWords) missing.push(`${code}: ${text}`);
    }
    assert.deepEqual(missing, [], `${language} shows the Rust side's text for these codes`);
  }
});

test("the UI's list of codes is exactly the Rust side's", () => {
  assert.deepEqual([...errorCodes].sort(), rustCodes);
});

test("a request the server refused as sent says which field, after the UI's own words", () => {
  for (const language of ["zh-CN", "en"]) {
    setLanguage(language);
    const text = errorText({ code: "invalid_request", message: "login: not a valid email address" });
    assert.ok(text.includes("login: not a valid email address"), text);
    assert.ok(!text.startsWith("login:"), text);
  }
});
