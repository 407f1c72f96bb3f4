//! The caller's own account: adding or changing its password login (`POST /auth/me/password`).

use meeteasy_protocol::{Claims, Secret, SetPasswordRequest};

use crate::store::Lifetime;

use super::users::{self, normalize_login};
use super::{AuthError, AuthService, limits, passwords, sessions, store_keys};

/// What the caller is told when the old email or phone could not be let go after a change.
const OLD_LOGIN_KEPT: &str = "the password login was changed, but the store failed to let go of the old email or phone: it still logs in to this account, with the new password";

/// What the caller is told when ending the other sessions failed after a password change.
const SESSIONS_LEFT: &str = "the password was changed, but not every other session could be ended: end them with \"log out everywhere else\"";

/// Both of the above.
const BOTH_LEFT: &str = "the password login was changed, but not every other session could be ended (end them with \"log out everywhere else\"), and the old email or phone still logs in to this account, with the new password";

impl AuthService {
    /// Adds a password login to the caller's account, or changes it (login, password or both).
    /// With a password already set, `current_password` must match it (wrong answers count toward
    /// the login's password limit, as failed logins do). A login held by another account is
    /// `identity_in_use`. Hashing takes a turn of the bounded argon2 pool.
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
        // The login is claimed first, in one step: of two accounts asking for it, one gets it.
        let login_key = store_keys::login(&login);
        if !store
            .insert_new(&login_key, user.id.as_bytes(), Lifetime::Forever)
            .await?
        {
            let holder = store.get(&login_key).await?;
            if holder.as_deref() != Some(user.id.as_bytes()) {
                return Err(AuthError::IdentityInUse(
                    "this login belongs to another account",
                ));
            }
        }
        // Listed before the account changes (listing twice is harmless): once the password is
        // written, a failure can no longer be retried with the same request.
        users::note_password_user(store, &user.id).await?;
        let previous = users::update(store, &user.id, |record| {
            record.login = Some(login.clone());
            record.password_hash = Some(hash.clone());
        })
        .await
        .map(|_| user.login.clone())?;
        tracing::info!(account_event = "password_set", actor = %user.id, "account change");
        // From here on the change stands: each step is tried whatever became of the one before,
        // and a store failure says what stands.
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
        let mut old_login_kept = None;
        if let Some(old) = previous.filter(|old| *old != login) {
            old_login_kept = store.delete(&store_keys::login(&old)).await.err();
        }
        let (done, cause) = match (sessions_left, old_login_kept) {
            (None, None) => return Ok(()),
            (Some(cause), None) => (SESSIONS_LEFT, cause),
            (None, Some(cause)) => (OLD_LOGIN_KEPT, cause),
            (Some(cause), Some(old_login_cause)) => {
                // One cause goes with the answer; the other is logged here.
                tracing::warn!(error = %old_login_cause, "cannot let go of an old login");
                (BOTH_LEFT, cause)
            }
        };
        Err(AuthError::StoreFailedAfter { done, cause })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::service::SessionUser;
    use super::super::test_support::{
        Calls, Fault, FaultyStore, console_password_login, organizer, service_on, settings,
    };
    use super::*;
    use crate::store::Store;

    /// Ann, with the password `first` for her login ann@example.org, and a service on `store`
    /// whose console sessions of hers are `count` tokens' claims.
    async fn ann_with_sessions(
        store: &Arc<FaultyStore>,
        count: usize,
    ) -> (super::super::test_support::TestService, Vec<Claims>) {
        let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
        let ann = organizer(store.as_ref(), "ann").await;
        let first = passwords::hash(Secret::new("first")).await.unwrap();
        let set = |record: &mut users::UserRecord| record.password_hash = Some(first.clone());
        let ann = users::update(store.as_ref(), &ann.id, set).await.unwrap();
        let mut opened_sessions = Vec::new();
        for _ in 0..count {
            let opened = service.open_session(SessionUser::Known(&ann), console_password_login());
            let token = opened.await.unwrap().response.access_token;
            opened_sessions.push(service.verify(&token).await.unwrap());
        }
        (service, opened_sessions)
    }

    /// Letting go of the old login fails after the password and the login changed: the other
    /// sessions have ended already (they end first), and the answer says what stands.
    #[tokio::test]
    async fn a_change_whose_old_login_cannot_go_has_ended_the_other_sessions() {
        let store = FaultyStore::new();
        let (service, ann_sessions) = ann_with_sessions(&store, 2).await;
        let old_login = store_keys::login("ann@example.org");
        store.fail_next(Calls::Write, &old_login, Fault::FailBefore);

        let change = SetPasswordRequest {
            login: "ann@example.com".into(),
            password: "second".into(),
            current_password: Some("first".into()),
        };
        let said = service
            .set_password(&ann_sessions[0], change)
            .await
            .unwrap_err();
        assert!(store.all_faults_hit(), "the old login's release failed");
        let said = said.to_string();
        assert!(
            said.contains("the old email or phone: it still logs in"),
            "{said}"
        );
        let store = store.as_ref();
        let [caller, other] = [&ann_sessions[0], &ann_sessions[1]];
        let other_ended = sessions::is_revoked(store, &other.sub, &other.sid).await;
        assert!(other_ended.unwrap(), "the other session ended");
        let caller_ended = sessions::is_revoked(store, &caller.sub, &caller.sid).await;
        assert!(!caller_ended.unwrap(), "the caller's stays");
    }

    /// Ending the other sessions fails once the new password is written: the answer says the
    /// password changed, and how to end them, rather than leaving the caller to retry with a
    /// password that is no longer the current one.
    #[tokio::test]
    async fn a_change_whose_sessions_cannot_end_says_the_password_changed() {
        let store = FaultyStore::new();
        let (service, ann_sessions) = ann_with_sessions(&store, 1).await;
        let (caller, ann_id) = (&ann_sessions[0], ann_sessions[0].sub.clone());
        let index = store_keys::user_sessions(&ann_id);
        store.fail_next(Calls::Read, &index, Fault::FailBefore);

        let change = SetPasswordRequest {
            login: "ann@example.org".into(),
            password: "second".into(),
            current_password: Some("first".into()),
        };
        let said = service.set_password(caller, change).await.unwrap_err();
        assert!(store.all_faults_hit(), "the sessions' index was read");
        let said = said.to_string();
        assert!(said.contains("the password was changed"), "{said}");
        let stored = users::get(store.as_ref(), &ann_id).await.unwrap().unwrap();
        let second = Secret::new("second");
        assert!(
            passwords::verify(second, stored.password_hash)
                .await
                .unwrap()
        );
    }
}
