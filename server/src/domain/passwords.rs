//! Password hashing (argon2id), and the bound on how many hashes run at once.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

use crate::config::PasswordHashing;
use meeteasy_protocol::Secret;

use super::AuthError;
use super::secrets::fill_random;
use super::turns::{Line, Turn};

/// Hashes a new password (CPU-heavy: run off the async threads).
pub async fn hash(password: Secret) -> Result<String, AuthError> {
    check_length(&password)?;
    let mut salt = [0u8; 16];
    fill_random(&mut salt)?;
    run_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|e| hashing_failed(&e))?;
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| hashing_failed(&e))
    })
    .await
}

/// Whether `password` matches `stored`; with no stored hash (unknown login) it spends the same
/// time on a dummy hash, so timing does not tell which logins exist.
pub async fn verify(password: Secret, stored: Option<String>) -> Result<bool, AuthError> {
    check_length(&password)?;
    let known = stored.is_some();
    run_blocking(move || {
        let phc = match stored {
            Some(phc) => phc,
            None => dummy_hash()?.to_owned(),
        };
        let parsed = PasswordHash::new(&phc).map_err(|e| hashing_failed(&e))?;
        let matches = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
}

fn check_length(password: &Secret) -> Result<(), AuthError> {
    let len = password.expose().chars().count();
    if len == 0 || len > 1024 {
        return Err(AuthError::InvalidRequest(
            "password: must be 1 to 1024 characters".into(),
        ));
    }
    Ok(())
}

/// Computes the dummy hash ahead of the first unknown login, which would otherwise take twice as long.
pub async fn warm_up() -> Result<(), AuthError> {
    run_blocking(|| dummy_hash().map(|_| ())).await
}

fn dummy_hash() -> Result<&'static str, AuthError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let salt = SaltString::encode_b64(b"meeteasy-dummy!!").map_err(|e| hashing_failed(&e))?;
    let hash = Argon2::default()
        .hash_password(b"not a password anyone has", &salt)
        .map_err(|e| hashing_failed(&e))?
        .to_string();
    Ok(DUMMY.get_or_init(|| hash))
}

fn hashing_failed(error: &dyn std::fmt::Display) -> AuthError {
    AuthError::Internal(format!("password hashing failed: {error}"))
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| hashing_failed(&e))?
}

/// Bounds the argon2 work running at once. Each hash takes a core and about 19 MiB for tens of
/// milliseconds, so a flood of password logins would otherwise take every core and the memory with
/// it: beyond `concurrent` hashes, requests wait in a queue of `queue`, for at most `queue_wait`,
/// and past that are answered `503 server_busy` at once.
pub struct HashingTurns {
    line: Line,
    queue_wait: Duration,
}

impl HashingTurns {
    pub fn new(limits: PasswordHashing) -> Self {
        Self {
            line: Line::new(limits.concurrent, limits.queue),
            queue_wait: limits.queue_wait,
        }
    }

    /// Waits for a turn, or refuses when the queue is full or the wait would be too long.
    pub async fn take(&self) -> Result<Turn, AuthError> {
        let turn = self.line.take(self.queue_wait).await;
        turn.ok_or(AuthError::Busy {
            retry_after: self.queue_wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(concurrent: usize, queue: usize, queue_wait_ms: u64) -> HashingTurns {
        HashingTurns::new(PasswordHashing {
            concurrent,
            queue,
            queue_wait: Duration::from_millis(queue_wait_ms),
        })
    }

    #[tokio::test]
    async fn beyond_the_running_hashes_and_a_full_queue_the_answer_is_busy_at_once() {
        let turns = turns(1, 0, 60_000);
        let first = turns.take().await.expect("a free turn");
        let started = tokio::time::Instant::now();
        let refused = turns.take().await.err();
        assert!(
            matches!(refused, Some(AuthError::Busy { retry_after }) if retry_after == Duration::from_secs(60)),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no queue to wait in"
        );
        drop(first);
        assert!(turns.take().await.is_ok(), "the turn is free again");
    }

    #[tokio::test]
    async fn a_queued_request_gets_the_next_turn_or_gives_up_after_the_queue_wait() {
        let turns = turns(1, 1, 200);
        let first = turns.take().await.expect("a free turn");
        // Queued, and still waiting when the queue wait ends.
        let started = tokio::time::Instant::now();
        assert!(matches!(turns.take().await, Err(AuthError::Busy { .. })));
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Queued (polled once: in the line, waiting for the running hash's turn), and served when
        // the running hash ends.
        let mut queued = std::pin::pin!(turns.take());
        let polled =
            std::future::poll_fn(|context| std::task::Poll::Ready(queued.as_mut().poll(context)));
        assert!(polled.await.is_pending(), "queued");
        drop(first);
        assert!(queued.await.is_ok());
    }
}
