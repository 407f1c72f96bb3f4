//! Desktop scan login: scenes, their QR, the phone's scan/confirm/cancel and the console's long-poll.

use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use meeteasy_protocol::{CreateSceneResponse, ScanResponse, SceneRequest};
use serde::Deserialize;

use super::Service;
use crate::domain::SceneAnswer;
use crate::http::caller::MiniProgramCaller;
use crate::http::error::ApiError;
use crate::http::extract::{Bearer, OptionalJsonBody, Peer, PollToken, QueryParams, ScenePath};

/// A login scene needs no token; a link scene the console's (checked by the domain, which knows
/// the purpose).
pub async fn create(
    service: Service,
    Peer(from): Peer,
    bearer: Result<Bearer, ApiError>,
    OptionalJsonBody(request): OptionalJsonBody<SceneRequest>,
) -> Result<(StatusCode, Json<CreateSceneResponse>), ApiError> {
    let bearer = bearer.ok().map(|Bearer(token)| token);
    Ok((
        StatusCode::CREATED,
        Json(
            service
                .create_scene_for(request, &from, bearer.as_deref())
                .await?,
        ),
    ))
}

pub async fn qr_png(
    service: Service,
    ScenePath(scene): ScenePath,
) -> Result<impl IntoResponse, ApiError> {
    let png = service.scene_qr(&scene).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        png,
    ))
}

pub async fn scan(
    service: Service,
    ScenePath(scene): ScenePath,
    MiniProgramCaller(claims): MiniProgramCaller,
) -> Result<Json<ScanResponse>, ApiError> {
    Ok(Json(service.scan_scene(&scene, &claims).await?))
}

pub async fn confirm(
    service: Service,
    ScenePath(scene): ScenePath,
    MiniProgramCaller(claims): MiniProgramCaller,
) -> Result<StatusCode, ApiError> {
    service.confirm_scene(&scene, &claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel(
    service: Service,
    ScenePath(scene): ScenePath,
    MiniProgramCaller(claims): MiniProgramCaller,
) -> Result<StatusCode, ApiError> {
    service.cancel_scene(&scene, &claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The console takes back a scene it made, by its poll token (an extension of protocol v1).
pub async fn withdraw(
    service: Service,
    ScenePath(scene): ScenePath,
    PollToken(poll_token): PollToken,
) -> Result<StatusCode, ApiError> {
    service.withdraw_scene(&scene, &poll_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct Wait {
    #[serde(default)]
    wait: u64,
}

pub async fn islogin(
    service: Service,
    ScenePath(scene): ScenePath,
    PollToken(poll_token): PollToken,
    QueryParams(Wait { wait }): QueryParams<Wait>,
) -> Result<Json<SceneAnswer>, ApiError> {
    Ok(Json(
        service
            .poll_any_scene(&scene, &poll_token, Duration::from_secs(wait))
            .await?,
    ))
}
