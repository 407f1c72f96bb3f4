//! Requests per second with the server side pinned to one CPU and the load from the other:
//! - `islogin`: the first `wait=0` poll of a fresh pending scene (poll token check, the scene's read,
//!   the poll-interval gate's write; a second `wait=0` poll of the same scene inside `interval` would
//!   be `slow_down`). Scenes are created before the timed window.
//! - ticket exchange: a fresh ticket each (read, compare-and-swap to used, JWT signed). Tickets are
//!   minted before the timed window.
//!
//! Each is measured in [`ROUNDS`] rounds of about [`ROUND_SECONDS`] (sized from a short calibration
//! run) and reported as the median round, with the CPU the server side used meanwhile.

use std::future::Future;

use meeteasy_protocol::IsLoginResponse;
use reqwest::Client;

use crate::api::{Endpoint, PhoneToken, Scene};
use crate::consoles::{Consoles, SCENES_PER_ADDRESS};
use crate::error::BenchError;
use crate::latency::unexpected;
use crate::load::drive;
use crate::procfs;
use crate::stats::Spread;

pub const ROUNDS: usize = 5;
const ROUND_SECONDS: f64 = 1.5;
const CALIBRATION_REQUESTS: usize = 1_000;
const MIN_ROUND_REQUESTS: usize = 1_000;
/// Scenes live 120 s and tickets 120 s: a pool must be used up well within that.
const MAX_ROUND_REQUESTS: usize = 20_000;

/// A measured rate.
pub struct Rate {
    /// Requests per second, over the rounds.
    pub per_second: Spread,
    /// CPU the server side used while answering, in cores (1.0 = one core fully busy).
    pub server_cores: f64,
    /// How busy the server CPU was meanwhile, whoever used it (0.0 to 1.0): what the server side did
    /// not use of a busy CPU went to other work on this shared machine.
    pub server_cpu_busy: f64,
}

/// What is measured against: the server's address and the processes that serve it (the auth
/// server, and redis-server when it is the store).
pub struct Target<'a> {
    pub endpoint: &'a Endpoint,
    pub server_pids: &'a [u32],
    /// The CPU they are pinned to.
    pub server_cpu: usize,
}

pub async fn islogin(
    target: &Target<'_>,
    consoles: &mut Consoles,
    load: &Client,
    connections: usize,
) -> Result<Rate, BenchError> {
    let poll = |endpoint: Endpoint, load: Client| {
        move |scene: Scene| {
            let (endpoint, load) = (endpoint.clone(), load.clone());
            async move {
                match endpoint.islogin(&load, &scene, 0).await? {
                    (IsLoginResponse::Pending, _) => Ok(()),
                    (other, _) => Err(unexpected(&other)),
                }
            }
        }
    };
    let calibration =
        create_scenes(target.endpoint, consoles, CALIBRATION_REQUESTS, connections).await?;
    let estimate = drive(
        calibration,
        connections,
        poll(target.endpoint.clone(), load.clone()),
    )
    .await?
    .rate();
    let per_round = round_size(estimate);
    let pool = create_scenes(target.endpoint, consoles, per_round * ROUNDS, connections).await?;
    measure_rounds(
        target,
        pool,
        per_round,
        connections,
        poll(target.endpoint.clone(), load.clone()),
    )
    .await
}

pub async fn ticket_exchange(
    target: &Target<'_>,
    load: &Client,
    phone: &PhoneToken,
    connections: usize,
) -> Result<Rate, BenchError> {
    let exchange = |endpoint: Endpoint, load: Client| {
        move |ticket: String| {
            let (endpoint, load) = (endpoint.clone(), load.clone());
            async move { endpoint.exchange_ticket(&load, ticket).await }
        }
    };
    let calibration = mint_tickets(
        target.endpoint,
        load,
        phone,
        CALIBRATION_REQUESTS,
        connections,
    )
    .await?;
    let estimate = drive(
        calibration,
        connections,
        exchange(target.endpoint.clone(), load.clone()),
    )
    .await?
    .rate();
    let per_round = round_size(estimate);
    let pool = mint_tickets(
        target.endpoint,
        load,
        phone,
        per_round * ROUNDS,
        connections,
    )
    .await?;
    measure_rounds(
        target,
        pool,
        per_round,
        connections,
        exchange(target.endpoint.clone(), load.clone()),
    )
    .await
}

