//! One change at a time of an account a link may fold away. A link's fold deletes the phone's
//! account once its WeChat leads to the console user's; an invite's accept (from its take of the
//! invite) and an operator's grant give an account a role. Each holds the account's change lock
//! while it decides and writes, so a fold never deletes an account just given a role (the role
//! would go with it), an accept refused for a fold leaves the invite open, and two links of one
//! WeChat to two accounts never both move its keys.

use std::future::Future;
use std::time::Duration;

use crate::store::{Lifetime, Store, insert_or_own, record_kind};

use super::{AuthError, store_keys};

/// How long a lock lasts when its holder never lets go (a request dropped mid-change): the
/// account's next link or invite waits that long at most.
const HELD_AT_MOST: Duration = Duration::from_secs(30);

/// How long a change refused for another one in progress should wait: those take milliseconds.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs `change` while holding `user_id`'s change lock as `holder`. Holders with the same name
/// share it (a link sent twice at once folds into one account twice, which is harmless); another
/// holder's change in progress refuses this one with [`AuthError::Busy`].
pub(super) async fn one_at_a_time<T>(
    store: &dyn Store,
    user_id: &str,
    holder: &str,
    change: impl Future<Output = Result<T, AuthError>>,
) -> Result<T, AuthError> {
    let lock = store_keys::account_change(user_id);
    let lifetime = Lifetime::For(HELD_AT_MOST);
    if !insert_or_own(store, &lock, holder.as_bytes(), lifetime).await? {
        return Err(AuthError::Busy {
            retry_after: RETRY_AFTER,
        });
    }
    let changed = change.await;
    // Only while it is this holder's; a failed release lapses by itself.
    if let Err(error) = store.compare_and_delete(&lock, holder.as_bytes()).await {
        let lock = record_kind(&lock);
        tracing::warn!(%error, lock, "cannot release an account's change lock; it lapses by itself");
    }
    changed
}
