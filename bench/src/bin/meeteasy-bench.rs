//! `meeteasy-bench` (`scripts/bench.sh` runs it on the other CPU): what README.md reports of the
//! server on the embedded store and on Redis, in one run as one Markdown table: confirm -> console
//! latency, request rates beside bare axum's and Redis's own, 10,000 consoles waiting at once.

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use meeteasy_bench::measure::{BATCH, Bench, ROUNDS, Rate, Waiting};
use meeteasy_bench::servers::PinnedRedis;
use meeteasy_bench::{Samples, arguments, procfs, progress, signing, thousands};
use tokio::signal::unix::{SignalKind, signal};

/// Signatures per timed round: a few tenths of a second each.
const SIGNATURES: u32 = 20_000;

/// The latency targets: (name, percentile, below how many ms).
const TARGETS: [(&str, f64, f64); 2] = [("p50", 50.0, 5.0), ("p99", 99.0, 25.0)];

/// The request rates each store is measured at, as the table names them.
const RATES: [&str; 4] = [
    "`islogin`: first `wait=0` poll of a fresh pending scene",
    "Ticket exchange (fresh ticket each, 2,048 users in turn)",
    "Token verification (`POST /auth/jwt/verify`, one session's token, verified before)",
    "Token verification, a fresh session's token each (its signature checked)",
];

/// Everything one store gave; its rates in the order of [`RATES`].
struct Measured {
    latency: Samples,
    rates: [Rate; 4],
    waiting: Waiting,
}

/// Runs the benchmark unless SIGINT or SIGTERM comes first (dropping the run stops its servers).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let bench = Bench::parse();
    let mut terminate = signal(SignalKind::terminate()).context("awaiting SIGTERM")?;
    tokio::select! {
        done = run(&bench) => done,
        _ = terminate.recv() => bail!("interrupted by SIGTERM"),
        _ = tokio::signal::ctrl_c() => bail!("interrupted by SIGINT"),
    }
}

