//! How times, durations and phases read on the status page: in the launch's time zone, short
//! enough for a phone, and machine-readable next to it for `<time datetime>`. Pure.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::domain::Phase;

/// A point in time, readable and machine-readable (for `<time datetime>`).
#[derive(Debug, Clone, Serialize)]
pub struct TimeView {
    /// RFC 3339, UTC.
    pub iso: String,
    /// Local and short: `20:03` today, `Dec 01 20:03` on another day.
    pub short: String,
    /// Local and full: `2026-12-01 20:03 CET`.
    pub full: String,
}

/// A phase as people say it.
pub fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Planned => "planned",
        Phase::GoNoGo => "go/no-go",
        Phase::Deploying => "deploying",
        Phase::Verifying => "verifying",
        Phase::Hypercare => "hypercare",
        Phase::Closed => "closed",
        Phase::RolledBack => "rolled back",
    }
}

pub(super) fn time_view(at: Timestamp, now: Timestamp, timezone: &TimeZone) -> TimeView {
    let local = at.to_zoned_datetime(timezone.clone());
    let same_day = local.date() == now.to_zoned_datetime(timezone.clone()).date();
    TimeView {
        iso: at.to_string(),
        short: if same_day {
            local.strftime("%H:%M").to_string()
        } else {
            local.strftime("%b %d %H:%M").to_string()
        },
        full: local.strftime("%Y-%m-%d %H:%M %Z").to_string(),
    }
}

/// A duration in the largest two units that matter: `45 s`, `12 min`, `2 h 05 min`, `3 d 4 h`.
/// Negative durations (a clock step) read as zero.
pub fn human_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{minutes} min")
    } else if days == 0 {
        format!("{hours} h {minutes:02} min")
    } else {
        format!("{days} d {hours} h")
    }
}

pub(super) fn format_latency(milliseconds: f64) -> String {
    if milliseconds >= 10_000.0 {
        format!("{:.0} s", milliseconds / 1000.0)
    } else if milliseconds >= 1000.0 {
        format!("{:.1} s", milliseconds / 1000.0)
    } else if milliseconds >= 10.0 {
        format!("{milliseconds:.0} ms")
    } else {
        format!("{milliseconds:.1} ms")
    }
}
