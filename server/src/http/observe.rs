//! Access logs and request metrics. Logs carry the path but never the query string: an H5 page's
//! URL holds a login ticket until the page removes it, and tickets must never reach a log. An
//! answer that is a fault (store, WeChat, this server) is logged here with its cause, which the
//! error mapping attached to the response.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Response;
use axum::middleware::Next;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::domain::AuthService;

use super::error::{FaultCause, Severity};

pub async fn count_requests(
    State(service): State<Arc<AuthService>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    service.metrics().count_request(&route, status);
    // A 503 is the store's unless it is the server shedding load (`server_busy`), which carries
    // no fault cause.
    if status == 503 && response.extensions().get::<FaultCause>().is_some() {
        service.metrics().count_store_error();
    }
    response
}

type AccessLog = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request) -> Span,
    (),
    fn(&Response<Body>, Duration, &Span),
>;

pub fn access_log() -> AccessLog {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request) -> Span)
        .on_request(())
        .on_response(log_response as fn(&Response<Body>, Duration, &Span))
}

fn request_span(request: &Request) -> Span {
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
}

fn log_response(response: &Response<Body>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_millis() as u64;
    match response.extensions().get::<FaultCause>() {
        None => tracing::info!(status, latency_ms, "answered"),
        Some(FaultCause {
            severity: Severity::Warning,
            detail,
        }) => tracing::warn!(status, latency_ms, cause = %detail, "answered with a fault"),
        Some(FaultCause {
            severity: Severity::Error,
            detail,
        }) => tracing::error!(status, latency_ms, cause = %detail, "answered with a fault"),
    }
}
