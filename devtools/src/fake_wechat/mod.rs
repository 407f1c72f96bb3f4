//! A fake WeChat server for tests and dev mode: an axum router that behaves like `api.weixin.qq.com`
//! for the endpoints this project uses (reference §8): single-use 300 s codes, the stable access token
//! endpoint with its rotation rules, protected calls that reject missing, unknown and expired tokens,
//! a getwxacodeunlimit that validates like WeChat and answers PNG labelled `image/jpeg`, and queued
//! faults. `POST /fake/wx.login` mints a code as `wx.login` would on a phone.

mod cli;
mod routes;
#[cfg(test)]
mod tests;
mod world;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use self::cli::{FakeWeChatArgs, FakeWeChatError, run};
use self::world::World;
use meeteasy_protocol::Secret;

/// A mini program the fake knows.
#[derive(Debug, Clone)]
pub struct FakeApp {
    pub appid: String,
    pub secret: Secret,
    /// Pages of the published version; the first is the home page.
    pub pages: Vec<String>,
    /// Bound to an Open Platform account: code2Session returns the unionid a code was minted with.
    pub unionid_bound: bool,
}

/// The endpoints faults can be queued for and calls are counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FakeEndpoint {
    Code2Session,
    StableToken,
    UnlimitedQrCode,
}

/// What the next call to an endpoint suffers instead of its normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFault {
    /// `-1` system error.
    SystemError,
    /// 45009, the daily quota.
    DailyQuota,
    /// 45011, the minute quota.
    MinuteQuota,
    /// Any errcode.
    Errcode(i64),
    /// Never answers.
    Hang,
}

/// A fake WeChat, to configure then serve.
pub struct FakeWeChat {
    shared: Arc<Mutex<World>>,
}

/// Drives a running fake from a test: mint codes, queue faults, read counters, age its clock.
#[derive(Clone)]
pub struct FakeHandle {
    shared: Arc<Mutex<World>>,
}

fn lock(shared: &Mutex<World>) -> MutexGuard<'_, World> {
    // The world stays consistent even if a handler panicked mid-way: each step is one small update.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeWeChat {
    pub fn new(apps: Vec<FakeApp>) -> Self {
        Self {
            shared: Arc::new(Mutex::new(World::new(apps, false))),
        }
    }

    /// Also accept `dev:<name>` codes for any app, as user `dev-<name>` (reusable, no unionid).
    pub fn accept_dev_codes(self, accept: bool) -> Self {
        lock(&self.shared).set_accept_dev_codes(accept);
        self
    }

    pub fn handle(&self) -> FakeHandle {
        FakeHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    pub fn router(&self) -> axum::Router {
        routes::router(Arc::clone(&self.shared))
    }

    /// Serves until the task is dropped or the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

impl FakeHandle {
    /// The code `wx.login` in `appid` would return on `openid`'s phone.
    pub fn mint_code(&self, appid: &str, openid: &str, unionid: Option<&str>) -> String {
        lock(&self.shared).mint_code(appid, openid, unionid)
    }

    /// The next `times` calls to `endpoint` suffer `fault`.
    pub fn inject(&self, endpoint: FakeEndpoint, fault: FakeFault, times: u32) {
        lock(&self.shared).inject(endpoint, fault, times);
    }

    /// How many calls `endpoint` received, faulted ones included.
    pub fn calls(&self, endpoint: FakeEndpoint) -> u64 {
        lock(&self.shared).calls(endpoint)
    }

    /// Moves the fake's clock forward: codes and tokens age without waiting.
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared).advance_clock(by);
    }
}
