//! Desktop scan login: scenes, their QR, the phone's scan and the console's long-poll.

use serde::{Deserialize, Serialize};

use crate::User;
use crate::redact::debug_hiding;

/// `POST /auth/scenes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateSceneRequest {
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
}

/// What a scene is for (v1.1): logging a console in, or linking the scanner's WeChat to the
/// console user's account. `login` when absent, so a v1 client keeps working unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenePurpose {
    #[default]
    Login,
    Link,
}

/// `POST /auth/scenes` as the server reads it: the v1 request's fields plus the v1.1 `purpose`
/// (kept out of [`CreateSceneRequest`] so v1 clients that build that struct keep compiling; its
/// fields are repeated rather than flattened, so a bad field is still named in the error).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SceneRequest {
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub purpose: ScenePurpose,
}

impl SceneRequest {
    /// A scene for `purpose` with the v1 request's fields.
    pub fn new(scene: CreateSceneRequest, purpose: ScenePurpose) -> Self {
        Self {
            app: scene.app,
            device_name: scene.device_name,
            purpose,
        }
    }

    /// The v1 request's fields.
    pub fn scene(&self) -> CreateSceneRequest {
        CreateSceneRequest {
            app: self.app.clone(),
            device_name: self.device_name.clone(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct CreateSceneResponse {
    pub scene: String,
    pub poll_token: String,
    pub expires_in: u64,
    pub interval: u64,
    pub qr: QrInfo,
}

debug_hiding!(CreateSceneResponse { scene, expires_in, interval, qr } hiding { poll_token });

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrInfo {
    pub png_url: String,
    /// The URL encoded in the QR, or `None` for a WeChat mini program code.
    pub content: Option<String>,
}

/// What the phone is shown about the console it is about to log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleInfo {
    pub device_name: String,
    pub ip: String,
    pub created_at: u64,
}

/// `POST /auth/scenes/{scene}/scan` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanResponse {
    pub console: ConsoleInfo,
    pub app: String,
    /// v1.1: `login` (the default) or `link`.
    #[serde(default)]
    pub purpose: ScenePurpose,
    /// v1.1, link scenes only: whose account the scanner's WeChat would join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountInfo>,
}

/// The account a link scene joins, as the phone shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub display_name: String,
}

/// `GET /auth/scenes/{scene}/islogin` answers of a link scene (v1.1): `linked` once, instead of a
/// token. A separate type from [`IsLoginResponse`] because a link scene never answers a token and a
/// login scene never answers `linked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LinkPollResponse {
    Pending,
    Scanned { user: ScannerProfile },
    Linked,
}

/// Who scanned, as the console shows it before the confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerProfile {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

/// `GET /auth/scenes/{scene}/islogin` answers with status 200.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IsLoginResponse {
    Pending,
    Scanned {
        user: ScannerProfile,
    },
    Confirmed {
        access_token: String,
        token_type: String,
        expires_in: u64,
        user: User,
    },
}

impl std::fmt::Debug for IsLoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending => f.write_str("Pending"),
            Self::Scanned { user } => f.debug_struct("Scanned").field("user", user).finish(),
            Self::Confirmed {
                expires_in, user, ..
            } => f
                .debug_struct("Confirmed")
                .field("access_token", &"<hidden>")
                .field("expires_in", expires_in)
                .field("user", user)
                .finish(),
        }
    }
}
