//! Access tokens: compact JWS with EdDSA (Ed25519), a `kid` header, and a session id (`sid`) that
//! logout revokes. Only this one algorithm is accepted, so there is no `alg` confusion to exploit.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;
use meeteasy_protocol::{Audience, Claims};
use serde::{Deserialize, Serialize};

use crate::store::{Lifetime, Store, StoreError};

use super::AuthError;
use super::clock::unix_now;
use super::keys::KeyRing;
use super::secrets::random_token;

/// Tokens longer than this are rejected before any parsing.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

/// Signs a token for a new session of `subject`.
pub fn issue(
    keys: &KeyRing,
    issuer: &str,
    subject: &str,
    audience: Audience,
    amr: &[&str],
    lifetime: Duration,
) -> Result<IssuedToken, StoreError> {
    let now = unix_now();
    let claims = Claims {
        iss: issuer.to_owned(),
        aud: audience,
        sub: subject.to_owned(),
        sid: random_token()?,
        iat: now,
        exp: now + lifetime.as_secs(),
        amr: amr.iter().map(|method| (*method).to_owned()).collect(),
    };
    let claims_json = serde_json::to_vec(&claims)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode claims: {e}")))?;
    let header = serde_json::to_vec(&Header {
        alg: "EdDSA",
        typ: "JWT",
        kid: keys.current_kid(),
    })
    .map_err(|e| StoreError::Corrupt(format!("cannot encode a JWT header: {e}")))?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    let signature = keys.sign(signing_input.as_bytes());
    Ok(IssuedToken {
        token: format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ),
        expires_in: lifetime.as_secs(),
    })
}

/// Checks form, signature, issuer and expiry (not revocation, which needs the store).
pub fn check_signed(keys: &KeyRing, issuer: &str, token: &str) -> Result<Claims, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidToken("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::InvalidToken("the token is not a JWT"));
    };
    let header_bytes = decode_part(header_b64)?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| AuthError::InvalidToken("the token header is malformed"))?;
    if header.alg != "EdDSA" {
        return Err(AuthError::InvalidToken(
            "the token is not signed with EdDSA",
        ));
    }
    let key = keys
        .verifying_key(header.kid)
        .ok_or(AuthError::InvalidToken(
            "the token was signed with an unknown key",
        ))?;
    let signature_bytes: [u8; 64] = decode_part(signature_b64)?
        .try_into()
        .map_err(|_| AuthError::InvalidToken("the token signature is malformed"))?;
    let signing_input_len = header_b64.len() + 1 + claims_b64.len();
    key.verify_strict(
        &token.as_bytes()[..signing_input_len],
        &Signature::from_bytes(&signature_bytes),
    )
    .map_err(|_| AuthError::InvalidToken("the token signature does not verify"))?;
    let claims: Claims = serde_json::from_slice(&decode_part(claims_b64)?)
        .map_err(|_| AuthError::InvalidToken("the token claims are malformed"))?;
    if claims.iss != issuer {
        return Err(AuthError::InvalidToken(
            "the token was issued by another server",
        ));
    }
    if claims.exp <= unix_now() {
        return Err(AuthError::TokenExpired);
    }
    Ok(claims)
}

fn decode_part(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::InvalidToken("the token is not base64url"))
}

fn revoked_key(sid: &str) -> String {
    format!("revoked-sid:{sid}")
}

pub async fn is_revoked(store: &dyn Store, sid: &str) -> Result<bool, StoreError> {
    Ok(store.get(&revoked_key(sid)).await?.is_some())
}

/// Revokes the session until its token would have expired anyway.
pub async fn revoke(store: &dyn Store, claims: &Claims) -> Result<(), StoreError> {
    let remaining = claims.exp.saturating_sub(unix_now()).max(1);
    store
        .put(
            &revoked_key(&claims.sid),
            b"1",
            Lifetime::For(Duration::from_secs(remaining)),
        )
        .await
}
