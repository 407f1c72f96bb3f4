//! Administration while `serve` runs, with the real `meeteasy-auth` binary: `users add`, `users
//! grant` and the team commands (`invite`, `users list|show|revoke-role|unlink-wechat`, `sessions
//! revoke`) reach
//! a running server through its admin socket on the embedded store, and the
//! shared store directly on Redis; the socket is owner-only (file mode, then peer credentials),
//! gone after SIGTERM, when the commands open the store themselves again, and replaced at the next
//! start when a crash left it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use meeteasy_tests::auth_process::{ServeProcess, auth_binary, auth_command, run_with_stdin};
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::server::http_client;
use serde_json::json;

const SOCKET_FILE: &str = "admin.sock";
const PASSWORD: &str = "s3cret pass";
/// The account tests run other users' commands as, when they run as root.
const NOBODY: u32 = 65534;

async fn add_ann(binary: &Path, store_args: &[String]) -> Output {
    let mut add = auth_command(binary);
    add.args(["users", "add"])
        .args(store_args)
        .args(["--login", "ann@example.org", "--name", "Ann"])
        .arg("--password-stdin");
    run_with_stdin(add, &format!("{PASSWORD}\n")).await
}

async fn grant(binary: &Path, store_args: &[String], role: &str) -> Output {
    let mut grant = auth_command(binary);
    grant
        .args(["users", "grant"])
        .args(store_args)
        .args(["ann@example.org", role]);
    run_with_stdin(grant, "").await
}

/// The link an `invite` printed, and the invite code that ends it.
#[track_caller]
fn invite_link_and_code(invited: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&invited.stdout);
    let link = stdout
        .lines()
        .find(|line| line.starts_with("http"))
        .expect("the invite's link")
        .to_owned();
    let code = link
        .rsplit_once("/m/invite/")
        .expect("an invite link")
        .1
        .to_owned();
    (link, code)
}

