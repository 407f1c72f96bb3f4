//! The `meeteasy-auth` executable as an operator uses it: user commands, key rotation, config precedence
//! (flag > env > file > default), clear refusals of bad config, and a clean stop on SIGTERM.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_meeteasy-auth");

fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("MEETEASY_DATA_DIR", data_dir);
    for (key, _) in std::env::vars()
        .filter(|(key, _)| key.starts_with("MEETEASY_") && key != "MEETEASY_DATA_DIR")
    {
        command.env_remove(key);
    }
    command
}

/// How long a command may run: a start that should have been refused but serves instead fails its
/// test, rather than hanging it.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// Runs `command` to its end with `stdin` as its input, within [`COMMAND_LIMIT`].
fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // A command refusing its arguments may exit before reading its input: what it said tells.
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = child.kill();
        panic!("cannot write the command's input: {error}");
    }
    // Read aside, so that a child writing more than a pipe holds is not stopped by it.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let stdout = std::thread::spawn(move || read_all(&mut stdout));
    let stderr = std::thread::spawn(move || read_all(&mut stderr));
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still ran after {COMMAND_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
    }
}

fn read_all(pipe: &mut impl std::io::Read) -> Vec<u8> {
    let mut read = Vec::new();
    pipe.read_to_end(&mut read).expect("the pipe reads");
    read
}

/// `users add` with the password on standard input, as an operator types it.
fn add_user(data_dir: &Path, login: &str, name: &str, roles: &[&str], password: &str) -> Output {
    let mut add = command(data_dir);
    add.args([
        "users",
        "add",
        "--login",
        login,
        "--name",
        name,
        "--password-stdin",
    ]);
    for role in roles {
        add.args(["--role", role]);
    }
    run_with_stdin(add, &format!("{password}\n"))
}

/// A running `serve`, stopped with SIGTERM when dropped.
struct Served {
    child: Child,
    base_url: String,
    /// Every line it has logged so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Served {
    /// Starts `serve` on a free port and waits for its "listening" log line.
    fn start(mut command: Command) -> Served {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (found, lines) = std::sync::mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line.contains("listening")
                    && let Some(addr) = line
                        .split("addr=")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                {
                    let _ = found.send(addr.to_owned());
                }
                kept.lock().expect("log lock").push(line);
            }
        });
        // Held before the wait, so that a start that never logs its address is stopped too.
        let mut served = Served {
            child,
            base_url: String::new(),
            log,
        };
        let addr = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("serve logs its address");
        served.base_url = format!("http://{addr}");
        served
    }

    fn stop(mut self) -> std::process::ExitStatus {
        terminate(&self.child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn post(url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    request(reqwest::Method::POST, url, Some(body), None)
}

fn request(
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        meeteasy_auth::wechat::client::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(COMMAND_LIMIT)
            .build()
            .expect("a client");
        let mut request = client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    })
}

#[test]
fn users_added_and_granted_on_the_command_line_log_in_to_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = add_user(dir.path(), "Ann@Example.org", "Ann", &[], "s3cret pass");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("added user"));

    let refused = add_user(dir.path(), "ann@example.org", "Ann 2", &[], "other");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already taken"));

    let mut grant = command(dir.path());
    grant.args(["users", "grant", "ann@example.org", "organizer"]);
    let granted = run_with_stdin(grant, "");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let mut serve = command(dir.path());
    serve.args(["serve", "--dev"]);
    let served = Served::start(serve);
    let (status, body) = post(
        &format!("{}/auth/login", served.base_url),
        serde_json::json!({"login": "ann@example.org", "password": "s3cret pass", "client": "console"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["roles"], serde_json::json!(["organizer"]));
    assert!(served.stop().success(), "serve exits cleanly on SIGTERM");
}

fn ticket_ttl_served(
    dir: &Path,
    file: Option<&Path>,
    env: Option<&str>,
    flag: Option<&str>,
) -> u64 {
    let mut serve = command(dir);
    serve.args(["serve", "--dev"]);
    if let Some(file) = file {
        serve.arg("--config").arg(file);
    }
    if let Some(env) = env {
        serve.env("MEETEASY_TICKET_TTL", env);
    }
    if let Some(flag) = flag {
        serve.args(["--ticket-ttl", flag]);
    }
    let served = Served::start(serve);
    let (status, body) = post(
        &format!("{}/auth/wechat/login", served.base_url),
        serde_json::json!({"code": "dev:pat"}),
    );
    assert_eq!(status, 200, "{body}");
    body["login_ticket_expires_in"].as_u64().expect("a ttl")
}

#[test]
fn flags_beat_env_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("meeteasy.toml");
    std::fs::write(&file, "ticket_ttl = 30\n").expect("config written");
    assert_eq!(
        ticket_ttl_served(&dir.path().join("a"), None, None, None),
        120
    );
    assert_eq!(
        ticket_ttl_served(&dir.path().join("b"), Some(&file), None, None),
        30
    );
    assert_eq!(
        ticket_ttl_served(&dir.path().join("c"), Some(&file), Some("40"), None),
        40
    );
    assert_eq!(
        ticket_ttl_served(&dir.path().join("d"), Some(&file), Some("40"), Some("50")),
        50
    );
}

