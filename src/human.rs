//! How durations, latencies and times read for people, in one place, so a probe reason, a plan
//! message, an alert email, a report, the status page, the CLI and the demo all say `2 min 05 s`
//! and `2026-12-01 21:00:05 CET` the same way. Pure (no I/O, no clock), low in the layers: `plan/`
//! and `core/` may use it. Machine formats (plan TOML values such as `"30s"`, JSON, RFC 3339 in the
//! API) are not written here.
//!
//! The style is the one the reports already used: a number, a space, a short unit (`s`, `min`,
//! `h`, `d`), at most two units, the smaller one zero-padded (`1 h 05 min`) so columns line up, and
//! a zero smaller unit left out (`1 min`, `2 h`). Durations are cut, not rounded, so an elapsed time
//! never reads longer than it was (`1 h 00 min 59 s` is `1 h`, as a clock would show it).

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// A duration: `0 s`, `500 ms`, `45 s`, `2 min 05 s`, `1 h 05 min`, `3 d 4 h`; negative ones with a
/// leading `-`. Below one second it is in milliseconds, otherwise whole seconds and up.
pub fn duration(duration: SignedDuration) -> String {
    if duration.is_negative() {
        return format!(
            "-{}",
            self::duration(duration.checked_neg().unwrap_or(SignedDuration::MAX))
        );
    }
    let seconds = duration.as_secs();
    if seconds == 0 && !duration.is_zero() {
        return format!("{} ms", duration.as_millis());
    }
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    match (seconds, days, hours, minutes, secs) {
        (..60, ..) => format!("{secs} s"),
        (..3_600, _, _, _, 0) => format!("{minutes} min"),
        (..3_600, ..) => format!("{minutes} min {secs:02} s"),
        (..86_400, _, _, 0, _) => format!("{hours} h"),
        (..86_400, ..) => format!("{hours} h {minutes:02} min"),
        (_, _, 0, ..) => format!("{days} d"),
        _ => format!("{days} d {hours} h"),
    }
}

/// [`duration`] for a `std` duration (timeouts, intervals from the plan).
pub fn std_duration(value: Duration) -> String {
    duration(SignedDuration::try_from(value).unwrap_or(SignedDuration::MAX))
}

