//! The console in its real window: a private X display (Xvfb), a private D-Bus session with an
//! unlocked gnome-keyring (the real Secret Service), `tauri-driver` + WebKitWebDriver on their own
//! port pair, and a fantoccini WebDriver client. Nothing here touches the user's desktop or keyring.
//!
//! Needs: the debug console built beforehand (`cargo build -p meeteasy-console`), and on PATH
//! `Xvfb`, `dbus-daemon`, `gnome-keyring-daemon`, `secret-tool`, `tauri-driver`, `WebKitWebDriver`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

use crate::server::TestServer;

pub const KEYCHAIN_SERVICE: &str = "meeteasy-console";
/// How long UI conditions are waited for before a test fails.
pub const UI_DEADLINE: Duration = Duration::from_secs(20);
/// How long a console may take to open under WebDriver: under a second here, but CI once saw a start
/// pass 20 s on a busy machine (why is not known; the driver's log now comes with such a failure).
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long one readiness question to the WebDriver may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The console binary the tests drive: `meeteasy-console` of the debug build that built this test
/// (`<target>/debug/deps/<test>` runs, `<target>/debug/meeteasy-console` is driven), wherever the
/// target directory is.
pub fn console_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test executable's path");
    let binary = test
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/debug/deps")
        .join("meeteasy-console");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build -p meeteasy-console` first",
        binary.display()
    );
    binary
}

/// A headless desktop session: display, session bus and unlocked keyring, all private to one test.
pub struct Desktop {
    // Fields drop in their order: the keyring and the bus before the display, all before the
    // directory they use goes.
    _keyring: Daemon,
    _bus: Daemon,
    _xvfb: Daemon,
    dir: TempDir,
    display: String,
    bus_address: String,
    /// Released last, once the processes above are gone.
    _slot: DesktopSlot,
}

/// A process of the desktop, held from its spawn so that a set-up failing half-way leaves none
/// behind: SIGTERM when dropped, SIGKILL if still there 5 s later, and reaped either way.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        signal(self.0.id(), rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        // Nothing to report if it already exited or cannot be waited for.
        while let Ok(None) = self.0.try_wait() {
            if Instant::now() >= deadline {
                let _killed = self.0.kill();
                let _reaped = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// At most this many desktops at once in one test process: each brings up Xvfb, a keyring and a
/// WebKit console, and on 2 cores more of them make WebDriver session starts time out instead of
/// testing anything.
const MAX_DESKTOPS: usize = 2;
static RUNNING_DESKTOPS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// A place among the [`MAX_DESKTOPS`]. Each test runs on its own thread, so waiting blocks only it.
struct DesktopSlot;

impl DesktopSlot {
    fn take() -> DesktopSlot {
        let (running, freed) = &RUNNING_DESKTOPS;
        let mut count = running.lock().unwrap_or_else(PoisonError::into_inner);
        while *count >= MAX_DESKTOPS {
            count = freed.wait(count).unwrap_or_else(PoisonError::into_inner);
        }
        *count += 1;
        DesktopSlot
    }
}

impl Drop for DesktopSlot {
    fn drop(&mut self) {
        let (running, freed) = &RUNNING_DESKTOPS;
        *running.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        freed.notify_one();
    }
}

impl Desktop {
    pub fn start() -> Desktop {
        let slot = DesktopSlot::take();
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["config", "data", "cache", "runtime", "bin"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("desktop dirs");
        }
        let runtime = dir.path().join("runtime");
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        write_fake_opener(&dir.path().join("bin"));

        // Xvfb picks a free display itself and tells us which on stdout. `-noreset`: by default an
        // X server resets when its last client leaves, and a client connecting during that reset is
        // refused. A console restarted in the same desktop connects just as the closed one leaves,
        // and a refused console dies with "Failed to initialize GTK" (gtk_init_check could not open
        // the display). Measured with xdpyinfo on this Xvfb: without the flag, a connection right
        // after another client left failed about 1 time in 200, and 1 in 6 when the two overlapped;
        // with it, none of 20,000 did.
        let mut xvfb = Daemon(
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb on PATH (apt-get install xvfb)"),
        );
        let display = format!(":{}", first_line(&mut xvfb.0, "Xvfb display number"));

        let mut bus = Daemon(
            Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--print-address=1"])
                .env("XDG_RUNTIME_DIR", &runtime)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon on PATH (apt-get install dbus)"),
        );
        let bus_address = first_line(&mut bus.0, "D-Bus session address");

        // The keyring is created on first use and unlocked with the password on stdin.
        let mut keyring = Daemon(
            Command::new("gnome-keyring-daemon")
                .args(["--foreground", "--unlock", "--components=secrets"])
                .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_RUNTIME_DIR", &runtime)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("gnome-keyring-daemon on PATH (apt-get install gnome-keyring)"),
        );
        if let Some(mut stdin) = keyring.0.stdin.take() {
            stdin
                .write_all(b"meeteasy-test-keyring")
                .expect("unlock password");
        }
        let desktop = Desktop {
            _keyring: keyring,
            _bus: bus,
            _xvfb: xvfb,
            dir,
            display,
            bus_address,
            _slot: slot,
        };
        desktop.wait_for_secret_service();
        desktop
    }

    /// The Downloads folder of this desktop's user (declared in `user-dirs.dirs`, as xdg-user-dirs
    /// does), where the console saves files; consoles started after this call see it.
    pub fn downloads_dir(&self) -> PathBuf {
        let downloads = self.dir.path().join("Downloads");
        std::fs::create_dir_all(&downloads).expect("the Downloads folder");
        std::fs::write(
            self.dir.path().join("config").join("user-dirs.dirs"),
            format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
        )
        .expect("user-dirs.dirs");
        downloads
    }

    /// The token the real keychain holds for `origin`, read independently of the app.
    pub fn keychain_lookup(&self, origin: &str) -> Option<String> {
        let output = self
            .command("secret-tool")
            .args(["lookup", "service", KEYCHAIN_SERVICE, "username", origin])
            .output()
            .expect("secret-tool on PATH (apt-get install libsecret-tools)");
        let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        (output.status.success() && !value.is_empty()).then_some(value)
    }

    /// The last URL the console asked the desktop to open, waiting (10 s at most) until the opener
    /// has written one: the console says "Opened" once it has started the opener, which writes a
    /// moment later.
    pub async fn opened_url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(url) = self.opened_urls().pop() {
                return url;
            }
            assert!(Instant::now() < deadline, "no URL was opened within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// URLs the console asked the desktop to open ("Open in browser"), oldest first.
    pub fn opened_urls(&self) -> Vec<String> {
        std::fs::read_to_string(self.opened_urls_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Starts `tauri-driver` for consoles that talk to `server_url`.
    pub async fn driver(&self, server_url: &str) -> Driver {
        self.driver_on_bus(server_url, &self.bus_address).await
    }

    /// Like [`Desktop::driver`], but the consoles find no Secret Service on their session bus.
    pub async fn driver_without_keychain(&self, server_url: &str) -> Driver {
        let missing_bus = format!("unix:path={}", self.dir.path().join("no-bus").display());
        self.driver_on_bus(server_url, &missing_bus).await
    }

    async fn driver_on_bus(&self, server_url: &str, bus_address: &str) -> Driver {
        let port = driver_port(None);
        let native_port = driver_port(Some(port));
        // tauri-driver, WebKitWebDriver and the consoles they start all write here (inherited stderr).
        let log = self.dir.path().join(format!("tauri-driver-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create the tauri-driver log");
        let log_file_too = log_file.try_clone().expect("share the tauri-driver log");
        let mut command = tokio::process::Command::new("tauri-driver");
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .envs(self.console_env(server_url, bus_address))
            .stdout(log_file)
            .stderr(log_file_too)
            // Its own process group, WebKitWebDriver and the consoles included, so that nothing it
            // started outlives the test (see `Driver::stop`).
            .process_group(0);
        let child = command
            .spawn()
            .expect("tauri-driver on PATH (cargo install tauri-driver --version ^2 --locked)");
        let group = child.id().expect("tauri-driver's pid while it runs");
        Driver {
            child,
            group,
            port,
            log,
        }
    }

    /// A command that starts `program` in this desktop as the console would run there, talking to
    /// `server_url`, but with no WebDriver in between (to measure what WebDriver costs).
    pub fn app_command(&self, program: &Path, server_url: &str) -> Command {
        let mut command = Command::new(program);
        command.envs(self.console_env(server_url, &self.bus_address));
        command
    }

    /// What a console sees of this desktop: display, session bus, private XDG dirs, the server,
    /// English, and the fake `xdg-open` first on PATH.
    fn console_env(&self, server_url: &str, bus_address: &str) -> Vec<(&'static str, OsString)> {
        let mut path = OsString::from(self.dir.path().join("bin"));
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        vec![
            ("DISPLAY", self.display.clone().into()),
            ("DBUS_SESSION_BUS_ADDRESS", bus_address.into()),
            ("XDG_CONFIG_HOME", self.dir.path().join("config").into()),
            ("XDG_DATA_HOME", self.dir.path().join("data").into()),
            ("XDG_CACHE_HOME", self.dir.path().join("cache").into()),
            ("XDG_RUNTIME_DIR", self.dir.path().join("runtime").into()),
            ("MEETEASY_SERVER", server_url.into()),
            ("MEETEASY_TEST_OPENED_URLS", self.opened_urls_file().into()),
            ("LANG", "en_US.UTF-8".into()),
            ("LC_ALL", "en_US.UTF-8".into()),
            ("PATH", path),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("runtime"));
        command
    }

    fn opened_urls_file(&self) -> PathBuf {
        self.dir.path().join("opened-urls")
    }

    /// Waits until gnome-keyring owns the Secret Service name (asking earlier could make D-Bus
    /// activate a second, locked daemon).
    fn wait_for_secret_service(&self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let owned = self
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output()
                .is_ok_and(|output| {
                    String::from_utf8_lossy(&output.stdout).contains("boolean true")
                });
            if owned {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gnome-keyring did not take the Secret Service name"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `tauri-driver` on its own port pair. Stop it with [`Driver::stop`]: SIGTERM and wait, because a
/// killed driver leaves WebKitWebDriver holding the native port.
pub struct Driver {
    child: tokio::process::Child,
    /// tauri-driver's process group: it, WebKitWebDriver and the consoles.
    group: u32,
    port: u16,
    /// What tauri-driver, WebKitWebDriver and the consoles printed, shown when a session fails.
    log: PathBuf,
}

impl Driver {
    /// Launches the console and opens a WebDriver session on its window.
    pub async fn open_console(&self) -> ConsoleWindow {
        let window = self.launch(&console_binary()).await;
        window.wait_for("#main").await;
        window
    }

    /// Launches `binary` (e.g. a release build) and returns as soon as the WebDriver session on its
    /// window exists, without waiting for the page.
    pub async fn launch(&self, binary: &Path) -> ConsoleWindow {
        self.wait_until_ready().await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "wry".into());
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": binary }),
        );
        let url = format!("http://127.0.0.1:{}", self.port);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let session = builder.capabilities(capabilities).connect(&url);
        match tokio::time::timeout(START_DEADLINE, session).await {
            Ok(Ok(client)) => ConsoleWindow { client },
            Ok(Err(err)) => panic!("no WebDriver session: {err}\n{}", self.log_tail()),
            Err(_) => panic!(
                "starting a WebDriver session took over {START_DEADLINE:?}\n{}",
                self.log_tail()
            ),
        }
    }

    /// Waits until WebKitWebDriver, behind tauri-driver, says it can take a session. It takes one at
    /// a time, and tauri-driver accepts requests before WebKitWebDriver listens; a request sent while
    /// it is starting, or while the previous console is still closing, may fail or never be answered.
    /// [`Driver::launch`] waits for this itself; call it first to keep the wait out of a timing.
    pub async fn wait_until_ready(&self) {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/status", self.port);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let status = match http.get(&url).timeout(STATUS_TIMEOUT).send().await {
                Ok(response) => response.bytes().await.ok(),
                Err(_) => None,
            };
            let ready = status
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "WebKitWebDriver was not ready for a session within {START_DEADLINE:?}\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines tauri-driver, WebKitWebDriver and the consoles printed: enough for two
    /// backtraces (`RUST_BACKTRACE` is on in CI) and what came between them, since a session that
    /// never starts may follow an error tauri-driver logged much earlier.
    fn log_tail(&self) -> String {
        const LINES: usize = 200;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
        format!("-- last lines of {} --\n{tail}", self.log.display())
    }

    /// The `tauri-driver` process: the consoles it launches run among its descendants.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops tauri-driver, then whatever it started that is still there. SIGTERM first: tauri-driver
    /// then stops WebKitWebDriver itself (which ignores SIGTERM). A tauri-driver killed outright, or
    /// signalled before it set up its handler, would leave WebKitWebDriver holding the native port.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            signal(pid, rustix::process::Signal::TERM);
        }
        // An answer to SIGTERM or not, the group's kill below ends it.
        let _exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        self.kill_group();
    }

    fn kill_group(&self) {
        let group = i32::try_from(self.group)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(group) = group {
            // Nothing left in the group is what we wanted.
            let _gone = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A test that panicked before `stop`: no time to wait, so the whole group at once.
        self.kill_group();
    }
}

/// The console window under WebDriver.
pub struct ConsoleWindow {
    pub client: Client,
}

impl ConsoleWindow {
    /// Waits for an element to exist (the UI renders asynchronously after IPC answers).
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_until(css, |_| true).await
    }

    /// Waits until no element matches `css` (a row the UI removes once its list is reloaded).
    pub async fn wait_until_gone(&self, css: &str) {
        let deadline = Instant::now() + UI_DEADLINE;
        while self.has(css).await {
            assert!(Instant::now() < deadline, "{css} is still there");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a displayed element whose text satisfies `accept`; returns its text.
    pub async fn wait_for_text(&self, css: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + UI_DEADLINE;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if accept(&text) {
                    return text;
                }
                last = text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed the expected text; last: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css` whose attribute `name` satisfies `accept`.
    pub async fn wait_for_attr(
        &self,
        css: &str,
        name: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + UI_DEADLINE;
        let mut last = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(value) = element.attr(name).await
            {
                if let Some(value) = value.as_deref()
                    && accept(value)
                {
                    return value.to_owned();
                }
                last = value;
            }
            assert!(
                Instant::now() < deadline,
                "{css}[{name}] never matched; last: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_until(&self, css: &str, accept: impl Fn(&Element) -> bool) -> Element {
        let deadline = Instant::now() + UI_DEADLINE;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && accept(&element)
            {
                return element;
            }
            assert!(Instant::now() < deadline, "{css} never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks `css` once it exists and takes clicks: an element rendered but still hidden or
    /// covered (a page being shown) is tried again until [`UI_DEADLINE`].
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + UI_DEADLINE;
        loop {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(CmdError::Standard(refused))
                    if refused.error == ErrorStatus::ElementNotInteractable
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("click {css}: {error:?}"),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css)
            .await
            .send_keys(text)
            .await
            .expect("type");
    }

    /// Whether an element matching `css` exists right now.
    pub async fn has(&self, css: &str) -> bool {
        // Only "no such element" means absent: any other failure (WebKitWebDriver timing out on a
        // loaded machine, the window gone) says so, rather than read as an element missing.
        match self.client.find(Locator::Css(css)).await {
            Ok(_) => true,
            Err(error) if error.is_no_such_element() => false,
            Err(error) => panic!("looking for {css} in the console's window: {error}"),
        }
    }

    /// A PNG of the window's content as WebKit rendered it, once the current DOM has been painted
    /// (a snapshot taken right after a change shows the frame before it). ImageMagick's `import`
    /// of the Xvfb root lagged even more: it kept showing an empty window.
    pub async fn screenshot(&self, path: &Path) {
        let painted = r#"
            const done = arguments[arguments.length - 1];
            Promise.all(Array.from(document.images, (image) => image.decode().catch(() => null)))
                .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
        "#;
        self.client
            .execute_async(painted, Vec::new())
            .await
            .expect("wait for a painted frame");
        let png = self
            .client
            .screenshot()
            .await
            .expect("WebDriver screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Ends the session, which closes the console.
    pub async fn close(self) {
        self.client
            .close()
            .await
            .expect("close the WebDriver session");
    }
}

/// The first line `child` prints, within 30 s.
fn first_line(child: &mut Child, what: &str) -> String {
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("{what}: no stdout"));
    let (sender, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _waiter_gone = sender.send(read);
    });
    let line = printed
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what}: nothing printed within 30 s"))
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    let line = line.trim().to_owned();
    assert!(!line.is_empty(), "{what}: nothing printed");
    line
}

