//! The Ed25519 keys tokens are signed with: generated on first start and kept in the store, so every
//! instance on one store signs and verifies with the same keys and a restart keeps them.
//! The JWKS publishes the current key and the next one, so verifiers already know a key before it
//! is used, and the keys rotation retired, so tokens they signed verify until they expire.
//!
//! `meeteasy-auth keys rotate` makes the next key current, retires the current one and draws a new
//! next key; running instances learn of it by a store notification (and re-read the keys every
//! minute besides, should a notification be lost).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{DecodingKey, EncodingKey};
use meeteasy_protocol::{Jwk, Jwks};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::LONGEST_TOKEN_LIFETIME;
use crate::store::{Lifetime, Store, StoreError};

use super::records::{self, Transition};
use super::secrets::{NoRandomness, fill_random};
use super::store_keys;
use super::{AuthError, unix_now};

/// How long a retired key stays accepted: as long as any token lives, plus a day for instances that
/// kept signing with it for the moments before they learned of the rotation.
const RETIRED_KEY_KEPT: Duration = Duration::from_secs(LONGEST_TOKEN_LIFETIME.as_secs() + 86_400);

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    /// The 32-byte Ed25519 seed, URL-safe base64.
    seed: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct RetiredKey {
    #[serde(flatten)]
    key: StoredKey,
    /// When it stopped signing (unix seconds): tokens it signed live at most this long after.
    retired_at: u64,
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKeySet {
    current: StoredKey,
    next: StoredKey,
    /// Newest first. Absent in key sets written before rotation existed.
    #[serde(default)]
    retired: Vec<RetiredKey>,
}

struct NamedKey {
    kid: String,
    signing: SigningKey,
    /// The same key, as `jsonwebtoken` signs and verifies with it.
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The keys as one consistent set: sign with `current`, verify with any.
pub struct KeyRing {
    current: NamedKey,
    next: NamedKey,
    retired: Vec<NamedKey>,
    /// What the ring was built from, to write back should the store lose it.
    stored: StoredKeySet,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.kid)
            .field("next", &self.next.kid)
            .field(
                "retired",
                &self.retired.iter().map(|key| &key.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRing {
    /// Loads the key set, creating it when this is the first start on this store. Of instances
    /// starting together on one store, the first to write wins and the others read its keys.
    pub async fn load_or_create(store: &dyn Store) -> Result<KeyRing, AuthError> {
        if let Some(stored) = records::load::<StoredKeySet>(store, store_keys::SIGNING_KEYS).await?
        {
            return Ok(KeyRing::from_stored(&stored)?);
        }
        let fresh = StoredKeySet {
            current: generate()?,
            next: generate()?,
            retired: Vec::new(),
        };
        if store
            .insert_new(
                store_keys::SIGNING_KEYS,
                &records::encode(&fresh)?,
                Lifetime::Forever,
            )
            .await?
        {
            return Ok(KeyRing::from_stored(&fresh)?);
        }
        let stored = records::load::<StoredKeySet>(store, store_keys::SIGNING_KEYS)
            .await?
            .ok_or_else(|| StoreError::Corrupt("signing keys vanished while read".into()))?;
        Ok(KeyRing::from_stored(&stored)?)
    }

    fn from_stored(stored: &StoredKeySet) -> Result<KeyRing, StoreError> {
        Ok(KeyRing {
            current: named(&stored.current)?,
            next: named(&stored.next)?,
            retired: stored
                .retired
                .iter()
                .map(|retired| named(&retired.key))
                .collect::<Result<_, _>>()?,
            stored: stored.clone(),
        })
    }

    /// The `kid` of the key [`KeyRing::sign`] signs with.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    pub fn next_kid(&self) -> &str {
        &self.next.kid
    }

    pub fn retired_kids(&self) -> impl Iterator<Item = &str> {
        self.retired.iter().map(|key| key.kid.as_str())
    }

    /// The key new tokens are signed with.
    pub fn signing_key(&self) -> &EncodingKey {
        &self.current.encoding
    }

    /// The key that verifies tokens whose header names `kid`, if it is one of the ring's.
    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.all()
            .find(|key| key.kid == kid)
            .map(|key| &key.decoding)
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .all()
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

    fn all(&self) -> impl Iterator<Item = &NamedKey> {
        [&self.current, &self.next].into_iter().chain(&self.retired)
    }
}

/// The key ring a running server uses, replaced whole when the keys rotate.
pub struct SigningKeys {
    ring: RwLock<Arc<KeyRing>>,
}

impl SigningKeys {
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
        }
    }

    /// The keys as they are now; one snapshot signs a token with a `kid` that matches.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the key set from the store. A store that lost it (a Redis without persistence, just
    /// restarted) gets the keys in use written back rather than new ones drawn: new keys would void
    /// every token issued so far. Of instances writing back together, the first wins.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let stored = match records::load::<StoredKeySet>(store, store_keys::SIGNING_KEYS).await? {
            Some(stored) => stored,
            None => {
                let in_use = self.ring().stored.clone();
                tracing::warn!("the store lost the signing keys; writing back the ones in use");
                store
                    .insert_new(
                        store_keys::SIGNING_KEYS,
                        &records::encode(&in_use)?,
                        Lifetime::Forever,
                    )
                    .await?;
                records::load::<StoredKeySet>(store, store_keys::SIGNING_KEYS)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("signing keys vanished while read".into()))?
            }
        };
        let fresh = KeyRing::from_stored(&stored)?;
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

