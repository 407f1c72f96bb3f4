//! Reading the settings: each value from its flag, else its `MEETEASY_*` variable (clap reads both),
//! else the config file, else the default; then every value is checked before the server starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{FileApp, FileConfig};
use super::redis_url;
use super::settings::{
    AppSettings, ConnectionLimits, EnvVersion, InviteLimits, LONGEST_TOKEN_LIFETIME, Lifetimes,
    PasswordHashing, PasswordLimits, QrMode, SceneLimits, Settings, StoreLocation, TlsSettings,
    WeChatLoginLimits, WeChatSettings,
};
use crate::key_sealing::KeyEncryptionKey;
use meeteasy_protocol::Secret;

/// The key-encryption key itself, base64. From the environment only: a flag would show it to every
/// local user in the process list.
pub const KEY_ENCRYPTION_KEY_ENV: &str = "MEETEASY_KEY_ENCRYPTION_KEY";
/// A file holding the key-encryption key (also `--key-encryption-key-file` and
/// `key_encryption_key_file` in the config file).
pub const KEY_ENCRYPTION_KEY_FILE_ENV: &str = "MEETEASY_KEY_ENCRYPTION_KEY_FILE";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Only where and what: the parser's own error quotes the line, which may hold a secret.
    #[error("the config file {path} is not valid at line {line}, column {column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

pub(super) fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// The secret in the environment variable `var`, `None` when it is unset. A value that is not
/// UTF-8 is refused (as `field`'s) rather than taken for an unset variable, which would leave the
/// operator looking for a password that was given.
pub(super) fn secret_from_env(
    field: &'static str,
    var: &str,
) -> Result<Option<Secret>, ConfigError> {
    match std::env::var(var) {
        Ok(value) => Ok(Some(Secret::new(value))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(invalid(
            field,
            format!("the variable {var} is not valid UTF-8"),
        )),
    }
}

/// What the command line (flags and `MEETEASY_*` env, already merged by clap) says.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    /// A Redis URL may carry a password.
    pub store: Option<Secret>,
    pub data_dir: Option<PathBuf>,
    pub key_encryption_key_file: Option<PathBuf>,
    /// The value of [`KEY_ENCRYPTION_KEY_ENV`], if set.
    pub key_encryption_key: Option<Secret>,
    pub public_url: Option<String>,
    pub dev: Option<bool>,
    pub ticket_ttl: Option<u64>,
    pub scene_ttl: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_connections_per_address: Option<u64>,
    pub header_timeout: Option<u64>,
    pub body_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub shutdown_timeout: Option<u64>,
}

pub fn read_file(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| {
        // The line and column (from 1) where the error starts.
        let start = error.span().map_or(0, |span| span.start);
        let before = text.get(..start).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        ConfigError::Parse {
            path: path.display().to_string(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            message: without_values(error.message()),
        }
    })
}

/// A parser's message with the string values it quotes left out (`invalid type: string "…"`): a
/// value of the wrong type may be a secret written on the wrong line (`redis = "redis://:password@…"`),
/// and the message is printed and logged. Names of settings stay.
fn without_values(message: &str) -> String {
    let (mut said, mut quoted, mut escaped) = (String::with_capacity(message.len()), false, false);
    for c in message.chars() {
        match (quoted, escaped, c) {
            // Inside a value, as serde writes it (Debug quoting): `\"` does not end it.
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (true, false, '"') => {
                said.push_str("…\"");
                quoted = false;
            }
            (true, false, _) => {}
            (false, _, '"') => {
                said.push('"');
                quoted = true;
            }
            (false, _, c) => said.push(c),
        }
    }
    if quoted {
        said.push('…');
    }
    said
}

/// What an operator command (`users`, `keys`, `invite`, `sessions`) needs of the configuration,
/// from one reading of the file.
#[derive(Debug)]
pub struct CommandConfig {
    pub store: StoreLocation,
    pub key_encryption_key: Option<KeyEncryptionKey>,
    /// The origin phones and browsers reach the server at, when a flag, the environment or the
    /// config file names it (not the default derived from `listen`): for the links commands make.
    pub public_url: Option<String>,
}

