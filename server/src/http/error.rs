//! The HTTP boundary's one error type: every failure becomes the contract's
//! `{"error": code, "message": text}` with its status, mapped here and nowhere else.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meeteasy_protocol::{ErrorBody, ErrorCode};

use crate::domain::AuthError;
use crate::wechat::WeChatError;

#[derive(Debug)]
pub enum ApiError {
    Auth(AuthError),
    NoSuchRoute,
    MethodNotAllowed,
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::Auth(error)
    }
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::Auth(AuthError::InvalidRequest(message.into()))
    }

    /// The code, the message for people, and how long to wait before retrying (for 429s).
    fn describe(&self) -> (ErrorCode, String, Option<Duration>) {
        let error = match self {
            Self::NoSuchRoute => return (ErrorCode::NotFound, "no such endpoint".into(), None),
            Self::MethodNotAllowed => {
                return (
                    ErrorCode::MethodNotAllowed,
                    "this endpoint does not take that method".into(),
                    None,
                );
            }
            Self::Auth(error) => error,
        };
        let message = error.to_string();
        match error {
            AuthError::InvalidRequest(_) => (ErrorCode::InvalidRequest, message, None),
            AuthError::UnknownApp(_) => (ErrorCode::UnknownApp, message, None),
            AuthError::WeChat(wechat) => match wechat {
                WeChatError::CodeInvalid(_) => (ErrorCode::WechatCodeInvalid, message, None),
                WeChatError::UserBlocked => (ErrorCode::WechatUserBlocked, message, None),
                WeChatError::RateLimited => (
                    ErrorCode::WechatRateLimited,
                    message,
                    Some(Duration::from_secs(60)),
                ),
                WeChatError::Unavailable(detail) => {
                    tracing::warn!(%detail, "WeChat call failed");
                    (
                        ErrorCode::WechatUnavailable,
                        "WeChat is unavailable; try again shortly".into(),
                        None,
                    )
                }
            },
            AuthError::TicketInvalid => (ErrorCode::TicketInvalid, message, None),
            AuthError::TicketExpired => (ErrorCode::TicketExpired, message, None),
            AuthError::TicketUsed => (ErrorCode::TicketUsed, message, None),
            AuthError::SceneClaimed => (ErrorCode::SceneClaimed, message, None),
            AuthError::SceneExpired => (ErrorCode::SceneExpired, message, None),
            AuthError::NotOrganizer => (ErrorCode::NotOrganizer, message, None),
            AuthError::AccessDenied => (ErrorCode::AccessDenied, message, None),
            AuthError::InvalidPollToken => (ErrorCode::InvalidPollToken, message, None),
            AuthError::SlowDown { retry_after } => {
                (ErrorCode::SlowDown, message, Some(*retry_after))
            }
            AuthError::TooManyRequests { retry_after } => {
                (ErrorCode::TooManyRequests, message, Some(*retry_after))
            }
            AuthError::InvalidCredentials => (ErrorCode::InvalidCredentials, message, None),
            AuthError::TooManyAttempts { retry_after } => {
                (ErrorCode::TooManyAttempts, message, Some(*retry_after))
            }
            AuthError::InvalidToken(_) => (ErrorCode::InvalidToken, message, None),
            AuthError::TokenExpired => (ErrorCode::TokenExpired, message, None),
            AuthError::TokenRevoked => (ErrorCode::TokenRevoked, message, None),
            AuthError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    ErrorCode::InternalError,
                    "something went wrong on the server".into(),
                    None,
                )
            }
            AuthError::Store(store) => {
                tracing::warn!(error = %store, "store operation failed");
                (
                    ErrorCode::StoreUnavailable,
                    "the session store is unavailable; try again shortly".into(),
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, message, retry_after) = self.describe();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error: code,
                message,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(wait) = retry_after {
            // Whole seconds, rounded up: a client that waits exactly this long is not refused again.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
