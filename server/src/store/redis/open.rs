//! Opening a Redis store: the command connection and the notification listener of one server, a
//! Sentinel-watched master or a Cluster, over TLS with the configured certificates where the URL
//! says `rediss`.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo,
    IntoConnectionInfo, ProtocolVersion, RedisConnectionInfo, RedisError, RedisResult,
    TlsCertificates, TlsMode,
};
use tokio::task::JoinHandle;

use super::keys::KeyLayout;
use super::link::{Lanes, Link, SentinelLink, WAITED_CONNECTIONS};
use super::{
    CONNECT_TIMEOUT, MAX_CLUSTER_RETRY_DELAY_MILLIS, RESPONSE_TIMEOUT, RETRY_DELAY,
    RETRY_DELAY_MILLIS, bounded, certificate_hint, listener, sharded, unreachable,
};
use crate::config::{RedisCertificates, RedisDeployment, RedisNode, RedisSettings};
use crate::store::StoreError;
use crate::store::notify::NotifyHub;

/// What a store runs on: its command connection, how its keys are spelled, and its notifications.
pub(super) type Opened = (Link, KeyLayout, NotifyHub, JoinHandle<()>);

/// Connects to the deployment `settings` name and starts its notification listener.
pub(super) async fn open(settings: &RedisSettings) -> Result<Opened, StoreError> {
    let password = settings.password.as_ref().map(|secret| secret.expose());
    let certificates = tls_certificates(&settings.certificates);
    // Waited writes get connections of their own only when something is waited for.
    let waited = match settings.replica_ack {
        Some(_) => WAITED_CONNECTIONS,
        None => 0,
    };
    match &settings.deployment {
        RedisDeployment::Single { url } => {
            open_single(url.expose(), password, certificates, waited).await
        }
        RedisDeployment::Sentinel {
            sentinels,
            master_name,
            tls,
            sentinel_password,
        } => {
            let sentinels_password = sentinel_password.as_ref().map(|secret| secret.expose());
            let to = SentinelAccess {
                sentinels,
                master_name,
                tls: *tls,
                sentinels_password,
            };
            open_sentinel(to, password, certificates, waited).await
        }
        RedisDeployment::Cluster { seeds, tls } => {
            open_cluster(seeds, *tls, password, certificates, waited).await
        }
    }
}

/// The certificates as the client takes them; `None` when none is configured, and the client
/// trusts the system's store and shows no certificate of its own.
fn tls_certificates(certificates: &RedisCertificates) -> Option<TlsCertificates> {
    let RedisCertificates { trusted, client } = certificates;
    if trusted.is_none() && client.is_none() {
        return None;
    }
    Some(TlsCertificates {
        client_tls: client.as_ref().map(|client| ClientTlsConfig {
            client_cert: client.chain.clone(),
            client_key: client.key.expose().as_bytes().to_vec(),
        }),
        root_cert: trusted.clone(),
    })
}

/// A configured certificate the client could not use. The config parsed the files at start as the
/// client parses them, so this says what the client found should it ever differ.
fn unusable_certificates(error: RedisError) -> StoreError {
    StoreError::Unavailable(format!(
        "the Redis TLS certificates (redis.tls_*) cannot be used: {error}"
    ))
}

/// A client that could not be built from `what` (the sentinels, the cluster seeds), nor, when
/// they are configured, from the TLS certificates, which these builders take in the same step.
fn not_valid(what: &'static str, certificates: bool) -> impl Fn(RedisError) -> StoreError {
    let or = if certificates {
        " or the Redis TLS certificates (redis.tls_*)"
    } else {
        ""
    };
    move |error| StoreError::Unavailable(format!("{what}{or} are not valid: {error}"))
}

async fn open_single(
    url: &str,
    password: Option<&str>,
    certificates: Option<TlsCertificates>,
    waited: usize,
) -> Result<Opened, StoreError> {
    // The URL may carry a password: it never goes into an error message.
    let invalid_url =
        |error: RedisError| StoreError::Unavailable(format!("the Redis URL is not valid: {error}"));
    let connection_info = url.into_connection_info().map_err(invalid_url)?;
    // Over RESP3 the connection manager learns at once that its connection dropped and
    // reconnects before the next command, instead of failing that command (Redis 6 and later
    // speak RESP3; GETDEL needs 6.2 anyway).
    let mut settings = connection_info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    // A password in the URL wins, so a URL that worked before means what it meant.
    if let Some(password) = password
        && settings.password().is_none()
    {
        settings = settings.set_password(password);
    }
    let connection_info = connection_info.set_redis_settings(settings);
    let client = match certificates {
        None => Client::open(connection_info).map_err(invalid_url)?,
        Some(certificates) => {
            Client::build_with_tls(connection_info, certificates).map_err(unusable_certificates)?
        }
    };
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(RETRY_DELAY)
        .set_max_delay(Duration::from_secs(1));
    let connect = || {
        let connecting = ConnectionManager::new_with_config(client.clone(), config.clone());
        bounded(async { connecting.await.map_err(unreachable) })
    };
    let lanes = Lanes::connect(waited, connect).await?;
    let source = listener::Source::Server(Box::new(client));
    let (hub, listener) = start_listener(source).await?;
    Ok((Link::Single(lanes), KeyLayout::Plain, hub, listener))
}

/// How to reach a Sentinel-watched master: the sentinels, with their own password if they have one.
struct SentinelAccess<'a> {
    sentinels: &'a [RedisNode],
    master_name: &'a str,
    tls: bool,
    sentinels_password: Option<&'a str>,
}

