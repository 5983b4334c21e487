//! When daily reports are due: the send instant of each local day in the launch's time zone,
//! the period a report covers, and which report (if any) is due at `now`. Pure: the engine passes
//! `now` and what the store says was already sent.
//!
//! Daylight-saving changes: a send time that does not exist on a day (the clocks jump over it)
//! resolves to the first instant after the jump; a send time that happens twice (the clocks go
//! back) resolves to the first of the two. Each local day has exactly one send instant, and the
//! store records reports by day, so a day's report goes out once either way.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::domain::Phase;

/// A report sent this long after its send instant is marked late (the daemon was down, or the
/// clock jumped).
pub const LATE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// The instant the report of local day `day` goes out at local time `time` in `tz`.
pub fn send_instant(day: Date, time: Time, tz: &TimeZone) -> Timestamp {
    let local = day.to_datetime(time);
    let ambiguous = tz.to_ambiguous_zoned_datetime(local);
    let resolved = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        // The first of the two instants the clocks show this time.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
        // The clocks jump over `time`: the first valid instant after is the jump itself, the
        // first transition after `local` read with the offset after the jump (which is earlier
        // than the jump).
        AmbiguousOffset::Gap { after, .. } => after
            .to_timestamp(local)
            .ok()
            .and_then(|early| tz.following(early).next())
            .map(|transition| transition.timestamp()),
    };
    resolved
        .or_else(|| tz.to_timestamp(local).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The period the report of `day` covers: from the previous day's send instant to this day's.
pub fn window(day: Date, time: Time, tz: &TimeZone) -> (Timestamp, Timestamp) {
    let previous = day.yesterday().unwrap_or(day);
    (
        send_instant(previous, time, tz),
        send_instant(day, time, tz),
    )
}

/// The latest day whose send instant is at or before `now`.
pub fn latest_due_day(now: Timestamp, time: Time, tz: &TimeZone) -> Date {
    let today = now.to_zoned_datetime(tz.clone()).date();
    if send_instant(today, time, tz) <= now {
        today
    } else {
        today.yesterday().unwrap_or(today)
    }
}

/// The next send instant after `now`.
pub fn next_send(now: Timestamp, time: Time, tz: &TimeZone) -> Timestamp {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let instant = send_instant(today, time, tz);
    if instant > now {
        return instant;
    }
    today
        .tomorrow()
        .map_or(Timestamp::MAX, |tomorrow| send_instant(tomorrow, time, tz))
}

/// The day whose report is in progress at `now` (the next to go out), for previews.
pub fn day_in_progress(now: Timestamp, time: Time, tz: &TimeZone) -> Date {
    let latest = latest_due_day(now, time, tz);
    latest.tomorrow().unwrap_or(latest)
}

/// A daily report that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub day: Date,
    /// Sent more than [`LATE_AFTER`] after its send instant.
    pub late: bool,
}

