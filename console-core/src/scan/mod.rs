//! The scan loop: create a scene, show its QR, long-poll `islogin`, and react to what the phone
//! does. It rotates the QR shortly before the scene expires (so nobody scans a dead code) and
//! withdraws the one it replaced, shows a fresh QR after a decline or a refused account, and rides
//! out network loss with backoff.
//!
//! One loop serves both purposes of a scene ([`ScanPurpose`]): logging this console in, and
//! linking the scanning WeChat to the account already logged in ("Link WeChat"). They differ only
//! in how the scene is created and what a confirm delivers: a token, or `linked`.
//!
//! The loop knows nothing about windows: it reports [`ScanEvent`]s to a callback and returns once a
//! scan is confirmed. Its owner cancels it by dropping (aborting) the future.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meeteasy_protocol::{ErrorCode, ScannerProfile, User};
use serde::Serialize;
use tokio::time::{Instant, sleep};

use crate::api::{ApiClient, ApiError, NewScene, PollAnswer, ScanPurpose, server_seconds};
use crate::backoff::Backoff;
use crate::failure::{ConsoleError, Problem};
use meeteasy_protocol::Secret;
use withdrawal::{LeftScene, withdraw_in_background};

pub mod withdrawal;

/// The server calls the loop needs; [`ApiClient`] in the app, a scripted fake in tests. A clone
/// talks to the same server: the loop withdraws a scene it replaces in a task of its own.
pub trait ScanApi: Clone + Send + Sync + 'static {
    /// Whether `other` talks to the same server: only there is a scene made by one known, to
    /// poll and to withdraw.
    fn same_server(&self, other: &Self) -> bool;
    fn create_scene(
        &self,
        purpose: &ScanPurpose,
    ) -> impl Future<Output = Result<NewScene, ApiError>> + Send;
    fn poll_scene(
        &self,
        scene: &str,
        poll_token: &Secret,
        wait: Duration,
    ) -> impl Future<Output = Result<PollAnswer, ApiError>> + Send;
    fn image_data_url(
        &self,
        url_or_path: &str,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;
    fn withdraw_scene(
        &self,
        scene: &str,
        poll_token: &Secret,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

impl ScanApi for ApiClient {
    fn same_server(&self, other: &Self) -> bool {
        self.origin() == other.origin()
    }

    fn create_scene(
        &self,
        purpose: &ScanPurpose,
    ) -> impl Future<Output = Result<NewScene, ApiError>> + Send {
        ApiClient::create_scene(self, purpose)
    }

    fn poll_scene(
        &self,
        scene: &str,
        poll_token: &Secret,
        wait: Duration,
    ) -> impl Future<Output = Result<PollAnswer, ApiError>> + Send {
        ApiClient::poll_scene(self, scene, poll_token, wait)
    }

    fn image_data_url(
        &self,
        url_or_path: &str,
    ) -> impl Future<Output = Result<String, ApiError>> + Send {
        ApiClient::image_data_url(self, url_or_path)
    }

    fn withdraw_scene(
        &self,
        scene: &str,
        poll_token: &Secret,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        ApiClient::withdraw_scene(self, scene, poll_token)
    }
}

/// What the login screen shows; serialized as `{"kind": "...", ...}` for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanEvent {
    /// A QR to show (new, or the cached one when the screen reopens).
    Qr {
        image: String,
        /// When the console will replace it, Unix milliseconds.
        refresh_at_ms: u64,
    },
    Waiting,
    Scanned {
        display_name: String,
        avatar: Option<String>,
    },
    /// Declined on the phone; a fresh QR follows.
    Declined,
    /// The WeChat account has no organizer role; a fresh QR follows.
    NotOrganizer,
    /// The scanned code ran out before the confirm; a fresh QR follows.
    Expired,
    /// Linking: the scanning WeChat already belongs to another account that holds more than the
    /// mini program's own login made; nothing changed, a fresh QR follows.
    IdentityInUse,
    /// The server cannot be reached, or is busy; the loop retries by itself.
    Offline {
        retry_in_secs: u64,
    },
    /// The server answered, but not as a scan needs (a redirect, an answer outside the contract,
    /// a refusal): asked again it will likely answer the same, so the screen says why rather than
    /// that the server is not answering. The loop still retries, in case the server is mended.
    Failing {
        retry_in_secs: u64,
        problem: Problem,
    },
}

/// What a confirmed scan delivered, by the scene's purpose.
#[derive(Debug, Clone)]
pub enum ScanDone {
    LoggedIn(ScanGrant),
    Linked,
}

/// A confirmed scan: the console's session.
#[derive(Debug, Clone)]
pub struct ScanGrant {
    pub access_token: Secret,
    pub expires_in: Duration,
    pub user: User,
}

#[derive(Debug, Clone, Copy)]
pub struct ScanTiming {
    /// The longest `wait` of one long-poll (the contract allows 30 s).
    pub max_wait: Duration,
    /// Rotate this long before the scene expires, at most; a quarter of a short lifetime.
    pub rotate_margin: Duration,
    /// A cached QR is shown again only if it has at least this long left.
    pub min_reuse: Duration,
}

impl Default for ScanTiming {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(25),
            rotate_margin: Duration::from_secs(10),
            min_reuse: Duration::from_secs(8),
        }
    }
}

