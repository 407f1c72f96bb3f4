//! The fake WeChat's state and rules, without HTTP: apps, `wx.login` codes, stable access tokens,
//! queued faults and call counters. Every method answers either its result or
//! the errcode real WeChat gives in that situation (reference §8).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::{FakeApp, FakeEndpoint, FakeFault};

/// The errcodes the fake answers, named as WeChat documents them.
pub(super) mod errcode {
    pub const SYSTEM_ERROR: i64 = -1;
    pub const INVALID_CREDENTIAL: i64 = 40001;
    pub const INVALID_GRANT_TYPE: i64 = 40002;
    pub const INVALID_APPID: i64 = 40013;
    pub const INVALID_CODE: i64 = 40029;
    pub const INVALID_ARGS: i64 = 40097;
    pub const INVALID_APPSECRET: i64 = 40125;
    pub const INVALID_SCENE: i64 = 40129;
    pub const CODE_BEEN_USED: i64 = 40163;
    pub const INVALID_SCENE_LENGTH: i64 = 40169;
    pub const CODE_BLOCKED: i64 = 40226;
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    pub const APPID_MISSING: i64 = 41002;
    pub const CODE_MISSING: i64 = 41008;
    pub const INVALID_PAGE: i64 = 41030;
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    pub const DAILY_QUOTA: i64 = 45009;
    pub const MINUTE_QUOTA: i64 = 45011;
    pub const DATA_FORMAT_ERROR: i64 = 47001;
}

/// A `wx.login` code is good for five minutes.
const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// Access tokens live two hours.
const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);
/// A token's last 300 s: `stable_token` rotates in them, and the old and new token both work.
const TOKEN_OVERLAP: Duration = Duration::from_secs(300);
const FORCE_REFRESH_SPACING: Duration = Duration::from_secs(30);
const FORCE_REFRESHES_PER_DAY: usize = 20;
const DAY: Duration = Duration::from_secs(86_400);
const MAX_SCENE_CHARS: usize = 32;
const SCENE_PUNCTUATION: &str = "!#$&'()*+,/:;=?@-._~";
const ENV_VERSIONS: [&str; 3] = ["release", "trial", "develop"];
const DEV_CODE_PREFIX: &str = "dev:";
/// code2Session calls one user may make in a minute before WeChat answers 45011.
const USER_CALLS_PER_MINUTE: u32 = 100;
const MINUTE: Duration = Duration::from_secs(60);

pub(super) type Errcode = i64;

pub(super) struct World {
    apps: HashMap<String, AppState>,
    codes: HashMap<String, IssuedCode>,
    /// Every token `stable_token` issued.
    tokens: HashMap<String, IssuedToken>,
    /// (appid, openid) -> the start of the user's current minute and their code2Session calls in it.
    user_minutes: HashMap<(String, String), (Instant, u32)>,
    faults: HashMap<FakeEndpoint, VecDeque<FakeFault>>,
    calls: HashMap<FakeEndpoint, u64>,
    accept_dev_codes: bool,
    /// Added to the real clock, so tests can let codes and tokens age without waiting.
    clock_offset: Duration,
}

struct AppState {
    app: FakeApp,
    /// The current token of `/cgi-bin/stable_token`.
    stable_token: Option<String>,
    force_refreshes: Vec<Instant>,
}

struct IssuedCode {
    appid: String,
    openid: String,
    unionid: Option<String>,
    issued_at: Instant,
    used: bool,
}

struct IssuedToken {
    appid: String,
    expires_at: Instant,
    revoked: bool,
}

pub(super) struct Session {
    pub openid: String,
    pub session_key: String,
    pub unionid: Option<String>,
}

pub(super) struct GrantedToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// A validated getwxacodeunlimit request.
pub(super) struct QrOrder {
    /// What a standard QR reader finds in the image.
    pub content: String,
    pub width: u32,
}

impl World {
    pub fn new(apps: Vec<FakeApp>, accept_dev_codes: bool) -> Self {
        let apps = apps
            .into_iter()
            .map(|app| {
                let state = AppState {
                    app,
                    stable_token: None,
                    force_refreshes: Vec::new(),
                };
                (state.app.appid.clone(), state)
            })
            .collect();
        Self {
            apps,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            user_minutes: HashMap::new(),
            faults: HashMap::new(),
            calls: HashMap::new(),
            accept_dev_codes,
            clock_offset: Duration::ZERO,
        }
    }

    pub fn set_accept_dev_codes(&mut self, accept: bool) {
        self.accept_dev_codes = accept;
    }

    fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    pub fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    /// Counts a call and hands out the next fault queued for its endpoint.
    pub fn begin_call(&mut self, endpoint: FakeEndpoint) -> Option<FakeFault> {
        *self.calls.entry(endpoint).or_default() += 1;
        self.faults.get_mut(&endpoint).and_then(VecDeque::pop_front)
    }

    pub fn inject(&mut self, endpoint: FakeEndpoint, fault: FakeFault, times: u32) {
        let queue = self.faults.entry(endpoint).or_default();
        queue.extend(std::iter::repeat_n(fault, times as usize));
    }

