//! Bad input of every kind gets the contract's JSON error with a stable code and a message that names
//! the problem: never a panic, a 500, a hang or an HTML page.

use meeteasy_tests::api::{self, Reply};
use meeteasy_tests::server::TestServer;
use serde_json::json;

/// Sends a raw body with a content type.
async fn raw(server: &TestServer, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
    api::send(
        server
            .http()
            .post(server.url(path))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

#[track_caller]
fn assert_names(reply: &Reply, status: u16, code: &str, words: &str) {
    reply.assert_error(status, code);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(words),
        "message {message:?} should name {words:?}"
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{reply:?}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_invalid_requests_naming_the_field() {
    let server = TestServer::start_dev().await;
    let oversized = format!(r#"{{"code": "{}"}}"#, "x".repeat(17 * 1024)).into_bytes();
    // (path, content type, body, words the message must contain)
    let raw_cases: [(&str, &str, Vec<u8>, &str); 6] = [
        (
            "/auth/wechat/login",
            "application/json",
            b"{".to_vec(),
            "malformed JSON",
        ),
        (
            "/auth/wechat/login",
            "application/json",
            b"{}".to_vec(),
            "code",
        ),
        (
            "/auth/wechat/login",
            "application/json",
            br#"{"code": 7}"#.to_vec(),
            "code",
        ),
        (
            "/auth/wechat/login",
            "application/json",
            vec![0xff, 0xfe],
            "body",
        ),
        (
            "/auth/wechat/login",
            "text/plain",
            br#"{"code":"x"}"#.to_vec(),
            "Content-Type",
        ),
        (
            "/auth/wechat/login",
            "application/json",
            oversized,
            "16 KiB",
        ),
    ];
    for (path, content_type, body, words) in raw_cases {
        assert_names(
            &raw(&server, path, content_type, body).await,
            400,
            "invalid_request",
            words,
        );
    }
    // (path, JSON body, field the message must name)
    let json_cases = [
        ("/auth/wechat/login", json!({"code": ""}), "code"),
        (
            "/auth/wechat/login",
            json!({"code": "x".repeat(300)}),
            "code",
        ),
        ("/auth/wechat/login", json!({"code": "dev:"}), "code"),
        (
            "/auth/login-ticket/exchange",
            json!({"ticket": "x"}),
            "login_ticket",
        ),
        (
            "/auth/login",
            json!({"login": "a@b.c", "password": "x", "client": "tv"}),
            "client",
        ),
        (
            "/auth/login",
            json!({"login": "not a login", "password": "x", "client": "h5"}),
            "login",
        ),
        (
            "/auth/login",
            json!({"login": "a@b.c", "password": "", "client": "h5"}),
            "password",
        ),
        ("/auth/jwt/verify", json!({}), "token"),
        (
            "/auth/scenes",
            json!({"device_name": "d".repeat(65)}),
            "device_name",
        ),
        ("/auth/scenes", json!({"device_name": 12}), "device_name"),
        // A right-to-left override would show the phone this name reversed.
        (
            "/auth/scenes",
            json!({"device_name": "MeetEasy Console (\u{202E}pot-ksed\u{202C})"}),
            "device_name",
        ),
    ];
    for (path, body, field) in json_cases {
        assert_names(
            &server.post(path, body, None).await,
            400,
            "invalid_request",
            field,
        );
    }
    // Every field of a new scene is optional, but the body is JSON (`limits::scene_creation_takes_json_only`).
    // Unknown fields are ignored, as the contract says.
    assert_eq!(
        server
            .post("/auth/scenes", json!({"colour": "blue"}), None)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn bad_paths_queries_and_apps_are_named() {
    let server = TestServer::start_dev().await;
    let scene: meeteasy_protocol::CreateSceneResponse =
        server.post("/auth/scenes", json!({}), None).await.json();
    let poll = |query: &str| format!("/auth/scenes/{}/islogin?{query}", scene.scene);
    assert_names(
        &server
            .get(&poll("wait=soon"), Some(&scene.poll_token))
            .await,
        400,
        "invalid_request",
        "wait",
    );
    assert_names(
        &server.get(&poll("wait=31"), Some(&scene.poll_token)).await,
        400,
        "invalid_request",
        "wait",
    );
    assert_names(
        &server.get(&poll("wait=-1"), Some(&scene.poll_token)).await,
        400,
        "invalid_request",
        "wait",
    );
    assert_names(
        &server
            .get("/auth/scenes/short/islogin", Some(&scene.poll_token))
            .await,
        400,
        "invalid_request",
        "scene",
    );
    assert_names(
        &server.get("/auth/scenes/short/qr.png", None).await,
        400,
        "invalid_request",
        "scene",
    );
    // A path segment that is not even UTF-8 still gets the contract's JSON.
    assert_names(
        &server.post_empty("/auth/scenes/%FF/scan", None).await,
        400,
        "invalid_request",
        "scene",
    );
    assert_names(
        &server
            .get("/auth/scenes/%FF/islogin", Some(&scene.poll_token))
            .await,
        400,
        "invalid_request",
        "scene",
    );
    let unknown_scene = "0".repeat(32);
    server
        .get(&format!("/auth/scenes/{unknown_scene}/qr.png"), None)
        .await
        .assert_error(410, "scene_expired");
    server
        .get(
            &format!("/auth/scenes/{unknown_scene}/islogin"),
            Some(&scene.poll_token),
        )
        .await
        .assert_error(410, "scene_expired");
    assert_names(
        &server
            .post("/auth/scenes", json!({"app": "nope"}), None)
            .await,
        404,
        "unknown_app",
        "nope",
    );
    assert_names(
        &server
            .post(
                "/auth/wechat/login",
                json!({"code": "dev:x", "app": "nope"}),
                None,
            )
            .await,
        404,
        "unknown_app",
        "nope",
    );
}

#[tokio::test]
async fn bad_or_missing_tokens_are_invalid_tokens() {
    let server = TestServer::start_dev().await;
    let scene: meeteasy_protocol::CreateSceneResponse =
        server.post("/auth/scenes", json!({}), None).await.json();
    let scan = format!("/auth/scenes/{}/scan", scene.scene);
    let missing = server.post_empty(&scan, None).await;
    missing.assert_error(401, "invalid_token");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    for garbage in [
        "x",
        "a.b.c",
        "a.b.c.d",
        &"e".repeat(5000),
        "eyJhbGciOiJub25lIn0.e30.",
    ] {
        server
            .get("/auth/me", Some(garbage))
            .await
            .assert_error(401, "invalid_token");
    }
    let basic = api::send(
        server
            .http()
            .get(server.url("/auth/me"))
            .header("authorization", "Basic YTpi"),
    )
    .await;
    basic.assert_error(401, "invalid_token");
    // An H5 page's token cannot act as a phone.
    let login = server.dev_login("olga").await;
    let h5 = server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": login.login_ticket}),
            None,
        )
        .await;
    assert_eq!(h5.status, 200, "{}", h5.body);
    let h5_token = h5.body["access_token"]
        .as_str()
        .expect("an H5 token")
        .to_owned();
    assert_names(
        &server.post_empty(&scan, Some(&h5_token)).await,
        401,
        "invalid_token",
        "mini program",
    );
    // A tampered token fails its signature.
    let mut tampered = login.access_token.clone();
    tampered.insert(tampered.len() / 2, 'A');
    server
        .post("/auth/jwt/verify", json!({"token": tampered}), None)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let server = TestServer::start_dev().await;
    server
        .get("/auth/nothing-here", None)
        .await
        .assert_error(404, "not_found");
    server
        .get("/auth/wechat/login", None)
        .await
        .assert_error(405, "method_not_allowed");
    server
        .post_empty("/auth/me", None)
        .await
        .assert_error(405, "method_not_allowed");
}
