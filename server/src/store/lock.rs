//! Work done while holding a lock record that others wait on (single flights across instances).

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinError;

use super::{Lifetime, Store, StoreError, record_kind};

/// Inserts `value` (one only this caller writes: a lock's holder, a new user's id) at `key` unless
/// a record is there: whether the record there is this caller's now. An insert sent again whose
/// first sending was made (a Redis Cluster client resends a command whose reply was lost) answers
/// that the key is taken; reading it back tells whose it is.
pub async fn insert_or_own(
    store: &dyn Store,
    key: &str,
    value: &[u8],
    lifetime: Lifetime,
) -> Result<bool, StoreError> {
    if store.insert_new(key, value, lifetime).await? {
        return Ok(true);
    }
    Ok(store.get(key).await?.as_deref() == Some(value))
}

/// Runs `work` in a task of its own, then deletes `lock` (while `holder` holds it) and notifies
/// `topic` so the waiters re-read.
/// The task finishes whatever becomes of the caller: a request dropped mid-await (its client hung up,
/// or an outer deadline fired first) must not leave the lock held and its waiters asleep. `work` must
/// end by itself (it runs under its own deadline). A failed release is logged, not returned: the
/// work's result stands, and the lock lapses by its own lifetime. `Err` when the task stopped
/// without finishing (a panic, or the runtime shutting down).
///
/// The caller has its result only after the release (two store calls, on a path taken once per
/// fetch): when it answers, the lock is gone, so its client asking again at once is not made to
/// wait on a lock its own request held.
pub async fn run_then_release<T, E, W>(
    store: Arc<dyn Store>,
    (lock, holder): (String, Vec<u8>),
    topic: String,
    work: W,
) -> Result<Result<T, E>, JoinError>
where
    W: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    tokio::spawn(async move {
        let outcome = work.await;
        // Logged by their kind only: the rest of a key is an id (a scene's, which a link scene's
        // reader could scan first).
        // Only while it is this holder's: a lock that lapsed and was taken by another is theirs.
        if let Err(error) = store.compare_and_delete(&lock, &holder).await {
            let lock = record_kind(&lock);
            tracing::warn!(%error, lock, "cannot release a lock; it lapses by itself");
        }
        if let Err(error) = store.notify(&topic).await {
            let topic = record_kind(&topic);
            tracing::warn!(%error, topic, "cannot wake the waiters; they wake at their deadline");
        }
        outcome
    })
    .await
}
