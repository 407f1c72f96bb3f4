//! Sessions (v1.1): every token's `sid` names one, which its user can list and end.

use serde::{Deserialize, Serialize};

use crate::token::Audience;

/// `Session` of the contract: one live session of the caller's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    /// The kind of client it was opened for (`console`, `h5` or `miniprogram`).
    pub client: Audience,
    pub device_name: Option<String>,
    pub ip: String,
    pub created_at: u64,
    /// When the server last saw the session's token, to within a minute.
    pub last_seen_at: u64,
    /// How the user authenticated (the token's `amr`).
    pub methods: Vec<String>,
    /// The session of the token that asked for the list.
    pub current: bool,
}

/// `GET /auth/sessions` answer: newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionsResponse {
    pub sessions: Vec<Session>,
}

/// `POST /auth/sessions/revoke-others` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSessions {
    pub revoked: u64,
}
