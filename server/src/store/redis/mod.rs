//! The Redis store, for production and for several server instances sharing one Redis: one server
//! (`redis://`), a master watched by Sentinel (`redis-sentinel://`) or a Redis Cluster
//! (`redis-cluster://`).
//!
//! Redis owns expiry (`PX`); the multi-step operations are single commands or Lua scripts over one
//! key (or one slot's keys, on a Cluster), so they are atomic across instances and touch one
//! cluster slot. All keys live under
//! `meeteasy:` ([`keys`] says how they are spelled on a Cluster). Every operation is bounded by
//! [`OPERATION_TIMEOUT`]: while Redis is down or failing over callers get
//! [`StoreError::Unavailable`] within seconds, and the connection finds its way back by itself.
//! With replicas configured, a write is acknowledged only once they have it (`WAIT`). Notifications
//! travel over Redis pub/sub (`meeteasy:notify:<topic>`; sharded on a Cluster), one subscriber
//! connection per store.

mod keys;
mod link;
mod listener;
mod open;
mod scripts;
mod sharded;

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::future::try_join_all;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, ScriptInvocation};
use tokio::task::JoinHandle;

use self::keys::KeyLayout;
use self::link::{Handle, Lane, Link, wait_command};
use self::scripts::{APPEND, COMPARE_AND_DELETE, COMPARE_AND_SWAP, STEPS};
use crate::config::{RedisSettings, ReplicaAck, WAIT_TIMEOUT_MS};
use crate::store::{
    Lifetime, NotifyHub, Outcome, Step, Store, StoreError, Subscription, WindowCount,
    run_steps_in_turn,
};

/// The longest any one operation may take, reconnecting included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection attempt (TCP connect and handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a sent command may wait for its answer before the connection counts as broken: longer
/// than the longest `WAIT` a write carries in its pipeline (`redis.wait_timeout_ms`), so a `WAIT`
/// that runs out answers how many replicas have the write, within [`OPERATION_TIMEOUT`]. (Redis
/// reads nothing more from a connection while a `WAIT` blocks it, so with a replica lagging, a
/// waited write queued behind another's `WAIT` may still time out; other commands go over
/// connections of their own, see [`Lane`].)
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1800);
const _: () = assert!(RESPONSE_TIMEOUT.as_millis() > *WAIT_TIMEOUT_MS.end() as u128);
/// The pause before trying a command again after Redis refused the connection, or a Cluster
/// node asked to be asked again.
const RETRY_DELAY_MILLIS: u64 = 100;
const RETRY_DELAY: Duration = Duration::from_millis(RETRY_DELAY_MILLIS);
/// The longest pause before asking a Cluster node again (the pauses grow from [`RETRY_DELAY`]).
const MAX_CLUSTER_RETRY_DELAY_MILLIS: u64 = 500;

pub struct RedisStore {
    link: Link,
    keys: KeyLayout,
    replica_ack: Option<ReplicaAck>,
    /// See [`scripts::count_in_window`].
    count_in_window: redis::Script,
    hub: NotifyHub,
    listener: JoinHandle<()>,
}