/// Why the keys rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Routine: the next key (already published) becomes current; tokens signed before keep
    /// verifying until they expire.
    Scheduled,
    /// The stored keys leaked: both are replaced by new ones and nothing signed before verifies, so
    /// whoever holds the old keys can forge nothing. Every session has to log in again.
    Compromised,
}

/// Rotates the keys (see [`Rotation`]) and drops retired keys no token can still be signed by.
/// Tells running instances through [`store_keys::SIGNING_KEYS_ROTATED`].
pub async fn rotate(store: &dyn Store, rotation: Rotation) -> Result<KeyRing, AuthError> {
    // A store no server has started on yet gets its first keys, then rotates them.
    KeyRing::load_or_create(store).await?;
    // Drawn once, outside the compare-and-swap loop: the decision must be a pure function.
    let (new_current, new_next) = (generate()?, generate()?);
    let now = unix_now();
    let rotated = records::update(
        store,
        store_keys::SIGNING_KEYS,
        |stored: Option<&StoredKeySet>| {
            let Some(stored) = stored else {
                return Err(
                    StoreError::Corrupt("the signing keys vanished while rotated".into()).into(),
                );
            };
            let rotated = match rotation {
                Rotation::Scheduled => {
                    let retired_now = RetiredKey {
                        key: stored.current.clone(),
                        retired_at: now,
                    };
                    let still_needed = stored
                        .retired
                        .iter()
                        .filter(|retired| retired.retired_at + RETIRED_KEY_KEPT.as_secs() > now)
                        .cloned();
                    StoredKeySet {
                        current: stored.next.clone(),
                        next: new_next.clone(),
                        retired: std::iter::once(retired_now).chain(still_needed).collect(),
                    }
                }
                Rotation::Compromised => StoredKeySet {
                    current: new_current.clone(),
                    next: new_next.clone(),
                    retired: Vec::new(),
                },
            };
            let ring = KeyRing::from_stored(&rotated)?;
            Ok(Transition::Write(rotated, Lifetime::Forever, ring))
        },
    )
    .await?;
    if let Err(error) = store.notify(store_keys::SIGNING_KEYS_ROTATED).await {
        // The rotation stands; instances find it at their next periodic re-read.
        tracing::warn!(%error, "keys rotated, but running instances could not be told at once");
    }
    Ok(rotated)
}

#[cfg(test)]
impl KeyRing {
    /// A ring of fixed seeds (URL-safe base64), for tests of what is signed with it.
    pub(super) fn from_seeds(current: &str, next: &str) -> KeyRing {
        let key = |seed: &str| StoredKey {
            seed: seed.to_owned(),
        };
        KeyRing::from_stored(&StoredKeySet {
            current: key(current),
            next: key(next),
            retired: vec![],
        })
        .expect("valid seeds")
    }
}

