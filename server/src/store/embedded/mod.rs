//! The embedded store: one redb file, `meeteasy.redb`, in the data directory; no server to run.
//!
//! Durability: every commit is fsynced before its callers are answered (redb's default), so a record
//! written is a record kept, even through a crash or power loss: a redeemed ticket stays redeemed.
//! Throughput comes from group commit instead: writes that arrive together share one transaction
//! and one fsync (see [`worker`]). Reads (`get`) wait for none of that: they run where they are
//! asked, in a read transaction that sees the last commit (see [`EmbeddedStore::committed`]).
//! Notifications stay in this process ([`NotifyHub`]); one data directory serves one server
//! process, and redb's file lock refuses a second.
//!
//! Callers never hang on a write: one that the database thread has not started within
//! [`OPERATION_TIMEOUT`] fails as unavailable and is skipped, one it started is answered its
//! commit's outcome (within [`COMMIT_TIMEOUT`] more), and when [`QUEUE_CAPACITY`] operations are
//! already waiting for the database thread new ones are turned away at once.

mod owner_only;
mod slots;
mod tables;
mod worker;

use std::convert::Infallible;
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Builder, Database, DatabaseError, StorageError};
use tokio::sync::{oneshot, watch};

pub use self::owner_only::OwnerOnlyError;
use self::slots::Slots;
use self::tables::{CommittedRecords, EXPIRIES, RECORDS, Records};
use self::worker::{MAX_BATCH, Message, Operation, Start};
use crate::store::{
    Lifetime, NotifyHub, Outcome, Step, Store, StoreError, Subscription, WindowCount,
};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "meeteasy.redb";
/// redb's page cache; the records are small and few, redb's 1 GiB default would only hide leaks.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// How long a caller waits for the database thread to start its write (time in the queue) before
/// it gives the write up and is told the store is unavailable (as with the Redis store): a stuck
/// disk must turn writes into 503s, not hung requests. One started is waited for longer (see
/// [`COMMIT_TIMEOUT`]). (Reads have no such bound: see [`EmbeddedStore::committed`].)
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer a caller whose operation the database thread started by [`OPERATION_TIMEOUT`]
/// waits for its commit (one fsync): answering a failure sooner could deny a write that is kept
/// (a redeemed ticket whose session the client is never given). A disk that takes longer is
/// failing; the caller is then told the write may or may not have been made.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many operations may wait for the database thread: eight full batches, which drain well
/// within [`OPERATION_TIMEOUT`] on any disk (a write batch takes one fsync). Beyond that an
/// operation would mostly time out in the queue, so it is refused at once instead, and a stuck
/// thread cannot pile up memory.
const QUEUE_CAPACITY: usize = 8 * MAX_BATCH;
/// How long closing the store waits for the database thread to finish its queue (a commit or two
/// on a working disk): past it (a disk that hangs) the thread is left to the process's exit, which
/// must not wait on it beyond `shutdown_timeout` by much.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error(transparent)]
    OwnerOnly(#[from] OwnerOnlyError),
}

pub struct EmbeddedStore {
    /// Operations for the database thread; a full queue refuses callers instead of making them wait.
    queue: SyncSender<Message>,
    worker: Option<JoinHandle<()>>,
    /// Disconnected once the database thread has ended (its sender goes with the thread).
    worker_ended: Mutex<Receiver<Infallible>>,
    /// For reads; the file is closed once the database thread has ended and this is dropped.
    database: Arc<Database>,
    hub: NotifyHub,
    /// Rate gates and counters: in memory, see [`slots`].
    slots: Slots,
    /// Why the database can serve nothing more, once the database thread found so.
    broken: watch::Receiver<Option<String>>,
}

