//! `bench-console`: the desktop console's release build measured in its real window, as
//! `scripts/bench-console.sh` runs it. Stripped binary size; cold start to the QR on screen
//! through WebDriver, split into WebDriver's part and the app's part, and checked against launches
//! without WebDriver; memory (PSS of the app and its WebKit processes) idle on the login screen
//! and on home, next to an empty WebKitGTK browser as the floor. Everything runs in a private
//! Xvfb + D-Bus + gnome-keyring desktop against an in-process dev auth server on loopback.

// A binary in src/bin/ finds its modules beside it; these live in src/bin/console/.
#[path = "console/launch.rs"]
mod launch;
#[path = "console/memory.rs"]
mod memory;
#[path = "console/procs.rs"]
mod procs;
#[path = "console/relay.rs"]
mod relay;
#[path = "console/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use meeteasy_tests::desktop::{Desktop, Driver};
use meeteasy_tests::server::TestServer;

use crate::launch::{DirectApp, DrivenConsole};
use crate::memory::SettledMemory;
use crate::relay::{RecordingRelay, SeenRequest};
use crate::report::{Report, Row, Series};

/// The dev user who plays the organizer's phone for the home screen.
const ORGANIZER: &str = "bench-organizer";

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

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{path} is missing ({source}): build it with `cargo build --profile console-release -p meeteasy-console --features custom-protocol`", path = .0.display(), source = .1)]
    Missing(PathBuf, std::io::Error),
    #[error("cannot launch {path}: {source}", path = .0.display(), source = .1)]
    Launch(PathBuf, std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("{0} is gone")]
    Gone(&'static str),
    #[error("cannot read {0}")]
    Proc(&'static str),
    #[error("WebDriver: {0}")]
    WebDriver(String),
    #[error("the page answered something unexpected: {0}")]
    Page(#[from] serde_json::Error),
    #[error("the QR request {0:?} names no scene")]
    NoScene(String),
    #[error("the phone's {0} was refused: {1}")]
    Phone(&'static str, String),
    #[error("the console restored no session: it asked for a new QR instead of showing home")]
    NotRestored,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench-console: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One cold start through WebDriver, every time measured from the new-session request.
struct ColdStart {
    session_opened: Duration,
    app_started: Duration,
    first_paint: Option<Duration>,
    qr_requested: Duration,
    qr_sourced: Duration,
    qr_painted: Duration,
    /// The QR was already on screen when the page was first asked (its time is an upper bound).
    late: bool,
}

async fn run(args: &Args) -> Result<Report, BenchError> {
    let console = launch::canonical(&args.console.clone().unwrap_or_else(default_console))?;
    let binary_bytes = std::fs::metadata(&console)?.len();
    let runs = usize::from(args.runs);
    let load_before = load_average();

    let server = TestServer::start_dev().await;
    let relay = RecordingRelay::start(server.addr).await?;
    let desktop = Desktop::start();
    let driver = desktop.driver(&relay.url).await;
    let measured = measure(args, &console, runs, &server, &relay, &desktop, &driver).await;
    driver.stop().await;
    let Measured {
        rows,
        breakdowns,
        unsettled,
        mut notes,
    } = measured?;

    notes.push(format!(
        "Machine: {} CPUs; load average (1 min) {} before the runs and {} after: other work on \
         the machine slows launches.",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_before,
        load_average(),
    ));
    notes.push(
        "WebDriver's cost: under tauri-driver the app is started by WebKitWebDriver, so \
             \"new-session request → app process started\" is WebDriver's share of the cold start \
             (`/proc` start times, 10 ms resolution); the app's own share follows it. The QR time \
             is taken by a watcher the bench puts in the page as soon as the session opens: when \
             the QR image got its `data:` source, was decoded, and two animation frames were \
             presented (page clock; at most one frame late). First contentful paint is WebKit's \
             paint timing. Launches without WebDriver are timed \
             from spawn to the QR request reaching the server (a recording loopback relay); \
             compare with the same request under WebDriver to see what automation adds to the \
             app itself."
            .to_owned(),
    );
    Ok(Report {
        command: command_line(),
        runs,
        binary_bytes,
        rows,
        breakdowns,
        unsettled,
        notes,
    })
}

struct Measured {
    rows: Vec<Row>,
    /// `(screen, the median run's memory)`.
    breakdowns: Vec<(String, SettledMemory)>,
    /// Memory readings that had not settled by the deadline.
    unsettled: usize,
    notes: Vec<String>,
}

async fn measure(
    args: &Args,
    console: &Path,
    runs: usize,
    server: &TestServer,
    relay: &RecordingRelay,
    desktop: &Desktop,
    driver: &Driver,
) -> Result<Measured, BenchError> {
    progress("warm-up launch (also starts WebKitWebDriver and creates the keyring)");
    let warm_up = DrivenConsole::launch(driver, console).await?;
    warm_up.wait_for_qr().await?;
    warm_up.close().await;

    let mut cold = Vec::new();
    let mut login_driven = Vec::new();
    for run in 1..=runs {
        progress(&format!("login screen under WebDriver, run {run}/{runs}"));
        let app = DrivenConsole::launch(driver, console).await?;
        let shown = app.wait_for_qr().await?;
        let qr_request = relay
            .wait_for(app.requested, "the QR request", is_qr_request)
            .await?;
        cold.push(ColdStart {
            session_opened: app.session_opened,
            app_started: app.app_started,
            first_paint: shown.first_paint,
            qr_requested: qr_request.at.duration_since(app.requested),
            qr_sourced: shown.qr_sourced,
            qr_painted: shown.qr_painted,
            late: shown.late,
        });
        login_driven.push(memory::settle(app.app_pid).await);
        app.close().await;
    }

    let mut direct_qr = Vec::new();
    let mut login_direct = Vec::new();
    for run in 1..=runs {
        progress(&format!("login screen without WebDriver, run {run}/{runs}"));
        let app = DirectApp::launch(desktop, console, &[], &relay.url)?;
        let qr_request = relay
            .wait_for(app.launched, "the QR request", is_qr_request)
            .await?;
        direct_qr.push(qr_request.at.duration_since(app.launched));
        login_direct.push(memory::settle(app.pid).await);
        app.stop().await;
    }

    progress("logging in once (scan and confirm as the phone would)");
    log_in(server, relay, driver, console).await?;

    let mut home_driven = Vec::new();
    for run in 1..=runs {
        progress(&format!("home under WebDriver, run {run}/{runs}"));
        let app = DrivenConsole::launch(driver, console).await?;
        app.wait_for_home().await?;
        home_driven.push(memory::settle(app.app_pid).await);
        app.close().await;
    }

    let mut home_direct = Vec::new();
    for run in 1..=runs {
        progress(&format!("home without WebDriver, run {run}/{runs}"));
        let app = DirectApp::launch(desktop, console, &[], &relay.url)?;
        relay
            .wait_for(app.launched, "the session check", |request| {
                request.method == "POST" && request.path == "/auth/jwt/verify"
            })
            .await?;
        let settled = memory::settle(app.pid).await;
        let asked_for_qr = relay
            .requests_since(app.launched)
            .iter()
            .any(|request| request.method == "POST" && request.path == "/auth/scenes");
        app.stop().await;
        if asked_for_qr {
            return Err(BenchError::NotRestored);
        }
        home_direct.push(settled);
    }

    let mut floor = Vec::new();
    if args.floor.is_file() {
        for run in 1..=runs {
            progress(&format!("empty WebKitGTK floor, run {run}/{runs}"));
            let browser = DirectApp::launch(
                desktop,
                &args.floor,
                &["data:text/html,<p>empty</p>"],
                &relay.url,
            )?;
            floor.push(memory::settle(browser.pid).await);
            browser.stop().await;
        }
    } else {
        progress(&format!(
            "{} is missing: no WebKitGTK floor measured",
            args.floor.display()
        ));
    }

    let after_app = |pick: fn(&ColdStart) -> Duration| -> Series {
        Series::of_durations(
            cold.iter()
                .map(|run| pick(run).saturating_sub(run.app_started)),
        )
    };
    let mut rows = vec![
        row(
            "cold start to QR visible (WebDriver new-session request → QR painted)",
            Series::of_durations(cold.iter().map(|run| run.qr_painted)),
            "ms",
            "< 1 s",
        ),
        row(
            "… WebDriver's share: new-session request → app process started",
            Series::of_durations(cold.iter().map(|run| run.app_started)),
            "ms",
            "",
        ),
        row(
            "… the app's share: process started → QR painted",
            after_app(|run| run.qr_painted),
            "ms",
            "",
        ),
        row(
            "… process started → QR requested from the server",
            after_app(|run| run.qr_requested),
            "ms",
            "",
        ),
        row(
            "… QR requested → QR handed to the page (server, fetch, IPC)",
            Series::of_durations(
                cold.iter()
                    .map(|run| run.qr_sourced.saturating_sub(run.qr_requested)),
            ),
            "ms",
            "",
        ),
        row(
            "… QR handed to the page → painted (decode, two frames)",
            Series::of_durations(
                cold.iter()
                    .map(|run| run.qr_painted.saturating_sub(run.qr_sourced)),
            ),
            "ms",
            "",
        ),
    ];
    if cold.iter().all(|run| run.first_paint.is_some()) {
        rows.push(row(
            "… process started → first contentful paint",
            after_app(|run| run.first_paint.unwrap_or_default()),
            "ms",
            "",
        ));
    }
    rows.extend([
        row(
            "… new-session request → WebDriver session open",
            Series::of_durations(cold.iter().map(|run| run.session_opened)),
            "ms",
            "",
        ),
        row(
            "no WebDriver: spawn → QR requested from the server",
            Series::of_durations(direct_qr.iter().copied()),
            "ms",
            "",
        ),
        row(
            "no WebDriver, estimated: spawn → QR requested (no WebDriver) + QR requested → \
             painted (under WebDriver), run by run",
            Series::of_durations(direct_qr.iter().zip(&cold).map(|(requested, run)| {
                *requested + run.qr_painted.saturating_sub(run.qr_requested)
            })),
            "ms",
            "< 1 s",
        ),
    ]);
    let memory_rows = [
        ("idle on the login screen, no WebDriver", &login_direct),
        ("idle on the login screen, under WebDriver", &login_driven),
        ("idle on home, no WebDriver", &home_direct),
        ("idle on home, under WebDriver", &home_driven),
        ("floor: empty WebKitGTK browser (MiniBrowser)", &floor),
    ];
    let mut breakdowns = Vec::new();
    let mut unsettled = 0;
    for (screen, readings) in memory_rows {
        if readings.is_empty() {
            continue;
        }
        rows.push(row(
            &format!("memory (PSS), {screen}"),
            Series::of_memory(readings.iter()),
            "MiB",
            "",
        ));
        unsettled += readings.iter().filter(|reading| !reading.settled).count();
        if let Some(median) = report::median_run(readings) {
            breakdowns.push((screen.to_owned(), median.clone()));
        }
    }
    let mut notes = Vec::new();
    let late = cold.iter().filter(|run| run.late).count();
    if late > 0 {
        notes.push(format!(
            "In {late} of {runs} cold starts the QR was already on screen when the page was first \
             asked, so those QR times are upper bounds."
        ));
    }
    Ok(Measured {
        rows,
        breakdowns,
        unsettled,
        notes,
    })
}

/// Shows the QR, plays the phone (dev login, scan, confirm) and waits for home, so the keychain
/// holds a session for the home runs.
async fn log_in(
    server: &TestServer,
    relay: &RecordingRelay,
    driver: &Driver,
    console: &Path,
) -> Result<(), BenchError> {
    let app = DrivenConsole::launch(driver, console).await?;
    app.wait_for_qr().await?;
    let qr_request = relay
        .wait_for(app.requested, "the QR request", is_qr_request)
        .await?;
    let scene = qr_request
        .path
        .strip_prefix("/auth/scenes/")
        .and_then(|rest| rest.strip_suffix("/qr.png"))
        .ok_or_else(|| BenchError::NoScene(qr_request.path.clone()))?;
    let token = server.dev_login(ORGANIZER).await.access_token;
    for (step, expected) in [("scan", 200), ("confirm", 204)] {
        let reply = server
            .post_empty(&format!("/auth/scenes/{scene}/{step}"), Some(&token))
            .await;
        if reply.status != expected {
            return Err(BenchError::Phone(step, reply.body.to_string()));
        }
    }
    app.wait_for_home().await?;
    app.close().await;
    Ok(())
}

fn is_qr_request(request: &SeenRequest) -> bool {
    request.method == "GET" && request.path.ends_with("/qr.png")
}

fn row(what: &str, series: Series, unit: &'static str, target: &'static str) -> Row {
    Row {
        what: what.to_owned(),
        series,
        unit,
        target,
    }
}

fn default_console() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("console-release/meeteasy-console")
}

/// How to run this again: the script passes its arguments through unchanged.
fn command_line() -> String {
    std::iter::once("scripts/bench-console.sh".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 1-minute load average, as `/proc/loadavg` prints it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|load| load.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn progress(step: &str) {
    eprintln!("bench-console: {step}");
}
