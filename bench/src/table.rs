//! The Markdown the benchmarks print for README.md: table rows, the figures' statistics (nearest-
//! rank percentiles, the median and spread of repeated runs) and numbers written the README's way.

use std::time::Duration;

/// One Markdown table row.
pub fn row<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
    format!("| {} |\n", cells.join(" | "))
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

    /// The nearest-rank percentile `p` (0 < p <= 100); 0 without samples.
    pub fn percentile(&self, p: f64) -> f64 {
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0
            .get(rank.clamp(1, self.0.len().max(1)) - 1)
            .copied()
            .unwrap_or(0.0)
    }

    /// The middle value, or the mean of the two middle ones; 0 without samples.
    pub fn median(&self) -> f64 {
        match self.0.len() {
            0 => 0.0,
            n if n % 2 == 1 => self.0[n / 2],
            n => f64::midpoint(self.0[n / 2 - 1], self.0[n / 2]),
        }
    }

    pub fn min(&self) -> f64 {
        self.0.first().copied().unwrap_or(0.0)
    }

    pub fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(0.0)
    }
}

/// A whole number with thousands separators: 12345.6 -> "12,346".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_medians_and_rows() {
        let latencies = Samples::ms((1..=200).rev().map(Duration::from_millis));
        assert_eq!(latencies.percentile(50.0), 100.0);
        assert_eq!(latencies.percentile(99.0), 198.0);
        assert_eq!(latencies.max(), 200.0);
        assert_eq!(Samples::default().percentile(99.0), 0.0);
        assert_eq!(Samples::new([3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(Samples::new([4.0, 1.0, 2.0, 3.0]).median(), 2.5);
        assert_eq!(row(&["a", "1"]), "| a | 1 |\n");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.6), "12,346");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
