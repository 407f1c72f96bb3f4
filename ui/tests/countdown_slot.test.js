// The Team page's invite countdown (ui/src/countdown_slot.ts), on the JS the console ships: stopped
// when the page is left, and never started once it was, even by an invite created after that.
import assert from "node:assert/strict";
import { test } from "node:test";

import { countdownSlot } from "../public/js/countdown_slot.js";

/** A countdown that records whether it runs. */
function fakeCountdown() {
  const state = { started: 0, stopped: 0 };
  const start = () => {
    state.started += 1;
    return () => {
      state.stopped += 1;
    };
  };
  return { start, state, running: () => state.started - state.stopped };
}

test("leaving the page stops the invite's countdown", () => {
  const slot = countdownSlot();
  const shown = fakeCountdown();
  slot.replace(shown.start);
  assert.equal(shown.running(), 1);
  slot.close();
  assert.equal(shown.running(), 0);
});

test("an invite created after the page was left starts no countdown", () => {
  const slot = countdownSlot();
  slot.close();
  const late = fakeCountdown();
  slot.replace(late.start);
  assert.equal(late.state.started, 0, "nothing runs behind a page nobody sees");
});

test("a new invite replaces the countdown of the one shown, and Done stops it for good", () => {
  const slot = countdownSlot();
  const first = fakeCountdown();
  const second = fakeCountdown();
  slot.replace(first.start);
  slot.replace(second.start);
  assert.equal(first.running(), 0);
  assert.equal(second.running(), 1);
  slot.clear();
  slot.clear();
  assert.deepEqual(second.state, { started: 1, stopped: 1 }, "stopped once");
  const third = fakeCountdown();
  slot.replace(third.start);
  assert.equal(third.running(), 1, "an invite shown after Done counts down");
});
