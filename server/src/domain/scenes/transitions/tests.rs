//! Every state against every step, by the scene's owner and by someone else.

use meeteasy_protocol::ScenePurpose;

use super::{ANSWER_COLLECTABLE, Actor, PhoneStep, SceneChange, apply};
use crate::domain::AuthError;
use crate::domain::scenes::record::{LinkTarget, SceneRecord, SceneState};
use crate::domain::scenes::test_records::{EXPIRES_AT, NOW, delivered_claims, profile, scene};

const SCANNED_UNTIL: u64 = NOW + 300;
const ME: &str = "u-me";
const OTHER: &str = "u-other";

fn scanned(by: &str) -> SceneState {
    SceneState::Scanned {
        user_id: by.into(),
        profile: profile(by),
    }
}

/// The phone session the actors below take their steps from.
const MY_SESSION: &str = "my-phone-session";

fn confirmed(by: &str) -> SceneState {
    SceneState::Confirmed {
        user_id: by.into(),
        by_session: Some(MY_SESSION.into()),
    }
}

fn declined(by: &str) -> SceneState {
    SceneState::Declined { user_id: by.into() }
}

fn refused(by: &str) -> SceneState {
    SceneState::Refused { user_id: by.into() }
}

fn delivered(to: &str) -> SceneState {
    SceneState::Delivered {
        claims: delivered_claims(to),
        by_session: Some(MY_SESSION.into()),
    }
}

fn scan() -> PhoneStep {
    PhoneStep::Scan {
        profile: profile(ME),
        until: SCANNED_UNTIL,
    }
}

const ORGANIZER: Actor<'static> = Actor {
    user_id: ME,
    session: Some(MY_SESSION),
    organizer: true,
    linkable: false,
};
const GUEST: Actor<'static> = Actor {
    user_id: ME,
    session: Some(MY_SESSION),
    organizer: false,
    linkable: false,
};
/// A phone whose account may join the console user's (empty, or already theirs).
const JOINER: Actor<'static> = Actor {
    user_id: ME,
    session: Some(MY_SESSION),
    organizer: false,
    linkable: true,
};

/// The expected result, written so a table row reads as one sentence.
#[derive(Debug)]
enum Expect {
    MovesTo(SceneState, u64),
    Stays,
    Claimed,
    Expired,
}

fn check(state: SceneState, step: PhoneStep, actor: Actor<'_>, expect: Expect) {
    let label = format!("{state:?} + {step:?} by {actor:?}");
    let result = apply(&scene(state), step, actor, NOW);
    match (expect, result) {
        (Expect::MovesTo(state, expires_at), Ok(change)) => {
            assert_eq!(change, SceneChange::Move { state, expires_at }, "{label}");
        }
        (Expect::Stays, Ok(SceneChange::Stay))
        | (Expect::Claimed, Err(AuthError::SceneClaimed))
        | (Expect::Expired, Err(AuthError::SceneExpired)) => {}
        (expect, result) => panic!("{label}: expected {expect:?}, got {result:?}"),
    }
}

#[test]
fn scanning() {
    use Expect::*;
    check(
        SceneState::Pending,
        scan(),
        ORGANIZER,
        MovesTo(scanned(ME), SCANNED_UNTIL),
    );
    check(
        SceneState::Pending,
        scan(),
        GUEST,
        MovesTo(scanned(ME), SCANNED_UNTIL),
    );
    check(scanned(ME), scan(), ORGANIZER, Stays);
    check(scanned(OTHER), scan(), ORGANIZER, Claimed);
    // Its phone scans again on its way to confirming again from a new session.
    check(confirmed(ME), scan(), ORGANIZER, Stays);
    check(confirmed(OTHER), scan(), ORGANIZER, Claimed);
    check(declined(ME), scan(), ORGANIZER, Expired);
    check(declined(OTHER), scan(), ORGANIZER, Claimed);
    check(refused(ME), scan(), GUEST, Expired);
    check(refused(OTHER), scan(), GUEST, Claimed);
}

