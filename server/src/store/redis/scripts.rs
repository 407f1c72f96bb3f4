//! The Lua scripts that make the multi-step operations atomic on the Redis server.

use redis::Script;

// Each step the scripts carry out is written once, as a Lua function, and the scripts are made
// of them: a single compare-and-swap or append sends the few lines it needs (Redis hashes
// a script's text at every `EVAL`: the exchange's two appends cost it a third more CPU as runs of
// the whole of [`STEPS`]); a batch on one Cluster slot sends them all. A lifetime is milliseconds,
// "0" for an end already past (`PXAT 1`, a moment long gone: written, never read; an append's
// `PEXPIRE 0` deletes a record it made), or "" for forever.

/// `set(key, value, px, nx)`: `SET`, `NX` when `nx`; 1 when written, 0 when not.
macro_rules! lua_set {
    () => {
        r"
local function set(key, value, px, nx)
  local command = {'SET', key, value}
  if nx then command[#command + 1] = 'NX' end
  if px == '0' then
    command[#command + 1] = 'PXAT'
    command[#command + 1] = 1
  elseif px ~= '' then
    command[#command + 1] = 'PX'
    command[#command + 1] = px
  end
  return redis.call(unpack(command)) and 1 or 0
end
"
    };
}

/// `compare_and_swap(key, expected, new, px)`: 1 when replaced, 0 when the key is missing or holds
/// something else.
macro_rules! lua_compare_and_swap {
    () => {
        r"
local function compare_and_swap(key, expected, new, px)
  if redis.call('GET', key) ~= expected then return 0 end
  return set(key, new, px, false)
end
"
    };
}

/// `append(key, value, px)`: the length after the append. The record's life is never shortened:
/// a record that was there (PTTL -1: no end, or what is left of its life) keeps its end unless
/// this one is later; one made now (PTTL -2) takes this end.
macro_rules! lua_append {
    () => {
        r"
local function append(key, value, px)
  local left = redis.call('PTTL', key)
  local length = redis.call('APPEND', key, value)
  if px == '' then
    redis.call('PERSIST', key)
  elseif left == -2 or (left >= 0 and left < tonumber(px)) then
    redis.call('PEXPIRE', key, px)
  end
  return length
end
"
    };
}

/// KEYS[1] = key; ARGV = expected, new, lifetime.
pub(super) const COMPARE_AND_SWAP: &str = concat!(
    lua_set!(),
    lua_compare_and_swap!(),
    "return compare_and_swap(KEYS[1], ARGV[1], ARGV[2], ARGV[3])"
);

/// KEYS[1] = key; ARGV[1] = the record expected. 1 when deleted, 0 when the key is missing or holds
/// something else.
pub(super) const COMPARE_AND_DELETE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
";

/// KEYS[1] = key; ARGV = the bytes to add, lifetime.
pub(super) const APPEND: &str = concat!(lua_append!(), "return append(KEYS[1], ARGV[1], ARGV[2])");

/// Runs store steps in order, atomically: KEYS holds one key per step; ARGV holds, per step, its
/// kind and then its arguments. `get`: none, answers the record or nil; `put`, `insert_new` and
/// `append`: the value, the lifetime; `compare_and_swap`: the expected record, the new one, the
/// lifetime; `claim_slot`: the lifetime. Answers a list, one answer per step, each the answer of
/// its function above. For a batch on one Cluster slot.
pub(super) const STEPS: &str = concat!(
    lua_set!(),
    lua_compare_and_swap!(),
    lua_append!(),
    r"
local answers, at = {}, 1
for i, key in ipairs(KEYS) do
  local kind = ARGV[at]
  if kind == 'get' then
    answers[i] = redis.call('GET', key)
    at = at + 1
  elseif kind == 'put' or kind == 'insert_new' then
    answers[i] = set(key, ARGV[at + 1], ARGV[at + 2], kind == 'insert_new')
    at = at + 3
  elseif kind == 'compare_and_swap' then
    answers[i] = compare_and_swap(key, ARGV[at + 1], ARGV[at + 2], ARGV[at + 3])
    at = at + 4
  elseif kind == 'append' then
    answers[i] = append(key, ARGV[at + 1], ARGV[at + 2])
    at = at + 3
  elseif kind == 'claim_slot' then
    answers[i] = set(key, '1', ARGV[at + 1], true)
    at = at + 2
  else
    return redis.error_reply('no such step: ' .. tostring(kind))
  end
end
return answers
"
);

/// KEYS[1] = counter key; ARGV[1] = window in milliseconds. Returns {count, milliseconds left}.
/// The window starts with the first event; a counter that somehow has no expiry gets one, so it can
/// never block forever.
const COUNT_IN_WINDOW: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
";

/// The one script sent by its SHA (`EVALSHA`, loaded when Redis lacks it): a counter is never
/// waited for, so nothing joins it in a pipeline. The others go as `EVAL` of their text, the one
/// form that fits in a pipeline before a `WAIT` or beside other steps (Redis caches them by SHA).
pub(super) fn count_in_window() -> Script {
    Script::new(COUNT_IN_WINDOW)
}
