//! The scene's state machine as one pure function: (record, step, actor) -> change or error. No
//! store, no clock: the caller passes `now`, writes the change with compare-and-swap and notifies.
//!
//! ```text
//!  Pending ──scan──▶ Scanned ──confirm (organizer)──▶ Confirmed ──delivered──▶ Delivered ──▶ (gone)
//!     │                 │    ──confirm (anyone else)─▶ Refused
//!     └─confirm/decline─┴────decline────────────────▶ Declined
//!
//!  link scenes:  Scanned ──claim for link──▶ Linking ──confirm (linkable)──▶ Linked ──▶ (gone)
//!                   └──confirm (otherwise)───────┴───confirm (otherwise)──▶ LinkRefused
//! ```
//! A linkable confirm claims its scene before it makes the link, and moves it on after: a console
//! withdrawing the scene meanwhile is refused, rather than deleting a scene whose link is then made
//! for a confirm that fails.
//! The first phone to scan owns the scene; only its owner moves it on. A link scene's confirm needs
//! no role: it asks whether the scanner's account may join the console user's. A delivered scene is
//! over to every phone but to the confirm that delivered it, sent again. The console's steps
//! (delivered, told) are [`super::console_side`]'s.

use meeteasy_protocol::{ScannerProfile, ScenePurpose};

use super::super::AuthError;
use super::record::{SceneRecord, SceneState};

/// How long, at least, the answer a phone gave (confirmed, declined, refused, linked) stays for
/// its console to collect, however late in the scan's window it came: a console between two polls
/// still learns it, rather than finding the scene expired.
pub const ANSWER_COLLECTABLE: u64 = 30;

/// What a phone does to a scene.
#[derive(Debug, Clone)]
pub enum PhoneStep {
    /// Scanning holds the scene for its scanner until `until` (Unix seconds).
    Scan {
        profile: ScannerProfile,
        until: u64,
    },
    Confirm,
    Decline,
    /// A link scene's scanner is making its link: the scene is no longer the console's to withdraw.
    ClaimForLink,
}

/// Who takes the step.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    /// The session whose token takes the step, when it is a confirm's: the console's login
    /// stands only while it does.
    pub session: Option<&'a str>,
    /// Holds the `organizer` role: only an organizer's confirm logs a console in.
    pub organizer: bool,
    /// For link scenes: the actor's account is the console user's, or holds nothing but its
    /// WeChat identity (so it may be folded into the console user's).
    pub linkable: bool,
}

/// What a step does to the record.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneChange {
    /// Move to `state`, valid until `expires_at`.
    Move { state: SceneState, expires_at: u64 },
    /// Nothing to change: the step was already taken (a retried request).
    Stay,
}

