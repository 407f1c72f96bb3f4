//! The fake against WeChat's documented behaviour, over real HTTP.

use std::time::Duration;

use serde_json::{Value, json};

use super::{FakeApp, FakeEndpoint, FakeFault, FakeHandle, FakeWeChat};
use meeteasy_protocol::Secret;

const APPID: &str = "wxfake000000001";
const SECRET: &str = "fake-secret";
const PAGE: &str = "pages/scan/index";

struct Served {
    handle: FakeHandle,
    base: String,
    http: reqwest::Client,
}

async fn serve(accept_dev_codes: bool, unionid_bound: bool) -> Served {
    meeteasy_auth::wechat::client::install_tls_provider();
    let app = FakeApp {
        appid: APPID.into(),
        secret: Secret::new(SECRET),
        pages: vec![PAGE.into()],
        unionid_bound,
    };
    let fake = FakeWeChat::new(vec![app]).accept_dev_codes(accept_dev_codes);
    let handle = fake.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(fake.serve(listener));
    Served {
        handle,
        base,
        http: reqwest::Client::new(),
    }
}

impl Served {
    async fn session(&self, appid: &str, secret: &str, code: &str) -> (String, Value) {
        let query = [
            ("appid", appid),
            ("secret", secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ];
        let response = self
            .http
            .get(format!("{}/sns/jscode2session", self.base))
            .query(&query)
            .send()
            .await
            .unwrap();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (
            content_type,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    async fn stable_token(&self, force_refresh: bool) -> Value {
        let body = json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": force_refresh});
        let response = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    async fn token(&self) -> String {
        self.stable_token(false).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// (content type, body) of getwxacodeunlimit.
    async fn qr(&self, token: Option<&str>, body: &str) -> (String, Vec<u8>) {
        let mut request = self
            .http
            .post(format!("{}/wxa/getwxacodeunlimit", self.base))
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.query(&[("access_token", token)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (content_type, response.bytes().await.unwrap().to_vec())
    }

    async fn qr_errcode(&self, token: Option<&str>, body: &str) -> i64 {
        let (content_type, body) = self.qr(token, body).await;
        assert_eq!(content_type, "application/json; encoding=utf-8");
        errcode(&serde_json::from_slice(&body).unwrap())
    }
}

/// WeChat's `errcode`: a success may leave it out (as WeChat does), and then carries what was
/// asked for (a session's openid, or an access token).
fn errcode(answer: &Value) -> i64 {
    match answer.get("errcode").and_then(Value::as_i64) {
        Some(code) => code,
        None => {
            assert!(
                answer["openid"].is_string() || answer["access_token"].is_string(),
                "neither an errcode nor what was asked for: {answer}"
            );
            0
        }
    }
}

#[tokio::test]
async fn codes_are_single_use_and_expire_after_five_minutes() {
    let s = serve(false, false).await;
    let code = s.handle.mint_code(APPID, "openid-1", Some("union-1"));
    let (content_type, answer) = s.session(APPID, SECRET, &code).await;
    assert_eq!(content_type, "text/plain");
    assert_eq!(answer["openid"], "openid-1");
    assert!(
        answer.get("errcode").is_none() && answer.get("unionid").is_none(),
        "{answer}"
    );
    assert_eq!(answer["session_key"].as_str().unwrap().len(), 24);
    assert_eq!(errcode(&s.session(APPID, SECRET, &code).await.1), 40163);
    assert_eq!(errcode(&s.session(APPID, SECRET, "unknown").await.1), 40029);

    let code = s.handle.mint_code(APPID, "openid-1", None);
    s.handle.advance_clock(Duration::from_secs(299));
    assert_eq!(errcode(&s.session(APPID, SECRET, &code).await.1), 0);
    let code = s.handle.mint_code(APPID, "openid-1", None);
    s.handle.advance_clock(Duration::from_secs(300));
    assert_eq!(errcode(&s.session(APPID, SECRET, &code).await.1), 40029);
    let other_app_code = s.handle.mint_code("wxother", "openid-1", None);
    assert_eq!(
        errcode(&s.session(APPID, SECRET, &other_app_code).await.1),
        40029
    );
}

#[tokio::test]
async fn a_user_gets_a_hundred_logins_a_minute() {
    let s = serve(true, false).await;
    for _ in 0..100 {
        assert_eq!(errcode(&s.session(APPID, SECRET, "dev:busy").await.1), 0);
    }
    assert_eq!(
        errcode(&s.session(APPID, SECRET, "dev:busy").await.1),
        45011
    );
    // The rejected code is not spent; other users are not affected.
    let code = s.handle.mint_code(APPID, "dev-busy", None);
    assert_eq!(errcode(&s.session(APPID, SECRET, &code).await.1), 45011);
    assert_eq!(errcode(&s.session(APPID, SECRET, "dev:calm").await.1), 0);
    s.handle.advance_clock(Duration::from_secs(60));
    assert_eq!(errcode(&s.session(APPID, SECRET, &code).await.1), 0);
}

#[tokio::test]
async fn wrong_credentials_are_rejected_and_errors_carry_a_rid() {
    let s = serve(false, true).await;
    let code = s.handle.mint_code(APPID, "openid-1", Some("union-1"));
    let (content_type, answer) = s.session(APPID, "wrong", &code).await;
    assert_eq!(content_type, "application/json; encoding=utf-8");
    assert_eq!(errcode(&answer), 40125);
    let errmsg = answer["errmsg"].as_str().unwrap();
    let rid = errmsg.split(" rid: ").nth(1).unwrap();
    let parts: Vec<&str> = rid.split('-').collect();
    assert!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit())),
        "{errmsg}"
    );
    assert_eq!(errcode(&s.session("wxnope", SECRET, &code).await.1), 40013);
    assert_eq!(errcode(&s.session("", SECRET, &code).await.1), 41002);
    // The failed attempts did not use the code; the bound app reports the unionid.
    assert_eq!(
        s.session(APPID, SECRET, &code).await.1["unionid"],
        "union-1"
    );
}

#[tokio::test]
async fn dev_codes_only_when_enabled() {
    let production = serve(false, true).await;
    assert_eq!(
        errcode(&production.session(APPID, SECRET, "dev:alice").await.1),
        40029
    );
    let dev = serve(true, true).await;
    for _ in 0..2 {
        let answer = dev.session(APPID, SECRET, "dev:alice").await.1;
        assert_eq!(answer["openid"], "dev-alice");
        assert!(answer.get("unionid").is_none());
    }
    assert_eq!(errcode(&dev.session(APPID, SECRET, "dev:").await.1), 40029);
    assert_eq!(
        errcode(&dev.session(APPID, "wrong", "dev:alice").await.1),
        40125
    );
}

#[tokio::test]
async fn wx_login_endpoint_mints_codes() {
    let s = serve(false, true).await;
    let minted: Value = s
        .http
        .post(format!("{}/fake/wx.login", s.base))
        .json(&json!({"appid": APPID, "openid": "openid-9", "unionid": "union-9"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answer = s
        .session(APPID, SECRET, minted["code"].as_str().unwrap())
        .await
        .1;
    assert_eq!(
        (answer["openid"].as_str(), answer["unionid"].as_str()),
        (Some("openid-9"), Some("union-9"))
    );
}

#[tokio::test]
async fn stable_token_is_stable_until_its_last_five_minutes() {
    let s = serve(false, false).await;
    let first = s.stable_token(false).await;
    assert_eq!(first["expires_in"], 7200);
    let token = first["access_token"].as_str().unwrap().to_owned();
    s.handle.advance_clock(Duration::from_secs(6000));
    let same = s.stable_token(false).await;
    assert_eq!(same["access_token"], token.as_str());
    // Real time passes too, so the remaining life may have just dropped below 1200 s.
    assert!(
        (1199..=1200).contains(&same["expires_in"].as_u64().unwrap()),
        "{same}"
    );
    s.handle.advance_clock(Duration::from_secs(1000));
    let rotated = s.stable_token(false).await;
    assert_ne!(rotated["access_token"], token.as_str());
    assert_eq!(rotated["expires_in"], 7200);
    // Both work during the overlap; the old one expires on time.
    let qr_body = json!({"scene": "abc"}).to_string();
    assert_eq!(s.qr(Some(&token), &qr_body).await.0, "image/jpeg");
    s.handle.advance_clock(Duration::from_secs(200));
    assert_eq!(s.qr_errcode(Some(&token), &qr_body).await, 42001);
}

#[tokio::test]
async fn force_refresh_revokes_with_spacing_and_a_daily_cap() {
    let s = serve(false, false).await;
    let old = s.token().await;
    let new = s.stable_token(true).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old, new);
    let qr_body = json!({"scene": "abc"}).to_string();
    assert_eq!(s.qr_errcode(Some(&old), &qr_body).await, 40001);
    // Within 30 s a forced refresh does not refresh.
    assert_eq!(s.stable_token(true).await["access_token"], new.as_str());
    for _ in 1..20 {
        s.handle.advance_clock(Duration::from_secs(31));
        assert_eq!(errcode(&s.stable_token(true).await), 0);
    }
    s.handle.advance_clock(Duration::from_secs(31));
    assert_eq!(errcode(&s.stable_token(true).await), 45009);
    assert_eq!(errcode(&s.stable_token(false).await), 0);
}

#[tokio::test]
async fn unlimited_qr_validates_like_wechat() {
    let s = serve(false, false).await;
    let token = s.token().await;
    let token = Some(token.as_str());
    let scene33 = "a".repeat(33);
    let cases = [
        (None, json!({"scene": "abc"}).to_string(), 41001),
        (
            Some("unknown-token"),
            json!({"scene": "abc"}).to_string(),
            40001,
        ),
        (token, "scene=abc".to_owned(), 47001),
        (token, json!({"page": PAGE}).to_string(), 40169),
        (token, json!({"scene": ""}).to_string(), 40169),
        (token, json!({"scene": scene33}).to_string(), 40169),
        (token, json!({"scene": "a%20b"}).to_string(), 40129),
        (token, json!({"scene": "场景"}).to_string(), 40129),
        (
            token,
            json!({"scene": "abc", "page": format!("/{PAGE}")}).to_string(),
            41030,
        ),
        (
            token,
            json!({"scene": "abc", "page": format!("{PAGE}?a=1")}).to_string(),
            41030,
        ),
        (
            token,
            json!({"scene": "abc", "page": "pages/unknown/index"}).to_string(),
            41030,
        ),
        (
            token,
            json!({"scene": "abc", "env_version": "production"}).to_string(),
            40097,
        ),
    ];
    for (token, body, expected) in cases {
        assert_eq!(s.qr_errcode(token, &body).await, expected, "{body}");
    }
    let unpublished = json!({"scene": "a!#$&'()*+,/:;=?@-._~z", "page": "pages/new/index", "check_path": false,
        "env_version": "develop", "width": "280", "line_color": {"r": "0", "g": 0, "b": 0}});
    let (content_type, png) = s.qr(token, &unpublished.to_string()).await;
    assert_eq!(content_type, "image/jpeg");
    assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let content = prepared.detect_grids()[0].decode().unwrap().1;
    assert_eq!(
        content,
        "wxacode:pages/new/index?scene=a!#$&'()*+,/:;=?@-._~z"
    );
}

#[tokio::test]
async fn faults_apply_to_the_next_calls_only() {
    let s = serve(false, false).await;
    s.handle
        .inject(FakeEndpoint::StableToken, FakeFault::DailyQuota, 1);
    s.handle
        .inject(FakeEndpoint::StableToken, FakeFault::SystemError, 1);
    assert_eq!(errcode(&s.stable_token(false).await), 45009);
    assert_eq!(errcode(&s.stable_token(false).await), -1);
    assert_eq!(errcode(&s.stable_token(false).await), 0);
    assert_eq!(s.handle.calls(FakeEndpoint::StableToken), 3);

    s.handle
        .inject(FakeEndpoint::StableToken, FakeFault::Hang, 1);
    let hung = tokio::time::timeout(Duration::from_millis(300), s.stable_token(false)).await;
    assert!(hung.is_err(), "a hung call never answers");
    assert_eq!(errcode(&s.stable_token(false).await), 0);
}