#[track_caller]
fn assert_succeeded(output: &Output, says: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(says),
        "status {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Ann's roles as a password login to the console sees them.
async fn console_login_roles(served: &ServeProcess) -> serde_json::Value {
    console_login(served).await["user"]["roles"].clone()
}

/// Ann's password login to the console, which must succeed.
async fn console_login(served: &ServeProcess) -> serde_json::Value {
    let response = http_client()
        .post(served.url("/auth/login"))
        .json(&json!({"login": "ann@example.org", "password": PASSWORD, "client": "console"}))
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("a JSON answer");
    assert_eq!(status, 200, "{body}");
    body
}

async fn command(binary: &Path, args: &[&str], store_args: &[String]) -> Output {
    let mut command = auth_command(binary);
    command.args(args).args(store_args);
    run_with_stdin(command, "").await
}

/// The team commands on a running server, with Ann an organizer: `invite` (its link and QR reach
/// the server), `users list` and `show`, `sessions revoke --user`, `users revoke-role`.
async fn team_commands_work_while_serving(
    binary: &Path,
    store_args: &[String],
    served: &ServeProcess,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("invite.png");
    let mut invite = auth_command(binary);
    invite
        .args(["invite", "--role", "admin", "--expires-in", "600", "--qr"])
        .arg(&png)
        .args(store_args)
        .args(["--public-url", &served.url("")]);
    let invited = run_with_stdin(invite, "").await;
    assert_succeeded(&invited, "to join as admin");
    let (link, code) = invite_link_and_code(&invited);
    assert_eq!(code.len(), 32, "{link}");
    let written = std::fs::read(&png).expect("the QR file");
    assert!(written.starts_with(b"\x89PNG"), "a PNG");
    assert_eq!(mode_of(&png), 0o600, "the QR is the invite: owner-only");
    let inspected = http_client()
        .post(served.url("/auth/invites/inspect"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(inspected.status(), 200);
    let inspected: serde_json::Value = inspected.json().await.expect("JSON");
    assert_eq!(inspected["role"], "admin");
    assert_eq!(inspected["invited_by"]["display_name"], "Server operator");

    let listed = command(binary, &["users", "list"], store_args).await;
    assert_succeeded(&listed, "ann@example.org");
    let shown = command(binary, &["users", "show", "ann@example.org"], store_args).await;
    assert_succeeded(&shown, "roles [organizer]");

    let token = console_login(served).await["access_token"].clone();
    let token = token.as_str().expect("a token").to_owned();
    let revoked = command(
        binary,
        &["sessions", "revoke", "--user", "ann@example.org"],
        store_args,
    )
    .await;
    assert_succeeded(&revoked, "sessions of ann@example.org");
    let me = http_client()
        .get(served.url("/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(me.status(), 401, "the session ended");

    let demoted = command(
        binary,
        &["users", "revoke-role", "ann@example.org", "organizer"],
        store_args,
    )
    .await;
    assert_succeeded(&demoted, "now has roles []");
    let refused = http_client()
        .post(served.url("/auth/login"))
        .json(&json!({"login": "ann@example.org", "password": PASSWORD, "client": "console"}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(refused.status(), 403, "no longer an organizer");
    assert_succeeded(
        &grant(binary, store_args, "organizer").await,
        "now has roles [organizer]",
    );
    // A role of the deployment's own is taken as it was given.
    assert_succeeded(
        &grant(binary, store_args, "speaker").await,
        "now has roles [organizer, speaker]",
    );
    let taken = ["users", "revoke-role", "ann@example.org", "speaker"];
    let taken = command(binary, &taken, store_args).await;
    assert_succeeded(&taken, "now has roles [organizer]");

    wechat_is_linked_then_unlinked(binary, store_args, served).await;
}

/// `path` of `served` answered: its status and JSON body (null when it has none).
async fn call(
    served: &ServeProcess,
    path: &str,
    body: serde_json::Value,
    bearer: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = http_client().post(served.url(path)).json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("the answer's body");
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// A dev WeChat login of `name` from the mini program: its user id and token.
async fn wechat_login(served: &ServeProcess, name: &str) -> (String, String) {
    let code = json!({ "code": format!("dev:{name}") });
    let (status, login) = call(served, "/auth/wechat/login", code, None).await;
    assert_eq!(status, 200, "{login}");
    let text = |value: &serde_json::Value| value.as_str().expect("a string").to_owned();
    (text(&login["user"]["id"]), text(&login["access_token"]))
}

/// Ann links a WeChat from the console (a link scene the phone scans and confirms); `users
/// unlink-wechat` takes it again: that WeChat's session ends, Ann's password session stays, and
/// the WeChat's next login makes an account of its own.
async fn wechat_is_linked_then_unlinked(
    binary: &Path,
    store_args: &[String],
    served: &ServeProcess,
) {
    let ann = console_login(served).await;
    let (ann_id, console) = (&ann["user"]["id"], ann["access_token"].as_str().unwrap());
    let link = json!({ "purpose": "link" });
    let (status, scene) = call(served, "/auth/scenes", link, Some(console)).await;
    assert_eq!(status, 201, "{scene}");
    let scene = scene["scene"].as_str().expect("a scene");
    let (_, phone) = wechat_login(served, "guest-ann-phone").await;
    for (step, answered) in [("scan", 200), ("confirm", 204)] {
        let path = format!("/auth/scenes/{scene}/{step}");
        let (status, answer) = call(served, &path, json!({}), Some(&phone)).await;
        assert_eq!(status, answered, "{step}: {answer}");
    }
    let (linked_id, linked_phone) = wechat_login(served, "guest-ann-phone").await;
    assert_eq!(linked_id, *ann_id, "the WeChat leads into Ann's account");
    let shown = command(binary, &["users", "show", "ann@example.org"], store_args).await;
    assert_succeeded(&shown, "ways in [wechat, password]");

    let unlink = ["users", "unlink-wechat", "ann@example.org"];
    let unlinked = command(binary, &unlink, store_args).await;
    assert_succeeded(&unlinked, "WeChat identity keys unlinked, 1 sessions");
    let me = |token: String| async move {
        let me = http_client().get(served.url("/auth/me")).bearer_auth(token);
        me.send().await.expect("the server answers").status()
    };
    assert_eq!(me(linked_phone).await, 401, "the WeChat's session ended");
    assert_eq!(
        me(console.to_owned()).await,
        200,
        "the password session stays"
    );
    let shown = command(binary, &["users", "show", "ann@example.org"], store_args).await;
    assert_succeeded(&shown, "ways in [password]");
    let (own_id, _) = wechat_login(served, "guest-ann-phone").await;
    assert_ne!(own_id, *ann_id, "the WeChat makes an account of its own");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_added_and_granted_through_the_admin_socket_while_serve_runs_on_the_embedded_store()
 {
    let binary = auth_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store_args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    let mut served = ServeProcess::start(&binary, &store_args).await;
    let socket = data_dir.join(SOCKET_FILE);
    served.wait_for_log("admin socket ready").await;
    assert_eq!(mode_of(&socket), 0o600, "the socket is owner-only");

    assert_succeeded(&add_ann(&binary, &store_args).await, "added user");
    assert_succeeded(
        &grant(&binary, &store_args, "organizer").await,
        "now has roles [organizer]",
    );
    assert_eq!(console_login_roles(&served).await, json!(["organizer"]));
    team_commands_work_while_serving(&binary, &store_args, &served).await;

    another_user_is_refused(&binary, dir.path(), &data_dir, &mut served).await;
    assert_eq!(
        console_login_roles(&served).await,
        json!(["organizer"]),
        "the refused grant changed nothing"
    );

    assert!(
        served.stop().await.success(),
        "serve exits cleanly on SIGTERM"
    );
    assert!(!socket.exists(), "the admin socket is gone after shutdown");
    assert_succeeded(
        &grant(&binary, &store_args, "admin").await,
        "now has roles [organizer, admin]",
    );
    assert!(
        !socket.exists(),
        "a command on a stopped server opens the store, not a socket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_left_by_a_crash_neither_misleads_commands_nor_stops_the_next_start() {
    let binary = auth_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store_args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    let mut served = ServeProcess::start(&binary, &store_args).await;
    served.wait_for_log("admin socket ready").await;
    served.crash().await;
    let socket = data_dir.join(SOCKET_FILE);
    assert!(socket.exists(), "a killed server leaves its socket");

    assert_succeeded(&add_ann(&binary, &store_args).await, "added user");
    let mut served = ServeProcess::start(&binary, &store_args).await;
    served
        .wait_for_log("removed the admin socket a stopped server left")
        .await;
    served.wait_for_log("admin socket ready").await;
    assert_succeeded(
        &grant(&binary, &store_args, "organizer").await,
        "now has roles [organizer]",
    );
    assert_eq!(console_login_roles(&served).await, json!(["organizer"]));
    assert!(served.stop().await.success());
}

/// Another local user is kept out twice: by the socket's mode, and, where the mode is loosened, by
/// the peer credentials the server checks. Needs root, to be that other user.
async fn another_user_is_refused(
    binary: &Path,
    temp_dir: &Path,
    data_dir: &Path,
    served: &mut ServeProcess,
) {
    if !rustix::process::geteuid().is_root() {
        println!("skipped: refusing another user needs root, to run a command as uid {NOBODY}");
        return;
    }
    // The binary where that user can run it (the build directory may be private).
    let runnable = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(runnable.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let their_binary = runnable.path().join("meeteasy-auth");
    std::fs::copy(binary, &their_binary).expect("copy the binary");
    // As if an operator had opened the directories: only the socket's own mode is left.
    for dir in [temp_dir, data_dir] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    let store_args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    let as_nobody = || async {
        let mut grant = auth_command(&their_binary);
        grant
            .uid(NOBODY)
            .gid(NOBODY)
            .args(["users", "grant"])
            .args(&store_args)
            .args(["ann@example.org", "admin"]);
        run_with_stdin(grant, "").await
    };

    let by_mode = as_nobody().await;
    let stderr = String::from_utf8_lossy(&by_mode.stderr);
    assert!(
        !by_mode.status.success() && stderr.contains("is not open to this user"),
        "{stderr}"
    );

    // With the socket opened to all, each end refuses the other by its credentials: the command
    // sends nothing to a server of another account, and the server refuses the connection.
    let socket = data_dir.join(SOCKET_FILE);
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let by_credentials = as_nobody().await;
    let stderr = String::from_utf8_lossy(&by_credentials.stderr);
    assert!(
        !by_credentials.status.success()
            && stderr.contains(&format!(
                "is served by uid 0, not by this user (uid {NOBODY})"
            )),
        "{stderr}"
    );
    served
        .wait_for_log("admin socket: connection refused")
        .await;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_added_and_granted_in_the_shared_store_while_serve_runs_on_redis() {
    let binary = auth_binary();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store_args = vec![
        "--store".to_owned(),
        redis.url(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
    ];
    let served = ServeProcess::start(&binary, &store_args).await;

    assert_succeeded(&add_ann(&binary, &store_args).await, "added user");
    assert_succeeded(
        &grant(&binary, &store_args, "organizer").await,
        "now has roles [organizer]",
    );
    assert_eq!(console_login_roles(&served).await, json!(["organizer"]));
    team_commands_work_while_serving(&binary, &store_args, &served).await;
    assert!(
        !data_dir.join(SOCKET_FILE).exists(),
        "no admin socket on Redis: commands go to the store"
    );
    assert!(
        served.stop().await.success(),
        "serve exits cleanly on SIGTERM"
    );
}

/// The keys re-sealed with a new key-encryption key (`keys rotate --compromised`, the old key
/// leaked) while an instance runs with the old one: it stops by itself, non-zero and saying why,
/// rather than go on signing with the keys just replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_keys_were_sealed_with_another_key_stops() {
    const OLD_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const NEW_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let binary = auth_binary();
    let redis = RedisServer::start();
    let store_args = vec!["--store".to_owned(), redis.url()];
    let mut serve = auth_command(&binary);
    serve.env("MEETEASY_KEY_ENCRYPTION_KEY", OLD_KEY);
    let mut served = ServeProcess::start_command(serve, &store_args).await;

    let mut rotate = auth_command(&binary);
    rotate.env("MEETEASY_KEY_ENCRYPTION_KEY", NEW_KEY);
    rotate
        .args(["keys", "rotate", "--compromised"])
        .args(&store_args);
    let rotated = run_with_stdin(rotate, "").await;
    let output =
        String::from_utf8_lossy(&rotated.stderr) + String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success(), "{output}");

    served
        .wait_for_log("sealed anew with another key-encryption key")
        .await;
    let exited = served.exited().await;
    assert!(!exited.success(), "{exited:?}");
}

/// A Redis password given in the environment, but not as UTF-8, stops the server at start with
/// what is wrong, rather than counting as no password (and failing later as a refused login).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_password_that_is_not_utf8_is_refused_at_start() {
    use std::os::unix::ffi::OsStrExt as _;
    let mut serve = auth_command(&auth_binary());
    serve.args(["serve", "--dev", "--listen", "127.0.0.1:0"]);
    // Nothing listens there: a server that got past its settings would say it cannot connect.
    serve.args(["--store", "redis://127.0.0.1:1"]);
    let not_utf8 = std::ffi::OsStr::from_bytes(b"s\xffcret");
    serve.env("MEETEASY_REDIS_PASSWORD", not_utf8);
    let refused = run_with_stdin(serve, "").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("the variable MEETEASY_REDIS_PASSWORD is not valid UTF-8"),
        "{stderr}"
    );
}

/// A certificate or key `[tls]` names that cannot be read stops the start before the server says
/// it listens (a supervisor that waits for that line would otherwise count it as up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_certificate_that_cannot_be_read_stops_the_start_before_it_listens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("meeteasy.toml");
    let missing = dir.path().join("missing.pem");
    let toml = format!("[tls]\ncert = {missing:?}\nkey = {missing:?}\n");
    std::fs::write(&config, toml).expect("writes the config");
    let mut serve = auth_command(&auth_binary());
    serve.args(["serve", "--dev", "--listen", "127.0.0.1:0", "--config"]);
    serve
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    let refused = run_with_stdin(serve, "").await;
    let output =
        String::from_utf8_lossy(&refused.stderr) + String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{output}");
    assert!(
        output.contains("cannot read the certificate chain"),
        "{output}"
    );
    assert!(!output.contains("listening"), "{output}");
}

/// The ids in paths are capabilities (an invite's code makes its holder a member, a link scene's
/// id lets whoever reads it scan first): the access log names a request by the route it matched,
/// and one that matched none by its path with the long segments hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_codes_in_paths_never_reach_the_access_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store_args = [
        "--data-dir".to_owned(),
        dir.path().join("data").display().to_string(),
    ];
    let mut served = ServeProcess::start(&auth_binary(), &store_args).await;
    let code = "Zq3vK8pR2mWx7nT4bY6cH1dF5gJ9sL0a";
    let client = http_client();
    let get = |path: String| client.get(served.url(&path)).send();
    let page = get(format!("/m/invite/{code}")).await.expect("answered");
    assert_eq!(page.status(), 200);
    let scene = get(format!("/auth/scenes/{code}/qr.png"))
        .await
        .expect("answered");
    assert_eq!(scene.status(), 410);
    let mistyped = get(format!("/m/invite/{code}/")).await.expect("answered");
    assert_eq!(mistyped.status(), 404);
    for logged in [
        "/m/invite/{code}",
        "/auth/scenes/{scene}/qr.png",
        "/m/invite/…/",
    ] {
        served.wait_for_log(logged).await;
    }
    let logged = served.logged();
    assert!(!logged.contains(code), "{logged}");
    assert!(served.stop().await.success());
}

/// A `[redis]` table with the embedded store (the `store` line forgotten, or `--store embedded` over
/// a production config file) is said, not silently ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_table_beside_the_embedded_store_is_said_to_be_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("meeteasy.toml");
    std::fs::write(
        &config,
        "[redis]
wait_replicas = 1
",
    )
    .expect("writes the config");
    let mut rotate = auth_command(&auth_binary());
    rotate
        .args(["keys", "rotate", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    let rotated = run_with_stdin(rotate, "").await;
    let output =
        String::from_utf8_lossy(&rotated.stderr) + String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success(), "{output}");
    assert!(
        output.contains("[redis] table is ignored: the store is embedded"),
        "{output}"
    );
}

/// A command that only reads or changes what a store holds, given a data directory no server or
/// command has used (a mistyped `--data-dir`), says so and makes nothing there; one that may be
/// the first (`users add`, `keys rotate`, `invite`) makes the store and says that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_never_used_is_refused_by_commands_that_need_a_store() {
    let binary = auth_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("mistyped");
    let store_args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    for refused in [
        &["users", "list"][..],
        &["users", "show", "ann@example.org"],
        &["users", "grant", "ann@example.org", "organizer"],
        &["users", "revoke-role", "ann@example.org", "organizer"],
        &["sessions", "revoke", "--user", "ann@example.org"],
    ] {
        let output = command(&binary, refused, &store_args).await;
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{refused:?}: {said}");
        assert!(
            said.contains("no server or command has used this data directory yet"),
            "{refused:?}: {said}"
        );
        assert!(
            !data_dir.exists(),
            "{refused:?} made {}",
            data_dir.display()
        );
    }
    let added = add_ann(&binary, &store_args).await;
    assert_succeeded(&added, "added user");
    let said = String::from_utf8_lossy(&added.stdout) + String::from_utf8_lossy(&added.stderr);
    assert!(said.contains("making a new one"), "{said}");
    let listed = command(&binary, &["users", "list"], &store_args).await;
    assert_succeeded(&listed, "ann@example.org");

    // A relative data directory is the working directory's: said whole, so a command run from
    // another directory than the server's shows where it looked.
    let mut relative = auth_command(&binary);
    relative.current_dir(dir.path());
    relative.args(["users", "list", "--data-dir", "elsewhere"]);
    let output = run_with_stdin(relative, "").await;
    let said = String::from_utf8_lossy(&output.stderr);
    let whole = dir.path().join("elsewhere").join("meeteasy.redb");
    assert!(said.contains(&whole.display().to_string()), "{said}");
}

/// `users add --password-stdin` at a terminal would show the password as it is typed: it refuses
/// and says how to pipe one. The terminal is a pseudo-terminal `script` (util-linux) gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_not_read_from_a_terminal_where_it_would_show() {
    let dir = tempfile::tempdir().expect("temp dir");
    let add = format!(
        "{} users add --data-dir {} --login ann@example.org --name Ann --password-stdin",
        auth_binary().display(),
        dir.path().join("data").display()
    );
    let mut at_a_terminal = tokio::process::Command::new("script");
    at_a_terminal.args(["-qec", &add, "/dev/null"]);
    // The server's own defaults, whatever this shell has set (as `auth_command` gives them).
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MEETEASY_") {
            at_a_terminal.env_remove(name);
        }
    }
    at_a_terminal
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    // A command that read the terminal would wait for a line that never comes.
    let within = std::time::Duration::from_secs(30);
    let refused = tokio::time::timeout(within, at_a_terminal.output()).await;
    let refused = refused.expect("refused at once, not waiting for a typed password");
    let refused = refused.expect("script runs");
    let output = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{output}");
    assert!(
        output.contains("reads the password from a pipe, not a terminal"),
        "{output}"
    );
}

/// A Redis URL may carry its password: `--help` names `MEETEASY_STORE` but does not print the
/// value this environment gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_does_not_print_the_store_url_from_the_environment() {
    for subcommand in [&["serve"][..], &["users", "add"]] {
        let mut help = auth_command(&auth_binary());
        help.args(subcommand).arg("--help");
        help.env("MEETEASY_STORE", "redis://:hunter2-in-the-url@127.0.0.1:1");
        let printed = run_with_stdin(help, "").await;
        let stdout = String::from_utf8_lossy(&printed.stdout);
        assert!(printed.status.success(), "{stdout}");
        assert!(stdout.contains("MEETEASY_STORE"), "{stdout}");
        assert!(!stdout.contains("hunter2"), "{stdout}");
    }
}

/// The invite's QR is the invite: `--qr` neither follows a symbolic link put at its path (it would
/// have root overwrite where the link points) nor writes into a file another account owns (that
/// account could read it, whatever the mode); both are refused and left as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_s_qr_is_not_written_through_a_link_or_into_another_account_s_file() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let pointed_at = dir.path().join("pointed-at");
    std::fs::write(&pointed_at, "kept").expect("a file");
    let link = dir.path().join("link.png");
    std::os::unix::fs::symlink(&pointed_at, &link).expect("a link");
    let named_twice = dir.path().join("named-twice.png");
    std::fs::hard_link(&pointed_at, &named_twice).expect("a hard link");
    let mut refused_paths = vec![link, named_twice];
    // Only root can give a file to another account.
    let theirs = dir.path().join("theirs.png");
    let as_root = rustix::process::geteuid().is_root();
    if as_root {
        std::fs::write(&theirs, "theirs").expect("a file");
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
        refused_paths.push(theirs.clone());
    } else {
        println!("not checked: a file of another account needs root, to give it to uid {NOBODY}");
    }
    for qr in &refused_paths {
        let mut invite = auth_command(&auth_binary());
        invite
            .args(["invite", "--role", "admin", "--qr"])
            .arg(qr)
            .arg("--data-dir")
            .arg(dir.path().join("data"));
        let refused = run_with_stdin(invite, "").await;
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{}: {stderr}", qr.display());
    }
    assert_eq!(std::fs::read_to_string(&pointed_at).unwrap(), "kept");
    if as_root {
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs");
        assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), NOBODY);
    }
}

