//! What an operator does to users from the command line: add a password user, grant a role.
//! Needs only the store, so it runs without WeChat or signing keys.

use std::sync::Arc;

use meeteasy_protocol::User;

use crate::store::Store;

use super::users::{self, NewPasswordUser, UserRef};
use super::{AuthError, passwords};

pub struct UserAdmin {
    store: Arc<dyn Store>,
}

impl UserAdmin {
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
}
