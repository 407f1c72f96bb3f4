//! The wire types of the contract's v1.1 "organizer team" and "more ways into one account", as the
//! console reads and sends them: `Member`, `Invite`, creating an invite, adding a password login.
//!
//! They live here, not in `meeteasy-protocol`, because the console was written against the contract
//! while the server's side of it was being built; they are the contract's shapes field for field,
//! and unknown fields are ignored as the contract requires.

use meeteasy_protocol::{QrInfo, User};
use serde::{Deserialize, Serialize};

/// The role an invite grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteRole {
    Organizer,
    Admin,
}

/// `Member` = `{"user": User, "methods": ["wechat" | "password", ...], "last_login_at"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: User,
    pub methods: Vec<String>,
    /// Unix seconds; `None` for someone who has not logged in since joining.
    #[serde(default)]
    pub last_login_at: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TeamResponse {
    pub members: Vec<Member>,
}

/// `Invite`: its `id` is a public handle; the secret code is never listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: String,
    pub role: InviteRole,
    pub created_by: User,
    pub created_at: u64,
    pub expires_at: u64,
    #[serde(default)]
    pub accepted_by: Option<User>,
    #[serde(default)]
    pub accepted_at: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvitesResponse {
    pub invites: Vec<Invite>,
}

/// `POST /auth/invites`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateInviteRequest {
    pub role: InviteRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// Its 201 answer. `code` is the invite's secret: the console keeps it to itself (the QR and, in
/// `url` mode, the link carry it to whoever the admin sends them to).
#[derive(Clone, Deserialize)]
pub struct CreatedInvite {
    pub invite: Invite,
    pub code: String,
    pub qr: QrInfo,
}

impl std::fmt::Debug for CreatedInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedInvite")
            .field("invite", &self.invite)
            .field("code", &"<hidden>")
            .field("qr", &self.qr.png_url)
            .finish()
    }
}

/// `POST /auth/me/password`.
#[derive(Clone, Serialize)]
pub struct SetPasswordRequest {
    pub login: String,
    pub password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
}

/// The ways into an account the contract names in `Member.methods`.
pub const METHOD_PASSWORD: &str = "password";
pub const METHOD_WECHAT: &str = "wechat";
/// The role that may manage the team.
pub const ADMIN_ROLE: &str = "admin";
