//! A thin client for calling the contract's endpoints in tests and reading their answers.

use meeteasy_protocol::{WeChatLoginRequest, WeChatLoginResponse};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The endpoints of one server at its base URL, whether it runs in process ([`TestServer`]) or as
/// a `meeteasy-auth serve` process: steps written against this run against either.
///
/// [`TestServer`]: crate::server::TestServer
pub struct ServerApi {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    base_url: String,
    http: reqwest::Client,
}

impl ServerApi {
    pub fn new(base_url: String) -> ServerApi {
        ServerApi {
            base_url,
            http: crate::server::http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        send(with_bearer(
            self.http.post(self.url(path)).json(&body),
            bearer,
        ))
        .await
    }

    pub async fn post_empty(&self, path: &str, bearer: Option<&str>) -> Reply {
        send(with_bearer(self.http.post(self.url(path)), bearer)).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        send(with_bearer(self.http.get(self.url(path)), bearer)).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        send(with_bearer(self.http.delete(self.url(path)), bearer)).await
    }

    /// A mini program login as dev user `name` (organizer unless the name starts with `guest`), on
    /// a server in dev mode.
    pub async fn dev_login(&self, name: &str) -> WeChatLoginResponse {
        let response = self
            .http
            .post(self.url("/auth/wechat/login"))
            .json(&WeChatLoginRequest {
                code: format!("dev:{name}"),
                app: None,
                scene: None,
                device_name: None,
            })
            .send()
            .await
            .expect("the server answers");
        assert_eq!(
            response.status(),
            200,
            "dev login of {name}: {}",
            response.text().await.unwrap_or_default()
        );
        response.json().await.expect("a login response")
    }
}

/// What an endpoint answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// The JSON body, or `Value::Null` for an empty or non-JSON body.
    pub body: Value,
}

impl Reply {
    /// The contract's error code, or "" when the body has none.
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("unexpected body {}: {e}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and the error code together, showing the whole answer when they differ.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "answer: {self:?}"
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error carries a message: {self:?}"
        );
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a readable body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

pub fn with_bearer(
    request: reqwest::RequestBuilder,
    bearer: Option<&str>,
) -> reqwest::RequestBuilder {
    match bearer {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}
