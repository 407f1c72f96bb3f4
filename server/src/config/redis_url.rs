//! The Redis store's location: `redis://` (one server, as before), `redis-sentinel://` (a master found
//! through its sentinels) and `redis-cluster://` (seed nodes of a Redis Cluster), each with a `rediss`
//! form for TLS; plus the password, which for Sentinel and Cluster comes only from the environment or
//! a file, so it never shows in a process listing or a shell history.

use std::time::Duration;

use meeteasy_protocol::Secret;

use super::file::FileRedis;
use super::load::{ConfigError, invalid, secret_from_env};
use super::redis_tls;
use super::settings::{RedisDeployment, RedisNode, RedisSettings, ReplicaAck};

/// What the `store` setting may be, as an error tells it.
pub(super) const STORE_FORMS: &str = "must be `embedded`, redis://HOST:PORT[/DB], \
     redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME or \
     redis-cluster://HOST:PORT[,HOST:PORT...] (rediss for TLS)";

/// Read when the config file names no other source of the password.
const PASSWORD_ENV: &str = "MEETEASY_REDIS_PASSWORD";
/// Likewise for the sentinels' own password.
const SENTINEL_PASSWORD_ENV: &str = "MEETEASY_REDIS_SENTINEL_PASSWORD";
const DEFAULT_SENTINEL_PORT: u16 = 26379;
const DEFAULT_REDIS_PORT: u16 = 6379;
const DEFAULT_WAIT_TIMEOUT_MS: u64 = 500;
/// A write waiting longer than this for its replicas would outlast the store's 2 s operation bound.
pub const WAIT_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 10..=1500;

/// Whether `store` names a Redis store at all (the caller tells `embedded` and typos apart).
pub(super) fn is_redis(store: &str) -> bool {
    scheme_and_rest(store).is_some()
}

pub(super) fn redis_settings(
    store: &str,
    file: Option<&FileRedis>,
) -> Result<RedisSettings, ConfigError> {
    let Some((scheme, rest)) = scheme_and_rest(store) else {
        return Err(invalid("store", STORE_FORMS));
    };
    let sentinel_keys = file.is_some_and(|redis| {
        redis.sentinel_password_env.is_some() || redis.sentinel_password_file.is_some()
    });
    if sentinel_keys && !matches!(scheme, Scheme::Sentinel { .. }) {
        return Err(invalid(
            "redis.sentinel_password_env",
            "redis.sentinel_password_env and _file are for a redis-sentinel:// store only",
        ));
    }
    let (Scheme::Single { tls } | Scheme::Sentinel { tls } | Scheme::Cluster { tls }) = scheme;
    let deployment = match scheme {
        Scheme::Single { .. } => RedisDeployment::Single {
            url: Secret::new(store),
        },
        Scheme::Sentinel { tls } => {
            let (hosts, master_name) = rest.split_once('/').ok_or_else(|| {
                invalid(
                    "store",
                    "redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME: the master's name is missing",
                )
            })?;
            if master_name.is_empty() || master_name.contains(['/', '?', '#', ' ']) {
                return Err(invalid(
                    "store",
                    "redis-sentinel://…/MASTER_NAME: the master's name is empty or not a plain name",
                ));
            }
            RedisDeployment::Sentinel {
                sentinels: nodes(hosts, DEFAULT_SENTINEL_PORT)?,
                master_name: master_name.to_owned(),
                tls,
                sentinel_password: sentinel_password(file)?,
            }
        }
        Scheme::Cluster { tls } => RedisDeployment::Cluster {
            seeds: nodes(rest.strip_suffix('/').unwrap_or(rest), DEFAULT_REDIS_PORT)?,
            tls,
        },
    };
    Ok(RedisSettings {
        deployment,
        password: password(file)?,
        replica_ack: replica_ack(file)?,
        certificates: redis_tls::certificates(file, tls)?,
    })
}

enum Scheme {
    Single { tls: bool },
    Sentinel { tls: bool },
    Cluster { tls: bool },
}

fn scheme_and_rest(store: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = store.split_once("://")?;
    let scheme = match scheme {
        "redis" => Scheme::Single { tls: false },
        "rediss" => Scheme::Single { tls: true },
        "redis-sentinel" => Scheme::Sentinel { tls: false },
        "rediss-sentinel" => Scheme::Sentinel { tls: true },
        "redis-cluster" => Scheme::Cluster { tls: false },
        "rediss-cluster" => Scheme::Cluster { tls: true },
        _ => return None,
    };
    Some((scheme, rest))
}

