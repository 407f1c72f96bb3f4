//! Several server instances on one real Redis, and Redis going away and coming back.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use meeteasy_auth::config::StoreLocation;
use meeteasy_auth::domain::{Admin, Rotation};
use meeteasy_auth::http::pages::PageAddOns;
use meeteasy_auth::key_sealing::KeyEncryptionKey;
use meeteasy_auth::server::Server;
use meeteasy_protocol::{CreateSceneResponse, Jwks, Secret};
use meeteasy_tests::redis_deployments::RedisCluster;
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::server::{TestServer, dev_settings, redis_store};
use serde_json::json;

use crate::flows::{islogin_path, jwt_header, scene_path, wait_for_waiters};

pub async fn two_instances(redis: &RedisServer) -> (TestServer, TestServer) {
    two_instances_on(redis_store(&redis.url())).await
}

async fn two_instances_on(store: StoreLocation) -> (TestServer, TestServer) {
    // Both instances are one deployment behind a load balancer: one public URL, one issuer.
    let deployment = |s: &mut meeteasy_auth::config::Settings| {
        s.store = store.clone();
        s.public_url = "https://auth.meeteasy.test".into();
    };
    (
        TestServer::start_with(deployment).await,
        TestServer::start_with(deployment).await,
    )
}

#[tokio::test]
async fn a_confirm_on_one_instance_wakes_the_console_waiting_on_another() {
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis).await;
    confirm_on_one_wakes_the_other(&a, &b).await;
}

/// Every flow on a Cluster, its steps spread over two instances as a load balancer would spread
/// them: the wake-up travels over sharded pub/sub on the scene's slot, a ticket is exchanged
/// exactly once, a password login on one verifies on the other, and the sessions' and the team's
/// flows hold across the two (a chain dying with its root at any depth, invites, removal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_two_instances_run_every_flow() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("the cluster starts");
    let (a, b) = two_instances_on(StoreLocation::Redis(cluster.settings())).await;
    confirm_on_one_wakes_the_other(&a, &b).await;
    confirm_on_one_wakes_the_other(&b, &a).await;
    exchanges_across_instances_have_one_winner(&a, &b).await;
    password_login_on_one_holds_on_the_other(&a, &b).await;
    crate::sessions::across_two_instances(&a, &b).await;
    crate::team::across_two_instances(&a, &b).await;
}

async fn password_login_on_one_holds_on_the_other(a: &TestServer, b: &TestServer) {
    let (login, password) = ("pia@example.org", "pia's long password");
    b.add_password_user(login, "Pia", password, &["organizer"])
        .await;
    let body = json!({"login": login, "password": password, "client": "console"});
    let reply = a.post("/auth/login", body, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.body["access_token"].as_str().unwrap_or_default();
    let me = b.get("/auth/me", Some(token)).await;
    assert_eq!(me.body["display_name"], "Pia", "{me:?}");
}

async fn confirm_on_one_wakes_the_other(a: &TestServer, b: &TestServer) {
    let scene: CreateSceneResponse = a.post("/auth/scenes", json!({}), None).await.json();
    let phone = a.dev_login("pat").await;
    let long_poll = islogin_path(&scene, 30);
    let waiting = b.get(&long_poll, Some(&scene.poll_token));
    let scan_on_a = async {
        wait_for_waiters(b, 1).await;
        let started = Instant::now();
        assert_eq!(
            a.post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
                .await
                .status,
            200
        );
        started
    };
    let (polled, started) = tokio::join!(waiting, scan_on_a);
    assert_eq!(polled.body["status"], "scanned", "{polled:?}");
    // Far below the long-poll's 30 s, and clear of a loaded machine's replica acknowledgements.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woke after {:?}",
        started.elapsed()
    );

    let waiting = b.get(&long_poll, Some(&scene.poll_token));
    let confirm_on_a = async {
        wait_for_waiters(b, 1).await;
        a.post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
            .await
    };
    let (polled, confirmed) = tokio::join!(waiting, confirm_on_a);
    assert_eq!(confirmed.status, 204);
    assert_eq!(polled.body["status"], "confirmed", "{polled:?}");
    // Keys are shared: the token issued by B verifies on A; a logout on A holds on B.
    let token = polled.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(a.get("/auth/me", Some(&token)).await.status, 200);
    assert_eq!(a.post_empty("/auth/logout", Some(&token)).await.status, 204);
    b.get("/auth/me", Some(&token))
        .await
        .assert_error(401, "token_revoked");
}

