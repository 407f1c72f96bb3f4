//! Batches: several store steps sent as one, in order, each atomic on its own (see [`Store::batch`]).

use std::time::Duration;

use super::{Lifetime, Store, StoreError};

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
    Append {
        key: &'a str,
        value: &'a [u8],
        lifetime: Lifetime,
    },
    /// Not a record: where it falls in a batch does not matter.
    ClaimSlot {
        key: &'a str,
        lifetime: Duration,
    },
}

impl Step<'_> {
    pub(super) fn key(&self) -> &str {
        match self {
            Step::Get(key)
            | Step::Put { key, .. }
            | Step::InsertNew { key, .. }
            | Step::CompareAndSwap { key, .. }
            | Step::Append { key, .. }
            | Step::ClaimSlot { key, .. } => key,
        }
    }

    /// Whether the step writes a record (a slot is none).
    pub(super) fn writes(&self) -> bool {
        match self {
            Step::Get(_) | Step::ClaimSlot { .. } => false,
            Step::Put { .. }
            | Step::InsertNew { .. }
            | Step::CompareAndSwap { .. }
            | Step::Append { .. } => true,
        }
    }
}

/// What one step of a batch gave: a read's record, whether a write was made (always for `Put`)
/// or the slot taken, or the length an append left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Read(Option<Vec<u8>>),
    Written(bool),
    Length(u64),
}

impl Outcome {
    /// The record a `Get` step read.
    pub fn into_read(self) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Outcome::Read(record) => Ok(record),
            Outcome::Written(_) | Outcome::Length(_) => Err(self.mismatch("a read")),
        }
    }

    /// Whether a write step was made.
    pub fn written(&self) -> Result<bool, StoreError> {
        match self {
            Outcome::Written(written) => Ok(*written),
            Outcome::Read(_) | Outcome::Length(_) => Err(self.mismatch("a write")),
        }
    }

    /// The record's length after an `Append` step.
    pub fn length(&self) -> Result<u64, StoreError> {
        match self {
            Outcome::Length(length) => Ok(*length),
            Outcome::Read(_) | Outcome::Written(_) => Err(self.mismatch("an append")),
        }
    }

    fn mismatch(&self, asked: &str) -> StoreError {
        let answered = match self {
            Outcome::Read(_) => "a read",
            Outcome::Written(_) => "a write",
            Outcome::Length(_) => "an append",
        };
        StoreError::Corrupt(format!(
            "a batch answered {answered} where {asked} was asked"
        ))
    }
}

/// A batch's outcomes, one per step of a batch of `N` steps.
pub fn outcomes<const N: usize>(outcomes: Vec<Outcome>) -> Result<[Outcome; N], StoreError> {
    let answered = outcomes.len();
    outcomes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a batch of {N} steps had {answered} outcomes")))
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
            Step::Append {
                key,
                value,
                lifetime,
            } => Outcome::Length(store.append(key, value, lifetime).await?),
            Step::ClaimSlot { key, lifetime } => {
                Outcome::Written(store.claim_slot(key, lifetime).await?)
            }
        });
    }
    Ok(outcomes)
}
