//! The one pub/sub connection of a Redis store on one server or behind Sentinel: it receives every
//! instance's notifications and hands them to this instance's [`NotifyHub`]. When the connection is
//! lost it reconnects with capped backoff (behind Sentinel, to the master the sentinels name then, so a
//! failover is followed) and then wakes every waiter, since notifications sent meanwhile were missed.
//! Behind Sentinel it also asks the sentinels now and then whether they named another master: one
//! replaced while cut off from them goes on answering here, closes nothing, and hears none of the
//! notifications sent to its successor.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use redis::{Client, ConnectionAddr, RedisError};

use super::CONNECT_TIMEOUT;
use super::keys::NOTIFY_CHANNEL_PREFIX;
use super::link::SentinelLink;
use crate::store::NotifyHub;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the idle connection is checked: a silently dead one would otherwise lose notifications
/// until the next restart.
const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the sentinels are asked whether they named another master: an instance that only
/// reads and listens meets no failed write that would make it ask sooner.
const MASTER_CHECK: Duration = Duration::from_secs(5);
/// The least time between two such questions when writes keep falling short of their replicas (a
/// replica down makes every write do so).
const MASTER_CHECK_SPACING: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub(super) enum SubscribeError {
    #[error("{0}")]
    Redis(#[from] RedisError),
    #[error("Redis did not answer within {CONNECT_TIMEOUT:?}")]
    TimedOut,
}

/// Where the notifications are published.
pub(super) enum Source {
    /// Boxed: a client with TLS support is some 240 bytes, held once per store.
    Server(Box<Client>),
    /// Whichever node the sentinels call master at the time of connecting.
    Sentinel(Arc<SentinelLink>),
}

/// A pub/sub connection listening to every notification channel, and behind Sentinel the link and
/// the master it listens at, to leave that master once the sentinels name another.
pub(super) struct Subscribed {
    pubsub: PubSub,
    master: Option<(Arc<SentinelLink>, ConnectionAddr)>,
}

/// Opens a pub/sub connection listening to every notification channel.
pub(super) async fn subscribe(source: &Source) -> Result<Subscribed, SubscribeError> {
    let subscribing = async {
        let (mut pubsub, master) = match source {
            Source::Server(client) => (client.get_async_pubsub().await?, None),
            Source::Sentinel(sentinel) => {
                let client = sentinel.master_client().await?;
                let master = client.get_connection_info().addr().clone();
                let pubsub = client.get_async_pubsub().await?;
                (pubsub, Some((Arc::clone(sentinel), master)))
            }
        };
        pubsub
            .psubscribe(format!("{NOTIFY_CHANNEL_PREFIX}*"))
            .await?;
        Ok::<_, RedisError>(Subscribed { pubsub, master })
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, subscribing).await {
        Ok(subscribed) => Ok(subscribed?),
        Err(_elapsed) => Err(SubscribeError::TimedOut),
    }
}

/// Relays notifications for as long as the store lives (the store aborts this task when dropped).
pub(super) async fn listen(source: Source, hub: NotifyHub, mut subscribed: Subscribed) {
    loop {
        let deposed = async {
            match &subscribed.master {
                Some((sentinel, master)) => master_replaced(sentinel, master).await,
                None => std::future::pending().await,
            }
        };
        let loss = relay(subscribed.pubsub, &hub, deposed).await;
        tracing::warn!(reason = %loss, "left the Redis notification connection; reconnecting");
        subscribed = resubscribe(&source).await;
        tracing::info!("Redis notification connection restored");
        hub.notify_all();
    }
}

/// Resolves, with the master the sentinels name now, once that is no longer `master`. Asks them
/// every [`MASTER_CHECK`], and sooner when a write doubted the master (see
/// [`SentinelLink::doubt_master`]); each question also leaves the link's connections to a
/// deposed master.
async fn master_replaced(sentinel: &SentinelLink, master: &ConnectionAddr) -> ConnectionAddr {
    let mut answered_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(answered_at + MASTER_CHECK) => {}
            () = async {
                sentinel.doubt_asked().await;
                tokio::time::sleep_until(answered_at + MASTER_CHECK_SPACING).await;
            } => {}
        }
        let asked = tokio::time::timeout(CONNECT_TIMEOUT, sentinel.leave_a_deposed_master());
        let answer = asked.await;
        // Spaced from the end of a question, not its start: sentinels slow to answer (each
        // question also connects to the master they name, to check its role) are not asked back
        // to back, holding the lookups of the link's operations up behind them.
        answered_at = tokio::time::Instant::now();
        match answer {
            Ok(Ok(named)) if named != *master => return named,
            Ok(Ok(_same)) => {}
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot ask the sentinels which node is master");
            }
            Err(_elapsed) => tracing::debug!(
                "the sentinels did not say which node is master within {CONNECT_TIMEOUT:?}"
            ),
        }
    }
}

/// Delivers notifications until the connection closes or stops answering, or `deposed` finds its
/// node no longer the master; says why it ended.
async fn relay(
    pubsub: PubSub,
    hub: &NotifyHub,
    deposed: impl Future<Output = ConnectionAddr>,
) -> ConnectionLoss {
    let (mut sink, mut messages): (PubSubSink, PubSubStream) = pubsub.split();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deposed = std::pin::pin!(deposed);
    loop {
        tokio::select! {
            master = &mut deposed => return ConnectionLoss::Deposed(master),
            message = messages.next() => {
                let Some(message) = message else {
                    return ConnectionLoss::Closed;
                };
                if let Some(topic) = message.get_channel_name().strip_prefix(NOTIFY_CHANNEL_PREFIX) {
                    hub.notify(topic);
                }
            }
            _tick = heartbeat.tick() => {
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_pong)) => {}
                    Ok(Err(error)) => return ConnectionLoss::Failed(error),
                    Err(_elapsed) => return ConnectionLoss::Silent,
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnectionLoss {
    #[error("the connection closed")]
    Closed,
    #[error("{0}")]
    Failed(RedisError),
    #[error("no answer to a ping within {HEARTBEAT_TIMEOUT:?}")]
    Silent,
    #[error("the sentinels named another master ({0})")]
    Deposed(ConnectionAddr),
}

async fn resubscribe(source: &Source) -> Subscribed {
    let mut backoff = MIN_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match subscribe(source).await {
            Ok(subscribed) => return subscribed,
            Err(error) => {
                tracing::debug!(%error, "Redis notification connection still down");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
