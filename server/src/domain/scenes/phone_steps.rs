//! A phone's steps on a scene: the pure [`transitions`](super::transitions) decide, this writes the
//! change with compare-and-swap (retrying on concurrent steps) and wakes the scene's listeners on
//! every instance.

use meeteasy_protocol::{Claims, ScanResponse, ScannerProfile};

use super::super::records::{self, Transition};
use super::super::users::UserRecord;
use super::super::{AuthError, AuthService, store_keys, unix_now};
use super::check_scene;
use super::record::{SceneRecord, SceneState};
use super::transitions::{self, Actor, PhoneStep, SceneChange};

impl AuthService {
    pub async fn scan_scene(
        &self,
        scene: &str,
        claims: &Claims,
    ) -> Result<ScanResponse, AuthError> {
        check_scene(scene)?;
        let user = self.user(&claims.sub).await?;
        self.scan_as(scene, &user).await
    }

    pub(in crate::domain) async fn scan_as(
        &self,
        scene: &str,
        user: &UserRecord,
    ) -> Result<ScanResponse, AuthError> {
        let step = PhoneStep::Scan {
            profile: ScannerProfile {
                display_name: user.display_name.clone(),
                avatar_url: user.avatar_url.clone(),
            },
            until: unix_now() + self.settings.lifetimes.scanned_scene.as_secs(),
        };
        let record = self.step_scene(scene, step, actor(user)).await?;
        Ok(ScanResponse {
            console: record.console,
            app: record.app,
            purpose: meeteasy_protocol::ScenePurpose::Login,
            account: None,
        })
    }

    pub async fn confirm_scene(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        check_scene(scene)?;
        let user = self.user(&claims.sub).await?;
        self.confirm_as(scene, &user).await
    }

    /// Confirms (scanning first if needed); a user without the organizer role is refused, and the
    /// console is told so.
    pub(in crate::domain) async fn confirm_as(
        &self,
        scene: &str,
        user: &UserRecord,
    ) -> Result<(), AuthError> {
        let record = self
            .step_scene(scene, PhoneStep::Confirm, actor(user))
            .await?;
        match record.state {
            SceneState::Refused { .. } => Err(AuthError::NotOrganizer),
            SceneState::Pending
            | SceneState::Scanned { .. }
            | SceneState::Confirmed { .. }
            | SceneState::Declined { .. }
            | SceneState::Delivered { .. } => Ok(()),
        }
    }

    pub async fn cancel_scene(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        check_scene(scene)?;
        // Declining needs no role, so the token's subject is enough: no user read.
        let decliner = Actor {
            user_id: &claims.sub,
            organizer: false,
        };
        self.step_scene(scene, PhoneStep::Decline, decliner).await?;
        Ok(())
    }

    /// Applies a phone's step to a live scene until it wins against concurrent steps, tells the
    /// scene's listeners (on every instance) when the scene moved, and returns the record as the
    /// step left it.
    async fn step_scene(
        &self,
        scene: &str,
        step: PhoneStep,
        actor: Actor<'_>,
    ) -> Result<SceneRecord, AuthError> {
        let (record, moved) = records::update(
            self.store.as_ref(),
            &store_keys::scene(scene),
            |current: Option<&SceneRecord>| {
                let record = current.ok_or(AuthError::SceneExpired)?;
                Ok(
                    match transitions::apply(record, step.clone(), actor, unix_now())? {
                        SceneChange::Move { state, expires_at } => {
                            let next = record.moved_to(state, expires_at);
                            let lifetime = next.lifetime();
                            Transition::Write(next.clone(), lifetime, (next, true))
                        }
                        SceneChange::Stay => Transition::Keep((record.clone(), false)),
                    },
                )
            },
        )
        .await?;
        if moved {
            self.store.notify(&store_keys::scene_changed(scene)).await?;
        }
        Ok(record)
    }
}

fn actor(user: &UserRecord) -> Actor<'_> {
    Actor {
        user_id: &user.id,
        organizer: user.is_organizer(),
    }
}
