//! In-process fan-out of change notifications to the long-polls waiting on this instance.
//!
//! Both backends deliver notifications through a hub: the embedded store directly, the Redis store from
//! one pub/sub connection per instance, so 10,000 waiting consoles cost 10,000 channel receivers, not
//! 10,000 Redis connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

/// Topic -> sender; an entry lives while someone listens.
#[derive(Clone, Default)]
pub struct NotifyHub {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<()>>>>,
}

impl NotifyHub {
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(4).0);
        Subscription {
            receiver: sender.subscribe(),
            topic: topic.to_owned(),
            hub: self.clone(),
        }
    }

    /// Wakes the subscribers of `topic` on this instance.
    pub fn notify(&self, topic: &str) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = topics.get(topic) {
            // No receiver left is not an error: the entry is removed when the last one drops.
            let _receivers = sender.send(());
        }
    }

    /// Wakes everyone: after a lost pub/sub connection, waiters re-read the state they wait on.
    pub fn notify_all(&self) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in topics.values() {
            let _receivers = sender.send(());
        }
    }

    /// How many subscriptions are open on this instance (the `islogin` waiters metric).
    pub fn waiters(&self) -> usize {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        topics.values().map(broadcast::Sender::receiver_count).sum()
    }

    fn release(&self, topic: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        // The dropping subscription still counts itself while this runs.
        if topics.get(topic).is_some_and(|s| s.receiver_count() <= 1) {
            topics.remove(topic);
        }
    }
}

/// A registration for one topic's changes.
pub struct Subscription {
    receiver: broadcast::Receiver<()>,
    topic: String,
    hub: NotifyHub,
}

impl Subscription {
    /// Resolves at the next change notified after this subscription was made (or a missed one).
    pub async fn changed(&mut self) {
        // Lagged means changes were notified while we were not looking: that is a change too.
        // Closed cannot happen while we hold the hub entry alive.
        let _change = self.receiver.recv().await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.release(&self.topic);
    }
}
