//! The console's behaviour behind its screens, free of window types: restore the session at start,
//! run the scan login, password login, log out, open the H5 site, list and end the user's sessions
//! on other devices, change preferences.
//!
//! Long work (restoring while the server is unreachable, the scan loop) runs as one background job
//! at a time; starting another or closing the window aborts it. Jobs report [`UiEvent`]s to the
//! sink the UI registered. The access token stays here and in the keychain: the UI only ever
//! receives a [`SessionView`] and the session list (which carries no tokens).
//!
//! Every server call made with the token can learn that the session is over (revoked from another
//! device, expired): the console then forgets it, here and in the keychain, and the call fails with
//! [`ConsoleError::SessionEnded`], which sends the UI back to the login screen with a notice.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meeteasy_protocol::{ErrorCode, Session as DeviceSession, User};
use serde::{Serialize, Serializer, ser::SerializeStruct};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::api::{ApiClient, ApiError};
use crate::backoff::Backoff;
use crate::browser;
use crate::keychain::{RemoveOutcome, SessionVault, Storage};
use crate::origin::PageUrl;
use crate::preferences::{Language, Preferences, PreferencesError, PreferencesFile};
use crate::scan::{ScanEvent, ScanGrant, ScanTiming, SceneCache, run_scan_login};
use meeteasy_protocol::Secret;

/// Everything the UI is told, as `{"kind": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UiEvent {
    /// The server cannot be reached; the console retries by itself.
    Offline {
        retry_in_secs: u64,
    },
    /// No usable session: show the login screen, saying why an old session ended.
    LoginRequired {
        ended: Option<SessionEnded>,
    },
    Home {
        session: SessionView,
    },
    Qr {
        image: String,
        refresh_at_ms: u64,
    },
    Waiting,
    Scanned {
        display_name: String,
        avatar: Option<String>,
    },
    Declined,
    NotOrganizer,
    Expired,
}

impl From<ScanEvent> for UiEvent {
    fn from(event: ScanEvent) -> Self {
        match event {
            ScanEvent::Qr {
                image,
                refresh_at_ms,
            } => Self::Qr {
                image,
                refresh_at_ms,
            },
            ScanEvent::Waiting => Self::Waiting,
            ScanEvent::Scanned {
                display_name,
                avatar,
            } => Self::Scanned {
                display_name,
                avatar,
            },
            ScanEvent::Declined => Self::Declined,
            ScanEvent::NotOrganizer => Self::NotOrganizer,
            ScanEvent::Expired => Self::Expired,
            ScanEvent::Offline { retry_in_secs } => Self::Offline { retry_in_secs },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnded {
    Expired,
    Revoked,
    Invalid,
}

/// Who is logged in and until when: all the UI learns about a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionView {
    pub display_name: String,
    pub avatar: Option<String>,
    pub roles: Vec<String>,
    /// Unix seconds.
    pub expires_at: u64,
    pub server: String,
    pub storage: Storage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreferencesView {
    pub server_url: String,
    pub server_from_env: bool,
    pub language: Language,
    pub storage: Storage,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("not logged in")]
    NotLoggedIn,
    /// The server says the session is over; the console has forgotten it.
    #[error("the session has ended ({0:?})")]
    SessionEnded(SessionEnded),
    #[error("the server could not be reached")]
    Unreachable,
    #[error("{message}")]
    Server { code: ErrorCode, message: String },
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Preferences(#[from] PreferencesError),
    #[error("could not open the browser: {0}")]
    Browser(#[source] std::io::Error),
    /// The server answered with a redirect, which the console does not follow (the text says where).
    #[error("{0}")]
    Redirected(String),
}

impl ConsoleError {
    /// The stable code the UI branches on (contract codes pass through unchanged).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotLoggedIn => "not_logged_in",
            Self::SessionEnded(SessionEnded::Expired) => "session_expired",
            Self::SessionEnded(SessionEnded::Revoked) => "session_revoked",
            Self::SessionEnded(SessionEnded::Invalid) => "session_invalid",
            Self::Unreachable => "server_unreachable",
            Self::Server { code, .. } => code.as_str(),
            Self::Unexpected(_) => "unexpected_answer",
            Self::Preferences(PreferencesError::InvalidServer(_)) => "invalid_server_url",
            Self::Preferences(PreferencesError::Save(_)) => "preferences_not_saved",
            Self::Browser(_) => "browser_failed",
            Self::Redirected(_) => "server_redirected",
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unreachable => Self::Unreachable,
            ApiError::Rejected { code, message, .. } => Self::Server { code, message },
            ApiError::Unexpected(detail) => Self::Unexpected(detail),
            redirected @ ApiError::Redirected { .. } => Self::Redirected(redirected.to_string()),
        }
    }
}

impl Serialize for ConsoleError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_struct("ConsoleError", 2)?;
        body.serialize_field("code", self.code())?;
        body.serialize_field("message", &self.to_string())?;
        body.end()
    }
}

