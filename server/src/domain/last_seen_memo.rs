//! Each session's stored `last_seen_at` as this instance last read or wrote it, so a busy session
//! costs the store nothing until its next move is due.

use std::sync::{Mutex, PoisonError};

use super::recent::Recent;
use super::sessions::LAST_SEEN_PRECISION;

/// How many sessions are remembered at most (about a MB); those seen least recently go first (see
/// [`Recent`]), and such a session reads its record once more when next seen.
const REMEMBERED_AT_MOST: usize = 20_000;

pub(super) struct LastSeenMemo {
    seen_at: Mutex<Recent<u64>>,
}

impl Default for LastSeenMemo {
    fn default() -> Self {
        Self {
            seen_at: Mutex::new(Recent::holding_at_most(REMEMBERED_AT_MOST)),
        }
    }
}

impl LastSeenMemo {
    /// Whether the session `sid`'s move may be due at `now`, for a token of it `issued_at` (its
    /// record is then to be read); if so, it is noted as seen `now` until the store answers
    /// ([`LastSeenMemo::stored`]), so other requests of the session do not ask again meanwhile.
    ///
    /// A session is recorded seen when its token is made, and its `last_seen_at` only moves on,
    /// so a token made within the period has no move due, whatever this instance remembers: a
    /// fresh login's first verifications, on any instance, read no record and fill no memo.
    pub(super) fn may_be_due(&self, sid: &str, issued_at: u64, now: u64) -> bool {
        let due = |seen_at: u64| seen_at.saturating_add(LAST_SEEN_PRECISION.as_secs()) <= now;
        if !due(issued_at) {
            return false;
        }
        let mut memo = self.seen_at.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.get(sid).is_some_and(|&seen_at| !due(seen_at)) {
            return false;
        }
        memo.insert(sid, now);
        true
    }

    /// The `last_seen_at` the store holds for `sid`.
    pub(super) fn stored(&self, sid: &str, seen_at: u64) {
        let mut memo = self.seen_at.lock().unwrap_or_else(PoisonError::into_inner);
        memo.insert(sid, seen_at);
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

    /// Issued at least a period before the first look: tokens this old may owe a move.
    const ISSUED: u64 = 100;

    #[test]
    fn a_session_is_due_again_a_period_after_the_stored_time() {
        let memo = LastSeenMemo::default();
        let period = LAST_SEEN_PRECISION.as_secs();
        assert!(memo.may_be_due("s1", ISSUED, 1_000), "never seen here");
        assert!(!memo.may_be_due("s1", ISSUED, 1_001), "asked already");
        memo.stored("s1", 990);
        assert!(!memo.may_be_due("s1", ISSUED, 990 + period - 1));
        assert!(memo.may_be_due("s1", ISSUED, 990 + period));
    }

    /// A session's `last_seen_at` is never before its token's issue: within a period of that,
    /// nothing is due, and nothing is remembered (a crowd's fresh logins leave the memo alone).
    #[test]
    fn a_token_issued_within_the_period_has_no_move_due() {
        let memo = LastSeenMemo::default();
        let period = LAST_SEEN_PRECISION.as_secs();
        assert!(!memo.may_be_due("s1", 1_000, 1_000));
        assert!(!memo.may_be_due("s1", 1_000, 1_000 + period - 1));
        assert_eq!(memo.len(), 0, "nothing remembered");
        assert!(memo.may_be_due("s1", 1_000, 1_000 + period), "a period on");

        // Whatever the memo holds: a time a period old, noted by this instance.
        memo.stored("s2", 900);
        assert!(!memo.may_be_due("s2", 1_000, 1_000), "a fresh token of it");
    }

    /// Sessions past the bound, every one seen within the period (a large event, a minute or more
    /// after its logins): the memo stays bounded, and keeps the sessions seen again.
    #[test]
    fn sessions_past_the_bound_keep_the_memo_bounded() {
        let memo = LastSeenMemo::default();
        memo.stored("busy", 1_000);
        for n in 0..REMEMBERED_AT_MOST * 3 {
            assert!(memo.may_be_due(&format!("s{n}"), ISSUED, 1_000));
            assert!(memo.len() <= REMEMBERED_AT_MOST);
            if n % 1_000 == 0 {
                assert!(
                    !memo.may_be_due("busy", ISSUED, 1_001),
                    "after {n}: not due, still known"
                );
            }
        }
    }
}
