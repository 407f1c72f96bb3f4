//! The admin socket of a running server on the embedded store: `<data-dir>/admin.sock`, which only
//! the account the server runs as may open. The store is locked by the server, so this is how
//! `users` and `keys` reach it while it runs (kanidm's admin socket works the same way).
//!
//! Two locks keep others out: the file is mode 0600 inside the 0700 data directory, and every
//! connection's peer credentials must name the socket's owner (root included: it runs the command
//! as the server's user, or stops the server). A connection gets one request, read within
//! [`REQUEST_TIMEOUT`] and at most [`MAX_REQUEST_BYTES`], and one response.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meeteasy_auth::http::error::ApiError;
use meeteasy_protocol::ErrorCode;
use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::dispatch::Dispatcher;
use super::wire::{self, AdminRequest, AdminResponse, LineError, MAX_REQUEST_BYTES};

/// The socket's name in the data directory.
pub const SOCKET_FILE: &str = "admin.sock";
/// How long a client has to send its request once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may take to write (the client reads it).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long commands under way at shutdown may take to finish before they are cut off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const SOCKET_MODE: u32 = 0o600;

/// Why the admin socket cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdminSocketError {
    #[error(
        "another server answers on the admin socket {path}: it already serves this data directory; stop it first"
    )]
    AnotherServer { path: PathBuf },
    #[error("{path} is in the way of the admin socket and is not a socket; move it away")]
    NotASocket { path: PathBuf },
    #[error("cannot set up the admin socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the admin socket {path} would be {length} bytes long, and a socket's path holds at most {MAX_SOCKET_PATH}: use a shorter data directory"
    )]
    PathTooLong { path: PathBuf, length: usize },
}

/// The longest path a Unix socket takes on Linux (`sun_path` holds 108 bytes with its closing NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Where the admin socket of `data_dir` is, refused when its path is too long to be a socket's
/// (the system would say only that a path must be shorter than `SUN_LEN`).
pub fn socket_path(data_dir: &Path) -> Result<PathBuf, AdminSocketError> {
    let path = data_dir.join(SOCKET_FILE);
    let length = path.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(AdminSocketError::PathTooLong { path, length });
    }
    Ok(path)
}

/// Why one connection got no answer, or a refusal; for the log.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("cannot learn who connected: {0}")]
    PeerCredentials(io::Error),
    #[error("uid {peer} is not the server's user (uid {owner})")]
    NotTheOwner { peer: u32, owner: u32 },
    #[error("no request within {0:?}")]
    TimedOut(Duration),
    #[error("cannot read the request: {0}")]
    Read(#[from] LineError),
    #[error("the request is not one this server knows: {0}")]
    Malformed(serde_json::Error),
    #[error("cannot send the response: {0}")]
    Write(io::Error),
    #[error("cannot encode the response: {0}")]
    Encode(serde_json::Error),
}

impl ConnectionError {
    /// What the client is told, when it can be told anything.
    fn refusal(&self) -> Option<AdminResponse> {
        let (error, message) = match self {
            Self::NotTheOwner { .. } => (
                ErrorCode::AccessDenied,
                format!(
                    "{self}: run the command as the user the server runs as, or stop the server"
                ),
            ),
            Self::PeerCredentials(_) => (ErrorCode::AccessDenied, self.to_string()),
            Self::TimedOut(_) | Self::Read(_) | Self::Malformed(_) => {
                (ErrorCode::InvalidRequest, self.to_string())
            }
            Self::Write(_) | Self::Encode(_) => return None,
        };
        Some(AdminResponse::Refused { error, message })
    }
}

/// A bound admin socket, not yet serving.
pub struct AdminSocket {
    listener: UnixListener,
    file: SocketFile,
    /// The only uid let in: the socket file's owner, which is the account the server runs as (a
    /// process's new files are owned by its effective uid).
    owner: u32,
    request_timeout: Duration,
}

impl AdminSocket {
    /// Binds `<data_dir>/admin.sock`, owner-only. A socket left by a server that crashed is
    /// replaced; one that answers belongs to a running server and is refused.
    pub async fn bind(data_dir: &Path) -> Result<AdminSocket, AdminSocketError> {
        let path = socket_path(data_dir)?;
        let io_error = |source| AdminSocketError::Io {
            path: path.clone(),
            source,
        };
        clear_stale_socket(&path).await?;
        let listener = UnixListener::bind(&path).map_err(io_error)?;
        let file = SocketFile(path.clone());
        // The data directory is 0700, so nobody else reached the socket before this.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_error)?;
        let owner = std::fs::metadata(&path).map_err(io_error)?.uid();
        Ok(AdminSocket {
            listener,
            file,
            owner,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    pub fn path(&self) -> &Path {
        &self.file.0
    }

    /// Lets only `owner` in, to test refusing a user who is not the socket's owner.
    #[cfg(test)]
    pub fn owned_by(self, owner: u32) -> Self {
        Self { owner, ..self }
    }

    #[cfg(test)]
    pub fn with_request_timeout(self, request_timeout: Duration) -> Self {
        Self {
            request_timeout,
            ..self
        }
    }

    /// Serves until [`RunningAdminSocket::stop`].
    pub fn serve(self, dispatcher: Arc<Dispatcher>) -> RunningAdminSocket {
        let (stop, stopped) = watch::channel(false);
        let admission = Admission {
            owner: self.owner,
            request_timeout: self.request_timeout,
        };
        let task = tokio::spawn(accept_loop(self.listener, admission, dispatcher, stopped));
        RunningAdminSocket {
            stop,
            task,
            _file: self.file,
        }
    }
}

pub struct RunningAdminSocket {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// Removed when this is dropped: at shutdown, or when the start fails after binding.
    _file: SocketFile,
}

impl RunningAdminSocket {
    /// Stops taking connections, lets commands under way finish (for a while) and removes the
    /// socket file.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the admin socket's task failed");
        }
    }
}

/// The socket file, removed when dropped.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %self.0.display(), %error, "cannot remove the admin socket");
            }
        }
    }
}

