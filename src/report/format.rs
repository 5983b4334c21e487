//! How figures read in reports: percentages that never round up past an objective, metric values,
//! times of day, and the traffic-light colours (durations, latencies and times: `crate::human`).

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// An availability (0..=1) as a percentage, rounded *down* so a figure never appears to meet an
/// objective it missed: `100 %`, `99.95 %`, `99.999 %`.
pub fn percent(availability: f64) -> String {
    let value = availability * 100.0;
    if value >= 100.0 {
        return "100 %".to_string();
    }
    let decimals = if value >= 99.99 { 3 } else { 2 };
    let scale = 10f64.powi(decimals);
    // The small epsilon keeps exact fractions such as 0.995 from flooring one step too low.
    let floored = ((value * scale) + 1e-6).floor() / scale;
    format!("{floored:.prec$} %", prec = decimals as usize)
}

/// A change of availability in percentage points, e.g. `+0.05 pp`, `−1.20 pp`, `±0 pp`.
pub fn points(delta: f64) -> String {
    let value = delta * 100.0;
    if value.abs() < 0.005 {
        return "±0 pp".to_string();
    }
    format!("{value:+.2} pp")
}

/// A relative change of a latency, e.g. `+12 %`.
pub fn relative(now: Duration, before: Duration) -> Option<String> {
    let before = before.as_secs_f64();
    (before > 0.0).then(|| format!("{:+.0} %", (now.as_secs_f64() / before - 1.0) * 100.0))
}

/// A count with its noun in the right number: `1 alert`, `2 alerts`, `0 checks`.
pub fn count(number: usize, one: &str, many: &str) -> String {
    if number == 1 {
        format!("1 {one}")
    } else {
        format!("{number} {many}")
    }
}

/// A length of a period people read: whole hours up to three days as `24 h`, `48 h`, otherwise
/// as [`crate::human::duration`].
pub fn period(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    if seconds > 0 && seconds % 3_600 == 0 && seconds <= 72 * 3_600 {
        format!("{} h", seconds / 3_600)
    } else {
        crate::human::duration(duration)
    }
}

/// How much of a period had probe results: `3 min 05 s of 24 h`.
pub fn coverage(covered_secs: i64, period_secs: i64) -> String {
    format!(
        "{} of {}",
        if covered_secs >= period_secs {
            period(SignedDuration::from_secs(period_secs))
        } else if covered_secs >= 86_400 {
            // Hours past a day, to compare with the period's `48 h`.
            match (covered_secs / 3_600, (covered_secs % 3_600) / 60) {
                (hours, 0) => format!("{hours} h"),
                (hours, minutes) => format!("{hours} h {minutes:02} min"),
            }
        } else {
            crate::human::seconds(covered_secs)
        },
        period(SignedDuration::from_secs(period_secs))
    )
}

/// A time of day in the launch's zone: `20:00`.
pub fn clock(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%H:%M")
        .to_string()
}

/// The traffic light of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    Green,
    Amber,
    Red,
}

impl Light {
    pub fn word(self) -> &'static str {
        match self {
            Light::Green => "GREEN",
            Light::Amber => "AMBER",
            Light::Red => "RED",
        }
    }

    /// The colour HTML uses for it.
    pub fn color(self) -> &'static str {
        match self {
            Light::Green => "#2e7d32",
            Light::Amber => "#f9a825",
            Light::Red => "#c62828",
        }
    }
}

/// Cell colours of the charts.
pub mod colors {
    pub const GOOD: &str = "#43a047";
    pub const WARN: &str = "#fbc02d";
    pub const BAD: &str = "#e53935";
    pub const NONE: &str = "#e0e0e0";
    pub const ACKED: &str = "#fb8c00";
    pub const BAR: &str = "#1e88e5";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_so_a_miss_never_looks_met() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.9995), "99.95 %");
        assert_eq!(percent(0.99999), "99.999 %");
        assert_eq!(percent(0.998999), "99.89 %");
        assert_eq!(percent(0.8), "80.00 %");
    }

    #[test]
    fn counts_and_coverage_read_naturally() {
        assert_eq!(count(1, "check", "checks"), "1 check");
        assert_eq!(count(3, "check", "checks"), "3 checks");
        assert_eq!(coverage(185, 86_400), "3 min 05 s of 24 h");
        assert_eq!(coverage(90_000, 86_400), "24 h of 24 h");
        assert_eq!(coverage(129_600, 172_800), "36 h of 48 h");
        assert_eq!(coverage(131_400, 172_800), "36 h 30 min of 48 h");
        assert_eq!(points(0.0005), "+0.05 pp");
    }
}