/// The scene on screen, kept across runs of the loop so reopening the window or coming back from
/// the password tab shows the same QR instead of minting a new scene.
#[derive(Debug, Clone)]
pub struct ActiveScene {
    scene: String,
    poll_token: Secret,
    interval: Duration,
    image: String,
    rotate_at: Instant,
    /// What the screen showed of the phone that scanned it ([`ScanEvent::Scanned`]), if one has.
    /// A scanned scene lives on past its rotation for the confirm, in a loop run later too: the
    /// phone that scanned it shows a confirm button whose login must not be dropped.
    scanned_by: Option<ScanEvent>,
}

impl ActiveScene {
    fn qr_event(&self) -> ScanEvent {
        ScanEvent::Qr {
            image: self.image.clone(),
            refresh_at_ms: unix_ms_at(self.rotate_at),
        }
    }

    fn scanned(&self) -> bool {
        self.scanned_by.is_some()
    }
}

/// The cache slot for the scene on screen, kept with the client `A` of the server it was made on:
/// the server to withdraw it on, whichever server the console is set to by then. What takes a
/// scene out of the cache answers for it: withdraws it there, or, for a loop whose scan of it was
/// confirmed, hands over what the confirm delivered. Dropped unwithdrawn, it could still be
/// scanned and confirmed by a phone for a login (or a link) nobody collects.
pub struct SceneCache<A>(Arc<Mutex<Option<CachedScene<A>>>>);

struct CachedScene<A> {
    made_on: A,
    active: ActiveScene,
}

impl<A: ScanApi> CachedScene<A> {
    /// Whether this is the scene named `scene` on `server`'s server: a name is only known there.
    fn is(&self, server: &A, scene: &str) -> bool {
        self.active.scene == scene && self.made_on.same_server(server)
    }
}

impl<A> From<CachedScene<A>> for (A, LeftScene) {
    fn from(cached: CachedScene<A>) -> Self {
        (cached.made_on, LeftScene::from(cached.active))
    }
}

impl<A> Default for SceneCache<A> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<A> Clone for SceneCache<A> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// What a loop starting on a server finds in the cache ([`SceneCache::reusable`]).
enum Cached<A> {
    /// A scene of that server to show again: scanned, or with the time asked for left before its
    /// rotation.
    Reusable(ActiveScene),
    /// None, or one too close to its rotation to show: the loop makes a new one.
    NotReusable,
    /// A scene made on another server, cached by a loop stopped mid-step as Settings named this
    /// one: taken out of the cache, with the client of the server to withdraw it on. Shown here,
    /// it would log in on that server and be polled on this one, which knows no such scene.
    MadeElsewhere(A, LeftScene),
}