/// Where background jobs report to; the shell wraps its IPC channel in one.
pub type EventSink = Arc<dyn Fn(UiEvent) + Send + Sync>;

struct Session {
    api: ApiClient,
    token: Secret,
}

pub struct Console {
    preferences_file: PreferencesFile,
    preferences: Mutex<Preferences>,
    device_name: String,
    vault: SessionVault,
    session: Mutex<Option<Session>>,
    scenes: SceneCache,
    scan_timing: ScanTiming,
    /// Commands may arrive on the UI thread, outside any runtime: jobs are spawned on this one.
    runtime: Handle,
    job: Mutex<Option<AbortHandle>>,
}

impl Console {
    pub fn new(
        preferences_file: PreferencesFile,
        vault: SessionVault,
        device_name: String,
        runtime: Handle,
    ) -> Self {
        let preferences = preferences_file.load();
        Self {
            preferences_file,
            preferences: Mutex::new(preferences),
            device_name,
            vault,
            session: Mutex::new(None),
            scenes: SceneCache::default(),
            scan_timing: ScanTiming::default(),
            runtime,
            job: Mutex::new(None),
        }
    }

    /// Start of the app (or a reload of the UI): restore the stored session in the background.
    pub fn start(self: &Arc<Self>, sink: EventSink) {
        let console = Arc::clone(self);
        self.replace_job(async move { console.restore(&*sink).await });
    }

    /// Show the scan login: runs the scan loop in the background until a confirmed scan.
    pub fn start_scan_login(self: &Arc<Self>, sink: EventSink) {
        let console = Arc::clone(self);
        self.replace_job(async move {
            let Ok(api) = console.api() else {
                sink(UiEvent::Offline { retry_in_secs: 0 });
                return;
            };
            let grant = run_scan_login(&api, &console.scenes, console.scan_timing, |event| {
                sink(event.into());
            })
            .await;
            let session = console.begin_session(api, grant).await;
            sink(UiEvent::Home { session });
        });
    }

    /// Stops whatever runs in the background (window closed, password tab chosen).
    pub fn stop_background(&self) {
        if let Some(job) = self.lock_job().take() {
            job.abort();
        }
    }

    pub async fn password_login(
        &self,
        login: &str,
        password: Secret,
    ) -> Result<SessionView, ConsoleError> {
        self.stop_background();
        let api = self.api()?;
        let answer = api.password_login(login.trim(), &password).await?;
        let grant = ScanGrant {
            access_token: Secret::new(answer.access_token),
            expires_in: Duration::from_secs(answer.expires_in),
            user: answer.user,
        };
        Ok(self.begin_session(api, grant).await)
    }

    /// Revokes the session on the server and forgets it here. The local session ends even when
    /// the server cannot be told; the answer says whether it was.
    pub async fn logout(&self) -> Result<LogoutOutcome, ConsoleError> {
        self.stop_background();
        let session = self
            .lock_session()
            .take()
            .ok_or(ConsoleError::NotLoggedIn)?;
        let revoked = match session.api.logout(&session.token).await {
            Ok(()) => true,
            // Already over there (ended from another device, expired): nothing left to revoke.
            Err(err) if session_end(&err).is_some() => true,
            Err(err) => {
                tracing::warn!(error = %err, "logout: the server was not told");
                false
            }
        };
        let removed = self.vault.remove(session.api.origin().as_str()).await;
        Ok(LogoutOutcome {
            revoked_on_server: revoked,
            keychain_cleared: removed == RemoveOutcome::Removed,
        })
    }

