//! Section `[review]`: the post-launch review meeting ("schedule follow-up meetings to review the
//! launch's success and address any outstanding issues"). When the launch closes or rolls back,
//! golive invites the attendees by email with an iCalendar request, and reminds them the day
//! before. The typed value, its reader and the pure rule that says when the meeting starts live
//! together here; the daemon's side is `crate::engine::review`.
//!
//! ```toml
//! [review]
//! when = "2d after close"    # or a date-time: 2026-12-10T10:00 (launch time zone)
//! time = "10:00"             # with "Nd after close" (default 10:00): that day, at this local time
//! duration = "1h"
//! attendees = ["project_manager", "dev_lead", "ops_lead", "cfo@shop.example"]
//! location = "Room 4.12"
//! url = "https://meet.shop.example/launch-review"
//! ```

use std::time::Duration;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use toml::Spanned;

use super::context::Context;
use crate::plan::alerting::{Alerting, ChannelKind, Recipient};
use crate::plan::reader::{Expected, Reported, Sink, TableReader};
use crate::plan::values;

/// The default `duration` of the meeting.
pub const DEFAULT_LENGTH: Duration = Duration::from_secs(3600);
/// The local time of day of a review `when` whole days after the close, without `time`: a
/// meeting in working hours, not at the minute the launch happened to close.
pub const DEFAULT_TIME: Time = Time::constant(10, 0, 0, 0);
/// One day, the unit of a `when` that is not sub-day.
const DAY_SECS: u64 = 86_400;
/// The longest `duration`: a review is a meeting, not a workshop week.
const MAX_LENGTH: Duration = Duration::from_secs(12 * 3600);
/// The latest a relative `when` may be: a review three months after the launch reviews nothing.
const MAX_AFTER_CLOSE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Section `[review]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// `when`: a time after the launch ends (`"2d after close"`), or a fixed date-time.
    pub when: ReviewWhen,
    /// `duration` (default 1h, at most 12h): how long the meeting lasts.
    pub length: Duration,
    /// `attendees`: persons, roles or addresses invited (each once).
    pub attendees: Vec<Recipient>,
    /// `title` (default `Launch review: <launch name>`).
    pub title: Option<String>,
    /// `location`: a room, free text.
    pub location: Option<String>,
    /// `url`: the video call's address.
    pub url: Option<String>,
    /// `organizer`: the person id who runs the meeting (replies go to them); default the first
    /// project manager with an email address, else golive's From address.
    pub organizer: Option<String>,
}

/// When the review starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReviewWhen {
    /// This long after the launch closed or rolled back. With `at` (always set by the reader for
    /// whole days), that many calendar days (whole days of `after`) after the local day of the
    /// close, at that local time of day, a Saturday or Sunday moved to the next Monday; without
    /// `at` (a sub-day `after` such as `2h`), exactly that long after the close.
    AfterClose { after: Duration, at: Option<Time> },
    /// A fixed instant.
    At(Timestamp),
}

impl Review {
    /// When the meeting starts for a launch that ended at `ended_at`, in `zone` (the launch's).
    /// A local time skipped by a daylight-saving change moves forward, as clocks do.
    pub fn starts_at(&self, ended_at: Timestamp, zone: &TimeZone) -> Timestamp {
        match self.when {
            ReviewWhen::At(at) => at,
            ReviewWhen::AfterClose { after, at } => {
                let after = SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX);
                let reached = ended_at.saturating_add(after).unwrap_or(Timestamp::MAX);
                match at {
                    None => reached,
                    Some(time) => {
                        // Calendar days in the launch's zone: "2d after close" on a Friday night
                        // is Sunday, whatever a daylight-saving change in between does to hours.
                        let days = after.as_secs() / 86_400;
                        let closed_on = ended_at.to_zoned_datetime(zone.clone()).date();
                        let day = working_day(
                            closed_on
                                .checked_add(jiff::Span::new().days(days.min(1000)))
                                .unwrap_or(closed_on),
                        );
                        zone.to_ambiguous_timestamp(day.to_datetime(time))
                            .compatible()
                            .unwrap_or(reached)
                    }
                }
            }
        }
    }

    /// When the meeting ends.
    pub fn ends_at(&self, ended_at: Timestamp, zone: &TimeZone) -> Timestamp {
        let start = self.starts_at(ended_at, zone);
        let length = SignedDuration::try_from(self.length).unwrap_or(SignedDuration::ZERO);
        start.saturating_add(length).unwrap_or(start)
    }
}

/// `day`, or the Monday after it when it is a Saturday or Sunday.
fn working_day(day: jiff::civil::Date) -> jiff::civil::Date {
    let skip = match day.weekday() {
        jiff::civil::Weekday::Saturday => 2,
        jiff::civil::Weekday::Sunday => 1,
        _ => 0,
    };
    day.checked_add(jiff::Span::new().days(skip)).unwrap_or(day)
}

/// Reads `[review]` (optional).
pub(in crate::plan) fn read_review(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
    alerting: Option<&Alerting>,
) -> Result<Option<Review>, Reported> {
    let Some(mut table) = root.get_table(sink, "review")? else {
        return Ok(None);
    };
    let channel = email_channel_present(&table, sink, alerting);
    let when = read_when(&mut table, sink, context);
    let length = table.duration_within(
        sink,
        "duration",
        DEFAULT_LENGTH,
        Duration::from_secs(60),
        Some(MAX_LENGTH),
    );
    let attendees = context.recipients.read_required_list(
        &mut table,
        sink,
        "attendees",
        "nobody would be invited",
        "nobody would be invited to the review",
        "[\"project_manager\", \"dev_lead\"]",
    );
    let text = |table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>, key| {
        table
            .get_str(sink, key)
            .ok()
            .flatten()
            .map(|text| text.get_ref().trim().to_string())
            .filter(|text| !text.is_empty())
    };
    let title = text(&mut table, sink, "title");
    let location = text(&mut table, sink, "location");
    let url = read_url(&mut table, sink);
    let organizer = read_organizer(&mut table, sink, context);
    table.finish(sink);
    channel?;
    Ok(Some(Review {
        when: when?,
        length: length?,
        attendees: attendees?,
        title,
        location,
        url: url?,
        organizer: organizer?,
    }))
}

/// The invitation is an email: the plan needs an email channel to send it on (the reports' one,
/// else the first).
fn email_channel_present(
    table: &TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    alerting: Option<&Alerting>,
) -> Result<(), Reported> {
    // Without `alerting` the communication plan has errors of its own, reported already.
    let alerting = alerting.ok_or(Reported)?;
    if alerting
        .channel_ids_where(|kind| matches!(kind, ChannelKind::Email { .. }))
        .is_empty()
    {
        sink.error(
            table.span(),
            table.path(),
            "the review meeting's invitation goes out by email, but the plan has no email channel",
            Some("add a `[[channels]]` entry with `kind = \"email\"` (without `[smtp]` emails are written to the outbox folder), or remove `[review]`".to_string()),
        );
        return Err(Reported);
    }
    Ok(())
}

