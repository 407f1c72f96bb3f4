//! `bench-console`: the desktop console's release build measured in its real window, as
//! `scripts/bench-console.sh` runs it, in a private Xvfb + D-Bus + gnome-keyring desktop against an
//! in-process dev auth server on loopback. Prints a Markdown table: stripped binary size; cold start
//! to the QR on screen through WebDriver, split into WebDriver's share (new-session request -> app
//! process started, from `/proc` start times) and the app's (first contentful paint, the QR
//! request reaching the server through a recording relay, the QR handed to the page and painted,
//! as a watcher in the page notes them); launches without WebDriver, timed from spawn to the QR
//! request, to estimate a cold start without automation; memory (PSS of the app and its WebKit
//! processes) idle on the login screen and on home, next to an empty WebKitGTK browser as the floor.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use meeteasy_bench::console::{DirectApp, DrivenConsole, Memory, QrShown, Relay, settled_memory};
use meeteasy_bench::table::{Samples, row};
use meeteasy_bench::{Result, explain, fail, io, procfs};
use meeteasy_tests::desktop::{Desktop, Driver};
use meeteasy_tests::server::TestServer;

/// The screens whose memory is measured without WebDriver, in the table's order.
const SCREENS: [&str; 3] = [
    "idle on the login screen, no WebDriver",
    "idle on home, no WebDriver",
    "floor: empty WebKitGTK browser (MiniBrowser)",
];

#[derive(Parser)]
#[command(
    about = "Benchmarks the console's release build in its real window (Xvfb, tauri-driver)."
)]
struct Args {
    /// Measured launches per configuration, after one warm-up launch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=50))]
    runs: u16,
    /// The console to measure [default: $CARGO_TARGET_DIR/console-release/meeteasy-console].
    #[arg(long)]
    console: Option<PathBuf>,
    /// An empty WebKitGTK browser measured as the memory floor; skipped if missing.
    #[arg(
        long,
        default_value = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
    )]
    floor: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(&Args::parse()).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench-console: {}", explain(&error));
            ExitCode::FAILURE
        }
    }
}

fn progress(step: &str) {
    eprintln!("bench-console: {step}");
}

fn is_qr_request(line: &str) -> bool {
    line.starts_with("GET ") && line.ends_with("/qr.png")
}

/// One cold start through WebDriver: when each step happened after the new-session request.
struct ColdStart {
    app_started: Duration,
    qr_requested: Duration,
    shown: QrShown,
}

/// The console under test, and where it runs.
struct Bench {
    runs: u16,
    console: PathBuf,
    server: TestServer,
    relay: Relay,
    desktop: Desktop,
    driver: Driver,
}

