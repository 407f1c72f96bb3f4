//! Users, access tokens, login tickets and the requests that produce them.

use serde::{Deserialize, Serialize};

use crate::ErrorBody;
use crate::redact::debug_hiding;

/// `User` of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub roles: Vec<String>,
}

/// Which kind of client a token is for (`aud`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Miniprogram,
    H5,
    Console,
}

impl Audience {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Miniprogram => "miniprogram",
            Self::H5 => "h5",
            Self::Console => "console",
        }
    }
}

/// The claims of every access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: Audience,
    pub sub: String,
    pub sid: String,
    pub iat: u64,
    pub exp: u64,
    /// How the user authenticated: `wechat`, `pwd`, `ticket`, `scan`.
    pub amr: Vec<String>,
}

/// `POST /auth/wechat/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeChatLoginRequest {
    pub code: String,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub scene: Option<String>,
    /// For the session list (v1.1), at most 64 characters.
    #[serde(default)]
    pub device_name: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct WeChatLoginResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub login_ticket: String,
    pub login_ticket_expires_in: u64,
    pub user: User,
    /// With `scene`: why the scene could not be confirmed (an extension of v1). The login itself
    /// succeeded, so the mini program keeps its session and need not call `wx.login` again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_error: Option<ErrorBody>,
}

debug_hiding!(WeChatLoginResponse { token_type, expires_in, login_ticket_expires_in, user, scene_error } hiding { access_token, login_ticket });

/// The plain token answer of ticket exchange, password login and a confirmed scan.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub user: User,
}

debug_hiding!(TokenResponse { token_type, expires_in, user } hiding { access_token });

/// `POST /auth/login-ticket` answer.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginTicketResponse {
    pub login_ticket: String,
    pub expires_in: u64,
}

debug_hiding!(LoginTicketResponse { expires_in } hiding { login_ticket });

/// `POST /auth/login-ticket/exchange`.
#[derive(Clone, Serialize, Deserialize)]
pub struct TicketExchangeRequest {
    pub login_ticket: String,
    /// For the session list (v1.1), at most 64 characters.
    #[serde(default)]
    pub device_name: Option<String>,
}

debug_hiding!(TicketExchangeRequest { device_name } hiding { login_ticket });

/// Which client a password login is for; it picks the token's audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Console,
    H5,
}

/// `POST /auth/login`.
#[derive(Clone, Serialize, Deserialize)]
pub struct PasswordLoginRequest {
    pub login: String,
    pub password: String,
    pub client: ClientKind,
    /// For the session list (v1.1), at most 64 characters.
    #[serde(default)]
    pub device_name: Option<String>,
}

debug_hiding!(PasswordLoginRequest { login, client, device_name } hiding { password });

/// `POST /auth/jwt/verify`.
#[derive(Clone, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub token: String,
}

debug_hiding!(VerifyRequest {} hiding { token });

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyResponse {
    pub valid: bool,
    pub claims: Claims,
}

/// `GET /.well-known/jwks.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// An Ed25519 public key (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}
