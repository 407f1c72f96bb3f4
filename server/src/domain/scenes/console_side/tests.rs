//! Every state a poll can read, with news and without, with time to wait and without, on a login
//! scene and on a link scene.

use meeteasy_protocol::{Claims, IsLoginResponse, LinkPollResponse, ScenePurpose};

use super::{PollStep, SceneAnswer, delivered, on_poll, told};
use crate::domain::AuthError;
use crate::domain::scenes::record::{SceneRecord, SceneState};
use crate::domain::scenes::test_records::{NOW, delivered_claims, profile, scene};

fn record(purpose: ScenePurpose, state: SceneState, news: bool) -> SceneRecord {
    SceneRecord {
        reported: if news { 2 } else { 3 },
        purpose,
        ..scene(state)
    }
}

fn claims() -> Claims {
    delivered_claims("u-ann")
}

fn scanned() -> SceneState {
    SceneState::Scanned {
        user_id: "u-ann".into(),
        profile: profile("Ann"),
    }
}

fn of_ann(state: fn(String) -> SceneState) -> SceneState {
    state("u-ann".into())
}

/// The answer's JSON, and whether the poll first records the version it tells.
fn answered(step: PollStep<'_>) -> (serde_json::Value, bool) {
    match step {
        PollStep::Answer { answer, news } => (serde_json::to_value(answer).unwrap(), news),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn pending_and_scanned_answer_news_at_once_and_otherwise_wait_while_they_may() {
    for purpose in [ScenePurpose::Login, ScenePurpose::Link] {
        for (state, status) in [(SceneState::Pending, "pending"), (scanned(), "scanned")] {
            let label = format!("{purpose:?} {status}");
            for may_wait in [true, false] {
                let news = record(purpose, state.clone(), true);
                let (answer, records) = answered(on_poll(&news, may_wait));
                assert_eq!(answer["status"], status, "{label}");
                assert!(records, "{label}: the version told is recorded");
            }
            let told = record(purpose, state.clone(), false);
            assert!(matches!(on_poll(&told, true), PollStep::Wait), "{label}");
            let (answer, records) = answered(on_poll(&told, false));
            assert_eq!(answer["status"], status, "{label}");
            assert!(!records, "{label}: nothing new to record");
        }
    }
}

#[test]
fn the_version_told_is_recorded_and_nothing_else_changes() {
    let news = record(ScenePurpose::Login, scanned(), true);
    let PollStep::Answer {
        answer: SceneAnswer::Login(IsLoginResponse::Scanned { user }),
        news: true,
    } = on_poll(&news, true)
    else {
        panic!("a scanned scene with news answers scanned");
    };
    assert_eq!(user.display_name, "Ann");
    assert_eq!(
        told(&news),
        SceneRecord {
            reported: 3,
            ..news
        }
    );
}

#[test]
fn a_link_scene_answers_with_link_answers() {
    let read = record(ScenePurpose::Link, scanned(), true);
    assert!(matches!(
        on_poll(&read, false),
        PollStep::Answer {
            answer: SceneAnswer::Link(LinkPollResponse::Scanned { .. }),
            ..
        }
    ));
}

#[test]
fn confirmed_delivers_delivered_delivers_again_and_linked_answers_whatever_was_told() {
    for news in [true, false] {
        for may_wait in [true, false] {
            let confirmed = of_ann(|user_id| SceneState::Confirmed {
                user_id,
                by_session: Some("phone".into()),
            });
            let read = record(ScenePurpose::Login, confirmed, news);
            assert!(matches!(
                on_poll(&read, may_wait),
                PollStep::Deliver {
                    user_id: "u-ann",
                    by_session: Some("phone")
                }
            ));
            let delivered = SceneState::Delivered {
                claims: claims(),
                by_session: None,
            };
            let read = record(ScenePurpose::Login, delivered, news);
            let PollStep::DeliverAgain { claims: again, .. } = on_poll(&read, may_wait) else {
                panic!("a delivered scene delivers again");
            };
            assert_eq!(again.sid, "sid");
            let linked = of_ann(|user_id| SceneState::Linked { user_id });
            let read = record(ScenePurpose::Link, linked, news);
            assert!(matches!(
                on_poll(&read, may_wait),
                PollStep::Answer {
                    answer: SceneAnswer::Link(LinkPollResponse::Linked),
                    news: false
                }
            ));
        }
    }
}

#[test]
fn refusals_are_told_every_time() {
    let refusals = [
        (
            of_ann(|user_id| SceneState::Declined { user_id }),
            "AccessDenied",
        ),
        (
            of_ann(|user_id| SceneState::Refused { user_id }),
            "ConfirmedByNonOrganizer",
        ),
        (
            of_ann(|user_id| SceneState::LinkRefused { user_id }),
            "IdentityInUse",
        ),
    ];
    for (state, refusal) in refusals {
        for (news, may_wait) in [(true, true), (false, true), (false, false)] {
            let read = record(ScenePurpose::Login, state.clone(), news);
            let PollStep::Refuse(error) = on_poll(&read, may_wait) else {
                panic!("{state:?} is refused");
            };
            assert!(
                format!("{error:?}").starts_with(refusal),
                "{state:?}: {error:?}"
            );
            assert!(!matches!(error, AuthError::SceneExpired));
        }
    }
}

#[test]
fn a_delivered_scene_holds_the_session_for_the_grace_and_is_told() {
    let confirmed = of_ann(|user_id| SceneState::Confirmed {
        user_id,
        by_session: None,
    });
    let confirmed = record(ScenePurpose::Login, confirmed, true);
    let moved = delivered(&confirmed, claims(), Some("phone"), NOW + 30);
    assert_eq!(
        moved,
        SceneRecord {
            state: SceneState::Delivered {
                claims: claims(),
                by_session: Some("phone".into()),
            },
            expires_at: NOW + 30,
            version: 4,
            reported: 4,
            ..confirmed
        }
    );
}
