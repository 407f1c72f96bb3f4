//! A bounded line for a guarded step: at most `at_once` requests go together, at most `waiting`
//! more wait, each for a bounded time, and the rest are refused at once. Password hashing takes its
//! turns from one line ([`super::passwords::HashingTurns`]); each client address from a line of
//! its own ([`super::address_turns::AddressTurns`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Line {
    /// Going plus waiting: a request that cannot get one of these does not even wait.
    admitted: Arc<Semaphore>,
    going: Arc<Semaphore>,
}

/// One turn (and the work around it that must not interleave, like counting the failure it
/// finds); the next in line goes when this is dropped.
pub struct Turn {
    _going: OwnedSemaphorePermit,
    _admitted: OwnedSemaphorePermit,
}

impl Line {
    pub fn new(at_once: usize, waiting: usize) -> Self {
        Self {
            admitted: Arc::new(Semaphore::new(at_once.saturating_add(waiting))),
            going: Arc::new(Semaphore::new(at_once)),
        }
    }

    /// A turn, waited for at most `wait`; `None` when the line is full or the wait ran out. A
    /// request dropped while it waits leaves the line.
    pub async fn take(&self, wait: Duration) -> Option<Turn> {
        let admitted = Arc::clone(&self.admitted).try_acquire_owned().ok()?;
        let going = Arc::clone(&self.going).acquire_owned();
        // Besides the wait running out, only a closed semaphore fails, and these are never closed.
        let going = tokio::time::timeout(wait, going).await.ok()?.ok()?;
        Some(Turn {
            _going: going,
            _admitted: admitted,
        })
    }
}
