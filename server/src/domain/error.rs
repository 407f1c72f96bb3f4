//! Why a domain operation failed. The HTTP layer maps each case, once, to a status and a stable code.

use std::time::Duration;

use crate::store::StoreError;
use crate::wechat::WeChatError;

use super::secrets::NoRandomness;
use super::signing_keys::SealedKeysError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A request field is missing, malformed or out of range; the text names the field.
    #[error("{0}")]
    InvalidRequest(String),
    #[error("no mini program is configured under the key {0:?}")]
    UnknownApp(String),
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    #[error("this login ticket was never issued")]
    TicketInvalid,
    #[error("this login ticket has expired")]
    TicketExpired,
    #[error("this login ticket has already been used")]
    TicketUsed,
    #[error("another WeChat user has already scanned this code")]
    SceneClaimed,
    #[error("this login code has expired or was already used")]
    SceneExpired,
    #[error("this account has no organizer access")]
    NotOrganizer,
    #[error("the login was declined on the phone")]
    AccessDenied,
    /// What the console learns when someone without the organizer role confirmed its scene.
    #[error("the WeChat account that confirmed has no organizer access")]
    ConfirmedByNonOrganizer,
    #[error("the poll token does not belong to this scene")]
    InvalidPollToken,
    #[error("polled faster than the interval; wait or use ?wait=")]
    SlowDown { retry_after: Duration },
    #[error("too many requests from this address")]
    TooManyRequests { retry_after: Duration },
    #[error("wrong login or password")]
    InvalidCredentials,
    #[error("too many login attempts; try again later")]
    TooManyAttempts { retry_after: Duration },
    /// Missing, malformed, badly signed or for another audience; the text says which.
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the session of this token was logged out")]
    TokenRevoked,
    /// Not one of the caller's live sessions (someone else's, ended, unknown or malformed).
    #[error("no such session of yours")]
    SessionNotFound,
    #[error("this invite code is not valid")]
    InviteInvalid,
    #[error("this invite has expired or was revoked")]
    InviteExpired,
    #[error("this invite has already been accepted")]
    InviteUsed,
    /// A login or WeChat identity that belongs to another account.
    #[error("{0}")]
    IdentityInUse(&'static str),
    #[error("the team must keep at least one admin")]
    LastAdmin,
    /// The caller lacks the role the endpoint needs; the text names it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not now, try again shortly: more password hashes are running and queued than the server
    /// takes on (`password_hashing`), the account a WeChat leads to changed twice during its
    /// login, a login changed hands at every try of a claim, another change of the same
    /// account's login or password was written first (or took the login asked for), or a link or
    /// an invite is changing the account (see `account_changes`).
    #[error("the server is busy; try again shortly")]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed after a change the caller must know was made: the text says what stands
    /// and what to do; the store's own cause is for the log only.
    #[error("{done}")]
    StoreFailedAfter {
        done: &'static str,
        cause: StoreError,
    },
    #[error(transparent)]
    NoRandomness(#[from] NoRandomness),
    /// The stored signing keys cannot be opened (or sealed) with this instance's key-encryption key.
    #[error(transparent)]
    SealedKeys(#[from] SealedKeysError),
    /// A fault of this server (not of the request, the store or WeChat); the text is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}