/// Measures both stores and prints the table; fails if a latency target was missed.
async fn run(bench: &Bench) -> Result<()> {
    let (started, load_before) = (Instant::now(), procfs::load_average()?);
    let embedded = measure(bench, "embedded", None).await?;
    progress!("Redis: starting redis-server");
    let redis = PinnedRedis::start(bench.server_cpu)?;
    let on_redis = measure(bench, "Redis", Some(&redis)).await?;
    let (logins, requests) = (bench.iterations, bench.redis_requests);
    progress!("Redis: confirm -> console latency across two instances, {logins} logins");
    let (phone_side, phone) = bench.start(Some(&redis.server.url())).await?;
    let (console_side, _) = bench.start(Some(&redis.server.url())).await?;
    let sides = [console_side.address, phone_side.address];
    let cross = bench.logins(sides, &phone).await?;
    drop((console_side, phone_side));
    progress!("bare axum (the ceiling): islogin and ticket exchange requests per second");
    let ceiling = bench.ceiling_rates().await?;
    progress!("Redis: redis-benchmark");
    let [set, get] = redis.benchmark(bench.client_cpu, requests)?;
    drop(redis);
    progress!("Ed25519: one token's signature, alone");
    let signing = tokio::task::spawn_blocking(|| signing::signature_micros(ROUNDS, SIGNATURES));
    let signature = signing.await.context("timing signatures")?;

    let ((cpu_model, cpus), load_after) = (procfs::machine()?, procfs::load_average()?);
    let (args, took) = (arguments(), started.elapsed().as_secs_f64());
    let (client_cpus, server_cpu) = (procfs::allowed_cpus()?, bench.server_cpu);
    let [e, r] = [&embedded, &on_redis];
    // Each store's cell as `write` writes it, joined by `between`.
    let both = |between, write: &dyn Fn(&Measured) -> String| [write(e), write(r)].join(between);
    // "embedded | Redis | Redis / embedded" cells of the figure `of` reads, as `write` writes it.
    let compare = |of: &dyn Fn(&Measured) -> f64, write: &dyn Fn(f64) -> String| {
        let (cells, ratio) = (both(" | ", &|m| write(of(m))), ratio([e, r].map(of)));
        format!("{cells} | {ratio}")
    };
    let (n, connections) = (thousands(bench.waiters as f64), bench.connections);
    let rate = format!("requests/s, {connections} connections, median of {ROUNDS} rounds");
    let cpu = "… CPU the server side used meanwhile (`meeteasy-auth`, and `redis-server` for Redis), \
               and how busy the server CPU was (all processes)";
    let mut rates = String::new();
    for (at, name) in RATES.into_iter().enumerate() {
        let texts = both(" | ", &|m| per_second(&m.rates[at]));
        let used = both(" | ", &|m| cores(&m.rates[at]));
        let ratio = ratio([e, r].map(|m| m.rates[at].per_second.median()));
        rates += &format!("| {name}, {rate} (min–max) | {texts} | {ratio} |  |\n");
        rates += &format!("| {cpu} | {used} | — |  |\n");
    }
    let ms = |value: f64| format!("{value:.2} ms");
    let [p50, p99] = [50.0, 99.0].map(|p| compare(&|m| m.latency.percentile(p), &ms));
    let two_ms = |of: &Samples, ps: [f64; 2]| ps.map(|p| ms(of.percentile(p))).join(" / ");
    let cross_cells = two_ms(&cross, [50.0, 99.0]);
    let set_get = [set, get].map(thousands).join(" / ");
    let of_set = two([0, 1].map(|at| r.rates[at].per_second.median() / set));
    let ceiling_rates = ceiling.each_ref().map(per_second).join(" / ");
    let ceiling_cores = ceiling.each_ref().map(cores).join(" / ");
    let shares = |of: fn(&Rate) -> f64| {
        let share = |m: &Measured| two([0, 1].map(|at| of(&m.rates[at]) / of(&ceiling[at])));
        [e, r].map(share).join(" | ")
    };
    let of_ceiling = shares(|rate| rate.per_second.median());
    let [sign_median, sign_min, sign_max] = signature.spread().map(|us| format!("{us:.1}"));
    let signature_cell = format!("{sign_median} ({sign_min}–{sign_max})");
    let highest = signing::highest_share(ceiling[1].per_core(), signature.median());
    let highest_exchange_share = format!("{highest:.2}");
    let per_core = shares(Rate::per_core);
    let mib = |kib: f64| format!("{:.1} MiB", kib / 1024.0);
    let [idle, scenes, waiting] = [0, 1, 2].map(|at| compare(&|m| m.waiting.rss_kib[at], &mib));
    let per_waiter = |m: &Measured| {
        let [_, scenes, waiting] = m.waiting.rss_kib;
        (waiting - scenes).max(0.0) / bench.waiters as f64
    };
    let per_waiter = compare(&per_waiter, &|kib| format!("{kib:.1} KiB"));
    let gauge = both(" / ", &|m| thousands(m.waiting.waiters as f64));
    let ramp_up = |m: &Measured| format!("{:.1} s", m.waiting.ramp_up.as_secs_f64());
    let (ramp_up, confirms) = (both(" | ", &ramp_up), e.waiting.wake_ups.count());
    let wake_ups = both(" | ", &|m| two_ms(&m.waiting.wake_ups, [50.0, 100.0]));
    let wake_up_ratio = ratio([e, r].map(|m| m.waiting.wake_ups.percentile(50.0)));
    println!(
        "Command: `scripts/bench.sh` (runs `taskset -c {client_cpus} meeteasy-bench{args}`); \
         every figure below is from one run of {took:.0} s.\n\
         Machine: {cpu_model}, {cpus} CPUs, shared with other work (1-minute load average \
         {load_before:.2} before, {load_after:.2} after). Server side (`meeteasy-auth` release \
         binary in `--dev` mode, and `redis-server` for Redis) pinned to CPU {server_cpu}; load \
         generator (`meeteasy-bench`, `redis-benchmark`) on CPU {client_cpus}; loopback, \
         HTTP/1.1.\n\n\
         | Measurement | Embedded (redb) | Redis | Redis / embedded | Target |\n\
         |---|---:|---:|---:|---|\n\
         | Confirm → console `confirmed` through the long-poll ({logins} logins), p50 | {p50} \
         | < 5 ms |\n\
         | Confirm → console `confirmed` through the long-poll ({logins} logins), p99 | {p99} \
         | < 25 ms |\n\
         | Same, confirm on instance A, console waiting on instance B, one Redis ({logins} logins), \
         p50 / p99 | — | {cross_cells} | — | < 5 ms / < 25 ms |\n\
         {rates}\
         | `redis-benchmark -q -t set,get -n {requests}` (50 connections), SET / GET requests/s \
         | — | {set_get} | — |  |\n\
         | `islogin` / ticket exchange rate as a share of Redis's own SET rate | — | {of_set} | — \
         |  |\n\
         | Bare axum on the same CPU answering the same JSON (`bench-ceiling`, the stack's ceiling): \
         `islogin` / exchange, {rate} | {ceiling_rates} | — | — |  |\n\
         | … CPU bare axum used meanwhile, and how busy its CPU was (below one core busy, the \
         load generator was the limit) | {ceiling_cores} | — | — |  |\n\
         | `islogin` / ticket exchange rate as a share of that ceiling | {of_ceiling} | — | 0.4 |\n\
         | … the same, of requests per CPU-second the server process itself used (`meeteasy-auth`, \
         not `redis-server`) | {per_core} | — | 0.4 |\n\
         | Ed25519 signature of a token's header and claims alone (ed25519-dalek, on the load \
         generator's CPU once the rest is done), µs, median of {ROUNDS} rounds (min–max) \
         | {signature_cell} | — | — |  |\n\
         | … the highest share of bare axum's exchange rate a server could reach that did nothing \
         but bare axum's work and this signature (per CPU-second) | {highest_exchange_share} | — \
         | — | 0.4 |\n\
         | Server RSS, fresh server | {idle} |  |\n\
         | Server RSS with {n} scenes created | {scenes} |  |\n\
         | Server RSS with {n} consoles waiting in `islogin?wait=30` (waiter gauge {gauge}) \
         | {waiting} |  |\n\
         | … memory per waiting console (connection + long-poll) | {per_waiter} |  |\n\
         | {n} long-polls opened ({BATCH} at a time) in | {ramp_up} | — |  |\n\
         | Confirm → `confirmed` while {n} wait ({confirms} confirms), p50 / max | {wake_ups} \
         | {wake_up_ratio} | < 5 ms / < 25 ms |\n"
    );

    let latencies = [
        ("embedded", &e.latency),
        ("Redis", &r.latency),
        ("two instances on Redis", &cross),
        ("embedded, many waiting", &e.waiting.wake_ups),
        ("Redis, many waiting", &r.waiting.wake_ups),
    ];
    let missed = latencies.into_iter().flat_map(|(setup, latency)| {
        TARGETS.into_iter().filter_map(move |(name, at, target)| {
            let measured = latency.percentile(at);
            let missed = format!("{setup}: {name} {} (target < {target} ms)", ms(measured));
            (measured >= target).then_some(missed)
        })
    });
    let missed = missed.collect::<Vec<_>>().join("; ");
    if missed.is_empty() {
        println!("Every confirm → console latency above met the targets: p50 < 5 ms, p99 < 25 ms.");
    }
    let [e, r] = [e, r].map(|m| thousands(2_500.0 / m.latency.percentile(50.0).max(f64::EPSILON)));
    println!(
        "Against the seed's 5-second polling (about 2.5 s on average from confirm to console), the \
         long-poll's p50 is {e} times faster on the embedded store and {r} times on Redis."
    );
    ensure!(missed.is_empty(), "targets MISSED: {missed}");
    Ok(())
}

