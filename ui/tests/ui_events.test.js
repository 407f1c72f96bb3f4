// Every kind of event the console's Rust side sends the UI (UiEvent in console-core/src/console.rs)
// is named in the UI's type of them (UiEvent in ui/src/ipc.ts), whose every kind main.ts's onEvent
// must land (the compiler checks that). Read from both sources, so a kind added in Rust fails here
// until the UI knows it, rather than being silently ignored.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

/** The text of `path` from `start` to the first `end` after it. */
function block(path, start, end) {
  const source = readFileSync(new URL(path, import.meta.url), "utf8");
  const from = source.indexOf(start);
  assert.notEqual(from, -1, `${path}: no \`${start}\``);
  const to = source.indexOf(end, from);
  assert.notEqual(to, -1, `${path}: the end of \`${start}\``);
  return source.slice(from, to);
}

const snakeCase = (name) => name.replace(/[A-Z]/g, (letter, at) => `${at > 0 ? "_" : ""}${letter.toLowerCase()}`);

// serde(tag = "kind", rename_all = "snake_case"): each variant, at the enum's indent, is a kind.
const rustKinds = [...block("../../console-core/src/console.rs", "pub enum UiEvent {", "\n}\n").matchAll(/^ {4}([A-Z]\w*)/gm)]
  .map((match) => snakeCase(match[1]))
  .sort();
const uiKinds = [...block("../src/ipc.ts", "export type UiEvent =", "\n\n").matchAll(/kind: "([a-z_]+)"/g)].map((match) => match[1]).sort();

test("the Rust side's event kinds are read", () => {
  // A reading that found nothing would pass the test below without checking anything.
  assert.ok(rustKinds.includes("login_required") && rustKinds.length >= 10, rustKinds.join());
});

test("the UI's event kinds are exactly the Rust side's", () => {
  assert.deepEqual(uiKinds, rustKinds);
});