/// The configuration of an operator command, checked.
pub fn command_config(overrides: &Overrides) -> Result<CommandConfig, ConfigError> {
    let file = read_file(overrides.config.as_deref())?;
    Ok(CommandConfig {
        store: store_from(overrides, &file)?,
        key_encryption_key: key_encryption_key_from(overrides, &file)?,
        public_url: configured_origin(overrides, &file)?,
    })
}

fn configured_origin(
    overrides: &Overrides,
    file: &FileConfig,
) -> Result<Option<String>, ConfigError> {
    overrides
        .public_url
        .clone()
        .or_else(|| file.public_url.clone())
        .map(|url| checked_origin("public_url", &url))
        .transpose()
}

/// The key-encryption key from the environment or from a file, checked; given both ways is an
/// error rather than a guess at which one the operator meant.
fn key_encryption_key_from(
    overrides: &Overrides,
    file: &FileConfig,
) -> Result<Option<KeyEncryptionKey>, ConfigError> {
    let key_file = overrides
        .key_encryption_key_file
        .clone()
        .or_else(|| file.key_encryption_key_file.clone());
    match (&overrides.key_encryption_key, key_file) {
        (Some(_), Some(_)) => Err(invalid(
            "key_encryption_key_file",
            format!(
                "give the key-encryption key once: {KEY_ENCRYPTION_KEY_ENV} or a key file, not both"
            ),
        )),
        (Some(text), None) => KeyEncryptionKey::from_base64(text)
            .map(Some)
            .map_err(|problem| invalid(KEY_ENCRYPTION_KEY_ENV, problem.to_string())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .map(Secret::new)
                .map_err(|e| {
                    invalid(
                        "key_encryption_key_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
            KeyEncryptionKey::from_base64(&text)
                .map(Some)
                .map_err(|problem| {
                    invalid(
                        "key_encryption_key_file",
                        format!("{}: {problem}", path.display()),
                    )
                })
        }
        (None, None) => Ok(None),
    }
}

fn store_from(overrides: &Overrides, file: &FileConfig) -> Result<StoreLocation, ConfigError> {
    let store = overrides.store.as_ref().or(file.store.as_ref());
    let store = store.map_or("embedded", Secret::expose);
    if store == "embedded" {
        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("meeteasy-data"));
        // Said rather than refused: `--store embedded` over a production config file is a way to
        // try something locally.
        if file.redis.is_some() {
            tracing::warn!(
                "the config file's [redis] table is ignored: the store is embedded (set `store` to a redis URL to use it)"
            );
        }
        Ok(StoreLocation::Embedded { data_dir })
    } else if redis_url::is_redis(store) {
        redis_url::redis_settings(store, file.redis.as_ref()).map(StoreLocation::Redis)
    } else {
        Err(invalid("store", redis_url::STORE_FORMS))
    }
}

pub fn load(overrides: &Overrides) -> Result<Settings, ConfigError> {
    let file = read_file(overrides.config.as_deref())?;
    let dev = overrides.dev.or(file.dev).unwrap_or(false);
    let listen = match (overrides.listen, &file.listen) {
        (Some(listen), _) => listen,
        (None, Some(text)) => text.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{text:?} is not an address like 127.0.0.1:8080"),
            )
        })?,
        (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
    };
    let configured_url = configured_origin(overrides, &file)?;
    let public_url_given = configured_url.is_some();
    let public_url = match configured_url {
        Some(url) => url,
        None if listen.ip().is_unspecified() => format!("http://127.0.0.1:{}", listen.port()),
        None => format!("http://{listen}"),
    };
    let seconds = |field: &'static str,
                   value: Option<u64>,
                   default: u64,
                   range: std::ops::RangeInclusive<u64>| {
        let value = value.unwrap_or(default);
        if range.contains(&value) {
            Ok(Duration::from_secs(value))
        } else {
            Err(invalid(
                field,
                format!(
                    "must be {} to {} seconds, not {value}",
                    range.start(),
                    range.end()
                ),
            ))
        }
    };
    let lifetimes = Lifetimes {
        login_ticket: seconds(
            "ticket_ttl",
            overrides.ticket_ttl.or(file.ticket_ttl),
            120,
            1..=3600,
        )?,
        scene: seconds(
            "scene_ttl",
            overrides.scene_ttl.or(file.scene_ttl),
            120,
            2..=3600,
        )?,
        scanned_scene: seconds("scanned_scene_ttl", file.scanned_scene_ttl, 300, 2..=3600)?,
        poll_interval: seconds("poll_interval", file.poll_interval, 2, 1..=60)?,
        access_token: seconds("access_token_ttl", file.access_token_ttl, 7200, 60..=86_400)?,
        console_token: seconds(
            "console_token_ttl",
            file.console_token_ttl,
            7 * 86_400,
            60..=LONGEST_TOKEN_LIFETIME.as_secs(),
        )?,
        delivered_scene: seconds("delivered_scene_ttl", file.delivered_scene_ttl, 30, 1..=300)?,
    };
    let connections = connection_limits(overrides, &file, seconds)?;
    let wechat_file = file.wechat.as_ref();
    let wechat = WeChatSettings {
        base_url: wechat_file.and_then(|w| w.base_url.clone()).map_or_else(
            || Ok("https://api.weixin.qq.com".to_owned()),
            |url| checked_origin("wechat.base_url", &url),
        )?,
        timeout: seconds(
            "wechat.timeout_secs",
            wechat_file.and_then(|w| w.timeout_secs),
            8,
            1..=60,
        )?,
    };
    let limits_file = file.password_limits.as_ref();
    let password_limits = PasswordLimits {
        per_login: at_least_one(
            "password_limits.per_login",
            limits_file.and_then(|l| l.per_login),
            10,
        )?,
        per_ip: at_least_one(
            "password_limits.per_ip",
            limits_file.and_then(|l| l.per_ip),
            50,
        )?,
        window: seconds(
            "password_limits.window_secs",
            limits_file.and_then(|l| l.window_secs),
            900,
            1..=86_400,
        )?,
    };
    let hashing_file = file.password_hashing.as_ref();
    let password_hashing = PasswordHashing {
        concurrent: count_in(
            "password_hashing.concurrent",
            hashing_file.and_then(|h| h.concurrent),
            // One hash per core: more only makes every login slower.
            std::thread::available_parallelism().map_or(1, usize::from),
            1..=1024,
        )?,
        queue: count_in(
            "password_hashing.queue",
            hashing_file.and_then(|h| h.queue),
            32,
            0..=100_000,
        )?,
        queue_wait: seconds(
            "password_hashing.queue_wait_secs",
            hashing_file.and_then(|h| h.queue_wait_secs),
            2,
            1..=60,
        )?,
    };
    let wechat_limits_file = file.wechat_login_limits.as_ref();
    let wechat_login_limits = WeChatLoginLimits {
        failures_per_ip: at_least_one(
            "wechat_login_limits.failures_per_ip",
            wechat_limits_file.and_then(|l| l.failures_per_ip),
            30,
        )?,
        window: seconds(
            "wechat_login_limits.window_secs",
            wechat_limits_file.and_then(|l| l.window_secs),
            300,
            1..=86_400,
        )?,
    };
    let scene_limits_file = file.scene_limits.as_ref();
    let scene_limits = SceneLimits {
        per_ip: at_least_one(
            "scene_limits.per_ip",
            scene_limits_file.and_then(|l| l.per_ip),
            120,
        )?,
        per_app: at_least_one(
            "scene_limits.per_app",
            scene_limits_file.and_then(|l| l.per_app),
            600,
        )?,
        window: seconds(
            "scene_limits.window_secs",
            scene_limits_file.and_then(|l| l.window_secs),
            60,
            1..=3600,
        )?,
    };
    let invite_limits_file = file.invite_limits.as_ref();
    let invite_limits = InviteLimits {
        per_ip: at_least_one(
            "invite_limits.per_ip",
            invite_limits_file.and_then(|l| l.per_ip),
            60,
        )?,
        window: seconds(
            "invite_limits.window_secs",
            invite_limits_file.and_then(|l| l.window_secs),
            60,
            1..=3600,
        )?,
    };
    let h5_origins = file
        .h5_origins
        .iter()
        .map(|origin| checked_origin("h5_origins", origin).map(as_browsers_send))
        .collect::<Result<Vec<_>, _>>()?;
    let apps = if file.apps.is_empty() && dev {
        dev_apps()
    } else {
        apps(&file.apps, dev)?
    };
    if apps.is_empty() {
        return Err(invalid(
            "apps",
            "configure at least one mini program ([[apps]] in the config file)",
        ));
    }
    let trusted_proxies = file
        .trusted_proxies
        .iter()
        .map(|ip| {
            // Canonical, as the peers they are compared with: `::ffff:10.0.0.2` is 10.0.0.2.
            ip.parse::<std::net::IpAddr>()
                .map(|ip| ip.to_canonical())
                .map_err(|_| invalid("trusted_proxies", format!("{ip:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tls = file.tls.as_ref().map(|tls| TlsSettings {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
    });
    Ok(Settings {
        listen,
        store: store_from(overrides, &file)?,
        key_encryption_key: key_encryption_key_from(overrides, &file)?,
        public_url,
        public_url_given,
        dev,
        lifetimes,
        apps,
        wechat,
        h5_origins,
        tls,
        password_limits,
        password_hashing,
        wechat_login_limits,
        scene_limits,
        invite_limits,
        trusted_proxies,
        connections,
        metrics_token: metrics_token_from(&file)?,
    })
}

/// Metrics tell an outsider how busy the server is and who logs in how: the scraper must present
/// a token long enough not to be guessed.
const SHORTEST_METRICS_TOKEN: usize = 16;

fn metrics_token_from(file: &FileConfig) -> Result<Option<Secret>, ConfigError> {
    let Some(path) = &file.metrics_token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(
            "metrics_token_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let token = text.trim();
    // Visible ASCII only: an `Authorization` header carries nothing else, so a token with a byte
    // order mark or a non-ASCII letter (an editor's doing) would never match, and `/metrics`
    // would refuse its scraper for good.
    if token.len() < SHORTEST_METRICS_TOKEN || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            "metrics_token_file",
            format!(
                "{}: the token must be at least {SHORTEST_METRICS_TOKEN} visible ASCII characters, without spaces",
                path.display()
            ),
        ));
    }
    Ok(Some(Secret::new(token)))
}

/// A limit of events: 0 would refuse everyone, so it is not a limit anyone means.
fn at_least_one(field: &'static str, value: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(
            field,
            "must be at least 1 (0 would lock everyone out)",
        )),
        limit => Ok(limit),
    }
}

