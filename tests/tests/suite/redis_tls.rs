//! The `meeteasy-auth` binary on the `rediss` forms: one Redis, a Redis Cluster and a
//! Sentinel-watched master, each speaking TLS with a certificate of the deployment's own CA
//! (Cluster and Sentinel speak nothing else, among themselves too) and asking every client for a
//! certificate that CA issued, as Redis does by default. The server shows the one its config names
//! (`redis.tls_client_cert_file`), and trusts the CA through `redis.tls_ca_file` (one Redis,
//! Sentinel) or `SSL_CERT_FILE` (Cluster: the client reads the system's trust store, which that
//! variable replaces). It
//! refuses to start, with a clear message, while it does not trust the CA or shows no certificate.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use meeteasy_protocol::CreateSceneResponse;
use meeteasy_tests::api::{Reply, ServerApi};
use meeteasy_tests::auth_process::{ServeProcess, auth_binary, auth_command, run_with_stdin};
use meeteasy_tests::redis_deployments::{RedisCluster, RedisSentinels, redis_cli};
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::test_ca::TestCa;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::flows::{islogin_path, scene_path};

/// How long a console's long-poll is asked to wait; woken, it answers long before.
const LONG_POLL_WAIT: u64 = 20;
/// Within this a woken long-poll has answered, even on a loaded 2-core machine.
const WOKEN_WITHIN: Duration = Duration::from_secs(5);

/// How many subscriptions in the deployment hear a change of a scene (by its id). The phone acts
/// only once there is one, so the console's wake comes through pub/sub, not from the read its
/// long-poll makes after subscribing. On a Cluster the server subscribes to the scene's sharded
/// channel while a console waits on it; with one Redis or Sentinel its one pattern subscription,
/// made at start, hears every scene.
type Listeners<'a> = &'a (dyn Fn(&str) -> u64 + Sync);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_its_records_in_a_redis_reached_over_tls() {
    let ca = TestCa::issue();
    let redis = RedisServer::start_tls(&ca);
    let served = Served::start_configured(&ca, &redis.tls_url(), Trust::ConfigFile, "").await;
    let listeners = |_scene: &str| {
        let answer = redis_cli(redis.port(), &["PUBSUB", "NUMPAT"]);
        answer
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    };
    let user = a_scan_login_runs(&served, &listeners).await;
    // The user is in that Redis (read over its plain port), so the store is the one over TLS.
    let user = format!("meeteasy:user:{user}");
    let exists = redis_cli(redis.port(), &["EXISTS", &user]);
    assert_eq!(exists.as_deref().map(str::trim), Some("1"), "{user}");
    served.stop().await;
    refused_without_trusting_the_ca(&redis.tls_url()).await;
    refused_without_a_client_certificate(&ca, &redis.tls_url()).await;
}

/// Six nodes speaking only TLS (to clients, on the cluster bus, to their masters): the topology
/// the client reads, the commands sent to each slot's master and the sharded pub/sub that wakes a
/// console all go over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_a_cluster_speaking_only_tls() {
    let (ca, cluster) = with_a_ca(RedisCluster::start_tls).await;
    // Sharded, and tagged by the scene (see the store's key layout).
    let listeners =
        |scene: &str| cluster.subscribers(&format!("meeteasy:notify:scene-changed:{{{scene}}}"));
    let (store, ports) = (cluster.url(), cluster.ports());
    serve_runs_on_tls_only(&ca, &store, &ports, Trust::Environment, &listeners).await;
}

/// A master, a replica and three sentinels speaking only TLS (to clients, to each other): the
/// sentinels are asked over TLS where the master is, and the master is reached over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_sentinels_speaking_only_tls() {
    let (ca, sentinels) = with_a_ca(|ca| RedisSentinels::start_tls(1, ca)).await;
    let listeners = |_scene: &str| sentinels.pattern_subscriptions();
    let (store, ports) = (sentinels.url(), sentinels.ports());
    serve_runs_on_tls_only(&ca, &store, &ports, Trust::ConfigFile, &listeners).await;
}

/// A fresh test CA, and a deployment `start` started with its certificate (on a blocking thread:
/// it waits for its processes).
pub(crate) async fn with_a_ca<D: Send + 'static>(
    start: impl FnOnce(&TestCa) -> D + Send + 'static,
) -> (TestCa, D) {
    let started = tokio::task::spawn_blocking(|| {
        let ca = TestCa::issue();
        let deployment = start(&ca);
        (ca, deployment)
    });
    started.await.expect("the deployment starts")
}

