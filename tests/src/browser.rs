//! Headless Chromium for the end-to-end suite: Debian's `chromium`, driven through its `chromedriver` over
//! WebDriver (fantoccini). Each [`Browser`] is its own chromedriver on a free port, its own Chromium and a
//! fresh profile in a temp dir, so tests never share cookies or storage.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::{Semaphore, SemaphorePermit};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Without the background-networking flags Chromium keeps calling home, which on a closed network means a
/// flood of failing requests and slow starts.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Browsers alive at once in this test process: each is a few hundred MB and a core's worth of start-up.
static RUNNING_BROWSERS: Semaphore = Semaphore::const_new(2);

const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(15);
const SESSION_START_TIMEOUT: Duration = Duration::from_secs(30);
const DRIVER_EXIT_TIMEOUT: Duration = Duration::from_secs(5);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A port picked free can be taken before chromedriver binds it; then a fresh one is tried.
const PORT_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("cannot run {CHROMEDRIVER} (is `chromium-driver` installed?): {0}")]
    Spawn(#[source] io::Error),
    #[error("cannot set up the browser's temp dir or port: {0}")]
    Setup(#[source] io::Error),
    #[error("chromedriver exited ({status}) before it was ready; its log: {log}")]
    DriverExited { status: ExitStatus, log: String },
    #[error("chromedriver was not ready within {DRIVER_START_TIMEOUT:?}; its log: {log}")]
    DriverNotReady { log: String },
    #[error("Chromium did not start a session within {SESSION_START_TIMEOUT:?}")]
    SessionTimeout,
    #[error("Chromium did not start a session: {0}")]
    Session(#[source] NewSessionError),
    #[error("WebDriver command failed: {0}")]
    Command(#[from] CmdError),
    #[error("waited {timeout:?} for {what}; last seen: {last}")]
    Timeout {
        what: String,
        timeout: Duration,
        last: String,
    },
}

/// A running headless Chromium. End it with [`Browser::shutdown`]; dropping it (a failed test) still
/// ends the session and chromedriver, best effort.
pub struct Browser {
    client: Client,
    // Fields drop in order: chromedriver (and so Chromium) goes before its profile dir is deleted.
    driver: Driver,
    profile: TempDir,
    _permit: SemaphorePermit<'static>,
}

impl Browser {
    pub async fn start() -> Result<Self, BrowserError> {
        let permit = RUNNING_BROWSERS
            .acquire()
            .await
            .unwrap_or_else(|_| unreachable!("the semaphore is never closed"));
        let profile = tempfile::tempdir().map_err(BrowserError::Setup)?;
        let mut driver = Driver::start(profile.path().join("chromedriver.log")).await?;
        let client = tokio::time::timeout(
            SESSION_START_TIMEOUT,
            connect(driver.port, &profile.path().join("chromium")),
        )
        .await
        .map_err(|_| BrowserError::SessionTimeout)??;
        driver.session_id = client.session_id().await?;
        Ok(Self {
            client,
            driver,
            profile,
            _permit: permit,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `script` (a function body that returns a value) until it returns something other than
    /// `null`/`undefined`/`false`, and returns that. Errors while a page is loading count as "not yet".
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.client.execute(script, Vec::new()).await {
                Ok(Value::Null | Value::Bool(false)) => "nothing yet".to_owned(),
                Ok(value) => return Ok(value),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    what: what.to_owned(),
                    timeout,
                    last,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Ends the session (chromedriver quits Chromium), then stops chromedriver and waits for it.
    pub async fn shutdown(self) -> Result<(), BrowserError> {
        let Self {
            client,
            mut driver,
            profile,
            _permit,
        } = self;
        let closed = client.close().await;
        if closed.is_ok() {
            driver.session_id = None;
        }
        // Waiting for a process blocks; keep it off the runtime an in-process test server may share.
        let stopped = tokio::task::spawn_blocking(move || driver.stop())
            .await
            .map_err(|error| BrowserError::Setup(io::Error::other(error)))?;
        drop(profile);
        closed?;
        stopped.map_err(BrowserError::Setup)
    }
}

async fn connect(driver_port: u16, user_data_dir: &Path) -> Result<Client, BrowserError> {
    let mut flags: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
    flags.push(format!("--user-data-dir={}", user_data_dir.display()));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": flags },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .map_err(BrowserError::Session)
}

/// The chromedriver process, its port, and the session it runs (if still open).
struct Driver {
    process: Option<Child>,
    port: u16,
    session_id: Option<String>,
}

impl Driver {
    async fn start(log_path: PathBuf) -> Result<Self, BrowserError> {
        let mut attempt = 1;
        loop {
            let port = free_port().map_err(BrowserError::Setup)?;
            let process = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log_path.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // A group of its own, which Chromium and its helpers join: ended whole in `stop`.
                .process_group(0)
                .spawn()
                .map_err(BrowserError::Spawn)?;
            let mut driver = Self {
                process: Some(process),
                port,
                session_id: None,
            };
            let log = log_path.clone();
            let (ready, driver) = tokio::task::spawn_blocking(move || {
                let ready = driver.wait_until_ready(&log);
                (ready, driver)
            })
            .await
            .map_err(|error| BrowserError::Setup(io::Error::other(error)))?;
            match ready {
                Ok(()) => return Ok(driver),
                Err(BrowserError::DriverExited { .. }) if attempt < PORT_ATTEMPTS => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Polls chromedriver's `/status` until it says it is ready, it exits, or the deadline passes.
    fn wait_until_ready(&mut self, log_path: &Path) -> Result<(), BrowserError> {
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Some(process) = self.process.as_mut()
                && let Ok(Some(status)) = process.try_wait()
            {
                self.process = None;
                return Err(BrowserError::DriverExited {
                    status,
                    log: read_log(log_path),
                });
            }
            if let Ok((200, response)) = loopback_request(self.port, "GET", "/status")
                && response.contains("\"ready\":true")
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::DriverNotReady {
                    log: read_log(log_path),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Ends a session still open (a test that failed before `shutdown`), then SIGTERMs chromedriver and
    /// waits for it; SIGKILL only if it will not go. Then SIGKILLs what is left of its process
    /// group: a Chromium whose session never opened (a start that timed out) or did not end.
    /// Blocking.
    fn stop(&mut self) -> io::Result<()> {
        if let Some(session_id) = self.session_id.take() {
            // Best effort: chromedriver quits Chromium when its session ends.
            let _ended = loopback_request(self.port, "DELETE", &format!("/session/{session_id}"));
        }
        let Some(mut process) = self.process.take() else {
            return Ok(());
        };
        let pid = rustix::process::Pid::from_child(&process);
        let stopped = terminate(&mut process, pid);
        // The group's id is chromedriver's pid; nothing left in it is what we wanted.
        let _rest_gone = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        stopped
    }
}

/// SIGTERMs `process` and waits for it; SIGKILL only if it will not go.
fn terminate(process: &mut Child, pid: rustix::process::Pid) -> io::Result<()> {
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    let deadline = Instant::now() + DRIVER_EXIT_TIMEOUT;
    while process.try_wait()?.is_none() {
        if Instant::now() >= deadline {
            process.kill()?;
            process.wait()?;
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    Ok(())
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _stopped = self.stop();
    }
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| format!("(no log: {error})"))
}

/// A bodyless HTTP/1.1 request to chromedriver on loopback, usable where no runtime is (a `Drop`).
/// Answers the status code and the body. chromedriver keeps the connection open despite
/// `Connection: close`, so the body is read by its `Content-Length`.
fn loopback_request(port: u16, method: &str, path: &str) -> io::Result<(u16, String)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other("not an HTTP response"))?;
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().map_err(io::Error::other)?;
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