/// A count of things held at once (hashes, queue places), within `range`.
fn count_in(
    field: &'static str,
    value: Option<u64>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    let count = match value {
        None => default.clamp(*range.start(), *range.end()),
        Some(value) => usize::try_from(value).unwrap_or(usize::MAX),
    };
    if range.contains(&count) {
        Ok(count)
    } else {
        Err(invalid(
            field,
            format!("must be {} to {}, not {count}", range.start(), range.end()),
        ))
    }
}

/// The connection limits (flag > env > file > default). The defaults hold 10,000 waiting consoles
/// with room to spare, give a mobile network a few seconds for a request, and keep an idle
/// connection longer than the 60 s idle timeout common in load balancers, so a balancer never
/// sends a request down a connection this server is closing.
fn connection_limits(
    overrides: &Overrides,
    file: &FileConfig,
    seconds: impl Fn(
        &'static str,
        Option<u64>,
        u64,
        std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError>,
) -> Result<ConnectionLimits, ConfigError> {
    let max = count(
        "max_connections",
        overrides.max_connections.or(file.max_connections),
        20_000,
        1..=1_000_000,
    )?;
    // The default never exceeds the total: lowering only `max_connections` must not make the
    // default per-address cap, which nobody set, refuse to start.
    let per_address = count(
        "max_connections_per_address",
        overrides
            .max_connections_per_address
            .or(file.max_connections_per_address),
        max.min(1_000),
        1..=max,
    )?;
    let as_usize = |field: &'static str, value: u64| {
        usize::try_from(value).map_err(|_| invalid(field, format!("{value} is too large here")))
    };
    Ok(ConnectionLimits {
        max: as_usize("max_connections", max)?,
        per_address: as_usize("max_connections_per_address", per_address)?,
        header_timeout: seconds(
            "header_timeout",
            overrides.header_timeout.or(file.header_timeout),
            10,
            1..=300,
        )?,
        body_timeout: seconds(
            "body_timeout",
            overrides.body_timeout.or(file.body_timeout),
            10,
            1..=300,
        )?,
        idle_timeout: seconds(
            "idle_timeout",
            overrides.idle_timeout.or(file.idle_timeout),
            75,
            1..=3600,
        )?,
        shutdown_timeout: seconds(
            "shutdown_timeout",
            overrides.shutdown_timeout.or(file.shutdown_timeout),
            20,
            1..=3600,
        )?,
    })
}

