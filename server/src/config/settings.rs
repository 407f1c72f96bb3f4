//! The validated settings the server runs with. Everything here has been checked at start; code that
//! receives a `Settings` never re-validates it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use meeteasy_protocol::Secret;

use crate::key_sealing::KeyEncryptionKey;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub store: StoreLocation,
    /// Seals the signing keys in the store; `None` keeps them in clear.
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// The origin phones and browsers reach this server at, without a trailing slash.
    pub public_url: String,
    /// Dev mode: `dev:<name>` codes, the phone simulator page, an in-process fake WeChat.
    pub dev: bool,
    pub lifetimes: Lifetimes,
    /// Mini programs this server logs users in from; the first is the default. Never empty.
    pub apps: Vec<AppSettings>,
    pub wechat: WeChatSettings,
    /// Origins allowed to call the H5 endpoints from a browser (CORS).
    pub h5_origins: Vec<String>,
    pub tls: Option<TlsSettings>,
    pub password_limits: PasswordLimits,
    pub password_hashing: PasswordHashing,
    pub wechat_login_limits: WeChatLoginLimits,
    pub scene_limits: SceneLimits,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub enum StoreLocation {
    Embedded {
        data_dir: PathBuf,
    },
    /// The URL may carry a password.
    Redis {
        url: Secret,
    },
}

/// The longest any token may be configured to live (`console_token_ttl`'s upper bound): a key
/// retired longer ago than this has no live token left to verify.
pub const LONGEST_TOKEN_LIFETIME: Duration = Duration::from_secs(90 * 86_400);

#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub login_ticket: Duration,
    pub scene: Duration,
    /// How long a scanned scene waits for the confirm.
    pub scanned_scene: Duration,
    /// The shortest time between two `islogin` calls without `wait`.
    pub poll_interval: Duration,
    /// Mini program and H5 tokens.
    pub access_token: Duration,
    pub console_token: Duration,
    /// How long the console's poll token can collect a delivered login again (its answer lost on
    /// the way: a store reply that never came, a connection the console gave up on).
    pub delivered_scene: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    /// The name requests choose the app by (`"app"` in the contract).
    pub key: String,
    pub appid: String,
    pub secret: Secret,
    /// The mini program page a scan opens, e.g. `pages/scan/index` (no leading `/`, no query).
    pub scan_page: String,
    pub qr_mode: QrMode,
    pub env_version: EnvVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrMode {
    /// A mini program code from WeChat's getUnlimitedQRCode.
    Wxacode,
    /// A standard QR of `<public_url>/m/scan/{scene}`.
    Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvVersion {
    Release,
    Trial,
    Develop,
}

impl EnvVersion {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Trial => "trial",
            Self::Develop => "develop",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WeChatSettings {
    /// `https://api.weixin.qq.com` in production; a fake's address in tests and dev mode.
    pub base_url: String,
    /// The longest any one WeChat call may take, retries included.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy)]
pub struct PasswordLimits {
    pub per_login: u64,
    pub per_ip: u64,
    pub window: Duration,
}

/// How many argon2 hashes run at once, and how many wait for a turn: each takes a core and
/// about 19 MiB, so a flood of password logins must queue, not take the machine.
#[derive(Debug, Clone, Copy)]
pub struct PasswordHashing {
    pub concurrent: usize,
    pub queue: usize,
    /// The longest a request waits in the queue before `503 server_busy`.
    pub queue_wait: Duration,
}

/// Mini program logins whose code WeChat rejected, per address (IPv6 by /64): past the limit the
/// address is refused without asking WeChat until its window ends. Good logins are not counted.
#[derive(Debug, Clone, Copy)]
pub struct WeChatLoginLimits {
    pub failures_per_ip: u64,
    pub window: Duration,
}

/// Scenes created per address (IPv6 by /64), and per app in `wxacode` mode, where each scene's QR
/// costs a call to WeChat's code quota.
#[derive(Debug, Clone, Copy)]
pub struct SceneLimits {
    pub per_ip: u64,
    pub per_app: u64,
    pub window: Duration,
}

impl Settings {
    /// The app a request names, or the default (first) one when it names none.
    pub fn app(&self, key: Option<&str>) -> Option<&AppSettings> {
        match key {
            None => self.apps.first(),
            Some(key) => self.apps.iter().find(|app| app.key == key),
        }
    }
}