/// Connects through the sentinels (`to`) to the master, which takes `password`; over TLS both
/// the sentinels and the master are shown `certificates`' client certificate.
async fn open_sentinel(
    to: SentinelAccess<'_>,
    password: Option<&str>,
    certificates: Option<TlsCertificates>,
    waited: usize,
) -> Result<Opened, StoreError> {
    let SentinelAccess {
        sentinels,
        master_name,
        tls,
        sentinels_password,
    } = to;
    let addresses = sentinels.iter().map(|node| node_address(node, tls));
    let invalid = not_valid("the sentinels", certificates.is_some());
    let mut builder =
        SentinelClientBuilder::new(addresses, master_name, SentinelServerType::Master)
            .map_err(not_valid("the sentinels", false))?
            .set_client_to_sentinel_protocol(ProtocolVersion::RESP3)
            .set_client_to_redis_protocol(ProtocolVersion::RESP3);
    if let Some(password) = sentinels_password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    if let Some(password) = password {
        builder = builder.set_client_to_redis_password(password);
    }
    if tls {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
    }
    if let Some(certificates) = certificates {
        builder = builder
            .set_client_to_sentinel_certificates(certificates.clone())
            .set_client_to_redis_certificates(certificates);
    }
    let sentinel = builder.build().map_err(invalid)?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let link = Arc::new(SentinelLink::new(sentinel, config, waited));
    let (hub, listener) = start_listener(listener::Source::Sentinel(link.clone())).await?;
    Ok((Link::Sentinel(link), KeyLayout::Plain, hub, listener))
}

async fn open_cluster(
    seeds: &[RedisNode],
    tls: bool,
    password: Option<&str>,
    certificates: Option<TlsCertificates>,
    waited: usize,
) -> Result<Opened, StoreError> {
    let (push_sender, pushes) = tokio::sync::mpsc::unbounded_channel();
    let node_lost = push_sender.clone();
    let invalid = not_valid("the cluster seeds", certificates.is_some());
    let mut builder = ClusterClientBuilder::new(node_infos(seeds, tls, password)?);
    if let Some(certificates) = certificates {
        builder = builder.certs(certificates);
    }
    let client = builder
        // Sharded pub/sub arrives as RESP3 pushes on the command connections themselves.
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(push_sender)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        // A node that answers "not now" (`TRYAGAIN` to a script over a moving slot's keys,
        // `CLUSTERDOWN` during a failover) is asked again after a tenth of a second, then up to
        // half a second, not after the client's own 1.28 s at least: a one-slot batch meets
        // `TRYAGAIN` for as long as its slot is moving, and every operation has 2 s.
        .min_retry_wait(RETRY_DELAY_MILLIS)
        .max_retry_wait(MAX_CLUSTER_RETRY_DELAY_MILLIS)
        .build()
        .map_err(invalid)?;
    let connect = || cluster_connection(client.clone());
    let lanes = Lanes::connect(waited, connect).await?;
    // The subscriptions get connections of their own: their pushes (and the unsubscribe pushes a
    // failover sends) never share a connection with the commands, so a command never waits behind
    // them. The client routes every connection's pushes to `pushes`.
    let listening = connect().await?;
    let (hub, topics) = NotifyHub::with_topic_events();
    let listen = sharded::listen(client, listening, hub.clone(), topics, pushes);
    let listener = tokio::spawn(listen);
    Ok((
        Link::Cluster(lanes, node_lost),
        KeyLayout::Tagged,
        hub,
        listener,
    ))
}

async fn start_listener(
    source: listener::Source,
) -> Result<(NotifyHub, JoinHandle<()>), StoreError> {
    let subscribed = listener::subscribe(&source).await.map_err(|error| {
        let hint = certificate_hint(&error);
        // Worded as any first connection's failure: through sentinels this is the first.
        StoreError::Unavailable(format!(
            "cannot connect to Redis: {error}{hint} (subscribing to its notifications)"
        ))
    })?;
    let hub = NotifyHub::default();
    let listener = tokio::spawn(listener::listen(source, hub.clone(), subscribed));
    Ok((hub, listener))
}

/// The address of one node named in a sentinel or cluster URL.
fn node_address(node: &RedisNode, tls: bool) -> ConnectionAddr {
    if tls {
        ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(node.host.clone(), node.port)
    }
}

/// How to reach one node named in a cluster URL.
fn node_info(node: &RedisNode, tls: bool, password: Option<&str>) -> RedisResult<ConnectionInfo> {
    Ok(node_address(node, tls)
        .into_connection_info()?
        .set_redis_settings(redis_settings(password)))
}

fn node_infos(
    nodes: &[RedisNode],
    tls: bool,
    password: Option<&str>,
) -> Result<Vec<ConnectionInfo>, StoreError> {
    nodes
        .iter()
        .map(|node| node_info(node, tls, password))
        .collect::<RedisResult<_>>()
        .map_err(|error| StoreError::Unavailable(format!("a Redis node is not valid: {error}")))
}

fn redis_settings(password: Option<&str>) -> RedisConnectionInfo {
    let settings = RedisConnectionInfo::default().set_protocol(ProtocolVersion::RESP3);
    match password {
        Some(password) => settings.set_password(password),
        None => settings,
    }
}

/// A fresh connection to the cluster `client` reaches, within [`super::OPERATION_TIMEOUT`].
pub(super) async fn cluster_connection(
    client: ClusterClient,
) -> Result<ClusterConnection, StoreError> {
    bounded(async { client.get_async_connection().await.map_err(unreachable) }).await
}
