//! What travels over the admin socket: one request per connection, then one response, each a line
//! of JSON. The request names the command (`"command": "add_user"`, ...); the response is either the
//! command's reply or a refusal with a stable code (the contract's [`ErrorCode`]) and a message for
//! the operator.

use meeteasy_auth::domain::UserSummary;
use meeteasy_protocol::{ErrorCode, Invite, LoginMethod, Secret, TeamRole, User};
use serde::{Deserialize, Serialize, Serializer};
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _};

/// The longest request the server reads: a command and its arguments, far below this.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// The longest response the client reads: room for a long user list.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// An operator command. `Debug` hides the password ([`Secret`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    AddUser {
        login: String,
        display_name: String,
        roles: Vec<String>,
        #[serde(serialize_with = "expose_secret")]
        password: Secret,
    },
    Grant {
        /// A login (email or phone) or a user id.
        user: String,
        role: String,
    },
    RotateKeys {
        compromised: bool,
    },
    RevokeRole {
        /// A login (email or phone) or a user id.
        user: String,
        role: String,
    },
    ListUsers,
    ShowUser {
        user: String,
    },
    EndSessions {
        user: String,
    },
    UnlinkWechat {
        /// A login (email or phone) or a user id.
        user: String,
        /// Unlink even when the account has no password login, leaving no way in.
        leave_no_way_in: bool,
    },
    Invite {
        role: TeamRole,
        /// Seconds; the server's default (a day) when absent.
        expires_in: Option<u64>,
        /// The origin the command was given (flag, environment or its config file), which the
        /// invite's link takes over the one the server was configured with.
        #[serde(default)]
        public_url: Option<String>,
    },
}

impl AdminRequest {
    /// Whether the command may be the first to use a data directory: one that only reads or
    /// changes what is there finds nothing in a new one, most likely a mistyped `--data-dir`.
    pub fn may_start_a_store(&self) -> bool {
        match self {
            AdminRequest::AddUser { .. }
            | AdminRequest::RotateKeys { .. }
            | AdminRequest::Invite { .. } => true,
            AdminRequest::Grant { .. }
            | AdminRequest::RevokeRole { .. }
            | AdminRequest::ListUsers
            | AdminRequest::ShowUser { .. }
            | AdminRequest::EndSessions { .. }
            | AdminRequest::UnlinkWechat { .. } => false,
        }
    }
}

/// What a command did, one variant per command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum AdminReply {
    UserAdded {
        user: User,
    },
    RoleGranted {
        user: User,
    },
    KeysRotated {
        current: String,
        next: String,
        /// Still accepted for tokens signed before; empty after a compromised rotation.
        retired: Vec<String>,
        compromised: bool,
    },
    RoleRevoked {
        user: User,
    },
    Users {
        users: Vec<UserListing>,
    },
    UserShown {
        user: UserListing,
    },
    SessionsEnded {
        user: String,
        ended: u64,
    },
    WechatUnlinked {
        user: User,
        /// WeChat identity keys the account lost.
        identities: usize,
        /// Sessions a WeChat login had opened, and what derived from them.
        sessions_ended: u64,
        /// Keys a WeChat login at that very moment made lead back: run the command again.
        leading_again: usize,
    },
    /// The code is shown to the operator once; the store keeps only its hash.
    InviteMade {
        invite: Box<Invite>,
        code: String,
        link: String,
        /// Its QR when the app draws invites as mini program codes: a PNG, base64.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mini_program_code: Option<String>,
    },
}

/// A user as `users list` and `users show` print them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListing {
    pub user: User,
    pub login: Option<String>,
    /// None from a server before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claiming: Option<String>,
    pub methods: Vec<LoginMethod>,
    pub last_login_at: Option<u64>,
}

impl From<UserSummary> for UserListing {
    fn from(summary: UserSummary) -> Self {
        Self {
            user: summary.user,
            login: summary.login,
            claiming: summary.claiming,
            methods: summary.methods,
            last_login_at: summary.last_login_at,
        }
    }
}

/// The server's one answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AdminResponse {
    Done(AdminReply),
    Refused { error: ErrorCode, message: String },
}