/// Where the kernel's ephemeral ports begin when /proc does not say (Linux's default).
const DEFAULT_EPHEMERAL_START: u16 = 32768;
/// Ports below this one need privileges.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// A port, other than `taken`, for tauri-driver or WebKitWebDriver to listen on: free now, and one
/// the kernel does not hand out by itself.
///
/// The driver binds it only once it has started, so it must stay free until then. A port found by
/// binding port 0 comes from the ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), where
/// every other test's port-0 bind and outgoing connection takes its ports too, and one of them may
/// take it in between: the driver would then never listen. Below that range a port is taken only by
/// number, and nothing else in the suite picks one there. A precaution: no failure was traced to it.
fn driver_port(taken: Option<u16>) -> u16 {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START);
    let below_range = ephemeral_start.saturating_sub(FIRST_UNPRIVILEGED_PORT);
    if below_range == 0 {
        // Every unprivileged port is ephemeral on this machine: nowhere to step aside to.
        return free_port();
    }
    for _attempt in 0..100 {
        let mut random = [0; 2];
        getrandom::fill(&mut random).expect("random bytes from the OS");
        let port = FIRST_UNPRIVILEGED_PORT + u16::from_ne_bytes(random) % below_range;
        if Some(port) != taken && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range (from {ephemeral_start}) in 100 tries");
}

