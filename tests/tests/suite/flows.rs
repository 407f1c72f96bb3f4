//! Every flow of the contract over real HTTP against a dev-mode server on the embedded store:
//! tickets, scan login, password login, tokens, restart, shutdown.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use futures_util::future::join_all;
use meeteasy_protocol::{CreateSceneResponse, Jwks, LoginTicketResponse, Secret, TokenResponse};
use meeteasy_tests::server::TestServer;
use meeteasy_tests::test_ca::TestCa;
use serde_json::{Value, json};

pub async fn create_scene(server: &TestServer) -> CreateSceneResponse {
    let reply = server
        .post("/auth/scenes", json!({"device_name": "Front desk"}), None)
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.json()
}

pub fn islogin_path(scene: &CreateSceneResponse, wait: u64) -> String {
    format!("/auth/scenes/{}/islogin?wait={wait}", scene.scene)
}

pub fn scene_path(scene: &CreateSceneResponse, action: &str) -> String {
    format!("/auth/scenes/{}/{action}", scene.scene)
}

pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

#[tokio::test]
async fn a_login_ticket_is_exchanged_exactly_once() {
    let server = TestServer::start_dev().await;
    let login = server.dev_login("alice").await;
    assert_eq!(login.login_ticket_expires_in, 120);
    assert!(login.user.roles.contains(&"organizer".to_owned()));
    let exchange = json!({"login_ticket": login.login_ticket});
    let first = server
        .post("/auth/login-ticket/exchange", exchange.clone(), None)
        .await;
    assert_eq!(first.status, 200, "{first:?}");
    // A token is no answer for a cache to keep (RFC 6749 5.1).
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let token: TokenResponse = first.json();
    assert_eq!(token.user.id, login.user.id);
    assert_eq!(claims_of(&token.access_token)["aud"], "h5");
    assert_eq!(claims_of(&token.access_token)["amr"], json!(["ticket"]));
    server
        .post("/auth/login-ticket/exchange", exchange, None)
        .await
        .assert_error(401, "ticket_used");
    // Never issued: a ticket's shape with another's sealed part, one altered, and no shape at all.
    let fresh = server.dev_login("alice").await.login_ticket;
    let (hint_and_salt, _sealed) = fresh.rsplit_once('.').expect("a sealed ticket");
    let (_, sealed) = login
        .login_ticket
        .rsplit_once('.')
        .expect("a sealed ticket");
    let mut altered = fresh.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ASCII");
    for never_issued in [
        format!("{hint_and_salt}.{sealed}"),
        altered,
        "A".repeat(43),
        "not a ticket".to_owned(),
    ] {
        server
            .post(
                "/auth/login-ticket/exchange",
                json!({ "login_ticket": never_issued }),
                None,
            )
            .await
            .assert_error(401, "ticket_invalid");
    }
    let exchanged = server
        .post(
            "/auth/login-ticket/exchange",
            json!({ "login_ticket": fresh }),
            None,
        )
        .await;
    assert_eq!(
        exchanged.status, 200,
        "not spent by the forgeries: {exchanged:?}"
    );
}

#[tokio::test]
async fn of_fifty_concurrent_exchanges_one_wins() {
    let server = TestServer::start_dev().await;
    let login = server.dev_login("bob").await;
    let body = json!({"login_ticket": login.login_ticket});
    let replies =
        join_all((0..50).map(|_| server.post("/auth/login-ticket/exchange", body.clone(), None)))
            .await;
    let winners = replies.iter().filter(|r| r.status == 200).count();
    let used = replies.iter().filter(|r| r.code() == "ticket_used").count();
    assert_eq!((winners, used), (1, 49), "{replies:?}");
}

