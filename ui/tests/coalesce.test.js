// The screens' reload rule (ui/src/coalesce.ts), on the JS the console ships: a reload asked while
// one runs is run once after it, never dropped and never run twice at once.
import assert from "node:assert/strict";
import { test } from "node:test";

import { coalesced } from "../public/js/coalesce.js";

/** A load whose runs each wait until the test settles them, in order. */
function controlledLoad() {
  const runs = [];
  let active = 0;
  let mostAtOnce = 0;
  const load = () => {
    active += 1;
    mostAtOnce = Math.max(mostAtOnce, active);
    return new Promise((resolve, reject) => {
      // A run settles with whether to go on, or fails with an Error.
      runs.push((outcome) => {
        active -= 1;
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      });
    });
  };
  return { load, runs, mostAtOnce: () => mostAtOnce };
}

/** Lets every callback already due run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("a reload asked while one runs runs once after it, however many were asked", async () => {
  const { load, runs, mostAtOnce } = controlledLoad();
  const reload = coalesced(load);
  const first = reload();
  const meanwhile = [reload(), reload(), reload()];
  await settle();
  assert.equal(runs.length, 1, "nothing more starts while the first load runs");

  runs[0](true);
  await first;
  await settle();
  assert.equal(runs.length, 2, "one more load after the first, for the three asked meanwhile");
  assert.equal(mostAtOnce(), 1);

  let answered = false;
  void Promise.all(meanwhile).then(() => (answered = true));
  await settle();
  assert.equal(answered, false, "who asked meanwhile waits for the load that answers them");
  runs[1](true);
  await Promise.all(meanwhile);
  await settle();
  assert.equal(runs.length, 2, "and nothing runs after that");
});

test("a load that handed the screen over runs no more", async () => {
  const { load, runs } = controlledLoad();
  const reload = coalesced(load);
  const first = reload();
  const meanwhile = reload();
  runs[0](false);
  await Promise.all([first, meanwhile]);
  await settle();
  assert.equal(runs.length, 1);
});

test("a reload asked after a load finished starts at once", async () => {
  const { load, runs } = controlledLoad();
  const reload = coalesced(load);
  const first = reload();
  runs[0](true);
  await first;
  const second = reload();
  assert.equal(runs.length, 2);
  runs[1](true);
  await second;
  await settle();
  assert.equal(runs.length, 2);
});

test("a load that fails rejects its callers, runs the one asked meanwhile, and does not jam", async () => {
  const { load, runs } = controlledLoad();
  const reload = coalesced(load);
  const first = reload();
  const meanwhile = reload();
  runs[0](new Error("the screen's load threw"));
  await assert.rejects(first, /threw/);
  await settle();
  assert.equal(runs.length, 2, "the reload asked meanwhile still runs");
  runs[1](true);
  await meanwhile;
  const later = reload();
  assert.equal(runs.length, 3, "a later reload starts at once");
  runs[2](true);
  await later;
});