    /// Mints a login ticket and opens the H5 site with it, so the organizer lands there logged in.
    pub async fn open_in_browser(&self) -> Result<(), ConsoleError> {
        let (api, token) = self.current()?;
        let ticket = self.checked(&token, api.login_ticket(&token).await).await?;
        let h5_url = self.lock_preferences().h5_url.clone();
        let url = ticket_url(&h5_url, &ticket, unix_now().as_millis());
        browser::open_url(&url).await.map_err(ConsoleError::Browser)
    }

    /// The user's live sessions on every device, newest first, this console's marked `current`.
    pub async fn sessions(&self) -> Result<Vec<DeviceSession>, ConsoleError> {
        let (api, token) = self.current()?;
        self.checked(&token, api.sessions(&token).await).await
    }

    /// Ends one of the user's other sessions ("Log out" on a device).
    pub async fn end_session(&self, id: &str) -> Result<(), ConsoleError> {
        let (api, token) = self.current()?;
        self.checked(&token, api.end_session(&token, id).await)
            .await
    }

    /// Ends every session of the user's but this console's; answers how many ended.
    pub async fn end_other_sessions(&self) -> Result<u64, ConsoleError> {
        let (api, token) = self.current()?;
        self.checked(&token, api.end_other_sessions(&token).await)
            .await
    }

    pub fn preferences(&self) -> PreferencesView {
        let preferences = self.lock_preferences();
        PreferencesView {
            server_url: preferences.server.as_str().to_owned(),
            server_from_env: preferences.server_from_env,
            language: preferences.language,
            storage: self.vault.storage(),
        }
    }

    /// Saves new preferences. A new server means a new session: the caller restarts the app flow.
    pub fn save_preferences(
        &self,
        server_url: &str,
        language: Language,
    ) -> Result<PreferencesView, ConsoleError> {
        let saved = self.preferences_file.save(server_url, language)?;
        let server_changed = self.lock_preferences().server != saved.server;
        *self.lock_preferences() = saved;
        if server_changed {
            self.stop_background();
            self.scenes.clear();
            *self.lock_session() = None;
        }
        Ok(self.preferences())
    }

    async fn restore(&self, sink: &(dyn Fn(UiEvent) + Send + Sync)) {
        let mut backoff = Backoff::default();
        loop {
            let api = match self.api() {
                Ok(api) => api,
                Err(_) => return sink(UiEvent::LoginRequired { ended: None }),
            };
            let account = api.origin().as_str().to_owned();
            let Some(token) = self.vault.load(&account).await else {
                return sink(UiEvent::LoginRequired { ended: None });
            };
            match self.check_stored(&api, &token).await {
                Ok((user, expires_at)) => {
                    let session = self.view(&api, &user, expires_at).await;
                    *self.lock_session() = Some(Session { api, token });
                    return sink(UiEvent::Home { session });
                }
                Err(err) => match session_end(&err) {
                    Some(ended) => {
                        self.vault.remove(&account).await;
                        return sink(UiEvent::LoginRequired { ended: Some(ended) });
                    }
                    None => {
                        let delay = backoff.next_delay();
                        tracing::warn!(error = %err, retry_in = ?delay, "restoring the session");
                        sink(UiEvent::Offline {
                            retry_in_secs: delay.as_secs(),
                        });
                        tokio::time::sleep(delay).await;
                    }
                },
            }
        }
    }

    /// Verifies a stored token and fetches its user: `(user, expires_at)`.
    async fn check_stored(&self, api: &ApiClient, token: &Secret) -> Result<(User, u64), ApiError> {
        let verified = api.verify(token).await?;
        let user = api.me(token).await?;
        Ok((user, verified.claims.exp))
    }

    async fn begin_session(&self, api: ApiClient, grant: ScanGrant) -> SessionView {
        let expires_at = (unix_now() + grant.expires_in).as_secs();
        self.vault
            .save(api.origin().as_str(), &grant.access_token)
            .await;
        let view = self.view(&api, &grant.user, expires_at).await;
        *self.lock_session() = Some(Session {
            api,
            token: grant.access_token,
        });
        view
    }