impl RedisStore {
    /// Connects to the one Redis at `url` (`redis://[user:password@]host[:port][/db]`), without
    /// waiting for replicas. Fails when Redis cannot be reached now; later outages are survived.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(&RedisSettings::single(url)).await
    }

    /// Connects to the deployment `settings` name and starts listening for notifications. Fails when
    /// it cannot be reached now; later outages and failovers are survived.
    pub async fn open(settings: &RedisSettings) -> Result<Self, StoreError> {
        let (link, keys, hub, listener) = open::open(settings).await?;
        let store = Self {
            link,
            keys,
            replica_ack: settings.replica_ack,
            count_in_window: scripts::count_in_window(),
            hub,
            listener,
        };
        store.ping().await?;
        Ok(store)
    }

    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        self.run(Lane::Commands, |mut connection| async move {
            command.query_async(&mut connection).await
        })
        .await
    }

    /// One write, acknowledged once the configured replicas have it: its `WAIT` follows it in one
    /// pipeline, so it costs no round trip of its own and is sure to run on the connection the
    /// write went over. (Sent apart, a reconnect between the two would have the `WAIT` count the
    /// writes of a fresh connection, none, and acknowledge at once.) On a Cluster the pipeline goes
    /// where its one key does, and when a migrating slot redirects it (`ASK`), the write is its
    /// first command, the one the client's `ASKING` covers.
    async fn write<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        let Some(ack) = self.replica_ack else {
            return self.query(command).await;
        };
        let mut pipeline = redis::pipe();
        pipeline
            .add_command(command.clone())
            .add_command(wait_command(ack));
        let pipeline = &pipeline;
        let (value, holding): (T, u32) = self
            .run(Lane::Waited, |mut connection| async move {
                pipeline.query_async(&mut connection).await
            })
            .await?;
        self.acknowledged(holding, ack)?;
        Ok(value)
    }

    /// Whether `holding` replicas are enough for `ack`. A write that fell short is not
    /// acknowledged, and makes the link doubt the master it went to (see [`Link::fell_short`]).
    fn acknowledged(&self, holding: u32, ack: ReplicaAck) -> Result<(), StoreError> {
        if holding >= ack.replicas {
            return Ok(());
        }
        self.link.fell_short();
        Err(StoreError::Unavailable(format!(
            "a write reached {holding} of {} replicas within {:?}",
            ack.replicas, ack.timeout
        )))
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run(Lane::Commands, |mut connection| async move {
            script.invoke_async(&mut connection).await
        })
        .await
    }

    /// Runs one operation over `lane` within [`OPERATION_TIMEOUT`]. While Redis refuses the
    /// connection (down, or just restarting), or a write reached a master that a failover demoted,
    /// it tries again: neither carried anything out, so even a take or a compare-and-swap is safe
    /// to repeat.
    async fn run<T, F, Fut>(&self, lane: Lane, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(Handle) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let give_up_at = Instant::now() + OPERATION_TIMEOUT - RETRY_DELAY;
        bounded(async {
            loop {
                let (outcome, sent_on) = match self.link.handle(lane).await {
                    Ok((handle, sent_on)) => (attempt(handle).await, sent_on),
                    Err(error) => (Err(error), None),
                };
                match outcome {
                    Ok(value) => return Ok(value),
                    Err(error) => {
                        self.link.failed(&error, lane, sent_on);
                        let safe_to_repeat =
                            error.is_connection_refusal() || link::is_readonly(&error);
                        if !safe_to_repeat || Instant::now() >= give_up_at {
                            return Err(store_error(error));
                        }
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                }
            }
        })
        .await
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let command = self.step_command(&Step::Get(key));
        self.query(&command).await
    }

    async fn put(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<(), StoreError> {
        let put = Step::Put {
            key,
            value,
            lifetime,
        };
        self.write(&self.step_command(&put)).await
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let insert = Step::InsertNew {
            key,
            value,
            lifetime,
        };
        // OK (true) when written, nil (false) when a live record was there.
        self.write(&self.step_command(&insert)).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let swap = Step::CompareAndSwap {
            key,
            expected,
            new,
            lifetime,
        };
        self.write(&self.step_command(&swap)).await
    }

    async fn append(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<u64, StoreError> {
        let append = Step::Append {
            key,
            value,
            lifetime,
        };
        self.write(&self.step_command(&append)).await
    }

    /// One pipeline on one server or a Sentinel's master: Redis runs its commands in order, on one
    /// connection, and answers them together. On a Cluster, a batch that writes to keys sharing a
    /// slot (one scene's, one user's sessions: see [`keys`]) runs there as one script; reads alone,
    /// or steps spread over several slots: see [`RedisStore::batch_across_slots`].
    async fn batch(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        match self.link {
            Link::Single(_) | Link::Sentinel(_) => self.pipelined(steps).await,
            Link::Cluster(..) if self.writes_on_one_slot(steps) => self.scripted(steps).await,
            Link::Cluster(..) => self.batch_across_slots(steps).await,
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.write(redis::cmd("GETDEL").arg(self.keys.key(key)))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write(redis::cmd("DEL").arg(self.keys.key(key))).await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(COMPARE_AND_DELETE)
            .arg(1)
            .arg(self.keys.key(key))
            .arg(expected);
        self.write(&command).await
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, StoreError> {
        let mut invocation = self.count_in_window.prepare_invoke();
        invocation.key(self.keys.key(key)).arg(px_millis(window));
        let (count, left_millis): (u64, i64) = self.invoke(&invocation).await?;
        Ok(WindowCount {
            count,
            resets_in: Duration::from_millis(u64::try_from(left_millis).unwrap_or(0)),
        })
    }

    async fn claim_slot(&self, key: &str, lifetime: Duration) -> Result<bool, StoreError> {
        let command = self.step_command(&Step::ClaimSlot { key, lifetime });
        // A slot may be lost with a failover: no replica need acknowledge it.
        self.query(&command).await
    }

    async fn notify(&self, topic: &str) -> Result<(), StoreError> {
        let channel = self.keys.channel(topic);
        // On a Cluster the message goes to the channel's slot, where the records it is about live.
        let publish = match self.link {
            Link::Cluster(..) => "SPUBLISH",
            Link::Single(_) | Link::Sentinel(_) => "PUBLISH",
        };
        // The message carries nothing: subscribers re-read the state they wait on. A lost one
        // (failover) is made up for by the waiters' re-read when their subscription returns.
        let _receivers: u64 = self.query(redis::cmd(publish).arg(channel).arg("")).await?;
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        self.hub.subscribe(topic)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.query(&redis::cmd("PING")).await
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl RedisStore {
    /// The command carrying out `step`; a compare-and-swap or an append in a pipeline is sent as its
    /// script's source (`EVAL`), which Redis never lacks, unlike a script's hash after a restart.
    fn step_command(&self, step: &Step<'_>) -> Cmd {
        let with_lifetime = |mut command: Cmd, lifetime: Lifetime| {
            match expiry_of(lifetime) {
                Expiry::Never => {}
                Expiry::In(millis) => {
                    command.arg("PX").arg(millis);
                }
                // A moment long gone on any clock: Redis keeps the record as expired, never read.
                Expiry::Ended => {
                    command.arg("PXAT").arg(1);
                }
            }
            command
        };
        match *step {
            Step::Get(key) => redis::cmd("GET").arg(self.keys.key(key)).clone(),
            Step::Put {
                key,
                value,
                lifetime,
            } => with_lifetime(
                redis::cmd("SET").arg(self.keys.key(key)).arg(value).clone(),
                lifetime,
            ),
            Step::InsertNew {
                key,
                value,
                lifetime,
            } => with_lifetime(
                redis::cmd("SET")
                    .arg(self.keys.key(key))
                    .arg(value)
                    .arg("NX")
                    .clone(),
                lifetime,
            ),
            Step::CompareAndSwap {
                key,
                expected,
                new,
                lifetime,
            } => self.eval(COMPARE_AND_SWAP, key, &[expected, new], lifetime),
            Step::Append {
                key,
                value,
                lifetime,
            } => self.eval(APPEND, key, &[value], lifetime),
            Step::ClaimSlot { key, lifetime } => redis::cmd("SET")
                .arg(self.keys.key(key))
                .arg(b"1")
                .arg("NX")
                .arg("PX")
                .arg(px_millis(lifetime))
                .clone(),
        }
    }
}

impl RedisStore {
    /// `script` on `key` with `values`, then the lifetime: the arguments the scripts in [`scripts`]
    /// take.
    fn eval(&self, script: &str, key: &str, values: &[&[u8]], lifetime: Lifetime) -> Cmd {
        let mut command = redis::cmd("EVAL");
        command.arg(script).arg(1).arg(self.keys.key(key));
        for value in values {
            command.arg(*value);
        }
        command.arg(lua_lifetime(lifetime));
        command
    }

    /// `steps` as one run of [`STEPS`], with the arguments it takes.
    fn script_command(&self, steps: &[Step<'_>]) -> Cmd {
        let mut command = redis::cmd("EVAL");
        command.arg(STEPS).arg(steps.len());
        for step in steps {
            command.arg(self.keys.key(step.key()));
        }
        for step in steps {
            match *step {
                Step::Get(_) => command.arg("get"),
                Step::Put {
                    value, lifetime, ..
                } => command.arg("put").arg(value).arg(lua_lifetime(lifetime)),
                Step::InsertNew {
                    value, lifetime, ..
                } => command
                    .arg("insert_new")
                    .arg(value)
                    .arg(lua_lifetime(lifetime)),
                Step::CompareAndSwap {
                    expected,
                    new,
                    lifetime,
                    ..
                } => command
                    .arg("compare_and_swap")
                    .arg(expected)
                    .arg(new)
                    .arg(lua_lifetime(lifetime)),
                Step::Append {
                    value, lifetime, ..
                } => command.arg("append").arg(value).arg(lua_lifetime(lifetime)),
                Step::ClaimSlot { lifetime, .. } => {
                    command.arg("claim_slot").arg(px_millis(lifetime))
                }
            };
        }
        command
    }

    /// Whether `steps` write a record and every key of them is on one Cluster slot (they share a
    /// hash tag). Reads and slots alone are sent side by side, one command each, as cheaply.
    fn writes_on_one_slot(&self, steps: &[Step<'_>]) -> bool {
        if !steps.iter().any(Step::writes) {
            return false;
        }
        let mut tags = steps.iter().map(|step| self.keys.tag(step.key()));
        match tags.next() {
            Some(Some(first)) => tags.all(|tag| tag.as_ref() == Some(&first)),
            Some(None) | None => false,
        }
    }

    /// A batch on one Cluster slot as one script: one command, so a slot caught mid-migration
    /// either runs all of it where the keys are or none of it (`ASK`; `TRYAGAIN` until the move
    /// is done, when one key is on neither side, a new one say), and it is safe to send again;
    /// atomic too, which a batch need not be.
    /// Its `WAIT` follows it in one pipeline, as a single write's does.
    async fn scripted(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        outcomes_of(steps, self.write(&self.script_command(steps)).await?)
    }

    /// `steps` in one pipeline, in order: one round trip. With replicas configured, one `WAIT` at
    /// its end covers every write before it on the connection.
    async fn pipelined(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        if steps.is_empty() {
            // Redis refuses an empty pipeline.
            return Ok(Vec::new());
        }
        let mut pipeline = redis::pipe();
        for step in steps {
            pipeline.add_command(self.step_command(step));
        }
        let writes = steps.iter().any(Step::writes);
        let wait = self.replica_ack.filter(|_| writes);
        if let Some(ack) = wait {
            pipeline.add_command(wait_command(ack));
        }
        let pipeline = &pipeline;
        let lane = match wait {
            Some(_) => Lane::Waited,
            None => Lane::Commands,
        };
        let mut values: Vec<redis::Value> = self
            .run(lane, |mut connection| async move {
                pipeline.query_async(&mut connection).await
            })
            .await?;
        if let Some(ack) = wait {
            let holding = values.pop().map(redis::from_redis_value::<u32>);
            match holding {
                Some(Ok(holding)) => self.acknowledged(holding, ack)?,
                Some(Err(error)) => {
                    return Err(StoreError::Corrupt(format!("Redis, in a batch: {error}")));
                }
                None => return Err(StoreError::Corrupt("Redis answered no WAIT".to_owned())),
            }
        }
        outcomes_of(steps, values)
    }

    /// A batch on a Cluster: its steps in runs that may overlap, each run sent at once, the runs
    /// in order. A run is reads alone (slots included) or writes to keys no other write of the run
    /// touches, so no step overlaps one that it must see (a read after a write, a second write to
    /// a key) and the batch keeps its meaning, across keys too: a run's reads see every write
    /// before it, wherever its key lives. Each step goes as its own command (a write with its
    /// `WAIT`), never several in one pipeline: a slot caught mid-migration answers `ASK` for the
    /// keys already moved, and the client, which sends `ASKING` for a pipeline's first command
    /// only, would resend the whole pipeline and repeat the writes already made.
    async fn batch_across_slots(&self, steps: &[Step<'_>]) -> Result<Vec<Outcome>, StoreError> {
        // Bounded as a whole, as any one operation is: each run of steps has no time of its own.
        bounded(async {
            let mut outcomes = Vec::with_capacity(steps.len());
            let mut rest = steps;
            while let Some(first) = rest.first() {
                let mut written = Vec::new();
                let run = rest
                    .iter()
                    .take_while(|step| {
                        step.writes() == first.writes()
                            && (!step.writes() || {
                                let fresh = !written.contains(&step.key());
                                written.push(step.key());
                                fresh
                            })
                    })
                    .count();
                let (now, later) = rest.split_at(run);
                let each = now
                    .iter()
                    .map(|step| run_steps_in_turn(self, std::slice::from_ref(step)));
                outcomes.extend(try_join_all(each).await?.into_iter().flatten());
                rest = later;
            }
            Ok(outcomes)
        })
        .await
    }
}

/// Each step's outcome from Redis's answers, one per step.
fn outcomes_of(steps: &[Step<'_>], answers: Vec<redis::Value>) -> Result<Vec<Outcome>, StoreError> {
    if answers.len() != steps.len() {
        return Err(StoreError::Corrupt(format!(
            "Redis answered {} of a batch's {} steps",
            answers.len(),
            steps.len()
        )));
    }
    steps.iter().zip(answers).map(outcome_of).collect()
}

/// A batch step's outcome from Redis's answer to it.
fn outcome_of((step, value): (&Step<'_>, redis::Value)) -> Result<Outcome, StoreError> {
    let nonsense =
        |error: redis::ParsingError| StoreError::Corrupt(format!("Redis, in a batch: {error}"));
    Ok(match step {
        Step::Get(_) => Outcome::Read(redis::from_redis_value(value).map_err(nonsense)?),
        // SET answers OK; SET NX answers nil when a live record or slot was there; the script 1 or 0.
        Step::Put { .. }
        | Step::InsertNew { .. }
        | Step::CompareAndSwap { .. }
        | Step::ClaimSlot { .. } => {
            Outcome::Written(redis::from_redis_value(value).map_err(nonsense)?)
        }
        Step::Append { .. } => Outcome::Length(redis::from_redis_value(value).map_err(nonsense)?),
    })
}

/// Runs `operation` within [`OPERATION_TIMEOUT`].
async fn bounded<T>(
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .unwrap_or_else(|_elapsed| {
            Err(StoreError::Unavailable(format!(
                "Redis did not answer within {OPERATION_TIMEOUT:?}"
            )))
        })
}

/// A lifetime as the scripts take it: milliseconds, "0" for an end already past, or "" for a
/// record without expiry.
fn lua_lifetime(lifetime: Lifetime) -> String {
    match expiry_of(lifetime) {
        Expiry::Never => String::new(),
        Expiry::In(millis) => millis.to_string(),
        Expiry::Ended => "0".to_owned(),
    }
}

/// When a record written now ends, as Redis is told it.
#[derive(Debug, PartialEq, Eq)]
enum Expiry {
    Never,
    /// `PX` milliseconds from now.
    In(u64),
    /// Before it is written: the record must never be read, as the embedded store never reads it.
    Ended,
}

/// An end in Unix time is counted from this instance's clock, as the domain that chose it counts.
fn expiry_of(lifetime: Lifetime) -> Expiry {
    match lifetime {
        Lifetime::Forever => Expiry::Never,
        Lifetime::For(duration) => Expiry::In(px_millis(duration)),
        Lifetime::Until(unix_secs) => {
            // An end past what the clock can name is as good as the longest lifetime Redis takes.
            let left = UNIX_EPOCH
                .checked_add(Duration::from_secs(unix_secs))
                .map_or(Some(Duration::MAX), |end| {
                    end.duration_since(SystemTime::now()).ok()
                });
            match left {
                Some(left) if !left.is_zero() => Expiry::In(px_millis(left)),
                Some(_) | None => Expiry::Ended,
            }
        }
    }
}

/// A duration as `PX` milliseconds: at least one (Redis refuses zero) and at most what Redis accepts
/// (it refuses an expiry past the end of its clock).
fn px_millis(duration: Duration) -> u64 {
    const LONGEST_PX: u64 = i64::MAX as u64 / 2;
    u64::try_from(duration.as_millis())
        .unwrap_or(LONGEST_PX)
        .clamp(1, LONGEST_PX)
}

fn unreachable(error: RedisError) -> StoreError {
    let hint = certificate_hint(&error);
    StoreError::Unavailable(format!("cannot connect to Redis: {error}{hint}"))
}

/// What to do when Redis ended the TLS handshake asking for a client certificate, which it does by
/// default (`tls-auth-clients yes`); empty for any other error. The alert is recognised by the
/// name rustls gives it, as the cluster client passes its nodes' errors on as text only. Only
/// TLS 1.3 has that alert: a Redis held to TLS 1.2 answers a generic handshake failure, which
/// gets no hint.
fn certificate_hint(error: &dyn std::fmt::Display) -> &'static str {
    if error.to_string().contains("CertificateRequired") {
        " (Redis asks for a client certificate: give it in redis.tls_client_cert_file and \
         redis.tls_client_key_file)"
    } else {
        ""
    }
}

fn store_error(error: RedisError) -> StoreError {
    if matches!(
        error.kind(),
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType
    ) {
        StoreError::Corrupt(format!("Redis: {error}"))
    } else {
        StoreError::Unavailable(format!("Redis: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_in_unix_time_becomes_the_milliseconds_left() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        assert_eq!(expiry_of(Lifetime::Forever), Expiry::Never);
        let Expiry::In(left) = expiry_of(Lifetime::Until(now + 60)) else {
            panic!("an end a minute away is in the future");
        };
        assert!((59_000..=60_000).contains(&left), "{left} ms left");
        assert_eq!(expiry_of(Lifetime::Until(now - 1)), Expiry::Ended);
        assert_eq!(expiry_of(Lifetime::Until(0)), Expiry::Ended);
        // Beyond what the clock can name: still a lifetime Redis takes, and no panic.
        assert_eq!(
            expiry_of(Lifetime::Until(u64::MAX)),
            Expiry::In(i64::MAX as u64 / 2)
        );
    }
}
