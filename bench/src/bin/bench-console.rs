//! `bench-console` (`scripts/bench-console.sh` runs it): the console's release build in its real
//! window, against an in-process dev auth server on loopback (parts in `meeteasy_bench::console`),
//! as a Markdown table: binary size, cold start to the QR on screen and its steps, also without
//! WebDriver, and memory on the login screen and on home beside an empty WebKitGTK browser.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use meeteasy_bench::console::{ColdStart, Memory, cold_start, is_qr_request};
use meeteasy_bench::console::{launch_driven, settled_memory, stop, wait_for};
use meeteasy_bench::{Samples, arguments, beside_this, procfs, progress};
use meeteasy_tests::desktop::{Desktop, Driver};
use meeteasy_tests::relay::Relay;
use meeteasy_tests::server::TestServer;

/// The screens whose memory is measured, without WebDriver, in the table's order.
const SCREENS: [&str; 3] = [
    "idle on the login screen, no WebDriver",
    "idle on home, no WebDriver",
    "floor: empty WebKitGTK browser (MiniBrowser)",
];
/// How `scripts/bench-console.sh` builds the console it measures.
const BUILD: &str = "--profile console-release -p meeteasy-console --features custom-protocol";
const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

/// Benchmarks the console's release build in its real window (Xvfb, tauri-driver).
#[derive(Parser)]
struct Args {
    /// Measured launches per configuration, after one warm-up launch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=50))]
    runs: u16,
    /// The console to measure.
    #[arg(long, default_value_os_t = beside_this("../console-release/meeteasy-console"))]
    console: PathBuf,
    /// An empty WebKitGTK browser measured as the memory floor; skipped if missing.
    #[arg(long, default_value = MINIBROWSER)]
    floor: PathBuf,
}

/// The console under test (`args`), and where it runs.
struct Bench {
    args: Args,
    server: TestServer,
    relay: Relay,
    desktop: Desktop,
    driver: Driver,
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = Args::parse();
    let path = args.console.display();
    let missing = format!("{path} is missing: `cargo build {BUILD}`");
    // The path `/proc/<pid>/exe` shows, to find the console among tauri-driver's processes.
    args.console = std::fs::canonicalize(&args.console).context(missing)?;
    let size = std::fs::metadata(&args.console).context("reading the console's size")?;
    let [size_mb, size_mib] = [1e6, 1024.0 * 1024.0].map(|unit| size.len() as f64 / unit);
    let (load_before, runs) = (procfs::load_average()?, args.runs);

    let server = TestServer::start_dev().await;
    let relay = Relay::start(server.addr, true).await;
    let desktop = Desktop::start();
    let bench = Bench {
        driver: desktop.driver(&relay.url).await,
        args,
        server,
        relay,
        desktop,
    };
    let measured = bench.measure().await;
    bench.driver.stop().await;
    let (cold, direct_qr, memory) = measured?;

    let each =
        |of: fn(&ColdStart) -> Option<f64>| cells(Samples::new(cold.iter().filter_map(of)), "ms");
    let estimated = direct_qr.iter().zip(&cold);
    let estimated = estimated.map(|(direct, run)| direct + after(run.qr_requested, run.painted));
    let unsettled = memory.iter().flatten().filter(|m| !m.settled).count();
    let (mut memory_rows, mut by_process) = (String::new(), String::new());
    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
    for (screen, mut readings) in SCREENS.into_iter().zip(memory) {
        let totals = Samples::new(readings.iter().map(|m| m.total_kib as f64 / 1024.0));
        memory_rows += &format!("| memory (PSS), {screen} | {} | |\n", cells(totals, "MiB"));
        readings.sort_by_key(|memory| memory.total_kib);
        // The median run (the lower middle for an even count).
        if let Some(median) = readings.get(readings.len().saturating_sub(1) / 2) {
            let processes = median.by_name.iter();
            let processes = processes.map(|(name, (n, kib))| format!("{name} ({n}) {}", mib(*kib)));
            let processes = processes.collect::<Vec<_>>().join(", ");
            by_process += &format!("| {screen} | {} | {processes} |\n", mib(median.total_kib));
        }
    }
    let ((_, cpus), load_after) = (procfs::machine()?, procfs::load_average()?);
    print!(
        "Console benchmark: release build (`--features custom-protocol`, `console-release` profile: \
         size-tuned, stripped), Xvfb, private D-Bus + gnome-keyring, in-process dev auth server on \
         loopback; {runs} runs each after one warm-up launch (file cache warm).\n\n\
         Command: `scripts/bench-console.sh{}`\n\n\
         | measure | median | min – max | runs | target |\n|---|---|---|---|---|\n\
         | stripped binary size | {size_mb:.1} MB ({size_mib:.1} MiB) | | | < 12 MB |\n\
         | cold start to QR visible (WebDriver new-session request → QR painted) | {} | < 1 s |\n\
         | … process started → first contentful paint | {} | |\n\
         | … process started → QR requested from the server | {} | |\n\
         | … QR requested → QR handed to the page (server, fetch, IPC) | {} | |\n\
         | … QR handed to the page → painted (decode, two frames) | {} | |\n\
         | no WebDriver, estimated: spawn → QR requested (no WebDriver) + QR requested → painted \
         (under WebDriver), run by run | {} | < 1 s |\n\
         {memory_rows}\n\
         Memory by process (PSS, the median run of each; process count in brackets):\n\n\
         | screen | total | by process |\n|---|---|---|\n{by_process}",
        arguments(),
        each(|run| Some(run.painted)),
        each(|run| Some(after(run.app_started, run.first_paint?))),
        each(|run| Some(after(run.app_started, run.qr_requested))),
        each(|run| Some(after(run.qr_requested, run.sourced))),
        each(|run| Some(after(run.sourced, run.painted))),
        cells(Samples::new(estimated), "ms"),
    );
    let late = cold.iter().filter(|run| run.late).count();
    if late > 0 {
        println!(
            "\nIn {late} of {runs} cold starts the QR was already on screen when the page was first \
             asked, so those QR times are upper bounds."
        );
    }
    if unsettled > 0 {
        println!("\n{unsettled} memory readings had not settled; their last is used.");
    }
    println!(
        "\nMachine: {cpus} CPUs; load average (1 min) {load_before} before the runs and \
         {load_after} after: other work on the machine slows launches."
    );
    Ok(())
}

