//! The access token of each app (`/cgi-bin/stable_token`), cached in the store so every instance on one
//! store shares it, and refreshed by a single flight: in this process a per-app mutex lets one caller
//! fetch while the others wait, and across instances a short lock record does the same, the waiters
//! waking on the holder's notification.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::call::{self, Api, CallError, Endpoint};
use crate::config::AppSettings;
use crate::domain::{NoRandomness, random_token};
use crate::store::{Lifetime, Store, insert_or_own, run_then_release};

/// Tokens are dropped from the cache this long before WeChat's expiry. `stable_token` rotates a token
/// in its last 300 s, so the fetch after this margin gets a fresh one instead of the dying one.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// How many refreshes of an app this server forces in [`FORCED_REFRESHES_WINDOW`], across the
/// instances on one store. WeChat allows 20 a day and then answers 45009; half stays the
/// operator's, for a token that leaked. A token WeChat refuses while `stable_token` still hands
/// it out is WeChat's own inconsistency, which a forced refresh has cured so far; one that keeps
/// coming back is not cured by forcing, and forcing it would spend the rest of the day's.
pub(super) const FORCED_REFRESHES: u64 = 10;
pub(super) const FORCED_REFRESHES_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

pub(super) struct AccessTokens {
    store: Arc<dyn Store>,
    /// appid -> the lock its in-process refreshes queue on.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// This client's random name: with a count of its refreshes, the value its shared lock holds,
    /// one no other refresh on any instance writes.
    holder_prefix: String,
    refreshes: AtomicU64,
}

#[derive(Serialize)]
struct StableTokenRequest<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: u64,
}

fn token_key(appid: &str) -> String {
    format!("wechat:token:{appid}")
}

fn refresh_lock_key(appid: &str) -> String {
    format!("wechat:token-refresh:{appid}")
}

/// The count of the app's forced refreshes (see [`FORCED_REFRESHES`]).
fn forced_refreshes_key(appid: &str) -> String {
    format!("wechat:token-forced:{appid}")
}

/// Topic the instance that refreshed a token notifies.
fn refreshed_topic(appid: &str) -> String {
    format!("wechat:token-refreshed:{appid}")
}

impl AccessTokens {
    pub fn new(store: Arc<dyn Store>) -> Result<Self, NoRandomness> {
        Ok(Self {
            store,
            flights: Mutex::new(HashMap::new()),
            holder_prefix: random_token()?,
            refreshes: AtomicU64::new(0),
        })
    }

    /// A valid access token for `app`, fetched only when no instance holds a live one.
    pub async fn current(
        &self,
        api: &Api,
        app: &AppSettings,
        deadline: Instant,
    ) -> Result<String, CallError> {
        self.other_than(api, app, None, deadline).await
    }

    /// A token to use instead of `refused`, which WeChat just refused (stale: 40001, 40014, 42001).
    /// The cached token is dropped and one fetched as usual; when that hands back the very token
    /// refused (another instance cached it again, or `stable_token` still counts it live), WeChat is
    /// made to issue a new one (`force_refresh`) rather than the call retried with a token it refused.
    pub async fn replacing(
        &self,
        api: &Api,
        app: &AppSettings,
        refused: &str,
        deadline: Instant,
    ) -> Result<String, CallError> {
        self.invalidate(&app.appid, refused).await?;
        let token = self.current(api, app, deadline).await?;
        if token != refused {
            return Ok(token);
        }
        tracing::warn!(
            appid = %app.appid,
            "the access token WeChat refused came back from the refresh; forcing a new one"
        );
        self.other_than(api, app, Some(refused), deadline).await
    }

