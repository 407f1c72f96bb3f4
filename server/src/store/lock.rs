//! Work done while holding a lock record that others wait on (single flights across instances).

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinError;

use super::{Store, record_kind};

/// Runs `work` in a task of its own, then deletes `lock` and notifies `topic` so the waiters re-read.
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
    lock: String,
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
        if let Err(error) = store.delete(&lock).await {
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
