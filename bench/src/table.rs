//! The figures of the Markdown tables the benchmarks print for README.md: nearest-rank
//! percentiles, the median and spread of repeated runs, and numbers written the README's way.

use std::time::Duration;

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

    /// The middle value, or the mean of the two middle ones; 0 without samples.
    pub fn median(&self) -> f64 {
        match self.0.len() {
            0 => 0.0,
            n if n % 2 == 1 => self.0[n / 2],
            n => f64::midpoint(self.0[n / 2 - 1], self.0[n / 2]),
        }
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
    fn percentiles_medians_and_thousands() {
        let latencies = Samples::ms((1..=200).rev().map(Duration::from_millis));
        let [min, p50, p99, max] = [0.0, 50.0, 99.0, 100.0].map(|p| latencies.percentile(p));
        assert_eq!([min, p50, p99, max], [1.0, 100.0, 198.0, 200.0]);
        assert_eq!(Samples::default().percentile(99.0), 0.0);
        assert_eq!(Samples::new([3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(Samples::new([4.0, 1.0, 2.0, 3.0]).median(), 2.5);
        let grouped = [0.4, 999.0, 12_345.6, 1_234_567.0].map(thousands);
        assert_eq!(grouped, ["0", "999", "12,346", "1,234,567"]);
    }
}
