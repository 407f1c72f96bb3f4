//! The console benchmark's parts: launching an app in the harness's desktop through tauri-driver (a
//! WebDriver session, so the page can be asked what it shows) or directly (no WebDriver cost,
//! watched only through `/proc` and the relay); a relay in front of the auth server that notes when
//! each request passed; and the memory of an app's processes once it has settled. Times are in
//! milliseconds; everything launched is stopped by process id.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use meeteasy_tests::desktop::{ConsoleWindow, Desktop, Driver};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Result, because, fail, procfs, run};

const DEADLINE: Duration = Duration::from_secs(30);

/// What the page shows, in one WebDriver round trip; times in ms after `arguments[0]`, the
/// new-session request on the epoch clock. The first call also starts a watcher in the page that
/// notes when the QR image got its `data:` source and when a frame with the decoded QR was
/// presented (the second animation frame after it), so the QR time is not late by a poll or a
/// round trip. `late`: the QR was already shown when the watcher started (an upper bound, then).
const PAGE_STATE: &str = include_str!("page_state.js");

#[derive(Deserialize)]
struct Page {
    home: bool,
    qr: Option<Qr>,
}

/// One cold start through WebDriver, in ms after the new-session request.
pub struct ColdStart {
    /// The app's process started (`/proc`, 10 ms ticks).
    pub app_started: f64,
    /// The QR's request passed the relay.
    pub qr_requested: f64,
    pub qr: Qr,
}

/// When the QR showed, in ms after the new-session request.
#[derive(Deserialize)]
pub struct Qr {
    /// The QR image got its `data:` source: the console fetched it and handed it to the page.
    pub sourced: f64,
    pub painted: f64,
    /// The QR was on screen before the page was first asked: `painted` is an upper bound.
    pub late: bool,
    /// First contentful paint, if WebKit reports paint timing.
    pub first_paint: Option<f64>,
}

/// A console launched by tauri-driver, with the clocks read just before the new-session request.
pub struct DrivenConsole {
    window: ConsoleWindow,
    pid: u32,
    app_started: f64,
    pub requested: Instant,
    requested_epoch_ms: f64,
}

impl DrivenConsole {
    pub async fn launch(driver: &Driver, binary: &Path) -> Result<DrivenConsole> {
        // Not part of a cold start: WebKitWebDriver finishing with the previous console.
        driver.wait_until_ready().await;
        let ticks_before = procfs::uptime_ticks()?;
        let clock = UNIX_EPOCH.elapsed().unwrap_or_default();
        let (requested_epoch_ms, requested) = (clock.as_secs_f64() * 1e3, Instant::now());
        let window = driver.launch(binary).await;
        let mut driven = procfs::tree(driver.pid().unwrap_or_default()).into_iter();
        let Some(app) = driven.find(|p| p.exe.as_deref() == Some(binary)) else {
            fail!("no {} runs under tauri-driver", binary.display());
        };
        let ticks = app.started.saturating_sub(ticks_before) as f64;
        let app_started = ticks * procfs::TICK.as_secs_f64() * 1e3;
        let pid = app.pid;
        Ok(DrivenConsole {
            window,
            pid,
            app_started,
            requested,
            requested_epoch_ms,
        })
    }

    /// Waits for the QR on screen, and for its request to have passed `relay`.
    pub async fn wait_for_qr(&self, relay: &Relay) -> Result<ColdStart> {
        let qr = self.wait_for("the QR", |page| page.qr).await?;
        let (qr_requested, _) = relay.wait_for(self.requested, is_qr_request).await?;
        let app_started = self.app_started;
        Ok(ColdStart {
            app_started,
            qr_requested,
            qr,
        })
    }

    /// Waits for home to show who is logged in.
    pub async fn wait_for_home(&self) -> Result<()> {
        self.wait_for("home", |page| page.home.then_some(())).await
    }

    /// Ends the session (which closes the app) and waits until its processes are gone.
    pub async fn close(self) {
        let processes = procfs::tree(self.pid);
        self.window.close().await;
        stop(processes, false).await;
    }