#[tokio::test]
async fn an_expired_ticket_says_so() {
    let server =
        TestServer::start_with(|s| s.lifetimes.login_ticket = Duration::from_secs(1)).await;
    let login = server.dev_login("carol").await;
    let issued = Instant::now();
    // A ticket of one second ends when the clock's second turns: one minted as it turns is tried
    // again with the next.
    let mut spent = None;
    for _ in 0..3 {
        let ticket = json!({ "login_ticket": server.dev_login("carol").await.login_ticket });
        let exchanged = server
            .post("/auth/login-ticket/exchange", ticket.clone(), None)
            .await;
        if exchanged.status == 200 {
            spent = Some(ticket);
            break;
        }
        exchanged.assert_error(401, "ticket_expired");
    }
    let spent = spent.expect("a ticket exchanged within its second");
    // Only the clock can make a ticket expire: wait until a whole second has certainly passed.
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(issued.elapsed())).await;
    let body = json!({"login_ticket": login.login_ticket});
    server
        .post("/auth/login-ticket/exchange", body, None)
        .await
        .assert_error(401, "ticket_expired");
    // A used ticket says so past its end too.
    server
        .post("/auth/login-ticket/exchange", spent, None)
        .await
        .assert_error(401, "ticket_used");
}

#[tokio::test]
async fn any_token_mints_a_fresh_ticket_for_its_user() {
    let server = TestServer::start_dev().await;
    let login = server.dev_login("dan").await;
    let minted = server
        .post_empty("/auth/login-ticket", Some(&login.access_token))
        .await;
    assert_eq!(minted.status, 201, "{minted:?}");
    let ticket: LoginTicketResponse = minted.json();
    assert_ne!(ticket.login_ticket, login.login_ticket);
    let exchanged = server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": ticket.login_ticket}),
            None,
        )
        .await;
    assert_eq!(exchanged.json::<TokenResponse>().user.id, login.user.id);
    server
        .post_empty("/auth/login-ticket", None)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn scan_login_reaches_the_waiting_console_at_once() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    assert_eq!((scene.expires_in, scene.interval), (120, 2));
    assert_eq!(
        scene.qr.content.as_deref(),
        Some(format!("{}/m/scan/{}", server.base_url, scene.scene).as_str())
    );
    let phone = server.dev_login("erin").await;

    // The console waits; the scan wakes it with the scanner's name.
    let long_poll = islogin_path(&scene, 30);
    let waiting = server.get(&long_poll, Some(&scene.poll_token));
    let scan = async {
        // The console is certainly waiting once the server counts a waiter.
        wait_for_waiters(&server, 1).await;
        let started = Instant::now();
        let reply = server
            .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
            .await;
        (reply, started)
    };
    let (polled, (scanned, scanned_at)) = tokio::join!(waiting, scan);
    assert_eq!(scanned.status, 200, "{scanned:?}");
    assert_eq!(scanned.body["console"]["device_name"], "Front desk");
    assert_eq!(scanned.body["console"]["ip"], "127.0.0.1");
    assert_eq!(scanned.body["app"], "attendee");
    assert_eq!(
        polled.body,
        json!({"status": "scanned", "user": {"display_name": "erin", "avatar_url": null}})
    );
    assert!(
        scanned_at.elapsed() < Duration::from_secs(2),
        "woke in {:?}",
        scanned_at.elapsed()
    );

    // Another user cannot take the scene over.
    let intruder = server.dev_login("frank").await;
    server
        .post_empty(&scene_path(&scene, "scan"), Some(&intruder.access_token))
        .await
        .assert_error(409, "scene_claimed");
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&intruder.access_token))
        .await
        .assert_error(409, "scene_claimed");

    // The confirm delivers the console's token once.
    let waiting = server.get(&long_poll, Some(&scene.poll_token));
    let confirm = async {
        wait_for_waiters(&server, 1).await;
        server
            .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
            .await
    };
    let (polled, confirmed) = tokio::join!(waiting, confirm);
    assert_eq!(confirmed.status, 204, "{confirmed:?}");
    assert_eq!(polled.body["status"], "confirmed", "{polled:?}");
    let token: TokenResponse = serde_json::from_value(polled.body.clone()).expect("a token answer");
    let claims = claims_of(&token.access_token);
    assert_eq!(
        (claims["aud"].as_str(), claims["sub"].as_str()),
        (Some("console"), Some(phone.user.id.as_str()))
    );
    assert_eq!(token.expires_in, 7 * 86_400);
    // The console's poll token can collect the same session again for a while (an answer lost on
    // its way), and nobody else can.
    let again = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(again.body["status"], "confirmed", "{again:?}");
    assert_eq!(
        claims_of(again.body["access_token"].as_str().unwrap_or_default())["sid"],
        claims["sid"]
    );
    server
        .get(&islogin_path(&scene, 0), Some(&intruder.access_token))
        .await
        .assert_error(401, "invalid_poll_token");
    // The phone's confirm sent again (its answer lost) is told it was made; to any other step the
    // delivered scene is over.
    let resent = server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await;
    assert_eq!(resent.status, 204, "{resent:?}");
    server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await
        .assert_error(410, "scene_expired");
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&intruder.access_token))
        .await
        .assert_error(410, "scene_expired");

    // The console's session works until it logs out.
    let me = server.get("/auth/me", Some(&token.access_token)).await;
    assert_eq!(me.body["display_name"], "erin");
    let verified = server
        .post(
            "/auth/jwt/verify",
            json!({"token": token.access_token}),
            None,
        )
        .await;
    assert_eq!(
        (verified.status, verified.body["valid"].as_bool()),
        (200, Some(true))
    );
    assert_eq!(
        server
            .post_empty("/auth/logout", Some(&token.access_token))
            .await
            .status,
        204
    );
    server
        .post(
            "/auth/jwt/verify",
            json!({"token": token.access_token}),
            None,
        )
        .await
        .assert_error(401, "token_revoked");
    server
        .get("/auth/me", Some(&token.access_token))
        .await
        .assert_error(401, "token_revoked");
    // The phone's own session is another one and stays valid.
    assert_eq!(
        server
            .get("/auth/me", Some(&phone.access_token))
            .await
            .status,
        200
    );
}

