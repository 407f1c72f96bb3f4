//! The server benchmark's measurements, over real HTTP to `meeteasy-auth` processes pinned to one
//! CPU, with the load from the other. Each function below says how its figure is taken.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{StreamExt, TryStreamExt, stream};
use meeteasy_protocol::CreateSceneResponse as Scene;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::lean_http::{self, Connection};
use crate::servers::{AuthProcess, METRICS_TOKEN, SCENES_PER_ADDRESS, await_waiters};
use crate::{Samples, beside_this, procfs};

pub const ROUNDS: usize = 5;
/// Long-polls opened before waiting for the server to hold them all (its accept backlog is 1024).
pub const BATCH: usize = 500;
/// Attendees (dev mode's `guest` users, in no team index) whose tickets the exchange rate takes:
/// enough that none holds more sessions than a user may keep (100), so none ends an older one.
const EXCHANGING_PHONES: usize = 2_048;
/// Logins run first and not counted: connections, caches and the allocator settle.
const WARM_UP: usize = 10;

/// Benchmarks meeteasy-auth on the embedded store and on Redis.
#[derive(Debug, clap::Parser)]
pub struct Bench {
    /// The `meeteasy-auth` binary.
    #[arg(long, default_value_os_t = beside_this("meeteasy-auth"))]
    pub auth_bin: PathBuf,
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
    /// How many console addresses the run has used.
    #[arg(skip)]
    consoles: Cell<u32>,
}

pub struct Rate {
    /// Requests per second of each round.
    pub per_second: Samples,
    /// CPU the server side used while answering, in cores (1.0 = one core fully busy).
    pub server_cores: f64,
    /// The part of it the store's own process (`redis-server`) used; 0 for the embedded store.
    pub store_cores: f64,
    /// How busy the server CPU was meanwhile (0.0 to 1.0), whoever used it: the machine is shared.
    pub server_cpu_busy: f64,
}

impl Rate {
    /// Requests per CPU-second of the server process itself (not its store's): comparable when the
    /// load generator kept a rate from filling its CPU, or `redis-server` took part of it.
    pub fn per_core(&self) -> f64 {
        self.per_second.median() / (self.server_cores - self.store_cores).max(f64::EPSILON)
    }
}

/// Many consoles waiting at once, on a server the run has not used yet.
pub struct Waiting {
    /// Server RSS fresh, with the scenes created, and with every console waiting.
    pub rss_kib: [f64; 3],
    /// The waiter gauge when the memory was read.
    pub waiters: usize,
    pub ramp_up: Duration,
    pub wake_ups: Samples,
}

impl Bench {
    /// A console's loopback address, not used before in this run: 127.1.0.1 on, 250 to each /24
    /// (a console from x.x.x.0 or x.x.x.255 might look like a network or broadcast).
    fn console(&self) -> IpAddr {
        let used = self.consoles.replace(self.consoles.get() + 1);
        let (high, low) = (used / 250, used % 250 + 1);
        Ipv4Addr::from(0x7f01_0000 + (high << 8) + low).into()
    }

    /// A fresh `meeteasy-auth serve --dev` on `store` (`None`: a fresh embedded store), and a phone
    /// logged in there.
    pub async fn start(&self, store: Option<&str>) -> Result<(AuthProcess, String)> {
        let server = AuthProcess::launch(&self.auth_bin, self.server_cpu, |command, dir| {
            let (config, token_file) = (dir.join("config.toml"), dir.join("metrics-token"));
            // A temporary directory's path needs no escaping past what `{:?}` makes a TOML string.
            let config_text = format!("metrics_token_file = {token_file:?}\n");
            std::fs::write(&token_file, METRICS_TOKEN).context("writing the metrics token")?;
            std::fs::write(&config, config_text).context("writing the server's config")?;
            command.args(["serve", "--dev", "--config"]).arg(&config);
            command.arg("--data-dir").arg(dir.join("data"));
            command.args(store.map(|url| ["--store", url]).into_iter().flatten());
            Ok(())
        });
        let server = server.await?;
        let mut phone = Connection::open(server.address, None).await?;
        Ok((server, phone.dev_login("bench-phone").await?))
    }

