//! The `meeteasy-auth` executable as an operator runs it: `serve` as a child process, stopped with
//! SIGTERM, and one-shot commands (`users ...`) with the same store flags.
//!
//! Needs the binary built beforehand (`cargo build -p meeteasy-auth-cli`; `cargo test --workspace`
//! builds it too).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long `serve` may take to start, or to stop after SIGTERM.
const DEADLINE: Duration = Duration::from_secs(30);

/// `meeteasy-auth` of the debug build that built this test (`<target>/debug/deps/<test>` runs,
/// `<target>/debug/meeteasy-auth` is driven), wherever the target directory is.
pub fn auth_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test executable's path");
    let binary = test
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/debug/deps")
        .join("meeteasy-auth");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build -p meeteasy-auth-cli` first",
        binary.display()
    );
    binary
}

/// `binary` with no `MEETEASY_*` setting or `RUST_LOG` inherited from the test's environment, and
/// an uncoloured log.
pub fn auth_command(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("MEETEASY_")) {
        command.env_remove(key);
    }
    command
}

/// Runs a one-shot command, writing `stdin` to it first.
pub async fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("stdin written");
    drop(input);
    tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("the command ends")
        .expect("the command's output")
}

/// A running `meeteasy-auth serve`, killed if dropped before [`ServeProcess::stop`].
pub struct ServeProcess {
    child: Child,
    base_url: String,
    /// Every line it has logged so far.
    log: watch::Receiver<Vec<String>>,
}

impl ServeProcess {
    /// Starts `serve` with `args` (store flags and the like) on a free loopback port, in dev mode,
    /// and waits for its "listening" line.
    pub async fn start<I, S>(binary: &Path, args: I) -> ServeProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start_command(auth_command(binary), args).await
    }

    /// Like [`ServeProcess::start`], of `command` (an [`auth_command`] given more environment).
    pub async fn start_command<I, S>(command: Command, args: I) -> ServeProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::launch(command, args, &["--dev"]).await
    }

    /// Like [`ServeProcess::start`], but not in dev mode: `args` must make a production
    /// configuration (its WeChat, its apps).
    pub async fn start_in_production<I, S>(binary: &Path, args: I) -> ServeProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::launch(auth_command(binary), args, &[]).await
    }

    async fn launch<I, S>(mut command: Command, args: I, mode: &[&str]) -> ServeProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = command
            .arg("serve")
            .args(args)
            .args(mode)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (lines_seen, mut log) = watch::channel(Vec::new());
        tokio::spawn(async move {
            let mut lines = stdout.lines();
            while let Ok(Some(line)) = lines.next_line().await {
                lines_seen.send_modify(|log| log.push(line));
            }
        });
        let listening = tokio::time::timeout(DEADLINE, async {
            let log = log
                .wait_for(|lines| lines.iter().any(|line| line.contains(" listening ")))
                .await
                .expect("serve logs until it listens");
            log.iter()
                .find_map(|line| listening_addr(line))
                .expect("the listening line names the address")
        })
        .await;
        let addr = match listening {
            Ok(addr) => addr,
            Err(_elapsed) => panic!("serve did not listen within {DEADLINE:?}"),
        };
        ServeProcess {
            child,
            base_url: format!("http://{addr}"),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Waits until a line of the log contains `needle`.
    pub async fn wait_for_log(&mut self, needle: &str) {
        let seen = tokio::time::timeout(
            DEADLINE,
            self.log
                .wait_for(|lines| lines.iter().any(|line| line.contains(needle))),
        )
        .await
        .is_ok_and(|waited| waited.is_ok());
        assert!(
            seen,
            "serve never logged {needle:?}; its log:\n{}",
            self.log.borrow().join("\n")
        );
    }

    /// Every line it has logged so far.
    pub fn logged(&self) -> String {
        self.log.borrow().join("\n")
    }

    /// Kills it with SIGKILL, as a crash would end it: nothing is cleaned up.
    pub async fn crash(mut self) {
        self.child.kill().await.expect("serve is killed");
    }

    /// Waits until serve exits by itself (30 s at most).
    pub async fn exited(mut self) -> ExitStatus {
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("serve exits by itself")
            .expect("serve's exit status")
    }

    /// Stops it with SIGTERM, as a service manager does, and returns how it exited.
    pub async fn stop(mut self) -> ExitStatus {
        let pid = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw)
            .expect("serve is running");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM sent");
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("serve stops on SIGTERM")
            .expect("serve's exit status")
    }
}

/// `127.0.0.1:41234` out of `... listening addr=127.0.0.1:41234 public_url=...`, the line `serve`
/// logs once it is ready.
pub fn listening_addr(line: &str) -> Option<String> {
    let rest = line.split(" listening ").nth(1)?;
    let addr = rest.split("addr=").nth(1)?.split_whitespace().next()?;
    Some(addr.to_owned())
}
