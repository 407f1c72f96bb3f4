//! The Ed25519 keys tokens are signed with: generated on first start and kept in the store, so every
//! instance on one store signs and verifies with the same keys and a restart keeps them.
//! The JWKS publishes the current key and the next one, so verifiers already know a key before it
//! is used, and the keys rotation retired, so tokens they signed verify until they expire.
//!
//! `meeteasy-auth keys rotate` makes the next key current, retires the current one and draws a new
//! next key; running instances learn of it by a store notification (and re-read the keys every
//! minute besides, should a notification be lost).
//!
//! At rest, the seeds are sealed with the operator's key-encryption key when one is configured
//! (see [`crate::key_sealing`]); without one they are stored in clear. An instance with a key-encryption
//! key seals clear seeds it finds (stores written before sealing existed); an instance without one
//! refuses sealed seeds, as does one with another key: it could not sign tokens the others accept.

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
use crate::key_sealing::{KeyEncryptionKey, SealError, SealingKey, derived_secret};
use crate::store::{Lifetime, Store, StoreError};

use super::records::{self, Transition};
use super::secrets::{NoRandomness, fill_random};
use super::store_keys;
use super::{AuthError, unix_now};

/// How long a retired key stays accepted: as long as any token lives, plus a day for instances that
/// kept signing with it for the moments before they learned of the rotation.
const RETIRED_KEY_KEPT: Duration = Duration::from_secs(LONGEST_TOKEN_LIFETIME.as_secs() + 86_400);

/// What a sealed seed is sealed for (the AEAD's associated data): a value sealed for anything
/// else does not open as a seed.
const SEED_SEALING_CONTEXT: &str = "meeteasy-auth signing-key seed v1";

/// Why the stored signing keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SealedKeysError {
    #[error(
        "the signing keys in the store are sealed, and no key-encryption key is configured: configure the one they were sealed with"
    )]
    NoKeyEncryptionKey,
    #[error(
        "the signing keys in the store do not open with the configured key-encryption key: it is not the one they were sealed with, or the record was altered"
    )]
    WrongKeyEncryptionKey,
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// A 32-byte Ed25519 seed, in memory only: the store keeps a [`StoredKey`].
#[derive(Clone)]
struct Seed([u8; 32]);

impl Seed {
    fn generate() -> Result<Seed, NoRandomness> {
        let mut seed = [0u8; 32];
        fill_random(&mut seed)?;
        Ok(Seed(seed))
    }
}

/// A seed as the store keeps it: `{"seed": ...}` in clear (as every store held before sealing
/// existed) or `{"sealed_seed": ...}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredKey {
    /// URL-safe base64 of the seed.
    Seed(String),
    /// The seed sealed with the key-encryption key ([`KeyEncryptionKey::seal`]).
    SealedSeed(String),
}

impl StoredKey {
    fn protect(seed: &Seed, kek: Option<&KeyEncryptionKey>) -> Result<StoredKey, SealError> {
        Ok(match kek {
            None => StoredKey::Seed(URL_SAFE_NO_PAD.encode(seed.0)),
            Some(kek) => StoredKey::SealedSeed(kek.seal(SEED_SEALING_CONTEXT, &seed.0)?),
        })
    }

    fn open(&self, kek: Option<&KeyEncryptionKey>) -> Result<Seed, AuthError> {
        let bytes = match (self, kek) {
            (StoredKey::Seed(text), _) => URL_SAFE_NO_PAD.decode(text).ok(),
            (StoredKey::SealedSeed(_), None) => {
                return Err(SealedKeysError::NoKeyEncryptionKey.into());
            }
            (StoredKey::SealedSeed(sealed), Some(kek)) => Some(
                kek.open(SEED_SEALING_CONTEXT, sealed)
                    .map_err(|_| SealedKeysError::WrongKeyEncryptionKey)?,
            ),
        };
        bytes
            .and_then(|bytes| bytes.try_into().ok())
            .map(Seed)
            .ok_or_else(|| StoreError::Corrupt("a signing key seed is not 32 bytes".into()).into())
    }

