//! One change at a time of an account a link may fold away. A link's fold deletes the phone's
//! account once its WeChat leads to the console user's; an invite's accept (from its take of the
//! invite) and an operator's grant give an account a role. Each holds the account's change lock
//! while it decides and writes, so a fold never deletes an account just given a role (the role
//! would go with it), an accept refused for a fold leaves the invite open, and two links of one
//! WeChat to two accounts never both move its keys.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{Lifetime, Store, insert_or_own, record_kind};

use super::{AuthError, store_keys};

/// How long a lock lasts when nobody lets go of it (an instance that stopped mid-change): the
/// account's next link or invite waits that long at most.
const HELD_AT_MOST: Duration = Duration::from_secs(30);

/// How long a change refused for another one in progress should wait: those take milliseconds.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs `change` while holding `user_id`'s change lock as `holder`, a name of this change alone
/// (a lock found in that name is this change's own insert, sent again); another change in
/// progress refuses this one with [`AuthError::Busy`]. A change cut short (its
/// request dropped) lets go of the lock all the same: each change is one its caller may send
/// again, and it must not find its own lock in the way for 30 s. Only one cut short as the process
/// ends, with no runtime left to release it, keeps the lock until it lapses.
pub(super) async fn one_at_a_time<T>(
    store: &Arc<dyn Store>,
    user_id: &str,
    holder: &str,
    change: impl Future<Output = Result<T, AuthError>>,
) -> Result<T, AuthError> {
    let lock = store_keys::account_change(user_id);
    let lifetime = Lifetime::For(HELD_AT_MOST);
    if !insert_or_own(store.as_ref(), &lock, holder.as_bytes(), lifetime).await? {
        return Err(AuthError::Busy {
            retry_after: RETRY_AFTER,
        });
    }
    let mut held = Held {
        store: Arc::clone(store),
        lock,
        holder: holder.as_bytes().to_vec(),
        released: false,
    };
    let changed = change.await;
    // Released before the answer, so the caller asking again at once finds the account free. Marked
    // so only once done: a request dropped during the release leaves it to the guard.
    release(store.as_ref(), &held.lock, &held.holder).await;
    held.released = true;
    changed
}

/// A change lock being held: dropped before its release (the change cut short), it releases in a
/// task of its own.
struct Held {
    store: Arc<dyn Store>,
    lock: String,
    holder: Vec<u8>,
    released: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Without a runtime (the process is ending), the lock lapses by itself.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, lock) = (Arc::clone(&self.store), std::mem::take(&mut self.lock));
        let holder = std::mem::take(&mut self.holder);
        runtime.spawn(async move { release(store.as_ref(), &lock, &holder).await });
    }
}

/// Deletes the lock while it is `holder`'s; a failed release lapses by itself.
async fn release(store: &dyn Store, lock: &str, holder: &[u8]) {
    if let Err(error) = store.compare_and_delete(lock, holder).await {
        let lock = record_kind(lock);
        tracing::warn!(%error, lock, "cannot release an account's change lock; it lapses by itself");
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::super::test_support::FaultyStore;
    use super::*;

    async fn lock_of(store: &Arc<dyn Store>, user_id: &str) -> Option<Vec<u8>> {
        let lock = store_keys::account_change(user_id);
        store.get(&lock).await.expect("a read")
    }

    #[tokio::test]
    async fn a_change_holds_the_lock_while_it_runs_and_another_holder_is_refused() {
        let store: Arc<dyn Store> = FaultyStore::new();
        let inner = async {
            let beside = one_at_a_time(&store, "u1", "grant:b", async { Ok(()) }).await;
            assert!(matches!(beside, Err(AuthError::Busy { .. })), "{beside:?}");
            Ok(lock_of(&store, "u1").await)
        };
        let during = one_at_a_time(&store, "u1", "fold:t", inner).await;
        assert_eq!(during.expect("the change ran"), Some(b"fold:t".to_vec()));
        assert_eq!(lock_of(&store, "u1").await, None, "let go once done");
    }

    /// A change cut short (its request dropped) lets go of the lock: the account's next change
    /// goes through at once, not after [`HELD_AT_MOST`].
    #[tokio::test]
    async fn a_change_cut_short_lets_go_of_the_lock() {
        let store: Arc<dyn Store> = FaultyStore::new();
        let (started, mut running) = tokio::sync::oneshot::channel();
        let change = async {
            let _ = started.send(());
            pending::<Result<(), AuthError>>().await
        };
        let cut_short = one_at_a_time(&store, "u1", "fold:t", change);
        tokio::select! {
            _ = cut_short => panic!("the change never ends"),
            _ = &mut running => {}
        }
        // Released by a task of its own: waited for, bounded well below the lock's 30 s.
        let released = async {
            while lock_of(&store, "u1").await.is_some() {
                tokio::task::yield_now().await;
            }
        };
        let within = tokio::time::timeout(Duration::from_secs(5), released).await;
        within.expect("let go when dropped, not when it lapses");
        let next = one_at_a_time(&store, "u1", "grant:b", async { Ok(()) }).await;
        next.expect("the next change is not refused");
    }
}
