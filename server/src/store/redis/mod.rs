//! The Redis store, for production and for several server instances sharing one Redis.
//!
//! Redis owns expiry (`PX`); the multi-step operations are single commands or Lua scripts, so they are
//! atomic across instances. All keys live under `meeteasy:`. Every operation is bounded by
//! [`OPERATION_TIMEOUT`]: while Redis is down callers get [`StoreError::Unavailable`] within seconds,
//! and the connection manager reconnects by itself when Redis is back. Notifications travel over
//! Redis pub/sub (`meeteasy:notify:<topic>`), one subscriber connection per store.

mod listener;
mod scripts;

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    Client, Cmd, ErrorKind, FromRedisValue, IntoConnectionInfo, ProtocolVersion, RedisError,
    RedisResult, ScriptInvocation,
};
use tokio::task::JoinHandle;

use self::scripts::Scripts;
use crate::store::{Lifetime, NotifyHub, Store, StoreError, Subscription, WindowCount};

/// Prefix of every key this server writes.
const KEY_PREFIX: &str = "meeteasy:";
/// Prefix of the pub/sub channels; the topic follows.
const NOTIFY_CHANNEL_PREFIX: &str = "meeteasy:notify:";
/// The longest any one operation may take, reconnecting included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection attempt (TCP connect and handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a sent command may wait for its answer before the connection counts as broken.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1500);
/// The pause before trying a command again after Redis refused the connection.
const RETRY_DELAY: Duration = Duration::from_millis(100);

pub struct RedisStore {
    connection: ConnectionManager,
    scripts: Scripts,
    hub: NotifyHub,
    listener: JoinHandle<()>,
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[user:password@]host[:port][/db]`) and starts listening
    /// for notifications. Fails when Redis cannot be reached now; later outages are survived.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // The URL may carry a password: it never goes into an error message.
        let invalid_url = |error: RedisError| {
            StoreError::Unavailable(format!("the Redis URL is not valid: {error}"))
        };
        let connection_info = url.into_connection_info().map_err(invalid_url)?;
        // Over RESP3 the connection manager learns at once that its connection dropped and
        // reconnects before the next command, instead of failing that command (Redis 6 and later
        // speak RESP3; GETDEL needs 6.2 anyway).
        let settings = connection_info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client =
            Client::open(connection_info.set_redis_settings(settings)).map_err(invalid_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(RETRY_DELAY)
            .set_max_delay(Duration::from_secs(1));
        let connecting = ConnectionManager::new_with_config(client.clone(), config);
        let connection = bounded(async { connecting.await.map_err(unreachable) }).await?;
        let pubsub = listener::subscribe(&client).await.map_err(|error| {
            StoreError::Unavailable(format!("cannot subscribe to Redis notifications: {error}"))
        })?;
        let hub = NotifyHub::default();
        let listener = tokio::spawn(listener::listen(client, hub.clone(), pubsub));
        let store = Self {
            connection,
            scripts: Scripts::new(),
            hub,
            listener,
        };
        store.ping().await?;
        Ok(store)
    }

    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        self.run(|mut connection| async move { command.query_async(&mut connection).await })
            .await
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run(|mut connection| async move { script.invoke_async(&mut connection).await })
            .await
    }

    /// Runs one command on a handle of the shared connection, within [`OPERATION_TIMEOUT`]. While
    /// Redis refuses the connection (down, or just restarting) it tries again: a refused connection
    /// carried nothing, so even a take or a compare-and-swap is safe to repeat.
    async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let give_up_at = Instant::now() + OPERATION_TIMEOUT - RETRY_DELAY;
        bounded(async {
            loop {
                match attempt(self.connection.clone()).await {
                    Err(error) if error.is_connection_refusal() && Instant::now() < give_up_at => {
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                    result => return result.map_err(store_error),
                }
            }
        })
        .await
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GET").arg(prefixed(key))).await
    }

    async fn put(&self, key: &str, value: &[u8], lifetime: Lifetime) -> Result<(), StoreError> {
        let mut command = redis::cmd("SET");
        command.arg(prefixed(key)).arg(value);
        if let Lifetime::For(duration) = lifetime {
            command.arg("PX").arg(px_millis(duration));
        }
        self.query(&command).await
    }

    async fn insert_new(
        &self,
        key: &str,
        value: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let mut command = redis::cmd("SET");
        command.arg(prefixed(key)).arg(value).arg("NX");
        if let Lifetime::For(duration) = lifetime {
            command.arg("PX").arg(px_millis(duration));
        }
        // OK (true) when written, nil (false) when a live record was there.
        self.query(&command).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        lifetime: Lifetime,
    ) -> Result<bool, StoreError> {
        let mut invocation = self.scripts.compare_and_swap.prepare_invoke();
        invocation.key(prefixed(key)).arg(expected).arg(new);
        if let Lifetime::For(duration) = lifetime {
            invocation.arg(px_millis(duration));
        }
        self.invoke(&invocation).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GETDEL").arg(prefixed(key))).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.query(redis::cmd("DEL").arg(prefixed(key))).await
    }

    async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, StoreError> {
        let mut invocation = self.scripts.count_in_window.prepare_invoke();
        invocation.key(prefixed(key)).arg(px_millis(window));
        let (count, left_millis): (u64, i64) = self.invoke(&invocation).await?;
        Ok(WindowCount {
            count,
            resets_in: Duration::from_millis(u64::try_from(left_millis).unwrap_or(0)),
        })
    }

    async fn notify(&self, topic: &str) -> Result<(), StoreError> {
        let channel = format!("{NOTIFY_CHANNEL_PREFIX}{topic}");
        // The message carries nothing: subscribers re-read the state they wait on.
        let _receivers: u64 = self
            .query(redis::cmd("PUBLISH").arg(channel).arg(""))
            .await?;
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

fn prefixed(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

/// A lifetime as `PX` milliseconds: at least one (Redis refuses zero) and at most what Redis accepts
/// (it refuses an expiry past the end of its clock).
fn px_millis(duration: Duration) -> u64 {
    const LONGEST_PX: u64 = i64::MAX as u64 / 2;
    u64::try_from(duration.as_millis())
        .unwrap_or(LONGEST_PX)
        .clamp(1, LONGEST_PX)
}

fn unreachable(error: RedisError) -> StoreError {
    StoreError::Unavailable(format!("cannot connect to Redis: {error}"))
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