/// A JWT's header, decoded without checking anything.
pub fn jwt_header(token: &str) -> Value {
    let header_b64 = token.split('.').next().unwrap_or_default();
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(header_b64)
            .expect("base64url header"),
    )
    .expect("a JSON header")
}

/// Waits until the server counts at least `count` waiting long-polls.
pub async fn wait_for_waiters(server: &TestServer, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = server
            .service()
            .metrics()
            .render()
            .lines()
            .find_map(|line| line.strip_prefix("meeteasy_islogin_waiters "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if waiting >= count {
            return;
        }
        assert!(Instant::now() < deadline, "no waiting long-poll after 10 s");
        // Not a spin: the server this waits for shares the machine's two cores.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_declined_scan_denies_the_console() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let phone = server.dev_login("gina").await;
    assert_eq!(
        server
            .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .post_empty(&scene_path(&scene, "cancel"), Some(&phone.access_token))
            .await
            .status,
        204
    );
    server
        .get(&islogin_path(&scene, 5), Some(&scene.poll_token))
        .await
        .assert_error(403, "access_denied");
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await
        .assert_error(410, "scene_expired");
}

#[tokio::test]
async fn a_user_without_the_organizer_role_cannot_log_a_console_in() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let guest = server.dev_login("guest-hal").await;
    assert!(guest.user.roles.is_empty());
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&guest.access_token))
        .await
        .assert_error(403, "not_organizer");
    // The console gets the contract's access_denied, with the finer reason as an extension.
    let denied = server
        .get(&islogin_path(&scene, 5), Some(&scene.poll_token))
        .await;
    denied.assert_error(403, "access_denied");
    assert_eq!(denied.body["reason"], "not_organizer", "{denied:?}");
}

#[tokio::test]
async fn the_one_step_mini_program_login_confirms_a_scene() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let login = server
        .post(
            "/auth/wechat/login",
            json!({"code": "dev:ivy", "scene": scene.scene}),
            None,
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    assert!(login.body.get("scene_error").is_none(), "{login:?}");
    let polled = server
        .get(&islogin_path(&scene, 5), Some(&scene.poll_token))
        .await;
    assert_eq!(polled.body["status"], "confirmed", "{polled:?}");
    assert_eq!(polled.body["user"]["display_name"], "ivy");
}

