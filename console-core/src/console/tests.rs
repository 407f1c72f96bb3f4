//! The console's behaviour against a small fake auth server over real HTTP: the session list of
//! the Devices section, ending one session or all the others, and a session ended elsewhere, which
//! the console notices at its next call and forgets (memory and keychain); the Team page's calls
//! (members, invites and their QR, removal) and adding a password login.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use keyring_core::mock;
use meeteasy_protocol::{Audience, ErrorBody, LoginMethod, Session as DeviceSession};

use super::*;
use crate::keychain::{KEYCHAIN_SERVICE, KeychainProblem};

const CONSOLE_TOKEN: &str = "jwt-of-this-console";
const CONSOLE_SID: &str = "sid-console";

/// What the fake server holds: the user's sessions (this console's first) and what was asked.
#[derive(Default)]
struct FakeAuth {
    sessions: Mutex<Vec<DeviceSession>>,
    /// The team: `(user id, name, roles)`; the console's user is `u1`.
    members: Mutex<Vec<(String, String, Vec<String>)>>,
    /// Invites: `(id, role, accepted by)`.
    invites: Mutex<Vec<(String, String, Option<String>)>>,
    /// Bodies of `POST /auth/me/password`.
    passwords: Mutex<Vec<serde_json::Value>>,
    /// `(bearer, body)` of every `POST /auth/scenes`.
    scene_requests: Mutex<Vec<(Option<String>, serde_json::Value)>>,
    /// `(method, path, bearer)` of every request; a test awaits the ones it expects.
    requests: tokio::sync::watch::Sender<Vec<(String, String, Option<String>)>>,
    /// Held (written) by a test, it holds the answers to `POST /auth/login` and
    /// `GET /auth/sessions` once they are recorded.
    held: tokio::sync::RwLock<()>,
    /// Held (written) by a test, it holds the avatars the logins point at.
    avatars_held: tokio::sync::RwLock<()>,
    /// Held (written) by a test, it holds the answers to `POST /auth/jwt/verify`.
    verify_held: tokio::sync::RwLock<()>,
    /// Held (written) by a test, it holds the answers to `islogin`.
    polls_held: tokio::sync::RwLock<()>,
    /// Held (written) by a test, it holds the answers to `POST /auth/logout`.
    logout_held: tokio::sync::RwLock<()>,
    /// Set by a test, `islogin` answers a login scene with Alice's confirmed login (her phone
    /// confirming the scan) rather than with `linked`.
    confirms_logins: std::sync::atomic::AtomicBool,
}

impl FakeAuth {
    fn with_sessions(others: &[(&str, Audience)]) -> Arc<Self> {
        let mut sessions = vec![session(CONSOLE_SID, Audience::Console, Some("Studio PC"))];
        sessions.extend(others.iter().map(|(id, client)| session(id, *client, None)));
        let team = |id: &str, name: &str, roles: &[&str]| {
            (
                id.to_owned(),
                name.to_owned(),
                roles.iter().map(|role| (*role).to_owned()).collect(),
            )
        };
        Arc::new(Self {
            sessions: Mutex::new(sessions),
            members: Mutex::new(vec![
                team("u2", "Bob", &["organizer"]),
                team("u1", "Alice", &["organizer", "admin"]),
                team("u3", "Carol", &["organizer"]),
            ]),
            ..Self::default()
        })
    }

    /// Waits (5 s at most) until the server has been asked `method path` `times` times.
    async fn asked(&self, method: &str, path: &str, times: usize) {
        let mut requests = self.requests.subscribe();
        let enough = requests.wait_for(|requests| {
            let asked = requests.iter().filter(|(m, p, _)| m == method && p == path);
            asked.count() >= times
        });
        let asked = tokio::time::timeout(Duration::from_secs(5), enough).await;
        assert!(
            asked.is_ok_and(|seen| seen.is_ok()),
            "never asked {method} {path} {times} times"
        );
    }

    /// How many times the server has been asked for `path`, by any method, so far.
    fn times_asked(&self, path: &str) -> usize {
        let requests = self.requests.borrow();
        requests
            .iter()
            .filter(|(_, asked, _)| asked == path)
            .count()
    }

    fn ids(&self) -> Vec<String> {
        let sessions = self.sessions.lock().unwrap();
        sessions.iter().map(|session| session.id.clone()).collect()
    }

    /// Ends this console's session as another device would.
    fn end_console_session(&self) {
        self.sessions
            .lock()
            .unwrap()
            .retain(|session| session.id != CONSOLE_SID);
    }

    fn record(&self, method: &str, path: &str, headers: &HeaderMap) -> Option<String> {
        let bearer = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned);
        self.requests
            .send_modify(|requests| requests.push((method.into(), path.into(), bearer.clone())));
        bearer
    }

    /// The 401 for a caller whose session is over: anything but the console's token while its
    /// session is listed.
    fn refusal(&self, bearer: Option<String>) -> Option<Response> {
        let live = bearer.as_deref() == Some(CONSOLE_TOKEN)
            && self.ids().iter().any(|id| id == CONSOLE_SID);
        (!live).then(|| error(StatusCode::UNAUTHORIZED, ErrorCode::TokenRevoked))
    }
}

fn session(id: &str, client: Audience, device_name: Option<&str>) -> DeviceSession {
    DeviceSession {
        id: id.into(),
        client,
        device_name: device_name.map(str::to_owned),
        ip: "192.0.2.7".into(),
        created_at: 1_700_000_000,
        last_seen_at: 1_700_000_600,
        methods: vec!["wechat".into()],
        current: id == CONSOLE_SID,
    }
}

/// Not a real PNG: the console passes the server's bytes through untouched.
const QR_PNG: &[u8] = b"\x89PNG fake invite qr";

fn invite_json(id: &str, role: &str, accepted_by: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "role": role,
        "created_by": {"id": "u1", "display_name": "Alice", "avatar_url": null, "roles": ["organizer", "admin"]},
        "created_at": 1_700_000_000,
        "expires_at": 1_700_086_400,
        "accepted_by": accepted_by.map(|name| serde_json::json!(
            {"id": "u9", "display_name": name, "avatar_url": null, "roles": ["organizer"]})),
        "accepted_at": accepted_by.map(|_| 1_700_000_500),
    })
}

fn error(status: StatusCode, code: ErrorCode) -> Response {
    let body = ErrorBody {
        error: code,
        message: code.to_string(),
        reason: None,
    };
    (status, Json(body)).into_response()
}

