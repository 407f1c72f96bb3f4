//! What `serve --dev` adds to a server: the real WeChat client pointed at a fake WeChat on a loopback
//! port (so the dev path exercises the production code; the fake also accepts `dev:<name>` codes),
//! and the phone simulator on the page a `url`-mode QR opens.

use std::io;

use meeteasy_auth::config::Settings;
use meeteasy_auth::http::pages::PageAddOns;
use tokio::net::TcpListener;

use crate::fake_wechat::{FakeApp, FakeHandle, FakeWeChat};

/// The phone simulator's part of the scan page, and its script.
const SCAN_SIMULATOR_HTML: &str = include_str!("../assets/scan-simulator.html");
const SCAN_SIMULATOR_JS: &str = include_str!("../assets/scan.js");
/// The phone simulator's part of the invite page (accept as a dev user), and its script.
const INVITE_SIMULATOR_HTML: &str = include_str!("../assets/invite-simulator.html");
const INVITE_SIMULATOR_JS: &str = include_str!("../assets/invite-simulator.js");

/// A running dev mode: the fake WeChat (tests mint codes and inject faults through its handle) and
/// the pages to add to the server.
pub struct DevMode {
    pub wechat: FakeHandle,
    pub pages: PageAddOns,
}

/// Starts the fake WeChat for `settings`' apps and points `settings` at it.
pub async fn start(settings: &mut Settings) -> io::Result<DevMode> {
    let apps = settings
        .apps
        .iter()
        .map(|app| FakeApp {
            appid: app.appid.clone(),
            secret: app.secret.clone(),
            pages: vec![app.scan_page.clone(), app.invite_page.clone()],
            unionid_bound: false,
        })
        .collect();
    let fake = FakeWeChat::new(apps).accept_dev_codes(true);
    let wechat = fake.handle();
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = fake.serve(listener).await {
            tracing::error!(%error, "the dev-mode fake WeChat stopped");
        }
    });
    tracing::warn!(%addr, "DEV MODE: WeChat calls go to an in-process fake WeChat");
    settings.wechat.base_url = format!("http://{addr}");
    Ok(DevMode {
        wechat,
        pages: simulator_pages(),
    })
}

/// The scan and invite pages with the phone simulator in them, and the simulator's scripts.
pub fn simulator_pages() -> PageAddOns {
    PageAddOns {
        scan_page: SCAN_SIMULATOR_HTML,
        invite_page: INVITE_SIMULATOR_HTML,
        scripts: vec![
            ("/m/scan.js", SCAN_SIMULATOR_JS),
            ("/m/invite-simulator.js", INVITE_SIMULATOR_JS),
        ],
    }
}
