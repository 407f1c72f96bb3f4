//! The contract's calls the benchmark makes, over real HTTP to one server: what a console, a phone
//! and an H5 page send, each checked for the status the contract promises.

use std::net::IpAddr;
use std::time::Duration;

use meeteasy_protocol::{
    CreateSceneRequest, CreateSceneResponse, IsLoginResponse, LoginTicketResponse,
    TicketExchangeRequest, TokenResponse, WechatLoginRequest, WechatLoginResponse,
};
use reqwest::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::BenchError;

/// Longer than the longest long-poll (30 s), so only a stuck server times out.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const METRIC_WAITERS: &str = "meeteasy_islogin_waiters";

/// An HTTP client that connects from `local` (any loopback address works on Linux), or from the
/// default address. No proxy: the benchmark only talks to loopback.
pub fn client(local: Option<IpAddr>) -> Result<Client, BenchError> {
    meeteasy_auth::wechat::client::install_tls_provider();
    Client::builder()
        .no_proxy()
        .local_address(local)
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|source| BenchError::Http {
            what: "building an HTTP client",
            source,
        })
}

/// One auth server, by its base URL.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base_url: String,
}

/// A mini program user's access token (for scan, confirm and minting tickets).
#[derive(Clone)]
pub struct PhoneToken(String);

/// What a console keeps of a scene it created.
#[derive(Clone)]
pub struct Scene {
    pub scene: String,
    pub poll_token: String,
}

impl Endpoint {
    pub fn new(base_url: String) -> Self {
        Self { base_url }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Whether `/readyz` answers 200 now.
    pub async fn is_ready(&self, http: &Client) -> bool {
        let answer = http
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        answer.is_ok_and(|response| response.status() == 200)
    }

    /// Logs in as dev user `name` from the mini program (dev mode's `dev:<name>` code).
    pub async fn dev_login(&self, http: &Client, name: &str) -> Result<PhoneToken, BenchError> {
        let request = WechatLoginRequest {
            code: format!("dev:{name}"),
            app: None,
            scene: None,
            device_name: None,
        };
        let login: WechatLoginResponse = json(
            expect(
                http.post(self.url("/auth/wechat/login")).json(&request),
                200,
                "dev login",
            )
            .await?,
            "dev login",
        )
        .await?;
        Ok(PhoneToken(login.access_token))
    }

    pub async fn create_scene(&self, http: &Client) -> Result<Scene, BenchError> {
        let request = CreateSceneRequest {
            app: None,
            device_name: Some("bench console".to_owned()),
        };
        let created: CreateSceneResponse = json(
            expect(
                http.post(self.url("/auth/scenes")).json(&request),
                201,
                "create scene",
            )
            .await?,
            "create scene",
        )
        .await?;
        Ok(Scene {
            scene: created.scene,
            poll_token: created.poll_token,
        })
    }

    pub async fn scan(
        &self,
        http: &Client,
        scene: &str,
        phone: &PhoneToken,
    ) -> Result<(), BenchError> {
        let request = http
            .post(self.url(&format!("/auth/scenes/{scene}/scan")))
            .bearer_auth(&phone.0);
        expect(request, 200, "scan").await.map(drop)
    }

    pub async fn confirm(
        &self,
        http: &Client,
        scene: &str,
        phone: &PhoneToken,
    ) -> Result<(), BenchError> {
        let request = http
            .post(self.url(&format!("/auth/scenes/{scene}/confirm")))
            .bearer_auth(&phone.0);
        expect(request, 204, "confirm").await.map(drop)
    }

    /// `islogin?wait=<wait>`; also says when the whole answer had arrived.
    pub async fn islogin(
        &self,
        http: &Client,
        scene: &Scene,
        wait: u64,
    ) -> Result<(IsLoginResponse, Instant), BenchError> {
        let request = http
            .get(self.url(&format!("/auth/scenes/{}/islogin", scene.scene)))
            .query(&[("wait", wait)])
            .bearer_auth(&scene.poll_token);
        let body = body(expect(request, 200, "islogin").await?, "islogin").await?;
        let arrived = Instant::now();
        let answer = serde_json::from_slice(&body).map_err(|_| BenchError::Answer {
            what: "islogin",
            answer: String::from_utf8_lossy(&body).into_owned(),
        })?;
        Ok((answer, arrived))
    }

    pub async fn mint_ticket(
        &self,
        http: &Client,
        phone: &PhoneToken,
    ) -> Result<String, BenchError> {
        let request = http
            .post(self.url("/auth/login-ticket"))
            .bearer_auth(&phone.0)
            .json(&serde_json::json!({}));
        let minted: LoginTicketResponse =
            json(expect(request, 201, "mint ticket").await?, "mint ticket").await?;
        Ok(minted.login_ticket)
    }

    pub async fn exchange_ticket(&self, http: &Client, ticket: String) -> Result<(), BenchError> {
        let request =
            http.post(self.url("/auth/login-ticket/exchange"))
                .json(&TicketExchangeRequest {
                    login_ticket: ticket,
                    device_name: None,
                });
        let _token: TokenResponse = json(
            expect(request, 200, "exchange ticket").await?,
            "exchange ticket",
        )
        .await?;
        Ok(())
    }

    /// The long-polls waiting on this server now (its `/metrics` gauge).
    pub async fn waiters(&self, http: &Client) -> Result<i64, BenchError> {
        let text = body(
            expect(http.get(self.url("/metrics")), 200, "metrics").await?,
            "metrics",
        )
        .await?;
        let text = String::from_utf8_lossy(&text);
        text.lines()
            .find_map(|line| {
                line.strip_prefix(METRIC_WAITERS)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .ok_or(BenchError::Answer {
                what: "metrics",
                answer: format!("no {METRIC_WAITERS} gauge"),
            })
    }

    /// Polls the waiters gauge until at least `count` long-polls wait, within `within`.
    pub async fn await_waiters(
        &self,
        http: &Client,
        count: i64,
        within: Duration,
    ) -> Result<(), BenchError> {
        let deadline = Instant::now() + within;
        while self.waiters(http).await? < count {
            if Instant::now() >= deadline {
                return Err(BenchError::TimedOut {
                    what: format!("{count} long-polls waiting"),
                    within,
                });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

/// Sends `request` and checks its status; anything else carries the body into the error.
async fn expect(
    request: RequestBuilder,
    status: u16,
    what: &'static str,
) -> Result<Response, BenchError> {
    let response = request
        .send()
        .await
        .map_err(|source| BenchError::Http { what, source })?;
    if response.status().as_u16() == status {
        Ok(response)
    } else {
        let got = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Err(BenchError::Status {
            what,
            expected: status,
            status: got,
            body,
        })
    }
}

async fn body(response: Response, what: &'static str) -> Result<Vec<u8>, BenchError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|source| BenchError::Http { what, source })?;
    Ok(bytes.to_vec())
}

async fn json<T: DeserializeOwned>(
    response: Response,
    what: &'static str,
) -> Result<T, BenchError> {
    let bytes = body(response, what).await?;
    serde_json::from_slice(&bytes).map_err(|_| BenchError::Answer {
        what,
        answer: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
