//! The Lua scripts that make the multi-step operations atomic on the Redis server.

use redis::Script;

/// KEYS[1] = key; ARGV[1] = expected, ARGV[2] = new, ARGV[3] = lifetime in milliseconds (absent:
/// forever). Returns 1 when replaced, 0 when the key is missing or holds something else.
pub(super) const COMPARE_AND_SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return 0
end
if ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
";

/// KEYS[1] = key; ARGV[1] = the bytes to add, ARGV[2] = lifetime in milliseconds (absent: forever).
/// Returns the length after the append. The record's life is never shortened: a record that was
/// there (PTTL -1: no end, or what is left of its life) keeps its end unless this one is later;
/// one made now (PTTL -2) takes this end.
pub(super) const APPEND: &str = r"
local left = redis.call('PTTL', KEYS[1])
local length = redis.call('APPEND', KEYS[1], ARGV[1])
if not ARGV[2] then
  redis.call('PERSIST', KEYS[1])
elseif left == -2 or (left >= 0 and left < tonumber(ARGV[2])) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return length
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
/// waited for, so nothing joins it in a pipeline. The others go as `EVAL` of their text, the one
/// form that fits in a pipeline before a `WAIT` or beside other steps (Redis caches them by SHA).
pub(super) fn count_in_window() -> Script {
    Script::new(COUNT_IN_WINDOW)
}
