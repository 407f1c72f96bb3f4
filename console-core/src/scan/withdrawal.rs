//! Taking back a scene the console made and no longer follows (`POST /auth/scenes/{scene}/withdraw`),
//! so that the phone that scanned it finds it gone when it confirms: no login is confirmed that
//! nobody collects, and no WeChat is linked to an account nobody watches any more. Every caller
//! goes through [`withdraw`], whether it waits for the answer (the window closing) or leaves it to
//! the background.

use std::time::Duration;

use meeteasy_protocol::{ErrorCode, Secret};
use tokio::runtime::Handle;

use super::{ActiveScene, ScanApi};

/// How long a withdrawal left to the background waits for the server: the scene lapses by itself
/// within minutes anyway, and a server that does not answer should not hold a task for longer.
pub const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(10);

/// A scene the console lets go of: what the server needs to withdraw it.
#[derive(Debug)]
pub struct LeftScene {
    pub scene: String,
    pub poll_token: Secret,
}

impl From<ActiveScene> for LeftScene {
    fn from(active: ActiveScene) -> Self {
        Self {
            scene: active.scene,
            poll_token: active.poll_token,
        }
    }
}

/// Withdraws `left` on `api`'s server in a task on `runtime`, for [`WITHDRAW_TIMEOUT`] at most:
/// nobody waits for it.
pub fn withdraw_in_background<A: ScanApi>(
    runtime: &Handle,
    api: A,
    left: LeftScene,
    left_because: &'static str,
) {
    runtime.spawn(async move { withdraw(&api, &left, WITHDRAW_TIMEOUT, left_because).await });
}

/// Withdraws `left` on `api`'s server, waiting `within` at most, and logs what became of it; a
/// scene the server did not take back lapses by itself. One a phone already confirmed is not
/// withdrawn (`scene_claimed`): what that confirm made stands, and nothing here collects it.
/// `left_because` says in the log why the console let the scene go.
pub async fn withdraw<A: ScanApi>(
    api: &A,
    left: &LeftScene,
    within: Duration,
    left_because: &'static str,
) {
    let withdrawn = api.withdraw_scene(&left.scene, &left.poll_token);
    match tokio::time::timeout(within, withdrawn).await {
        Ok(Ok(())) => tracing::debug!(left_because, "a scene let go of was withdrawn"),
        Ok(Err(error)) if error.code() == Some(ErrorCode::SceneClaimed) => tracing::info!(
            left_because,
            "a scene let go of was not withdrawn: a phone had confirmed it already"
        ),
        Ok(Err(error)) => tracing::warn!(
            %error,
            left_because,
            "the server did not take back a scene let go of; it lapses by itself"
        ),
        Err(_elapsed) => tracing::warn!(
            left_because,
            ?within,
            "the server did not answer a scene's withdrawal in time; it lapses by itself"
        ),
    }
}
