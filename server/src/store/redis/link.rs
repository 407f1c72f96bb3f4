//! The command connection of a Redis store, whichever deployment it talks to: one server (a
//! connection manager that reconnects by itself), a Sentinel-watched master (found again after a
//! failover), or a Cluster (the crate's cluster client follows MOVED/ASK and refreshes the topology).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, Pipeline, PushInfo, PushKind, RedisError,
    RedisFuture, RedisResult, Value,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::ReplicaAck;

pub(super) enum Link {
    Single(Lanes<ConnectionManager>),
    Sentinel(Arc<SentinelLink>),
    /// The connections, and the way to tell the subscriptions' listener that a node was lost (see
    /// [`Link::failed`]).
    Cluster(Lanes<ClusterConnection>, UnboundedSender<PushInfo>),
}

/// Which connections an operation goes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// Reads, scripts, notifications, and writes nobody waits on replicas for.
    Commands,
    /// A write followed by its `WAIT`. Redis reads nothing more from a connection while a `WAIT`
    /// blocks it, so these go over connections of their own: a replica that is slow or down holds
    /// up the writes that wait for it, never a read, a poll or `/readyz`.
    Waited,
}

/// How many connections carry waited writes (see [`Lane::Waited`]) when replicas are waited for:
/// so many writes may wait for their replicas at once, where one connection would have each wait
/// for the ones before it.
pub(super) const WAITED_CONNECTIONS: usize = 4;

/// The connections of a deployment (or of a Sentinel's current master), one per [`Lane`]'s use.
pub(super) struct Lanes<C> {
    commands: C,
    /// Empty when no replica is waited for.
    waited: Vec<C>,
    /// The waited connection the next waited write takes, in turn.
    turn: AtomicUsize,
}

impl<C: Clone> Lanes<C> {
    /// The commands' connection and `waited` more, each made by `connect`.
    pub(super) async fn connect<E, Connecting>(
        waited: usize,
        connect: impl Fn() -> Connecting,
    ) -> Result<Self, E>
    where
        Connecting: Future<Output = Result<C, E>>,
    {
        let commands = connect().await?;
        let mut waited_connections = Vec::with_capacity(waited);
        for _ in 0..waited {
            waited_connections.push(connect().await?);
        }
        Ok(Self {
            commands,
            waited: waited_connections,
            turn: AtomicUsize::new(0),
        })
    }

    fn connection(&self, lane: Lane) -> C {
        match (lane, self.waited.len()) {
            (Lane::Commands, _) | (Lane::Waited, 0) => self.commands.clone(),
            (Lane::Waited, count) => {
                let turn = self.turn.fetch_add(1, Ordering::Relaxed);
                self.waited[turn % count].clone()
            }
        }
    }
}

impl Link {
    /// A handle to send one operation on, over `lane`, and for Sentinel which connections to the
    /// master it is of (their [`MasterGeneration`]). For Sentinel this may ask the sentinels where
    /// the master is, when the last connection to it failed.
    pub(super) async fn handle(&self, lane: Lane) -> RedisResult<(Handle, MasterGeneration)> {
        Ok(match self {
            Self::Single(lanes) => (Handle::Manager(lanes.connection(lane)), None),
            Self::Sentinel(sentinel) => {
                let (connection, generation) = sentinel.connection(lane).await?;
                (Handle::Multiplexed(connection), Some(generation))
            }
            Self::Cluster(lanes, _) => (Handle::Cluster(lanes.connection(lane)), None),
        })
    }

