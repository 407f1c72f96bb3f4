//! The organizer team (v1.1): roles, members, invites, and more ways into one account.

use serde::{Deserialize, Serialize};

use crate::redact::debug_hiding;
use crate::{QrInfo, User};

/// The role that may manage the team. An admin always holds [`crate::ORGANIZER_ROLE`] too.
pub const ADMIN_ROLE: &str = "admin";

/// A role an invite gives (and an operator may take away).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    Organizer,
    Admin,
}

impl TeamRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Organizer => crate::ORGANIZER_ROLE,
            Self::Admin => ADMIN_ROLE,
        }
    }

    /// The role named `name`, if it is a team role.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            crate::ORGANIZER_ROLE => Some(Self::Organizer),
            ADMIN_ROLE => Some(Self::Admin),
            _other => None,
        }
    }
}

/// A way into an account, as the team list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Wechat,
    Password,
}

/// `Member` of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: User,
    pub methods: Vec<LoginMethod>,
    /// Unix seconds of the last successful login; `None` before the first one.
    pub last_login_at: Option<u64>,
}

/// `GET /auth/team` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamResponse {
    pub members: Vec<Member>,
}

/// `Invite` of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: String,
    pub role: TeamRole,
    pub created_by: User,
    pub created_at: u64,
    pub expires_at: u64,
    pub accepted_by: Option<User>,
    pub accepted_at: Option<u64>,
}

/// `POST /auth/invites`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateInviteRequest {
    pub role: TeamRole,
    /// Seconds; default 86400, at most 604800.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `POST /auth/invites` answer (201).
#[derive(Clone, Serialize, Deserialize)]
pub struct CreateInviteResponse {
    pub invite: Invite,
    pub code: String,
    pub qr: QrInfo,
}

debug_hiding!(CreateInviteResponse { invite } hiding { code, qr });

/// `GET /auth/invites` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitesResponse {
    pub invites: Vec<Invite>,
}

/// `POST /auth/invites/inspect` and `POST /auth/invites/accept`.
#[derive(Clone, Serialize, Deserialize)]
pub struct InviteCodeRequest {
    pub code: String,
}

debug_hiding!(InviteCodeRequest {} hiding { code });

/// Who invites, as the mini program shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inviter {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

/// `POST /auth/invites/inspect` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectInviteResponse {
    pub role: TeamRole,
    pub invited_by: Inviter,
    pub expires_at: u64,
}

/// `POST /auth/invites/accept` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcceptInviteResponse {
    pub user: User,
}

/// `POST /auth/me/password`.
#[derive(Clone, Serialize, Deserialize)]
pub struct SetPasswordRequest {
    pub login: String,
    pub password: String,
    #[serde(default)]
    pub current_password: Option<String>,
}

debug_hiding!(SetPasswordRequest { login } hiding { password, current_password });
