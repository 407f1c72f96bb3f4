//! The console benchmark's parts: an app in the harness's desktop, launched through tauri-driver
//! (so the page can be asked what it shows) or directly (no WebDriver cost; watched through `/proc`
//! and the harness's relay, which notes when each request passed). Times are in milliseconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, Result};
use meeteasy_tests::desktop::{ConsoleWindow, Driver};
use meeteasy_tests::relay::Relay;
use serde::Deserialize;

use crate::procfs::{self, Process};
use crate::{poll, run};

/// When the page showed the QR (the page's fields of a [`ColdStart`], or null if not yet), in ms
/// after `arguments[0]` (the new-session request, epoch clock). Its first call starts a watcher
/// noting, without a poll's delay, when the QR got its `data:` source and was presented decoded.
const QR_SHOWN: &str = include_str!("qr_shown.js");

/// One cold start through WebDriver, in ms after the new-session request (the page gives the rest).
#[derive(Deserialize)]
pub struct ColdStart {
    /// The app's process started (`/proc`, 10 ms ticks).
    #[serde(skip)]
    pub app_started: f64,
    /// The QR's request passed the relay.
    #[serde(skip)]
    pub qr_requested: f64,
    /// The QR image got its `data:` source: the console fetched it and handed it to the page.
    pub sourced: f64,
    pub painted: f64,
    /// The QR was on screen before the page was first asked: `painted` is an upper bound.
    pub late: bool,
    /// First contentful paint, if WebKit reports paint timing.
    pub first_paint: Option<f64>,
}

/// Launches `binary` through tauri-driver, times its cold start, and closes it again.
pub async fn cold_start(driver: &Driver, binary: &Path, relay: &Relay) -> Result<ColdStart> {
    // Not part of a cold start: WebKitWebDriver finishing with the previous console.
    driver.wait_until_ready().await;
    let (ticks_before, requested) = (procfs::uptime_ticks()?, Instant::now());
    let clock = UNIX_EPOCH.elapsed().unwrap_or_default();
    let requested_epoch_ms = vec![(clock.as_secs_f64() * 1e3).into()];
    let (window, app) = launch_driven(driver, binary).await?;
    let shown = async || {
        // Errors while the page is still loading are expected: ask again.
        let qr = window.client.execute(QR_SHOWN, requested_epoch_ms.clone());
        let qr = qr.await.ok().and_then(|qr| serde_json::from_value(qr).ok());
        Ok(qr.flatten())
    };
    let mut cold: ColdStart = poll("the QR did not show", 30, 20, shown).await?;
    cold.qr_requested = wait_for(relay, requested, is_qr_request).await?;
    let ticks = app.started.saturating_sub(ticks_before) as f64;
    cold.app_started = ticks * procfs::TICK.as_secs_f64() * 1e3;
    stop(app.pid, Some(window)).await;
    Ok(cold)
}

/// Launches `binary` through tauri-driver: its window, and its process.
pub async fn launch_driven(driver: &Driver, binary: &Path) -> Result<(ConsoleWindow, Process)> {
    let window = driver.launch(binary).await;
    let mut driven = procfs::tree(driver.pid().unwrap_or_default()).into_iter();
    let app = driven.find(|p| p.exe.as_deref() == Some(binary));
    let app = app.with_context(|| format!("no {} runs under tauri-driver", binary.display()))?;
    Ok((window, app))
}

/// Stops an app and every process below it (ending its WebDriver session `window` if any, else
/// SIGTERM; SIGKILL to any still there after 15 s), so the next launch runs alone.
pub async fn stop(app: u32, window: Option<ConsoleWindow>) {
    let pids: Vec<u32> = procfs::tree(app).iter().map(|app| app.pid).collect();
    match window {
        Some(window) => window.close().await,
        None => drop(run(&format!("kill -TERM {app}"))),
    }
    let gone = async || Ok((!pids.iter().any(|&pid| procfs::is_running(pid))).then_some(()));
    if poll("", 15, 20, gone).await.is_err() {
        eprintln!("bench-console: processes {pids:?} outlived 15 s; sending SIGKILL");
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let _gone_already = run(&format!("kill -KILL {}", pids.join(" ")));
    }
}

/// Whether a request line (as [`Relay`] notes it) asks for a QR image.
pub fn is_qr_request(line: &str) -> bool {
    line.starts_with("GET ") && line.ends_with("/qr.png")
}

/// How many ms after `since` the first request since then that `picks` passed `relay` (in 30 s).
pub async fn wait_for(relay: &Relay, since: Instant, picks: fn(&str) -> bool) -> Result<f64> {
    let found = async || Ok(relay.find(since, picks));
    poll("the relay saw no such request", 30, 2, found).await
}

/// Memory (PSS) of an app and every process below it (its WebKit processes, any sandbox helper).
#[derive(Clone, Default)]
pub struct Memory {
    pub total_kib: u64,
    /// Executable name -> (processes, PSS KiB).
    pub by_name: BTreeMap<String, (usize, u64)>,
    /// False if the readings still moved at the deadline (the last reading is kept).
    pub settled: bool,
}

/// The memory of `root`'s processes once two readings 750 ms apart agree within 512 KiB (60 s max).
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