/// `when`: `"<duration> after close"` (days allowed: `"2d"`), or a date-time in the launch zone.
fn read_when(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<ReviewWhen, Reported> {
    let path = table.key_path("when");
    let time = read_time(table, sink);
    let value = table
        .required(sink, "when", Expected::String)
        .ok_or(Reported)?;
    let help = "write `when = \"2d after close\"` (a duration after the launch closes or rolls back) or a date-time such as `when = 2026-12-10T10:00:00` (launch time zone)";
    if let toml::de::DeValue::String(text) = value.get_ref()
        && let Some(after) = text.trim().strip_suffix("after close")
    {
        return match after_close(after) {
            Ok(after) if after <= MAX_AFTER_CLOSE => relative_when(table, sink, after, time),
            Ok(_) => {
                sink.error(value.span(), &path, format!("the review `{}` is more than 90 days after the close", text.trim()), Some("hold the review within 90 days of the close, e.g. `when = \"7d after close\"`".to_string()));
                Err(Reported)
            }
            Err(reason) => {
                sink.error(
                    value.span(),
                    &path,
                    format!("invalid review time `{}`: {reason}", text.trim()),
                    Some(help.to_string()),
                );
                Err(Reported)
            }
        };
    }
    match values::go_live(value.get_ref(), context.timezone) {
        values::GoLive::At(at) => {
            if time.ok().flatten().is_some() {
                let span = sink
                    .span_of(&table.key_path("time"))
                    .unwrap_or(value.span());
                sink.error(span, &table.key_path("time"), "`time` is only for a `when` relative to the close; this `when` is a date-time already", Some("remove `time`, or write `when = \"2d after close\"`".to_string()));
                return Err(Reported);
            }
            Ok(ReviewWhen::At(at))
        }
        // The launch's time zone is wrong, which was reported.
        values::GoLive::NeedsTimeZone => Err(Reported),
        values::GoLive::Invalid(reason) => {
            sink.error(
                value.span(),
                &path,
                format!("invalid review time: {reason}"),
                Some(help.to_string()),
            );
            Err(Reported)
        }
    }
}

/// A `when` relative to the close: whole days are a working day at `time` (default
/// [`DEFAULT_TIME`]); less than a day is an exact offset, which `time` cannot go with.
fn relative_when(
    table: &TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    after: Duration,
    time: Result<Option<Time>, Reported>,
) -> Result<ReviewWhen, Reported> {
    let time = time?;
    let seconds = after.as_secs();
    if seconds < DAY_SECS {
        if time.is_some() {
            let path = table.key_path("time");
            let span = sink.span_of(&path).unwrap_or(0..0);
            sink.error(span, &path, "`time` is only for a `when` in whole days after the close; this `when` is less than a day, an exact offset", Some("remove `time`, or write `when = \"1d after close\"`".to_string()));
            return Err(Reported);
        }
        return Ok(ReviewWhen::AfterClose { after, at: None });
    }
    if !seconds.is_multiple_of(DAY_SECS) || after.subsec_nanos() != 0 {
        let path = table.key_path("when");
        let span = sink.span_of(&path).unwrap_or(0..0);
        sink.error(span, &path, "a review more than a day after the close is given in whole days (it is held on a working day at `time`, default 10:00)", Some("write whole days, e.g. `when = \"2d after close\"`, and the time of day as `time = \"14:00\"`".to_string()));
        return Err(Reported);
    }
    Ok(ReviewWhen::AfterClose {
        after,
        at: Some(time.unwrap_or(DEFAULT_TIME)),
    })
}

/// The duration before `after close`: `2d`, `36h`, `1d 10s`.
fn after_close(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (days, rest) = match text.split_once('d') {
        Some((days, rest)) if days.trim().chars().all(|c| c.is_ascii_digit()) => {
            let days: u64 = days.trim().parse().map_err(|_| "not a number of days")?;
            (
                days,
                rest.trim_start_matches("ays")
                    .trim_start_matches("ay")
                    .trim(),
            )
        }
        _ => (0, text),
    };
    let rest = if rest.is_empty() {
        Duration::ZERO
    } else {
        values::duration(rest)?
    };
    let total = Duration::from_secs(days.saturating_mul(86_400)) + rest;
    if total.is_zero() {
        return Err("it must be more than zero".to_string());
    }
    Ok(total)
}

/// `time`: the local time of day of a review `when` days after the close.
fn read_time(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Option<Time>, Reported> {
    let Some(text) = table.get_str(sink, "time")? else {
        return Ok(None);
    };
    values::time_of_day(text.get_ref()).map(Some).map_err(|reason| {
        sink.error(
            text.span(),
            &table.key_path("time"),
            format!("invalid review time of day `{}`: {reason}", text.get_ref()),
            Some("write the local time of day in the launch's time zone, e.g. `time = \"10:00\"`".to_string()),
        );
        Reported
    })
}

/// `url`: an `http(s)` address of the call.
fn read_url(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Option<String>, Reported> {
    let Some(text) = table.get_str(sink, "url")? else {
        return Ok(None);
    };
    match values::http_url(text.get_ref()) {
        Ok(url) => Ok(Some(url.to_string())),
        Err(reason) => {
            sink.error(
                text.span(),
                &table.key_path("url"),
                format!("invalid meeting URL: {reason}"),
                Some(
                    "write the call's address, e.g. `url = \"https://meet.shop.example/review\"`"
                        .to_string(),
                ),
            );
            Err(Reported)
        }
    }
}

/// `organizer`: a person id of the plan.
fn read_organizer(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<Option<String>, Reported> {
    let Some(name) = table.get_str(sink, "organizer")? else {
        return Ok(None);
    };
    let path = table.key_path("organizer");
    match context.recipients.resolve(sink, &path, &name)? {
        Recipient::Person(id) => Ok(Some(id)),
        _ => {
            let name: &Spanned<String> = &name;
            sink.error(name.span(), &path, format!("the organizer `{}` is not a person of the plan", name.get_ref()), Some("name one person id from [[people]], who runs the meeting and receives the replies".to_string()));
            Err(Reported)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[launch]
name = "Shop"
timezone = "Europe/Berlin"
go_live = 2026-12-01T20:00:00
hypercare_days = 14

[[people]]
id = "alice"
name = "Alice"
role = "project_manager"
email = "alice@example.com"
"#;

    const EMAIL: &str = "\n[[channels]]\nid = \"email\"\nkind = \"email\"\n";

    fn read(text: &str) -> Result<Review, Vec<crate::plan::Diagnostic>> {
        crate::plan::parse(text, std::path::Path::new("plan.toml"))
            .map(|loaded| loaded.plan.review.expect("a review"))
    }

    fn review_when(when: &str) -> Result<Review, Vec<crate::plan::Diagnostic>> {
        read(&format!(
            "{BASE}{EMAIL}\n[review]\n{when}\nattendees = [\"alice\"]\n"
        ))
    }

    #[test]
    fn a_review_in_whole_days_without_time_is_at_ten_on_a_working_day() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let review = review_when("when = \"1d after close\"").expect("valid");
        // Closed on Friday 2026-12-04 at 22:00:45 CET: the review is on Monday at 10:00, not on
        // Saturday at 22:00:45.
        let closed: Timestamp = "2026-12-04T21:00:45Z".parse().unwrap();
        assert_eq!(
            review.starts_at(closed, &zone).to_string(),
            "2026-12-07T09:00:00Z"
        );
        // Closed on a Tuesday evening: Wednesday at 10:00.
        let closed: Timestamp = "2026-12-01T21:00:45Z".parse().unwrap();
        assert_eq!(
            review.starts_at(closed, &zone).to_string(),
            "2026-12-02T09:00:00Z"
        );
    }

    #[test]
    fn a_review_less_than_a_day_after_close_is_an_exact_offset() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let review = review_when("when = \"2h after close\"").expect("valid");
        let closed: Timestamp = "2026-12-05T12:00:45Z".parse().unwrap();
        assert_eq!(
            review.starts_at(closed, &zone).to_string(),
            "2026-12-05T14:00:45Z"
        );
    }

    #[test]
    fn a_review_more_than_a_day_after_close_must_be_whole_days_and_time_needs_days() {
        let found = review_when("when = \"1d 15s after close\"").unwrap_err();
        assert!(
            found
                .iter()
                .any(|d| d.path == "review.when" && d.message.contains("whole days")),
            "{found:?}"
        );
        let found = review_when("when = \"2h after close\"\ntime = \"10:00\"").unwrap_err();
        assert!(found.iter().any(|d| d.path == "review.time"), "{found:?}");
    }

    #[test]
    fn a_review_without_an_email_channel_is_refused_naming_review() {
        let found = read(&format!(
            "{BASE}\n[review]\nwhen = \"2d after close\"\nattendees = [\"alice\"]\n"
        ))
        .unwrap_err();
        assert!(
            found.iter().any(|d| d.path == "review"
                && d.message.contains("no email channel")
                && d.is_error()),
            "{found:?}"
        );
    }

    #[test]
    fn a_fixed_review_before_the_planned_end_of_hypercare_is_warned_about() {
        let warnings = |when: &str| {
            let text = format!("{BASE}{EMAIL}\n[review]\n{when}\nattendees = [\"alice\"]\n");
            crate::plan::parse(&text, std::path::Path::new("plan.toml"))
                .expect("valid")
                .warnings
                .into_iter()
                .filter(|d| d.path == "review.when")
                .map(|d| d.message)
                .collect::<Vec<_>>()
        };
        // Go-live 2026-12-01 20:00 with 14 days of hypercare: it ends on the 15th.
        let early = warnings("when = 2026-12-10T10:00:00");
        assert!(
            early
                .iter()
                .any(|m| m.contains("before the planned end of hypercare")),
            "{early:?}"
        );
        assert!(warnings("when = 2026-12-17T10:00:00").is_empty());
        assert!(warnings("when = \"2d after close\"").is_empty());
    }

    #[test]
    fn after_close_takes_days_and_smaller_units() {
        assert_eq!(after_close("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(after_close("1d 10s"), Ok(Duration::from_secs(86_410)));
        assert_eq!(after_close("3 days"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(after_close("90s"), Ok(Duration::from_secs(90)));
        assert!(after_close("0d").is_err());
        assert!(after_close("soon").is_err());
    }

    #[test]
    fn a_review_days_after_close_at_a_time_of_day_keeps_local_time_across_a_dst_change() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let review = Review {
            when: ReviewWhen::AfterClose {
                after: Duration::from_secs(2 * 86_400),
                at: Some(Time::constant(10, 0, 0, 0)),
            },
            length: DEFAULT_LENGTH,
            attendees: Vec::new(),
            title: None,
            location: None,
            url: None,
            organizer: None,
        };
        // Closed on Friday 2027-03-26 at 23:30 CET; the clocks go forward on Sunday the 28th,
        // the day two days later, which moves to Monday: 10:00 CEST.
        let closed: Timestamp = "2027-03-26T22:30:00Z".parse().unwrap();
        let start = review.starts_at(closed, &zone);
        assert_eq!(start.to_string(), "2027-03-29T08:00:00Z");
        assert_eq!(
            review.ends_at(closed, &zone).to_string(),
            "2027-03-29T09:00:00Z"
        );
    }
}
