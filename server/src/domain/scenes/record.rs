//! The stored scene: what the console asked for, who holds it, and the versions that let a long-poll
//! wait for something *new*.

use meeteasy_protocol::{Claims, ConsoleInfo, ScannerProfile, ScenePurpose};
use serde::{Deserialize, Serialize};

use crate::store::Lifetime;

use super::super::unix_now;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneRecord {
    pub app: String,
    pub poll_token_hash: String,
    pub console: ConsoleInfo,
    pub expires_at: u64,
    pub state: SceneState,
    /// Bumped by every transition.
    pub version: u32,
    /// The `version` the console was last answered with.
    pub reported: u32,
    /// v1.1: `login` (the default, also for scenes stored before) or `link`.
    #[serde(default)]
    pub purpose: ScenePurpose,
    /// Link scenes: the console user whose account the scanner's WeChat joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_to: Option<LinkTarget>,
    /// The console gave no name: the phone is shown a generic one, its session keeps none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub console_unnamed: bool,
}

/// The account a link scene joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTarget {
    pub user_id: String,
    pub display_name: String,
    /// The console session that made the scene (none in scenes stored before it was kept): once
    /// it has ended, the link is refused, so a stolen console token that was logged out cannot
    /// still complete the link it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SceneState {
    Pending,
    Scanned {
        user_id: String,
        profile: ScannerProfile,
    },
    /// A link scene whose scanner confirmed, while the link is being made: the console can no
    /// longer withdraw it (the link may be written already), and it shows as scanned until then.
    Linking {
        user_id: String,
        profile: ScannerProfile,
    },
    Confirmed {
        user_id: String,
        /// The phone session that confirmed (none in scenes stored before it was kept): once it
        /// has ended (logged out, ended from elsewhere, its WeChat unlinked), its confirm no
        /// longer logs the console in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by_session: Option<String>,
    },
    Declined {
        user_id: String,
    },
    /// Confirmed by someone without the organizer role.
    Refused {
        user_id: String,
    },
    /// A link scene confirmed: the scanner's WeChat is now a way into the console user's account.
    Linked {
        user_id: String,
    },
    /// A link scene confirmed by a WeChat whose account holds more than that identity.
    LinkRefused {
        user_id: String,
    },
    /// The console was answered with a token of this session. Kept for a short while
    /// (`delivered_scene_ttl`) so that the same poll token can collect the same session again when
    /// that answer was lost on its way; the claims are no secret without a signature.
    Delivered {
        claims: Claims,
        /// The phone session that confirmed, as the confirmed scene named it: collecting the login
        /// again is refused once it has ended, as the first delivery was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by_session: Option<String>,
    },
}

impl SceneRecord {
    pub fn is_expired(&self) -> bool {
        self.expires_at <= unix_now()
    }

    /// The record ends when the scene does: a step that keeps `expires_at` keeps its expiry.
    pub fn lifetime(&self) -> Lifetime {
        Lifetime::Until(self.expires_at)
    }

    pub fn moved_to(&self, state: SceneState, expires_at: u64) -> SceneRecord {
        // A link being made is no news to the console, which still sees the scan: its version
        // stays, so a waiting poll answers at the link made (or refused), not before.
        let news = !matches!(state, SceneState::Linking { .. });
        SceneRecord {
            state,
            expires_at,
            version: self.version + u32::from(news),
            ..self.clone()
        }
    }

    /// The name the console's session takes: the one the console gave, if it gave one.
    pub fn console_device_name(&self) -> Option<String> {
        (!self.console_unnamed).then(|| self.console.device_name.clone())
    }

    /// The session the scene was delivered as, once it was.
    pub fn delivered_as(&self) -> Option<&Claims> {
        match &self.state {
            SceneState::Delivered { claims, .. } => Some(claims),
            SceneState::Pending
            | SceneState::Scanned { .. }
            | SceneState::Linking { .. }
            | SceneState::Confirmed { .. }
            | SceneState::Declined { .. }
            | SceneState::Refused { .. }
            | SceneState::Linked { .. }
            | SceneState::LinkRefused { .. } => None,
        }
    }

    /// Who holds the scene, if anyone does.
    pub fn owner(&self) -> Option<&str> {
        match &self.state {
            SceneState::Pending => None,
            SceneState::Scanned { user_id, .. }
            | SceneState::Linking { user_id, .. }
            | SceneState::Confirmed { user_id, .. }
            | SceneState::Declined { user_id }
            | SceneState::Refused { user_id }
            | SceneState::Linked { user_id }
            | SceneState::LinkRefused { user_id } => Some(user_id),
            SceneState::Delivered { claims, .. } => Some(&claims.sub),
        }
    }
}
