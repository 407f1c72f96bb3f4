//! The auth server's HTTP API as the console uses it, over the wire types of `meeteasy-protocol`.
//! Every call has a timeout; errors say whether the server was unreachable or answered with a
//! contract error code, because the callers retry the first and act on the second.
//!
//! Redirects are never followed: a request carrying the stored token or a password must reach the
//! server the organizer configured (checked in [`ServerOrigin`]) and nothing it points elsewhere,
//! so a 3xx is an error that says where it pointed.

use std::time::Duration;

use base64::Engine as _;
use meeteasy_protocol::ScenePurpose as WirePurpose;
use meeteasy_protocol::{
    ClientKind, CreateInviteRequest, CreateInviteResponse, CreateSceneResponse, ErrorBody,
    ErrorCode, Invite, InvitesResponse, LoginTicketResponse, Member, PasswordLoginRequest,
    RevokedSessions, ScannerProfile, SceneRequest, Session, SessionsResponse, SetPasswordRequest,
    TeamResponse, TeamRole, TokenResponse, User, VerifyRequest, VerifyResponse,
};
use reqwest::{Client, RequestBuilder, Response, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::origin::{PageUrl, ServerOrigin};
use meeteasy_protocol::Secret;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Head-room on top of a long-poll's `wait` before the call counts as lost.
const LONG_POLL_GRACE: Duration = Duration::from_secs(10);
/// Avatars and QR codes larger than this are refused rather than shown.
const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// Far above any answer of the contract (a team list of hundreds is tens of KiB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// An error answer longer than this is not the contract's small JSON.
const MAX_ERROR_BYTES: usize = 16 * 1024;
/// The longest duration a server's answer may set (a token's or a scene's life, an interval, a
/// Retry-After): a year. Longer figures are taken as this, so arithmetic on clocks never overflows.
const LONGEST_SERVER_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// The longest `Retry-After` the console waits out before asking again: the longest window of
/// the server's own limits (failed passwords, 15 minutes by default). A longer one (a proxy's, a
/// day) would leave the console on "retry in" for hours without trying once.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// `secs` from a server's answer, as a duration no longer than [`LONGEST_SERVER_DURATION`].
pub fn server_seconds(secs: u64) -> Duration {
    Duration::from_secs(secs).min(LONGEST_SERVER_DURATION)
}

/// A `Retry-After` header's seconds, waited out for [`LONGEST_RETRY_AFTER`] at most.
fn retry_after_seconds(header: &str) -> Option<Duration> {
    let secs = header.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs).min(LONGEST_RETRY_AFTER))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: connection refused, DNS, TLS, timeout. Worth retrying.
    #[error("the server could not be reached")]
    Unreachable,
    /// An error answer of the contract.
    #[error("{code}: {message}")]
    Rejected {
        code: ErrorCode,
        message: String,
        retry_after: Option<Duration>,
    },
    /// An answer outside the contract (wrong status, body or content).
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// An error answer whose code this build of the console does not know (a newer server): the
    /// server's message is still shown, and the code passes through to the UI as it came.
    #[error("{code}: {message}")]
    RejectedOther {
        code: String,
        message: String,
        status: u16,
    },
    /// An error status without the contract's body: a proxy's 502 while the server restarts, a
    /// captive portal's page.
    #[error("unexpected answer from the server: HTTP {status} without an error body")]
    ErrorStatus { status: u16 },
    /// A redirect, not followed.
    #[error(
        "the server answered with a redirect (HTTP {status}) to {location}, which the console does not follow; check the server URL"
    )]
    Redirected { status: u16, location: String },
}

impl ApiError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Rejected { code, .. } => Some(*code),
            Self::Unreachable
            | Self::RejectedOther { .. }
            | Self::ErrorStatus { .. }
            | Self::Unexpected(_)
            | Self::Redirected { .. } => None,
        }
    }

    /// How long the server asked to be left alone (`Retry-After` of a 429 or 503), if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected { retry_after, .. } => *retry_after,
            Self::Unreachable
            | Self::RejectedOther { .. }
            | Self::ErrorStatus { .. }
            | Self::Unexpected(_)
            | Self::Redirected { .. } => None,
        }
    }

    /// Whether asking again later may get another answer: none came, or the server (or a proxy
    /// before it) said it was busy or briefly unable (5xx, 429). A refused request, an answer
    /// outside the contract or a redirect will be the same next time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable => true,
            Self::Rejected { code, .. } => is_busy(code.http_status()),
            Self::RejectedOther { status, .. } | Self::ErrorStatus { status } => is_busy(*status),
            Self::Unexpected(_) | Self::Redirected { .. } => false,
        }
    }
}

