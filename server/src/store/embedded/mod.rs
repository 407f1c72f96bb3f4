//! The embedded store: one redb file, `meeteasy.redb`, in the data directory; no server to run.
//!
//! Durability: every commit is fsynced before its callers are answered (redb's default), so a record
//! written is a record kept, even through a crash or power loss, and a ticket taken stays taken.
//! Throughput comes from group commit instead: operations that arrive together share one transaction
//! and one fsync (see [`worker`]). Notifications stay in this process ([`NotifyHub`]); one data
//! directory serves one server process, and redb's file lock refuses a second.

mod records;
mod worker;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Builder, DatabaseError, StorageError};
use tokio::sync::oneshot;

use self::records::{EXPIRIES, RECORDS, Records};
use self::worker::{Message, Operation};
use crate::store::{Lifetime, NotifyHub, Store, StoreError, Subscription, WindowCount};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "meeteasy.redb";
/// redb's page cache; the records are small and few, redb's 1 GiB default would only hide leaks.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedOpenError {
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error(
        "the database {path} is in use by another process (another meeteasy-auth with this --data-dir?)"
    )]
    Locked { path: PathBuf },
    #[error("the database {path} is corrupt ({detail}); restore it from a backup or move it away")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the database {path} has an older file format (version {version}) this server cannot read"
    )]
    UnsupportedFormat { path: PathBuf, version: u8 },
    #[error("cannot read or write the database {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot open the database {path}: {source}")]
    Other { path: PathBuf, source: redb::Error },
    #[error("cannot start the database thread: {0}")]
    Thread(io::Error),
}

pub struct EmbeddedStore {
    /// Operations for the database thread; sending never waits.
    queue: Sender<Message>,
    worker: Option<JoinHandle<()>>,
    hub: NotifyHub,
}

impl EmbeddedStore {
    /// Opens (or creates) the database in `data_dir`, creating the directory if needed.
    pub fn open(data_dir: &Path) -> Result<Self, EmbeddedOpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| EmbeddedOpenError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let database = Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|error| open_error(&path, error))?;
        create_tables(&database).map_err(|source| EmbeddedOpenError::Other {
            path: path.clone(),
            source,
        })?;
        let (queue, received) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("meeteasy-redb".to_owned())
            .spawn(move || worker::run(database, received))
            .map_err(EmbeddedOpenError::Thread)?;
        Ok(Self {
            queue,
            worker: Some(worker),
            hub: NotifyHub::default(),
        })
    }

    /// Queues `operation` for the database thread and waits for its committed result.
    async fn execute<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Records<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job = Box::new(Operation::new(operation, reply));
        self.queue
            .send(Message::Run(job))
            .map_err(|_closed| stopped())?;
        result.await.map_err(|_dropped| stopped())?
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.execute(move |records| records.get(&key)).await
    }

    async fn put(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.execute(move |records| records.put(&key, &value, lifetime))
            .await
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.execute(move |records| records.insert_new(&key, &value, lifetime))
            .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let (key, expected, new) = (key.to_owned(), expected.to_vec(), new.to_vec());
        self.execute(move |records| records.compare_and_swap(&key, &expected, &new, lifetime))
            .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.execute(move |records| records.take(&key)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.execute(move |records| records.delete(&key)).await
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, StoreError> {
        let key = key.to_owned();
        self.execute(move |records| records.count_in_window(&key, window))
            .await
    }

    async fn notify(&self, topic: &str) -> Result<(), StoreError> {
        self.hub.notify(topic);
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.hub.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A round trip through the database thread: answers only while it runs and can open a transaction.
        self.execute(|_records| Ok(())).await
    }
}

impl Drop for EmbeddedStore {
    /// Lets the database thread finish the queued operations and close the file before returning, so
    /// the directory can be opened again right away. Blocks for at most one batch's commit.
    fn drop(&mut self) {
        // A thread that already ended has closed the database too.
        let _already_stopped = self.queue.send(Message::Shutdown);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the embedded database thread panicked");
        }
    }
}

fn create_tables(database: &redb::Database) -> Result<(), redb::Error> {
    let txn = database.begin_write()?;
    txn.open_table(RECORDS)?;
    txn.open_table(EXPIRIES)?;
    txn.commit()?;
    Ok(())
}

fn open_error(path: &Path, error: DatabaseError) -> EmbeddedOpenError {
    let path = path.to_owned();
    match error {
        DatabaseError::DatabaseAlreadyOpen => EmbeddedOpenError::Locked { path },
        DatabaseError::UpgradeRequired(version) => {
            EmbeddedOpenError::UnsupportedFormat { path, version }
        }
        DatabaseError::RepairAborted => EmbeddedOpenError::Corrupt {
            path,
            detail: "its repair after an unclean shutdown was aborted".to_owned(),
        },
        DatabaseError::Storage(StorageError::Corrupted(detail)) => {
            EmbeddedOpenError::Corrupt { path, detail }
        }
        // redb reports a file that is not a redb database as invalid data.
        DatabaseError::Storage(StorageError::Io(source))
            if source.kind() == io::ErrorKind::InvalidData =>
        {
            EmbeddedOpenError::Corrupt {
                path,
                detail: source.to_string(),
            }
        }
        DatabaseError::Storage(StorageError::Io(source)) => EmbeddedOpenError::Io { path, source },
        other => EmbeddedOpenError::Other {
            path,
            source: other.into(),
        },
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the embedded database thread has stopped".to_owned())
}
