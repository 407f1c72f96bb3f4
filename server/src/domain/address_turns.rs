//! Turns per client address (as limits count it: an IPv6 /64 is one): at most a few of one address's
//! requests take a guarded step at once, and the rest wait in line. A limit that counts only
//! failures reads its count before the step and counts after it; without turns, a hundred requests
//! sent at once would all pass the read before the first failure was counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{AuthError, ClientAddr};

/// Past this many lines, those nobody holds or waits in are dropped (a waiter whose request was
/// cancelled leaves its line behind).
const LINES_LIMIT: usize = 10_000;

pub struct AddressTurns {
    per_address: usize,
    lines: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One address's turn; the next request of the address goes when this is dropped.
pub struct AddressTurn<'a> {
    permit: Option<OwnedSemaphorePermit>,
    address: String,
    turns: &'a AddressTurns,
}

impl AddressTurns {
    pub fn new(per_address: usize) -> Self {
        Self {
            per_address,
            lines: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `from`'s turns.
    pub async fn take(&self, from: &ClientAddr) -> Result<AddressTurn<'_>, AuthError> {
        let address = from.limit_key();
        let line = {
            let mut lines = self.lines();
            if lines.len() >= LINES_LIMIT {
                lines.retain(|_, line| Arc::strong_count(line) > 1);
            }
            let line = lines.entry(address.clone());
            Arc::clone(line.or_insert_with(|| Arc::new(Semaphore::new(self.per_address))))
        };
        let permit = line
            .acquire_owned()
            .await
            .map_err(|closed| AuthError::Internal(format!("a turn of {address}: {closed}")))?;
        Ok(AddressTurn {
            permit: Some(permit),
            address,
            turns: self,
        })
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn line_count(&self) -> usize {
        self.lines().len()
    }
}

impl Drop for AddressTurn<'_> {
    /// Gives the turn back, and drops the address's line once nobody holds or waits for a turn in
    /// it (new holders and waiters take their share of the line under the same lock).
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut lines = self.turns.lines();
        if lines
            .get(&self.address)
            .is_some_and(|line| Arc::strong_count(line) == 1)
        {
            lines.remove(&self.address);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn from(address: &str) -> ClientAddr {
        ClientAddr(address.to_owned())
    }

    #[tokio::test]
    async fn an_address_waits_past_its_turns_while_others_go_on() {
        let turns = AddressTurns::new(2);
        let venue = from("198.51.100.7");
        let first = turns.take(&venue).await.unwrap();
        let _second = turns.take(&venue).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), turns.take(&venue)).await;
        assert!(
            third.is_err(),
            "a third turn of the address while two are held"
        );
        // One /64 is one address; another address has turns of its own.
        let _elsewhere = turns.take(&from("203.0.113.9")).await.unwrap();
        let (v6, same_64) = (from("2001:db8::1"), from("2001:db8::ffff:2"));
        let _held = [
            turns.take(&v6).await.unwrap(),
            turns.take(&v6).await.unwrap(),
        ];
        let same = tokio::time::timeout(Duration::from_millis(50), turns.take(&same_64)).await;
        assert!(same.is_err(), "the /64's two turns are taken");

        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), turns.take(&venue)).await;
        assert!(third.is_ok(), "a turn given back goes to the next in line");
    }

    #[tokio::test]
    async fn lines_nobody_holds_are_dropped() {
        let turns = AddressTurns::new(1);
        for host in 0..50 {
            let turn = turns.take(&from(&format!("192.0.2.{host}"))).await.unwrap();
            drop(turn);
        }
        assert_eq!(turns.line_count(), 0);
    }
}