    /// A live token other than `refused`, fetched only when no instance holds one: by a forced
    /// refresh when `refused` is given, since that is the token a plain one hands back.
    async fn other_than(
        &self,
        api: &Api,
        app: &AppSettings,
        refused: Option<&str>,
        deadline: Instant,
    ) -> Result<String, CallError> {
        if let Some(token) = self.usable(&app.appid, refused).await? {
            return Ok(token);
        }
        let flight = self.flight(&app.appid);
        let _turn = tokio::time::timeout_at(deadline, flight.lock())
            .await
            .map_err(|_elapsed| CallError::TimedOut(api.budget))?;
        // Whoever held the turn before us may have fetched it already.
        if let Some(token) = self.usable(&app.appid, refused).await? {
            return Ok(token);
        }
        self.refresh_across_instances(api, app, refused, deadline)
            .await
    }

    /// Forgets `used` after WeChat rejected it, unless another caller has already replaced it.
    async fn invalidate(&self, appid: &str, used: &str) -> Result<(), CallError> {
        // An empty record marks "no valid token"; it lives only until someone refetches.
        let replaced = self
            .store
            .compare_and_swap(
                &token_key(appid),
                used.as_bytes(),
                b"",
                Lifetime::For(REFRESH_MARGIN),
            )
            .await?;
        tracing::info!(appid, replaced, "WeChat rejected the cached access token");
        Ok(())
    }

    /// The cached token, unless it is `refused`.
    async fn usable(
        &self,
        appid: &str,
        refused: Option<&str>,
    ) -> Result<Option<String>, CallError> {
        let record = self.store.get(&token_key(appid)).await?;
        // An empty (invalidated) or garbled record is as good as none: the next fetch overwrites it.
        Ok(record
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|token| !token.is_empty() && Some(token.as_str()) != refused))
    }

    fn flight(&self, appid: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(flights.entry(appid.to_owned()).or_default())
    }

    /// Takes the shared refresh lock and fetches, or waits for the instance holding it to publish.
    async fn refresh_across_instances(
        &self,
        api: &Api,
        app: &AppSettings,
        refused: Option<&str>,
        deadline: Instant,
    ) -> Result<String, CallError> {
        let lock_key = refresh_lock_key(&app.appid);
        // The lock outlives our own deadline (taken after it started, for a whole budget), so when we
        // delete it, it is still ours; a crashed holder's lock lapses by itself.
        let lock_lifetime = Lifetime::For(api.budget);
        let refresh = self.refreshes.fetch_add(1, Ordering::Relaxed);
        let holder = format!("{}.{refresh}", self.holder_prefix).into_bytes();
        loop {
            let mut refreshed = self.store.subscribe(&refreshed_topic(&app.appid));
            if let Some(token) = self.usable(&app.appid, refused).await? {
                return Ok(token);
            }
            // A lock insert sent again whose first sending was made (Redis Cluster) finds the lock
            // taken: its value tells it is this refresh's own.
            if insert_or_own(self.store.as_ref(), &lock_key, &holder, lock_lifetime).await? {
                let force_refresh = refused.is_some();
                return self
                    .fetch_holding_lock(api, app, force_refresh, (lock_key, holder), deadline)
                    .await;
            }
            // Another instance is fetching: wait for its notification (or its lock to lapse), then re-read.
            let wake_by = deadline.min(Instant::now() + api.budget);
            if tokio::time::timeout_at(wake_by, refreshed.changed())
                .await
                .is_err()
                && Instant::now() >= deadline
            {
                return Err(CallError::TimedOut(api.budget));
            }
        }
    }

    /// Fetches and caches under the shared lock, in a task that outlives the caller: one dropped at
    /// an await (its request's client hung up, or its deadline fired first) must not leave the lock
    /// held for a whole budget with every waiter asleep. The fetch ends by `deadline`.
    async fn fetch_holding_lock(
        &self,
        api: &Api,
        app: &AppSettings,
        force_refresh: bool,
        lock: (String, Vec<u8>),
        deadline: Instant,
    ) -> Result<String, CallError> {
        let store = Arc::clone(&self.store);
        let (api, app) = (api.clone(), app.clone());
        let topic = refreshed_topic(&app.appid);
        let fetch = async move {
            fetch_and_cache(store.as_ref(), &api, &app, force_refresh, deadline).await
        };
        run_then_release(Arc::clone(&self.store), lock, topic, fetch)
            .await
            .map_err(|stopped| CallError::Interrupted(stopped.to_string()))?
    }
}

