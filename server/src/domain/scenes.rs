//! Desktop scan login. A console creates a scene and shows its QR; a mini program user scans it
//! (the first scanner owns it), then confirms or declines; the console long-polls `islogin` and
//! receives its token once.
//!
//! Every change bumps the scene's `version` and notifies the scene's topic. The record also keeps
//! the version the console was last told about, so a long-poll waits for something *new* and a
//! state the console has not seen yet (say, `scanned`) is answered at once.

use std::sync::Arc;
use std::time::Duration;

use meeteasy_protocol::{
    Claims, ConsoleInfo, CreateSceneRequest, CreateSceneResponse, IsLoginResponse, QrInfo,
    ScanResponse, ScannerProfile,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::{AppSettings, QrMode};
use crate::metrics::LoginMethod;
use crate::store::{Lifetime, run_then_release};
use crate::wechat::WeChatError;

use super::poll_slots::PollSlot;
use super::records::{self, Transition};
use super::secrets::{
    hashes_equal, is_scene_shaped, is_token_shaped, random_scene, random_token, token_hash,
};
use super::users::UserRecord;
use super::{AuthError, AuthService, ClientAddr, unix_now};

/// The longest `wait` a long-poll may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
const MAX_DEVICE_NAME: usize = 64;
const SCENES_PER_ADDRESS_PER_MINUTE: u64 = 120;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SceneRecord {
    app: String,
    poll_token_hash: String,
    console: ConsoleInfo,
    expires_at: u64,
    state: SceneState,
    version: u32,
    /// The `version` the console was last answered with.
    reported: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum SceneState {
    Pending,
    Scanned {
        user_id: String,
        profile: ScannerProfile,
    },
    Confirmed {
        user_id: String,
    },
    Declined {
        user_id: String,
    },
    /// Confirmed by someone without the organizer role.
    Refused {
        user_id: String,
    },
}

impl SceneRecord {
    fn is_expired(&self) -> bool {
        self.expires_at <= unix_now()
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::For(Duration::from_secs(
            self.expires_at.saturating_sub(unix_now()).max(1),
        ))
    }

    fn moved_to(&self, state: SceneState, expires_at: u64) -> SceneRecord {
        SceneRecord {
            state,
            expires_at,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// Who holds the scene, if anyone does.
    fn owner(&self) -> Option<&str> {
        match &self.state {
            SceneState::Pending => None,
            SceneState::Scanned { user_id, .. }
            | SceneState::Confirmed { user_id }
            | SceneState::Declined { user_id }
            | SceneState::Refused { user_id } => Some(user_id),
        }
    }
}

fn scene_key(scene: &str) -> String {
    format!("scene:{scene}")
}

fn scene_topic(scene: &str) -> String {
    format!("scene:{scene}")
}

fn qr_cache_key(scene: &str) -> String {
    format!("scene-qr:{scene}")
}

pub(super) fn check_scene(scene: &str) -> Result<(), AuthError> {
    if is_scene_shaped(scene) {
        Ok(())
    } else {
        Err(AuthError::InvalidRequest(
            "scene: must be 32 characters of [0-9A-Za-z]".into(),
        ))
    }
}

/// The scene is gone, expired, or in the hands of someone else.
fn unavailable_to(record: &SceneRecord, user_id: &str) -> AuthError {
    match record.owner() {
        Some(owner) if owner != user_id => AuthError::SceneClaimed,
        Some(_) | None => AuthError::SceneExpired,
    }
}

/// What a phone's step does to a scene: move it to a state (valid until a time), or leave it.
enum SceneChange<R> {
    Move(SceneState, u64, R),
    Stay(R),
}

impl AuthService {
    pub async fn create_scene(
        &self,
        request: CreateSceneRequest,
        from: &ClientAddr,
    ) -> Result<CreateSceneResponse, AuthError> {
        let device_name = match request.device_name.as_deref().map(str::trim) {
            None | Some("") => "Desktop console".to_owned(),
            Some(name)
                if name.chars().count() > MAX_DEVICE_NAME || name.chars().any(char::is_control) =>
            {
                return Err(AuthError::InvalidRequest(format!(
                    "device_name: must be at most {MAX_DEVICE_NAME} printable characters"
                )));
            }
            Some(name) => name.to_owned(),
        };
        let app = self.app(request.app.as_deref())?;
        let window = self
            .store
            .count_in_window(&format!("scene-create:{}", from.0), Duration::from_secs(60))
            .await?;
        if window.count > SCENES_PER_ADDRESS_PER_MINUTE {
            return Err(AuthError::TooManyRequests {
                retry_after: window.resets_in,
            });
        }
        let ttl = self.settings.lifetimes.scene;
        let poll_token = random_token()?;
        let now = unix_now();
        let record = SceneRecord {
            app: app.key.clone(),
            poll_token_hash: token_hash(&poll_token),
            console: ConsoleInfo {
                device_name,
                ip: from.0.clone(),
                created_at: now,
            },
            expires_at: now + ttl.as_secs(),
            state: SceneState::Pending,
            version: 0,
            reported: 0,
        };
        let encoded = records::encode(&record)?;
        let scene = loop {
            let scene = random_scene()?;
            // 190 random bits never collide in practice; the check costs nothing, so make it.
            if self
                .store
                .insert_new(&scene_key(&scene), &encoded, Lifetime::For(ttl))
                .await?
            {
                break scene;
            }
        };
        let content = match app.qr_mode {
            QrMode::Url => Some(self.scan_url(&scene)),
            QrMode::Wxacode => None,
        };
        Ok(CreateSceneResponse {
            qr: QrInfo {
                png_url: format!("/auth/scenes/{scene}/qr.png"),
                content,
            },
            scene,
            poll_token,
            expires_in: ttl.as_secs(),
            interval: self.settings.lifetimes.poll_interval.as_secs().max(1),
        })
    }

    fn scan_url(&self, scene: &str) -> String {
        format!("{}/m/scan/{scene}", self.settings.public_url)
    }

    /// The PNG a phone scans: a mini program code from WeChat (cached for the scene's life) or a
    /// standard QR of the scan URL.
    pub async fn scene_qr(&self, scene: &str) -> Result<Vec<u8>, AuthError> {
        check_scene(scene)?;
        let record = self.live_scene(scene).await?;
        let app = self.app(Some(&record.app))?;
        match app.qr_mode {
            QrMode::Url => crate::qr::png(&self.scan_url(scene), crate::qr::DEFAULT_WIDTH)
                .map_err(|e| AuthError::Internal(format!("cannot render the scan QR: {e}"))),
            QrMode::Wxacode => self.mini_program_code(app, scene, record.lifetime()).await,
        }
    }

    /// The scene's mini program code, fetched from WeChat once however many ask at the same time
    /// (on any instance): WeChat's codes cost quota. Others wait for the fetch and read the cache.
    async fn mini_program_code(
        &self,
        app: &AppSettings,
        scene: &str,
        lifetime: Lifetime,
    ) -> Result<Vec<u8>, AuthError> {
        let fetch_budget = self.settings.wechat.timeout + Duration::from_secs(1);
        let deadline = Instant::now() + fetch_budget;
        let topic = format!("scene-qr:{scene}");
        let lock = format!("scene-qr-fetch:{scene}");
        loop {
            let mut fetched = self.store.subscribe(&topic);
            if let Some(png) = self.store.get(&qr_cache_key(scene)).await? {
                return Ok(png);
            }
            if self
                .store
                .insert_new(&lock, b"1", Lifetime::For(fetch_budget))
                .await?
            {
                return self
                    .fetch_mini_program_code(app, scene, lifetime, lock, topic)
                    .await;
            }
            tokio::select! {
                () = fetched.changed() => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(WeChatError::Unavailable("another request's mini program code fetch did not finish".into()).into());
                }
            }
        }
    }

    /// Fetches and caches under `lock`, in a task that outlives this request: one dropped mid-fetch
    /// (its console hung up) must not strand the waiters, nor throw away a code WeChat already
    /// counted against the quota.
    async fn fetch_mini_program_code(
        &self,
        app: &AppSettings,
        scene: &str,
        lifetime: Lifetime,
        lock: String,
        topic: String,
    ) -> Result<Vec<u8>, AuthError> {
        let (store, wechat) = (Arc::clone(&self.store), Arc::clone(&self.wechat));
        let (app, scene) = (app.clone(), scene.to_owned());
        let fetch = async move {
            let png = wechat.unlimited_qr_code(&app, &scene).await?;
            store.put(&qr_cache_key(&scene), &png, lifetime).await?;
            Ok::<_, AuthError>(png)
        };
        run_then_release(Arc::clone(&self.store), lock, topic, fetch)
            .await
            .map_err(|stopped| {
                AuthError::Internal(format!("the mini program code fetch stopped: {stopped}"))
            })?
    }

    async fn live_scene(&self, scene: &str) -> Result<SceneRecord, AuthError> {
        match records::load::<SceneRecord>(self.store.as_ref(), &scene_key(scene)).await? {
            Some(record) if !record.is_expired() => Ok(record),
            Some(_) | None => Err(AuthError::SceneExpired),
        }
    }

    pub async fn scan_scene(
        &self,
        scene: &str,
        claims: &Claims,
    ) -> Result<ScanResponse, AuthError> {
        check_scene(scene)?;
        let user = self.user(&claims.sub).await?;
        self.scan_as(scene, &user).await
    }

    pub(super) async fn scan_as(
        &self,
        scene: &str,
        user: &UserRecord,
    ) -> Result<ScanResponse, AuthError> {
        let scanned_until = unix_now() + self.settings.lifetimes.scanned_scene.as_secs();
        let profile = ScannerProfile {
            display_name: user.display_name.clone(),
            avatar_url: user.avatar_url.clone(),
        };
        self.update_scene(scene, |record| {
            let response = ScanResponse {
                console: record.console.clone(),
                app: record.app.clone(),
            };
            match &record.state {
                SceneState::Pending => {
                    let state = SceneState::Scanned {
                        user_id: user.id.clone(),
                        profile: profile.clone(),
                    };
                    Ok(SceneChange::Move(state, scanned_until, response))
                }
                SceneState::Scanned { user_id, .. } if *user_id == user.id => {
                    Ok(SceneChange::Stay(response))
                }
                SceneState::Scanned { .. }
                | SceneState::Confirmed { .. }
                | SceneState::Declined { .. }
                | SceneState::Refused { .. } => Err(unavailable_to(record, &user.id)),
            }
        })
        .await
    }

    pub async fn confirm_scene(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        check_scene(scene)?;
        let user = self.user(&claims.sub).await?;
        self.confirm_as(scene, &user).await
    }

    /// Confirms (scanning first if needed); a user without the organizer role is refused, and the
    /// console is told so.
    pub(super) async fn confirm_as(&self, scene: &str, user: &UserRecord) -> Result<(), AuthError> {
        let organizer = user.is_organizer();
        let confirmed = self
            .update_scene(scene, |record| {
                let mine = record.owner().is_none_or(|owner| owner == user.id);
                match &record.state {
                    SceneState::Pending | SceneState::Scanned { .. } if mine => {
                        let user_id = user.id.clone();
                        Ok(if organizer {
                            SceneChange::Move(
                                SceneState::Confirmed { user_id },
                                record.expires_at,
                                true,
                            )
                        } else {
                            SceneChange::Move(
                                SceneState::Refused { user_id },
                                record.expires_at,
                                false,
                            )
                        })
                    }
                    SceneState::Confirmed { user_id } if *user_id == user.id => {
                        Ok(SceneChange::Stay(true))
                    }
                    SceneState::Pending
                    | SceneState::Scanned { .. }
                    | SceneState::Confirmed { .. }
                    | SceneState::Declined { .. }
                    | SceneState::Refused { .. } => Err(unavailable_to(record, &user.id)),
                }
            })
            .await?;
        if confirmed {
            Ok(())
        } else {
            Err(AuthError::NotOrganizer)
        }
    }

    pub async fn cancel_scene(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        check_scene(scene)?;
        let user_id = &claims.sub;
        self.update_scene(scene, |record| {
            let mine = record.owner().is_none_or(|owner| owner == user_id);
            match &record.state {
                SceneState::Pending | SceneState::Scanned { .. } if mine => {
                    let state = SceneState::Declined {
                        user_id: user_id.clone(),
                    };
                    Ok(SceneChange::Move(state, record.expires_at, ()))
                }
                SceneState::Declined { user_id: owner } if owner == user_id => {
                    Ok(SceneChange::Stay(()))
                }
                SceneState::Pending
                | SceneState::Scanned { .. }
                | SceneState::Confirmed { .. }
                | SceneState::Declined { .. }
                | SceneState::Refused { .. } => Err(unavailable_to(record, user_id)),
            }
        })
        .await
    }

    /// Applies a phone's step to a live scene until it wins against concurrent steps, and tells the
    /// scene's listeners (on every instance) when the scene moved.
    async fn update_scene<R>(
        &self,
        scene: &str,
        mut decide: impl FnMut(&SceneRecord) -> Result<SceneChange<R>, AuthError>,
    ) -> Result<R, AuthError> {
        let (answer, moved) = records::update(
            self.store.as_ref(),
            &scene_key(scene),
            |current: Option<&SceneRecord>| {
                let record = current
                    .filter(|r| !r.is_expired())
                    .ok_or(AuthError::SceneExpired)?;
                Ok(match decide(record)? {
                    SceneChange::Move(state, expires_at, answer) => {
                        let next = record.moved_to(state, expires_at);
                        let lifetime = next.lifetime();
                        Transition::Write(next, lifetime, (answer, true))
                    }
                    SceneChange::Stay(answer) => Transition::Keep((answer, false)),
                })
            },
        )
        .await?;
        if moved {
            self.store.notify(&scene_topic(scene)).await?;
        }
        Ok(answer)
    }

    /// `islogin`: answers at once when there is news for the console, else waits up to `wait` for
    /// some (a change notified by any instance, the scene's expiry, or this server shutting down).
    pub async fn poll_scene(
        &self,
        scene: &str,
        poll_token: &str,
        wait: Duration,
    ) -> Result<IsLoginResponse, AuthError> {
        check_scene(scene)?;
        if wait > MAX_WAIT {
            return Err(AuthError::InvalidRequest(format!(
                "wait: must be 0 to {}",
                MAX_WAIT.as_secs()
            )));
        }
        if !is_token_shaped(poll_token) {
            return Err(AuthError::InvalidPollToken);
        }
        let poll_token_hash = token_hash(poll_token);
        let deadline = Instant::now() + wait;
        // Only the poll token's holder may listen to a scene: check it before subscribing.
        let first: SceneRecord = records::load(self.store.as_ref(), &scene_key(scene))
            .await?
            .ok_or(AuthError::SceneExpired)?;
        if !hashes_equal(&first.poll_token_hash, &poll_token_hash) {
            return Err(AuthError::InvalidPollToken);
        }
        // Taken only by the poll token's holder, so nobody else can cut the console's wait short.
        let slot = (!wait.is_zero()).then(|| self.poll_slots.take(scene));
        // Subscribe before the reads the wait depends on, so a change in between is not missed.
        let mut changes = self.store.subscribe(&scene_topic(scene));
        let mut shutting_down = self.shutting_down.clone();
        let mut gate_checked = false;
        let mut stop_waiting = *shutting_down.borrow();
        let _waiter = self.metrics.waiting();
        loop {
            let bytes = self
                .store
                .get(&scene_key(scene))
                .await?
                .ok_or(AuthError::SceneExpired)?;
            let record: SceneRecord = records::decode(&scene_key(scene), &bytes)?;
            if !hashes_equal(&record.poll_token_hash, &poll_token_hash) {
                return Err(AuthError::InvalidPollToken);
            }
            if record.is_expired() {
                return Err(AuthError::SceneExpired);
            }
            if wait.is_zero() && !gate_checked {
                self.pass_poll_gate(scene).await?;
                gate_checked = true;
            }
            let answer = match &record.state {
                SceneState::Confirmed { .. } => return self.deliver(scene).await,
                SceneState::Declined { .. } => return Err(AuthError::AccessDenied),
                SceneState::Refused { .. } => return Err(AuthError::ConfirmedByNonOrganizer),
                SceneState::Pending => IsLoginResponse::Pending,
                SceneState::Scanned { profile, .. } => IsLoginResponse::Scanned {
                    user: profile.clone(),
                },
            };
            let news = record.version != record.reported;
            let now = Instant::now();
            if news || now >= deadline || stop_waiting {
                self.mark_reported(scene, &bytes, &record).await?;
                return Ok(answer);
            }
            let expiry = now + Duration::from_secs(record.expires_at.saturating_sub(unix_now()));
            tokio::select! {
                () = changes.changed() => {}
                () = tokio::time::sleep_until(deadline.min(expiry)) => {}
                // A closed channel means the server is going away too.
                _ = shutting_down.changed() => stop_waiting = true,
                () = superseded(slot.as_ref()) => stop_waiting = true,
            }
        }
    }

    /// Without `wait`, a console may poll once per `interval`.
    async fn pass_poll_gate(&self, scene: &str) -> Result<(), AuthError> {
        let interval = self.settings.lifetimes.poll_interval;
        if self
            .store
            .insert_new(&format!("poll-gate:{scene}"), b"1", Lifetime::For(interval))
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::SlowDown {
                retry_after: interval,
            })
        }
    }

    /// Remembers that the console has been told about this version of the scene.
    async fn mark_reported(
        &self,
        scene: &str,
        bytes: &[u8],
        record: &SceneRecord,
    ) -> Result<(), AuthError> {
        if record.reported != record.version {
            let seen = SceneRecord {
                reported: record.version,
                ..record.clone()
            };
            // Losing this race means the scene changed meanwhile: the next poll answers that at once.
            let _seen_recorded = self
                .store
                .compare_and_swap(
                    &scene_key(scene),
                    bytes,
                    &records::encode(&seen)?,
                    record.lifetime(),
                )
                .await?;
        }
        Ok(())
    }

    /// Hands the console its token, once: the scene is taken from the store as it is delivered, so
    /// of concurrent polls exactly one gets the token and the others find the scene gone.
    async fn deliver(&self, scene: &str) -> Result<IsLoginResponse, AuthError> {
        let key = scene_key(scene);
        let bytes = self
            .store
            .take(&key)
            .await?
            .ok_or(AuthError::SceneExpired)?;
        let record: SceneRecord = records::decode(&key, &bytes)?;
        // Confirmed is final (no transition leaves it), so the record taken is the confirmed one.
        let SceneState::Confirmed { user_id } = &record.state else {
            return Err(AuthError::Internal(format!(
                "scene {scene} was taken in state {:?}",
                record.state
            )));
        };
        let user = self.user(user_id).await?;
        let token = self.token_for(
            &user,
            meeteasy_protocol::Audience::Console,
            &["wechat", "scan"],
        )?;
        self.metrics.count_login(LoginMethod::Scan);
        Ok(IsLoginResponse::Confirmed {
            access_token: token.access_token,
            token_type: token.token_type,
            expires_in: token.expires_in,
            user: token.user,
        })
    }
}

/// Resolves when a newer poll of the scene took the slot; never for a poll that holds none.
async fn superseded(slot: Option<&PollSlot<'_>>) {
    match slot {
        Some(slot) => slot.superseded().await,
        None => std::future::pending().await,
    }
}
