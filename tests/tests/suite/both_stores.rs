//! Cases written once against a dev server and run on both stores: `on_both_stores!(case, ...)`
//! generates `embedded::<case>` and `redis::<case>`, each calling `case(start)` with a [`Start`]
//! that brings up a server (settings changed by a tweak) on that store.

use meeteasy_auth::config::Settings;
use meeteasy_tests::redis_server::RedisServer;
use meeteasy_tests::server::{TestServer, redis_store};

/// A dev server on the embedded store, or on a fresh redis-server it keeps running.
pub struct Backend {
    pub server: TestServer,
    _redis: Option<RedisServer>,
}

pub async fn embedded(tweak: fn(&mut Settings)) -> Backend {
    Backend {
        server: TestServer::start_with(tweak).await,
        _redis: None,
    }
}

pub async fn redis(tweak: fn(&mut Settings)) -> Backend {
    let redis = RedisServer::start();
    let url = redis.url();
    let server = TestServer::start_with(|settings| {
        settings.store = redis_store(&url);
        tweak(settings);
    })
    .await;
    Backend {
        server,
        _redis: Some(redis),
    }
}

/// [`embedded`] or [`redis`], as a case takes it.
pub trait Start: FnOnce(fn(&mut Settings)) -> Self::Started {
    type Started: std::future::Future<Output = Backend>;
}

impl<F, Fut> Start for F
where
    F: FnOnce(fn(&mut Settings)) -> Fut,
    Fut: std::future::Future<Output = Backend>,
{
    type Started = Fut;
}

/// Settings as they are.
pub fn untouched(_: &mut Settings) {}

/// Generates `embedded::<case>` and `redis::<case>` from each case named.
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::both_stores::embedded).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::both_stores::redis).await;
                }
            )+
        }
    };
}
