//! The console's behaviour behind its screens, free of window types: restore the session at start,
//! run the scan login, password login, log out, open the H5 site, list and end the user's sessions
//! on other devices, change preferences; the organizer team (members, invites, removal) and the
//! account's ways in (a password login, linking WeChat by scan).
//!
//! Long work (restoring while the server is unreachable, the scan loop) runs as one background job
//! at a time; starting another or closing the window aborts it. Jobs report [`UiEvent`]s to the
//! sink the UI registered. The access token stays here and in the keychain: the UI only ever
//! receives a [`SessionView`], the session list, the team and invites (which carry no tokens) and
//! images as `data:` URLs fetched here with the token.
//!
//! Every server call made with the token can learn that the session is over (revoked from another
//! device, expired): the console then forgets it, here and in the keychain, and the call fails with
//! [`ConsoleError::SessionEnded`], which sends the UI back to the login screen with a notice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meeteasy_protocol::{
    ADMIN_ROLE, ErrorCode, Invite, LoginMethod, Member, Session as DeviceSession, TeamRole, User,
};
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

pub use crate::failure::{ConsoleError, Problem, SessionEnded};

use crate::api::{ApiClient, ApiError, ClientSetupError, ScanPurpose, server_seconds};
use crate::backoff::Backoff;
use crate::browser;
use crate::keychain::{RemoveOutcome, SessionVault, Storage};
use crate::origin::PageUrl;
use crate::preferences::{Language, Preferences, PreferencesFile};
use crate::scan::withdrawal::{withdraw, withdraw_in_background};
use crate::scan::{ScanEvent, ScanGrant, ScanTiming, SceneCache, run_scan, run_scan_login};
use client::ServerClient;
use meeteasy_protocol::Secret;

mod client;

/// How long a closing window waits for the server to take back the QRs still cached (the login
/// QR and the link QR, side by side).
const WITHDRAW_ON_CLOSE: Duration = Duration::from_secs(2);

/// Everything the UI is told, as `{"kind": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UiEvent {
    /// The server cannot be reached; the console retries by itself.
    Offline {
        retry_in_secs: u64,
    },
    /// The scan login's server answered, but not as it needs; it is asked again later.
    Failing {
        retry_in_secs: u64,
        problem: Problem,
    },
    /// No usable session: show the login screen, saying why an old session ended, and where a
    /// new one will be kept (the restore may just have found the keychain locked or silent).
    LoginRequired {
        ended: Option<SessionEnded>,
        storage: Storage,
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
    /// A step of "Link WeChat" (the same steps as the scan login's, for the account screen).
    Link {
        step: ScanEvent,
    },
    /// "Link WeChat" is done: the scanning WeChat is now a way into this account.
    Linked,
    /// "Link WeChat" stopped because the server refused to start it; says why.
    LinkStopped {
        problem: Problem,
    },
    /// The scan login stopped without asking the server, for a reason that waiting does not cure
    /// (no HTTP client could be set up); says why.
    ScanStopped {
        problem: Problem,
    },
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
            // Only a link scene is refused this way; the login screen shows it as any refusal.
            ScanEvent::IdentityInUse => Self::NotOrganizer,
            ScanEvent::Offline { retry_in_secs } => Self::Offline { retry_in_secs },
            ScanEvent::Failing {
                retry_in_secs,
                problem,
            } => Self::Failing {
                retry_in_secs,
                problem,
            },
        }
    }
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

/// Someone shown in the team or an invite: no token, the avatar as a `data:` URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonView {
    pub user_id: String,
    pub display_name: String,
    pub avatar: Option<String>,
}

