//! A real `redis-server` process for tests: loopback only, a free port, no persistence, its own temp
//! directory. It can be stopped and restarted on the same port to test outages; dropping it stops it.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meeteasy_auth::config::{ClientCertificate, RedisCertificates};
use meeteasy_protocol::Secret;
use tempfile::TempDir;

use crate::test_ca::TestCa;

/// How long a starting server may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a stopping server may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Attempts at a first start, each on a new free port (another process may take the one we picked).
const PORT_ATTEMPTS: usize = 5;

pub struct RedisServer {
    port: u16,
    /// Its TLS port, when it has one besides the plain one.
    tls_port: Option<u16>,
    /// Arguments of every start (the TLS ones).
    extra: Vec<String>,
    process: Option<Child>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a redis-server on a free loopback port and waits until it answers.
    ///
    /// # Panics
    /// When redis-server is not installed or does not come up.
    pub fn start() -> Self {
        Self::start_with(|| (None, Vec::new()))
    }

    /// Like [`RedisServer::start`], also speaking TLS on a second port with `ca`'s server
    /// certificate (`rediss://`, see [`RedisServer::tls_url`]); TLS clients must show a certificate
    /// `ca` issued.
    pub fn start_tls(ca: &TestCa) -> Self {
        let tls = TlsFiles::of(ca);
        Self::start_with(|| {
            let tls_port = free_port();
            (Some(tls_port), tls.server_args(tls_port))
        })
    }

