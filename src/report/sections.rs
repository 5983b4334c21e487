//! The sections the daily and the final report share, computed from what was read from the store:
//! per-check availability, latency and metric values (with objectives and the error budget), the
//! charts' cells, incidents with their times, notifications, action items and log entries.
//! Pure: every figure is a function of its inputs, so a seeded store gives exact figures.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::format::{self, colors};
use crate::core::actions::{ActionItem, ActionStatus};
use crate::core::alert::Alert;
use crate::core::log::{LogEntry, LogKind};
use crate::core::rollup::{LatencyHistogram, Rollup};
use crate::plan::Plan;
use crate::plan::checks::{Check, Severity};
use crate::store::alerts::OutboxRow;

/// The Unix minute an instant falls in.
pub fn minute_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(60)
}

/// One check's stored minutes, oldest first.
#[derive(Debug, Clone, Default)]
pub struct CheckHistory {
    pub minutes: Vec<(i64, Rollup)>,
}

impl CheckHistory {
    /// The minutes in `[from, to)` merged into one rollup.
    pub fn merged(&self, from: i64, to: i64) -> Rollup {
        let mut total = Rollup::default();
        for (_, rollup) in self.range(from, to) {
            total.merge(rollup);
        }
        total
    }

    /// The minutes in `[from, to)`.
    pub fn range(&self, from: i64, to: i64) -> &[(i64, Rollup)] {
        let start = self.minutes.partition_point(|(minute, _)| *minute < from);
        let end = self.minutes.partition_point(|(minute, _)| *minute < to);
        &self.minutes[start..end.max(start)]
    }
}

/// One chart cell: its colour and what it says when hovered (and in the text part).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    pub color: &'static str,
    pub label: String,
    /// One character for the text part: `#` good, `+` below objective, `!` bad, `.` no data.
    pub mark: char,
}

/// Metric values over the period against the check's threshold.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValuesRow {
    pub min: String,
    pub avg: String,
    pub max: String,
    pub threshold: String,
    /// Whether the worst value breached the threshold.
    pub breached: bool,
    pub previous_avg: Option<String>,
}

/// One check's row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub probes: u32,
    /// `99.95 %`, or `–` without a known result.
    pub availability: String,
    /// The same as a fraction (for ordering), `None` without a known result.
    #[serde(skip)]
    pub availability_value: Option<f64>,
    pub objective: Option<String>,
    /// Whether the objective is met (`None` without an objective or data).
    pub met: Option<bool>,
    /// `62 % left`, `exhausted`.
    pub budget: Option<String>,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub values: Option<ValuesRow>,
    /// Compared with the previous period: availability change and p95 change.
    pub availability_change: Option<String>,
    pub p95_change: Option<String>,
    /// Availability per slot of the period (hours of a day, days of a launch).
    pub cells: Vec<Cell>,
    pub strip: String,
}

/// The availability objective of a check as a fraction, from the plan's percent.
pub fn objective_of(plan: &Plan, check: &str) -> Option<f64> {
    plan.reports
        .as_ref()
        .and_then(|reports| reports.objectives.get(check))
        .map(|percent| percent / 100.0)
}

fn quantile(histogram: &LatencyHistogram, q: f64) -> String {
    histogram
        .quantile(q)
        .map_or_else(|| "–".to_string(), format::latency)
}

