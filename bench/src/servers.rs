//! The server side of the server benchmark, pinned to one CPU: the real `meeteasy-auth` release
//! binary as a child process, and the test harness's `redis-server`, with `redis-benchmark`'s own
//! SET/GET rate against it for comparison; and the contract's calls the benchmark makes to a
//! server over real HTTP ([`lean_http`](crate::lean_http)), each checked for the status the
//! contract promises. Dropping a server stops it, so none outlives the benchmark, even when a
//! measurement fails.

use std::fs::File;
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meeteasy_protocol::WechatLoginResponse;
use meeteasy_protocol::{CreateSceneResponse, IsLoginResponse, LoginTicketResponse};
use meeteasy_tests::redis_server::RedisServer;
use serde::de::DeserializeOwned;
use serde_json::json;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::lean_http::Connection;
use crate::{Error, Result, because, fail, poll, run};

/// The bearer token the servers' `/metrics` asks for.
const METRICS_TOKEN: &str = "bench-metrics-scraper-token";

/// A server on a free loopback port: `meeteasy-auth serve --dev`, or the bare-stack ceiling.
pub struct AuthProcess {
    child: Child,
    pub endpoint: Endpoint,
    /// Holds the data directory (embedded store) and the server's log.
    dir: TempDir,
}

impl AuthProcess {
    /// Starts the `auth` binary pinned to `cpu` on `store` (`None`: a fresh embedded store) and
    /// waits until `/readyz` answers.
    pub async fn start(auth: &Path, cpu: usize, store: Option<&str>) -> Result<Self> {
        Self::launch(auth, cpu, |command, dir| {
            let (config, token_file) = (dir.join("config.toml"), dir.join("metrics-token"));
            // A temporary directory's path needs no escaping beyond what `{:?}` gives a TOML string.
            let config_text = format!("metrics_token_file = {token_file:?}\n");
            std::fs::write(&token_file, METRICS_TOKEN)
                .and_then(|()| std::fs::write(&config, config_text))
                .map_err(because("writing the server's config"))?;
            command.args(["serve", "--dev", "--config"]).arg(&config);
            command.arg("--data-dir").arg(dir.join("data"));
            command.args(store.map(|url| ["--store", url]).into_iter().flatten());
            // The server's own defaults, whatever this shell has set (RUST_LOG=info is its default).
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("MEETEASY_") {
                    command.env_remove(name);
                }
            }
            command.env_remove("RUST_LOG");
            Ok(())
        })
        .await
    }

    /// Starts `bench-ceiling` (bare axum answering the same JSON) pinned to `cpu`.
    pub async fn start_ceiling(ceiling: &Path, cpu: usize) -> Result<Self> {
        Self::launch(ceiling, cpu, |_, _| Ok(())).await
    }

    /// Runs `binary` pinned to `cpu` (its threads too), with the arguments `configure` gives it
    /// in a fresh directory, on a free loopback port (`--listen`), its output to the directory's
    /// log; waits until `/readyz` answers. Another process may take the port before the server
    /// binds it (once, the dev server's own fake WeChat did): the server then exits at start, and
    /// it is tried twice more, on fresh ports.
    async fn launch(
        binary: &Path,
        cpu: usize,
        configure: impl Fn(&mut Command, &Path) -> Result<()>,
    ) -> Result<Self> {
        for _ in 1..3 {
            match Self::launch_once(binary, cpu, &configure).await {
                Ok(server) => return Ok(server),
                Err(error) => eprintln!("{error}\n(trying again on a fresh port)"),
            }
        }
        Self::launch_once(binary, cpu, &configure).await
    }

    async fn launch_once(
        binary: &Path,
        cpu: usize,
        configure: impl Fn(&mut Command, &Path) -> Result<()>,
    ) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(because("creating the server's directory"))?;
        let mut command = Command::new("taskset");
        command.args(["-c", &cpu.to_string()]).arg(binary);
        configure(&mut command, dir.path())?;
        let address = TcpListener::bind("127.0.0.1:0").and_then(|socket| socket.local_addr());
        let address = address.map_err(because("finding a free port"))?.to_string();
        let log = File::create(dir.path().join("log")).map_err(because("creating its log"))?;
        let stdout = log.try_clone().map_err(because("sharing the server log"))?;
        command.args(["--listen", &address]);
        command.stdin(Stdio::null()).stdout(stdout).stderr(log);
        let running = format!("running {command:?}");
        let child = command.spawn().map_err(because(running))?;
        let url = format!("http://{address}");
        let endpoint = Endpoint { url };
        let mut server = Self {
            child,
            endpoint,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.endpoint.is_ready().await {
            let exited = server.child.try_wait();
            let exited = exited.map_err(because("watching the server"))?;
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(server.dir.path().join("log"));
                let log = log.unwrap_or_default();
                fail!("{command:?} did not start ({exited:?}); its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
        let Some(pid) = server.pid() else {
            fail!("the redis-server just started is not running");
        };
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
        let lines = output.split(['\r', '\n']);
        let rate = |name| {
            let number = |line: &str| line.strip_prefix(name)?.split(' ').next()?.parse().ok();
            lines.clone().find_map(number)
        };
        match (rate("SET: "), rate("GET: ")) {
            (Some(set), Some(get)) => Ok([set, get]),
            _ => fail!("redis-benchmark printed no SET and GET rates: {output}"),
        }
    }
}

/// A scene as its console holds it.
pub type Scene = CreateSceneResponse;

/// Each loopback address may create 120 scenes a minute (a Redis store remembers that across
/// restarts), so consoles use each address for at most this many, and only once a run.
pub const SCENES_PER_ADDRESS: usize = 100;

/// One auth server: its base URL (`http://127.0.0.1:PORT`).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
}