/// "median | min – max | runs" of a row, in `unit`.
fn cells(samples: Samples, unit: &str) -> String {
    let [median, min, max] = samples.spread();
    match samples.count() {
        0 => "n/a | | 0".to_owned(),
        runs => format!("{median:.0} {unit} | {min:.0} – {max:.0} {unit} | {runs}"),
    }
}

/// The ms from `from` to `to`, none if `to` came first (two clocks, the page's and `/proc`'s).
fn after(from: f64, to: f64) -> f64 {
    (to - from).max(0.0)
}

impl Bench {
    /// The cold starts under WebDriver; the launches without it (spawn -> QR requested, ms); and
    /// the memory of [`SCREENS`], one reading per run.
    async fn measure(&self) -> Result<(Vec<ColdStart>, Vec<f64>, [Vec<Memory>; 3])> {
        let (runs, console, relay) = (self.args.runs, &self.args.console, &self.relay);
        let mut cold = Vec::new();
        // Run 0 warms up (it also starts WebKitWebDriver and creates the keyring): not counted.
        for run in 0..=runs {
            progress!("login screen under WebDriver, run {run}/{runs} (0: the warm-up)");
            cold.push(cold_start(&self.driver, console, relay).await?);
        }
        cold.remove(0);

        let login = self.direct("login screen", console, &[], Some(is_qr_request));
        let (direct_qr, login) = login.await?;
        progress!("logging in once (scan and confirm as the phone would)");
        let (window, app) = launch_driven(&self.driver, console).await?;
        let phone = self.server.dev_login("bench-organizer").await.access_token;
        // The keychain now holds a session for the home runs.
        window.scan_in(&self.server, &phone).await;
        stop(app.pid, Some(window)).await;
        let since_home = Instant::now();
        let session_check: fn(&str) -> bool = |line| line == "POST /auth/jwt/verify";
        let home = self.direct("home", console, &[], Some(session_check));
        let (_, home) = home.await?;
        let asked_for_qr = relay.find(since_home, |line| line == "POST /auth/scenes");
        if asked_for_qr.is_some() {
            bail!("the console restored no session: it asked for a new QR instead of showing home");
        }
        let (floor, mut empty) = (&self.args.floor, Vec::new());
        if floor.is_file() {
            let page = ["data:text/html,<p>empty</p>"];
            let floor = self.direct("empty WebKitGTK floor", floor, &page, None);
            (_, empty) = floor.await?;
        } else {
            progress!("{floor:?} is missing: no WebKitGTK floor measured");
        }
        Ok((cold, direct_qr, [login, home, empty]))
    }

    /// Launches `program` (with `args`) in the desktop without WebDriver, once per run: how many ms
    /// after spawn the first request `awaited` picks arrived (if given), and the settled memory.
    async fn direct(
        &self,
        what: &str,
        program: &Path,
        args: &[&str],
        awaited: Option<fn(&str) -> bool>,
    ) -> Result<(Vec<f64>, Vec<Memory>)> {
        let (runs, mut after_spawn, mut memory) = (self.args.runs, Vec::new(), Vec::new());
        for run in 1..=runs {
            progress!("{what} without WebDriver, run {run}/{runs}");
            let mut command = self.desktop.app_command(program, &self.relay.url);
            command.args(args).stdin(Stdio::null());
            command.stdout(Stdio::null()).stderr(Stdio::null());
            let launched = Instant::now();
            // Dropped at once: tokio reaps it once it exits, and `stop` watches `/proc` for that.
            let child = tokio::process::Command::from(command).spawn();
            let child = child.context(format!("launching {}", program.display()))?;
            let pid = child.id().unwrap_or_default();
            if let Some(awaited) = awaited {
                after_spawn.push(wait_for(&self.relay, launched, awaited).await?);
            }
            memory.push(settled_memory(pid).await);
            stop(pid, None).await;
        }
        Ok((after_spawn, memory))
    }
}
