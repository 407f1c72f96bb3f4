//! The benchmarks README.md quotes: `meeteasy-bench` (the auth server on the embedded store and on
//! Redis), `bench-console` (the desktop console in its real window) and the Criterion benchmark of
//! the embedded store (`cargo bench -p meeteasy-bench --bench store`). This library holds what
//! they share: one error type, one `/proc` reader, Markdown tables, and the parts of each run.

pub mod api;
pub mod console;
pub mod measure;
pub mod procfs;
pub mod servers;
pub mod table;

/// Everything the benchmarks take from `meeteasy_auth`, in one place: its API is being reshaped.
pub mod auth {
    pub use meeteasy_auth::store::embedded::EmbeddedStore;
    pub use meeteasy_auth::store::{Lifetime, Store};
    pub use meeteasy_auth::wechat::client::install_tls_provider;
}

/// Why a run failed. Every failure stops the run: a figure measured around an error would not mean
/// what its table says.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Http(&'static str, #[source] reqwest::Error),
    #[error("{0}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}")]
    Failed(String),
    #[error("a benchmark task stopped")]
    Task(#[from] tokio::task::JoinError),
    #[error("interrupted by a signal")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns an [`Error::Failed`] with the formatted message.
#[macro_export]
macro_rules! fail {
    ($($message:tt)+) => {
        return Err($crate::Error::Failed(format!($($message)+)))
    };
}

/// Wraps an I/O error with what was being done.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io(what, source)
}

/// Wraps an HTTP error with the call that failed.
pub fn http(what: &'static str) -> impl FnOnce(reqwest::Error) -> Error {
    move |source| Error::Http(what, source)
}

/// The error and every error that caused it, on one line (reqwest's own message leaves out the
/// socket's).
pub fn explain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    text
}
