//! Notifications on a Redis Cluster: sharded pub/sub (`SSUBSCRIBE`, Redis 7), one channel per topic
//! on the slot of the records it is about, subscribed while this instance has a waiter on the topic.
//!
//! A subscription takes a moment to reach its node, and after a node is lost the cluster client
//! subscribes again on whichever node now serves the slot. Each time a subscription takes effect the
//! topic's waiters are woken to re-read what they wait on, so a change made before it is not missed:
//! our own SSUBSCRIBE wakes them when it returns, a resubscription by the client when its
//! confirmation arrives. (Our own SSUBSCRIBE's confirmation arrives as a push too, sometimes later;
//! it is counted off rather than waking the waiters a second time, out of order.)

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::keys::KeyLayout;
use crate::store::{NotifyHub, TopicEvent};

/// How long one SSUBSCRIBE or SUNSUBSCRIBE may take before it is tried again later.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often subscriptions that failed (their node was unreachable) are tried again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Keeps the cluster's subscriptions in step with the hub's topics and relays what arrives, for as
/// long as the store lives (the store aborts this task when dropped).
pub(super) async fn listen(
    mut connection: ClusterConnection,
    hub: NotifyHub,
    mut topics: UnboundedReceiver<TopicEvent>,
    mut pushes: UnboundedReceiver<PushInfo>,
) {
    // Channel -> topic, for the topics this instance waits on.
    let mut channels: HashMap<String, String> = HashMap::new();
    // Channels whose SSUBSCRIBE failed and is to be tried again.
    let mut pending: HashSet<String> = HashSet::new();
    // Confirmations of our own SSUBSCRIBEs still to arrive as pushes, by channel.
    let mut own = OwnConfirmations::default();
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = topics.recv() => {
                let Some(event) = event else { return };
                match event {
                    TopicEvent::Opened(topic) => {
                        let channel = KeyLayout::Tagged.channel(&topic);
                        channels.insert(channel.clone(), topic);
                        subscribe(&mut connection, &hub, &channels, &mut pending, &mut own, channel)
                            .await;
                    }
                    TopicEvent::Closed(topic) => {
                        let channel = KeyLayout::Tagged.channel(&topic);
                        channels.remove(&channel);
                        pending.remove(&channel);
                        own.forget(&channel);
                        unsubscribe(&mut connection, channel).await;
                    }
                }
            }
            push = pushes.recv() => {
                let Some(push) = push else { return };
                relay(&hub, &channels, &mut own, &push);
            }
            _tick = retry.tick(), if !pending.is_empty() => {
                for channel in std::mem::take(&mut pending) {
                    subscribe(&mut connection, &hub, &channels, &mut pending, &mut own, channel)
                        .await;
                }
            }
        }
    }
}

/// Counts the confirmations our own SSUBSCRIBEs will still push, so that only the client's
/// resubscriptions wake waiters from the push side.
#[derive(Default)]
struct OwnConfirmations(HashMap<String, usize>);

impl OwnConfirmations {
    fn expect(&mut self, channel: &str) {
        *self.0.entry(channel.to_owned()).or_default() += 1;
    }

    /// Our SSUBSCRIBE failed or timed out: its confirmation may never come. (Should it come after
    /// all, it wakes the waiters once more, which costs them one re-read.)
    fn give_up(&mut self, channel: &str) {
        if let Some(count) = self.0.get_mut(channel) {
            *count = count.saturating_sub(1);
        }
    }

    /// Whether a confirmation that arrived was one of ours.
    fn take(&mut self, channel: &str) -> bool {
        match self.0.get_mut(channel) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        }
    }

    fn forget(&mut self, channel: &str) {
        self.0.remove(channel);
    }
}

async fn subscribe(
    connection: &mut ClusterConnection,
    hub: &NotifyHub,
    channels: &HashMap<String, String>,
    pending: &mut HashSet<String>,
    own: &mut OwnConfirmations,
    channel: String,
) {
    own.expect(&channel);
    match tokio::time::timeout(COMMAND_TIMEOUT, connection.ssubscribe(&channel)).await {
        Ok(Ok(())) => {
            // Waiters read before the subscription took effect: they read again now.
            if let Some(topic) = channels.get(&channel) {
                hub.notify(topic);
            }
        }
        Ok(Err(error)) => {
            tracing::debug!(%error, "cannot subscribe to a cluster channel yet; trying again");
            own.give_up(&channel);
            pending.insert(channel);
        }
        Err(_elapsed) => {
            tracing::debug!("a cluster subscription timed out; trying again");
            own.give_up(&channel);
            pending.insert(channel);
        }
    }
}

async fn unsubscribe(connection: &mut ClusterConnection, channel: String) {
    // A subscription left behind costs the node a little until the connection closes; nothing is
    // delivered wrongly, since messages of topics without waiters are dropped.
    match tokio::time::timeout(COMMAND_TIMEOUT, connection.sunsubscribe(&channel)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "cannot unsubscribe a cluster channel"),
        Err(_elapsed) => tracing::debug!("a cluster unsubscription timed out"),
    }
}

fn relay(
    hub: &NotifyHub,
    channels: &HashMap<String, String>,
    own: &mut OwnConfirmations,
    push: &PushInfo,
) {
    match push.kind {
        // A message, or a subscription re-established by the client after a lost node: either
        // way the topic's waiters read again.
        PushKind::SMessage | PushKind::SSubscribe => {
            let channel = match push.data.first() {
                Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes),
                _ => return,
            };
            if push.kind == PushKind::SSubscribe && own.take(&channel) {
                return;
            }
            if let Some(topic) = channels.get(channel.as_ref()) {
                hub.notify(topic);
            }
        }
        PushKind::Disconnection => {
            tracing::debug!("a cluster node connection was lost; the client subscribes again");
        }
        _ => {}
    }
}