/// Latency, request rates and many waiting consoles on one store: Redis `on` one, or embedded.
async fn measure(bench: &Bench, store: &str, on: Option<&PinnedRedis>) -> Result<Measured> {
    let url = on.map(|redis| redis.server.url());
    let (server, phone) = bench.start(url.as_deref()).await?;
    let (logins, waiters) = (bench.iterations, bench.waiters);
    progress!("{store}: confirm -> console latency, {logins} logins");
    let latency = bench.logins([server.address; 2], &phone).await?;
    // The store's own process, when it has one, counts as the server side too.
    let (at, pids) = (server.address, [Some(server.pid()), on.map(|on| on.pid)]);
    let pids: Vec<u32> = pids.into_iter().flatten().collect();
    progress!("{store}: islogin requests per second");
    let islogin = bench.islogin_rate(at, &pids).await?;
    progress!("{store}: ticket exchanges per second");
    let exchange = bench.exchange_rate(at, &pids).await?;
    progress!("{store}: token verifications per second");
    let verify = bench.verify_rate(at, &pids, &phone).await?;
    progress!("{store}: first verifications of tokens per second");
    let first_verify = bench.first_verify_rate(at, &pids).await?;
    drop(server);
    progress!("{store}: {waiters} consoles waiting at once (fresh server)");
    let (server, phone) = bench.start(url.as_deref()).await?;
    Ok(Measured {
        latency,
        rates: [islogin, exchange, verify, first_verify],
        waiting: bench.many_waiting(&server, &phone).await?,
    })
}

fn ratio([embedded, redis]: [f64; 2]) -> String {
    let ratio = (embedded > 0.0).then(|| format!("{:.2}", redis / embedded));
    ratio.unwrap_or_else(|| "—".to_owned())
}

/// `islogin` / exchange figures.
fn two([islogin, exchange]: [f64; 2]) -> String {
    format!("{islogin:.2} / {exchange:.2}")
}

fn cores(rate: &Rate) -> String {
    let (cores, store, busy) = (rate.server_cores, rate.store_cores, rate.server_cpu_busy);
    let store = (store > 0.0).then(|| format!(", {store:.2} of them `redis-server`'s"));
    let (store, busy) = (store.unwrap_or_default(), busy * 100.0);
    format!("{cores:.2} cores{store} (CPU {busy:.0} % busy)")
}

fn per_second(rate: &Rate) -> String {
    let [median, min, max] = rate.per_second.spread().map(thousands);
    format!("{median} ({min}–{max})")
}