    /// Whole scan logins in turn, as the products make them: a scene created on `console`, scanned
    /// on `at`, waited on in `islogin?wait=30` and confirmed once the waiter gauge says so. Returns
    /// each time from sending the confirm to holding `confirmed`.
    pub async fn logins(&self, [console, at]: [SocketAddr; 2], phone: &str) -> Result<Samples> {
        let (mut phone_side, mut samples) = (Connection::open(at, None).await?, Vec::new());
        let mut client = Connection::open(console, Some(self.console())).await?;
        for login in 0..WARM_UP + self.iterations {
            if login % SCENES_PER_ADDRESS == SCENES_PER_ADDRESS - 1 {
                client = Connection::open(console, Some(self.console())).await?;
            }
            let scene = client.create_scene().await?;
            phone_side.phone(phone, &scene.scene, "scan").await?;
            client.islogin(&scene, 30, &["scanned"]).await?;
            let waiting = client.islogin(&scene, 30, &["confirmed"]);
            let confirm = async {
                await_waiters(console, 1).await?;
                let sent = Instant::now();
                phone_side.phone(phone, &scene.scene, "confirm").await?;
                Ok(sent)
            };
            let ((_, arrived), sent) = tokio::try_join!(waiting, confirm)?;
            samples.push(arrived.saturating_duration_since(sent));
        }
        Ok(Samples::ms(samples.into_iter().skip(WARM_UP)))
    }

    /// `islogin` requests per second on `at`, which `pids` serve (their CPU time is counted).
    pub async fn islogin_rate(&self, at: SocketAddr, pids: &[u32]) -> Result<Rate> {
        let pool = async |count| self.create_scenes(at, count).await;
        let poll = async |connection: &mut Connection, (_, scene): (IpAddr, Scene)| {
            connection.islogin(&scene, 0, &["pending"]).await.map(drop)
        };
        self.rate(at, pids, pool, poll).await
    }

    /// The `islogin` and exchange rates of bare axum answering the same JSON on the server's CPU.
    pub async fn ceiling_rates(&self) -> Result<[Rate; 2]> {
        let ceiling = beside_this("bench-ceiling");
        let server = AuthProcess::launch(&ceiling, self.server_cpu, |_, _| Ok(())).await?;
        let (at, pids) = (server.address, [server.pid()]);
        let islogin = self.islogin_rate(at, &pids).await?;
        Ok([islogin, self.exchange_rate(at, &pids).await?])
    }

    /// Ticket exchanges per second on `at` of [`EXCHANGING_PHONES`] users' tickets in turn, as at a
    /// conference: one phone's would share its session index, measuring that record's contention.
    pub async fn exchange_rate(&self, at: SocketAddr, pids: &[u32]) -> Result<Rate> {
        let phones = self.phones(at, "exchange").await?;
        let mint = async |phone: &mut Connection, n: usize| {
            phone.mint_ticket(&phones[n % EXCHANGING_PHONES]).await
        };
        let connections = self.connections;
        let pool = async |count| Ok(lean_http::drive(at, 0..count, connections, &mint).await?.0);
        let exchange = async |connection: &mut Connection, login_ticket: String| {
            connection.exchange(&login_ticket).await.map(drop)
        };
        self.rate(at, pids, pool, exchange).await
    }

    /// Verifications per second on `at` of one token, `phone`'s (the same session each time): after
    /// the first, the server has it verified already, and checks its expiry and revocation only.
    pub async fn verify_rate(&self, at: SocketAddr, pids: &[u32], phone: &str) -> Result<Rate> {
        let pool = async |count| Ok(vec![(); count]);
        let verify = async |connection: &mut Connection, ()| connection.verify(phone).await;
        self.rate(at, pids, pool, verify).await
    }

    /// Verifications per second on `at` of tokens each verified once (the tokens of fresh
    /// sessions of [`EXCHANGING_PHONES`] users in turn), so each one's signature is checked.
    pub async fn first_verify_rate(&self, at: SocketAddr, pids: &[u32]) -> Result<Rate> {
        let phones = self.phones(at, "verify").await?;
        let session = async |phone: &mut Connection, n: usize| {
            let ticket = phone.mint_ticket(&phones[n % EXCHANGING_PHONES]).await?;
            phone.exchange(&ticket).await
        };
        let connections = self.connections;
        let pool = async |count| {
            Ok(lean_http::drive(at, 0..count, connections, &session)
                .await?
                .0)
        };
        let verify =
            async |connection: &mut Connection, token: String| connection.verify(&token).await;
        self.rate(at, pids, pool, verify).await
    }

    /// The tokens of [`EXCHANGING_PHONES`] users logged in on `at` (named for `what` they serve).
    async fn phones(&self, at: SocketAddr, what: &str) -> Result<Vec<String>> {
        let login = async |phone: &mut Connection, n: usize| {
            phone.dev_login(&format!("guest-bench-{what}-{n}")).await
        };
        Ok(
            lean_http::drive(at, 0..EXCHANGING_PHONES, self.connections, login)
                .await?
                .0,
        )
    }