/// Waits until `server` publishes exactly `expected` (current, next, retired).
async fn wait_for_published_keys(server: &TestServer, expected: &[&str]) {
    // Notified through Redis: well before the once-a-minute re-read.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let jwks: Jwks = server.get("/.well-known/jwks.json", None).await.json();
        let kids: Vec<&str> = jwks.keys.iter().map(|key| key.kid.as_str()).collect();
        if kids == expected {
            return;
        }
        assert!(Instant::now() < deadline, "still publishing {kids:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `meeteasy-auth keys rotate [--compromised]` is `Admin::rotate_keys` on the store; here it runs
/// beside two live instances, which must switch at once: after a scheduled rotation they keep
/// accepting what was signed (and login tickets sealed) before, after a compromised one nothing
/// of it.
#[tokio::test]
async fn key_rotations_reach_every_instance_at_once() {
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis).await;
    let admin = Admin::new(a.store().clone());
    let before = a.dev_login("quinn").await;
    let signed_before = before.access_token;
    let ticket_before_compromise = a.dev_login("quinn").await.login_ticket;
    let rotated = admin
        .rotate_keys(Rotation::Scheduled, None)
        .await
        .expect("rotated");
    let old_kid = jwt_header(&signed_before)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(rotated.retired, [old_kid.as_str()]);
    for server in [&a, &b] {
        wait_for_published_keys(server, &[&rotated.current, &rotated.next, &old_kid]).await;
    }
    let signed_after = b.dev_login("quinn").await.access_token;
    assert_eq!(jwt_header(&signed_after)["kid"], rotated.current.as_str());
    for server in [&a, &b] {
        for token in [&signed_before, &signed_after] {
            assert_eq!(server.get("/auth/me", Some(token)).await.status, 200);
        }
    }
    let exchange = json!({"login_ticket": before.login_ticket});
    let exchanged = b.post("/auth/login-ticket/exchange", exchange, None).await;
    assert_eq!(exchanged.status, 200, "{:?}", exchanged.body);

    let replaced = admin
        .rotate_keys(Rotation::Compromised, None)
        .await
        .expect("replaced");
    assert!(replaced.retired.is_empty());
    for server in [&a, &b] {
        wait_for_published_keys(server, &[&replaced.current, &replaced.next]).await;
        for token in [&signed_before, &signed_after] {
            server
                .get("/auth/me", Some(token))
                .await
                .assert_error(401, "invalid_token");
        }
    }
    let exchange = json!({"login_ticket": ticket_before_compromise});
    b.post("/auth/login-ticket/exchange", exchange, None)
        .await
        .assert_error(401, "ticket_invalid");
}

fn key_encryption_key(base64: &str) -> KeyEncryptionKey {
    KeyEncryptionKey::from_base64(&Secret::new(base64)).expect("a valid key-encryption key")
}

/// A dev-mode deployment on `redis` whose signing keys are sealed with `kek` (or kept in clear).
fn sealed_deployment(
    redis: &RedisServer,
    kek: Option<KeyEncryptionKey>,
) -> impl FnOnce(&mut meeteasy_auth::config::Settings) {
    let url = redis.url();
    move |settings| {
        settings.store = redis_store(&url);
        // One deployment, one issuer, whatever port an instance got.
        settings.public_url = "https://auth.meeteasy.test".into();
        settings.key_encryption_key = kek;
    }
}

/// Builds (without serving) an instance with `kek` on `redis`: the error it refuses to start with.
async fn start_refusal(redis: &RedisServer, kek: Option<KeyEncryptionKey>) -> String {
    let mut settings = dev_settings(
        "127.0.0.1:0".parse().expect("an address"),
        Path::new("unused"),
    );
    sealed_deployment(redis, kek)(&mut settings);
    match Server::build(settings, PageAddOns::default()).await {
        Ok(_) => panic!("an instance started on keys it cannot open"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn sealed_signing_keys_survive_a_restart_and_refuse_instances_without_their_key() {
    let redis = RedisServer::start();
    let kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let first =
        TestServer::start_with(sealed_deployment(&redis, Some(key_encryption_key(kek)))).await;
    let token = first.dev_login("rosa").await.access_token;
    let record = first
        .store()
        .get("signing-keys")
        .await
        .expect("the store answers")
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    assert!(record.contains("\"sealed_seed\""), "{record}");
    assert!(!record.contains("\"seed\""), "a seed in clear: {record}");
    first.stop().await;

    // Every instance of the deployment is given the same key, in whichever form the operator wrote it.
    let url_safe = kek.replace('+', "-").replace('/', "_").replace('=', "");
    let restarted = TestServer::start_with(sealed_deployment(
        &redis,
        Some(key_encryption_key(&url_safe)),
    ))
    .await;
    assert_eq!(restarted.get("/auth/me", Some(&token)).await.status, 200);

    let without = start_refusal(&redis, None).await;
    assert!(
        without.contains("sealed") && without.contains("no key-encryption key"),
        "{without}"
    );
    let wrong = start_refusal(
        &redis,
        Some(key_encryption_key(
            "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=",
        )),
    )
    .await;
    assert!(wrong.contains("do not open"), "{wrong}");
    // Refused without touching the keys: the running instance still verifies what it signed.
    assert_eq!(restarted.get("/auth/me", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn of_concurrent_exchanges_across_instances_one_wins() {
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis).await;
    exchanges_across_instances_have_one_winner(&a, &b).await;
}

async fn exchanges_across_instances_have_one_winner(a: &TestServer, b: &TestServer) {
    let login = a.dev_login("quinn").await;
    let body = json!({"login_ticket": login.login_ticket});
    let replies = join_all((0..40).map(|i| {
        let instance = if i % 2 == 0 { a } else { b };
        instance.post("/auth/login-ticket/exchange", body.clone(), None)
    }))
    .await;
    let winners = replies.iter().filter(|r| r.status == 200).count();
    let used = replies.iter().filter(|r| r.code() == "ticket_used").count();
    assert_eq!((winners, used), (1, 39), "{replies:?}");
}

#[tokio::test]
async fn redis_down_means_503_within_seconds_and_recovery_without_a_restart() {
    let mut redis = RedisServer::start();
    let server = TestServer::start_with(|s| s.store = redis_store(&redis.url())).await;
    let before = server.dev_login("rae").await;
    redis.stop();

    let started = Instant::now();
    server
        .post("/auth/scenes", json!({}), None)
        .await
        .assert_error(503, "store_unavailable");
    server
        .get("/auth/me", Some(&before.access_token))
        .await
        .assert_error(503, "store_unavailable");
    assert_eq!(server.get("/readyz", None).await.status, 503);
    assert_eq!(server.get("/healthz", None).await.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "three calls took {:?}",
        started.elapsed()
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.get("/readyz", None).await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready 15 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // This Redis keeps nothing across a restart; the instance keeps the keys it loaded and writes
    // them back (on the wake-up after its notification connection returns), so what it signed
    // before stays valid and a second instance started now would share its keys.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .store()
        .get("signing-keys")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the keys were not written back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // (The user record went with the data, so the old token verifies but `/auth/me` has no one.)
    let verified = server
        .post(
            "/auth/jwt/verify",
            json!({"token": before.access_token}),
            None,
        )
        .await;
    assert_eq!(verified.status, 200, "{verified:?}");
    let after = server.dev_login("rae").await;
    assert_eq!(
        server
            .get("/auth/me", Some(&after.access_token))
            .await
            .status,
        200
    );
    let scene: CreateSceneResponse = server.post("/auth/scenes", json!({}), None).await.json();
    assert_eq!(
        server
            .post_empty(&scene_path(&scene, "scan"), Some(&after.access_token))
            .await
            .status,
        200
    );
    let polled = server
        .get(&islogin_path(&scene, 5), Some(&scene.poll_token))
        .await;
    assert_eq!(polled.body["status"], "scanned", "{polled:?}");
}

/// Dev mode shares whatever store it is pointed at: what it makes must not log in or verify on a
/// server of that store running without `--dev` (here both read one Redis and one fake WeChat,
/// which takes `dev:<name>` codes as anyone's).
#[tokio::test]
async fn dev_users_and_dev_tokens_do_not_log_in_on_a_server_without_dev_mode() {
    let redis = RedisServer::start();
    let store = redis_store(&redis.url());
    let dev = TestServer::start_with(|s| s.store = store.clone()).await;
    let fake_wechat = dev.settings().wechat.base_url.clone();
    let production = TestServer::start_with(|s| {
        s.store = store.clone();
        s.dev = false;
        s.wechat.base_url = fake_wechat;
    })
    .await;

    let dev_token = dev.dev_login("ann").await.access_token;
    assert_eq!(dev.get("/auth/me", Some(&dev_token)).await.status, 200);
    let refused = production.get("/auth/me", Some(&dev_token)).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "invalid_token");

    // A user dev mode made from an ordinary code (the phone simulator's) is a dev user too.
    let appid = dev.settings().apps[0].appid.clone();
    let simulated = || dev.wechat().mint_code(&appid, "openid-simulated-sam", None);
    let made = dev
        .post("/auth/wechat/login", json!({"code": simulated()}), None)
        .await;
    assert_eq!(made.status, 200, "{made:?}");
    let again = production
        .post("/auth/wechat/login", json!({"code": simulated()}), None)
        .await;
    assert_eq!(again.status, 403, "{:?}", again.body);

    // The same WeChat identity, through production's own login: the dev user it leads to is refused.
    let login = production
        .post("/auth/wechat/login", json!({"code": "dev:ann"}), None)
        .await;
    assert_eq!(login.status, 403, "{:?}", login.body);
    assert_eq!(login.body["error"], "forbidden");

    // A ticket the dev user minted opens nothing there either: the exchange reads the user in the
    // batch that writes the session, and ends that session with the refusal.
    let minted = dev.post_empty("/auth/login-ticket", Some(&dev_token)).await;
    assert_eq!(minted.status, 201, "{:?}", minted.body);
    let exchanged = production
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": minted.body["login_ticket"]}),
            None,
        )
        .await;
    assert_eq!(exchanged.status, 403, "{:?}", exchanged.body);
    assert_eq!(exchanged.body["error"], "forbidden");
    let listed = dev.get("/auth/sessions", Some(&dev_token)).await;
    let sessions = listed.body["sessions"].as_array().expect("a list");
    assert_eq!(sessions.len(), 1, "only the dev login itself: {sessions:?}");

    // An admin made in dev mode hands out no role there: their invite has expired for production,
    // for a real WeChat user as for anyone.
    let dev_admin = dev.dev_login("admin-ann").await.access_token;
    let console = crate::team::console_by_scan(&dev, &dev_admin).await;
    let made = dev
        .post("/auth/invites", json!({"role": "admin"}), Some(&console))
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let code = made.body["code"].as_str().expect("an invite code");
    let appid = &production.settings().apps[0].appid;
    let real_code = dev.wechat().mint_code(appid, "openid-real-rita", None);
    let rita = production
        .post("/auth/wechat/login", json!({"code": real_code}), None)
        .await;
    assert_eq!(rita.status, 200, "{rita:?}");
    let rita = rita.body["access_token"].as_str().expect("a token");
    for reply in [
        production
            .post("/auth/invites/inspect", json!({"code": code}), None)
            .await,
        production
            .post("/auth/invites/accept", json!({"code": code}), Some(rita))
            .await,
    ] {
        reply.assert_error(410, "invite_expired");
    }
    let me = production.get("/auth/me", Some(rita)).await;
    assert_eq!(me.body["roles"], json!([]), "{me:?}");
    // Production's own admin is not offered it either: not listed, and no QR of it.
    let (login, password) = ("prod-admin@example.org", "production admin password");
    production
        .add_password_user(login, "Prod", password, &["organizer", "admin"])
        .await;
    let body = json!({"login": login, "password": password, "client": "console"});
    let admin = production.post("/auth/login", body, None).await;
    let admin = admin.body["access_token"]
        .as_str()
        .expect("a console token");
    let listed = production.get("/auth/invites", Some(admin)).await;
    assert_eq!(listed.body["invites"], json!([]), "{listed:?}");
    let invite_id = made.body["invite"]["id"].as_str().expect("an invite id");
    let qr = format!("/auth/invites/{invite_id}/qr.png");
    production
        .get(&qr, Some(admin))
        .await
        .assert_error(410, "invite_expired");
    let inspected = dev
        .post("/auth/invites/inspect", json!({"code": code}), None)
        .await;
    assert_eq!(
        inspected.status, 200,
        "still open in dev mode: {inspected:?}"
    );
}