/// A scan whose time to confirm ends before the scene would have (`scanned_scene_ttl` set below
/// `scene_ttl`) leaves the scene its own end.
#[test]
fn a_scan_never_shortens_a_scene() {
    let long_lived = SceneRecord {
        expires_at: SCANNED_UNTIL + 600,
        ..scene(SceneState::Pending)
    };
    let change = apply(&long_lived, scan(), ORGANIZER, NOW);
    let expected = SceneChange::Move {
        state: scanned(ME),
        expires_at: SCANNED_UNTIL + 600,
    };
    assert_eq!(change.unwrap(), expected);
}

#[test]
fn confirming() {
    use Expect::*;
    let confirm = || PhoneStep::Confirm;
    // Confirming an unscanned scene scans it too (the one-step mini program login).
    check(
        SceneState::Pending,
        confirm(),
        ORGANIZER,
        MovesTo(confirmed(ME), EXPIRES_AT),
    );
    check(
        SceneState::Pending,
        confirm(),
        GUEST,
        MovesTo(refused(ME), EXPIRES_AT),
    );
    check(
        scanned(ME),
        confirm(),
        ORGANIZER,
        MovesTo(confirmed(ME), EXPIRES_AT),
    );
    check(
        scanned(ME),
        confirm(),
        GUEST,
        MovesTo(refused(ME), EXPIRES_AT),
    );
    check(scanned(OTHER), confirm(), ORGANIZER, Claimed);
    check(confirmed(ME), confirm(), ORGANIZER, Stays);
    // Confirmed again from another session of the same phone user: the login stands on it.
    let from_new_session = Actor {
        session: Some("my-next-phone-session"),
        ..ORGANIZER
    };
    let reconfirmed = SceneState::Confirmed {
        user_id: ME.into(),
        by_session: Some("my-next-phone-session".into()),
    };
    check(
        confirmed(ME),
        confirm(),
        from_new_session,
        MovesTo(reconfirmed, EXPIRES_AT),
    );
    // Judged as a first confirm is: taken off the team since, the phone is refused.
    let no_longer_organizer = Actor {
        organizer: false,
        ..from_new_session
    };
    check(
        confirmed(ME),
        confirm(),
        no_longer_organizer,
        MovesTo(refused(ME), EXPIRES_AT),
    );
    check(confirmed(OTHER), confirm(), ORGANIZER, Claimed);
    check(declined(ME), confirm(), ORGANIZER, Expired);
    check(declined(OTHER), confirm(), ORGANIZER, Claimed);
    // Retried, a refused confirm is refused again (its phone is told `not_organizer` again).
    check(refused(ME), confirm(), GUEST, Stays);
    check(refused(OTHER), confirm(), ORGANIZER, Claimed);
}

#[test]
fn declining() {
    use Expect::*;
    let decline = || PhoneStep::Decline;
    check(
        SceneState::Pending,
        decline(),
        GUEST,
        MovesTo(declined(ME), EXPIRES_AT),
    );
    check(
        scanned(ME),
        decline(),
        ORGANIZER,
        MovesTo(declined(ME), EXPIRES_AT),
    );
    check(scanned(OTHER), decline(), ORGANIZER, Claimed);
    check(confirmed(ME), decline(), ORGANIZER, Expired);
    check(confirmed(OTHER), decline(), ORGANIZER, Claimed);
    check(declined(ME), decline(), ORGANIZER, Stays);
    check(declined(OTHER), decline(), ORGANIZER, Claimed);
    check(refused(ME), decline(), GUEST, Expired);
    check(refused(OTHER), decline(), GUEST, Claimed);
}

#[test]
fn an_answer_in_the_last_moments_of_a_scan_stays_for_its_console_to_collect() {
    let scanned_until_now = SceneRecord {
        expires_at: NOW + 1,
        ..scene(scanned(ME))
    };
    for (step, actor, state) in [
        (PhoneStep::Confirm, ORGANIZER, confirmed(ME)),
        (PhoneStep::Confirm, GUEST, refused(ME)),
        (PhoneStep::Decline, ORGANIZER, declined(ME)),
    ] {
        let change = apply(&scanned_until_now, step.clone(), actor, NOW);
        let expires_at = NOW + ANSWER_COLLECTABLE;
        let expected = SceneChange::Move { state, expires_at };
        assert_eq!(change.ok(), Some(expected), "{step:?}");
    }
}

