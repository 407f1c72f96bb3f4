//! The server benchmark's measurements, over real HTTP to `meeteasy-auth` processes:
//! - confirm -> console latency through the long-poll: a console waits in `islogin?wait=30` (the
//!   server's waiter gauge says it is waiting), a phone confirms, and the time from sending the
//!   confirm to the console holding its `confirmed` answer is one sample;
//! - requests per second with the server side pinned to one CPU and the load from the other, in
//!   [`ROUNDS`] rounds of about 1.5 s (sized by a calibration run), with the CPU the server side
//!   used meanwhile: the first `wait=0` `islogin` poll of a fresh pending scene (poll token check,
//!   the scene's read, the poll-interval gate's write), and ticket exchange (read, compare-and-swap
//!   to used, JWT signed), on scenes and tickets made before the timed window;
//! - many consoles waiting at once: the server's memory, and confirm -> console meanwhile.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Client;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::{self, Consoles, Endpoint, SCENES_PER_ADDRESS, Scene};
use crate::servers::AuthProcess;
use crate::table::Samples;
use crate::{Result, fail, procfs};

pub const ROUNDS: usize = 5;
/// Long-polls opened before waiting for the server to hold them all (its accept backlog is 1024).
pub const BATCH: usize = 500;
/// Logins run first and not counted: connections, caches and the allocator settle.
const WARM_UP: usize = 10;
const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Parser)]
#[command(
    name = "meeteasy-bench",
    about = "Benchmarks meeteasy-auth on both stores"
)]
pub struct Settings {
    /// The `meeteasy-auth` binary (default: next to this one).
    #[arg(long)]
    pub auth_bin: Option<PathBuf>,
    /// The CPU the servers (and redis-server) are pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// The CPU redis-benchmark is pinned to; run this benchmark itself there too (`taskset -c`).
    #[arg(long, default_value_t = 1)]
    pub client_cpu: usize,
    /// Logins measured for the confirm -> console latency, per setup.
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Concurrent connections of the request rate measurements.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Consoles waiting at once.
    #[arg(long, default_value_t = 10_000)]
    pub waiters: usize,
    /// Confirms measured while they wait.
    #[arg(long, default_value_t = 50)]
    pub wake_ups: usize,
    /// Requests per test of redis-benchmark.
    #[arg(long, default_value_t = 200_000)]
    pub redis_requests: u64,
}

/// A measured rate.
pub struct Rate {
    /// Requests per second of each round.
    pub per_second: Samples,
    /// CPU the server side used while answering, in cores (1.0 = one core fully busy).
    pub server_cores: f64,
    /// How busy the server CPU was meanwhile, whoever used it (0.0 to 1.0): what the server side
    /// did not use of a busy CPU went to other work on this shared machine.
    pub server_cpu_busy: f64,
}

/// Many consoles waiting at once, on a server the run has not used yet.
pub struct Waiting {
    /// Server RSS fresh, with the scenes created, and with every console waiting.
    pub rss_kib: [u64; 3],
    /// The waiter gauge when the memory was read.
    pub waiters: usize,
    pub ramp_up: Duration,
    pub wake_ups: Samples,
}

/// What every measurement needs: the settings, the server binary, a client for the phone and the
/// probes, and the console addresses used so far.
pub struct Bench<'a> {
    pub settings: &'a Settings,
    pub binary: PathBuf,
    pub http: Client,
    consoles: Consoles,
}

impl<'a> Bench<'a> {
    pub fn new(settings: &'a Settings, binary: PathBuf) -> Result<Self> {
        let (http, consoles) = (api::client(None)?, Consoles::default());
        Ok(Self {
            settings,
            binary,
            http,
            consoles,
        })
    }

    /// A fresh server on `store` (`None`: a fresh embedded store), and a phone logged in there.
    pub async fn start(&self, store: Option<&str>) -> Result<(AuthProcess, String)> {
        let cpu = self.settings.server_cpu;
        let server = AuthProcess::start(&self.binary, cpu, store, &self.http).await?;
        let phone = server.endpoint.dev_login(&self.http, "bench-phone").await?;
        Ok((server, phone))
    }

