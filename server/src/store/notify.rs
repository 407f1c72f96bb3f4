//! In-process fan-out of change notifications to the long-polls waiting on this instance.
//!
//! Both backends deliver notifications through a hub: the embedded store directly, the Redis store from
//! one pub/sub connection per instance, so 10,000 waiting consoles cost 10,000 channel receivers, not
//! 10,000 Redis connections.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, mpsc};

use super::record_name;

/// Topic -> its state; an entry lives exactly while the topic has subscriptions. A topic is known
/// by its name without its group ([`record_name`]): a backend that spells no group (one Redis,
/// Sentinel) hears the name alone, and one name is one topic whatever its group.
#[derive(Clone, Default)]
pub struct NotifyHub {
    topics: Arc<Mutex<HashMap<Arc<str>, Topic>>>,
    /// Told when a topic gains its first subscription or loses its last one, for a backend that
    /// subscribes per topic (Redis Cluster's sharded pub/sub) rather than to everything at once.
    topic_events: Option<mpsc::UnboundedSender<TopicEvent>>,
}

/// A topic this instance starts or stops listening to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicEvent {
    Opened(String),
    Closed(String),
}

/// One topic's changes and how many subscriptions it has.
///
/// The count is kept here, under the hub's lock, rather than read from the state's reference
/// count: a subscription's reference is dropped only after its `Drop` has run, so two subscriptions
/// released at the same moment could each still see the other's and both leave the entry behind.
struct Topic {
    changes: Arc<Changes>,
    subscriptions: usize,
    /// As subscribed, group included: what the backend's topic events name.
    subscribed_as: Box<str>,
}

/// How many changes a topic has had, and its waiters. A counter and a `Notify` rather than a
/// channel: 10,000 waiting consoles each hold one topic, and this is the smallest state that lets
/// a subscription tell a change it has not seen yet.
#[derive(Default)]
struct Changes {
    count: AtomicU64,
    notify: Notify,
}

impl Changes {
    fn record(&self) {
        self.count.fetch_add(1, Ordering::Release);
        self.notify.notify_waiters();
    }
}

impl NotifyHub {
    /// A hub that reports its topics opening and closing, in the order they happen.
    pub fn with_topic_events() -> (Self, mpsc::UnboundedReceiver<TopicEvent>) {
        let (sender, events) = mpsc::unbounded_channel();
        let hub = Self {
            topic_events: Some(sender),
            ..Self::default()
        };
        (hub, events)
    }

    pub fn subscribe(&self, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let name = match topics.get_key_value(record_name(topic)) {
            Some((name, _)) => Arc::clone(name),
            None => {
                // Sent under the lock, so a topic's opening and closing are reported in order.
                self.report(TopicEvent::Opened(topic.to_owned()));
                Arc::from(record_name(topic))
            }
        };
        let entry = topics.entry(Arc::clone(&name)).or_insert_with(|| Topic {
            changes: Arc::default(),
            subscriptions: 0,
            subscribed_as: topic.into(),
        });
        entry.subscriptions += 1;
        Subscription {
            seen: entry.changes.count.load(Ordering::Acquire),
            changes: Arc::clone(&entry.changes),
            name,
            hub: self.clone(),
        }
    }

    /// Wakes the subscribers of `topic` (named with its group or without) on this instance.
    pub fn notify(&self, topic: &str) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = topics.get(record_name(topic)) {
            entry.changes.record();
        }
    }

    /// Wakes everyone: after a lost pub/sub connection, waiters re-read the state they wait on.
    pub fn notify_all(&self) {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in topics.values() {
            entry.changes.record();
        }
    }

    /// How many subscriptions are open on this instance (the `islogin` waiters metric).
    pub fn waiters(&self) -> usize {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        topics.values().map(|entry| entry.subscriptions).sum()
    }

    /// Counts one subscription of the topic `name` gone and removes the topic with its last one.
    fn release(&self, name: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = topics.get_mut(name) else {
            return;
        };
        entry.subscriptions = entry.subscriptions.saturating_sub(1);
        if entry.subscriptions == 0
            && let Some(closed) = topics.remove(name)
        {
            self.report(TopicEvent::Closed(closed.subscribed_as.into()));
        }
    }

    fn report(&self, event: TopicEvent) {
        if let Some(events) = &self.topic_events {
            // The receiver goes only with the store's listener, and then nobody needs to know.
            let _listener_gone = events.send(event);
        }
    }
}

