//! Sealing secrets at rest with the operator's key-encryption key (KEK), and login tickets with
//! keys derived from a signing key: ChaCha20-Poly1305 (ring, already in the tree through rustls), a
//! random 96-bit nonce per sealing, and a context string as associated data so a sealed value
//! cannot be passed off as another kind of secret.
//!
//! The config reads the KEK (from a file or the environment) and checks it at start; the domain
//! seals and opens with it. Neither the key nor what it seals ever reaches a log or a `Debug`.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use meeteasy_protocol::Secret;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;

/// The KEK's length: 256 bits.
pub const KEY_ENCRYPTION_KEY_LEN: usize = 32;

/// A 256-bit key that seals secrets, derived for one purpose. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SealingKey {
    key: LessSafeKey,
}

/// The operator's key-encryption key, which seals the signing keys' seeds in the store: read from
/// the configuration only, never derived. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct KeyEncryptionKey(SealingKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<hidden>)")
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(<hidden>)")
    }
}

/// The configured text is not a KEK. Says nothing of the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be {KEY_ENCRYPTION_KEY_LEN} random bytes in base64 (make one with `openssl rand -base64 32`)"
)]
pub struct MalformedKeyEncryptionKey;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// No nonce can be drawn, so nothing is sealed.
    #[error("cannot seal a secret: no randomness from the OS ({0})")]
    NoRandomness(getrandom::Error),
    /// ring refuses inputs of about 256 GiB and more; secrets are bytes long.
    #[error("cannot seal a secret this long")]
    TooLong,
}

/// A sealed value does not open with this key: another key sealed it, or it was altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sealed secret does not open with this key")]
pub struct OpenError;

/// Base64 as operators paste it: the standard or the URL-safe alphabet, padded or not.
const LENIENT: [GeneralPurpose; 2] = [
    GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    ),
    GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    ),
];

impl KeyEncryptionKey {
    /// The KEK from its base64 text (surrounding whitespace, such as a file's last newline, is
    /// ignored).
    pub fn from_base64(text: &Secret) -> Result<Self, MalformedKeyEncryptionKey> {
        let text = text.expose().trim();
        let bytes = LENIENT
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(MalformedKeyEncryptionKey)?;
        let bytes: [u8; KEY_ENCRYPTION_KEY_LEN] = bytes
            .try_into()
            .map_err(|_wrong_length| MalformedKeyEncryptionKey)?;
        Ok(Self(SealingKey::from_bytes(&bytes)))
    }

    /// Seals `plaintext` for `context` (see [`SealingKey::seal`]).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, SealError> {
        self.0.seal(context, plaintext)
    }

    /// Opens what [`KeyEncryptionKey::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        self.0.open(context, sealed)
    }
}

impl SealingKey {
    /// A key for `purpose` alone, derived from `secret` (see [`derived_secret`]).
    pub fn derived(secret: &[u8], purpose: &[u8]) -> Self {
        Self::from_bytes(&derived_secret(secret, purpose))
    }

    fn from_bytes(bytes: &[u8; KEY_ENCRYPTION_KEY_LEN]) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes);
        // ChaCha20-Poly1305 takes any 256-bit key.
        Self {
            key: LessSafeKey::new(unbound.expect("a 256-bit key")),
        }
    }

    /// Seals `plaintext` for `context` (what kind of secret it is): URL-safe base64 of
    /// nonce, ciphertext and tag.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::NoRandomness)?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut in_out,
            )
            .map_err(|_unspecified| SealError::TooLong)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens what [`SealingKey::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| OpenError)?;
        let (nonce, ciphertext) = bytes.split_at_checked(NONCE_LEN).ok_or(OpenError)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_unspecified| OpenError)?;
        Ok(plaintext.to_vec())
    }
}

/// A secret for `purpose` alone, derived from `secret` (HMAC-SHA256 of the purpose under it): it
/// tells nothing of `secret`, nor of the secret derived for another purpose.
pub fn derived_secret(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), purpose);
    let mut derived = [0u8; 32];
    // An HMAC-SHA256 tag is 32 bytes.
    derived.copy_from_slice(tag.as_ref());
    derived
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A KEK of fixed bytes, for tests.
    pub fn test_key(fill: u8) -> KeyEncryptionKey {
        KeyEncryptionKey(SealingKey::from_bytes(&[fill; KEY_ENCRYPTION_KEY_LEN]))
    }

    #[test]
    fn what_is_sealed_opens_with_the_same_key_and_context_only() {
        let key = test_key(1);
        let sealed = key
            .seal("seed", b"thirty-two bytes of signing seed")
            .unwrap();
        assert!(!sealed.contains("thirty"), "{sealed}");
        assert_eq!(
            key.open("seed", &sealed).unwrap(),
            b"thirty-two bytes of signing seed"
        );
        assert_ne!(
            sealed,
            key.seal("seed", b"thirty-two bytes of signing seed")
                .unwrap(),
            "a fresh nonce every time"
        );
        assert_eq!(test_key(2).open("seed", &sealed), Err(OpenError));
        assert_eq!(key.open("password", &sealed), Err(OpenError));
        let mut altered = sealed.into_bytes();
        altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(key.open("seed", &altered), Err(OpenError));
        assert_eq!(key.open("seed", "short"), Err(OpenError));
    }

    #[test]
    fn a_derived_key_opens_only_what_it_sealed_for_its_purpose() {
        let secret = [7u8; KEY_ENCRYPTION_KEY_LEN];
        let key = SealingKey::derived(&secret, b"tickets");
        let sealed = key.seal("ticket", b"content").unwrap();
        let again = SealingKey::derived(&secret, b"tickets");
        assert_eq!(again.open("ticket", &sealed).unwrap(), b"content");
        for other in [
            SealingKey::derived(&secret, b"another purpose"),
            SealingKey::derived(&[8u8; KEY_ENCRYPTION_KEY_LEN], b"tickets"),
            SealingKey::from_bytes(&secret),
        ] {
            assert_eq!(other.open("ticket", &sealed), Err(OpenError));
        }
    }

    #[test]
    fn the_key_is_read_from_base64_as_operators_write_it_and_never_shown() {
        let standard = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
        let url_safe_unpadded = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let one = KeyEncryptionKey::from_base64(&Secret::new(standard)).unwrap();
        let two = KeyEncryptionKey::from_base64(&Secret::new(url_safe_unpadded)).unwrap();
        assert_eq!(two.open("c", &one.seal("c", b"x").unwrap()).unwrap(), b"x");
        assert_eq!(format!("{one:?}"), "KeyEncryptionKey(<hidden>)");
        assert_eq!(
            format!("{:?}", SealingKey::derived(b"s", b"p")),
            "SealingKey(<hidden>)"
        );
        for bad in [
            "",
            "not base64!",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
        ] {
            assert_eq!(
                KeyEncryptionKey::from_base64(&Secret::new(bad)).err(),
                Some(MalformedKeyEncryptionKey),
                "{bad:?}"
            );
        }
    }
}
