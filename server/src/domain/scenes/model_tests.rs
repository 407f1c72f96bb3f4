//! One model of a scene's life, checked against the real service on both stores (embedded, and a
//! redis-server the test starts): random interleavings of consoles creating scenes (a console's
//! rotation is a new scene; its old one lives on), phones scanning, confirming and declining, the
//! console's `islogin` polls (alone or several at once), polls with someone else's poll token,
//! phones logging out and in again (a confirm goes with the phone session that made it), and
//! expiry (the clock passing a scene's end, or the store dropping it). Each answer is compared with what the model expects, and after every step:
//!
//! - a scene hands out at most one session (its poll token may collect that same session again),
//!   and no session belongs to two scenes;
//! - a token goes only to a poll carrying the scene's own poll token;
//! - only after the scene's owner confirmed, and that owner is an organizer: never after a decline
//!   or a confirm without the organizer role, nor once the phone session that confirmed ended;
//! - a token is a valid console token of that owner, and a confirmed live scene is delivered on the
//!   next poll (no login the phone saw succeed is lost).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use meeteasy_protocol::{Audience, Claims, CreateSceneRequest, IsLoginResponse, Secret};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};
use tempfile::TempDir;

use crate::domain::test_support::{FaultyStore, TestService, organizer, service_on, settings};
use crate::domain::users::{self, NewPasswordUser, UserRecord};
use crate::domain::{AuthError, ClientAddr, records, sessions, store_keys, unix_now};
use crate::store::redis::RedisStore;
use crate::store::{Lifetime, Store};

use super::record::SceneRecord;

/// The phones: (name, holds the organizer role).
const PHONES: [(&str, bool); 3] = [("ann", true), ("bob", true), ("eve", false)];
/// Long enough that nothing expires by itself within a case: expiry is a step.
const LONG: Duration = Duration::from_secs(600);
/// A wait short enough to keep each case fast, long enough to skip the `wait=0` rate gate.
const SHORT_WAIT: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
enum Step {
    /// A console shows a new scene: its first, or a rotation (its earlier scenes live on).
    Create,
    Scan {
        phone: usize,
        scene: Index,
    },
    Confirm {
        phone: usize,
        scene: Index,
    },
    Decline {
        phone: usize,
        scene: Index,
    },
    /// The poll token's holder polls, with `wait=0` or a short wait.
    Poll {
        scene: Index,
        no_wait: bool,
    },
    /// Several polls of the same scene by its poll token at once.
    PollsAtOnce {
        scene: Index,
        polls: usize,
    },
    /// A poll carrying another scene's poll token (another console's, or a rotated-away one), or a
    /// stranger's.
    PollWithWrongToken {
        scene: Index,
        other_scene: bool,
    },
    /// The scene's end passes (its record stays, expired), or the store drops it.
    Expire {
        scene: Index,
        dropped: bool,
    },
    /// The phone logs out (its session ends) and logs in again (a new session).
    LogInAgain {
        phone: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let phone = || 0..PHONES.len();
    let scene = any::<Index>;
    prop_oneof![
        1 => Just(Step::Create),
        3 => (phone(), scene()).prop_map(|(phone, scene)| Step::Scan { phone, scene }),
        3 => (phone(), scene()).prop_map(|(phone, scene)| Step::Confirm { phone, scene }),
        1 => (phone(), scene()).prop_map(|(phone, scene)| Step::Decline { phone, scene }),
        5 => (scene(), any::<bool>()).prop_map(|(scene, no_wait)| Step::Poll { scene, no_wait }),
        1 => (scene(), 2..5usize).prop_map(|(scene, polls)| Step::PollsAtOnce { scene, polls }),
        2 => (scene(), any::<bool>())
            .prop_map(|(scene, other_scene)| Step::PollWithWrongToken { scene, other_scene }),
        1 => (scene(), any::<bool>()).prop_map(|(scene, dropped)| Step::Expire { scene, dropped }),
        1 => phone().prop_map(|phone| Step::LogInAgain { phone }),
    ]
}

/// Where a scene is in its life, as the model sees it (phones by their index in [`PHONES`]).
#[derive(Debug, Clone, PartialEq)]
enum Life {
    Pending,
    Scanned(usize),
    /// Confirmed from the phone session `by`.
    Confirmed {
        phone: usize,
        by: String,
    },
    /// Delivered as the console session `sid`, confirmed from the phone session `by`.
    Delivered {
        phone: usize,
        sid: String,
        by: String,
    },
    Declined(usize),
    Refused(usize),
    /// Confirmed, then the phone session that confirmed ended: a poll found the confirm gone.
    Withdrawn(usize),
}

#[derive(Debug)]
struct ModelScene {
    id: String,
    poll_token: String,
    life: Life,
    /// Its end has passed (the record is still stored).
    expired: bool,
    /// The store no longer has it.
    dropped: bool,
    /// Every session a poll of this scene was handed.
    sessions: BTreeSet<String>,
}

impl ModelScene {
    fn owner(&self) -> Option<usize> {
        match &self.life {
            Life::Pending => None,
            Life::Scanned(phone)
            | Life::Confirmed { phone, .. }
            | Life::Declined(phone)
            | Life::Refused(phone)
            | Life::Delivered { phone, .. }
            | Life::Withdrawn(phone) => Some(*phone),
        }
    }
}

/// What a phone's step may answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PhoneAnswer {
    Done,
    Claimed,
    Expired,
    NotOrganizer,
}

