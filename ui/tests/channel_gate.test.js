// Which event channel still speaks for the console (ui/src/channel_gate.ts), on the JS it ships:
// a channel replaced by a newer one of its kind delivers nothing more, and opening a channel of
// one kind leaves the events of every other kind alone.
import assert from "node:assert/strict";
import { test } from "node:test";

import { channelGate } from "../public/js/channel_gate.js";
import { openConsole } from "./fake_console.js";

/** Opens a channel of `kind` on `gate` whose delivered events land in the list returned. */
function recorded(gate, kind) {
  const delivered = [];
  return { delivered, send: gate.open(kind, (event) => delivered.push(event)) };
}

test("a channel replaced by a newer one of its kind delivers nothing more", () => {
  const gate = channelGate();
  const first = recorded(gate, "scan_login");
  first.send("qr of the first");
  const second = recorded(gate, "scan_login");
  first.send("late scanned of the first");
  second.send("qr of the second");
  assert.deepEqual(first.delivered, ["qr of the first"]);
  assert.deepEqual(second.delivered, ["qr of the second"]);
});

test("opening a channel of one kind leaves every other kind's events alone", () => {
  const gate = channelGate();
  const restore = recorded(gate, "restore");
  const link = recorded(gate, "link_wechat");
  recorded(gate, "scan_login");
  recorded(gate, "scan_login");
  restore.send("home");
  link.send("linked");
  assert.deepEqual(restore.delivered, ["home"]);
  assert.deepEqual(link.delivered, ["linked"]);
});

test("after \"Not you?\", what the old scan loop sent last does not bring its code back", async () => {
  const page = await openConsole({ preferences: { server_url: "https://meet.example", server_from_env: false, language: "en", storage: { kind: "keychain" } } });
  await page.send("start", { kind: "login_required", ended: null, storage: { kind: "keychain" } });
  const oldCode = { kind: "qr", image: "data:image/png;base64,b2xk", refresh_at_ms: Date.now() + 60_000 };
  await page.send("start_scan_login", oldCode);
  await page.send("start_scan_login", { kind: "scanned", display_name: "Bob", avatar: null });

  page.part("new-code").click();
  assert.equal(page.called("new_scan_code").length, 1);
  // Sent by the old loop before Rust stopped it, delivered after the click.
  await page.send("start_scan_login", { kind: "scanned", display_name: "Bob", avatar: null });
  await page.send("start_scan_login", oldCode);
  assert.equal(page.part("scan-status").textContent, "Preparing a code…");
  assert.equal(page.part("qr-image").hidden, true);

  const newCode = { kind: "qr", image: "data:image/png;base64,bmV3", refresh_at_ms: Date.now() + 60_000 };
  await page.send("new_scan_code", newCode);
  await page.send("new_scan_code", { kind: "waiting" });
  assert.equal(page.part("qr-image").src, newCode.image);
  assert.equal(page.part("scan-status").textContent, "Waiting for a scan");
});