/// Serve on `store`, a deployment speaking only TLS with `ca`'s certificate (on `ports`, among
/// others): the flows run while it trusts `ca` as `trust` says and shows its client certificate,
/// and it refuses to start while it does not trust `ca` or shows none.
async fn serve_runs_on_tls_only(
    ca: &TestCa,
    store: &str,
    ports: &[u16],
    trust: Trust,
    listeners: Listeners<'_>,
) {
    answer_only_tls(ports);
    let served = Served::start_configured(ca, store, trust, "").await;
    a_scan_login_runs(&served, listeners).await;
    served.stop().await;
    refused_without_trusting_the_ca(store).await;
    refused_without_a_client_certificate(ca, store).await;
}

/// Nothing answers in plain TCP on `ports`, which speak TLS.
fn answer_only_tls(ports: &[u16]) {
    for port in ports {
        let plain = redis_cli(*port, &["PING"]);
        assert_eq!(plain, None, "port {port} answers in plain TCP");
    }
}

/// How a served server trusts the test CA.
pub(crate) enum Trust {
    /// `SSL_CERT_FILE` in its environment, which replaces the system's trust store.
    Environment,
    /// `redis.tls_ca_file` in its config.
    ConfigFile,
}

/// `meeteasy-auth serve --store STORE --dev`, trusting the test CA and showing the client
/// certificate it issued, serving `/metrics` to see a long-poll waiting.
pub(crate) struct Served {
    process: ServeProcess,
    api: ServerApi,
    metrics_token: String,
    _config: TempDir,
}

impl Served {
    /// Serves on `store`, trusting `ca` as `trust` says; `redis_keys` (TOML lines) end the config
    /// file's `[redis]` table.
    pub(crate) async fn start_configured(
        ca: &TestCa,
        store: &str,
        trust: Trust,
        redis_keys: &str,
    ) -> Self {
        let config = tempfile::tempdir().expect("a temp dir for the config");
        let metrics_token = "the-test's-metrics-token".to_owned();
        let token_file = config.path().join("metrics-token");
        std::fs::write(&token_file, &metrics_token).expect("write the metrics token");
        let config_file = config.path().join("meeteasy.toml");
        let path = |path: &Path| path.display().to_string();
        let mut toml = format!(
            "metrics_token_file = {:?}\n[redis]\ntls_client_cert_file = {:?}\n\
             tls_client_key_file = {:?}\n{redis_keys}",
            path(&token_file),
            path(&ca.client_cert()),
            path(&ca.client_key()),
        );
        let mut trusting = auth_command(&auth_binary());
        match trust {
            Trust::Environment => drop(trusting.env("SSL_CERT_FILE", ca.ca())),
            Trust::ConfigFile => toml += &format!("tls_ca_file = {:?}\n", path(&ca.ca())),
        }
        std::fs::write(&config_file, toml).expect("write the config");
        let args = [
            OsStr::new("--config"),
            config_file.as_os_str(),
            OsStr::new("--store"),
            OsStr::new(store),
        ];
        let process = ServeProcess::start_command(trusting, args).await;
        Self {
            api: ServerApi::new(process.url("")),
            process,
            metrics_token,
            _config: config,
        }
    }

    /// Its endpoints, for steps that also run against an in-process server.
    pub(crate) fn api(&self) -> &ServerApi {
        &self.api
    }

    /// POSTs `body` as JSON, or nothing.
    async fn post(&self, path: &str, body: Option<Value>, bearer: Option<&str>) -> Reply {
        match body {
            Some(body) => self.api.post(path, body, bearer).await,
            None => self.api.post_empty(path, bearer).await,
        }
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.api.get(path, bearer).await
    }