impl<A> SceneCache<A> {
    fn lock(&self) -> MutexGuard<'_, Option<CachedScene<A>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the cache holds for a loop on `asking`'s server: its scene if it was made there and
    /// is scanned or has at least `min_left` before its rotation.
    fn reusable(&self, asking: &A, min_left: Duration) -> Cached<A>
    where
        A: ScanApi,
    {
        let mut cached = self.lock();
        if let Some(elsewhere) = cached.take_if(|found| !found.made_on.same_server(asking)) {
            let (made_on, left) = elsewhere.into();
            return Cached::MadeElsewhere(made_on, left);
        }
        let Some(active) = cached.as_ref().map(|found| &found.active) else {
            return Cached::NotReusable;
        };
        let until_rotation = active.rotate_at.saturating_duration_since(Instant::now());
        if active.scanned() || until_rotation >= min_left {
            Cached::Reusable(active.clone())
        } else {
            Cached::NotReusable
        }
    }

    /// Caches `active`, made on `made_on`'s server, and hands back the scene it takes the place
    /// of, to be withdrawn where that was made: one too close to its rotation to be shown again
    /// (a phone can confirm it until it expires), or one a stopped loop cached after this loop
    /// found the cache empty. Not `active` itself, stored again: it stays on screen.
    #[must_use = "a scene taken out of the cache is to be withdrawn"]
    fn store(&self, made_on: A, active: ActiveScene) -> Option<(A, LeftScene)>
    where
        A: ScanApi,
    {
        let mut cached = self.lock();
        let displaced = cached.take_if(|found| !found.is(&made_on, &active.scene));
        *cached = Some(CachedScene { made_on, active });
        displaced.map(<(A, LeftScene)>::from)
    }

    /// Notes what the screen shows of `scene`'s scanner, if `scene` is still the cached one (a
    /// "new code" may have cleared it while this loop was being stopped).
    fn note_scanned(&self, scene: &str, scanned_by: Option<ScanEvent>) {
        let mut cached = self.lock();
        let active = cached.as_mut().map(|cached| &mut cached.active);
        if let Some(active) = active.filter(|active| active.scene == scene) {
            active.scanned_by = scanned_by;
        }
    }

    /// Takes the scene named `scene` on `made_on`'s server out of the cache, if it is still there,
    /// for the loop that watched it to answer for. Another scene cached since (by a loop started
    /// after that one, which it took the place of) stays: that loop still shows it. One no longer
    /// there was withdrawn by what took it out.
    #[must_use = "a scene taken out of the cache is to be withdrawn, or its confirm handed over"]
    fn take_scene(&self, made_on: &A, scene: &str) -> Option<(A, LeftScene)>
    where
        A: ScanApi,
    {
        let own = self.lock().take_if(|found| found.is(made_on, scene))?;
        Some(own.into())
    }

    /// Empties the cache: the scene it held, to withdraw, and the client of the server it was
    /// made on.
    pub fn take(&self) -> Option<(A, LeftScene)> {
        self.lock().take().map(<(A, LeftScene)>::from)
    }
}

/// What one poll's answer means for the loop.
enum PollVerdict {
    Continue {
        scanner: Option<ScannerProfile>,
    },
    Done(ScanDone),
    /// This scene is over; show a fresh QR, after telling the organizer why when there is a reason.
    Replace(Option<ScanEvent>),
    /// Asked to poll more slowly.
    Wait(Duration),
    Retry(ApiError),
}

enum Step {
    NeedScene,
    Watch(ActiveScene),
}

/// Runs the login until a scan is confirmed. Cancel it by dropping the future.
pub async fn run_scan_login<A: ScanApi>(
    api: &A,
    cache: &SceneCache<A>,
    timing: ScanTiming,
    emit: impl Fn(ScanEvent),
) -> ScanGrant {
    loop {
        // A login scene ends only in a grant: its creation carries no token to be refused, and an
        // answer of the other purpose is retried as unexpected.
        if let Ok(ScanDone::LoggedIn(grant)) =
            run_scan(api, cache, timing, &ScanPurpose::Login, &emit).await
        {
            return grant;
        }
    }
}