fn count(
    field: &'static str,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("must be {} to {}, not {value}", range.start(), range.end()),
        ))
    }
}

/// `url` with what precedes an `@` in it (credentials, in an origin) left out.
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match rest.rsplit_once('@') {
        Some((_, host)) if scheme.is_empty() => format!("…@{host}"),
        Some((_, host)) => format!("{scheme}://…@{host}"),
        None => url.to_owned(),
    }
}

/// An origin: scheme and host (and port), no path, no trailing slash.
fn checked_origin(field: &'static str, given: &str) -> Result<String, ConfigError> {
    // Quoted in the errors below without credentials (`user:password@`): the error reaches the
    // terminal and the logs.
    let url = &without_credentials(given);
    let trimmed = given.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(
                field,
                format!("{url:?} must start with http:// or https://"),
            )
        })?;
    let stray = |c: char| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace() || c.is_control();
    if rest.is_empty() || rest.starts_with(':') || rest.contains(stray) {
        return Err(invalid(
            field,
            format!(
                "{url:?} must be an origin like https://auth.example.com (a host, no path, \
                 credentials or spaces)"
            ),
        ));
    }
    if !rest.is_ascii() {
        return Err(invalid(
            field,
            format!("{url:?}: give the host in its ASCII form (xn--...), as browsers send it"),
        ));
    }
    if !port_is_valid(rest) {
        return Err(invalid(
            field,
            format!("{url:?}: the port must be a number from 1 to 65535"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Whether `host_and_port` (`host`, `host:port`, `[v6]` or `[v6]:port`) has no port or a valid one.
fn port_is_valid(host_and_port: &str) -> bool {
    let after_host = match host_and_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, after)) => after,
            None => return false,
        },
        None => host_and_port
            .find(':')
            .map_or("", |colon| &host_and_port[colon..]),
    };
    match after_host.strip_prefix(':') {
        None => after_host.is_empty(),
        Some(port) => {
            port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|port| port > 0)
        }
    }
}

