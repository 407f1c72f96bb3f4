//! What an operator does from the command line: add a password user, grant a role, rotate the
//! signing keys. Needs only the store, so it runs without WeChat.

use std::sync::Arc;

use meeteasy_protocol::User;

use crate::key_sealing::KeyEncryptionKey;
use crate::store::Store;

use super::signing_keys::{self, Rotation};
use super::users::{self, NewPasswordUser, UserRef};
use super::{AuthError, passwords};

/// The signing keys after a rotation, by `kid`.
#[derive(Debug)]
pub struct RotatedKeys {
    pub current: String,
    pub next: String,
    /// Still published and accepted, for tokens signed before.
    pub retired: Vec<String>,
}

pub struct Admin {
    store: Arc<dyn Store>,
}

impl Admin {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub async fn add_password_user(&self, new: NewPasswordUser) -> Result<User, AuthError> {
        let hash = passwords::hash(new.password.clone()).await?;
        Ok(users::create_password_user(self.store.as_ref(), new, hash)
            .await?
            .to_wire())
    }

    pub async fn grant(&self, who: &UserRef, role: &str) -> Result<User, AuthError> {
        Ok(users::grant(self.store.as_ref(), who, role)
            .await?
            .to_wire())
    }

    /// Rotates the signing keys, sealing them with `key_encryption_key` if given (as the servers on
    /// this store must); running instances switch within moments.
    pub async fn rotate_keys(
        &self,
        rotation: Rotation,
        key_encryption_key: Option<&KeyEncryptionKey>,
    ) -> Result<RotatedKeys, AuthError> {
        let ring = signing_keys::rotate(self.store.as_ref(), rotation, key_encryption_key).await?;
        Ok(RotatedKeys {
            current: ring.current_kid().to_owned(),
            next: ring.next_kid().to_owned(),
            retired: ring.retired_kids().map(str::to_owned).collect(),
        })
    }
}
