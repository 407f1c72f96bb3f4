//! Launching an app in the benchmark's desktop, two ways: through tauri-driver (a WebDriver
//! session, so the page can be asked what it shows) or directly (no WebDriver cost, watched only
//! through `/proc` and the recording relay). Both stop what they started, by process id.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meeteasy_tests::desktop::{ConsoleWindow, Desktop, Driver};
use serde::Deserialize;

use crate::BenchError;
use crate::procs;

const UI_DEADLINE: Duration = Duration::from_secs(30);
const EXIT_DEADLINE: Duration = Duration::from_secs(15);
/// How often the page is asked what it shows. The QR time does not depend on it: the page notes
/// that itself (see [`PAGE_STATE`]).
const PAGE_POLL: Duration = Duration::from_millis(20);

/// What the page shows, read in one WebDriver round trip. The first call also starts a watcher in
/// the page that notes, on the page clock, when the QR image got its `data:` source and when a
/// frame with the decoded QR was presented (the second animation frame after that), so the QR time
/// is not late by a poll interval or a WebDriver round trip. `qr_was_there` says the QR was already
/// shown when the watcher started (then its time is only an upper bound).
const PAGE_STATE: &str = r#"
    if (window.__benchQr === undefined) {
        const shown = () => {
            const image = document.getElementById("qr-image");
            return image !== null && !image.hidden && image.src.startsWith("data:image/");
        };
        const watch = { seen: false, sourced: null, painted: null, was_there: shown() };
        window.__benchQr = watch;
        const check = () => {
            if (watch.seen || !shown()) return;
            watch.seen = true;
            watch.sourced = performance.timeOrigin + performance.now();
            document.getElementById("qr-image").decode().catch(() => null).then(() =>
                requestAnimationFrame(() => requestAnimationFrame(() => {
                    watch.painted = performance.timeOrigin + performance.now();
                })));
        };
        new MutationObserver(check).observe(document, {
            subtree: true, childList: true, attributes: true, attributeFilter: ["src", "hidden"],
        });
        check();
    }
    const name = document.getElementById("user-name");
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    return {
        time_origin: performance.timeOrigin,
        qr_sourced: window.__benchQr.sourced,
        qr_painted: window.__benchQr.painted,
        qr_was_there: window.__benchQr.was_there,
        home: name !== null && name.textContent.trim() !== "",
        first_paint: paint === undefined ? null : paint.startTime,
    };
"#;

#[derive(Deserialize)]
struct PageState {
    /// When the page's navigation started, ms since the epoch.
    time_origin: f64,
    /// When the QR image got its `data:` source, ms since the epoch.
    qr_sourced: Option<f64>,
    /// When a frame with the QR was presented, ms since the epoch.
    qr_painted: Option<f64>,
    qr_was_there: bool,
    home: bool,
    /// First contentful paint, ms after `time_origin`, if WebKit reports paint timing.
    first_paint: Option<f64>,
}

/// When things happened after the new-session request, as the page clock tells.
pub struct QrShown {
    pub first_paint: Option<Duration>,
    /// The QR image got its `data:` source: the console fetched it and handed it to the page.
    pub qr_sourced: Duration,
    pub qr_painted: Duration,
    /// The QR was on screen before the page was first asked: `qr_painted` is an upper bound.
    pub late: bool,
}

/// A console launched by tauri-driver, with the clocks read just before the new-session request.
pub struct DrivenConsole {
    pub window: ConsoleWindow,
    pub app_pid: u32,
    /// New-session request -> the app's process started (`/proc`, 10 ms ticks).
    pub app_started: Duration,
    /// New-session request -> the session was opened.
    pub session_opened: Duration,
    pub requested: Instant,
    requested_epoch_ms: f64,
}

impl DrivenConsole {
    pub async fn launch(driver: &Driver, binary: &Path) -> Result<DrivenConsole, BenchError> {
        let driver_pid = driver.pid().ok_or(BenchError::Gone("tauri-driver"))?;
        // Not part of a cold start: WebKitWebDriver finishing with the previous console.
        driver.wait_until_ready().await;
        let ticks_before = procs::uptime_ticks().ok_or(BenchError::Proc("/proc/uptime"))?;
        let requested_epoch_ms = epoch_ms();
        let requested = Instant::now();
        let window = driver.launch(binary).await;
        let session_opened = requested.elapsed();
        let app = procs::find_descendant(driver_pid, binary)
            .ok_or(BenchError::Gone("the console under tauri-driver"))?;
        Ok(DrivenConsole {
            window,
            app_pid: app.pid,
            app_started: procs::ticks_after(ticks_before, &app),
            session_opened,
            requested,
            requested_epoch_ms,
        })
    }

