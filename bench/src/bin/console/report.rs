//! The benchmark's figures as one Markdown table (medians and spread) plus a per-process memory
//! breakdown, ready for README.md.

use std::fmt;
use std::time::Duration;

use crate::memory::SettledMemory;

/// Measurements of one quantity, one per run.
pub struct Series(Vec<f64>);

impl Series {
    pub fn of_durations(values: impl IntoIterator<Item = Duration>) -> Series {
        Series(
            values
                .into_iter()
                .map(|value| value.as_secs_f64() * 1000.0)
                .collect(),
        )
    }

    pub fn of_memory<'a>(values: impl IntoIterator<Item = &'a SettledMemory>) -> Series {
        Series(
            values
                .into_iter()
                .map(|value| value.memory.total_kib as f64 / 1024.0)
                .collect(),
        )
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    fn median(&self) -> Option<f64> {
        let sorted = self.sorted();
        let middle = sorted.len() / 2;
        match sorted.len() {
            0 => None,
            len if len % 2 == 1 => Some(sorted[middle]),
            _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
        }
    }
}

/// One line of the table: what, figures in `unit`, the target if there is one.
pub struct Row {
    pub what: String,
    pub series: Series,
    pub unit: &'static str,
    pub target: &'static str,
}

pub struct Report {
    pub command: String,
    pub runs: usize,
    pub binary_bytes: u64,
    pub rows: Vec<Row>,
    /// `(screen, the median run's memory)` for the breakdown table.
    pub breakdowns: Vec<(String, SettledMemory)>,
    pub unsettled: usize,
    pub notes: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            out,
            "Console benchmark: release build (`--features custom-protocol`, `console-release` \
             profile: size-tuned, stripped), Xvfb, \
             private D-Bus + gnome-keyring, in-process dev auth server on loopback; {} runs each \
             after one warm-up launch (file cache warm).\n",
            self.runs
        )?;
        writeln!(out, "Command: `{}`\n", self.command)?;
        writeln!(out, "| measure | median | min – max | runs | target |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        let mb = self.binary_bytes as f64 / 1e6;
        let mib = self.binary_bytes as f64 / (1024.0 * 1024.0);
        writeln!(
            out,
            "| stripped binary size | {mb:.1} MB ({mib:.1} MiB) | | | < 12 MB |"
        )?;
        for row in &self.rows {
            let sorted = row.series.sorted();
            let (Some(median), Some(min), Some(max)) =
                (row.series.median(), sorted.first(), sorted.last())
            else {
                writeln!(out, "| {} | n/a | | 0 | {} |", row.what, row.target)?;
                continue;
            };
            let unit = row.unit;
            writeln!(
                out,
                "| {} | {median:.0} {unit} | {min:.0} – {max:.0} {unit} | {} | {} |",
                row.what,
                sorted.len(),
                row.target
            )?;
        }
        if !self.breakdowns.is_empty() {
            writeln!(
                out,
                "\nMemory by process (PSS, the median run of each; process count in brackets):\n"
            )?;
            writeln!(out, "| screen | total | by process |")?;
            writeln!(out, "|---|---|---|")?;
            for (screen, settled) in &self.breakdowns {
                let parts: Vec<String> = settled
                    .memory
                    .by_name
                    .iter()
                    .map(|(name, (count, kib))| {
                        format!("{name} ({count}) {:.0} MiB", *kib as f64 / 1024.0)
                    })
                    .collect();
                writeln!(
                    out,
                    "| {screen} | {:.0} MiB | {} |",
                    settled.memory.total_kib as f64 / 1024.0,
                    parts.join(", ")
                )?;
            }
        }
        if self.unsettled > 0 {
            writeln!(
                out,
                "\n{} memory reading(s) had not settled within the deadline; their last reading is used.",
                self.unsettled
            )?;
        }
        for note in &self.notes {
            writeln!(out, "\n{note}")?;
        }
        Ok(())
    }
}

/// The run whose total PSS is the median (the lower middle for an even count).
pub fn median_run(runs: &[SettledMemory]) -> Option<&SettledMemory> {
    let mut sorted: Vec<&SettledMemory> = runs.iter().collect();
    sorted.sort_by_key(|run| run.memory.total_kib);
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Series(vec![3.0, 1.0, 2.0]).median(), Some(2.0));
        assert_eq!(Series(vec![4.0, 1.0, 3.0, 2.0]).median(), Some(2.5));
        assert_eq!(Series(Vec::new()).median(), None);
    }
}
