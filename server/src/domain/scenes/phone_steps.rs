//! A phone's steps on a scene: the pure [`transitions`](super::transitions) decide, this writes the
//! change with compare-and-swap (retrying on concurrent steps) and wakes the scene's listeners on
//! every instance.

use meeteasy_protocol::{AccountInfo, Claims, ScanResponse, ScannerProfile, ScenePurpose};

use super::super::records::{self, Transition};
use super::super::users::UserRecord;
use super::super::{AuthError, AuthService, links, sessions, store_keys, unix_now, users};
use super::check_scene;
use super::record::{LinkTarget, SceneRecord, SceneState};
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
        self.refuse_orphan_link(&self.live_scene(scene).await?)
            .await?;
        let record = self.scanned_by(scene, user).await?;
        Ok(ScanResponse {
            console: record.console,
            app: record.app,
            purpose: record.purpose,
            account: record.link_to.map(|target| AccountInfo {
                display_name: target.display_name,
            }),
        })
    }

    /// Refuses a link scene made by a console session that has ended since (logged out, ended from
    /// another device, or run out): the link it began ends with it, before the phone writes
    /// anything to the scene.
    async fn refuse_orphan_link(&self, scene: &SceneRecord) -> Result<(), AuthError> {
        let Some(LinkTarget {
            user_id,
            session: Some(session),
            ..
        }) = &scene.link_to
        else {
            return Ok(());
        };
        let store = self.store.as_ref();
        let live = sessions::get(store, user_id, session).await?.is_some()
            && !sessions::is_revoked(store, user_id, session).await?;
        if live {
            Ok(())
        } else {
            Err(AuthError::SceneExpired)
        }
    }

    /// The scene as `user`'s scan left it.
    async fn scanned_by(&self, scene: &str, user: &UserRecord) -> Result<SceneRecord, AuthError> {
        let step = PhoneStep::Scan {
            profile: ScannerProfile {
                display_name: user.display_name.clone(),
                avatar_url: user.avatar_url.clone(),
            },
            until: unix_now() + self.settings.lifetimes.scanned_scene.as_secs(),
        };
        self.step_scene(scene, step, actor(user, None, None)).await
    }

    pub async fn confirm_scene(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        check_scene(scene)?;
        let user = self.user(&claims.sub).await?;
        self.confirm_as(scene, &user, &claims.sid).await
    }

    /// Confirms (scanning first if needed); a user without the organizer role is refused, and the
    /// console is told so. On a link scene, the confirming WeChat joins the console user's account
    /// (see [`links`]); an account that holds more is refused with `identity_in_use`, and so is the
    /// console. `session` is the phone's, whose token confirms: a login scene's console is logged
    /// in only while it stands.
    pub(in crate::domain) async fn confirm_as(
        &self,
        scene: &str,
        user: &UserRecord,
        session: &str,
    ) -> Result<(), AuthError> {
        // Delivered, it is still read: this may be the confirm that delivered it, sent again.
        let mut current = self.unexpired_scene(scene).await?;
        self.refuse_orphan_link(&current).await?;
        if current.purpose == ScenePurpose::Link && current.state == SceneState::Pending {
            // The link is made before the scene's own step (below): the scene is first taken as
            // this phone's, so no other phone's scan can claim it between the two and leave a link
            // made for a confirm that then failed.
            current = self.scanned_by(scene, user).await?;
        }
        let target = match current.purpose {
            ScenePurpose::Login => None,
            ScenePurpose::Link => current.link_to.clone(),
        };
        let target_id = target.as_ref().map(|t| t.user_id.as_str());
        let folded_owner = self.folded_owner(&current, user).await?;
        let actor = Actor {
            user_id: folded_owner.as_deref().unwrap_or(&user.id),
            ..actor(user, target_id, Some(session))
        };
        if let Some(target) = &target {
            // The link is written before the scene says so, so a console told `linked` always
            // finds it made; the step is tried on what was read first, so a scene this phone may
            // not confirm links nothing.
            let change = transitions::apply(&current, PhoneStep::Confirm, actor, unix_now())?;
            if let SceneChange::Move {
                state: SceneState::Linked { .. },
                ..
            } = change
            {
                // Claimed first, so the console can no longer withdraw a scene whose link is
                // then made; again just before the link, the console session may have ended
                // since the scan.
                let claimed = self
                    .step_scene(scene, PhoneStep::ClaimForLink, actor)
                    .await?;
                self.refuse_orphan_link(&claimed).await?;
                let folded = links::fold_into(&self.store, user, &target.user_id).await;
                if let Err(AuthError::IdentityInUse(_)) = folded {
                    // The account changed since it was read (an invite gave it a role): the
                    // scene says so to its console, as it would had the confirm read it so.
                    let refused = Actor {
                        linkable: false,
                        ..actor
                    };
                    self.step_scene(scene, PhoneStep::Confirm, refused).await?;
                }
                folded?;
            }
        }
        let record = self.step_scene(scene, PhoneStep::Confirm, actor).await?;
        match record.state {
            SceneState::Refused { .. } => Err(AuthError::NotOrganizer),
            SceneState::LinkRefused { .. } => Err(identity_in_use()),
            SceneState::Pending
            | SceneState::Scanned { .. }
            | SceneState::Linking { .. }
            | SceneState::Confirmed { .. }
            | SceneState::Declined { .. }
            | SceneState::Linked { .. }
            | SceneState::Delivered { .. } => Ok(()),
        }
    }

    /// The account that holds the link scene `scene`, when `user` may continue its confirm: a
    /// confirm sent again after its fold ended the phone's session (its answer lost, or its step
    /// of the scene failed after the link was made). The phone, logged in anew, is then the link's
    /// target, and the scene still the folded account's, which is gone.
    async fn folded_owner(
        &self,
        scene: &SceneRecord,
        user: &UserRecord,
    ) -> Result<Option<String>, AuthError> {
        let (Some(target), Some(owner)) = (&scene.link_to, scene.owner()) else {
            return Ok(None);
        };
        if target.user_id != user.id || owner == user.id {
            return Ok(None);
        }
        let gone = users::get(self.store.as_ref(), owner).await?.is_none();
        Ok(gone.then(|| owner.to_owned()))
    }

    pub async fn cancel_scene(&self, scene: &str, claims: &Claims) -> Result<(), AuthError> {
        check_scene(scene)?;
        // Declining needs no role, so the token's subject is enough: no user read.
        let decliner = Actor {
            user_id: &claims.sub,
            session: None,
            organizer: false,
            linkable: false,
        };
        self.step_scene(scene, PhoneStep::Decline, decliner).await?;
        Ok(())
    }

    /// Applies a phone's step to a live scene until it wins against concurrent steps, tells the
    /// scene's listeners (on every instance), and returns the record as the step left it.
    async fn step_scene(
        &self,
        scene: &str,
        step: PhoneStep,
        actor: Actor<'_>,
    ) -> Result<SceneRecord, AuthError> {
        let record = records::update(
            self.store.as_ref(),
            &store_keys::scene(scene),
            |current: Option<&SceneRecord>| {
                let record = current.ok_or(AuthError::SceneExpired)?;
                Ok(
                    match transitions::apply(record, step.clone(), actor, unix_now())? {
                        SceneChange::Move { state, expires_at } => {
                            let next = record.moved_to(state, expires_at);
                            let lifetime = next.lifetime();
                            Transition::Write(next.clone(), lifetime, next)
                        }
                        SceneChange::Stay => Transition::Keep(record.clone()),
                    },
                )
            },
        )
        .await?;
        // The step is made: the phone is told so even when the notice fails, and the scene's
        // waiting consoles then see it when their wait ends. A step that changed nothing notifies
        // too: it may be a write sent again whose first sending was made (a Redis Cluster client
        // resends a command whose reply was lost, and the swap sent again then finds the record
        // changed, by itself), whose notice nobody sent; a needless one costs the scene's console
        // one read.
        if let Err(error) = self.store.notify(&store_keys::scene_changed(scene)).await {
            tracing::warn!(%error, "a scene's step is made, but its waiting consoles could not be told at once");
        }
        Ok(record)
    }
}

