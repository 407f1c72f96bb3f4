//! Settings: from flags, `MEETEASY_*` env and a TOML file (in that order of precedence), validated at start.

mod file;
mod load;
mod settings;

pub use load::{ConfigError, Overrides, load, store_location};
pub use settings::{
    AppSettings, ConnectionLimits, EnvVersion, LONGEST_TOKEN_LIFETIME, Lifetimes, PasswordLimits,
    QrMode, Settings, StoreLocation, TlsSettings, WeChatSettings,
};
