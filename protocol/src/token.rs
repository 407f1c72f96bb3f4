//! Users, access tokens, login tickets and the requests that produce them.

use serde::{Deserialize, Serialize};

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
pub struct WechatLoginRequest {
    pub code: String,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub scene: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WechatLoginResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub login_ticket: String,
    pub login_ticket_expires_in: u64,
    pub user: User,
}

/// The plain token answer of ticket exchange, password login and a confirmed scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub user: User,
}

/// `POST /auth/login-ticket` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginTicketResponse {
    pub login_ticket: String,
    pub expires_in: u64,
}

/// `POST /auth/login-ticket/exchange`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketExchangeRequest {
    pub login_ticket: String,
}

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
}

impl std::fmt::Debug for PasswordLoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordLoginRequest")
            .field("login", &self.login)
            .field("password", &"<hidden>")
            .field("client", &self.client)
            .finish()
    }
}

/// `POST /auth/jwt/verify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub token: String,
}

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
