//! `bench-store`: the embedded store on its own, in this process — how many put + take pairs (a
//! ticket minted and exchanged) it commits per second from one caller, from 50 and from a burst of
//! 2,000, and how long a `get` takes alone, from 50 callers, and from 50 callers while 50 others keep
//! writing (reads are served beside the writer, so they must not wait for its commits and fsyncs).
//! Every write is durable before it is answered, so these figures follow the disk. Prints a Markdown
//! table; `scripts/bench.sh` runs it after `meeteasy-bench`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use meeteasy_auth::store::embedded::EmbeddedStore;
use meeteasy_auth::store::{Lifetime, Store, StoreError};

const TICKET_LIFETIME: Lifetime = Lifetime::For(Duration::from_secs(60));
const PAIRS_ALONE: usize = 200;
const CALLERS: usize = 50;
const PAIRS_PER_CALLER: usize = 100;
const BURST: usize = 2_000;
const RECORDS: usize = 1_000;
const GETS_PER_READER: usize = 400;

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("cannot make a data directory: {0}")]
    DataDir(std::io::Error),
    #[error("cannot open the embedded store: {0}")]
    Open(String),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("a record written was not there to read back")]
    Lost,
    #[error("a caller stopped: {0}")]
    Caller(#[from] tokio::task::JoinError),
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-store: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(table) => {
            println!("{table}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench-store: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<String, BenchError> {
    let dir = tempfile::tempdir().map_err(BenchError::DataDir)?;
    let store: Arc<dyn Store> = Arc::new(
        EmbeddedStore::open(dir.path()).map_err(|error| BenchError::Open(error.to_string()))?,
    );
    let alone = pairs_per_second(&store, 1, PAIRS_ALONE).await?;
    let many = pairs_per_second(&store, CALLERS, PAIRS_PER_CALLER).await?;
    let burst = pairs_per_second(&store, BURST, 1).await?;

    for n in 0..RECORDS {
        store
            .put(&user_key(n), b"a user record", Lifetime::Forever)
            .await?;
    }
    let single = gets(&store, 1, RECORDS).await?;
    let quiet = gets(&store, CALLERS, GETS_PER_READER).await?;
    let writing = Arc::new(AtomicBool::new(true));
    let writers: Vec<_> = (0..CALLERS)
        .map(|writer| {
            let (store, writing) = (Arc::clone(&store), Arc::clone(&writing));
            tokio::spawn(async move {
                let mut puts = 0_usize;
                while writing.load(Ordering::Relaxed) {
                    store
                        .put(
                            &format!("ticket:w{writer}:{puts}"),
                            b"grant",
                            TICKET_LIFETIME,
                        )
                        .await?;
                    puts += 1;
                }
                Ok::<_, StoreError>(puts)
            })
        })
        .collect();
    let started = Instant::now();
    let busy = gets(&store, CALLERS, GETS_PER_READER).await;
    writing.store(false, Ordering::Relaxed);
    let mut puts = 0;
    for writer in writers {
        puts += writer.await??;
    }
    let busy = busy?;
    let puts_per_second = puts as f64 / started.elapsed().as_secs_f64();

    Ok(format!(
        "| Embedded store, in process (durable writes, `{tmp}`) | figure |\n\
         |---|---:|\n\
         | put + take pairs/s, one caller | {alone:.0} |\n\
         | put + take pairs/s, {CALLERS} callers | {many:.0} |\n\
         | put + take pairs/s, {BURST} callers at once | {burst:.0} |\n\
         | `get`, one caller, p50 / p99 | {} / {} |\n\
         | `get`, {CALLERS} callers, p50 / p99 / max ({:.0}/s) | {} / {} / {} |\n\
         | `get`, {CALLERS} callers beside {CALLERS} writers, p50 / p99 / max ({:.0}/s; writers {puts_per_second:.0} puts/s) | {} / {} / {} |",
        single.ms(50),
        single.ms(99),
        quiet.per_second,
        quiet.ms(50),
        quiet.ms(99),
        quiet.ms(100),
        busy.per_second,
        busy.ms(50),
        busy.ms(99),
        busy.ms(100),
        tmp = dir.path().parent().unwrap_or(dir.path()).display(),
    ))
}

fn user_key(n: usize) -> String {
    format!("user:{n}")
}

/// Put + take pairs per second from `callers` concurrent callers, `pairs` each.
async fn pairs_per_second(
    store: &Arc<dyn Store>,
    callers: usize,
    pairs: usize,
) -> Result<f64, BenchError> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                for n in 0..pairs {
                    let key = format!("ticket:{callers}:{caller}:{n}");
                    store.put(&key, b"grant", TICKET_LIFETIME).await?;
                    store.take(&key).await?.ok_or(BenchError::Lost)?;
                }
                Ok::<_, BenchError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok((callers * pairs) as f64 / started.elapsed().as_secs_f64())
}

struct Gets {
    sorted: Vec<Duration>,
    per_second: f64,
}

impl Gets {
    /// The nearest-rank percentile, formatted in milliseconds.
    fn ms(&self, percent: usize) -> String {
        let rank = (self.sorted.len() * percent).div_ceil(100).max(1);
        let at = self.sorted.get(rank - 1).copied().unwrap_or_default();
        format!("{:.3} ms", at.as_secs_f64() * 1000.0)
    }
}

/// Every `get`'s latency from `readers` concurrent callers reading existing user records.
async fn gets(
    store: &Arc<dyn Store>,
    readers: usize,
    per_reader: usize,
) -> Result<Gets, BenchError> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..readers)
        .map(|reader| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_reader);
                for n in 0..per_reader {
                    let asked = Instant::now();
                    store
                        .get(&user_key((reader * per_reader + n) % RECORDS))
                        .await?
                        .ok_or(BenchError::Lost)?;
                    latencies.push(asked.elapsed());
                }
                Ok::<_, BenchError>(latencies)
            })
        })
        .collect();
    let mut sorted = Vec::with_capacity(readers * per_reader);
    for task in tasks {
        sorted.extend(task.await??);
    }
    let per_second = sorted.len() as f64 / started.elapsed().as_secs_f64();
    sorted.sort_unstable();
    Ok(Gets { sorted, per_second })
}