fn refusal(dir: &Path, config: &str, args: &[&str]) -> String {
    let file = dir.join("bad.toml");
    std::fs::write(&file, config).expect("config written");
    let mut serve = command(dir);
    serve
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .args(args);
    let output = run_with_stdin(serve, "");
    assert!(!output.status.success(), "bad config must stop the start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_config_stops_the_start_with_a_message_naming_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(refusal(dir.path(), "tiket_ttl = 5\n", &["--dev"]).contains("tiket_ttl"));
    assert!(refusal(dir.path(), "", &["--dev", "--store", "postgres://x"]).contains("store"));
    assert!(refusal(dir.path(), "", &["--dev", "--ticket-ttl", "0"]).contains("ticket_ttl"));
    let per_address_over_max = refusal(
        dir.path(),
        "max_connections = 10\n",
        &["--dev", "--max-connections-per-address", "11"],
    );
    assert!(
        per_address_over_max.contains("max_connections_per_address"),
        "{per_address_over_max}"
    );
    assert!(
        refusal(dir.path(), "", &["--dev", "--header-timeout", "0"]).contains("header_timeout")
    );
    let endless_shutdown = refusal(dir.path(), "shutdown_timeout = 86400\n", &["--dev"]);
    assert!(
        endless_shutdown.contains("shutdown_timeout"),
        "{endless_shutdown}"
    );
    assert!(
        refusal(dir.path(), "", &[]).contains("apps"),
        "production needs a mini program"
    );
    let clear_secret =
        "[[apps]]\nkey = \"a\"\nappid = \"wx1\"\nsecret = \"s\"\nscan_page = \"pages/x\"\n";
    let message = refusal(dir.path(), clear_secret, &[]);
    assert!(message.contains("dev mode only"), "{message}");
    assert!(
        !message.contains("\"s\""),
        "the secret itself is never printed: {message}"
    );
    let missing_env = "[[apps]]\nkey = \"a\"\nappid = \"wx1\"\nsecret_env = \"MEETEASY_TEST_UNSET\"\nscan_page = \"pages/x\"\n";
    assert!(refusal(dir.path(), missing_env, &[]).contains("MEETEASY_TEST_UNSET"));
    let bad_page =
        "[[apps]]\nkey = \"a\"\nappid = \"wx1\"\nsecret_env = \"HOME\"\nscan_page = \"/pages/x\"\n";
    assert!(refusal(dir.path(), bad_page, &[]).contains("scan_page"));
    let short_token = dir.path().join("metrics-token");
    std::fs::write(&short_token, "guessable\n").expect("token written");
    let metrics = format!("metrics_token_file = {:?}\n", short_token);
    let message = refusal(dir.path(), &metrics, &["--dev"]);
    assert!(message.contains("metrics_token_file"), "{message}");
    assert!(!message.contains("guessable"), "{message}");
}

#[test]
fn the_log_never_holds_a_ticket_a_token_a_poll_token_or_a_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = add_user(
        dir.path(),
        "lee@example.org",
        "Lee",
        &["organizer"],
        "pw-that-must-not-be-logged",
    );
    assert!(added.status.success());
    let mut serve = command(dir.path());
    serve.env("RUST_LOG", "debug").args(["serve", "--dev"]);
    let served = Served::start(serve);
    let url = |path: &str| format!("{}{path}", served.base_url);

    let (_, login) = post(
        &url("/auth/wechat/login"),
        serde_json::json!({"code": "dev:lee"}),
    );
    let (ticket, mini_token) = (
        login["login_ticket"].as_str().unwrap_or_default(),
        login["access_token"].as_str().unwrap_or_default(),
    );
    // The H5 page is requested with the ticket in its URL, as a web-view opens it.
    let (page, _) = request(
        reqwest::Method::GET,
        &url(&format!("/h5/demo?login_ticket={ticket}&_t=1")),
        None,
        None,
    );
    assert_eq!(page, 200);
    let (_, h5) = post(
        &url("/auth/login-ticket/exchange"),
        serde_json::json!({"login_ticket": ticket}),
    );
    let (_, password) = post(
        &url("/auth/login"),
        serde_json::json!({"login": "lee@example.org", "password": "pw-that-must-not-be-logged", "client": "console"}),
    );
    let (_, scene) = post(&url("/auth/scenes"), serde_json::json!({}));
    let poll_token = scene["poll_token"].as_str().unwrap_or_default();
    let islogin = url(&format!(
        "/auth/scenes/{}/islogin",
        scene["scene"].as_str().unwrap_or_default()
    ));
    assert_eq!(
        request(reqwest::Method::GET, &islogin, None, Some(poll_token)).0,
        200
    );
    let (bad, _) = post(
        &url("/auth/jwt/verify"),
        serde_json::json!({"token": format!("{mini_token}x")}),
    );
    assert_eq!(bad, 401);
    let log = served.log.clone();
    assert!(served.stop().success());

    let log = log.lock().expect("log lock").join("\n");
    assert!(log.contains("/h5/demo"), "requests are logged: {log}");
    let secrets = [
        ticket,
        mini_token,
        h5["access_token"].as_str().unwrap_or_default(),
        password["access_token"].as_str().unwrap_or_default(),
        poll_token,
        "pw-that-must-not-be-logged",
    ];
    for secret in secrets {
        assert!(secret.len() > 10, "each secret was really issued");
        assert!(
            !log.contains(secret),
            "the log holds a secret ({}...)",
            &secret[..6]
        );
    }
    // Tokens share their header; their signed middle part is what must not appear either.
    assert!(!log.contains(mini_token.split('.').nth(1).unwrap_or("-")));
}