fn round_size(estimated_rate: f64) -> usize {
    let size = (estimated_rate * ROUND_SECONDS) as usize;
    size.clamp(MIN_ROUND_REQUESTS, MAX_ROUND_REQUESTS)
}

async fn measure_rounds<I, F, Fut>(
    target: &Target<'_>,
    pool: Vec<I>,
    per_round: usize,
    connections: usize,
    request: F,
) -> Result<Rate, BenchError>
where
    I: Send + Sync + Clone + 'static,
    F: Fn(I) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<(), BenchError>> + Send,
{
    let mut rates = Vec::with_capacity(ROUNDS);
    let (mut cpu, mut elapsed) = (0.0, 0.0);
    let (mut busy, mut total) = (0, 0);
    let mut pool = pool.into_iter();
    for _round in 0..ROUNDS {
        let inputs: Vec<I> = pool.by_ref().take(per_round).collect();
        let cpu_before = server_cpu(target.server_pids)?;
        let (busy_before, total_before) = procfs::cpu_jiffies(target.server_cpu)?;
        let outcome = drive(inputs, connections, request.clone()).await?;
        cpu += server_cpu(target.server_pids)? - cpu_before;
        let (busy_after, total_after) = procfs::cpu_jiffies(target.server_cpu)?;
        busy += busy_after - busy_before;
        total += total_after - total_before;
        elapsed += outcome.elapsed.as_secs_f64();
        rates.push(outcome.rate());
    }
    Ok(Rate {
        per_second: Spread::of(&rates),
        server_cores: cpu / elapsed.max(f64::EPSILON),
        server_cpu_busy: busy as f64 / total.max(1) as f64,
    })
}

fn server_cpu(pids: &[u32]) -> Result<f64, BenchError> {
    pids.iter().map(|&pid| procfs::cpu_seconds(pid)).sum()
}

/// Creates `count` scenes, spread over fresh console addresses.
pub async fn create_scenes(
    endpoint: &Endpoint,
    consoles: &mut Consoles,
    count: usize,
    connections: usize,
) -> Result<Vec<Scene>, BenchError> {
    Ok(
        create_scenes_with_clients(endpoint, consoles, count, connections)
            .await?
            .into_iter()
            .map(|(_, scene)| scene)
            .collect(),
    )
}

/// Creates `count` scenes, spread over fresh console addresses; each with the client that created it.
/// Each console creates its scenes one after another over one connection, as a real one would.
pub async fn create_scenes_with_clients(
    endpoint: &Endpoint,
    consoles: &mut Consoles,
    count: usize,
    connections: usize,
) -> Result<Vec<(Client, Scene)>, BenchError> {
    let clients = consoles.clients_for(count)?;
    let shares: Vec<(Client, usize)> = clients
        .into_iter()
        .enumerate()
        .map(|(index, console)| {
            (
                console,
                SCENES_PER_ADDRESS.min(count - index * SCENES_PER_ADDRESS),
            )
        })
        .collect();
    let endpoint = endpoint.clone();
    let created = drive(
        shares,
        connections,
        move |(console, share): (Client, usize)| {
            let endpoint = endpoint.clone();
            async move {
                let mut scenes = Vec::with_capacity(share);
                for _ in 0..share {
                    scenes.push((console.clone(), endpoint.create_scene(&console).await?));
                }
                Ok(scenes)
            }
        },
    )
    .await?;
    Ok(created.outputs.into_iter().flatten().collect())
}

async fn mint_tickets(
    endpoint: &Endpoint,
    load: &Client,
    phone: &PhoneToken,
    count: usize,
    connections: usize,
) -> Result<Vec<String>, BenchError> {
    let (endpoint, load, phone) = (endpoint.clone(), load.clone(), phone.clone());
    let minted = drive(vec![(); count], connections, move |()| {
        let (endpoint, load, phone) = (endpoint.clone(), load.clone(), phone.clone());
        async move { endpoint.mint_ticket(&load, &phone).await }
    })
    .await?;
    Ok(minted.outputs)
}
