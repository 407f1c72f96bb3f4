//! Health, readiness and metrics for operators and load balancers.

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::Service;
use crate::domain::AuthError;
use crate::http::error::ApiError;
use crate::http::extract::MetricsScraper;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(service: Service) -> Result<&'static str, ApiError> {
    service.ready().await.map_err(AuthError::from)?;
    Ok("ready\n")
}

pub async fn metrics(_scraper: MetricsScraper, service: Service) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        service.metrics().render(),
    )
}
