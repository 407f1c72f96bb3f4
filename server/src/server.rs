//! Putting the server together: open the store, reach WeChat, load the signing keys, and serve
//! HTTP(S) until told to stop. (Dev mode's fake WeChat and phone simulator come from
//! `meeteasy-devtools`, through the settings' WeChat URL and [`PageAddOns`].)

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Settings, StoreLocation};
use crate::domain::{AuthService, SealedKeysError};
use crate::http::pages::PageAddOns;
use crate::metrics::Metrics;
use crate::store::embedded::{EmbeddedOpenError, EmbeddedStore};
use crate::store::redis::RedisStore;
use crate::store::{Store, StoreError};
use crate::wechat::client::{WeChatClient, WeChatClientError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the embedded store: {0}")]
    Embedded(#[from] EmbeddedOpenError),
    #[error("cannot use the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot start: {0}")]
    Domain(#[from] crate::domain::AuthError),
    #[error("cannot set up the WeChat client: {0}")]
    WeChat(#[from] WeChatClientError),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] crate::http::tls::TlsError),
}

/// Why a server stopped by itself (not told to): its process should exit with an error.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error(transparent)]
    KeysSealedAnew(#[from] SealedKeysError),
    #[error("the store can serve nothing more ({0}): restart the server once the cause is mended")]
    StoreBroken(StoreError),
}

/// Opens the store the settings name.
pub async fn open_store(location: &StoreLocation) -> Result<Arc<dyn Store>, StartError> {
    Ok(match location {
        StoreLocation::Embedded { data_dir } => Arc::new(EmbeddedStore::open(data_dir)?),
        StoreLocation::Redis(redis) => Arc::new(RedisStore::open(redis).await?),
    })
}

/// A server ready to serve: store open, keys loaded, certificate read.
pub struct Server {
    service: Arc<AuthService>,
    store: Arc<dyn Store>,
    /// Made at build, so a certificate or key that cannot be used stops the start before the
    /// server says it listens.
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutting_down: watch::Sender<bool>,
    page_add_ons: PageAddOns,
}

impl Server {
    pub async fn build(settings: Settings, page_add_ons: PageAddOns) -> Result<Server, StartError> {
        let store = open_store(&settings.store).await?;
        Server::build_on(settings, store, page_add_ons).await
    }

    /// Builds on a store that is already open (tests share one store between instances).
    pub async fn build_on(
        settings: Settings,
        store: Arc<dyn Store>,
        page_add_ons: PageAddOns,
    ) -> Result<Server, StartError> {
        let tls = match &settings.tls {
            Some(tls) => Some(crate::http::tls::acceptor(tls)?),
            None => None,
        };
        let wechat = Arc::new(WeChatClient::new(&settings.wechat, store.clone())?);
        let (shutting_down, shutdown_seen) = watch::channel(false);
        let key_encryption_key = settings.key_encryption_key.clone();
        let service = AuthService::start(
            store.clone(),
            wechat,
            Arc::new(settings),
            key_encryption_key,
            Arc::new(Metrics::default()),
            shutdown_seen,
        )
        .await?;
        Ok(Server {
            service: Arc::new(service),
            store,
            tls,
            shutting_down,
            page_add_ons,
        })
    }

    pub fn service(&self) -> &Arc<AuthService> {
        &self.service
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Serves on `listener` until `shutdown` resolves; then waiting long-polls answer at once and
    /// in-flight requests finish before this returns. Stops by itself, answering why, when the
    /// store's signing keys were sealed with a key-encryption key this instance does not have (see
    /// [`AuthService::follow_key_rotations`]), or when the store can serve nothing more (see
    /// [`Store::broken`]): a server up but answering every request 503 would keep its supervisor
    /// from restarting it.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Stopped> {
        let tls = self.tls;
        let follower = Arc::clone(&self.service);
        let following = tokio::spawn(async move { follower.follow_key_rotations().await });
        let router = crate::http::app(self.service.clone(), &self.page_add_ons);
        let shutting_down = self.shutting_down;
        let store = self.store;
        let (stopped_by_itself, why) = tokio::sync::oneshot::channel();
        let stop = async move {
            tokio::select! {
                () = shutdown => {}
                Ok(Err(error)) = following => {
                    tracing::error!(%error, "the signing keys were sealed anew with another key-encryption key: stopping, so the keys in use sign nothing more; restart with the new one");
                    let _told = stopped_by_itself.send(Stopped::KeysSealedAnew(error));
                }
                error = store.broken() => {
                    tracing::error!(%error, "the store can serve nothing more (is the disk full or failing?): stopping, so the server can be started afresh");
                    let _told = stopped_by_itself.send(Stopped::StoreBroken(error));
                }
            }
            tracing::info!("shutting down: answering waiting long-polls");
            shutting_down.send_replace(true);
        };
        crate::http::serve::serve(listener, router, self.service, tls, stop).await;
        match why.await {
            Ok(stopped) => Err(stopped),
            Err(_told_to) => Ok(()),
        }
    }
}
