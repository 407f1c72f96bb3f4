//! A Sentinel failover in the middle of the flows, over plain TCP and over TLS only: the master is
//! killed while a console waits for its confirmation. Meanwhile every answer is a success or
//! `503 store_unavailable` within seconds; service is back within 30 s; and nothing a user was told
//! about is lost: a ticket minted before still exchanges, one exchanged before stays used, the
//! waiting console gets its confirmation, a revoked session stays revoked. And a master replaced
//! while it still answers (no kill, the sentinels cannot demote it) is left for the new one.

use std::time::{Duration, Instant};

use meeteasy_auth::config::{RedisSettings, StoreLocation};
use meeteasy_auth::store::redis::RedisStore;
use meeteasy_auth::store::{Lifetime, Store, StoreError};
use meeteasy_protocol::CreateSceneResponse;
use meeteasy_tests::api::{Reply, ServerApi};
use meeteasy_tests::redis_deployments::RedisSentinels;
use meeteasy_tests::server::TestServer;
use serde_json::json;

use crate::flows::{islogin_path, scene_path, wait_for_waiters};
use crate::redis_tls::{Served, Trust, with_a_ca};

/// How long service may be gone after the master dies.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);
/// The longest any one answer may take during the failover (the store gives up after 2 s).
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_loses_nothing_acknowledged() {
    // Two replicas: once one is promoted, the other still confirms every write.
    let mut redis = tokio::task::spawn_blocking(|| RedisSentinels::start(2))
        .await
        .expect("the sentinel deployment starts");
    let store = StoreLocation::Redis(redis.settings());
    let server = TestServer::start_with(|s| s.store = store).await;
    let waiting = async || wait_for_waiters(&server, 1).await;
    loses_nothing_acknowledged(server.api(), &mut redis, waiting).await;
}

/// A master the sentinels replaced while it still answers this instance (cut off from them and its
/// replicas, it takes writes that no replica will ever have; here it cannot be demoted) is left
/// for the one they name: a write that falls short of its replica is not acknowledged, and the
/// ones after it reach the new master within seconds. An instance that only reads meets no such
/// write, and leaves it too, within seconds: it reads what the new master has, and both listen
/// to the notifications there, not at the deposed master, where nobody sends them any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_deposed_while_it_still_answers_is_left_for_the_new_one() {
    let redis = tokio::task::spawn_blocking(|| RedisSentinels::start_with_an_undemotable_master(2))
        .await
        .expect("the sentinel deployment starts");
    let open = async || {
        RedisStore::open(&redis.settings())
            .await
            .expect("open the sentinel store")
    };
    let (store, reader) = (open().await, open().await);
    let first = redis.first_master_port();
    store
        .put("before", b"kept", Lifetime::Forever)
        .await
        .expect("a write before the failover");
    let read = reader
        .get("before")
        .await
        .expect("a read before the failover");
    assert_eq!(read.as_deref(), Some(&b"kept"[..]));
    assert_eq!(redis.pattern_listeners_at(first), Some(2));

    // Blocking (it polls the nodes through `redis-cli`), off the workers the stores' tasks run on.
    let promoted = tokio::task::block_in_place(|| redis.depose_master());
    let deposed_at = Instant::now();
    loop {
        let written = tokio::time::timeout(
            ANSWER_DEADLINE,
            store.put("after", b"acknowledged", Lifetime::Forever),
        );
        match written.await.expect("a write answers within seconds") {
            Ok(()) => break,
            Err(StoreError::Unavailable(why)) => eprintln!("meanwhile: {why}"),
            Err(error) => panic!("a write failed otherwise: {error:?}"),
        }
        assert!(
            deposed_at.elapsed() < RECOVERY_DEADLINE,
            "writes still went to the deposed master {RECOVERY_DEADLINE:?} after the failover"
        );
    }
    eprintln!(
        "writes reached the new master {:?} after the failover",
        deposed_at.elapsed()
    );
    assert_eq!(
        redis.get_at(promoted, "meeteasy:after").as_deref(),
        Some("acknowledged"),
        "the acknowledged write is not on the master the sentinels name"
    );
    assert_eq!(
        redis.get_at(promoted, "meeteasy:before").as_deref(),
        Some("kept")
    );
    // Only the new master has this one: a short write above still landed on the deposed master.
    store
        .put("moved", b"new master", Lifetime::Forever)
        .await
        .expect("a write on the new master");

    let listening_moved = || {
        redis.pattern_listeners_at(first) == Some(0)
            && redis.pattern_listeners_at(promoted) == Some(2)
    };
    while !listening_moved() {
        assert!(
            deposed_at.elapsed() < RECOVERY_DEADLINE,
            "the notifications are still listened to at the deposed master"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "both instances listened at the new master {:?} after the failover",
        deposed_at.elapsed()
    );
    let read = reader
        .get("moved")
        .await
        .expect("a read after the failover");
    assert_eq!(
        read.as_deref(),
        Some(&b"new master"[..]),
        "read at the deposed master"
    );
    let mut woken = store.subscribe("deposed-test");
    store.notify("deposed-test").await.expect("a notification");
    tokio::time::timeout(ANSWER_DEADLINE, woken.changed())
        .await
        .expect("a notification through the new master wakes its subscriber");
}

