//! The console's behaviour against a small fake auth server over real HTTP: the session list of
//! the Devices section, ending one session or all the others, and a session ended elsewhere, which
//! the console notices at its next call and forgets (memory and keychain).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use keyring_core::mock;
use meeteasy_protocol::{Audience, ErrorBody, Session as DeviceSession};

use super::*;
use crate::keychain::KEYCHAIN_SERVICE;

const CONSOLE_TOKEN: &str = "jwt-of-this-console";
const CONSOLE_SID: &str = "sid-console";

/// What the fake server holds: the user's sessions (this console's first) and what was asked.
#[derive(Default)]
struct FakeAuth {
    sessions: Mutex<Vec<DeviceSession>>,
    /// `(method, path, bearer)` of every request.
    requests: Mutex<Vec<(String, String, Option<String>)>>,
}

impl FakeAuth {
    fn with_sessions(others: &[(&str, Audience)]) -> Arc<Self> {
        let mut sessions = vec![session(CONSOLE_SID, Audience::Console, Some("Studio PC"))];
        sessions.extend(others.iter().map(|(id, client)| session(id, *client, None)));
        Arc::new(Self {
            sessions: Mutex::new(sessions),
            requests: Mutex::default(),
        })
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
            .lock()
            .unwrap()
            .push((method.into(), path.into(), bearer.clone()));
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
        Json(serde_json::json!({
            "access_token": CONSOLE_TOKEN,
            "token_type": "Bearer",
            "expires_in": 604_800,
            "user": {"id": "u1", "display_name": "Alice", "avatar_url": null, "roles": ["organizer"]},
        }))
        .into_response()
    }
    async fn list(State(fake): State<Arc<FakeAuth>>, headers: HeaderMap) -> Response {
        let bearer = fake.record("GET", "/auth/sessions", &headers);
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
        if let Some(refused) = fake.refusal(bearer) {
            return refused;
        }
        fake.end_console_session();
        StatusCode::NO_CONTENT.into_response()
    }

    let app = axum::Router::new()
        .route("/auth/login", post(login))
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
    _dir: TempDir,
}

/// A private directory for the preferences file, removed when the test ends.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // A leftover directory in the temp dir is harmless.
        let _removed = std::fs::remove_dir_all(&self.0);
    }
}

async fn logged_in(others: &[(&str, Audience)]) -> Fixture {
    // reqwest is built without a crypto provider; the shell installs ring's, and so do the tests.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeAuth::with_sessions(others);
    let addr = serve(Arc::clone(&fake)).await;
    let dir = TempDir(std::env::temp_dir().join(format!(
        "meeteasy-console-test-{}-{}",
        std::process::id(),
        addr.port()
    )));
    let keychain = mock::Store::new().expect("mock keychain");
    let vault = SessionVault::with_store(keychain.clone(), Duration::from_secs(5));
    let console = Arc::new(Console::new(
        PreferencesFile::in_dir(&dir.0),
        vault,
        "Studio PC".into(),
        Handle::current(),
    ));
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
        _dir: dir,
    }
}

impl Fixture {
    fn stored_token(&self) -> Option<String> {
        self.keychain
            .build(KEYCHAIN_SERVICE, &self.origin, None)
            .ok()?
            .get_password()
            .ok()
    }

    /// Every bearer the fake server saw on a sessions call: only ever the console's own token.
    fn bearers(&self) -> Vec<Option<String>> {
        let requests = self.fake.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(_, path, _)| path.starts_with("/auth/sessions"))
            .map(|(_, _, bearer)| bearer.clone())
            .collect()
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
    let requests = fixture.fake.requests.lock().unwrap().clone();
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

#[tokio::test]
async fn without_a_session_nothing_is_asked() {
    let fixture = logged_in(&[]).await;
    fixture.console.logout().await.expect("logged out");
    let asked = fixture.fake.requests.lock().unwrap().len();

    assert!(matches!(
        fixture.console.sessions().await,
        Err(ConsoleError::NotLoggedIn)
    ));
    assert!(matches!(
        fixture.console.end_session("sid-phone").await,
        Err(ConsoleError::NotLoggedIn)
    ));
    assert_eq!(fixture.fake.requests.lock().unwrap().len(), asked);
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
