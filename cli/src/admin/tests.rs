//! The admin socket in-process: a real socket in a temp data directory, a real embedded store, the
//! real client. Who may connect, what a stale or busy socket does, and what bad clients get.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use meeteasy_auth::config::{self, Overrides};
use meeteasy_auth::domain::{Admin, AuthError};
use meeteasy_auth::store::embedded::EmbeddedStore;
use meeteasy_protocol::{ErrorCode, Secret};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use super::client::{self, AdminClientError};
use super::dispatch::Dispatcher;
use super::server::{AdminSocket, AdminSocketError, SOCKET_FILE};
use super::wire::{AdminReply, AdminRequest, AdminResponse};
use crate::commands::CommandError;

fn dispatcher(data_dir: &Path) -> Arc<Dispatcher> {
    let store = EmbeddedStore::open(data_dir).expect("the store opens");
    Arc::new(Dispatcher::new(
        Admin::new(Arc::new(store)),
        None,
        Some("http://127.0.0.1:8080".to_owned()),
    ))
}

fn add_ann() -> AdminRequest {
    AdminRequest::AddUser {
        login: "ann@example.org".to_owned(),
        display_name: "Ann".to_owned(),
        roles: Vec::new(),
        password: Secret::new("s3cret pass"),
    }
}

async fn send(data_dir: &Path, request: &AdminRequest) -> Result<AdminReply, AdminClientError> {
    let stream = client::connect(&data_dir.join(SOCKET_FILE))
        .await?
        .expect("a server listens");
    client::send(stream, request).await
}