/// A status by which a server (or a proxy before it) says it is busy or briefly unable.
pub fn is_busy(status: u16) -> bool {
    status >= 500 || status == 429
}

/// What a scene is for: logging this console in, or adding the scanning WeChat to the account
/// already logged in here (`{"purpose": "link"}`, sent with the console's token).
#[derive(Debug, Clone)]
pub enum ScanPurpose {
    Login,
    Link { console_token: Secret },
}

/// `islogin`'s 200 answers as the scan loop reads them, whatever the scene's purpose: those of a
/// login scene ([`meeteasy_protocol::IsLoginResponse`]) and of a link scene
/// ([`meeteasy_protocol::LinkPollResponse`]) in one type, so one
/// loop serves both.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PollAnswer {
    Pending,
    Scanned {
        user: ScannerProfile,
    },
    Confirmed {
        access_token: Secret,
        token_type: String,
        expires_in: u64,
        user: User,
    },
    /// A link scene was confirmed: the scanning WeChat is now a way into the caller's account.
    Linked,
}

/// An image as it came: its type and bytes.
#[derive(Debug, Clone)]
pub struct Image {
    pub mime: String,
    pub bytes: Vec<u8>,
}

impl Image {
    /// A `data:` URL: the webview's CSP loads images from nowhere else.
    pub fn data_url(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.bytes);
        format!("data:{};base64,{encoded}", self.mime)
    }
}

/// A freshly created scene: what the console shows and polls with.
#[derive(Debug, Clone)]
pub struct NewScene {
    pub scene: String,
    pub poll_token: Secret,
    pub expires_in: Duration,
    pub interval: Duration,
    pub png_url: String,
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: Client,
    origin: ServerOrigin,
    device_name: String,
}

/// The HTTP client could not be set up (this machine's TLS setup, its certificate store): no server
/// was asked, and asking again will fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the console's HTTP client could not be set up: {0}")]
pub struct ClientSetupError(pub String);

