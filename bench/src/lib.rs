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

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a run failed: what was being done, and the error that caused it, if any. Every failure
/// stops the run: a figure measured around an error would not mean what its table says.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String, #[source] Option<Cause>);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(what: impl Into<String>) -> Self {
        Self(what.into(), None)
    }
}

/// Returns an [`Error`] with the formatted message.
#[macro_export]
macro_rules! fail {
    ($($message:tt)+) => {
        return Err($crate::Error::new(format!($($message)+)))
    };
}

/// Wraps an error (I/O, HTTP, a task's) with what was being done.
pub fn because<E: Into<Cause>>(what: impl Into<String>) -> impl FnOnce(E) -> Error {
    let what = what.into();
    move |cause| Error(what, Some(cause.into()))
}

/// Writes progress to stderr, after the program's name.
#[macro_export]
macro_rules! progress {
    ($($step:tt)+) => { eprintln!("{}: {}", env!("CARGO_BIN_NAME"), format!($($step)+)) };
}

/// `program`'s exit code for `outcome`. A failure is written out with every error that caused it,
/// on one line: reqwest's own message leaves out the socket's.
pub fn exit_code(program: &str, outcome: Result<()>) -> std::process::ExitCode {
    let Err(error) = outcome else {
        return std::process::ExitCode::SUCCESS;
    };
    let (mut text, mut cause) = (error.to_string(), std::error::Error::source(&error));
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    eprintln!("{program}: {text}");
    std::process::ExitCode::FAILURE
}

/// This program's arguments, each after a space: how the command that ran is printed.
pub fn arguments() -> String {
    let args = std::env::args().skip(1);
    args.map(|arg| format!(" {arg}")).collect()
}

/// Runs a short command (its words split at spaces); returns its standard output.
pub fn run(command: &str) -> Result<String> {
    let mut words = command.split(' ');
    let mut program = std::process::Command::new(words.next().unwrap_or_default());
    let output = program.args(words).output();
    let output = output.map_err(because(format!("running {command}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        fail!("`{command}` failed ({}): {stderr}", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