#[tokio::test]
async fn a_one_step_login_keeps_the_session_when_its_scene_fails() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let guest = server
        .post(
            "/auth/wechat/login",
            json!({"code": "dev:guest-ida", "scene": scene.scene}),
            None,
        )
        .await;
    assert_eq!(guest.status, 200, "the login itself stands: {guest:?}");
    assert_eq!(
        guest.body["scene_error"]["error"], "not_organizer",
        "{guest:?}"
    );
    assert!(guest.body["access_token"].is_string() && guest.body["login_ticket"].is_string());
    let stale = server
        .post(
            "/auth/wechat/login",
            json!({"code": "dev:jan", "scene": "0".repeat(32)}),
            None,
        )
        .await;
    assert_eq!(
        stale.body["scene_error"]["error"], "scene_expired",
        "{stale:?}"
    );
    // A malformed scene is refused before the code is spent.
    server
        .post(
            "/auth/wechat/login",
            json!({"code": "dev:jan", "scene": "../x"}),
            None,
        )
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn of_concurrent_polls_of_a_confirmed_scene_all_get_its_one_session() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let phone = server.dev_login("kai").await;
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await;
    let path = islogin_path(&scene, 5);
    let polls = join_all((0..8).map(|_| server.get(&path, Some(&scene.poll_token)))).await;
    let mut sessions: Vec<Value> = polls
        .iter()
        .map(|poll| {
            assert_eq!(poll.body["status"], "confirmed", "{poll:?}");
            claims_of(poll.body["access_token"].as_str().unwrap_or_default())["sid"].clone()
        })
        .collect();
    sessions.dedup();
    assert_eq!(sessions.len(), 1, "one session: {sessions:?}");
}

/// The console takes back a scene it made, by its poll token: the phone that scanned it then
/// finds it gone. Another token takes back nothing.
#[tokio::test]
async fn a_console_withdraws_its_scene_and_the_phone_finds_it_gone() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let phone = server.dev_login("wes").await;
    let scanned = server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await;
    assert_eq!(scanned.status, 200, "{scanned:?}");
    server
        .post_empty(&scene_path(&scene, "withdraw"), Some(&"x".repeat(43)))
        .await
        .assert_error(401, "invalid_poll_token");
    let withdrawn = server
        .post_empty(&scene_path(&scene, "withdraw"), Some(&scene.poll_token))
        .await;
    assert_eq!(withdrawn.status, 204, "{withdrawn:?}");
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await
        .assert_error(410, "scene_expired");
}

#[tokio::test]
async fn a_delivered_scene_is_gone_once_its_redelivery_time_is_over() {
    let server =
        TestServer::start_with(|s| s.lifetimes.delivered_scene = Duration::from_secs(1)).await;
    let scene = create_scene(&server).await;
    let phone = server.dev_login("kai").await;
    server
        .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
        .await;
    let delivered = server
        .get(&islogin_path(&scene, 5), Some(&scene.poll_token))
        .await;
    assert_eq!(delivered.body["status"], "confirmed", "{delivered:?}");
    // Whole seconds: up to two.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    server
        .get(&islogin_path(&scene, 5), Some(&scene.poll_token))
        .await
        .assert_error(410, "scene_expired");
}

/// A console polls one request at a time: a second concurrent long-poll of the scene (the console
/// retrying over a connection the server still holds, or a client misbehaving) takes over, and the
/// first answers at once, so a poll token holds one waiting connection, not any number.
#[tokio::test]
async fn a_newer_long_poll_takes_over_from_an_older_one() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let long_poll = islogin_path(&scene, 30);
    let older = server.get(&long_poll, Some(&scene.poll_token));
    let (older_answered, mut older_done) = tokio::sync::oneshot::channel();
    let older = async {
        let started = Instant::now();
        let reply = older.await;
        // Nobody to tell only if the test already failed.
        let _unheard = older_answered.send(());
        (reply, started.elapsed())
    };
    let newer = async {
        wait_for_waiters(&server, 1).await;
        // Someone without the poll token cannot cut the console's wait short. (That the older poll
        // goes on waiting can only be seen over some time: a moment is given.)
        server
            .get(&long_poll, Some("not-the-poll-token-0123456789abcdefghij"))
            .await
            .assert_error(401, "invalid_poll_token");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut older_done)
                .await
                .is_err(),
            "a request without the poll token ended the console's wait"
        );
        let newer = server.get(&long_poll, Some(&scene.poll_token));
        let scan = async {
            older_done.await.expect("the older poll answers");
            // Now the only poll that can be waiting is the newer one.
            wait_for_waiters(&server, 1).await;
            let phone = server.dev_login("gail").await;
            let reply = server
                .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
                .await;
            assert_eq!(reply.status, 200, "{reply:?}");
        };
        tokio::join!(newer, scan).0
    };
    let ((older, older_took), newer) = tokio::join!(older, newer);
    assert_eq!(older.body, json!({"status": "pending"}), "{older:?}");
    assert!(older_took < Duration::from_secs(10), "took {older_took:?}");
    // The newer poll is the one still waiting: the scan wakes it.
    assert_eq!(newer.body["status"], "scanned", "{newer:?}");
}

