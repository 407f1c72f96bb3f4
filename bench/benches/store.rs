//! The embedded store alone, in this process, under Criterion (`cargo bench -p meeteasy-bench
//! --bench store`, which `scripts/bench.sh` runs last): put + take pairs (a durable write, then a
//! take-once) from one caller, from 50 and from bursts of 2,000; `get` from one caller, from 50,
//! and from 50 while 50 others write (reads are served beside the writer: they must not wait for
//! its fsyncs). Every write is durable before it is answered, so these figures follow the disk.
//! Criterion's statistics are over batches, which hide a slow get: each `get` benchmark also prints
//! the p50 / p99 / max of every get it timed (and the writers' rate).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use meeteasy_auth::store::embedded::EmbeddedStore;
use meeteasy_auth::store::{Lifetime, Store};
use meeteasy_bench::{Samples, thousands};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const TICKET: Lifetime = Lifetime::For(Duration::from_secs(60));
const RECORDS: u64 = 1_000;

criterion::criterion_group!(benches, store);
criterion::criterion_main!(benches);

fn store(c: &mut Criterion) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let runtime = builder.worker_threads(2).enable_all().build();
    let runtime = runtime.expect("a runtime");
    let dir = tempfile::tempdir().expect("a data directory");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("the store opens"));
    println!("Embedded store in {}, durable writes", dir.path().display());

    let mut pairs = c.benchmark_group("put + take");
    for (name, callers) in [("one caller", 1), ("50 callers", 50)] {
        pairs.throughput(Throughput::Elements(callers));
        let each_pairs = |iters| runtime.block_on(put_take(&store, callers, iters));
        pairs.bench_function(name, |b| b.iter_custom(&each_pairs));
    }
    pairs.sampling_mode(SamplingMode::Flat).sample_size(10);
    pairs.throughput(Throughput::Elements(2_000));
    let burst = || runtime.block_on(put_take(&store, 2_000, 1));
    let bursts = |iters| (0..iters).map(|_| burst()).sum();
    pairs.bench_function("2,000 callers at once", |b| b.iter_custom(bursts));
    pairs.finish();

    for n in 0..RECORDS {
        let user = format!("user:{n}");
        let put = store.put(&user, b"a user record", Lifetime::Forever);
        runtime.block_on(put).expect("a user put");
    }
    let mut group = c.benchmark_group("get");
    gets(&mut group, &runtime, &store, ("one caller", 1), None);
    gets(&mut group, &runtime, &store, ("50 callers", 50), None);
    let (writing, puts) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)));
    let writer = |writer| {
        let (store, writing, puts) = (Arc::clone(&store), Arc::clone(&writing), Arc::clone(&puts));
        async move {
            for n in (0..).take_while(|_| writing.load(Relaxed)) {
                let ticket = format!("ticket:w{writer}:{n}");
                store.put(&ticket, b"grant", TICKET).await.expect("a put");
                puts.fetch_add(1, Relaxed);
            }
        }
    };
    let writers: Vec<_> = (0..50).map(|n| runtime.spawn(writer(n))).collect();
    let beside = ("50 callers beside 50 writers", 50);
    gets(&mut group, &runtime, &store, beside, Some(&puts));
    writing.store(false, Relaxed);
    for writer in writers {
        runtime.block_on(writer).expect("a writer");
    }
    group.finish();
}

/// Runs `task(0)` to `task(count - 1)` at once; how long they all took, and their outputs.
async fn together<F>(count: u64, task: impl Fn(u64) -> F) -> (Duration, Vec<F::Output>)
where
    F: Future<Output: Send + 'static> + Send + 'static,
{
    let started = Instant::now();
    // A task that panicked panics here too.
    let tasks: JoinSet<_> = (0..count).map(task).collect();
    let outputs = tasks.join_all().await;
    (started.elapsed(), outputs)
}

/// Put + take pairs from `callers` concurrent callers, `pairs` each; how long they took.
async fn put_take(store: &Arc<dyn Store>, callers: u64, pairs: u64) -> Duration {
    let caller = |caller| {
        let store = Arc::clone(store);
        async move {
            for n in 0..pairs {
                let key = format!("ticket:{callers}:{caller}:{n}");
                store.put(&key, b"grant", TICKET).await.expect("a put");
                let taken = store.take(&key).await.expect("a ticket take");
                assert!(taken.is_some(), "the ticket just put is there");
            }
        }
    };
    together(callers, caller).await.0
}

/// `get` from `readers` concurrent callers, one get each per iteration. Then prints every timed
/// get's p50 / p99 / max, and with `puts` (counting other callers' puts) their rate meanwhile.
fn gets(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    store: &Arc<dyn Store>,
    (name, readers): (&str, u64),
    puts: Option<&AtomicU64>,
) {
    // Millions of gets are timed: each as 4 bytes (f32 ms).
    let (mut latencies, mut puts_meanwhile, mut timed) = (Vec::<f32>::new(), 0, Duration::ZERO);
    let put_count = || puts.map_or(0, |puts| puts.load(Relaxed));
    let reader = |each| move |reader| reads(Arc::clone(store), reader, each);
    group.throughput(Throughput::Elements(readers));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let puts_before = put_count();
            let (took, each) = runtime.block_on(together(readers, reader(iters)));
            (puts_meanwhile, timed) = (puts_meanwhile + put_count() - puts_before, timed + took);
            latencies.extend(each.into_iter().flatten());
            took
        });
    });
    let latencies = Samples::new(latencies.into_iter().map(f64::from));
    if latencies.count() == 0 {
        return; // Not run: filtered out.
    }
    let [p50, p99, max] = [50.0, 99.0, 100.0].map(|p| latencies.percentile(p));
    let writers = thousands(puts_meanwhile as f64 / timed.as_secs_f64());
    let writers = puts.map(|_| format!("; writers {writers} puts/s"));
    println!(
        "get/{name}: every get, warm-up included: p50 {p50:.3} ms / p99 {p99:.3} ms / max \
         {max:.3} ms ({} gets{})\n",
        thousands(latencies.count() as f64),
        writers.unwrap_or_default()
    );
}

/// `each` gets of user records by caller `reader`: how long each took, in ms.
async fn reads(store: Arc<dyn Store>, reader: u64, each: u64) -> Vec<f32> {
    let mut latencies = Vec::new();
    for n in 0..each {
        let (asked, user) = (Instant::now(), (reader * each + n) % RECORDS);
        let record = store.get(&format!("user:{user}")).await.expect("a get");
        latencies.push(asked.elapsed().as_secs_f32() * 1000.0);
        assert!(record.is_some(), "every user record is there");
    }
    latencies
}
