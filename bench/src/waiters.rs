//! Many consoles waiting at once: a fresh server, `count` scenes, and one `islogin?wait=30` per scene
//! held open (each console polls again when its wait ends, as the real console does). Measures the
//! server's resident memory before, with the scenes, and with every console waiting, then the
//! wake-up latency of confirms made while they all wait.

use std::time::Duration;

use meeteasy_protocol::IsLoginResponse;
use reqwest::Client;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::{Endpoint, PhoneToken, Scene};
use crate::auth_process::AuthProcess;
use crate::consoles::Consoles;
use crate::error::BenchError;
use crate::latency::unexpected;
use crate::stats::Latencies;
use crate::throughput::create_scenes_with_clients;

/// Long-polls opened before waiting for the server to hold them all (its accept backlog is 1024).
pub const BATCH: usize = 500;
const BATCH_DEADLINE: Duration = Duration::from_secs(30);
const WAKE_UP_DEADLINE: Duration = Duration::from_secs(10);

pub struct Waiting {
    pub rss_idle_kib: u64,
    pub rss_scenes_kib: u64,
    pub rss_waiting_kib: u64,
    /// The waiter gauge when the memory was read.
    pub waiters: i64,
    pub ramp_up: Duration,
    pub wake_ups: Latencies,
}

/// How many consoles wait, how many of them are confirmed and timed, and over how many
/// connections their scenes are created.
pub struct Counts {
    pub consoles: usize,
    pub confirms: usize,
    pub connections: usize,
}

/// `server` must be fresh: its memory before is the baseline.
pub async fn many_waiting(
    server: &AuthProcess,
    consoles: &mut Consoles,
    phone_http: &Client,
    phone: &PhoneToken,
    counts: Counts,
) -> Result<Waiting, BenchError> {
    let Counts {
        consoles: count,
        confirms,
        connections,
    } = counts;
    let endpoint = server.endpoint();
    let rss_idle_kib = server.rss_kib()?;
    let scenes = create_scenes_with_clients(endpoint, consoles, count, connections).await?;
    let rss_scenes_kib = server.rss_kib()?;

    let ramp_started = Instant::now();
    let mut consoles_waiting = JoinSet::new();
    let mut confirmed = Vec::with_capacity(confirms);
    let mut to_confirm = Vec::with_capacity(confirms);
    for (index, (console, scene)) in scenes.into_iter().enumerate() {
        let (told, arrival) = oneshot::channel();
        if index < confirms {
            confirmed.push(arrival);
            to_confirm.push(scene.scene.clone());
        }
        consoles_waiting.spawn(wait_for_login(endpoint.clone(), console, scene, told));
        let opened = index + 1;
        if opened % BATCH == 0 || opened == count {
            let opened = i64::try_from(opened).unwrap_or(i64::MAX);
            endpoint
                .await_waiters(phone_http, opened, BATCH_DEADLINE)
                .await?;
        }
    }
    let ramp_up = ramp_started.elapsed();
    let rss_waiting_kib = server.rss_kib()?;
    let waiters = endpoint.waiters(phone_http).await?;

    let mut wake_ups = Vec::with_capacity(confirms);
    for (scene, arrival) in to_confirm.iter().zip(confirmed) {
        let sent = Instant::now();
        endpoint.confirm(phone_http, scene, phone).await?;
        let arrived = tokio::time::timeout(WAKE_UP_DEADLINE, arrival)
            .await
            .map_err(|_| BenchError::TimedOut {
                what: "a waiting console's confirmed".to_owned(),
                within: WAKE_UP_DEADLINE,
            })?
            .map_err(|_| BenchError::Answer {
                what: "a waiting console",
                answer: "stopped before its confirm".to_owned(),
            })?;
        wake_ups.push(arrived.saturating_duration_since(sent));
    }
    // A console that failed says why, rather than the run reporting a number around it.
    while let Some(finished) = consoles_waiting.try_join_next() {
        finished??;
    }
    consoles_waiting.abort_all();
    Ok(Waiting {
        rss_idle_kib,
        rss_scenes_kib,
        rss_waiting_kib,
        waiters,
        ramp_up,
        wake_ups: Latencies::new(wake_ups),
    })
}

/// One console: long-polls until confirmed, then says when the answer arrived.
async fn wait_for_login(
    endpoint: Endpoint,
    console: Client,
    scene: Scene,
    told: oneshot::Sender<Instant>,
) -> Result<(), BenchError> {
    loop {
        match endpoint.islogin(&console, &scene, 30).await? {
            (IsLoginResponse::Pending, _) => {}
            (IsLoginResponse::Confirmed { .. }, arrived) => {
                // Nobody listening means this console's wake-up is not one being measured.
                let _unmeasured = told.send(arrived);
                return Ok(());
            }
            (other @ IsLoginResponse::Scanned { .. }, _) => return Err(unexpected(&other)),
        }
    }
}