/// `user` as an actor, from the phone session `session` when it confirms; `link_target` is the
/// account a link scene joins.
fn actor<'a>(
    user: &'a UserRecord,
    link_target: Option<&str>,
    session: Option<&'a str>,
) -> Actor<'a> {
    Actor {
        user_id: &user.id,
        session,
        organizer: user.is_organizer(),
        linkable: link_target.is_some_and(|target| links::may_join(user, target)),
    }
}

pub(super) fn identity_in_use() -> AuthError {
    AuthError::IdentityInUse(
        "this WeChat account already holds another account with more than this login",
    )
}

#[cfg(test)]
mod tests {
    use meeteasy_protocol::{CreateSceneRequest, CreateSceneResponse, SceneRequest};

    use std::time::Duration;

    use super::*;
    use crate::domain::service::SessionUser;
    use crate::domain::test_support::{Calls, Fault};
    use crate::store::{Lifetime, Store as _};
    use std::sync::Arc;

    use crate::domain::test_support::{
        FaultyStore, TestService, bare_user, console_password_login, organizer, service_on,
        settings,
    };
    use crate::domain::{ClientAddr, users};

    /// Ann's console (a password login) and the link scene it made, and a phone whose mini
    /// program login made an account holding nothing but its WeChat.
    async fn ann_s_link_scene_and_a_phone() -> (
        Arc<FaultyStore>,
        TestService,
        UserRecord,
        String,
        UserRecord,
    ) {
        let (store, service, owner, made, phone) = ann_s_link_scene_made_and_a_phone().await;
        (store, service, owner, made.scene, phone)
    }

