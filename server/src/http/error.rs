//! The HTTP boundary's one error type: every failure becomes the contract's
//! `{"error": code, "message": text}` with its status, mapped here and nowhere else. A failure of
//! the server or of what it depends on also carries its cause, for the log only ([`FaultCause`]):
//! the layer that observes requests logs it (`observe`), the answer never shows it.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meeteasy_protocol::{ErrorBody, ErrorCode};

use crate::domain::AuthError;
use crate::http::serve::Refusal;
use crate::wechat::WeChatError;

#[derive(Debug)]
pub enum ApiError {
    Auth(AuthError),
    NoSuchRoute,
    MethodNotAllowed,
    /// The connection itself was refused: the server or this address holds its most connections.
    ConnectionRefused(Refusal),
}

/// How long a client refused a connection should wait: connections free up within seconds.
const CONNECTION_RETRY_AFTER: Duration = Duration::from_secs(1);

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::Auth(error)
    }
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::Auth(AuthError::InvalidRequest(message.into()))
    }

    /// The contract's error body for this error.
    pub fn body(&self) -> ErrorBody {
        self.describe().body
    }

    /// The body, and the cause to log when the error is a fault: for an error that goes inside a
    /// success (the one-step login's `scene_error`), whose cause the log must still tell.
    pub fn body_and_cause(&self) -> (ErrorBody, Option<FaultCause>) {
        let Described { body, cause, .. } = self.describe();
        (body, cause)
    }

    fn describe(&self) -> Described {
        let error = match self {
            Self::NoSuchRoute => return Described::new(ErrorCode::NotFound, "no such endpoint"),
            Self::MethodNotAllowed => {
                return Described::new(
                    ErrorCode::MethodNotAllowed,
                    "this endpoint does not take that method",
                );
            }
            // The contract's one "back off and retry" answer; clients (the console among them)
            // wait for its Retry-After. A 503 would need a code the contract does not list.
            Self::ConnectionRefused(Refusal::ServerFull) => {
                return Described::new(
                    ErrorCode::TooManyRequests,
                    "the server is at its connection limit; retry shortly",
                )
                .retry_after(CONNECTION_RETRY_AFTER);
            }
            Self::ConnectionRefused(Refusal::AddressFull) => {
                return Described::new(
                    ErrorCode::TooManyRequests,
                    "too many open connections from this address; close some or retry shortly",
                )
                .retry_after(CONNECTION_RETRY_AFTER);
            }
            Self::Auth(error) => error,
        };
        let message = error.to_string();
        match error {
            AuthError::InvalidRequest(_) => Described::new(ErrorCode::InvalidRequest, message),
            AuthError::UnknownApp(_) => Described::new(ErrorCode::UnknownApp, message),
            AuthError::WeChat(wechat) => match wechat {
                WeChatError::CodeInvalid(_) => {
                    Described::new(ErrorCode::WechatCodeInvalid, message)
                }
                WeChatError::UserBlocked => Described::new(ErrorCode::WechatUserBlocked, message),
                WeChatError::RateLimited => Described::new(ErrorCode::WechatRateLimited, message)
                    .retry_after(Duration::from_secs(60)),
                WeChatError::Unavailable(detail) => Described::new(
                    ErrorCode::WechatUnavailable,
                    "WeChat is unavailable; try again shortly",
                )
                .caused_by(FaultSource::WeChat, format!("WeChat call failed: {detail}")),
                WeChatError::Store(detail) => store_unavailable(detail),
            },
            AuthError::TicketInvalid => Described::new(ErrorCode::TicketInvalid, message),
            AuthError::TicketExpired => Described::new(ErrorCode::TicketExpired, message),
            AuthError::TicketUsed => Described::new(ErrorCode::TicketUsed, message),
            AuthError::SceneClaimed => Described::new(ErrorCode::SceneClaimed, message),
            AuthError::SceneExpired => Described::new(ErrorCode::SceneExpired, message),
            AuthError::NotOrganizer => Described::new(ErrorCode::NotOrganizer, message),
            AuthError::AccessDenied => Described::new(ErrorCode::AccessDenied, message),
            AuthError::ConfirmedByNonOrganizer => {
                Described::new(ErrorCode::AccessDenied, message).reason(ErrorCode::NotOrganizer)
            }
            AuthError::InvalidPollToken => Described::new(ErrorCode::InvalidPollToken, message),
            AuthError::SlowDown { retry_after } => {
                Described::new(ErrorCode::SlowDown, message).retry_after(*retry_after)
            }
            AuthError::TooManyRequests { retry_after } => {
                Described::new(ErrorCode::TooManyRequests, message).retry_after(*retry_after)
            }
            AuthError::InvalidCredentials => Described::new(ErrorCode::InvalidCredentials, message),
            AuthError::TooManyAttempts { retry_after } => {
                Described::new(ErrorCode::TooManyAttempts, message).retry_after(*retry_after)
            }
            AuthError::InvalidToken(_) => Described::new(ErrorCode::InvalidToken, message),
            AuthError::TokenExpired => Described::new(ErrorCode::TokenExpired, message),
            AuthError::TokenRevoked => Described::new(ErrorCode::TokenRevoked, message),
            AuthError::SessionNotFound => Described::new(ErrorCode::SessionNotFound, message),
            AuthError::InviteInvalid => Described::new(ErrorCode::InviteInvalid, message),
            AuthError::InviteExpired => Described::new(ErrorCode::InviteExpired, message),
            AuthError::InviteUsed => Described::new(ErrorCode::InviteUsed, message),
            AuthError::IdentityInUse(_) => Described::new(ErrorCode::IdentityInUse, message),
            AuthError::LastAdmin => Described::new(ErrorCode::LastAdmin, message),
            AuthError::Forbidden(_) => Described::new(ErrorCode::Forbidden, message),
            AuthError::Busy { retry_after } => {
                Described::new(ErrorCode::ServerBusy, message).retry_after(*retry_after)
            }
            AuthError::Internal(detail) => Described::new(
                ErrorCode::InternalError,
                "something went wrong on the server",
            )
            .caused_by(FaultSource::Server, format!("internal error: {detail}")),
            AuthError::Store(store) => store_unavailable(store),
            AuthError::StoreFailedAfter { cause, .. } => {
                Described::new(ErrorCode::StoreUnavailable, message).caused_by(
                    FaultSource::Store,
                    format!("store operation failed: {cause}"),
                )
            }
            AuthError::NoRandomness(error) => Described::new(
                ErrorCode::InternalError,
                "something went wrong on the server",
            )
            .caused_by(
                FaultSource::Server,
                format!("cannot make a secret: {error}"),
            ),
            // Only at start and at key re-reads, never on a request; mapped all the same.
            AuthError::SealedKeys(error) => Described::new(
                ErrorCode::InternalError,
                "something went wrong on the server",
            )
            .caused_by(FaultSource::Server, format!("signing keys: {error}")),
        }
    }
}

