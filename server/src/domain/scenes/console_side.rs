//! The console's side of the scene's state machine as pure functions (the phone's side is
//! [`super::transitions`]): what a poll by the scene's poll token does with the record it read, and
//! the records it moves the scene to. No store, no clock: the long-poll ([`super::long_poll`])
//! reads, decides here, then writes what was decided by compare-and-swap.
//!
//! ```text
//!  Pending, Scanned ──news, or no time to wait──▶ answered (the version it told is recorded)
//!                   ──nothing new, time to wait──▶ wait for a change
//!  Confirmed ──deliver (session made)──▶ Delivered ──same poll token again──▶ the same session
//!  Linked ──▶ `linked`, every time (an answer lost on its way is collected again)
//!  Declined, Refused, LinkRefused ──▶ the refusal, every time
//! ```

use meeteasy_protocol::{Claims, IsLoginResponse, LinkPollResponse, ScenePurpose};
use serde::Serialize;

use super::super::AuthError;
use super::phone_steps::identity_in_use;
use super::record::{SceneRecord, SceneState};

/// What `islogin` answers: a login scene's [`IsLoginResponse`], or a link scene's
/// [`LinkPollResponse`] (`linked`, instead of a token).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SceneAnswer {
    Login(IsLoginResponse),
    Link(LinkPollResponse),
}

/// What a poll does with the record it read (its poll token already checked, the scene live).
#[derive(Debug)]
pub enum PollStep<'a> {
    /// Answer this now. When `news`, first record that the console was [`told`] this version, so
    /// its next poll waits for something newer.
    Answer { answer: SceneAnswer, news: bool },
    /// Nothing new, and time left: wait for the scene to change.
    Wait,
    /// Confirmed by an organizer (from the phone session `by_session`, if known): open the
    /// console's session and move the scene to [`delivered`].
    Deliver {
        user_id: &'a str,
        by_session: Option<&'a str>,
    },
    /// Delivered before, to this poll token: the same session again (its answer may have been
    /// lost), while the phone session `by_session` that confirmed stands.
    DeliverAgain {
        claims: &'a Claims,
        by_session: Option<&'a str>,
    },
    /// The scene ends for the console with this refusal.
    Refuse(AuthError),
}

/// Decides a poll of `record`; `may_wait`: time is left and the server is not stopping.
pub fn on_poll(record: &SceneRecord, may_wait: bool) -> PollStep<'_> {
    let link = record.purpose == ScenePurpose::Link;
    let answer = match &record.state {
        SceneState::Confirmed {
            user_id,
            by_session,
        } => {
            let by_session = by_session.as_deref();
            return PollStep::Deliver {
                user_id,
                by_session,
            };
        }
        SceneState::Delivered { claims, by_session } => {
            let by_session = by_session.as_deref();
            return PollStep::DeliverAgain { claims, by_session };
        }
        // The link is made: no poll waits on it, and none writes that it was told.
        SceneState::Linked { .. } => {
            return PollStep::Answer {
                answer: SceneAnswer::Link(LinkPollResponse::Linked),
                news: false,
            };
        }
        SceneState::LinkRefused { .. } => return PollStep::Refuse(identity_in_use()),
        SceneState::Declined { .. } => return PollStep::Refuse(AuthError::AccessDenied),
        SceneState::Refused { .. } => return PollStep::Refuse(AuthError::ConfirmedByNonOrganizer),
        SceneState::Pending if link => SceneAnswer::Link(LinkPollResponse::Pending),
        SceneState::Pending => SceneAnswer::Login(IsLoginResponse::Pending),
        // A link being made shows as scanned until it is made or refused.
        SceneState::Scanned { profile, .. } | SceneState::Linking { profile, .. } if link => {
            SceneAnswer::Link(LinkPollResponse::Scanned {
                user: profile.clone(),
            })
        }
        SceneState::Scanned { profile, .. } | SceneState::Linking { profile, .. } => {
            SceneAnswer::Login(IsLoginResponse::Scanned {
                user: profile.clone(),
            })
        }
    };
    let news = record.version != record.reported;
    if news || !may_wait {
        PollStep::Answer { answer, news }
    } else {
        PollStep::Wait
    }
}

/// `record` once its console was told its current version.
pub fn told(record: &SceneRecord) -> SceneRecord {
    SceneRecord {
        reported: record.version,
        ..record.clone()
    }
}

/// The scene once its confirmed login (confirmed from the phone session `by_session`) is
/// delivered as `claims`'s session, kept until `until` for the same poll token to collect again;
/// told, so no poll waits on it.
pub fn delivered(
    confirmed: &SceneRecord,
    claims: Claims,
    by_session: Option<&str>,
    until: u64,
) -> SceneRecord {
    let version = confirmed.version + 1;
    let by_session = by_session.map(str::to_owned);
    SceneRecord {
        state: SceneState::Delivered { claims, by_session },
        expires_at: until,
        version,
        reported: version,
        ..confirmed.clone()
    }
}

#[cfg(test)]
mod tests;
