//! Authenticated callers. A handler that needs a verified token takes one of these as an argument,
//! so it cannot forget to verify: each reads `Authorization: Bearer`, checks signature, expiry and
//! revocation, and for the narrower ones the token's audience. A missing or bad token answers 401
//! before the handler runs.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use meeteasy_protocol::{Claims, TeamRole};

use crate::domain::{AuthService, TeamCaller};

use super::error::ApiError;
use super::extract::Bearer;

/// Any valid token: mini program, H5 or console.
pub struct AnyCaller(pub Claims);

/// A mini program's token (`aud` = `miniprogram`): the phone's side of scan login.
pub struct MiniProgramCaller(pub Claims);

impl FromRequestParts<Arc<AuthService>> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let token = bearer_token(parts, service).await?;
        Ok(Self(service.verify(&token).await?))
    }
}

impl FromRequestParts<Arc<AuthService>> for MiniProgramCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let token = bearer_token(parts, service).await?;
        Ok(Self(service.verify_miniprogram(&token).await?))
    }
}

/// A console token (`aud` = `console`) of any user.
pub struct ConsoleCaller(pub Claims);

impl FromRequestParts<Arc<AuthService>> for ConsoleCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let token = bearer_token(parts, service).await?;
        Ok(Self(service.verify_console(&token).await?))
    }
}

/// A console token of an organizer: 403 `forbidden` for anyone else.
pub struct OrganizerCaller(pub TeamCaller);

/// A console token of an admin: 403 `forbidden` for anyone else.
pub struct AdminCaller(pub TeamCaller);

impl FromRequestParts<Arc<AuthService>> for OrganizerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let token = bearer_token(parts, service).await?;
        Ok(Self(service.authorize(&token, TeamRole::Organizer).await?))
    }
}

impl FromRequestParts<Arc<AuthService>> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let token = bearer_token(parts, service).await?;
        Ok(Self(service.authorize(&token, TeamRole::Admin).await?))
    }
}

async fn bearer_token(parts: &mut Parts, service: &Arc<AuthService>) -> Result<String, ApiError> {
    let Bearer(token) = Bearer::from_request_parts(parts, service).await?;
    Ok(token)
}
