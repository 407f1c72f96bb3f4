//! Turns per client address (as limits count it: an IPv6 /64 is one): at most a few of one address's
//! requests take a guarded step at once, and a bounded line of others waits a bounded time. A limit
//! that counts only failures reads its count before the step and counts after it; without turns, a
//! hundred requests sent at once would all pass the read before the first failure was counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::turns::{Line, Turn};
use super::{AuthError, ClientAddr};

/// Past this many lines, those nobody holds or waits in are dropped (a waiter whose request was
/// cancelled leaves its line behind).
const LINES_LIMIT: usize = 10_000;

pub struct AddressTurns {
    bounds: TurnBounds,
    lines: Mutex<HashMap<String, Arc<Line>>>,
}

/// How many of one address's requests go at once, how many more may wait, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct TurnBounds {
    pub at_once: usize,
    pub waiting: usize,
    pub wait: Duration,
}

/// One address's turn; the next request of the address goes when this is dropped. While the
/// request still waits for its turn it holds no permits yet, and a request dropped then (its client
/// gone) leaves its line all the same.
pub struct AddressTurn<'a> {
    /// The turn, once it came.
    came: Option<Turn>,
    line: Arc<Line>,
    address: String,
    turns: &'a AddressTurns,
}

impl AddressTurns {
    pub fn new(bounds: TurnBounds) -> Self {
        Self {
            bounds,
            lines: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `from`'s turns; `429 too_many_requests` when its line is full or the wait
    /// would be longer than the bound (the address sends more than it can be answered).
    pub async fn take(&self, from: &ClientAddr) -> Result<AddressTurn<'_>, AuthError> {
        let address = from.limit_key();
        let line = {
            let mut lines = self.lines();
            if lines.len() >= LINES_LIMIT {
                lines.retain(|_, line| Arc::strong_count(line) > 1);
            }
            let line = lines
                .entry(address.clone())
                .or_insert_with(|| Arc::new(Line::new(self.bounds.at_once, self.bounds.waiting)));
            Arc::clone(line)
        };
        // From here on, however this ends (refused, or dropped while it waits), the turn leaves
        // the line when dropped.
        let mut turn = AddressTurn {
            came: None,
            line,
            address,
            turns: self,
        };
        turn.came = turn.line.take(self.bounds.wait).await;
        if turn.came.is_none() {
            return Err(AuthError::TooManyRequests {
                retry_after: self.bounds.wait,
            });
        }
        Ok(turn)
    }

    /// Drops `address`'s line when no one but the map and the turn leaving it holds it. New
    /// holders and waiters take their share under the same lock.
    fn leave(&self, address: &str) {
        let mut lines = self.lines();
        if lines
            .get(address)
            .is_some_and(|line| Arc::strong_count(line) == 2)
        {
            lines.remove(address);
        }
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Line>>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn line_count(&self) -> usize {
        self.lines().len()
    }
}

impl Drop for AddressTurn<'_> {
    /// Leaves the line (dropping it once nobody else holds or waits in it); the turn, if it came,
    /// is given back right after.
    fn drop(&mut self) {
        self.turns.leave(&self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: TurnBounds = TurnBounds {
        at_once: 2,
        waiting: 1,
        wait: Duration::from_millis(200),
    };

    fn from(address: &str) -> ClientAddr {
        ClientAddr(address.to_owned())
    }

    fn is_busy(taken: Result<AddressTurn<'_>, AuthError>) -> bool {
        matches!(taken, Err(AuthError::TooManyRequests { .. }))
    }

    #[tokio::test]
    async fn an_address_waits_past_its_turns_while_others_go_on() {
        let turns = AddressTurns::new(BOUNDS);
        let venue = from("198.51.100.7");
        let first = turns.take(&venue).await.unwrap();
        let _second = turns.take(&venue).await.unwrap();
        // One /64 is one address; another address has turns of its own.
        let _elsewhere = turns.take(&from("203.0.113.9")).await.unwrap();
        let v6 = from("2001:db8::1");
        let _v6 = [
            turns.take(&v6).await.unwrap(),
            turns.take(&v6).await.unwrap(),
        ];
        assert!(
            is_busy(turns.take(&from("2001:db8::ffff:2")).await),
            "the /64's turns are taken"
        );

        // The third waits in line and goes when a turn is given back.
        let third = turns.take(&venue);
        let (third, ()) = tokio::join!(third, async {
            tokio::task::yield_now().await;
            drop(first);
        });
        assert!(third.is_ok(), "a turn given back goes to the one waiting");
    }

    #[tokio::test]
    async fn a_full_line_or_a_long_wait_is_refused_at_once_or_within_the_bound() {
        let turns = AddressTurns::new(BOUNDS);
        let venue = from("198.51.100.7");
        let _going = [
            turns.take(&venue).await.unwrap(),
            turns.take(&venue).await.unwrap(),
        ];
        let started = tokio::time::Instant::now();
        assert!(is_busy(turns.take(&venue).await), "waited past the bound");
        assert!(started.elapsed() >= BOUNDS.wait);
        // One waits (the line holds one); the next finds the line full and is refused at once.
        let (waiting, full) = tokio::join!(turns.take(&venue), async {
            tokio::task::yield_now().await;
            let started = tokio::time::Instant::now();
            (is_busy(turns.take(&venue).await), started.elapsed())
        });
        assert!(is_busy(waiting));
        assert!(
            full.0 && full.1 < BOUNDS.wait,
            "a full line refuses at once: {full:?}"
        );
    }

    /// A request dropped while it waits (its client gone) leaves no line behind once the others
    /// are done, and takes no turn.
    #[tokio::test]
    async fn a_request_dropped_while_it_waits_leaves_no_line_behind() {
        let turns = AddressTurns::new(BOUNDS);
        let venue = from("198.51.100.7");
        let going = [
            turns.take(&venue).await.unwrap(),
            turns.take(&venue).await.unwrap(),
        ];
        let waiting = tokio::time::timeout(Duration::from_millis(20), turns.take(&venue)).await;
        assert!(waiting.is_err(), "it was still waiting when dropped");
        drop(going);
        assert_eq!(turns.line_count(), 0);
    }

    #[tokio::test]
    async fn lines_nobody_holds_are_dropped() {
        let turns = AddressTurns::new(BOUNDS);
        for host in 0..50 {
            let turn = turns.take(&from(&format!("192.0.2.{host}"))).await.unwrap();
            drop(turn);
        }
        let venue = from("198.51.100.7");
        let _going = [
            turns.take(&venue).await.unwrap(),
            turns.take(&venue).await.unwrap(),
        ];
        assert!(is_busy(turns.take(&venue).await));
        assert_eq!(turns.line_count(), 1, "only the line still held");
    }
}
