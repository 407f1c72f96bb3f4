//! [`AuthService`]: the domain's one entry point, holding the store, WeChat, the settings and the
//! signing keys. Its operations are spread over the files of their area (tickets, scenes, ...).

use std::sync::Arc;
use std::time::Duration;

use meeteasy_protocol::{Audience, BEARER, Claims, Jwks, TokenResponse, User};
use tokio::sync::watch;

use crate::config::{AppSettings, Settings};
use crate::key_sealing::KeyEncryptionKey;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::wechat::WeChat;

use super::AuthError;
use super::poll_slots::PollSlots;
use super::signing_keys::SigningKeys;
use super::store_keys;
use super::users::{self, UserRecord};
use super::{passwords, tokens};

/// How often the signing keys are re-read even without a rotation notice.
const KEYS_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// The address a request came from, as the transport saw it.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

pub struct AuthService {
    pub(super) store: Arc<dyn Store>,
    pub(super) wechat: Arc<dyn WeChat>,
    pub(super) settings: Arc<Settings>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) keys: SigningKeys,
    pub(super) poll_slots: PollSlots,
    /// Turns true when the server is shutting down: waiting long-polls answer at once.
    pub(super) shutting_down: watch::Receiver<bool>,
}

impl AuthService {
    /// Loads (or, on a new store, creates) the signing keys, sealed at rest with `key_encryption_key`
    /// when one is given.
    pub async fn start(
        store: Arc<dyn Store>,
        wechat: Arc<dyn WeChat>,
        settings: Arc<Settings>,
        key_encryption_key: Option<KeyEncryptionKey>,
        metrics: Arc<Metrics>,
        shutting_down: watch::Receiver<bool>,
    ) -> Result<AuthService, AuthError> {
        let keys = SigningKeys::load(store.as_ref(), key_encryption_key).await?;
        passwords::warm_up().await?;
        Ok(AuthService {
            store,
            wechat,
            settings,
            metrics,
            keys,
            poll_slots: PollSlots::default(),
            shutting_down,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Follows key rotations (`meeteasy-auth keys rotate`, on this instance's store) until the
    /// server shuts down: re-reads the keys when notified, and every minute besides, for a
    /// notification that could not be sent or was lost on its way. The first re-read comes right
    /// after subscribing: a rotation between the keys' first load and the subscription is seen too.
    pub async fn follow_key_rotations(&self) {
        let mut shutting_down = self.shutting_down.clone();
        let mut rotated = self.store.subscribe(store_keys::SIGNING_KEYS_ROTATED);
        loop {
            match self.keys.reload(self.store.as_ref()).await {
                Ok(()) => {
                    tracing::debug!(current = %self.keys.ring().current_kid(), "signing keys re-read")
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot re-read the signing keys; keeping the ones in use")
                }
            }
            tokio::select! {
                () = rotated.changed() => {}
                () = tokio::time::sleep(KEYS_REREAD_INTERVAL) => {}
                _ = shutting_down.changed() => return,
            }
        }
    }

    pub fn jwks(&self) -> Jwks {
        self.keys.ring().jwks()
    }

    /// Checks a bearer token fully: signature, issuer, expiry and revocation.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = tokens::check_signed(&self.keys.ring(), &self.settings.public_url, token)?;
        if tokens::is_revoked(self.store.as_ref(), &claims.sid).await? {
            return Err(AuthError::TokenRevoked);
        }
        Ok(claims)
    }

    /// Like [`AuthService::verify`], for endpoints only a mini program may call.
    pub async fn verify_miniprogram(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify(token).await?;
        match claims.aud {
            Audience::Miniprogram => Ok(claims),
            Audience::H5 | Audience::Console => Err(AuthError::InvalidToken(
                "this endpoint needs a mini program token",
            )),
        }
    }

    pub async fn me(&self, claims: &Claims) -> Result<User, AuthError> {
        Ok(self.user(&claims.sub).await?.to_wire())
    }

    pub async fn logout(&self, claims: &Claims) -> Result<(), AuthError> {
        tokens::revoke(self.store.as_ref(), claims).await?;
        Ok(())
    }

    pub(super) async fn user(&self, id: &str) -> Result<UserRecord, AuthError> {
        users::get(self.store.as_ref(), id)
            .await?
            .ok_or(AuthError::InvalidToken(
                "the user of this token no longer exists",
            ))
    }

    pub(super) fn app(&self, key: Option<&str>) -> Result<&AppSettings, AuthError> {
        self.settings
            .app(key)
            .ok_or_else(|| AuthError::UnknownApp(key.unwrap_or_default().to_owned()))
    }

    /// Issues a token of a new session for `user`.
    pub(super) fn token_for(
        &self,
        user: &UserRecord,
        audience: Audience,
        amr: &[&str],
    ) -> Result<TokenResponse, AuthError> {
        let lifetime = self.token_lifetime(audience);
        let issued = tokens::issue(
            &self.keys.ring(),
            &self.settings.public_url,
            &user.id,
            audience,
            amr,
            lifetime,
        )?;
        Ok(TokenResponse {
            access_token: issued.token,
            token_type: BEARER.to_owned(),
            expires_in: issued.expires_in,
            user: user.to_wire(),
        })
    }

    fn token_lifetime(&self, audience: Audience) -> Duration {
        match audience {
            Audience::Console => self.settings.lifetimes.console_token,
            Audience::Miniprogram | Audience::H5 => self.settings.lifetimes.access_token,
        }
    }
}