/// Applies `step` by `actor` to `record` at `now`.
pub fn apply(
    record: &SceneRecord,
    step: PhoneStep,
    actor: Actor<'_>,
    now: u64,
) -> Result<SceneChange, AuthError> {
    if record.expires_at <= now {
        return Err(AuthError::SceneExpired);
    }
    let user_id = actor.user_id.to_owned();
    let mine = record.owner().is_none_or(|owner| owner == actor.user_id);
    let moved = |state| SceneChange::Move {
        state,
        expires_at: record.expires_at.max(now + ANSWER_COLLECTABLE),
    };
    let confirmed = |user_id| match (record.purpose, actor.organizer, actor.linkable) {
        (ScenePurpose::Login, true, _) => SceneState::Confirmed {
            user_id,
            by_session: actor.session.map(str::to_owned),
        },
        (ScenePurpose::Login, false, _) => SceneState::Refused { user_id },
        (ScenePurpose::Link, _, true) => SceneState::Linked { user_id },
        (ScenePurpose::Link, _, false) => SceneState::LinkRefused { user_id },
    };
    match (&record.state, step) {
        // A scan gives its phone time to confirm; it never shortens a scene configured to live
        // longer (`scanned_scene_ttl` below `scene_ttl`).
        (SceneState::Pending, PhoneStep::Scan { profile, until }) => Ok(SceneChange::Move {
            state: SceneState::Scanned { user_id, profile },
            expires_at: until.max(record.expires_at),
        }),
        // A phone that confirmed may scan again on its way to confirming again (below).
        (
            SceneState::Scanned { .. } | SceneState::Linking { .. } | SceneState::Confirmed { .. },
            PhoneStep::Scan { .. },
        ) if mine => Ok(SceneChange::Stay),
        (
            SceneState::Pending | SceneState::Scanned { .. } | SceneState::Linking { .. },
            PhoneStep::Confirm,
        ) if mine => Ok(moved(confirmed(user_id))),
        (SceneState::Scanned { profile, .. }, PhoneStep::ClaimForLink)
            if mine && record.purpose == ScenePurpose::Link =>
        {
            Ok(moved(SceneState::Linking {
                user_id,
                profile: profile.clone(),
            }))
        }
        // A claim sent again (its confirm retried after the link failed half way).
        (SceneState::Linking { .. }, PhoneStep::ClaimForLink) if mine => Ok(SceneChange::Stay),
        // Confirmed again from another session of the same phone user (logged out and in again,
        // say): the console's login now stands on that session, judged as a first confirm is.
        (SceneState::Confirmed { by_session, .. }, PhoneStep::Confirm)
            if mine && by_session.as_deref() != actor.session =>
        {
            Ok(moved(confirmed(user_id)))
        }
        // A retried confirm changes nothing, whatever the first one decided: its phone is told
        // the same again (a refused one, `not_organizer` or `identity_in_use`).
        (
            SceneState::Confirmed { .. }
            | SceneState::Refused { .. }
            | SceneState::Linked { .. }
            | SceneState::LinkRefused { .. },
            PhoneStep::Confirm,
        ) if mine => Ok(SceneChange::Stay),
        (SceneState::Pending | SceneState::Scanned { .. }, PhoneStep::Decline) if mine => {
            Ok(moved(SceneState::Declined { user_id }))
        }
        (SceneState::Declined { .. }, PhoneStep::Decline) if mine => Ok(SceneChange::Stay),
        // The confirm whose login was delivered, sent again from its session because its answer
        // was lost: it is told it was made, rather than that the scene it just used is gone. Not
        // once the user lost the organizer role: the delivery was then refused to the console.
        (SceneState::Delivered { by_session, .. }, PhoneStep::Confirm)
            if mine
                && actor.organizer
                && by_session.is_some()
                && by_session.as_deref() == actor.session =>
        {
            Ok(SceneChange::Stay)
        }
        // Otherwise delivered is the console's business: to every phone the scene is over, as it
        // was when a delivered scene was deleted at once.
        (
            SceneState::Delivered { .. },
            PhoneStep::Scan { .. }
            | PhoneStep::Confirm
            | PhoneStep::Decline
            | PhoneStep::ClaimForLink,
        ) => Err(AuthError::SceneExpired),
        // The rest is past, or another phone's; a link being made, too, is declined no more (it
        // may be written already).
        (
            SceneState::Pending
            | SceneState::Scanned { .. }
            | SceneState::Linking { .. }
            | SceneState::Confirmed { .. }
            | SceneState::Declined { .. }
            | SceneState::Refused { .. }
            | SceneState::Linked { .. }
            | SceneState::LinkRefused { .. },
            PhoneStep::Scan { .. }
            | PhoneStep::Confirm
            | PhoneStep::Decline
            | PhoneStep::ClaimForLink,
        ) => Err(unavailable_to(record, actor.user_id)),
    }
}

/// The scene is past this step, or in the hands of someone else.
fn unavailable_to(record: &SceneRecord, user_id: &str) -> AuthError {
    match record.owner() {
        Some(owner) if owner != user_id => AuthError::SceneClaimed,
        Some(_) | None => AuthError::SceneExpired,
    }
}

#[cfg(test)]
mod tests;