    /// Whole scan logins one after another, as the products make them: create (on `console`),
    /// scan (on `phone`; the console is told `scanned`), then the console waits and the phone
    /// confirms. Returns each confirm -> `confirmed` time.
    pub async fn logins(
        &mut self,
        console: &Endpoint,
        phone: &Endpoint,
        token: &str,
    ) -> Result<Samples> {
        let (http, mut samples) = (&self.http, Vec::new());
        let mut client = self.consoles.next_client()?;
        for login in 0..WARM_UP + self.settings.iterations {
            if login % SCENES_PER_ADDRESS == SCENES_PER_ADDRESS - 1 {
                client = self.consoles.next_client()?;
            }
            let scene = console.create_scene(&client).await?;
            phone.phone_step(http, &scene.scene, token, "scan").await?;
            console.islogin(&client, &scene, 30, &["scanned"]).await?;
            let waiting = console.islogin(&client, &scene, 30, &["confirmed"]);
            let confirm = async {
                console.await_waiters(&client, 1, DEADLINE).await?;
                let sent = Instant::now();
                phone
                    .phone_step(http, &scene.scene, token, "confirm")
                    .await?;
                Ok(sent)
            };
            let ((_, arrived), sent) = tokio::try_join!(waiting, confirm)?;
            if login >= WARM_UP {
                samples.push(arrived.saturating_duration_since(sent));
            }
        }
        Ok(Samples::ms(samples))
    }

    /// `islogin` requests per second; `pids` serve `server` (their CPU time is counted).
    pub async fn islogin_rate(&mut self, server: &Endpoint, pids: &[u32]) -> Result<Rate> {
        let load = &api::client(None)?;
        let poll = |scene: Scene| async move {
            server
                .islogin(load, &scene, 0, &["pending"])
                .await
                .map(drop)
        };
        let scenes = |created: Vec<(Client, Scene)>| created.into_iter().map(|(_, scene)| scene);
        let calibration = scenes(self.create_scenes(server, 1_000).await?).collect();
        let per_round = self.calibrate(calibration, &poll).await?;
        let inputs = scenes(self.create_scenes(server, per_round * ROUNDS).await?).collect();
        self.rate(inputs, per_round, pids, &poll).await
    }

    /// Ticket exchanges per second, of tickets `phone` mints on `server`.
    pub async fn exchange_rate(
        &self,
        server: &Endpoint,
        pids: &[u32],
        phone: &str,
    ) -> Result<Rate> {
        let load = api::client(None)?;
        let mint = async |count| -> Result<Vec<String>> {
            let mint = |()| server.mint_ticket(&load, phone);
            Ok(drive(vec![(); count], self.settings.connections, mint)
                .await?
                .0)
        };
        let exchange = |ticket| server.exchange_ticket(&load, ticket);
        let per_round = self.calibrate(mint(1_000).await?, &exchange).await?;
        let inputs = mint(per_round * ROUNDS).await?;
        self.rate(inputs, per_round, pids, &exchange).await
    }

    /// How many requests make a round of about 1.5 s, from a run on `inputs`. Scenes and tickets
    /// live 120 s: a round's pool must be used up well within that.
    async fn calibrate<I, F: Future<Output = Result<()>>>(
        &self,
        inputs: Vec<I>,
        request: impl Fn(I) -> F,
    ) -> Result<usize> {
        let (answered, took) = drive(inputs, self.settings.connections, request).await?;
        let rate = answered.len() as f64 / took.as_secs_f64().max(1e-9);
        Ok(((rate * 1.5) as usize).clamp(1_000, 20_000))
    }

    /// Times `request` in [`ROUNDS`] rounds of `per_round` inputs.
    async fn rate<I, F: Future<Output = Result<()>>>(
        &self,
        inputs: Vec<I>,
        per_round: usize,
        pids: &[u32],
        request: impl Fn(I) -> F,
    ) -> Result<Rate> {
        let cpu_seconds = || -> Result<f64> {
            pids.iter()
                .map(|&pid| Ok(procfs::cpu_time(pid)?.as_secs_f64()))
                .sum()
        };
        let server_cpu = || procfs::cpu_ticks(self.settings.server_cpu);
        let (mut inputs, mut rates) = (inputs.into_iter(), Vec::new());
        let (mut cpu, mut elapsed, mut busy, mut total) = (0.0, 0.0, 0, 0);
        for _round in 0..ROUNDS {
            let round: Vec<I> = inputs.by_ref().take(per_round).collect();
            let (cpu_before, (busy_before, total_before)) = (cpu_seconds()?, server_cpu()?);
            let connections = self.settings.connections;
            let (answered, took) = drive(round, connections, &request).await?;
            let (cpu_after, (busy_after, total_after)) = (cpu_seconds()?, server_cpu()?);
            cpu += cpu_after - cpu_before;
            (busy, total) = (
                busy + busy_after - busy_before,
                total + total_after - total_before,
            );
            elapsed += took.as_secs_f64();
            rates.push(answered.len() as f64 / took.as_secs_f64().max(1e-9));
        }
        Ok(Rate {
            per_second: Samples::new(rates),
            server_cores: cpu / elapsed.max(1e-9),
            server_cpu_busy: busy as f64 / total.max(1) as f64,
        })
    }

