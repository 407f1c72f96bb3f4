//! The cryptography `jsonwebtoken` signs and verifies tokens with: Ed25519 (`EdDSA`, the one
//! algorithm this server accepts) through ed25519-dalek. `jsonwebtoken` leaves the backend to the
//! application; its own ones would bring aws-lc, or RustCrypto's RSA and ECDSA that no token here
//! uses. A signer is made for every token: it takes the public key from the key's PKCS#8 document
//! instead of deriving it again from the seed, which would cost as much as the signature, and
//! finds it decompressed where verifiers keep theirs.

use std::cell::RefCell;

use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, KeypairBytes};
use ed25519_dalek::{Sha512, Signature, SigningKey, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    // The JWKS is written from the server's own keys (`signing_keys`), never through jsonwebtoken.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this jsonwebtoken's provider; called before any key is made (again is a no-op).
pub fn install() {
    if let Err(installed) = PROVIDER.install_default()
        && !std::ptr::eq(installed, &PROVIDER)
    {
        // Nothing in this process installs another; should something, its tokens are still
        // checked by it, and the operator should know.
        tracing::warn!("jsonwebtoken already has another crypto provider; tokens go through it");
    }
}

fn signer_factory(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = KeypairBytes::from_pkcs8_der(key.as_bytes()).map_err(|_| invalid_key())?;
    let public = match pair.public_key {
        Some(public) => decompressed(public.as_ref())?,
        None => SigningKey::from_bytes(&pair.secret_key).verifying_key(),
    };
    let secret = ExpandedSecretKey::from(&pair.secret_key);
    Ok(Box::new(Ed25519Signer { secret, public }))
}

fn verifier_factory(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let bytes = <&[u8; 32]>::try_from(key.try_get_as_bytes()?).map_err(|_| invalid_key())?;
    Ok(Box::new(Ed25519Verifier(decompressed(bytes)?)))
}

/// How many public keys each thread keeps decompressed: the server verifies with its current and
/// next key, and one retired key for a while.
const DECOMPRESSED_KEPT: usize = 4;

thread_local! {
    /// Public keys by their 32 bytes, decompressed. jsonwebtoken asks for a verifier or a signer per
    /// token, and decompressing the key's point would add a tenth to every verification (measured
    /// in a release build, `jsonwebtoken::crypto::verify` in a loop: 41 µs a token without this,
    /// 37 µs with it) and a seventh to every signature (the signer's own share in a profile of the
    /// ticket exchange).
    static DECOMPRESSED: RefCell<Vec<([u8; 32], VerifyingKey)>> = const { RefCell::new(Vec::new()) };
}

fn decompressed(bytes: &[u8; 32]) -> Result<VerifyingKey> {
    DECOMPRESSED.with_borrow_mut(|kept| {
        if let Some((_, key)) = kept.iter().find(|(kept_bytes, _)| kept_bytes == bytes) {
            return Ok(*key);
        }
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| invalid_key())?;
        if kept.len() == DECOMPRESSED_KEPT {
            kept.remove(0);
        }
        kept.push((*bytes, key));
        Ok(key)
    })
}

fn invalid_key() -> jsonwebtoken::errors::Error {
    ErrorKind::InvalidEddsaKey.into()
}

struct Ed25519Signer {
    secret: ExpandedSecretKey,
    public: VerifyingKey,
}

impl signature::Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let signed = raw_sign::<Sha512>(&self.secret, message, &self.public);
        Ok(signed.to_bytes().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct Ed25519Verifier(VerifyingKey);

/// RFC 8032's check (with a canonical `s`), as ring's was under jsonwebtoken 9. `verify_strict`
/// also refuses small-order points, which guards a signature under a key someone else chose;
/// every key here is the server's own, and that refusal cost a sixth of each verification
/// (ed25519-dalek 2.2 in a release build: 38 µs a token strict, 31 µs not).
impl signature::Verifier<Vec<u8>> for Ed25519Verifier {
    fn verify(
        &self,
        message: &[u8],
        signed: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        let signed = Signature::from_slice(signed).map_err(|_| signature::Error::new())?;
        ed25519_dalek::Verifier::verify(&self.0, message, &signed)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;

    use super::*;

    #[test]
    fn keys_kept_decompressed_still_tell_keys_apart() {
        install();
        let signers: Vec<SigningKey> = (0..=DECOMPRESSED_KEPT as u8 + 1)
            .map(|seed| SigningKey::from_bytes(&[seed; 32]))
            .collect();
        // Each key's token, checked with every key, twice over: past the cache's size, so keys
        // are dropped from it and decompressed again.
        for _ in 0..2 {
            for (signed_by, signer) in signers.iter().enumerate() {
                let der = signer.to_pkcs8_der().expect("a PKCS#8 document");
                let encoding = EncodingKey::from_ed_der(der.as_bytes());
                let signed = jsonwebtoken::crypto::sign(b"a token", &encoding, Algorithm::EdDSA)
                    .expect("signed");
                for (checked_with, checker) in signers.iter().enumerate() {
                    let key = DecodingKey::from_ed_der(checker.verifying_key().as_bytes());
                    let verified =
                        jsonwebtoken::crypto::verify(&signed, b"a token", &key, Algorithm::EdDSA);
                    assert_eq!(verified.expect("checked"), signed_by == checked_with);
                }
            }
        }
    }

    #[test]
    fn signatures_are_ed25519s_own_and_verify_only_with_their_key() {
        install();
        let signing = SigningKey::from_bytes(&[7; 32]);
        let der = signing.to_pkcs8_der().expect("a PKCS#8 document");
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let signed = jsonwebtoken::crypto::sign(b"a token", &encoding, Algorithm::EdDSA);
        let signed = signed.expect("signed");
        // Deterministic: the same signature as ed25519-dalek's own signer gives.
        let expected = signing.sign(b"a token").to_bytes();
        let decoded =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &signed);
        assert_eq!(decoded.expect("base64url"), expected);
        let key = DecodingKey::from_ed_der(signing.verifying_key().as_bytes());
        let other =
            DecodingKey::from_ed_der(SigningKey::from_bytes(&[8; 32]).verifying_key().as_bytes());
        let verify = |message: &[u8], key| {
            jsonwebtoken::crypto::verify(&signed, message, key, Algorithm::EdDSA)
        };
        assert!(verify(b"a token", &key).expect("checked"));
        assert!(!verify(b"a token", &other).expect("checked"));
        assert!(!verify(b"another token", &key).expect("checked"));
        let hs256 = jsonwebtoken::crypto::sign(b"a token", &encoding, Algorithm::HS256);
        assert!(hs256.is_err(), "only EdDSA is signed");
    }
}
