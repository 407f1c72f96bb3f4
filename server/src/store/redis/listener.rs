//! The one pub/sub connection of a Redis store on one server or behind Sentinel: it receives every
//! instance's notifications and hands them to this instance's [`NotifyHub`]. When the connection is
//! lost it reconnects with capped backoff (behind Sentinel, to the master the sentinels name then, so a
//! failover is followed) and then wakes every waiter, since notifications sent meanwhile were missed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use redis::{Client, RedisError};

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

/// Opens a pub/sub connection listening to every notification channel.
pub(super) async fn subscribe(source: &Source) -> Result<PubSub, SubscribeError> {
    let subscribing = async {
        let mut pubsub = match source {
            Source::Server(client) => client.get_async_pubsub().await?,
            Source::Sentinel(sentinel) => {
                sentinel.master_client().await?.get_async_pubsub().await?
            }
        };
        pubsub
            .psubscribe(format!("{NOTIFY_CHANNEL_PREFIX}*"))
            .await?;
        Ok::<_, RedisError>(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, subscribing).await {
        Ok(subscribed) => Ok(subscribed?),
        Err(_elapsed) => Err(SubscribeError::TimedOut),
    }
}

/// Relays notifications for as long as the store lives (the store aborts this task when dropped).
pub(super) async fn listen(source: Source, hub: NotifyHub, mut pubsub: PubSub) {
    loop {
        let loss = relay(pubsub, &hub).await;
        tracing::warn!(reason = %loss, "lost the Redis notification connection; reconnecting");
        pubsub = resubscribe(&source).await;
        tracing::info!("Redis notification connection restored");
        hub.notify_all();
    }
}

/// Delivers notifications until the connection closes or stops answering; says why it ended.
async fn relay(pubsub: PubSub, hub: &NotifyHub) -> ConnectionLoss {
    let (mut sink, mut messages): (PubSubSink, PubSubStream) = pubsub.split();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
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
}

async fn resubscribe(source: &Source) -> PubSub {
    let mut backoff = MIN_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match subscribe(source).await {
            Ok(pubsub) => return pubsub,
            Err(error) => {
                tracing::debug!(%error, "Redis notification connection still down");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