/// The password goes on the wire (the socket is owner-only); [`Secret`] itself has no `Serialize`,
/// so that no other type serializes one by accident.
fn expose_secret<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("the other end sent nothing")]
    Empty,
    #[error("longer than {limit} bytes")]
    TooLong { limit: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one message: up to a newline or the end of the stream, at most `limit` bytes (the
/// newline not counted).
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: R,
    limit: u64,
) -> Result<Vec<u8>, LineError> {
    let mut line = Vec::new();
    // One byte past the limit tells a line of exactly `limit` bytes from a longer one.
    reader.take(limit + 1).read_until(b'\n', &mut line).await?;
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() as u64 > limit {
        return Err(LineError::TooLong { limit });
    }
    if line.is_empty() {
        return Err(LineError::Empty);
    }
    Ok(line)
}

/// A message as it is sent: its JSON and a newline.
pub fn to_line<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_request(request: &AdminRequest) -> AdminRequest {
        let line = to_line(request).expect("serializes");
        serde_json::from_slice(&line).expect("deserializes")
    }

    #[test]
    fn a_request_names_its_command_and_carries_the_password() {
        let request = AdminRequest::AddUser {
            login: "ann@example.org".to_owned(),
            display_name: "Ann".to_owned(),
            roles: vec!["organizer".to_owned()],
            password: Secret::new("s3cret pass"),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&to_line(&request).expect("serializes")).expect("json");
        assert_eq!(json["command"], "add_user");
        assert_eq!(json["password"], "s3cret pass");
        match round_trip_request(&request) {
            AdminRequest::AddUser { password, .. } => assert_eq!(password.expose(), "s3cret pass"),
            other @ (AdminRequest::Grant { .. }
            | AdminRequest::RotateKeys { .. }
            | AdminRequest::RevokeRole { .. }
            | AdminRequest::ListUsers
            | AdminRequest::ShowUser { .. }
            | AdminRequest::EndSessions { .. }
            | AdminRequest::UnlinkWechat { .. }
            | AdminRequest::Invite { .. }) => panic!("came back as {other:?}"),
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let request = AdminRequest::AddUser {
            login: "ann@example.org".to_owned(),
            display_name: "Ann".to_owned(),
            roles: Vec::new(),
            password: Secret::new("s3cret pass"),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("ann@example.org"), "{shown}");
    }

    #[test]
    fn unknown_commands_and_fields_are_refused() {
        for line in [
            r#"{"command":"drop_everything"}"#,
            r#"{"command":"grant","user":"u1","role":"organizer","extra":1}"#,
            r#"{"user":"u1","role":"organizer"}"#,
        ] {
            assert!(
                serde_json::from_str::<AdminRequest>(line).is_err(),
                "{line} was taken"
            );
        }
    }

    #[test]
    fn responses_round_trip() {
        for response in [
            AdminResponse::Done(AdminReply::RoleGranted {
                user: User {
                    id: "u1".to_owned(),
                    display_name: "Ann".to_owned(),
                    avatar_url: None,
                    roles: vec!["organizer".to_owned()],
                },
            }),
            AdminResponse::Done(AdminReply::KeysRotated {
                current: "k2".to_owned(),
                next: "k3".to_owned(),
                retired: vec!["k1".to_owned()],
                compromised: false,
            }),
            AdminResponse::Refused {
                error: ErrorCode::InvalidRequest,
                message: "no such user".to_owned(),
            },
        ] {
            let line = to_line(&response).expect("serializes");
            assert_eq!(line.last(), Some(&b'\n'));
            let back: AdminResponse = serde_json::from_slice(&line).expect("deserializes");
            assert_eq!(back, response);
        }
        let refused: serde_json::Value = serde_json::from_slice(
            &to_line(&AdminResponse::Refused {
                error: ErrorCode::AccessDenied,
                message: "not yours".to_owned(),
            })
            .expect("serializes"),
        )
        .expect("json");
        assert_eq!(
            refused,
            serde_json::json!({"outcome": "refused", "error": "access_denied", "message": "not yours"})
        );
    }

    #[tokio::test]
    async fn a_line_ends_at_a_newline_or_the_end_of_the_stream() {
        let mut two = &b"first\nsecond"[..];
        assert_eq!(read_line(&mut two, 10).await.expect("read"), b"first");
        assert_eq!(read_line(&mut two, 10).await.expect("read"), b"second");
        assert!(matches!(
            read_line(&mut two, 10).await,
            Err(LineError::Empty)
        ));
    }

    #[tokio::test]
    async fn a_line_past_the_limit_is_refused_without_reading_on() {
        let exactly = read_line(&b"0123456789\n"[..], 10).await.expect("fits");
        assert_eq!(exactly.len(), 10);
        assert!(matches!(
            read_line(&b"0123456789A\n"[..], 10).await,
            Err(LineError::TooLong { limit: 10 })
        ));
        assert!(matches!(
            read_line(&b"0123456789A"[..], 10).await,
            Err(LineError::TooLong { limit: 10 })
        ));
    }
}
