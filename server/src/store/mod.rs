//! The one store the server keeps its state in: a small key-value interface shaped for the atomic steps
//! the domain needs (insert-if-absent, compare-and-swap, take-once, windowed counters) plus change
//! notifications for long-polls. Records are opaque bytes; the domain owns their format and meaning.
//!
//! Two backends implement it: [`embedded::EmbeddedStore`] (redb in `--data-dir`, no server needed) and
//! [`redis::RedisStore`] (one Redis, Sentinel or Cluster, for production and for several instances).
//! A missing or expired record is `Ok(None)`; every error means the backend could not be reached or
//! answered nonsense, and callers report it as `store_unavailable`.

pub mod embedded;
mod lock;
mod notify;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use lock::run_then_release;
pub use notify::{NotifyHub, Subscription, TopicEvent};

/// How long a record lives. Backends own expiry: an expired record is never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Forever,
    For(Duration),
}

/// The result of counting an event in a fixed window (for rate limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// How many events the window holds, this one included.
    pub count: u64,
    /// Time until the window ends and the count starts again from zero.
    pub resets_in: Duration,
}

/// One step of [`Store::batch`]: a read or one of the single-record writes, with the same meaning as
/// the method of its name.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Get(&'a str),
    Put {
        key: &'a str,
        value: &'a [u8],
        lifetime: Lifetime,
    },
    InsertNew {
        key: &'a str,
        value: &'a [u8],
        lifetime: Lifetime,
    },
    CompareAndSwap {
        key: &'a str,
        expected: &'a [u8],
        new: &'a [u8],
        lifetime: Lifetime,
    },
    /// Not a record: where it falls in a batch does not matter.
    ClaimSlot {
        key: &'a str,
        lifetime: Duration,
    },
}

impl Step<'_> {
    fn key(&self) -> &str {
        match self {
            Step::Get(key)
            | Step::Put { key, .. }
            | Step::InsertNew { key, .. }
            | Step::CompareAndSwap { key, .. }
            | Step::ClaimSlot { key, .. } => key,
        }
    }

    /// Whether the step writes a record (a slot is none).
    fn writes(&self) -> bool {
        match self {
            Step::Get(_) | Step::ClaimSlot { .. } => false,
            Step::Put { .. } | Step::InsertNew { .. } | Step::CompareAndSwap { .. } => true,
        }
    }
}

/// What one step of a batch gave: a read's record, or whether a write was made (always for `Put`)
/// or the slot taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Read(Option<Vec<u8>>),
    Written(bool),
}

impl Outcome {
    /// The record a `Get` step read.
    pub fn into_read(self) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Outcome::Read(record) => Ok(record),
            Outcome::Written(_) => Err(StoreError::Corrupt(
                "a batch answered a write where a read was asked".to_owned(),
            )),
        }
    }

    /// Whether a write step was made.
    pub fn written(&self) -> Result<bool, StoreError> {
        match self {
            Outcome::Written(written) => Ok(*written),
            Outcome::Read(_) => Err(StoreError::Corrupt(
                "a batch answered a read where a write was asked".to_owned(),
            )),
        }
    }
}

/// A batch's outcomes, one per step of a batch of `N` steps.
pub fn outcomes<const N: usize>(outcomes: Vec<Outcome>) -> Result<[Outcome; N], StoreError> {
    let answered = outcomes.len();
    outcomes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a batch of {N} steps had {answered} outcomes")))
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

    /// Removes and returns the record in one step: of concurrent takes, exactly one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes the record, if any.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

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
}

/// [`Store::batch`] one step after another, each through its own method.
pub async fn run_steps_in_turn<S: Store + ?Sized>(
    store: &S,
    steps: &[Step<'_>],
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(steps.len());
    for step in steps {
        outcomes.push(match *step {
            Step::Get(key) => Outcome::Read(store.get(key).await?),
            Step::Put {
                key,
                value,
                lifetime,
            } => {
                store.put(key, value, lifetime).await?;
                Outcome::Written(true)
            }
            Step::InsertNew {
                key,
                value,
                lifetime,
            } => Outcome::Written(store.insert_new(key, value, lifetime).await?),
            Step::CompareAndSwap {
                key,
                expected,
                new,
                lifetime,
            } => Outcome::Written(store.compare_and_swap(key, expected, new, lifetime).await?),
            Step::ClaimSlot { key, lifetime } => {
                Outcome::Written(store.claim_slot(key, lifetime).await?)
            }
        });
    }
    Ok(outcomes)
}
