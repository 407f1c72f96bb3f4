//! Exponential backoff for retrying an unreachable server: 1 s, 2 s, 4 s ... capped at 30 s.

use std::time::Duration;

use crate::api::ApiError;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt; each call doubles it up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = FIRST_DELAY
            .saturating_mul(2u32.saturating_pow(self.failures.min(16)))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// The delay after `failed`: the next one, or longer where the server's `Retry-After` (a 429,
    /// a 503) asks for it.
    pub fn next_delay_after(&mut self, failed: &ApiError) -> Duration {
        self.next_delay()
            .max(failed.retry_after().unwrap_or_default())
    }

    /// Called after a success: the next failure starts again from the first delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), FIRST_DELAY);
    }
}