/// An invite whose configuration is refused (here a key-encryption key file that is not there)
/// makes no invite and leaves no QR file, not even an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_refused_for_its_configuration_leaves_no_qr_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("invite.png");
    let mut invite = auth_command(&auth_binary());
    invite
        .args(["invite", "--role", "organizer", "--qr"])
        .arg(&png)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--key-encryption-key-file", "/nonexistent/kek"]);
    let refused = run_with_stdin(invite, "").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("key_encryption_key_file"), "{stderr}");
    assert!(!png.exists(), "a QR file was left behind");
}

/// Runs `invite --role <role> --config <config> --qr <png>`, and checks the QR written is the
/// app's mini program code of its invite page, with the invite as scene.
async fn invite_is_drawn_as_the_app_s_code(config: &Path, role: &str, png: &Path) {
    let mut invite = auth_command(&auth_binary());
    invite
        .args(["invite", "--role", role, "--config"])
        .arg(config)
        .arg("--qr")
        .arg(png);
    let invited = run_with_stdin(invite, "").await;
    assert_succeeded(&invited, &format!("to join as {role}"));
    let (_, code) = invite_link_and_code(&invited);
    let written = std::fs::read(png).expect("the QR file");
    assert_eq!(
        crate::wechat::qr_content(&written),
        format!("wxacode:pages/invite/index?scene={code}")
    );
}

