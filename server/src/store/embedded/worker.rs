//! The one thread that owns the redb database: it runs the operations waiting in its queue as one batch
//! in one write transaction and commits them with one fsync (group commit), then answers each caller.
//! Between batches it purges expired records.
//!
//! Why a thread and not `spawn_blocking` per operation: redb runs one write transaction at a time, so
//! per-operation transactions would pay one fsync each, one after another; a batch shares it. Reads
//! (`get`) do not come here: their callers read the last commit themselves, so they never wait for
//! one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::Database;
use tokio::sync::{oneshot, watch};

use super::tables::{PURGE_LIMIT, Records, storage_error};
use crate::store::StoreError;

/// How often expired records are removed from the file (reads never return them in between).
const PURGE_INTERVAL: Duration = Duration::from_secs(10);
/// How soon the next purge follows one that stopped at [`PURGE_LIMIT`]: records expiring faster
/// than one limit per interval (a flood of scenes) would otherwise pile up in the file for as
/// long as the flood lasts. A tenth of the interval keeps purging to a small share of the thread.
const PURGE_BACKLOG_INTERVAL: Duration = Duration::from_secs(1);
/// The most operations one transaction carries, so one batch never keeps its first caller long.
pub(super) const MAX_BATCH: usize = 512;

pub(super) enum Message {
    Run(Box<dyn Job>),
    /// Finish what is queued, close the database and end the thread.
    Shutdown,
}

/// Why a batch's transaction was abandoned; every caller in the batch is told.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchError {
    /// redb could not begin, commit or abort the transaction.
    #[error("embedded database: {0}")]
    Transaction(redb::Error),
    /// Opening the tables or an operation failed in a way that leaves the transaction unusable.
    #[error("{0}")]
    Unusable(String),
}

impl BatchError {
    fn transaction(error: impl Into<redb::Error>) -> Self {
        Self::Transaction(error.into())
    }

    /// `error` from opening the tables or running an operation, which leaves the transaction unusable.
    fn unusable(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) | StoreError::Corrupt(detail) => Self::Unusable(detail),
        }
    }
}

/// One queued operation and the caller waiting for its result.
pub(super) trait Job: Send {
    /// Runs inside the batch's transaction; `Err` means the transaction cannot be committed.
    fn run(&mut self, records: &mut Records<'_>) -> Result<(), BatchError>;
    /// Answers the caller once the batch is committed (`Ok`) or abandoned (`Err` says why).
    fn finish(self: Box<Self>, batch: Result<(), &BatchError>);
}

/// Whether a queued operation runs: decided once, by the database thread starting it or by its
/// caller giving up on it first. A caller that gives up is told the operation failed, so it must
/// not run behind its back (a take would lose its one-time record); one the thread started is
/// committed or abandoned with its batch, so its caller waits for that rather than answer a
/// failure for a write that may be kept.
#[derive(Debug, Default)]
pub(super) struct Start(AtomicU8);

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const GIVEN_UP: u8 = 2;

impl Start {
    /// The thread's: whether the operation may run, its caller not having given up on it.
    fn begin(&self) -> bool {
        let started = self
            .0
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire);
        started.is_ok()
    }

    /// The caller's: whether it gave up on the operation before the thread started it.
    pub(super) fn give_up(&self) -> bool {
        let given_up =
            (self.0).compare_exchange(QUEUED, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire);
        given_up.is_ok()
    }
}

/// A job from a closure over the records, answered through a oneshot channel.
pub(super) struct Operation<T, F> {
    run: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
    start: Arc<Start>,
}

impl<T, F> Operation<T, F> {
    pub(super) fn new(
        run: F,
        reply: oneshot::Sender<Result<T, StoreError>>,
        start: Arc<Start>,
    ) -> Self {
        Self {
            run: Some(run),
            outcome: None,
            reply,
            start,
        }
    }
}

impl<T, F> Job for Operation<T, F>
where
    T: Send,
    F: FnOnce(&mut Records<'_>) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, records: &mut Records<'_>) -> Result<(), BatchError> {
        // A caller gone (its request cancelled) or given up (see [`Start`]) is not served.
        if self.reply.is_closed() || !self.start.begin() {
            return Ok(());
        }
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        match run(records) {
            Ok(value) => self.outcome = Some(Ok(value)),
            // Corrupt data is this caller's answer; nothing was written, the batch goes on.
            Err(StoreError::Corrupt(detail)) => {
                self.outcome = Some(Err(StoreError::Corrupt(detail)))
            }
            Err(error @ StoreError::Unavailable(_)) => return Err(BatchError::unusable(error)),
        }
        Ok(())
    }

    fn finish(self: Box<Self>, batch: Result<(), &BatchError>) {
        let result = match (batch, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(StoreError::Unavailable(
                "the operation was not run".to_owned(),
            )),
            (Err(error), _) => Err(StoreError::Unavailable(error.to_string())),
        };
        // The caller may have stopped waiting (a cancelled request); its result is then not needed.
        let _unwanted = self.reply.send(result);
    }
}