async fn run(args: &Args) -> Result<String> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    let target = target.unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let console = args.console.clone();
    let console = console.unwrap_or(target.join("console-release/meeteasy-console"));
    let build =
        "cargo build --profile console-release -p meeteasy-console --features custom-protocol";
    // The path `/proc/<pid>/exe` shows, to find the console among tauri-driver's processes.
    let missing = io(format!(
        "{} is missing: build it with `{build}`",
        console.display()
    ));
    let console = std::fs::canonicalize(&console).map_err(missing)?;
    let size = std::fs::metadata(&console).map_err(io("reading the console's size"))?;
    let load_before = procfs::load_average()?;

    let server = TestServer::start_dev().await;
    let relay = Relay::start(server.addr).await?;
    let desktop = Desktop::start();
    let driver = desktop.driver(&relay.url).await;
    let bench = Bench {
        runs: args.runs,
        console,
        server,
        relay,
        desktop,
        driver,
    };
    let measured = bench.measure(&args.floor).await;
    bench.driver.stop().await;
    let (cold, direct_qr, memory) = measured?;

    let ms = |durations: &mut dyn Iterator<Item = Duration>| cells(Samples::ms(durations), "ms");
    let after_start = |run: &ColdStart, at: Duration| at.saturating_sub(run.app_started);
    let estimated = direct_qr
        .iter()
        .zip(&cold)
        .map(|(requested, run)| *requested + run.shown.qr_painted.saturating_sub(run.qr_requested));
    let [login, home, floor] = memory.each_ref().map(|readings| {
        cells(
            Samples::new(
                readings
                    .iter()
                    .map(|memory| memory.total_kib as f64 / 1024.0),
            ),
            "MiB",
        )
    });
    let (size, runs) = (size.len() as f64, args.runs);
    let mut report = format!(
        "Console benchmark: release build (`--features custom-protocol`, `console-release` profile: \
         size-tuned, stripped), Xvfb, private D-Bus + gnome-keyring, in-process dev auth server on \
         loopback; {runs} runs each after one warm-up launch (file cache warm).\n\n\
         Command: `scripts/bench-console.sh{}`\n\n\
         | measure | median | min – max | runs | target |\n|---|---|---|---|---|\n\
         | stripped binary size | {:.1} MB ({:.1} MiB) | | | < 12 MB |\n\
         | cold start to QR visible (WebDriver new-session request → QR painted) | {} | < 1 s |\n\
         | … WebDriver's share: new-session request → app process started | {} | |\n\
         | … process started → first contentful paint | {} | |\n\
         | … process started → QR requested from the server | {} | |\n\
         | … QR requested → QR handed to the page (server, fetch, IPC) | {} | |\n\
         | … QR handed to the page → painted (decode, two frames) | {} | |\n\
         | no WebDriver: spawn → QR requested from the server | {} | |\n\
         | no WebDriver, estimated: spawn → QR requested (no WebDriver) + QR requested → painted \
         (under WebDriver), run by run | {} | < 1 s |\n\
         | memory (PSS), {} | {login} | |\n\
         | memory (PSS), {} | {home} | |\n\
         | memory (PSS), {} | {floor} | |\n\n\
         Memory by process (PSS, the median run of each; process count in brackets):\n\n\
         | screen | total | by process |\n|---|---|---|\n",
        std::env::args()
            .skip(1)
            .fold(String::new(), |line, arg| line + " " + &arg),
        size / 1e6,
        size / (1024.0 * 1024.0),
        ms(&mut cold.iter().map(|run| run.shown.qr_painted)),
        ms(&mut cold.iter().map(|run| run.app_started)),
        ms(&mut cold
            .iter()
            .filter_map(|run| Some(after_start(run, run.shown.first_paint?)))),
        ms(&mut cold.iter().map(|run| after_start(run, run.qr_requested))),
        ms(&mut cold
            .iter()
            .map(|run| run.shown.qr_sourced.saturating_sub(run.qr_requested))),
        ms(&mut cold
            .iter()
            .map(|run| run.shown.qr_painted.saturating_sub(run.shown.qr_sourced))),
        ms(&mut direct_qr.iter().copied()),
        ms(&mut estimated.into_iter()),
        SCREENS[0],
        SCREENS[1],
        SCREENS[2],
    );
    for (screen, readings) in SCREENS.iter().zip(&memory) {
        let mut sorted: Vec<&Memory> = readings.iter().collect();
        sorted.sort_by_key(|memory| memory.total_kib);
        // The median run (the lower middle for an even count).
        let Some(median) = sorted.get(sorted.len().saturating_sub(1) / 2) else {
            continue;
        };
        let processes = median.by_name.iter();
        let processes =
            processes.map(|(name, (count, kib))| format!("{name} ({count}) {}", mib(*kib)));
        let processes = processes.collect::<Vec<_>>().join(", ");
        report += &row(&[*screen, &mib(median.total_kib), &processes]);
    }
    let late = cold.iter().filter(|run| run.shown.late).count();
    if late > 0 {
        report += &format!(
            "\nIn {late} of {runs} cold starts the QR was already on screen when the page was first \
             asked, so those QR times are upper bounds.\n"
        );
    }
    let unsettled = memory
        .iter()
        .flatten()
        .filter(|memory| !memory.settled)
        .count();
    if unsettled > 0 {
        report += &format!("\n{unsettled} memory readings had not settled; their last is used.\n");
    }
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    report += &format!(
        "\nMachine: {cpus} CPUs; load average (1 min) {load_before} before the runs and {} after: \
         other work on the machine slows launches.",
        procfs::load_average()?
    );
    Ok(report)
}

/// "median | min – max | runs" of a row, in `unit`.
fn cells(samples: Samples, unit: &str) -> String {
    let [median, min, max] = [samples.median(), samples.min(), samples.max()];
    match samples.count() {
        0 => "n/a | | 0".to_owned(),
        runs => format!("{median:.0} {unit} | {min:.0} – {max:.0} {unit} | {runs}"),
    }
}