    /// Starts a server on a free port with the arguments `extra` gives (and the TLS port among
    /// them, if any), asked again for each attempt.
    fn start_with(extra: impl Fn() -> (Option<u16>, Vec<String>)) -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir for redis-server");
        let mut failures = Vec::new();
        for _attempt in 0..PORT_ATTEMPTS {
            let port = free_port();
            let (tls_port, extra) = extra();
            match launch_with(port, dir.path(), None, &extra, &Access::default()) {
                Ok(process) => {
                    return Self {
                        port,
                        tls_port,
                        extra,
                        process: Some(process),
                        dir,
                    };
                }
                Err(failure) => failures.push(format!("port {port}: {failure}")),
            }
        }
        panic!("redis-server did not start:\n{}", failures.join("\n"));
    }

    /// `redis://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rediss://localhost:<TLS port>`, for a server started with [`RedisServer::start_tls`].
    ///
    /// # Panics
    /// For a server without TLS.
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a redis-server started with TLS");
        format!("rediss://localhost:{port}")
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Stops the server (SIGTERM, then SIGKILL if it lingers); it is down when this returns.
    pub fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            terminate(process);
        }
    }

    /// Starts the server again on the same port and waits until it answers. Its data is gone.
    ///
    /// # Panics
    /// When it does not come up (for example because another process took the port meanwhile).
    pub fn restart(&mut self) {
        self.stop();
        match launch_with(
            self.port,
            self.dir.path(),
            None,
            &self.extra,
            &Access::default(),
        ) {
            Ok(process) => self.process = Some(process),
            Err(failure) => panic!(
                "redis-server did not restart on port {}: {failure}",
                self.port
            ),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The files of a redis-server that speaks TLS with a test CA's server certificate, which also
/// trusts that CA (for its own connections to other nodes: replication, the cluster bus, sentinels,
/// where it shows its server certificate as its client one), and of a client of it.
#[derive(Clone)]
pub(crate) struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl TlsFiles {
    pub(crate) fn of(ca: &TestCa) -> Self {
        Self {
            ca: ca.ca(),
            cert: ca.cert(),
            key: ca.key(),
            client_cert: ca.client_cert(),
            client_key: ca.client_key(),
        }
    }

    /// The store's certificates for a client of such a server: the CA, and the client certificate.
    pub(crate) fn certificates(&self) -> RedisCertificates {
        let read = |path: &Path| std::fs::read_to_string(path).expect("a test CA's file");
        RedisCertificates {
            trusted: Some(read(&self.ca).into_bytes()),
            client: Some(ClientCertificate {
                chain: read(&self.client_cert).into_bytes(),
                key: Secret::new(read(&self.client_key)),
            }),
        }
    }

    /// A server's arguments to speak TLS on `tls_port`; its clients must show a certificate the CA
    /// issued, as Redis asks by default (`tls-auth-clients yes`).
    fn server_args(&self, tls_port: u16) -> Vec<String> {
        let path = |path: &Path| path.display().to_string();
        [
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            path(&self.cert),
            "--tls-key-file".to_owned(),
            path(&self.key),
            "--tls-ca-cert-file".to_owned(),
            path(&self.ca),
            "--tls-auth-clients".to_owned(),
            "yes".to_owned(),
        ]
        .to_vec()
    }
}

/// How a client reaches a node, besides its port: over TLS only (trusting the test CA), and with a
/// password, when the node asks for them.
#[derive(Clone, Default)]
pub(crate) struct Access {
    pub(crate) tls: Option<TlsFiles>,
    pub(crate) password: Option<String>,
}

impl Access {
    /// The store's certificates for reaching such a node: none in plain TCP.
    pub(crate) fn certificates(&self) -> RedisCertificates {
        self.tls
            .as_ref()
            .map(TlsFiles::certificates)
            .unwrap_or_default()
    }

    /// `redis` or, over TLS, `rediss`: how a URL to such a node begins.
    pub(crate) fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "rediss",
            None => "redis",
        }
    }

    /// `redis-cli`, set to reach a node this way (its address still to be given), stopped after
    /// 30 s: a node a test has paused or is killing would hold it forever.
    pub(crate) fn cli(&self) -> Command {
        let mut command = Command::new("timeout");
        command.args(["--kill-after=5", "30", "redis-cli"]);
        if let Some(tls) = &self.tls {
            command.arg("--tls").arg("--cacert").arg(&tls.ca);
            command.arg("--cert").arg(&tls.client_cert);
            command.arg("--key").arg(&tls.client_key);
        }
        if let Some(password) = &self.password {
            // From the environment, as redis-cli takes it without a warning.
            command.env("REDISCLI_AUTH", password);
        }
        command.stdin(Stdio::null());
        command
    }

    /// `redis-cli -p PORT ARGS...`'s output, or `None` when it could not ask.
    pub(crate) fn ask(&self, port: u16, args: &[&str]) -> Option<String> {
        let output = self
            .cli()
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The process id of the redis-server answering on `port` this way, if one answers.
    fn answering_pid(&self, port: u16) -> Option<u32> {
        match self.tls {
            // A TLS handshake is redis-cli's (the plain probe below spares a process per poll).
            Some(_) => process_id(&self.ask(port, &["INFO", "server"])?),
            None => plain_answering_pid(port, self.password.as_deref()),
        }
    }
}

/// Starts redis-server (or, with a sentinel config, a sentinel) on `port` with `extra` arguments,
/// and waits until that very process answers, reached as `access` says. A node reached over TLS
/// speaks only TLS, also to the nodes it replicates from and the cluster bus.
pub(crate) fn launch_with(
    port: u16,
    dir: &Path,
    config: Option<&Path>,
    extra: &[String],
    access: &Access,
) -> io::Result<Child> {
    let log = dir.join(format!("redis-{port}.log"));
    let mut command = Command::new(redis_server_binary());
    // A config file, when given, must come first.
    if let Some(config) = config {
        command.arg(config);
    }
    command.args(extra).args(["--bind", "127.0.0.1"]);
    match &access.tls {
        Some(tls) => command
            .args(["--port", "0"])
            .args(tls.server_args(port))
            .args(["--tls-replication", "yes", "--tls-cluster", "yes"]),
        None => command.args(["--port", &port.to_string()]),
    };
    let mut process = command
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        // A replica (of a Sentinel master, of a Cluster shard, a restarted master rejoining as
        // one) is synced at once, not after the default five seconds spent waiting for others.
        .args(["--repl-diskless-sync-delay", "0"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| io::Error::other(format!("cannot run redis-server: {error}")))?;
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(status) = process.try_wait()? {
            return Err(io::Error::other(format!(
                "redis-server exited with {status}; its log:\n{}",
                read_log(&log)
            )));
        }
        // Another redis-server may hold the port: only our own process id counts as up.
        if access.answering_pid(port) == Some(process.id()) {
            return Ok(process);
        }
        if Instant::now() >= deadline {
            terminate(process);
            return Err(io::Error::other(format!(
                "redis-server did not answer within {START_DEADLINE:?}; its log:\n{}",
                read_log(&log)
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The process id of the redis-server answering in plain TCP on `port` (after `AUTH password`), if
/// one answers.
fn plain_answering_pid(port: u16, password: Option<&str>) -> Option<u32> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    if let Some(password) = password {
        let auth = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len());
        stream.write_all(auth.as_bytes()).ok()?;
    }
    stream
        .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..read]);
        if let Some(pid) = process_id(&String::from_utf8_lossy(&reply)) {
            return Some(pid);
        }
    }
}

/// The `process_id` of an `INFO server` answer, once it holds that whole line.
fn process_id(info: &str) -> Option<u32> {
    let rest = info.split("process_id:").nth(1)?;
    let (pid, _) = rest.split_once(['\r', '\n'])?;
    pid.trim().parse().ok()
}

pub(crate) fn terminate(mut process: Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .is_ok_and(|status| status.success());
    let deadline = Instant::now() + STOP_DEADLINE;
    while sent && Instant::now() < deadline {
        if let Ok(Some(_status)) = process.try_wait() {
            return;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    // Not stopping by itself (or not signalled): kill it so it is surely down.
    let _already_exited = process.kill();
    let _status = process.wait();
}

fn redis_server_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    let installed = PathBuf::from("/usr/bin/redis-server");
    match on_path {
        Some(binary) => binary,
        None if installed.is_file() => installed,
        None => panic!(
            "redis-server is not installed; install Debian's package: `sudo apt-get install redis-server`"
        ),
    }
}

/// A port nothing listens on right now (the OS picks it); someone may still take it before we do.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

pub(crate) fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_else(|error| format!("(no log: {error})"))
}
