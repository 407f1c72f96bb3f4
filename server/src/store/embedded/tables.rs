//! The store's operations on redb tables: inside one write transaction on the database thread, and
//! `get` also in a read transaction wherever it is asked. Records carry their expiry, and an index by
//! expiry lets the purge find expired records without scanning everything.
//!
//! Records are stored under their names alone: one file keeps them all, so a key's group (see
//! [`crate::store::in_group`]) places them nowhere.
//!
//! An operation that fails with [`StoreError::Corrupt`] has written nothing (it decodes before it
//! writes), so the batch it ran in can still commit; any other error leaves the transaction unusable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{
    Database, ReadOnlyTable, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};

use crate::store::key_groups::record_name;
use crate::store::{Lifetime, StoreError};

/// Key -> (expiry in Unix milliseconds, or `None` to live forever; the value bytes).
pub(super) const RECORDS: TableDefinition<&str, (Option<u64>, &[u8])> =
    TableDefinition::new("records");
/// (expiry in Unix milliseconds, key) for every record that has an expiry.
pub(super) const EXPIRIES: TableDefinition<(u64, &str), ()> = TableDefinition::new("expiries");

/// At most this many expired records are removed per purge, so one purge never holds up requests long.
pub(super) const PURGE_LIMIT: usize = 10_000;

/// A record as read from the table.
struct StoredRecord {
    expires_at: Option<u64>,
    value: Vec<u8>,
}

/// The records as last committed, in a read transaction, seen at one instant.
pub(super) struct CommittedRecords {
    records: ReadOnlyTable<&'static str, (Option<u64>, &'static [u8])>,
    now_millis: u64,
}

impl CommittedRecords {
    pub(super) fn open(database: &Database) -> Result<Self, StoreError> {
        let txn = database.begin_read().map_err(storage_error)?;
        Ok(Self {
            // The table keeps the transaction's snapshot for as long as it lives.
            records: txn.open_table(RECORDS).map_err(storage_error)?,
            now_millis: unix_millis_now(),
        })
    }

    pub(super) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(guard) = self.records.get(record_name(key)).map_err(storage_error)? else {
            return Ok(None);
        };
        let (expires_at, value) = guard.value();
        Ok(is_live(expires_at, self.now_millis).then(|| value.to_vec()))
    }
}

/// The record tables opened in one write transaction, seen at one instant.
pub(super) struct Records<'txn> {
    records: Table<'txn, &'static str, (Option<u64>, &'static [u8])>,
    expiries: Table<'txn, (u64, &'static str), ()>,
    now_millis: u64,
    written: bool,
}