    /// Waits for the QR to be on screen.
    pub async fn wait_for_qr(&self) -> Result<QrShown, BenchError> {
        let state = self
            .wait_for_page("the QR", |state| state.qr_painted.is_some())
            .await?;
        Ok(QrShown {
            first_paint: state
                .first_paint
                .map(|paint| self.after_request(state.time_origin + paint)),
            qr_sourced: self.after_request(state.qr_sourced.unwrap_or_default()),
            qr_painted: self.after_request(state.qr_painted.unwrap_or_default()),
            late: state.qr_was_there,
        })
    }

    /// Waits for home to show who is logged in.
    pub async fn wait_for_home(&self) -> Result<(), BenchError> {
        self.wait_for_page("home", |state| state.home).await?;
        Ok(())
    }

    /// Ends the session (which closes the app) and waits until its processes are gone.
    pub async fn close(self) {
        let processes = pids(self.app_pid);
        self.window.close().await;
        wait_until_gone(&processes).await;
    }

    async fn wait_for_page(
        &self,
        what: &'static str,
        accept: impl Fn(&PageState) -> bool,
    ) -> Result<PageState, BenchError> {
        let deadline = Instant::now() + UI_DEADLINE;
        loop {
            // Errors while the page is still loading are expected: ask again.
            if let Ok(value) = self.window.client.execute(PAGE_STATE, Vec::new()).await
                && let Ok(state) = serde_json::from_value::<PageState>(value)
                && accept(&state)
            {
                return Ok(state);
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(what));
            }
            tokio::time::sleep(PAGE_POLL).await;
        }
    }

    /// A page-clock time as a duration after the new-session request (zero if before it).
    fn after_request(&self, epoch_ms: f64) -> Duration {
        Duration::from_secs_f64(((epoch_ms - self.requested_epoch_ms) / 1000.0).max(0.0))
    }
}

/// An app started directly in the desktop: no WebDriver, no automation.
pub struct DirectApp {
    child: tokio::process::Child,
    pub pid: u32,
    pub launched: Instant,
}

impl DirectApp {
    pub fn launch(
        desktop: &Desktop,
        program: &Path,
        args: &[&str],
        server_url: &str,
    ) -> Result<DirectApp, BenchError> {
        let mut command = tokio::process::Command::from(desktop.app_command(program, server_url));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let launched = Instant::now();
        let child = command
            .spawn()
            .map_err(|err| BenchError::Launch(program.to_path_buf(), err))?;
        let pid = child
            .id()
            .ok_or(BenchError::Gone("the app just launched"))?;
        Ok(DirectApp {
            child,
            pid,
            launched,
        })
    }

    /// SIGTERM to the app, then waits until it and its WebKit processes are gone.
    pub async fn stop(mut self) {
        let processes = pids(self.pid);
        terminate(&[self.pid]).await;
        if tokio::time::timeout(EXIT_DEADLINE, self.child.wait())
            .await
            .is_err()
        {
            // Still there after SIGTERM: this process is ours, end it.
            let _killed = self.child.start_kill();
            let _reaped = self.child.wait().await;
        }
        wait_until_gone(&processes).await;
    }
}

fn pids(root: u32) -> Vec<u32> {
    procs::tree(root)
        .iter()
        .map(|process| process.pid)
        .collect()
}

/// Waits for `processes` to exit; any still there at the deadline get SIGTERM, so the next
/// launch is measured alone.
async fn wait_until_gone(processes: &[u32]) {
    let deadline = Instant::now() + EXIT_DEADLINE;
    loop {
        let running: Vec<u32> = processes
            .iter()
            .copied()
            .filter(|pid| procs::is_running(*pid))
            .collect();
        if running.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("bench-console: processes {running:?} outlived their app; sending SIGTERM");
            terminate(&running).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM by process id through kill(1): the standard library can only send SIGKILL.
async fn terminate(processes: &[u32]) {
    let mut command = tokio::process::Command::new("kill");
    command.arg("-TERM");
    command.args(processes.iter().map(u32::to_string));
    command.stdout(Stdio::null()).stderr(Stdio::null());
    // A process that exited meanwhile makes kill(1) fail; that is the outcome we wanted.
    let _status = command.status().await;
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}

/// The path `/proc/<pid>/exe` shows for `binary`.
pub fn canonical(binary: &Path) -> Result<PathBuf, BenchError> {
    std::fs::canonicalize(binary).map_err(|err| BenchError::Missing(binary.to_path_buf(), err))
}
