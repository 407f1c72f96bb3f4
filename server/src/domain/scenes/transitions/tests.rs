//! Every state against every step, by the scene's owner and by someone else.

use meeteasy_protocol::{ConsoleInfo, ScannerProfile};

use super::{Actor, PhoneStep, SceneChange, apply};
use crate::domain::AuthError;
use crate::domain::scenes::record::{SceneRecord, SceneState};

const NOW: u64 = 1_800_000_000;
const EXPIRES_AT: u64 = NOW + 100;
const SCANNED_UNTIL: u64 = NOW + 300;
const ME: &str = "u-me";
const OTHER: &str = "u-other";

fn profile(name: &str) -> ScannerProfile {
    ScannerProfile {
        display_name: name.into(),
        avatar_url: None,
    }
}

fn record(state: SceneState) -> SceneRecord {
    SceneRecord {
        app: "default".into(),
        poll_token_hash: "hash".into(),
        console: ConsoleInfo {
            device_name: "Desk".into(),
            ip: "127.0.0.1".into(),
            created_at: NOW - 20,
        },
        expires_at: EXPIRES_AT,
        state,
        version: 3,
        reported: 2,
    }
}

fn scanned(by: &str) -> SceneState {
    SceneState::Scanned {
        user_id: by.into(),
        profile: profile(by),
    }
}

fn confirmed(by: &str) -> SceneState {
    SceneState::Confirmed { user_id: by.into() }
}

fn declined(by: &str) -> SceneState {
    SceneState::Declined { user_id: by.into() }
}

fn refused(by: &str) -> SceneState {
    SceneState::Refused { user_id: by.into() }
}

fn delivered(to: &str) -> SceneState {
    SceneState::Delivered {
        claims: meeteasy_protocol::Claims {
            iss: "http://127.0.0.1:8080".into(),
            aud: meeteasy_protocol::Audience::Console,
            sub: to.into(),
            sid: "sid".into(),
            iat: NOW,
            exp: NOW + 3600,
            amr: vec!["wechat".into(), "scan".into()],
        },
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
    organizer: true,
};
const GUEST: Actor<'static> = Actor {
    user_id: ME,
    organizer: false,
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
    let result = apply(&record(state), step, actor, NOW);
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
    check(confirmed(ME), scan(), ORGANIZER, Expired);
    check(confirmed(OTHER), scan(), ORGANIZER, Claimed);
    check(declined(ME), scan(), ORGANIZER, Expired);
    check(declined(OTHER), scan(), ORGANIZER, Claimed);
    check(refused(ME), scan(), GUEST, Expired);
    check(refused(OTHER), scan(), GUEST, Claimed);
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
    check(confirmed(OTHER), confirm(), ORGANIZER, Claimed);
    check(declined(ME), confirm(), ORGANIZER, Expired);
    check(declined(OTHER), confirm(), ORGANIZER, Claimed);
    check(refused(ME), confirm(), GUEST, Expired);
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
            let mut expired = record(state.clone());
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
fn to_every_phone_a_delivered_scene_is_over() {
    use Expect::*;
    for step in [scan(), PhoneStep::Confirm, PhoneStep::Decline] {
        check(delivered(ME), step.clone(), ORGANIZER, Expired);
        check(delivered(OTHER), step.clone(), ORGANIZER, Expired);
        check(delivered(OTHER), step, GUEST, Expired);
    }
}