    /// `count` scenes and the fresh console address that created each (in turn on one connection).
    async fn create_scenes(&self, at: SocketAddr, count: usize) -> Result<Vec<(IpAddr, Scene)>> {
        let share = |first| (self.console(), SCENES_PER_ADDRESS.min(count - first));
        let shares: Vec<_> = (0..count).step_by(SCENES_PER_ADDRESS).map(share).collect();
        let create = |(console, share): (IpAddr, usize)| async move {
            let mut connection = Connection::open(at, Some(console)).await?;
            let mut scenes = Vec::new();
            for _ in 0..share {
                scenes.push((console, connection.create_scene().await?));
            }
            Ok(scenes)
        };
        let created = stream::iter(shares).map(create);
        let created = created.buffer_unordered(self.connections);
        created.try_concat().await
    }

    /// `waiters` consoles long-poll on a fresh `server` until confirmed, as the real console does;
    /// the first `wake_ups` of them are then confirmed one by one, and timed.
    pub async fn many_waiting(&self, server: &AuthProcess, phone: &str) -> Result<Waiting> {
        let (at, rss) = (server.address, || procfs::rss_kib(server.pid()));
        let rss_idle = rss()?;
        let scenes = self.create_scenes(at, self.waiters).await?;
        let (rss_scenes, ramp_started) = (rss()?, Instant::now());
        // Dropping the set stops the consoles still waiting.
        let (mut waiting, mut measured) = (JoinSet::new(), Vec::new());
        for (index, (console, scene)) in scenes.into_iter().enumerate() {
            let id = scene.scene.clone();
            let console = async move {
                let mut connection = Connection::open(at, Some(console)).await?;
                loop {
                    let answer = connection.islogin(&scene, 30, &["pending", "confirmed"]);
                    if let ("confirmed", arrived) = answer.await? {
                        return anyhow::Ok(arrived);
                    }
                }
            };
            if index < self.wake_ups {
                measured.push((id, tokio::spawn(console)));
            } else {
                waiting.spawn(console);
            }
            if (index + 1) % BATCH == 0 || index + 1 == self.waiters {
                await_waiters(at, index + 1).await?;
            }
        }
        let (ramp_up, rss_waiting) = (ramp_started.elapsed(), rss()?);
        let mut phone_side = Connection::open(at, None).await?;
        let (waiters, mut wake_ups) = (phone_side.waiters().await?, Vec::new());
        for (scene, console) in measured {
            let sent = Instant::now();
            phone_side.phone(phone, &scene, "confirm").await?;
            let told = tokio::time::timeout(Duration::from_secs(30), console).await;
            let told = told.context("a waiting console was not told within 30 s")?;
            wake_ups.push(told.context("a waiting console")??.duration_since(sent));
        }
        // A console that failed says why, rather than the run reporting a number around it.
        while let Some(finished) = waiting.try_join_next() {
            finished.context("a waiting console")??;
        }
        Ok(Waiting {
            rss_kib: [rss_idle, rss_scenes, rss_waiting].map(|kib| kib as f64),
            waiters,
            ramp_up,
            wake_ups: Samples::ms(wake_ups),
        })
    }

    /// Times `request` over [`lean_http`] connections in [`ROUNDS`] rounds of about 1.5 s (as a
    /// calibration run estimates) on fresh inputs from `pool`: scenes and tickets live only 120 s.
    async fn rate<I, P: IntoIterator<Item = I>>(
        &self,
        at: SocketAddr,
        pids: &[u32],
        pool: impl AsyncFn(usize) -> Result<P>,
        request: impl AsyncFn(&mut Connection, I) -> Result<()>,
    ) -> Result<Rate> {
        let drive = async |inputs: Vec<I>| {
            let (_, took) = lean_http::drive(at, inputs, self.connections, &request).await?;
            anyhow::Ok(took.as_secs_f64())
        };
        let calibration = drive(pool(1_000).await?.into_iter().collect()).await?;
        let per_round = ((1_000.0 / calibration * 1.5) as usize).clamp(1_000, 20_000);
        let mut inputs = pool(per_round * ROUNDS).await?.into_iter();
        // The server's process first, then its store's own (`redis-server`), if it has one.
        let store = pids.get(1..).unwrap_or_default();
        let used = || anyhow::Ok([procfs::cpu_seconds(pids)?, procfs::cpu_seconds(store)?]);
        let (before, ticks) = (used()?, procfs::cpu_ticks(self.server_cpu)?);
        let mut took = Vec::new();
        for _round in 0..ROUNDS {
            took.push(drive(inputs.by_ref().take(per_round).collect()).await?);
        }
        // Each round starts as the one before ends: CPU time over all of them is that of answering.
        let (after, (busy, total)) = (used()?, procfs::cpu_ticks(self.server_cpu)?);
        let (busy, total) = (busy - ticks.0, (total - ticks.1).max(1));
        let cores = |at: usize| (after[at] - before[at]) / took.iter().sum::<f64>();
        Ok(Rate {
            per_second: Samples::new(took.iter().map(|took| per_round as f64 / took)),
            server_cores: cores(0),
            store_cores: cores(1),
            server_cpu_busy: busy as f64 / total as f64,
        })
    }
}