/// KiB as whole MiB.
fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

impl Bench {
    /// The cold starts under WebDriver; the launches without it (spawn -> QR requested); and the
    /// memory of [`SCREENS`], one reading per run.
    async fn measure(
        &self,
        floor: &Path,
    ) -> Result<(Vec<ColdStart>, Vec<Duration>, [Vec<Memory>; 3])> {
        progress("warm-up launch (also starts WebKitWebDriver and creates the keyring)");
        let warm_up = DrivenConsole::launch(&self.driver, &self.console).await?;
        warm_up.wait_for_qr().await?;
        warm_up.close().await;
        let mut cold = Vec::new();
        for run in 1..=self.runs {
            progress(&format!(
                "login screen under WebDriver, run {run}/{}",
                self.runs
            ));
            let app = DrivenConsole::launch(&self.driver, &self.console).await?;
            let shown = app.wait_for_qr().await?;
            let (qr_request, _) = self.relay.wait_for(app.requested, is_qr_request).await?;
            let qr_requested = qr_request - app.requested;
            cold.push(ColdStart {
                app_started: app.app_started,
                qr_requested,
                shown,
            });
            app.close().await;
        }

        let qr: fn(&str) -> bool = is_qr_request;
        let (direct_qr, login) = self
            .direct("login screen", &self.console, &[], Some(qr))
            .await?;
        progress("logging in once (scan and confirm as the phone would)");
        self.log_in().await?;
        let since_home = Instant::now();
        let verify: fn(&str) -> bool = |line| line == "POST /auth/jwt/verify";
        let (_, home) = self
            .direct("home", &self.console, &[], Some(verify))
            .await?;
        if self
            .relay
            .find(since_home, |line| line == "POST /auth/scenes")
            .is_some()
        {
            fail!("the console restored no session: it asked for a new QR instead of showing home");
        }
        let mut empty = Vec::new();
        if floor.is_file() {
            let page = ["data:text/html,<p>empty</p>"];
            (_, empty) = self
                .direct("empty WebKitGTK floor", floor, &page, None)
                .await?;
        } else {
            progress(&format!(
                "{} is missing: no WebKitGTK floor measured",
                floor.display()
            ));
        }
        Ok((cold, direct_qr, [login, home, empty]))
    }

    /// Launches `program` without WebDriver, once per run: how long after spawn the first request
    /// that `awaited` picks arrived (if given), and the memory once settled.
    async fn direct(
        &self,
        what: &str,
        program: &Path,
        args: &[&str],
        awaited: Option<fn(&str) -> bool>,
    ) -> Result<(Vec<Duration>, Vec<Memory>)> {
        let (mut after_spawn, mut memory) = (Vec::new(), Vec::new());
        for run in 1..=self.runs {
            progress(&format!(
                "{what} without WebDriver, run {run}/{}",
                self.runs
            ));
            let app = DirectApp::launch(&self.desktop, program, args, &self.relay.url)?;
            if let Some(awaited) = awaited {
                after_spawn
                    .push(self.relay.wait_for(app.launched, awaited).await?.0 - app.launched);
            }
            memory.push(settled_memory(app.pid).await);
            app.stop().await;
        }
        Ok((after_spawn, memory))
    }

    /// Shows the QR, plays the phone (dev login, scan, confirm) and waits for home, so the keychain
    /// holds a session for the home runs.
    async fn log_in(&self) -> Result<()> {
        let app = DrivenConsole::launch(&self.driver, &self.console).await?;
        app.wait_for_qr().await?;
        let (_, qr_request) = self.relay.wait_for(app.requested, is_qr_request).await?;
        let scene = qr_request.strip_prefix("GET /auth/scenes/");
        let Some(scene) = scene.and_then(|rest| rest.strip_suffix("/qr.png")) else {
            fail!("the QR request {qr_request:?} names no scene");
        };
        let token = self.server.dev_login("bench-organizer").await.access_token;
        for (step, expected) in [("scan", 200), ("confirm", 204)] {
            let path = format!("/auth/scenes/{scene}/{step}");
            let reply = self.server.post_empty(&path, Some(&token)).await;
            if reply.status != expected {
                fail!("the phone's {step} was refused: {}", reply.body);
            }
        }
        app.wait_for_home().await?;
        app.close().await;
        Ok(())
    }
}
