//! Desktop scan login: scenes, their QR, the phone's scan and the console's long-poll.

use serde::{Deserialize, Serialize};

use crate::User;

/// `POST /auth/scenes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateSceneRequest {
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateSceneResponse {
    pub scene: String,
    pub poll_token: String,
    pub expires_in: u64,
    pub interval: u64,
    pub qr: QrInfo,
}

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
}

/// Who scanned, as the console shows it before the confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerProfile {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

/// `GET /auth/scenes/{scene}/islogin` answers with status 200.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
