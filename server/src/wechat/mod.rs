//! WeChat's server API as the domain needs it: code2Session and mini program codes.
//!
//! [`WeChat`] is the interface the domain calls; [`client::WeChatClient`] implements it over HTTP
//! against WeChat (or any server speaking its contract, like the fake WeChat in `meeteasy-devtools`).

pub mod client;

use async_trait::async_trait;

use crate::config::AppSettings;

/// What code2Session tells about the user behind a `wx.login` code.
#[derive(Debug, Clone)]
pub struct WeChatSession {
    pub openid: String,
    /// Present when the app is bound to an Open Platform account; the same across its apps.
    pub unionid: Option<String>,
    // WeChat's `session_key` is not kept: nothing here decrypts user data or signs with it, and a
    // secret without a use is only something to leak.
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeChatError {
    /// 40029 or 40163: wrong, expired or already used code. (40163 on a retry after `-1` is
    /// `Unavailable`: the try that failed may have used it.)
    #[error("the login code is invalid, expired or already used (errcode {0})")]
    CodeInvalid(i64),
    /// 40226: a high-risk user WeChat blocks from logging in.
    #[error("WeChat blocks this user from logging in")]
    UserBlocked,
    /// 45011: WeChat's per-user minute quota.
    #[error("WeChat's rate limit was reached")]
    RateLimited,
    /// -1, network failures, timeouts, misconfiguration and anything else.
    #[error("WeChat is unavailable: {0}")]
    Unavailable(String),
    /// The store that shares the app's access token between instances failed: our outage, not WeChat's.
    #[error("the access token store failed: {0}")]
    Store(String),
}

#[async_trait]
pub trait WeChat: Send + Sync + 'static {
    /// Exchanges a `wx.login` code for the user's identity.
    async fn code_to_session(
        &self,
        app: &AppSettings,
        code: &str,
    ) -> Result<WeChatSession, WeChatError>;

    /// A mini program code (PNG bytes) that opens `page` of `app` with `scene` (`app.scan_page` for
    /// scan login, `app.invite_page` for an invite).
    async fn unlimited_qr_code(
        &self,
        app: &AppSettings,
        page: &str,
        scene: &str,
    ) -> Result<Vec<u8>, WeChatError>;
}
