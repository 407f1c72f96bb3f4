//! The server side of the server benchmark, pinned to one CPU: the real `meeteasy-auth` release
//! binary as a child process, and the test harness's `redis-server`, with `redis-benchmark`'s own
//! SET/GET rate against it for comparison. Dropping a server stops it, so none outlives the
//! benchmark, even when a measurement fails.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use meeteasy_tests::redis_server::RedisServer;
use reqwest::Client;
use tempfile::TempDir;

use crate::api::Endpoint;
use crate::{Result, fail, io, procfs};

/// `meeteasy-auth serve --dev` on a free loopback port.
pub struct AuthProcess {
    child: Child,
    pub endpoint: Endpoint,
    /// Holds the data directory (embedded store) and the server's log.
    dir: TempDir,
}

impl AuthProcess {
    /// Starts `binary` pinned to `cpu` on `store` (`None`: a fresh embedded store) and waits until
    /// `/readyz` answers. If another process took the free port first, it tries another.
    pub async fn start(
        binary: &Path,
        cpu: usize,
        store: Option<&str>,
        http: &Client,
    ) -> Result<Self> {
        let mut attempts = 1;
        loop {
            let mut server = Self::spawn(binary, cpu, store)?;
            match server.exited_before_ready(http).await? {
                None => return Ok(server),
                Some(_) if attempts < 3 => attempts += 1,
                Some(status) => fail!("meeteasy-auth exited ({status}):\n{}", server.log_tail()),
            }
        }
    }

    fn spawn(binary: &Path, cpu: usize, store: Option<&str>) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(io("creating the server's directory"))?;
        let address = TcpListener::bind("127.0.0.1:0").and_then(|socket| socket.local_addr());
        let address = address.map_err(io("finding a free port"))?;
        let log = File::create(dir.path().join("server.log")).map_err(io("creating its log"))?;
        let mut command = Command::new("taskset");
        command.args(["-c", &cpu.to_string()]).arg(binary);
        command.args([
            "serve",
            "--dev",
            "--listen",
            &address.to_string(),
            "--data-dir",
        ]);
        command.arg(dir.path().join("data"));
        command.args(store.map(|url| ["--store", url]).into_iter().flatten());
        // The server's own defaults, whatever this shell has set (RUST_LOG=info is its default).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MEETEASY_") {
                command.env_remove(name);
            }
        }
        let stdout = log.try_clone().map_err(io("sharing the server log"))?;
        command
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log);
        let child = command
            .spawn()
            .map_err(io(format!("running taskset {}", binary.display())))?;
        Ok(Self {
            child,
            endpoint: Endpoint(format!("http://{address}")),
            dir,
        })
    }

    /// Waits for `/readyz`; says how the server ended if it exited first.
    async fn exited_before_ready(&mut self, http: &Client) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().map_err(io("watching the server"))? {
                return Ok(Some(status));
            }
            if self.endpoint.is_ready(http).await {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                fail!(
                    "{} was not ready within 30 s:\n{}",
                    self.endpoint.0,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
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
        run(&format!("taskset -a -p -c {cpu} {}", redis.pid))?;
        Ok(Self {
            server,
            pid: redis.pid,
        })
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
        let rate = |name| {
            lines
                .clone()
                .find_map(|line| first_number(line.strip_prefix(name)?))
        };
        match (rate("SET: "), rate("GET: ")) {
            (Some(set), Some(get)) => Ok([set, get]),
            _ => fail!("redis-benchmark printed no SET and GET rates: {output}"),
        }
    }
}

fn first_number(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Runs a short command (its words split at spaces); returns its standard output.
fn run(command: &str) -> Result<String> {
    let mut words = command.split(' ');
    let program = Command::new(words.next().unwrap_or_default())
        .args(words)
        .output();
    let output = program.map_err(io(format!("running {command}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        fail!("`{command}` failed ({}): {stderr}", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
