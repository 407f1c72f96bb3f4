//! The console benchmark's parts: launching an app in the harness's desktop through tauri-driver (a
//! WebDriver session, so the page can be asked what it shows) or directly (no WebDriver cost,
//! watched only through `/proc` and the relay); a relay in front of the auth server that notes when
//! each request passed; and the memory of an app's processes once it has settled. Everything
//! launched is stopped by process id.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meeteasy_tests::desktop::{ConsoleWindow, Desktop, Driver};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Result, fail, io, procfs};

const DEADLINE: Duration = Duration::from_secs(30);

/// What the page shows, in one WebDriver round trip. The first call also starts a watcher in the
/// page that notes, on the page clock, when the QR image got its `data:` source and when a frame
/// with the decoded QR was presented (the second animation frame after it), so the QR time is not
/// late by a poll or a round trip. `qr_was_there`: the QR was already shown when the watcher
/// started (its time is then an upper bound).
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

/// [`PAGE_STATE`]'s answer: times in ms since the epoch, `first_paint` after `time_origin`.
#[derive(Deserialize)]
struct PageState {
    time_origin: f64,
    qr_sourced: Option<f64>,
    qr_painted: Option<f64>,
    qr_was_there: bool,
    home: bool,
    first_paint: Option<f64>,
}

/// When the QR showed, after the new-session request.
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
    window: ConsoleWindow,
    pub pid: u32,
    /// New-session request -> the app's process started (`/proc`, 10 ms ticks).
    pub app_started: Duration,
    pub requested: Instant,
    requested_epoch_ms: f64,
}

impl DrivenConsole {
    pub async fn launch(driver: &Driver, binary: &Path) -> Result<DrivenConsole> {
        // Not part of a cold start: WebKitWebDriver finishing with the previous console.
        driver.wait_until_ready().await;
        let ticks_before = procfs::uptime_ticks()?;
        let (requested_epoch_ms, requested) = (epoch_ms(), Instant::now());
        let window = driver.launch(binary).await;
        let driven = procfs::tree(driver.pid().unwrap_or_default());
        let Some(app) = driven
            .into_iter()
            .find(|p| p.exe.as_deref() == Some(binary))
        else {
            fail!("no {} runs under tauri-driver", binary.display());
        };
        let app_started = procfs::TICK * (app.started.saturating_sub(ticks_before) as u32);
        Ok(DrivenConsole {
            window,
            pid: app.pid,
            app_started,
            requested,
            requested_epoch_ms,
        })
    }

    pub async fn wait_for_qr(&self) -> Result<QrShown> {
        let state = self
            .wait_for_page("the QR", |page| page.qr_painted.is_some())
            .await?;
        let after = |epoch_ms: f64| {
            Duration::from_secs_f64(((epoch_ms - self.requested_epoch_ms) / 1000.0).max(0.0))
        };
        Ok(QrShown {
            first_paint: state
                .first_paint
                .map(|paint| after(state.time_origin + paint)),
            qr_sourced: after(state.qr_sourced.unwrap_or_default()),
            qr_painted: after(state.qr_painted.unwrap_or_default()),
            late: state.qr_was_there,
        })
    }

    /// Waits for home to show who is logged in.
    pub async fn wait_for_home(&self) -> Result<()> {
        self.wait_for_page("home", |page| page.home).await.map(drop)
    }

    /// Ends the session (which closes the app) and waits until its processes are gone.
    pub async fn close(self) {
        let processes = pids(self.pid);
        self.window.close().await;
        stop(&processes, false).await;
    }

