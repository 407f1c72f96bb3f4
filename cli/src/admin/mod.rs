//! Operator commands (`users`, `keys`) as requests: run over the admin socket of a server that
//! holds the embedded store, or against the store itself when no server does, or always against
//! the store on Redis (shared by every instance, never locked).
//!
//! A new command is an [`AdminRequest`] variant and its [`AdminReply`] variant (`wire.rs`), an arm
//! in [`Dispatcher::run`] (`dispatch.rs`), its clap arguments with a `request()` in `args.rs`, an
//! arm in `main.rs` calling `commands::admin_command`, and its reply's arm in
//! `commands::print_reply`. The compiler points at each match that misses it; the transport and the
//! routing need nothing.

mod client;
mod dispatch;
mod server;
#[cfg(test)]
mod tests;
mod wire;

pub use client::AdminClientError;
pub use dispatch::Dispatcher;
pub use server::{AdminSocket, AdminSocketError, socket_path};
pub use wire::{AdminReply, AdminRequest, UserListing};

use std::sync::Arc;

use meeteasy_auth::config::{AppSettings, CommandConfig, StoreLocation, WeChatSettings};
use meeteasy_auth::domain::{Admin, InviteCodes};
use meeteasy_auth::server::{StartError, open_store};
use meeteasy_auth::store::embedded::{DATABASE_FILE, EmbeddedOpenError};
use meeteasy_auth::wechat::client::WeChatClient;

use crate::commands::CommandError;

/// Runs `request` where the store `config` names can take it.
pub async fn run(config: CommandConfig, request: AdminRequest) -> Result<AdminReply, CommandError> {
    run_drawing_invites(config, request, || None).await
}

/// [`run`], where an invite made on the store itself is drawn as `invite_app` (the app, and how
/// WeChat is reached; asked only then) says: a mini program code in `wxacode` mode. Over the admin
/// socket the server draws it as its own configuration says.
pub async fn run_drawing_invites(
    config: CommandConfig,
    request: AdminRequest,
    invite_app: impl FnOnce() -> Option<(AppSettings, WeChatSettings)>,
) -> Result<AdminReply, CommandError> {
    // The key-encryption key was checked whichever way the request goes: over the socket the
    // server seals with its own, but a key given here that cannot be read or is not a key is a
    // mistake to say, not to skip.
    let CommandConfig {
        store: location,
        key_encryption_key,
        public_url,
    } = config;
    if let StoreLocation::Embedded { data_dir } = &location {
        let socket = server::socket_path(data_dir)?;
        if let Some(stream) = client::connect(&socket).await? {
            return Ok(client::send(stream, &request).await?);
        }
        let database = data_dir.join(DATABASE_FILE);
        if !database.exists() {
            // Said whole: a relative data directory is the working directory's, which may not be
            // the running server's.
            let path = crate::commands::whole(database);
            if !request.may_start_a_store() {
                return Err(CommandError::NoStore { path });
            }
            tracing::warn!(path = %path.display(), "no store here yet: making a new one (is this the data directory the server uses?)");
        }
    }
    let store = match open_store(&location).await {
        Ok(store) => store,
        Err(StartError::Embedded(EmbeddedOpenError::Locked { path })) => {
            return Err(CommandError::LockedWithoutAdminSocket { path });
        }
        Err(error) => return Err(error.into()),
    };
    let mut admin = Admin::new(Arc::clone(&store));
    if let Some((app, wechat)) = invite_app() {
        let wechat = WeChatClient::new(&wechat, store).map_err(StartError::from)?;
        let wechat = Arc::new(wechat);
        admin = admin.with_invite_codes(InviteCodes { app, wechat });
    }
    let dispatcher = Dispatcher::new(admin, key_encryption_key, public_url);
    Ok(dispatcher.run(request).await?)
}