/// An origin as a browser's `Origin` header spells it, to compare with one: its scheme and host
/// in lower case, without the scheme's default port.
fn as_browsers_send(origin: String) -> String {
    let origin = origin.to_ascii_lowercase();
    let default_port = if origin.starts_with("https://") {
        ":443"
    } else {
        ":80"
    };
    match origin.strip_suffix(default_port) {
        Some(without) => without.to_owned(),
        None => origin,
    }
}

/// The mini program page an invite's code opens unless an app names another.
const DEFAULT_INVITE_PAGE: &str = "pages/invite/index";

fn apps(apps: &[FileApp], dev: bool) -> Result<Vec<AppSettings>, ConfigError> {
    let mut checked: Vec<AppSettings> = Vec::with_capacity(apps.len());
    for app in apps {
        if app.key.trim().is_empty() || checked.iter().any(|other| other.key == app.key) {
            return Err(invalid(
                "apps.key",
                format!("{:?} is empty or used twice", app.key),
            ));
        }
        if app.appid.trim().is_empty() {
            return Err(invalid(
                "apps.appid",
                format!("app {:?} has no appid", app.key),
            ));
        }
        if app.scan_page.is_empty() || app.scan_page.starts_with('/') || app.scan_page.contains('?')
        {
            return Err(invalid(
                "apps.scan_page",
                format!(
                    "app {:?}: a page path like pages/scan/index (no leading /, no query)",
                    app.key
                ),
            ));
        }
        let invite_page = app
            .invite_page
            .clone()
            .unwrap_or_else(|| DEFAULT_INVITE_PAGE.to_owned());
        if invite_page.is_empty() || invite_page.starts_with('/') || invite_page.contains('?') {
            return Err(invalid(
                "apps.invite_page",
                format!(
                    "app {:?}: a page path like pages/invite/index (no leading /, no query)",
                    app.key
                ),
            ));
        }
        checked.push(AppSettings {
            key: app.key.clone(),
            appid: app.appid.clone(),
            secret: app_secret(app, dev)?,
            scan_page: app.scan_page.clone(),
            invite_page,
            qr_mode: match app.qr_mode.as_deref() {
                None | Some("wxacode") => QrMode::Wxacode,
                Some("url") => QrMode::Url,
                Some(other) => {
                    return Err(invalid(
                        "apps.qr_mode",
                        format!("{other:?} is neither wxacode nor url"),
                    ));
                }
            },
            env_version: match app.env_version.as_deref() {
                None | Some("release") => EnvVersion::Release,
                Some("trial") => EnvVersion::Trial,
                Some("develop") => EnvVersion::Develop,
                Some(other) => {
                    return Err(invalid(
                        "apps.env_version",
                        format!("{other:?} is not release, trial or develop"),
                    ));
                }
            },
        });
    }
    Ok(checked)
}