/// Runs until a scan of a scene for `purpose` is confirmed. It ends early only when the server
/// refuses to create a link scene for a reason that waiting does not cure (the console's session
/// is over, the account may not link): that refusal is the error. Cancel it by dropping the future.
pub async fn run_scan<A: ScanApi>(
    api: &A,
    cache: &SceneCache<A>,
    timing: ScanTiming,
    purpose: &ScanPurpose,
    emit: impl Fn(ScanEvent),
) -> Result<ScanDone, ApiError> {
    let mut backoff = Backoff::default();
    // Scenes replaced with no poll answered in between: from the second on, the next scene waits,
    // doubling, so a server that refuses every poll of its own scenes (instances that share no
    // store) or hands out scenes that expire at once is not asked for scene after scene at once.
    let (mut churn, mut replaced_unanswered) = (Backoff::default(), 0u32);
    let mut avatars = AvatarCache::default();
    // Scenes the loop lets go of are withdrawn in tasks of their own, holding up no code.
    let runtime = tokio::runtime::Handle::current();
    let mut step = match cache.reusable(api, timing.min_reuse) {
        Cached::Reusable(active) => {
            emit(active.qr_event());
            emit(active.scanned_by.clone().unwrap_or(ScanEvent::Waiting));
            Step::Watch(active)
        }
        Cached::NotReusable => Step::NeedScene,
        Cached::MadeElsewhere(made_on, left) => {
            let left_because = "Settings named another server";
            withdraw_in_background(&runtime, made_on, left, left_because);
            Step::NeedScene
        }
    };
    loop {
        step = match step {
            Step::NeedScene => match new_scene(api, purpose, timing).await {
                Ok(active) => {
                    backoff.reset();
                    if let Some((made_on, displaced)) = cache.store(api.clone(), active.clone()) {
                        let left_because = "a new code took its place in the cache";
                        withdraw_in_background(&runtime, made_on, displaced, left_because);
                    }
                    emit(active.qr_event());
                    emit(ScanEvent::Waiting);
                    Step::Watch(active)
                }
                Err(err) if creation_refused(purpose, &err) => return Err(err),
                Err(err) => {
                    wait_after_failure(err, &mut backoff, &emit).await;
                    Step::NeedScene
                }
            },
            Step::Watch(mut active) => {
                // A scanned scene lives on for the confirm; only an unscanned one is rotated on time.
                let wait = if active.scanned() {
                    timing.max_wait
                } else {
                    let until_rotation = active.rotate_at.saturating_duration_since(Instant::now());
                    until_rotation.min(timing.max_wait)
                };
                if !active.scanned() && wait < Duration::from_secs(1) {
                    // Withdrawn without holding up the next code: a phone that scanned this one in
                    // its last moments must not confirm a login (or a link) nobody follows any
                    // more. Not if it left the cache already: what took it out withdrew it. A code
                    // that ended on the server (declined, refused, expired) needs no withdrawal.
                    if let Some((made_on, own)) = cache.take_scene(api, &active.scene) {
                        withdraw_in_background(&runtime, made_on, own, "its code was replaced");
                    }
                    replaced_unanswered += 1;
                    pause_if_churning(replaced_unanswered, &mut churn).await;
                    Step::NeedScene
                } else {
                    let started = Instant::now();
                    let answer = api
                        .poll_scene(&active.scene, &active.poll_token, wait)
                        .await;
                    match judge(purpose, answer) {
                        PollVerdict::Done(done) => {
                            // Let go of, not withdrawn (that would answer `scene_claimed`): what
                            // it delivered is the caller's now, and the caller withdraws whatever
                            // its cache holds once in effect.
                            let _delivered = cache.take_scene(api, &active.scene);
                            return Ok(done);
                        }
                        PollVerdict::Continue { scanner } => {
                            backoff.reset();
                            replaced_unanswered = 0;
                            churn.reset();
                            let scanned_by = match scanner {
                                Some(profile) => Some(ScanEvent::Scanned {
                                    avatar: avatars
                                        .data_url(api, profile.avatar_url.as_deref())
                                        .await,
                                    display_name: profile.display_name,
                                }),
                                None => None,
                            };
                            emit(scanned_by.clone().unwrap_or(ScanEvent::Waiting));
                            if scanned_by != active.scanned_by {
                                cache.note_scanned(&active.scene, scanned_by.clone());
                                active.scanned_by = scanned_by;
                            }
                            // Never poll faster than the server's interval, even if it answers at once.
                            let elapsed = started.elapsed();
                            if elapsed < active.interval {
                                sleep(active.interval - elapsed).await;
                            }
                            Step::Watch(active)
                        }
                        PollVerdict::Replace(reason) => {
                            // Over on the server: nothing to withdraw.
                            let _ended = cache.take_scene(api, &active.scene);
                            // Said at once; the pause, if any, is before the next scene.
                            if let Some(reason) = reason {
                                emit(reason);
                            }
                            replaced_unanswered += 1;
                            pause_if_churning(replaced_unanswered, &mut churn).await;
                            Step::NeedScene
                        }
                        PollVerdict::Wait(delay) => {
                            let mut delay = delay.max(active.interval);
                            // Not past the rotation of a code nobody scanned: it is dead by then.
                            if !active.scanned() {
                                let left =
                                    active.rotate_at.saturating_duration_since(Instant::now());
                                delay = delay.min(left);
                            }
                            sleep(delay).await;
                            Step::Watch(active)
                        }
                        PollVerdict::Retry(err) => {
                            wait_after_failure(err, &mut backoff, &emit).await;
                            Step::Watch(active)
                        }
                    }
                }
            }
        };
    }
}