async fn serve(fake: Arc<FakeAuth>) -> SocketAddr {
    async fn login(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        fake.record("POST", "/auth/login", &headers);
        let _answering = fake.held.read().await;
        // A fresh avatar URL each login: the console fetches each URL once.
        let logins = fake.requests.borrow().len();
        let avatar = format!("/avatar/{logins}.png");
        Json(serde_json::json!({
            "access_token": CONSOLE_TOKEN,
            "token_type": "Bearer",
            "expires_in": 604_800,
            "user": {"id": "u1", "display_name": "Alice", "avatar_url": avatar, "roles": ["organizer"]},
        }))
        .into_response()
    }
    /// Every token is the console's, live: a restore finds the stored session good.
    async fn verify(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        fake.record("POST", "/auth/jwt/verify", &headers);
        let _answering = fake.verify_held.read().await;
        Json(serde_json::json!({"valid": true, "claims": {
            "iss": "http://fake", "aud": "console", "sub": "u1", "sid": CONSOLE_SID,
            "iat": 1_800_000_000_u64, "exp": 1_800_604_800_u64, "amr": ["pwd"],
        }}))
        .into_response()
    }
    async fn me(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("GET", "/auth/me", &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let user = serde_json::json!({"id": "u1", "display_name": "Alice", "avatar_url": null, "roles": ["organizer"]});
        Json(user).into_response()
    }
    async fn avatar(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        fake.record("GET", "/avatar", &headers);
        let _answering = fake.avatars_held.read().await;
        ([("content-type", "image/png")], QR_PNG.to_vec()).into_response()
    }
    async fn list(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("GET", "/auth/sessions", &headers);
        let _answering = fake.held.read().await;
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let sessions = fake.sessions.lock().unwrap().clone();
        Json(serde_json::json!({ "sessions": sessions })).into_response()
    }
    async fn end(
        State(fake): State<Arc<FakeAuth>>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        let bearer = fake.record("DELETE", &format!("/auth/sessions/{id}"), &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let mut sessions = fake.sessions.lock().unwrap();
        let before = sessions.len();
        sessions.retain(|session| session.id != id);
        if sessions.len() == before {
            return error(StatusCode::NOT_FOUND, ErrorCode::SessionNotFound);
        }
        StatusCode::NO_CONTENT.into_response()
    }
    async fn end_others(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("POST", "/auth/sessions/revoke-others", &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let mut sessions = fake.sessions.lock().unwrap();
        let before = sessions.len();
        sessions.retain(|session| session.id == CONSOLE_SID);
        Json(serde_json::json!({ "revoked": before - sessions.len() })).into_response()
    }
    async fn logout(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("POST", "/auth/logout", &headers);
        let _answering = fake.logout_held.read().await;
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        fake.end_console_session();
        StatusCode::NO_CONTENT.into_response()
    }

    async fn team(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("GET", "/auth/team", &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let members: Vec<_> = fake
            .members
            .lock()
            .unwrap()
            .iter()
            .map(|(id, name, roles)| {
                serde_json::json!({
                    "user": {"id": id, "display_name": name, "avatar_url": null, "roles": roles},
                    "methods": if id == "u1" { vec!["wechat", "password"] } else { vec!["wechat"] },
                    "last_login_at": 1_700_000_000,
                })
            })
            .collect();
        Json(serde_json::json!({ "members": members })).into_response()
    }
    async fn remove(
        State(fake): State<Arc<FakeAuth>>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        let bearer = fake.record("DELETE", &format!("/auth/team/{id}"), &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        if id == "u1" {
            let body =
                serde_json::json!({"error": "last_admin", "message": "the team needs an admin"});
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        if id == "u3" {
            // A code newer than this build knows: its message still shows, its code passes through.
            let body = serde_json::json!({"error": "team_frozen", "message": "the team is frozen"});
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        fake.members.lock().unwrap().retain(|member| member.0 != id);
        StatusCode::NO_CONTENT.into_response()
    }
    async fn create_invite(
        State(fake): State<Arc<FakeAuth>>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> Response {
        let bearer = fake.record("POST", "/auth/invites", &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let role = body["role"].as_str().unwrap_or_default().to_owned();
        let mut invites = fake.invites.lock().unwrap();
        let id = format!("inv{}", invites.len() + 1);
        invites.push((id.clone(), role.clone(), None));
        let answer = serde_json::json!({
            "invite": invite_json(&id, &role, None),
            "code": "SECRETCODE0123456789abcdefghijkl",
            "qr": {"png_url": format!("/auth/invites/{id}/qr.png"),
                   "content": "https://auth.example/m/invite/SECRETCODE0123456789abcdefghijkl"},
        });
        (StatusCode::CREATED, Json(answer)).into_response()
    }
    async fn list_invites(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("GET", "/auth/invites", &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let invites: Vec<_> = fake
            .invites
            .lock()
            .unwrap()
            .iter()
            .map(|(id, role, accepted)| invite_json(id, role, accepted.as_deref()))
            .collect();
        Json(serde_json::json!({ "invites": invites })).into_response()
    }
    async fn revoke_invite(
        State(fake): State<Arc<FakeAuth>>,
        Path(id): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        let bearer = fake.record("DELETE", &format!("/auth/invites/{id}"), &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        fake.invites.lock().unwrap().retain(|invite| invite.0 != id);
        StatusCode::NO_CONTENT.into_response()
    }
    async fn invite_qr(
        State(fake): State<Arc<FakeAuth>>,
        Path(file): Path<(String, String)>,
        headers: HeaderMap,
    ) -> Response {
        let bearer = fake.record(
            "GET",
            &format!("/auth/invites/{}/{}", file.0, file.1),
            &headers,
        );
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        ([("content-type", "image/png")], QR_PNG.to_vec()).into_response()
    }
    async fn password(
        State(fake): State<Arc<FakeAuth>>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> Response {
        let bearer = fake.record("POST", "/auth/me/password", &headers);
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        let taken = body["login"] == "bob@example.com";
        fake.passwords.lock().unwrap().push(body);
        if taken {
            let body = serde_json::json!({"error": "identity_in_use", "message": "that login belongs to another account"});
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        StatusCode::NO_CONTENT.into_response()
    }

    async fn create_scene(
        State(fake): State<Arc<FakeAuth>>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> Response {
        let bearer = fake.record("POST", "/auth/scenes", &headers);
        fake.scene_requests
            .lock()
            .unwrap()
            .push((bearer.clone(), body));
        // A login scene (no token) is anyone's to create; a link scene needs a live session.
        if let Some(refused) = bearer.and_then(|bearer| fake.refusal(Some(bearer))) {
            return refused;
        }
        let answer = serde_json::json!({
            "scene": "LINKSCENE0123456789abcdefghijklm",
            "poll_token": "poll-token",
            "expires_in": 120,
            "interval": 1,
            "qr": {"png_url": "/auth/scenes/LINKSCENE0123456789abcdefghijklm/qr.png", "content": null},
        });
        (StatusCode::CREATED, Json(answer)).into_response()
    }
    async fn scene_qr() -> Response {
        ([("content-type", "image/png")], QR_PNG.to_vec()).into_response()
    }
    async fn islogin(
        State(fake): State<Arc<FakeAuth>>,
        Path(scene): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        fake.record("GET", &format!("/auth/scenes/{scene}/islogin"), &headers);
        let _answering = fake.polls_held.read().await;
        let requests = fake.scene_requests.lock().unwrap();
        let login_scene = requests
            .last()
            .is_some_and(|(_, body)| body["purpose"] == "login");
        if login_scene
            && fake
                .confirms_logins
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Json(serde_json::json!({
                "status": "confirmed",
                "access_token": CONSOLE_TOKEN,
                "token_type": "Bearer",
                "expires_in": 604_800,
                "user": {"id": "u1", "display_name": "Alice", "avatar_url": null, "roles": ["organizer"]},
            }))
            .into_response();
        }
        Json(serde_json::json!({"status": "linked"})).into_response()
    }
    async fn withdraw(
        State(fake): State<Arc<FakeAuth>>,
        Path(scene): Path<String>,
        headers: HeaderMap,
    ) -> Response {
        fake.record("POST", &format!("/auth/scenes/{scene}/withdraw"), &headers);
        StatusCode::NO_CONTENT.into_response()
    }

    let app = axum::Router::new()
        .route("/auth/scenes", post(create_scene))
        .route("/auth/scenes/{scene}/qr.png", get(scene_qr))
        .route("/auth/scenes/{scene}/islogin", get(islogin))
        .route("/auth/scenes/{scene}/withdraw", post(withdraw))
        .route("/auth/team", get(team))
        .route("/auth/team/{id}", delete(remove))
        .route("/auth/invites", post(create_invite).get(list_invites))
        .route("/auth/invites/{id}", delete(revoke_invite))
        .route("/auth/invites/{id}/{file}", get(invite_qr))
        .route("/auth/me/password", post(password))
        .route("/auth/login", post(login))
        .route("/avatar/{file}", get(avatar))
        .route("/auth/jwt/verify", post(verify))
        .route("/auth/me", get(me))
        .route("/auth/logout", post(logout))
        .route("/auth/sessions", get(list))
        .route("/auth/sessions/{id}", delete(end))
        .route("/auth/sessions/revoke-others", post(end_others))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake server");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A console logged in (by password) to a fake server holding `others` besides its own session.
struct Fixture {
    console: Arc<Console>,
    fake: Arc<FakeAuth>,
    keychain: Arc<keyring_core::CredentialStore>,
    origin: String,
    dir: tempfile::TempDir,
}

/// The withdrawal of the scene the fake makes.
const SCENE_WITHDRAWAL: &str = "/auth/scenes/LINKSCENE0123456789abcdefghijklm/withdraw";

/// Waits for the fake's scene to be withdrawn, and checks the withdrawal carried its poll token.
async fn withdrawn_by_its_poll_token(fixture: &Fixture) {
    fixture.fake.asked("POST", SCENE_WITHDRAWAL, 1).await;
    let requests = fixture.fake.requests.borrow().clone();
    let bearer = requests
        .iter()
        .find(|(_, path, _)| path == SCENE_WITHDRAWAL);
    assert_eq!(
        bearer.and_then(|(_, _, bearer)| bearer.as_deref()),
        Some("poll-token")
    );
}

/// A private directory for the preferences file, removed when the test ends.
async fn logged_in(others: &[(&str, Audience)]) -> Fixture {
    // reqwest is built without a crypto provider; the shell installs ring's, and so do the tests.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeAuth::with_sessions(others);
    let addr = serve(Arc::clone(&fake)).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let keychain = mock::Store::new().expect("mock keychain");
    let vault = SessionVault::with_store(keychain.clone(), Duration::from_secs(5));
    let console = Arc::new(
        Console::new(
            PreferencesFile::in_dir(dir.path()),
            vault,
            "Studio PC".into(),
            Handle::current(),
        )
        .with_save_dir(dir.path().join("Downloads")),
    );
    let origin = format!("http://{addr}");
    console
        .save_preferences(&origin, Language::English)
        .expect("the fake server's URL is accepted");
    let view = console
        .password_login("alice@example.com", Secret::new("password"))
        .await
        .expect("password login");
    assert_eq!(view.display_name, "Alice");
    Fixture {
        console,
        fake,
        keychain,
        origin,
        dir,
    }
}

impl Fixture {
    /// Alice's password login again, as a task of its own (its answers may be held).
    fn password_login_in_background(
        &self,
    ) -> tokio::task::JoinHandle<Result<SessionView, ConsoleError>> {
        let console = Arc::clone(&self.console);
        tokio::spawn(async move {
            let password = Secret::new("password");
            console.password_login("alice@example.com", password).await
        })
    }

    /// Alice's password login on its way while the UI reloads: the reloaded UI's restore asks
    /// about the stored session, the login finishes, then the restore's check is answered. The
    /// restore's answer to the UI.
    async fn restore_beside_a_password_login(&self) -> UiEvent {
        let login_held = self.fake.held.write().await;
        let verify_held = self.fake.verify_held.write().await;
        let login = self.password_login_in_background();
        self.fake.asked("POST", "/auth/login", 2).await;
        let mut ui = UiEvents::new();
        self.console.start(ui.sink.clone());
        self.fake.asked("POST", "/auth/jwt/verify", 1).await;
        drop(login_held);
        login.await.expect("the login ends").expect("logged in");
        drop(verify_held);
        ui.next("the restore's answer").await
    }

    /// From the login screen, Alice's password login stopped (the UI moved on) while its avatar
    /// was on its way: the login is in effect, and nothing told the UI.
    async fn login_cut_short_while_its_avatar_loads(&self) {
        self.console.logout().await.expect("logged out");
        assert_eq!(self.stored_token(), None);
        let held = self.fake.avatars_held.write().await;
        let login = self.password_login_in_background();
        self.fake.asked("GET", "/avatar", 2).await;
        login.abort();
        assert!(login.await.is_err_and(|ended| ended.is_cancelled()));
        drop(held);
    }

    /// A console (the app started again) on this fixture's server and keychain, whose keychain
    /// saves each wait for a message on the sender returned: a person answering the keyring's
    /// unlock dialog. Dropping the sender dismisses the dialog: the saves fail.
    fn console_whose_saves_wait(&self) -> (Arc<Console>, std::sync::mpsc::Sender<()>) {
        let (keychain, dialog) = crate::keychain::gated::writes_wait(self.keychain.clone());
        let vault = SessionVault::with_store(keychain, Duration::from_secs(5));
        let preferences = PreferencesFile::in_dir(self.dir.path());
        let console = Console::new(preferences, vault, "Studio PC".into(), Handle::current());
        (Arc::new(console), dialog)
    }

    /// `answer` is of a password login that came too late (after a logout, a session found
    /// ended, a server change): ended, neither in effect nor stored, and its session ended on the
    /// server, the `logouts`-th `/auth/logout` the fake saw.
    async fn assert_late_login_ended(
        &self,
        answer: Result<SessionView, ConsoleError>,
        logouts: usize,
    ) {
        assert!(
            matches!(answer, Err(ConsoleError::NotLoggedIn)),
            "{answer:?}"
        );
        assert!(self.console.current().is_err(), "put in effect");
        assert_eq!(self.stored_token(), None, "stored");
        self.fake.asked("POST", "/auth/logout", logouts).await;
    }

    fn stored_token(&self) -> Option<String> {
        self.keychain
            .build(KEYCHAIN_SERVICE, &self.origin, None)
            .ok()?
            .get_password()
            .ok()
    }

    /// Every bearer the fake server saw on a sessions call: only ever the console's own token.
    fn bearers(&self) -> Vec<Option<String>> {
        let requests = self.fake.requests.borrow();
        requests
            .iter()
            .filter(|(_, path, _)| path.starts_with("/auth/sessions"))
            .map(|(_, _, bearer)| bearer.clone())
            .collect()
    }
}

/// What the console tells the UI, as a test reads it: the sink to hand a job, and its events.
struct UiEvents {
    sink: EventSink,
    events: tokio::sync::mpsc::UnboundedReceiver<UiEvent>,
}

impl UiEvents {
    fn new() -> Self {
        let (sender, events) = tokio::sync::mpsc::unbounded_channel();
        let sink: EventSink = Arc::new(move |event| {
            let _sent = sender.send(event);
        });
        Self { sink, events }
    }

    /// The next event (10 s at most), saying what was awaited if none comes.
    async fn next(&mut self, awaited: &str) -> UiEvent {
        let next = tokio::time::timeout(Duration::from_secs(10), self.events.recv()).await;
        let next = next.unwrap_or_else(|_| panic!("{awaited} in time"));
        next.expect("an event")
    }

    /// Forgets the events told so far.
    fn drain(&mut self) {
        while self.events.try_recv().is_ok() {}
    }
}

fn assert_session_revoked(result: Result<impl std::fmt::Debug, ConsoleError>) {
    match result {
        Err(ConsoleError::SessionEnded(SessionEnded::Revoked)) => {}
        other => panic!("expected the session to have ended: {other:?}"),
    }
}

#[tokio::test]
async fn lists_the_users_sessions_with_this_console_marked_current() {
    let fixture = logged_in(&[
        ("sid-phone", Audience::Miniprogram),
        ("sid-browser", Audience::H5),
    ])
    .await;

    let sessions = fixture.console.sessions().await.expect("the list");
    let listed: Vec<_> = sessions
        .iter()
        .map(|session| (session.id.as_str(), session.client, session.current))
        .collect();
    assert_eq!(
        listed,
        [
            (CONSOLE_SID, Audience::Console, true),
            ("sid-phone", Audience::Miniprogram, false),
            ("sid-browser", Audience::H5, false),
        ]
    );
    // What the UI receives: the contract's fields and no token.
    let json = serde_json::to_string(&sessions).expect("serializable");
    assert!(json.contains(r#""device_name":"Studio PC""#), "{json}");
    assert!(!json.contains(CONSOLE_TOKEN));
    assert_eq!(fixture.bearers(), [Some(CONSOLE_TOKEN.to_owned())]);
}

#[tokio::test]
async fn ends_one_other_session() {
    let fixture = logged_in(&[
        ("sid-phone", Audience::Miniprogram),
        ("sid-browser", Audience::H5),
    ])
    .await;

    fixture
        .console
        .end_session("sid-phone")
        .await
        .expect("ended");
    assert_eq!(fixture.fake.ids(), [CONSOLE_SID, "sid-browser"]);

    // One already gone (ended elsewhere meanwhile) is the contract's 404, and the console stays.
    let gone = fixture.console.end_session("sid-phone").await;
    assert!(
        matches!(&gone, Err(err) if err.code() == "session_not_found"),
        "{gone:?}"
    );
    assert!(fixture.console.sessions().await.is_ok());
}

#[tokio::test]
async fn a_session_id_is_sent_as_one_path_segment() {
    let fixture = logged_in(&[]).await;
    let odd = fixture.console.end_session("../logout?x=1").await;
    assert!(
        matches!(&odd, Err(err) if err.code() == "session_not_found"),
        "{odd:?}"
    );
    let requests = fixture.fake.requests.borrow().clone();
    assert!(
        requests
            .iter()
            .any(|(method, path, _)| method == "DELETE" && path == "/auth/sessions/../logout?x=1"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn ends_every_other_session_and_says_how_many() {
    let fixture = logged_in(&[
        ("sid-phone", Audience::Miniprogram),
        ("sid-browser", Audience::H5),
    ])
    .await;

    assert_eq!(fixture.console.end_other_sessions().await.ok(), Some(2));
    assert_eq!(fixture.fake.ids(), [CONSOLE_SID]);
    assert_eq!(fixture.console.end_other_sessions().await.ok(), Some(0));
    assert_eq!(fixture.stored_token().as_deref(), Some(CONSOLE_TOKEN));
}

#[tokio::test]
async fn a_session_ended_elsewhere_is_forgotten_at_the_next_call() {
    let fixture = logged_in(&[("sid-phone", Audience::Miniprogram)]).await;
    assert_eq!(fixture.stored_token().as_deref(), Some(CONSOLE_TOKEN));

    fixture.fake.end_console_session();
    assert_session_revoked(fixture.console.sessions().await);

    // Forgotten here and in the keychain: what follows needs a new login.
    assert_eq!(fixture.stored_token(), None);
    assert!(matches!(
        fixture.console.end_other_sessions().await,
        Err(ConsoleError::NotLoggedIn)
    ));
    assert_eq!(
        ConsoleError::SessionEnded(SessionEnded::Revoked).code(),
        "session_revoked"
    );
}

/// A listing asked just before a logout is answered after it (the session is over there now):
/// that is no news of this console's session ending elsewhere, which would replace the logout's
/// own notice on the login screen.
#[tokio::test]
async fn an_answer_for_a_session_logged_out_meanwhile_is_no_ending() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.held.write().await;
    let console = Arc::clone(&fixture.console);
    let listing = tokio::spawn(async move { console.sessions().await });
    fixture.fake.asked("GET", "/auth/sessions", 1).await;
    fixture.console.logout().await.expect("logged out");
    drop(held);
    let listed = listing.await.expect("the listing ends");
    assert!(
        matches!(listed, Err(ConsoleError::NotLoggedIn)),
        "{listed:?}"
    );
}

/// "Not you? Show a new code" withdraws the code given up on the server, by its poll token: the
/// phone that scanned it must not confirm a login nobody here collects. A fresh code follows.
#[tokio::test]
async fn a_code_given_up_with_not_you_is_withdrawn() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let held = fixture.fake.polls_held.write().await;
    let mut ui = UiEvents::new();
    fixture.console.start_scan_login(ui.sink.clone());
    let shown = ui.next("the login code").await;
    assert!(matches!(shown, UiEvent::Qr { .. }), "{shown:?}");

    fixture.console.new_scan_code(ui.sink.clone());
    withdrawn_by_its_poll_token(&fixture).await;
    fixture.fake.asked("POST", "/auth/scenes", 2).await;
    fixture.console.stop_background();
    drop(held);
}

/// Shows the login screen's code with its polls held, and returns the hold.
async fn show_login_code(fixture: &Fixture) -> tokio::sync::RwLockWriteGuard<'_, ()> {
    let held = fixture.fake.polls_held.write().await;
    let mut ui = UiEvents::new();
    fixture.console.start_scan_login(ui.sink.clone());
    let shown = ui.next("the login code").await;
    assert!(matches!(shown, UiEvent::Qr { .. }), "{shown:?}");
    held
}

/// A login code left on the scan tab when the person logs in by password is withdrawn on the
/// server: a phone that scanned it would otherwise confirm a login nobody here collects, a
/// session live on the server that nobody holds.
#[tokio::test]
async fn a_login_code_left_for_a_password_login_is_withdrawn() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let held = show_login_code(&fixture).await;
    // The password tab chosen.
    fixture.console.stop_background();
    let login = fixture
        .console
        .password_login("alice@example.com", Secret::new("password"))
        .await;
    login.expect("logged in");
    withdrawn_by_its_poll_token(&fixture).await;
    drop(held);
}

/// Closing the window with a login code on screen withdraws it before close returns: the app may
/// end right after, and the code, scanned later, would log in a session nobody collects.
#[tokio::test]
async fn a_login_code_on_screen_is_withdrawn_when_the_window_closes() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let held = show_login_code(&fixture).await;
    fixture.console.close().await;
    let withdrawn = fixture.fake.times_asked(SCENE_WITHDRAWAL);
    assert_eq!(withdrawn, 1, "not withdrawn before close returned");
    drop(held);
}

/// The code whose scan made the session is not withdrawn with the codes the session replaces: it
/// is the console's session now (and the server would answer `scene_claimed`).
#[tokio::test]
async fn the_code_a_scan_login_is_made_with_is_not_withdrawn() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    fixture
        .fake
        .confirms_logins
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut ui = UiEvents::new();
    fixture.console.start_scan_login(ui.sink.clone());
    loop {
        let event = ui.next("home, by the scan").await;
        if matches!(event, UiEvent::Home { .. }) {
            break;
        }
    }
    fixture.console.close().await;
    // Time for a withdrawal left to the background to reach the server.
    let withdrawn = fixture.fake.asked("POST", SCENE_WITHDRAWAL, 1);
    let withdrawn = tokio::time::timeout(Duration::from_millis(300), withdrawn).await;
    assert!(
        withdrawn.is_err(),
        "the code the session was made with was withdrawn"
    );
    assert!(fixture.console.current().is_ok(), "logged in by the scan");
}

/// A scan loop the UI started while a password login was on its way ends with that login: left
/// running, it would go on creating scenes and tell the home screen the server is offline.
#[tokio::test]
async fn a_password_login_ends_a_scan_loop_started_while_it_was_asked() {
    let fixture = logged_in(&[]).await;
    // On the login screen: no session in effect.
    fixture.console.logout().await.expect("logged out");
    let held = fixture.fake.held.write().await;
    let login = fixture.password_login_in_background();
    fixture.fake.asked("POST", "/auth/login", 2).await;
    fixture.console.start_scan_login(Arc::new(|_| {}));
    fixture.fake.asked("POST", "/auth/scenes", 1).await;
    drop(held);
    login.await.expect("the login ends").expect("logged in");
    assert!(
        fixture.console.lock_job().is_none(),
        "the scan loop was left running"
    );
}

/// A restore that a reloaded UI started while a password login was on its way goes on after that
/// login: the reloaded UI waits for its answer, and would otherwise stay on "starting".
#[tokio::test]
async fn a_restore_started_while_a_password_login_is_asked_still_answers() {
    let fixture = logged_in(&[]).await;
    let event = fixture.restore_beside_a_password_login().await;
    assert!(matches!(event, UiEvent::Home { .. }), "{event:?}");
}

/// A password login that finishes while a reloaded UI's restore checks an older stored session,
/// which the server then finds ended, stays in effect and in the keychain: the restore shows it
/// rather than forget it with the old one.
#[tokio::test]
async fn a_login_made_while_a_restore_checks_an_ended_session_is_kept() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let entry = fixture
        .keychain
        .build(KEYCHAIN_SERVICE, &fixture.origin, None);
    let entry = entry.expect("the keychain entry");
    entry.set_password("jwt-ended-elsewhere").expect("stored");

    let event = fixture.restore_beside_a_password_login().await;
    assert!(matches!(event, UiEvent::Home { .. }), "{event:?}");
    assert!(fixture.console.current().is_ok(), "the login was forgotten");
    assert_eq!(fixture.stored_token().as_deref(), Some(CONSOLE_TOKEN));
}

/// A password login whose keychain save waits (an unlock dialog) when the UI reloads: the reloaded
/// UI's restore waits for that login to be stored before it reads the stored session. Read before,
/// it would find the session from before the login, ended, and delete it, taking the new login's
/// save, landing first, with it: logged out here, and not stored for the next start.
#[tokio::test]
async fn a_restore_waits_for_a_login_still_being_stored() {
    let fixture = logged_in(&[]).await;
    let entry = fixture
        .keychain
        .build(KEYCHAIN_SERVICE, &fixture.origin, None);
    let entry = entry.expect("the keychain entry");
    entry.set_password("jwt-ended-elsewhere").expect("stored");
    let (console, dialog) = fixture.console_whose_saves_wait();
    let login = login_with_its_save_held(&console).await;
    let mut ui = UiEvents::new();
    console.start(ui.sink.clone());
    // Time for a restore that does not wait to check the stored session from before.
    let checked = fixture.fake.asked("POST", "/auth/jwt/verify", 1);
    let _checked_beside = tokio::time::timeout(Duration::from_millis(300), checked).await;
    dialog.send(()).expect("the login's save waits");

    login.await.expect("the login ends").expect("logged in");
    let event = ui.next("the restore's answer").await;
    assert!(matches!(event, UiEvent::Home { .. }), "{event:?}");
    assert!(console.current().is_ok(), "the login was forgotten");
    assert_eq!(fixture.stored_token().as_deref(), Some(CONSOLE_TOKEN));
}

/// A logout asked while a login's keychain save waits on an unlock dialog, which is then dismissed,
/// waits for that login to be in effect and stored: the failed save keeps the session in memory
/// for this run, and a logout made beside it would leave it there, for the next restore (a
/// reloaded window) to find.
#[tokio::test]
async fn a_logout_waits_for_a_login_still_being_stored() {
    let fixture = logged_in(&[]).await;
    let (console, dialog) = fixture.console_whose_saves_wait();
    let login = login_with_its_save_held(&console).await;
    let mut logout = std::pin::pin!(console.logout());
    // As far as it goes while the login is being stored: not as far as forgetting the session,
    // which that login's failing save would then keep in memory.
    let beside = futures_util::future::poll_immediate(&mut logout).await;
    assert!(beside.is_none(), "{beside:?}");
    assert!(
        console.current().is_ok(),
        "the logout forgot the session beside the login being stored"
    );
    drop(dialog);

    login.await.expect("the login ends").expect("logged in");
    logout.await.expect("logged out");
    assert_eq!(
        console.vault.load(&fixture.origin).await,
        None,
        "the logged-out session is kept for the next restore"
    );
    let mut ui = UiEvents::new();
    console.start(ui.sink.clone());
    let event = ui.next("the restore's answer").await;
    assert!(
        matches!(event, UiEvent::LoginRequired { ended: None, .. }),
        "{event:?}"
    );
}

/// The same for a session that a call finds ended while a login's save waits on a dialog then
/// dismissed: the call forgets the session after that login is stored, not beside it.
#[tokio::test]
async fn a_session_found_ended_is_forgotten_after_a_login_still_being_stored() {
    let fixture = logged_in(&[]).await;
    let (console, dialog) = fixture.console_whose_saves_wait();
    let login = login_with_its_save_held(&console).await;
    fixture.fake.end_console_session();
    let listing = {
        let console = Arc::clone(&console);
        tokio::spawn(async move { console.sessions().await })
    };
    // Time for a call that does not wait to forget the session.
    let forgotten = async {
        while console.current().is_ok() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let forgotten_beside = tokio::time::timeout(Duration::from_millis(300), forgotten).await;
    assert!(
        forgotten_beside.is_err(),
        "the session was forgotten beside the login being stored"
    );
    drop(dialog);

    login.await.expect("the login ends").expect("logged in");
    assert_session_revoked(listing.await.expect("the listing ends"));
    assert!(console.current().is_err(), "the ended session is in effect");
    assert_eq!(
        console.vault.load(&fixture.origin).await,
        None,
        "the ended session is kept for the next restore"
    );
}

/// Alice's password login on `console`, as a task of its own, once it is in effect and its keychain
/// save waits (see [`Fixture::console_whose_saves_wait`]).
async fn login_with_its_save_held(
    console: &Arc<Console>,
) -> tokio::task::JoinHandle<Result<SessionView, ConsoleError>> {
    let logging_in = Arc::clone(console);
    let login = tokio::spawn(async move {
        let password = Secret::new("password");
        logging_in
            .password_login("alice@example.com", password)
            .await
    });
    let stored_meanwhile = async {
        while console.current().is_err() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let in_effect = tokio::time::timeout(Duration::from_secs(5), stored_meanwhile).await;
    in_effect.expect("the login in effect, its save waiting on the dialog");
    login
}

/// A session restored while a login QR is cached (the stored token a restore kept on an answer
/// that would not change, found good by the restore of a reloaded UI) forgets that QR as a login
/// does: after a logout it does not come back, since a phone may have confirmed it meanwhile and
/// it would log in whoever that was without a scan; and it is withdrawn on the server, so that
/// phone's confirm makes no session nobody collects.
#[tokio::test]
async fn a_restored_session_forgets_the_login_qr_shown_before_it() {
    let fixture = logged_in(&[]).await;
    // The app started again, on the login screen while its stored session is good.
    let vault = SessionVault::with_store(fixture.keychain.clone(), Duration::from_secs(5));
    let preferences = PreferencesFile::in_dir(fixture.dir.path());
    let console = Console::new(preferences, vault, "Studio PC".into(), Handle::current());
    let console = Arc::new(console);
    let mut ui = UiEvents::new();
    console.start_scan_login(ui.sink.clone());
    let qr = ui.next("a QR").await;
    assert!(matches!(qr, UiEvent::Qr { .. }), "{qr:?}");
    console.stop_background();
    ui.drain();
    console.start(ui.sink.clone());
    let event = ui.next("the restore's answer").await;
    assert!(matches!(event, UiEvent::Home { .. }), "{event:?}");
    withdrawn_by_its_poll_token(&fixture).await;

    console.logout().await.expect("logged out");
    console.start_scan_login(Arc::new(|_| {}));
    fixture.fake.asked("POST", "/auth/scenes", 2).await;
    console.stop_background();
}

/// A login whose avatar is still on its way when the UI moves on (which stops the job) is kept:
/// in effect here and in the keychain, not lost with the picture.
#[tokio::test]
async fn a_login_cut_short_while_its_avatar_loads_is_kept() {
    let fixture = logged_in(&[]).await;
    fixture.login_cut_short_while_its_avatar_loads().await;
    assert!(fixture.console.current().is_ok(), "the login was lost");
    assert_eq!(fixture.stored_token().as_deref(), Some(CONSOLE_TOKEN));
}

/// A scan login asked for while such a login is in effect (the UI, never told, still shows the
/// login screen and asks for its QR) shows home: a QR there would make a second login that replaces
/// the first without ending it.
#[tokio::test]
async fn a_scan_login_asked_for_while_a_login_is_in_effect_shows_home() {
    let fixture = logged_in(&[]).await;
    fixture.login_cut_short_while_its_avatar_loads().await;
    let mut ui = UiEvents::new();
    fixture.console.start_scan_login(ui.sink.clone());
    let event = ui.next("an answer").await;
    assert!(matches!(event, UiEvent::Home { .. }), "{event:?}");
    let scenes = fixture
        .fake
        .requests
        .borrow()
        .iter()
        .filter(|(_, path, _)| path == "/auth/scenes")
        .count();
    assert_eq!(scenes, 0, "no QR made");
}

/// A reloaded UI whose restore finds the session held before ended elsewhere is not shown that
/// session by the scan login it asks for next: a QR, not home.
#[tokio::test]
async fn a_session_a_restore_found_ended_is_not_shown_again() {
    let fixture = logged_in(&[]).await;
    fixture.fake.end_console_session();
    let mut ui = UiEvents::new();
    fixture.console.start(ui.sink.clone());
    let ended = ui.next("the restore's answer").await;
    assert!(matches!(ended, UiEvent::LoginRequired { .. }), "{ended:?}");
    fixture.console.start_scan_login(ui.sink.clone());
    let shown = ui.next("the login screen's QR").await;
    assert!(matches!(shown, UiEvent::Qr { .. }), "{shown:?}");
    fixture.console.stop_background();
}

/// A restore that finds the keychain failing (locked, refused) says so with the login screen: the
/// session made next lasts for this run only, which the preferences the UI read at start, before
/// the restore, did not know.
#[tokio::test]
async fn a_restore_that_finds_the_keychain_failing_says_where_the_next_session_is_kept() {
    let fixture = logged_in(&[]).await;
    let keychain: Arc<keyring_core::CredentialStore> = mock::Store::new().expect("mock keychain");
    let entry = keychain.build(KEYCHAIN_SERVICE, &fixture.origin, None);
    let entry = entry.expect("the console's keychain entry");
    let credential: &mock::Cred = entry.as_any().downcast_ref().expect("a mock credential");
    let refused = std::io::Error::other("the keyring is locked");
    credential.set_error(keyring_core::Error::PlatformFailure(Box::new(refused)));
    let vault = SessionVault::with_store(keychain, Duration::from_secs(5));
    let preferences = PreferencesFile::in_dir(fixture.dir.path());
    let console = Arc::new(Console::new(
        preferences,
        vault,
        "Studio PC".into(),
        Handle::current(),
    ));
    let mut ui = UiEvents::new();
    console.start(ui.sink.clone());
    assert_eq!(
        ui.next("the restore's report").await,
        UiEvent::LoginRequired {
            ended: None,
            storage: Storage::MemoryOnly(KeychainProblem::Failed),
        }
    );
}

#[tokio::test]
async fn every_call_with_the_token_notices_the_end() {
    let fixture = logged_in(&[("sid-phone", Audience::Miniprogram)]).await;
    fixture.fake.end_console_session();
    assert_session_revoked(fixture.console.end_session("sid-phone").await);

    let fixture = logged_in(&[("sid-phone", Audience::Miniprogram)]).await;
    fixture.fake.end_console_session();
    assert_session_revoked(fixture.console.end_other_sessions().await);
    assert_eq!(fixture.stored_token(), None);
}

#[tokio::test]
async fn logging_out_a_session_ended_elsewhere_counts_as_done_on_the_server() {
    let fixture = logged_in(&[]).await;
    fixture.fake.end_console_session();
    let outcome = fixture.console.logout().await.expect("logged out");
    assert_eq!(
        outcome,
        LogoutOutcome {
            revoked_on_server: true,
            keychain_cleared: true,
        }
    );
}

/// A logout whose server is slow to answer, cut short meanwhile (the window closed), has already
/// cleared the keychain: the next start finds no session to restore.
#[tokio::test]
async fn a_logout_cut_short_while_the_server_is_told_leaves_nothing_stored() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.logout_held.write().await;
    let console = Arc::clone(&fixture.console);
    let logout = tokio::spawn(async move { console.logout().await });
    fixture.fake.asked("POST", "/auth/logout", 1).await;
    logout.abort();
    assert!(logout.await.is_err_and(|ended| ended.is_cancelled()));
    drop(held);
    assert_eq!(fixture.stored_token(), None);
}

/// A password login answered after Settings named another server is ended on the server it was
/// made on, neither in effect nor stored: it would mint tickets for the other server's pages. So it
/// is when Settings named its own server again before the answer came: the login screen it was
/// sent from was left, and the UI started afresh on the server.
#[tokio::test]
async fn a_password_login_answered_after_the_server_changed_is_ended_not_kept() {
    for and_back in [false, true] {
        let fixture = logged_in(&[]).await;
        fixture.console.logout().await.expect("logged out");
        let origin = fixture.console.preferences().server_url;
        let servers: &[&str] = if and_back {
            &["http://127.0.0.1:9", &origin]
        } else {
            &["http://127.0.0.1:9"]
        };
        let held = fixture.fake.held.write().await;
        let login = fixture.password_login_in_background();
        fixture.fake.asked("POST", "/auth/login", 2).await;
        for server in servers {
            let changed = fixture.console.save_preferences(server, Language::English);
            changed.expect("the server's URL is accepted");
        }
        drop(held);

        let answer = login.await.expect("the login ends");
        // The first logout's, then the one ending the late login's session.
        fixture.assert_late_login_ended(answer, 2).await;
    }
}

/// A password login sent before a logout and answered after it (a scan login's Home drawn over
/// the login screen it held, Log out pressed there) is ended on the server, neither in effect
/// nor stored: it would log the user who logged out back in. The scan login the login screen
/// starts after the logout goes on.
#[tokio::test]
async fn a_password_login_answered_after_a_logout_is_ended_not_kept() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.held.write().await;
    let login = fixture.password_login_in_background();
    fixture.fake.asked("POST", "/auth/login", 2).await;
    fixture.console.logout().await.expect("logged out");
    let polls_held = show_login_code(&fixture).await;
    drop(held);

    let answer = login.await.expect("the login ends");
    // The logout's, then the one ending the late login's session.
    fixture.assert_late_login_ended(answer, 2).await;
    assert!(
        matches!(
            fixture.console.lock_job().as_ref(),
            Some((Job::ScanLogin, _))
        ),
        "the scan login after the logout was stopped"
    );
    fixture.console.stop_background();
    drop(polls_held);
}

/// The same for a session found ended while a password login was on its way: the login screen
/// the UI returns to says so, and is not logged in behind its back.
#[tokio::test]
async fn a_password_login_answered_after_the_session_was_found_ended_is_not_kept() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.held.write().await;
    let login = fixture.password_login_in_background();
    fixture.fake.asked("POST", "/auth/login", 2).await;
    fixture.fake.end_console_session();
    assert_session_revoked(fixture.console.end_other_sessions().await);
    drop(held);

    let answer = login.await.expect("the login ends");
    fixture.assert_late_login_ended(answer, 1).await;
}

/// A login that replaces a session in effect (a phone confirmed the QR while a password login was
/// on its way) ends that session on the server rather than leave it live with nobody holding it.
#[tokio::test]
async fn a_login_that_replaces_a_session_in_effect_ends_it_on_the_server() {
    let fixture = logged_in(&[]).await;
    let api = fixture.console.api().expect("the server's client");
    let user = fixture
        .console
        .lock_session()
        .as_ref()
        .map(|s| s.user.clone());
    let grant = ScanGrant {
        access_token: Secret::new("jwt-of-the-later-login"),
        expires_in: Duration::from_secs(3600),
        user: user.expect("logged in"),
    };
    fixture.console.begin_session(api, grant).await;

    fixture.fake.asked("POST", "/auth/logout", 1).await;
    let requests = fixture.fake.requests.borrow();
    let logout = requests.iter().find(|(_, path, _)| path == "/auth/logout");
    let ended = logout.and_then(|(_, _, bearer)| bearer.as_deref());
    assert_eq!(ended, Some(CONSOLE_TOKEN), "the replaced session's");
}

#[tokio::test]
async fn without_a_session_nothing_is_asked() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let asked = fixture.fake.requests.borrow().len();

    assert!(matches!(
        fixture.console.sessions().await,
        Err(ConsoleError::NotLoggedIn)
    ));
    assert!(matches!(
        fixture.console.end_session("sid-phone").await,
        Err(ConsoleError::NotLoggedIn)
    ));
    assert_eq!(fixture.fake.requests.borrow().len(), asked);
}

#[tokio::test]
async fn the_team_lists_admins_first_and_marks_this_user() {
    let fixture = logged_in(&[]).await;
    let team = fixture.console.team().await.expect("the team");

    let listed: Vec<_> = team
        .members
        .iter()
        .map(|member| (member.display_name.as_str(), member.you))
        .collect();
    assert_eq!(listed, [("Alice", true), ("Bob", false), ("Carol", false)]);
    assert!(team.you_are_admin);
    assert_eq!(
        team.members[0].methods,
        [LoginMethod::Wechat, LoginMethod::Password]
    );
    assert_eq!(team.members[0].last_login_at, Some(1_700_000_000));
    let json = serde_json::to_string(&team).expect("serializable");
    assert!(!json.contains(CONSOLE_TOKEN));
}

#[tokio::test]
async fn an_invite_comes_with_its_qr_fetched_with_the_token_and_its_link() {
    let fixture = logged_in(&[]).await;
    let created = fixture
        .console
        .create_invite(TeamRole::Organizer)
        .await
        .expect("an invite");

    assert_eq!(created.invite.role, TeamRole::Organizer);
    assert_eq!(created.invite.created_by, "Alice");
    assert_eq!(created.invite.expires_at, 1_700_086_400);
    assert!(
        created.qr.starts_with("data:image/png;base64,"),
        "{}",
        created.qr
    );
    assert_eq!(
        created.link.as_deref(),
        Some("https://auth.example/m/invite/SECRETCODE0123456789abcdefghijkl")
    );
    // What the UI receives holds no token; the QR was fetched with it.
    let json = serde_json::to_string(&created).expect("serializable");
    assert!(!json.contains(CONSOLE_TOKEN));
    let requests = fixture.fake.requests.borrow().clone();
    assert!(
        requests.iter().any(|(method, path, bearer)| method == "GET"
            && path == "/auth/invites/inv1/qr.png"
            && bearer.as_deref() == Some(CONSOLE_TOKEN)),
        "{requests:?}"
    );

    let listed = fixture.console.invites().await.expect("the invites");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "inv1");
    assert_eq!(listed[0].accepted_by, None);

    fixture
        .console
        .revoke_invite("inv1")
        .await
        .expect("revoked");
    assert!(
        fixture
            .console
            .invites()
            .await
            .expect("the invites")
            .is_empty()
    );
}

#[tokio::test]
async fn an_accepted_invite_says_who_joined() {
    let fixture = logged_in(&[]).await;
    fixture
        .fake
        .invites
        .lock()
        .unwrap()
        .push(("inv7".into(), "admin".into(), Some("Dan".into())));
    let listed = fixture.console.invites().await.expect("the invites");
    assert_eq!(listed[0].role, TeamRole::Admin);
    let joined = listed[0].accepted_by.as_ref().expect("accepted");
    assert_eq!(joined.display_name, "Dan");
    assert_eq!(listed[0].accepted_at, Some(1_700_000_500));
    assert!(
        !listed[0].role_held,
        "Dan is an organizer only: the admin role did not follow"
    );
}

#[tokio::test]
async fn an_accepted_invite_says_whether_its_role_is_held() {
    let fixture = logged_in(&[]).await;
    let invites = [
        ("inv8", "organizer", Some("Eve")),
        ("inv9", "organizer", None),
    ];
    for (id, role, accepted_by) in invites {
        let invite = (id.into(), role.into(), accepted_by.map(str::to_owned));
        fixture.fake.invites.lock().unwrap().push(invite);
    }
    let listed = fixture.console.invites().await.expect("the invites");
    let held: Vec<_> = listed
        .iter()
        .map(|invite| (invite.id.as_str(), invite.role_held))
        .collect();
    assert_eq!(held, [("inv8", true), ("inv9", false)]);
}

#[tokio::test]
async fn saving_an_invite_qr_writes_the_servers_png_and_never_overwrites() {
    let fixture = logged_in(&[]).await;
    let first = fixture.console.save_invite_qr("inv1").await.expect("saved");
    let second = fixture.console.save_invite_qr("inv1").await.expect("saved");

    let downloads = fixture.dir.path().join("Downloads");
    assert_eq!(
        std::path::PathBuf::from(&first),
        downloads.join("meeteasy-invite-inv1.png")
    );
    assert_eq!(
        std::path::PathBuf::from(&second),
        downloads.join("meeteasy-invite-inv1-2.png")
    );
    assert_eq!(std::fs::read(&first).expect("the file"), QR_PNG);
    // An odd id cannot steer the file elsewhere.
    let odd = fixture
        .console
        .save_invite_qr("../../etc")
        .await
        .expect("saved");
    assert_eq!(
        std::path::PathBuf::from(&odd),
        downloads.join("meeteasy-invite-etc.png")
    );
}

#[tokio::test]
async fn removing_a_member_and_the_last_admin_refusal_in_the_servers_words() {
    let fixture = logged_in(&[]).await;
    fixture.console.remove_member("u2").await.expect("removed");
    let names: Vec<_> = fixture
        .console
        .team()
        .await
        .expect("the team")
        .members
        .into_iter()
        .map(|member| member.display_name)
        .collect();
    assert_eq!(names, ["Alice", "Carol"]);

    let refused = fixture.console.remove_member("u1").await;
    let Err(err) = refused else {
        panic!("the last admin was removed");
    };
    assert_eq!(err.code(), "last_admin");
    assert_eq!(err.to_string(), "the team needs an admin");
    assert_eq!(
        serde_json::to_value(&err).ok(),
        Some(serde_json::json!({"code": "last_admin", "message": "the team needs an admin"}))
    );

    let Err(newer) = fixture.console.remove_member("u3").await else {
        panic!("the refusal was taken for a success");
    };
    assert_eq!(
        (newer.code(), newer.to_string().as_str()),
        ("team_frozen", "the team is frozen")
    );
}

#[tokio::test]
async fn a_password_login_is_added_and_changed_with_the_current_one() {
    let fixture = logged_in(&[]).await;
    fixture
        .console
        .set_password(" alice@example.com ", Secret::new("first secret"), None)
        .await
        .expect("added");
    fixture
        .console
        .set_password(
            "alice@example.com",
            Secret::new("second secret"),
            Some(Secret::new("first secret")),
        )
        .await
        .expect("changed");
    let taken = fixture
        .console
        .set_password("bob@example.com", Secret::new("x"), None)
        .await;
    assert!(
        matches!(&taken, Err(err) if err.code() == "identity_in_use"),
        "{taken:?}"
    );

    let bodies = fixture.fake.passwords.lock().unwrap().clone();
    assert_eq!(bodies[0]["login"], "alice@example.com", "trimmed");
    assert_eq!(bodies[0]["password"], "first secret");
    assert!(bodies[0]["current_password"].is_null(), "{}", bodies[0]);
    assert_eq!(bodies[1]["current_password"], "first secret");
}

#[tokio::test]
async fn team_calls_notice_a_session_ended_elsewhere() {
    let fixture = logged_in(&[]).await;
    fixture.fake.end_console_session();
    assert_session_revoked(fixture.console.team().await);
    assert_eq!(fixture.stored_token(), None);

    let fixture = logged_in(&[]).await;
    fixture.fake.end_console_session();
    assert_session_revoked(fixture.console.create_invite(TeamRole::Admin).await);
}

/// Starts "Link WeChat" and collects its events until it ends (linked, stopped, or back to login).
async fn link_events(console: &Arc<Console>) -> Vec<UiEvent> {
    let mut ui = UiEvents::new();
    console.start_link_wechat(ui.sink.clone());
    let mut seen = Vec::new();
    loop {
        let event = ui.next("the link job's report").await;
        let done = matches!(
            event,
            UiEvent::Linked | UiEvent::LinkStopped { .. } | UiEvent::LoginRequired { .. }
        );
        seen.push(event);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn link_wechat_runs_a_link_scene_with_the_token_and_reports_linked() {
    let fixture = logged_in(&[]).await;
    let events = link_events(&fixture.console).await;

    assert!(
        matches!(
            events.first(),
            Some(UiEvent::Link {
                step: ScanEvent::Qr { .. }
            })
        ),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&UiEvent::Linked));
    let created = fixture.fake.scene_requests.lock().unwrap().clone();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0.as_deref(), Some(CONSOLE_TOKEN));
    assert_eq!(created[0].1["purpose"], "link");
    assert_eq!(created[0].1["device_name"], "Studio PC");
}

/// Starts "Link WeChat" and waits for its code on screen.
async fn show_link_code(fixture: &Fixture, ui: &mut UiEvents) {
    fixture.console.start_link_wechat(ui.sink.clone());
    let shown = ui.next("the link code").await;
    assert!(
        matches!(
            &shown,
            UiEvent::Link {
                step: ScanEvent::Qr { .. }
            }
        ),
        "{shown:?}"
    );
}

/// "Link WeChat" called off while its code is on screen (someone else scanned it, say) withdraws
/// the scene on the server by its poll token: that phone's confirm would link its WeChat to this
/// account though nobody here watches any more.
#[tokio::test]
async fn calling_link_wechat_off_withdraws_its_scene() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.polls_held.write().await;
    let mut ui = UiEvents::new();
    show_link_code(&fixture, &mut ui).await;
    fixture.console.stop_link_wechat();
    withdrawn_by_its_poll_token(&fixture).await;

    // A logout with a link code on screen withdraws it too.
    ui.drain();
    show_link_code(&fixture, &mut ui).await;
    fixture.console.logout().await.expect("logged out");
    fixture.fake.asked("POST", SCENE_WITHDRAWAL, 2).await;
    drop(held);
}

/// Closing the window, choosing another server, or a restore (a reloaded UI) with a link code
/// on screen withdraws it too, closing before it returns: the app may end right after.
#[tokio::test]
async fn a_link_code_left_on_screen_is_withdrawn_by_close_restart_and_server_change() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.polls_held.write().await;
    let asked = || fixture.fake.times_asked(SCENE_WITHDRAWAL);
    let mut ui = UiEvents::new();
    show_link_code(&fixture, &mut ui).await;
    fixture.console.close().await;
    assert_eq!(asked(), 1, "withdrawn before close returned");

    ui.drain();
    show_link_code(&fixture, &mut ui).await;
    fixture.console.start(ui.sink.clone());
    fixture.fake.asked("POST", SCENE_WITHDRAWAL, 2).await;

    ui.drain();
    show_link_code(&fixture, &mut ui).await;
    let elsewhere = fixture
        .console
        .save_preferences("http://127.0.0.1:9", Language::English);
    elsewhere.expect("another server's URL is accepted");
    fixture.fake.asked("POST", SCENE_WITHDRAWAL, 3).await;
    drop(held);
}

/// A link code cached by the step its loop was in when Settings named another server (a job
/// stopped on another thread finishes its step) is withdrawn on the server it was made on, where
/// a phone can still confirm it, not on the server named now.
#[tokio::test]
async fn a_link_code_is_withdrawn_on_the_server_it_was_made_on() {
    let fixture = logged_in(&[]).await;
    let held = fixture.fake.polls_held.write().await;
    let (made_on, console_token) = fixture.console.current().expect("logged in");
    let elsewhere = fixture
        .console
        .save_preferences("http://127.0.0.1:9", Language::English);
    elsewhere.expect("another server's URL is accepted");
    let purpose = ScanPurpose::Link { console_token };
    let link_scenes = fixture.console.link_scenes.clone();
    let timing = fixture.console.scan_timing;
    let last_step =
        tokio::spawn(
            async move { run_scan(&made_on, &link_scenes, timing, &purpose, |_| {}).await },
        );
    let polled = "/auth/scenes/LINKSCENE0123456789abcdefghijklm/islogin";
    fixture.fake.asked("GET", polled, 1).await;
    last_step.abort();

    fixture.console.close().await;
    let withdrawn = fixture.fake.times_asked(SCENE_WITHDRAWAL);
    assert_eq!(withdrawn, 1, "not withdrawn where it was made");
    drop(held);
}

/// A login code cached the same way is not shown by the scan login on the server named now: a
/// phone's confirm would log in on the server before, while the loop polls the new one, which
/// knows no such scene. It is withdrawn where it was made, and the new server is asked for a code.
#[tokio::test]
async fn a_login_code_made_on_the_server_before_is_withdrawn_there_not_shown() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let held = fixture.fake.polls_held.write().await;
    let made_on = fixture.console.api().expect("the server's client");
    let elsewhere = fixture
        .console
        .save_preferences("http://127.0.0.1:9", Language::English);
    elsewhere.expect("another server's URL is accepted");
    let scenes = fixture.console.scenes.clone();
    let timing = fixture.console.scan_timing;
    let last_step =
        tokio::spawn(async move { run_scan_login(&made_on, &scenes, timing, |_| {}).await });
    let polled = "/auth/scenes/LINKSCENE0123456789abcdefghijklm/islogin";
    fixture.fake.asked("GET", polled, 1).await;
    last_step.abort();

    let mut ui = UiEvents::new();
    fixture.console.start_scan_login(ui.sink.clone());
    // The server named now does not answer: no code of its own to show.
    let shown = ui.next("the scan login's first report").await;
    assert!(matches!(shown, UiEvent::Offline { .. }), "{shown:?}");
    withdrawn_by_its_poll_token(&fixture).await;
    fixture.console.stop_background();
    drop(held);
}

#[tokio::test]
async fn link_wechat_with_a_session_ended_elsewhere_returns_to_the_login() {
    let fixture = logged_in(&[]).await;
    fixture.fake.end_console_session();
    let events = link_events(&fixture.console).await;

    assert_eq!(
        events,
        [UiEvent::LoginRequired {
            ended: Some(SessionEnded::Revoked),
            storage: Storage::Keychain,
        }]
    );
    assert_eq!(fixture.stored_token(), None);
}

#[test]
fn link_events_reach_the_ui_nested_under_their_own_kind() {
    let step = serde_json::to_value(UiEvent::Link {
        step: ScanEvent::Scanned {
            display_name: "Ann".into(),
            avatar: None,
        },
    })
    .ok();
    assert_eq!(
        step,
        Some(serde_json::json!({
            "kind": "link",
            "step": {"kind": "scanned", "display_name": "Ann", "avatar": null},
        }))
    );
    let refused = serde_json::to_value(UiEvent::Link {
        step: ScanEvent::IdentityInUse,
    })
    .ok();
    assert_eq!(
        refused,
        Some(serde_json::json!({"kind": "link", "step": {"kind": "identity_in_use"}}))
    );
    let stopped = serde_json::to_value(UiEvent::LinkStopped {
        problem: Problem::from(&ConsoleError::Server {
            code: ErrorCode::Forbidden,
            message: "organizers only".into(),
        }),
    })
    .ok();
    assert_eq!(
        stopped,
        Some(serde_json::json!({
            "kind": "link_stopped",
            "problem": {"code": "forbidden", "message": "organizers only"},
        }))
    );
    assert_eq!(
        serde_json::to_value(UiEvent::Linked).ok(),
        Some(serde_json::json!({"kind": "linked"}))
    );
}

/// A scan login whose HTTP client cannot be set up says so, once, as that failure, and stops: no
/// server was asked, so the server is neither offline nor answering wrongly, and trying again
/// would fail the same way. A password login answers the same failure.
#[tokio::test]
async fn a_client_that_cannot_be_set_up_stops_the_scan_login_saying_so() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&builds);
    let failing = move |_, _| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(ClientSetupError("no TLS roots".into()))
    };
    let keychain = mock::Store::new().expect("mock keychain");
    let vault = SessionVault::with_store(keychain, Duration::from_secs(5));
    let preferences = PreferencesFile::in_dir(dir.path());
    let console = Console::new(preferences, vault, "Studio PC".into(), Handle::current());
    let console = Arc::new(console.with_client_built_by(Box::new(failing)));
    // The job holds the only sink: what it tells ends when the job does.
    let UiEvents { sink, mut events } = UiEvents::new();
    console.start_scan_login(sink);

    let stopped = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    let stopped = stopped.expect("the scan login's report in time");
    let stopped = stopped.expect("a report before the job ended");
    let message = "the console's HTTP client could not be set up: no TLS roots";
    assert_eq!(
        serde_json::to_value(&stopped).ok(),
        Some(serde_json::json!({
            "kind": "scan_stopped",
            "problem": {"code": "client_setup_failed", "message": message},
        }))
    );
    let after = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
    let after = after.expect("the scan login ended");
    assert_eq!(after, None, "told more than once");
    assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);

    let answer = console
        .password_login("alice@example.com", Secret::new("password"))
        .await;
    assert!(
        matches!(&answer, Err(err) if err.code() == "client_setup_failed"),
        "{answer:?}"
    );
}

#[test]
fn ticket_url_appends_ticket_and_cache_buster() {
    let page = PageUrl::parse("https://h5.example.com/h5/demo").unwrap();
    let url = ticket_url(&page, &Secret::new("T1ck3t"), 1700000000123);
    assert_eq!(
        url.expose(),
        "https://h5.example.com/h5/demo?login_ticket=T1ck3t&_t=1700000000123"
    );
}

#[test]
fn errors_reach_the_ui_as_code_and_message() {
    let err = ConsoleError::Server {
        code: ErrorCode::InvalidCredentials,
        message: "wrong login or password".into(),
    };
    let json = serde_json::to_value(&err).ok();
    assert_eq!(
        json,
        Some(
            serde_json::json!({"code": "invalid_credentials", "message": "wrong login or password"})
        )
    );
}

/// A proxy's 502 or 429 page while the server restarts says the server is not answering, not that
/// its URL is wrong; another bodiless status (a captive portal's 404) is still an answer outside
/// the contract.
#[test]
fn a_proxy_s_busy_page_is_the_server_not_answering() {
    for status in [502, 503, 504, 429] {
        let err = ConsoleError::from(ApiError::ErrorStatus { status });
        assert_eq!(err.code(), "server_not_answering", "{status}");
        assert_eq!(err.to_string(), format!("HTTP {status}"));
    }
    let portal = ConsoleError::from(ApiError::ErrorStatus { status: 404 });
    assert_eq!(portal.code(), "unexpected_answer");
}

#[test]
fn a_restore_waits_only_on_answers_that_may_change() {
    let rejected = |code: ErrorCode| ApiError::Rejected {
        code,
        message: code.to_string(),
        retry_after: None,
    };
    assert!(ApiError::Unreachable.is_transient());
    assert!(rejected(ErrorCode::StoreUnavailable).is_transient());
    assert!(rejected(ErrorCode::ServerBusy).is_transient());
    assert!(rejected(ErrorCode::TooManyRequests).is_transient());
    // A proxy's 502 while the server restarts, a newer server's unknown code with a 503.
    assert!(ApiError::ErrorStatus { status: 502 }.is_transient());
    let unknown = |status| ApiError::RejectedOther {
        code: "something_new".into(),
        message: String::new(),
        status,
    };
    assert!(unknown(503).is_transient());
    // Asked again, these answer the same: the console asks for a login instead.
    assert!(!rejected(ErrorCode::InvalidRequest).is_transient());
    assert!(!unknown(400).is_transient());
    assert!(!ApiError::ErrorStatus { status: 404 }.is_transient());
    assert!(!ApiError::Unexpected("not JSON".into()).is_transient());
    let redirected = ApiError::Redirected {
        status: 307,
        location: "https://elsewhere.example/".into(),
    };
    assert!(!redirected.is_transient());
}