impl<'txn> Records<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            records: txn.open_table(RECORDS).map_err(storage_error)?,
            expiries: txn.open_table(EXPIRIES).map_err(storage_error)?,
            now_millis: unix_millis_now(),
            written: false,
        })
    }

    /// Whether any operation changed something (a batch that changed nothing need not be committed).
    pub(super) fn written(&self) -> bool {
        self.written
    }

    pub(super) fn put(
        &mut self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<(), StoreError> {
        let expires_at = self.expiry_of(lifetime);
        self.write(key, value, expires_at)
    }

    pub(super) fn insert_new(
        &mut self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        if self.live(key)?.is_some() {
            return Ok(false);
        }
        self.put(key, value, lifetime)?;
        Ok(true)
    }

    pub(super) fn compare_and_swap(
        &mut self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        match self.live(key)? {
            Some(current) if current.value == expected => {
                self.put(key, new, lifetime)?;
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    /// See [`crate::store::Store::append`]: the record is written whole again, its end the later
    /// of the two (no end is the latest).
    pub(super) fn append(
        &mut self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<u64, StoreError> {
        let wanted = self.expiry_of(lifetime);
        let (mut joined, expires_at) = match self.live(key)? {
            Some(current) => {
                let later = current
                    .expires_at
                    .zip(wanted)
                    .map(|(was, now)| was.max(now));
                (current.value, later)
            }
            None => (Vec::new(), wanted),
        };
        joined.extend_from_slice(value);
        // Measured before the write: a failing operation writes nothing.
        let length = u64::try_from(joined.len())
            .map_err(|_| StoreError::Corrupt(format!("record {key} outgrew a length")))?;
        self.write(key, &joined, expires_at)?;
        Ok(length)
    }

    /// The live record under `key`, as this transaction sees it (its own writes included).
    pub(super) fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.live(key)?.map(|record| record.value))
    }

    pub(super) fn take(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let removed = self.remove(key)?;
        Ok(removed
            .filter(|record| self.is_live(record.expires_at))
            .map(|record| record.value))
    }

    pub(super) fn delete(&mut self, key: &str) -> Result<(), StoreError> {
        self.remove(key).map(drop)
    }

    pub(super) fn compare_and_delete(
        &mut self,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, StoreError> {
        match self.live(key)? {
            Some(current) if current.value == expected => {
                self.remove(key)?;
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    /// Removes up to [`PURGE_LIMIT`] expired records; how many it removed.
    pub(super) fn purge_expired(&mut self) -> Result<usize, StoreError> {
        let mut expired = Vec::new();
        for entry in self
            .expiries
            .range(..(self.now_millis, ""))
            .map_err(storage_error)?
            .take(PURGE_LIMIT)
        {
            let (index_key, _no_value) = entry.map_err(storage_error)?;
            let (expires_at, key) = index_key.value();
            expired.push((expires_at, key.to_owned()));
        }
        for (expires_at, key) in &expired {
            self.expiries
                .remove((*expires_at, key.as_str()))
                .map_err(storage_error)?;
            self.records.remove(key.as_str()).map_err(storage_error)?;
        }
        self.written |= !expired.is_empty();
        Ok(expired.len())
    }

    /// The record under `key` with its expiry, unless there is none or it has expired.
    fn live(&self, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        let Some(guard) = self.records.get(record_name(key)).map_err(storage_error)? else {
            return Ok(None);
        };
        let (expires_at, value) = guard.value();
        Ok(self.is_live(expires_at).then(|| StoredRecord {
            expires_at,
            value: value.to_vec(),
        }))
    }

    fn write(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Option<u64>,
    ) -> Result<(), StoreError> {
        let key = record_name(key);
        let previous_expiry = self
            .records
            .insert(key, (expires_at, value))
            .map_err(storage_error)?
            .and_then(|previous| previous.value().0);
        self.written = true;
        if previous_expiry == expires_at {
            // Its entry in the expiry index is where it was.
            return Ok(());
        }
        if let Some(previous_expiry) = previous_expiry {
            self.expiries
                .remove((previous_expiry, key))
                .map_err(storage_error)?;
        }
        if let Some(expires_at) = expires_at {
            self.expiries
                .insert((expires_at, key), ())
                .map_err(storage_error)?;
        }
        Ok(())
    }

    /// Removes the record under `key`, live or expired, and returns it.
    fn remove(&mut self, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        let key = record_name(key);
        let removed = self
            .records
            .remove(key)
            .map_err(storage_error)?
            .map(|guard| {
                let (expires_at, value) = guard.value();
                StoredRecord {
                    expires_at,
                    value: value.to_vec(),
                }
            });
        if let Some(record) = &removed {
            if let Some(expires_at) = record.expires_at {
                self.expiries
                    .remove((expires_at, key))
                    .map_err(storage_error)?;
            }
            self.written = true;
        }
        Ok(removed)
    }

    fn is_live(&self, expires_at: Option<u64>) -> bool {
        is_live(expires_at, self.now_millis)
    }

    fn expiry_of(&self, lifetime: Lifetime) -> Option<u64> {
        match lifetime {
            Lifetime::Forever => None,
            Lifetime::For(duration) => {
                Some(self.now_millis.saturating_add(lifetime_millis(duration)))
            }
            Lifetime::Until(unix_secs) => Some(unix_secs.saturating_mul(1000)),
        }
    }
}

/// Like Redis, a record lives through its last millisecond: the clock is read in whole milliseconds,
/// and this way no record lives shorter than its lifetime.
fn is_live(expires_at: Option<u64>, now_millis: u64) -> bool {
    expires_at.is_none_or(|expires_at| expires_at >= now_millis)
}

/// A lifetime in whole milliseconds, at least one (a zero lifetime would be expired on arrival).
fn lifetime_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn unix_millis_now() -> u64 {
    // A clock before 1970 is broken; treating it as the epoch keeps records alive rather than losing them.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| {
            u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
        })
}

pub(super) fn storage_error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(format!("embedded database: {}", error.into()))
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableTableMetadata};

    use super::*;

    fn write(database: &Database, change: impl FnOnce(&mut Records<'_>)) {
        let txn = database.begin_write().unwrap();
        change(&mut Records::open(&txn).unwrap());
        txn.commit().unwrap();
    }

    #[test]
    fn purge_removes_expired_records_and_keeps_the_index_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::create(dir.path().join("test.redb")).unwrap();
        let hour = Lifetime::For(Duration::from_secs(3600));
        write(&database, |records| {
            records
                .put("expiring", b"1", Lifetime::For(Duration::from_millis(1)))
                .unwrap();
            records.put("kept", b"2", Lifetime::Forever).unwrap();
            // Refused over a live record, which keeps its value, its end and its index entry.
            assert!(!records.insert_new("expiring", b"9", hour).unwrap());
            assert_eq!(records.get("expiring").unwrap().as_deref(), Some(&b"1"[..]));
            records
                .put("later", b"3", Lifetime::For(Duration::from_secs(60)))
                .unwrap();
            // Rewriting a record moves its index entry rather than adding one.
            records.put("later", b"3", hour).unwrap();
            records.put("made-forever", b"4", hour).unwrap();
            records
                .put("made-forever", b"4", Lifetime::Forever)
                .unwrap();
            // Rewriting it with the same end leaves its index entry as it was.
            let end = Lifetime::Until(records.now_millis / 1000 + 3600);
            records.put("same-end", b"5", end).unwrap();
            records.put("same-end", b"6", end).unwrap();
        });
        write(&database, |records| {
            records.now_millis += 10;
            assert_eq!(records.purge_expired().unwrap(), 1);
            assert_eq!(records.records.len().unwrap(), 4);
            assert_eq!(records.expiries.len().unwrap(), 2);
            assert!(records.live("expiring").unwrap().is_none());
            assert!(records.live("made-forever").unwrap().is_some());
            assert_eq!(records.purge_expired().unwrap(), 0);
        });
    }
}