/// Asks `stable_token` for the app's token and caches it. `force_refresh` makes WeChat revoke its
/// current token and issue a new one; it allows that 20 times a day, 30 s apart (faster ones hand
/// back the current token), so it is only asked for a token WeChat refused and then handed back,
/// and at most [`FORCED_REFRESHES`] times in [`FORCED_REFRESHES_WINDOW`].
async fn fetch_and_cache(
    store: &dyn Store,
    api: &Api,
    app: &AppSettings,
    force_refresh: bool,
    deadline: Instant,
) -> Result<String, CallError> {
    if force_refresh {
        let forced = store
            .count_in_window(&forced_refreshes_key(&app.appid), FORCED_REFRESHES_WINDOW)
            .await?;
        if forced.count > FORCED_REFRESHES {
            return Err(CallError::ForcedRefreshesSpent {
                forced: FORCED_REFRESHES,
                again_in: forced.resets_in,
            });
        }
    }
    let request = StableTokenRequest {
        grant_type: "client_credential",
        appid: &app.appid,
        secret: app.secret.expose(),
        force_refresh,
    };
    let reply: TokenReply = call::retrying_system_errors(deadline, || async {
        let answer = call::send(
            api.post(Endpoint::StableToken).json(&request),
            call::JSON_ANSWER_LIMIT,
            deadline,
            api.budget,
        )
        .await?;
        call::parse_reply(Endpoint::StableToken, &answer.body)
    })
    .await?;
    let cached_for = reply
        .expires_in
        .saturating_sub(REFRESH_MARGIN.as_secs())
        .max(reply.expires_in / 2)
        .max(1);
    store
        .put(
            &token_key(&app.appid),
            reply.access_token.as_bytes(),
            Lifetime::For(Duration::from_secs(cached_for)),
        )
        .await?;
    Ok(reply.access_token)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use axum::Json;
    use axum::routing::post;
    use serde_json::json;

    use super::*;
    use crate::domain::{Calls, Fault, FaultyStore};

    /// WeChat's `stable_token` on loopback, counting its calls.
    async fn token_endpoint(calls: Arc<AtomicUsize>) -> String {
        let answer = move || async move {
            calls.fetch_add(1, Ordering::Relaxed);
            Json(json!({"access_token": "token-1", "expires_in": 7200}))
        };
        let app = axum::Router::new().route("/cgi-bin/stable_token", post(answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    /// The refresh lock's insert sent again (its first sending made, its reply lost: a Redis
    /// Cluster client resends) answers "taken": the refresh reads the lock back, finds it its own,
    /// and fetches, rather than wait out its deadline for a fetch nobody makes.
    #[tokio::test]
    async fn a_refresh_lock_whose_insert_was_resent_is_its_taker_s() {
        let store = FaultyStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        super::super::install_tls_provider();
        let api = Api {
            http: reqwest::Client::new(),
            base_url: token_endpoint(Arc::clone(&calls)).await,
            budget: Duration::from_secs(3),
        };
        let app = super::super::tests::app_settings();
        let lock = refresh_lock_key(&app.appid);
        store.fail_next(Calls::Write, &lock, Fault::Resent);
        let tokens = AccessTokens::new(store.clone()).expect("randomness");

        let token = tokens
            .current(&api, &app, Instant::now() + api.budget)
            .await;
        assert_eq!(token.expect("a token"), "token-1");
        assert!(store.all_faults_hit());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(store.get(&lock).await.unwrap(), None, "the lock is let go");
    }
}
