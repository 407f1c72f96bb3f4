//! The server side of the server benchmark, pinned to one CPU (`meeteasy-auth` release binaries
//! and `redis-server`), and the contract's calls the benchmark makes to a server. Dropping a server
//! stops it, so none outlives the benchmark, even when a measurement fails.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meeteasy_protocol::WeChatLoginResponse;
use meeteasy_protocol::{CreateSceneResponse as Scene, IsLoginResponse, LoginTicketResponse};
use meeteasy_tests::auth_process::{auth_command, listening_addr};
use meeteasy_tests::redis_server::RedisServer;
use serde::de::DeserializeOwned;
use serde_json::json;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::lean_http::Connection;
use crate::{poll, run, value_after};

/// The bearer token the servers' `/metrics` asks for.
const METRICS_TOKEN: &str = "bench-metrics-scraper-token";

/// A server on a free loopback port: `meeteasy-auth serve --dev`, or the bare-stack ceiling.
pub struct AuthProcess {
    child: Child,
    pub address: SocketAddr,
    /// Holds the data directory (embedded store) and the server's log.
    dir: TempDir,
}

impl AuthProcess {
    /// Starts the `auth` binary pinned to `cpu` on `store` (`None`: a fresh embedded store).
    pub async fn start(auth: &Path, cpu: usize, store: Option<&str>) -> Result<Self> {
        Self::launch(auth, cpu, |command, dir| {
            let (config, token_file) = (dir.join("config.toml"), dir.join("metrics-token"));
            // A temporary directory's path needs no escaping beyond what `{:?}` gives a TOML string.
            let config_text = format!("metrics_token_file = {token_file:?}\n");
            std::fs::write(&token_file, METRICS_TOKEN).context("writing the metrics token")?;
            std::fs::write(&config, config_text).context("writing the server's config")?;
            command.args(["serve", "--dev", "--config"]).arg(&config);
            command.arg("--data-dir").arg(dir.join("data"));
            command.args(store.map(|url| ["--store", url]).into_iter().flatten());
            Ok(())
        })
        .await
    }

    /// Runs `binary` pinned to `cpu` (its threads too) on a free port, with the arguments `configure`
    /// gives it in a fresh directory, logging there; waits (30 s at most) until it logs the address
    /// it listens on, as `meeteasy-auth serve` does once it is ready.
    pub async fn launch(
        binary: &Path,
        cpu: usize,
        configure: impl Fn(&mut Command, &Path) -> Result<()>,
    ) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating the server's directory")?;
        // The harness's command for the auth binary, with the server's own defaults whatever this
        // shell has set, but through taskset (which passes its environment on).
        let mut command = auth_command(Path::new("taskset")).into_std();
        command.args(["-c", &cpu.to_string()]).arg(binary);
        configure(&mut command, dir.path())?;
        let log = File::create(dir.path().join("log")).context("creating its log")?;
        let stdout = log.try_clone().context("sharing the server log")?;
        command.args(["--listen", "127.0.0.1:0"]);
        command.stdin(Stdio::null()).stdout(stdout).stderr(log);
        let child = command.spawn().context(format!("running {command:?}"))?;
        // Dropped, and so killed, if it never listens.
        let mut server = Self {
            child,
            address: SocketAddr::from(([0; 4], 0)),
            dir,
        };
        let listening = async || {
            let log = std::fs::read_to_string(server.dir.path().join("log")).unwrap_or_default();
            if let Some(address) = log.lines().find_map(listening_addr) {
                return Ok(Some(address.parse().context("the address it logged")?));
            }
            match server.child.try_wait().context("watching the server")? {
                Some(exited) => bail!("{command:?} exited ({exited}); its log:\n{log}"),
                None => Ok(None),
            }
        };
        let (what, every) = (format!("{command:?} listening"), Duration::from_millis(20));
        server.address = poll(&what, Duration::from_secs(30), every, listening).await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AuthProcess {
    /// Kills the server: nothing it holds is needed after a measurement (a Redis store's state
    /// does not depend on how the server ended). It is gone when this returns.
    fn drop(&mut self) {
        let _gone_already = self.child.kill();
        let _status = self.child.wait();
    }
}

/// The harness's `redis-server` (loopback, free port, no persistence), every thread on one CPU.
pub struct PinnedRedis {
    pub server: RedisServer,
    pub pid: u32,
}

impl PinnedRedis {
    pub fn start(cpu: usize) -> Result<Self> {
        let server = RedisServer::start();
        let pid = server.pid();
        let pid = pid.context("the redis-server just started is not running")?;
        run(&format!("taskset -a -p -c {cpu} {pid}"))?;
        Ok(Self { server, pid })
    }

