//! The command connection of a Redis store, whichever deployment it talks to: one server (a
//! connection manager that reconnects by itself), a Sentinel-watched master (found again after a
//! failover), or a Cluster (the crate's cluster client follows MOVED/ASK and refreshes the topology).

use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{
    AsyncConnectionConfig, Client, Cmd, Pipeline, PushInfo, PushKind, RedisError, RedisFuture,
    RedisResult, Value,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::ReplicaAck;

pub(super) enum Link {
    Single(ConnectionManager),
    Sentinel(Arc<SentinelLink>),
    /// The commands' connection, and the way to tell the subscriptions' listener that a node was
    /// lost (see [`Link::failed`]).
    Cluster(ClusterConnection, UnboundedSender<PushInfo>),
}

impl Link {
    /// A handle to send one operation on. For Sentinel this may ask the sentinels where the master
    /// is, when the last connection to it failed.
    pub(super) async fn handle(&self) -> RedisResult<Handle> {
        Ok(match self {
            Self::Single(manager) => Handle::Manager(manager.clone()),
            Self::Sentinel(sentinel) => Handle::Multiplexed(sentinel.connection().await?),
            Self::Cluster(cluster, _) => Handle::Cluster(cluster.clone()),
        })
    }

    /// Learns from a failed operation: a Sentinel master that went away or was demoted to a
    /// replica is looked up again before the next operation. A Cluster node that went away has its
    /// subscriptions renewed wherever its slots are served next: the cluster client reports a lost
    /// connection to the listener, but a failover was seen to leave a master's channels
    /// unsubscribed with no report, while the commands' connection had met the dead node. (The
    /// connections themselves reconnect by themselves.)
    pub(super) fn failed(&self, error: &RedisError) {
        let node_gone = error.is_io_error() || error.is_connection_dropped();
        match self {
            Self::Sentinel(sentinel) if node_gone || error.is_timeout() || is_readonly(error) => {
                sentinel.forget_master();
            }
            Self::Cluster(_, listener) if node_gone || error.is_connection_refusal() => {
                let lost = PushInfo {
                    kind: PushKind::Disconnection,
                    data: Vec::new(),
                };
                // The listener gone means the store is going: nothing to renew.
                let _listener_gone = listener.send(lost);
            }
            Self::Single(_) | Self::Sentinel(_) | Self::Cluster(..) => {}
        }
    }
}

/// A write sent to a node that is no longer the master: it was not carried out, so it is safe to
/// send again once the new master is known.
pub(super) fn is_readonly(error: &RedisError) -> bool {
    error.code() == Some("READONLY")
}

/// One operation's connection.
pub(super) enum Handle {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// `WAIT`: until `ack.replicas` replicas have every write the connection sent before it, or
/// `ack.timeout`; answers how many did.
pub(super) fn wait_command(ack: ReplicaAck) -> Cmd {
    let timeout_ms = u64::try_from(ack.timeout.as_millis()).unwrap_or(u64::MAX);
    redis::cmd("WAIT").arg(ack.replicas).arg(timeout_ms).clone()
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Manager(connection) => connection.req_packed_command(cmd),
            Self::Multiplexed(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Manager(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Multiplexed(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Manager(connection) => connection.get_db(),
            Self::Multiplexed(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The master of one Sentinel-watched service: asked of the sentinels when first needed and again
/// after the connection to it failed, so a failover is followed within one failed operation.
pub(super) struct SentinelLink {
    /// Asks for the master it was built for. Also serialises lookups: a failover's burst of failed
    /// operations asks the sentinels once.
    sentinel: tokio::sync::Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    master: Mutex<Option<MultiplexedConnection>>,
}

impl SentinelLink {
    pub(super) fn new(sentinel: SentinelClient, config: AsyncConnectionConfig) -> Self {
        Self {
            sentinel: tokio::sync::Mutex::new(sentinel),
            config,
            master: Mutex::new(None),
        }
    }

    /// A client for the current master (it was checked to call itself master a moment ago).
    pub(super) async fn master_client(&self) -> RedisResult<Client> {
        self.sentinel.lock().await.async_get_client().await
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        match self.current() {
            Some(connection) => Ok(connection),
            // Boxed: asking the sentinels and connecting hold several KiB of the client's futures,
            // which every operation's future would otherwise carry (and allocate, beyond the
            // allocator's thread cache, on every call).
            None => Box::pin(self.find_master()).await,
        }
    }

    async fn find_master(&self) -> RedisResult<MultiplexedConnection> {
        let mut sentinel = self.sentinel.lock().await;
        // Another operation may have found the master while this one waited for the lock.
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let client = sentinel.async_get_client().await?;
        let connection = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        *self.master.lock().unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
        Ok(connection)
    }

    fn current(&self) -> Option<MultiplexedConnection> {
        self.master
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn forget_master(&self) {
        *self.master.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