    /// As [`ann_s_link_scene_and_a_phone`], with the poll token the console holds.
    async fn ann_s_link_scene_made_and_a_phone() -> (
        Arc<FaultyStore>,
        TestService,
        UserRecord,
        CreateSceneResponse,
        UserRecord,
    ) {
        let store = FaultyStore::new();
        let service = service_on(store.clone(), settings(|_| {})).await;
        let owner = organizer(store.as_ref(), "ann").await;
        let opened = service.open_session(SessionUser::Known(&owner), console_password_login());
        let token = opened.await.expect("a session").response.access_token;
        let request = SceneRequest::new(CreateSceneRequest::default(), ScenePurpose::Link);
        let from = ClientAddr("127.0.0.1".into());
        let created = service.create_scene_for(request, &from, Some(&token));
        let made = created.await.expect("a link scene");
        let phone = UserRecord {
            wechat_identities: vec![store_keys::wechat_openid("app", "o-phone")],
            ..bare_user("u-phone")
        };
        users::save(store.as_ref(), &phone).await.expect("saved");
        (store, service, owner, made, phone)
    }

    /// A console token from before sessions were kept has no session record, so a link it
    /// started could never complete (the link is refused once its session is gone): it is
    /// refused at once as a token to log in again with, not left to fail at the phone's scan.
    #[tokio::test]
    async fn a_console_token_with_no_session_record_cannot_start_a_link() {
        let store = FaultyStore::new();
        let service = service_on(store.clone(), settings(|_| {})).await;
        let owner = organizer(store.as_ref(), "ann").await;
        let opened = service.open_session(SessionUser::Known(&owner), console_password_login());
        let opened = opened.await.expect("a session");
        let record = store_keys::session(&owner.id, &opened.session.sid);
        store.delete(&record).await.expect("the record forgotten");
        let request = SceneRequest::new(CreateSceneRequest::default(), ScenePurpose::Link);
        let from = ClientAddr("127.0.0.1".into());
        let token = opened.response.access_token;
        let created = service.create_scene_for(request, &from, Some(&token)).await;
        assert!(
            matches!(created, Err(AuthError::InvalidToken(_))),
            "{created:?}"
        );
    }

    /// Ann calls "Link WeChat" off just as the phone that scanned confirms: the withdrawal either
    /// comes first (the confirm finds the scene gone) or is refused, never deletes a scene whose
    /// link is then made for a confirm that fails. Here it falls just before the fold's first
    /// write, once the confirm has claimed the scene.
    #[tokio::test]
    async fn a_link_withdrawn_while_its_confirm_folds_is_refused_and_the_link_stands() {
        let (store, service, owner, made, phone) = ann_s_link_scene_made_and_a_phone().await;
        service.scan_as(&made.scene, &phone).await.expect("scanned");
        let service = Arc::new(service);
        let withdrawn = Arc::new(std::sync::Mutex::new(None));
        let withdrawal = {
            let (service, withdrawn) = (service.clone(), withdrawn.clone());
            let (scene, poll_token) = (made.scene.clone(), made.poll_token.clone());
            async move {
                let answer = service.withdraw_scene(&scene, &poll_token).await;
                *withdrawn.lock().expect("not poisoned") = Some(answer);
            }
        };
        let fold_lock = store_keys::account_change("u-phone");
        store.before_next(Calls::Write, &fold_lock, Box::pin(withdrawal));

        let confirmed = service
            .confirm_as(&made.scene, &phone, "phone-session")
            .await;
        confirmed.expect("linked");
        let withdrawn = withdrawn.lock().expect("not poisoned").take();
        assert!(
            matches!(withdrawn, Some(Err(AuthError::SceneClaimed))),
            "{withdrawn:?}"
        );
        let record = service.live_scene(&made.scene).await.expect("the scene");
        assert!(
            matches!(record.state, SceneState::Linked { .. }),
            "{record:?}"
        );
        let identity = &phone.wechat_identities[0];
        let leads_to = store.get(identity).await.expect("read");
        assert_eq!(leads_to.as_deref(), Some(owner.id.as_bytes()));
    }

