//! Rate limits over real HTTP: rejected WeChat codes per address (refused before WeChat is asked),
//! failed password attempts, the bound on concurrent password hashes, scenes per address and per
//! `wxacode` app, IPv6 addresses counted by their /64, and scene creation refusing what a cross-site
//! page can send without a CORS preflight.

use std::time::Duration;

use futures_util::future::join_all;
use meeteasy_auth::config::{QrMode, Settings};
use meeteasy_devtools::fake_wechat::{FakeEndpoint, FakeFault};
use meeteasy_tests::api::{self, Reply};
use meeteasy_tests::server::TestServer;
use serde_json::{Value, json};

/// A server behind a trusted proxy on loopback, so each request can say which client it is for.
async fn behind_proxy(tweak: impl FnOnce(&mut Settings)) -> TestServer {
    TestServer::start_with(|settings| {
        settings.trusted_proxies = vec![[127, 0, 0, 1].into()];
        tweak(settings);
    })
    .await
}

/// POSTs `body` as JSON on behalf of the client at `client` (through the trusted proxy).
async fn post_from(server: &TestServer, client: &str, path: &str, body: Value) -> Reply {
    api::send(
        server
            .http()
            .post(server.url(path))
            .header("x-forwarded-for", client)
            .json(&body),
    )
    .await
}

#[track_caller]
fn assert_retry_after(reply: &Reply) {
    let seconds = reply
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok());
    assert!(seconds.is_some_and(|s| s > 0), "Retry-After: {reply:?}");
}

async fn wechat_login(server: &TestServer, client: &str, code: &str) -> Reply {
    post_from(server, client, "/auth/wechat/login", json!({"code": code})).await
}

fn good_code(server: &TestServer, openid: &str) -> String {
    server
        .wechat()
        .mint_code(&server.settings().apps[0].appid, openid, None)
}

