//! Mini program login, login tickets and password login.

use axum::Json;
use axum::http::StatusCode;
use meeteasy_protocol::{
    LoginTicketResponse, PasswordLoginRequest, TicketExchangeRequest, TokenResponse,
    WeChatLoginRequest, WeChatLoginResponse,
};

use super::Service;
use crate::http::caller::AnyCaller;
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, Peer};

pub async fn wechat_login(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<WeChatLoginRequest>,
) -> Result<Json<WeChatLoginResponse>, ApiError> {
    let login = service.wechat_login(request, &from).await?;
    let scene_error = login.scene_error.map(|error| ApiError::from(error).body());
    Ok(Json(WeChatLoginResponse {
        scene_error,
        ..login.response
    }))
}

pub async fn mint_ticket(
    service: Service,
    AnyCaller(claims): AnyCaller,
) -> Result<(StatusCode, Json<LoginTicketResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.mint_ticket(&claims).await?),
    ))
}

pub async fn exchange_ticket(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<TicketExchangeRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(service.exchange_ticket(request, &from).await?))
}

pub async fn password_login(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<PasswordLoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(service.password_login(request, &from).await?))
}