    /// `redis-benchmark -q -t set,get -n <requests>` (50 connections, no pipelining) pinned to
    /// `cpu`: SET and GET requests per second.
    pub fn benchmark(&self, cpu: usize, requests: u64) -> Result<[f64; 2]> {
        let port = self.server.port();
        let test = format!("redis-benchmark -h 127.0.0.1 -p {port} -q -t set,get -n {requests}");
        let output = run(&format!("taskset -c {cpu} {test}"))?;
        // Progress lines (`SET: rps=...`) end in \r; a result is `SET: 81234.57 requests per second`.
        match (value_after(&output, "SET: "), value_after(&output, "GET: ")) {
            (Some(set), Some(get)) => Ok([set, get]),
            _ => bail!("redis-benchmark printed no SET and GET rates: {output}"),
        }
    }
}

/// Each loopback address may create 120 scenes a minute (a Redis store remembers that across
/// restarts), so consoles use each address for at most this many, and only once a run.
pub const SCENES_PER_ADDRESS: usize = 100;

/// Waits (30 s at most) until at least `count` long-polls wait on `server`.
pub async fn await_waiters(server: SocketAddr, count: usize) -> Result<()> {
    let what = format!("{count} long-polls were not waiting");
    let mut probe = Connection::open(server, None).await?;
    let waiting = async || Ok((probe.waiters().await? >= count).then_some(()));
    let (within, every) = (Duration::from_secs(30), Duration::from_millis(2));
    poll(&what, within, every, waiting).await
}

/// The contract's calls the benchmark makes; each answer must be a success, and one the benchmark
/// reads must have the contract's shape.
impl Connection {
    /// Logs in as dev user `name` from the mini program; returns the phone's access token.
    pub async fn dev_login(&mut self, name: &str) -> Result<String> {
        let code = json!({ "code": format!("dev:{name}") }).to_string();
        let login = self.request("/auth/wechat/login", None, Some(&code));
        Ok(parse::<WeChatLoginResponse>(login.await?)?.access_token)
    }

    pub async fn create_scene(&mut self) -> Result<Scene> {
        let device = json!({ "device_name": "bench console" }).to_string();
        parse(self.request("/auth/scenes", None, Some(&device)).await?)
    }

    /// The phone's `scan` or `confirm` of `scene`, with no body (the steps read none).
    pub async fn phone(&mut self, token: &str, scene: &str, step: &str) -> Result<()> {
        let path = format!("/auth/scenes/{scene}/{step}");
        self.request(&path, Some(token), Some("")).await.map(drop)
    }

    /// `islogin?wait=<wait>`: its status, which must be one of `expected` (`pending`, `scanned`,
    /// `confirmed`), and when the whole answer had arrived.
    pub async fn islogin(
        &mut self,
        scene: &Scene,
        wait: u64,
        expected: &[&str],
    ) -> Result<(&'static str, Instant)> {
        let path = format!("/auth/scenes/{}/islogin?wait={wait}", scene.scene);
        let answer = self.request(&path, Some(&scene.poll_token), None).await?;
        let arrived = Instant::now();
        let status = match parse(answer)? {
            IsLoginResponse::Pending => "pending",
            IsLoginResponse::Scanned { .. } => "scanned",
            IsLoginResponse::Confirmed { .. } => "confirmed",
        };
        if !expected.contains(&status) {
            bail!("islogin answered {status}, not {}", expected.join(" or "));
        }
        Ok((status, arrived))
    }

    /// The long-polls waiting on the server now (its `/metrics` gauge).
    pub async fn waiters(&mut self) -> Result<usize> {
        let metrics = self.request("/metrics", Some(METRICS_TOKEN), None).await?;
        let gauge = "meeteasy_islogin_waiters ";
        let waiters = value_after(&String::from_utf8_lossy(metrics), gauge);
        waiters.context("/metrics has no meeteasy_islogin_waiters gauge")
    }

    pub async fn mint_ticket(&mut self, phone: &str) -> Result<String> {
        let minted = self.request("/auth/login-ticket", Some(phone), Some("{}"));
        Ok(parse::<LoginTicketResponse>(minted.await?)?.login_ticket)
    }
}

/// `body` as a `T`; an answer that is not one fails, with the answer.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let unexpected = || format!("unexpected answer: {}", String::from_utf8_lossy(body));
    serde_json::from_slice(body).with_context(unexpected)
}
