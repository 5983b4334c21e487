//! Section `[[silences]]`: maintenance windows known in advance, during which matching alerts are
//! still detected and recorded but notify nobody.
//!
//! A silence is either one window (`start` and `end`, read like `launch.go_live`) or a daily one
//! (`from` and `to` local times on `days`), never both.

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use toml::Spanned;
use toml::de::DeValue;

use super::context::Context;
use crate::plan::alerting::{PlanSilence, SilenceWindow};
use crate::plan::checks::Severity;
use crate::plan::reader::{
    Expected, IdRegistry, Reported, Sink, TableReader, parse_choice, parse_name, push_or_poison,
};
use crate::plan::values::{self, GoLive};

/// The keys of a one-off window.
const ONCE_KEYS: [&str; 2] = ["start", "end"];
/// The keys of a daily window.
const DAILY_KEYS: [&str; 3] = ["days", "from", "to"];

/// Day names for `days`, Monday first.
pub(super) const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// Section `[[silences]]`.
pub(in crate::plan) fn read_silences(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Option<Vec<PlanSilence>> {
    let mut ids = IdRegistry::new("silences");
    let mut silences = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "silences") {
        let id = ids.read(&mut table, sink);
        let checks = read_check_refs(&mut table, sink, context);
        let severities = read_severities(&mut table, sink);
        let comment = read_comment(&mut table, sink);
        let window = read_window(&mut table, sink, context);
        table.finish(sink);
        let silence = (|| {
            Some(PlanSilence {
                id: id?,
                checks: checks.ok()?,
                severities: severities.ok()?,
                window: window.ok()?,
                comment: comment.ok()?,
            })
        })();
        push_or_poison(&mut silences, silence);
    }
    silences
}

