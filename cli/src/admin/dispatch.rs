//! Runs an [`AdminRequest`] against the store: the one place a command meets the domain, whether it
//! came over the admin socket of a running server or from a command line that opened the store.

use meeteasy_auth::domain::{Admin, AuthError, NewPasswordUser, Rotation, UserRef};
use meeteasy_auth::key_sealing::KeyEncryptionKey;

use std::time::Duration;

use base64::Engine as _;

use super::wire::{AdminReply, AdminRequest, UserListing};

pub struct Dispatcher {
    admin: Admin,
    /// What the signing keys are sealed with on this store: a rotation seals the new ones with it.
    key_encryption_key: Option<KeyEncryptionKey>,
    /// The server's origin, which invite links start with; `None` when a command opened the store
    /// itself and no config names it (a guess would put a wrong link in the invite's QR).
    public_url: Option<String>,
}

impl Dispatcher {
    pub fn new(
        admin: Admin,
        key_encryption_key: Option<KeyEncryptionKey>,
        public_url: Option<String>,
    ) -> Self {
        Self {
            admin,
            key_encryption_key,
            public_url,
        }
    }

    pub async fn run(&self, request: AdminRequest) -> Result<AdminReply, AuthError> {
        match request {
            AdminRequest::AddUser {
                login,
                display_name,
                roles,
                password,
            } => {
                let new = NewPasswordUser {
                    login,
                    display_name,
                    roles,
                    password,
                };
                let user = self.admin.add_password_user(new).await?;
                Ok(AdminReply::UserAdded { user })
            }
            AdminRequest::Grant { user, role } => {
                let user = self.admin.grant(&UserRef::parse(&user), &role).await?;
                Ok(AdminReply::RoleGranted { user })
            }
            AdminRequest::RotateKeys { compromised } => {
                let rotation = if compromised {
                    Rotation::Compromised
                } else {
                    Rotation::Scheduled
                };
                let keys = self
                    .admin
                    .rotate_keys(rotation, self.key_encryption_key.as_ref())
                    .await?;
                Ok(AdminReply::KeysRotated {
                    current: keys.current,
                    next: keys.next,
                    retired: keys.retired,
                    compromised,
                })
            }
            AdminRequest::RevokeRole { user, role } => {
                let user = self
                    .admin
                    .revoke_role(&UserRef::parse(&user), &role)
                    .await?;
                Ok(AdminReply::RoleRevoked { user })
            }
            AdminRequest::ListUsers => {
                let users = self.admin.list_users().await?;
                let users = users.into_iter().map(UserListing::from).collect();
                Ok(AdminReply::Users { users })
            }
            AdminRequest::ShowUser { user } => {
                let user = self.admin.show_user(&UserRef::parse(&user)).await?;
                Ok(AdminReply::UserShown { user: user.into() })
            }
            AdminRequest::UnlinkWechat {
                user,
                leave_no_way_in,
            } => {
                let who = UserRef::parse(&user);
                let unlinked = self.admin.unlink_wechat(&who, leave_no_way_in).await?;
                Ok(AdminReply::WechatUnlinked {
                    user: unlinked.user,
                    identities: unlinked.identities,
                    sessions_ended: unlinked.sessions_ended,
                    leading_again: unlinked.leading_again,
                })
            }
            AdminRequest::EndSessions { user } => {
                let ended = self.admin.end_user_sessions(&UserRef::parse(&user)).await?;
                Ok(AdminReply::SessionsEnded { user, ended })
            }
            AdminRequest::Invite {
                role,
                expires_in,
                public_url,
            } => {
                let Some(public_url) = public_url.as_ref().or(self.public_url.as_ref()) else {
                    return Err(AuthError::InvalidRequest(
                        "public_url: give this command --public-url (or public_url in --config), or give it to the server: the invite's link and QR must reach it".to_owned(),
                    ));
                };
                let lifetime = expires_in.map(Duration::from_secs);
                let made = self.admin.create_invite(role, lifetime, public_url).await?;
                Ok(AdminReply::InviteMade {
                    invite: Box::new(made.invite),
                    code: made.code,
                    link: made.link,
                    mini_program_code: made
                        .mini_program_code
                        .map(|png| base64::engine::general_purpose::STANDARD.encode(png)),
                })
            }
        }
    }
}