/// A duration given exactly, every unit down to milliseconds, in the same style: `500 ms`,
/// `1 min 30 s`, `1 h 00 min 30 s`, `1 s 500 ms`. For values someone wrote (a plan's timeout), where
/// [`duration`]'s cut would hide the difference between `1 h` and `1 h 00 min 30 s`; it is also a
/// value the plan accepts, so a help line can suggest it.
pub fn exact(value: Duration) -> String {
    let millis = value.as_millis();
    let parts = [
        (millis / 3_600_000, "h", 0),
        (millis / 60_000 % 60, "min", 2),
        (millis / 1_000 % 60, "s", 2),
        (millis % 1_000, "ms", 3),
    ];
    let Some(first) = parts.iter().position(|part| part.0 > 0) else {
        return "0 s".to_string();
    };
    let last = parts.iter().rposition(|part| part.0 > 0).unwrap_or(first);
    parts[first..=last]
        .iter()
        .enumerate()
        .map(|(index, &(number, unit, width))| {
            let width = if index == 0 { 0 } else { width };
            format!("{number:0width$} {unit}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`duration`] for a number of seconds.
pub fn seconds(seconds: i64) -> String {
    duration(SignedDuration::from_secs(seconds))
}

/// How long something has lasted from `from` to `to`, as [`duration`]; a clock stepped back reads
/// as `0 s`, never as a negative time spent.
pub fn elapsed(from: Timestamp, to: Timestamp) -> String {
    duration(to.duration_since(from).max(SignedDuration::ZERO))
}

/// A latency, with the precision a response time needs: `850 µs`, `12 ms`, `1.25 s`.
pub fn latency(value: Duration) -> String {
    Latency(value).to_string()
}

/// [`latency`] as a value that writes itself, for callers that compare or append it without
/// building a `String` each time (the engine does so for every probe result).
#[derive(Debug, Clone, Copy)]
pub struct Latency(pub Duration);

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = self.0.as_micros();
        if micros < 1_000 {
            write!(f, "{micros} µs")
        } else if micros < 1_000_000 {
            write!(f, "{} ms", (micros + 500) / 1_000)
        } else {
            write!(f, "{:.2} s", self.0.as_secs_f64())
        }
    }
}

/// A time in the launch's zone, with seconds and the zone: `2026-12-01 21:00:05 CET`.
pub fn time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// A time to the minute, for people outside the call (stakeholder updates): `2026-12-01 21:00 CET`.
/// Seconds there read as precision nobody asked for.
pub fn minute(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A time where the day is obvious when it is today (in `zone`): `21:00:05`; on another day the
/// whole [`time`].
pub fn time_near(at: Timestamp, now: Timestamp, zone: &TimeZone) -> String {
    let local = at.to_zoned_datetime(zone.clone());
    if local.date() == now.to_zoned_datetime(zone.clone()).date() {
        local.strftime("%H:%M:%S").to_string()
    } else {
        time(at, zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_the_same_everywhere() {
        let cases: &[(i64, &str)] = &[
            (0, "0 s"),
            (1, "1 s"),
            (59, "59 s"),
            (60, "1 min"),
            (61, "1 min 01 s"),
            (125, "2 min 05 s"),
            (3_599, "59 min 59 s"),
            (3_600, "1 h"),
            (3_630, "1 h"),
            (3_659, "1 h"),
            (3_660, "1 h 01 min"),
            (3_900, "1 h 05 min"),
            (86_399, "23 h 59 min"),
            (86_400, "1 d"),
            (3 * 86_400 + 4 * 3_600 + 59 * 60, "3 d 4 h"),
            (-125, "-2 min 05 s"),
            (-1, "-1 s"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(self::seconds(*seconds), *expected, "{seconds} s");
        }
    }

    #[test]
    fn durations_below_a_second_are_in_milliseconds_and_above_are_cut_to_seconds() {
        assert_eq!(std_duration(Duration::from_millis(500)), "500 ms");
        assert_eq!(std_duration(Duration::from_millis(1_999)), "1 s");
        assert_eq!(duration(SignedDuration::from_millis(-250)), "-250 ms");
        assert_eq!(std_duration(Duration::MAX), duration(SignedDuration::MAX));
        assert_eq!(
            duration(SignedDuration::MIN),
            format!("-{}", duration(SignedDuration::MAX))
        );
    }

    #[test]
    fn an_exact_duration_keeps_every_unit_and_reads_as_a_value_the_plan_accepts() {
        let cases: &[(u64, &str)] = &[
            (0, "0 s"),
            (500, "500 ms"),
            (1_500, "1 s 500 ms"),
            (30_000, "30 s"),
            (90_000, "1 min 30 s"),
            (3_600_000, "1 h"),
            (3_630_000, "1 h 00 min 30 s"),
            (36 * 3_600_000, "36 h"),
        ];
        for (millis, expected) in cases {
            let value = Duration::from_millis(*millis);
            assert_eq!(exact(value), *expected);
            let parsed = expected.parse::<SignedDuration>().ok();
            assert_eq!(
                parsed,
                Some(SignedDuration::from_millis(*millis as i64)),
                "{expected}"
            );
        }
        // Where nothing is cut, exact and duration agree.
        assert_eq!(exact(Duration::from_secs(3_900)), seconds(3_900));
    }

    #[test]
    fn latencies_keep_the_precision_a_response_time_needs() {
        assert_eq!(latency(Duration::from_micros(850)), "850 µs");
        assert_eq!(latency(Duration::from_micros(12_400)), "12 ms");
        assert_eq!(latency(Duration::from_millis(1_250)), "1.25 s");
    }

    #[test]
    fn times_carry_seconds_and_the_zone_and_drop_the_day_when_it_is_today() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let at: Timestamp = "2030-01-01T20:00:05Z".parse().unwrap();
        assert_eq!(time(at, &zone), "2030-01-01 21:00:05 CET");
        assert_eq!(minute(at, &zone), "2030-01-01 21:00 CET");
        let later_that_day: Timestamp = "2030-01-01T22:00:00Z".parse().unwrap();
        assert_eq!(time_near(at, later_that_day, &zone), "21:00:05");
        let next_day: Timestamp = "2030-01-02T09:00:00Z".parse().unwrap();
        assert_eq!(time_near(at, next_day, &zone), "2030-01-01 21:00:05 CET");
        assert_eq!(elapsed(later_that_day, at), "0 s");
    }
}