/// `HOST[:PORT],HOST[:PORT],...` (an IPv6 host in brackets).
fn nodes(list: &str, default_port: u16) -> Result<Vec<RedisNode>, ConfigError> {
    if list.contains('@') {
        return Err(invalid(
            "store",
            "no credentials in a redis-sentinel:// or redis-cluster:// URL: give the data nodes' \
             password in redis.password_env, redis.password_file or MEETEASY_REDIS_PASSWORD (and \
             the sentinels' own in redis.sentinel_password_env or _file)",
        ));
    }
    let nodes = list
        .split(',')
        .map(|node| parse_node(node.trim(), default_port))
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err(invalid("store", "name at least one HOST:PORT"));
    }
    Ok(nodes)
}

fn parse_node(node: &str, default_port: u16) -> Result<RedisNode, ConfigError> {
    let bad = || invalid("store", format!("{node:?} is not HOST:PORT"));
    let (host, port) = if let Some(bracketed) = node.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match node.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (node, None),
        }
    };
    // Only a bracketed (IPv6) host may hold colons.
    let bracketed = node.starts_with('[');
    let stray =
        |c: char| matches!(c, '/' | '?' | '#' | ' ' | '[' | ']') || (c == ':' && !bracketed);
    if host.is_empty() || host.contains(stray) {
        return Err(bad());
    }
    let port = match port {
        None => default_port,
        Some(port) => port
            .parse()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(bad)?,
    };
    Ok(RedisNode {
        host: host.to_owned(),
        port,
    })
}

/// Where one password may come from: the config's `<name>_env` or `<name>_file` keys, else the
/// environment variable `default_env`.
struct PasswordSource<'a> {
    env_key: &'static str,
    file_key: &'static str,
    from_env: Option<&'a str>,
    from_file: Option<&'a std::path::Path>,
    default_env: &'static str,
}

/// The data nodes' password.
fn password(file: Option<&FileRedis>) -> Result<Option<Secret>, ConfigError> {
    read_password(PasswordSource {
        env_key: "redis.password_env",
        file_key: "redis.password_file",
        from_env: file.and_then(|redis| redis.password_env.as_deref()),
        from_file: file.and_then(|redis| redis.password_file.as_deref()),
        default_env: PASSWORD_ENV,
    })
}

/// The sentinels' own password (their `requirepass`), none unless given: Redis keeps it apart from
/// the data nodes' (which the sentinels reach with `sentinel auth-pass`).
fn sentinel_password(file: Option<&FileRedis>) -> Result<Option<Secret>, ConfigError> {
    read_password(PasswordSource {
        env_key: "redis.sentinel_password_env",
        file_key: "redis.sentinel_password_file",
        from_env: file.and_then(|redis| redis.sentinel_password_env.as_deref()),
        from_file: file.and_then(|redis| redis.sentinel_password_file.as_deref()),
        default_env: SENTINEL_PASSWORD_ENV,
    })
}

/// The password `source` names; one given but empty is refused (Redis would refuse it only at
/// the first connection, as a wrong password), naming where it came from.
fn read_password(source: PasswordSource<'_>) -> Result<Option<Secret>, ConfigError> {
    let (env_key, file_key) = (source.env_key, source.file_key);
    let (password, key, whence) = match (source.from_env, source.from_file) {
        (Some(_), Some(_)) => {
            let both = format!("give only one of {env_key} and {file_key}");
            return Err(invalid(env_key, both));
        }
        (Some(var), None) => {
            let unset = || invalid(env_key, format!("the variable {var} is not set"));
            let password = secret_from_env(env_key, var)?.ok_or_else(unset)?;
            (Some(password), env_key, format!("the variable {var}"))
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                invalid(file_key, format!("cannot read {}: {error}", path.display()))
            })?;
            let whence = path.display().to_string();
            (Some(Secret::new(text.trim())), file_key, whence)
        }
        (None, None) => {
            let var = source.default_env;
            let password = secret_from_env(env_key, var)?;
            (password, env_key, format!("the variable {var}"))
        }
    };
    if password
        .as_ref()
        .is_some_and(|password| password.expose().is_empty())
    {
        let empty = format!("{whence} holds an empty password: give one, or none at all");
        return Err(invalid(key, empty));
    }
    Ok(password)
}

