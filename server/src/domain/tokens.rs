//! Access tokens: JWTs signed with EdDSA (Ed25519) through `jsonwebtoken`, with a `kid` header and a
//! session id (`sid`) that logout revokes. Only this one algorithm is accepted, so there is no `alg`
//! confusion to exploit.

use std::collections::HashSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use meeteasy_protocol::{Audience, Claims};

use super::AuthError;
use super::clock::unix_now;
use super::signing_keys::KeyRing;

/// How a session's login was made, as its `amr` says: a password (RFC 8176's `pwd`), a WeChat
/// login, a scan on top of one for a console's scan login, a login ticket's exchange.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_WECHAT: &str = "wechat";
pub const AMR_SCAN: &str = "scan";
pub const AMR_TICKET: &str = "ticket";

/// Tokens longer than this are rejected before any parsing.
const MAX_TOKEN_LEN: usize = 4096;

/// The claims of a new session `sid` of `subject`, issued at `now` and ending at `expires_at`
/// (Unix seconds; the caller bounds the end, by a parent session's for one).
pub fn new_session(
    issuer: &str,
    subject: &str,
    sid: String,
    audience: Audience,
    amr: &[&str],
    now: u64,
    expires_at: u64,
) -> Claims {
    Claims {
        iss: issuer.to_owned(),
        aud: audience,
        sub: subject.to_owned(),
        sid,
        iat: now,
        exp: expires_at,
        amr: amr.iter().map(|method| (*method).to_owned()).collect(),
    }
}

/// The signed token of `claims`, with the current key. Ed25519 signatures are deterministic: the
/// same claims under the same key give the same token.
pub fn sign(keys: &KeyRing, claims: &Claims) -> Result<String, AuthError> {
    let header = Header {
        typ: Some("JWT".into()),
        kid: Some(keys.current_kid().to_owned()),
        ..Header::new(Algorithm::EdDSA)
    };
    jsonwebtoken::encode(&header, claims, keys.signing_key())
        .map_err(|e| AuthError::Internal(format!("cannot sign a token: {e}")))
}

/// A token whose form, signature, issuer and expiry were checked.
#[derive(Debug)]
pub struct Signed {
    /// The key that signed it.
    pub kid: String,
    pub claims: Claims,
}

/// Checks form, signature, issuer and expiry (not revocation, which needs the store).
pub fn check_signed(keys: &KeyRing, issuer: &str, token: &str) -> Result<Signed, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidToken("the token is too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| rejected(&e))?;
    if header.alg != Algorithm::EdDSA {
        return Err(AuthError::InvalidToken(
            "the token is not signed with EdDSA",
        ));
    }
    let (kid, key) = header
        .kid
        .and_then(|kid| keys.decoding_key(&kid).map(|key| (kid, key)))
        .ok_or(AuthError::InvalidToken(
            "the token was signed with an unknown key",
        ))?;
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation())
        .map_err(|e| rejected(&e))?
        .claims;
    if claims.iss != issuer {
        return Err(AuthError::InvalidToken(
            "the token was issued by another server",
        ));
    }
    if claims.exp <= unix_now() {
        return Err(AuthError::TokenExpired);
    }
    Ok(Signed { kid, claims })
}

/// Signature only: the claims are checked above, with this server's own answers (an expiry exactly
/// at `exp` and no leeway; the audience by each endpoint).
fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation
}