    #[tokio::test]
    async fn a_link_confirmed_unscanned_takes_the_scene_before_the_link_is_made() {
        let (store, service, _owner, scene, phone) = ann_s_link_scene_and_a_phone().await;
        let identity = phone.wechat_identities[0].clone();

        let before = store.written_keys().len();
        let confirmed = service.confirm_as(&scene, &phone, "phone-session");
        confirmed.await.expect("linked");
        // The scene became this phone's (its scan) before the identity was written: no other
        // phone could claim it in between and leave the link made for a failed confirm.
        let written = store.written_keys().split_off(before);
        let position = |key: &str| written.iter().position(|written| written == key);
        let scanned = position(&store_keys::scene(&scene)).expect("the scene was written");
        let linked = position(&identity).expect("the identity was written");
        assert!(scanned < linked, "{written:?}");
        let record = service.live_scene(&scene).await.expect("the scene");
        assert!(matches!(record.state, SceneState::Linked { ref user_id } if user_id == "u-phone"));
    }

    /// The same confirm sent twice at once (its first answer slow to come): the second meets the
    /// first's fold under way and is told to try again, rather than taking the change lock as its
    /// own and, done first, letting go of it while the first still folds.
    #[tokio::test]
    async fn a_link_confirmed_twice_at_once_folds_once_and_the_second_waits_its_turn() {
        let (store, service, owner, scene, phone) = ann_s_link_scene_and_a_phone().await;
        service.scan_as(&scene, &phone).await.expect("scanned");
        let service = Arc::new(service);
        let beside = Arc::new(std::sync::Mutex::new(None));
        let second = {
            let (service, beside) = (service.clone(), beside.clone());
            let (scene, phone) = (scene.clone(), phone.clone());
            async move {
                let answer = service.confirm_as(&scene, &phone, "phone-session").await;
                *beside.lock().expect("not poisoned") = Some(answer);
            }
        };
        // Once the first holds the lock: its fold's first write is the identities' new account.
        let target_record = store_keys::user(&owner.id);
        store.before_next(Calls::Write, &target_record, Box::pin(second));

        let first = service.confirm_as(&scene, &phone, "phone-session").await;
        first.expect("linked");
        let second = beside.lock().expect("not poisoned").take();
        assert!(
            matches!(second, Some(Err(AuthError::Busy { .. }))),
            "{second:?}"
        );
        let again = service.confirm_as(&scene, &phone, "phone-session").await;
        again.expect("its Try again is told the link is made");
    }

    /// An invite gave the phone's account a role after its confirm read it: the fold, deciding on
    /// the account as it is under the change lock, refuses, and the account keeps its role and its
    /// WeChat.
    #[tokio::test]
    async fn a_fold_refuses_an_account_that_gained_a_role_since_it_was_read() {
        let (store, service, owner, scene, phone) = ann_s_link_scene_and_a_phone().await;
        let promoted = UserRecord {
            roles: vec!["organizer".into()],
            ..phone.clone()
        };
        users::save(store.as_ref(), &promoted).await.expect("saved");
        let refused = service.confirm_as(&scene, &phone, "phone-session").await;
        assert!(
            matches!(refused, Err(AuthError::IdentityInUse(_))),
            "{refused:?}"
        );
        let kept = users::get(store.as_ref(), "u-phone").await.unwrap();
        assert_eq!(kept, Some(promoted), "the account stands as it was");
        let identity = &phone.wechat_identities[0];
        let leads_to = store.get(identity).await.unwrap();
        assert_ne!(leads_to.as_deref(), Some(owner.id.as_bytes()), "not moved");
        let ann = users::get(store.as_ref(), &owner.id)
            .await
            .unwrap()
            .unwrap();
        assert!(ann.wechat_identities.is_empty(), "{ann:?}");
        let record = service.live_scene(&scene).await.expect("the scene");
        assert!(
            matches!(record.state, SceneState::LinkRefused { .. }),
            "the console is told too: {record:?}"
        );
    }

