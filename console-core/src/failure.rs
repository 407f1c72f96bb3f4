//! How the console's commands and jobs fail, as the UI gets it: one error type with a stable
//! code per case, from the server's answers and the console's own work. Apart from [`crate::console`]
//! so that the jobs it runs (the scan loop) report failures without depending on it.

use meeteasy_protocol::ErrorCode;
use serde::{Serialize, Serializer, ser::SerializeStruct};

use crate::api::{ApiError, ClientSetupError, is_busy};
use crate::preferences::PreferencesError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnded {
    Expired,
    Revoked,
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("not logged in")]
    NotLoggedIn,
    /// The server says the session is over; the console has forgotten it.
    #[error("the session has ended ({0:?})")]
    SessionEnded(SessionEnded),
    #[error("the server could not be reached")]
    Unreachable,
    #[error("{message}")]
    Server { code: ErrorCode, message: String },
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// A busy or failing status without the contract's body (a proxy's 502 while the server
    /// restarts, its 429): the way to the server works, the server will be back.
    #[error("HTTP {status}")]
    ServerNotAnswering { status: u16 },
    #[error(transparent)]
    Preferences(#[from] PreferencesError),
    #[error("could not open the browser: {0}")]
    Browser(#[source] std::io::Error),
    /// The server answered with a redirect, which the console does not follow (the text says where).
    #[error("{0}")]
    Redirected(String),
    /// An error answer with a code this build does not know; code and message as the server sent.
    #[error("{message}")]
    ServerOther { code: String, message: String },
    /// The console cannot make HTTP calls at all (see [`ClientSetupError`]): reported once, not
    /// retried, since trying again fails the same way.
    #[error(transparent)]
    ClientSetup(#[from] ClientSetupError),
    /// A file could not be written (saving an invite's QR).
    #[error("could not save {path}: {source}")]
    Save {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ConsoleError {
    /// The stable code the UI branches on (contract codes pass through unchanged).
    pub fn code(&self) -> &str {
        match self {
            Self::NotLoggedIn => "not_logged_in",
            Self::SessionEnded(SessionEnded::Expired) => "session_expired",
            Self::SessionEnded(SessionEnded::Revoked) => "session_revoked",
            Self::SessionEnded(SessionEnded::Invalid) => "session_invalid",
            Self::Unreachable => "server_unreachable",
            Self::Server { code, .. } => code.as_str(),
            Self::Unexpected(_) => "unexpected_answer",
            Self::ServerNotAnswering { .. } => "server_not_answering",
            Self::Preferences(PreferencesError::InvalidServer(_)) => "invalid_server_url",
            Self::Preferences(PreferencesError::Save(_)) => "preferences_not_saved",
            Self::Browser(_) => "browser_failed",
            Self::Redirected(_) => "server_redirected",
            Self::ServerOther { code, .. } => code,
            Self::Save { .. } => "file_not_saved",
            Self::ClientSetup(_) => "client_setup_failed",
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unreachable => Self::Unreachable,
            ApiError::Rejected { code, message, .. } => Self::Server { code, message },
            ApiError::RejectedOther { code, message, .. } => Self::ServerOther { code, message },
            ApiError::ErrorStatus { status } if is_busy(status) => {
                Self::ServerNotAnswering { status }
            }
            ApiError::ErrorStatus { status } => {
                Self::Unexpected(format!("HTTP {status} without an error body"))
            }
            ApiError::Unexpected(detail) => Self::Unexpected(detail),
            redirected @ ApiError::Redirected { .. } => Self::Redirected(redirected.to_string()),
        }
    }
}

impl Serialize for ConsoleError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_struct("ConsoleError", 2)?;
        body.serialize_field("code", self.code())?;
        body.serialize_field("message", &self.to_string())?;
        body.end()
    }
}

/// A command's failure as the UI gets it, inside an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
}

impl From<&ConsoleError> for Problem {
    fn from(err: &ConsoleError) -> Self {
        Self {
            code: err.code().to_owned(),
            message: err.to_string(),
        }
    }
}
