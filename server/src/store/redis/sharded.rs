//! Notifications on a Redis Cluster: sharded pub/sub (`SSUBSCRIBE`, Redis 7), one channel per topic
//! on the slot of the records it is about, subscribed while this instance has a waiter on the topic.
//!
//! A subscription takes a moment to reach its node, and after a node is lost the cluster client
//! subscribes again on whichever node now serves the slot. Each time a subscription takes effect the
//! topic's waiters are woken to re-read what they wait on, so a change made before it is not missed:
//! our own SSUBSCRIBE wakes them when it returns, a resubscription by the client when its
//! confirmation arrives. (Our own SSUBSCRIBE's confirmation arrives as a push too, sometimes later;
//! it is counted off rather than waking the waiters a second time, out of order.)
//!
//! After a failover the listening connection was seen to answer no SSUBSCRIBE at all, on any node,
//! for as long as it lived, while fresh connections worked: an SSUBSCRIBE that times out has the
//! listener open a fresh connection and subscribe everything again on it ([`Reopener`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinError, JoinHandle};

use super::keys::KeyLayout;
use super::open::cluster_connection;
use crate::store::{NotifyHub, StoreError, TopicEvent};

/// How long one SSUBSCRIBE or SUNSUBSCRIBE may take before it is tried again later (an SSUBSCRIBE
/// on a fresh connection).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The least time between two fresh connections, doubled while the fresh ones time out too (a
/// slot without a master times every SSUBSCRIBE out, whatever the connection) up to the most.
const REOPEN_PAUSE: Duration = Duration::from_secs(2);
const REOPEN_PAUSE_MAX: Duration = Duration::from_secs(30);
/// How long a new topic's SSUBSCRIBE may hold up the listener before it goes on in a task.
const OPEN_TIMEOUT: Duration = Duration::from_millis(500);
/// How often subscriptions that failed (their node was unreachable) are tried again.
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// How long after a lost node the subscriptions are renewed, and how often.
const UNSETTLED: Duration = Duration::from_secs(30);
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// Keeps the cluster's subscriptions in step with the hub's topics and relays what arrives, for as
/// long as the store lives (the store aborts this task when dropped). Subscribing runs in tasks of
/// its own, so a node that does not answer never holds up the wake-ups from the others.
pub(super) async fn listen(
    client: ClusterClient,
    connection: ClusterConnection,
    hub: NotifyHub,
    mut topics: UnboundedReceiver<TopicEvent>,
    mut pushes: UnboundedReceiver<PushInfo>,
) {
    let mut subscriptions = Subscriptions::new(connection);
    let mut reopener = Reopener::new(client);
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unsettled_until: Option<Instant> = None;
    loop {
        tokio::select! {
            event = topics.recv() => {
                let Some(event) = event else { return };
                match event {
                    TopicEvent::Opened(topic) => subscriptions.open(&hub, topic).await,
                    TopicEvent::Closed(topic) => subscriptions.close(&topic),
                }
            }
            push = pushes.recv() => {
                let Some(push) = push else { return };
                match relay(&hub, &subscriptions.channels, &mut subscriptions.own, &push) {
                    Relayed::Done => {}
                    // The client is meant to move the subscriptions of a lost node to whichever
                    // node serves its slots next, but a failed-over master's subscriptions were
                    // seen to stay lost: subscribe them all again (SSUBSCRIBE is idempotent) until
                    // each succeeds, on the slot's master once the failover is done.
                    Relayed::NodeLost => {
                        subscriptions.renew_all();
                        let until = Instant::now() + UNSETTLED;
                        subscriptions.troubled_until = Some(until);
                        unsettled_until = Some(until);
                    }
                    // A node that lost the channel's slot (a failover, a slot move) unsubscribed
                    // us: subscribe again, which reaches the slot's new master.
                    Relayed::Unsubscribed(channel) => subscriptions.renew(channel),
                }
            }
            done = subscriptions.answers.recv() => {
                // The sender lives in `subscriptions`: the channel never closes.
                if let Some((channel, answer, generation)) = done {
                    subscriptions.settle(&hub, channel, answer);
                    // A late answer of a connection already replaced says nothing of this one.
                    if generation == subscriptions.generation {
                        reopener.heard(answer);
                    }
                }
            }
            reopened = reopener.finished() => {
                match reopened {
                    Ok(Ok(connection)) => subscriptions.replace_connection(connection),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "cannot open a fresh cluster connection yet");
                    }
                    Err(error) => tracing::debug!(%error, "opening a cluster connection stopped"),
                }
            }
            _tick = retry.tick(), if !subscriptions.pending.is_empty() => subscriptions.retry(),
            // While the topology settles after a lost node, a subscription that went through may
            // still be dropped (it reached a node about to lose the slot): renew them all now and
            // then, each renewal waking its waiters to re-read.
            _tick = renew.tick(), if unsettled_until.is_some_and(|until| Instant::now() < until) => {
                subscriptions.renew_all();
            }
        }
    }
}