/// A registration for one topic's changes.
pub struct Subscription {
    changes: Arc<Changes>,
    /// The topic's change count this subscription has seen.
    seen: u64,
    /// The topic's name, as the hub knows it.
    name: Arc<str>,
    hub: NotifyHub,
}

impl Subscription {
    /// Resolves at the next change notified after this subscription was made (or one notified
    /// while nobody was awaiting this). Cancel-safe: a change is seen once it resolves, not before.
    pub async fn changed(&mut self) {
        loop {
            let mut notified = pin!(self.changes.notify.notified());
            // Registered before the count is read, so a change between the two still wakes it.
            notified.as_mut().enable();
            let count = self.changes.count.load(Ordering::Acquire);
            if count != self.seen {
                self.seen = count;
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.release(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;
    use std::sync::Barrier;

    use super::*;

    impl NotifyHub {
        /// How many topics have an entry in the map.
        fn topic_count(&self) -> usize {
            self.topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
        }
    }

    #[test]
    fn subscriptions_dropped_together_leave_no_entry() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 1_000;
        const TOPICS_PER_ROUND: usize = 64;
        let hub = NotifyHub::default();
        let in_step = Barrier::new(THREADS);
        std::thread::scope(|scope| {
            for _thread in 0..THREADS {
                scope.spawn(|| {
                    for round in 0..ROUNDS {
                        // Fresh topics every round: an entry leaked in one round cannot be reused
                        // and cleaned up by a later one.
                        let subscriptions: Vec<_> = (0..TOPICS_PER_ROUND)
                            .map(|topic| hub.subscribe(&format!("scene:{round}:{topic}")))
                            .collect();
                        // Every thread then drops its subscriptions of the same topics in the same
                        // order at the same moment, so drops of one topic overlap.
                        in_step.wait();
                        drop(subscriptions);
                    }
                });
            }
        });
        assert_eq!(hub.waiters(), 0);
        assert_eq!(hub.topic_count(), 0, "entries left without subscribers");
    }

    #[test]
    fn topic_events_follow_the_first_and_last_subscription() {
        let (hub, mut events) = NotifyHub::with_topic_events();
        let first = hub.subscribe("scene:1");
        let second = hub.subscribe("scene:1");
        drop(first);
        drop(second);
        let _again = hub.subscribe("scene:1");
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        let topic = || "scene:1".to_owned();
        assert_eq!(
            seen,
            [
                TopicEvent::Opened(topic()),
                TopicEvent::Closed(topic()),
                TopicEvent::Opened(topic())
            ]
        );
    }

    /// A grouped topic is woken by its name alone (what one Redis or Sentinel hears) as by its
    /// grouped spelling, and its events name it with its group (what a Cluster subscribes by).
    #[test]
    fn a_grouped_topic_is_known_by_its_name_and_reported_with_its_group() {
        let (hub, mut events) = NotifyHub::with_topic_events();
        let grouped = crate::store::in_group("g1", "changed:a");
        let mut subscription = hub.subscribe(&grouped);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        for notified in ["changed:a", grouped.as_str()] {
            hub.notify(notified);
            let woken = pin!(subscription.changed()).poll(&mut context).is_ready();
            assert!(woken, "not woken by {notified}");
        }
        drop(subscription);
        let opened = TopicEvent::Opened(grouped.clone());
        assert_eq!(events.try_recv().ok(), Some(opened));
        assert_eq!(events.try_recv().ok(), Some(TopicEvent::Closed(grouped)));
    }

    #[test]
    fn a_topic_lives_until_its_last_subscription_drops() {
        let hub = NotifyHub::default();
        let first = hub.subscribe("scene:1");
        let mut second = hub.subscribe("scene:1");
        drop(first);
        assert_eq!(hub.waiters(), 1);
        hub.notify("scene:1");
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(pin!(second.changed()).poll(&mut context).is_ready());
        drop(second);
        assert_eq!(hub.waiters(), 0);
        assert_eq!(hub.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_subscription_wakes_at_each_change_after_it_was_made() {
        let hub = NotifyHub::default();
        let mut subscription = hub.subscribe("scene:1");
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(pin!(subscription.changed()).poll(&mut context).is_pending());
        let waiting = tokio::spawn(async move {
            subscription.changed().await;
            subscription
        });
        // Before or after the task awaits, the change wakes it.
        hub.notify("scene:1");
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await;
        let mut subscription = waited.expect("woken by the change").expect("no panic");
        assert!(pin!(subscription.changed()).poll(&mut context).is_pending());
        hub.notify_all();
        assert!(pin!(subscription.changed()).poll(&mut context).is_ready());
    }
}
