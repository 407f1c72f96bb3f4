//! The real `meeteasy-auth` release binary as a child process pinned to one CPU (`taskset -c`), on a
//! free loopback port, ready once `/readyz` answers. Dropping it stops it (SIGTERM, then SIGKILL), so
//! no server outlives the benchmark, even when a measurement fails.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Client;
use tempfile::TempDir;
use tokio::time::Instant;

use crate::api::Endpoint;
use crate::error::BenchError;
use crate::procfs;

/// How long a starting server may take to answer `/readyz`.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a stopping server may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Attempts at a start, each on a new free port (another process may take the one we picked).
const PORT_ATTEMPTS: usize = 3;

/// Which store a server uses.
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// A fresh data directory of its own.
    Embedded,
    Redis {
        url: String,
    },
}

pub struct AuthProcess {
    child: Child,
    endpoint: Endpoint,
    log: PathBuf,
    /// Holds the server's data directory (embedded store) and its log.
    _dir: TempDir,
}

impl AuthProcess {
    /// Starts `meeteasy-auth serve --dev` pinned to `cpu` and waits until it is ready.
    pub async fn start(
        binary: &Path,
        cpu: usize,
        store: &StoreChoice,
        http: &Client,
    ) -> Result<Self, BenchError> {
        let mut last_failure = None;
        for _attempt in 0..PORT_ATTEMPTS {
            let dir = tempfile::tempdir()
                .map_err(BenchError::io("creating a temp dir for the server"))?;
            let port = free_port()?;
            let child = spawn(binary, cpu, store, port, dir.path())?;
            let mut server = Self {
                child,
                endpoint: Endpoint::new(format!("http://127.0.0.1:{port}")),
                log: dir.path().join("server.log"),
                _dir: dir,
            };
            match server.await_ready(http).await {
                Ok(()) => return Ok(server),
                Err(failure @ BenchError::Exited { .. }) => last_failure = Some(failure),
                Err(other) => return Err(other),
            }
        }
        Err(last_failure.unwrap_or(BenchError::TimedOut {
            what: "a server start".to_owned(),
            within: READY_DEADLINE,
        }))
    }

    async fn await_ready(&mut self, http: &Client) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(BenchError::io("watching the server"))?
            {
                return Err(BenchError::Exited {
                    what: "meeteasy-auth".to_owned(),
                    status: status.to_string(),
                    log_tail: self.log_tail(),
                });
            }
            if self.endpoint.is_ready(http).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BenchError::TimedOut {
                    what: format!("/readyz of {}", self.endpoint.url("")),
                    within: READY_DEADLINE,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_kib(&self) -> Result<u64, BenchError> {
        procfs::rss_kib(self.pid())
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server gracefully (waiting long-polls are answered) and waits until it is gone.
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for AuthProcess {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn spawn(
    binary: &Path,
    cpu: usize,
    store: &StoreChoice,
    port: u16,
    dir: &Path,
) -> Result<Child, BenchError> {
    let log =
        File::create(dir.join("server.log")).map_err(BenchError::io("creating the server log"))?;
    let log_err = log
        .try_clone()
        .map_err(BenchError::io("creating the server log"))?;
    let mut command = Command::new("taskset");
    command
        .args(["-c", &cpu.to_string()])
        .arg(binary)
        .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"));
    if let StoreChoice::Redis { url } = store {
        command.args(["--store", url]);
    }
    // The server's own defaults, whatever this shell has set (RUST_LOG=info is its default too).
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MEETEASY_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(BenchError::io(format!(
            "running taskset {}",
            binary.display()
        )))
}

/// SIGTERM, then SIGKILL after [`STOP_DEADLINE`]; the process is gone when this returns.
fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|status| status.success());
    let deadline = std::time::Instant::now() + STOP_DEADLINE;
    while signalled && std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    let _already_gone = child.kill();
    let _status = child.wait();
}

/// A port nothing listens on right now; someone may still take it before the server does.
fn free_port() -> Result<u16, BenchError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(BenchError::io("finding a free port"))
}
