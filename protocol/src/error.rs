//! The stable error codes of the contract and the HTTP status each one travels with.

use serde::de::IntoDeserializer as _;
use serde::{Deserialize, Deserializer, Serialize};

/// Every error body: `{"error": "<code>", "message": "<human text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
    /// A finer cause than `error`, where one helps the client say more (an extension of v1: an
    /// `access_denied` from `islogin` carries `not_organizer` when the confirming account lacks
    /// the role). Clients that do not know it keep working on `error` alone: a reason this build
    /// does not know reads as none, rather than making the whole body unreadable.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_or_none"
    )]
    pub reason: Option<ErrorCode>,
}

fn known_or_none<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ErrorCode>, D::Error> {
    let Some(reason) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let reason = reason.as_str().into_deserializer();
    Ok(ErrorCode::deserialize::<serde::de::value::StrDeserializer<'_, D::Error>>(reason).ok())
}

/// Stable, snake_case error codes. Clients branch on these; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    NotFound,
    MethodNotAllowed,
    UnknownApp,
    WechatCodeInvalid,
    WechatUserBlocked,
    WechatRateLimited,
    WechatUnavailable,
    TicketInvalid,
    TicketExpired,
    TicketUsed,
    SceneClaimed,
    SceneExpired,
    NotOrganizer,
    AccessDenied,
    InvalidPollToken,
    SlowDown,
    TooManyRequests,
    InvalidCredentials,
    TooManyAttempts,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    SessionNotFound,
    StoreUnavailable,
    InternalError,
    /// The server cannot take this request now: more of its kind than it takes on at once
    /// (password hashing), or another change of the same record written first (an account's
    /// login or password, a WeChat's account); retry after `Retry-After`. An extension of v1:
    /// clients that do not know it see a 503.
    ServerBusy,
    /// v1.1: the invite code is unknown or malformed.
    InviteInvalid,
    /// v1.1: the invite is past `expires_at`, or was revoked.
    InviteExpired,
    /// v1.1: the invite was accepted already (by someone else, or by this user's earlier accept).
    InviteUsed,
    /// v1.1: the login or WeChat identity belongs to another account.
    IdentityInUse,
    /// v1.1: the change would leave the team with no admin.
    LastAdmin,
    /// v1.1: the caller lacks the role the endpoint needs.
    Forbidden,
}

impl ErrorCode {
    /// The HTTP status the contract pairs with this code.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::InvalidCredentials
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::TokenRevoked
            | Self::TicketInvalid
            | Self::TicketExpired
            | Self::TicketUsed
            | Self::InvalidPollToken
            | Self::WechatCodeInvalid => 401,
            Self::NotOrganizer | Self::AccessDenied | Self::WechatUserBlocked | Self::Forbidden => {
                403
            }
            Self::NotFound | Self::UnknownApp | Self::SessionNotFound | Self::InviteInvalid => 404,
            Self::MethodNotAllowed => 405,
            Self::SceneClaimed | Self::InviteUsed | Self::IdentityInUse | Self::LastAdmin => 409,
            Self::SceneExpired | Self::InviteExpired => 410,
            Self::SlowDown
            | Self::TooManyRequests
            | Self::TooManyAttempts
            | Self::WechatRateLimited => 429,
            Self::InternalError => 500,
            Self::WechatUnavailable => 502,
            Self::StoreUnavailable | Self::ServerBusy => 503,
        }
    }

    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnknownApp => "unknown_app",
            Self::WechatCodeInvalid => "wechat_code_invalid",
            Self::WechatUserBlocked => "wechat_user_blocked",
            Self::WechatRateLimited => "wechat_rate_limited",
            Self::WechatUnavailable => "wechat_unavailable",
            Self::TicketInvalid => "ticket_invalid",
            Self::TicketExpired => "ticket_expired",
            Self::TicketUsed => "ticket_used",
            Self::SceneClaimed => "scene_claimed",
            Self::SceneExpired => "scene_expired",
            Self::NotOrganizer => "not_organizer",
            Self::AccessDenied => "access_denied",
            Self::InvalidPollToken => "invalid_poll_token",
            Self::SlowDown => "slow_down",
            Self::TooManyRequests => "too_many_requests",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TooManyAttempts => "too_many_attempts",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::SessionNotFound => "session_not_found",
            Self::StoreUnavailable => "store_unavailable",
            Self::InternalError => "internal_error",
            Self::ServerBusy => "server_busy",
            Self::InviteInvalid => "invite_invalid",
            Self::InviteExpired => "invite_expired",
            Self::InviteUsed => "invite_used",
            Self::IdentityInUse => "identity_in_use",
            Self::LastAdmin => "last_admin",
            Self::Forbidden => "forbidden",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde::de::value::{Error, U32Deserializer};

    use super::{ErrorBody, ErrorCode};

    /// Every variant, in declaration order. serde's derive numbers the variants and refuses the index
    /// past the last one, so a variant added later is listed here without anyone remembering to.
    fn every_code() -> Vec<ErrorCode> {
        (0..)
            .map_while(|index| ErrorCode::deserialize(U32Deserializer::<Error>::new(index)).ok())
            .collect()
    }

    #[test]
    fn as_str_is_the_serde_name_of_every_code() {
        let codes = every_code();
        assert_eq!(codes.first(), Some(&ErrorCode::InvalidRequest));
        for (index, code) in codes.into_iter().enumerate() {
            assert_eq!(code as usize, index, "{code:?} out of order");
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            let parsed: ErrorCode = serde_json::from_value(code.as_str().into()).unwrap();
            assert_eq!(parsed, code);
        }
    }

    /// A newer server may give a finer reason this build does not know: the body still reads,
    /// by its `error`.
    #[test]
    fn a_reason_this_build_does_not_know_reads_as_none() {
        let body = r#"{"error":"access_denied","message":"no","reason":"a_reason_from_later"}"#;
        let body: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!((body.error, body.reason), (ErrorCode::AccessDenied, None));
        let known = r#"{"error":"access_denied","message":"no","reason":"not_organizer"}"#;
        let known: ErrorBody = serde_json::from_str(known).unwrap();
        assert_eq!(known.reason, Some(ErrorCode::NotOrganizer));
        let none: ErrorBody =
            serde_json::from_str(r#"{"error":"access_denied","message":"no"}"#).unwrap();
        assert_eq!(none.reason, None);
    }
}