    /// `count` scenes from fresh console addresses, each with the client that created it. Each
    /// console creates its scenes one after another over one connection, as a real one would.
    async fn create_scenes(
        &mut self,
        server: &Endpoint,
        count: usize,
    ) -> Result<Vec<(Client, Scene)>> {
        let mut shares = Vec::new();
        for first in (0..count).step_by(SCENES_PER_ADDRESS) {
            shares.push((
                self.consoles.next_client()?,
                SCENES_PER_ADDRESS.min(count - first),
            ));
        }
        let create = |(console, share): (Client, usize)| async move {
            let mut scenes = Vec::with_capacity(share);
            for _ in 0..share {
                scenes.push((console.clone(), server.create_scene(&console).await?));
            }
            Ok(scenes)
        };
        let (created, _) = drive(shares, self.settings.connections, create).await?;
        Ok(created.into_iter().flatten().collect())
    }

    /// `waiters` consoles each hold `islogin?wait=30` open on a fresh `server` (and poll again
    /// when a wait ends, as the real console does); then the first `wake_ups` of them are
    /// confirmed one by one, and timed.
    pub async fn many_waiting(&mut self, server: &AuthProcess, phone: &str) -> Result<Waiting> {
        let (count, confirms) = (self.settings.waiters, self.settings.wake_ups);
        let endpoint = &server.endpoint;
        let rss_idle = procfs::rss_kib(server.pid())?;
        let scenes = self.create_scenes(endpoint, count).await?;
        let rss_scenes = procfs::rss_kib(server.pid())?;
        let ramp_started = Instant::now();
        let (mut waiting, mut to_confirm) = (JoinSet::new(), Vec::new());
        for (index, (console, scene)) in scenes.into_iter().enumerate() {
            let (told, arrival) = oneshot::channel();
            if index < confirms {
                to_confirm.push((scene.scene.clone(), arrival));
            }
            waiting.spawn(wait_for_login(endpoint.clone(), console, scene, told));
            if (index + 1) % BATCH == 0 || index + 1 == count {
                endpoint
                    .await_waiters(&self.http, index + 1, DEADLINE)
                    .await?;
            }
        }
        let ramp_up = ramp_started.elapsed();
        let rss_waiting = procfs::rss_kib(server.pid())?;
        let waiters = endpoint.waiters(&self.http).await?;

        let mut wake_ups = Vec::with_capacity(confirms);
        for (scene, arrival) in to_confirm {
            let sent = Instant::now();
            endpoint
                .phone_step(&self.http, &scene, phone, "confirm")
                .await?;
            let Ok(Ok(arrived)) = tokio::time::timeout(DEADLINE, arrival).await else {
                break;
            };
            wake_ups.push(arrived.saturating_duration_since(sent));
        }
        // A console that failed says why, rather than the run reporting a number around it.
        while let Some(finished) = waiting.try_join_next() {
            finished??;
        }
        if wake_ups.len() < confirms {
            fail!("a waiting console was not told of its confirm within {DEADLINE:?}");
        }
        let (rss_kib, wake_ups) = ([rss_idle, rss_scenes, rss_waiting], Samples::ms(wake_ups));
        Ok(Waiting {
            rss_kib,
            waiters,
            ramp_up,
            wake_ups,
        })
    }
}

/// Sends `request(input)` for every input, `connections` at a time, each sending the next request
/// as soon as one is answered (a closed loop); returns the answers and how long they took. The
/// first failed request fails the run: a rate counted around errors would not be the real one.
async fn drive<I, O, F: Future<Output = Result<O>>>(
    inputs: Vec<I>,
    connections: usize,
    request: impl FnMut(I) -> F,
) -> Result<(Vec<O>, Duration)> {
    let started = Instant::now();
    let requests = stream::iter(inputs)
        .map(request)
        .buffer_unordered(connections);
    Ok((requests.try_collect().await?, started.elapsed()))
}

/// One console: long-polls until confirmed, then says when the answer arrived.
async fn wait_for_login(
    endpoint: Endpoint,
    console: Client,
    scene: Scene,
    told: oneshot::Sender<Instant>,
) -> Result<()> {
    let expected = ["pending", "confirmed"];
    loop {
        if let ("confirmed", arrived) = endpoint.islogin(&console, &scene, 30, &expected).await? {
            // Nobody listening means this console's wake-up is not one being measured.
            let _unmeasured = told.send(arrived);
            return Ok(());
        }
    }
}