/// The channels this instance wants, and where each one's SSUBSCRIBE stands.
struct Subscriptions {
    connection: ClusterConnection,
    /// Channel -> topic, for the topics this instance waits on.
    channels: HashMap<String, String>,
    /// SSUBSCRIBEs on their way.
    in_flight: HashSet<String>,
    /// Channels to subscribe again at the next retry (failed, or asked while one was in flight).
    pending: HashSet<String>,
    /// Confirmations of our own SSUBSCRIBEs still to arrive as pushes.
    own: OwnConfirmations,
    /// How many times the connection was replaced: answers carry the one they were sent on.
    generation: u64,
    /// Until when a node is known to be failing: new topics are subscribed in tasks meanwhile,
    /// since one on that node's slots would hold the listener up for [`OPEN_TIMEOUT`].
    troubled_until: Option<Instant>,
    answers: UnboundedReceiver<(String, Answer, u64)>,
    answer: tokio::sync::mpsc::UnboundedSender<(String, Answer, u64)>,
}

impl Subscriptions {
    fn new(connection: ClusterConnection) -> Self {
        let (answer, answers) = tokio::sync::mpsc::unbounded_channel();
        Self {
            connection,
            channels: HashMap::new(),
            in_flight: HashSet::new(),
            pending: HashSet::new(),
            own: OwnConfirmations::default(),
            generation: 0,
            troubled_until: None,
            answers,
            answer,
        }
    }

    /// Subscribes a newly opened topic in line, so topics go live in the order they were opened
    /// and their waiters' wake-ups keep that order; only a node slow to answer is left to a task,
    /// and while one is, every new topic is (a dead master's slots would otherwise cost each of
    /// their topics [`OPEN_TIMEOUT`] in line, and hold up every other node's wake-ups meanwhile).
    async fn open(&mut self, hub: &NotifyHub, topic: String) {
        let channel = KeyLayout::Tagged.channel(&topic);
        self.channels.insert(channel.clone(), topic.clone());
        if self.in_flight.contains(&channel) {
            self.pending.insert(channel);
            return;
        }
        if self
            .troubled_until
            .is_some_and(|until| Instant::now() < until)
        {
            self.renew(channel);
            return;
        }
        self.own.expect(&channel);
        let mut connection = self.connection.clone();
        match tokio::time::timeout(OPEN_TIMEOUT, connection.ssubscribe(&channel)).await {
            // Waiters read before the subscription took effect: they read again now.
            Ok(Ok(())) => hub.notify(&topic),
            _ => {
                self.own.give_up(&channel);
                self.troubled_until = Some(Instant::now() + UNSETTLED);
                self.renew(channel);
            }
        }
    }

    fn close(&mut self, topic: &str) {
        let channel = KeyLayout::Tagged.channel(topic);
        self.channels.remove(&channel);
        self.pending.remove(&channel);
        self.own.forget(&channel);
        tokio::spawn(unsubscribe(self.connection.clone(), channel));
    }

    fn renew_all(&mut self) {
        let wanted: Vec<String> = self.channels.keys().cloned().collect();
        for channel in wanted {
            self.renew(channel);
        }
    }

    /// Subscribes to `channel` now, or after the SSUBSCRIBE already on its way.
    fn renew(&mut self, channel: String) {
        if self.in_flight.contains(&channel) {
            self.pending.insert(channel);
            return;
        }
        self.own.expect(&channel);
        self.in_flight.insert(channel.clone());
        let mut connection = self.connection.clone();
        let (answer, generation) = (self.answer.clone(), self.generation);
        tokio::spawn(async move {
            let answered = match tokio::time::timeout(
                COMMAND_TIMEOUT,
                connection.ssubscribe(&channel),
            )
            .await
            {
                Ok(Ok(())) => Answer::Subscribed,
                // The client's own response timeout, shorter than ours, which also bounds its
                // retries of a node that answers `CLUSTERDOWN` or cannot be reached.
                Ok(Err(error)) if error.is_timeout() => {
                    tracing::debug!(%error, "a cluster subscription timed out");
                    Answer::TimedOut
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, "cannot subscribe to a cluster channel yet");
                    Answer::Failed
                }
                Err(_elapsed) => {
                    tracing::debug!("a cluster subscription timed out");
                    Answer::TimedOut
                }
            };
            // The listener gone means the store is gone: nobody waits for the answer.
            let _listener_gone = answer.send((channel, answered, generation));
        });
    }

    fn retry(&mut self) {
        for channel in std::mem::take(&mut self.pending) {
            if self.channels.contains_key(&channel) {
                self.renew(channel);
            }
        }
    }

    /// An SSUBSCRIBE answered: its topic's waiters read again (they may have read before it took
    /// effect), or it is tried again at the next retry.
    fn settle(&mut self, hub: &NotifyHub, channel: String, answer: Answer) {
        self.in_flight.remove(&channel);
        let Some(topic) = self.channels.get(&channel) else {
            // Closed while its SSUBSCRIBE was on its way, which may have come after the close's
            // SUNSUBSCRIBE: the subscription it made is nobody's.
            if answer == Answer::Subscribed {
                tokio::spawn(unsubscribe(self.connection.clone(), channel));
            }
            return;
        };
        match answer {
            Answer::Subscribed => hub.notify(topic),
            Answer::Failed | Answer::TimedOut => {
                self.own.give_up(&channel);
                self.pending.insert(channel);
            }
        }
    }

    /// Subscribes every channel again on `connection`, which replaces the one the subscriptions
    /// were made on (dropped with its last clone, and its subscriptions with it).
    fn replace_connection(&mut self, connection: ClusterConnection) {
        tracing::debug!("subscribing every cluster channel again on a fresh connection");
        self.connection = connection;
        self.generation += 1;
        // Confirmations still owed by the old connection may never come, and one counted here
        // would swallow a resubscription that should wake waiters; an extra wake-up costs a read.
        self.own = OwnConfirmations::default();
        self.renew_all();
    }
}