/// Why `jsonwebtoken` refused a token, in this server's words.
fn rejected(error: &jsonwebtoken::errors::Error) -> AuthError {
    AuthError::InvalidToken(match error.kind() {
        ErrorKind::InvalidSignature => "the token signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token is not signed with EdDSA"
        }
        ErrorKind::Base64(_) => "the token is not base64url",
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => "the token is malformed",
        ErrorKind::InvalidToken => "the token is not a JWT",
        // `ErrorKind` is `#[non_exhaustive]`: kinds added later are refused in general words.
        _ => "the token is not valid",
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::super::secrets::random_token;
    use super::*;

    const ISSUER: &str = "https://auth.example.org";
    /// Seeds 0..=31 and 32..=63.
    const SEED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NEXT_SEED: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";
    /// Signed with `SEED` in the format of the hand-written encoder this module replaced (header
    /// fields `alg`, `typ`, `kid` in that order), expiring in 2100.
    const TOKEN_SIGNED_BEFORE_JSONWEBTOKEN: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6IjFJRzJ0TUg3SjJ3Ykpabk9mOExKelFpdEtmN0xNdm9BRWxzdURNVk01NFkifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5vcmciLCJhdWQiOiJjb25zb2xlIiwic3ViIjoidS1hbm4iLCJzaWQiOiJzaWQtMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsImlhdCI6MTc2NDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJhbXIiOlsid2VjaGF0Iiwic2NhbiJdfQ.tSNkgMoWXd6461XrzhAa08fbZODB3to5hs4PYmVfdE5mOJ7Y8UKIXMAJeVVZyVUvV-lETgFpMx8geuthjcEyDg";

    fn ring() -> KeyRing {
        KeyRing::from_seeds(SEED, NEXT_SEED)
    }

    fn part(token: &str, index: usize) -> serde_json::Value {
        let encoded = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
    }

    fn issued(lifetime: Duration) -> String {
        let sid = random_token().unwrap();
        let claims = new_session(
            ISSUER,
            "u-ann",
            sid,
            Audience::Console,
            &["pwd"],
            unix_now(),
            unix_now() + lifetime.as_secs(),
        );
        sign(&ring(), &claims).unwrap()
    }

    #[test]
    fn a_token_signed_before_the_change_still_verifies() {
        let claims = check_signed(&ring(), ISSUER, TOKEN_SIGNED_BEFORE_JSONWEBTOKEN)
            .unwrap()
            .claims;
        assert_eq!(claims.sub, "u-ann");
        assert_eq!(claims.aud, Audience::Console);
        assert_eq!(claims.amr, ["wechat", "scan"]);
    }

    #[test]
    fn issued_tokens_keep_the_format_and_verify() {
        let token = issued(Duration::from_secs(60));
        let header = part(&token, 0);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], ring().current_kid());
        assert_eq!(
            part(&token, 1)["sid"].as_str().map(str::len),
            Some(43),
            "a 256-bit session id"
        );
        let claims = check_signed(&ring(), ISSUER, &token).unwrap().claims;
        assert_eq!(
            (claims.sub.as_str(), claims.aud),
            ("u-ann", Audience::Console)
        );
        assert_eq!(claims.exp, claims.iat + 60);
    }

    #[test]
    fn a_token_is_refused_for_what_is_wrong_with_it() {
        let token = issued(Duration::from_secs(60));
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let mut flipped = URL_SAFE_NO_PAD.decode(signature).unwrap();
        flipped[0] ^= 1;
        let tampered = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(flipped));
        let hs256_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims_part = token.split('.').nth(1).unwrap();
        let unknown_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"nobody"}"#);
        let cases = [
            (tampered, "the token signature does not verify"),
            (
                format!("{hs256_header}.{claims_part}.c2ln"),
                "the token is not signed with EdDSA",
            ),
            (
                format!("{unknown_kid}.{claims_part}.c2ln"),
                "the token was signed with an unknown key",
            ),
            ("not a token".to_owned(), "the token is not a JWT"),
            ("a.b.c".to_owned(), "the token is not base64url"),
            ("x".repeat(5000), "the token is too long"),
        ];
        for (token, why) in cases {
            match check_signed(&ring(), ISSUER, &token) {
                Err(AuthError::InvalidToken(reason)) => assert_eq!(reason, why, "{token:.40}"),
                other => panic!("{token:.40}: {other:?}"),
            }
        }
        assert!(matches!(
            check_signed(
                &ring(),
                "https://elsewhere.example.org",
                &issued(Duration::from_secs(60))
            ),
            Err(AuthError::InvalidToken(
                "the token was issued by another server"
            ))
        ));
    }

    #[test]
    fn a_token_expires_exactly_at_exp() {
        assert!(matches!(
            check_signed(&ring(), ISSUER, &issued(Duration::ZERO)),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn the_next_key_verifies_once_it_signs() {
        let ring = ring();
        let promoted = KeyRing::from_seeds(NEXT_SEED, SEED);
        let claims = new_session(
            ISSUER,
            "u-ann",
            random_token().unwrap(),
            Audience::H5,
            &["ticket"],
            unix_now(),
            unix_now() + 60,
        );
        let token = sign(&promoted, &claims).unwrap();
        assert_eq!(part(&token, 0)["kid"], ring.next_kid());
        assert!(check_signed(&ring, ISSUER, &token).is_ok());
    }
}