/// The same failover on a deployment speaking only TLS (`rediss-sentinel://`): the server finds the
/// new master by asking the sentinels over TLS, and reaches it, its replication wait and its
/// pub/sub over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_over_tls_loses_nothing_acknowledged() {
    let (ca, mut redis) = with_a_ca(|ca| RedisSentinels::start_tls(2, ca)).await;
    // The `serve` binary rather than an in-process server: it trusts the test CA through
    // SSL_CERT_FILE, which set in this process would change the trust of every test running in it.
    let replicas = replica_keys(&redis.settings());
    let served = Served::start_configured(&ca, &redis.url(), Trust::Environment, &replicas).await;
    let waiting = async || served.wait_for_a_waiter().await;
    loses_nothing_acknowledged(served.api(), &mut redis, waiting).await;
    served.stop().await;
}

/// The `[redis]` keys of a `serve` config that waits for replicas as `settings` do, so the server
/// on a URL acknowledges writes as the in-process one on those settings does.
fn replica_keys(settings: &RedisSettings) -> String {
    let ack = settings
        .replica_ack
        .expect("the deployment's writes wait for a replica");
    format!(
        "wait_replicas = {}\nwait_timeout_ms = {}\n",
        ack.replicas,
        ack.timeout.as_millis()
    )
}

/// The failover's steps against `server`, a dev-mode server on `redis`: flows before the kill,
/// the kill while a console waits (once `waiting` says a long-poll waits), and what must hold
/// after it.
async fn loses_nothing_acknowledged(
    server: &ServerApi,
    redis: &mut RedisSentinels,
    waiting: impl AsyncFn(),
) {
    let ticket_holder = server.dev_login("tess").await;
    let spent = json!({"login_ticket": server.dev_login("tess").await.login_ticket});
    let exchanged = server
        .post("/auth/login-ticket/exchange", spent.clone(), None)
        .await;
    assert_eq!(exchanged.status, 200, "{exchanged:?}");
    let revoked = server.dev_login("rory").await;
    assert_eq!(
        server
            .post_empty("/auth/logout", Some(&revoked.access_token))
            .await
            .status,
        204
    );
    let phone = server.dev_login("pat").await;
    let scene: CreateSceneResponse = server.post("/auth/scenes", json!({}), None).await.json();
    assert_eq!(
        server
            .post_empty(&scene_path(&scene, "scan"), Some(&phone.access_token))
            .await
            .status,
        200
    );
    // The console reports `scanned` once, then waits for the confirmation across the failover.
    let scanned = server
        .get(&islogin_path(&scene, 0), Some(&scene.poll_token))
        .await;
    assert_eq!(scanned.body["status"], "scanned", "{scanned:?}");
    let console = async {
        let mut last = None;
        let deadline = Instant::now() + RECOVERY_DEADLINE * 2;
        while Instant::now() < deadline {
            let polled = server
                .get(&islogin_path(&scene, 25), Some(&scene.poll_token))
                .await;
            match (polled.status, polled.body["status"].as_str()) {
                (200, Some("confirmed")) => return polled,
                (200, Some("scanned")) => {}
                // A console polls again after a 503, as it would after any network hiccup.
                (503, _) => polled.assert_error(503, "store_unavailable"),
                _ => panic!("the waiting console got {polled:?}"),
            }
            last = Some(polled);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the console was never confirmed; last answer {last:?}");
    };

    let failover = async {
        let first_master = redis.first_master_port();
        // The kill comes while the console waits, not before its poll reaches the server.
        waiting().await;
        redis.kill_master();
        let killed_at = Instant::now();
        // Until a write goes through again, every answer is a success or a quick 503.
        loop {
            let started = Instant::now();
            let created = bounded(server.post("/auth/scenes", json!({}), None)).await;
            let me = bounded(server.get("/auth/me", Some(&phone.access_token))).await;
            assert!(
                started.elapsed() < ANSWER_DEADLINE * 2,
                "two answers took {:?}",
                started.elapsed()
            );
            assert_ok_or_unavailable(&me, 200);
            if created.status == 201 || created.status == 200 {
                break;
            }
            assert_ok_or_unavailable(&created, 201);
            assert!(
                killed_at.elapsed() < RECOVERY_DEADLINE,
                "no write went through within {RECOVERY_DEADLINE:?} of the kill"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let recovered_in = killed_at.elapsed();
        assert_ne!(
            redis.current_master_port(),
            Some(first_master),
            "a write went through with no new master"
        );
        // The phone confirms only now, after the failover: the console waiting across it wakes.
        let confirmed = server
            .post_empty(&scene_path(&scene, "confirm"), Some(&phone.access_token))
            .await;
        assert_eq!(confirmed.status, 204, "{confirmed:?}");
        recovered_in
    };
    let (confirmed, recovered_in) = tokio::join!(console, failover);
    eprintln!("service was back {recovered_in:?} after the master was killed");
    assert!(confirmed.body["access_token"].is_string(), "{confirmed:?}");

    let exchanged = server
        .post(
            "/auth/login-ticket/exchange",
            json!({"login_ticket": ticket_holder.login_ticket}),
            None,
        )
        .await;
    assert_eq!(exchanged.status, 200, "{exchanged:?}");
    server
        .post("/auth/login-ticket/exchange", spent, None)
        .await
        .assert_error(401, "ticket_used");
    server
        .get("/auth/me", Some(&revoked.access_token))
        .await
        .assert_error(401, "token_revoked");
}

/// An answer, or a failure if it takes longer than [`ANSWER_DEADLINE`] (a hang).
async fn bounded(request: impl Future<Output = Reply>) -> Reply {
    tokio::time::timeout(ANSWER_DEADLINE, request)
        .await
        .unwrap_or_else(|_| panic!("no answer within {ANSWER_DEADLINE:?}"))
}

#[track_caller]
fn assert_ok_or_unavailable(reply: &Reply, ok: u16) {
    if reply.status != ok {
        reply.assert_error(503, "store_unavailable");
    }
}
