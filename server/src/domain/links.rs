//! More ways into one account: a WeChat identity linked to a console user's account (through a
//! link scene), folding the account the mini program's own login made for that identity when it
//! holds nothing else.

use std::collections::HashSet;
use std::sync::Arc;

use crate::store::Store;

use super::secrets::random_id;
use super::store_keys::{self, WeChatKey};
use super::users::{self, UserRecord};
use super::{AuthError, account_changes, records, sessions, tokens};

/// The refusal of a fold whose account changed since the confirm read it.
fn no_longer_joinable() -> AuthError {
    AuthError::IdentityInUse("this WeChat account's own account changed meanwhile; scan again")
}

/// Whether the phone's account may join `target_id`'s: it is that account already, or it holds
/// nothing but its own WeChat identity (no role, no password login, no other identity). Merging
/// two real accounts is out of scope.
pub(super) fn may_join(phone_user: &UserRecord, target_id: &str) -> bool {
    phone_user.id == target_id
        || (phone_user.roles.is_empty()
            && phone_user.login.is_none()
            && phone_user.password_hash.is_none()
            && holds_one_wechat(phone_user))
}

/// Whether the account's WeChat identity keys can all be one person's: at most one unionid, at
/// most one openid per mini program, and without a unionid a single openid (only a unionid ties
/// the openids of several mini programs to one person). More means another WeChat was linked to
/// the account (an organizer's, say, whose roles were taken away since). One person's account can
/// also hold two unionids, when its mini program moved to another Open Platform account: it is
/// refused too, which keeps two accounts apart rather than merging one person's.
fn holds_one_wechat(user: &UserRecord) -> bool {
    let keys = user.wechat_identities.iter();
    let kinds: Vec<WeChatKey<'_>> = keys.filter_map(|key| store_keys::wechat_key(key)).collect();
    let unionids = kinds
        .iter()
        .filter(|kind| **kind == WeChatKey::Unionid)
        .count();
    let apps: Vec<&str> = kinds
        .iter()
        .filter_map(|kind| match kind {
            WeChatKey::Openid { appid } => Some(*appid),
            WeChatKey::Unionid => None,
        })
        .collect();
    let one_openid_per_app = apps.iter().collect::<HashSet<_>>().len() == apps.len();
    unionids <= 1 && one_openid_per_app && (unionids == 1 || apps.len() <= 1)
}

/// Makes the phone user's WeChat identities ways into `target_id`'s account and folds the phone's
/// account away (its sessions end and it is gone). Idempotent: a retried link finds the work done.
/// Holds the phone account's change lock (see [`account_changes`]), and decides on the account as
/// read under it: one that gained a role since the confirm read it (an invite) is refused.
pub(super) async fn fold_into(
    store: &Arc<dyn Store>,
    phone_user: &UserRecord,
    target_id: &str,
) -> Result<(), AuthError> {
    if phone_user.id == target_id {
        return Ok(());
    }
    // Its own name: a fold of the same account running beside it (the link sent twice at once)
    // is another change, and must not find the lock its own, nor let go of it for this one.
    let holder = format!("fold:{target_id}:{}", random_id()?);
    let fold = fold_locked(store.as_ref(), phone_user, target_id);
    account_changes::one_at_a_time(store, &phone_user.id, &holder, fold).await
}

/// The fold, under the lock. Order: the target's record lists the identities first, then each
/// identity points at the target, and only then does the old account go, so a WeChat login at any
/// moment finds an account.
async fn fold_locked(
    store: &dyn Store,
    as_read: &UserRecord,
    target_id: &str,
) -> Result<(), AuthError> {
    let user_key = store_keys::user(&as_read.id);
    let Some(as_locked) = store.get(&user_key).await? else {
        // Gone: folded by this link sent twice at once, if its WeChat leads here now.
        let keys = &as_read.wechat_identities;
        let leading = users::keys_leading_to(store, keys, target_id).await?;
        return if leading.len() == keys.len() {
            Ok(())
        } else {
            Err(no_longer_joinable())
        };
    };
    let phone_user: UserRecord = records::decode(&user_key, &as_locked)?;
    if !may_join(&phone_user, target_id) {
        return Err(no_longer_joinable());
    }
    let identities = phone_user.wechat_identities.clone();
    users::update(store, target_id, |target| {
        for key in &identities {
            if !target.wechat_identities.contains(key) {
                target.wechat_identities.push(key.clone());
            }
        }
    })
    .await?;
    for key in &identities {
        store
            .put(key, target_id.as_bytes(), crate::store::Lifetime::Forever)
            .await?;
    }
    let ended = sessions::end_user_sessions(store, &phone_user.id, &sessions::EVERY_CLIENT).await?;
    store
        .delete(&store_keys::last_login(&phone_user.id))
        .await?;
    // Only as read under the lock: a fold that outlived the lock (a store that hangs) keeps an
    // account changed since (a role an invite gave it) rather than delete the change with it.
    if !store.compare_and_delete(&user_key, &as_locked).await? {
        tracing::warn!(folded_user = %phone_user.id, "the folded account changed during its fold: kept");
    }
    tracing::info!(
        account_event = "wechat_linked",
        actor = %target_id,
        folded_user = %phone_user.id,
        sessions_ended = ended,
        "account change"
    );
    Ok(())
}