impl Endpoint {
    /// A fresh connection to the server, from `local` or the default address.
    pub async fn connect(&self, local: Option<IpAddr>) -> Result<Connection> {
        Connection::open(&self.url, local).await
    }

    /// Whether `/readyz` answers 200 now.
    pub async fn is_ready(&self) -> bool {
        let Ok(mut connection) = self.connect(None).await else {
            return false;
        };
        connection.get("/readyz", None, 200).await.is_ok()
    }

    /// Waits (30 s at most) until at least `count` long-polls wait, asking over one connection.
    pub async fn await_waiters(&self, count: usize) -> Result<()> {
        let what = format!("{count} long-polls were not waiting");
        let mut probe = self.connect(None).await?;
        let waiting = async || Ok((probe.waiters().await? >= count).then_some(()));
        let (within, every) = (Duration::from_secs(30), Duration::from_millis(2));
        poll(&what, within, every, waiting).await
    }
}

/// The contract's calls the benchmark makes, each checked for the status the contract promises.
impl Connection {
    /// Logs in as dev user `name` from the mini program; returns the phone's access token.
    pub async fn dev_login(&mut self, name: &str) -> Result<String> {
        let code = json!({ "code": format!("dev:{name}") }).to_string();
        let login = self.post_json("/auth/wechat/login", None, &code, 200);
        Ok(parse::<WechatLoginResponse>(login.await?)?.access_token)
    }

    pub async fn create_scene(&mut self) -> Result<Scene> {
        let device = json!({ "device_name": "bench console" }).to_string();
        parse(self.post_json("/auth/scenes", None, &device, 201).await?)
    }

    /// The phone's `scan` (200) or `confirm` (204) of `scene`, with no body (the steps read none).
    pub async fn phone(&mut self, token: &str, scene: &str, step: &str) -> Result<()> {
        let path = format!("/auth/scenes/{scene}/{step}");
        let status = if step == "scan" { 200 } else { 204 };
        let stepped = self.post_json(&path, Some(token), "", status);
        stepped.await.map(drop)
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
        let answer = self.get(&path, Some(&scene.poll_token), 200).await?;
        let arrived = Instant::now();
        let status = match parse(answer)? {
            IsLoginResponse::Pending => "pending",
            IsLoginResponse::Scanned { .. } => "scanned",
            IsLoginResponse::Confirmed { .. } => "confirmed",
        };
        if !expected.contains(&status) {
            fail!("islogin answered {status}, not {}", expected.join(" or "));
        }
        Ok((status, arrived))
    }

    /// The long-polls waiting on the server now (its `/metrics` gauge).
    pub async fn waiters(&mut self) -> Result<usize> {
        let metrics = self.get("/metrics", Some(METRICS_TOKEN), 200).await?;
        let metrics = String::from_utf8_lossy(metrics);
        let gauge = |line: &str| line.strip_prefix("meeteasy_islogin_waiters ")?.parse().ok();
        let waiters = metrics.lines().find_map(gauge);
        waiters.ok_or_else(|| Error::new("/metrics has no meeteasy_islogin_waiters gauge"))
    }

    pub async fn mint_ticket(&mut self, phone: &str) -> Result<String> {
        let minted = self.post_json("/auth/login-ticket", Some(phone), "{}", 201);
        Ok(parse::<LoginTicketResponse>(minted.await?)?.login_ticket)
    }
}

/// `body` as a `T`; an answer that is not one fails, with the answer.
pub fn parse<T: DeserializeOwned>(body: impl AsRef<[u8]>) -> Result<T> {
    let body = body.as_ref();
    let unexpected = || format!("unexpected answer: {}", String::from_utf8_lossy(body));
    serde_json::from_slice(body).map_err(|error| because(unexpected())(error))
}
