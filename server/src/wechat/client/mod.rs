//! [`WeChatClient`]: the [`WeChat`] interface over HTTP, against `api.weixin.qq.com` or any server
//! speaking its contract (the [`super::fake`] in tests and dev mode).
//!
//! Every operation runs under one deadline (`WeChatSettings::timeout`, retries included), so a WeChat
//! outage becomes a prompt `Unavailable`, never a hung request. Nothing logged or returned carries the
//! AppSecret, a login code or an access token.

mod call;
mod image;
mod misconfiguration;
#[cfg(test)]
mod tests;
mod token;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use self::call::{Api, CODE_BEEN_USED, CallError, Endpoint, INVALID_CODE};
use self::misconfiguration::Misconfigurations;
use self::token::AccessTokens;
use super::{WeChat, WeChatError, WeChatSession};
use crate::config::{AppSettings, EnvVersion, WeChatSettings};
use crate::domain::NoRandomness;
use crate::store::Store;

/// Errcodes of a rejected access token: invalid, expired, or not the latest.
const STALE_TOKEN_ERRCODES: [i64; 3] = [40001, 40014, 42001];
/// The side of the mini program code in pixels (WeChat's default).
const QR_WIDTH: u32 = 430;

#[derive(Debug, thiserror::Error)]
pub enum WeChatClientError {
    #[error("the WeChat base URL {0:?} is not a valid URL")]
    BaseUrl(String),
    #[error("the HTTP client cannot be built: {0}")]
    Http(#[source] reqwest::Error),
    #[error("the access token lock's holder cannot be made: {0}")]
    NoRandomness(#[from] NoRandomness),
}

pub struct WeChatClient {
    api: Api,
    tokens: AccessTokens,
    misconfigurations: Misconfigurations,
}

impl WeChatClient {
    /// A client for `settings.base_url`; access tokens are shared through `store`.
    pub fn new(
        settings: &WeChatSettings,
        store: Arc<dyn Store>,
    ) -> Result<Self, WeChatClientError> {
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base_url)
            .map_err(|_invalid| WeChatClientError::BaseUrl(settings.base_url.clone()))?;
        install_tls_provider();
        // No redirect is followed: every call carries the AppSecret, a login code or an access
        // token in its URL or body, which must go to the configured host and nowhere it points.
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WeChatClientError::Http)?;
        Ok(Self {
            api: Api {
                http,
                base_url,
                budget: settings.timeout,
            },
            tokens: AccessTokens::new(store)?,
            misconfigurations: Misconfigurations::default(),
        })
    }

    async fn session(
        &self,
        app: &AppSettings,
        code: &str,
        deadline: Instant,
    ) -> Result<Code2SessionReply, CallError> {
        let query = [
            ("appid", app.appid.as_str()),
            ("secret", app.secret.expose()),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ];
        // Set once a try was made: only `-1` is retried, and WeChat may have used the code in a
        // try it answered so.
        let tried = AtomicBool::new(false);
        call::retrying_system_errors(deadline, || async {
            let retry = tried.swap(true, Ordering::Relaxed);
            let answer = call::send(
                self.api.get(Endpoint::Code2Session).query(&query),
                call::JSON_ANSWER_LIMIT,
                deadline,
                self.api.budget,
            )
            .await?;
            match call::parse_reply(Endpoint::Code2Session, &answer.body) {
                Err(CallError::Errcode {
                    errcode: CODE_BEEN_USED,
                    errmsg,
                    ..
                }) if retry => Err(CallError::CodeUsedBeforeRetry(errmsg)),
                reply => reply,
            }
        })
        .await
    }