impl ApiClient {
    pub fn new(origin: ServerOrigin, device_name: String) -> Result<Self, ClientSetupError> {
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("meeteasy-console/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ClientSetupError(err.to_string()))?;
        Ok(Self {
            http,
            origin,
            device_name,
        })
    }

    pub fn origin(&self) -> &ServerOrigin {
        &self.origin
    }

    pub async fn create_scene(&self, purpose: &ScanPurpose) -> Result<NewScene, ApiError> {
        let (wire_purpose, bearer) = match purpose {
            ScanPurpose::Login => (WirePurpose::Login, None),
            ScanPurpose::Link { console_token } => (WirePurpose::Link, Some(console_token)),
        };
        let body = SceneRequest {
            app: None,
            device_name: Some(self.device_name.clone()),
            purpose: wire_purpose,
        };
        let mut request = self.http.post(self.origin.join("/auth/scenes")).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose());
        }
        let created: CreateSceneResponse = json(send(request, CALL_TIMEOUT).await?).await?;
        Ok(NewScene {
            scene: created.scene,
            poll_token: Secret::new(created.poll_token),
            expires_in: server_seconds(created.expires_in),
            interval: server_seconds(created.interval.max(1)),
            png_url: created.qr.png_url,
        })
    }

    /// `GET islogin?wait=`: answers when the scene's state changes or after `wait`.
    pub async fn poll_scene(
        &self,
        scene: &str,
        poll_token: &Secret,
        wait: Duration,
    ) -> Result<PollAnswer, ApiError> {
        let wait_secs = wait.as_secs().min(30);
        let request = self
            .http
            .get(self.origin.join(&format!("/auth/scenes/{scene}/islogin")))
            .query(&[("wait", wait_secs)])
            .bearer_auth(poll_token.expose());
        json(send(request, Duration::from_secs(wait_secs) + LONG_POLL_GRACE).await?).await
    }

    /// `POST withdraw`: takes back a scene this console made (so a phone's confirm after it finds the
    /// scene gone); one a phone already confirmed answers `scene_claimed`.
    pub async fn withdraw_scene(&self, scene: &str, poll_token: &Secret) -> Result<(), ApiError> {
        let request = self
            .http
            .post(self.origin.join(&format!("/auth/scenes/{scene}/withdraw")))
            .bearer_auth(poll_token.expose());
        send(request, CALL_TIMEOUT).await.map(drop)
    }

    /// Any image the UI shows (the QR from the server, an avatar from wherever the profile says), as a
    /// `data:` URL: the webview's CSP loads images from nowhere else.
    pub async fn image_data_url(&self, url_or_path: &str) -> Result<String, ApiError> {
        Ok(self.image(url_or_path, None).await?.data_url())
    }

    /// An image from the server or wherever the profile says; `token` goes only to the server's
    /// own paths (an invite's QR is for admins).
    pub async fn image(
        &self,
        url_or_path: &str,
        token: Option<&Secret>,
    ) -> Result<Image, ApiError> {
        let request = if url_or_path.starts_with('/') {
            let request = self.http.get(self.origin.join(url_or_path));
            match token {
                Some(token) => request.bearer_auth(token.expose()),
                None => request,
            }
        } else if url_or_path.starts_with("https://") || url_or_path.starts_with("http://") {
            // The same rule as for the server: https, or http to this machine only.
            let url = PageUrl::parse(url_or_path)
                .map_err(|refused| ApiError::Unexpected(format!("image URL: {refused}")))?;
            self.http.get(url.as_url().clone())
        } else {
            return Err(ApiError::Unexpected(
                "image URL is neither absolute nor a path".into(),
            ));
        };
        let response = send(request, CALL_TIMEOUT).await?;
        let mime = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                value
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        if !matches!(
            mime.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        ) {
            return Err(ApiError::Unexpected(format!(
                "image has content type {mime:?}"
            )));
        }
        let bytes = within(response, MAX_IMAGE_BYTES)
            .await?
            .ok_or_else(|| ApiError::Unexpected("image too large".into()))?;
        Ok(Image { mime, bytes })
    }

    pub async fn verify(&self, token: &Secret) -> Result<VerifyResponse, ApiError> {
        let body = VerifyRequest {
            token: token.expose().to_owned(),
        };
        let request = self
            .http
            .post(self.origin.join("/auth/jwt/verify"))
            .json(&body);
        json(send(request, CALL_TIMEOUT).await?).await
    }

    pub async fn me(&self, token: &Secret) -> Result<User, ApiError> {
        let request = self
            .http
            .get(self.origin.join("/auth/me"))
            .bearer_auth(token.expose());
        json(send(request, CALL_TIMEOUT).await?).await
    }

    pub async fn logout(&self, token: &Secret) -> Result<(), ApiError> {
        let request = self
            .http
            .post(self.origin.join("/auth/logout"))
            .bearer_auth(token.expose());
        send(request, CALL_TIMEOUT).await.map(drop)
    }

    pub async fn login_ticket(&self, token: &Secret) -> Result<Secret, ApiError> {
        let request = self
            .http
            .post(self.origin.join("/auth/login-ticket"))
            .bearer_auth(token.expose())
            .json(&serde_json::json!({}));
        let ticket: LoginTicketResponse = json(send(request, CALL_TIMEOUT).await?).await?;
        Ok(Secret::new(ticket.login_ticket))
    }

    /// `GET /auth/sessions`: the user's live sessions, newest first, this token's marked `current`.
    pub async fn sessions(&self, token: &Secret) -> Result<Vec<Session>, ApiError> {
        let request = self
            .http
            .get(self.origin.join("/auth/sessions"))
            .bearer_auth(token.expose());
        let listed: SessionsResponse = json(send(request, CALL_TIMEOUT).await?).await?;
        Ok(listed.sessions)
    }

    /// `DELETE /auth/sessions/{id}`: ends one of the user's sessions.
    pub async fn end_session(&self, token: &Secret, id: &str) -> Result<(), ApiError> {
        // The id goes in as one path segment, whatever it holds.
        let url = self.url_with_segment("/auth/sessions", id)?;
        let request = self.http.delete(url).bearer_auth(token.expose());
        send(request, CALL_TIMEOUT).await.map(drop)
    }

    /// `POST /auth/sessions/revoke-others`: ends every session of the user's but this token's;
    /// answers how many ended.
    pub async fn end_other_sessions(&self, token: &Secret) -> Result<u64, ApiError> {
        let request = self
            .http
            .post(self.origin.join("/auth/sessions/revoke-others"))
            .bearer_auth(token.expose());
        let revoked: RevokedSessions = json(send(request, CALL_TIMEOUT).await?).await?;
        Ok(revoked.revoked)
    }

    /// `GET /auth/team`: every organizer, with their ways in and last login.
    pub async fn team(&self, token: &Secret) -> Result<Vec<Member>, ApiError> {
        let request = self
            .http
            .get(self.origin.join("/auth/team"))
            .bearer_auth(token.expose());
        let team: TeamResponse = json(send(request, CALL_TIMEOUT).await?).await?;
        Ok(team.members)
    }

    /// `DELETE /auth/team/{user_id}` (admin): takes the console roles away and ends their sessions.
    pub async fn remove_member(&self, token: &Secret, user_id: &str) -> Result<(), ApiError> {
        let url = self.url_with_segment("/auth/team", user_id)?;
        let request = self.http.delete(url).bearer_auth(token.expose());
        send(request, CALL_TIMEOUT).await.map(drop)
    }

    /// `POST /auth/invites` (admin).
    pub async fn create_invite(
        &self,
        token: &Secret,
        role: TeamRole,
        expires_in: Option<Duration>,
    ) -> Result<CreateInviteResponse, ApiError> {
        let body = CreateInviteRequest {
            role,
            expires_in: expires_in.map(|lifetime| lifetime.as_secs()),
        };
        let request = self
            .http
            .post(self.origin.join("/auth/invites"))
            .bearer_auth(token.expose())
            .json(&body);
        json(send(request, CALL_TIMEOUT).await?).await
    }

    /// `GET /auth/invites` (admin): open ones and those accepted in the last 7 days.
    pub async fn invites(&self, token: &Secret) -> Result<Vec<Invite>, ApiError> {
        let request = self
            .http
            .get(self.origin.join("/auth/invites"))
            .bearer_auth(token.expose());
        let listed: InvitesResponse = json(send(request, CALL_TIMEOUT).await?).await?;
        Ok(listed.invites)
    }

    /// `DELETE /auth/invites/{id}` (admin).
    pub async fn revoke_invite(&self, token: &Secret, id: &str) -> Result<(), ApiError> {
        let url = self.url_with_segment("/auth/invites", id)?;
        let request = self.http.delete(url).bearer_auth(token.expose());
        send(request, CALL_TIMEOUT).await.map(drop)
    }

    /// `GET /auth/invites/{id}/qr.png` (admin): the invite's QR as the server draws it.
    pub async fn invite_qr(&self, token: &Secret, id: &str) -> Result<Image, ApiError> {
        let mut url = self.url_with_segment("/auth/invites", id)?;
        url.path_segments_mut()
            .map_err(|()| ApiError::Unexpected("the server URL cannot take a path".into()))?
            .push("qr.png");
        let path = url.path().to_owned();
        self.image(&path, Some(token)).await
    }

    /// `POST /auth/me/password`: adds a password login to the caller's account, or changes it
    /// (`current` is required once one is set).
    pub async fn set_password(
        &self,
        token: &Secret,
        login: &str,
        password: &Secret,
        current: Option<&Secret>,
    ) -> Result<(), ApiError> {
        let body = SetPasswordRequest {
            login: login.to_owned(),
            password: password.expose().to_owned(),
            current_password: current.map(|current| current.expose().to_owned()),
        };
        let request = self
            .http
            .post(self.origin.join("/auth/me/password"))
            .bearer_auth(token.expose())
            .json(&body);
        send(request, CALL_TIMEOUT).await.map(drop)
    }

    /// `<server>/<base>/<segment>`, the segment sent as one path segment whatever it holds.
    fn url_with_segment(&self, base: &str, segment: &str) -> Result<url::Url, ApiError> {
        let mut url = url::Url::parse(&self.origin.join(base))
            .map_err(|err| ApiError::Unexpected(format!("URL: {err}")))?;
        url.path_segments_mut()
            .map_err(|()| ApiError::Unexpected("the server URL cannot take a path".into()))?
            .push(segment);
        Ok(url)
    }

    pub async fn password_login(
        &self,
        login: &str,
        password: &Secret,
    ) -> Result<TokenResponse, ApiError> {
        let body = PasswordLoginRequest {
            login: login.to_owned(),
            password: password.expose().to_owned(),
            client: ClientKind::Console,
            device_name: Some(self.device_name.clone()),
        };
        let request = self.http.post(self.origin.join("/auth/login")).json(&body);
        json(send(request, CALL_TIMEOUT).await?).await
    }
}