/// Which daily report is due at `now`, if any: the latest day whose send instant has passed, if
/// it was not sent yet, the launch is in one of `phases` and was already in it at the send
/// instant (`phase_since`). Only the latest missed day is caught up after downtime; the days
/// before it are covered by the final report.
pub fn due_daily(
    now: Timestamp,
    time: Time,
    tz: &TimeZone,
    phases: &[Phase],
    phase: Phase,
    phase_since: Timestamp,
    already_sent: impl Fn(Date) -> bool,
) -> Option<Due> {
    if !phases.contains(&phase) {
        return None;
    }
    let day = latest_due_day(now, time, tz);
    let at = send_instant(day, time, tz);
    if at < phase_since || already_sent(day) {
        return None;
    }
    Some(Due {
        day,
        late: now.duration_since(at) > LATE_AFTER,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Walks `now` minute by minute through `[from, to)` and returns the instants at which a
    /// report was sent, recording each one as the engine does.
    fn sends_between(tz: &TimeZone, send: Time, from: &str, to: &str) -> Vec<(Date, Timestamp)> {
        let mut now = at(from);
        // The day before the walk was sent already.
        let mut sent: Vec<(Date, Timestamp)> = vec![(latest_due_day(now, send, tz), now)];
        let end = at(to);
        let phases = [Phase::Hypercare];
        while now < end {
            if let Some(due) = due_daily(
                now,
                send,
                tz,
                &phases,
                Phase::Hypercare,
                at("2000-01-01T00:00:00Z"),
                |day| sent.iter().any(|(sent_day, _)| *sent_day == day),
            ) {
                assert!(!due.late, "a report found at once is not late");
                sent.push((due.day, now));
            }
            now = now.checked_add(jiff::SignedDuration::from_mins(1)).unwrap();
        }
        sent.remove(0);
        sent
    }

    #[test]
    fn berlin_spring_gap_sends_the_0230_report_once_at_0300() {
        let tz = zone("Europe/Berlin");
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        assert_eq!(
            send_instant(date(2026, 3, 29), time(2, 30, 0, 0), &tz),
            at("2026-03-29T01:00:00Z")
        );
        let sent = sends_between(
            &tz,
            time(2, 30, 0, 0),
            "2026-03-28T00:00:00Z",
            "2026-03-30T12:00:00Z",
        );
        assert_eq!(
            sent,
            vec![
                (date(2026, 3, 28), at("2026-03-28T01:30:00Z")),
                (date(2026, 3, 29), at("2026-03-29T01:00:00Z")),
                (date(2026, 3, 30), at("2026-03-30T00:30:00Z")),
            ]
        );
    }

    #[test]
    fn berlin_autumn_fold_sends_the_0230_report_once_at_the_first_0230() {
        let tz = zone("Europe/Berlin");
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let sent = sends_between(
            &tz,
            time(2, 30, 0, 0),
            "2026-10-24T22:00:00Z",
            "2026-10-25T06:00:00Z",
        );
        assert_eq!(sent, vec![(date(2026, 10, 25), at("2026-10-25T00:30:00Z"))]);
        // The day is 25 hours long; the window covers all of them.
        let (from, to) = window(date(2026, 10, 26), time(2, 30, 0, 0), &tz);
        assert_eq!(to.duration_since(from).as_hours(), 25);
    }

    #[test]
    fn new_york_fold_sends_the_0130_report_once() {
        let tz = zone("America/New_York");
        // 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice.
        let sent = sends_between(
            &tz,
            time(1, 30, 0, 0),
            "2026-11-01T03:00:00Z",
            "2026-11-01T09:00:00Z",
        );
        assert_eq!(sent, vec![(date(2026, 11, 1), at("2026-11-01T05:30:00Z"))]);
    }

    #[test]
    fn new_york_spring_gap_sends_the_0230_report_at_0300() {
        let tz = zone("America/New_York");
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let sent = sends_between(
            &tz,
            time(2, 30, 0, 0),
            "2026-03-08T05:00:00Z",
            "2026-03-08T10:00:00Z",
        );
        assert_eq!(sent, vec![(date(2026, 3, 8), at("2026-03-08T07:00:00Z"))]);
    }

    #[test]
    fn lord_howe_half_hour_changes_are_handled_too() {
        let tz = zone("Australia/Lord_Howe");
        // 2026-10-04: 02:00 (+10:30) jumps to 02:30 (+11): 02:15 does not exist; first valid
        // instant after is 02:30 +11:00 = 15:30 UTC the day before.
        let sent = sends_between(
            &tz,
            time(2, 15, 0, 0),
            "2026-10-03T14:00:00Z",
            "2026-10-03T17:00:00Z",
        );
        assert_eq!(sent, vec![(date(2026, 10, 4), at("2026-10-03T15:30:00Z"))]);
        // 2026-04-05: 02:00 (+11) goes back to 01:30 (+10:30): 01:45 happens twice; the first is
        // 01:45 +11:00 = 14:45 UTC the day before.
        let sent = sends_between(
            &tz,
            time(1, 45, 0, 0),
            "2026-04-04T13:00:00Z",
            "2026-04-04T17:00:00Z",
        );
        assert_eq!(sent, vec![(date(2026, 4, 5), at("2026-04-04T14:45:00Z"))]);
    }

    #[test]
    fn a_missed_report_is_caught_up_once_marked_late_and_only_for_the_latest_day() {
        let tz = zone("Europe/Berlin");
        let send = time(9, 0, 0, 0);
        let phases = [Phase::Hypercare];
        let since = at("2026-06-01T00:00:00Z");
        // Down from 06-02 08:00 to 06-04 12:00 local: 06-02 and 06-03 were missed, 06-04 too.
        let now = at("2026-06-04T10:00:00Z");
        let due = due_daily(now, send, &tz, &phases, Phase::Hypercare, since, |_| false);
        assert_eq!(
            due,
            Some(Due {
                day: date(2026, 6, 4),
                late: true
            })
        );
        let again = due_daily(now, send, &tz, &phases, Phase::Hypercare, since, |day| {
            day == date(2026, 6, 4)
        });
        assert_eq!(again, None);
    }

    #[test]
    fn no_daily_report_outside_the_report_phases_or_before_the_phase_began() {
        let tz = zone("UTC");
        let send = time(9, 0, 0, 0);
        let now = at("2026-06-04T09:05:00Z");
        let phases = [Phase::Verifying, Phase::Hypercare];
        assert_eq!(
            due_daily(
                now,
                send,
                &tz,
                &phases,
                Phase::Closed,
                at("2026-06-01T00:00:00Z"),
                |_| false
            ),
            None
        );
        assert_eq!(
            due_daily(
                now,
                send,
                &tz,
                &phases,
                Phase::Hypercare,
                at("2026-06-04T09:01:00Z"),
                |_| false
            ),
            None
        );
        assert!(
            due_daily(
                now,
                send,
                &tz,
                &phases,
                Phase::Hypercare,
                at("2026-06-04T08:59:00Z"),
                |_| false
            )
            .is_some()
        );
    }

    #[test]
    fn the_next_send_is_today_before_the_time_and_tomorrow_after_it() {
        let tz = zone("UTC");
        let send = time(9, 0, 0, 0);
        assert_eq!(
            next_send(at("2026-06-04T08:00:00Z"), send, &tz),
            at("2026-06-04T09:00:00Z")
        );
        assert_eq!(
            next_send(at("2026-06-04T09:00:00Z"), send, &tz),
            at("2026-06-05T09:00:00Z")
        );
        assert_eq!(
            day_in_progress(at("2026-06-04T08:00:00Z"), send, &tz),
            date(2026, 6, 4)
        );
        assert_eq!(
            day_in_progress(at("2026-06-04T10:00:00Z"), send, &tz),
            date(2026, 6, 5)
        );
    }
}
