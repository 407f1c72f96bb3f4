//! Runs an [`AdminRequest`] against the store: the one place a command meets the domain, whether it
//! came over the admin socket of a running server or from a command line that opened the store.

use meeteasy_auth::domain::{Admin, AuthError, NewPasswordUser, Rotation, UserRef};
use meeteasy_auth::key_sealing::KeyEncryptionKey;

use super::wire::{AdminReply, AdminRequest};

pub struct Dispatcher {
    admin: Admin,
    /// What the signing keys are sealed with on this store: a rotation seals the new ones with it.
    key_encryption_key: Option<KeyEncryptionKey>,
}

impl Dispatcher {
    pub fn new(admin: Admin, key_encryption_key: Option<KeyEncryptionKey>) -> Self {
        Self {
            admin,
            key_encryption_key,
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
        }
    }
}