#[test]
fn every_step_on_an_expired_scene_is_expired_whoever_holds_it() {
    let states = [
        SceneState::Pending,
        scanned(ME),
        scanned(OTHER),
        confirmed(ME),
        confirmed(OTHER),
        declined(ME),
        refused(OTHER),
        delivered(ME),
    ];
    for state in states {
        for step in [scan(), PhoneStep::Confirm, PhoneStep::Decline] {
            let mut expired = scene(state.clone());
            expired.expires_at = NOW;
            let result = apply(&expired, step.clone(), ORGANIZER, NOW);
            assert!(
                matches!(result, Err(AuthError::SceneExpired)),
                "{state:?} + {step:?}: {result:?}"
            );
        }
    }
}

#[test]
fn to_every_phone_a_delivered_scene_is_over_but_to_its_confirm_sent_again() {
    use Expect::*;
    for step in [scan(), PhoneStep::Decline] {
        check(delivered(ME), step.clone(), ORGANIZER, Expired);
        check(delivered(OTHER), step.clone(), ORGANIZER, Expired);
        check(delivered(OTHER), step, GUEST, Expired);
    }
    // The session that confirmed is told again that its confirm was made.
    check(delivered(ME), PhoneStep::Confirm, ORGANIZER, Stays);
    // Another session of the same user, another user, or a delivery whose confirming session the
    // record does not name: the scene is over.
    let other_session = Actor {
        session: Some("another-phone-session"),
        ..ORGANIZER
    };
    check(delivered(ME), PhoneStep::Confirm, other_session, Expired);
    check(delivered(OTHER), PhoneStep::Confirm, ORGANIZER, Expired);
    let unnamed = SceneState::Delivered {
        claims: delivered_claims(ME),
        by_session: None,
    };
    check(unnamed, PhoneStep::Confirm, ORGANIZER, Expired);
    // The user lost the organizer role since: the console's delivery was refused, and so is this.
    check(delivered(ME), PhoneStep::Confirm, GUEST, Expired);
}

fn link_record(state: SceneState) -> SceneRecord {
    SceneRecord {
        purpose: ScenePurpose::Link,
        ..scene(state)
    }
}

fn check_link(state: SceneState, step: PhoneStep, actor: Actor<'_>, expect: Expect) {
    let label = format!("link {state:?} + {step:?} by {actor:?}");
    let result = apply(&link_record(state), step, actor, NOW);
    match (expect, result) {
        (Expect::MovesTo(state, expires_at), Ok(change)) => {
            assert_eq!(change, SceneChange::Move { state, expires_at }, "{label}");
        }
        (Expect::Stays, Ok(SceneChange::Stay))
        | (Expect::Claimed, Err(AuthError::SceneClaimed))
        | (Expect::Expired, Err(AuthError::SceneExpired)) => {}
        (expect, result) => panic!("{label}: expected {expect:?}, got {result:?}"),
    }
}

fn linked(by: &str) -> SceneState {
    SceneState::Linked { user_id: by.into() }
}

fn link_refused(by: &str) -> SceneState {
    SceneState::LinkRefused { user_id: by.into() }
}

/// The scene's target is another account than its owner: to the pure function, its confirm is
/// another phone's (the domain lets it continue a confirm whose owner was folded into it; see
/// `AuthService::folded_owner`), and so are its scan and decline.
#[test]
fn a_link_scene_is_its_owner_s_even_to_its_target() {
    use Expect::*;
    const TARGET: &str = "u-console-user";
    let record = SceneRecord {
        link_to: Some(LinkTarget {
            user_id: TARGET.into(),
            display_name: "Pat".into(),
            session: None,
        }),
        ..link_record(linked("u-folded-phone"))
    };
    let as_target = Actor {
        user_id: TARGET,
        ..JOINER
    };
    let check = |actor: Actor<'_>, step: PhoneStep, expect: Expect| {
        let result = apply(&record, step.clone(), actor, NOW);
        match (&expect, &result) {
            (Stays, Ok(SceneChange::Stay)) | (Claimed, Err(AuthError::SceneClaimed)) => {}
            _ => panic!("{step:?} by {actor:?}: expected {expect:?}, got {result:?}"),
        }
    };
    check(as_target, PhoneStep::Confirm, Claimed);
    check(as_target, scan(), Claimed);
    check(as_target, PhoneStep::Decline, Claimed);
    check(JOINER, PhoneStep::Confirm, Claimed);
}