#[derive(Debug, Clone, Copy)]
enum PhoneStep {
    Scan,
    Confirm,
    Decline,
}

struct Case {
    service: TestService,
    store: Arc<dyn Store>,
    phones: Vec<UserRecord>,
    /// How many times each phone logged in again: its session is the one of that count.
    logins: Vec<usize>,
    scenes: Vec<ModelScene>,
}

impl Case {
    async fn start(store: Arc<dyn Store>) -> Self {
        let service = service_on(
            store.clone(),
            settings(|s| {
                s.lifetimes.scene = LONG;
                s.lifetimes.scanned_scene = LONG;
                s.lifetimes.delivered_scene = LONG;
                // `wait=0` polls pass the rate gate unless two fall within the same millisecond.
                s.lifetimes.poll_interval = Duration::from_millis(1);
                s.scene_limits.per_ip = u64::MAX;
            }),
        )
        .await;
        // Logins are unique in a store, and one Redis serves every case.
        static CASES: AtomicUsize = AtomicUsize::new(0);
        let case = CASES.fetch_add(1, Ordering::Relaxed);
        let mut phones = Vec::new();
        for (name, is_organizer) in PHONES {
            let name = format!("{name}{case}");
            phones.push(if is_organizer {
                organizer(store.as_ref(), &name).await
            } else {
                guest(store.as_ref(), &name).await
            });
        }
        Self {
            service,
            store,
            logins: vec![0; phones.len()],
            phones,
            scenes: Vec::new(),
        }
    }

