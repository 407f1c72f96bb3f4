//! The `meeteasy-auth` binary on `rediss://`: a Redis that speaks TLS with a certificate of the
//! deployment's own CA, trusted through `SSL_CERT_FILE` (the client reads the system's trust store,
//! which that variable replaces), and refused with a clear message while the CA is not trusted.

use meeteasy_tests::auth_process::{ServeProcess, auth_binary, auth_command, run_with_stdin};
use meeteasy_tests::redis_deployments::redis_cli;
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::test_ca::TestCa;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_its_records_in_a_redis_reached_over_tls() {
    let ca = TestCa::issue();
    let redis = RedisServer::start_tls(&ca);
    let binary = auth_binary();
    let store = ["--store".to_owned(), redis.tls_url()];

    let mut trusting = auth_command(&binary);
    trusting.env("SSL_CERT_FILE", ca.ca());
    let served = ServeProcess::start_command(trusting, &store).await;
    let http = meeteasy_tests::server::http_client();
    let login = http
        .post(served.url("/auth/wechat/login"))
        .json(&json!({"code": "dev:tess"}))
        .send()
        .await
        .expect("an answer");
    let status = login.status();
    let login: serde_json::Value = login.json().await.expect("a JSON answer");
    assert_eq!(status, 200, "{login}");
    // The user is in that Redis (read over its plain port), so the store is the one over TLS.
    let user = format!(
        "meeteasy:user:{}",
        login["user"]["id"].as_str().unwrap_or_default()
    );
    let exists = redis_cli(redis.port(), &["EXISTS", &user]);
    assert_eq!(exists.as_deref().map(str::trim), Some("1"), "{user}");
    served.stop().await;

    // Trusting another CA instead, serve does not start, and says why.
    let other_ca = TestCa::issue();
    let mut untrusting = auth_command(&binary);
    untrusting
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .args(&store);
    untrusting.env("SSL_CERT_FILE", other_ca.ca());
    let refused = run_with_stdin(untrusting, "").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}