#[tokio::test]
async fn polling_is_for_the_poll_token_holder_at_the_given_pace() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let other = create_scene(&server).await;
    server
        .get(&islogin_path(&scene, 0), Some(&other.poll_token))
        .await
        .assert_error(401, "invalid_poll_token");
    server
        .get(&islogin_path(&scene, 0), None)
        .await
        .assert_error(401, "invalid_poll_token");
    let first = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(first.body, json!({"status": "pending"}));
    let second = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    second.assert_error(429, "slow_down");
    assert_eq!(second.header("retry-after"), Some("2"));
    // A long-poll is never too fast: it paces itself.
    let started = Instant::now();
    let waited = server
        .get(&islogin_path(&scene, 1), Some(&scene.poll_token))
        .await;
    assert_eq!(waited.body, json!({"status": "pending"}));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_waiting_console_learns_of_expiry_when_it_happens() {
    let server = TestServer::start_with(|s| s.lifetimes.scene = Duration::from_secs(2)).await;
    let scene = create_scene(&server).await;
    let started = Instant::now();
    server
        .get(&islogin_path(&scene, 30), Some(&scene.poll_token))
        .await
        .assert_error(410, "scene_expired");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered after {:?}",
        started.elapsed()
    );
    let phone = server.dev_login("jo").await;
    server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await
        .assert_error(410, "scene_expired");
}

#[tokio::test]
async fn password_login_gives_one_answer_for_every_failure_and_limits_attempts() {
    let server = TestServer::start_with(|s| s.password_limits.per_login = 2).await;
    server
        .add_password_user("kim@example.org", "Kim", "correct horse", &["organizer"])
        .await;
    let login = |login: &str, password: &str, client: &str| {
        server.post(
            "/auth/login",
            json!({"login": login, "password": password, "client": client}),
            None,
        )
    };
    let ok = login("KIM@example.org", "correct horse", "console").await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(
        claims_of(ok.body["access_token"].as_str().unwrap_or_default())["aud"],
        "console"
    );
    assert_eq!(ok.body["user"]["roles"], json!(["organizer"]));
    let wrong = login("kim@example.org", "wrong", "h5").await;
    wrong.assert_error(401, "invalid_credentials");
    let unknown = login("nobody@example.org", "wrong", "h5").await;
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));
    // Only failures count: the good login above did not, the second wrong password reaches the limit.
    login("kim@example.org", "wrong again", "h5")
        .await
        .assert_error(401, "invalid_credentials");
    let limited = login("kim@example.org", "correct horse", "h5").await;
    limited.assert_error(429, "too_many_attempts");
    assert!(
        limited
            .header("retry-after")
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s > 0)
    );
}

