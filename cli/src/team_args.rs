//! The command line of the organizer team: `invite`, `users list|show|revoke-role|unlink-wechat`
//! and `sessions revoke`, each a request to the store the server uses (see `admin`).

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{Args, Subcommand};
use meeteasy_auth::config::Overrides;
use meeteasy_protocol::{ADMIN_ROLE, ORGANIZER_ROLE, TeamRole};

use crate::admin::AdminRequest;
use crate::args::StoreArgs;

/// `organizer` or `admin`, as the contract spells them.
fn team_role() -> impl clap::builder::TypedValueParser<Value = TeamRole> {
    PossibleValuesParser::new([ORGANIZER_ROLE, ADMIN_ROLE])
        .try_map(|name| TeamRole::parse(&name).ok_or(NotATeamRole(name)))
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a team role")]
struct NotATeamRole(String);

#[derive(Debug, Args)]
pub struct InviteArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The role the invite gives.
    #[arg(long, value_parser = team_role())]
    pub role: TeamRole,
    /// Seconds until the invite expires (default a day, at most a week).
    #[arg(long)]
    pub expires_in: Option<u64>,
    /// Also writes the invite's QR as a PNG to this file, to send in a chat.
    #[arg(long)]
    pub qr: Option<PathBuf>,
    /// The origin phones reach the server at, as `serve` takes it, for the invite's link; without
    /// it (or public_url in --config) the one the server was given, and none is guessed.
    #[arg(long, env = "MEETEASY_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl InviteArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            public_url: self.public_url.clone(),
            ..self.store.overrides()
        }
    }

    /// The invite, its link on `public_url` (this command's, from the flag, the environment or its
    /// config file), else on the one a running server was given.
    pub fn request(&self, public_url: Option<String>) -> AdminRequest {
        AdminRequest::Invite {
            role: self.role,
            expires_in: self.expires_in,
            public_url,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListUsersArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ShowUserArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The user's login (email or phone) or id.
    pub user: String,
}

impl ShowUserArgs {
    pub fn request(&self) -> AdminRequest {
        AdminRequest::ShowUser {
            user: self.user.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct RevokeRoleArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The user's login (email or phone) or id.
    pub user: String,
    /// The role to take, as it was granted. Taking `organizer` takes `admin` too and ends the
    /// user's console sessions at once.
    pub role: String,
}

impl RevokeRoleArgs {
    pub fn request(&self) -> AdminRequest {
        AdminRequest::RevokeRole {
            user: self.user.clone(),
            role: self.role.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct UnlinkWechatArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The user's login (email or phone) or id.
    pub user: String,
    /// Unlink even when the account has no password login: no way into it is left (its roles
    /// stay; its owner's next WeChat login makes a new account, to invite again).
    #[arg(long)]
    pub leave_no_way_in: bool,
}

impl UnlinkWechatArgs {
    pub fn request(&self) -> AdminRequest {
        AdminRequest::UnlinkWechat {
            user: self.user.clone(),
            leave_no_way_in: self.leave_no_way_in,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Ends every session of a user (console, H5, mini program, and what derives from them).
    Revoke(RevokeSessionsArgs),
}

#[derive(Debug, Args)]
pub struct RevokeSessionsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The user's login (email or phone) or id.
    #[arg(long)]
    pub user: String,
}

impl RevokeSessionsArgs {
    pub fn request(&self) -> AdminRequest {
        AdminRequest::EndSessions {
            user: self.user.clone(),
        }
    }
}
