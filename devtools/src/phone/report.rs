//! What the simulated phone shows its user.

use std::fmt;

use meeteasy_protocol::ConsoleInfo;

use super::{Decision, PhoneReport};

impl fmt::Display for PhoneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Logged in to mini program {:?} as {} ({})",
            self.app, self.user.display_name, self.user.id
        )?;
        writeln!(f, "Log in to this console?")?;
        write_console(f, &self.console)?;
        match self.decision {
            Decision::Confirmed => write!(
                f,
                "Confirmed: the console is logged in as {}.",
                self.user.display_name
            ),
            Decision::Declined => write!(f, "Declined: the console was refused."),
        }
    }
}

fn write_console(f: &mut fmt::Formatter<'_>, console: &ConsoleInfo) -> fmt::Result {
    writeln!(f, "  Device: {}", console.device_name)?;
    writeln!(f, "  IP:     {}", console.ip)?;
    writeln!(f, "  Time:   {}", utc_time(console.created_at))
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (days to civil date after Howard Hinnant's algorithm).
fn utc_time(unix_seconds: u64) -> String {
    let (days, seconds) = (unix_seconds / 86_400, unix_seconds % 86_400);
    let days = i64::try_from(days).unwrap_or(i64::MAX / 2) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_time;

    #[test]
    fn unix_seconds_read_as_utc() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
