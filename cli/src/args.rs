//! The command line: `serve`, `users add|grant|list|show|revoke-role|unlink-wechat`, `invite`, `sessions revoke`,
//! `keys rotate`, and with the dev tools `fake-wechat` and `phone scan`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use meeteasy_auth::config::{self, Overrides};
#[cfg(feature = "dev-tools")]
use meeteasy_devtools::{fake_wechat::FakeWeChatArgs, phone::PhoneScanArgs};
use meeteasy_protocol::Secret;

use crate::admin::AdminRequest;
use crate::team_args::{
    InviteArgs, ListUsersArgs, RevokeRoleArgs, SessionsCommand, ShowUserArgs, UnlinkWechatArgs,
};

#[derive(Debug, Parser)]
#[command(
    name = "meeteasy-auth",
    version,
    about = "MeetEasy auth server: WeChat scan-to-login, tickets and JWTs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the auth server.
    Serve(ServeArgs),
    /// Manages users in the store the server uses.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Makes an invite to the organizer team: prints its link and draws its QR to scan with the
    /// mini program.
    Invite(InviteArgs),
    /// Ends sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Manages the keys tokens are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Runs a fake WeChat API server (for tests and trying things out).
    #[cfg(feature = "dev-tools")]
    FakeWechat(FakeWeChatArgs),
    /// Simulates a phone: scans a console's QR and confirms or declines.
    #[cfg(feature = "dev-tools")]
    #[command(subcommand)]
    Phone(PhoneCommand),
}

/// Where the store is; shared by `serve`, `users` and `keys`. On the embedded store, `users` and
/// `keys` go through the admin socket in the data directory when a server runs there.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// A TOML config file.
    #[arg(long, env = "MEETEASY_CONFIG")]
    pub config: Option<PathBuf>,
    /// `embedded` (the default), or `redis://`, `redis-sentinel://` or `redis-cluster://` URLs.
    /// (`--help` hides its variable's value: a Redis URL may carry a password.)
    #[arg(long, env = "MEETEASY_STORE", hide_env_values = true, value_parser = secret)]
    pub store: Option<Secret>,
    /// Where the embedded store keeps its database.
    #[arg(long, env = "MEETEASY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// A file holding the key-encryption key (32 bytes, base64) that seals the signing keys in the
    /// store. The key itself may come from MEETEASY_KEY_ENCRYPTION_KEY instead (no flag: the process
    /// list would show it).
    #[arg(long, env = config::KEY_ENCRYPTION_KEY_FILE_ENV)]
    pub key_encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The address to listen on.
    #[arg(long, env = "MEETEASY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The origin phones and browsers reach this server at.
    #[arg(long, env = "MEETEASY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Dev mode: `dev:<name>` codes, a phone simulator page, a fake WeChat. Never in production.
    /// (`--dev=false` or MEETEASY_DEV=false turns off a config file's `dev = true`.)
    #[arg(long, env = "MEETEASY_DEV", num_args = 0..=1, default_missing_value = "true")]
    pub dev: Option<bool>,
    /// Login ticket lifetime in seconds.
    #[arg(long, env = "MEETEASY_TICKET_TTL")]
    pub ticket_ttl: Option<u64>,
    /// Scene lifetime in seconds.
    #[arg(long, env = "MEETEASY_SCENE_TTL")]
    pub scene_ttl: Option<u64>,
    /// Open connections at most (default 20000); past it new ones get 429.
    #[arg(long, env = "MEETEASY_MAX_CONNECTIONS")]
    pub max_connections: Option<u64>,
    /// Open connections from one address, an IPv6 /64 (default 1000); loopback and trusted
    /// proxies are exempt.
    #[arg(long, env = "MEETEASY_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<u64>,
    /// Seconds a client has to send a request's head (default 10).
    #[arg(long, env = "MEETEASY_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Seconds a client has to send a request's body, or to take more of a response (default 10).
    #[arg(long, env = "MEETEASY_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request (default 75).
    #[arg(long, env = "MEETEASY_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Seconds requests in flight at shutdown get to finish before their connections are cut
    /// (default 20).
    #[arg(long, env = "MEETEASY_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
}

impl StoreArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            store: self.store.clone(),
            data_dir: self.data_dir.clone(),
            key_encryption_key_file: self.key_encryption_key_file.clone(),
            key_encryption_key: key_encryption_key_from_env(),
            ..Overrides::default()
        }
    }
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            public_url: self.public_url.clone(),
            dev: self.dev,
            ticket_ttl: self.ticket_ttl,
            scene_ttl: self.scene_ttl,
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
            shutdown_timeout: self.shutdown_timeout,
            ..self.store.overrides()
        }
    }
}

/// A secret flag's value, kept out of `Debug`.
fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

/// [`config::KEY_ENCRYPTION_KEY_ENV`], read here rather than by clap, which would also offer a flag.
/// A value that is not UTF-8 is passed on as it decodes, to be refused as no key.
fn key_encryption_key_from_env() -> Option<Secret> {
    std::env::var_os(config::KEY_ENCRYPTION_KEY_ENV)
        .map(|value| Secret::new(value.to_string_lossy().into_owned()))
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Adds a user who logs in with a password read from standard input.
    Add(AddUserArgs),
    /// Grants a role to a user, named by login or id.
    Grant(GrantArgs),
    /// Lists the team and the users who log in with a password.
    List(ListUsersArgs),
    /// Shows one user, named by login or id.
    Show(ShowUserArgs),
    /// Takes a role from a user; taking `organizer` ends their console sessions at once.
    RevokeRole(RevokeRoleArgs),
    /// Takes every WeChat way into a user's account, and ends the sessions WeChat logins opened.
    UnlinkWechat(UnlinkWechatArgs),
}

#[derive(Debug, Args)]
pub struct AddUserArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Email or phone number.
    #[arg(long)]
    pub login: String,
    /// The name shown in the console and on pages.
    #[arg(long)]
    pub name: String,
    /// A role to give (repeatable), e.g. `organizer`.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Read the password from standard input (the only way: never on the command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The user's login (email or phone) or id.
    pub user: String,
    pub role: String,
}

impl AddUserArgs {
    pub fn request(&self, password: Secret) -> AdminRequest {
        AdminRequest::AddUser {
            login: self.login.clone(),
            display_name: self.name.clone(),
            roles: self.roles.clone(),
            password,
        }
    }
}

impl GrantArgs {
    pub fn request(&self) -> AdminRequest {
        AdminRequest::Grant {
            user: self.user.clone(),
            role: self.role.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Makes the published next key the signing key and draws a new next key. Tokens signed before
    /// keep verifying until they expire; running servers on the same store switch within moments.
    /// (A server running on the embedded store rotates them itself, through its admin socket.)
    Rotate(RotateKeysArgs),
}

#[derive(Debug, Args)]
pub struct RotateKeysArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The stored keys leaked: replace both and stop accepting every token signed before them, so
    /// the leaked keys forge nothing. Every session must log in again.
    #[arg(long)]
    pub compromised: bool,
}

impl RotateKeysArgs {
    pub fn request(&self) -> AdminRequest {
        AdminRequest::RotateKeys {
            compromised: self.compromised,
        }
    }
}

#[cfg(feature = "dev-tools")]
#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// Scans a console's QR (or scene) as a mini program user and confirms or declines.
    Scan(PhoneScanArgs),
}