    async fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        if self.scenes.is_empty() && !matches!(step, Step::Create) {
            self.create().await;
        }
        let pick = |index: &Index| index.index(self.scenes.len());
        match step {
            Step::Create => self.create().await,
            Step::Scan { phone, scene } => {
                self.phone_step(*phone, pick(scene), PhoneStep::Scan)
                    .await?;
            }
            Step::Confirm { phone, scene } => {
                self.phone_step(*phone, pick(scene), PhoneStep::Confirm)
                    .await?;
            }
            Step::Decline { phone, scene } => {
                self.phone_step(*phone, pick(scene), PhoneStep::Decline)
                    .await?;
            }
            Step::Poll { scene, no_wait } => {
                let scene = pick(scene);
                let wait = if *no_wait { Duration::ZERO } else { SHORT_WAIT };
                let model = &self.scenes[scene];
                let answer = self
                    .service
                    .poll_scene(&model.id, &model.poll_token, wait)
                    .await;
                self.check_poll(scene, answer, *no_wait).await?;
            }
            Step::PollsAtOnce { scene, polls } => {
                let scene = pick(scene);
                let model = &self.scenes[scene];
                let answers = join_all((0..*polls).map(|_| {
                    self.service
                        .poll_scene(&model.id, &model.poll_token, SHORT_WAIT)
                }))
                .await;
                for answer in answers {
                    self.check_poll(scene, answer, false).await?;
                }
            }
            Step::PollWithWrongToken { scene, other_scene } => {
                let scene = pick(scene);
                let stranger = "A".repeat(43);
                let token = match (*other_scene, self.scenes.len()) {
                    (true, count) if count > 1 => &self.scenes[(scene + 1) % count].poll_token,
                    _ => &stranger,
                };
                let model = &self.scenes[scene];
                let answer = self.service.poll_scene(&model.id, token, SHORT_WAIT).await;
                let expected = if model.dropped {
                    "SceneExpired"
                } else {
                    "InvalidPollToken"
                };
                prop_assert!(
                    matches!(
                        (&answer, expected),
                        (Err(AuthError::SceneExpired), "SceneExpired")
                            | (Err(AuthError::InvalidPollToken), "InvalidPollToken")
                    ),
                    "a poll with a wrong token of {model:?}: expected {expected}, got {answer:?}"
                );
            }
            Step::Expire { scene, dropped } => self.expire(pick(scene), *dropped).await,
            Step::LogInAgain { phone } => {
                let (user_id, ending) = (&self.phones[*phone].id, self.phone_session(*phone));
                let end = unix_now() + 3600;
                let ended = sessions::revoke_with_descendants(&*self.store, user_id, &ending, end);
                ended.await.expect("logged out");
                self.logins[*phone] += 1;
            }
        }
        self.check_invariants()
    }

    /// The id of `phone`'s session now: unique in the store, as a real one is (on one Redis a
    /// session's revocation mark is named by its id alone, and every case shares that Redis).
    fn phone_session(&self, phone: usize) -> String {
        format!("phone-{}-{}", self.phones[phone].id, self.logins[phone])
    }

    async fn create(&mut self) {
        let created = self
            .service
            .create_scene(
                CreateSceneRequest::default(),
                &ClientAddr("127.0.0.1".into()),
            )
            .await
            .expect("a scene");
        self.scenes.push(ModelScene {
            id: created.scene,
            poll_token: created.poll_token,
            life: Life::Pending,
            expired: false,
            dropped: false,
            sessions: BTreeSet::new(),
        });
    }

    async fn phone_step(
        &mut self,
        phone: usize,
        scene: usize,
        step: PhoneStep,
    ) -> Result<(), TestCaseError> {
        let user = &self.phones[phone];
        let model = &self.scenes[scene];
        let session = self.phone_session(phone);
        let answer = match step {
            PhoneStep::Scan => self.service.scan_as(&model.id, user).await.map(drop),
            PhoneStep::Confirm => self.service.confirm_as(&model.id, user, &session).await,
            PhoneStep::Decline => {
                let claims = phone_claims(user, &session);
                self.service.cancel_scene(&model.id, &claims).await
            }
        };
        let answer = match answer {
            Ok(()) => PhoneAnswer::Done,
            Err(AuthError::SceneClaimed) => PhoneAnswer::Claimed,
            Err(AuthError::SceneExpired) => PhoneAnswer::Expired,
            Err(AuthError::NotOrganizer) => PhoneAnswer::NotOrganizer,
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "{step:?} by {phone} on {model:?}: {other:?}"
                )));
            }
        };
        let (expected, next) = expected_phone_step(model, phone, step, &session);
        prop_assert_eq!(
            answer,
            expected,
            "{:?} by phone {} on {:?}",
            step,
            phone,
            model
        );
        if let Some(next) = next {
            self.scenes[scene].life = next;
        }
        Ok(())
    }

    /// Checks a poll by the scene's own poll token against the model, and moves the model on when
    /// it delivered.
    async fn check_poll(
        &mut self,
        scene: usize,
        answer: Result<IsLoginResponse, AuthError>,
        no_wait: bool,
    ) -> Result<(), TestCaseError> {
        let model = &self.scenes[scene];
        let context = format!("a poll of {model:?}: got {answer:?}");
        let live = !model.expired && !model.dropped;
        if no_wait && live && matches!(answer, Err(AuthError::SlowDown { .. })) {
            return Ok(());
        }
        let delivered_to = match (&model.life, answer) {
            (_, Err(AuthError::SceneExpired)) if !live => return Ok(()),
            (_, _) if !live => return Err(TestCaseError::fail(context)),
            (Life::Pending, Ok(IsLoginResponse::Pending))
            | (Life::Declined(_), Err(AuthError::AccessDenied))
            | (Life::Refused(_), Err(AuthError::ConfirmedByNonOrganizer)) => return Ok(()),
            (Life::Scanned(phone), Ok(IsLoginResponse::Scanned { user })) => {
                prop_assert_eq!(&user.display_name, &self.phones[*phone].display_name);
                return Ok(());
            }
            // The phone session that confirmed has ended: the confirm went with it. Ended after
            // the delivery, in a later second, the delivery stands; in the same one it goes too.
            (
                Life::Confirmed { phone, by } | Life::Delivered { phone, by, .. },
                Err(AuthError::SceneExpired),
            ) if *by != self.phone_session(*phone) => {
                self.scenes[scene].life = Life::Withdrawn(*phone);
                return Ok(());
            }
            (Life::Withdrawn(_), Err(AuthError::SceneExpired)) => return Ok(()),
            (
                Life::Confirmed { phone, by },
                Ok(IsLoginResponse::Confirmed { access_token, .. }),
            ) if *by == self.phone_session(*phone) => (*phone, by.clone(), access_token),
            (
                Life::Delivered { phone, by, .. },
                Ok(IsLoginResponse::Confirmed { access_token, .. }),
            ) => (*phone, by.clone(), access_token),
            (_, _) => return Err(TestCaseError::fail(context)),
        };
        let (phone, by, access_token) = delivered_to;
        let claims = self
            .service
            .verify(&access_token)
            .await
            .map_err(|error| TestCaseError::fail(format!("{context}: {error:?}")))?;
        prop_assert_eq!(&claims.sub, &self.phones[phone].id, "{}", context);
        prop_assert_eq!(claims.aud, Audience::Console, "{}", context);
        let model = &mut self.scenes[scene];
        model.sessions.insert(claims.sid.clone());
        match &model.life {
            Life::Delivered { sid, .. } => prop_assert_eq!(sid, &claims.sid, "{}", context),
            _ => {
                model.life = Life::Delivered {
                    phone,
                    sid: claims.sid,
                    by,
                };
            }
        }
        Ok(())
    }

    async fn expire(&mut self, scene: usize, dropped: bool) {
        let model = &mut self.scenes[scene];
        let key = store_keys::scene(&model.id);
        if dropped {
            self.store.delete(&key).await.expect("deleted");
            model.dropped = true;
            return;
        }
        let Some(bytes) = self.store.get(&key).await.expect("read") else {
            return;
        };
        let mut record: SceneRecord = records::decode(&key, &bytes).expect("a scene record");
        record.expires_at = unix_now();
        let encoded = records::encode(&record).expect("encoded");
        let swapped = self
            .store
            .compare_and_swap(&key, &bytes, &encoded, Lifetime::For(LONG))
            .await
            .expect("written");
        assert!(swapped, "nothing else writes between steps");
        model.expired = true;
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let mut every_session = BTreeSet::new();
        for scene in &self.scenes {
            prop_assert!(
                scene.sessions.len() <= 1,
                "one scene, several sessions: {scene:?}"
            );
            if !scene.sessions.is_empty() {
                // A withdrawn one's session was ended as it was refused.
                let (Life::Delivered { phone, .. } | Life::Withdrawn(phone)) = scene.life else {
                    return Err(TestCaseError::fail(format!(
                        "a session without a delivery: {scene:?}"
                    )));
                };
                prop_assert!(PHONES[phone].1, "delivered to a non-organizer: {scene:?}");
            }
            for sid in &scene.sessions {
                prop_assert!(
                    every_session.insert(sid.clone()),
                    "a session of two scenes: {sid}"
                );
            }
        }
        Ok(())
    }
}