    /// Learns from a failed operation over `lane`: a Sentinel master that went away or was
    /// demoted to a replica is looked up again before the next operation; one that refuses writes
    /// for want of replicas is doubted (see [`Link::fell_short`]). A Cluster node that went
    /// away, or answers nothing (a master that hangs or is cut off only times out), has its
    /// subscriptions renewed wherever its slots are served next: the cluster client reports a lost
    /// connection to the listener, but a failover was seen to leave a master's channels
    /// unsubscribed with no report, while the commands' connection had met the dead node. (The
    /// connections themselves reconnect by themselves.) `sent_on` is the generation of the
    /// Sentinel master's connections the operation went over, if it got one: a late failure of
    /// connections already replaced says nothing of the new ones. Nor does a waited write's
    /// timeout: it may have queued behind other writes' `WAIT`s while a replica lags.
    pub(super) fn failed(&self, error: &RedisError, lane: Lane, sent_on: MasterGeneration) {
        let node_lost = node_may_be_lost(error, lane);
        match self {
            Self::Sentinel(sentinel) if node_lost || is_readonly(error) => {
                sentinel.forget_master(sent_on);
            }
            // A master set to refuse writes without replicas (`min-replicas-to-write`) says so
            // instead of letting a `WAIT` fall short: it may be deposed just the same.
            Self::Sentinel(sentinel) if error.code() == Some("NOREPLICAS") => {
                sentinel.doubt_master();
            }
            Self::Cluster(_, listener) if node_lost || error.is_connection_refusal() => {
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

    /// Learns from a write that fewer replicas acknowledged than it waits for: behind Sentinel, the
    /// master may have been replaced while it still answers here (see
    /// [`SentinelLink::doubt_master`]). Elsewhere a replica is lagging or down, which the next
    /// writes' `WAIT`s find out for themselves.
    pub(super) fn fell_short(&self) {
        match self {
            Self::Sentinel(sentinel) => sentinel.doubt_master(),
            Self::Single(_) | Self::Cluster(..) => {}
        }
    }
}

/// Whether `error`, met over `lane`, says the node may have gone away or hang: a broken connection,
/// or a timeout of anything but a waited write (which may only have queued behind other writes'
/// `WAIT`s while a replica lags: taking that for a lost node would renew every subscription, and
/// wake every waiting long-poll, for as long as the replica lags).
fn node_may_be_lost(error: &RedisError, lane: Lane) -> bool {
    // The client reports a response timeout as an I/O error too.
    let broken = (error.is_io_error() && !error.is_timeout()) || error.is_connection_dropped();
    broken || (error.is_timeout() && lane == Lane::Commands)
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

/// Which connections to a Sentinel's master an operation went over: they are counted as they are
/// made (`None`: not over such connections, or none could be made).
pub(super) type MasterGeneration = Option<u64>;

/// The master of one Sentinel-watched service: asked of the sentinels when first needed, again
/// after a connection to it failed, so a failover is followed within one failed operation, and
/// again by the listener (see [`SentinelLink::leave_a_deposed_master`]) for a master replaced while
/// it still answers. Every lane's connection to the master is made, and dropped, together: a
/// write's lane never talks to a new master while reads go on at the demoted one.
pub(super) struct SentinelLink {
    /// Asks for the master it was built for. Also serialises lookups: a failover's burst of failed
    /// operations asks the sentinels once.
    sentinel: tokio::sync::Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    /// How many [`Lane::Waited`] connections each master gets.
    waited: usize,
    /// The current master's connections and their generation. Shared, so that an operation takes
    /// it without copying the address (with TLS, its certificates and key).
    master: Mutex<Option<Arc<CurrentMaster>>>,
    /// The generation the next master's connections get.
    next_generation: AtomicU64,
    /// Asks the listener to ask the sentinels now whether the master moved (a write fell short of
    /// its replicas), rather than at its next regular check.
    doubted: tokio::sync::Notify,
}

/// The node the sentinels named as master, and this link's connections to it.
struct CurrentMaster {
    generation: u64,
    address: ConnectionAddr,
    lanes: Lanes<MultiplexedConnection>,
}

impl SentinelLink {
    pub(super) fn new(
        sentinel: SentinelClient,
        config: AsyncConnectionConfig,
        waited: usize,
    ) -> Self {
        Self {
            sentinel: tokio::sync::Mutex::new(sentinel),
            config,
            waited,
            master: Mutex::new(None),
            next_generation: AtomicU64::new(0),
            doubted: tokio::sync::Notify::new(),
        }
    }

    /// A client for the current master (it was checked to call itself master a moment ago).
    pub(super) async fn master_client(&self) -> RedisResult<Client> {
        self.sentinel.lock().await.async_get_client().await
    }

    async fn connection(&self, lane: Lane) -> RedisResult<(MultiplexedConnection, u64)> {
        let master = match self.current() {
            Some(current) => current,
            // Boxed: asking the sentinels and connecting hold several KiB of the client's futures,
            // which every operation's future would otherwise carry (and allocate, beyond the
            // allocator's thread cache, on every call).
            None => Box::pin(self.find_master()).await?,
        };
        Ok((master.lanes.connection(lane), master.generation))
    }

    async fn find_master(&self) -> RedisResult<Arc<CurrentMaster>> {
        let mut sentinel = self.sentinel.lock().await;
        // Another operation may have found the master while this one waited for the lock.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let client = sentinel.async_get_client().await?;
        let connect = || client.get_multiplexed_async_connection_with_config(&self.config);
        let lanes = Lanes::connect(self.waited, connect).await?;
        let found = Arc::new(CurrentMaster {
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
            address: client.get_connection_info().addr().clone(),
            lanes,
        });
        *self.master.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&found));
        Ok(found)
    }

    fn current(&self) -> Option<Arc<CurrentMaster>> {
        self.master
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the master's connections, so the next operation asks the sentinels again, unless the
    /// failure was of connections already replaced (`failed_on` older than the current ones).
    fn forget_master(&self, failed_on: MasterGeneration) {
        let mut master = self.master.lock().unwrap_or_else(PoisonError::into_inner);
        let current = master.as_ref().map(|master| master.generation);
        if failed_on.is_none() || failed_on == current {
            *master = None;
        }
    }

    /// A write reached fewer replicas than it waits for. The master may have lost a replica, or
    /// been replaced while it still answers here (cut off from the sentinels and its replicas, it
    /// is not demoted, and takes writes that no replica will ever see): the listener asks the
    /// sentinels now (see [`SentinelLink::doubt_asked`]).
    pub(super) fn doubt_master(&self) {
        self.doubted.notify_one();
    }

    /// Resolves once a write has doubted the master since this was last resolved.
    pub(super) async fn doubt_asked(&self) {
        self.doubted.notified().await;
    }

    /// Asks the sentinels which node is master now and drops this link's connections to any other,
    /// so the next operation connects to the one named. Answers the node named. A master that a
    /// failover demoted says so (`READONLY`) and is left at once (see [`Link::failed`]); one
    /// replaced while cut off from the sentinels goes on calling itself master, and only this
    /// finds it deposed.
    pub(super) async fn leave_a_deposed_master(&self) -> RedisResult<ConnectionAddr> {
        // Held until the connections are judged, as a lookup holds it until they are made: an
        // answer older than the master a lookup found meanwhile must not drop that one.
        let mut sentinel = self.sentinel.lock().await;
        let named = sentinel.async_get_client().await?;
        let named = named.get_connection_info().addr().clone();
        let mut master = self.master.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(deposed) = master.take_if(|current| current.address != named) {
            tracing::warn!(
                deposed = %deposed.address,
                master = %named,
                "the sentinels name another Redis master than the one this instance writes to: leaving it"
            );
        }
        Ok(named)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use super::*;

    #[test]
    fn a_waited_write_timing_out_says_nothing_of_the_node() {
        let error = |kind| RedisError::from(Error::from(kind));
        assert!(!node_may_be_lost(&error(ErrorKind::TimedOut), Lane::Waited));
        assert!(node_may_be_lost(
            &error(ErrorKind::TimedOut),
            Lane::Commands
        ));
        for lane in [Lane::Commands, Lane::Waited] {
            assert!(node_may_be_lost(&error(ErrorKind::ConnectionReset), lane));
        }
    }
}