    pub fn calls(&self, endpoint: FakeEndpoint) -> u64 {
        self.calls.get(&endpoint).copied().unwrap_or(0)
    }

    /// What `wx.login` in `appid` returns on `openid`'s phone.
    pub fn mint_code(&mut self, appid: &str, openid: &str, unionid: Option<&str>) -> String {
        let code = unique_hex();
        let issued = IssuedCode {
            appid: appid.to_owned(),
            openid: openid.to_owned(),
            unionid: unionid.map(str::to_owned),
            issued_at: self.now(),
            used: false,
        };
        self.codes.insert(code.clone(), issued);
        code
    }

    /// `/sns/jscode2session`.
    pub fn code_to_session(&mut self, query: &HashMap<String, String>) -> Result<Session, Errcode> {
        let app = self.authenticate_app(query.get("appid"), query.get("secret"))?;
        let unionid_bound = app.unionid_bound;
        let appid = app.appid.clone();
        if query.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Err(errcode::INVALID_GRANT_TYPE);
        }
        let code = query
            .get("js_code")
            .filter(|code| !code.is_empty())
            .ok_or(errcode::CODE_MISSING)?;
        let dev_name = code
            .strip_prefix(DEV_CODE_PREFIX)
            .filter(|name| self.accept_dev_codes && !name.is_empty());
        let (openid, unionid) = match dev_name {
            Some(name) => (format!("dev-{name}"), None),
            None => self.code_owner(code, &appid)?,
        };
        // Over the quota the code is not spent: the user may retry it next minute.
        self.count_user_call(&appid, &openid)?;
        if dev_name.is_none() {
            self.spend(code);
        }
        // WeChat answers a session_key; no client uses it, so the fake keeps none.
        Ok(Session {
            openid,
            session_key: BASE64.encode(&unique_bytes()[..16]),
            unionid: unionid.filter(|_| unionid_bound),
        })
    }

    /// Whose `code` is, if it can still be redeemed in `appid`.
    fn code_owner(&self, code: &str, appid: &str) -> Result<(String, Option<String>), Errcode> {
        let issued = self.codes.get(code).ok_or(errcode::INVALID_CODE)?;
        if issued.appid != appid || self.now().duration_since(issued.issued_at) >= CODE_LIFETIME {
            return Err(errcode::INVALID_CODE);
        }
        if issued.used {
            return Err(errcode::CODE_BEEN_USED);
        }
        Ok((issued.openid.clone(), issued.unionid.clone()))
    }

    fn spend(&mut self, code: &str) {
        if let Some(issued) = self.codes.get_mut(code) {
            issued.used = true;
        }
    }

    /// WeChat's per-user minute quota of code2Session calls.
    fn count_user_call(&mut self, appid: &str, openid: &str) -> Result<(), Errcode> {
        let now = self.now();
        let minute = self
            .user_minutes
            .entry((appid.to_owned(), openid.to_owned()))
            .or_insert((now, 0));
        if now.duration_since(minute.0) >= MINUTE {
            *minute = (now, 0);
        }
        if minute.1 >= USER_CALLS_PER_MINUTE {
            return Err(errcode::MINUTE_QUOTA);
        }
        minute.1 += 1;
        Ok(())
    }

    fn authenticate_app(
        &self,
        appid: Option<&String>,
        secret: Option<&String>,
    ) -> Result<&FakeApp, Errcode> {
        let appid = appid
            .filter(|appid| !appid.is_empty())
            .ok_or(errcode::APPID_MISSING)?;
        let state = self.apps.get(appid).ok_or(errcode::INVALID_APPID)?;
        if secret.map(String::as_str) != Some(state.app.secret.expose()) {
            return Err(errcode::INVALID_APPSECRET);
        }
        Ok(&state.app)
    }

    /// `POST /cgi-bin/stable_token`: the same token until its last 300 s; `force_refresh` revokes it
    /// (at most 20 times a day, and not within 30 s of the previous forced refresh).
    pub fn stable_token(&mut self, body: &[u8]) -> Result<GrantedToken, Errcode> {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return Err(errcode::DATA_FORMAT_ERROR);
        };
        if body.get("grant_type").and_then(Value::as_str) != Some("client_credential") {
            return Err(errcode::INVALID_GRANT_TYPE);
        }
        let appid = string_field(&body, "appid");
        let secret = string_field(&body, "secret");
        let appid = self
            .authenticate_app(appid.as_ref(), secret.as_ref())?
            .appid
            .clone();
        let force_refresh = match body.get("force_refresh") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(force)) => *force,
            Some(_) => return Err(errcode::DATA_FORMAT_ERROR),
        };
        let now = self.now();
        let Some(state) = self.apps.get_mut(&appid) else {
            return Err(errcode::INVALID_APPID);
        };
        state
            .force_refreshes
            .retain(|at| now.duration_since(*at) < DAY);
        let spaced = state
            .force_refreshes
            .last()
            .is_none_or(|last| now.duration_since(*last) >= FORCE_REFRESH_SPACING);
        if force_refresh && spaced {
            if state.force_refreshes.len() >= FORCE_REFRESHES_PER_DAY {
                return Err(errcode::DAILY_QUOTA);
            }
            state.force_refreshes.push(now);
            if let Some(revoked) = state
                .stable_token
                .take()
                .and_then(|token| self.tokens.get_mut(&token))
            {
                revoked.revoked = true;
            }
        }
        let current = self
            .apps
            .get(&appid)
            .and_then(|state| state.stable_token.clone());
        let remaining = current
            .as_ref()
            .and_then(|token| self.tokens.get(token))
            .filter(|issued| !issued.revoked)
            .map(|issued| issued.expires_at.saturating_duration_since(now));
        match (current, remaining) {
            (Some(token), Some(remaining)) if remaining > TOKEN_OVERLAP => Ok(GrantedToken {
                access_token: token,
                expires_in: remaining.as_secs(),
            }),
            _ => {
                // The old token, if any, keeps working until its own expiry (at most 300 s).
                let token = self.issue_token(&appid);
                if let Some(state) = self.apps.get_mut(&appid) {
                    state.stable_token = Some(token.clone());
                }
                Ok(GrantedToken {
                    access_token: token,
                    expires_in: TOKEN_LIFETIME.as_secs(),
                })
            }
        }
    }

    fn issue_token(&mut self, appid: &str) -> String {
        let token = format!("{}{}", unique_hex(), unique_hex());
        let issued = IssuedToken {
            appid: appid.to_owned(),
            expires_at: self.now() + TOKEN_LIFETIME,
            revoked: false,
        };
        self.tokens.insert(token.clone(), issued);
        token
    }

    /// The app a protected call's `access_token` belongs to.
    fn app_of_token(&self, token: Option<&String>) -> Result<&FakeApp, Errcode> {
        let token = token
            .filter(|token| !token.is_empty())
            .ok_or(errcode::ACCESS_TOKEN_MISSING)?;
        let issued = self
            .tokens
            .get(token)
            .filter(|issued| !issued.revoked)
            .ok_or(errcode::INVALID_CREDENTIAL)?;
        if issued.expires_at <= self.now() {
            return Err(errcode::ACCESS_TOKEN_EXPIRED);
        }
        self.apps
            .get(&issued.appid)
            .map(|state| &state.app)
            .ok_or(errcode::INVALID_CREDENTIAL)
    }

    /// `POST /wxa/getwxacodeunlimit`: validates the body as WeChat does.
    pub fn unlimited_qr(&self, token: Option<&String>, body: &[u8]) -> Result<QrOrder, Errcode> {
        let app = self.app_of_token(token)?;
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return Err(errcode::DATA_FORMAT_ERROR);
        };
        let scene = match body.get("scene") {
            Some(Value::String(scene))
                if !scene.is_empty() && scene.chars().count() <= MAX_SCENE_CHARS =>
            {
                scene
            }
            _ => return Err(errcode::INVALID_SCENE_LENGTH),
        };
        if !scene
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SCENE_PUNCTUATION.contains(c))
        {
            return Err(errcode::INVALID_SCENE);
        }
        let check_path = match body.get("check_path") {
            None => true,
            Some(Value::Bool(check)) => *check,
            Some(_) => return Err(errcode::DATA_FORMAT_ERROR),
        };
        let home_page = app.pages.first().map(String::as_str).unwrap_or_default();
        let page = match body.get("page") {
            None | Some(Value::Null) => home_page,
            Some(Value::String(page)) if page.is_empty() => home_page,
            Some(Value::String(page)) => page,
            Some(_) => return Err(errcode::DATA_FORMAT_ERROR),
        };
        let published = app.pages.iter().any(|known| known == page);
        if page.is_empty()
            || page.starts_with('/')
            || page.contains('?')
            || (check_path && !published)
        {
            return Err(errcode::INVALID_PAGE);
        }
        match body.get("env_version") {
            None => {}
            Some(Value::String(env)) if ENV_VERSIONS.contains(&env.as_str()) => {}
            Some(_) => return Err(errcode::INVALID_ARGS),
        }
        let width = match body.get("width") {
            None => 430,
            Some(width) => number_or_numeric_string(width).ok_or(errcode::DATA_FORMAT_ERROR)?,
        };
        Ok(QrOrder {
            content: format!("wxacode:{page}?scene={scene}"),
            width: width.clamp(280, 1280),
        })
    }
}

fn string_field(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// WeChat's docs show numbers, some SDKs send strings; both are accepted.
fn number_or_numeric_string(value: &Value) -> Option<u32> {
    match value {
        Value::Number(number) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// 32 bytes no one else gets. The fake only needs its codes and tokens to be unique, not unguessable,
/// so std's randomly keyed hasher over a counter is enough.
fn unique_bytes() -> [u8; 32] {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut bytes = [0; 32];
    for chunk in bytes.chunks_mut(8) {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        chunk.copy_from_slice(&RandomState::new().hash_one(n).to_le_bytes());
    }
    bytes
}

/// 32 lowercase hex characters, unique.
pub(super) fn unique_hex() -> String {
    unique_bytes()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
