//! The store contract, written once and run against both backends (the embedded redb store in a temp
//! dir, the Redis store on a real redis-server), followed by what only one backend can show: the
//! embedded file surviving a reopen and refusing a second opener, Redis outages and recovery.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meeteasy_auth::config::{RedisDeployment, RedisSettings, ReplicaAck};
use meeteasy_auth::domain::sessions::{self, Claim, SessionRecord};
use meeteasy_auth::domain::{AuthError, store_keys, unix_now};
use meeteasy_auth::store::embedded::{EmbeddedOpenError, EmbeddedStore};
use meeteasy_auth::store::redis::RedisStore;
use meeteasy_auth::store::{Lifetime, Outcome, Step, Store, StoreError, Subscription, in_group};
use meeteasy_protocol::Audience;
use meeteasy_tests::redis_deployments::{RedisCluster, RedisSentinels, redis_cli};
use meeteasy_tests::redis_server::RedisServer;
use tempfile::TempDir;

/// Short enough for quick tests, long enough to see a record before it expires.
const SHORT: Duration = Duration::from_millis(150);
/// The longest a short-lived record may outlive its lifetime before a test gives up on it.
const EXPIRY_DEADLINE: Duration = Duration::from_secs(5);
/// How long a notification may take to arrive.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(5);

/// A store under test together with what it lives in (dropped after the store).
struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<TempDir>,
    _server: Option<RedisServer>,
}

fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open the embedded store");
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
        _server: None,
    }
}

async fn redis() -> Backend {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url())
        .await
        .expect("connect to redis-server");
    Backend {
        store: Arc::new(store),
        _dir: None,
        _server: Some(server),
    }
}

/// Generates `embedded::<case>` and `redis::<case>` tests from each contract case below.
macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::embedded();
                    super::$case(&backend.store).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::redis().await;
                    super::$case(&backend.store).await;
                }
            )+
        }
        /// A Cluster or a Sentinel deployment takes seconds to form: every case runs on one,
        /// emptied before each.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn redis_cluster_keeps_the_contract() {
            let cluster = tokio::task::spawn_blocking(RedisCluster::start).await.unwrap();
            let store: Arc<dyn Store> = Arc::new(
                RedisStore::open(&cluster.settings()).await.expect("open the cluster store"),
            );
            $(
                eprintln!("cluster: {}", stringify!($case));
                cluster.flush();
                $case(&store).await;
            )+
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn redis_sentinel_keeps_the_contract() {
            let sentinels = tokio::task::spawn_blocking(|| RedisSentinels::start(1)).await.unwrap();
            let store: Arc<dyn Store> = Arc::new(
                RedisStore::open(&sentinels.settings()).await.expect("open the sentinel store"),
            );
            $(
                eprintln!("sentinel: {}", stringify!($case));
                sentinels.flush();
                $case(&store).await;
            )+
        }
    };
}

contract!(
    get_put_delete,
    lifetime_expires_records,
    an_end_in_unix_time_expires_records_then,
    an_end_already_past_writes_a_record_never_read,
    forever_replaces_a_lifetime,
    insert_new_writes_only_when_absent,
    compare_and_swap_replaces_only_the_expected,
    compare_and_delete_removes_only_the_expected,
    append_adds_at_the_end_and_never_shortens_a_life,
    take_gives_a_record_to_exactly_one_taker,
    a_batch_runs_its_steps_in_order,
    a_batch_on_one_group_runs_its_steps_in_order,
    count_in_window_counts_then_resets,
    a_slot_is_claimed_once_until_its_lifetime_ends,
    a_lifetime_past_the_clock_s_range_holds_and_breaks_nothing,
    notify_reaches_earlier_subscribers_of_the_topic,
    a_grouped_topic_reaches_its_subscribers,
    ping_answers,
    every_operation_allocates_a_small_future,
    session_index_lists_a_users_live_sessions_newest_first,
    session_index_forgets_expired_sessions_by_itself,
    revoking_a_session_ends_its_descendants_at_any_depth,
    a_session_derived_from_a_revoked_one_is_refused,
    a_session_claimed_by_its_record_is_handed_out_once,
);