/// A check's row for the period `[from, to)` (Unix minutes), compared with `previous` when given,
/// with availability cells of `slot` minutes.
pub fn check_row(
    check: &Check,
    objective: Option<f64>,
    history: &CheckHistory,
    period: (i64, i64),
    previous: Option<(i64, i64)>,
    slot: i64,
) -> CheckRow {
    let current = history.merged(period.0, period.1);
    let before = previous.map(|(from, to)| history.merged(from, to));
    let availability = current.availability();
    let met = objective
        .zip(availability)
        .map(|(goal, actual)| actual >= goal);
    let budget = objective.and_then(|goal| {
        let known = current.probes.saturating_sub(current.unknowns);
        if known == 0 {
            return None;
        }
        let allowed = (1.0 - goal) * f64::from(known);
        let used = f64::from(current.failures.min(known));
        Some(if allowed <= 0.0 {
            if used > 0.0 {
                "exhausted"
            } else {
                "100 % left"
            }
            .to_string()
        } else if used >= allowed {
            "exhausted".to_string()
        } else {
            format!("{:.0} % left", ((1.0 - used / allowed) * 100.0).floor())
        })
    });
    let values = check.threshold().and_then(|threshold| {
        let stats = current.values;
        let mean = stats.mean()?;
        Some(ValuesRow {
            min: format::value(stats.min),
            avg: format::value(mean),
            max: format::value(stats.max),
            threshold: threshold.to_string(),
            breached: threshold.breached(stats.max) || threshold.breached(stats.min),
            previous_avg: before
                .as_ref()
                .and_then(|before| before.values.mean())
                .map(format::value),
        })
    });
    let availability_change = before
        .as_ref()
        .and_then(Rollup::availability)
        .zip(availability)
        .map(|(was, is)| format::points(is - was));
    let p95_change = before.as_ref().and_then(|before| {
        let was = before.latency.quantile(0.95)?;
        let is = current.latency.quantile(0.95)?;
        format::relative(is, was)
    });
    let cells = availability_cells(history, period, slot, objective);
    CheckRow {
        id: check.id.clone(),
        name: check.name.clone(),
        kind: check.kind_name(),
        probes: current.probes,
        availability: availability.map_or_else(|| "–".to_string(), format::percent),
        availability_value: availability,
        objective: objective.map(format::percent),
        met,
        budget,
        p50: quantile(&current.latency, 0.50),
        p95: quantile(&current.latency, 0.95),
        p99: quantile(&current.latency, 0.99),
        values,
        availability_change,
        p95_change,
        strip: cells.iter().map(|cell| cell.mark).collect(),
        cells,
    }
}

/// Availability per slot of `slot` minutes: green when every probe passed (or the objective
/// held), amber below the objective but above 99 % of it, red below, grey without data.
pub fn availability_cells(
    history: &CheckHistory,
    period: (i64, i64),
    slot: i64,
    objective: Option<f64>,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut start = period.0;
    while start < period.1 {
        let end = (start + slot).min(period.1);
        let rollup = history.merged(start, end);
        cells.push(match rollup.availability() {
            None => Cell {
                color: colors::NONE,
                label: "no data".into(),
                mark: '.',
            },
            Some(value) => {
                let goal = objective.unwrap_or(1.0);
                let (color, mark) = if value >= goal {
                    (colors::GOOD, '#')
                } else if value >= goal - 0.01 {
                    (colors::WARN, '+')
                } else {
                    (colors::BAD, '!')
                };
                Cell {
                    color,
                    label: format::percent(value),
                    mark,
                }
            }
        });
        start = end;
    }
    cells
}

/// One bar of the latency chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: String,
    /// Width in percent of the longest bar (0..=100).
    pub width: u32,
    /// The same bar in characters for the text part.
    pub text: String,
}

/// p95 latency of all checks together per slot of `slot` minutes, as bars.
pub fn latency_bars(
    histories: &[&CheckHistory],
    period: (i64, i64),
    slot: i64,
    label: impl Fn(i64) -> String,
) -> Vec<Bar> {
    let mut values = Vec::new();
    let mut start = period.0;
    while start < period.1 {
        let end = (start + slot).min(period.1);
        let mut merged = LatencyHistogram::default();
        for history in histories {
            for (_, rollup) in history.range(start, end) {
                merged.merge(&rollup.latency);
            }
        }
        values.push((label(start), merged.quantile(0.95)));
        start = end;
    }
    let longest = values
        .iter()
        .filter_map(|(_, value)| value.map(|value| value.as_secs_f64()))
        .fold(0.0, f64::max);
    values
        .into_iter()
        .map(|(label, value)| {
            let fraction = match value {
                Some(value) if longest > 0.0 => value.as_secs_f64() / longest,
                _ => 0.0,
            };
            Bar {
                label,
                value: value.map_or_else(|| "–".to_string(), format::latency),
                width: (fraction * 100.0).round() as u32,
                text: "#".repeat((fraction * 30.0).round() as usize),
            }
        })
        .collect()
}