#[test]
fn a_link_scene_confirms_by_whether_the_account_may_join_not_by_role() {
    use Expect::*;
    let confirm = || PhoneStep::Confirm;
    check_link(
        scanned(ME),
        confirm(),
        JOINER,
        MovesTo(linked(ME), EXPIRES_AT),
    );
    check_link(
        SceneState::Pending,
        confirm(),
        JOINER,
        MovesTo(linked(ME), EXPIRES_AT),
    );
    // An organizer whose account holds more may not join, role or not.
    check_link(
        scanned(ME),
        confirm(),
        ORGANIZER,
        MovesTo(link_refused(ME), EXPIRES_AT),
    );
    check_link(
        scanned(ME),
        confirm(),
        GUEST,
        MovesTo(link_refused(ME), EXPIRES_AT),
    );
    check_link(linked(ME), confirm(), JOINER, Stays);
    check_link(scanned(OTHER), confirm(), JOINER, Claimed);
    check_link(linked(OTHER), confirm(), JOINER, Claimed);
    check_link(link_refused(ME), confirm(), GUEST, Stays);
    check_link(link_refused(OTHER), confirm(), GUEST, Claimed);
}

fn linking(by: &str) -> SceneState {
    SceneState::Linking {
        user_id: by.into(),
        profile: profile(by),
    }
}

/// A linkable confirm claims its scene before the link is made, and moves it on after; meanwhile
/// the scene is its scanner's alone, and no decline takes back a link that may be written.
#[test]
fn a_link_scene_is_claimed_while_its_link_is_made() {
    use Expect::*;
    let claim = || PhoneStep::ClaimForLink;
    check_link(
        scanned(ME),
        claim(),
        JOINER,
        MovesTo(linking(ME), EXPIRES_AT),
    );
    check_link(linking(ME), claim(), JOINER, Stays);
    check_link(
        linking(ME),
        PhoneStep::Confirm,
        JOINER,
        MovesTo(linked(ME), EXPIRES_AT),
    );
    // The link refused under the change lock (the account gained a role meanwhile).
    check_link(
        linking(ME),
        PhoneStep::Confirm,
        GUEST,
        MovesTo(link_refused(ME), EXPIRES_AT),
    );
    check_link(linking(ME), scan(), JOINER, Stays);
    check_link(linking(ME), PhoneStep::Decline, JOINER, Expired);
    check_link(scanned(OTHER), claim(), JOINER, Claimed);
    check_link(linking(OTHER), claim(), JOINER, Claimed);
    check_link(linking(OTHER), PhoneStep::Confirm, JOINER, Claimed);
    // Only a scanned link scene is claimed: a login scene has no link to make.
    check_link(SceneState::Pending, claim(), JOINER, Expired);
    check_link(linked(ME), claim(), JOINER, Expired);
    check(scanned(ME), claim(), JOINER, Expired);
}

#[test]
fn a_link_scene_scans_and_declines_as_a_login_scene_does() {
    use Expect::*;
    check_link(
        SceneState::Pending,
        scan(),
        JOINER,
        MovesTo(scanned(ME), SCANNED_UNTIL),
    );
    check_link(
        scanned(ME),
        PhoneStep::Decline,
        JOINER,
        MovesTo(declined(ME), EXPIRES_AT),
    );
    check_link(linked(ME), scan(), JOINER, Expired);
    check_link(linked(ME), PhoneStep::Decline, JOINER, Expired);
    check_link(link_refused(OTHER), PhoneStep::Decline, JOINER, Claimed);
}

#[test]
fn a_login_scene_ignores_whether_the_account_may_join() {
    use Expect::*;
    check(
        scanned(ME),
        PhoneStep::Confirm,
        JOINER,
        MovesTo(refused(ME), EXPIRES_AT),
    );
}