/// `checks`: ids of `[[checks]]` (all checks when absent or empty), in silences and rollback
/// criteria.
pub(in crate::plan) fn read_check_refs(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<Vec<String>, Reported> {
    let checks = table.get_refs(sink, "checks", context.check_ids, "check", "[[checks]]")?;
    Ok(checks.map(Spanned::into_inner).unwrap_or_default())
}
/// `severities` (all when absent or empty).
fn read_severities(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<Severity>, Reported> {
    let Some(names) = table.get_str_list(sink, "severities")? else {
        return Ok(Vec::new());
    };
    let path = table.key_path("severities");
    let mut severities = Vec::new();
    let mut bad = false;
    for (index, name) in names.get_ref().iter().enumerate() {
        match parse_name::<Severity>(sink, &format!("{path}[{index}]"), name, "severity") {
            Some(severity) if !severities.contains(&severity) => severities.push(severity),
            Some(_) => {}
            None => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(severities) }
}

/// `comment`: required, because whoever wonders why nobody was paged needs the reason.
fn read_comment(table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>) -> Result<String, Reported> {
    let help = Some(
        "say why the alerts are silenced, e.g. `comment = \"nightly database maintenance\"`"
            .to_string(),
    );
    let Some(comment) = table.get_str(sink, "comment")? else {
        sink.error(
            table.span(),
            &table.key_path("comment"),
            "a silence needs a `comment`",
            help,
        );
        return Err(Reported);
    };
    if comment.get_ref().trim().is_empty() {
        sink.error(
            comment.span(),
            &table.key_path("comment"),
            "`comment` must not be empty",
            help,
        );
        return Err(Reported);
    }
    Ok(comment.into_inner())
}

/// `start`/`end`, or `days`/`from`/`to`.
fn read_window(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<SilenceWindow, Reported> {
    let once = ONCE_KEYS.iter().any(|key| table.key_span(key).is_some());
    let daily = DAILY_KEYS
        .iter()
        .find_map(|key| table.key_span(key).map(|span| (*key, span)));
    match (once, daily) {
        (true, Some((key, span))) => {
            for key in ONCE_KEYS.iter().chain(DAILY_KEYS.iter()) {
                table.value(sink, key);
            }
            sink.error(
                span,
                &table.key_path(key),
                "a silence has both `start`/`end` (one window) and `days`/`from`/`to` (a daily window)",
                Some("keep one form: `start` and `end` for a one-off window, or `from` and `to` (with optional `days`) for one that recurs".to_string()),
            );
            Err(Reported)
        }
        (true, None) => read_once(table, sink, context),
        (false, Some(_)) => read_daily(table, sink),
        (false, None) => {
            sink.error(
                table.span(),
                table.path(),
                "a silence needs a window: neither `start`/`end` nor `from`/`to` is set",
                Some("add `start` and `end` (date-times) for a one-off window, or `from` and `to` (times such as `\"02:00\"`) for a daily one".to_string()),
            );
            Err(Reported)
        }
    }
}

/// `start` and `end`: one window.
fn read_once(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<SilenceWindow, Reported> {
    let start = read_instant(table, sink, context, "start");
    let end = read_instant(table, sink, context, "end");
    let (start, end) = (start?, end?);
    if end.get_ref() <= start.get_ref() {
        sink.error(
            end.span(),
            &table.key_path("end"),
            format!(
                "the silence ends ({}) before it starts ({})",
                sink.snippet(end.span()),
                sink.snippet(start.span())
            ),
            Some("`end` must be later than `start`; swap them if they are reversed".to_string()),
        );
        return Err(Reported);
    }
    Ok(SilenceWindow::Once {
        start: start.into_inner(),
        end: end.into_inner(),
    })
}

/// A required instant, read like `launch.go_live`.
fn read_instant(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
    key: &'static str,
) -> Result<Spanned<Timestamp>, Reported> {
    let value = table
        .required(sink, key, Expected::DateTime)
        .ok_or(Reported)?;
    match values::go_live(value.get_ref(), context.timezone) {
        GoLive::At(instant) => Ok(Spanned::new(value.span(), instant)),
        // The time zone's own error already explains this.
        GoLive::NeedsTimeZone => Err(Reported),
        GoLive::Invalid(reason) => {
            sink.error(
                value.span(),
                &table.key_path(key),
                format!(
                    "invalid silence {key} `{}`: {reason}",
                    sink.snippet(value.span())
                ),
                Some(format!(
                    "write a local date-time in the launch time zone, e.g. `{key} = 2027-03-10T02:00:00`, or one with an offset, e.g. `2027-03-10T02:00:00+01:00`"
                )),
            );
            Err(Reported)
        }
    }
}

/// `days` (default every day), `from` and `to`: a daily window.
fn read_daily(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<SilenceWindow, Reported> {
    let days = read_days(table, sink);
    let from = read_time(table, sink, "from");
    let to = read_time(table, sink, "to");
    let (days, from, to) = (days?, from?, to?);
    if from.get_ref() == to.get_ref() {
        sink.error(
            to.span(),
            &table.key_path("to"),
            format!(
                "the silence starts and ends at {}, so it is never on",
                sink.snippet(to.span())
            ),
            Some("make `to` differ from `from`; a `to` earlier than `from` runs past midnight (`from = \"23:00\"`, `to = \"01:00\"`)".to_string()),
        );
        return Err(Reported);
    }
    Ok(SilenceWindow::Recurring {
        days,
        from: from.into_inner(),
        to: to.into_inner(),
    })
}

/// `days = ["mon", "tue"]` (every day when absent).
fn read_days(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<Weekday>, Reported> {
    let Some(names) = table.get_str_list(sink, "days")? else {
        return Ok(DAYS.iter().map(|(_, day)| *day).collect());
    };
    let path = table.key_path("days");
    if names.get_ref().is_empty() {
        sink.error(
            names.span(),
            &path,
            "a silence with no days never applies",
            Some(
                "list days such as `[\"sat\", \"sun\"]`, or remove `days` for every day"
                    .to_string(),
            ),
        );
        return Err(Reported);
    }
    let mut days = Vec::new();
    let mut bad = false;
    for (index, name) in names.get_ref().iter().enumerate() {
        match parse_choice(sink, &format!("{path}[{index}]"), name, "day", &DAYS) {
            Ok(day) if !days.contains(&day) => days.push(day),
            Ok(_) => {}
            Err(Reported) => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(days) }
}

/// A required local time of day: `"22:30"`, or a TOML local time `22:30:00`.
fn read_time(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    key: &'static str,
) -> Result<Spanned<Time>, Reported> {
    let value = table
        .required(sink, key, Expected::String)
        .ok_or(Reported)?;
    let text = match value.get_ref() {
        DeValue::String(text) => Some(text.to_string()),
        DeValue::Datetime(datetime) if datetime.date.is_none() && datetime.offset.is_none() => {
            Some(datetime.to_string())
        }
        _ => None,
    };
    let parsed = match text {
        Some(text) => values::time_of_day(&text),
        None => Err(format!(
            "expected a time of day, found {}",
            value.get_ref().type_str()
        )),
    };
    match parsed {
        Ok(time) => Ok(Spanned::new(value.span(), time)),
        Err(reason) => {
            sink.error(
                value.span(),
                &table.key_path(key),
                format!("invalid time `{}`: {reason}", sink.snippet(value.span())),
                Some(format!(
                    "write a local time in the launch time zone as `\"HH:MM\"`, e.g. `{key} = \"02:00\"`"
                )),
            );
            Err(Reported)
        }
    }
}