    /// Waits until a console's long-poll waits on the server (its metrics say so).
    pub(crate) async fn wait_for_a_waiter(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let request = self.api.http().get(self.api.url("/metrics"));
            let metrics = request.bearer_auth(&self.metrics_token).send().await;
            let metrics = metrics.expect("metrics").text().await.expect("metrics");
            let waiting = metrics
                .lines()
                .find_map(|line| line.strip_prefix("meeteasy_islogin_waiters "))
                .is_some_and(|count| count.trim() != "0");
            if waiting {
                return;
            }
            assert!(Instant::now() < deadline, "no waiting long-poll after 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn stop(self) {
        let status = self.process.stop().await;
        assert!(status.success(), "serve exited with {status}");
    }
}

/// What shows a store works under a server: a mini program login through the fake WeChat, its
/// login ticket exchanged once and refused the second time, then a console's scene scanned and
/// confirmed by that phone, the console's long-poll woken each time (through the store's pub/sub),
/// and the console's token verifying. Answers the phone's user id.
async fn a_scan_login_runs(served: &Served, listeners: Listeners<'_>) -> String {
    let login = served
        .post(
            "/auth/wechat/login",
            Some(json!({"code": "dev:tess"})),
            None,
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    let phone = login.body["access_token"].as_str().unwrap_or_default();
    let ticket = json!({"login_ticket": login.body["login_ticket"]});
    let exchanged = served
        .post("/auth/login-ticket/exchange", Some(ticket.clone()), None)
        .await;
    assert_eq!(exchanged.status, 200, "{exchanged:?}");
    served
        .post("/auth/login-ticket/exchange", Some(ticket), None)
        .await
        .assert_error(401, "ticket_used");

    let scene = served.post("/auth/scenes", Some(json!({})), None).await;
    assert_eq!(scene.status, 201, "{scene:?}");
    let scene: CreateSceneResponse = scene.json();
    let scanned = woken_by(served, listeners, &scene, "scan", phone).await;
    assert_eq!(scanned.body["status"], "scanned", "{scanned:?}");
    let confirmed = woken_by(served, listeners, &scene, "confirm", phone).await;
    assert_eq!(confirmed.body["status"], "confirmed", "{confirmed:?}");
    let console = confirmed.body["access_token"].as_str().unwrap_or_default();
    let me = served.get("/auth/me", Some(console)).await;
    assert_eq!(me.status, 200, "{me:?}");
    let user = login.body["user"]["id"].as_str().unwrap_or_default();
    assert_eq!(me.body["id"], user, "{me:?}");
    user.to_owned()
}

/// What the console's long-poll answers when, while it waits, the phone takes `action` on `scene`;
/// it answers at once, woken.
async fn woken_by(
    served: &Served,
    listeners: Listeners<'_>,
    scene: &CreateSceneResponse,
    action: &str,
    phone: &str,
) -> Reply {
    let long_poll = islogin_path(scene, LONG_POLL_WAIT);
    let waiting = served.get(&long_poll, Some(&scene.poll_token));
    let acting = async {
        served.wait_for_a_waiter().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        // redis-cli, briefly: on a thread where blocking is allowed.
        while tokio::task::block_in_place(|| listeners(&scene.scene)) == 0 {
            assert!(
                Instant::now() < deadline,
                "nobody subscribed to the scene after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        let acted = served
            .post(&scene_path(scene, action), None, Some(phone))
            .await;
        assert!(matches!(acted.status, 200 | 204), "{action}: {acted:?}");
        started
    };
    let (polled, started) = tokio::join!(waiting, acting);
    assert!(
        started.elapsed() < WOKEN_WITHIN,
        "the long-poll answered {:?} after the {action}",
        started.elapsed()
    );
    polled
}

/// Trusting another CA instead, serve on `store` does not start, and says why.
async fn refused_without_trusting_the_ca(store: &str) {
    let other_ca = TestCa::issue();
    refused_to_start(store, &other_ca, "invalid peer certificate").await;
}

/// Trusting `ca` but showing no client certificate, serve on `store` does not start, and says why.
async fn refused_without_a_client_certificate(ca: &TestCa, store: &str) {
    let hint = "Redis asks for a client certificate: give it in redis.tls_client_cert_file";
    refused_to_start(store, ca, hint).await;
}

/// Serve on `store`, trusting `trusted` (through `SSL_CERT_FILE`) and showing no client
/// certificate, exits at start saying `why`, in the same words on every kind of deployment.
async fn refused_to_start(store: &str, trusted: &TestCa, why: &str) {
    let mut serve = auth_command(&auth_binary());
    serve
        .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
        .args(["--store", store]);
    serve.env("SSL_CERT_FILE", trusted.ca());
    let refused = run_with_stdin(serve, "").await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    assert!(stderr.contains("cannot connect to Redis: "), "{stderr}");
}