/// Whether a failed creation ends the loop rather than being retried: only for a link scene, whose
/// creation carries the console's token, and only for a refusal (not for a server that is down,
/// busy or asking to slow down).
fn creation_refused(purpose: &ScanPurpose, err: &ApiError) -> bool {
    if matches!(purpose, ScanPurpose::Login) {
        return false;
    }
    match err {
        ApiError::RejectedOther { .. } => !err.is_transient(),
        ApiError::Rejected { code, .. } => !matches!(
            code,
            ErrorCode::StoreUnavailable
                | ErrorCode::ServerBusy
                | ErrorCode::InternalError
                | ErrorCode::SlowDown
                | ErrorCode::TooManyRequests
        ),
        ApiError::Unreachable
        | ApiError::ErrorStatus { .. }
        | ApiError::Unexpected(_)
        | ApiError::Redirected { .. } => false,
    }
}

async fn new_scene<A: ScanApi>(
    api: &A,
    purpose: &ScanPurpose,
    timing: ScanTiming,
) -> Result<ActiveScene, ApiError> {
    let created_at = Instant::now();
    let scene = api.create_scene(purpose).await?;
    let image = api.image_data_url(&scene.png_url).await?;
    let margin = timing.rotate_margin.min(scene.expires_in / 4);
    Ok(ActiveScene {
        rotate_at: created_at + scene.expires_in.saturating_sub(margin),
        scene: scene.scene,
        poll_token: scene.poll_token,
        interval: scene.interval,
        image,
        scanned_by: None,
    })
}

/// The scanner's avatar as a `data:` URL, fetched once however often the poll repeats "scanned".
#[derive(Default)]
struct AvatarCache {
    last: Option<(String, Option<String>)>,
}

impl AvatarCache {
    async fn data_url<A: ScanApi>(&mut self, api: &A, avatar_url: Option<&str>) -> Option<String> {
        let avatar_url = avatar_url?;
        if let Some((cached_url, data_url)) = &self.last
            && cached_url == avatar_url
        {
            return data_url.clone();
        }
        // A missing avatar is not worth failing the login over: the UI shows initials instead.
        let data_url = api.image_data_url(avatar_url).await.ok();
        self.last = Some((avatar_url.to_owned(), data_url.clone()));
        data_url
    }
}

/// Waits before a scene replaces one that had no poll answered, from the second such in a row on.
async fn pause_if_churning(replaced_unanswered: u32, churn: &mut Backoff) {
    if replaced_unanswered >= 2 {
        sleep(churn.next_delay()).await;
    }
}

/// Waits the next backoff delay, or longer where the server's `Retry-After` asks for it, having
/// said why: offline for a failure that may pass, the failure itself for one that will not.
async fn wait_after_failure(err: ApiError, backoff: &mut Backoff, emit: &impl Fn(ScanEvent)) {
    let delay = backoff.next_delay_after(&err);
    tracing::warn!(error = %err, retry_in = ?delay, "scan login: server call failed");
    let retry_in_secs = delay.as_secs();
    emit(if err.is_transient() {
        ScanEvent::Offline { retry_in_secs }
    } else {
        let problem = Problem::from(&ConsoleError::from(err));
        ScanEvent::Failing {
            retry_in_secs,
            problem,
        }
    });
    sleep(delay).await;
}

