//! Sessions: the caller's list, ending one, ending all the others.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use meeteasy_protocol::{RevokedSessions, SessionsResponse};

use super::Service;
use crate::http::caller::AnyCaller;
use crate::http::error::ApiError;

pub async fn list(
    service: Service,
    AnyCaller(claims): AnyCaller,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions = service.sessions(&claims).await?;
    Ok(Json(SessionsResponse { sessions }))
}

/// Any id that is not one of the caller's live sessions is `404 session_not_found`, a malformed one
/// included: the answer tells nothing about other users' sessions.
pub async fn end(
    service: Service,
    AnyCaller(claims): AnyCaller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = id.map_or_else(|_| String::new(), |Path(id)| id);
    service.end_session(&claims, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn end_others(
    service: Service,
    AnyCaller(claims): AnyCaller,
) -> Result<Json<RevokedSessions>, ApiError> {
    let revoked = service.end_other_sessions(&claims).await?;
    Ok(Json(RevokedSessions { revoked }))
}
