//! Token verification, the current user, logout and the public keys.

use axum::Json;
use axum::http::{StatusCode, header};
use meeteasy_protocol::{Jwks, User, VerifyRequest, VerifyResponse};

use super::Service;
use crate::http::caller::AnyCaller;
use crate::http::error::ApiError;
use crate::http::extract::JsonBody;

pub async fn verify(
    service: Service,
    JsonBody(request): JsonBody<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let claims = service.verify(&request.token).await?;
    Ok(Json(VerifyResponse {
        valid: true,
        claims,
    }))
}

pub async fn me(service: Service, AnyCaller(claims): AnyCaller) -> Result<Json<User>, ApiError> {
    Ok(Json(service.me(&claims).await?))
}

pub async fn logout(
    service: Service,
    AnyCaller(claims): AnyCaller,
) -> Result<StatusCode, ApiError> {
    service.logout(&claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cached by verifiers for a minute at most, as long as an instance takes to follow a rotation
/// (the next key is published ahead; a key removed as compromised is gone from caches as soon).
/// Without a policy of its own it would be `no-store` (see `observe`), and every verifier would
/// fetch it again for every token.
pub async fn jwks(service: Service) -> ([(header::HeaderName, &'static str); 1], Json<Jwks>) {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(service.jwks()),
    )
}
