use std::sync::Arc;

use meeteasy_protocol::Claims;

use super::super::service::SessionUser;
use super::super::team::Demotion;
use super::super::test_support::{
    Calls, Fault, FaultyStore, TestService, console_password_login, invite_note, organizer,
    service_on, settings,
};
use super::*;

const NOW: u64 = 1_800_000_000;

fn open() -> InviteRecord {
    InviteRecord {
        id: "i".into(),
        role: TeamRole::Organizer,
        created_by: Creator::Operator,
        created_at: NOW - 10,
        expires_at: NOW + 100,
        state: InviteState::Open,
    }
}

/// An invite keeps its creator's count of admin demotions: one made before a demotion (or
/// saved while it happened) stands no longer, not even once the creator is an admin again.
#[tokio::test]
async fn an_invite_stands_only_while_its_creator_is_the_admin_who_made_it() {
    let store = super::super::test_support::FaultyStore::new();
    let bob = super::super::test_support::organizer(store.as_ref(), "bob").await;
    let admin_again = UserRecord {
        roles: vec!["organizer".into(), "admin".into()],
        admin_demotions: 1,
        ..bob.clone()
    };
    users::save(store.as_ref(), &admin_again).await.unwrap();
    let made_by = |demotions| Creator::User {
        id: bob.id.clone(),
        demotions,
    };
    let before = standing_inviter(store.as_ref(), &made_by(0), false).await;
    assert!(
        matches!(before, Err(AuthError::InviteExpired)),
        "{before:?}"
    );
    let since = standing_inviter(store.as_ref(), &made_by(1), false).await;
    assert_eq!(since.unwrap().id, bob.id);
}

/// Bob and Dan, admins (so neither is the last), Carol, an organizer, with a session of hers
/// to accept with, and a service, all on one faulty store.
struct Team {
    store: Arc<FaultyStore>,
    service: TestService,
    bob: UserRecord,
    dan: String,
    carol: Claims,
    from: ClientAddr,
}

async fn team() -> Team {
    let store = FaultyStore::new();
    let service = service_on(store.clone() as Arc<dyn Store>, settings(|_| {})).await;
    let [bob, dan, carol] = ["bob", "dan", "carol"].map(|name| organizer(store.as_ref(), name));
    let (bob, dan, carol) = (bob.await, dan.await, carol.await);
    for (admin, invite) in [(&bob, "i-bob"), (&dan, "i-dan")] {
        let note = invite_note(invite);
        let promoted = team::promote(store.as_ref(), &admin.id, TeamRole::Admin, &note);
        promoted.await.unwrap();
    }
    let bob = users::get(store.as_ref(), &bob.id).await.unwrap().unwrap();
    let opened = service.open_session(SessionUser::Known(&carol), console_password_login());
    let token = opened.await.unwrap().response.access_token;
    let carol = service.verify(&token).await.unwrap();
    let from = ClientAddr("192.0.2.5".into());
    Team {
        store,
        service,
        bob,
        dan: dan.id,
        carol,
        from,
    }
}

impl Team {
    /// An invite to `role` that Bob made: its record and code.
    async fn bob_s_invite(&self, role: TeamRole) -> (InviteRecord, String) {
        let made_by_bob = Creator::User {
            id: self.bob.id.clone(),
            demotions: 0,
        };
        let (record, code) = new_invite(made_by_bob, role, None).unwrap();
        save(self.store.as_ref(), &record, &code, b"png")
            .await
            .unwrap();
        (record, code)
    }

    async fn carol_accepts(&self, code: &str) -> Result<User, AuthError> {
        self.service
            .accept_invite(code, &self.carol, &self.from)
            .await
    }

    /// Carol's accept of `code` that takes the invite but cannot write her record.
    async fn carol_s_accept_stops_after_its_take(&self, code: &str) {
        let carol = store_keys::user(&self.carol.sub);
        self.store
            .fail_next(Calls::Write, &carol, Fault::FailBefore);
        let stopped = self.carol_accepts(code).await;
        assert!(matches!(stopped, Err(AuthError::Store(_))), "{stopped:?}");
        assert!(self.store.all_faults_hit(), "her record was not written");
        assert!(
            !self.carol_is(TeamRole::Admin).await,
            "the role did not follow"
        );
    }

