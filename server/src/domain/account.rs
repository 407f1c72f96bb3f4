//! The caller's own account: adding or changing its password login (`POST /auth/me/password`).

use std::time::Duration;

use meeteasy_protocol::{Claims, Secret, SetPasswordRequest};

use crate::store::{Lifetime, Store};

use super::login_claims::{self, Claimed, LoginClaim};
use super::records::{self, Transition};
use super::users::{self, UserRecord, UserRef, normalize_login};
use super::{AuthError, AuthService, limits, passwords, sessions, store_keys, unix_now};

/// What the caller is told when ending the other sessions failed after a password change.
const SESSIONS_LEFT: &str = "the password was changed, but not every other session could be ended: end them with \"log out everywhere else\"";

impl AuthService {
    /// Adds a password login to the caller's account, or changes it (login, password or both).
    /// With a password already set, `current_password` must match it (wrong answers count toward
    /// the login's password limit, as failed logins do). A login held by another account is
    /// `identity_in_use`; one left behind by an account that moved to another login is taken
    /// over. Hashing takes a turn of the bounded argon2 pool.
    ///
    /// A changed password ends every other session of the account, as `revoke-others` does: a
    /// password is changed when someone else may know it, and what they opened with it must not
    /// outlive it. The sessions end right after the new password is written, so one opened with
    /// the old password meanwhile ends too; should ending them fail, the password stands changed
    /// and the error says so (the caller can end them with `revoke-others`).
    pub async fn set_password(
        &self,
        caller: &Claims,
        request: SetPasswordRequest,
    ) -> Result<(), AuthError> {
        let login = normalize_login(&request.login)?;
        let store = self.store.as_ref();
        let turn = self.hashing.take().await?;
        let user = self.user(&caller.sub).await?;
        let mut password_changed = false;
        if let Some(stored) = user.password_hash.clone() {
            let current = request.current_password.ok_or_else(|| {
                AuthError::InvalidRequest(
                    "current_password: required to change a password that is set".into(),
                )
            })?;
            // A request that only moves the login to another email or phone keeps the sessions.
            password_changed = current != request.password;
            let limits_key =
                store_keys::password_failures_for(user.login.as_deref().unwrap_or(&login));
            let limits = self.settings.password_limits;
            if let Some(retry_after) =
                limits::refused_for(store, &limits_key, limits.per_login).await?
            {
                return Err(AuthError::TooManyAttempts { retry_after });
            }
            if !passwords::verify(Secret::new(current), Some(stored)).await? {
                limits::count_failure(store, &limits_key, limits.window).await?;
                return Err(AuthError::InvalidCredentials);
            }
        }
        let hash = passwords::hash(Secret::new(request.password)).await?;
        // The pool's turn is for hashing: ending sessions below may take many store calls.
        drop(turn);
        let moved = write_password_login(store, &user, &login, &hash).await?;
        tracing::info!(account_event = "password_set", actor = %user.id, "account change");
        // From here on the change stands: each step is tried whatever became of the one before,
        // and a failure to end the sessions says what stands (an old login that cannot be let go
        // is left behind, harmless, and only logged).
        let mut sessions_left = None;
        if password_changed {
            match sessions::end_others(store, caller).await {
                Ok(ended) => tracing::info!(
                    account_event = "password_changed",
                    actor = %user.id,
                    sessions_ended = ended,
                    "account change"
                ),
                Err(cause) => sessions_left = Some(cause),
            }
        }
        if moved && user.login.as_ref().is_some_and(|old| *old != login) {
            // A key that cannot be let go is left behind, which logs in to nothing and may be
            // claimed: the change stands.
            if let Err(cause) = login_claims::let_go(store, &user).await {
                tracing::warn!(error = %cause, actor = %user.id, "an old login is left behind");
            }
        }
        match sessions_left {
            None => Ok(()),
            Some(cause) => Err(AuthError::StoreFailedAfter {
                done: SESSIONS_LEFT,
                cause,
            }),
        }
    }
}

