//! Desktop scan login. A console creates a scene and shows its QR; a mini program user scans it
//! (the first scanner owns it), then confirms or declines; the console long-polls `islogin` and
//! receives its token once.
//!
//! By job: [`record`] (what is stored), [`transitions`] and [`console_side`] (the pure state
//! machine: the phone's steps, and what a console's poll does), [`phone_steps`] (a phone's scan,
//! confirm and decline, written and notified), [`scan_code`] (the QR a phone scans), [`long_poll`]
//! (`islogin`), [`withdraw`] (a console taking its scene back). Creating a scene is here.

mod console_side;
mod long_poll;
#[cfg(test)]
mod model_tests;
mod phone_steps;
mod record;
mod scan_code;
#[cfg(test)]
mod test_records;
mod transitions;
mod withdraw;

use meeteasy_protocol::{
    ConsoleInfo, CreateSceneRequest, CreateSceneResponse, QrInfo, ScenePurpose, SceneRequest,
};

use crate::config::{AppSettings, QrMode};
use crate::store::Lifetime;

pub use self::console_side::SceneAnswer;
use self::record::{LinkTarget, SceneRecord, SceneState};
use super::secrets::{is_scene_shaped, random_scene, random_token, token_hash};
use super::{
    AuthError, AuthService, ClientAddr, device_names, records, sessions, store_keys, unix_now,
};

/// What the phone is shown for a console that gave no name.
const UNNAMED_CONSOLE: &str = "Desktop console";

pub(super) fn check_scene(scene: &str) -> Result<(), AuthError> {
    if is_scene_shaped(scene) {
        Ok(())
    } else {
        Err(AuthError::InvalidRequest(
            "scene: must be 32 characters of [0-9A-Za-z]".into(),
        ))
    }
}

impl AuthService {
    pub async fn create_scene(
        &self,
        request: CreateSceneRequest,
        from: &ClientAddr,
    ) -> Result<CreateSceneResponse, AuthError> {
        self.create_scene_for(SceneRequest::new(request, ScenePurpose::Login), from, None)
            .await
    }

    /// `POST /auth/scenes`. A link scene (`purpose: link`) needs the console token of the user
    /// whose account the scanner's WeChat will join; a login scene ignores any token.
    pub async fn create_scene_for(
        &self,
        request: SceneRequest,
        from: &ClientAddr,
        bearer: Option<&str>,
    ) -> Result<CreateSceneResponse, AuthError> {
        let link_to = match request.purpose {
            ScenePurpose::Login => None,
            ScenePurpose::Link => {
                let token = bearer.ok_or(AuthError::InvalidToken(
                    "a link scene needs the console token as Authorization: Bearer <token>",
                ))?;
                let claims = self.verify_console(token).await?;
                let user = self.user(&claims.sub).await?;
                // The link is refused once the session that made it has ended (see
                // `refuse_orphan_link`), which a token from before sessions were kept has no
                // record of: its link could never complete. Refused here, the console logs in
                // again and gets a session.
                let recorded = sessions::get(self.store.as_ref(), &user.id, &claims.sid).await?;
                if recorded.is_none() {
                    return Err(AuthError::InvalidToken(
                        "this console login has no session (it is from before sessions were kept): log in again to link a WeChat",
                    ));
                }
                Some(LinkTarget {
                    user_id: user.id,
                    display_name: user.display_name,
                    session: Some(claims.sid),
                })
            }
        };
        let request = request.scene();
        let named = device_names::checked(request.device_name.as_deref())?;
        let console_unnamed = named.is_none();
        // The phone's confirm screen always names the console (the v1 answer has a name).
        let device_name = named.unwrap_or_else(|| UNNAMED_CONSOLE.to_owned());
        let app = self.app(request.app.as_deref())?;
        self.limit_scene_creation(app, from).await?;
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
            purpose: if link_to.is_some() {
                ScenePurpose::Link
            } else {
                ScenePurpose::Login
            },
            link_to,
            console_unnamed,
        };
        let encoded = records::encode(&record)?;
        let scene = loop {
            let scene = random_scene()?;
            // 190 random bits never collide in practice; the check costs nothing, so make it.
            if self
                .store
                .insert_new(&store_keys::scene(&scene), &encoded, Lifetime::For(ttl))
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

    /// Scenes per address, and in `wxacode` mode per app too: each of those scenes' QR is a call
    /// against the app's WeChat code quota, which addresses enough to pass the per-address limit
    /// could otherwise drain for every console of the app.
    async fn limit_scene_creation(
        &self,
        app: &AppSettings,
        from: &ClientAddr,
    ) -> Result<(), AuthError> {
        let limits = self.settings.scene_limits;
        let mut counters = vec![(store_keys::scenes_created_from(from), limits.per_ip)];
        match app.qr_mode {
            QrMode::Wxacode => {
                counters.push((store_keys::scenes_created_for_app(&app.key), limits.per_app));
            }
            QrMode::Url => {}
        }
        for (key, limit) in counters {
            let window = self.store.count_in_window(&key, limits.window).await?;
            if window.count > limit {
                return Err(AuthError::TooManyRequests {
                    retry_after: window.resets_in,
                });
            }
        }
        Ok(())
    }

    fn scan_url(&self, scene: &str) -> String {
        format!("{}/m/scan/{scene}", self.settings.public_url)
    }

    /// The scene if it is there, not expired and not yet delivered (then only its console may
    /// still read it, and the confirm that delivered it be sent again).
    async fn live_scene(&self, scene: &str) -> Result<SceneRecord, AuthError> {
        let record = self.unexpired_scene(scene).await?;
        match record.delivered_as() {
            Some(_) => Err(AuthError::SceneExpired),
            None => Ok(record),
        }
    }

    /// The scene if it is there and not expired, delivered or not.
    async fn unexpired_scene(&self, scene: &str) -> Result<SceneRecord, AuthError> {
        match records::load::<SceneRecord>(self.store.as_ref(), &store_keys::scene(scene)).await? {
            Some(record) if !record.is_expired() => Ok(record),
            Some(_) | None => Err(AuthError::SceneExpired),
        }
    }
}