    async fn carol_is(&self, role: TeamRole) -> bool {
        let carol = users::get(self.store.as_ref(), &self.carol.sub).await;
        carol.unwrap().unwrap().has_team_role(role)
    }

    async fn stored(&self, record: &InviteRecord) -> InviteRecord {
        let key = store_keys::invite(&record.id);
        let stored = records::load(self.store.as_ref(), &key).await;
        stored.unwrap().unwrap()
    }
}

/// An invite accepted by someone whose account is gone since (folded into another by a link, or
/// deleted) still reads as accepted: by a stand-in with their id, not by nobody, which would read
/// as not accepted.
#[tokio::test]
async fn an_invite_accepted_by_an_account_gone_since_still_reads_as_accepted() {
    let team = team().await;
    let (_record, code) = team.bob_s_invite(TeamRole::Organizer).await;
    team.carol_accepts(&code).await.unwrap();
    let carol = store_keys::user(&team.carol.sub);
    team.store.delete(&carol).await.unwrap();

    let listed = list(team.store.as_ref(), false).await.unwrap();
    let accepted = listed.iter().find_map(|invite| invite.accepted_by.as_ref());
    let accepted = accepted.expect("the invite reads as accepted");
    assert_eq!(accepted.id, team.carol.sub);
    assert_eq!(accepted.display_name, "Former member");
}

/// The creator loses the admin role between the accept's first read of them and its take of
/// the invite: the invite is taken away again, gives no role, and its code stays refused.
#[tokio::test]
async fn an_invite_whose_creator_is_demoted_while_it_is_accepted_gives_no_role() {
    let team = team().await;
    let (record, code) = team.bob_s_invite(TeamRole::Admin).await;
    let bob_demoted = {
        let (store, bob) = (team.store.clone(), team.bob.id.clone());
        async move {
            let demoted = team::demote(store.as_ref(), &bob, Demotion::Admin).await;
            demoted.expect("bob is demoted");
        }
    };
    let invite = store_keys::invite(&record.id);
    team.store
        .before_next(Calls::Write, &invite, Box::pin(bob_demoted));

    let refused = team.carol_accepts(&code).await;
    assert!(
        team.store.all_faults_hit(),
        "bob was demoted during the accept"
    );
    let expired = matches!(refused, Err(AuthError::InviteExpired));
    assert!(expired, "{refused:?}");
    assert!(
        !team.carol_is(TeamRole::Admin).await,
        "the invite gave no role"
    );
    let stored = team.stored(&record).await;
    let revoked = matches!(stored.state, InviteState::Revoked { .. });
    assert!(revoked, "{stored:?}");
    let qr = team.store.get(&store_keys::invite_qr(&record.id)).await;
    assert_eq!(qr.unwrap(), None, "the withdrawn invite's QR is let go");
    let again = team.carol_accepts(&code).await;
    assert!(matches!(again, Err(AuthError::InviteExpired)), "{again:?}");
}

/// Taken once; its taker may accept it again for a while, and no one else ever. An invite
/// taken before takers could accept again stays used.
#[test]
fn an_open_invite_is_taken_once_and_accepted_again_by_its_taker_for_a_while() {
    let Ok(Acceptance::Takes { taken, retry_until }) = accepted(&open(), "u1", NOW) else {
        panic!("the open invite is taken");
    };
    assert_eq!(retry_until, NOW + RETRY_FOR);
    let by_u1 = InviteState::Accepted {
        by: "u1".into(),
        at: NOW,
        retry_until: Some(retry_until),
    };
    assert_eq!(taken.state, by_u1);
    let again = accepted(&taken, "u1", retry_until - 1);
    assert_eq!(again.unwrap(), Acceptance::Again { retry_until });
    for (user, at) in [("u2", NOW), ("u1", retry_until)] {
        let refused = accepted(&taken, user, at);
        let used = matches!(refused, Err(AuthError::InviteUsed));
        assert!(used, "{user} at {at}: {refused:?}");
    }
    let mut stored_before = serde_json::to_value(&taken).unwrap();
    let state = stored_before["state"].as_object_mut().unwrap();
    assert!(state.remove("retry_until").is_some());
    let taken_before: InviteRecord = serde_json::from_value(stored_before).unwrap();
    let refused = accepted(&taken_before, "u1", NOW);
    assert!(matches!(refused, Err(AuthError::InviteUsed)), "{refused:?}");
}