    async fn wait_for_page(&self, what: &str, shows: fn(&PageState) -> bool) -> Result<PageState> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            // Errors while the page is still loading are expected: ask again.
            if let Ok(value) = self.window.client.execute(PAGE_STATE, Vec::new()).await
                && let Ok(state) = serde_json::from_value::<PageState>(value)
                && shows(&state)
            {
                return Ok(state);
            }
            if Instant::now() > deadline {
                fail!("{what} did not show within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An app started directly in the desktop: no WebDriver, no automation.
pub struct DirectApp {
    pub pid: u32,
    pub launched: Instant,
}

impl DirectApp {
    pub fn launch(desktop: &Desktop, program: &Path, args: &[&str], server: &str) -> Result<Self> {
        let mut command = tokio::process::Command::from(desktop.app_command(program, server));
        let command = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let launched = Instant::now();
        // Once dropped, tokio reaps the child when it exits.
        let child = command.stderr(Stdio::null()).spawn();
        let child = child.map_err(io(format!("launching {}", program.display())))?;
        let Some(pid) = child.id() else {
            fail!("{} exited at once", program.display())
        };
        Ok(DirectApp { pid, launched })
    }

    /// SIGTERM to the app; waits until it and its WebKit processes are gone.
    pub async fn stop(self) {
        stop(&pids(self.pid), true).await;
    }
}

fn pids(root: u32) -> Vec<u32> {
    procfs::tree(root)
        .iter()
        .map(|process| process.pid)
        .collect()
}

/// Waits until `processes` (an app first, then the processes below it) have exited, after SIGTERM
/// to the app when `terminate`; any left after 15 s get SIGKILL, so the next launch runs alone.
async fn stop(processes: &[u32], terminate: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    if terminate {
        signal("-TERM", &processes[..1]).await;
    }
    loop {
        let running: Vec<u32> = processes
            .iter()
            .copied()
            .filter(|&p| procfs::is_running(p))
            .collect();
        if running.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("bench-console: processes {running:?} outlived 15 s; sending SIGKILL");
            return signal("-KILL", &running).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signals processes by id through kill(1). One that exited meanwhile makes kill(1) fail: that
/// is the outcome wanted.
async fn signal(signal: &str, processes: &[u32]) {
    let mut kill = tokio::process::Command::new("kill");
    kill.arg(signal)
        .args(processes.iter().map(u32::to_string))
        .stderr(Stdio::null());
    let _status = kill.status().await;
}

fn epoch_ms() -> f64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0.0, |since| since.as_secs_f64() * 1000.0)
}

type Seen = Arc<Mutex<Vec<(Instant, String)>>>;

/// A loopback TCP relay in front of the auth server that notes each HTTP request line passing
/// through (`GET /auth/scenes/…/qr.png`, without the query) and when. The harness's own relay only
/// plays "unreachable"; this one tells, without WebDriver, when a launched console asked for its
/// QR or checked its saved session. It relays until the benchmark ends.
pub struct Relay {
    /// `http://127.0.0.1:PORT`: what the console is told its server is.
    pub url: String,
    seen: Seen,
}

impl Relay {
    pub async fn start(server: SocketAddr) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io("binding the relay"))?;
        let address = listener.local_addr().map_err(io("the relay's address"))?;
        let seen = Seen::default();
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(relay(inbound, server, Arc::clone(&log)));
            }
        });
        Ok(Relay {
            url: format!("http://{address}"),
            seen,
        })
    }

    /// When the first request at or after `since` that `picks` passed, and its line.
    pub fn find(&self, since: Instant, picks: impl Fn(&str) -> bool) -> Option<(Instant, String)> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.iter()
            .find(|(at, line)| *at >= since && picks(line))
            .cloned()
    }

    /// [`Relay::find`], waiting for it at most 30 s.
    pub async fn wait_for(
        &self,
        since: Instant,
        picks: fn(&str) -> bool,
    ) -> Result<(Instant, String)> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(found) = self.find(since, picks) {
                return Ok(found);
            }
            if Instant::now() > deadline {
                fail!("the relay saw no such request within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn relay(mut inbound: TcpStream, server: SocketAddr, seen: Seen) {
    let Ok(mut outbound) = TcpStream::connect(server).await else {
        return;
    };
    let (mut from_client, mut to_client) = inbound.split();
    let (mut from_server, mut to_server) = outbound.split();
    let upstream = async {
        let mut buffer = vec![0_u8; 16 * 1024];
        while let Ok(read @ 1..) = from_client.read(&mut buffer).await {
            // A client writes a request head in one go: on loopback it is not split across reads.
            let chunk = String::from_utf8_lossy(&buffer[..read]);
            let lines = chunk
                .lines()
                .filter_map(request_line)
                .map(|line| (Instant::now(), line));
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(lines);
            if to_server.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        // The client is done sending; let the server see it, the answer still flows back.
        let _closed = to_server.shutdown().await;
    };
    // Either side hanging up ends the relay of this connection.
    let _copied = tokio::join!(upstream, tokio::io::copy(&mut from_server, &mut to_client));
}

/// `GET /path` of an HTTP/1.1 request line, without the query; `None` for any other line.
fn request_line(line: &str) -> Option<String> {
    let (method, target) = line.strip_suffix(" HTTP/1.1")?.split_once(' ')?;
    let path = target
        .split('?')
        .next()
        .filter(|path| path.starts_with('/'))?;
    let method_like = method.bytes().all(|byte| byte.is_ascii_uppercase());
    method_like.then(|| format!("{method} {path}"))
}

/// Memory (PSS) of an app and every process below it (WebKitWebProcess, WebKitNetworkProcess,
/// any sandbox helper).
#[derive(Clone, Default)]
pub struct Memory {
    pub total_kib: u64,
    /// Executable name -> (processes, PSS KiB).
    pub by_name: BTreeMap<String, (usize, u64)>,
    /// False if the readings still moved at the deadline (the last reading is kept).
    pub settled: bool,
}

/// Reads the memory of `root`'s processes until two readings 750 ms apart agree within 512 KiB,
/// rather than after a fixed pause.
pub async fn settled_memory(root: u32) -> Memory {
    let read = || {
        let mut memory = Memory::default();
        for process in procfs::tree(root) {
            if let Some(pss) = procfs::pss_kib(process.pid) {
                memory.total_kib += pss;
                let entry = memory.by_name.entry(process.name).or_default();
                *entry = (entry.0 + 1, entry.1 + pss);
            }
        }
        memory
    };
    let started = Instant::now();
    let mut previous = read().total_kib;
    loop {
        tokio::time::sleep(Duration::from_millis(750)).await;
        let mut memory = read();
        memory.settled = memory.total_kib > 0 && memory.total_kib.abs_diff(previous) < 512;
        if memory.settled || started.elapsed() > Duration::from_secs(60) {
            return memory;
        }
        previous = memory.total_kib;
    }
}

#[cfg(test)]
mod tests {
    use super::request_line;

    #[test]
    fn request_lines_are_found_and_bodies_ignored() {
        let chunk = "POST /auth/scenes HTTP/1.1\r\nhost: x\r\n\r\n{\"a\":\"GET / HTTP/1.1\"}\nGET /auth/scenes/ab/qr.png?x=1 HTTP/1.1\r\n\r\n";
        let found: Vec<_> = chunk.lines().filter_map(request_line).collect();
        assert_eq!(found, ["POST /auth/scenes", "GET /auth/scenes/ab/qr.png"]);
    }
}
