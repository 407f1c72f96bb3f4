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
    /// Whether a flag, the environment or the config file named `public_url` (else it was derived
    /// from `listen`, and may be `0.0.0.0` or port 0: no link to put into an invite).
    pub public_url_given: bool,
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
    /// Invite inspections and acceptances per address (IPv6 by /64): codes are guessed nowhere.
    pub invite_limits: InviteLimits,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub connections: ConnectionLimits,
    /// The bearer token `GET /metrics` asks for; `None` keeps metrics off the listener.
    pub metrics_token: Option<Secret>,
}

/// What keeps slow or greedy clients from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; past it a new connection is answered `429 too_many_requests`.
    pub max: usize,
    /// Open connections from one address (an IPv6 /64) at most. Loopback and trusted proxies are
    /// exempt: each carries many clients.
    pub per_address: usize,
    /// From a connection's start (TLS handshake included), or from the first byte of a later
    /// request, until that request's head has arrived.
    pub header_timeout: Duration,
    /// From a request's head until its body has arrived; also how long a response may wait for the
    /// client to take any of it.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// How long requests in flight at shutdown get to finish before their connections are cut.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum StoreLocation {
    Embedded { data_dir: PathBuf },
    Redis(RedisSettings),
}

/// Where the Redis deployment is and how writes are made to outlive one node.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub deployment: RedisDeployment,
    /// From `redis.password_env` or `redis.password_file`; for Sentinel and Cluster the only way to
    /// give one. It authenticates to the data nodes.
    pub password: Option<Secret>,
    /// `None`: writes are acknowledged once the master has them (no replica configured).
    pub replica_ack: Option<ReplicaAck>,
    /// For the `rediss` forms: whom to trust and what to show (`redis.tls_*`); none by default.
    pub certificates: RedisCertificates,
}

/// The certificates a store reached over TLS may be given, read from their files at start.
#[derive(Debug, Clone, Default)]
pub struct RedisCertificates {
    /// PEM: the authorities trusted for the nodes' certificates; `None`: the system's trust store
    /// (which `SSL_CERT_FILE` and `SSL_CERT_DIR` replace).
    pub trusted: Option<Vec<u8>>,
    /// What every node and sentinel is shown, for Redis's `tls-auth-clients yes` (its default).
    pub client: Option<ClientCertificate>,
}

/// A client certificate (PEM, leaf first) and its private key (PEM).
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub chain: Vec<u8>,
    pub key: Secret,
}

#[derive(Debug, Clone)]
pub enum RedisDeployment {
    /// `redis://` or `rediss://`, as before; the URL may carry a password.
    Single { url: Secret },
    /// `redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME` (`rediss-sentinel://`: TLS to the
    /// sentinels and the data nodes).
    Sentinel {
        sentinels: Vec<RedisNode>,
        master_name: String,
        tls: bool,
        /// The sentinels' own password (`redis.sentinel_password_env` or `_file`, else
        /// `MEETEASY_REDIS_SENTINEL_PASSWORD`), if they have one.
        sentinel_password: Option<Secret>,
    },
    /// `redis-cluster://HOST:PORT[,HOST:PORT...]`: seed nodes; the rest is discovered.
    Cluster { seeds: Vec<RedisNode>, tls: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisNode {
    pub host: String,
    pub port: u16,
}

/// A write is acknowledged only once `replicas` replicas have it (`WAIT replicas timeout`); when
/// fewer confirm within `timeout`, the caller is told the store is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaAck {
    pub replicas: u32,
    pub timeout: Duration,
}

impl RedisDeployment {
    /// How the deployment is named in logs (never with its address or password).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Single { .. } => "redis",
            Self::Sentinel { .. } => "redis-sentinel",
            Self::Cluster { .. } => "redis-cluster",
        }
    }
}

impl RedisSettings {
    /// A single Redis at `url`, no replica acknowledgement: what `redis://` meant before.
    pub fn single(url: &str) -> Self {
        Self {
            deployment: RedisDeployment::Single {
                url: Secret::new(url),
            },
            password: None,
            replica_ack: None,
            certificates: RedisCertificates::default(),
        }
    }
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
    /// The mini program page an invite's code opens (scene = the invite code).
    pub invite_page: String,
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

/// Invite inspections and acceptances per address (IPv6 by /64), counted together.
#[derive(Debug, Clone, Copy)]
pub struct InviteLimits {
    pub per_ip: u64,
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
