//! Who holds an email or phone: its login key leads to one account, written by one claim.
//!
//! A key's value is the account's id and the id of the claim that wrote it (a login key from
//! before claims had ids holds the account's id alone). Every claim has an id of its own, so a
//! value is never written twice: a compare-and-swap or compare-and-delete on a value read earlier
//! takes exactly what was read, never a claim made since with the same account's id.
//!
//! An account holds a key while its record names the key's value: as its login (with the claim
//! it holds it by), or as the login one of its changes is claiming (with that change's claim).
//! Any other value is left behind (a change that could not let go of its old login, a claim that
//! lost, an account gone): it logs in to nothing, and the next claim takes it over. So is the
//! value of a claim its change stopped on half way and did not send again within
//! [`CLAIM_ABANDONED_AFTER`].

use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Store};

use super::secrets::random_id;
use super::users::{self, UserRecord};
use super::{AuthError, store_keys, unix_now};

/// How long a claim holds its login before its change writes the account: a change takes
/// moments, so a claim older than this was stopped half way (the store failed) and not sent again,
/// and no one else should wait on it for the login.
pub(super) const CLAIM_ABANDONED_AFTER: u64 = 3_600;

/// A claim of a login by one change of an account (or its creation), with an id of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginClaim {
    pub login: String,
    pub id: String,
    /// When it was made (Unix seconds); none in claims made before that was kept, which hold
    /// until their change is finished or replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_at: Option<u64>,
}

impl LoginClaim {
    pub fn new(login: &str) -> Result<Self, AuthError> {
        Ok(Self {
            login: login.to_owned(),
            id: random_id()?,
            made_at: Some(unix_now()),
        })
    }

    /// Whether `other` is this claim, whatever their times say (an older instance writes a claim
    /// again without its time).
    pub fn is(&self, other: &LoginClaim) -> bool {
        self.id == other.id && self.login == other.login
    }

    /// Whether its change may no longer write it at `now`: after half the time it holds its login,
    /// so a change never writes a login its claim may have stopped holding, even by a clock half
    /// an hour off.
    pub(super) fn too_old_to_write(&self, now: u64) -> bool {
        self.older_than(CLAIM_ABANDONED_AFTER / 2, now)
    }

    /// Whether its change was stopped too long ago to hold the login at `now`.
    fn abandoned(&self, now: u64) -> bool {
        self.older_than(CLAIM_ABANDONED_AFTER, now)
    }

    /// Whether it was made `age` seconds or more before `now` (a claim without a time never is).
    fn older_than(&self, age: u64, now: u64) -> bool {
        self.made_at
            .is_some_and(|made_at| now >= made_at.saturating_add(age))
    }
}

/// How many times [`claim`] tries before it calls the claim a race.
const CLAIM_TRIES: usize = 3;

/// What a claim came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claimed {
    Taken,
    /// The account with this id holds the key.
    HeldBy(String),
}

/// The value of a login key that `user_id` holds by the claim `claim_id`.
pub(super) fn key_value(user_id: &str, claim_id: &str) -> Vec<u8> {
    format!("{user_id} {claim_id}").into_bytes()
}

/// The id of the account a login key's value names.
pub(super) fn holder_id(value: &[u8]) -> String {
    let value = String::from_utf8_lossy(value);
    value.split(' ').next().unwrap_or_default().to_owned()
}

/// Whether `user` holds the key of `login` by `value` at `now`: as its login, or as the login one
/// of its changes is claiming (and has not abandoned).
fn holds(user: &UserRecord, login: &str, value: &[u8], now: u64) -> bool {
    holds_as_its_login(user, login, value) || holds_as_claim(user, login, value, now)
}

/// Whether one of `user`'s changes is claiming `login`, its key held by `value`, at `now` (and has
/// not abandoned it).
fn holds_as_claim(user: &UserRecord, login: &str, value: &[u8], now: u64) -> bool {
    user.claiming_login.as_ref().is_some_and(|claim| {
        claim.login == login && key_value(&user.id, &claim.id) == value && !claim.abandoned(now)
    })
}

/// Whether `login` is `user`'s login, its key held by `value`. A record that names no claim (one
/// from before claims had ids, or one an older instance wrote again without the field it does not
/// know) holds its login's key by its id, whichever claim wrote it.
pub(super) fn holds_as_its_login(user: &UserRecord, login: &str, value: &[u8]) -> bool {
    user.login.as_deref() == Some(login)
        && match user.login_claim.as_deref() {
            Some(claim_id) => key_value(&user.id, claim_id) == value,
            None => holder_id(value) == user.id,
        }
}

/// The account a change of which is claiming `login` now (its key taken, the change not yet
/// written, or stopped there), if any. [`users::by_login`] does not find it: the login is not yet
/// its own, and it logs in to nothing meanwhile.
pub(super) async fn claimant(
    store: &dyn Store,
    login: &str,
) -> Result<Option<UserRecord>, AuthError> {
    let Some(value) = store.get(&store_keys::login(login)).await? else {
        return Ok(None);
    };
    let holder = users::get(store, &holder_id(&value)).await?;
    Ok(holder.filter(|user| holds_as_claim(user, login, &value, unix_now())))
}

