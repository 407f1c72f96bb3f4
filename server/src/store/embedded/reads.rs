//! The reading thread: it answers `get`s from redb read transactions, beside the database thread that
//! writes, so a read never waits for a batch being written and fsynced. A read transaction sees the
//! last commit, and a write's caller is answered only after its commit, so every caller reads its own
//! writes. Like the database thread, it takes the reads waiting in its queue as one batch and answers
//! them from one read transaction, with one wake-up of the thread.
//!
//! Why a thread, and neither inline on the async thread nor `spawn_blocking` per read (measured with
//! `embedded_get_latency_beside_writes`, debug build, 2 busy cores, 50 concurrent readers):
//! - inline, a read of a page in redb's cache takes 3 to 5 µs, but a page not in the cache is read
//!   from the file, and on a busy or stuck disk that would block every request on that runtime thread
//!   for as long as the disk takes, past [`OPERATION_TIMEOUT`], which cannot cut it off;
//! - `spawn_blocking` keeps that bound, but hands every single read to another thread and back:
//!   about 60,000 reads/s at a p50 of 0.7 ms;
//! - this thread keeps the bound too, and one wake-up answers a whole batch: about 300,000 reads/s at
//!   a p50 of 0.07 ms beside 50 writers; a lone caller waits some 30 µs for the hand-over.
//!
//! A read of a page from a slow disk holds up the reads queued behind it; they time out at
//! [`OPERATION_TIMEOUT`], never hang.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use redb::Database;
use tokio::sync::oneshot;

use super::tables::CommittedRecords;
use super::worker::MAX_BATCH;
use super::{QUEUE_CAPACITY, await_answer, refused};
use crate::store::StoreError;

enum Message {
    Get(Read),
    /// Answer what is queued, then end the thread.
    Shutdown,
}

/// One caller's keys, answered from one read transaction.
struct Read {
    keys: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Option<Vec<u8>>>, StoreError>>,
}

/// The reading thread and its queue; dropping it waits for the thread to end.
pub(super) struct Reads {
    queue: SyncSender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl Reads {
    pub(super) fn start(database: Arc<Database>) -> io::Result<Self> {
        let (queue, received) = mpsc::sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("meeteasy-redb-read".to_owned())
            .spawn(move || run(&database, &received))?;
        Ok(Self {
            queue,
            thread: Some(thread),
        })
    }

    /// The live record under `key` as last committed, within [`OPERATION_TIMEOUT`].
    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut records = self.get_many(vec![key.to_owned()]).await?;
        Ok(records.pop().flatten())
    }

    /// The live records under `keys`, in order, as of one commit, within [`OPERATION_TIMEOUT`].
    pub(super) async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let read = Read { keys, reply };
        self.queue.try_send(Message::Get(read)).map_err(refused)?;
        await_answer(answer).await
    }

    /// Whether the thread runs and can begin a read transaction: a read whose answer does not matter.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.get("").await.map(drop)
    }
}

impl Drop for Reads {
    /// Blocks until the thread has answered its queue (reads take microseconds unless the disk is
    /// stuck), so its handle on the database is gone when the drop returns.
    fn drop(&mut self) {
        // A thread that already ended needs no telling.
        let _already_stopped = self.queue.send(Message::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the embedded database's reading thread panicked");
        }
    }
}

/// The thread's loop: until shutdown or until the sender is gone.
fn run(database: &Database, queue: &Receiver<Message>) {
    while let Ok(Message::Get(first)) = queue.recv() {
        let mut batch = vec![first];
        let mut shutdown = false;
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Get(read)) => batch.push(read),
                Ok(Message::Shutdown) => {
                    shutdown = true;
                    break;
                }
                Err(_empty_or_disconnected) => break,
            }
        }
        answer_batch(database, batch);
        if shutdown {
            return;
        }
    }
}

/// Answers every read of the batch from one read transaction, begun after they all were asked.
fn answer_batch(database: &Database, mut batch: Vec<Read>) {
    // A caller that stopped waiting needs no answer.
    batch.retain(|read| !read.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    match CommittedRecords::open(database) {
        Ok(records) => {
            for read in batch {
                // The caller may have stopped waiting meanwhile; its answer is then not needed.
                let answer = read.keys.iter().map(|key| records.get(key)).collect();
                let _unwanted = read.reply.send(answer);
            }
        }
        Err(error) => {
            for read in batch {
                let _unwanted = read.reply.send(Err(same_error(&error)));
            }
        }
    }
}

/// `error` once more, for the next caller of a batch that failed as a whole.
fn same_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(detail) => StoreError::Unavailable(detail.clone()),
        StoreError::Corrupt(detail) => StoreError::Corrupt(detail.clone()),
    }
}
