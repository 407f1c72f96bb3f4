//! In-process auth servers on free loopback ports, each with its own store (or a shared Redis), driven
//! over real HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meeteasy_auth::config::{self, Overrides, RedisSettings, Settings, StoreLocation};
use meeteasy_auth::domain::{Admin, AuthService, NewPasswordUser};
use meeteasy_auth::http::pages::PageAddOns;
use meeteasy_auth::server::{Server, Stopped};
use meeteasy_auth::store::Store;
use meeteasy_devtools::dev_mode::{self, DevMode};
use meeteasy_devtools::fake_wechat::FakeHandle;
use meeteasy_protocol::Secret;
use meeteasy_protocol::{User, WeChatLoginResponse};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{Reply, ServerApi};

pub struct TestServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    /// The address it is reached at (loopback when it listens on every address).
    pub addr: SocketAddr,
    /// Its endpoints, over HTTP at `base_url`.
    api: ServerApi,
    service: Arc<AuthService>,
    store: Arc<dyn Store>,
    dev_wechat: Option<FakeHandle>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Stopped>>>,
    _data_dir: Option<TempDir>,
}

/// A reqwest client for tests: no proxy, bounded.
pub fn http_client() -> reqwest::Client {
    meeteasy_auth::wechat::client::install_tls_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a reqwest client builds")
}

/// The settings of a dev-mode server on `addr` storing in `data_dir`, as `serve --dev` would make them.
pub fn dev_settings(addr: SocketAddr, data_dir: &Path) -> Settings {
    config::load(&Overrides {
        listen: Some(addr),
        data_dir: Some(data_dir.to_path_buf()),
        dev: Some(true),
        ..Overrides::default()
    })
    .expect("dev settings are valid")
}

/// Starts dev mode as `serve` does, unless `tweak` turned it off.
async fn with_dev_mode(mut settings: Settings) -> (Settings, Option<DevMode>) {
    let dev_mode = if settings.dev {
        Some(
            dev_mode::start(&mut settings)
                .await
                .expect("dev mode starts"),
        )
    } else {
        None
    };
    (settings, dev_mode)
}

fn pages_of(dev_mode: &Option<DevMode>) -> PageAddOns {
    dev_mode
        .as_ref()
        .map(|dev_mode| dev_mode.pages.clone())
        .unwrap_or_default()
}

impl TestServer {
    /// A dev-mode server on a fresh embedded store.
    pub async fn start_dev() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A dev-mode server on a fresh embedded store, its settings changed by `tweak` first
    /// (e.g. shorter lifetimes, a Redis store, H5 origins).
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().to_path_buf();
        let mut server = Self::start_in(&path, tweak).await;
        server._data_dir = Some(dir);
        server
    }

    /// A dev-mode server whose embedded store lives in `data_dir` (which the caller keeps), so a test
    /// can stop it and start another on the same data.
    pub async fn start_in(data_dir: &Path, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let mut settings = dev_settings(addr, data_dir);
        tweak(&mut settings);
        let (settings, dev_mode) = with_dev_mode(settings).await;
        let server = Server::build(settings, pages_of(&dev_mode))
            .await
            .expect("the server starts");
        Self::run(server, listener, addr, dev_mode)
    }

    /// A dev-mode server on a fresh embedded store, serving `listener` (one bound to `[::]`, say).
    pub async fn start_listening(
        listener: TcpListener,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let addr = listener.local_addr().expect("a bound address");
        let mut settings = dev_settings(addr, dir.path());
        tweak(&mut settings);
        let (settings, dev_mode) = with_dev_mode(settings).await;
        let server = Server::build(settings, pages_of(&dev_mode))
            .await
            .expect("the server starts");
        let mut server = Self::run(server, listener, addr, dev_mode);
        server._data_dir = Some(dir);
        server
    }

    /// Like [`TestServer::start_in`] but on an already open store.
    pub async fn start_on(store: Arc<dyn Store>, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let mut settings = dev_settings(addr, &PathBuf::from("unused"));
        tweak(&mut settings);
        let (settings, dev_mode) = with_dev_mode(settings).await;
        let server = Server::build_on(settings, store, pages_of(&dev_mode))
            .await
            .expect("the server starts");
        Self::run(server, listener, addr, dev_mode)
    }

    fn run(
        server: Server,
        listener: TcpListener,
        addr: SocketAddr,
        dev_mode: Option<DevMode>,
    ) -> TestServer {
        let service = server.service().clone();
        let store = server.store().clone();
        let dev_wechat = dev_mode.map(|dev_mode| dev_mode.wechat);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            };
            server.run(listener, shutdown).await
        });
        // A server on every address is reached on loopback (IPv4: the dual-stack case).
        let reach = if addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        let base_url = format!("http://{reach}");
        TestServer {
            api: ServerApi::new(base_url.clone()),
            base_url,
            addr: reach,
            service,
            store,
            dev_wechat,
            stop: Some(stop),
            task: Some(task),
            _data_dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    pub fn http(&self) -> &reqwest::Client {
        self.api.http()
    }

    /// Its endpoints, for steps that also run against a `serve` process.
    pub fn api(&self) -> &ServerApi {
        &self.api
    }

    pub fn service(&self) -> &Arc<AuthService> {
        &self.service
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        self.service.settings()
    }

    /// The in-process fake WeChat of dev mode.
    pub fn wechat(&self) -> &FakeHandle {
        self.dev_wechat
            .as_ref()
            .expect("a dev-mode server has a fake WeChat")
    }

    pub async fn post(&self, path: &str, body: serde_json::Value, bearer: Option<&str>) -> Reply {
        self.api.post(path, body, bearer).await
    }

    pub async fn post_empty(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.api.post_empty(path, bearer).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.api.get(path, bearer).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.api.delete(path, bearer).await
    }

    /// A mini program login as dev user `name` (organizer unless the name starts with `guest`).
    pub async fn dev_login(&self, name: &str) -> WeChatLoginResponse {
        self.api.dev_login(name).await
    }

    /// Adds a user who logs in with `password`, as `meeteasy-auth users add` does.
    pub async fn add_password_user(
        &self,
        login: &str,
        name: &str,
        password: &str,
        roles: &[&str],
    ) -> User {
        Admin::new(self.store.clone())
            .add_password_user(NewPasswordUser {
                login: login.to_owned(),
                display_name: name.to_owned(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                password: Secret::new(password),
            })
            .await
            .expect("the user is added")
    }

    /// Stops gracefully: waiting long-polls answer, in-flight requests finish.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // Bounded, so that a shutdown that never ends fails the test rather than hanging it.
            tokio::time::timeout(std::time::Duration::from_secs(30), task)
                .await
                .expect("the server stops within 30 s of being told")
                .expect("the server task ends cleanly")
                .expect("the server stops because it was told, not by itself");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The store location of a Redis at `url`.
pub fn redis_store(url: &str) -> StoreLocation {
    StoreLocation::Redis(RedisSettings::single(url))
}