#[tokio::test]
async fn rejected_wechat_codes_are_limited_per_address_before_wechat_is_asked() {
    let server = behind_proxy(|s| s.wechat_login_limits.failures_per_ip = 3).await;
    let calls = || server.wechat().calls(FakeEndpoint::Code2Session);
    let venue = "198.51.100.7";

    // Good logins from one address (a venue's NAT) count for nothing.
    for attendee in 0..10 {
        let code = good_code(&server, &format!("openid-{attendee}"));
        let reply = wechat_login(&server, venue, &code).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    for junk in 0..3 {
        wechat_login(&server, venue, &format!("junk-{junk}"))
            .await
            .assert_error(401, "wechat_code_invalid");
    }
    let asked = calls();
    let refused = wechat_login(&server, venue, "junk-3").await;
    refused.assert_error(429, "too_many_requests");
    assert_retry_after(&refused);
    // Over the limit, even a good code waits: the address is refused without asking WeChat.
    let code = good_code(&server, "openid-late");
    wechat_login(&server, venue, &code)
        .await
        .assert_error(429, "too_many_requests");
    assert_eq!(calls(), asked, "refused codes never reached WeChat");

    // Another address has its own budget.
    let elsewhere = wechat_login(&server, "203.0.113.9", &code).await;
    assert_eq!(elsewhere.status, 200, "{elsewhere:?}");
}

/// A code WeChat calls used (40163) when asked again after its system error (-1) may have been
/// used by the try that failed: the login is `wechat_unavailable`, and the address's budget of
/// rejected codes is not spent on it.
#[tokio::test]
async fn a_code_used_by_the_try_wechat_failed_is_not_counted_as_rejected() {
    let server = behind_proxy(|s| s.wechat_login_limits.failures_per_ip = 1).await;
    let phone = "198.51.100.8";
    let wechat = server.wechat();
    wechat.inject(FakeEndpoint::Code2Session, FakeFault::SystemError, 1);
    wechat.inject(FakeEndpoint::Code2Session, FakeFault::Errcode(40163), 1);
    let code = good_code(&server, "openid-unlucky");
    wechat_login(&server, phone, &code)
        .await
        .assert_error(502, "wechat_unavailable");

    let again = good_code(&server, "openid-unlucky");
    let reply = wechat_login(&server, phone, &again).await;
    assert_eq!(reply.status, 200, "a new code logs in: {reply:?}");
}

/// Junk codes sent all at once cannot slip past the limit before the first rejection is counted:
/// an address's codes are asked about a few (8) at a time, so at most 7 more than the limit reach
/// WeChat.
#[tokio::test]
async fn junk_codes_sent_at_once_barely_pass_the_limit() {
    let limit = 30;
    let server = &behind_proxy(|s| s.wechat_login_limits.failures_per_ip = limit).await;
    let venue = "198.51.100.8";
    let junk = (0..100).map(|n| format!("junk-at-once-{n}"));
    let replies =
        join_all(junk.map(|code| async move { wechat_login(server, venue, &code).await })).await;
    let asked = server.wechat().calls(FakeEndpoint::Code2Session);
    let rejected = replies.iter().filter(|reply| reply.status == 401).count();
    let refused = replies.iter().filter(|reply| reply.status == 429).count();
    assert_eq!(rejected + refused, 100, "{replies:?}");
    assert_eq!(rejected as u64, asked, "each code WeChat saw was rejected");
    assert!(
        (limit..limit + 8).contains(&asked),
        "{asked} junk codes reached WeChat for a limit of {limit}"
    );
}

#[tokio::test]
async fn ipv6_clients_are_limited_by_their_64() {
    let server = behind_proxy(|s| s.wechat_login_limits.failures_per_ip = 2).await;
    for host in ["2001:db8:1:2::a", "2001:db8:1:2:ffff:1:2:3"] {
        wechat_login(&server, host, "junk")
            .await
            .assert_error(401, "wechat_code_invalid");
    }
    // A third address of the same /64 (a privacy address) shares the spent budget...
    wechat_login(&server, "2001:db8:1:2::b", "junk")
        .await
        .assert_error(429, "too_many_requests");
    // ...and the next /64 does not.
    wechat_login(&server, "2001:db8:1:3::a", "junk")
        .await
        .assert_error(401, "wechat_code_invalid");

    // Scenes per address too.
    let server = behind_proxy(|s| s.scene_limits.per_ip = 2).await;
    for host in ["2001:db8::1", "2001:db8::2"] {
        let created = post_from(&server, host, "/auth/scenes", json!({})).await;
        assert_eq!(created.status, 201, "{created:?}");
    }
    post_from(&server, "2001:db8::3", "/auth/scenes", json!({}))
        .await
        .assert_error(429, "too_many_requests");
    let next = post_from(&server, "2001:db8:0:1::1", "/auth/scenes", json!({})).await;
    assert_eq!(next.status, 201, "{next:?}");
}

#[tokio::test]
async fn only_failed_password_attempts_count() {
    let server = behind_proxy(|s| {
        s.password_limits.per_ip = 2;
        s.password_limits.per_login = 3;
    })
    .await;
    server
        .add_password_user("kim@example.org", "Kim", "correct horse", &[])
        .await;
    server
        .add_password_user("lee@example.org", "Lee", "battery staple", &[])
        .await;
    let login = |client: &'static str, login: &'static str, password: &'static str| {
        post_from(
            &server,
            client,
            "/auth/login",
            json!({"login": login, "password": password, "client": "h5"}),
        )
    };
    let venue = "198.51.100.7";
    // Many good logins from one address: never limited.
    for _ in 0..5 {
        let ok = login(venue, "kim@example.org", "correct horse").await;
        assert_eq!(ok.status, 200, "{ok:?}");
    }
    // Two failures use up the address's budget, whatever login they were for.
    login(venue, "kim@example.org", "wrong")
        .await
        .assert_error(401, "invalid_credentials");
    login(venue, "nobody@example.org", "wrong")
        .await
        .assert_error(401, "invalid_credentials");
    let refused = login(venue, "lee@example.org", "battery staple").await;
    refused.assert_error(429, "too_many_attempts");
    assert_retry_after(&refused);

    // Per login: failures from anywhere add up.
    login("203.0.113.1", "lee@example.org", "wrong")
        .await
        .assert_error(401, "invalid_credentials");
    login("203.0.113.2", "lee@example.org", "wrong")
        .await
        .assert_error(401, "invalid_credentials");
    login("203.0.113.3", "lee@example.org", "wrong")
        .await
        .assert_error(401, "invalid_credentials");
    login("203.0.113.4", "lee@example.org", "battery staple")
        .await
        .assert_error(429, "too_many_attempts");
}