/// The keys `keys rotate` reports, in the order the JWKS publishes them: current, next, retired.
fn rotate_keys(dir: &Path) -> Output {
    let mut rotate = command(dir);
    rotate.args(["keys", "rotate"]);
    run_with_stdin(rotate, "")
}

fn reported_kids(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The command's own lines, not the log's (a new temp dir is tightened to 0700, with a warning).
    stdout
        .lines()
        .filter(|line| line.starts_with("signing with key") || line.starts_with("still accepted"))
        .flat_map(|line| line.split(|c: char| c.is_whitespace() || c == ';' || c == ','))
        .filter(|word| word.len() == 43)
        .map(str::to_owned)
        .collect()
}

/// The `kid`s the server publishes, in order.
fn published_kids(base_url: &str) -> Vec<String> {
    let (status, jwks) = request(
        reqwest::Method::GET,
        &format!("{base_url}/.well-known/jwks.json"),
        None,
        None,
    );
    assert_eq!(status, 200);
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|key| key["kid"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn keys_rotated_on_the_command_line_are_the_keys_the_server_publishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = rotate_keys(dir.path());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = rotate_keys(dir.path());
    let kids = reported_kids(&second);
    assert_eq!(kids.len(), 4, "current, next and two retired: {kids:?}");
    assert_eq!(
        kids[2],
        reported_kids(&first)[0],
        "the newest retired first"
    );

    let mut serve = command(dir.path());
    serve.args(["serve", "--dev"]);
    let served = Served::start(serve);
    assert_eq!(published_kids(&served.base_url), kids);

    // The embedded store belongs to the running server: the command goes through its admin
    // socket, and the server publishes the new keys.
    let live = rotate_keys(dir.path());
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let live_kids = reported_kids(&live);
    assert_eq!(live_kids[2], kids[0], "the previous current key is retired");
    let deadline = Instant::now() + Duration::from_secs(10);
    while published_kids(&served.base_url) != live_kids {
        assert!(
            Instant::now() < deadline,
            "the server did not switch to the rotated keys"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served.stop().success());

    let mut compromised = command(dir.path());
    compromised.args(["keys", "rotate", "--compromised"]);
    let replaced = run_with_stdin(compromised, "");
    assert!(replaced.status.success());
    let fresh = reported_kids(&replaced);
    assert_eq!(fresh.len(), 2, "a new current and next key only: {fresh:?}");
    assert!(
        fresh
            .iter()
            .all(|kid| !kids.contains(kid) && !live_kids.contains(kid))
    );
    assert!(String::from_utf8_lossy(&replaced.stdout).contains("every session must log in again"));
}

/// The key-encryption key as operators give it: from the environment, from a file (flag, env or
/// config), never both; a store sealed with it refuses a server without it, and every refusal
/// says what is wrong without printing the key.
#[test]
fn a_key_encryption_key_seals_the_store_and_a_server_without_it_is_refused() {
    const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let key_file = dir.path().join("kek");
    std::fs::write(&key_file, format!("{KEK}\n")).expect("key file written");

    let mut sealing = command(&data_dir);
    sealing
        .env("MEETEASY_KEY_ENCRYPTION_KEY", KEK)
        .args(["keys", "rotate"]);
    let sealed = run_with_stdin(sealing, "");
    assert!(
        sealed.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    // A new data directory is the server's alone.
    let mode = |path: &Path| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(path).expect("metadata").permissions(),
        ) & 0o777
    };
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("meeteasy.redb")), 0o600);

    let mut without = command(&data_dir);
    without.args(["serve", "--dev", "--listen", "127.0.0.1:0"]);
    let refused = run_with_stdin(without, "");
    assert!(!refused.status.success(), "served keys it cannot open");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("no key-encryption key"), "{message}");

    // The same key from a file opens them.
    let mut from_file = command(&data_dir);
    from_file
        .args(["keys", "rotate", "--key-encryption-key-file"])
        .arg(&key_file);
    let rotated = run_with_stdin(from_file, "");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );

    let mut malformed = command(&data_dir);
    malformed
        .env("MEETEASY_KEY_ENCRYPTION_KEY", "not-a-key")
        .args(["keys", "rotate"]);
    let message = String::from_utf8_lossy(&run_with_stdin(malformed, "").stderr).into_owned();
    assert!(
        message.contains("MEETEASY_KEY_ENCRYPTION_KEY") && message.contains("base64"),
        "{message}"
    );
    assert!(
        !message.contains("not-a-key"),
        "the key is never printed: {message}"
    );

    let mut both = command(&data_dir);
    both.env("MEETEASY_KEY_ENCRYPTION_KEY", KEK)
        .env("MEETEASY_KEY_ENCRYPTION_KEY_FILE", &key_file)
        .args(["keys", "rotate"]);
    let message = String::from_utf8_lossy(&run_with_stdin(both, "").stderr).into_owned();
    assert!(message.contains("not both"), "{message}");
    assert!(
        !message.contains(KEK),
        "the key is never printed: {message}"
    );

    // Starting over without the key drops the sealing (the documented way to), and says so.
    let mut dropped = command(&data_dir);
    dropped.args(["keys", "rotate", "--compromised"]);
    let dropped = run_with_stdin(dropped, "");
    // A command's log lines go to standard output, with what it prints.
    let message =
        String::from_utf8_lossy(&dropped.stdout) + String::from_utf8_lossy(&dropped.stderr);
    assert!(dropped.status.success(), "{message}");
    assert!(
        message.contains("the new ones are stored in clear"),
        "{message}"
    );
}

#[test]
fn the_server_allocates_with_jemalloc_returning_freed_pages_at_once() {
    // jemalloc prints its options at exit when asked; a wrong symbol name or layout for the
    // built-in options would leave its defaults (10 s decay) in force without a word.
    let mut version = Command::new(BIN);
    version
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true");
    let output = run_with_stdin(version, "");
    assert!(output.status.success());
    let stats = String::from_utf8_lossy(&output.stderr);
    for option in [
        "opt.dirty_decay_ms: 0",
        "opt.muzzy_decay_ms: 0",
        "opt.tcache_max: 4096",
    ] {
        assert!(
            stats.contains(option),
            "{option} missing from: {stats:.400}"
        );
    }
}