/// What `step` by `phone` answers on `scene`, and the life it moves the scene to.
/// `session` is the phone's session now.
fn expected_phone_step(
    scene: &ModelScene,
    phone: usize,
    step: PhoneStep,
    session: &str,
) -> (PhoneAnswer, Option<Life>) {
    use PhoneAnswer::{Claimed, Done, Expired, NotOrganizer};
    if scene.expired || scene.dropped {
        return (Expired, None);
    }
    // The confirm that delivered the scene, sent again from its session, is told it was made.
    if let Life::Delivered {
        phone: owner, by, ..
    } = &scene.life
    {
        let again = *owner == phone && by == session && matches!(step, PhoneStep::Confirm);
        return (if again { Done } else { Expired }, None);
    }
    // Withdrawn on a poll that found its phone session ended, the scene was delivered, then refused.
    if matches!(scene.life, Life::Withdrawn(_)) {
        return (Expired, None);
    }
    if scene.owner().is_some_and(|owner| owner != phone) {
        return (Claimed, None);
    }
    let confirmed = || {
        if PHONES[phone].1 {
            let by = session.to_owned();
            (Done, Some(Life::Confirmed { phone, by }))
        } else {
            (NotOrganizer, Some(Life::Refused(phone)))
        }
    };
    match (&scene.life, step) {
        (Life::Pending, PhoneStep::Scan) => (Done, Some(Life::Scanned(phone))),
        (Life::Pending | Life::Scanned(_), PhoneStep::Confirm) => confirmed(),
        (Life::Pending | Life::Scanned(_), PhoneStep::Decline) => {
            (Done, Some(Life::Declined(phone)))
        }
        // Confirmed again from a new session: the login stands on that one now.
        (Life::Confirmed { by, .. }, PhoneStep::Confirm) if by != session => confirmed(),
        (Life::Scanned(_) | Life::Confirmed { .. }, PhoneStep::Scan)
        | (Life::Confirmed { .. }, PhoneStep::Confirm)
        | (Life::Declined(_), PhoneStep::Decline) => (Done, None),
        // A retried confirm is told what the first was.
        (Life::Refused(_), PhoneStep::Confirm) => (NotOrganizer, None),
        (Life::Confirmed { .. }, PhoneStep::Decline)
        | (Life::Declined(_), PhoneStep::Scan | PhoneStep::Confirm)
        | (Life::Refused(_), PhoneStep::Scan | PhoneStep::Decline)
        | (
            Life::Delivered { .. } | Life::Withdrawn(_),
            PhoneStep::Scan | PhoneStep::Confirm | PhoneStep::Decline,
        ) => (Expired, None),
    }
}

