//! The embedded store on a disk that fills up, with the real `meeteasy-auth` binary: redb refuses
//! everything after its first I/O error until the file is opened again, so the server stops with
//! an error for its supervisor to start it afresh, instead of staying up answering every request
//! 503.

use std::path::Path;
use std::time::Duration;

use meeteasy_tests::auth_process::{ServeProcess, auth_binary, auth_command};
use meeteasy_tests::server::http_client;
use serde_json::json;
use tokio::time::Instant;

/// Room in the file size limit past twice the database as a fresh server leaves it: redb grows its
/// file by doubling it, and a clean close trims it, so the restarted server may double it at once;
/// the logins then fill it until the next doubling fails.
const ROOM_KIB: u64 = 256;
/// Logins sent at once while the disk fills.
const AT_ONCE: usize = 8;

/// `meeteasy-auth` under a file size limit of `limit_kib`, which stands in for a full disk: a
/// write past it fails (EFBIG, with SIGXFSZ ignored) as one past a full disk does (ENOSPC).
fn limited_to(limit_kib: u64, binary: &Path) -> tokio::process::Command {
    let mut command = auth_command(Path::new("bash"));
    command
        .args([
            "-c",
            r#"trap '' XFSZ; ulimit -f "$1"; shift; exec "$@""#,
            "bash",
        ])
        .arg(limit_kib.to_string())
        .arg(binary);
    command
}

#[tokio::test]
async fn a_server_whose_disk_fills_up_stops_with_an_error() {
    let binary = auth_binary();
    let data_dir = tempfile::tempdir().expect("a data directory");
    let dir_arg = data_dir.path().to_str().expect("a UTF-8 path").to_owned();
    let fresh = ServeProcess::start(&binary, ["--data-dir", &dir_arg]).await;
    assert!(fresh.stop().await.success());
    let database = data_dir.path().join("meeteasy.redb");
    let size = std::fs::metadata(&database).expect("the database").len();

    let limit = 2 * size.div_ceil(1024) + ROOM_KIB;
    let mut server =
        ServeProcess::start_command(limited_to(limit, &binary), ["--data-dir", &dir_arg]).await;
    let http = http_client();
    let login = |n: usize| {
        let request = http.post(server.url("/auth/wechat/login"));
        request
            .json(&json!({ "code": format!("dev:guest-filling-{n}") }))
            .send()
    };
    // Logins write a user, a session and its index line each, until the file cannot grow; none is
    // sent after the first refusal, so the server must stop without a later write meeting redb's
    // latched error.
    let give_up_at = Instant::now() + Duration::from_secs(60);
    let (mut sent, mut refused) = (0, 0);
    'filling: while refused == 0 && Instant::now() < give_up_at {
        let batch = (sent..sent + AT_ONCE).map(login);
        for answer in futures_util::future::join_all(batch).await {
            match answer {
                Ok(answer) if answer.status().is_success() => {}
                Ok(answer) => {
                    assert_eq!(answer.status(), 503, "a login on a full disk");
                    refused += 1;
                }
                // Gone: the server stopped.
                Err(_closed) => break 'filling,
            }
        }
        sent += AT_ONCE;
    }
    assert!(refused > 0, "{sent} logins never filled {limit} KiB");
    server
        .wait_for_log("the store can serve nothing more")
        .await;
    // The cause told is the write that failed, not redb's "previous I/O error" after it.
    let logged = server.logged();
    assert!(logged.contains("File too large"), "{logged}");
    let status = server.exited().await;
    assert!(!status.success(), "the server stopped with {status}");
}