fn app_secret(app: &FileApp, dev: bool) -> Result<Secret, ConfigError> {
    let sources = [
        app.secret_env.is_some(),
        app.secret_file.is_some(),
        app.secret.is_some(),
    ];
    if sources.into_iter().filter(|given| *given).count() > 1 {
        return Err(invalid(
            "apps",
            format!(
                "app {:?}: give only one of secret_env, secret_file, secret",
                app.key
            ),
        ));
    }
    if let Some(var) = &app.secret_env {
        let secret = secret_from_env("apps.secret_env", var)?.ok_or_else(|| {
            invalid(
                "apps.secret_env",
                format!("app {:?}: the variable {var} is not set", app.key),
            )
        })?;
        return non_empty(secret, "apps.secret_env", app);
    }
    if let Some(path) = &app.secret_file {
        let secret = std::fs::read_to_string(path)
            .map(Secret::new)
            .map_err(|e| {
                invalid(
                    "apps.secret_file",
                    format!("app {:?}: cannot read {}: {e}", app.key, path.display()),
                )
            })?;
        return non_empty(secret, "apps.secret_file", app);
    }
    match &app.secret {
        Some(secret) if dev => non_empty(secret.clone(), "apps.secret", app),
        Some(_) => Err(invalid(
            "apps.secret",
            format!(
                "app {:?}: an AppSecret in clear is for dev mode only; use secret_env or secret_file",
                app.key
            ),
        )),
        None => Err(invalid(
            "apps",
            format!("app {:?} needs secret_env or secret_file", app.key),
        )),
    }
}

