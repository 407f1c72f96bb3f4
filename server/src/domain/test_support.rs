//! For the domain's unit tests: a store that fails on cue (fault injection around a real embedded
//! store) and counts the writes it passes on, a WeChat that is never reached, and an
//! [`AuthService`] built on them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use meeteasy_protocol::{Audience, ORGANIZER_ROLE, Secret};
use tempfile::TempDir;
use tokio::sync::watch;

use crate::config::{AppSettings, Overrides, Settings};
use crate::metrics::Metrics;
use crate::store::embedded::EmbeddedStore;
use crate::store::{
    Lifetime, Outcome, Step, Store, StoreError, Subscription, WindowCount, record_name,
    run_steps_in_turn,
};
use crate::wechat::{WeChat, WeChatError, WeChatSession};

use super::AuthService;
use super::service::NewSession;
use super::users::{self, NewPasswordUser, UserRecord};

/// Which calls a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// `get`.
    Read,
    /// `put`, `insert_new`, `compare_and_swap`, `append`, `take`, `delete`, `compare_and_delete`.
    Write,
    /// `notify`, on its topic.
    Notify,
}

/// What a fault does to the call it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails without touching the store (the request never reached it).
    FailBefore,
    /// Does the call, then fails (the store did it; its reply was lost).
    FailAfter,
    /// Does the call, then never answers (the caller gives up and drops the future).
    HangAfter,
    /// Does the call twice and answers the second time: a client that resent it after the first
    /// reply was lost (redis-rs's Cluster client does, on a connection dropped in flight).
    Resent,
}

/// Another caller's work, run where a race would put it (see [`FaultyStore::before_next`]).
pub type Interleaved = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Planned {
    calls: Calls,
    key: String,
    fault: Fault,
}

tokio::task_local! {
    /// Set while a batch's steps run (one by one here, so that faults reach each of them).
    static IN_BATCH: bool;
}

/// A real embedded store, with faults injected into chosen calls: each planned fault hits the next
/// call of its kind on its key, once.
pub struct FaultyStore {
    inner: EmbeddedStore,
    plan: Mutex<VecDeque<Planned>>,
    interleaved: Mutex<Vec<(Calls, String, Interleaved)>>,
    /// The key of every write call, in order.
    written: Mutex<Vec<String>>,
    /// The key of every read made on its own, not as a step of a batch: a round trip of its own
    /// on a backend that batches.
    lone_reads: Mutex<Vec<String>>,
    _dir: TempDir,
}

