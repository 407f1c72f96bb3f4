//! Typed records over the byte store: JSON encoding and the compare-and-swap retry loop every
//! state transition uses.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Lifetime, Store, StoreError};

use super::{AuthError, store_keys};

pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a record: {e}")))
}

pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let key = store_keys::shown(key);
        StoreError::Corrupt(format!("record {key}: {e}"))
    })
}

pub async fn load<T: DeserializeOwned>(
    store: &dyn Store,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match store.get(key).await? {
        None => Ok(None),
        Some(bytes) => decode(key, &bytes).map(Some),
    }
}

/// What a transition decided for the record it was shown.
pub enum Transition<T, R> {
    /// Write this record (with this lifetime) and answer `R` once the write wins.
    Write(T, Lifetime, R),
    /// Leave the record as it is and answer `R`.
    Keep(R),
}

/// Applies `decide` to the current record until its write wins against concurrent writers.
/// `decide` sees `None` when there is no record; it must be a pure function of what it is shown.
pub async fn update<T, R>(
    store: &dyn Store,
    key: &str,
    decide: impl FnMut(Option<&T>) -> Result<Transition<T, R>, AuthError>,
) -> Result<R, AuthError>
where
    T: Serialize + DeserializeOwned,
{
    let current_bytes = store.get(key).await?;
    update_from(store, key, current_bytes, decide).await
}

/// [`update`] from `current_bytes`, the record as a read the caller made (in a batch of its own,
/// to spare a round trip) found it; read again only when a concurrent write wins.
pub async fn update_from<T, R>(
    store: &dyn Store,
    key: &str,
    mut current_bytes: Option<Vec<u8>>,
    mut decide: impl FnMut(Option<&T>) -> Result<Transition<T, R>, AuthError>,
) -> Result<R, AuthError>
where
    T: Serialize + DeserializeOwned,
{
    loop {
        let current: Option<T> = match &current_bytes {
            None => None,
            Some(bytes) => Some(decode(key, bytes)?),
        };
        match decide(current.as_ref())? {
            Transition::Keep(answer) => return Ok(answer),
            Transition::Write(next, lifetime, answer) => {
                let next_bytes = encode(&next)?;
                let written = match &current_bytes {
                    None => store.insert_new(key, &next_bytes, lifetime).await?,
                    Some(expected) => {
                        store
                            .compare_and_swap(key, expected, &next_bytes, lifetime)
                            .await?
                    }
                };
                if written {
                    return Ok(answer);
                }
                // Someone else changed the record first: decide again on what they wrote.
                current_bytes = store.get(key).await?;
            }
        }
    }
}