/// How an SSUBSCRIBE ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Subscribed,
    /// The node refused it or could not be reached: tried again at the next retry.
    Failed,
    /// No answer in time (ours, or the client's response timeout, which also ends its retries):
    /// tried again too, and on a fresh connection (see [`Reopener`]).
    TimedOut,
}

/// Opens a fresh listening connection when the current one's SSUBSCRIBEs time out: at most one at
/// a time, [`REOPEN_PAUSE`] apart at least, and further apart while the fresh ones time out too,
/// until one of them answers.
struct Reopener {
    client: ClusterClient,
    opening: Option<JoinHandle<Result<ClusterConnection, StoreError>>>,
    not_before: Instant,
    pause: Duration,
}

impl Reopener {
    fn new(client: ClusterClient) -> Self {
        Self {
            client,
            opening: None,
            not_before: Instant::now(),
            pause: REOPEN_PAUSE,
        }
    }

    /// An SSUBSCRIBE on the current connection answered `answer`.
    fn heard(&mut self, answer: Answer) {
        match answer {
            Answer::Subscribed => self.pause = REOPEN_PAUSE,
            Answer::Failed => {}
            Answer::TimedOut => {
                let now = Instant::now();
                if self.opening.is_some() || now < self.not_before {
                    return;
                }
                self.not_before = now + self.pause;
                self.pause = (self.pause * 2).min(REOPEN_PAUSE_MAX);
                self.opening = Some(tokio::spawn(cluster_connection(self.client.clone())));
            }
        }
    }

    /// The connection being opened, once it is (never, while none is).
    async fn finished(&mut self) -> Result<Result<ClusterConnection, StoreError>, JoinError> {
        let Some(opening) = self.opening.as_mut() else {
            return std::future::pending().await;
        };
        let opened = opening.await;
        self.opening = None;
        opened
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

async fn unsubscribe(mut connection: ClusterConnection, channel: String) {
    // A subscription left behind costs the node a little until the connection closes; nothing is
    // delivered wrongly, since messages of topics without waiters are dropped.
    match tokio::time::timeout(COMMAND_TIMEOUT, connection.sunsubscribe(&channel)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "cannot unsubscribe a cluster channel"),
        Err(_elapsed) => tracing::debug!("a cluster unsubscription timed out"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Relayed {
    Done,
    NodeLost,
    /// A node ended a subscription this instance still wants.
    Unsubscribed(String),
}

fn relay(
    hub: &NotifyHub,
    channels: &HashMap<String, String>,
    own: &mut OwnConfirmations,
    push: &PushInfo,
) -> Relayed {
    match push.kind {
        // A message, or a subscription re-established by the client after a lost node: either
        // way the topic's waiters read again.
        PushKind::SMessage | PushKind::SSubscribe => {
            let channel = match push.data.first() {
                Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes),
                _ => return Relayed::Done,
            };
            let ours = push.kind == PushKind::SSubscribe && own.take(&channel);
            if let Some(topic) = channels.get(channel.as_ref())
                && !ours
            {
                hub.notify(topic);
            }
            Relayed::Done
        }
        PushKind::SUnsubscribe => match push.data.first() {
            Some(Value::BulkString(bytes)) => {
                let channel = String::from_utf8_lossy(bytes).into_owned();
                // Our own SUNSUBSCRIBE is confirmed after the channel left the map.
                if channels.contains_key(&channel) {
                    Relayed::Unsubscribed(channel)
                } else {
                    Relayed::Done
                }
            }
            _ => Relayed::Done,
        },
        PushKind::Disconnection => {
            tracing::debug!("a cluster node connection was lost; subscribing again");
            Relayed::NodeLost
        }
        _ => Relayed::Done,
    }
}
