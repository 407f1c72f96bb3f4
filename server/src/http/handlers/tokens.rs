//! Token verification, the current user, logout and the public keys.

use axum::Json;
use axum::http::StatusCode;
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

pub async fn jwks(service: Service) -> Json<Jwks> {
    Json(service.jwks())
}
