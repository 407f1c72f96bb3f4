//! The Lua scripts that make the multi-step operations atomic on the Redis server.

use redis::Script;

/// Runs store steps in order: KEYS holds one key per step; ARGV holds, per step, its kind and then
/// its arguments, a lifetime being milliseconds or "" for forever. `get`: none, answers the record
/// or nil; `put`, `insert_new` and `append`: the value, the lifetime; `compare_and_swap`: the
/// expected record, the new one, the lifetime; `claim_slot`: the lifetime. Writes answer 1 when
/// made, 0 when not; `append` answers the length after it, and never shortens a record's life: a
/// record that was there (PTTL -1: no end, or what is left of its life) keeps its end unless this
/// one is later; one made now (PTTL -2) takes this end. A single compare-and-swap or append is a
/// batch of one; on a Cluster a batch whose keys share a slot runs as one, atomically.
pub(super) const STEPS: &str = r"
local function set(key, value, px, nx)
  local command = {'SET', key, value}
  if nx then command[#command + 1] = 'NX' end
  if px ~= '' then
    command[#command + 1] = 'PX'
    command[#command + 1] = px
  end
  return redis.call(unpack(command)) and 1 or 0
end
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
    answers[i] = 0
    if redis.call('GET', key) == ARGV[at + 1] then
      answers[i] = set(key, ARGV[at + 2], ARGV[at + 3], false)
    end
    at = at + 4
  elseif kind == 'append' then
    local left, px = redis.call('PTTL', key), ARGV[at + 2]
    answers[i] = redis.call('APPEND', key, ARGV[at + 1])
    if px == '' then
      redis.call('PERSIST', key)
    elseif left == -2 or (left >= 0 and left < tonumber(px)) then
      redis.call('PEXPIRE', key, px)
    end
    at = at + 3
  elseif kind == 'claim_slot' then
    answers[i] = set(key, '1', ARGV[at + 1], true)
    at = at + 2
  else
    return redis.error_reply('no such step: ' .. tostring(kind))
  end
end
return answers
";

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
/// waited for, so nothing joins it in a pipeline. [`STEPS`] goes as `EVAL` of its text, the one
/// form that fits in a pipeline before a `WAIT` or beside other steps (Redis caches it by SHA).
pub(super) fn count_in_window() -> Script {
    Script::new(COUNT_IN_WINDOW)
}
