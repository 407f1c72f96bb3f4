//! The one store the server keeps its state in: a small key-value interface shaped for the atomic steps
//! the domain needs (insert-if-absent, compare-and-swap, compare-and-delete, append, take-once,
//! windowed counters) plus change notifications for long-polls. Records are opaque bytes; the
//! domain owns their format and meaning. A key may place its record in a group ([`in_group`]), kept together where records are
//! sharded.
//!
//! Two backends implement it: [`embedded::EmbeddedStore`] (redb in `--data-dir`, no server needed) and
//! [`redis::RedisStore`] (one Redis, Sentinel or Cluster, for production and for several instances).
//! A missing or expired record is `Ok(None)`; every error means the backend could not be reached or
//! answered nonsense, and callers report it as `store_unavailable`.

mod batch;
pub mod embedded;
mod key_groups;
mod lock;
mod notify;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use batch::{Outcome, Step, outcomes, run_steps_in_turn};
pub use key_groups::{in_group, record_kind, record_name};
pub use lock::{insert_or_own, run_then_release};
pub use notify::{NotifyHub, Subscription, TopicEvent};

/// How long a record lives. Backends own expiry: an expired record is never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Forever,
    For(Duration),
    /// Until this Unix time in seconds (by this instance's clock): a record written again with the
    /// same end keeps the expiry it had, which the embedded store then need not index again.
    Until(u64),
}

/// The result of counting an event in a fixed window (for rate limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// How many events the window holds, this one included.
    pub count: u64,
    /// Time until the window ends and the count starts again from zero.
    pub resets_in: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store cannot be reached: {0}")]
    Unavailable(String),
    #[error("the store answered something unexpected: {0}")]
    Corrupt(String),
}

/// The store every instance of the server shares. All operations are atomic with respect to each other,
/// also across server instances sharing one backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The record under `key`, or `None` when there is none or it has expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes `value` under `key`, replacing any record there.
    async fn put(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<(), StoreError>;

    /// Writes `value` only when `key` holds no live record; `true` when it was written.
    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError>;

    /// Replaces the record with `new` only while it still equals `expected`; `true` when replaced.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError>;

    /// Adds `value` at the end of the record under `key` (none, or an expired one, counts as empty)
    /// and answers the record's length in bytes after it. An append never shortens a record's
    /// life: it lives until the later of its end and `lifetime`'s (`Forever` is the latest).
    async fn append(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<u64, StoreError>;

    /// Removes and returns the record in one step: of concurrent takes, exactly one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes the record, if any.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Removes the record only while it still equals `expected`; `true` when removed. What a
    /// caller read as its own is let go without taking what someone else wrote there since.
    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError>;

    /// Counts one event under `key` in a fixed window of length `window` that starts with the first event.
    /// Like a slot, a counter may be forgotten (a restart, a failover): it limits rates, no more.
    async fn count_in_window(&self, key: &str, window: Duration)
    -> Result<WindowCount, StoreError>;

    /// Takes the slot `key` for `lifetime` unless someone holds it; `true` when taken now. A slot
    /// is not a record (read it only through this call): the backend may forget it (a restart, a
    /// failover) and spends no durable write on it, so it gates rates and never holds anything a
    /// user was told.
    async fn claim_slot(&self, key: &str, lifetime: Duration) -> Result<bool, StoreError>;

    /// Runs `steps` in order and answers one outcome per step. Each step is atomic on its own, as
    /// its method is, and sees what the steps before it wrote; the batch as a whole is not (another
    /// caller's operation may fall between two steps). What a batch buys is cost: one round trip
    /// (one transaction, one pipeline) where the backend can, instead of one per step. This default
    /// runs the steps one after another, for backends that cannot do better.
    async fn batch(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        run_steps_in_turn(self, steps).await
    }

    /// Tells every subscriber of `topic`, on every instance sharing this store, that something changed.
    async fn notify(&self, topic: &str) -> Result<(), StoreError>;

    /// Starts listening to `topic`. Subscribe before reading the state you wait on, so no change is missed.
    /// A backend may also wake a subscription when it cannot rule out a missed change (its
    /// subscription was just established or re-established): waiters re-read, they never trust a wake.
    fn subscribe(&self, topic: &str) -> Subscription;

    /// Whether the backend answers now (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Resolves, saying why, once this backend can serve nothing more in this process: the
    /// embedded database after an I/O error (redb refuses every later operation until the file is
    /// opened again). The server then stops, so that its supervisor starts it afresh. Never, for a
    /// backend that recovers by itself (Redis reconnects).
    async fn broken(&self) -> StoreError {
        std::future::pending().await
    }
}