fn replica_ack(file: Option<&FileRedis>) -> Result<Option<ReplicaAck>, ConfigError> {
    let replicas = file.and_then(|redis| redis.wait_replicas).unwrap_or(0);
    let timeout_ms = file
        .and_then(|redis| redis.wait_timeout_ms)
        .unwrap_or(DEFAULT_WAIT_TIMEOUT_MS);
    if !WAIT_TIMEOUT_MS.contains(&timeout_ms) {
        return Err(invalid(
            "redis.wait_timeout_ms",
            format!(
                "must be {} to {} milliseconds, not {timeout_ms}",
                WAIT_TIMEOUT_MS.start(),
                WAIT_TIMEOUT_MS.end()
            ),
        ));
    }
    Ok((replicas > 0).then_some(ReplicaAck {
        replicas,
        timeout: Duration::from_millis(timeout_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16) -> RedisNode {
        RedisNode {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn sentinel_urls_name_the_sentinels_and_the_master() {
        let settings =
            redis_settings("redis-sentinel://10.0.0.1:26380,[::1],s3/mymaster", None).unwrap();
        let RedisDeployment::Sentinel {
            sentinels,
            master_name,
            tls,
            sentinel_password,
        } = settings.deployment
        else {
            panic!("not a sentinel deployment: {:?}", settings.deployment);
        };
        assert_eq!(
            sentinels,
            [
                node("10.0.0.1", 26380),
                node("::1", 26379),
                node("s3", 26379)
            ]
        );
        assert_eq!(master_name, "mymaster");
        assert!(!tls);
        assert!(sentinel_password.is_none(), "none unless given");
        assert!(settings.replica_ack.is_none());
    }

    #[test]
    fn cluster_urls_name_seed_nodes() {
        let settings = redis_settings("rediss-cluster://a:7000,b/", None).unwrap();
        let RedisDeployment::Cluster { seeds, tls } = settings.deployment else {
            panic!("not a cluster deployment: {:?}", settings.deployment);
        };
        assert_eq!(seeds, [node("a", 7000), node("b", 6379)]);
        assert!(tls);
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "redis-sentinel://a:26379",
            "redis-sentinel://a:26379/",
            "redis-sentinel://a:26379/x/y",
            "redis-sentinel://user:pw@a:26379/m",
            "redis-cluster://",
            "redis-cluster://a:0",
            "redis-cluster://a:port",
            "redis-cluster://a:1,,b:2",
            "redis-cluster://[::1",
            "memcached://a",
        ] {
            assert!(redis_settings(url, None).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn replicas_are_waited_for_only_when_configured() {
        let file = FileRedis {
            wait_replicas: Some(1),
            wait_timeout_ms: Some(200),
            ..FileRedis::default()
        };
        let settings = redis_settings("redis://127.0.0.1:6379", Some(&file)).unwrap();
        assert_eq!(
            settings.replica_ack,
            Some(ReplicaAck {
                replicas: 1,
                timeout: Duration::from_millis(200)
            })
        );
        let too_long = FileRedis {
            wait_replicas: Some(1),
            wait_timeout_ms: Some(60_000),
            ..FileRedis::default()
        };
        assert!(redis_settings("redis://127.0.0.1:6379", Some(&too_long)).is_err());
    }

    /// An empty password file is a mistake to say at start, not a password Redis refuses later.
    #[test]
    fn an_empty_password_is_refused_naming_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("password");
        std::fs::write(&empty, " \n").unwrap();
        let file = FileRedis {
            password_file: Some(empty.clone()),
            ..FileRedis::default()
        };
        let refused = redis_settings("redis-cluster://a:7000", Some(&file)).unwrap_err();
        let said = refused.to_string();
        assert!(
            said.contains("redis.password_file") && said.contains("empty password"),
            "{said}"
        );
        assert!(said.contains(&empty.display().to_string()), "{said}");
    }

    /// The sentinels' password is their own: read from its file key, never the data nodes'.
    #[test]
    fn the_sentinels_password_is_kept_apart_from_the_data_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let (data, sentinels) = (dir.path().join("data"), dir.path().join("sentinels"));
        std::fs::write(&data, "data secret\n").unwrap();
        std::fs::write(&sentinels, "sentinel secret\n").unwrap();
        let file = FileRedis {
            password_file: Some(data),
            sentinel_password_file: Some(sentinels.clone()),
            ..FileRedis::default()
        };
        let settings = redis_settings("redis-sentinel://s1/m", Some(&file)).unwrap();
        let RedisDeployment::Sentinel {
            sentinel_password, ..
        } = &settings.deployment
        else {
            panic!("not a sentinel deployment");
        };
        let expose = |secret: &Option<Secret>| secret.as_ref().map(|s| s.expose().to_owned());
        assert_eq!(expose(&settings.password).as_deref(), Some("data secret"));
        assert_eq!(
            expose(sentinel_password).as_deref(),
            Some("sentinel secret")
        );
        let both = FileRedis {
            sentinel_password_env: Some("SOME_VARIABLE".into()),
            sentinel_password_file: Some(sentinels),
            ..FileRedis::default()
        };
        let refused = redis_settings("redis-sentinel://s1/m", Some(&both)).unwrap_err();
        assert!(
            refused.to_string().contains("sentinel_password"),
            "{refused}"
        );
        for elsewhere in ["redis://127.0.0.1:6379", "redis-cluster://a:7000"] {
            let refused = redis_settings(elsewhere, Some(&file)).unwrap_err();
            let said = refused.to_string();
            assert!(said.contains("redis-sentinel:// store only"), "{said}");
        }
    }
}