/// What one `islogin` answer means for a scene of `purpose`: the pure heart of the loop.
fn judge(purpose: &ScanPurpose, answer: Result<PollAnswer, ApiError>) -> PollVerdict {
    match (purpose, answer) {
        (_, Ok(PollAnswer::Pending)) => PollVerdict::Continue { scanner: None },
        (_, Ok(PollAnswer::Scanned { user })) => PollVerdict::Continue {
            scanner: Some(user),
        },
        (
            ScanPurpose::Login,
            Ok(PollAnswer::Confirmed {
                access_token,
                expires_in,
                user,
                token_type: _,
            }),
        ) => PollVerdict::Done(ScanDone::LoggedIn(ScanGrant {
            access_token,
            expires_in: server_seconds(expires_in),
            user,
        })),
        (ScanPurpose::Link { .. }, Ok(PollAnswer::Linked)) => PollVerdict::Done(ScanDone::Linked),
        (ScanPurpose::Login, Ok(PollAnswer::Linked))
        | (ScanPurpose::Link { .. }, Ok(PollAnswer::Confirmed { .. })) => PollVerdict::Retry(
            ApiError::Unexpected("an answer for a scene of the other purpose".into()),
        ),
        (_, Err(err)) => judge_error(err),
    }
}

fn judge_error(answer: ApiError) -> PollVerdict {
    match answer {
        ApiError::Rejected {
            code,
            retry_after,
            message,
        } => match code {
            ErrorCode::AccessDenied => PollVerdict::Replace(Some(ScanEvent::Declined)),
            ErrorCode::NotOrganizer => PollVerdict::Replace(Some(ScanEvent::NotOrganizer)),
            ErrorCode::SceneExpired => PollVerdict::Replace(Some(ScanEvent::Expired)),
            // A link scene whose WeChat belongs to another real account: nothing changed.
            ErrorCode::IdentityInUse => PollVerdict::Replace(Some(ScanEvent::IdentityInUse)),
            // The scene is gone from the server's point of view (e.g. restarted with a fresh store).
            ErrorCode::InvalidPollToken | ErrorCode::NotFound => PollVerdict::Replace(None),
            ErrorCode::SlowDown | ErrorCode::TooManyRequests => {
                PollVerdict::Wait(retry_after.unwrap_or(Duration::from_secs(2)))
            }
            ErrorCode::StoreUnavailable
            | ErrorCode::ServerBusy
            | ErrorCode::InternalError
            | ErrorCode::WechatUnavailable
            | ErrorCode::InvalidRequest
            | ErrorCode::MethodNotAllowed
            | ErrorCode::UnknownApp
            | ErrorCode::WechatCodeInvalid
            | ErrorCode::WechatUserBlocked
            | ErrorCode::WechatRateLimited
            | ErrorCode::TicketInvalid
            | ErrorCode::TicketExpired
            | ErrorCode::TicketUsed
            | ErrorCode::SceneClaimed
            | ErrorCode::InvalidCredentials
            | ErrorCode::TooManyAttempts
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired
            | ErrorCode::TokenRevoked
            | ErrorCode::SessionNotFound
            | ErrorCode::InviteInvalid
            | ErrorCode::InviteExpired
            | ErrorCode::InviteUsed
            | ErrorCode::LastAdmin
            | ErrorCode::Forbidden => PollVerdict::Retry(ApiError::Rejected {
                code,
                message,
                retry_after,
            }),
        },
        err @ (ApiError::Unreachable
        | ApiError::RejectedOther { .. }
        | ApiError::ErrorStatus { .. }
        | ApiError::Unexpected(_)
        | ApiError::Redirected { .. }) => PollVerdict::Retry(err),
    }
}

fn unix_ms_at(instant: Instant) -> u64 {
    let from_now = instant.saturating_duration_since(Instant::now());
    (SystemTime::now() + from_now)
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
