//! How times and phases read on the status page: in the launch's time zone, short
//! enough for a phone, and machine-readable next to it for `<time datetime>`. Pure. Durations read as everywhere else,
//! through `crate::human`.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::domain::Phase;

/// A point in time, readable and machine-readable (for `<time datetime>`).
#[derive(Debug, Clone, Serialize)]
pub struct TimeView {
    /// RFC 3339, UTC.
    pub iso: String,
    /// Local, as people read times everywhere: `20:03:05` today, the full time on another day.
    pub short: String,
    /// Local and full: `2026-12-01 20:03:05 CET`.
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
    TimeView {
        iso: at.to_string(),
        short: crate::human::time_near(at, now, timezone),
        full: crate::human::time(at, timezone),
    }
}
