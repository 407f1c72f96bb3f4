//! The server side of the server benchmark, pinned to one CPU: the real `meeteasy-auth` release
//! binary as a child process, and the test harness's `redis-server`, with `redis-benchmark`'s own
//! SET/GET rate against it for comparison. Dropping a server stops it, so none outlives the
//! benchmark, even when a measurement fails.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meeteasy_tests::redis_server::RedisServer;
use tempfile::TempDir;

use crate::api::{self, Endpoint};
use crate::{Result, because, fail, procfs, run};

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
        let (dir, address) = Self::place()?;
        let metrics_token = "bench-metrics-scraper-token".to_owned();
        let config = dir.path().join("config.toml");
        let token_file = dir.path().join("metrics-token");
        // A temporary directory's path needs no escaping beyond what `{:?}` gives a TOML string.
        let config_text = format!("metrics_token_file = {:?}\n", token_file);
        std::fs::write(&token_file, &metrics_token)
            .and_then(|()| std::fs::write(&config, config_text))
            .map_err(because("writing the server's config"))?;
        let mut command = pinned(auth, cpu);
        command.args(["serve", "--dev", "--listen", &address]);
        command.arg("--config").arg(&config);
        command.arg("--data-dir").arg(dir.path().join("data"));
        command.args(store.map(|url| ["--store", url]).into_iter().flatten());
        // The server's own defaults, whatever this shell has set (RUST_LOG=info is its default).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MEETEASY_") {
                command.env_remove(name);
            }
        }
        command.env_remove("RUST_LOG");
        Self::launch(command, dir, &address, metrics_token).await
    }

    /// Starts `bench-ceiling` (bare axum answering the same JSON) pinned to `cpu`.
    pub async fn start_ceiling(ceiling: &Path, cpu: usize) -> Result<Self> {
        let (dir, address) = Self::place()?;
        let mut command = pinned(ceiling, cpu);
        command.args(["--listen", &address]);
        Self::launch(command, dir, &address, String::new()).await
    }

    /// A directory for the server's files and log, and a free loopback port.
    fn place() -> Result<(TempDir, String)> {
        let dir = tempfile::tempdir().map_err(because("creating the server's directory"))?;
        // Another process may take the port before the server does: then it fails to start.
        let address = TcpListener::bind("127.0.0.1:0").and_then(|socket| socket.local_addr());
        let address = address.map_err(because("finding a free port"))?.to_string();
        Ok((dir, address))
    }

    /// Runs `command` (a server listening on `address`), its output to `dir`'s log, and waits
    /// until `/readyz` answers.
    async fn launch(
        mut command: Command,
        dir: TempDir,
        address: &str,
        metrics_token: String,
    ) -> Result<Self> {
        let log = File::create(dir.path().join("log")).map_err(because("creating its log"))?;
        let stdout = log.try_clone().map_err(because("sharing the server log"))?;
        command.stdin(Stdio::null()).stdout(stdout).stderr(log);
        let running = format!("running {command:?}");
        let child = command.spawn().map_err(because(running))?;
        let (url, http) = (format!("http://{address}"), api::client(None)?);
        let mut server = Self {
            child,
            endpoint: Endpoint {
                url,
                http,
                metrics_token,
            },
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

/// `binary`, its threads pinned to `cpu`.
fn pinned(binary: &Path, cpu: usize) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", &cpu.to_string()]).arg(binary);
    command
}

impl Drop for AuthProcess {
    /// SIGTERM (the server answers its waiting long-polls and stops), SIGKILL after 10 s; the
    /// server is gone when this returns.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _gone_already = run(&format!("kill -TERM {}", self.pid()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _gone_already = self.child.kill();
            let _status = self.child.wait();
        }
    }
}

/// The harness's `redis-server` (loopback, free port, no persistence), every thread on one CPU.
pub struct PinnedRedis {
    server: RedisServer,
    pub pid: u32,
}

impl PinnedRedis {
    pub fn start(cpu: usize) -> Result<Self> {
        let server = RedisServer::start();
        // This process's one redis child (Debian's redis-server is a link to redis-check-rdb).
        let me = std::process::id();
        let mut children = procfs::tree(me).into_iter().filter(|p| p.parent == me);
        let Some(redis) = children.find(|p| p.name.starts_with("redis")) else {
            fail!("the redis-server just started is not a child of this process");
        };
        let pid = redis.pid;
        run(&format!("taskset -a -p -c {cpu} {pid}"))?;
        Ok(Self { server, pid })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `redis-benchmark -q -t set,get -n <requests>` (50 connections, no pipelining) pinned to
    /// `cpu`: SET and GET requests per second.
    pub fn benchmark(&self, cpu: usize, requests: u64) -> Result<[f64; 2]> {
        let port = self.server.port();
        let test = format!("redis-benchmark -h 127.0.0.1 -p {port} -q -t set,get -n {requests}");
        let output = run(&format!("taskset -c {cpu} {test}"))?;
        // Progress lines (`SET: rps=...`) end in \r; a result is `SET: 81234.57 requests per second`.
        let lines = output.split(['\r', '\n']);
        let rate = |name| lines.clone().find_map(|l| rate_in(l.strip_prefix(name)?));
        match (rate("SET: "), rate("GET: ")) {
            (Some(set), Some(get)) => Ok([set, get]),
            _ => fail!("redis-benchmark printed no SET and GET rates: {output}"),
        }
    }
}

/// The rate a `redis-benchmark` result line starts with.
fn rate_in(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}
