//! What the benchmarks README.md quotes share: `meeteasy-bench` (the auth server on the embedded
//! store and on Redis), `bench-console` (the console in its real window) and `benches/store.rs`.

pub mod console;
pub mod lean_http;
pub mod measure;
pub mod procfs;
pub mod servers;
pub mod signing;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Writes progress to stderr, after the program's name.
#[macro_export]
macro_rules! progress {
    ($($step:tt)+) => { eprintln!("{}: {}", env!("CARGO_BIN_NAME"), format!($($step)+)) };
}

/// This program's arguments, each after a space: how the command that ran is printed.
pub fn arguments() -> String {
    let arguments = std::env::args().skip(1);
    arguments.map(|arg| format!(" {arg}")).collect()
}

/// `name` in this program's directory, where cargo builds the other binaries it runs too.
pub fn beside_this(name: &str) -> std::path::PathBuf {
    let this = std::env::current_exe().unwrap_or_default();
    this.with_file_name(name)
}

/// Runs a short command (its words split at spaces); returns its standard output.
pub fn run(command: &str) -> Result<String> {
    let mut words = command.split(' ');
    let mut program = std::process::Command::new(words.next().unwrap_or_default());
    let output = program.args(words).output();
    let output = output.context(format!("running {command}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("`{command}` failed ({}): {stderr}", output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The first word that is a `T` after `prefix` at a line's start in `text` (lines end in \n or \r).
pub fn value_after<T: std::str::FromStr>(text: &str, prefix: &str) -> Option<T> {
    let lines = text.split(['\r', '\n']);
    let mut after = lines.filter_map(|line| line.strip_prefix(prefix));
    after.find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Asks `found` every `every_ms` ms until it finds something; fails with "`what` within `within_s`
/// s" if it has not by then. Errors of `found` end the wait at once.
pub async fn poll<T>(
    what: &str,
    within_s: u64,
    every_ms: u64,
    mut found: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(within_s);
    loop {
        if let Some(value) = found().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("{what} within {within_s} s");
        }
        tokio::time::sleep(Duration::from_millis(every_ms)).await;
    }
}

/// Measurements of one quantity, sorted.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    pub fn new(values: impl IntoIterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        sorted.sort_by(f64::total_cmp);
        Self(sorted)
    }

    /// Durations, in milliseconds.
    pub fn ms(durations: impl IntoIterator<Item = Duration>) -> Self {
        Self::new(durations.into_iter().map(|d| d.as_secs_f64() * 1000.0))
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The nearest-rank percentile `p` (0 is the minimum, 100 the maximum); 0 without samples.
    pub fn percentile(&self, p: f64) -> f64 {
        let rank = ((p / 100.0 * self.0.len() as f64).ceil() as usize).max(1);
        self.0.get(rank - 1).copied().unwrap_or(0.0)
    }

    /// The nearest-rank median: the middle value (the lower middle of an even count).
    pub fn median(&self) -> f64 {
        self.percentile(50.0)
    }

    /// The median, the minimum and the maximum: how the tables give repeated runs.
    pub fn spread(&self) -> [f64; 3] {
        [50.0, 0.0, 100.0].map(|p| self.percentile(p))
    }
}

/// A whole number with thousands separators: 12345.6 -> "12,346".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let groups: Vec<&[u8]> = digits.as_bytes().rchunks(3).rev().collect();
    String::from_utf8_lossy(&groups.join(&b',')).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_medians_values_and_thousands() {
        let latencies = Samples::ms((1..=200).rev().map(Duration::from_millis));
        let [min, p50, p99, max] = [0.0, 50.0, 99.0, 100.0].map(|p| latencies.percentile(p));
        assert_eq!([min, p50, p99, max], [1.0, 100.0, 198.0, 200.0]);
        assert_eq!(Samples::default().percentile(99.0), 0.0);
        assert_eq!(Samples::new([3.0, 1.0, 2.0]).spread(), [2.0, 1.0, 3.0]);
        assert_eq!(Samples::new([4.0, 1.0, 2.0, 3.0]).median(), 2.0);
        let benchmark = "SET: rps=80000.0 (overall: 79000.5)\rSET: 81234.57 requests per second\n";
        assert_eq!(value_after(benchmark, "SET: "), Some(81234.57));
        let grouped = [0.4, 999.0, 12_345.6, 1_234_567.0].map(thousands);
        assert_eq!(grouped, ["0", "999", "12,346", "1,234,567"]);
    }
}
