//! The tokens this instance found well signed, by their exact text. A client sends its one token
//! with every request, and checking its Ed25519 signature and parsing its claims is most of a
//! verification's CPU (the benchmark verifies a token seen before about three times as fast as a
//! fresh one): a token seen before skips both. Nothing else is skipped: its expiry, and its session's
//! revocation in the store, are checked every time.
//!
//! What was verified holds while the key that signed it does: a token whose key left the ring
//! (retired past its use, or removed as compromised) is checked again, and refused.

use std::sync::{Mutex, PoisonError};

use meeteasy_protocol::Claims;

use super::recent::Recent;
use super::signing_keys::KeyRing;
use super::tokens::{self, Signed};
use super::{AuthError, unix_now};

/// How many tokens are remembered at most: a few MB (a token is about 400 bytes, its claims
/// about 200). Those used least recently go first (see [`Recent`]).
const REMEMBERED_AT_MOST: usize = 8192;

pub(super) struct VerifiedTokens {
    known: Mutex<Recent<Signed>>,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self {
            known: Mutex::new(Recent::holding_at_most(REMEMBERED_AT_MOST)),
        }
    }
}

impl VerifiedTokens {
    /// [`tokens::check_signed`], remembered: form, signature, issuer and expiry.
    pub(super) fn check(
        &self,
        ring: &KeyRing,
        issuer: &str,
        token: &str,
    ) -> Result<Claims, AuthError> {
        let Some(claims) = self.seen(ring, issuer, token) else {
            let signed = tokens::check_signed(ring, issuer, token)?;
            let claims = signed.claims.clone();
            self.remember(token, signed);
            return Ok(claims);
        };
        if claims.exp <= unix_now() {
            return Err(AuthError::TokenExpired);
        }
        Ok(claims)
    }

    /// The claims of `token` if it verified before, for `issuer`, with a key `ring` still holds.
    fn seen(&self, ring: &KeyRing, issuer: &str, token: &str) -> Option<Claims> {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let verified = known.get(token)?;
        ring.decoding_key(&verified.kid)?;
        (verified.claims.iss == issuer).then(|| verified.claims.clone())
    }

    fn remember(&self, token: &str, signed: Signed) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.insert(token, signed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::secrets::random_token;
    use super::*;

    const ISSUER: &str = "https://auth.example.org";

    /// A ring of fresh keys.
    fn ring() -> KeyRing {
        let seed = || random_token().expect("randomness");
        KeyRing::from_seeds(&seed(), &seed())
    }

    fn signed(ring: &KeyRing, exp: u64) -> String {
        let claims = Claims {
            iss: ISSUER.into(),
            aud: meeteasy_protocol::Audience::Console,
            sub: "u-ann".into(),
            sid: "sid-ann".into(),
            iat: unix_now(),
            exp,
            amr: vec!["pwd".into()],
        };
        tokens::sign(ring, &claims).expect("signed")
    }

    #[test]
    fn a_token_seen_before_is_taken_from_memory_and_still_expires() {
        let keys = ring();
        let verified = VerifiedTokens::default();
        let token = signed(&keys, unix_now() + 60);
        let first = verified.check(&keys, ISSUER, &token).expect("verifies");
        assert_eq!(verified.seen(&keys, ISSUER, &token).as_ref(), Some(&first));
        assert_eq!(verified.check(&keys, ISSUER, &token).ok(), Some(first));
        // Remembered for its issuer only.
        let elsewhere = verified.check(&keys, "https://other.example.org", &token);
        assert!(matches!(elsewhere, Err(AuthError::InvalidToken(_))));

        // Remembered with an end now past (as a token remembered a while ago would be).
        let ending = signed(&keys, unix_now() + 60);
        let mut remembered = tokens::check_signed(&keys, ISSUER, &ending).expect("verifies");
        remembered.claims.exp = unix_now();
        verified.remember(&ending, remembered);
        assert!(matches!(
            verified.check(&keys, ISSUER, &ending),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn what_did_not_verify_is_not_remembered() {
        let keys = ring();
        let verified = VerifiedTokens::default();
        let token = signed(&keys, unix_now() + 60);
        let (body, _signature) = token.rsplit_once('.').expect("three parts");
        let forged = format!("{body}.{}", "A".repeat(86));
        for _try in 0..2 {
            assert!(matches!(
                verified.check(&keys, ISSUER, &forged),
                Err(AuthError::InvalidToken(_))
            ));
        }
        assert_eq!(verified.seen(&keys, ISSUER, &forged), None);
        let elsewhere = verified.check(&keys, "https://other.example.org", &token);
        assert!(matches!(elsewhere, Err(AuthError::InvalidToken(_))));
        assert_eq!(verified.seen(&keys, ISSUER, &token), None);
    }

    /// A key removed as compromised leaves the ring: a token it signed is checked again, and
    /// refused.
    #[test]
    fn new_keys_forget_every_token() {
        let old = ring();
        let verified = VerifiedTokens::default();
        let token = signed(&old, unix_now() + 60);
        verified.check(&old, ISSUER, &token).expect("verifies");
        let new = ring();
        assert!(matches!(
            verified.check(&new, ISSUER, &token),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn memory_stays_bounded() {
        let keys = ring();
        let verified = VerifiedTokens::default();
        let claims = verified
            .check(&keys, ISSUER, &signed(&keys, unix_now() + 60))
            .expect("verifies");
        for n in 0..REMEMBERED_AT_MOST * 2 {
            let signed = Signed {
                kid: "kid".into(),
                claims: claims.clone(),
            };
            verified.remember(&format!("token-{n}"), signed);
            let known = verified
                .known
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            assert!(known.len() <= REMEMBERED_AT_MOST);
        }
    }
}
