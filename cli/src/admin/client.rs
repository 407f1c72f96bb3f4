//! The command line's end of the admin socket: connect if a server is there, send one request,
//! read its one response.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meeteasy_protocol::ErrorCode;
use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

use super::wire::{self, AdminReply, AdminRequest, AdminResponse, LineError, MAX_RESPONSE_BYTES};

/// How long the server may take to answer: a password hash waits its turn behind the server's own.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a command sent to a running server did not get its reply.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error(
        "the admin socket {path} is not open to this user: run this command as the user the server runs as (the data directory's owner)"
    )]
    NotYours { path: PathBuf },
    /// The server serves only its own account, so a socket another account serves is not the
    /// server's: a data directory someone else controls (a mistyped path, say) must not be sent a
    /// password or believed about what it did.
    #[error(
        "the admin socket {path} is served by uid {server}, not by this user (uid {me}): nothing was sent; check the data directory, and run this command as the user the server runs as"
    )]
    ServedByAnother { path: PathBuf, server: u32, me: u32 },
    #[error("cannot reach the admin socket {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("cannot send the command to the server: {0}")]
    Send(io::Error),
    /// The command was sent: the server may have run it all the same.
    #[error(
        "the server did not answer within {0:?}; a command that changes something may have taken effect all the same: check (users list, team list) before running it again"
    )]
    TimedOut(Duration),
    /// Also after the command was sent, so the same may be true.
    #[error("cannot read the server's answer (a change may have taken effect all the same): {0}")]
    Read(#[from] LineError),
    #[error("the server's answer makes no sense (is it another version of meeteasy-auth?): {0}")]
    Malformed(serde_json::Error),
    #[error("cannot encode the command: {0}")]
    Encode(serde_json::Error),
    /// The server ran the command and the domain refused it, or the server refused the connection.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
}

/// Connects to the admin socket at `path`: `None` when no server listens there (no socket, or one
/// a stopped server left).
pub async fn connect(path: &Path) -> Result<Option<UnixStream>, AdminClientError> {
    match UnixStream::connect(path).await {
        Ok(stream) => {
            let connect_error = |source| AdminClientError::Connect {
                path: path.to_owned(),
                source,
            };
            let server = stream.peer_cred().map_err(connect_error)?.uid();
            let me = rustix::process::geteuid().as_raw();
            if server != me {
                return Err(AdminClientError::ServedByAnother {
                    path: path.to_owned(),
                    server,
                    me,
                });
            }
            Ok(Some(stream))
        }
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            Err(AdminClientError::NotYours {
                path: path.to_owned(),
            })
        }
        Err(source) => Err(AdminClientError::Connect {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Sends `request` and returns the server's reply.
pub async fn send(
    mut stream: UnixStream,
    request: &AdminRequest,
) -> Result<AdminReply, AdminClientError> {
    let line = wire::to_line(request).map_err(AdminClientError::Encode)?;
    if let Err(error) = stream.write_all(&line).await {
        // A server that refuses a connection answers and closes before reading the request: its
        // answer says why, and is still there to read.
        return match receive(&mut stream).await {
            Ok(AdminResponse::Refused { error, message }) => Err(AdminClientError::Refused {
                code: error,
                message,
            }),
            Ok(AdminResponse::Done(_)) | Err(_) => Err(AdminClientError::Send(error)),
        };
    }
    match receive(&mut stream).await? {
        AdminResponse::Done(reply) => Ok(reply),
        AdminResponse::Refused { error, message } => Err(AdminClientError::Refused {
            code: error,
            message,
        }),
    }
}

async fn receive(stream: &mut UnixStream) -> Result<AdminResponse, AdminClientError> {
    let answer = tokio::time::timeout(
        RESPONSE_TIMEOUT,
        wire::read_line(BufReader::new(stream), MAX_RESPONSE_BYTES),
    )
    .await
    .map_err(|_elapsed| AdminClientError::TimedOut(RESPONSE_TIMEOUT))??;
    serde_json::from_slice(&answer).map_err(AdminClientError::Malformed)
}