/// A failed store operation: answered without its cause, which goes to the log.
fn store_unavailable(cause: &dyn std::fmt::Display) -> Described {
    Described::new(
        ErrorCode::StoreUnavailable,
        "the session store is unavailable; try again shortly",
    )
    .caused_by(
        FaultSource::Store,
        format!("store operation failed: {cause}"),
    )
}

/// Whose fault an answer is: the log says a fault outside this server as a warning (it may pass),
/// this server's own as an error; `/metrics` counts the store's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSource {
    Store,
    WeChat,
    Server,
}

/// Why an answer is a fault of the server or what it depends on, attached to the response for the
/// layer that logs requests. Never sent to the client.
#[derive(Debug, Clone)]
pub struct FaultCause {
    pub source: FaultSource,
    pub detail: String,
}

/// An error as it goes on the wire, how long to wait before retrying (for 429s), and the cause to
/// log.
struct Described {
    body: ErrorBody,
    retry_after: Option<Duration>,
    cause: Option<FaultCause>,
}

impl Described {
    fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            body: ErrorBody {
                error,
                message: message.into(),
                reason: None,
            },
            retry_after: None,
            cause: None,
        }
    }

    fn caused_by(mut self, source: FaultSource, detail: String) -> Self {
        self.cause = Some(FaultCause { source, detail });
        self
    }

    fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    fn reason(mut self, reason: ErrorCode) -> Self {
        self.body.reason = Some(reason);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Described {
            body,
            retry_after,
            cause,
        } = self.describe();
        let status = StatusCode::from_u16(body.error.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(wait) = retry_after {
            // Whole seconds, rounded up: a client that waits exactly this long is not refused again.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(cause) = cause {
            response.extensions_mut().insert(cause);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_after_a_change_says_what_stands_and_not_its_cause() {
        let done = "the password was changed, but not every other session could be ended";
        let cause = crate::store::StoreError::Unavailable("redis down".into());
        let body = ApiError::from(AuthError::StoreFailedAfter { done, cause }).body();
        assert_eq!(body.error, ErrorCode::StoreUnavailable);
        assert_eq!(body.message, done);
    }

    #[test]
    fn a_store_failure_behind_wechat_is_answered_as_a_store_outage() {
        let ours = ApiError::from(AuthError::WeChat(WeChatError::Store("redis down".into())));
        let body = ours.body();
        assert_eq!(body.error, ErrorCode::StoreUnavailable);
        assert_eq!(body.error.http_status(), 503);
        assert!(!body.message.contains("redis down"), "{}", body.message);
        let theirs = ApiError::from(AuthError::WeChat(WeChatError::Unavailable("-1".into())));
        assert_eq!(theirs.body().error, ErrorCode::WechatUnavailable);
    }

    #[test]
    fn a_fault_carries_its_cause_for_the_log_and_not_on_the_wire() {
        let response =
            ApiError::from(AuthError::Internal("the ledger is upside down".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = response.extensions().get::<FaultCause>().unwrap();
        assert_eq!(cause.source, FaultSource::Server);
        assert!(cause.detail.contains("the ledger is upside down"));
        let body = ApiError::from(AuthError::Internal("the ledger is upside down".into())).body();
        assert!(!body.message.contains("ledger"), "{}", body.message);

        let refused = ApiError::from(AuthError::TicketUsed).into_response();
        assert!(refused.extensions().get::<FaultCause>().is_none());
    }
}