async fn get_put_delete(store: &Arc<dyn Store>) {
    assert_eq!(store.get("user:1").await.unwrap(), None);
    store
        .put("user:1", b"first", Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(
        store.get("user:1").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    store
        .put("user:1", b"second", Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(
        store.get("user:1").await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
    // Binary values come back byte for byte.
    let binary = [0_u8, 255, 10, 13, 0, 128];
    store
        .put("user:2", &binary, Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(
        store.get("user:2").await.unwrap().as_deref(),
        Some(&binary[..])
    );

    store.delete("user:1").await.unwrap();
    assert_eq!(store.get("user:1").await.unwrap(), None);
    store.delete("user:1").await.unwrap();
    assert_eq!(
        store.get("user:2").await.unwrap().as_deref(),
        Some(&binary[..])
    );
}

async fn lifetime_expires_records(store: &Arc<dyn Store>) {
    // Long enough to read back before it expires even on a loaded machine, where a write that
    // waits for a replica was seen to outlast SHORT.
    let short = Duration::from_secs(1);
    let written = Instant::now();
    store
        .put("ticket:short", b"t", Lifetime::For(short))
        .await
        .unwrap();
    assert_eq!(
        store.get("ticket:short").await.unwrap().as_deref(),
        Some(&b"t"[..])
    );
    store
        .put(
            "ticket:long",
            b"l",
            Lifetime::For(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    store
        .put("user:kept", b"u", Lifetime::Forever)
        .await
        .unwrap();

    wait_until_gone(store, "ticket:short").await;
    assert!(
        written.elapsed() >= short,
        "expired after {:?}",
        written.elapsed()
    );
    assert_eq!(
        store.get("ticket:long").await.unwrap().as_deref(),
        Some(&b"l"[..])
    );
    assert_eq!(
        store.get("user:kept").await.unwrap().as_deref(),
        Some(&b"u"[..])
    );
}

async fn an_end_in_unix_time_expires_records_then(store: &Arc<dyn Store>) {
    let end = unix_now() + 2;
    store
        .put("ticket:ending", b"unused", Lifetime::Until(end))
        .await
        .unwrap();
    // Written again with the same end: it still ends then.
    assert!(
        store
            .compare_and_swap("ticket:ending", b"unused", b"used", Lifetime::Until(end))
            .await
            .unwrap()
    );
    store
        .put("ticket:later", b"l", Lifetime::Until(end + 3600))
        .await
        .unwrap();
    assert_eq!(
        store.get("ticket:ending").await.unwrap().as_deref(),
        Some(&b"used"[..])
    );

    wait_until_gone(store, "ticket:ending").await;
    // Redis counts the end from the writer's clock in whole milliseconds: a few early at most.
    let gone_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        gone_at + Duration::from_millis(5) >= Duration::from_secs(end),
        "gone at {gone_at:?}, before its end at {end} s"
    );
    assert_eq!(
        store.get("ticket:later").await.unwrap().as_deref(),
        Some(&b"l"[..])
    );
}

/// A record whose end has passed by the time it is written (a session index emptied, a scene
/// moved in its last second) is as good as gone at once: never read, and no obstacle to the next
/// insert, whichever way it was written.
async fn an_end_already_past_writes_a_record_never_read(store: &Arc<dyn Store>) {
    let past = Lifetime::Until(unix_now() - 1);
    store.put("scene:ended", b"s", past).await.unwrap();
    assert_eq!(store.get("scene:ended").await.unwrap(), None);
    assert!(store.insert_new("ticket:ended", b"t", past).await.unwrap());
    assert_eq!(store.get("ticket:ended").await.unwrap(), None);
    assert!(
        store
            .insert_new("ticket:ended", b"again", Lifetime::Forever)
            .await
            .unwrap()
    );

    store
        .put("scene:live", b"old", Lifetime::Forever)
        .await
        .unwrap();
    assert!(
        store
            .compare_and_swap("scene:live", b"old", b"new", past)
            .await
            .unwrap()
    );
    assert_eq!(store.get("scene:live").await.unwrap(), None);
    assert_eq!(
        store.append("sessions-of:ended", b"e", past).await.unwrap(),
        1
    );
    assert_eq!(store.get("sessions-of:ended").await.unwrap(), None);

    // A batch too, in each form a Cluster sends it: one script on one slot, or step by step.
    let grouped = |name: &str| in_group("ended", name);
    for key in [&grouped as &dyn Fn(&str) -> String, &str::to_owned] {
        let (index, record) = (key("sessions-of:batched"), key("session:batched"));
        let outcomes = store
            .batch(&[
                Step::Put {
                    key: &index,
                    value: b"i",
                    lifetime: past,
                },
                Step::InsertNew {
                    key: &record,
                    value: b"r",
                    lifetime: past,
                },
                Step::Get(&index),
                Step::Get(&record),
            ])
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [
                Outcome::Written(true),
                Outcome::Written(true),
                Outcome::Read(None),
                Outcome::Read(None)
            ],
            "{index}"
        );
        assert_eq!(store.get(&index).await.unwrap(), None);
    }
}

async fn forever_replaces_a_lifetime(store: &Arc<dyn Store>) {
    store
        .put("session:1", b"short", Lifetime::For(SHORT))
        .await
        .unwrap();
    store
        .put("session:1", b"kept", Lifetime::Forever)
        .await
        .unwrap();
    store
        .put("session:2", b"witness", Lifetime::For(SHORT))
        .await
        .unwrap();
    wait_until_gone(store, "session:2").await;
    assert_eq!(
        store.get("session:1").await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

async fn insert_new_writes_only_when_absent(store: &Arc<dyn Store>) {
    assert!(
        store
            .insert_new("scene:1", b"first", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_new("scene:1", b"second", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("scene:1").await.unwrap().as_deref(),
        Some(&b"first"[..])
    );

    assert!(
        store
            .insert_new("scene:2", b"old", Lifetime::For(SHORT))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_new("scene:2", b"early", Lifetime::Forever)
            .await
            .unwrap()
    );
    wait_until_gone(store, "scene:2").await;
    assert!(
        store
            .insert_new("scene:2", b"new", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("scene:2").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );
}

async fn compare_and_delete_removes_only_the_expected(store: &Arc<dyn Store>) {
    store
        .put("login:ann@example.org", b"u-ann", Lifetime::Forever)
        .await
        .unwrap();
    let deletes =
        |expected: &'static [u8]| store.compare_and_delete("login:ann@example.org", expected);
    // Someone else's record stays.
    assert!(!deletes(b"u-bob").await.unwrap());
    assert!(
        !deletes(b"u-an").await.unwrap(),
        "a prefix is not the record"
    );
    assert_eq!(
        store.get("login:ann@example.org").await.unwrap().as_deref(),
        Some(&b"u-ann"[..])
    );
    assert!(deletes(b"u-ann").await.unwrap());
    assert_eq!(store.get("login:ann@example.org").await.unwrap(), None);
    // Gone: nothing to delete.
    assert!(!deletes(b"u-ann").await.unwrap());

    // An expired record is not there to be deleted, and nothing is written in its place.
    store
        .put("scene:1", b"pending", Lifetime::For(SHORT))
        .await
        .unwrap();
    wait_until_gone(store, "scene:1").await;
    assert!(
        !store
            .compare_and_delete("scene:1", b"pending")
            .await
            .unwrap()
    );
    assert_eq!(store.get("scene:1").await.unwrap(), None);
}

async fn compare_and_swap_replaces_only_the_expected(store: &Arc<dyn Store>) {
    store
        .put("scene:1", b"pending", Lifetime::Forever)
        .await
        .unwrap();
    assert!(
        store
            .compare_and_swap("scene:1", b"pending", b"scanned", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("scene:1").await.unwrap().as_deref(),
        Some(&b"scanned"[..])
    );

    assert!(
        !store
            .compare_and_swap("scene:1", b"pending", b"confirmed", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("scene:1").await.unwrap().as_deref(),
        Some(&b"scanned"[..])
    );

    assert!(
        !store
            .compare_and_swap("scene:missing", b"", b"x", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert_eq!(store.get("scene:missing").await.unwrap(), None);

    // The new lifetime applies to the swapped record.
    assert!(
        store
            .compare_and_swap("scene:1", b"scanned", b"confirmed", Lifetime::For(SHORT))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get("scene:1").await.unwrap().as_deref(),
        Some(&b"confirmed"[..])
    );
    wait_until_gone(store, "scene:1").await;
    // An expired record is not there to be swapped.
    assert!(
        !store
            .compare_and_swap("scene:1", b"confirmed", b"late", Lifetime::Forever)
            .await
            .unwrap()
    );
    assert_eq!(store.get("scene:1").await.unwrap(), None);
}

async fn a_batch_runs_its_steps_in_order(store: &Arc<dyn Store>) {
    batch_in_order(store, str::to_owned).await;
}

/// On a Cluster, a batch whose keys share a slot runs as one script rather than command by command.
async fn a_batch_on_one_group_runs_its_steps_in_order(store: &Arc<dyn Store>) {
    batch_in_order(store, |name| in_group("g1", name)).await;
}

/// A batch's steps over the records `key` names.
async fn batch_in_order(store: &Arc<dyn Store>, key: impl Fn(&str) -> String) {
    let (scene, ann, bob, ticket) = (
        key("scene:1"),
        key("user:1"),
        key("user:2"),
        key("ticket:1"),
    );
    let (gate_1, gate_2) = (key("poll-gate:1"), key("poll-gate:2"));
    store
        .put(&scene, b"pending", Lifetime::Forever)
        .await
        .unwrap();
    store.put(&ann, b"ann", Lifetime::Forever).await.unwrap();
    let reads = store
        .batch(&[Step::Get(&ann), Step::Get(&bob), Step::Get(&scene)])
        .await
        .unwrap();
    assert_eq!(
        reads,
        [
            Outcome::Read(Some(b"ann".to_vec())),
            Outcome::Read(None),
            Outcome::Read(Some(b"pending".to_vec())),
        ]
    );

    let outcomes = store
        .batch(&[
            Step::CompareAndSwap {
                key: &scene,
                expected: b"pending",
                new: b"scanned",
                lifetime: Lifetime::Forever,
            },
            // Sees the swap before it, so it does not swap again.
            Step::CompareAndSwap {
                key: &scene,
                expected: b"pending",
                new: b"declined",
                lifetime: Lifetime::Forever,
            },
            Step::InsertNew {
                key: &bob,
                value: b"bob",
                lifetime: Lifetime::For(SHORT),
            },
            Step::InsertNew {
                key: &ann,
                value: b"eve",
                lifetime: Lifetime::Forever,
            },
            Step::Put {
                key: &ticket,
                value: b"grant",
                lifetime: Lifetime::Forever,
            },
            Step::ClaimSlot {
                key: &gate_1,
                lifetime: Duration::from_secs(60),
            },
            Step::ClaimSlot {
                key: &gate_1,
                lifetime: Duration::from_secs(60),
            },
            Step::Get(&scene),
            Step::Get(&bob),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            Outcome::Written(true),
            Outcome::Written(false),
            Outcome::Written(true),
            Outcome::Written(false),
            Outcome::Written(true),
            Outcome::Written(true),
            Outcome::Written(false),
            Outcome::Read(Some(b"scanned".to_vec())),
            Outcome::Read(Some(b"bob".to_vec())),
        ]
    );
    assert_eq!(store.get(&ann).await.unwrap().as_deref(), Some(&b"ann"[..]));
    assert_eq!(
        store.get(&ticket).await.unwrap().as_deref(),
        Some(&b"grant"[..])
    );
    // A step's lifetime holds as its method's does.
    wait_until_gone(store, &bob).await;
    assert_eq!(store.batch(&[]).await.unwrap(), []);
    // Slots alone, and with reads.
    let gate = Step::ClaimSlot {
        key: &gate_2,
        lifetime: Duration::from_secs(60),
    };
    assert_eq!(
        store.batch(&[gate, Step::Get(&scene), gate]).await.unwrap(),
        [
            Outcome::Written(true),
            Outcome::Read(Some(b"scanned".to_vec())),
            Outcome::Written(false),
        ]
    );
    assert!(!store.claim_slot(&gate_2, SHORT).await.unwrap());
}

async fn append_adds_at_the_end_and_never_shortens_a_life(store: &Arc<dyn Store>) {
    let append = |key: &'static str, value: &'static [u8], lifetime| async move {
        store.append(key, value, lifetime).await.unwrap()
    };
    // No record yet: the append makes it, with the append's life.
    assert_eq!(append("index:1", b"ab", Lifetime::For(SHORT)).await, 2);
    let an_hour = Lifetime::Until(unix_now() + 3600);
    assert_eq!(append("index:1", b"cd", an_hour).await, 4);
    // A shorter life than the record's does not shorten it.
    assert_eq!(append("index:1", b"e", Lifetime::For(SHORT)).await, 5);
    // No end is the latest end.
    append("index:2", b"x", Lifetime::For(SHORT)).await;
    append("index:2", b"y", Lifetime::Forever).await;
    append("index:2", b"z", Lifetime::For(SHORT)).await;
    append("index:3", b"old", Lifetime::For(SHORT)).await;
    store
        .put("index:witness", b"w", Lifetime::For(SHORT))
        .await
        .unwrap();

    wait_until_gone(store, "index:witness").await;
    wait_until_gone(store, "index:3").await;
    for (key, value) in [("index:1", &b"abcde"[..]), ("index:2", b"xyz")] {
        assert_eq!(
            store.get(key).await.unwrap().as_deref(),
            Some(value),
            "{key}"
        );
    }
    // An expired record counts as empty.
    assert_eq!(append("index:3", b"new", Lifetime::For(SHORT)).await, 3);

    // In a batch, each append answers the length it left, and a later step sees it.
    let appended = store
        .batch(&[
            Step::Append {
                key: "index:4",
                value: b"12",
                lifetime: an_hour,
            },
            Step::Append {
                key: "index:4",
                value: b"345",
                lifetime: an_hour,
            },
            Step::Get("index:4"),
        ])
        .await
        .unwrap();
    assert_eq!(
        appended,
        [
            Outcome::Length(2),
            Outcome::Length(5),
            Outcome::Read(Some(b"12345".to_vec()))
        ]
    );
}

async fn take_gives_a_record_to_exactly_one_taker(store: &Arc<dyn Store>) {
    assert_eq!(store.take("ticket:missing").await.unwrap(), None);

    store
        .put("ticket:1", b"grant", Lifetime::For(Duration::from_secs(60)))
        .await
        .unwrap();
    let takers: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.take("ticket:1").await })
        })
        .collect();
    let mut taken = Vec::new();
    for taker in takers {
        if let Some(value) = taker.await.unwrap().unwrap() {
            taken.push(value);
        }
    }
    assert_eq!(
        taken,
        vec![b"grant".to_vec()],
        "exactly one taker gets the record"
    );
    assert_eq!(store.get("ticket:1").await.unwrap(), None);

    store
        .put("ticket:2", b"expiring", Lifetime::For(SHORT))
        .await
        .unwrap();
    wait_until_gone(store, "ticket:2").await;
    assert_eq!(store.take("ticket:2").await.unwrap(), None);
}

async fn a_slot_is_claimed_once_until_its_lifetime_ends(store: &Arc<dyn Store>) {
    let claims = (0..8).map(|_| store.claim_slot("gate:a", SHORT));
    let taken = futures_util::future::join_all(claims).await;
    let winners = taken
        .into_iter()
        .filter(|claimed| *claimed.as_ref().unwrap());
    assert_eq!(
        winners.count(),
        1,
        "of concurrent claims exactly one takes the slot"
    );
    assert!(
        store.claim_slot("gate:b", SHORT).await.unwrap(),
        "slots are per key"
    );
    let deadline = Instant::now() + EXPIRY_DEADLINE;
    while !store.claim_slot("gate:a", SHORT).await.unwrap() {
        assert!(Instant::now() < deadline, "the slot outlived its lifetime");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A gate or window given a lifetime past any clock's range (`Duration::MAX`) holds, as a very
/// long one does, and the gates and windows of every other key go on working.
async fn a_lifetime_past_the_clock_s_range_holds_and_breaks_nothing(store: &Arc<dyn Store>) {
    assert!(store.claim_slot("gate:max", Duration::MAX).await.unwrap());
    assert!(!store.claim_slot("gate:max", SHORT).await.unwrap());
    let window = store.count_in_window("limit:max", Duration::MAX).await;
    assert_eq!(window.unwrap().count, 1);
    assert!(store.claim_slot("gate:next", SHORT).await.unwrap());
    let next = store.count_in_window("limit:next", SHORT).await;
    assert_eq!(next.unwrap().count, 1);
}

async fn count_in_window_counts_then_resets(store: &Arc<dyn Store>) {
    let window = Duration::from_millis(400);
    let first = store.count_in_window("limit:a", window).await.unwrap();
    assert_eq!(first.count, 1);
    assert_window_starts(first.resets_in, window);
    // The window is fixed: later events count up and do not push its end back.
    let mut previous = first;
    for expected in 2..=3 {
        let counted = store.count_in_window("limit:a", window).await.unwrap();
        assert_eq!(counted.count, expected);
        assert!(
            counted.resets_in <= previous.resets_in,
            "{counted:?} after {previous:?}"
        );
        previous = counted;
    }
    assert_eq!(
        store
            .count_in_window("limit:b", window)
            .await
            .unwrap()
            .count,
        1
    );

    let deadline = Instant::now() + EXPIRY_DEADLINE;
    loop {
        let counted = store.count_in_window("limit:a", window).await.unwrap();
        if counted.count == 1 {
            assert_window_starts(counted.resets_in, window);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the window never reset: {counted:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        store
            .count_in_window("limit:a", window)
            .await
            .unwrap()
            .count,
        2
    );
}

/// A window's first event sees (about) the whole window ahead.
fn assert_window_starts(resets_in: Duration, window: Duration) {
    assert!(
        resets_in <= window && resets_in + Duration::from_millis(50) >= window,
        "a new window of {window:?} resets in {resets_in:?}"
    );
}

async fn notify_reaches_earlier_subscribers_of_the_topic(store: &Arc<dyn Store>) {
    let mut first = store.subscribe("scene:1");
    let mut second = store.subscribe("scene:1");
    let mut other = store.subscribe("scene:2");
    // A marker beside each scene's topic: on a Cluster `marker:N` shares `scene:N`'s hash tag, so
    // both travel over one slot's sharded pub/sub, in order; topics of two slots need not be.
    let mut marker_1 = store.subscribe("marker:1");
    let mut marker_2 = store.subscribe("marker:2");
    // A backend that subscribes per topic (Redis Cluster) wakes a subscription once when it
    // becomes live, so its waiter re-reads what it may have missed: let those pass first.
    passed_by_marker(store, "marker:1", &mut marker_1, [&mut first, &mut second]).await;
    passed_by_marker(store, "marker:2", &mut marker_2, [&mut other]).await;

    store.notify("scene:1").await.unwrap();
    wait_for_change(&mut first).await;
    wait_for_change(&mut second).await;
    // One notified after scene:1, on scene:2's slot, proves scene:2 saw nothing.
    store.notify("marker:2").await.unwrap();
    wait_for_change(&mut marker_2).await;
    assert!(
        !has_change(&mut other),
        "a subscriber of another topic was woken"
    );

    // A later change wakes the same subscription again.
    store.notify("scene:1").await.unwrap();
    wait_for_change(&mut first).await;
}

/// A topic placed in a group wakes its subscribers as any other does, however the backend spells
/// the group (not at all on one Redis, as the hash tag on a Cluster).
async fn a_grouped_topic_reaches_its_subscribers(store: &Arc<dyn Store>) {
    let topic = in_group("g1", "changed:a");
    let mut subscription = store.subscribe(&topic);
    // In the same group, so on a Cluster it travels over the topic's slot.
    let marker = in_group("g1", "marker:a");
    let mut marker_subscription = store.subscribe(&marker);
    passed_by_marker(
        store,
        &marker,
        &mut marker_subscription,
        [&mut subscription],
    )
    .await;
    store.notify(&topic).await.unwrap();
    wait_for_change(&mut subscription).await;
}

/// Notifies `marker` and waits for it: what reached `subscriptions` (of topics on the marker's slot)
/// before it has then arrived, and is drained.
async fn passed_by_marker<const N: usize>(
    store: &Arc<dyn Store>,
    marker: &str,
    marker_subscription: &mut Subscription,
    subscriptions: [&mut Subscription; N],
) {
    store.notify(marker).await.unwrap();
    wait_for_change(marker_subscription).await;
    while has_change(marker_subscription) {}
    for subscription in subscriptions {
        while has_change(subscription) {}
    }
}

async fn ping_answers(store: &Arc<dyn Store>) {
    store.ping().await.unwrap();
}

/// The server's allocator (cli/src/allocator.rs) keeps freed blocks of up to 4 KiB in its thread
/// cache; larger ones go back to the arena, which returns their pages to the system as soon as
/// they are unused. An operation's future is allocated on every call: it must fit, or calls pay
/// for returning pages and faulting them in again (a tenth of a Redis `islogin`'s CPU, profiled).
async fn every_operation_allocates_a_small_future(store: &Arc<dyn Store>) {
    let (value, lifetime, window) = (b"value".as_slice(), Lifetime::Forever, SHORT);
    let steps = [
        Step::Get("a"),
        Step::ClaimSlot {
            key: "b",
            lifetime: SHORT,
        },
    ];
    let sizes = [
        ("get", size_of_val(&*store.get("a"))),
        ("put", size_of_val(&*store.put("a", value, lifetime))),
        (
            "insert_new",
            size_of_val(&*store.insert_new("a", value, lifetime)),
        ),
        (
            "compare_and_swap",
            size_of_val(&*store.compare_and_swap("a", value, value, lifetime)),
        ),
        ("append", size_of_val(&*store.append("a", value, lifetime))),
        ("take", size_of_val(&*store.take("a"))),
        ("delete", size_of_val(&*store.delete("a"))),
        (
            "compare_and_delete",
            size_of_val(&*store.compare_and_delete("a", value)),
        ),
        (
            "count_in_window",
            size_of_val(&*store.count_in_window("a", window)),
        ),
        ("claim_slot", size_of_val(&*store.claim_slot("a", SHORT))),
        ("batch", size_of_val(&*store.batch(&steps))),
        ("notify", size_of_val(&*store.notify("a"))),
        ("ping", size_of_val(&*store.ping())),
    ];
    let large: Vec<_> = sizes.iter().filter(|(_, size)| *size > 4096).collect();
    assert!(large.is_empty(), "futures over 4 KiB: {large:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_keeps_records_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .put("user:1", b"alice", Lifetime::Forever)
            .await
            .unwrap();
        store
            .put("key:signing", b"secret", Lifetime::Forever)
            .await
            .unwrap();
        store
            .put("session:1", b"s", Lifetime::For(Duration::from_secs(3600)))
            .await
            .unwrap();
        store
            .put("ticket:gone", b"t", Lifetime::Forever)
            .await
            .unwrap();
        assert!(store.take("ticket:gone").await.unwrap().is_some());
        assert_eq!(
            store
                .count_in_window("limit:1", Duration::from_secs(3600))
                .await
                .unwrap()
                .count,
            1
        );
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(
        store.get("user:1").await.unwrap().as_deref(),
        Some(&b"alice"[..])
    );
    assert_eq!(
        store.get("key:signing").await.unwrap().as_deref(),
        Some(&b"secret"[..])
    );
    assert_eq!(
        store.get("session:1").await.unwrap().as_deref(),
        Some(&b"s"[..])
    );
    assert_eq!(store.get("ticket:gone").await.unwrap(), None);
    // Rate counters are not records: they live in memory and a restart starts them afresh.
    assert_eq!(
        store
            .count_in_window("limit:1", Duration::from_secs(3600))
            .await
            .unwrap()
            .count,
        1
    );
}

/// A session revoked before sessions were grouped by user had its mark named by the session
/// alone, as every revocation since v1 was: where records are not sharded (the embedded store,
/// one Redis, Sentinel) a grouped key names that same record, so the token stays revoked.
async fn a_revocation_named_by_its_session_alone_still_holds(store: &Arc<dyn Store>) {
    let revoked = sid("v1");
    let lifetime = Lifetime::For(Duration::from_secs(60));
    let named_alone = format!("revoked-sid:{revoked}");
    store.put(&named_alone, b"1", lifetime).await.unwrap();
    assert!(
        sessions::is_revoked(store.as_ref(), "u-ann", &revoked)
            .await
            .unwrap()
    );
    assert!(
        !sessions::is_revoked(store.as_ref(), "u-ann", &sid("v2"))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_keeps_a_revocation_named_by_its_session_alone() {
    let backend = embedded();
    a_revocation_named_by_its_session_alone_still_holds(&backend.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_a_revocation_named_by_its_session_alone() {
    let backend = redis().await;
    a_revocation_named_by_its_session_alone_still_holds(&backend.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_refuses_a_second_opener_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedStore::open(dir.path()).unwrap();
    let Err(error) = EmbeddedStore::open(dir.path()) else {
        panic!("a second open of a database in use succeeded");
    };
    assert!(
        matches!(error, EmbeddedOpenError::Locked { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("in use by another process"),
        "{error}"
    );
    drop(first);
    EmbeddedStore::open(dir.path()).expect("open again after the first closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_reports_a_data_dir_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let Err(error) = EmbeddedStore::open(&file.join("data")) else {
        panic!("opened a data dir inside a regular file");
    };
    assert!(
        matches!(error, EmbeddedOpenError::CreateDir { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("cannot create the data directory"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_reports_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meeteasy.redb"), vec![0x5a_u8; 64 * 1024]).unwrap();
    let Err(error) = EmbeddedStore::open(dir.path()) else {
        panic!("opened a file of garbage as a database");
    };
    assert!(
        matches!(error, EmbeddedOpenError::Corrupt { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("is corrupt"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_notify_reaches_other_instances() {
    let server = RedisServer::start();
    let one = RedisStore::connect(&server.url()).await.unwrap();
    let two = RedisStore::connect(&server.url()).await.unwrap();

    let mut on_one = one.subscribe("scene:1");
    let mut on_two = two.subscribe("scene:1");
    two.notify("scene:1").await.unwrap();
    wait_for_change(&mut on_one).await;
    wait_for_change(&mut on_two).await;

    // And they share the records.
    one.put("ticket:1", b"grant", Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(
        two.take("ticket:1").await.unwrap().as_deref(),
        Some(&b"grant"[..])
    );
    assert_eq!(one.take("ticket:1").await.unwrap(), None);
}

/// A Cluster master dies: its replica takes over the slots, the cluster client follows, and the
/// sharded subscriptions on those slots move to the new master, so wake-ups keep arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_follows_a_master_failover() {
    let (cluster, one, two) = two_stores_on_a_cluster().await;
    // Thirty scenes whose slots fall on all three masters (redis-cli splits the slots in three
    // equal ranges; these ids hash 7, 10 and 13 to each), so whichever master dies holds some.
    let topics: Vec<String> = (0..30)
        .map(|scene| format!("scene-changed:{scene}"))
        .collect();
    let mut subscriptions: Vec<Subscription> =
        topics.iter().map(|topic| one.subscribe(topic)).collect();
    for (topic, subscription) in topics.iter().zip(&mut subscriptions) {
        two.notify(topic).await.unwrap();
        wait_for_change(subscription).await;
    }

    let mut cluster = cluster;
    let killed = cluster.kill_a_master();
    let killed_at = Instant::now();
    // The replica takes over after the node timeout; the old master, back, follows it and gives
    // the shard a replica again, so writes are acknowledged once more.
    // Kept to the end: dropping it stops the nodes.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_until_taken_over();
        cluster.restart(killed);
        cluster
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for topic in &topics {
        let key = topic.replace("scene-changed", "scene");
        while let Err(error) = two.put(&key, b"after", Lifetime::Forever).await {
            assert!(
                Instant::now() < deadline,
                "{key} is not writable 30 s after the kill: {error}\nthe nodes' logs:\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The other store follows the new topology at its first failed operation.
        loop {
            match one.get(&key).await {
                Ok(found) => {
                    assert_eq!(found.as_deref(), Some(&b"after"[..]));
                    break;
                }
                Err(error) => assert!(
                    Instant::now() < deadline,
                    "{key} is not readable 30 s after the kill: {error}"
                ),
            }
        }
    }
    // Every subscription works again, wherever its slot is served now. (A failure says where the
    // channel's subscription is, and how long after the kill, to tell a subscription lost from a
    // message lost.)
    for (topic, subscription) in topics.iter().zip(&mut subscriptions) {
        while has_change(subscription) {}
        two.notify(topic).await.unwrap();
        if tokio::time::timeout(DELIVERY_DEADLINE, subscription.changed())
            .await
            .is_err()
        {
            let scene = topic.trim_start_matches("scene-changed:");
            let channel = format!("meeteasy:notify:scene-changed:{{{scene}}}");
            panic!(
                "{topic}: no notification within {DELIVERY_DEADLINE:?}, {:?} after the kill; \
                 {} connection(s) subscribed to {channel} over the nodes; the slot's master is \
                 on port {}",
                killed_at.elapsed(),
                cluster.subscribers(&channel),
                cluster.master_of(&format!("meeteasy:scene:{{{scene}}}"))
            );
        }
    }
}

/// A slot moved to another master (resharding): both stores follow the redirection for single
/// operations and for batches, the new master's replica acknowledges the writes, and the sharded
/// subscription on the slot comes back on the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_follows_a_slot_moved_to_another_master() {
    let (cluster, one, two) = two_stores_on_a_cluster().await;
    let (key, topic) = ("scene:moving", "scene-changed:moving");
    let mut subscription = one.subscribe(topic);
    two.notify(topic).await.unwrap();
    wait_for_change(&mut subscription).await;
    one.put(key, b"before", Lifetime::Forever).await.unwrap();

    // Kept to the end: dropping it stops the nodes.
    let (cluster, (from, to)) = tokio::task::spawn_blocking(move || {
        let moved = cluster.move_slot_of("meeteasy:scene:{moving}");
        (cluster, moved)
    })
    .await
    .unwrap();
    assert_ne!(from, to);
    // Both stores last saw the slot on its old master: their first operations there are
    // redirected, a batch's pipeline as a whole.
    assert_eq!(two.get(key).await.unwrap().as_deref(), Some(&b"before"[..]));
    let steps = [
        Step::Get(key),
        Step::ClaimSlot {
            key: "poll-gate.holder:moving",
            lifetime: Duration::from_secs(60),
        },
        Step::Put {
            key,
            value: b"after",
            lifetime: Lifetime::Forever,
        },
        Step::Get("scene:elsewhere"),
    ];
    assert_eq!(
        one.batch(&steps).await.unwrap(),
        [
            Outcome::Read(Some(b"before".to_vec())),
            Outcome::Written(true),
            Outcome::Written(true),
            Outcome::Read(None),
        ]
    );
    assert_eq!(cluster.master_of("meeteasy:scene:{moving}"), to);
    assert_eq!(two.get(key).await.unwrap().as_deref(), Some(&b"after"[..]));

    // The old master told the subscriber the slot left it; once subscribed again on the new
    // master, every notification arrives (a wake from the subscribing itself is allowed).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while has_change(&mut subscription) {}
        two.notify(topic).await.unwrap();
        let woken = tokio::time::timeout(Duration::from_millis(200), subscription.changed());
        if woken.await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no wake-up on the moved slot within 10 s"
        );
    }
    for _ in 0..3 {
        notified_again(&two, topic, &mut subscription).await;
    }
}

/// A batch that meets a slot half migrated, some of its keys moved (`ASK`) and some not: every
/// step is carried out once, where its key is, and the migration then finishes.
/// - Spread over several slots, its steps go one command each. (Several steps in one pipeline were
///   sent again whole on `ASK`, repeating the writes already made, and the key then on both
///   masters stopped the migration.)
/// - On one slot, it is one script, which the old master refuses (`TRYAGAIN`) while the slot's
///   keys are split: asked again, it runs once they are all on the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_batch_meets_a_slot_half_migrated() {
    let (cluster, store) = a_store_on_a_cluster().await;
    store
        .put("user:u1", b"ann", Lifetime::Forever)
        .await
        .unwrap();
    store
        .append("user-sessions:u1", b"s1;", Lifetime::Forever)
        .await
        .unwrap();
    let old_master = cluster.master_of("meeteasy:user:{u1}");
    let elsewhere = (2..)
        .map(|n| format!("u{n}"))
        .find(|id| cluster.master_of(&format!("meeteasy:user:{{{id}}}")) != old_master)
        .map(|id| format!("user:{id}"))
        .expect("a user on another master");
    let (cluster, moving) = tokio::task::spawn_blocking(move || {
        let moving = cluster.start_moving_slot_of("meeteasy:user:{u1}");
        cluster.migrate(&moving, &["meeteasy:user:{u1}"]);
        (cluster, moving)
    })
    .await
    .unwrap();

    let across_slots = [
        Step::Append {
            key: "user-sessions:u1",
            value: b"s2;",
            lifetime: Lifetime::Forever,
        },
        Step::Put {
            key: "user:u1",
            value: b"bob",
            lifetime: Lifetime::Forever,
        },
        Step::Put {
            key: &elsewhere,
            value: b"cat",
            lifetime: Lifetime::Forever,
        },
        Step::Get("user:u1"),
        Step::Get("user-sessions:u1"),
    ];
    assert_eq!(
        store.batch(&across_slots).await.unwrap(),
        [
            Outcome::Length(6),
            Outcome::Written(true),
            Outcome::Written(true),
            Outcome::Read(Some(b"bob".to_vec())),
            Outcome::Read(Some(b"s1;s2;".to_vec())),
        ]
    );

    let tried_again = move || {
        redis_cli(old_master, &["INFO", "errorstats"])
            .unwrap_or_default()
            .contains("errorstat_TRYAGAIN")
    };
    assert!(!tried_again(), "no TRYAGAIN yet");
    let store = Arc::new(store);
    let started = Instant::now();
    let one_slot = tokio::spawn({
        let store = store.clone();
        async move {
            let steps = [
                Step::Append {
                    key: "user-sessions:u1",
                    value: b"s3;",
                    lifetime: Lifetime::Forever,
                },
                Step::Get("user:u1"),
            ];
            store.batch(&steps).await
        }
    });
    // Kept to the end: dropping it stops the nodes.
    let _cluster = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tried_again() {
            assert!(
                Instant::now() < deadline,
                "the old master never said TRYAGAIN"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        cluster.finish_moving(moving);
        cluster
    })
    .await
    .unwrap();
    let moved_in = started.elapsed();
    let index = async || store.get("user-sessions:u1").await.unwrap();
    match one_slot.await.unwrap() {
        Ok(outcomes) => {
            let expected = [Outcome::Length(9), Outcome::Read(Some(b"bob".to_vec()))];
            assert_eq!(outcomes, expected);
            assert_eq!(index().await.as_deref(), Some(&b"s1;s2;s3;"[..]));
        }
        // An operation has 2 s and the client asks again up to half a second apart: a move that
        // took longer than 1.2 s to finish (a loaded machine's redis-cli calls) may leave the batch
        // answering unavailable, as README says, and its script ran whole or not at all.
        Err(StoreError::Unavailable(_)) if moved_in > Duration::from_millis(1200) => {
            let index = index().await;
            let whole_or_none = [&b"s1;s2;"[..], &b"s1;s2;s3;"[..]];
            assert!(
                whole_or_none.contains(&index.as_deref().unwrap_or_default()),
                "{index:?}"
            );
        }
        Err(error) => panic!("the move finished after {moved_in:?}; the batch failed: {error}"),
    }
    assert_eq!(
        store.get("user:u1").await.unwrap().as_deref(),
        Some(&b"bob"[..])
    );
}

/// Waiters on a master that just died (before its replica takes over) cannot be subscribed yet;
/// they must not hold up the others: a topic opened after ten of theirs, on a live master, goes
/// live at once, not after each of theirs has had its time to fail (half a second each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_subscribes_live_masters_topics_while_another_master_is_down() {
    let (mut cluster, store) = a_store_on_a_cluster().await;
    // Kept to the end: dropping it stops the nodes.
    let ((on_the_dead, live), _cluster) = tokio::task::spawn_blocking(move || {
        let master_of = |scene: &usize| cluster.master_of(&format!("meeteasy:scene:{{{scene}}}"));
        let doomed = master_of(&0);
        let on_the_dead: Vec<usize> = (0..)
            .filter(|scene| master_of(scene) == doomed)
            .take(10)
            .collect();
        let live = (1..)
            .find(|scene| master_of(scene) != doomed)
            .expect("a live scene");
        cluster.kill_at(doomed);
        ((on_the_dead, live), cluster)
    })
    .await
    .unwrap();
    let _dead_waiters: Vec<Subscription> = on_the_dead
        .iter()
        .map(|scene| store.subscribe(&format!("scene:{scene}")))
        .collect();
    let started = Instant::now();
    let mut live_waiter = store.subscribe(&format!("scene:{live}"));
    // A subscription wakes its waiter once it is live.
    within(
        Duration::from_secs(10),
        live_waiter.changed(),
        "the live master's topic went live",
    )
    .await;
    let went_live_in = started.elapsed();
    assert!(
        went_live_in < Duration::from_secs(3),
        "a topic on a live master went live {went_live_in:?} after ten on a dead one were opened"
    );
}

/// A ticket's exchange opens a session derived from another, reading the marks and the user in
/// the same batch: on a Cluster that is one command, a script on the user's slot, where the
/// session's records, its parent's and its user's all live. (Step by step, it was two appends as
/// scripts, a `SET` and three `GET`s over three slots, in two round trips.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_opens_a_derived_session_in_one_command() {
    let (cluster, store) = a_store_on_a_cluster().await;
    open_any(&store, &sid("parent"), &session_of("u-gil", 0, 600, None)).await;
    let ports = cluster.ports();
    for port in &ports {
        redis_cli(*port, &["CONFIG", "RESETSTAT"]).expect("stats reset");
    }
    let user = store_keys::user("u-gil");
    let child = session_of("u-gil", 0, 600, Some("parent"));
    let opened = sessions::open(&store, &sid("child"), &child, Claim::FirstRecord, &[&user])
        .await
        .unwrap();
    assert!(opened.made);
    // Commands a script runs are counted too: a script is the one `EVAL`.
    let scripts: u64 = ports
        .iter()
        .map(|port| {
            let stats = redis_cli(*port, &["INFO", "commandstats"]).unwrap_or_default();
            stats
                .lines()
                .find_map(|line| line.strip_prefix("cmdstat_eval:calls="))
                .and_then(|rest| rest.split(',').next())
                .map_or(0, |calls| calls.parse().expect("a count of calls"))
        })
        .sum();
    assert_eq!(scripts, 1);
    let listed = sessions::list(&store, "u-gil", &sid("child"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
}

/// A write waits for the replicas of the master it went to, wherever the key's slot is: with one
/// master's replica gone, exactly the keys that master serves are refused, alone or in a batch
/// (whose pipeline for each slot ends in that slot's master's `WAIT`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_waits_for_the_replica_of_the_written_keys_master() {
    let (mut cluster, store) = a_store_on_a_cluster().await;
    let unreplicated = cluster.kill_a_replica();
    // Scenes 0 to 11 fall on all three masters (3 to 5 each): each refused one waits the whole
    // replica timeout.
    let keys: Vec<String> = (0..12).map(|scene| format!("scene:{scene}")).collect();
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for (scene, key) in keys.iter().enumerate() {
        let written = store.put(key, b"x", Lifetime::Forever).await;
        let master = cluster.master_of(&format!("meeteasy:scene:{{{scene}}}"));
        assert_eq!(
            written.is_ok(),
            master != unreplicated,
            "{key} on the master at port {master} (the one without a replica: {unreplicated}): \
             {written:?}\n{}\n{}",
            redis_cli(master, &["INFO", "replication"]).unwrap_or_default(),
            redis_cli(master, &["CLUSTER", "NODES"]).unwrap_or_default(),
        );
        match written {
            Ok(()) => kept.push(key.as_str()),
            Err(StoreError::Unavailable(detail)) if detail.contains("0 of 1 replicas") => {
                refused.push(key.as_str());
            }
            Err(error) => panic!("{key} refused for another reason: {error}"),
        }
    }
    let put = |key| Step::Put {
        key,
        value: b"y",
        lifetime: Lifetime::Forever,
    };
    let on_replicated_masters: Vec<Step<'_>> = kept.iter().copied().map(put).collect();
    assert_eq!(
        store.batch(&on_replicated_masters).await.unwrap(),
        vec![Outcome::Written(true); kept.len()]
    );
    let one_unreplicated = [put(kept[0]), put(refused[0]), put(kept[1])];
    let written = store.batch(&one_unreplicated).await;
    let Err(StoreError::Unavailable(detail)) = written else {
        panic!("a batch with a write on the master without a replica gave {written:?}");
    };
    assert!(detail.contains("0 of 1 replicas"), "{detail}");
    // Reads wait for nobody, on any master; each refused write was carried out all the same.
    let reads: Vec<Step<'_>> = keys.iter().map(|key| Step::Get(key)).collect();
    let read = store.batch(&reads).await.unwrap();
    assert_eq!(read.len(), keys.len());
    assert!(
        read.iter()
            .all(|outcome| matches!(outcome, Outcome::Read(Some(_)))),
        "{read:?}"
    );
}

/// Sentinels with a password of their own, watching data nodes with none: the server gives the
/// sentinels theirs (`redis.sentinel_password_*`) and the data nodes nothing. Without it the
/// sentinels refuse the server, which says so at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sentinels_asking_for_a_password_of_their_own_are_reached() {
    let sentinels =
        tokio::task::spawn_blocking(|| RedisSentinels::start_asking(1, Some("sentinel secret")))
            .await
            .unwrap();
    let store = RedisStore::open(&sentinels.settings())
        .await
        .expect("open through sentinels asking for a password");
    store
        .put("user:1", b"ann", Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(store.get("user:1").await.unwrap(), Some(b"ann".to_vec()));
    let mut without = sentinels.settings();
    if let RedisDeployment::Sentinel {
        sentinel_password, ..
    } = &mut without.deployment
    {
        *sentinel_password = None;
    }
    let refused = RedisStore::open(&without).await.err();
    assert!(
        matches!(refused, Some(StoreError::Unavailable(_))),
        "{refused:?}"
    );
}

/// A store on a fresh redis-server with no replica, told to wait for one (50 ms at most).
async fn waiting_for_a_replica_it_lacks() -> (RedisServer, RedisStore) {
    waiting_for_a_missing_replica_up_to(Duration::from_millis(50)).await
}

async fn waiting_for_a_missing_replica_up_to(timeout: Duration) -> (RedisServer, RedisStore) {
    let server = RedisServer::start();
    let mut settings = RedisSettings::single(&server.url());
    settings.replica_ack = Some(ReplicaAck {
        replicas: 1,
        timeout,
    });
    let store = RedisStore::open(&settings).await.expect("open the store");
    (server, store)
}

/// Redis reads nothing more from a connection while a `WAIT` blocks it: with a replica down, a
/// read (or `/readyz`'s ping) sent behind writes waiting for it would wait for all of them, and an
/// instance under writes would answer nothing at all. Reads go over a connection of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_reads_answer_while_writes_wait_for_a_missing_replica() {
    // The longest wait Redis is allowed: a read behind one would take that long, well clear of
    // a busy machine's scheduling.
    let (server, store) = waiting_for_a_missing_replica_up_to(Duration::from_millis(1500)).await;
    let store = Arc::new(store);
    store.put("user:1", b"ann", Lifetime::Forever).await.ok();
    let writes: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .put(&format!("scene:{n}"), b"x", Lifetime::Forever)
                    .await
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis_cli(server.port(), &["INFO", "clients"])
        .is_none_or(|info| info.contains("blocked_clients:0"))
    {
        assert!(Instant::now() < deadline, "no write's WAIT blocked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    assert_eq!(store.get("user:1").await.unwrap(), Some(b"ann".to_vec()));
    store.ping().await.unwrap();
    let answered_in = started.elapsed();
    assert!(
        answered_in < Duration::from_secs(1),
        "a read and a ping took {answered_in:?} behind writes waiting 1.5 s each"
    );
    for write in writes {
        let written = write.await.expect("the write ends");
        assert!(
            matches!(written, Err(StoreError::Unavailable(_))),
            "{written:?}"
        );
    }
}

/// Every kind of write is acknowledged only once the replicas have it (its `WAIT` in the write's own
/// pipeline): a Redis with no replica can never say so. (With one, the Sentinel suite's writes
/// pass through the same pipelines.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_single_write_waits_for_the_replicas() {
    let (_server, store) = waiting_for_a_replica_it_lacks().await;
    let key = "invite:1";
    let put = store.put(key, b"x", Lifetime::Forever).await;
    // Carried out on the master all the same: nobody was told it is kept.
    assert_eq!(store.get(key).await.unwrap(), Some(b"x".to_vec()));
    let written = [
        put,
        store
            .insert_new(key, b"x", Lifetime::Forever)
            .await
            .map(drop),
        store
            .compare_and_swap(key, b"x", b"y", Lifetime::Forever)
            .await
            .map(drop),
        store.append(key, b"z", Lifetime::Forever).await.map(drop),
        store.take(key).await.map(drop),
        store.delete(key).await,
    ];
    for (at, outcome) in written.into_iter().enumerate() {
        let Err(StoreError::Unavailable(detail)) = outcome else {
            panic!("write {at} with no replica to hold it gave {outcome:?}");
        };
        assert!(detail.contains("0 of 1 replicas"), "{detail}");
    }
    // The take emptied it; reads wait for nobody.
    assert_eq!(store.get(key).await.unwrap(), None);
}

/// A batch's writes are acknowledged only once the replicas have them, as a single write's are:
/// its pipeline ends in `WAIT`. A Redis with no replica can never say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_batch_that_writes_waits_for_the_replicas() {
    let (_server, store) = waiting_for_a_replica_it_lacks().await;
    let put = Step::Put {
        key: "ticket:1",
        value: b"grant",
        lifetime: Lifetime::Forever,
    };
    let written = store.batch(&[Step::Get("ticket:1"), put]).await;
    let Err(StoreError::Unavailable(detail)) = written else {
        panic!("a batch's write with no replica to hold it gave {written:?}");
    };
    assert!(detail.contains("0 of 1 replicas"), "{detail}");
    // Reads alone wait for nobody.
    let read = store.batch(&[Step::Get("ticket:1")]).await.unwrap();
    assert_eq!(read, [Outcome::Read(Some(b"grant".to_vec()))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_carry_the_prefix() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).await.unwrap();
    store
        .put("user:1", b"alice", Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(
        raw_integer_command(server.port(), &["EXISTS", "meeteasy:user:1"]),
        1
    );
    assert_eq!(raw_integer_command(server.port(), &["EXISTS", "user:1"]), 0);
    assert_eq!(raw_integer_command(server.port(), &["DBSIZE"]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connect_fails_clearly_when_unreachable() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.stop();
    let started = Instant::now();
    let Err(error) = RedisStore::connect(&url).await else {
        panic!("connected to a stopped redis-server");
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");

    let Err(error) = RedisStore::connect("not a url").await else {
        panic!("connected to a nonsense URL");
    };
    assert!(error.to_string().contains("URL"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_fast_then_recovers_by_itself() {
    let mut server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let other = RedisStore::connect(&server.url()).await.unwrap();
    store
        .put("user:1", b"alice", Lifetime::Forever)
        .await
        .unwrap();
    let mut waiting_through_outage = store.subscribe("scene:1");

    server.stop();
    for _attempt in 0..2 {
        let started = Instant::now();
        let result = store.get("user:1").await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    assert!(store.ping().await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while store
        .put("user:1", b"alice again", Lifetime::Forever)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the store never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.get("user:1").await.unwrap().as_deref(),
        Some(&b"alice again"[..])
    );
    store.ping().await.unwrap();

    // The notification listener reconnects too, and wakes whoever waited through the outage.
    wait_for_change(&mut waiting_through_outage).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut subscription = store.subscribe("scene:2");
        other.notify("scene:2").await.unwrap();
        if tokio::time::timeout(Duration::from_millis(500), subscription.changed())
            .await
            .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "notifications never came back");
    }
}

/// Polls until `key` reads as absent.
/// A session id of the form tokens carry (43 URL-safe characters).
fn sid(name: &str) -> String {
    format!("{name:->43}")
}

fn session_of(user_id: &str, created_ago: u64, lives: u64, parent: Option<&str>) -> SessionRecord {
    let now = unix_now();
    SessionRecord {
        user_id: user_id.into(),
        client: if parent.is_some() {
            Audience::H5
        } else {
            Audience::Console
        },
        device_name: Some("Desk".into()),
        ip: "192.0.2.7".into(),
        created_at: now - created_ago,
        last_seen_at: now - created_ago,
        methods: vec!["pwd".into()],
        parent: parent.map(sid),
        expires_at: now + lives,
    }
}

/// Opens a session of its own (nothing claimed), which must succeed.
async fn open_any(store: &dyn Store, sid: &str, record: &SessionRecord) {
    sessions::open(store, sid, record, Claim::Any, &[])
        .await
        .unwrap();
}

async fn listed(store: &Arc<dyn Store>, user_id: &str, current: &str) -> Vec<(String, bool)> {
    sessions::list(store.as_ref(), user_id, &sid(current))
        .await
        .unwrap()
        .into_iter()
        .map(|session| (session.id, session.current))
        .collect()
}

async fn session_index_lists_a_users_live_sessions_newest_first(store: &Arc<dyn Store>) {
    for (name, ago) in [("old", 30), ("new", 10), ("mid", 20)] {
        open_any(
            store.as_ref(),
            &sid(name),
            &session_of("u-ann", ago, 600, None),
        )
        .await;
    }
    open_any(
        store.as_ref(),
        &sid("bob"),
        &session_of("u-bob", 5, 600, None),
    )
    .await;
    assert_eq!(
        listed(store, "u-ann", "mid").await,
        [(sid("new"), false), (sid("mid"), true), (sid("old"), false)]
    );
    let one = &sessions::list(store.as_ref(), "u-ann", &sid("mid"))
        .await
        .unwrap()[0];
    assert_eq!(
        (one.client, one.device_name.as_deref(), one.ip.as_str()),
        (Audience::Console, Some("Desk"), "192.0.2.7")
    );
    assert_eq!(listed(store, "u-bob", "bob").await, [(sid("bob"), true)]);
}

async fn session_index_forgets_expired_sessions_by_itself(store: &Arc<dyn Store>) {
    // Two seconds: a session ends at a whole second, so one second could be over before the
    // listing below on a slow machine.
    let brief = session_of("u-cat", 0, 2, None);
    open_any(store.as_ref(), &sid("brief"), &brief).await;
    assert_eq!(listed(store, "u-cat", "x").await.len(), 1);
    // The record and the user's index both carry the session's expiry: nothing to sweep.
    wait_until_gone(store, &store_keys::session("u-cat", &sid("brief"))).await;
    wait_until_gone(store, &store_keys::user_sessions("u-cat")).await;
    assert!(listed(store, "u-cat", "x").await.is_empty());
}

async fn revoking_a_session_ends_its_descendants_at_any_depth(store: &Arc<dyn Store>) {
    let chain = [
        ("root", None),
        ("child", Some("root")),
        ("grandchild", Some("child")),
    ];
    for (name, parent) in chain {
        open_any(
            store.as_ref(),
            &sid(name),
            &session_of("u-dan", 0, 600, parent),
        )
        .await;
    }
    open_any(
        store.as_ref(),
        &sid("laptop"),
        &session_of("u-dan", 0, 600, None),
    )
    .await;
    let ended =
        sessions::revoke_with_descendants(store.as_ref(), "u-dan", &sid("root"), unix_now() + 600)
            .await
            .unwrap();
    assert_eq!(ended, 3);
    for (name, _) in chain {
        assert!(
            sessions::is_revoked(store.as_ref(), "u-dan", &sid(name))
                .await
                .unwrap(),
            "{name}"
        );
    }
    assert!(
        !sessions::is_revoked(store.as_ref(), "u-dan", &sid("laptop"))
            .await
            .unwrap()
    );
    assert_eq!(
        listed(store, "u-dan", "laptop").await,
        [(sid("laptop"), true)]
    );
    // Ending it again ends nothing more.
    let again =
        sessions::revoke_with_descendants(store.as_ref(), "u-dan", &sid("root"), unix_now() + 600)
            .await
            .unwrap();
    assert_eq!(again, 0);
}

async fn a_session_derived_from_a_revoked_one_is_refused(store: &Arc<dyn Store>) {
    open_any(
        store.as_ref(),
        &sid("gone"),
        &session_of("u-eve", 0, 600, None),
    )
    .await;
    sessions::revoke_with_descendants(store.as_ref(), "u-eve", &sid("gone"), unix_now() + 600)
        .await
        .unwrap();
    let late = sessions::open(
        store.as_ref(),
        &sid("late"),
        &session_of("u-eve", 0, 600, Some("gone")),
        Claim::Any,
        &[],
    )
    .await;
    assert!(matches!(late, Err(AuthError::TicketExpired)), "{late:?}");
    assert!(
        sessions::is_revoked(store.as_ref(), "u-eve", &sid("late"))
            .await
            .unwrap()
    );
    assert!(listed(store, "u-eve", "x").await.is_empty());
}

/// A login ticket's redeem: callers racing to open the session it names all write it, and only the
/// one whose insert of the record was made may hand it out; one that comes after the session was
/// ended may not either, and leaves no record behind.
async fn a_session_claimed_by_its_record_is_handed_out_once(store: &Arc<dyn Store>) {
    let (record, named) = (session_of("u-fay", 0, 600, None), sid("named"));
    let open = || sessions::open(store.as_ref(), &named, &record, Claim::FirstRecord, &[]);
    let racing = futures_util::future::join_all((0..8).map(|_| open())).await;
    let made = racing.into_iter().map(|opened| opened.unwrap().made);
    assert_eq!(made.filter(|made| *made).count(), 1);
    sessions::revoke_with_descendants(store.as_ref(), "u-fay", &named, unix_now() + 600)
        .await
        .unwrap();
    assert!(!open().await.unwrap().made, "a replay after the end");
    let record_key = store_keys::session("u-fay", &named);
    assert_eq!(store.get(&record_key).await.unwrap(), None);
}

async fn wait_until_gone(store: &Arc<dyn Store>, key: &str) {
    let deadline = Instant::now() + EXPIRY_DEADLINE;
    while store.get(key).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "{key} outlived its lifetime");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh Cluster, and a store on it.
async fn a_store_on_a_cluster() -> (RedisCluster, RedisStore) {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let store = RedisStore::open(&cluster.settings())
        .await
        .expect("open the cluster store");
    (cluster, store)
}

/// A fresh Cluster, and two stores on it as two server instances would open them.
async fn two_stores_on_a_cluster() -> (RedisCluster, RedisStore, RedisStore) {
    let (cluster, one) = a_store_on_a_cluster().await;
    let two = RedisStore::open(&cluster.settings())
        .await
        .expect("open another store");
    (cluster, one, two)
}

/// `from` notifies `topic` and `subscription` hears it (any wake it had before is dropped first).
async fn notified_again(from: &RedisStore, topic: &str, subscription: &mut Subscription) {
    while has_change(subscription) {}
    from.notify(topic).await.unwrap();
    wait_for_change(subscription).await;
}

async fn wait_for_change(subscription: &mut Subscription) {
    within(
        DELIVERY_DEADLINE,
        subscription.changed(),
        "a notification never arrived",
    )
    .await;
}

/// Whether a change is already waiting, without waiting for one.
fn has_change(subscription: &mut Subscription) -> bool {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let mut changed = pin!(subscription.changed());
    matches!(
        changed
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(())
    )
}

async fn within<T>(limit: Duration, future: impl Future<Output = T>, failure: &str) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{failure} within {limit:?}"))
}

/// Sends one command over a plain connection and reads its integer reply (`:<n>`).
fn raw_integer_command(port: u16, args: &[&str]) -> i64 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let mut byte = [0_u8; 1];
    while !reply.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).unwrap();
        reply.push(byte[0]);
    }
    let reply = String::from_utf8(reply).unwrap();
    reply.strip_prefix(':').unwrap().trim_end().parse().unwrap()
}