/// Sends with a deadline and turns every non-2xx answer into [`ApiError::Rejected`] (or
/// `Unexpected` when the body is not the contract's error shape).
async fn send(request: RequestBuilder, timeout: Duration) -> Result<Response, ApiError> {
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|_| ApiError::Unreachable)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.is_redirection() {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("nowhere it says")
            .to_owned();
        return Err(ApiError::Redirected {
            status: status.as_u16(),
            location,
        });
    }
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(retry_after_seconds);
    let status = status.as_u16();
    let Ok(Some(body)) = within(response, MAX_ERROR_BYTES).await else {
        return Err(ApiError::ErrorStatus { status });
    };
    if let Ok(known) = serde_json::from_slice::<ErrorBody>(&body) {
        return Err(ApiError::Rejected {
            // The finest cause the server gives: `access_denied` carries `not_organizer` as its
            // reason when the confirming account lacks the role.
            code: known.reason.unwrap_or(known.error),
            message: known.message,
            retry_after,
        });
    }
    match serde_json::from_slice::<OtherErrorBody>(&body) {
        Ok(other) => Err(ApiError::RejectedOther {
            code: other.error,
            message: other.message,
            status,
        }),
        Err(_) => Err(ApiError::ErrorStatus { status }),
    }
}

/// The contract's error shape with a code this build may not know.
#[derive(Deserialize)]
struct OtherErrorBody {
    error: String,
    message: String,
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let body = within(response, MAX_ANSWER_BYTES)
        .await?
        .ok_or_else(|| ApiError::Unexpected("answer too large".into()))?;
    serde_json::from_slice(&body)
        .map_err(|err| ApiError::Unexpected(format!("malformed body: {err}")))
}