/// One incident (alert).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    pub title: String,
    pub severity: &'static str,
    pub opened: String,
    pub acknowledged: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved: Option<String>,
    pub time_to_acknowledge: Option<String>,
    pub time_to_resolve: Option<String>,
    /// The highest escalation level notified.
    pub level: usize,
    /// Linked risks: `title (contingency)`.
    pub risks: Vec<String>,
    pub reason: String,
    /// The alert on the time line: red while unacknowledged, orange while acknowledged.
    pub cells: Vec<Cell>,
    pub strip: String,
}

/// Incidents with their totals.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Incidents {
    pub rows: Vec<IncidentRow>,
    pub total: usize,
    pub resolved: usize,
    pub still_open: usize,
    pub critical: usize,
    pub mean_time_to_acknowledge: Option<String>,
    pub mean_time_to_resolve: Option<String>,
    /// Labels of the time line's first cell of every few.
    pub scale: Vec<String>,
}

/// The incidents of `alerts` (those open at some time in `[from, to)`), with a time line of
/// `slots` cells over the period.
pub fn incidents(
    plan: &Plan,
    alerts: &[Alert],
    from: Timestamp,
    to: Timestamp,
    slots: i64,
    tz: &TimeZone,
) -> Incidents {
    let slot = to.duration_since(from) / slots.max(1) as i32;
    let mut rows = Vec::new();
    let mut acks = Vec::new();
    let mut resolutions = Vec::new();
    for alert in alerts {
        let acked = alert.acknowledged.as_ref();
        let tta = acked.map(|ack| ack.at.duration_since(alert.opened_at));
        let ttr = alert
            .resolved_at
            .map(|resolved| resolved.duration_since(alert.opened_at));
        acks.extend(tta);
        resolutions.extend(ttr);
        let risks = alert
            .check_id()
            .map(|check| {
                plan.risks
                    .iter()
                    .filter(|risk| risk.checks.iter().any(|id| id == check))
                    .map(|risk| format!("{} ({})", risk.title, risk.contingency))
                    .collect()
            })
            .unwrap_or_default();
        let cells: Vec<Cell> = (0..slots)
            .map(|index| {
                let start = from + slot * index as i32;
                let end = start + slot;
                let open = alert.opened_at < end && alert.resolved_at.is_none_or(|at| at > start);
                let acked_then = acked.is_some_and(|ack| ack.at < end);
                if !open {
                    Cell {
                        color: colors::NONE,
                        label: String::new(),
                        mark: '.',
                    }
                } else if acked_then {
                    Cell {
                        color: colors::ACKED,
                        label: "acknowledged".into(),
                        mark: '=',
                    }
                } else {
                    Cell {
                        color: colors::BAD,
                        label: "open".into(),
                        mark: '!',
                    }
                }
            })
            .collect();
        rows.push(IncidentRow {
            id: alert.id,
            title: alert.title.clone(),
            severity: alert.severity.as_str(),
            opened: format::local(alert.opened_at, tz),
            acknowledged: acked.map(|ack| format::local(ack.at, tz)),
            acknowledged_by: acked.map(|ack| ack.by.clone()),
            resolved: alert.resolved_at.map(|at| format::local(at, tz)),
            time_to_acknowledge: tta.map(format::span),
            time_to_resolve: ttr.map(format::span),
            level: alert.max_level,
            risks,
            reason: alert.reason.clone(),
            strip: cells.iter().map(|cell| cell.mark).collect(),
            cells,
        });
    }
    let mean = |spans: &[SignedDuration]| {
        (!spans.is_empty()).then(|| {
            let total: i128 = spans.iter().map(|span| span.as_millis()).sum();
            format::span(SignedDuration::from_millis(
                (total / spans.len() as i128) as i64,
            ))
        })
    };
    let scale = (0..slots)
        .step_by(usize::try_from((slots / 4).max(1)).unwrap_or(1))
        .map(|index| format::clock(from + slot * index as i32, tz))
        .collect();
    Incidents {
        total: rows.len(),
        resolved: alerts.iter().filter(|alert| !alert.is_open()).count(),
        still_open: alerts.iter().filter(|alert| alert.is_open()).count(),
        critical: alerts
            .iter()
            .filter(|alert| alert.severity == Severity::Critical)
            .count(),
        mean_time_to_acknowledge: mean(&acks),
        mean_time_to_resolve: mean(&resolutions),
        scale,
        rows,
    }
}

