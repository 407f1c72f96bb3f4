//! The layer that observes every request: counts it by route and status for `/metrics`, and logs
//! its answer. Logs carry the path but never the query string: an H5 page's URL holds a login
//! ticket until the page removes it, and tickets must never reach a log. Nor do invite codes,
//! which the invite page's path carries: that page is logged by its route. An answer that is a fault
//! (store, WeChat, this server) is logged with its cause, which the error mapping attached to the
//! response.
//!
//! One event per answer and no span per request: a span lives as long as its request, and 10,000
//! consoles waiting in a long-poll would each keep one (about half a KiB) for nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Response;
use axum::middleware::Next;

use crate::domain::AuthService;

use super::error::{FaultCause, Severity};
use super::pages::INVITE_PAGE;

pub async fn observe(
    State(service): State<Arc<AuthService>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    service.metrics().count_request(route, status);
    let fault = response.extensions().get::<FaultCause>();
    // A 503 is the store's unless it is the server shedding load (`server_busy`), which carries
    // no fault cause.
    if status == 503 && fault.is_some() {
        service.metrics().count_store_error();
    }
    let latency_ms = started.elapsed().as_millis() as u64;
    let path = if route == INVITE_PAGE {
        route
    } else {
        path.as_str()
    };
    let method = method.as_str();
    match fault {
        None => tracing::info!(%method, %path, status, latency_ms, "answered"),
        Some(FaultCause {
            severity: Severity::Warning,
            detail,
        }) => {
            tracing::warn!(%method, %path, status, latency_ms, cause = %detail, "answered with a fault")
        }
        Some(FaultCause {
            severity: Severity::Error,
            detail,
        }) => {
            tracing::error!(%method, %path, status, latency_ms, cause = %detail, "answered with a fault")
        }
    }
    response
}
