//! One round trip to WeChat: its errcode envelope, the deadline every call runs under and the
//! retry policy for `-1` (system error).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::store::StoreError;

/// WeChat's "system error, retry later".
pub(super) const SYSTEM_ERROR: i64 = -1;
/// code2Session's "invalid code": wrong, expired, or of another app.
pub(super) const INVALID_CODE: i64 = 40029;
/// code2Session's "code been used".
pub(super) const CODE_BEEN_USED: i64 = 40163;
/// The first pause before retrying a `-1`; doubled after each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// At most this many retries of a `-1` (WxJava's policy), and never past the call's deadline.
const MAX_RETRIES: u32 = 5;
/// The most a JSON answer (an access token, a code2Session identity, an errcode) may hold. WeChat's
/// are well under 1 KiB (it tells to reserve 512 characters for a token); more is a broken or
/// hostile peer, which must not make the server buffer whatever it sends.
pub(super) const JSON_ANSWER_LIMIT: usize = 64 * 1024;
/// The most a mini program code image may hold. We ask for 430 px, tens of KiB; even one at WeChat's
/// largest width (1280 px) is a few hundred KiB.
pub(super) const IMAGE_ANSWER_LIMIT: usize = 1024 * 1024;

/// The WeChat APIs this client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Endpoint {
    Code2Session,
    StableToken,
    UnlimitedQrCode,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Self::Code2Session => "/sns/jscode2session",
            Self::StableToken => "/cgi-bin/stable_token",
            Self::UnlimitedQrCode => "/wxa/getwxacodeunlimit",
        }
    }

    /// The name WeChat's documentation gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Code2Session => "code2Session",
            Self::StableToken => "stable_token",
            Self::UnlimitedQrCode => "getwxacodeunlimit",
        }
    }
}

/// Why a call to WeChat gave no usable answer.
#[derive(Debug)]
pub(super) enum CallError {
    /// `endpoint` answered with a non-zero errcode. (40001 means a wrong AppSecret from
    /// `stable_token`, a stale access token from the others.)
    Errcode {
        endpoint: Endpoint,
        errcode: i64,
        errmsg: String,
    },
    /// code2Session answered "code been used" (40163) to a retry after `-1`: the try WeChat called
    /// a system error may have used the code, so the code is not known to be bad. Holds the errmsg.
    CodeUsedBeforeRetry(String),
    /// No WeChat answer: the connection failed, the status was not 2xx (a redirect included), or
    /// the body made no sense or was too large.
    Transport(String),
    /// The call's deadline passed.
    TimedOut(Duration),
    /// The store holding the shared access token failed.
    Store(StoreError),
    /// The task fetching the access token stopped before answering (the server is shutting down).
    Interrupted(String),
    /// WeChat refused the app's access token, a refresh handed back that same token, and the app's
    /// refreshes were `forced` times forced already (see `token::FORCED_REFRESHES`): not forced
    /// again before `again_in`.
    ForcedRefreshesSpent { forced: u64, again_in: Duration },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Errcode {
                endpoint,
                errcode,
                errmsg,
            } => write!(
                f,
                "{} answered errcode {errcode} ({errmsg})",
                endpoint.name()
            ),
            Self::CodeUsedBeforeRetry(errmsg) => write!(
                f,
                "errcode {CODE_BEEN_USED} ({errmsg}) on a retry after a system error, which may have used the code"
            ),
            Self::Transport(reason) => f.write_str(reason),
            Self::TimedOut(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Self::Store(error) => write!(f, "access token cache: {error}"),
            Self::Interrupted(reason) => write!(f, "access token fetch interrupted: {reason}"),
            Self::ForcedRefreshesSpent { forced, again_in } => write!(
                f,
                "WeChat refused the access token a refresh handed back, and this app's refreshes \
                 were forced {forced} times today already (WeChat allows 20 a day): not forcing \
                 another for {} min",
                again_in.as_secs().div_ceil(60)
            ),
        }
    }
}

impl From<StoreError> for CallError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A reqwest failure without its URL: our URLs carry the AppSecret, the login code or the access token.
pub(super) fn transport(error: reqwest::Error) -> CallError {
    CallError::Transport(error.without_url().to_string())
}

/// The fields every WeChat error body has; success bodies usually omit both.
#[derive(Deserialize)]
struct ErrorFields {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// The errcode of a JSON body, `None` when the body is not a JSON object.
pub(super) fn errcode_of(body: &[u8]) -> Option<(i64, String)> {
    serde_json::from_slice::<ErrorFields>(body)
        .ok()
        .map(|fields| (fields.errcode, fields.errmsg))
}

/// Parses `endpoint`'s JSON answer whatever its content type says: a non-zero errcode is an error,
/// else a `T`.
pub(super) fn parse_reply<T: DeserializeOwned>(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<T, CallError> {
    match errcode_of(body) {
        None => Err(CallError::Transport(
            "WeChat answered with something that is not JSON".into(),
        )),
        Some((0, _)) => serde_json::from_slice(body)
            .map_err(|error| CallError::Transport(format!("unexpected WeChat answer: {error}"))),
        Some((errcode, errmsg)) => Err(CallError::Errcode {
            endpoint,
            errcode,
            errmsg,
        }),
    }
}

/// What came back from one HTTP request.
pub(super) struct Reply {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Sends a request and reads the whole answer, at most `limit` bytes of it, before `deadline`.
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    limit: usize,
    deadline: Instant,
    budget: Duration,
) -> Result<Reply, CallError> {
    let exchange = async {
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(CallError::Transport(format!(
                "WeChat answered HTTP {status}, a redirect, which is not followed: the request carries secrets"
            )));
        }
        if !status.is_success() {
            return Err(CallError::Transport(format!(
                "WeChat answered HTTP {status}"
            )));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = read_at_most(response, limit).await?;
        Ok(Reply { content_type, body })
    };
    tokio::time::timeout_at(deadline, exchange)
        .await
        .unwrap_or(Err(CallError::TimedOut(budget)))
}

/// The answer's body, read chunk by chunk and refused once it passes `limit` bytes, whatever its
/// Content-Length says (a chunked answer has none).
async fn read_at_most(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(CallError::Transport(format!(
                "WeChat's answer is larger than {} KiB",
                limit / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Runs `attempt` again while WeChat answers `-1`, with exponential backoff, as long as the next try
/// still fits before `deadline`.
pub(super) async fn retrying_system_errors<T, F, Fut>(
    deadline: Instant,
    mut attempt: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(CallError::Errcode {
                errcode: SYSTEM_ERROR,
                errmsg,
                ..
            }) if retries < MAX_RETRIES && Instant::now() + backoff < deadline => {
                tracing::debug!(retry = retries + 1, ?backoff, %errmsg, "WeChat system error, retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                retries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Where WeChat (or a server speaking its contract) is, and the HTTP client that talks to it.
#[derive(Clone)]
pub(super) struct Api {
    pub http: reqwest::Client,
    /// Without a trailing slash.
    pub base_url: String,
    /// How long one operation may take, retries included.
    pub budget: Duration,
}

impl Api {
    pub fn get(&self, endpoint: Endpoint) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{}", self.base_url, endpoint.path()))
    }

    pub fn post(&self, endpoint: Endpoint) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{}", self.base_url, endpoint.path()))
    }
}