#[tokio::test]
async fn password_hashes_beyond_the_bound_are_answered_busy() {
    let server = TestServer::start_with(|s| {
        s.password_hashing.concurrent = 1;
        s.password_hashing.queue = 0;
        s.password_limits.per_ip = 1000;
        s.password_limits.per_login = 1000;
    })
    .await;
    server
        .add_password_user("kim@example.org", "Kim", "correct horse", &[])
        .await;
    let attempts = join_all((0..16).map(|_| {
        server.post(
            "/auth/login",
            json!({"login": "kim@example.org", "password": "correct horse", "client": "h5"}),
            None,
        )
    }))
    .await;
    let busy: Vec<&Reply> = attempts.iter().filter(|r| r.status == 503).collect();
    let served = attempts.iter().filter(|r| r.status == 200).count();
    assert!(
        !busy.is_empty() && served >= 1,
        "one hash at a time, no queue: {attempts:?}"
    );
    assert_eq!(busy.len() + served, attempts.len(), "{attempts:?}");
    for reply in busy {
        reply.assert_error(503, "server_busy");
        assert_retry_after(reply);
    }
    // Shedding load is not a store outage.
    assert!(
        server
            .service()
            .metrics()
            .render()
            .contains("meeteasy_store_errors_total 0"),
        "{}",
        server.service().metrics().render()
    );
    // Once the flood is over, logins are served again.
    let after = server
        .post(
            "/auth/login",
            json!({"login": "kim@example.org", "password": "correct horse", "client": "h5"}),
            None,
        )
        .await;
    assert_eq!(after.status, 200, "{after:?}");
}

#[tokio::test]
async fn wxacode_scenes_are_limited_per_app_across_addresses() {
    let server = behind_proxy(|s| {
        s.apps[0].qr_mode = QrMode::Wxacode;
        s.scene_limits.per_app = 3;
        s.scene_limits.window = Duration::from_secs(60);
    })
    .await;
    let wxacode_app = server.settings().apps[0].key.clone();
    let url_app = server.settings().apps[1].key.clone();
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let created = post_from(&server, client, "/auth/scenes", json!({"app": wxacode_app})).await;
        assert_eq!(created.status, 201, "{created:?}");
    }
    let refused = post_from(
        &server,
        "198.51.100.4",
        "/auth/scenes",
        json!({"app": wxacode_app}),
    )
    .await;
    refused.assert_error(429, "too_many_requests");
    assert_retry_after(&refused);
    // A `url` app's QR costs WeChat nothing: not limited per app.
    for client in [
        "198.51.100.5",
        "198.51.100.6",
        "198.51.100.7",
        "198.51.100.8",
    ] {
        let created = post_from(&server, client, "/auth/scenes", json!({"app": url_app})).await;
        assert_eq!(created.status, 201, "{created:?}");
    }
}

#[tokio::test]
async fn scene_creation_takes_json_only() {
    let server = TestServer::start_dev().await;
    let create = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = server.http().post(server.url("/auth/scenes")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        api::send(request)
    };
    // What a page on another site can send without a CORS preflight: a form, text, or nothing.
    for (content_type, body) in [
        (None, ""),
        (Some("application/x-www-form-urlencoded"), "device_name=x"),
        (Some("multipart/form-data; boundary=b"), "--b--\r\n"),
        (Some("text/plain"), r#"{"device_name": "x"}"#),
    ] {
        let refused = create(content_type, body).await;
        refused.assert_error(400, "invalid_request");
        assert!(
            refused.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("application/json")),
            "{refused:?}"
        );
    }
    // JSON, also empty (every field is optional) and with parameters.
    for (content_type, body) in [
        ("application/json", ""),
        ("application/json", "{}"),
        (
            "application/json; charset=utf-8",
            r#"{"device_name": "Desk"}"#,
        ),
    ] {
        let created = create(Some(content_type), body).await;
        assert_eq!(created.status, 201, "{content_type} {body:?}: {created:?}");
    }
}