#[tokio::test]
async fn tokens_verify_offline_with_the_published_keys() {
    let server = TestServer::start_dev().await;
    let login = server.dev_login("lee").await;
    let published = server.get("/.well-known/jwks.json", None).await;
    // Verifiers keep it a minute, not fetch it for every token.
    let cached = published.header("cache-control");
    assert_eq!(cached, Some("public, max-age=60"));
    let jwks: Jwks = published.json();
    assert_eq!(jwks.keys.len(), 2, "the current and the next key");
    let (signed_part, signature_b64) = login.access_token.rsplit_once('.').expect("a JWT");
    let header = jwt_header(&login.access_token);
    assert_eq!(header["alg"], "EdDSA");
    let key = jwks
        .keys
        .iter()
        .find(|k| header["kid"] == k.kid.as_str())
        .expect("the kid is published");
    assert_eq!(
        (key.kty.as_str(), key.crv.as_str(), key.alg.as_str()),
        ("OKP", "Ed25519", "EdDSA")
    );
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&key.x)
        .expect("b64")
        .try_into()
        .expect("32 bytes");
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .expect("b64")
        .try_into()
        .expect("64 bytes");
    VerifyingKey::from_bytes(&public)
        .expect("a valid key")
        .verify_strict(signed_part.as_bytes(), &Signature::from_bytes(&signature))
        .expect("the signature verifies offline");
    let claims = claims_of(&login.access_token);
    // This server runs in dev mode: its tokens say so, and verify nowhere else.
    assert_eq!(claims["iss"], format!("{}#dev", server.base_url));
    for claim in ["sub", "sid", "iat", "exp", "amr"] {
        assert!(!claims[claim].is_null(), "claim {claim} in {claims}");
    }
    // A token signed by another server's keys is refused.
    let other = TestServer::start_dev().await;
    let foreign = other.dev_login("lee").await;
    server
        .post(
            "/auth/jwt/verify",
            json!({"token": foreign.access_token}),
            None,
        )
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn the_embedded_store_keeps_users_keys_and_sessions_across_a_restart() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A restarted server keeps its public URL (the tokens' issuer); only the test's port changes.
    let same_origin = |s: &mut meeteasy_auth::config::Settings| {
        s.public_url = "https://auth.meeteasy.test".into()
    };
    let first = TestServer::start_in(dir.path(), same_origin).await;
    let login = first.dev_login("max").await;
    first
        .add_password_user("+86 138 0000 1111", "Max", "pw-of-max", &[])
        .await;
    let logged_out = first.dev_login("max").await;
    assert_eq!(
        first
            .post_empty("/auth/logout", Some(&logged_out.access_token))
            .await
            .status,
        204
    );
    first.stop().await;

    let second = TestServer::start_in(dir.path(), same_origin).await;
    let me = second.get("/auth/me", Some(&login.access_token)).await;
    assert_eq!(me.body["id"], login.user.id.as_str(), "{me:?}");
    second
        .get("/auth/me", Some(&logged_out.access_token))
        .await
        .assert_error(401, "token_revoked");
    assert_eq!(second.dev_login("max").await.user.id, login.user.id);
    let password = second
        .post(
            "/auth/login",
            json!({"login": "+8613800001111", "password": "pw-of-max", "client": "h5"}),
            None,
        )
        .await;
    assert_eq!(password.status, 200, "{password:?}");
}

