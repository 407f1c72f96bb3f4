//! Settings: from flags, `MEETEASY_*` env and a TOML file (in that order of precedence), validated at start.

mod file;
mod load;
mod redis_tls;
mod redis_url;
mod settings;

pub use load::{
    CommandConfig, ConfigError, KEY_ENCRYPTION_KEY_ENV, KEY_ENCRYPTION_KEY_FILE_ENV, Overrides,
    command_config, load,
};
pub use redis_url::WAIT_TIMEOUT_MS;
pub use settings::{
    AppSettings, ClientCertificate, ConnectionLimits, EnvVersion, InviteLimits,
    LONGEST_TOKEN_LIFETIME, Lifetimes, PasswordHashing, PasswordLimits, QrMode, RedisCertificates,
    RedisDeployment, RedisNode, RedisSettings, ReplicaAck, SceneLimits, Settings, StoreLocation,
    TlsSettings, WeChatLoginLimits, WeChatSettings,
};