/// A port nothing listens on right now, from the ephemeral range (the OS picks it).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // The process may be gone already; that is what we wanted.
        let _gone = rustix::process::kill_process(pid, signal);
    }
}

/// `xdg-open` stand-in: records the URL instead of starting a browser.
fn write_fake_opener(bin: &Path) {
    let script = bin.join("xdg-open");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$MEETEASY_TEST_OPENED_URLS\"\n",
    )
    .expect("fake opener");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
}

/// The text of the QR in a `data:image/png;base64,` URL, read as a phone's camera would.
pub fn qr_text(data_url: &str) -> String {
    use base64::Engine as _;
    let encoded = data_url
        .split_once(";base64,")
        .map_or(data_url, |(_, encoded)| encoded);
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64 QR");
    let luma = image::load_from_memory(&png)
        .expect("QR is a PNG")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    let grids = prepared.detect_grids();
    let grid = grids.first().expect("a QR code in the image");
    let (_, content) = grid.decode().expect("a readable QR code");
    content
}

/// The last path segment of a QR's URL (`/m/scan/{scene}`, `/m/invite/{code}`, or anything
/// ending in the scene): the 32-character scene or invite code.
pub fn last_segment(qr_data_url: &str) -> String {
    let content = qr_text(qr_data_url);
    let last = content
        .rsplit(['/', '=', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(last.len(), 32, "unexpected QR content {content:?}");
    last
}

impl ConsoleWindow {
    /// The `data:` URL of the PNG `css` shows, once it shows one.
    pub async fn shown_png(&self, css: &str) -> String {
        self.wait_for_attr(css, "src", |src| src.starts_with("data:image/png;base64,"))
            .await
    }

    /// Logs the window in by scan, the phone confirming with `phone_token`; waits for home.
    pub async fn scan_in(&self, server: &TestServer, phone_token: &str) {
        let scene = last_segment(&self.shown_png("#qr-image").await);
        for step in ["scan", "confirm"] {
            let reply = server
                .post_empty(&format!("/auth/scenes/{scene}/{step}"), Some(phone_token))
                .await;
            assert!(reply.status < 300, "{step}: {}", reply.body);
        }
        self.wait_for("#user-name").await;
    }

    /// Saves a screenshot for the docs when `MEETEASY_SCREENSHOT_DIR` is set.
    pub async fn screenshot_for_docs(&self, name: &str) {
        if let Some(dir) = std::env::var_os("MEETEASY_SCREENSHOT_DIR") {
            self.screenshot(&Path::new(&dir).join(name)).await;
        }
    }
}