/// Writes `hash` as `user`'s password and `login` as its login: `true` when the login moved (the
/// account did not hold it). A login the account does not hold is claimed first, so of two
/// accounts asking for it one gets it (`identity_in_use` for the other); the account says it is
/// claiming it before it takes the key, so a claim of another account finds the key held, not
/// left behind. Of two changes of one account at once (two windows), the first to write stands
/// and the other answers `server_busy`, letting go of what it claimed: it would undo the first
/// (a password changed since, perhaps because the first had leaked, or the login moved). So does
/// a change whose claim grew too old to be sure it still holds the key (see
/// [`LoginClaim::too_old_to_write`]); sent again, it claims afresh.
async fn write_password_login(
    store: &dyn Store,
    user: &UserRecord,
    login: &str,
    hash: &str,
) -> Result<bool, AuthError> {
    let key_now = store.get(&store_keys::login(login)).await?;
    let held_already =
        key_now.is_some_and(|value| login_claims::holds_as_its_login(user, login, &value));
    let claim = if held_already {
        None
    } else {
        Some(LoginClaim::new(login)?)
    };
    if let Some(claim) = &claim {
        users::update(store, &user.id, |record| {
            record.claiming_login = Some(claim.clone());
        })
        .await?;
        match login_claims::claim(store, claim, &user.id).await? {
            Claimed::Taken => {}
            Claimed::HeldBy(holder) => {
                login_claims::withdraw(store, claim, &user.id).await?;
                // Held by this very account: another change of it (a second window) took it
                // first.
                return Err(if holder == user.id {
                    AuthError::Busy {
                        retry_after: Duration::from_secs(1),
                    }
                } else {
                    AuthError::IdentityInUse("this login belongs to another account")
                });
            }
        }
    }
    // Listed before the account changes (listing twice is harmless): once the password is
    // written, a failure can no longer be retried with the same current password.
    users::note_password_user(store, &user.id).await?;
    let written = records::update(
        store,
        &store_keys::user(&user.id),
        |current: Option<&UserRecord>| {
            let current = current.ok_or_else(|| users::no_user(&UserRef::Id(user.id.clone())))?;
            // This call's own write, read again: a compare-and-swap sent twice (a Redis Cluster
            // resending it) answers as if it had lost, and another change may have followed it.
            // The hash's salt and the claim's id are this call's alone.
            let own_claim_written = claim
                .as_ref()
                .is_some_and(|claim| current.login_claim.as_deref() == Some(claim.id.as_str()));
            if current.password_hash.as_deref() == Some(hash) || own_claim_written {
                return Ok(Transition::Keep(true));
            }
            // Another change of this account was written since it was read: the first stands. So
            // does another account that took the login over, should this claim have been left
            // too long to be sure it still holds the key (an instance paused, clocks apart).
            let claim_now = current.claiming_login.as_ref();
            let claim_lost = claim.as_ref().is_some_and(|claim| {
                !claim_now.is_some_and(|now| now.is(claim) && !now.too_old_to_write(unix_now()))
            });
            let changed_meanwhile = current.login != user.login
                || current.login_claim != user.login_claim
                || current.password_hash != user.password_hash
                || claim_lost;
            if changed_meanwhile {
                return Ok(Transition::Keep(false));
            }
            let mut next = current.clone();
            next.password_hash = Some(hash.to_owned());
            if let Some(claim) = &claim {
                next.login = Some(claim.login.clone());
                next.login_claim = Some(claim.id.clone());
                next.claiming_login = None;
            }
            Ok(Transition::Write(next, Lifetime::Forever, true))
        },
    )
    .await?;
    if !written {
        if let Some(claim) = &claim {
            login_claims::withdraw(store, claim, &user.id).await?;
        }
        return Err(AuthError::Busy {
            retry_after: Duration::from_secs(1),
        });
    }
    Ok(claim.is_some())
}

#[cfg(test)]
mod tests;