/// Makes way for a new socket at `path`: nothing there, or a socket nobody answers on (its server
/// crashed), which is removed.
async fn clear_stale_socket(path: &Path) -> Result<(), AdminSocketError> {
    let io_error = |source| AdminSocketError::Io {
        path: path.to_owned(),
        source,
    };
    let file_type = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata.file_type(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(error)),
    };
    if !file_type.is_socket() {
        return Err(AdminSocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    match UnixStream::connect(path).await {
        Ok(_answered) => Err(AdminSocketError::AnotherServer {
            path: path.to_owned(),
        }),
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(io_error)?;
            tracing::info!(path = %path.display(), "removed the admin socket a stopped server left");
            Ok(())
        }
        Err(error) => Err(io_error(error)),
    }
}

/// Who is let in, and how long they have to ask.
#[derive(Clone, Copy)]
struct Admission {
    owner: u32,
    request_timeout: Duration,
}

async fn accept_loop(
    listener: UnixListener,
    admission: Admission,
    dispatcher: Arc<Dispatcher>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _changed = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _address)) => {
                    connections.spawn(serve_connection(stream, admission, dispatcher.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: the next accept may do better.
                    tracing::warn!(%error, "the admin socket cannot accept a connection");
                }
            },
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            "admin commands still running {SHUTDOWN_GRACE:?} into shutdown were cut off"
        );
    }
}

async fn serve_connection(stream: UnixStream, admission: Admission, dispatcher: Arc<Dispatcher>) {
    if let Err(error) = answer(stream, admission, &dispatcher).await {
        match error {
            ConnectionError::NotTheOwner { .. } | ConnectionError::PeerCredentials(_) => {
                tracing::warn!(%error, "admin socket: connection refused");
            }
            ConnectionError::TimedOut(_)
            | ConnectionError::Read(_)
            | ConnectionError::Malformed(_)
            | ConnectionError::Write(_)
            | ConnectionError::Encode(_) => {
                tracing::info!(%error, "admin socket: bad connection");
            }
        }
    }
}

/// Checks who connected, reads their request, runs it and answers.
async fn answer(
    mut stream: UnixStream,
    admission: Admission,
    dispatcher: &Dispatcher,
) -> Result<(), ConnectionError> {
    let request = match read_request(&mut stream, admission).await {
        Ok(request) => request,
        Err(error) => {
            if let Some(refusal) = error.refusal() {
                // Best effort: the refusal in the log is what counts.
                let _unsent = respond(&mut stream, &refusal).await;
            }
            return Err(error);
        }
    };
    // `Debug` hides the password.
    let command = format!("{request:?}");
    let response = match dispatcher.run(request).await {
        Ok(reply) => {
            tracing::info!(%command, "admin command done");
            AdminResponse::Done(reply)
        }
        Err(error) => {
            let message = error.to_string();
            tracing::info!(%command, %message, "admin command refused");
            AdminResponse::Refused {
                error: ApiError::from(error).body().error,
                message,
            }
        }
    };
    respond(&mut stream, &response).await
}

async fn read_request(
    stream: &mut UnixStream,
    admission: Admission,
) -> Result<AdminRequest, ConnectionError> {
    let peer = stream
        .peer_cred()
        .map_err(ConnectionError::PeerCredentials)?
        .uid();
    admit(peer, admission.owner)?;
    let line = tokio::time::timeout(
        admission.request_timeout,
        wire::read_line(BufReader::new(&mut *stream), MAX_REQUEST_BYTES),
    )
    .await
    .map_err(|_elapsed| ConnectionError::TimedOut(admission.request_timeout))??;
    serde_json::from_slice(&line).map_err(ConnectionError::Malformed)
}

/// Only the socket's owner is served.
fn admit(peer: u32, owner: u32) -> Result<(), ConnectionError> {
    if peer == owner {
        Ok(())
    } else {
        Err(ConnectionError::NotTheOwner { peer, owner })
    }
}

async fn respond(stream: &mut UnixStream, response: &AdminResponse) -> Result<(), ConnectionError> {
    let line = wire::to_line(response).map_err(ConnectionError::Encode)?;
    tokio::time::timeout(RESPONSE_TIMEOUT, async {
        stream.write_all(&line).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_elapsed| {
        ConnectionError::Write(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client took no response",
        ))
    })?
    .map_err(ConnectionError::Write)
}
