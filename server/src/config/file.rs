//! The TOML config file as written, before validation. Unknown keys are errors: a typo must not
//! silently leave a default in force.

use std::path::PathBuf;

use meeteasy_protocol::Secret;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// A Redis URL may carry a password.
    pub store: Option<Secret>,
    pub data_dir: Option<PathBuf>,
    /// A file holding the key-encryption key that seals the signing keys in the store.
    pub key_encryption_key_file: Option<PathBuf>,
    /// A file holding the bearer token `GET /metrics` asks for; without it `/metrics` is not served.
    pub metrics_token_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub dev: Option<bool>,
    pub ticket_ttl: Option<u64>,
    pub scene_ttl: Option<u64>,
    pub scanned_scene_ttl: Option<u64>,
    pub poll_interval: Option<u64>,
    pub access_token_ttl: Option<u64>,
    pub console_token_ttl: Option<u64>,
    pub delivered_scene_ttl: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_connections_per_address: Option<u64>,
    pub header_timeout: Option<u64>,
    pub body_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub shutdown_timeout: Option<u64>,
    #[serde(default)]
    pub h5_origins: Vec<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub tls: Option<FileTls>,
    pub wechat: Option<FileWeChat>,
    pub password_limits: Option<FilePasswordLimits>,
    pub password_hashing: Option<FilePasswordHashing>,
    pub wechat_login_limits: Option<FileWeChatLoginLimits>,
    pub scene_limits: Option<FileSceneLimits>,
    pub invite_limits: Option<FileInviteLimits>,
    pub redis: Option<FileRedis>,
    #[serde(default)]
    pub apps: Vec<FileApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWeChat {
    pub base_url: Option<String>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePasswordLimits {
    pub per_login: Option<u64>,
    pub per_ip: Option<u64>,
    pub window_secs: Option<u64>,
}

/// How to reach a Redis store beyond its URL.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRedis {
    /// The name of an environment variable holding the Redis password.
    pub password_env: Option<String>,
    /// A file holding the Redis password (e.g. a mounted secret).
    pub password_file: Option<PathBuf>,
    /// Sentinel only: the variable holding the sentinels' own password, if they have one.
    pub sentinel_password_env: Option<String>,
    /// Sentinel only: a file holding the sentinels' own password.
    pub sentinel_password_file: Option<PathBuf>,
    /// How many replicas must have a write before it is acknowledged (0: do not wait).
    pub wait_replicas: Option<u32>,
    /// How long a write may wait for its replicas, in milliseconds.
    pub wait_timeout_ms: Option<u64>,
    /// `rediss` forms only: a PEM file of the authorities to trust for the nodes' certificates,
    /// instead of the system's trust store.
    pub tls_ca_file: Option<PathBuf>,
    /// `rediss` forms only: the certificate (PEM, leaf first) shown to every node and sentinel.
    pub tls_client_cert_file: Option<PathBuf>,
    /// `rediss` forms only: the client certificate's private key (PEM).
    pub tls_client_key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePasswordHashing {
    pub concurrent: Option<u64>,
    pub queue: Option<u64>,
    pub queue_wait_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWeChatLoginLimits {
    pub failures_per_ip: Option<u64>,
    pub window_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInviteLimits {
    pub per_ip: Option<u64>,
    pub window_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSceneLimits {
    pub per_ip: Option<u64>,
    pub per_app: Option<u64>,
    pub window_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApp {
    pub key: String,
    pub appid: String,
    /// The name of an environment variable holding the AppSecret.
    pub secret_env: Option<String>,
    /// A file holding the AppSecret (e.g. a mounted secret).
    pub secret_file: Option<PathBuf>,
    /// The AppSecret in clear: accepted in dev mode only.
    pub secret: Option<Secret>,
    pub scan_page: String,
    /// Default `pages/invite/index`.
    pub invite_page: Option<String>,
    pub qr_mode: Option<String>,
    pub env_version: Option<String>,
}