/// One organizer of the team, as the Team page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub display_name: String,
    pub avatar: Option<String>,
    pub roles: Vec<String>,
    /// `wechat`, `password`.
    pub methods: Vec<LoginMethod>,
    /// Unix seconds.
    pub last_login_at: Option<u64>,
    /// The user logged in to this console.
    pub you: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamView {
    pub members: Vec<MemberView>,
    /// Whether the user logged in here may invite and remove.
    pub you_are_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InviteView {
    pub id: String,
    pub role: TeamRole,
    pub created_by: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub accepted_by: Option<PersonView>,
    pub accepted_at: Option<u64>,
    /// Whether whoever accepted holds the invite's role now: false when it did not follow (the
    /// server's store failed; its taker may accept again within the hour) or was taken away since.
    pub role_held: bool,
}

/// A new invite to show: its QR as a `data:` URL and, in `url` mode, the link to copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewInviteView {
    pub invite: InviteView,
    pub qr: String,
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreferencesView {
    pub server_url: String,
    pub server_from_env: bool,
    pub language: Language,
    pub storage: Storage,
}

/// Where background jobs report to; the shell wraps its IPC channel in one.
pub type EventSink = Arc<dyn Fn(UiEvent) + Send + Sync>;

/// What a restore decided about the stored session.
enum Restored {
    /// This session is in effect (the stored one, or a login that finished meanwhile): show it.
    InEffect(ApiClient, User, u64),
    /// No session: the login screen, saying why the stored one ended if it did.
    LoginRequired(Option<SessionEnded>),
    /// The server could not say (unreachable, busy): ask again after a backoff delay.
    AskAgain(ApiError),
}

/// What the one background job runs.
enum Job {
    Restore,
    ScanLogin,
    LinkWechat,
}

struct Session {
    api: ApiClient,
    token: Secret,
    /// Whose session it is (the Team page marks them), as the login or restore told.
    user: User,
    /// When the token expires, Unix seconds.
    expires_at: u64,
}

pub struct Console {
    preferences_file: PreferencesFile,
    preferences: Mutex<Preferences>,
    /// The HTTP client for the server the preferences name.
    client: ServerClient,
    vault: SessionVault,
    session: Mutex<Option<Session>>,
    /// Held while the session in effect and the keychain change together: by a login from putting
    /// its session in effect until it is stored, by a restore while it drops the session held
    /// before and while it decides on the stored one (restores it, or deletes it found ended), by
    /// a logout and by a call that finds its session ended while they forget it here and in the
    /// keychain. So a restore never reads the keychain under a login half stored, nor deletes
    /// what a login stored after its check; and a session forgotten is not put back by the save
    /// of a login it interrupted.
    session_change: tokio::sync::Mutex<()>,
    /// How many times the session the user meant has ended here: a logout (leaving the team ends
    /// with one), a call finding the session over (both counted in a hold of `session_change`),
    /// Settings naming another server. A password login reads it before it is sent and again in
    /// that hold, before it puts its session in effect: one sent before such an end must not log
    /// back in the user who logged out, nor put in effect a login sent from a login screen that
    /// Settings left, even when it named the first server again before the answer came (see
    /// [`Console::password_login`]).
    sessions_ended: AtomicU64,
    scenes: SceneCache<ApiClient>,
    /// The link QR on the account screen, kept apart from the login's.
    link_scenes: SceneCache<ApiClient>,
    scan_timing: ScanTiming,
    /// Avatars already fetched, by URL (`None`: it could not be had): the team is listed often.
    avatars: Mutex<HashMap<String, Option<String>>>,
    /// Where "Save QR as image" writes.
    save_dir: PathBuf,
    /// Commands may arrive on the UI thread, outside any runtime: jobs are spawned on this one.
    runtime: Handle,
    job: Mutex<Option<(Job, AbortHandle)>>,
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
            client: ServerClient::new(device_name),
            vault,
            session: Mutex::new(None),
            session_change: tokio::sync::Mutex::new(()),
            sessions_ended: AtomicU64::new(0),
            scenes: SceneCache::default(),
            link_scenes: SceneCache::default(),
            scan_timing: ScanTiming::default(),
            avatars: Mutex::default(),
            save_dir: default_save_dir(),
            runtime,
            job: Mutex::new(None),
        }
    }

    /// Saves invite QRs in `dir` instead of the user's Downloads (or Pictures) folder.
    #[cfg(test)]
    pub fn with_save_dir(mut self, dir: PathBuf) -> Self {
        self.save_dir = dir;
        self
    }

    /// Builds its HTTP clients with `build` instead of [`ApiClient::new`].
    #[cfg(test)]
    fn with_client_built_by(mut self, build: client::BuildClient) -> Self {
        self.client = self.client.built_by_instead(build);
        self
    }

    /// Start of the app (or a reload of the UI): restore the stored session in the background.
    pub fn start(self: &Arc<Self>, sink: EventSink) {
        let console = Arc::clone(self);
        self.replace_job(Job::Restore, async move { console.restore(&*sink).await });
    }

    /// Show the scan login: runs the scan loop in the background until a confirmed scan.
    pub fn start_scan_login(self: &Arc<Self>, sink: EventSink) {
        let console = Arc::clone(self);
        self.replace_job(Job::ScanLogin, async move {
            // A login whose job was stopped before it told the UI (the UI moved on while the
            // keychain or the avatar was slow) is in effect: the UI is shown it, rather than a QR
            // whose login would replace it without ending it.
            if let Some((api, user, expires_at)) = console.in_effect() {
                let session = console.view(&api, &user, expires_at).await;
                return sink(UiEvent::Home { session });
            }
            let api = match console.api() {
                Ok(api) => api,
                Err(err) => {
                    tracing::error!(error = %err, "scan login: no HTTP client");
                    let problem = Problem::from(&ConsoleError::from(err));
                    return sink(UiEvent::ScanStopped { problem });
                }
            };
            let grant = run_scan_login(&api, &console.scenes, console.scan_timing, |event| {
                sink(event.into());
            })
            .await;
            let session = console.begin_session(api, grant).await;
            sink(UiEvent::Home { session });
        });
    }

    /// A new login QR instead of the one shown: someone else scanned it, and would otherwise hold
    /// it until the phone answers or the scan expires (minutes). The one shown is withdrawn on the
    /// server, so that phone's confirm finds it gone rather than confirm a login nobody here
    /// collects. One that phone confirmed already (`scene_claimed`) is not collected either: the
    /// person here said the scan was not theirs.
    pub fn new_scan_code(self: &Arc<Self>, sink: EventSink) {
        // The old loop first, so it cannot put its code back in the cache once it is withdrawn.
        self.stop_background();
        self.withdraw_cached(&self.scenes, "Not you? asked for a new code");
        self.start_scan_login(sink);
    }

    /// The window is closing: stops the background job and withdraws the login QR and the link QR
    /// still cached, side by side, waiting for the server [`WITHDRAW_ON_CLOSE`] at most. Left to
    /// the background, the withdrawals would go with the app, and a QR scanned later would still
    /// link a WeChat to this account, or log in a session nobody collects.
    pub async fn close(&self) {
        const LEFT_BECAUSE: &str = "the window closed";
        self.stop_background();
        let cached = [self.scenes.take(), self.link_scenes.take()];
        let withdrawals = cached
            .into_iter()
            .flatten()
            .map(|(made_on, left)| async move {
                withdraw(&made_on, &left, WITHDRAW_ON_CLOSE, LEFT_BECAUSE).await;
            });
        futures_util::future::join_all(withdrawals).await;
    }

    /// Stops whatever runs in the background (password tab chosen, window closing).
    pub fn stop_background(&self) {
        if let Some((_, job)) = self.lock_job().take() {
            job.abort();
        }
    }

    /// Logs in with a login and password. One answered after Settings named another server (even
    /// when they named its own again since), or after a logout (or a session found ended) asked
    /// while it was on its way, is ended on its server and answers `NotLoggedIn`: not put in effect.
    pub async fn password_login(
        &self,
        login: &str,
        password: Secret,
    ) -> Result<SessionView, ConsoleError> {
        self.stop_background();
        // Read before the client is chosen: a server change between the two ends this login
        // rather than letting one sent to a server no longer chosen through.
        let ended_before = self.sessions_ended.load(Ordering::SeqCst);
        let api = self.api()?;
        let answer = api.password_login(login.trim(), &password).await?;
        let access_token = Secret::new(answer.access_token);
        let expires_in = server_seconds(answer.expires_in);
        let expires_at = (unix_now() + expires_in).as_secs();
        let change = self.session_change.lock().await;
        // Settings may have named another server while the login was on its way (its answer
        // takes up to the call's timeout), or while it waited here for a keychain change: a
        // session on the server no longer chosen is ended there, not put in effect, where it
        // would mint tickets for the other server's pages. Named back since, the server is this
        // login's again, but the login screen it was sent from was left: put in effect, it would
        // log in someone the restarted UI never asked for. The same after a session ended while
        // the login was on its way, or while it waited here for that end to be done (a scan
        // login's Home drawn over the held login screen, Log out pressed there; a call finding
        // the session over): put in effect now, it would log back in the user who logged out,
        // and the UI, once the logout is over, cannot tell it from a fresh login. Checked in the
        // hold, so no logout runs between the check and the session.
        if self.sessions_ended.load(Ordering::SeqCst) != ended_before {
            drop(change);
            self.end_on_server(api, access_token);
            return Err(ConsoleError::NotLoggedIn);
        }
        // A scan loop the UI started while the login was on its way ends with it: the session
        // is this one now. (A restore started meanwhile, by a reloaded UI, goes on: that UI
        // waits for its answer.) Not one started after a logout the login came too late for.
        self.end_scan_loop();
        let grant = ScanGrant {
            access_token,
            expires_in,
            user: answer.user,
        };
        Ok(self.put_in_effect(change, api, grant, expires_at).await)
    }

    /// Ends the session of `token` on `api`'s server, in the background: one this console no
    /// longer holds must not stay live where nobody can log it out.
    fn end_on_server(&self, api: ApiClient, token: Secret) {
        self.runtime.spawn(async move {
            if let Err(error) = api.logout(&token).await {
                tracing::warn!(%error, "a session this console let go of was not ended on the server; it ends when it expires");
            }
        });
    }

    /// Forgets the session here, then revokes it on the server. The local session ends even when
    /// the server cannot be told; the answer says whether it was.
    pub async fn logout(&self) -> Result<LogoutOutcome, ConsoleError> {
        self.stop_background();
        // Not in the middle of a login putting itself in effect and in the keychain (a password
        // login is no background job to stop), nor of a restore deciding on the stored session:
        // a save of that login falling back to memory after this delete would keep the session
        // for the next restore. Held until the keychain is cleared, not while the server is told.
        let change = self.session_change.lock().await;
        // Asked with no session in effect too (one found ended before a leave's logout): a
        // password login sent before it is still one the user logged out of.
        self.sessions_ended.fetch_add(1, Ordering::SeqCst);
        let session = self
            .lock_session()
            .take()
            .ok_or(ConsoleError::NotLoggedIn)?;
        // A link code left on screen must not link a WeChat to this account after the logout.
        self.withdraw_cached(&self.link_scenes, "logged out");
        // The keychain first: the server may take its time (up to the call's timeout), and a
        // window closed meanwhile must not leave the session stored for the next start to restore.
        let removed = self.vault.remove(session.api.origin().as_str()).await;
        drop(change);
        let revoked = match session.api.logout(&session.token).await {
            Ok(()) => true,
            // Already over there (ended from another device, expired): nothing left to revoke.
            Err(err) if session_end(&err).is_some() => true,
            Err(err) => {
                tracing::warn!(error = %err, "logout: the server was not told");
                false
            }
        };
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

    /// The organizer team, the user logged in here marked, admins first.
    pub async fn team(&self) -> Result<TeamView, ConsoleError> {
        let (api, token) = self.current()?;
        let me = self.current_user_id()?;
        let members = self.checked(&token, api.team(&token).await).await?;
        // Avatars come from wherever the profiles say: fetched side by side, so one slow host
        // costs one timeout, not one per member.
        let avatars = futures_util::future::join_all(
            members
                .iter()
                .map(|member| self.avatar(&api, member.user.avatar_url.as_deref())),
        )
        .await;
        let views = members
            .into_iter()
            .zip(avatars)
            .map(
                |(
                    Member {
                        user,
                        methods,
                        last_login_at,
                    },
                    avatar,
                )| MemberView {
                    avatar,
                    you: user.id == me,
                    user_id: user.id,
                    display_name: user.display_name,
                    roles: user.roles,
                    methods,
                    last_login_at,
                },
            )
            .collect();
        Ok(team_view(views))
    }

    /// Takes `user_id` off the team (admin); their console sessions end on the server.
    pub async fn remove_member(&self, user_id: &str) -> Result<(), ConsoleError> {
        let (api, token) = self.current()?;
        self.checked(&token, api.remove_member(&token, user_id).await)
            .await
    }

    /// Open invites and those accepted lately (admin), newest first.
    pub async fn invites(&self) -> Result<Vec<InviteView>, ConsoleError> {
        let (api, token) = self.current()?;
        let mut invites = self.checked(&token, api.invites(&token).await).await?;
        invites.sort_by_key(|invite| std::cmp::Reverse(invite.created_at));
        let mut views = Vec::with_capacity(invites.len());
        for invite in invites {
            views.push(self.invite_view(&api, invite).await);
        }
        Ok(views)
    }

    /// A new invite for `role` (admin), with its QR fetched here with the token.
    pub async fn create_invite(&self, role: TeamRole) -> Result<NewInviteView, ConsoleError> {
        let (api, token) = self.current()?;
        let created = self
            .checked(&token, api.create_invite(&token, role, None).await)
            .await?;
        let qr = self
            .checked(&token, api.image(&created.qr.png_url, Some(&token)).await)
            .await?;
        Ok(NewInviteView {
            invite: self.invite_view(&api, created.invite).await,
            qr: qr.data_url(),
            link: created.qr.content,
        })
    }

    /// Revokes an open invite (admin).
    pub async fn revoke_invite(&self, id: &str) -> Result<(), ConsoleError> {
        let (api, token) = self.current()?;
        self.checked(&token, api.revoke_invite(&token, id).await)
            .await
    }

    /// Writes an invite's QR as a PNG in the user's Downloads (or Pictures) folder, to send in a
    /// chat; answers the file's path.
    pub async fn save_invite_qr(&self, id: &str) -> Result<String, ConsoleError> {
        let (api, token) = self.current()?;
        let qr = self
            .checked(&token, api.invite_qr(&token, id).await)
            .await?;
        let path = write_new_file(&self.save_dir, &invite_file_stem(id), &qr.bytes)
            .await
            .map_err(|(path, source)| ConsoleError::Save {
                path: path.display().to_string(),
                source,
            })?;
        Ok(path.display().to_string())
    }

    /// Adds a password login to this account or changes it (`current` once one is set).
    pub async fn set_password(
        &self,
        login: &str,
        password: Secret,
        current: Option<Secret>,
    ) -> Result<(), ConsoleError> {
        let (api, token) = self.current()?;
        let answer = api
            .set_password(&token, login.trim(), &password, current.as_ref())
            .await;
        self.checked(&token, answer).await
    }

    /// "Link WeChat": runs the scan loop on a link scene in the background until a WeChat is
    /// linked (then [`UiEvent::Linked`]) or the server refuses to start.
    pub fn start_link_wechat(self: &Arc<Self>, sink: EventSink) {
        let console = Arc::clone(self);
        self.replace_job(Job::LinkWechat, async move {
            let Ok((api, token)) = console.current() else {
                return sink(console.login_required(None));
            };
            let purpose = ScanPurpose::Link {
                console_token: token.clone(),
            };
            let done = run_scan(
                &api,
                &console.link_scenes,
                console.scan_timing,
                &purpose,
                |step| sink(UiEvent::Link { step }),
            )
            .await;
            match console.checked(&token, done).await {
                Ok(_) => sink(UiEvent::Linked),
                Err(ConsoleError::SessionEnded(ended)) => {
                    sink(console.login_required(Some(ended)));
                }
                Err(err) => sink(UiEvent::LinkStopped {
                    problem: Problem::from(&err),
                }),
            }
        });
    }

    /// Calls "Link WeChat" off: stops its loop and withdraws its scene on the server, so the phone
    /// that scanned it (someone else, perhaps: the reason to call it off) cannot link its WeChat to
    /// this account by confirming afterwards; the next "Link WeChat" shows a fresh code. A scene
    /// already confirmed stays linked (the account page shows the WeChat), and a withdrawal the
    /// server did not take is logged: the scene lapses by itself.
    pub fn stop_link_wechat(&self) {
        self.stop_background();
        self.withdraw_cached(&self.link_scenes, "Link WeChat called off");
    }

    /// Empties `cache` and withdraws the scene it held, in the background, on the server it was
    /// made on: Settings may name another by now.
    fn withdraw_cached(&self, cache: &SceneCache<ApiClient>, left_because: &'static str) {
        if let Some((made_on, left)) = cache.take() {
            withdraw_in_background(&self.runtime, made_on, left, left_because);
        }
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
        if server_changed {
            // The job first, so that it caches no scene once the caches are emptied (one it
            // caches in the step it was in, stopped on another thread, is still withdrawn where
            // it was made: by the next loop, which does not show a scene of another server, or
            // by whatever empties the cache before).
            self.stop_background();
            self.forget_scenes("Settings named another server");
        }
        *self.lock_preferences() = saved;
        if server_changed {
            // After the new server is in place: a password login that read the count before this
            // and chose its client after it is ended too, as sent from the left login screen.
            self.sessions_ended.fetch_add(1, Ordering::SeqCst);
            *self.lock_session() = None;
        }
        Ok(self.preferences())
    }

    async fn restore(&self, sink: &(dyn Fn(UiEvent) + Send + Sync)) {
        // The stored session is checked afresh: one held from before (a reloaded UI) stands only
        // if the check finds it good, so a scan login asked after a failed restore does not show
        // it again (see `start_scan_login`). A login being stored is let finish first: its token
        // is the stored session then.
        {
            let _change = self.session_change.lock().await;
            *self.lock_session() = None;
        }
        let mut backoff = Backoff::default();
        loop {
            let api = match self.api() {
                Ok(api) => api,
                Err(err) => {
                    // The login screen's scan login says why (and the password login, when tried).
                    tracing::warn!(error = %err, "restoring the session: no HTTP client");
                    return sink(self.login_required(None));
                }
            };
            let account = api.origin().as_str().to_owned();
            let Some(token) = self.vault.load(&account).await else {
                return sink(self.login_required(None));
            };
            let checked = self.check_stored(&api, &token).await;
            match self.settle_restore(api, &account, token, checked).await {
                Restored::InEffect(api, user, expires_at) => {
                    let session = self.view(&api, &user, expires_at).await;
                    return sink(UiEvent::Home { session });
                }
                Restored::LoginRequired(ended) => return sink(self.login_required(ended)),
                Restored::AskAgain(err) => {
                    let delay = backoff.next_delay_after(&err);
                    tracing::warn!(error = %err, retry_in = ?delay, "restoring the session");
                    sink(UiEvent::Offline {
                        retry_in_secs: delay.as_secs(),
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// What a restore makes of its check of the stored session `token`, decided in one hold of
    /// `session_change`, so no login puts itself in effect or in the keychain meanwhile: a login
    /// that finished while the token was checked is kept; else the token is restored if good,
    /// deleted from the keychain if the server ended it, kept there if the server could not say.
    async fn settle_restore(
        &self,
        api: ApiClient,
        account: &str,
        token: Secret,
        checked: Result<(User, u64), ApiError>,
    ) -> Restored {
        let _change = self.session_change.lock().await;
        // A login that finished while the stored session was checked (a password login the
        // UI sent before it reloaded) is the newer one: it stays, in effect and in the
        // keychain, whatever the check found, and the stored session it replaced ends.
        if let Some((in_effect, user, expires_at)) = self.in_effect() {
            let replaced = self
                .current()
                .is_ok_and(|(_, held)| held.expose() != token.expose());
            if replaced && checked.is_ok() {
                self.end_on_server(api, token);
            }
            return Restored::InEffect(in_effect, user, expires_at);
        }
        match checked {
            Ok((user, expires_at)) => {
                // As for a login (see `begin_session`): a login QR cached before must not
                // come back after a logout; and in effect before anything slow (the avatar).
                self.forget_scenes("the session changed");
                *self.lock_session() = Some(Session {
                    api: api.clone(),
                    token,
                    user: user.clone(),
                    expires_at,
                });
                Restored::InEffect(api, user, expires_at)
            }
            Err(err) => match session_end(&err) {
                Some(ended) => {
                    self.vault.remove(account).await;
                    Restored::LoginRequired(Some(ended))
                }
                None if !err.is_transient() => {
                    // The same question would get the same answer: ask for a login rather
                    // than wait on the Offline screen for ever. The stored token stays; the
                    // next login replaces it.
                    tracing::warn!(error = %err, "restoring the session: the server's answer will not change");
                    Restored::LoginRequired(None)
                }
                None => Restored::AskAgain(err),
            },
        }
    }

    /// Verifies a stored token and fetches its user: `(user, expires_at)`.
    async fn check_stored(&self, api: &ApiClient, token: &Secret) -> Result<(User, u64), ApiError> {
        let verified = api.verify(token).await?;
        let user = api.me(token).await?;
        Ok((user, verified.claims.exp))
    }

    /// Puts the session in effect and in the keychain before anything slow (the avatar, up to
    /// the image timeout): a job stopped meanwhile (the UI moved on) must not lose a login the
    /// phone or the password already made. Both in one hold of `session_change`: a restore
    /// deciding on the stored session meanwhile (its keychain delete, at most the keychain's
    /// timeout) is waited for, and waits for this.
    async fn begin_session(&self, api: ApiClient, grant: ScanGrant) -> SessionView {
        let expires_at = (unix_now() + grant.expires_in).as_secs();
        let change = self.session_change.lock().await;
        self.put_in_effect(change, api, grant, expires_at).await
    }

    /// [`Console::begin_session`] for a caller already holding `session_change` (`change`), which
    /// this lets go of once the session is stored. `expires_at` is reckoned from the server's
    /// answer, before any wait for the hold.
    async fn put_in_effect(
        &self,
        change: tokio::sync::MutexGuard<'_, ()>,
        api: ApiClient,
        grant: ScanGrant,
        expires_at: u64,
    ) -> SessionView {
        // A login QR shown before this session (a password login ended its loop) must not come
        // back after a logout: a phone may have confirmed it meanwhile, and it would log in
        // whoever that was without a scan. The QR whose scan made this session is not among them:
        // the scan loop lets go of it as it hands the session over.
        self.forget_scenes("the session changed");
        let replaced = self.lock_session().replace(Session {
            api: api.clone(),
            token: grant.access_token.clone(),
            user: grant.user.clone(),
            expires_at,
        });
        // A session put in effect meanwhile (a phone confirmed the QR while a password login was
        // on its way) is ended on the server, not left live with nobody holding it.
        if let Some(replaced) = replaced
            && replaced.token.expose() != grant.access_token.expose()
        {
            self.end_on_server(replaced.api, replaced.token);
        }
        self.vault
            .save(api.origin().as_str(), &grant.access_token)
            .await;
        drop(change);
        self.view(&api, &grant.user, expires_at).await
    }

    async fn view(&self, api: &ApiClient, user: &User, expires_at: u64) -> SessionView {
        let avatar = self.avatar(api, user.avatar_url.as_deref()).await;
        SessionView {
            display_name: user.display_name.clone(),
            avatar,
            roles: user.roles.clone(),
            expires_at,
            server: api.origin().as_str().to_owned(),
            storage: self.vault.storage(),
        }
    }

    /// An avatar as a `data:` URL, fetched once per URL; none when it cannot be had (the UI shows
    /// initials instead).
    async fn avatar(&self, api: &ApiClient, url: Option<&str>) -> Option<String> {
        let url = url?;
        if let Some(known) = self.lock_avatars().get(url) {
            return known.clone();
        }
        let fetched = api.image_data_url(url).await.ok();
        self.lock_avatars().insert(url.to_owned(), fetched.clone());
        fetched
    }

    async fn person(&self, api: &ApiClient, user: &User) -> PersonView {
        PersonView {
            user_id: user.id.clone(),
            display_name: user.display_name.clone(),
            avatar: self.avatar(api, user.avatar_url.as_deref()).await,
        }
    }

    async fn invite_view(&self, api: &ApiClient, invite: Invite) -> InviteView {
        let accepted_by = match &invite.accepted_by {
            Some(user) => Some(self.person(api, user).await),
            None => None,
        };
        let role_held = invite.accepted_by.as_ref().is_some_and(|user| {
            let role = invite.role.as_str();
            user.roles.iter().any(|held| held == role)
        });
        InviteView {
            id: invite.id,
            role: invite.role,
            created_by: invite.created_by.display_name,
            created_at: invite.created_at,
            expires_at: invite.expires_at,
            accepted_by,
            accepted_at: invite.accepted_at,
            role_held,
        }
    }

    /// The API and token of the session in effect.
    fn current(&self) -> Result<(ApiClient, Secret), ConsoleError> {
        let session = self.lock_session();
        let session = session.as_ref().ok_or(ConsoleError::NotLoggedIn)?;
        Ok((session.api.clone(), session.token.clone()))
    }

    fn current_user_id(&self) -> Result<String, ConsoleError> {
        let session = self.lock_session();
        let session = session.as_ref().ok_or(ConsoleError::NotLoggedIn)?;
        Ok(session.user.id.clone())
    }

    /// The session in effect and not expired, if any: its server, user and expiry.
    fn in_effect(&self) -> Option<(ApiClient, User, u64)> {
        let session = self.lock_session();
        let session = session.as_ref()?;
        let live = session.expires_at > unix_now().as_secs();
        live.then(|| {
            let user = session.user.clone();
            (session.api.clone(), user, session.expires_at)
        })
    }

    /// The answer of a call made with `token`. When it says the session is over, the session is
    /// forgotten and the caller gets `SessionEnded`; unless the session is no longer the one in
    /// effect, which the caller learns as `NotLoggedIn`.
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
        // As a logout, the session is forgotten here and in the keychain in one hold of
        // `session_change`: not in the middle of a login putting itself in effect and in the
        // keychain, whose save would land (or fall back to memory) after this delete. Taken only
        // on this path, after the call: its callers (commands, the link job) do not hold it, and
        // must not, since tokio's Mutex is not reentrant and the caller would wait here for ever;
        // those that do hold it (a login, a restore) make no call through here.
        let _change = self.session_change.lock().await;
        let forgotten = {
            let mut session = self.lock_session();
            match session.as_ref() {
                Some(current) if current.token.expose() == token.expose() => session.take(),
                // Another session was stored meanwhile (or none is): it is not the one that ended.
                Some(_) | None => None,
            }
        };
        let Some(forgotten) = forgotten else {
            // Asked with a session already gone here (a logout or a new login came between the
            // question and the answer): its end is no news, and not this console's session's.
            return Err(ConsoleError::NotLoggedIn);
        };
        tracing::info!(?ended, "the server ended this console's session");
        self.sessions_ended.fetch_add(1, Ordering::SeqCst);
        self.vault.remove(forgotten.api.origin().as_str()).await;
        Err(ConsoleError::SessionEnded(ended))
    }

    /// The login screen's event, saying where the next session will be kept.
    fn login_required(&self, ended: Option<SessionEnded>) -> UiEvent {
        UiEvent::LoginRequired {
            ended,
            storage: self.vault.storage(),
        }
    }

    /// Withdraws the cached login QR and link QR: the next scan starts on a fresh scene, and a QR
    /// left from before, scanned later, neither confirms a login nobody here collects nor links a
    /// WeChat to this account.
    fn forget_scenes(&self, left_because: &'static str) {
        self.withdraw_cached(&self.scenes, left_because);
        self.withdraw_cached(&self.link_scenes, left_because);
    }

    /// The client for the server the preferences name.
    fn api(&self) -> Result<ApiClient, ClientSetupError> {
        let origin = self.lock_preferences().server.clone();
        self.client.for_origin(&origin)
    }

    fn replace_job(&self, kind: Job, job: impl Future<Output = ()> + Send + 'static) {
        let handle = self.runtime.spawn(job).abort_handle();
        if let Some((_, previous)) = self.lock_job().replace((kind, handle)) {
            previous.abort();
        }
    }

    /// Stops the background job if it is the scan login's loop (not a restore, not a link).
    fn end_scan_loop(&self) {
        let mut job = self.lock_job();
        if let Some((Job::ScanLogin, scan)) = job.as_ref() {
            scan.abort();
            *job = None;
        }
    }

    fn lock_job(&self) -> MutexGuard<'_, Option<(Job, AbortHandle)>> {
        self.job.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_avatars(&self) -> MutexGuard<'_, HashMap<String, Option<String>>> {
        self.avatars.lock().unwrap_or_else(PoisonError::into_inner)
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

/// The Team page's list: admins first, then by name; whether the user here is an admin.
fn team_view(mut members: Vec<MemberView>) -> TeamView {
    let is_admin = |member: &MemberView| member.roles.iter().any(|role| role == ADMIN_ROLE);
    members.sort_by(|a, b| {
        is_admin(b)
            .cmp(&is_admin(a))
            .then_with(|| a.display_name.cmp(&b.display_name))
    });
    let you_are_admin = members.iter().any(|member| member.you && is_admin(member));
    TeamView {
        members,
        you_are_admin,
    }
}

/// Where saved files go: Downloads, else Pictures, else home.
fn default_save_dir() -> PathBuf {
    dirs::download_dir()
        .or_else(dirs::picture_dir)
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
}

/// `meeteasy-invite-<first 8 characters of the id, letters and digits only>`.
fn invite_file_stem(id: &str) -> String {
    let short: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("meeteasy-invite-{short}")
}

/// Writes `bytes` to `<dir>/<stem>.png`, or `<stem>-2.png` and so on: never over an existing file.
async fn write_new_file(
    dir: &Path,
    stem: &str,
    bytes: &[u8],
) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    use tokio::io::AsyncWriteExt as _;
    if let Err(err) = tokio::fs::create_dir_all(dir).await {
        return Err((dir.to_owned(), err));
    }
    for attempt in 1..=100 {
        let name = if attempt == 1 {
            format!("{stem}.png")
        } else {
            format!("{stem}-{attempt}.png")
        };
        let path = dir.join(name);
        match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
        {
            Ok(mut file) => {
                let written = file.write_all(bytes).await;
                return match written.and(file.flush().await) {
                    Ok(()) => Ok(path),
                    Err(err) => Err((path, err)),
                };
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err((path, err)),
        }
    }
    let path = dir.join(format!("{stem}.png"));
    Err((
        path,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "too many files of that name",
        ),
    ))
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
        | ErrorCode::SessionNotFound
        | ErrorCode::InviteInvalid
        | ErrorCode::InviteExpired
        | ErrorCode::InviteUsed
        | ErrorCode::IdentityInUse
        | ErrorCode::LastAdmin
        | ErrorCode::Forbidden => None,
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
