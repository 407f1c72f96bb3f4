//! The contract's calls the server benchmark makes over real HTTP, each checked for the status the
//! contract promises, and console clients from many loopback addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use meeteasy_protocol::{CreateSceneResponse, IsLoginResponse, LoginTicketResponse};
use meeteasy_protocol::{TokenResponse, WechatLoginResponse};
use reqwest::{Client, RequestBuilder};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::time::Instant;

use crate::{Result, because, fail};

/// A scene as its console holds it.
pub type Scene = CreateSceneResponse;

/// Each loopback address may create 120 scenes a minute (a Redis store remembers that across
/// restarts), so consoles use each address for at most this many, and only once a run.
pub const SCENES_PER_ADDRESS: usize = 100;

/// An HTTP client from `local` (any loopback address works on Linux), or the default address. No
/// proxy; the timeout outlasts the longest long-poll (30 s), so only a stuck server times out.
pub fn client(local: Option<IpAddr>) -> Result<Client> {
    meeteasy_auth::wechat::client::install_tls_provider();
    let builder = Client::builder().no_proxy().local_address(local);
    let builder = builder.tcp_nodelay(true).timeout(Duration::from_secs(45));
    let builder = builder.connect_timeout(Duration::from_secs(10));
    builder.build().map_err(because("building an HTTP client"))
}

/// Console clients, each from a loopback address not used before in this run: 127.1.0.1 on, 250
/// to each /24 (a console from x.x.x.0 or x.x.x.255 might look like a network or broadcast).
#[derive(Default)]
pub struct Consoles(u32);

impl Consoles {
    pub fn next_client(&mut self) -> Result<Client> {
        let (high, low) = (self.0 / 250, self.0 % 250 + 1);
        self.0 += 1;
        client(Some(Ipv4Addr::from(0x7f01_0000 + (high << 8) + low).into()))
    }
}

/// One auth server: its base URL (`http://127.0.0.1:PORT`), and the client the phone and the
/// probes use.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub http: Client,
    /// The bearer token the server's `/metrics` asks for.
    pub metrics_token: String,
}

impl Endpoint {
    /// Sends `request`; any status but `status` fails, with the body. Returns the body.
    async fn call(&self, request: RequestBuilder, status: u16) -> Result<String> {
        let response = request.send().await.map_err(because("an HTTP request"))?;
        let (url, got) = (response.url().path().to_owned(), response.status().as_u16());
        let body = response.text().await;
        let body = body.map_err(because(format!("reading {url}")))?;
        if got != status {
            fail!("{url}: HTTP {got}, not {status}: {body}");
        }
        Ok(body)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }

    /// Whether `/readyz` answers 200 now.
    pub async fn is_ready(&self) -> bool {
        let readyz = self.http.get(format!("{}/readyz", self.url));
        self.call(readyz, 200).await.is_ok()
    }

    /// Logs in as dev user `name` from the mini program; returns the phone's access token.
    pub async fn dev_login(&self, name: impl AsRef<str>) -> Result<String> {
        let name = name.as_ref();
        let code = json!({ "code": format!("dev:{name}") });
        let login = self.call(self.post("/auth/wechat/login").json(&code), 200);
        Ok(parse::<WechatLoginResponse>(&login.await?)?.access_token)
    }

    pub async fn create_scene(&self, console: &Client) -> Result<Scene> {
        let request = console.post(format!("{}/auth/scenes", self.url));
        let request = request.json(&json!({ "device_name": "bench console" }));
        parse(&self.call(request, 201).await?)
    }

    /// The phone's `scan` (200) or `confirm` (204) of `scene`.
    pub async fn phone(&self, token: &str, scene: &str, step: &str) -> Result<()> {
        let request = self.post(&format!("/auth/scenes/{scene}/{step}"));
        let request = request.bearer_auth(token);
        let status = if step == "scan" { 200 } else { 204 };
        self.call(request, status).await.map(drop)
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
        let (base, id) = (&self.url, &scene.scene);
        let url = format!("{base}/auth/scenes/{id}/islogin?wait={wait}");
        let answer = self.call(console.get(url).bearer_auth(&scene.poll_token), 200);
        let answer = answer.await?;
        let arrived = Instant::now();
        let status = match parse(&answer)? {
            IsLoginResponse::Pending => "pending",
            IsLoginResponse::Scanned { .. } => "scanned",
            IsLoginResponse::Confirmed { .. } => "confirmed",
        };
        if !expected.contains(&status) {
            fail!("islogin answered {status}, not {}", expected.join(" or "));
        }
        Ok((status, arrived))
    }

    pub async fn mint_ticket(&self, phone: &str) -> Result<String> {
        let request = self.post("/auth/login-ticket").bearer_auth(phone);
        let request = request.json(&json!({}));
        let minted: LoginTicketResponse = parse(&self.call(request, 201).await?)?;
        Ok(minted.login_ticket)
    }

    pub async fn exchange_ticket(&self, login_ticket: String) -> Result<()> {
        let ticket = json!({ "login_ticket": login_ticket });
        let exchanged = self.call(self.post("/auth/login-ticket/exchange").json(&ticket), 200);
        parse::<TokenResponse>(&exchanged.await?).map(drop)
    }

    /// `POST /auth/jwt/verify` of `token`: its signature, its session's revocation marker, and
    /// the session's last-seen memo.
    pub async fn verify(&self, token: &str) -> Result<()> {
        let request = self
            .post("/auth/jwt/verify")
            .json(&json!({ "token": token }));
        self.call(request, 200).await.map(drop)
    }

    /// The long-polls waiting on this server now (its `/metrics` gauge).
    pub async fn waiters(&self) -> Result<usize> {
        let metrics = self.http.get(format!("{}/metrics", self.url));
        let metrics = metrics.bearer_auth(&self.metrics_token);
        let metrics = self.call(metrics, 200).await?;
        let gauge = |line: &str| line.strip_prefix("meeteasy_islogin_waiters ")?.parse().ok();
        match metrics.lines().find_map(gauge) {
            Some(waiters) => Ok(waiters),
            None => fail!("/metrics has no meeteasy_islogin_waiters gauge"),
        }
    }

    /// Waits (30 s at most) until at least `count` long-polls wait.
    pub async fn await_waiters(&self, count: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.waiters().await? < count {
            if Instant::now() >= deadline {
                fail!("{count} long-polls were not waiting within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T> {
    match serde_json::from_str(body) {
        Ok(answer) => Ok(answer),
        Err(_) => fail!("unexpected answer: {body}"),
    }
}