impl FaultyStore {
    pub fn new() -> Arc<Self> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let inner = EmbeddedStore::open(dir.path()).expect("the embedded store opens");
        Arc::new(Self {
            inner,
            plan: Mutex::new(VecDeque::new()),
            interleaved: Mutex::new(Vec::new()),
            written: Mutex::new(Vec::new()),
            lone_reads: Mutex::new(Vec::new()),
            _dir: dir,
        })
    }

    /// The next `calls` on `key` meets `fault`.
    pub fn fail_next(&self, calls: Calls, key: &str, fault: Fault) {
        self.lock_plan().push_back(Planned {
            calls,
            key: key.to_owned(),
            fault,
        });
    }

    /// Just before the next `calls` on `key`, `work` runs to its end: another caller's, falling
    /// between this caller's steps.
    pub fn before_next(&self, calls: Calls, key: &str, work: Interleaved) {
        let mut interleaved = self.lock_interleaved();
        interleaved.push((calls, key.to_owned(), work));
    }

    /// The key of every write call so far, in order.
    pub fn written_keys(&self) -> Vec<String> {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key of every read made on its own (not in a batch) so far, in order.
    pub fn lone_reads(&self) -> Vec<String> {
        self.lone_reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many write calls reached records whose names start with `prefix` (whatever their group).
    pub fn writes_to(&self, prefix: &str) -> usize {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|key| record_name(key).starts_with(prefix))
            .count()
    }

    /// Whether every planned fault has hit, and every interleaved work run.
    pub fn all_faults_hit(&self) -> bool {
        let interleaved = self.lock_interleaved();
        self.lock_plan().is_empty() && interleaved.is_empty()
    }

    fn lock_plan(&self) -> std::sync::MutexGuard<'_, VecDeque<Planned>> {
        self.plan.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_interleaved(&self) -> std::sync::MutexGuard<'_, Vec<(Calls, String, Interleaved)>> {
        self.interleaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn fault_for(&self, calls: Calls, key: &str) -> Option<Fault> {
        let mut plan = self.lock_plan();
        let index = plan
            .iter()
            .position(|planned| planned.calls == calls && planned.key == key)?;
        plan.remove(index).map(|planned| planned.fault)
    }

    /// Runs `call` as the fault for (`calls`, `key`) says.
    async fn faulty<T, F: Future<Output = Result<T, StoreError>>>(
        &self,
        calls: Calls,
        key: &str,
        call: impl Fn() -> F,
    ) -> Result<T, StoreError> {
        let injected = || StoreError::Unavailable(format!("injected fault on {key}"));
        let work = {
            let mut interleaved = self.lock_interleaved();
            let at = interleaved
                .iter()
                .position(|(c, k, _)| *c == calls && k == key);
            at.map(|at| interleaved.remove(at).2)
        };
        if let Some(work) = work {
            work.await;
        }
        if calls == Calls::Write {
            self.written
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(key.to_owned());
        }
        match self.fault_for(calls, key) {
            None => call().await,
            Some(Fault::FailBefore) => Err(injected()),
            Some(Fault::FailAfter) => {
                call().await?;
                Err(injected())
            }
            Some(Fault::HangAfter) => {
                call().await?;
                std::future::pending().await
            }
            Some(Fault::Resent) => {
                call().await?;
                call().await
            }
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !IN_BATCH.try_with(|in_batch| *in_batch).unwrap_or(false) {
            self.lone_reads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(key.to_owned());
        }
        self.faulty(Calls::Read, key, move || self.inner.get(key))
            .await
    }

    async fn put(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<(), StoreError> {
        let put = move || self.inner.put(key, value, lifetime);
        self.faulty(Calls::Write, key, put).await
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let insert = move || self.inner.insert_new(key, value, lifetime);
        self.faulty(Calls::Write, key, insert).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let swap = move || self.inner.compare_and_swap(key, expected, new, lifetime);
        self.faulty(Calls::Write, key, swap).await
    }

    async fn append(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<u64, StoreError> {
        let append = move || self.inner.append(key, value, lifetime);
        self.faulty(Calls::Write, key, append).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.faulty(Calls::Write, key, move || self.inner.take(key))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.faulty(Calls::Write, key, move || self.inner.delete(key))
            .await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let delete = move || self.inner.compare_and_delete(key, expected);
        self.faulty(Calls::Write, key, delete).await
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, StoreError> {
        self.inner.count_in_window(key, window).await
    }

    async fn claim_slot(&self, key: &str, lifetime: Duration) -> Result<bool, StoreError> {
        self.inner.claim_slot(key, lifetime).await
    }

    async fn batch(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        IN_BATCH.scope(true, run_steps_in_turn(self, steps)).await
    }

    async fn notify(&self, topic: &str) -> Result<(), StoreError> {
        self.faulty(Calls::Notify, topic, move || self.inner.notify(topic))
            .await
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.inner.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// A WeChat that knows one person (whatever the code), or none: then no unit test reaches it.
pub struct TestWeChat(pub Option<WeChatSession>);

#[async_trait]
impl WeChat for TestWeChat {
    async fn code_to_session(
        &self,
        _app: &AppSettings,
        _code: &str,
    ) -> Result<WeChatSession, WeChatError> {
        let none = || WeChatError::Unavailable("no WeChat in unit tests".into());
        self.0.clone().ok_or_else(none)
    }

    async fn unlimited_qr_code(
        &self,
        _app: &AppSettings,
        _page: &str,
        _scene: &str,
    ) -> Result<Vec<u8>, WeChatError> {
        Err(WeChatError::Unavailable("no WeChat in unit tests".into()))
    }
}

/// A WeChat that draws a mini program code (`png of <scene>`) for any scene, and counts how many
/// it drew.
#[derive(Default)]
pub struct DrawingWeChat(pub std::sync::atomic::AtomicUsize);

#[async_trait]
impl WeChat for DrawingWeChat {
    async fn code_to_session(
        &self,
        _app: &AppSettings,
        _code: &str,
    ) -> Result<WeChatSession, WeChatError> {
        Err(WeChatError::Unavailable("no logins here".into()))
    }

    async fn unlimited_qr_code(
        &self,
        _app: &AppSettings,
        _page: &str,
        scene: &str,
    ) -> Result<Vec<u8>, WeChatError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(format!("png of {scene}").into_bytes())
    }
}

/// Dev-mode settings (its apps make `url` QRs, so nothing calls WeChat), changed by `tweak`.
pub fn settings(tweak: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = crate::config::load(&Overrides {
        dev: Some(true),
        ..Overrides::default()
    })
    .expect("dev settings are valid");
    tweak(&mut settings);
    settings
}

/// A service, and the shutdown switch it watches (kept, so its waits are not cut short).
pub struct TestService {
    pub service: AuthService,
    _shutdown: watch::Sender<bool>,
}

impl std::ops::Deref for TestService {
    type Target = AuthService;

    fn deref(&self) -> &AuthService {
        &self.service
    }
}

/// A service on `store`, with a WeChat no test reaches.
pub async fn service_on(store: Arc<dyn Store>, settings: Settings) -> TestService {
    service_with(store, settings, Arc::new(TestWeChat(None))).await
}

/// A service on `store` that asks `wechat`.
pub async fn service_with(
    store: Arc<dyn Store>,
    settings: Settings,
    wechat: Arc<dyn WeChat>,
) -> TestService {
    let (shutdown, shutting_down) = watch::channel(false);
    let service = AuthService::start(
        store,
        wechat,
        Arc::new(settings),
        None,
        Arc::new(Metrics::default()),
        shutting_down,
    )
    .await
    .expect("the service starts");
    TestService {
        service,
        _shutdown: shutdown,
    }
}

/// What a console's password login asks of `open_session`.
pub fn console_password_login() -> NewSession<'static> {
    NewSession {
        audience: Audience::Console,
        methods: &["pwd"],
        device_name: None,
        ip: "192.0.2.1".into(),
        parent: None,
        sid: None,
        started_at: None,
    }
}

/// An accept of the invite `id` whose note in a user's record outlives every accept again.
pub fn invite_note(id: &str) -> users::InviteNote<'_> {
    users::InviteNote {
        id,
        until: u64::MAX,
        accept_id: "the test's accept",
    }
}

/// A user record named `id` that holds nothing: no role, login or WeChat. Tests set what they need.
pub fn bare_user(id: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        display_name: id.into(),
        avatar_url: None,
        roles: Vec::new(),
        login: None,
        login_claim: None,
        claiming_login: None,
        password_hash: None,
        wechat_identities: Vec::new(),
        dev: false,
        admin_demotions: 0,
        joined_by_invites: std::collections::BTreeMap::new(),
    }
}

/// An organizer who logs in with a password (never checked here: the hash is a placeholder).
pub async fn organizer(store: &dyn Store, name: &str) -> UserRecord {
    users::create_password_user(
        store,
        NewPasswordUser {
            login: format!("{name}@example.org"),
            display_name: name.to_owned(),
            roles: vec![ORGANIZER_ROLE.to_owned()],
            password: Secret::new("unused"),
        },
        "not-a-hash".to_owned(),
    )
    .await
    .expect("the user is created")
}
