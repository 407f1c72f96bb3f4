//! The layer that observes every request: counts it by route and status for `/metrics`, and logs
//! its answer. Logs carry the route a request matched (`/auth/scenes/{scene}/islogin`), not its
//! path, and never the query string: the ids in paths are capabilities (an invite's code makes its
//! holder a member, a link scene's id lets whoever reads it scan first and join the account), and
//! an H5 page's URL holds a login ticket until the page removes it. A request that matched no
//! route is logged by its path with every long segment hidden. An answer that is a fault
//! (store, WeChat, this server) is logged with its cause, which the error mapping attached to the
//! response. It also gives every answer without a cache policy of its own `Cache-Control:
//! no-store` (answers carry tokens, tickets and people's data; RFC 6749 5.1): here rather than in
//! a layer of its own, whose future every waiting long-poll would hold (half a KiB more each, by
//! the benchmark).
//!
//! One event per answer and no span per request: a span lives as long as its request, and 10,000
//! consoles waiting in a long-poll would each keep one (about half a KiB) for nothing.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Response, header};
use axum::middleware::Next;

use crate::domain::AuthService;

use super::error::{FaultCause, FaultSource};

pub async fn observe(
    State(service): State<Arc<AuthService>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    // Kept only for a request that matched no route: the others are logged by their route.
    let unmatched_path = route
        .is_none()
        .then(|| hide_long_segments(request.uri().path()));
    let mut response = next.run(request).await;
    (response.headers_mut().entry(header::CACHE_CONTROL))
        .or_insert(HeaderValue::from_static("no-store"));
    let status = response.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    service.metrics().count_request(route, status);
    let fault = response.extensions().get::<FaultCause>();
    // Whatever the status: a one-step login's scene step the store failed still answers 200.
    if fault.is_some_and(|fault| fault.source == FaultSource::Store) {
        service.metrics().count_store_error();
    }
    let latency_ms = started.elapsed().as_millis() as u64;
    let path = unmatched_path.as_deref().unwrap_or(route);
    let method = method.as_str();
    match fault {
        None => tracing::info!(%method, %path, status, latency_ms, "answered"),
        Some(FaultCause {
            source: FaultSource::Store | FaultSource::WeChat,
            detail,
        }) => {
            tracing::warn!(%method, %path, status, latency_ms, cause = %detail, "answered with a fault")
        }
        Some(FaultCause {
            source: FaultSource::Server,
            detail,
        }) => {
            tracing::error!(%method, %path, status, latency_ms, cause = %detail, "answered with a fault")
        }
    }
    response
}

/// The longest path segment an unmatched request is logged with: ids and codes are longer.
const LOGGED_SEGMENT_MAX: usize = 16;

/// `path` with each segment longer than [`LOGGED_SEGMENT_MAX`] replaced by `…` (a mistyped route
/// may still carry a code: `/m/invite/<code>/`).
fn hide_long_segments(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.len() > LOGGED_SEGMENT_MAX {
                "…"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmatched_path_is_logged_without_its_long_segments() {
        assert_eq!(
            hide_long_segments("/m/invite/Zq3vK8pR2mWx7nT4bY6cH1dF5gJ9sL0a/"),
            "/m/invite/…/"
        );
        assert_eq!(hide_long_segments("/favicon.ico"), "/favicon.ico");
    }
}
