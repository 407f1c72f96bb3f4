// The console's page run in Node: the router (ui/public/js/main.js) on a fake DOM (fake_dom.js)
// with the elements of ui/public/index.html, and a fake of the Rust side as the webview sees it
// (window.__TAURI__): commands answered by the test, and the channels they opened, to send events on.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { installFakeDom } from "./fake_dom.js";

/** The ids of ui/public/index.html's elements, which the fake page below must have too. */
const pageIds = [...readFileSync(new URL("../public/index.html", import.meta.url), "utf8").matchAll(/\bid="([\w-]+)"/g)].map((match) => match[1]);

/** Lets every callback already due run (IPC answers, the router's awaits). */
export async function settle() {
  for (let round = 0; round < 5; round += 1) await new Promise((resolve) => setImmediate(resolve));
}

let pagesLoaded = 0;

/**
 * Loads a fresh router. `answers` maps a command to what it answers (a function of its arguments,
 * or a promise; what it throws or rejects with is the command's error); a command with no answer
 * resolves with nothing, and `get_preferences` with `preferences`.
 */
export async function openConsole({ preferences, answers = {} }) {
  const { document, window } = installFakeDom();
  const main = document.createElement("main");
  main.id = "main";
  const settingsButton = document.createElement("button");
  settingsButton.id = "open-settings";
  settingsButton.type = "button";
  const brand = document.createElement("span");
  brand.id = "brand";
  const holdStatus = document.createElement("p");
  holdStatus.id = "hold-status";
  holdStatus.setAttribute("role", "status");
  holdStatus.setAttribute("aria-live", "polite");
  document.body.append(brand, settingsButton, main, holdStatus);
  assert.deepEqual(pageIds.filter((id) => !document.getElementById(id)), [], "fake_console.js: an element of index.html is missing");

  const calls = [];
  const answered = { get_preferences: () => preferences, ...answers };
  class Channel {
    onmessage = () => {};
  }
  window.__TAURI__ = {
    core: {
      Channel,
      invoke: async (command, args = {}) => {
        calls.push({ command, args });
        return answered[command]?.(args);
      },
    },
  };
  // A query makes another instance of the module: each console starts afresh.
  pagesLoaded += 1;
  await import(`../public/js/main.js?page=${pagesLoaded}`);
  await settle();

  return {
    document,
    window,
    calls,
    /** The commands called so far, by name. */
    called: (command) => calls.filter((call) => call.command === command),
    part: (id) => document.getElementById(id),
    /** Sends `event` on the channel `command` opened last, as the Rust side does, and lets it land. */
    async send(command, event) {
      const opened = calls.filter((call) => call.command === command && call.args.events);
      if (opened.length === 0) throw new Error(`no ${command} channel is open`);
      opened[opened.length - 1].args.events.onmessage(event);
      await settle();
    },
  };
}
