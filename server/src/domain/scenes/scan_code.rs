//! The image a phone scans: a mini program code from WeChat (fetched once per scene across every
//! instance, then cached for the scene's life: WeChat's codes cost quota) or a standard QR of the
//! scene's scan URL.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{AppSettings, QrMode};
use crate::store::{Lifetime, run_then_release};
use crate::wechat::WeChatError;

use super::super::{AuthError, AuthService, store_keys};
use super::check_scene;

impl AuthService {
    /// The PNG a phone scans for `scene`.
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
    /// (on any instance). Others wait for the fetch and read the cache.
    async fn mini_program_code(
        &self,
        app: &AppSettings,
        scene: &str,
        lifetime: Lifetime,
    ) -> Result<Vec<u8>, AuthError> {
        let fetch_budget = self.settings.wechat.timeout + Duration::from_secs(1);
        let deadline = Instant::now() + fetch_budget;
        let lock = store_keys::scene_code_fetch_lock(scene);
        loop {
            let mut fetched = self.store.subscribe(&store_keys::scene_code_fetched(scene));
            if let Some(png) = self.store.get(&store_keys::scene_code_image(scene)).await? {
                return Ok(png);
            }
            if self
                .store
                .insert_new(&lock, b"1", Lifetime::For(fetch_budget))
                .await?
            {
                return self
                    .fetch_mini_program_code(app, scene, lifetime, lock)
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
    ) -> Result<Vec<u8>, AuthError> {
        let (store, wechat) = (Arc::clone(&self.store), Arc::clone(&self.wechat));
        let (app, scene) = (app.clone(), scene.to_owned());
        let fetched_topic = store_keys::scene_code_fetched(&scene);
        let fetch = async move {
            let png = wechat
                .unlimited_qr_code(&app, &app.scan_page, &scene)
                .await?;
            store
                .put(&store_keys::scene_code_image(&scene), &png, lifetime)
                .await?;
            Ok::<_, AuthError>(png)
        };
        run_then_release(Arc::clone(&self.store), lock, fetched_topic, fetch)
            .await
            .map_err(|stopped| {
                AuthError::Internal(format!("the mini program code fetch stopped: {stopped}"))
            })?
    }
}