impl EmbeddedStore {
    /// Opens (or creates) the database in `data_dir`, creating the directory if needed. Both are
    /// made owner-only first (see [`owner_only`]).
    pub fn open(data_dir: &Path) -> Result<Self, EmbeddedOpenError> {
        owner_only::prepare_directory(data_dir)?;
        let path = data_dir.join(DATABASE_FILE);
        let file = owner_only::open_database_file(&path)?;
        let database = Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create_file(file)
            .map_err(|error| open_error(&path, error))?;
        create_tables(&database).map_err(|source| EmbeddedOpenError::Other {
            path: path.clone(),
            source,
        })?;
        let database = Arc::new(database);
        let (queue, received) = mpsc::sync_channel(QUEUE_CAPACITY);
        let for_worker = Arc::clone(&database);
        let (breaks, broken) = watch::channel(None);
        let (ending, worker_ended) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("meeteasy-redb".to_owned())
            .spawn(move || {
                let _ending = ending;
                let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    worker::run(for_worker, received, &breaks);
                }));
                if ran.is_err() {
                    // Every later write would answer "stopped": the server must not stay up so.
                    let why = "the embedded database thread panicked".to_owned();
                    breaks.send_replace(Some(why));
                }
            })
            .map_err(EmbeddedOpenError::Thread)?;
        Ok(Self {
            queue,
            worker: Some(worker),
            worker_ended: Mutex::new(worker_ended),
            database,
            hub: NotifyHub::default(),
            slots: Slots::default(),
            broken,
        })
    }

    /// Queues `operation` for the database thread and waits for its committed result (see
    /// [`await_answer`] for how long).
    async fn execute<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Records<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = Arc::new(Start::default());
        let job = Box::new(Operation::new(operation, reply, Arc::clone(&start)));
        self.queue.try_send(Message::Run(job)).map_err(refused)?;
        await_answer(answer, &start).await
    }

    /// The records as last committed, read here rather than on another thread: a read of a page in
    /// memory (redb's cache, else the kernel's page cache, which keeps what was written) takes
    /// about a microsecond, less than handing it to a thread and back did (`islogin` 8–22 % and
    /// verification 25 % more requests per second on one core than with a reading thread). Only a
    /// page in neither is read from the disk, holding up this runtime thread meanwhile; the file
    /// is small, and a write still never holds up a read (redb's readers see the last commit).
    ///
    /// A read never waits, so it spends the task's scheduling budget first: a task reading in a
    /// loop then yields now and then, as it would have at each hand-over, instead of keeping its
    /// runtime thread from every other task.
    async fn committed(&self) -> Result<CommittedRecords, StoreError> {
        tokio::task::coop::consume_budget().await;
        CommittedRecords::open(&self.database)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.committed().await?.get(key)
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

    async fn append(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<u64, StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.execute(move |records| records.append(&key, &value, lifetime))
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

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let (key, expected) = (key.to_owned(), expected.to_vec());
        self.execute(move |records| records.compare_and_delete(&key, &expected))
            .await
    }

    /// Slots are claimed here, in memory. Reads alone are read here, in one read transaction;
    /// anything else is one operation of the database thread, so it shares a commit with whatever
    /// else is written at that moment.
    async fn batch(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        let mut slots = Vec::new();
        let mut on_records = Vec::new();
        for (at, step) in steps.iter().enumerate() {
            match *step {
                Step::ClaimSlot { key, lifetime } => {
                    slots.push((at, Outcome::Written(self.slots.claim(key, lifetime))));
                }
                Step::Get(_)
                | Step::Put { .. }
                | Step::InsertNew { .. }
                | Step::CompareAndSwap { .. }
                | Step::Append { .. } => on_records.extend(OwnedStep::on_record(step)),
            }
        }
        let mut outcomes = if on_records.is_empty() {
            Vec::new()
        } else if on_records
            .iter()
            .all(|step| matches!(step, OwnedStep::Get(_)))
        {
            let committed = self.committed().await?;
            let keys = on_records.into_iter().map(OwnedStep::into_key);
            let records = keys.map(|key| committed.get(&key).map(Outcome::Read));
            records.collect::<Result<_, _>>()?
        } else {
            self.execute(move |records| on_records.iter().map(|step| step.run(records)).collect())
                .await?
        };
        for (at, slot) in slots {
            outcomes.insert(at, slot);
        }
        Ok(outcomes)
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, StoreError> {
        Ok(self.slots.count_in_window(key, window))
    }

    async fn claim_slot(&self, key: &str, lifetime: Duration) -> Result<bool, StoreError> {
        Ok(self.slots.claim(key, lifetime))
    }

    async fn notify(&self, topic: &str) -> Result<(), StoreError> {
        self.hub.notify(topic);
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.hub.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // The store is ready only while a read transaction begins here and the database thread
        // runs and can begin its write transactions.
        self.committed().await?;
        self.execute(|_records| Ok(())).await
    }

    async fn broken(&self) -> StoreError {
        let mut broken = self.broken.clone();
        let why =
            (broken.wait_for(Option::is_some).await).map(|why| why.clone().unwrap_or_default());
        match why {
            Ok(why) => StoreError::Unavailable(why),
            // The database thread ended without breaking: the store is closing, not broken.
            Err(_ended) => std::future::pending().await,
        }
    }
}

impl Drop for EmbeddedStore {
    /// Lets the database thread finish its queued operations; then `database` is dropped, the last
    /// handle on the file, so the directory can be opened again right away once the drop returns.
    /// Waits at most [`CLOSE_TIMEOUT`] for the thread to work through its queue (at most
    /// [`QUEUE_CAPACITY`] operations, mostly skipped when their callers are gone); a thread held
    /// up longer by its disk is left running, the file open, until the process ends.
    fn drop(&mut self) {
        // A full queue cannot take the message: dropping the store's sender as well ends the
        // thread once it has drained the queue, as the message would.
        let _told = self.queue.try_send(Message::Shutdown);
        let (closed, _) = mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.queue, closed));
        let ended = match self.worker_ended.get_mut() {
            Ok(ended) => ended,
            Err(poisoned) => poisoned.into_inner(),
        };
        match ended.recv_timeout(CLOSE_TIMEOUT) {
            Ok(never) => match never {},
            Err(RecvTimeoutError::Disconnected) => {
                // The thread catches its own panic (see `open`): joining it only waits for its
                // last steps.
                if let Some(worker) = self.worker.take() {
                    let _caught_inside = worker.join();
                }
            }
            Err(RecvTimeoutError::Timeout) => tracing::error!(
                "the embedded database thread did not finish within {CLOSE_TIMEOUT:?} (a disk that hangs?): left to end with the process"
            ),
        }
    }
}