/// Sends raw bytes and returns the one response line.
async fn exchange(data_dir: &Path, bytes: &[u8]) -> AdminResponse {
    let mut stream = UnixStream::connect(data_dir.join(SOCKET_FILE))
        .await
        .expect("connects");
    if !bytes.is_empty() {
        // The server may answer and close before taking all of an oversized request.
        let _partly_sent = stream.write_all(bytes).await;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("reads");
    serde_json::from_slice(&answer).expect("one JSON response")
}

fn my_uid(data_dir: &Path) -> u32 {
    std::fs::metadata(data_dir).expect("metadata").uid()
}

#[tokio::test]
async fn the_dispatcher_adds_and_grants_and_refuses_what_the_domain_refuses() {
    let dir = TempDir::new().expect("temp dir");
    let dispatcher = dispatcher(dir.path());
    let Ok(AdminReply::UserAdded { user }) = dispatcher.run(add_ann()).await else {
        panic!("ann was not added");
    };
    assert!(user.roles.is_empty());
    assert!(matches!(
        dispatcher.run(add_ann()).await,
        Err(AuthError::InvalidRequest(message)) if message.contains("already taken")
    ));
    let granted = dispatcher
        .run(AdminRequest::Grant {
            user: "Ann@Example.org".to_owned(),
            role: "organizer".to_owned(),
        })
        .await;
    assert!(
        matches!(&granted, Ok(AdminReply::RoleGranted { user: granted }) if granted.id == user.id && granted.roles == ["organizer"]),
        "{granted:?}"
    );
    let Ok(AdminReply::KeysRotated {
        retired,
        compromised,
        ..
    }) = dispatcher
        .run(AdminRequest::RotateKeys { compromised: true })
        .await
    else {
        panic!("the keys were not rotated");
    };
    assert!(compromised);
    assert!(retired.is_empty());
}

#[tokio::test]
async fn commands_over_the_socket_get_the_dispatchers_replies_and_refusals() {
    let dir = TempDir::new().expect("temp dir");
    let socket = AdminSocket::bind(dir.path()).await.expect("binds");
    let running = socket.serve(dispatcher(dir.path()));

    let added = send(dir.path(), &add_ann()).await.expect("added");
    assert!(matches!(added, AdminReply::UserAdded { .. }), "{added:?}");
    let refused = send(dir.path(), &add_ann()).await;
    assert!(
        matches!(&refused, Err(AdminClientError::Refused { code: ErrorCode::InvalidRequest, message }) if message.contains("already taken")),
        "{refused:?}"
    );
    let granted = send(
        dir.path(),
        &AdminRequest::Grant {
            user: "ann@example.org".to_owned(),
            role: "organizer".to_owned(),
        },
    )
    .await;
    assert!(
        matches!(&granted, Ok(AdminReply::RoleGranted { user }) if user.roles == ["organizer"]),
        "{granted:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn the_socket_is_owner_only_and_gone_after_stop() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join(SOCKET_FILE);
    let running = AdminSocket::bind(dir.path())
        .await
        .expect("binds")
        .serve(dispatcher(dir.path()));
    assert_eq!(
        std::fs::metadata(&path)
            .expect("socket")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    running.stop().await;
    assert!(!path.exists(), "the socket outlived the server");
    assert!(
        client::connect(&path).await.expect("no error").is_none(),
        "no server is reported as none"
    );
}

#[tokio::test]
async fn a_user_who_is_not_the_owner_is_refused_by_peer_credentials() {
    let dir = TempDir::new().expect("temp dir");
    let someone_else = my_uid(dir.path()) + 1;
    let running = AdminSocket::bind(dir.path())
        .await
        .expect("binds")
        .owned_by(someone_else)
        .serve(dispatcher(dir.path()));
    let refused = send(dir.path(), &add_ann()).await;
    assert!(
        matches!(&refused, Err(AdminClientError::Refused { code: ErrorCode::AccessDenied, message })
            if message.contains(&format!("(uid {someone_else})"))),
        "{refused:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_socket_left_by_a_crashed_server_is_replaced() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join(SOCKET_FILE);
    // Bound and closed without removing the file, as a killed server leaves it.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("binds"));
    assert!(path.exists());
    let running = AdminSocket::bind(dir.path())
        .await
        .expect("the stale socket is replaced")
        .serve(dispatcher(dir.path()));
    assert!(send(dir.path(), &add_ann()).await.is_ok());
    running.stop().await;
}

#[tokio::test]
async fn a_socket_a_server_answers_on_is_not_taken_over() {
    let dir = TempDir::new().expect("temp dir");
    let first = AdminSocket::bind(dir.path()).await.expect("binds");
    let second = AdminSocket::bind(dir.path()).await;
    assert!(
        matches!(second, Err(AdminSocketError::AnotherServer { .. })),
        "{:?}",
        second.err()
    );
    assert!(first.path().exists(), "the running server's socket is kept");
}

#[tokio::test]
async fn a_file_in_the_way_is_left_alone() {
    let dir = TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join(SOCKET_FILE), "notes").expect("write");
    let refused = AdminSocket::bind(dir.path()).await;
    assert!(
        matches!(refused, Err(AdminSocketError::NotASocket { .. })),
        "{:?}",
        refused.err()
    );
}

#[tokio::test]
async fn silent_oversized_and_malformed_requests_are_refused() {
    let dir = TempDir::new().expect("temp dir");
    let running = AdminSocket::bind(dir.path())
        .await
        .expect("binds")
        .with_request_timeout(Duration::from_millis(200))
        .serve(dispatcher(dir.path()));

    // A client that connects and sends nothing is let go.
    let mut silent = UnixStream::connect(dir.path().join(SOCKET_FILE))
        .await
        .expect("connects");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut answer))
        .await
        .expect("the server closes a silent connection")
        .expect("reads");
    let silent: AdminResponse = serde_json::from_slice(&answer).expect("json");
    assert!(
        matches!(&silent, AdminResponse::Refused { error: ErrorCode::InvalidRequest, message } if message.contains("no request within")),
        "{silent:?}"
    );

    let oversized = exchange(dir.path(), &vec![b'x'; 70 * 1024]).await;
    assert!(
        matches!(&oversized, AdminResponse::Refused { error: ErrorCode::InvalidRequest, message } if message.contains("longer than")),
        "{oversized:?}"
    );
    for malformed in [&b"{\"command\":\"drop_everything\"}\n"[..], b"not json\n"] {
        let answer = exchange(dir.path(), malformed).await;
        assert!(
            matches!(&answer, AdminResponse::Refused { error: ErrorCode::InvalidRequest, message } if message.contains("not one this server knows")),
            "{answer:?}"
        );
    }
    running.stop().await;
}

/// An operator command with `overrides`, as `main` runs it: its configuration read, then run.
async fn run(overrides: &Overrides, request: AdminRequest) -> Result<AdminReply, CommandError> {
    super::run(config::command_config(overrides)?, request).await
}

#[tokio::test]
async fn a_store_locked_by_a_server_without_a_socket_is_explained() {
    let dir = TempDir::new().expect("temp dir");
    // Held as a server that has not bound its socket yet (or one from before the socket) holds it.
    let _held = EmbeddedStore::open(dir.path()).expect("the store opens");
    let overrides = Overrides {
        data_dir: Some(dir.path().to_owned()),
        ..Overrides::default()
    };
    let refused = run(&overrides, add_ann()).await;
    assert!(
        matches!(refused, Err(CommandError::LockedWithoutAdminSocket { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_invite_made_without_a_known_public_url_is_refused_not_guessed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("the store opens");
    let dispatcher = Dispatcher::new(Admin::new(Arc::new(store)), None, None);
    let request = AdminRequest::Invite {
        role: meeteasy_protocol::TeamRole::Organizer,
        expires_in: None,
        public_url: None,
    };
    match dispatcher.run(request).await {
        Err(meeteasy_auth::domain::AuthError::InvalidRequest(message)) => {
            assert!(message.contains("--public-url"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A key-encryption key given to a command that a running server takes over its socket is still
/// read and checked: a missing file or a value that is no key fails the command, not passes it.
#[tokio::test]
async fn a_key_encryption_key_that_cannot_be_used_fails_the_command_a_server_would_take() {
    let dir = TempDir::new().expect("temp dir");
    let socket = AdminSocket::bind(dir.path()).await.expect("binds");
    let running = socket.serve(dispatcher(dir.path()));
    let with = |file: Option<&str>, key: Option<&str>| Overrides {
        data_dir: Some(dir.path().to_owned()),
        key_encryption_key_file: file.map(Into::into),
        key_encryption_key: key.map(Secret::new),
        ..Overrides::default()
    };
    for overrides in [
        with(Some("/nonexistent/kek"), None),
        with(None, Some("not a key")),
    ] {
        let refused = run(&overrides, add_ann()).await;
        assert!(
            matches!(&refused, Err(CommandError::Config(_))),
            "{refused:?}"
        );
    }
    let added = run(&with(None, None), add_ann()).await;
    assert!(
        matches!(added, Ok(AdminReply::UserAdded { .. })),
        "{added:?}"
    );
    running.stop().await;
}

/// The origin a command was given makes the invite's link, over the one the server was given;
/// with neither the invite is refused (see above).
#[tokio::test]
async fn an_invite_links_to_the_origin_the_command_was_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dispatcher = dispatcher(dir.path());
    for (given, link) in [
        (
            Some("https://auth.example.com"),
            "https://auth.example.com/m/invite/",
        ),
        (None, "http://127.0.0.1:8080/m/invite/"),
    ] {
        let request = AdminRequest::Invite {
            role: meeteasy_protocol::TeamRole::Organizer,
            expires_in: None,
            public_url: given.map(str::to_owned),
        };
        match dispatcher.run(request).await {
            Ok(AdminReply::InviteMade { link: made, .. }) => {
                assert!(made.starts_with(link), "{made}");
            }
            other => panic!("expected an invite, got {other:?}"),
        }
    }
}

/// A data directory whose socket path a Unix socket cannot take is refused by name and length,
/// by commands and by `serve` alike, instead of the system's "path must be shorter than SUN_LEN".
#[tokio::test]
async fn a_data_directory_too_deep_for_the_socket_is_refused_saying_why() {
    let dir = TempDir::new().expect("temp dir");
    let deep = dir.path().join("d".repeat(120));
    match AdminSocket::bind(&deep).await {
        Err(AdminSocketError::PathTooLong { length, .. }) => assert!(length > 107),
        Err(other) => panic!("expected PathTooLong, got {other}"),
        Ok(_) => panic!("bound a socket past the length a socket takes"),
    }
    let overrides = Overrides {
        data_dir: Some(deep),
        ..Overrides::default()
    };
    let refused = run(&overrides, add_ann()).await;
    let said = refused.expect_err("refused").to_string();
    assert!(said.contains("use a shorter data directory"), "{said}");
    assert!(super::socket_path(dir.path()).is_ok());
}
