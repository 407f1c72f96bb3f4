//! The image a phone scans: a mini program code from WeChat (fetched once per scene across every
//! instance, then cached for the scene's life: WeChat's codes cost quota) or a standard QR of the
//! scene's scan URL.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{AppSettings, QrMode};
use crate::store::{Lifetime, insert_or_own, run_then_release};
use crate::wechat::WeChatError;

use super::super::secrets::random_token;
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
        let holder = random_token()?.into_bytes();
        loop {
            let mut fetched = self.store.subscribe(&store_keys::scene_code_fetched(scene));
            if let Some(png) = self.store.get(&store_keys::scene_code_image(scene)).await? {
                return Ok(png);
            }
            let taken = insert_or_own(
                self.store.as_ref(),
                &lock,
                &holder,
                Lifetime::For(fetch_budget),
            );
            if taken.await? {
                let lock = (lock, holder);
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
        lock: (String, Vec<u8>),
    ) -> Result<Vec<u8>, AuthError> {
        let (store, wechat) = (Arc::clone(&self.store), Arc::clone(&self.wechat));
        let (app, scene) = (app.clone(), scene.to_owned());
        let fetched_topic = store_keys::scene_code_fetched(&scene);
        let fetch = async move {
            // Another holder may have cached it and let go of the lock between this request's
            // look at the cache and its taking the lock: WeChat's codes cost quota.
            let image = store_keys::scene_code_image(&scene);
            if let Some(png) = store.get(&image).await? {
                return Ok(png);
            }
            let png = wechat
                .unlimited_qr_code(&app, &app.scan_page, &scene)
                .await?;
            store.put(&image, &png, lifetime).await?;
            Ok::<_, AuthError>(png)
        };
        run_then_release(Arc::clone(&self.store), lock, fetched_topic, fetch)
            .await
            .map_err(|stopped| {
                AuthError::Internal(format!("the mini program code fetch stopped: {stopped}"))
            })?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use meeteasy_protocol::CreateSceneRequest;

    use crate::config::QrMode;
    use crate::domain::test_support::{
        Calls, DrawingWeChat, Fault, FaultyStore, service_with, settings,
    };
    use crate::domain::{ClientAddr, store_keys};
    use crate::store::Store as _;

    /// The fetch lock's insert sent again (its first sending made, its reply lost) answers
    /// "taken": the request reads the lock back, finds it its own, and fetches, rather than wait
    /// for a fetch nobody makes and answer 502.
    #[tokio::test]
    async fn a_fetch_lock_whose_insert_was_resent_is_its_taker_s() {
        let store = FaultyStore::new();
        let wxacode = settings(|s| s.apps[0].qr_mode = QrMode::Wxacode);
        let wechat = std::sync::Arc::new(DrawingWeChat::default());
        let service = service_with(store.clone(), wxacode, wechat.clone()).await;
        let from = ClientAddr("127.0.0.1".into());
        let created = service.create_scene(CreateSceneRequest::default(), &from);
        let scene = created.await.expect("a scene").scene;
        let lock = store_keys::scene_code_fetch_lock(&scene);
        store.fail_next(Calls::Write, &lock, Fault::Resent);

        let drawn = tokio::time::timeout(Duration::from_secs(3), service.scene_qr(&scene)).await;
        let drawn = drawn.expect("answered at once").expect("the code");
        assert_eq!(drawn, format!("png of {scene}").into_bytes());
        assert!(store.all_faults_hit());
        assert_eq!(wechat.0.load(Ordering::Relaxed), 1);
        assert_eq!(store.get(&lock).await.unwrap(), None, "the lock is let go");
    }
}