    async fn view(&self, api: &ApiClient, user: &User, expires_at: u64) -> SessionView {
        let avatar = match &user.avatar_url {
            Some(url) => api.image_data_url(url).await.ok(),
            None => None,
        };
        SessionView {
            display_name: user.display_name.clone(),
            avatar,
            roles: user.roles.clone(),
            expires_at,
            server: api.origin().as_str().to_owned(),
            storage: self.vault.storage(),
        }
    }

    /// The API and token of the session in effect.
    fn current(&self) -> Result<(ApiClient, Secret), ConsoleError> {
        let session = self.lock_session();
        let session = session.as_ref().ok_or(ConsoleError::NotLoggedIn)?;
        Ok((session.api.clone(), session.token.clone()))
    }

    /// The answer of a call made with `token`. When it says the session is over, the session is
    /// forgotten (unless another has replaced it meanwhile) and the caller gets `SessionEnded`.
    async fn checked<T>(
        &self,
        token: &Secret,
        answer: Result<T, ApiError>,
    ) -> Result<T, ConsoleError> {
        let err = match answer {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let Some(ended) = session_end(&err) else {
            return Err(err.into());
        };
        let forgotten = {
            let mut session = self.lock_session();
            match session.as_ref() {
                Some(current) if current.token.expose() == token.expose() => session.take(),
                _ => None,
            }
        };
        if let Some(forgotten) = forgotten {
            tracing::info!(?ended, "the server ended this console's session");
            self.vault.remove(forgotten.api.origin().as_str()).await;
        }
        Err(ConsoleError::SessionEnded(ended))
    }

    fn api(&self) -> Result<ApiClient, ConsoleError> {
        let origin = self.lock_preferences().server.clone();
        Ok(ApiClient::new(origin, self.device_name.clone())?)
    }

    fn replace_job(&self, job: impl Future<Output = ()> + Send + 'static) {
        let handle = self.runtime.spawn(job).abort_handle();
        if let Some(previous) = self.lock_job().replace(handle) {
            previous.abort();
        }
    }

    fn lock_job(&self) -> MutexGuard<'_, Option<AbortHandle>> {
        self.job.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_session(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_preferences(&self) -> MutexGuard<'_, Preferences> {
        self.preferences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogoutOutcome {
    pub revoked_on_server: bool,
    /// False when the keychain refused the delete: the (revoked) token may still sit there.
    pub keychain_cleared: bool,
}

/// Whether a failed check means the stored session is over (`None`: try again later).
fn session_end(err: &ApiError) -> Option<SessionEnded> {
    match err.code()? {
        ErrorCode::TokenExpired => Some(SessionEnded::Expired),
        ErrorCode::TokenRevoked => Some(SessionEnded::Revoked),
        ErrorCode::InvalidToken => Some(SessionEnded::Invalid),
        ErrorCode::StoreUnavailable
        | ErrorCode::ServerBusy
        | ErrorCode::InternalError
        | ErrorCode::WechatUnavailable
        | ErrorCode::TooManyRequests
        | ErrorCode::SlowDown
        | ErrorCode::InvalidRequest
        | ErrorCode::MethodNotAllowed
        | ErrorCode::NotFound
        | ErrorCode::UnknownApp
        | ErrorCode::WechatCodeInvalid
        | ErrorCode::WechatUserBlocked
        | ErrorCode::WechatRateLimited
        | ErrorCode::TicketInvalid
        | ErrorCode::TicketExpired
        | ErrorCode::TicketUsed
        | ErrorCode::SceneClaimed
        | ErrorCode::SceneExpired
        | ErrorCode::NotOrganizer
        | ErrorCode::AccessDenied
        | ErrorCode::InvalidPollToken
        | ErrorCode::InvalidCredentials
        | ErrorCode::TooManyAttempts
        | ErrorCode::SessionNotFound => None,
    }
}

/// `<h5 url>?login_ticket=..&_t=..` (the `_t` defeats caches between the browser and the site).
fn ticket_url(h5_url: &PageUrl, ticket: &Secret, now_ms: u128) -> Secret {
    let mut url = h5_url.as_url().clone();
    url.query_pairs_mut()
        .append_pair("login_ticket", ticket.expose())
        .append_pair("_t", &now_ms.to_string());
    Secret::new(url.to_string())
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