fn generate() -> Result<StoredKey, NoRandomness> {
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
    let pkcs8 = signing
        .to_pkcs8_der()
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a signing key as PKCS#8: {e}")))?;
    Ok(NamedKey {
        kid: thumbprint(&signing),
        encoding: EncodingKey::from_ed_der(pkcs8.as_bytes()),
        decoding: DecodingKey::from_ed_der(signing.verifying_key().as_bytes()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;
    use jsonwebtoken::Algorithm::EdDSA;

    fn store() -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path()).expect("embedded store");
        (dir, store)
    }

    fn kids(ring: &KeyRing) -> Vec<String> {
        ring.jwks().keys.into_iter().map(|key| key.kid).collect()
    }

    #[tokio::test]
    async fn rotation_promotes_the_next_key_and_keeps_verifying_the_old_one() {
        let (_dir, store) = store();
        let before = KeyRing::load_or_create(&store).await.unwrap();
        let signed_before =
            jsonwebtoken::crypto::sign(b"a token", before.signing_key(), EdDSA).unwrap();

        let after = rotate(&store, Rotation::Scheduled).await.unwrap();
        assert_eq!(after.current_kid(), before.next_kid());
        assert_ne!(after.next_kid(), before.current_kid());
        assert_eq!(
            after.retired_kids().collect::<Vec<_>>(),
            [before.current_kid()]
        );
        let old_key = after.decoding_key(before.current_kid()).unwrap();
        assert!(jsonwebtoken::crypto::verify(&signed_before, b"a token", old_key, EdDSA).unwrap());
        assert_eq!(kids(&after).len(), 3);
        // What every instance loads from the store is what the rotation answered.
        assert_eq!(
            kids(&KeyRing::load_or_create(&store).await.unwrap()),
            kids(&after)
        );

        let again = rotate(&store, Rotation::Scheduled).await.unwrap();
        assert_eq!(again.current_kid(), after.next_kid());
        assert_eq!(
            again.retired_kids().collect::<Vec<_>>(),
            [after.current_kid(), before.current_kid()]
        );
    }

    #[tokio::test]
    async fn a_key_retired_longer_ago_than_any_token_lives_is_dropped() {
        let (_dir, store) = store();
        let long_ago = unix_now() - RETIRED_KEY_KEPT.as_secs() - 1;
        let stale = StoredKeySet {
            current: generate().unwrap(),
            next: generate().unwrap(),
            retired: vec![RetiredKey {
                key: generate().unwrap(),
                retired_at: long_ago,
            }],
        };
        let stale_kid = named(&stale.retired[0].key).unwrap().kid;
        store
            .put(
                store_keys::SIGNING_KEYS,
                &records::encode(&stale).unwrap(),
                Lifetime::Forever,
            )
            .await
            .unwrap();
        assert!(kids(&KeyRing::load_or_create(&store).await.unwrap()).contains(&stale_kid));

        let rotated = rotate(&store, Rotation::Scheduled).await.unwrap();
        assert_eq!(rotated.retired_kids().count(), 1);
        assert!(!kids(&rotated).contains(&stale_kid));
    }

    #[tokio::test]
    async fn key_sets_stored_before_rotation_existed_still_load() {
        let (_dir, store) = store();
        let (current, next) = (generate().unwrap(), generate().unwrap());
        let old_format = serde_json::json!({"current": current, "next": next});
        store
            .put(
                store_keys::SIGNING_KEYS,
                old_format.to_string().as_bytes(),
                Lifetime::Forever,
            )
            .await
            .unwrap();
        let ring = KeyRing::load_or_create(&store).await.unwrap();
        assert_eq!(ring.current_kid(), named(&current).unwrap().kid);
        assert_eq!(ring.retired_kids().count(), 0);
    }

    #[tokio::test]
    async fn a_reload_follows_a_rotation_and_puts_back_keys_the_store_lost() {
        let (_dir, store) = store();
        let keys = SigningKeys::new(KeyRing::load_or_create(&store).await.unwrap());
        let rotated = rotate(&store, Rotation::Scheduled).await.unwrap();
        keys.reload(&store).await.unwrap();
        assert_eq!(kids(&keys.ring()), kids(&rotated));

        // A store that lost everything: the keys in use go back, no new ones are drawn.
        store.delete(store_keys::SIGNING_KEYS).await.unwrap();
        keys.reload(&store).await.unwrap();
        assert_eq!(kids(&keys.ring()), kids(&rotated));
        let reloaded = KeyRing::load_or_create(&store).await.unwrap();
        assert_eq!(kids(&reloaded), kids(&rotated));
    }

    #[tokio::test]
    async fn a_compromised_rotation_leaves_no_old_key_accepted() {
        let (_dir, store) = store();
        let before = rotate(&store, Rotation::Scheduled).await.unwrap();
        let after = rotate(&store, Rotation::Compromised).await.unwrap();
        let old: Vec<String> = kids(&before);
        assert!(
            kids(&after).iter().all(|kid| !old.contains(kid)),
            "{:?}",
            kids(&after)
        );
        assert_eq!(kids(&after).len(), 2);
    }
}
