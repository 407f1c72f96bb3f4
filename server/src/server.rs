//! Putting the server together: open the store, reach WeChat (in dev mode, a fake WeChat started in
//! this process), load the signing keys, and serve HTTP(S) until told to stop.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Settings, StoreLocation};
use crate::domain::AuthService;
use crate::metrics::Metrics;
use crate::store::embedded::{EmbeddedOpenError, EmbeddedStore};
use crate::store::redis::RedisStore;
use crate::store::{Store, StoreError};
use crate::wechat::client::{WeChatClient, WeChatClientError};
use crate::wechat::fake::{FakeApp, FakeHandle, FakeWeChat};

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
    #[error("cannot start the dev-mode fake WeChat: {0}")]
    DevWeChat(io::Error),
    #[error("serving failed: {0}")]
    Serve(io::Error),
}

/// Opens the store the settings name.
pub async fn open_store(location: &StoreLocation) -> Result<Arc<dyn Store>, StartError> {
    Ok(match location {
        StoreLocation::Embedded { data_dir } => Arc::new(EmbeddedStore::open(data_dir)?),
        StoreLocation::Redis { url } => Arc::new(RedisStore::connect(url.expose()).await?),
    })
}

/// A server ready to serve: store open, keys loaded.
pub struct Server {
    service: Arc<AuthService>,
    store: Arc<dyn Store>,
    shutting_down: watch::Sender<bool>,
    dev_wechat: Option<FakeHandle>,
}

impl Server {
    pub async fn build(settings: Settings) -> Result<Server, StartError> {
        let store = open_store(&settings.store).await?;
        Server::build_on(settings, store).await
    }

    /// Builds on a store that is already open (tests share one store between instances).
    pub async fn build_on(
        mut settings: Settings,
        store: Arc<dyn Store>,
    ) -> Result<Server, StartError> {
        let dev_wechat = if settings.dev {
            let (url, handle) = start_dev_wechat(&settings).await?;
            settings.wechat.base_url = url;
            Some(handle)
        } else {
            None
        };
        let wechat = Arc::new(WeChatClient::new(&settings.wechat, store.clone())?);
        let (shutting_down, shutdown_seen) = watch::channel(false);
        let service = AuthService::start(
            store.clone(),
            wechat,
            Arc::new(settings),
            Arc::new(Metrics::default()),
            shutdown_seen,
        )
        .await?;
        Ok(Server {
            service: Arc::new(service),
            store,
            shutting_down,
            dev_wechat,
        })
    }

    pub fn service(&self) -> &Arc<AuthService> {
        &self.service
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// In dev mode, the in-process fake WeChat (tests mint codes and inject faults through it).
    pub fn dev_wechat(&self) -> Option<&FakeHandle> {
        self.dev_wechat.as_ref()
    }

    /// Serves on `listener` until `shutdown` resolves; then waiting long-polls answer at once and
    /// in-flight requests finish before this returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let follower = Arc::clone(&self.service);
        tokio::spawn(async move { follower.follow_key_rotations().await });
        let app = crate::http::app(self.service.clone())
            .into_make_service_with_connect_info::<crate::http::extract::PeerAddr>();
        let shutting_down = self.shutting_down;
        let stop = async move {
            shutdown.await;
            tracing::info!("shutting down: answering waiting long-polls");
            shutting_down.send_replace(true);
        };
        let tls = self.service.settings().tls.clone();
        match tls {
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
            Some(tls) => {
                let listener =
                    crate::http::tls::TlsListener::new(listener, crate::http::tls::acceptor(&tls)?)
                        .map_err(StartError::Serve)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
        }
        .map_err(StartError::Serve)
    }
}

/// Dev mode runs the real WeChat client against a fake WeChat on a loopback port, so the dev path
/// exercises the production code; the fake also accepts `dev:<name>` codes.
async fn start_dev_wechat(settings: &Settings) -> Result<(String, FakeHandle), StartError> {
    let apps = settings
        .apps
        .iter()
        .map(|app| FakeApp {
            appid: app.appid.clone(),
            secret: app.secret.clone(),
            pages: vec![app.scan_page.clone()],
            unionid_bound: false,
        })
        .collect();
    let fake = FakeWeChat::new(apps).accept_dev_codes(true);
    let handle = fake.handle();
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(StartError::DevWeChat)?;
    let addr = listener.local_addr().map_err(StartError::DevWeChat)?;
    tokio::spawn(async move {
        if let Err(error) = fake.serve(listener).await {
            tracing::error!(%error, "the dev-mode fake WeChat stopped");
        }
    });
    tracing::warn!(%addr, "DEV MODE: WeChat calls go to an in-process fake WeChat");
    Ok((format!("http://{addr}"), handle))
}
