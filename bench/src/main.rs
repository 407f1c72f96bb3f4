//! `meeteasy-bench`: measures, in one run, what README.md reports about performance — confirm ->
//! console latency through the long-poll (one server, and two servers on one Redis), `islogin` and
//! ticket exchange requests per second with the server side on one CPU, Redis's own rate for
//! comparison, and 10,000 consoles waiting at once — on the embedded store and on Redis, and prints
//! one Markdown table. `scripts/bench.sh` builds it and runs it on the other CPU.

mod api;
mod auth_process;
mod consoles;
mod error;
mod latency;
mod load;
mod procfs;
mod redis;
mod report;
mod stats;
mod throughput;
mod waiters;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reqwest::Client;

use crate::auth_process::{AuthProcess, StoreChoice};
use crate::consoles::Consoles;
use crate::error::BenchError;
use crate::latency::Sides;
use crate::redis::PinnedRedis;
use crate::report::{Results, StoreResults};
use crate::stats::Latencies;
use crate::throughput::Target;

/// Sockets and files the benchmark needs besides the waiting consoles' connections.
const SPARE_FILES: u64 = 1_000;

#[derive(Debug, Parser)]
#[command(
    name = "meeteasy-bench",
    about = "Benchmarks meeteasy-auth on the embedded store and on Redis"
)]
struct Args {
    /// The `meeteasy-auth` binary (default: next to this one).
    #[arg(long)]
    auth_bin: Option<PathBuf>,
    /// The CPU the servers (and redis-server) are pinned to.
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    /// The CPU redis-benchmark is pinned to; run this benchmark itself there too (`taskset -c`).
    #[arg(long, default_value_t = 1)]
    client_cpu: usize,
    /// Logins measured for the confirm -> console latency, per setup.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Concurrent connections of the request rate measurements.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Consoles waiting at once.
    #[arg(long, default_value_t = 10_000)]
    waiters: usize,
    /// Confirms measured while they wait.
    #[arg(long, default_value_t = 50)]
    wake_ups: usize,
    /// Requests per test of redis-benchmark.
    #[arg(long, default_value_t = 200_000)]
    redis_requests: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("meeteasy-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(until_signal(run(&args))) {
        Ok(results) => {
            println!("{}", report::render(&results));
            let missed = report::missed_targets(&results);
            if missed.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("meeteasy-bench: targets missed: {}", missed.join("; "));
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("meeteasy-bench: {}", with_causes(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and every error that caused it: reqwest's own message leaves out the socket's.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Runs `work` unless SIGINT or SIGTERM comes first; then `work` is dropped, which stops every
/// server it started.
async fn until_signal<T>(
    work: impl Future<Output = Result<T, BenchError>>,
) -> Result<T, BenchError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(BenchError::io("listening for SIGTERM"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(BenchError::io("listening for SIGINT"))?;
    tokio::select! {
        done = work => done,
        _ = terminate.recv() => Err(BenchError::Interrupted),
        _ = interrupt.recv() => Err(BenchError::Interrupted),
    }
}

async fn run(args: &Args) -> Result<Results, BenchError> {
    let started = std::time::Instant::now();
    let needed = u64::try_from(args.waiters)
        .unwrap_or(u64::MAX)
        .saturating_add(SPARE_FILES);
    let soft = procfs::open_files_limit()?;
    if soft < needed {
        return Err(BenchError::FileLimit { soft, needed });
    }
    let binary = match &args.auth_bin {
        Some(binary) => binary.clone(),
        None => std::env::current_exe()
            .map_err(BenchError::io("finding this program"))?
            .with_file_name("meeteasy-auth"),
    };
    let (cpu_model, cpus) = procfs::machine()?;
    let client_cpus = procfs::allowed_cpus()?;
    let load_before = procfs::load_average()?;
    let mut bench = Bench {
        args,
        binary,
        http: api::client(None)?,
        consoles: Consoles::default(),
    };

    let embedded = bench
        .measure_store("embedded", &StoreChoice::Embedded, &[])
        .await?;

    progress("Redis: starting redis-server");
    let redis = PinnedRedis::start(args.server_cpu)?;
    let store = StoreChoice::Redis { url: redis.url() };
    let redis_results = bench.measure_store("Redis", &store, &[redis.pid()]).await?;
    let cross_instance = bench.measure_cross_instance(&store).await?;
    progress("Redis: redis-benchmark");
    let redis_rates = redis.benchmark(args.client_cpu, args.redis_requests)?;
    drop(redis);

    Ok(Results {
        command: command_line(&client_cpus),
        cpu_model,
        cpus,
        load_before,
        load_after: procfs::load_average()?,
        server_cpu: args.server_cpu,
        client_cpus,
        connections: args.connections,
        waiters: args.waiters,
        embedded,
        redis: redis_results,
        cross_instance,
        redis_rates,
        redis_requests: args.redis_requests,
        took: started.elapsed(),
    })
}

/// What every measurement needs: the settings, the server binary, a client for the phone and the
/// probes, and the console addresses used so far.
struct Bench<'a> {
    args: &'a Args,
    binary: PathBuf,
    http: Client,
    consoles: Consoles,
}

impl Bench<'_> {
    async fn start_server(&self, store: &StoreChoice) -> Result<AuthProcess, BenchError> {
        AuthProcess::start(&self.binary, self.args.server_cpu, store, &self.http).await
    }

    /// Latency, request rates and many waiting consoles on one store; `store_pids` are the store's
    /// own processes, whose CPU counts as the server side's too.
    async fn measure_store(
        &mut self,
        name: &str,
        store: &StoreChoice,
        store_pids: &[u32],
    ) -> Result<StoreResults, BenchError> {
        let args = self.args;
        let server = self.start_server(store).await?;
        let endpoint = server.endpoint();
        let phone = endpoint.dev_login(&self.http, "bench-phone").await?;

        progress(&format!(
            "{name}: confirm -> console latency, {} logins",
            args.iterations
        ));
        let sides = Sides {
            console: endpoint,
            phone: endpoint,
        };
        let latency = latency::confirm_to_console(
            &sides,
            &mut self.consoles,
            &self.http,
            &phone,
            args.iterations,
        )
        .await?;

        let server_pids: Vec<u32> = std::iter::once(server.pid())
            .chain(store_pids.iter().copied())
            .collect();
        let target = Target {
            endpoint,
            server_pids: &server_pids,
            server_cpu: args.server_cpu,
        };
        let load = api::client(None)?;
        progress(&format!("{name}: islogin requests per second"));
        let islogin =
            throughput::islogin(&target, &mut self.consoles, &load, args.connections).await?;
        progress(&format!("{name}: ticket exchanges per second"));
        let exchange =
            throughput::ticket_exchange(&target, &load, &phone, args.connections).await?;
        drop(load);
        server.stop();

        progress(&format!(
            "{name}: {} consoles waiting at once (fresh server)",
            args.waiters
        ));
        let server = self.start_server(store).await?;
        let phone = server
            .endpoint()
            .dev_login(&self.http, "bench-phone")
            .await?;
        let counts = waiters::Counts {
            consoles: args.waiters,
            confirms: args.wake_ups,
            connections: args.connections,
        };
        let waiting =
            waiters::many_waiting(&server, &mut self.consoles, &self.http, &phone, counts).await?;
        server.stop();

        Ok(StoreResults {
            latency: Latencies::new(latency),
            islogin,
            exchange,
            waiting,
        })
    }

    /// Confirm -> console latency with the phone on one instance and the console on another.
    async fn measure_cross_instance(
        &mut self,
        store: &StoreChoice,
    ) -> Result<Latencies, BenchError> {
        progress(&format!(
            "Redis: confirm -> console latency across two instances, {} logins",
            self.args.iterations
        ));
        let (phone_side, console_side) = (
            self.start_server(store).await?,
            self.start_server(store).await?,
        );
        let phone = phone_side
            .endpoint()
            .dev_login(&self.http, "bench-phone")
            .await?;
        let sides = Sides {
            console: console_side.endpoint(),
            phone: phone_side.endpoint(),
        };
        let latency = latency::confirm_to_console(
            &sides,
            &mut self.consoles,
            &self.http,
            &phone,
            self.args.iterations,
        )
        .await?;
        console_side.stop();
        phone_side.stop();
        Ok(Latencies::new(latency))
    }
}

fn progress(step: &str) {
    eprintln!("meeteasy-bench: {step}");
}

/// This benchmark's command line as it ran, with its CPU pinning, the binary by its name alone.
fn command_line(cpus: &str) -> String {
    let mut args = std::env::args();
    let program = args.next().map(PathBuf::from).and_then(|path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
    });
    let mut line = format!(
        "taskset -c {cpus} {}",
        program.unwrap_or_else(|| "meeteasy-bench".to_owned())
    );
    for arg in args {
        line.push(' ');
        line.push_str(&arg);
    }
    line
}