    /// Asks the page until `shown` finds `what` in its answer.
    async fn wait_for<T>(&self, what: &str, shown: fn(Page) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + DEADLINE;
        let requested = vec![self.requested_epoch_ms.into()];
        loop {
            // Errors while the page is still loading are expected: ask again.
            let page = self.window.client.execute(PAGE_STATE, requested.clone());
            if let Ok(page) = page.await
                && let Ok(page) = serde_json::from_value::<Page>(page)
                && let Some(found) = shown(page)
            {
                return Ok(found);
            }
            if Instant::now() > deadline {
                fail!("{what} did not show within {DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts `app` (with `args`) in `desktop` as the console would run there, talking to the server
/// at `url`, without WebDriver: its process id, and when it was spawned.
pub fn launch(desktop: &Desktop, app: &Path, args: &[&str], url: &str) -> Result<(u32, Instant)> {
    let mut command = desktop.app_command(app, url);
    command.stdin(Stdio::null()).stdout(Stdio::null());
    command.args(args).stderr(Stdio::null());
    let launched = Instant::now();
    // Dropped at once: tokio reaps it once it exits, and `stop` watches `/proc` for that.
    let child = tokio::process::Command::from(command).spawn();
    let child = child.map_err(because(format!("launching {}", app.display())))?;
    Ok((child.id().unwrap_or_default(), launched))
}

/// Stops `processes` (an app first, then those below it): SIGTERM to the app when `terminate`,
/// then waits; any still there after 15 s get SIGKILL, so the next launch runs alone.
pub async fn stop(processes: Vec<procfs::Process>, terminate: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let pids: Vec<u32> = processes.iter().map(|process| process.pid).collect();
    if terminate && let Some(app) = pids.first() {
        let _gone_already = run(&format!("kill -TERM {app}"));
    }
    while pids.iter().any(|&pid| procfs::is_running(pid)) {
        if Instant::now() > deadline {
            eprintln!("bench-console: processes {pids:?} outlived 15 s; sending SIGKILL");
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            let _gone_already = run(&format!("kill -KILL {}", pids.join(" ")));
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a request line (as [`Relay`] notes it) asks for a QR image.
pub fn is_qr_request(line: &str) -> bool {
    line.starts_with("GET ") && line.ends_with("/qr.png")
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
        let listener = TcpListener::bind("127.0.0.1:0").await;
        let listener = listener.map_err(because("binding the relay"))?;
        let address = listener.local_addr();
        let address = address.map_err(because("the relay's address"))?;
        let seen = Seen::default();
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(relay(inbound, server, Arc::clone(&log)));
            }
        });
        let url = format!("http://{address}");
        Ok(Relay { url, seen })
    }

    /// The first request at or after `since` that `picks`: how many ms after `since`, and its line.
    pub fn find(&self, since: Instant, picks: fn(&str) -> bool) -> Option<(f64, String)> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, line) = seen.iter().find(|(at, line)| *at >= since && picks(line))?;
        Some(((*at - since).as_secs_f64() * 1e3, line.clone()))
    }

    /// [`Relay::find`], waiting for it at most 30 s.
    pub async fn wait_for(&self, since: Instant, picks: fn(&str) -> bool) -> Result<(f64, String)> {
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
            let lines = chunk.lines().filter_map(request_line);
            let lines = lines.map(|line| (Instant::now(), line));
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
    let path = target.split('?').next()?;
    let is_method = method.bytes().all(|byte| byte.is_ascii_uppercase());
    (is_method && path.starts_with('/')).then(|| format!("{method} {path}"))
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
/// rather than after a fixed pause (60 s at most).
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
    let (started, mut previous) = (Instant::now(), read().total_kib);
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
    #[test]
    fn request_lines_are_found_and_bodies_ignored() {
        let chunk = "POST /auth/scenes HTTP/1.1\r\nhost: x\r\n\r\n{\"a\":\"GET / HTTP/1.1\"}\n\
                     GET /auth/scenes/ab/qr.png?x=1 HTTP/1.1\r\n\r\n";
        let found: Vec<_> = chunk.lines().filter_map(super::request_line).collect();
        assert_eq!(found, ["POST /auth/scenes", "GET /auth/scenes/ab/qr.png"]);
    }
}
