//! Each session's stored `last_seen_at` as this instance last read or wrote it, so a busy session
//! costs the store nothing until its next move is due.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::sessions::LAST_SEEN_PRECISION;

/// Past this many remembered sessions, those whose move is due go; unless that frees half of it
/// (most were seen within the period: a large event), all of them go, each then reading its record
/// once more. So the memo is scanned at most once per half of it filled, never at every new
/// session.
const REMEMBERED_AT_MOST: usize = 10_000;

#[derive(Default)]
pub(super) struct LastSeenMemo {
    seen_at: Mutex<HashMap<String, u64>>,
}

impl LastSeenMemo {
    /// Whether the session `sid`'s move may be due at `now` (its record is then to be read); if
    /// so, it is noted as seen `now` until the store answers ([`LastSeenMemo::stored`]), so other
    /// requests of the session do not ask again meanwhile.
    pub(super) fn may_be_due(&self, sid: &str, now: u64) -> bool {
        let due = |seen_at: u64| seen_at.saturating_add(LAST_SEEN_PRECISION.as_secs()) <= now;
        let mut memo = self.seen_at.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.get(sid).is_some_and(|&seen_at| !due(seen_at)) {
            return false;
        }
        if memo.len() >= REMEMBERED_AT_MOST {
            memo.retain(|_, seen_at| !due(*seen_at));
            if memo.len() > REMEMBERED_AT_MOST / 2 {
                memo.clear();
            }
        }
        memo.insert(sid.to_owned(), now);
        true
    }

    /// The `last_seen_at` the store holds for `sid`.
    pub(super) fn stored(&self, sid: &str, seen_at: u64) {
        let mut memo = self.seen_at.lock().unwrap_or_else(PoisonError::into_inner);
        memo.insert(sid.to_owned(), seen_at);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_due_again_a_period_after_the_stored_time() {
        let memo = LastSeenMemo::default();
        let period = LAST_SEEN_PRECISION.as_secs();
        assert!(memo.may_be_due("s1", 1_000), "never seen here");
        assert!(!memo.may_be_due("s1", 1_001), "asked already");
        memo.stored("s1", 990);
        assert!(!memo.may_be_due("s1", 990 + period - 1));
        assert!(memo.may_be_due("s1", 990 + period));
    }

    /// Sessions past the bound, every one seen within the period (a large event's first minute):
    /// the memo stays bounded, and a new session's check is no scan of it.
    #[test]
    fn sessions_past_the_bound_keep_the_memo_bounded() {
        let memo = LastSeenMemo::default();
        for n in 0..REMEMBERED_AT_MOST * 3 {
            assert!(memo.may_be_due(&format!("s{n}"), 1_000));
            assert!(memo.len() <= REMEMBERED_AT_MOST);
        }
    }
}