/// Carol's record cannot be written once she took the invite: the invite stays hers and her
/// accept again gives the role; once it has, the invite is used. After she joined by another
/// invite too and then left the team, neither code gives anything.
#[tokio::test]
async fn an_accept_stopped_before_its_role_is_finished_by_the_same_accept_again() {
    let team = team().await;
    let (record, code) = team.bob_s_invite(TeamRole::Admin).await;
    team.carol_s_accept_stops_after_its_take(&code).await;

    let again = team.carol_accepts(&code).await;
    let roles = again.expect("her accept again gives the role").roles;
    assert!(roles.iter().any(|role| role == "admin"), "{roles:?}");
    let once_more = team.carol_accepts(&code).await;
    let used = matches!(once_more, Err(AuthError::InviteUsed));
    assert!(
        used,
        "single use: one accept is answered 200: {once_more:?}"
    );
    assert!(team.carol_is(TeamRole::Admin).await);
    let qr = team.store.get(&store_keys::invite_qr(&record.id)).await;
    assert_eq!(qr.unwrap(), None, "the used invite's QR is let go");

    let (_, second_code) = team.bob_s_invite(TeamRole::Organizer).await;
    let joined_again = team.carol_accepts(&second_code).await;
    joined_again.expect("carol accepts a second invite");
    let left = team::demote(team.store.as_ref(), &team.carol.sub, Demotion::Team).await;
    left.expect("carol is taken off the team");
    for code in [&code, &second_code] {
        let after_leaving = team.carol_accepts(code).await;
        let used = matches!(after_leaving, Err(AuthError::InviteUsed));
        assert!(used, "{after_leaving:?}");
    }
    assert!(
        !team.carol_is(TeamRole::Organizer).await,
        "no invite gives it back"
    );
}

/// Carol's accept gave her the role, but its answer was lost; Bob, who made the invite, is
/// demoted before her Try again. She is told the invite is used (she holds its role), not
/// that it expired, and the invite is not withdrawn under her role.
#[tokio::test]
async fn an_accept_again_after_the_role_was_given_is_used_whatever_became_of_the_creator() {
    let team = team().await;
    let (record, code) = team.bob_s_invite(TeamRole::Admin).await;
    team.carol_accepts(&code).await.expect("carol joins");
    let demoted = team::demote(team.store.as_ref(), &team.bob.id, Demotion::Admin).await;
    demoted.expect("bob is demoted");

    let again = team.carol_accepts(&code).await;
    assert!(matches!(again, Err(AuthError::InviteUsed)), "{again:?}");
    let stored = team.stored(&record).await;
    let accepted = matches!(stored.state, InviteState::Accepted { .. });
    assert!(accepted, "not withdrawn: {stored:?}");
    assert!(team.carol_is(TeamRole::Admin).await);
}

/// Carol's accept gave her the role but could not list her in the team index: her Try again is
/// `invite_used`, and lists her, so she counts as the admin she is (Bob and Dan may both step
/// down).
#[tokio::test]
async fn an_accept_again_lists_a_member_the_first_accept_could_not() {
    let team = team().await;
    let (_, code) = team.bob_s_invite(TeamRole::Admin).await;
    team.store
        .fail_next(Calls::Write, store_keys::TEAM, Fault::FailBefore);
    let unlisted = team.carol_accepts(&code).await;
    assert!(matches!(unlisted, Err(AuthError::Store(_))), "{unlisted:?}");
    assert!(team.store.all_faults_hit() && team.carol_is(TeamRole::Admin).await);

    let again = team.carol_accepts(&code).await;
    assert!(matches!(again, Err(AuthError::InviteUsed)), "{again:?}");
    for admin in [&team.bob.id, &team.dan] {
        let stepped_down = team::demote(team.store.as_ref(), admin, Demotion::Admin).await;
        stepped_down.expect("carol is listed as an admin too");
    }
}