/// Notifications sent through one channel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelRow {
    pub channel: String,
    pub kind: &'static str,
    pub total: usize,
    pub delivered: usize,
    pub failed: usize,
    pub pending: usize,
}

/// One notification that was given up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureRow {
    pub channel: String,
    pub what: String,
    pub alert: Option<i64>,
    pub error: String,
    pub at: String,
}

/// Notifications of the period.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Notifications {
    pub total: usize,
    pub delivered: usize,
    pub failed: usize,
    pub pending: usize,
    pub channels: Vec<ChannelRow>,
    pub failures: Vec<FailureRow>,
}

/// Counts the notifications in `rows` (reports themselves are not counted).
pub fn notifications(plan: &Plan, rows: &[OutboxRow], tz: &TimeZone) -> Notifications {
    let mut channels: BTreeMap<String, ChannelRow> = BTreeMap::new();
    let mut summary = Notifications::default();
    for row in rows.iter().filter(|row| row.kind != super::OUTBOX_KIND) {
        let kind = plan
            .alerting
            .channels
            .iter()
            .find(|channel| channel.id == row.channel)
            .map_or("other", |channel| match channel.kind {
                crate::plan::alerting::ChannelKind::Email { .. } => "email",
                crate::plan::alerting::ChannelKind::Webhook(_) => "webhook",
                crate::plan::alerting::ChannelKind::Alertmanager { .. } => "alertmanager",
            });
        let entry = channels.entry(row.channel.clone()).or_insert(ChannelRow {
            channel: row.channel.clone(),
            kind,
            total: 0,
            delivered: 0,
            failed: 0,
            pending: 0,
        });
        entry.total += 1;
        summary.total += 1;
        match row.status.as_str() {
            "delivered" => {
                entry.delivered += 1;
                summary.delivered += 1;
            }
            "failed" => {
                entry.failed += 1;
                summary.failed += 1;
                summary.failures.push(FailureRow {
                    channel: row.channel.clone(),
                    what: row.kind.clone(),
                    alert: row.alert_id,
                    error: row.last_error.clone().unwrap_or_default(),
                    at: format::local(row.finished_at.unwrap_or(row.created_at), tz),
                });
            }
            _ => {
                entry.pending += 1;
                summary.pending += 1;
            }
        }
    }
    summary.channels = channels.into_values().collect();
    summary
}

/// One action item.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActionRow {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub due: Option<String>,
    pub status: &'static str,
    pub overdue: bool,
}

/// Action items as of a local day.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Actions {
    pub open: Vec<ActionRow>,
    pub due_today: Vec<ActionRow>,
    pub overdue: Vec<ActionRow>,
    /// Done in the period.
    pub done: Vec<ActionRow>,
    /// Every item (the final report).
    pub all: Vec<ActionRow>,
}

fn owner_name(plan: &Plan, owner: &str) -> String {
    plan.people
        .iter()
        .find(|person| person.id == owner)
        .map_or_else(
            || owner.to_string(),
            |person| format!("{} ({})", person.name, person.id),
        )
}

/// The action items as of local `day`, with those done in `[from, to)`.
pub fn actions(
    plan: &Plan,
    items: &[ActionItem],
    day: jiff::civil::Date,
    from: Timestamp,
    to: Timestamp,
) -> Actions {
    let row = |item: &ActionItem| ActionRow {
        id: item.id,
        title: item.title.clone(),
        owner: owner_name(plan, &item.owner),
        due: item.due.map(|due| due.to_string()),
        status: item.status.as_str(),
        overdue: item.status == ActionStatus::Open && item.due.is_some_and(|due| due < day),
    };
    let open = |item: &&ActionItem| item.status == ActionStatus::Open;
    Actions {
        open: items.iter().filter(open).map(row).collect(),
        due_today: items
            .iter()
            .filter(open)
            .filter(|item| item.due == Some(day))
            .map(row)
            .collect(),
        overdue: items
            .iter()
            .filter(open)
            .filter(|item| item.due.is_some_and(|due| due < day))
            .map(row)
            .collect(),
        done: items
            .iter()
            .filter(|item| item.status == ActionStatus::Done)
            .filter(|item| item.updated_at >= from && item.updated_at < to)
            .map(row)
            .collect(),
        all: items.iter().map(row).collect(),
    }
}

