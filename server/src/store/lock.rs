//! Work done while holding a lock record that others wait on (single flights across instances).

use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinError;

use super::{Store, StoreError};

/// Runs `work` in a task of its own, then deletes `lock` and notifies `topic` so the waiters re-read.
/// The task finishes whatever becomes of the caller: a request dropped mid-await (its client hung up,
/// or an outer deadline fired first) must not leave the lock held and its waiters asleep. `work` must
/// end by itself (it runs under its own deadline). An error of `work` comes before one of the release.
/// `Err` only when the task stopped without finishing (the runtime is shutting down).
pub async fn run_then_release<T, E, W>(
    store: Arc<dyn Store>,
    lock: String,
    topic: String,
    work: W,
) -> Result<Result<T, E>, JoinError>
where
    W: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    tokio::spawn(async move {
        let outcome = work.await;
        let released = store.delete(&lock).await;
        let notified = store.notify(&topic).await;
        let outcome = outcome?;
        released?;
        notified?;
        Ok(outcome)
    })
    .await
}