    fn is_sealed(&self) -> bool {
        match self {
            StoredKey::Seed(_) => false,
            StoredKey::SealedSeed(_) => true,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct RetiredKey {
    #[serde(flatten)]
    key: StoredKey,
    /// When it stopped signing (unix seconds): tokens it signed live at most this long after.
    retired_at: u64,
}

/// The key set as the store keeps it (record [`store_keys::SIGNING_KEYS`]).
#[derive(Clone, Serialize, Deserialize)]
struct StoredKeySet {
    current: StoredKey,
    next: StoredKey,
    /// Newest first. Absent in key sets written before rotation existed.
    #[serde(default)]
    retired: Vec<RetiredKey>,
}

impl StoredKeySet {
    fn all(&self) -> impl Iterator<Item = &StoredKey> {
        [&self.current, &self.next]
            .into_iter()
            .chain(self.retired.iter().map(|retired| &retired.key))
    }
}

#[derive(Clone)]
struct RetiredSeed {
    seed: Seed,
    retired_at: u64,
}

/// The key set with its seeds open, as an instance holds it.
#[derive(Clone)]
struct KeySet {
    current: Seed,
    next: Seed,
    /// Newest first.
    retired: Vec<RetiredSeed>,
}

impl KeySet {
    fn fresh() -> Result<KeySet, NoRandomness> {
        Ok(KeySet {
            current: Seed::generate()?,
            next: Seed::generate()?,
            retired: Vec::new(),
        })
    }

    fn open(stored: &StoredKeySet, kek: Option<&KeyEncryptionKey>) -> Result<KeySet, AuthError> {
        Ok(KeySet {
            current: stored.current.open(kek)?,
            next: stored.next.open(kek)?,
            retired: stored
                .retired
                .iter()
                .map(|retired| {
                    Ok(RetiredSeed {
                        seed: retired.key.open(kek)?,
                        retired_at: retired.retired_at,
                    })
                })
                .collect::<Result<_, AuthError>>()?,
        })
    }

    /// The set as the store keeps it: sealed with `kek`, or in clear without one.
    fn protect(&self, kek: Option<&KeyEncryptionKey>) -> Result<StoredKeySet, SealError> {
        Ok(StoredKeySet {
            current: StoredKey::protect(&self.current, kek)?,
            next: StoredKey::protect(&self.next, kek)?,
            retired: self
                .retired
                .iter()
                .map(|retired| {
                    Ok(RetiredKey {
                        key: StoredKey::protect(&retired.seed, kek)?,
                        retired_at: retired.retired_at,
                    })
                })
                .collect::<Result<_, SealError>>()?,
        })
    }
}

struct NamedKey {
    kid: String,
    signing: SigningKey,
    /// The same key, as `jsonwebtoken` signs and verifies with it.
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// What login tickets' keys are derived from while this key signs, itself derived from its
    /// seed: every instance holds it, and it leaves the ring with the signing key.
    tickets: TicketRoot,
}

/// The secret each login ticket's own key is derived from (see [`KeyRing::ticket_key`]).
struct TicketRoot([u8; 32]);

impl TicketRoot {
    fn of(seed: &Seed) -> Self {
        Self(derived_secret(&seed.0, TICKET_KEY_PURPOSE.as_bytes()))
    }

    /// The key of the ticket drawn with `salt`.
    fn key(&self, salt: &[u8]) -> SealingKey {
        SealingKey::derived(&self.0, salt)
    }
}

/// The keys as one consistent set: sign with `current`, verify with any.
pub struct KeyRing {
    current: NamedKey,
    next: NamedKey,
    retired: Vec<NamedKey>,
    /// What the ring was built from, to write back should the store lose it.
    seeds: KeySet,
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

/// What loading the keys found in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Keys as they should be kept: used as they are.
    AsKept,
    /// No keys: the ones offered were written.
    Nothing,
    /// Keys in clear while a key-encryption key is configured: they were sealed.
    InClear,
}

/// Reads the key set, opening sealed seeds with `kek`. A store without keys gets `when_absent`;
/// with `kek` and `seal_in_clear`, seeds found in clear are sealed. Of instances doing this
/// together, the first write wins and the others read what it wrote.
async fn load_or_write(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    when_absent: &KeySet,
    seal_in_clear: bool,
) -> Result<(KeyRing, Found), AuthError> {
    let (ring, found) = records::update(
        store,
        store_keys::SIGNING_KEYS,
        |stored: Option<&StoredKeySet>| {
            let Some(stored) = stored else {
                let ring = KeyRing::from_seeds_of(when_absent.clone())?;
                let sealed = when_absent.protect(kek).map_err(SealedKeysError::from)?;
                return Ok(Transition::Write(
                    sealed,
                    Lifetime::Forever,
                    (ring, Found::Nothing),
                ));
            };
            let seeds = KeySet::open(stored, kek)?;
            let ring = KeyRing::from_seeds_of(seeds.clone())?;
            let in_clear = stored.all().any(|key| !key.is_sealed());
            match kek {
                // Sealing draws fresh nonces each time it runs: the bytes differ between retries,
                // what they hold does not.
                Some(kek) if in_clear && seal_in_clear => Ok(Transition::Write(
                    seeds.protect(Some(kek)).map_err(SealedKeysError::from)?,
                    Lifetime::Forever,
                    (ring, Found::InClear),
                )),
                Some(_) if in_clear => Ok(Transition::Keep((ring, Found::InClear))),
                Some(_) | None => Ok(Transition::Keep((ring, Found::AsKept))),
            }
        },
    )
    .await?;
    match found {
        Found::InClear if seal_in_clear => tracing::warn!(
            "the signing keys were stored in clear; they are now sealed with the key-encryption key"
        ),
        Found::InClear | Found::Nothing | Found::AsKept => {}
    }
    Ok((ring, found))
}

impl KeyRing {
    /// Loads the key set, creating it when this is the first start on this store (see
    /// [`load_or_write`] for sealing).
    async fn load_or_create(
        store: &dyn Store,
        kek: Option<&KeyEncryptionKey>,
    ) -> Result<KeyRing, AuthError> {
        let (ring, _found) = load_or_write(store, kek, &KeySet::fresh()?, true).await?;
        Ok(ring)
    }

    fn from_seeds_of(seeds: KeySet) -> Result<KeyRing, StoreError> {
        Ok(KeyRing {
            current: named(&seeds.current)?,
            next: named(&seeds.next)?,
            retired: seeds
                .retired
                .iter()
                .map(|retired| named(&retired.seed))
                .collect::<Result<_, _>>()?,
            seeds,
        })
    }

    /// The `kid` of the key [`KeyRing::signing_key`] signs with.
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

    /// The key a new login ticket drawn with `salt` is sealed with, and the hint the ticket
    /// carries to find it again. Each ticket has a key of its own (its salt is random), so however
    /// many tickets one signing key sees, no two are sealed under one key and one random nonce.
    pub fn ticket_key(&self, salt: &[u8]) -> (&str, SealingKey) {
        (
            ticket_key_hint(&self.current.kid),
            self.current.tickets.key(salt),
        )
    }

    /// The key of the ticket with hint `hint` and salt `salt`, if the hint is one of the ring's.
    pub fn ticket_key_for(&self, hint: &str, salt: &[u8]) -> Option<SealingKey> {
        self.all()
            .find(|key| ticket_key_hint(&key.kid) == hint)
            .map(|key| key.tickets.key(salt))
    }

    fn all(&self) -> impl Iterator<Item = &NamedKey> {
        [&self.current, &self.next].into_iter().chain(&self.retired)
    }
}

/// The key ring a running server uses, replaced whole when the keys rotate.
pub struct SigningKeys {
    ring: RwLock<Arc<KeyRing>>,
    /// Seals the seeds in the store; `None` keeps them in clear.
    kek: Option<KeyEncryptionKey>,
}

impl SigningKeys {
    /// Loads the keys from the store (creating them on a new store), sealed with `kek` if given.
    pub async fn load(
        store: &dyn Store,
        kek: Option<KeyEncryptionKey>,
    ) -> Result<SigningKeys, AuthError> {
        let ring = KeyRing::load_or_create(store, kek.as_ref()).await?;
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
            kek,
        })
    }

    /// The keys as they are now; one snapshot signs a token with a `kid` that matches.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the key set from the store. A store that lost it (a Redis without persistence, just
    /// restarted) gets the keys in use written back rather than new ones drawn: new keys would void
    /// every token issued so far. Of instances writing back together, the first wins.
    ///
    /// Keys found in clear are used as they are, not sealed: they are an operator's rotation
    /// without a key-encryption key (dropping it), which an instance still running with the old
    /// one must not undo. Keys sealed with another key-encryption key than this instance's answer
    /// [`SealedKeysError`]: the instance cannot follow them (see `follow_key_rotations`).
    pub async fn reload(&self, store: &dyn Store) -> Result<(), AuthError> {
        let in_use = self.ring().seeds.clone();
        let (fresh, found) = load_or_write(store, self.kek.as_ref(), &in_use, false).await?;
        match found {
            Found::Nothing => {
                tracing::warn!("the store lost the signing keys; wrote back the ones in use");
            }
            Found::InClear => tracing::warn!(
                "the signing keys are stored in clear now (rotated without a key-encryption key); \
                 using them as they are: restart this instance without its key-encryption key"
            ),
            Found::AsKept => {}
        }
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
    /// whoever holds the old keys can forge nothing. Every session has to log in again. Needs
    /// nothing of the old keys, so it also starts over when their key-encryption key is lost or
    /// replaced.
    Compromised,
}

/// Rotates the keys (see [`Rotation`]) and drops retired keys no token can still be signed by.
/// The new set is sealed with `kek` if given. Tells running instances through
/// [`store_keys::SIGNING_KEYS_ROTATED`].
pub async fn rotate(
    store: &dyn Store,
    rotation: Rotation,
    kek: Option<&KeyEncryptionKey>,
) -> Result<KeyRing, AuthError> {
    match rotation {
        // A store no server has started on yet gets its first keys, then rotates them; keys that
        // cannot be opened are refused here, before anything is written.
        Rotation::Scheduled => {
            KeyRing::load_or_create(store, kek).await?;
        }
        Rotation::Compromised => {}
    }
    // Drawn once, outside the compare-and-swap loop: which keys are current must not change
    // between retries. (Sealing draws nonces inside it; they change bytes, not keys.)
    let (new_current, new_next) = (Seed::generate()?, Seed::generate()?);
    let now = unix_now();
    let (rotated, drops_sealing) = records::update(
        store,
        store_keys::SIGNING_KEYS,
        |stored: Option<&StoredKeySet>| {
            // The documented way to drop the key, but also what a forgotten flag does: said once
            // the rotation is written, as the seeds go from sealed to clear (this closure may run
            // again on a lost compare-and-swap).
            let drops_sealing = rotation == Rotation::Compromised
                && kek.is_none()
                && stored.is_some_and(|stored| stored.all().any(StoredKey::is_sealed));
            let seeds = match (rotation, stored) {
                (Rotation::Scheduled, None) => {
                    return Err(StoreError::Corrupt(
                        "the signing keys vanished while rotated".into(),
                    )
                    .into());
                }
                (Rotation::Scheduled, Some(stored)) => {
                    let seeds = KeySet::open(stored, kek)?;
                    let retired_now = RetiredSeed {
                        seed: seeds.current.clone(),
                        retired_at: now,
                    };
                    let still_needed = seeds.retired.into_iter().filter(|retired| {
                        retired
                            .retired_at
                            .saturating_add(RETIRED_KEY_KEPT.as_secs())
                            > now
                    });
                    KeySet {
                        current: seeds.next,
                        next: new_next.clone(),
                        retired: std::iter::once(retired_now).chain(still_needed).collect(),
                    }
                }
                (Rotation::Compromised, _) => KeySet {
                    current: new_current.clone(),
                    next: new_next.clone(),
                    retired: Vec::new(),
                },
            };
            let stored = seeds.protect(kek).map_err(SealedKeysError::from)?;
            let ring = KeyRing::from_seeds_of(seeds)?;
            Ok(Transition::Write(
                stored,
                Lifetime::Forever,
                (ring, drops_sealing),
            ))
        },
    )
    .await?;
    if drops_sealing {
        tracing::warn!(
            "the signing keys were sealed; with no key-encryption key given, the new ones are stored in clear"
        );
    }
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
        let seed = |text: &str| {
            StoredKey::Seed(text.to_owned())
                .open(None)
                .expect("a valid seed")
        };
        KeyRing::from_seeds_of(KeySet {
            current: seed(current),
            next: seed(next),
            retired: vec![],
        })
        .expect("valid seeds")
    }
}

fn named(seed: &Seed) -> Result<NamedKey, StoreError> {
    // Every token is signed and checked with a key made here, so jsonwebtoken has its backend first.
    super::jwt_crypto::install();
    let signing = SigningKey::from_bytes(&seed.0);
    let pkcs8 = signing
        .to_pkcs8_der()
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a signing key as PKCS#8: {e}")))?;
    Ok(NamedKey {
        kid: thumbprint(&signing),
        encoding: EncodingKey::from_ed_der(pkcs8.as_bytes()),
        decoding: DecodingKey::from_ed_der(signing.verifying_key().as_bytes()),
        signing,
        tickets: TicketRoot::of(seed),
    })
}

/// What a ticket key is derived for: a key derived from a seed for anything else is another.
const TICKET_KEY_PURPOSE: &str = "meeteasy-auth login-ticket sealing key v1";

/// The first 66 bits of the `kid`: enough to tell the ring's few keys apart, and a ticket is a
/// URL, so every character counts (a wrong guess only fails to open it).
fn ticket_key_hint(kid: &str) -> &str {
    kid.get(..11).unwrap_or(kid)
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
    use crate::key_sealing::tests::test_key;
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

    fn in_clear(seed: &Seed) -> StoredKey {
        StoredKey::protect(seed, None).unwrap()
    }

    async fn stored_record(store: &EmbeddedStore) -> String {
        let bytes = store.get(store_keys::SIGNING_KEYS).await.unwrap().unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[tokio::test]
    async fn rotation_promotes_the_next_key_and_keeps_verifying_the_old_one() {
        let (_dir, store) = store();
        let before = KeyRing::load_or_create(&store, None).await.unwrap();
        let signed_before =
            jsonwebtoken::crypto::sign(b"a token", before.signing_key(), EdDSA).unwrap();

        let after = rotate(&store, Rotation::Scheduled, None).await.unwrap();
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
            kids(&KeyRing::load_or_create(&store, None).await.unwrap()),
            kids(&after)
        );

        let again = rotate(&store, Rotation::Scheduled, None).await.unwrap();
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
        let retired = Seed::generate().unwrap();
        let stale = StoredKeySet {
            current: in_clear(&Seed::generate().unwrap()),
            next: in_clear(&Seed::generate().unwrap()),
            retired: vec![RetiredKey {
                key: in_clear(&retired),
                retired_at: long_ago,
            }],
        };
        let stale_kid = named(&retired).unwrap().kid;
        store
            .put(
                store_keys::SIGNING_KEYS,
                &records::encode(&stale).unwrap(),
                Lifetime::Forever,
            )
            .await
            .unwrap();
        assert!(kids(&KeyRing::load_or_create(&store, None).await.unwrap()).contains(&stale_kid));

        let rotated = rotate(&store, Rotation::Scheduled, None).await.unwrap();
        assert_eq!(rotated.retired_kids().count(), 1);
        assert!(!kids(&rotated).contains(&stale_kid));
    }

    #[tokio::test]
    async fn key_sets_stored_before_rotation_existed_still_load() {
        let (_dir, store) = store();
        let (current, next) = (Seed::generate().unwrap(), Seed::generate().unwrap());
        let old_format = serde_json::json!({
            "current": {"seed": URL_SAFE_NO_PAD.encode(current.0)},
            "next": {"seed": URL_SAFE_NO_PAD.encode(next.0)},
        });
        store
            .put(
                store_keys::SIGNING_KEYS,
                old_format.to_string().as_bytes(),
                Lifetime::Forever,
            )
            .await
            .unwrap();
        let ring = KeyRing::load_or_create(&store, None).await.unwrap();
        assert_eq!(ring.current_kid(), named(&current).unwrap().kid);
        assert_eq!(ring.retired_kids().count(), 0);
    }

    #[tokio::test]
    async fn a_reload_follows_a_rotation_and_puts_back_keys_the_store_lost() {
        let (_dir, store) = store();
        let keys = SigningKeys::load(&store, None).await.unwrap();
        let rotated = rotate(&store, Rotation::Scheduled, None).await.unwrap();
        keys.reload(&store).await.unwrap();
        assert_eq!(kids(&keys.ring()), kids(&rotated));

        // A store that lost everything: the keys in use go back, no new ones are drawn.
        store.delete(store_keys::SIGNING_KEYS).await.unwrap();
        keys.reload(&store).await.unwrap();
        assert_eq!(kids(&keys.ring()), kids(&rotated));
        let reloaded = KeyRing::load_or_create(&store, None).await.unwrap();
        assert_eq!(kids(&reloaded), kids(&rotated));
    }

    #[tokio::test]
    async fn a_compromised_rotation_leaves_no_old_key_accepted() {
        let (_dir, store) = store();
        let before = rotate(&store, Rotation::Scheduled, None).await.unwrap();
        let after = rotate(&store, Rotation::Compromised, None).await.unwrap();
        let old: Vec<String> = kids(&before);
        assert!(
            kids(&after).iter().all(|kid| !old.contains(kid)),
            "{:?}",
            kids(&after)
        );
        assert_eq!(kids(&after).len(), 2);
    }

    #[tokio::test]
    async fn with_a_key_encryption_key_no_seed_is_stored_in_clear_and_all_reopen() {
        let (_dir, store) = store();
        let kek = test_key(7);
        let created = KeyRing::load_or_create(&store, Some(&kek)).await.unwrap();
        let rotated = rotate(&store, Rotation::Scheduled, Some(&kek))
            .await
            .unwrap();
        let record = stored_record(&store).await;
        assert!(!record.contains("\"seed\""), "{record}");
        assert_eq!(record.matches("\"sealed_seed\"").count(), 3, "{record}");
        for key in [&created.current, &created.next] {
            let seed = URL_SAFE_NO_PAD.encode(key.signing.to_bytes());
            assert!(!record.contains(&seed), "a seed in clear: {record}");
        }

        let reopened = KeyRing::load_or_create(&store, Some(&kek)).await.unwrap();
        assert_eq!(kids(&reopened), kids(&rotated));
        assert!(kids(&reopened).contains(&created.current_kid().to_owned()));
    }

    #[tokio::test]
    async fn keys_stored_in_clear_are_sealed_when_a_key_encryption_key_comes() {
        let (_dir, store) = store();
        let in_clear = KeyRing::load_or_create(&store, None).await.unwrap();
        rotate(&store, Rotation::Scheduled, None).await.unwrap();
        assert!(stored_record(&store).await.contains("\"seed\""));

        let kek = test_key(7);
        let (sealed, found) = load_or_write(&store, Some(&kek), &KeySet::fresh().unwrap(), true)
            .await
            .unwrap();
        assert_eq!(found, Found::InClear);
        let record = stored_record(&store).await;
        assert!(!record.contains("\"seed\""), "{record}");
        assert!(kids(&sealed).contains(&in_clear.current_kid().to_owned()));
        let (_again, found) = load_or_write(&store, Some(&kek), &KeySet::fresh().unwrap(), true)
            .await
            .unwrap();
        assert_eq!(found, Found::AsKept);
    }

    /// An operator dropped the key-encryption key (`keys rotate --compromised` without one): an
    /// instance still running with the old one uses the new keys as they are, and does not seal
    /// them again, which would keep every instance restarted without it from starting.
    #[tokio::test]
    async fn a_reload_uses_keys_found_in_clear_and_leaves_them_so() {
        let (_dir, store) = store();
        let running = SigningKeys::load(&store, Some(test_key(7))).await.unwrap();
        let replaced = rotate(&store, Rotation::Compromised, None).await.unwrap();
        running.reload(&store).await.unwrap();
        assert_eq!(kids(&running.ring()), kids(&replaced));
        let record = stored_record(&store).await;
        assert!(
            record.contains("\"seed\"") && !record.contains("sealed_seed"),
            "{record}"
        );
    }

    /// Sealing turned on one instance at a time: an instance still without a key-encryption key
    /// finds the keys sealed by one that started with it, and goes on (it cannot tell this from a
    /// rotation; only keys sealed with another key than its own stop an instance).
    #[tokio::test]
    async fn an_instance_without_a_key_goes_on_when_another_seals_the_keys() {
        use crate::domain::test_support::{FaultyStore, service_on, settings};
        let store = FaultyStore::new();
        let service = service_on(store.clone(), settings(|_| {})).await;
        SigningKeys::load(store.as_ref(), Some(test_key(7)))
            .await
            .unwrap();
        let following = service.follow_key_rotations();
        let following = tokio::time::timeout(std::time::Duration::from_millis(500), following);
        let stopped = following.await;
        assert!(stopped.is_err(), "it stopped: {stopped:?}");
    }

    /// Keys sealed anew with another key-encryption key (the old one leaked): a reload says so,
    /// and the keys in use stay as they were only until the caller stops the server.
    #[tokio::test]
    async fn a_reload_of_keys_sealed_with_another_key_encryption_key_is_refused() {
        let (_dir, store) = store();
        let running = SigningKeys::load(&store, Some(test_key(7))).await.unwrap();
        rotate(&store, Rotation::Compromised, Some(&test_key(8)))
            .await
            .unwrap();
        let refused = running.reload(&store).await.unwrap_err();
        assert!(
            matches!(
                refused,
                AuthError::SealedKeys(SealedKeysError::WrongKeyEncryptionKey)
            ),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn sealed_keys_are_refused_without_their_key_encryption_key() {
        let (_dir, store) = store();
        KeyRing::load_or_create(&store, Some(&test_key(7)))
            .await
            .unwrap();
        let sealed = stored_record(&store).await;

        let without = KeyRing::load_or_create(&store, None).await.unwrap_err();
        assert!(
            matches!(
                without,
                AuthError::SealedKeys(SealedKeysError::NoKeyEncryptionKey)
            ),
            "{without:?}"
        );
        let wrong = KeyRing::load_or_create(&store, Some(&test_key(8)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                wrong,
                AuthError::SealedKeys(SealedKeysError::WrongKeyEncryptionKey)
            ),
            "{wrong:?}"
        );
        // Neither a scheduled rotation nor a reload may replace what it cannot open.
        rotate(&store, Rotation::Scheduled, None).await.unwrap_err();
        rotate(&store, Rotation::Scheduled, Some(&test_key(8)))
            .await
            .unwrap_err();
        assert_eq!(stored_record(&store).await, sealed);

        // A lost key-encryption key: a compromised rotation starts over under the new one.
        let replaced = rotate(&store, Rotation::Compromised, Some(&test_key(8)))
            .await
            .unwrap();
        let reopened = KeyRing::load_or_create(&store, Some(&test_key(8)))
            .await
            .unwrap();
        assert_eq!(kids(&reopened), kids(&replaced));
    }
}