#[tokio::test]
async fn shutting_down_answers_waiting_long_polls() {
    let server = TestServer::start_dev().await;
    let scene = create_scene(&server).await;
    let client = server.http().clone();
    let url = server.url(&islogin_path(&scene, 30));
    let poll =
        tokio::spawn(async move { client.get(url).bearer_auth(&scene.poll_token).send().await });
    wait_for_waiters(&server, 1).await;
    let started = Instant::now();
    server.stop().await;
    let answer = poll
        .await
        .expect("the poll task")
        .expect("the long-poll was answered");
    assert_eq!(answer.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shut down in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn operations_endpoints_report_health_readiness_and_metrics() {
    const SCRAPER: &str = "a-scraper-token-of-some-length";
    let server = TestServer::start_with(|settings| {
        settings.metrics_token = Some(Secret::new(SCRAPER));
    })
    .await;
    assert_eq!(server.get("/healthz", None).await.status, 200);
    assert_eq!(server.get("/readyz", None).await.status, 200);
    server.dev_login("ned").await;
    for wrong in [None, Some("a-guess")] {
        let refused = server.get("/metrics", wrong).await;
        assert_eq!(refused.status, 401, "{wrong:?}");
        assert_eq!(refused.body["error"], "invalid_token");
    }
    let metrics = server
        .http()
        .get(server.url("/metrics"))
        .bearer_auth(SCRAPER)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("meeteasy_logins_total{method=\"wechat\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "meeteasy_http_requests_total{route=\"/auth/wechat/login\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("meeteasy_islogin_waiters 0"), "{metrics}");
}

#[tokio::test]
async fn metrics_are_off_the_listener_unless_a_token_is_configured() {
    let server = TestServer::start_dev().await;
    for bearer in [None, Some("anything-at-all-really")] {
        let reply = server.get("/metrics", bearer).await;
        assert_eq!(reply.status, 404, "{bearer:?}");
        assert_eq!(reply.body["error"], "not_found");
    }
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let certs = TestCa::issue();
    let (cert, key) = (certs.cert(), certs.key());
    let tls = meeteasy_auth::config::TlsSettings { cert, key };
    let server = TestServer::start_with(|s| s.tls = Some(tls)).await;
    let root = reqwest::Certificate::from_pem(&std::fs::read(certs.ca()).expect("CA"))
        .expect("a PEM certificate");
    let client = reqwest::Client::builder()
        .tls_certs_only([root])
        .no_proxy()
        .build()
        .expect("a TLS client");
    let url = format!("https://127.0.0.1:{}/healthz", server.addr.port());
    let answer = client.get(&url).send().await.expect("an HTTPS answer");
    assert_eq!(answer.status(), 200);
    // Plain HTTP on the TLS port gets no answer it could mistake for one.
    assert!(
        server
            .http()
            .get(format!("http://127.0.0.1:{}/healthz", server.addr.port()))
            .send()
            .await
            .is_err()
    );
}

/// The console address a phone is shown for a scene created with this `X-Forwarded-For` (bytes:
/// a client may send ones that are no text).
async fn console_ip(server: &TestServer, forwarded: impl AsRef<[u8]>) -> String {
    let forwarded =
        reqwest::header::HeaderValue::from_bytes(forwarded.as_ref()).expect("a header value");
    let request = server
        .http()
        .post(server.url("/auth/scenes"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({}));
    let scene: CreateSceneResponse = meeteasy_tests::api::send(request).await.json();
    let phone = server.dev_login("uma").await;
    let scanned = server
        .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
        .await;
    scanned.body["console"]["ip"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_console_address_is_the_forwarded_one() {
    let proxied = TestServer::start_with(|s| s.trusted_proxies = vec![[127, 0, 0, 1].into()]).await;
    let direct = TestServer::start_dev().await;
    assert_eq!(
        console_ip(&proxied, "198.51.100.7, 127.0.0.1").await,
        "198.51.100.7"
    );
    assert_eq!(
        console_ip(&proxied, "garbage, 203.0.113.5").await,
        "203.0.113.5"
    );
    // A hop that is no text, sent by the client before the one the proxy appended, hides nothing.
    assert_eq!(
        console_ip(&proxied, b"\xff, 198.51.100.9").await,
        "198.51.100.9"
    );
    // Without a trusted proxy in front, the header is anyone's to forge and is ignored.
    assert_eq!(console_ip(&direct, "198.51.100.7").await, "127.0.0.1");
}

#[tokio::test]
async fn on_a_dual_stack_listener_an_ipv4_proxy_is_still_trusted() {
    // On `[::]`, IPv4 peers arrive as `::ffff:a.b.c.d`.
    let listener = match tokio::net::TcpListener::bind("[::]:0").await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "SKIPPED: this machine cannot listen on [::] ({error}); the dual-stack case is untested here"
            );
            return;
        }
    };
    let port = listener.local_addr().expect("a bound address").port();
    if tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        eprintln!(
            "SKIPPED: [::] does not take IPv4 here (IPV6_V6ONLY); the dual-stack case is untested here"
        );
        return;
    }
    let server = TestServer::start_listening(listener, |s| {
        s.trusted_proxies = vec![[127, 0, 0, 1].into()]
    })
    .await;
    assert_eq!(
        console_ip(&server, "198.51.100.7").await,
        "198.51.100.7",
        "the IPv4 proxy, seen as ::ffff:127.0.0.1, is trusted"
    );
    // A forwarded IPv4-mapped hop is that IPv4 address too, trusted proxy included.
    assert_eq!(
        console_ip(&server, "203.0.113.9, ::ffff:127.0.0.1").await,
        "203.0.113.9"
    );
    // Untrusted: the peer itself, shown as the IPv4 address it is.
    let untrusted = TestServer::start_listening(
        tokio::net::TcpListener::bind("[::]:0")
            .await
            .expect("[::] again"),
        |_| {},
    )
    .await;
    assert_eq!(console_ip(&untrusted, "198.51.100.7").await, "127.0.0.1");
}