/// `secret` from `field` without the white space around it, unless it is empty: WeChat would
/// refuse an empty AppSecret, or one with the newline a secret mounted from a file ends in (a
/// Kubernetes secret made `--from-file` and passed as a variable, too), only at the first real
/// login, so the first stops the start and the second is trimmed, whichever its source.
fn non_empty(secret: Secret, field: &'static str, app: &FileApp) -> Result<Secret, ConfigError> {
    let trimmed = secret.expose().trim();
    if trimmed.is_empty() {
        return Err(invalid(
            field,
            format!("app {:?}: the AppSecret is empty", app.key),
        ));
    }
    Ok(Secret::new(trimmed))
}

/// The two apps of the seed, as dev mode's fake WeChat knows them. The QR is a `url` code, which a
/// phone's camera opens in its browser: the phone simulator page.
fn dev_apps() -> Vec<AppSettings> {
    ["attendee", "organizer"]
        .into_iter()
        .map(|key| AppSettings {
            key: key.to_owned(),
            appid: format!("wxdev{key}"),
            secret: Secret::new(format!("dev-secret-{key}")),
            scan_page: "pages/scan-login/index".to_owned(),
            invite_page: DEFAULT_INVITE_PAGE.to_owned(),
            qr_mode: QrMode::Url,
            env_version: EnvVersion::Develop,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_with(tweak: impl FnOnce(&mut Overrides)) -> Result<Settings, ConfigError> {
        let mut overrides = Overrides {
            dev: Some(true),
            ..Overrides::default()
        };
        tweak(&mut overrides);
        load(&overrides)
    }

    fn app(secret_file: Option<PathBuf>, secret: Option<&str>) -> FileApp {
        FileApp {
            key: "organizer".into(),
            appid: "wx0123456789abcdef".into(),
            secret_env: None,
            secret_file,
            secret: secret.map(Secret::new),
            scan_page: "pages/scan-login/index".into(),
            invite_page: None,
            qr_mode: None,
            env_version: None,
        }
    }

    /// A site listed as `https://App.Example.com` or with its default port is the origin browsers
    /// send in lower case without the port: listed as written, it would never match. Origins with
    /// credentials, no host, spaces or a non-ASCII host are refused instead of never matching.
    #[test]
    fn h5_origins_are_kept_as_browsers_send_them_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meeteasy.toml");
        let with_origins = |origins: &str| {
            std::fs::write(&path, format!("h5_origins = [{origins}]\n")).unwrap();
            let overrides = Overrides {
                config: Some(path.clone()),
                dev: Some(true),
                ..Overrides::default()
            };
            load(&overrides)
        };
        let kept = with_origins(
            r#""https://App.Example.com", "https://b.example.com:443", "http://c.example.com:8080/", "http://[::1]:8443""#,
        );
        assert_eq!(
            kept.unwrap().h5_origins,
            [
                "https://app.example.com",
                "https://b.example.com",
                "http://c.example.com:8080",
                "http://[::1]:8443"
            ]
        );
        for refused in [
            r#""https://user:pass@app.example.com""#,
            r#""http://:8080""#,
            "\"https://app.exa\\tmple.com\"",
            r#""https://bücher.example""#,
            r#""https://app.example.com:70000""#,
            r#""https://app.example.com:abc""#,
            r#""https://app.example.com:0""#,
            r#""https://app.example.com:80:80""#,
            r#""http://[::1""#,
            r#""http://[::1]x""#,
        ] {
            let error = with_origins(refused).unwrap_err().to_string();
            assert!(error.starts_with("h5_origins: "), "{refused}: {error}");
            // Credentials are never quoted: the error reaches the terminal and the logs.
            assert!(!error.contains("pass"), "{refused}: {error}");
        }
    }

    /// A file TOML cannot read is told by line, column and problem, never by quoting the line: a
    /// misspelt or repeated secret setting would otherwise reach the terminal and the logs.
    #[test]
    fn a_config_file_that_does_not_parse_is_told_without_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meeteasy.toml");
        let cases = [
            (
                "store = \"embedded\"\nstore = \"redis://:SECONDpw@r:6379\"\n",
                2,
                "SECONDpw",
            ),
            (
                "listen = \"127.0.0.1:8443\"\n\nsecert = \"MYAPPSECRET123\"\n",
                3,
                "MYAPPSECRET123",
            ),
            ("[redis]\npassword = \"REDISPASS\"\n", 2, "REDISPASS"),
            // A value of the wrong type: serde's message quotes it, escaping quotes inside.
            ("redis = \"redis://:THIRDpw@r:6379\"\n", 1, "THIRDpw"),
            ("redis = \"pre\\\"FOURTHpw\"\n", 1, "FOURTHpw"),
        ];
        for (text, line, secret) in cases {
            std::fs::write(&path, text).unwrap();
            let error = read_file(Some(&path)).unwrap_err();
            let (said, debug) = (error.to_string(), format!("{error:?}"));
            assert!(
                !said.contains(secret) && !debug.contains(secret),
                "{said} / {debug}"
            );
            assert!(said.contains(&format!("at line {line}, column ")), "{said}");
        }
    }

    /// A metrics token must be one a scraper can send: long enough, and visible ASCII only.
    #[test]
    fn a_metrics_token_is_visible_ascii_of_sixteen_characters_at_least() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics-token");
        let file = FileConfig {
            metrics_token_file: Some(path.clone()),
            ..FileConfig::default()
        };
        for (token, accepted) in [
            ("scraper-token-0123456789\n", true),
            ("short", false),
            ("scraper token 0123456789", false),
            ("\u{feff}scraper-token-0123456789", false),
            ("scraper-tökén-0123456789", false),
        ] {
            std::fs::write(&path, token).unwrap();
            let read = metrics_token_from(&file);
            assert_eq!(read.is_ok(), accepted, "{token:?}: {read:?}");
        }
    }

    /// An empty AppSecret would be refused by WeChat only at the first real login: it stops the
    /// start instead, saying which app and which setting.
    #[test]
    fn an_empty_app_secret_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, kept) = (dir.path().join("empty"), dir.path().join("kept"));
        std::fs::write(&empty, " \n").unwrap();
        std::fs::write(&kept, "s3cret\n").unwrap();
        let refused = app_secret(&app(Some(empty), None), false)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("apps.secret_file") && refused.contains("empty"),
            "{refused}"
        );
        let refused = app_secret(&app(None, Some("")), true)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("apps.secret") && refused.contains("empty"),
            "{refused}"
        );
        let read = app_secret(&app(Some(kept), None), false).unwrap();
        assert_eq!(read.expose(), "s3cret");
        let given = app_secret(&app(None, Some(" s3cret\n")), true).unwrap();
        assert_eq!(given.expose(), "s3cret", "trimmed wherever it comes from");
    }

    /// Lowering only the total keeps the server startable: the per-address default follows it
    /// down, while a per-address cap set above the total is still refused.
    #[test]
    fn a_lower_total_lowers_the_default_per_address_cap() {
        let lowered = dev_with(|o| o.max_connections = Some(500)).unwrap();
        assert_eq!(lowered.connections.per_address, 500);
        let defaults = dev_with(|_| {}).unwrap();
        assert_eq!(defaults.connections.per_address, 1_000);
        let Err(refused) = dev_with(|o| {
            o.max_connections = Some(500);
            o.max_connections_per_address = Some(501);
        }) else {
            panic!("a per-address cap above the total was taken");
        };
        assert!(
            refused.to_string().contains("max_connections_per_address"),
            "{refused}"
        );
    }
}