/// The thread's loop: until shutdown or until every sender is gone. Once redb has latched an I/O
/// error, `breaks` is told (see [`Failures`]).
pub(super) fn run(
    database: Arc<Database>,
    queue: Receiver<Message>,
    breaks: &watch::Sender<Option<String>>,
) {
    let mut next_purge = Instant::now() + PURGE_INTERVAL;
    let mut failures = Failures {
        database: &database,
        breaks,
        first: None,
    };
    loop {
        let first = match queue.recv_timeout(next_purge.saturating_duration_since(Instant::now())) {
            Ok(Message::Run(job)) => job,
            Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                next_purge = Instant::now() + purge(&mut failures);
                continue;
            }
        };
        let mut batch = vec![first];
        let mut shutdown = false;
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Run(job)) => batch.push(job),
                Ok(Message::Shutdown) => {
                    shutdown = true;
                    break;
                }
                Err(_empty_or_disconnected) => break,
            }
        }
        let outcome = commit_batch(&database, &mut batch);
        match &outcome {
            Ok(()) => failures.first = None,
            Err(error) => failures.note(error.to_string()),
        }
        for job in batch {
            job.finish(outcome.as_ref().copied());
        }
        if shutdown {
            return;
        }
        if Instant::now() >= next_purge {
            next_purge = Instant::now() + purge(&mut failures);
        }
    }
}

/// What failed since the last commit, and whether the database is lost: redb latches its first
/// I/O error (a full disk, a failing one), wherever it met it (a file that could not grow under an
/// insert, a commit's write, a purge), and refuses every later transaction until the file is
/// opened again, saying only "previous I/O error". So the first failure is the cause worth
/// telling, and the store is told it is broken as soon as a failure leaves the latch set, not at
/// the next write (an idle server would stay up on a dead database).
struct Failures<'a> {
    database: &'a Database,
    breaks: &'a watch::Sender<Option<String>>,
    /// The first failure since the last commit that succeeded.
    first: Option<String>,
}

impl Failures<'_> {
    fn note(&mut self, failure: String) {
        let cause = self.first.get_or_insert(failure);
        if latched_an_io_error(self.database) {
            // The first cause is the one worth telling; the ones after repeat it.
            self.breaks.send_if_modified(|broken| {
                let first = broken.is_none();
                broken.get_or_insert_with(|| cause.clone());
                first
            });
        }
    }
}

/// Whether redb refuses new transactions for an I/O error it met before. The probe is an empty
/// write transaction, dropped (so aborted) at once: this thread is the only writer.
fn latched_an_io_error(database: &Database) -> bool {
    matches!(
        database.begin_write(),
        Err(redb::TransactionError::Storage(
            redb::StorageError::PreviousIo | redb::StorageError::Io(_)
        ))
    )
}

/// Runs every job of the batch in one transaction and commits it when something changed. The commit
/// has redb's default durability: fsynced before any caller of the batch is answered.
fn commit_batch(database: &Database, batch: &mut [Box<dyn Job>]) -> Result<(), BatchError> {
    let txn = database.begin_write().map_err(BatchError::transaction)?;
    let written = {
        let mut records = Records::open(&txn).map_err(BatchError::unusable)?;
        for job in batch.iter_mut() {
            job.run(&mut records)?;
        }
        records.written()
    };
    if written {
        txn.commit().map_err(BatchError::transaction)
    } else {
        txn.abort().map_err(BatchError::transaction)
    }
}

/// Readers meanwhile see the state before or after the purge, which read the same: they skip expired
/// records themselves. Answers how soon to purge again; a failure is noted in `failures`.
fn purge(failures: &mut Failures<'_>) -> Duration {
    let purged = (|| {
        let txn = failures.database.begin_write().map_err(storage_error)?;
        let purged = Records::open(&txn)?.purge_expired()?;
        if purged > 0 {
            txn.commit().map_err(storage_error)?;
        }
        Ok::<usize, StoreError>(purged)
    })();
    let purged = match purged {
        Ok(0) => 0,
        Ok(count) => {
            tracing::debug!(count, "purged expired records");
            count
        }
        // The next purge tries again; expired records are invisible meanwhile.
        Err(error) => {
            tracing::warn!(%error, "purging expired records failed");
            failures.note(error.to_string());
            0
        }
    };
    purge_again_in(purged)
}

/// How soon to purge again after a purge that removed `purged` records.
fn purge_again_in(purged: usize) -> Duration {
    if purged >= PURGE_LIMIT {
        PURGE_BACKLOG_INTERVAL
    } else {
        PURGE_INTERVAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purge_that_stopped_at_its_limit_is_followed_sooner() {
        assert_eq!(purge_again_in(0), PURGE_INTERVAL);
        assert_eq!(purge_again_in(PURGE_LIMIT - 1), PURGE_INTERVAL);
        assert_eq!(purge_again_in(PURGE_LIMIT), PURGE_BACKLOG_INTERVAL);
        assert!(PURGE_BACKLOG_INTERVAL < PURGE_INTERVAL);
    }
}