    /// Fetches the code with the shared token; a rejected token is replaced once (by a forced
    /// refresh if need be, see `AccessTokens::replacing`) and the call retried.
    async fn qr_code(
        &self,
        app: &AppSettings,
        page: &str,
        scene: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, CallError> {
        let token = self.tokens.current(&self.api, app, deadline).await?;
        match self.qr_code_with(&token, app, page, scene, deadline).await {
            Err(CallError::Errcode { errcode, .. }) if STALE_TOKEN_ERRCODES.contains(&errcode) => {
                let token = self
                    .tokens
                    .replacing(&self.api, app, &token, deadline)
                    .await?;
                self.qr_code_with(&token, app, page, scene, deadline).await
            }
            outcome => outcome,
        }
    }

    async fn qr_code_with(
        &self,
        token: &str,
        app: &AppSettings,
        page: &str,
        scene: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, CallError> {
        let request = UnlimitedQrRequest {
            scene,
            page,
            env_version: app.env_version.as_str(),
            check_path: checks_path(app.env_version),
            width: QR_WIDTH,
        };
        let image = call::retrying_system_errors(deadline, || async {
            let answer = call::send(
                self.api
                    .post(Endpoint::UnlimitedQrCode)
                    .query(&[("access_token", token)])
                    .json(&request),
                call::IMAGE_ANSWER_LIMIT,
                deadline,
                self.api.budget,
            )
            .await?;
            image_or_error(answer)
        })
        .await?;
        image::into_png(image).map_err(|error| CallError::Transport(error.to_string()))
    }

    /// Tells the operator of a misconfiguration the first time a call for `app` fails of it.
    fn note_outcome<T>(&self, app: &AppSettings, outcome: &Result<T, CallError>) {
        match outcome {
            Ok(_) => self.misconfigurations.succeeded(app),
            Err(failure) => self.misconfigurations.failed(app, failure),
        }
    }
}

#[async_trait]
impl WeChat for WeChatClient {
    async fn code_to_session(
        &self,
        app: &AppSettings,
        code: &str,
    ) -> Result<WeChatSession, WeChatError> {
        let deadline = Instant::now() + self.api.budget;
        let reply = tokio::time::timeout_at(deadline, self.session(app, code, deadline))
            .await
            .unwrap_or(Err(CallError::TimedOut(self.api.budget)));
        self.note_outcome(app, &reply);
        match reply {
            Ok(reply) => Ok(WeChatSession {
                openid: reply.openid,
                unionid: reply.unionid.filter(|unionid| !unionid.is_empty()),
            }),
            Err(CallError::Errcode {
                errcode: errcode @ (INVALID_CODE | CODE_BEEN_USED),
                ..
            }) => Err(WeChatError::CodeInvalid(errcode)),
            Err(CallError::Errcode { errcode: 40226, .. }) => Err(WeChatError::UserBlocked),
            Err(CallError::Errcode { errcode: 45011, .. }) => Err(WeChatError::RateLimited),
            Err(failure) => Err(failure.into_wechat_error(Endpoint::Code2Session, app)),
        }
    }

    async fn unlimited_qr_code(
        &self,
        app: &AppSettings,
        page: &str,
        scene: &str,
    ) -> Result<Vec<u8>, WeChatError> {
        let deadline = Instant::now() + self.api.budget;
        let image = tokio::time::timeout_at(deadline, self.qr_code(app, page, scene, deadline))
            .await
            .unwrap_or(Err(CallError::TimedOut(self.api.budget)));
        self.note_outcome(app, &image);
        image.map_err(|failure| failure.into_wechat_error(Endpoint::UnlimitedQrCode, app))
    }
}

impl CallError {
    /// What the domain is told when a call to `api` failed for `app` with no errcode it treats
    /// specially.
    fn into_wechat_error(self, api: Endpoint, app: &AppSettings) -> WeChatError {
        match self {
            Self::Store(error) => WeChatError::Store(error.to_string()),
            // A code used by a try that failed is WeChat's failure, not a bad code the user sent:
            // it must not count against the address's rejected codes. A new code logs in.
            Self::Errcode { .. }
            | Self::CodeUsedBeforeRetry(_)
            | Self::Transport(_)
            | Self::TimedOut(_)
            | Self::Interrupted(_)
            | Self::ForcedRefreshesSpent { .. } => {
                let api = api.name();
                WeChatError::Unavailable(format!("{api} for app {} failed: {self}", app.key))
            }
        }
    }
}

/// Whether WeChat should check that the scan page exists. Only the published (release) version has a
/// page list WeChat can check against; trial and develop builds may add pages not published yet, so
/// checking would reject them (41030).
fn checks_path(env_version: EnvVersion) -> bool {
    match env_version {
        EnvVersion::Release => true,
        EnvVersion::Trial | EnvVersion::Develop => false,
    }
}

/// The image bytes, or WeChat's error: JSON by its content type or by a body that parses to an errcode.
fn image_or_error(answer: call::Reply) -> Result<Vec<u8>, CallError> {
    let labelled_json = answer
        .content_type
        .as_deref()
        .is_some_and(|content_type| content_type.trim_start().starts_with("application/json"));
    if labelled_json || answer.body.first() == Some(&b'{') {
        match call::errcode_of(&answer.body) {
            Some((0, _)) | None if !labelled_json => {}
            Some((0, _)) | None => {
                return Err(CallError::Transport(
                    "WeChat answered JSON without an errcode instead of an image".into(),
                ));
            }
            Some((errcode, errmsg)) => {
                return Err(CallError::Errcode {
                    endpoint: Endpoint::UnlimitedQrCode,
                    errcode,
                    errmsg,
                });
            }
        }
    }
    Ok(answer.body)
}

/// Lets reqwest build a client when the binary has not installed a rustls crypto provider (tests, other
/// binaries); the server's own choice, installed first, wins.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is installed either way.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    }
}

#[derive(Serialize)]
struct UnlimitedQrRequest<'a> {
    scene: &'a str,
    page: &'a str,
    env_version: &'static str,
    check_path: bool,
    width: u32,
}

#[derive(Deserialize)]
struct Code2SessionReply {
    openid: String,
    // `session_key` is in the reply too, and left unread (see `WeChatSession`).
    #[serde(default)]
    unionid: Option<String>,
}
