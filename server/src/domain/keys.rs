//! The Ed25519 keys tokens are signed with: generated on first start and kept in the store, so every
//! instance on one store signs and verifies with the same keys and a restart keeps them.
//! The JWKS publishes the current key and the next one, so verifiers already know a key before it
//! is used.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use meeteasy_protocol::{Jwk, Jwks};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Lifetime, Store, StoreError};

use super::records;
use super::secrets::fill_random;

const KEYS_KEY: &str = "signing-keys";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// The 32-byte Ed25519 seed, URL-safe base64.
    seed: String,
}

#[derive(Serialize, Deserialize)]
struct StoredKeySet {
    current: StoredKey,
    next: StoredKey,
}

struct NamedKey {
    kid: String,
    signing: SigningKey,
}

pub struct KeyRing {
    current: NamedKey,
    next: NamedKey,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.kid)
            .field("next", &self.next.kid)
            .finish()
    }
}

impl KeyRing {
    /// Loads the key set, creating it when this is the first start on this store. Of instances
    /// starting together on one store, the first to write wins and the others read its keys.
    pub async fn load_or_create(store: &dyn Store) -> Result<KeyRing, StoreError> {
        if let Some(stored) = records::load::<StoredKeySet>(store, KEYS_KEY).await? {
            return KeyRing::from_stored(&stored);
        }
        let fresh = StoredKeySet {
            current: generate()?,
            next: generate()?,
        };
        if store
            .insert_new(KEYS_KEY, &records::encode(&fresh)?, Lifetime::Forever)
            .await?
        {
            return KeyRing::from_stored(&fresh);
        }
        let stored = records::load::<StoredKeySet>(store, KEYS_KEY)
            .await?
            .ok_or_else(|| StoreError::Corrupt("signing keys vanished while read".into()))?;
        KeyRing::from_stored(&stored)
    }

    fn from_stored(stored: &StoredKeySet) -> Result<KeyRing, StoreError> {
        Ok(KeyRing {
            current: named(&stored.current)?,
            next: named(&stored.next)?,
        })
    }

    /// The `kid` of the key [`KeyRing::sign`] signs with.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        self.current.signing.sign(message)
    }

    pub fn verifying_key(&self, kid: &str) -> Option<VerifyingKey> {
        [&self.current, &self.next]
            .into_iter()
            .find(|key| key.kid == kid)
            .map(|key| key.signing.verifying_key())
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: [&self.current, &self.next]
                .into_iter()
                .map(|key| Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: public_x(&key.signing),
                    kid: key.kid.clone(),
                    alg: "EdDSA".into(),
                    use_: "sig".into(),
                })
                .collect(),
        }
    }
}

fn generate() -> Result<StoredKey, StoreError> {
    let mut seed = [0u8; 32];
    fill_random(&mut seed)?;
    Ok(StoredKey {
        seed: URL_SAFE_NO_PAD.encode(seed),
    })
}

fn named(stored: &StoredKey) -> Result<NamedKey, StoreError> {
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&stored.seed)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            StoreError::Corrupt("a signing key seed is not 32 bytes of base64".into())
        })?;
    let signing = SigningKey::from_bytes(&seed);
    Ok(NamedKey {
        kid: thumbprint(&signing),
        signing,
    })
}

fn public_x(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
}

/// The RFC 7638 JWK thumbprint: a `kid` every verifier can recompute from the key itself.
fn thumbprint(key: &SigningKey) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, public_x(key));
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}