/// The first admin's invite on a production configuration, whose app draws its QRs as mini
/// program codes (`wxacode`): the QR written is the app's code of its invite page with the invite
/// as scene, from WeChat (here the fake), not a QR of the link, which would open a web page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_of_a_wxacode_app_is_written_as_its_mini_program_code() {
    use meeteasy_devtools::fake_wechat::{FakeApp, FakeEndpoint, FakeWeChat};
    use meeteasy_protocol::Secret;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a free port");
    let wechat_url = format!("http://{}", listener.local_addr().expect("an address"));
    let (appid, secret) = ("wx00000000invite01", "invite-app-secret-0123456789abcdef");
    let fake = FakeWeChat::new(vec![FakeApp {
        appid: appid.into(),
        secret: Secret::new(secret),
        pages: vec!["pages/scan/index".into(), "pages/invite/index".into()],
        unionid_bound: false,
    }]);
    let wechat = fake.handle();
    tokio::spawn(fake.serve(listener));
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("app-secret");
    std::fs::write(&secret_file, secret).expect("the secret");
    let config = dir.path().join("auth.toml");
    let toml = format!(
        r#"public_url = "https://auth.example.com"
store = "embedded"
data_dir = "{data}"
wechat = {{ base_url = "{wechat_url}" }}

[[apps]]
key = "attendee"
appid = "{appid}"
secret_file = "{secret}"
scan_page = "pages/scan/index"
qr_mode = "wxacode"
"#,
        data = dir.path().join("data").display(),
        secret = secret_file.display(),
    );
    std::fs::write(&config, toml).expect("the config");
    let png = dir.path().join("invite.png");

    invite_is_drawn_as_the_app_s_code(&config, "admin", &png).await;

    // While the server runs (in production, on the same WeChat), the command asks it over the
    // admin socket (the server holds the embedded store: the command could not open it), and
    // the server draws the code.
    let config_args = [std::ffi::OsStr::new("--config"), config.as_os_str()];
    let mut served = ServeProcess::start_in_production(&auth_binary(), config_args).await;
    served.wait_for_log("admin socket ready").await;
    let through_the_socket = dir.path().join("invite-from-serve.png");
    invite_is_drawn_as_the_app_s_code(&config, "organizer", &through_the_socket).await;
    let drawn = wechat.calls(FakeEndpoint::UnlimitedQrCode);
    assert_eq!(drawn, 2, "both codes drawn by the configured WeChat");
    assert!(served.stop().await.success(), "serve exits cleanly");

    // Given the store alone, the command cannot know the app: it draws the link, and says so.
    let mut bare = auth_command(&auth_binary());
    bare.args([
        "invite",
        "--role",
        "organizer",
        "--public-url",
        "https://auth.example.com",
    ])
    .arg("--data-dir")
    .arg(dir.path().join("data"));
    let invited = run_with_stdin(bare, "").await;
    assert_succeeded(&invited, "encodes its link");
}
