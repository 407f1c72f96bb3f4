//! Why a benchmark run failed. Every failure stops the run: a figure measured around an error would
//! not mean what the table says.

use std::io;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{what}: {source}")]
    Http {
        what: &'static str,
        source: reqwest::Error,
    },
    #[error("{what}: expected HTTP {expected}, got {status}: {body}")]
    Status {
        what: &'static str,
        expected: u16,
        status: u16,
        body: String,
    },
    #[error("{what}: unexpected answer: {answer}")]
    Answer { what: &'static str, answer: String },
    #[error("{what} did not happen within {within:?}")]
    TimedOut { what: String, within: Duration },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{what} exited early ({status}); the end of its log:\n{log_tail}")]
    Exited {
        what: String,
        status: String,
        log_tail: String,
    },
    #[error("cannot read {what} from {path}")]
    Proc { what: &'static str, path: String },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error(
        "open files limit is {soft}, the 10,000-console test needs at least {needed}: run `ulimit -n {needed}` first (scripts/bench.sh does)"
    )]
    FileLimit { soft: u64, needed: u64 },
    #[error("all {count} loopback console addresses are used up; ask for fewer scenes")]
    OutOfAddresses { count: u32 },
    #[error("a benchmark task stopped unexpectedly: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("interrupted by a signal")]
    Interrupted,
}

impl BenchError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}
