//! Desktop scan login. A console creates a scene and shows its QR; a mini program user scans it
//! (the first scanner owns it), then confirms or declines; the console long-polls `islogin` and
//! receives its token once.
//!
//! By job: [`record`] (what is stored), [`transitions`] (the pure state machine), [`phone_steps`]
//! (a phone's scan, confirm and decline, written and notified), [`scan_code`] (the QR a phone
//! scans), [`long_poll`] (`islogin`). Creating a scene is here.

mod long_poll;
mod phone_steps;
mod record;
mod scan_code;
mod transitions;

use std::time::Duration;

use meeteasy_protocol::{ConsoleInfo, CreateSceneRequest, CreateSceneResponse, QrInfo};

use crate::config::QrMode;
use crate::store::Lifetime;

use self::record::{SceneRecord, SceneState};
use super::device_names::checked_device_name;
use super::secrets::{is_scene_shaped, random_scene, random_token, token_hash};
use super::{AuthError, AuthService, ClientAddr, records, store_keys, unix_now};

const SCENES_PER_ADDRESS_PER_MINUTE: u64 = 120;

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
        let device_name = match request.device_name.as_deref() {
            None => None,
            Some(name) => checked_device_name("device_name", name)?,
        }
        .unwrap_or_else(|| "Desktop console".to_owned());
        let app = self.app(request.app.as_deref())?;
        let window = self
            .store
            .count_in_window(
                &store_keys::scenes_created_from(&from.0),
                Duration::from_secs(60),
            )
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

    fn scan_url(&self, scene: &str) -> String {
        format!("{}/m/scan/{scene}", self.settings.public_url)
    }

    /// The scene if it is there and not expired.
    async fn live_scene(&self, scene: &str) -> Result<SceneRecord, AuthError> {
        match records::load::<SceneRecord>(self.store.as_ref(), &store_keys::scene(scene)).await? {
            Some(record) if !record.is_expired() => Ok(record),
            Some(_) | None => Err(AuthError::SceneExpired),
        }
    }
}