/// Takes the key of `claim.login` for `user_id`, whose record already names `claim` (as its login
/// or as the login it is claiming): when the key is free, written by this very claim already (a
/// call sent again), or left behind. Else the account that holds it.
pub(super) async fn claim(
    store: &dyn Store,
    claim: &LoginClaim,
    user_id: &str,
) -> Result<Claimed, AuthError> {
    let key = store_keys::login(&claim.login);
    let mine = key_value(user_id, &claim.id);
    for _try in 0..CLAIM_TRIES {
        if store.insert_new(&key, &mine, Lifetime::Forever).await? {
            return Ok(Claimed::Taken);
        }
        // Let go of meanwhile: try again.
        let Some(held) = store.get(&key).await? else {
            continue;
        };
        if held == mine {
            return Ok(Claimed::Taken);
        }
        let holder = holder_id(&held);
        let holding = users::get(store, &holder).await?;
        if holding.is_some_and(|user| holds(&user, &claim.login, &held, unix_now())) {
            return Ok(Claimed::HeldBy(holder));
        }
        // Left behind. The swap takes the value judged, which no claim writes again.
        if store
            .compare_and_swap(&key, &held, &mine, Lifetime::Forever)
            .await?
        {
            tracing::info!(
                account_event = "login_taken_over",
                actor = %user_id,
                left_by = %holder,
                "account change"
            );
            return Ok(Claimed::Taken);
        }
    }
    // The key changed hands at every try.
    Err(AuthError::Busy {
        retry_after: std::time::Duration::from_secs(1),
    })
}

/// Lets go of the key of `user`'s login, `user` as it was read before it moved to another login:
/// only by a value it held the key by then and does not hold it by now, so a claim made since
/// stays, by another account or by another change of this one.
pub(super) async fn let_go(store: &dyn Store, user: &UserRecord) -> Result<(), AuthError> {
    let Some(login) = user.login.as_deref() else {
        return Ok(());
    };
    let key = store_keys::login(login);
    let Some(value) = store.get(&key).await? else {
        return Ok(());
    };
    if !holds_as_its_login(user, login, &value) {
        return Ok(());
    }
    // A record naming no claim held any value with its id, so the value may be a claim of this
    // account made since (the mark goes before the key): read the account again.
    let now = users::get(store, &user.id).await?;
    if now.is_some_and(|now| holds(&now, login, &value, unix_now())) {
        return Ok(());
    }
    store.compare_and_delete(&key, &value).await?;
    Ok(())
}

/// Lets go of what the claim `claim` of `user_id` took, after the change it was for was refused:
/// its key, while it is still the one the claim wrote, and the account's mark of it.
pub(super) async fn withdraw(
    store: &dyn Store,
    claim: &LoginClaim,
    user_id: &str,
) -> Result<(), AuthError> {
    let mine = key_value(user_id, &claim.id);
    store
        .compare_and_delete(&store_keys::login(&claim.login), &mine)
        .await?;
    users::update(store, user_id, |record| {
        if record
            .claiming_login
            .as_ref()
            .is_some_and(|mark| mark.is(claim))
        {
            record.claiming_login = None;
        }
    })
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(login: Option<&str>, login_claim: Option<&str>) -> UserRecord {
        UserRecord {
            login: login.map(str::to_owned),
            login_claim: login_claim.map(str::to_owned),
            ..super::super::test_support::bare_user("ann")
        }
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn an_account_holds_a_key_by_the_value_its_record_names_or_by_its_id_naming_none() {
        let holding = ann(Some("a@x.org"), Some("c1"));
        assert!(holds(&holding, "a@x.org", b"ann c1", NOW));
        // Another claim of the same account, or a login it moved away from: left behind.
        assert!(!holds(&holding, "a@x.org", b"ann c0", NOW));
        assert!(!holds(&holding, "a@x.org", b"ann", NOW));
        assert!(!holds(&holding, "b@x.org", b"ann c1", NOW));
        // A login claimed before claims had ids, or a record an older instance wrote again.
        let without_claim = ann(Some("a@x.org"), None);
        assert!(holds(&without_claim, "a@x.org", b"ann", NOW));
        assert!(holds(&without_claim, "a@x.org", b"ann c1", NOW));
        assert!(!holds(&without_claim, "a@x.org", b"bob c1", NOW));
        // The login a change is claiming, by that change's claim only, until it is abandoned.
        let claiming = |made_at| UserRecord {
            claiming_login: Some(LoginClaim {
                login: "b@x.org".into(),
                id: "c2".into(),
                made_at,
            }),
            ..holding.clone()
        };
        let just_made = claiming(Some(NOW));
        assert!(holds(&just_made, "b@x.org", b"ann c2", NOW));
        assert!(!holds(&just_made, "b@x.org", b"ann c1", NOW));
        let later = NOW + CLAIM_ABANDONED_AFTER;
        assert!(holds(&just_made, "b@x.org", b"ann c2", later - 1));
        assert!(!holds(&just_made, "b@x.org", b"ann c2", later));
        // A claim made before claims kept their time holds until finished or replaced.
        assert!(holds(&claiming(None), "b@x.org", b"ann c2", later));
    }

    #[test]
    fn a_key_value_names_its_account() {
        assert_eq!(holder_id(&key_value("ann", "c1")), "ann");
        // A key from before claims had ids.
        assert_eq!(holder_id(b"ann"), "ann");
    }
}
