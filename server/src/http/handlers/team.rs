//! The organizer team (members, removing one, invites) and the caller's password login.

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use meeteasy_protocol::{
    AcceptInviteResponse, CreateInviteRequest, CreateInviteResponse, InspectInviteResponse,
    InviteCodeRequest, InvitesResponse, SetPasswordRequest, TeamResponse,
};

use super::Service;
use crate::http::caller::{AdminCaller, ConsoleCaller, MiniProgramCaller, OrganizerCaller};
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, Peer};

/// A path segment that is not text leads nowhere: it is read as an empty id, which no record has.
fn path_id(id: Result<Path<String>, PathRejection>) -> String {
    id.map_or_else(|_| String::new(), |Path(id)| id)
}

pub async fn members(
    service: Service,
    OrganizerCaller(caller): OrganizerCaller,
) -> Result<Json<TeamResponse>, ApiError> {
    let members = service.team(&caller).await?;
    Ok(Json(TeamResponse { members }))
}

pub async fn remove_member(
    service: Service,
    AdminCaller(caller): AdminCaller,
    user_id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    service.remove_member(&caller, &path_id(user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_invite(
    service: Service,
    AdminCaller(caller): AdminCaller,
    JsonBody(request): JsonBody<CreateInviteRequest>,
) -> Result<(StatusCode, Json<CreateInviteResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_invite(&caller, request).await?),
    ))
}

pub async fn invites(
    service: Service,
    AdminCaller(caller): AdminCaller,
) -> Result<Json<InvitesResponse>, ApiError> {
    let invites = service.invites(&caller).await?;
    Ok(Json(InvitesResponse { invites }))
}

pub async fn invite_qr(
    service: Service,
    AdminCaller(caller): AdminCaller,
    id: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let png = service.invite_qr(&caller, &path_id(id)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        png,
    ))
}

pub async fn revoke_invite(
    service: Service,
    AdminCaller(caller): AdminCaller,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    service.revoke_invite(&caller, &path_id(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn inspect_invite(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<InviteCodeRequest>,
) -> Result<Json<InspectInviteResponse>, ApiError> {
    Ok(Json(service.inspect_invite(&request.code, &from).await?))
}

pub async fn accept_invite(
    service: Service,
    Peer(from): Peer,
    MiniProgramCaller(claims): MiniProgramCaller,
    JsonBody(request): JsonBody<InviteCodeRequest>,
) -> Result<Json<AcceptInviteResponse>, ApiError> {
    let user = service.accept_invite(&request.code, &claims, &from).await?;
    Ok(Json(AcceptInviteResponse { user }))
}

pub async fn set_password(
    service: Service,
    ConsoleCaller(claims): ConsoleCaller,
    JsonBody(request): JsonBody<SetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    service.set_password(&claims, request).await?;
    Ok(StatusCode::NO_CONTENT)
}
