//! Unguessable identifiers and the hashes the store keeps instead of them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The OS gave no randomness: no identifier or key is safe to hand out, so nothing is.
#[derive(Debug, thiserror::Error)]
#[error("no randomness from the OS: {0}")]
pub struct NoRandomness(getrandom::Error);

/// 256 random bits, URL-safe base64 (43 chars): poll tokens, session ids.
pub fn random_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// An identifier of [`random_token`]'s form that `token` determines, one per `purpose`: as
/// unguessable as the token, and telling nothing about it (nor about the hash the store keeps).
pub fn derived_token(purpose: &str, token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(purpose.as_bytes())
        .chain_update([0])
        .chain_update(token.as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

/// Whether `value` has the form [`random_token`] makes (checked before any store lookup).
pub fn is_token_shaped(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 128 random bits, URL-safe base64 (22 chars): user ids and key ids, which need only be unique.
pub fn random_id() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub const SCENE_LEN: usize = 32;
const SCENE_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// 32 chars of `[0-9A-Za-z]` (about 190 bits): fits WeChat's 32-visible-char scene.
pub fn random_scene() -> Result<String, NoRandomness> {
    let mut scene = String::with_capacity(SCENE_LEN);
    let mut bytes = [0u8; 64];
    while scene.len() < SCENE_LEN {
        fill_random(&mut bytes)?;
        // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
        for byte in bytes.iter().filter(|&&b| b < 248) {
            if scene.len() == SCENE_LEN {
                break;
            }
            scene.push(char::from(SCENE_ALPHABET[usize::from(*byte % 62)]));
        }
    }
    Ok(scene)
}

pub fn is_scene_shaped(value: &str) -> bool {
    value.len() == SCENE_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What the store keeps of a ticket or poll token: its SHA-256, lowercase hex. Written digit by
/// digit: every poll hashes its token, and a `format!` per byte was 2.6 % of a poll's CPU.
pub fn token_hash(token: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in digest {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Compares two hashes without an early exit, so timing tells nothing about how much matched.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn fill_random(buf: &mut [u8]) -> Result<(), NoRandomness> {
    getrandom::fill(buf).map_err(NoRandomness)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_scenes_have_their_shape() {
        let token = random_token().unwrap();
        assert!(is_token_shaped(&token), "{token}");
        let scene = random_scene().unwrap();
        assert!(is_scene_shaped(&scene), "{scene}");
        assert_ne!(random_scene().unwrap(), scene);
        assert!(!is_scene_shaped("short"));
        assert!(!is_token_shaped(&format!("{}!", &token[1..])));
    }

    #[test]
    fn derived_tokens_are_token_shaped_and_apart_from_the_hash() {
        let token = random_token().unwrap();
        let derived = derived_token("a purpose", &token);
        assert!(is_token_shaped(&derived), "{derived}");
        assert_eq!(derived, derived_token("a purpose", &token));
        assert_ne!(derived, derived_token("another purpose", &token));
        assert_ne!(
            derived,
            derived_token("a purpose", &random_token().unwrap())
        );
        let plain_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        assert_ne!(derived, plain_hash);
    }

    #[test]
    fn a_token_hash_is_its_sha256_in_lowercase_hex() {
        // The stored records are keyed by it: the format must never change.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_comparison() {
        let h = token_hash("abc");
        assert!(hashes_equal(&h, &token_hash("abc")));
        assert!(!hashes_equal(&h, &token_hash("abd")));
        assert_eq!(h.len(), 64);
    }
}
