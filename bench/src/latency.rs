//! Confirm -> console latency through the long-poll: a console waits in `islogin?wait=30` (the
//! server's waiter gauge says it is waiting), a phone confirms, and the time from sending the
//! confirm to the console holding its `confirmed` answer is one sample.

use std::time::Duration;

use meeteasy_protocol::IsLoginResponse;
use reqwest::Client;
use tokio::time::Instant;

use crate::api::{Endpoint, PhoneToken, Scene};
use crate::consoles::{Consoles, SCENES_PER_ADDRESS};
use crate::error::BenchError;

/// The longest a long-poll may take to show up in the waiter gauge.
const WAITING_DEADLINE: Duration = Duration::from_secs(10);
/// Iterations run first and not counted: connections, caches and the allocator settle.
const WARM_UP: usize = 10;

/// Where each side of the flow talks to: the same server, or two servers on one Redis.
pub struct Sides<'a> {
    /// The server the console creates its scene on and long-polls.
    pub console: &'a Endpoint,
    /// The server the phone scans and confirms on.
    pub phone: &'a Endpoint,
}

/// Measures `iterations` confirm -> `confirmed` latencies, one scene after another.
pub async fn confirm_to_console(
    sides: &Sides<'_>,
    consoles: &mut Consoles,
    phone_http: &Client,
    phone: &PhoneToken,
    iterations: usize,
) -> Result<Vec<Duration>, BenchError> {
    let mut samples = Vec::with_capacity(iterations);
    let mut console = consoles.next_client()?;
    for iteration in 0..WARM_UP + iterations {
        if iteration % SCENES_PER_ADDRESS == SCENES_PER_ADDRESS - 1 {
            console = consoles.next_client()?;
        }
        let latency = one_login(sides, &console, phone_http, phone).await?;
        if iteration >= WARM_UP {
            samples.push(latency);
        }
    }
    Ok(samples)
}

/// A whole scan login as the products do it: create, scan (the console is told `scanned`), then the
/// console waits and the phone confirms. Returns the confirm -> `confirmed` time.
async fn one_login(
    sides: &Sides<'_>,
    console: &Client,
    phone_http: &Client,
    phone: &PhoneToken,
) -> Result<Duration, BenchError> {
    let scene = sides.console.create_scene(console).await?;
    sides.phone.scan(phone_http, &scene.scene, phone).await?;
    match sides.console.islogin(console, &scene, 30).await? {
        (IsLoginResponse::Scanned { .. }, _) => {}
        (other, _) => return Err(unexpected(&other)),
    }
    let waiting = tokio::spawn(long_poll(
        sides.console.clone(),
        console.clone(),
        scene.clone(),
    ));
    sides
        .console
        .await_waiters(console, 1, WAITING_DEADLINE)
        .await?;
    let confirm_sent = Instant::now();
    sides.phone.confirm(phone_http, &scene.scene, phone).await?;
    let confirmed_at = waiting.await??;
    Ok(confirmed_at.saturating_duration_since(confirm_sent))
}

/// The console's waiting `islogin`, which must end in `confirmed`; returns when it arrived.
async fn long_poll(
    endpoint: Endpoint,
    console: Client,
    scene: Scene,
) -> Result<Instant, BenchError> {
    match endpoint.islogin(&console, &scene, 30).await? {
        (IsLoginResponse::Confirmed { .. }, arrived) => Ok(arrived),
        (other, _) => Err(unexpected(&other)),
    }
}

pub fn unexpected(answer: &IsLoginResponse) -> BenchError {
    let status = match answer {
        IsLoginResponse::Pending => "pending",
        IsLoginResponse::Scanned { .. } => "scanned",
        IsLoginResponse::Confirmed { .. } => "confirmed",
    };
    BenchError::Answer {
        what: "islogin",
        answer: status.to_owned(),
    }
}
