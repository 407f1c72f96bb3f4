//! The one thread that owns the redb database: it runs the operations waiting in its queue as one batch
//! in one write transaction and commits them with one fsync (group commit), then answers each caller.
//! Between batches it purges expired records.
//!
//! Why a thread and not `spawn_blocking` per operation: redb runs one write transaction at a time, so
//! per-operation transactions would pay one fsync each, one after another; a batch shares it. Reads
//! (`get`) do not come here: their callers read the last commit themselves, so they never wait for
//! one.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redb::Database;
use tokio::sync::oneshot;

use super::tables::{Records, storage_error};
use crate::store::StoreError;

/// How often expired records are removed from the file (reads never return them in between).
const PURGE_INTERVAL: Duration = Duration::from_secs(10);
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

/// A job from a closure over the records, answered through a oneshot channel.
pub(super) struct Operation<T, F> {
    run: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Operation<T, F> {
    pub(super) fn new(run: F, reply: oneshot::Sender<Result<T, StoreError>>) -> Self {
        Self {
            run: Some(run),
            outcome: None,
            reply,
        }
    }
}

impl<T, F> Job for Operation<T, F>
where
    T: Send,
    F: FnOnce(&mut Records<'_>) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, records: &mut Records<'_>) -> Result<(), BatchError> {
        // A caller that stopped waiting (timed out, or its request was cancelled) was told the
        // operation failed, so it must not happen behind its back: a timed-out take would lose a
        // one-time record.
        if self.reply.is_closed() {
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

/// The thread's loop: until shutdown or until every sender is gone.
pub(super) fn run(database: Arc<Database>, queue: Receiver<Message>) {
    let mut next_purge = Instant::now() + PURGE_INTERVAL;
    loop {
        let first = match queue.recv_timeout(next_purge.saturating_duration_since(Instant::now())) {
            Ok(Message::Run(job)) => job,
            Ok(Message::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                purge(&database);
                next_purge = Instant::now() + PURGE_INTERVAL;
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
        for job in batch {
            job.finish(outcome.as_ref().copied());
        }
        if shutdown {
            return;
        }
        if Instant::now() >= next_purge {
            purge(&database);
            next_purge = Instant::now() + PURGE_INTERVAL;
        }
    }
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
/// records themselves.
fn purge(database: &Database) {
    let purged = (|| {
        let txn = database.begin_write().map_err(storage_error)?;
        let purged = Records::open(&txn)?.purge_expired()?;
        if purged > 0 {
            txn.commit().map_err(storage_error)?;
        }
        Ok::<usize, StoreError>(purged)
    })();
    match purged {
        Ok(0) => {}
        Ok(count) => tracing::debug!(count, "purged expired records"),
        // The next purge tries again; expired records are invisible meanwhile.
        Err(error) => tracing::warn!(%error, "purging expired records failed"),
    }
}