/// A mini program user without the organizer role.
async fn guest(store: &dyn Store, name: &str) -> UserRecord {
    users::create_password_user(
        store,
        NewPasswordUser {
            login: format!("{name}@example.org"),
            display_name: name.to_owned(),
            roles: Vec::new(),
            password: Secret::new("unused"),
        },
        "not-a-hash".to_owned(),
    )
    .await
    .expect("the user is created")
}

/// A phone's token of its session `sid`, as declining reads it (its subject is what counts).
fn phone_claims(user: &UserRecord, sid: &str) -> Claims {
    Claims {
        iss: "http://127.0.0.1:8080".into(),
        aud: Audience::Miniprogram,
        sub: user.id.clone(),
        sid: sid.into(),
        iat: unix_now(),
        exp: unix_now() + 3600,
        amr: vec!["wechat".into()],
    }
}

async fn run_steps(store: Arc<dyn Store>, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut case = Case::start(store).await;
    for step in steps {
        case.run(step).await?;
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        // A failing case is saved beside the crate's sources (proptest-regressions/) and tried
        // first on the next run, so a failure found once is reproduced until fixed.
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_scene_lives_as_the_model_says_on_the_embedded_store(steps in vec(step(), 1..24)) {
        runtime().block_on(run_steps(FaultyStore::new(), &steps))?;
    }
}

#[test]
fn a_scene_lives_as_the_model_says_on_redis() {
    let redis = LocalRedis::start();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut runner = TestRunner::new(config());
    let result = runner.run(&vec(step(), 1..24), |steps| {
        runtime().block_on(async {
            let store = RedisStore::connect(&url).await.expect("Redis answers");
            run_steps(Arc::new(store), &steps).await
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// A redis-server of this test's own on a free loopback port, without persistence; stopped when
/// dropped. (The end-to-end tests' `RedisServer` lives in another crate.)
struct LocalRedis {
    process: Child,
    port: u16,
    _dir: TempDir,
}

impl LocalRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        // Another process may take the free port we picked before redis-server binds it.
        for _attempt in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let mut process = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs (Debian's package redis-server)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if process.try_wait().expect("its status").is_some() {
                    break;
                }
                // Only our own process answering counts (another may hold the port).
                if answering_pid(port) == Some(process.id()) {
                    return Self {
                        process,
                        port,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _exited = process.kill();
            let _status = process.wait();
        }
        panic!("redis-server did not start");
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _exited = self.process.kill();
        let _status = self.process.wait();
    }
}

/// The process id of the redis-server answering on `port`, if one answers.
fn answering_pid(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&reply);
        if let Some(rest) = text.split("process_id:").nth(1)
            && let Some((pid, _)) = rest.split_once("\r\n")
        {
            return pid.trim().parse().ok();
        }
    }
}