/// One log entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EntryRow {
    pub at: String,
    pub author: String,
    pub text: String,
}

/// The entries of `kind` in `[from, to)`.
pub fn entries(
    log: &[LogEntry],
    kind: LogKind,
    from: Timestamp,
    to: Timestamp,
    tz: &TimeZone,
) -> Vec<EntryRow> {
    log.iter()
        .filter(|entry| entry.kind == kind && entry.at >= from && entry.at < to)
        .map(|entry| EntryRow {
            at: format::local(entry.at, tz),
            author: entry.author.clone(),
            text: entry.text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
        .collect()
}

/// When the launch last entered `phase`, from the log's phase entries.
pub fn entered(log: &[LogEntry], phase: crate::domain::Phase) -> Option<Timestamp> {
    log.iter()
        .filter(|entry| entry.kind == LogKind::Phase)
        .filter(|entry| entry.data.get("to").and_then(|to| to.as_str()) == Some(phase.as_str()))
        .map(|entry| entry.at)
        .next_back()
}

/// Up to this many checks a report lists every check; with more, only the checks that need
/// attention (worst availability first) are listed, so the email stays readable and small.
pub const LIST_ALL_UP_TO: usize = 50;
/// The most checks a report lists when it lists only those needing attention.
pub const LIST_AT_MOST: usize = 30;

/// The checks a report lists, and how many it leaves out because nothing happened to them.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Listed {
    /// Checks left out that had no failure, met their objective and breached no threshold.
    pub quiet: usize,
    /// Checks needing attention left out beyond [`LIST_AT_MOST`].
    pub more: usize,
}

/// Whether a check's row shows anything to look at.
fn needs_attention(row: &CheckRow) -> bool {
    row.met == Some(false)
        || row.values.as_ref().is_some_and(|values| values.breached)
        || (row.availability != "100 %" && row.availability != "–")
}

/// Keeps every row for a small plan; for a large one, the rows needing attention, worst
/// availability first, at most [`LIST_AT_MOST`].
pub fn focus(
    rows: Vec<CheckRow>,
    availability: impl Fn(&CheckRow) -> f64,
) -> (Vec<CheckRow>, Listed) {
    if rows.len() <= LIST_ALL_UP_TO {
        return (rows, Listed::default());
    }
    let total = rows.len();
    let mut attention: Vec<CheckRow> = rows.into_iter().filter(needs_attention).collect();
    let quiet = total - attention.len();
    attention.sort_by(|a, b| availability(a).total_cmp(&availability(b)));
    let more = attention.len().saturating_sub(LIST_AT_MOST);
    attention.truncate(LIST_AT_MOST);
    (attention, Listed { quiet, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, availability: Option<f64>) -> CheckRow {
        CheckRow {
            id: id.into(),
            name: id.into(),
            kind: "http",
            probes: 10,
            availability: availability.map_or_else(|| "–".to_string(), format::percent),
            availability_value: availability,
            objective: None,
            met: None,
            budget: None,
            p50: "–".into(),
            p95: "–".into(),
            p99: "–".into(),
            values: None,
            availability_change: None,
            p95_change: None,
            cells: Vec::new(),
            strip: String::new(),
        }
    }

    #[test]
    fn large_plans_list_the_checks_needing_attention_worst_first() {
        let small: Vec<CheckRow> = (0..LIST_ALL_UP_TO)
            .map(|i| row(&format!("c{i}"), Some(1.0)))
            .collect();
        let (listed, left_out) = focus(small, |row| row.availability_value.unwrap_or(1.0));
        assert_eq!((listed.len(), left_out.quiet), (LIST_ALL_UP_TO, 0));

        let mut large: Vec<CheckRow> = (0..500).map(|i| row(&format!("c{i}"), Some(1.0))).collect();
        large[7] = row("bad", Some(0.9));
        large[9] = row("worse", Some(0.5));
        large[11] = row("silent", None);
        let (listed, left_out) = focus(large, |row| row.availability_value.unwrap_or(1.0));
        let ids: Vec<&str> = listed.iter().map(|row| row.id.as_str()).collect();
        assert_eq!(ids, vec!["worse", "bad"]);
        assert_eq!((left_out.quiet, left_out.more), (498, 0));
    }
}