/// The body, read up to `limit` bytes and no further (`None` past it): a host that streams without
/// end, or announces more than the limit, costs nothing.
async fn within(mut response: Response, limit: usize) -> Result<Option<Vec<u8>>, ApiError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| ApiError::Unreachable)? {
        if bytes.len() + chunk.len() > limit {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::console::ConsoleError;

    /// A server on a free loopback port that reads the start of each request, then hands the
    /// connection to `answer`, one connection after another. Returns its origin.
    async fn answering<A: Future<Output = ()> + Send>(
        answer: impl Fn(TcpStream) -> A + Send + 'static,
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let origin = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _read = stream.read(&mut request).await;
                answer(stream).await;
            }
        });
        origin
    }

    /// A server that answers every request with `status` and a PNG body of `length` bytes, sent
    /// without a Content-Length (chunked), as a host streaming an endless "image" would. Returns
    /// its origin.
    async fn streaming_server(status: &'static str, length: usize) -> String {
        answering(move |mut stream| async move {
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: image/png\r\ntransfer-encoding: chunked\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < length {
                let part = &chunk[..chunk.len().min(length - sent)];
                let framed = [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
                sent += part.len();
            }
            let _ended = stream.write_all(b"0\r\n\r\n").await;
        })
        .await
    }

    /// A server that answers every request with a 500 announcing a body of a gigabyte, and sends
    /// none: only a client that believes the announcement waits for it.
    async fn announcing_server() -> ServerOrigin {
        let origin = answering(|mut stream| async move {
            let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 1000000000\r\n\r\n";
            let _written = stream.write_all(head.as_bytes()).await;
            // Held open until the client lets go.
            tokio::spawn(async move {
                let mut rest = [0u8; 4096];
                while stream.read(&mut rest).await.is_ok_and(|n| n > 0) {}
            });
        })
        .await;
        ServerOrigin::parse(&origin).expect("a loopback origin")
    }

    #[tokio::test]
    async fn an_image_is_read_only_up_to_its_limit_and_only_over_https_or_loopback() {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let origin = ServerOrigin::parse("http://127.0.0.1:9").expect("an origin");
        let api = ApiClient::new(origin, "Studio PC".into()).expect("a client");
        let small = format!("{}/avatar.png", streaming_server("200 OK", 10_000).await);
        assert_eq!(
            api.image(&small, None)
                .await
                .expect("an avatar")
                .bytes
                .len(),
            10_000
        );
        let endless = format!(
            "{}/avatar.png",
            streaming_server("200 OK", usize::MAX).await
        );
        let refused = api.image(&endless, None).await;
        assert!(
            matches!(&refused, Err(ApiError::Unexpected(message)) if message == "image too large"),
            "{refused:?}"
        );
        let remote = api.image("http://avatars.example/a.png", None).await;
        assert!(matches!(remote, Err(ApiError::Unexpected(_))), "{remote:?}");
    }

    #[tokio::test]
    async fn an_answer_is_read_only_up_to_its_limit() {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let token = Secret::new("a-token".to_owned());
        let client = |origin: &str| {
            let origin = ServerOrigin::parse(origin).expect("an origin");
            ApiClient::new(origin, "Studio PC".into()).expect("a client")
        };
        // Cut off at the limit, not at the call's timeout.
        let started = std::time::Instant::now();
        let endless = streaming_server("503 Service Unavailable", usize::MAX).await;
        let refused = client(&endless).me(&token).await;
        assert!(
            matches!(refused, Err(ApiError::ErrorStatus { status: 503 })),
            "{refused:?}"
        );
        let endless = streaming_server("200 OK", usize::MAX).await;
        let refused = client(&endless).me(&token).await;
        assert!(
            matches!(&refused, Err(ApiError::Unexpected(message)) if message == "answer too large"),
            "{refused:?}"
        );
        assert!(started.elapsed() < CALL_TIMEOUT);
        // Refused on its announced length alone: reading it would wait out the call's timeout.
        let api = ApiClient::new(announcing_server().await, "Studio PC".into()).expect("a client");
        let started = std::time::Instant::now();
        let refused = api.me(&token).await;
        assert!(
            matches!(refused, Err(ApiError::ErrorStatus { status: 500 })),
            "{refused:?}"
        );
        assert!(started.elapsed() < CALL_TIMEOUT);
    }

    #[test]
    fn a_servers_durations_are_capped_so_clock_arithmetic_cannot_overflow() {
        assert_eq!(server_seconds(120), Duration::from_secs(120));
        let endless = server_seconds(u64::MAX);
        assert_eq!(endless, LONGEST_SERVER_DURATION);
        // What the scan loop and a new session do with them: no panic.
        let _rotate_at = std::time::Instant::now() + endless;
        let _expires_at = std::time::SystemTime::now() + endless;
    }

    #[test]
    fn a_retry_after_is_waited_out_for_fifteen_minutes_at_most() {
        assert_eq!(retry_after_seconds(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_seconds("900"), Some(LONGEST_RETRY_AFTER));
        assert_eq!(retry_after_seconds("86400"), Some(LONGEST_RETRY_AFTER));
        assert_eq!(retry_after_seconds("soon"), None);
    }

    /// A server that answers every request with `307` to `location` (which keeps the method and the
    /// body when followed).
    async fn redirecting_server(location: String) -> ServerOrigin {
        let origin = answering(move |mut stream| {
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            async move {
                let _written = stream.write_all(answer.as_bytes()).await;
            }
        })
        .await;
        ServerOrigin::parse(&origin).expect("a loopback origin")
    }

    #[tokio::test]
    async fn a_redirect_is_an_error_and_the_password_goes_nowhere_else() {
        let elsewhere = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let stolen = format!(
            "http://{}/collect",
            elsewhere.local_addr().expect("an address")
        );
        let origin = redirecting_server(stolen.clone()).await;
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let api = ApiClient::new(origin, "test console".into()).expect("a client");

        let answer = api
            .password_login("ann@example.com", &Secret::new("hunter2"))
            .await;
        let Err(ApiError::Redirected { status, location }) = answer else {
            panic!("a redirect gave {answer:?}");
        };
        assert_eq!((status, location.as_str()), (307, stolen.as_str()));
        let followed = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
        assert!(followed.is_err(), "the redirect was followed");

        let answer = api.me(&Secret::new("stored.jwt.token")).await;
        let Err(error @ ApiError::Redirected { .. }) = answer else {
            panic!("a redirect gave {answer:?}");
        };
        let shown = ConsoleError::from(error);
        assert_eq!(shown.code(), "server_redirected");
        assert!(shown.to_string().contains("does not follow"), "{shown}");
    }
}