/// What taking an account's WeChat identities did.
pub(super) struct Unlinked {
    /// The account as it is afterwards.
    pub user: UserRecord,
    /// Identity keys deleted (a unionid and an openid can be one person's).
    pub deleted: usize,
    /// Sessions a WeChat login had opened, and what derived from them.
    pub sessions_ended: u64,
    /// Identity keys that still lead here after the last round: WeChat logins kept writing them
    /// back. The account keeps those; taking them takes a rerun.
    pub leading_again: usize,
}

/// How many times [`unlink_every_wechat`] takes the keys that lead back, before it says so.
const UNLINK_ROUNDS: usize = 3;

/// Takes every WeChat identity `user`'s account records: each key that still leads here is
/// deleted (its next login makes an account of its own, with no role), every session a WeChat
/// login opened ends with what derives from it, and the account forgets the identities whose keys
/// no longer lead here. The account is changed last, so a run stopped half way (a store error)
/// finds the identities still recorded, and running it again finishes it.
///
/// A WeChat login that found this account just before its keys went may write one back: the keys
/// are read again after the sessions end, and taken again, [`UNLINK_ROUNDS`] times at most. (Such a
/// login also finds, once its session is open, that its WeChat leads elsewhere, and ends it: see
/// `AuthService::wechat_login`.) A key is deleted only while it leads here; only a fold of this
/// very account (one holding nothing else) could move it meanwhile, in the moment between the
/// read and the delete.
pub(super) async fn unlink_every_wechat(
    store: &dyn Store,
    user: &UserRecord,
) -> Result<Unlinked, AuthError> {
    let identities = &user.wechat_identities;
    let mut leading = users::keys_leading_to(store, identities, &user.id).await?;
    let (mut deleted, mut sessions_ended) = (HashSet::new(), 0);
    for _round in 0..UNLINK_ROUNDS {
        for key in &leading {
            // Only while it leads here: a link may have moved it to another account since.
            if store.compare_and_delete(key, user.id.as_bytes()).await? {
                // A key written back and taken again counts once.
                deleted.insert(key.clone());
            }
        }
        sessions_ended +=
            sessions::end_sessions_opened_by(store, &user.id, tokens::AMR_WECHAT).await?;
        leading = users::keys_leading_to(store, identities, &user.id).await?;
        if leading.is_empty() {
            break;
        }
    }
    let user = users::update(store, &user.id, |record| {
        let gone = |key: &String| identities.contains(key) && !leading.contains(key);
        record.wechat_identities.retain(|key| !gone(key));
    })
    .await?;
    Ok(Unlinked {
        user,
        deleted: deleted.len(),
        sessions_ended,
        leading_again: leading.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[&str], login: Option<&str>) -> UserRecord {
        UserRecord {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            login: login.map(str::to_owned),
            password_hash: login.map(|_| "$argon2id$...".to_owned()),
            wechat_identities: vec!["wx:open:app:o1".into()],
            ..super::super::test_support::bare_user("phone")
        }
    }

    #[test]
    fn only_an_account_holding_nothing_else_may_join() {
        assert!(may_join(&user(&[], None), "console"));
        assert!(!may_join(&user(&["organizer"], None), "console"));
        assert!(!may_join(&user(&[], Some("a@b.c")), "console"));
        // Already the console user's account: nothing to fold, nothing refused.
        assert!(may_join(&user(&["organizer"], Some("a@b.c")), "phone"));
    }

    /// An account that holds another WeChat besides the phone's own (one linked to it while it
    /// was an organizer's, its roles taken away since) is a real account: it may not be folded.
    #[test]
    fn an_account_holding_another_wechat_may_not_join() {
        let with = |keys: &[&str]| UserRecord {
            wechat_identities: keys.iter().map(|key| (*key).to_owned()).collect(),
            ..user(&[], None)
        };
        let one_person = [
            &["wx:open:app:o1"][..],
            &["wx:union:u1", "wx:open:app:o1"],
            // One unionid across two mini programs of one Open Platform account.
            &["wx:union:u1", "wx:open:app:o1", "wx:open:other-app:p1"],
        ];
        for keys in one_person {
            assert!(may_join(&with(keys), "console"), "{keys:?}");
        }
        let two_people = [
            &["wx:open:app:o1", "wx:open:app:o2"][..],
            &[
                "wx:union:u1",
                "wx:open:app:o1",
                "wx:union:u2",
                "wx:open:app:o2",
            ],
            // Without a unionid nothing says two mini programs' openids are one person's.
            &["wx:open:app:o1", "wx:open:other-app:p1"],
        ];
        for keys in two_people {
            assert!(!may_join(&with(keys), "console"), "{keys:?}");
        }
    }
}
