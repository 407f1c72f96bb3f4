//! The server benchmark's servers, pinned to one CPU (`meeteasy-auth` release binaries and
//! `redis-server`), and its calls to them. Dropping a server stops it: none outlives the benchmark.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use meeteasy_protocol::WeChatLoginResponse;
use meeteasy_protocol::{
    CreateSceneResponse as Scene, IsLoginResponse, LoginTicketResponse, TokenResponse,
};
use meeteasy_tests::auth_process::{auth_command, listening_addr};
use meeteasy_tests::redis_server::RedisServer;
use serde::de::DeserializeOwned;
use serde_json::json;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::lean_http::Connection;
use crate::{poll, run, value_after};

/// The bearer token the servers' `/metrics` asks for.
pub const METRICS_TOKEN: &str = "bench-metrics-scraper-token";

/// A server on a free loopback port: `meeteasy-auth serve --dev`, or the bare-stack ceiling.
pub struct AuthProcess {
    child: Child,
    pub address: SocketAddr,
    /// Holds the data directory (embedded store) and the server's log.
    dir: TempDir,
}

impl AuthProcess {
    /// Runs `binary` pinned to `cpu` on a free port, with the arguments `configure` gives it in a
    /// fresh directory, logging there; waits (30 s at most) until it logs its address (once ready).
    pub async fn launch(
        binary: &Path,
        cpu: usize,
        configure: impl Fn(&mut Command, &Path) -> Result<()>,
    ) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating the server's directory")?;
        // The harness's command (server defaults, whatever this shell set); taskset passes it on.
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
        server.address = poll(&format!("{command:?} listening"), 30, 20, listening).await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AuthProcess {
    /// Kills the server (a Redis store's state does not depend on how it ended); gone on return.
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
        let pid = server.pid().context("redis-server exited at once")?;
        run(&format!("taskset -a -p -c {cpu} {pid}"))?;
        Ok(Self { server, pid })
    }

    /// SET and GET requests/s of `redis-benchmark -q -t set,get` (50 connections) pinned to `cpu`.
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
    let mut probe = Connection::open(server, None).await?;
    let waiting = async || Ok((probe.waiters().await? >= count).then_some(()));
    poll(&format!("{count} long-polls not waiting"), 30, 2, waiting).await
}

/// The contract's calls the benchmark makes: each answer must succeed, and parse if it is read.
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

    /// `islogin?wait=<wait>`: its status, which must be one of `expected`, and when it arrived.
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

    /// Exchanges `login_ticket`; answers the new session's token.
    pub async fn exchange(&mut self, login_ticket: &str) -> Result<String> {
        let ticket = json!({ "login_ticket": login_ticket }).to_string();
        let exchanged = self.request("/auth/login-ticket/exchange", None, Some(&ticket));
        Ok(parse::<TokenResponse>(exchanged.await?)?.access_token)
    }

    /// Verifies `token`, which must verify.
    pub async fn verify(&mut self, token: &str) -> Result<()> {
        let body = json!({ "token": token }).to_string();
        self.request("/auth/jwt/verify", None, Some(&body))
            .await
            .map(drop)
    }
}

/// `body` as a `T`; an answer that is not one fails, with the answer.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let unexpected = || format!("unexpected answer: {}", String::from_utf8_lossy(body));
    serde_json::from_slice(body).with_context(unexpected)
}