/// A batch step on records that the database thread can own.
enum OwnedStep {
    Get(String),
    Put(String, Vec<u8>, Lifetime),
    InsertNew(String, Vec<u8>, Lifetime),
    CompareAndSwap(String, Vec<u8>, Vec<u8>, Lifetime),
    Append(String, Vec<u8>, Lifetime),
}

impl OwnedStep {
    /// `step`, unless it is not on a record (a slot is claimed without the database).
    fn on_record(step: &Step<'_>) -> Option<Self> {
        Some(match *step {
            Step::ClaimSlot { .. } => return None,
            Step::Get(key) => Self::Get(key.to_owned()),
            Step::Put {
                key,
                value,
                lifetime,
            } => Self::Put(key.to_owned(), value.to_vec(), lifetime),
            Step::InsertNew {
                key,
                value,
                lifetime,
            } => Self::InsertNew(key.to_owned(), value.to_vec(), lifetime),
            Step::CompareAndSwap {
                key,
                expected,
                new,
                lifetime,
            } => Self::CompareAndSwap(key.to_owned(), expected.to_vec(), new.to_vec(), lifetime),
            Step::Append {
                key,
                value,
                lifetime,
            } => Self::Append(key.to_owned(), value.to_vec(), lifetime),
        })
    }

    fn into_key(self) -> String {
        match self {
            Self::Get(key)
            | Self::Put(key, ..)
            | Self::InsertNew(key, ..)
            | Self::CompareAndSwap(key, ..)
            | Self::Append(key, ..) => key,
        }
    }

