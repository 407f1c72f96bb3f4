//! Request extractors whose rejections are the contract's errors: malformed JSON or query strings
//! become `400 invalid_request` naming the field, a missing bearer `401 invalid_token`.

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::serve::IncomingStream;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::domain::{AuthError, ClientAddr};

use super::error::ApiError;
use super::tls::TlsListener;

/// A JSON body (at most 16 KiB, enforced by the router's body limit).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::invalid_request(json_problem(&rejection))),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::JsonDataError(e) => format!("body: {}", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => format!("body: malformed JSON: {}", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            "body: send JSON with Content-Type: application/json".into()
        }
        JsonRejection::BytesRejection(_) => "body: unreadable or larger than 16 KiB".into(),
        // JsonRejection is non-exhaustive: a variant added by a future axum still gets a clear answer.
        other => format!("body: {}", other.body_text()),
    }
}

/// Query parameters.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::invalid_request(format!("query: {}", rejection.body_text()))
            })
    }
}

/// The token of `Authorization: Bearer <token>`, not yet verified.
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        bearer(parts)
            .map(Self)
            .ok_or(ApiError::Auth(AuthError::InvalidToken(
                "send the access token as Authorization: Bearer <token>",
            )))
    }
}

/// The poll token a console sends to `islogin`, in the bearer slot.
pub struct PollToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PollToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        bearer(parts)
            .map(Self)
            .ok_or(ApiError::Auth(AuthError::InvalidPollToken))
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The address a connection comes from, recorded as each connection is accepted (plain or TLS).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The peer address of the request (the console's IP shown on the phone; rate-limit key).
pub struct Peer(pub ClientAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let ip = parts.extensions.get::<ConnectInfo<PeerAddr>>().map_or_else(
            || "unknown".to_owned(),
            |ConnectInfo(PeerAddr(addr))| addr.ip().to_string(),
        );
        Ok(Self(ClientAddr(ip)))
    }
}