/// An accept again after the invite was revoked, or its creator demoted, gives nothing.
#[tokio::test]
async fn an_accept_stopped_before_its_role_gives_nothing_once_revoked_or_its_creator_demoted() {
    let team = team().await;
    let (revoked, revoked_code) = team.bob_s_invite(TeamRole::Admin).await;
    team.carol_s_accept_stops_after_its_take(&revoked_code)
        .await;
    let operator = TeamActor::Operator;
    revoke(team.store.as_ref(), &revoked.id, &operator)
        .await
        .unwrap();
    let refused = team.carol_accepts(&revoked_code).await;
    assert!(
        matches!(refused, Err(AuthError::InviteExpired)),
        "{refused:?}"
    );

    let (withdrawn, withdrawn_code) = team.bob_s_invite(TeamRole::Admin).await;
    team.carol_s_accept_stops_after_its_take(&withdrawn_code)
        .await;
    let demoted = team::demote(team.store.as_ref(), &team.bob.id, Demotion::Admin).await;
    demoted.expect("bob is demoted");
    let refused = team.carol_accepts(&withdrawn_code).await;
    assert!(
        matches!(refused, Err(AuthError::InviteExpired)),
        "{refused:?}"
    );
    // Withdrawn: not listed as accepted by Carol, who holds no role from it.
    let state = team.stored(&withdrawn).await.state;
    assert!(matches!(state, InviteState::Revoked { .. }), "{state:?}");
    assert!(
        !team.carol_is(TeamRole::Admin).await,
        "neither invite gave the role"
    );
}

#[test]
fn expired_and_revoked_invites_answer_expired() {
    assert!(matches!(
        accepted(&open(), "u1", NOW + 100),
        Err(AuthError::InviteExpired)
    ));
    let revoked = InviteRecord {
        state: InviteState::Revoked { at: NOW },
        ..open()
    };
    assert!(matches!(
        accepted(&revoked, "u1", NOW),
        Err(AuthError::InviteExpired)
    ));
}

#[test]
fn the_list_shows_open_and_recently_accepted_invites() {
    assert!(open().listed(NOW));
    assert!(!open().listed(NOW + 100));
    let Ok(Acceptance::Takes { taken, .. }) = accepted(&open(), "u1", NOW) else {
        panic!("the open invite is taken");
    };
    assert!(taken.listed(NOW + KEPT_FOR - 1));
    assert!(!taken.listed(NOW + KEPT_FOR));
    let revoked = InviteRecord {
        state: InviteState::Revoked { at: NOW },
        ..open()
    };
    assert!(!revoked.listed(NOW));
}

#[test]
fn lifetimes_are_bounded_and_codes_fit_a_scene() {
    let (record, code) = new_invite(Creator::Operator, TeamRole::Admin, None).unwrap();
    assert!(is_scene_shaped(&code));
    assert_eq!(
        record.expires_at - record.created_at,
        DEFAULT_INVITE_LIFETIME.as_secs()
    );
    assert!(new_invite(Creator::Operator, TeamRole::Admin, Some(0)).is_err());
    assert!(new_invite(Creator::Operator, TeamRole::Admin, Some(604_801)).is_err());
    assert!(new_invite(Creator::Operator, TeamRole::Admin, Some(604_800)).is_ok());
}

/// A link is folding Carol's account into another while she accepts: the accept takes nothing
/// (the fold would delete the role with the account; the invite stays open for her Try again)
/// and says to try again; once the fold is done, the same accept gives the role.
#[tokio::test]
async fn an_accept_beside_a_fold_of_the_account_gives_nothing_and_says_to_try_again() {
    let team = team().await;
    let (record, code) = team.bob_s_invite(TeamRole::Admin).await;
    let lock = store_keys::account_change(&team.carol.sub);
    let folding = Lifetime::For(std::time::Duration::from_secs(30));
    let held = team.store.insert_new(&lock, b"fold:u-elsewhere", folding);
    assert!(held.await.unwrap());

    let refused = team.carol_accepts(&code).await;
    assert!(
        matches!(refused, Err(AuthError::Busy { .. })),
        "{refused:?}"
    );
    assert!(!team.carol_is(TeamRole::Admin).await, "no role given");
    let state = team.stored(&record).await.state;
    assert!(matches!(state, InviteState::Open), "still open: {state:?}");

    team.store.delete(&lock).await.unwrap();
    let accepted = team.carol_accepts(&code).await;
    accepted.expect("the accept tried again gives the role");
    assert!(team.carol_is(TeamRole::Admin).await);
    assert_eq!(team.store.get(&lock).await.unwrap(), None, "let go");
}
