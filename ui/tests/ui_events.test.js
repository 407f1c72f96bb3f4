// Every kind of event the console's Rust side sends the UI (UiEvent in console-core/src/console.rs)
// is named in the UI's type of them (UiEvent in ui/src/ipc.ts), whose every kind main.ts's onEvent
// must land (the compiler checks that); so is every kind of scan step that "Link WeChat"'s `link`
// events carry (ScanEvent in console-core/src/scan/mod.rs; ScanStep in ui/src/ipc.ts, whose every
// kind applyScanStep must apply). Read from both sources, so a kind added in Rust fails here until
// the UI knows it, rather than being silently ignored.
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

/** The kinds a Rust enum is serialized with: it must be `serde(tag = "kind", rename_all =
 * "snake_case")`, right above it, with no variant renamed, so each variant at the enum's indent is
 * a kind, in snake case. */
function rustKinds(path, enumName) {
  const serde = '#[serde(tag = "kind", rename_all = "snake_case")]\n';
  const enumBlock = block(path, `${serde}pub enum ${enumName} {`, "\n}\n");
  assert.ok(!enumBlock.slice(serde.length).includes("#[serde("), `${path}: a variant of ${enumName} has its own serde attribute; read its kind here`);
  return [...enumBlock.matchAll(/^ {4}([A-Z]\w*)/gm)].map((match) => snakeCase(match[1])).sort();
}

/** The kinds of the TypeScript union `name` in ui/src/ipc.ts. */
function uiKinds(name) {
  return [...block("../src/ipc.ts", `export type ${name} =`, "\n\n").matchAll(/kind: "([a-z_]+)"/g)].map((match) => match[1]).sort();
}

const events = { rust: rustKinds("../../console-core/src/console.rs", "UiEvent"), ui: uiKinds("UiEvent") };
const scanSteps = { rust: rustKinds("../../console-core/src/scan/mod.rs", "ScanEvent"), ui: uiKinds("ScanStep") };

test("the Rust side's event and scan step kinds are read", () => {
  // A reading that found nothing would pass the tests below without checking anything.
  assert.ok(events.rust.includes("login_required") && events.rust.length >= 10, events.rust.join());
  assert.ok(scanSteps.rust.includes("identity_in_use") && scanSteps.rust.length >= 8, scanSteps.rust.join());
});

test("the UI's event kinds are exactly the Rust side's", () => {
  assert.deepEqual(events.ui, events.rust);
});

test("the UI's scan step kinds are exactly the Rust side's", () => {
  assert.deepEqual(scanSteps.ui, scanSteps.rust);
});
