//! A console taking back a scene it made (`POST /auth/scenes/{scene}/withdraw`, an extension of
//! protocol v1), by its poll token. A console calling off "Link WeChat" must not leave the scene
//! open: the link is written when the phone that scanned it confirms, whether or not the console
//! still polls. After a withdrawal the phone's scan or confirm finds the scene gone (410); once the
//! phone's confirm has started making the link, the withdrawal is refused (`scene_claimed`).

use super::super::records;
use super::super::secrets::{hashes_equal, is_token_shaped, token_hash};
use super::super::{AuthError, AuthService, store_keys};
use super::check_scene;
use super::record::{SceneRecord, SceneState};

impl AuthService {
    /// Deletes the scene unless a phone already confirmed it, or is making its link (then
    /// `409 scene_claimed`: what the confirm made stands, and the console collects it by
    /// polling). A scene already gone is no error: the console's aim is met.
    pub async fn withdraw_scene(&self, scene: &str, poll_token: &str) -> Result<(), AuthError> {
        check_scene(scene)?;
        if !is_token_shaped(poll_token) {
            return Err(AuthError::InvalidPollToken);
        }
        let (key, poll_token_hash) = (store_keys::scene(scene), token_hash(poll_token));
        loop {
            let Some(bytes) = self.store.get(&key).await? else {
                return Ok(());
            };
            let record: SceneRecord = records::decode(&key, &bytes)?;
            if !hashes_equal(&record.poll_token_hash, &poll_token_hash) {
                return Err(AuthError::InvalidPollToken);
            }
            match record.state {
                SceneState::Confirmed { .. }
                | SceneState::Linking { .. }
                | SceneState::Linked { .. }
                | SceneState::Delivered { .. } => return Err(AuthError::SceneClaimed),
                SceneState::Pending
                | SceneState::Scanned { .. }
                | SceneState::Declined { .. }
                | SceneState::Refused { .. }
                | SceneState::LinkRefused { .. } => {}
            }
            // Only as read: a confirm landing meanwhile is judged again above.
            if self.store.compare_and_delete(&key, &bytes).await? {
                let changed = store_keys::scene_changed(scene);
                if let Err(error) = self.store.notify(&changed).await {
                    tracing::warn!(%error, "a scene was withdrawn, but its waiters were not told");
                }
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use meeteasy_protocol::CreateSceneRequest;

    use crate::domain::test_support::{FaultyStore, organizer, service_on, settings};
    use crate::domain::{AuthError, ClientAddr};

    /// A scene the console withdrew while its scanner was still to confirm: the confirm finds it
    /// gone. One already confirmed is not withdrawn. A wrong poll token withdraws nothing.
    #[tokio::test]
    async fn a_withdrawn_scene_takes_no_confirm_and_a_confirmed_one_is_not_withdrawn() {
        let store = FaultyStore::new();
        let service = service_on(store.clone(), settings(|_| {})).await;
        let from = ClientAddr("127.0.0.1".into());
        let ann = organizer(store.as_ref(), "ann").await;
        let made = service
            .create_scene(CreateSceneRequest::default(), &from)
            .await;
        let made = made.expect("a scene");
        service.scan_as(&made.scene, &ann).await.expect("scanned");

        let stranger = "x".repeat(43);
        let refused = service.withdraw_scene(&made.scene, &stranger).await;
        assert!(
            matches!(refused, Err(AuthError::InvalidPollToken)),
            "{refused:?}"
        );
        service
            .withdraw_scene(&made.scene, &made.poll_token)
            .await
            .expect("withdrawn");
        let confirmed = service.confirm_as(&made.scene, &ann, "ann-phone").await;
        assert!(
            matches!(confirmed, Err(AuthError::SceneExpired)),
            "{confirmed:?}"
        );
        service
            .withdraw_scene(&made.scene, &made.poll_token)
            .await
            .expect("a scene gone is withdrawn already");

        let made = service
            .create_scene(CreateSceneRequest::default(), &from)
            .await;
        let made = made.expect("a scene");
        service
            .confirm_as(&made.scene, &ann, "ann-phone")
            .await
            .expect("confirmed");
        let late = service.withdraw_scene(&made.scene, &made.poll_token).await;
        assert!(matches!(late, Err(AuthError::SceneClaimed)), "{late:?}");
    }
}
