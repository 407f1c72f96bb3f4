//! What the embedded store keeps in memory rather than in the file: rate gates and window counters.
//! The store promises to keep neither (see [`Store::claim_slot`](crate::store::Store::claim_slot)),
//! and one data directory serves one process, so memory holds them as well as the file would,
//! without a write, an fsync and a hop to the database thread on every poll and scene.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::store::WindowCount;

/// A gate or a window counter, held until `ends_at`.
struct Slot {
    ends_at: Instant,
    count: u64,
}

#[derive(Default)]
struct Table {
    by_key: HashMap<String, Slot>,
    /// Inserting a new key at this size first drops the ended slots: memory follows the live ones,
    /// at a cost spread over at least as many inserts as there are slots.
    prune_at: usize,
}

/// The size of the first prune.
const FIRST_PRUNE_AT: usize = 4096;

/// The furthest end a slot is given: a lifetime past the clock's range (`Duration::MAX`) ends here,
/// as Redis clamps it too.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 86_400);

/// When a slot given `lifetime` at `now` ends.
fn end_of(now: Instant, lifetime: Duration) -> Instant {
    (now.checked_add(lifetime))
        .or_else(|| now.checked_add(LONGEST))
        .unwrap_or(now)
}

#[derive(Default)]
pub(super) struct Slots {
    table: Mutex<Table>,
}

impl Slots {
    pub(super) fn claim(&self, key: &str, lifetime: Duration) -> bool {
        let now = Instant::now();
        let mut table = self.lock();
        if table.by_key.get(key).is_some_and(|slot| slot.ends_at > now) {
            return false;
        }
        table.insert(key, end_of(now, lifetime), 1, now);
        true
    }

    pub(super) fn count_in_window(&self, key: &str, window: Duration) -> WindowCount {
        let now = Instant::now();
        let mut table = self.lock();
        let (count, ends_at) = match table.by_key.get(key) {
            Some(open) if open.ends_at > now => (open.count.saturating_add(1), open.ends_at),
            Some(_) | None => (1, end_of(now, window)),
        };
        table.insert(key, ends_at, count, now);
        WindowCount {
            count,
            resets_in: ends_at - now,
        }
    }

    /// The table as it is: every section holding it leaves it whole at each step (a map insert or
    /// prune), so a panic in one (an allocation failing) poisons nothing another may not read.
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    fn insert(&mut self, key: &str, ends_at: Instant, count: u64, now: Instant) {
        if self.by_key.len() >= self.prune_at.max(FIRST_PRUNE_AT) && !self.by_key.contains_key(key)
        {
            self.by_key.retain(|_, slot| slot.ends_at > now);
            self.prune_at = 2 * self.by_key.len();
        }
        self.by_key.insert(key.to_owned(), Slot { ends_at, count });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_slot_refuses_until_it_ends() {
        let slots = Slots::default();
        assert!(slots.claim("gate", Duration::from_secs(60)));
        assert!(!slots.claim("gate", Duration::from_secs(60)));
        assert!(slots.claim("other", Duration::from_secs(60)));
        assert!(slots.claim("brief", Duration::ZERO));
        assert!(slots.claim("brief", Duration::ZERO), "ended at once");
    }

    #[test]
    fn ended_slots_are_dropped_once_the_table_is_large() {
        let slots = Slots::default();
        for n in 0..FIRST_PRUNE_AT {
            assert!(slots.claim(&format!("gate:{n}"), Duration::ZERO));
        }
        assert!(slots.claim("live", Duration::from_secs(60)));
        assert_eq!(slots.lock().by_key.len(), 1, "only the live one");
    }

    #[test]
    fn live_slots_are_kept_and_the_next_prune_waits_for_the_table_to_double() {
        let slots = Slots::default();
        for n in 0..=FIRST_PRUNE_AT {
            assert!(slots.claim(&format!("gate:{n}"), Duration::from_secs(60)));
        }
        let table = slots.lock();
        assert_eq!(table.by_key.len(), FIRST_PRUNE_AT + 1);
        assert_eq!(table.prune_at, 2 * FIRST_PRUNE_AT);
    }
}
