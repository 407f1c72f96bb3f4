//! The records the pure state machine's unit tests ([`super::transitions`], [`super::console_side`])
//! start from.

use meeteasy_protocol::{Audience, Claims, ConsoleInfo, ScannerProfile, ScenePurpose};

use super::record::{SceneRecord, SceneState};

pub const NOW: u64 = 1_800_000_000;
/// When [`scene`]'s record ends.
pub const EXPIRES_AT: u64 = NOW + 100;

/// A login scene in `state`, live until [`EXPIRES_AT`], at version 3 with version 2 told.
pub fn scene(state: SceneState) -> SceneRecord {
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
        purpose: ScenePurpose::Login,
        link_to: None,
        console_unnamed: false,
    }
}

pub fn profile(name: &str) -> ScannerProfile {
    ScannerProfile {
        display_name: name.into(),
        avatar_url: None,
    }
}

/// The claims of the console session a scene delivered to user `to`.
pub fn delivered_claims(to: &str) -> Claims {
    Claims {
        iss: "http://127.0.0.1:8080".into(),
        aud: Audience::Console,
        sub: to.into(),
        sid: "sid".into(),
        iat: NOW,
        exp: NOW + 3600,
        amr: vec!["wechat".into(), "scan".into()],
    }
}
