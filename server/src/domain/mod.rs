//! The auth domain: users, login tickets, scan-login scenes, access tokens and password login.
//!
//! Nothing here knows about HTTP, Redis or how WeChat is reached: state goes through the
//! [`Store`](crate::store::Store) trait, WeChat through the [`WeChat`](crate::wechat::WeChat) trait,
//! and answers are the wire types of `meeteasy-protocol`.

mod account;
mod account_changes;
mod address_turns;
mod admin;
mod clock;
mod device_names;
mod error;
mod invites;
mod jwt_crypto;
mod last_seen_memo;
mod limits;
mod links;
mod login_claims;
mod logins;
mod passwords;
mod poll_slots;
mod recent;
mod records;
mod scenes;
mod secrets;
mod service;
pub mod sessions;
mod signing_keys;
pub mod store_keys;
mod team;
#[cfg(test)]
mod test_support;
mod tickets;
mod tokens;
mod turns;
mod users;
mod verified_tokens;

pub use admin::{Admin, InviteCodes, OperatorInvite, RotatedKeys, UnlinkedWechat, UserSummary};
pub use clock::unix_now;
pub use device_names::is_hidden_or_reordering;
pub use error::AuthError;
pub use invites::{OPERATOR_USER_ID, invite_link, operator_user};
pub use logins::MiniProgramLogin;
pub use scenes::SceneAnswer;
pub use secrets::{NoRandomness, is_scene_shaped, random_token};
pub use service::{AuthService, ClientAddr};
pub use signing_keys::{Rotation, SealedKeysError};
pub use team::{TeamActor, TeamCaller};
/// For the domain's users outside it (the WeChat client's token lock, the HTTP handlers) to test
/// against.
#[cfg(test)]
pub(crate) use test_support::{Calls, Fault, FaultyStore, TestWeChat, settings as test_settings};
pub use users::{NewPasswordUser, UserRef};
