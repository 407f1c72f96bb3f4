//! Request extractors whose rejections are the contract's errors: malformed JSON or query strings
//! become `400 invalid_request` naming the field, a missing bearer `401 invalid_token`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::domain::{AuthError, AuthService, ClientAddr};

const X_FORWARDED_FOR: &str = "x-forwarded-for";

use super::error::ApiError;

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
        JsonRejection::MissingJsonContentType(_) => NOT_JSON.into(),
        JsonRejection::BytesRejection(_) => {
            "body: unreadable, too slow or larger than 16 KiB".into()
        }
        // JsonRejection is non-exhaustive: a variant added by a future axum still gets a clear answer.
        other => format!("body: {}", other.body_text()),
    }
}

/// A JSON body whose fields are all optional: a JSON request with an empty body means all defaults.
///
/// The JSON content type is required even then. A cross-site page can send a "simple" request (a
/// form post, `text/plain`, or no body and no content type at all) without asking the server first;
/// `Content-Type: application/json` makes the browser ask (a CORS preflight), which only the listed
/// H5 origins pass. So a foreign page cannot spend its visitors' per-address budgets here. The
/// contract's bodies are JSON, so every client written against it already sends the header.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers();
        if !headers.get(CONTENT_TYPE).is_some_and(is_json_content_type) {
            return Err(ApiError::invalid_request(NOT_JSON));
        }
        let declared_empty = headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length == "0");
        let undeclared =
            headers.get(CONTENT_LENGTH).is_none() && headers.get(TRANSFER_ENCODING).is_none();
        if declared_empty || undeclared {
            return Ok(Self(T::default()));
        }
        JsonBody::from_request(request, state)
            .await
            .map(|JsonBody(value)| Self(value))
    }
}

const NOT_JSON: &str = "body: send JSON with Content-Type: application/json";

/// `application/json` or `application/<anything>+json`, parameters aside (what axum's own JSON
/// extractor accepts).
fn is_json_content_type(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
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

/// A scraper holding the metrics token. Without a configured token `/metrics` is no route at all:
/// how busy the server is and how people log in is not for whoever reaches the public listener.
pub struct MetricsScraper;

impl FromRequestParts<Arc<AuthService>> for MetricsScraper {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let Some(expected) = &service.settings().metrics_token else {
            return Err(ApiError::NoSuchRoute);
        };
        // Digests compared, so the time taken says nothing about how much of a guess was right.
        let digest = |token: &str| Sha256::digest(token.as_bytes());
        match bearer(parts) {
            Some(token) if digest(&token) == digest(expected.expose()) => Ok(Self),
            Some(_) | None => Err(ApiError::Auth(AuthError::InvalidToken(
                "send the metrics token as Authorization: Bearer <token>",
            ))),
        }
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The address a connection comes from, recorded as each connection is accepted (plain or TLS)
/// and given to every request on it as `ConnectInfo<PeerAddr>`.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Where the request comes from: the connection's peer, or — when that peer is a trusted proxy —
/// the nearest address in `X-Forwarded-For` that is not one (the console's IP shown on the phone,
/// and the key of per-address limits). Addresses are canonical: on a dual-stack listener (`[::]`)
/// an IPv4 peer arrives as `::ffff:a.b.c.d`, which is the IPv4 address `a.b.c.d` to everyone else
/// (the trusted proxy list, the limits, the phone).
pub struct Peer(pub ClientAddr);

impl FromRequestParts<Arc<AuthService>> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<AuthService>,
    ) -> Result<Self, ApiError> {
        let trusted = &service.settings().trusted_proxies;
        let Some(ConnectInfo(PeerAddr(peer))) = parts.extensions.get::<ConnectInfo<PeerAddr>>()
        else {
            return Ok(Self(ClientAddr("unknown".to_owned())));
        };
        let mut client = peer.ip().to_canonical();
        if trusted.contains(&client) {
            // Split as bytes: a client may send bytes that are no text before the hops the
            // proxies appended, and those must not hide them.
            let forwarded = parts
                .headers
                .get_all(X_FORWARDED_FOR)
                .iter()
                .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
                .collect::<Vec<_>>();
            // Read from the right: each trusted proxy appended the address it saw.
            for hop in forwarded.iter().rev() {
                let ip = std::str::from_utf8(hop).ok().and_then(hop_address);
                match ip.map(|ip| ip.to_canonical()) {
                    Some(ip) if trusted.contains(&ip) => client = ip,
                    Some(ip) => {
                        client = ip;
                        break;
                    }
                    // A hop we cannot read ends what we can trust.
                    None => break,
                }
            }
        }
        Ok(Self(ClientAddr(client.to_string())))
    }
}

/// The address of one `X-Forwarded-For` hop, as proxies write it: `1.2.3.4`, `2001:db8::1`, and
/// also with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`) or in brackets (`[2001:db8::1]`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| {
            hop.parse::<SocketAddr>()
                .ok()
                .map(|with_port| with_port.ip())
        })
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// The `{scene}` path segment; a segment that is not even text is an invalid request, in JSON.
pub struct ScenePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ScenePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(scene)| Self(scene))
            .map_err(|rejection| {
                ApiError::invalid_request(format!("scene: {}", rejection.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_hop_is_read_with_or_without_its_port_and_brackets() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for (hop, address) in [
            (" 203.0.113.7 ", Some(v4)),
            ("203.0.113.7:5678", Some(v4)),
            ("2001:db8::1", Some(v6)),
            ("[2001:db8::1]", Some(v6)),
            ("[2001:db8::1]:443", Some(v6)),
            ("unknown", None),
            ("203.0.113.7:", None),
            ("[203.0.113.7", None),
        ] {
            assert_eq!(hop_address(hop), address, "{hop}");
        }
    }
}
