//! What the embedded store keeps in memory rather than in the file: rate gates and window counters.
//! The store promises to keep neither (see [`Store::claim_slot`](crate::store::Store::claim_slot)),
//! and one data directory serves one process, so memory holds them as well as the file would,
//! without a write, an fsync and a hop to the database thread on every poll and scene.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::{StoreError, WindowCount};

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

#[derive(Default)]
pub(super) struct Slots {
    table: Mutex<Table>,
}

impl Slots {
    pub(super) fn claim(&self, key: &str, lifetime: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut table = self.lock()?;
        if table.by_key.get(key).is_some_and(|slot| slot.ends_at > now) {
            return Ok(false);
        }
        table.insert(key, now + lifetime, 1, now);
        Ok(true)
    }

    pub(super) fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, StoreError> {
        let now = Instant::now();
        let mut table = self.lock()?;
        let (count, ends_at) = match table.by_key.get(key) {
            Some(open) if open.ends_at > now => (open.count.saturating_add(1), open.ends_at),
            Some(_) | None => (1, now + window),
        };
        table.insert(key, ends_at, count, now);
        Ok(WindowCount {
            count,
            resets_in: ends_at - now,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Table>, StoreError> {
        // Only a panic while holding the lock poisons it, and no section holding it can panic.
        self.table
            .lock()
            .map_err(|_| StoreError::Corrupt("the in-memory rate gates were poisoned".into()))
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
        assert!(slots.claim("gate", Duration::from_secs(60)).unwrap());
        assert!(!slots.claim("gate", Duration::from_secs(60)).unwrap());
        assert!(slots.claim("other", Duration::from_secs(60)).unwrap());
        assert!(slots.claim("brief", Duration::ZERO).unwrap());
        assert!(
            slots.claim("brief", Duration::ZERO).unwrap(),
            "ended at once"
        );
    }

    #[test]
    fn ended_slots_are_dropped_once_the_table_is_large() {
        let slots = Slots::default();
        for n in 0..FIRST_PRUNE_AT {
            assert!(slots.claim(&format!("gate:{n}"), Duration::ZERO).unwrap());
        }
        assert!(slots.claim("live", Duration::from_secs(60)).unwrap());
        assert_eq!(slots.lock().unwrap().by_key.len(), 1, "only the live one");
    }

    #[test]
    fn live_slots_are_kept_and_the_next_prune_waits_for_the_table_to_double() {
        let slots = Slots::default();
        for n in 0..=FIRST_PRUNE_AT {
            assert!(
                slots
                    .claim(&format!("gate:{n}"), Duration::from_secs(60))
                    .unwrap()
            );
        }
        let table = slots.lock().unwrap();
        assert_eq!(table.by_key.len(), FIRST_PRUNE_AT + 1);
        assert_eq!(table.prune_at, 2 * FIRST_PRUNE_AT);
    }
}