    /// A fold that outlived its lock (a store that hung) meets an account changed since it read
    /// it: a role given meanwhile stays with the account, not deleted with it.
    #[tokio::test]
    async fn a_fold_keeps_an_account_changed_after_its_read_under_the_lock() {
        let (store, service, _owner, scene, phone) = ann_s_link_scene_and_a_phone().await;
        let promoted = UserRecord {
            roles: vec!["organizer".into()],
            ..phone.clone()
        };
        let given = {
            let (store, promoted) = (store.clone(), promoted.clone());
            async move { users::save(store.as_ref(), &promoted).await.expect("saved") }
        };
        let note = store_keys::last_login("u-phone");
        store.before_next(Calls::Write, &note, Box::pin(given));
        let linked = service.confirm_as(&scene, &phone, "phone-session").await;
        linked.expect("the link is made");
        let kept = users::get(store.as_ref(), "u-phone").await.unwrap();
        assert_eq!(kept, Some(promoted), "the role given meanwhile stands");
    }

    /// Another change of the phone's account in progress (an invite's accept, or a link to
    /// another account): the fold waits for none of it, takes nothing, and says to try again.
    #[tokio::test]
    async fn a_fold_meeting_another_change_of_the_account_takes_nothing() {
        let (store, service, _owner, scene, phone) = ann_s_link_scene_and_a_phone().await;
        let lock = store_keys::account_change("u-phone");
        let held = store.insert_new(&lock, b"invite:a1", Lifetime::For(Duration::from_secs(30)));
        assert!(held.await.expect("held"));
        let refused = service.confirm_as(&scene, &phone, "phone-session").await;
        assert!(
            matches!(refused, Err(AuthError::Busy { .. })),
            "{refused:?}"
        );
        let kept = users::get(store.as_ref(), "u-phone").await.unwrap();
        assert_eq!(kept, Some(phone.clone()), "not folded");

        store.delete(&lock).await.expect("released");
        let linked = service.confirm_as(&scene, &phone, "phone-session").await;
        linked.expect("linked once the other change is done");
        assert_eq!(store.get(&lock).await.unwrap(), None, "the fold let go");
    }

    /// The link was made (the phone's account folded into Ann's, its session ended), then the
    /// scene's step failed: the phone's Try again, logged in anew as Ann's account, continues
    /// that confirm, and the scene says `linked`, rather than "someone else scanned".
    #[tokio::test]
    async fn a_link_confirm_sent_again_after_its_fold_is_made() {
        let (store, service, owner, scene, phone) = ann_s_link_scene_and_a_phone().await;
        service.scan_as(&scene, &phone).await.expect("scanned");
        // The scene's step after the link fails (not its claim before it).
        let failing_step = {
            let (store, key) = (store.clone(), store_keys::scene(&scene));
            async move { store.fail_next(Calls::Write, &key, Fault::FailBefore) }
        };
        let identity = phone.wechat_identities[0].clone();
        store.before_next(Calls::Write, &identity, Box::pin(failing_step));
        let failed = service.confirm_as(&scene, &phone, "phone-session").await;
        assert!(failed.is_err(), "{failed:?}");
        assert!(store.all_faults_hit());
        assert!(
            users::get(store.as_ref(), "u-phone")
                .await
                .unwrap()
                .is_none(),
            "folded"
        );

        let owner = users::get(store.as_ref(), &owner.id)
            .await
            .unwrap()
            .unwrap();
        let again = service.confirm_as(&scene, &owner, "phone-session-2").await;
        again.expect("the confirm sent again is made");
        let record = service.live_scene(&scene).await.expect("the scene");
        assert!(
            matches!(record.state, SceneState::Linked { .. }),
            "{record:?}"
        );
        // And once more, on the linked scene.
        let once_more = service.confirm_as(&scene, &owner, "phone-session-2").await;
        once_more.expect("still made");
    }
}
