//! The contract's calls the server benchmark makes over real HTTP, each checked for the status the
//! contract promises, and console clients from many loopback addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use meeteasy_protocol::{
    CreateSceneRequest, CreateSceneResponse, IsLoginResponse, LoginTicketResponse,
    TicketExchangeRequest, TokenResponse, WechatLoginRequest, WechatLoginResponse,
};
use reqwest::{Client, RequestBuilder};
use serde::de::{DeserializeOwned, IgnoredAny};
use tokio::time::Instant;

use crate::{Result, fail, http};

/// A scene as its console holds it.
pub type Scene = CreateSceneResponse;

/// Each loopback address may create 120 scenes a minute (a Redis store remembers that across
/// restarts), so consoles use each of 127.1.0.1 to 127.1.255.250 for at most this many, once a run.
pub const SCENES_PER_ADDRESS: usize = 100;

/// An HTTP client from `local` (any loopback address works on Linux), or the default address. No
/// proxy; the timeout outlasts the longest long-poll (30 s), so only a stuck server times out.
pub fn client(local: Option<IpAddr>) -> Result<Client> {
    crate::auth::install_tls_provider();
    let builder = Client::builder()
        .no_proxy()
        .local_address(local)
        .tcp_nodelay(true);
    let builder = builder.connect_timeout(Duration::from_secs(10));
    builder
        .timeout(Duration::from_secs(45))
        .build()
        .map_err(http("building an HTTP client"))
}

/// Console clients, each from a loopback address not used before in this run.
#[derive(Default)]
pub struct Consoles(u32);

impl Consoles {
    /// The next of 127.1.0.1 to 127.1.255.250.
    pub fn next_client(&mut self) -> Result<Client> {
        let index = self.0;
        self.0 += 1;
        let Ok(high) = u8::try_from(index / 250) else {
            fail!("every console address is used: ask for fewer scenes");
        };
        let low = (index % 250 + 1) as u8; // 1 to 250
        client(Some(Ipv4Addr::new(127, 1, high, low).into()))
    }
}

/// One auth server, by its base URL (`http://127.0.0.1:PORT`).
#[derive(Debug, Clone)]
pub struct Endpoint(pub String);

impl Endpoint {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// Sends `request`; any status but `status` fails, with the body. An empty body reads as null.
    async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        status: u16,
        what: &'static str,
    ) -> Result<T> {
        let response = request.send().await.map_err(http(what))?;
        let got = response.status().as_u16();
        let body = response.bytes().await.map_err(http(what))?;
        let text = String::from_utf8_lossy(&body);
        if got != status {
            fail!("{what}: HTTP {got}, not {status}: {text}");
        }
        match serde_json::from_slice(if body.is_empty() { b"null" } else { &body }) {
            Ok(answer) => Ok(answer),
            Err(_) => fail!("{what}: unexpected answer {text}"),
        }
    }

    /// Whether `/readyz` answers 200 now.
    pub async fn is_ready(&self, client: &Client) -> bool {
        let readyz = client
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(2));
        readyz
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    }

    /// Logs in as dev user `name` from the mini program; returns the phone's access token.
    pub async fn dev_login(&self, client: &Client, name: &str) -> Result<String> {
        let code = format!("dev:{name}");
        let request = WechatLoginRequest {
            code,
            app: None,
            scene: None,
        };
        let request = client.post(self.url("/auth/wechat/login")).json(&request);
        let login: WechatLoginResponse = self.call(request, 200, "dev login").await?;
        Ok(login.access_token)
    }

    pub async fn create_scene(&self, console: &Client) -> Result<Scene> {
        let device_name = Some("bench console".to_owned());
        let request = CreateSceneRequest {
            app: None,
            device_name,
        };
        let request = console.post(self.url("/auth/scenes")).json(&request);
        self.call(request, 201, "create scene").await
    }

    /// The phone's `scan` (200) or `confirm` (204) of `scene`.
    pub async fn phone_step(
        &self,
        client: &Client,
        scene: &str,
        token: &str,
        step: &'static str,
    ) -> Result<()> {
        let request = client.post(self.url(&format!("/auth/scenes/{scene}/{step}")));
        let status = if step == "scan" { 200 } else { 204 };
        self.call::<IgnoredAny>(request.bearer_auth(token), status, step)
            .await
            .map(drop)
    }

    /// `islogin?wait=<wait>`: its status, which must be one of `expected` (`pending`, `scanned`,
    /// `confirmed`), and when the whole answer had arrived.
    pub async fn islogin(
        &self,
        console: &Client,
        scene: &Scene,
        wait: u64,
        expected: &[&str],
    ) -> Result<(&'static str, Instant)> {
        let url = self.url(&format!("/auth/scenes/{}/islogin?wait={wait}", scene.scene));
        let request = console.get(url).bearer_auth(&scene.poll_token);
        let answer = self.call(request, 200, "islogin").await?;
        let arrived = Instant::now();
        let status = match answer {
            IsLoginResponse::Pending => "pending",
            IsLoginResponse::Scanned { .. } => "scanned",
            IsLoginResponse::Confirmed { .. } => "confirmed",
        };
        if !expected.contains(&status) {
            fail!("islogin answered {status}, not {}", expected.join(" or "));
        }
        Ok((status, arrived))
    }

    pub async fn mint_ticket(&self, client: &Client, phone: &str) -> Result<String> {
        let request = client
            .post(self.url("/auth/login-ticket"))
            .bearer_auth(phone);
        let request = request.json(&serde_json::json!({}));
        let minted: LoginTicketResponse = self.call(request, 201, "mint ticket").await?;
        Ok(minted.login_ticket)
    }

    pub async fn exchange_ticket(&self, client: &Client, login_ticket: String) -> Result<()> {
        let request = client.post(self.url("/auth/login-ticket/exchange"));
        let request = request.json(&TicketExchangeRequest { login_ticket });
        self.call::<TokenResponse>(request, 200, "exchange")
            .await
            .map(drop)
    }

    /// The long-polls waiting on this server now (its `/metrics` gauge).
    pub async fn waiters(&self, client: &Client) -> Result<usize> {
        let request = client.get(self.url("/metrics"));
        let response = request.send().await.map_err(http("metrics"))?;
        let metrics = response.text().await.map_err(http("metrics"))?;
        let mut lines = metrics.lines();
        match lines.find_map(|line| line.strip_prefix("meeteasy_islogin_waiters ")?.parse().ok()) {
            Some(waiters) => Ok(waiters),
            None => fail!("/metrics has no meeteasy_islogin_waiters gauge"),
        }
    }

    /// Waits until at least `count` long-polls wait, within `within`.
    pub async fn await_waiters(
        &self,
        client: &Client,
        count: usize,
        within: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + within;
        while self.waiters(client).await? < count {
            if Instant::now() >= deadline {
                fail!("{count} long-polls were not waiting within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}
