//! Password hashing (argon2id) and the attempt limits that keep password login from being guessed.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

use crate::store::Store;
use meeteasy_protocol::Secret;

use super::AuthError;
use super::secrets::fill_random;
use super::store_keys;

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

/// Counts a login attempt against its login and its address; refuses beyond either limit.
pub async fn limit_attempts(
    store: &dyn Store,
    login: &str,
    ip: &str,
    per_login: u64,
    per_ip: u64,
    window: Duration,
) -> Result<(), AuthError> {
    let by_login = store
        .count_in_window(&store_keys::password_attempts_for(login), window)
        .await?;
    let by_ip = store
        .count_in_window(&store_keys::password_attempts_from(ip), window)
        .await?;
    let over = [(by_login, per_login), (by_ip, per_ip)]
        .into_iter()
        .filter(|(count, limit)| count.count > *limit)
        .map(|(count, _)| count.resets_in)
        .max();
    match over {
        Some(retry_after) => Err(AuthError::TooManyAttempts { retry_after }),
        None => Ok(()),
    }
}