    fn run(&self, records: &mut Records<'_>) -> Result<Outcome, StoreError> {
        Ok(match self {
            Self::Get(key) => Outcome::Read(records.get(key)?),
            Self::Put(key, value, lifetime) => {
                records.put(key, value, *lifetime)?;
                Outcome::Written(true)
            }
            Self::InsertNew(key, value, lifetime) => {
                Outcome::Written(records.insert_new(key, value, *lifetime)?)
            }
            Self::CompareAndSwap(key, expected, new, lifetime) => {
                Outcome::Written(records.compare_and_swap(key, expected, new, *lifetime)?)
            }
            Self::Append(key, value, lifetime) => {
                Outcome::Length(records.append(key, value, *lifetime)?)
            }
        })
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

/// Why an operation could not be queued for a thread.
fn refused<M>(error: TrySendError<M>) -> StoreError {
    match error {
        TrySendError::Full(_refused) => StoreError::Unavailable(format!(
            "the embedded database is overloaded: {QUEUE_CAPACITY} operations are already waiting"
        )),
        TrySendError::Disconnected(_refused) => stopped(),
    }
}

/// Waits for a queued operation's answer: [`OPERATION_TIMEOUT`] for the database thread to start
/// it (else the operation is given up, and skipped), then [`COMMIT_TIMEOUT`] more for the commit
/// of one it started.
async fn await_answer<T>(
    mut answer: oneshot::Receiver<Result<T, StoreError>>,
    start: &Start,
) -> Result<T, StoreError> {
    let received = match tokio::time::timeout(OPERATION_TIMEOUT, &mut answer).await {
        Ok(received) => received,
        Err(_elapsed) if start.give_up() => {
            return Err(StoreError::Unavailable(format!(
                "the embedded database did not answer within {OPERATION_TIMEOUT:?}"
            )));
        }
        Err(_started) => match tokio::time::timeout(COMMIT_TIMEOUT, answer).await {
            Ok(received) => received,
            Err(_elapsed) => {
                return Err(StoreError::Unavailable(format!(
                    "the embedded database did not commit a write within {:?}; it may have been \
                     made",
                    OPERATION_TIMEOUT + COMMIT_TIMEOUT
                )));
            }
        },
    };
    received.unwrap_or_else(|_dropped| Err(stopped()))
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the embedded database has stopped".to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc::Sender;
    use std::time::Instant;

    use futures_util::FutureExt;
    use tempfile::TempDir;

    use super::*;

    /// Keeps the database thread busy inside one operation until dropped, as a hung disk would.
    struct Stall {
        _release: Sender<()>,
    }

    impl Stall {
        /// Returns once the database thread is stuck.
        async fn start(store: &Arc<EmbeddedStore>) -> Self {
            Self::after(store, |_records| Ok(())).await.0
        }

        /// Has the database thread run `first`, then stick (in that operation), and returns once
        /// it is stuck, with the task of the operation's caller.
        async fn after(
            store: &Arc<EmbeddedStore>,
            first: impl FnOnce(&mut Records<'_>) -> Result<(), StoreError> + Send + 'static,
        ) -> (Self, tokio::task::JoinHandle<Result<(), StoreError>>) {
            let (release, released) = mpsc::channel::<()>();
            let (started, running) = oneshot::channel();
            let store = Arc::clone(store);
            let caller = tokio::spawn(async move {
                store
                    .execute(move |records| {
                        first(records)?;
                        let _tell_the_test = started.send(());
                        // Returns when the test drops the sender.
                        let _released = released.recv();
                        Ok(())
                    })
                    .await
            });
            running
                .await
                .expect("the database thread started the stall");
            (Self { _release: release }, caller)
        }
    }

    fn open() -> (TempDir, Arc<EmbeddedStore>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("open the embedded store");
        (dir, Arc::new(store))
    }

    #[tokio::test]
    async fn a_stuck_database_thread_fails_callers_within_the_timeout() {
        let (_dir, store) = open();
        let stall = Stall::start(&store).await;

        let started = Instant::now();
        // The outer limit makes a missing bound fail the test instead of hanging it.
        let result = tokio::time::timeout(
            OPERATION_TIMEOUT + Duration::from_secs(3),
            store.put("ticket:1", b"grant", Lifetime::Forever),
        )
        .await
        .expect("the put never answered");
        let waited = started.elapsed();
        let Err(StoreError::Unavailable(detail)) = result else {
            panic!("a put on a stuck database thread gave {result:?}");
        };
        assert!(detail.contains("did not answer within"), "{detail}");
        assert!(
            waited >= OPERATION_TIMEOUT && waited < OPERATION_TIMEOUT + Duration::from_secs(1),
            "answered after {waited:?}"
        );

        drop(stall);
        store.ping().await.expect("the thread answers again");
        // The caller was told the put failed, so it was not applied once the thread got to it.
        assert_eq!(store.get("ticket:1").await.expect("get"), None);
    }

    /// An operation the database thread started before its caller's timeout is answered its
    /// commit, however long that takes within [`COMMIT_TIMEOUT`]: a failure answered meanwhile
    /// would deny a write that is kept.
    #[tokio::test]
    async fn an_operation_started_in_time_is_answered_its_commit() {
        let (_dir, store) = open();
        // A commit held up by the disk.
        let put = |records: &mut Records<'_>| records.put("ticket:1", b"grant", Lifetime::Forever);
        let (stall, writing) = Stall::after(&store, put).await;
        // The time the test is about: past the caller's timeout, with the write in hand.
        tokio::time::sleep(OPERATION_TIMEOUT + Duration::from_millis(300)).await;
        assert!(
            !writing.is_finished(),
            "the caller was answered before its write was committed"
        );

        drop(stall);
        let written = tokio::time::timeout(Duration::from_secs(5), writing).await;
        let written = written.expect("the commit was never answered");
        written
            .expect("the writer")
            .expect("the write's commit, not a failure");
        let kept = store.get("ticket:1").await.expect("get");
        assert_eq!(kept.as_deref(), Some(&b"grant"[..]));
    }

    /// A disk that hangs holds the store's close (the server's exit) for [`CLOSE_TIMEOUT`] at
    /// most.
    #[tokio::test]
    async fn closing_waits_for_a_hung_database_thread_only_so_long() {
        let (_dir, store) = open();
        let (stall, stalled) = Stall::after(&store, |_records| Ok(())).await;
        // Its caller gone too, so the test's handle is the last.
        stalled.abort();
        assert!(stalled.await.is_err_and(|error| error.is_cancelled()));

        let started = Instant::now();
        let closed = tokio::task::spawn_blocking(move || drop(store));
        let within = tokio::time::timeout(CLOSE_TIMEOUT + Duration::from_secs(5), closed);
        within
            .await
            .expect("the close waited on the thread")
            .expect("the close");
        let waited = started.elapsed();
        assert!(waited >= CLOSE_TIMEOUT, "closed after {waited:?}");
        drop(stall);
    }

    /// A fault of the store's own code that ends its database thread breaks the store, so the
    /// server stops rather than answer every later write "stopped".
    #[tokio::test]
    async fn a_database_thread_that_panics_breaks_the_store() {
        let (_dir, store) = open();
        let failed = store.execute(|_records| -> Result<(), StoreError> {
            panic!("a fault of the store's own code")
        });
        assert!(failed.await.is_err());
        let broken = tokio::time::timeout(Duration::from_secs(5), store.broken()).await;
        let broken = broken.expect("the store says it is broken");
        assert!(broken.to_string().contains("panicked"), "{broken}");
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_the_database_thread() {
        let (_dir, store) = open();
        store
            .put("user:1", b"alice", Lifetime::Forever)
            .await
            .expect("put");
        let stall = Stall::start(&store).await;

        // Well within the timeout a read through the stuck thread would run into.
        let read = tokio::time::timeout(OPERATION_TIMEOUT / 2, store.get("user:1"))
            .await
            .expect("the get waited for the stuck database thread");
        assert_eq!(read.expect("get").as_deref(), Some(&b"alice"[..]));
        let missing = tokio::time::timeout(OPERATION_TIMEOUT / 2, store.get("user:2"))
            .await
            .expect("the get waited for the stuck database thread");
        assert_eq!(missing.expect("get"), None);
        drop(stall);
    }

    #[tokio::test]
    async fn a_full_queue_turns_callers_away_at_once() {
        let (_dir, store) = open();
        let stall = Stall::start(&store).await;
        // Writes, which queue at their first poll (a read never queues, and spends the task's
        // budget first).
        let write = || store.put("user:1", b"alice", Lifetime::Forever);
        for waiting in 0..QUEUE_CAPACITY {
            // The first poll queues the operation; dropping it leaves it in the queue.
            assert!(
                write().now_or_never().is_none(),
                "operation {waiting} was answered while the thread is stuck"
            );
        }

        let refused = write().now_or_never();
        let Some(Err(StoreError::Unavailable(detail))) = refused else {
            panic!("an operation beyond a full queue gave {refused:?}");
        };
        assert!(detail.contains("overloaded"), "{detail}");

        drop(stall);
        // The thread works through the abandoned operations, then has room again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(error) = store.ping().await {
            assert!(
                Instant::now() < deadline,
                "the queue never drained: {error}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
