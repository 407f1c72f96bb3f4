//! The HTTP adapter: routes of the contract onto [`AuthService`], plus the cross-cutting layers
//! (body limit, CORS for H5 origins, access logs without query strings, request metrics).

pub mod caller;
pub mod error;
pub mod extract;
mod handlers;
mod observe;
pub mod pages;
pub mod serve;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::domain::AuthService;
use error::ApiError;
use handlers::{logins, ops, scenes, sessions, team, tokens};

/// The contract's limit on request bodies.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn app(service: Arc<AuthService>, page_add_ons: &pages::PageAddOns) -> Router {
    let settings = service.settings();
    let api = Router::new()
        .route("/auth/wechat/login", post(logins::wechat_login))
        .route("/auth/login-ticket", post(logins::mint_ticket))
        .route("/auth/login-ticket/exchange", post(logins::exchange_ticket))
        .route("/auth/login", post(logins::password_login))
        .route("/auth/scenes", post(scenes::create))
        .route("/auth/scenes/{scene}/qr.png", get(scenes::qr_png))
        .route("/auth/scenes/{scene}/scan", post(scenes::scan))
        .route("/auth/scenes/{scene}/confirm", post(scenes::confirm))
        .route("/auth/scenes/{scene}/cancel", post(scenes::cancel))
        .route("/auth/scenes/{scene}/islogin", get(scenes::islogin))
        .route("/auth/scenes/{scene}/withdraw", post(scenes::withdraw))
        .route("/auth/jwt/verify", post(tokens::verify))
        .route("/auth/me", get(tokens::me))
        .route("/auth/logout", post(tokens::logout))
        .route("/auth/sessions", get(sessions::list))
        // `DELETE` of this path is a session id like any other (none of the caller's).
        .route(
            "/auth/sessions/revoke-others",
            post(sessions::end_others).delete(sessions::end),
        )
        .route("/auth/sessions/{id}", delete(sessions::end))
        .route("/auth/me/password", post(team::set_password))
        .route("/auth/team", get(team::members))
        .route("/auth/team/{user_id}", delete(team::remove_member))
        .route(
            "/auth/invites",
            post(team::create_invite).get(team::invites),
        )
        .route("/auth/invites/inspect", post(team::inspect_invite))
        .route("/auth/invites/accept", post(team::accept_invite))
        .route("/auth/invites/{id}", delete(team::revoke_invite))
        .route("/auth/invites/{id}/qr.png", get(team::invite_qr))
        .route("/.well-known/jwks.json", get(tokens::jwks));
    Router::new()
        .merge(api)
        .merge(pages::routes(page_add_ons))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::NoSuchRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // One `layer` call, so every request passes one boxed service for the three layers: each
        // call boxes all routes again, and a waiting long-poll holds a future per box.
        .layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(service.clone(), observe::observe))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                // Applied to every route and the fallbacks, so preflights are answered first.
                .layer(cors(&settings.h5_origins)),
        )
        .with_state(service)
}

/// Browsers on the configured H5 origins may call the API; no one else gets CORS headers.
pub(crate) fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}
