//! The sections the daily and the final report share besides the checks (see `check_rows.rs`,
//! re-exported here): incidents with their times and time line, notifications, action items and
//! log entries. Pure: every figure is a function of its inputs, so a seeded store gives exact
//! figures.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

pub use super::check_rows::{
    Bar, Cell, CheckHistory, CheckRow, LIST_ALL_UP_TO, LIST_AT_MOST, Listed, ValuesRow,
    availability_cells, check_row, failing_secs, failing_spans, focus, latency_bars, minute_of,
    objective_of,
};
use super::format::{self, colors};
use crate::core::actions::{ActionItem, ActionStatus};
use crate::core::alert::Alert;
use crate::core::log::{LogEntry, LogKind};
use crate::plan::Plan;
use crate::plan::checks::Severity;
use crate::store::alerts::OutboxRow;

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
        let risks = super::alert_message::linked_risks(plan, alert)
            .into_iter()
            .map(|risk| format!("{} ({})", risk.title, risk.contingency))
            .collect();
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
            opened: crate::human::time(alert.opened_at, tz),
            acknowledged: acked.map(|ack| crate::human::time(ack.at, tz)),
            acknowledged_by: acked.map(|ack| crate::plan::recipients::display_name(plan, &ack.by)),
            resolved: alert.resolved_at.map(|at| crate::human::time(at, tz)),
            time_to_acknowledge: tta.map(crate::human::duration),
            time_to_resolve: ttr.map(crate::human::duration),
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
            crate::human::duration(SignedDuration::from_millis(
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
    for row in rows
        .iter()
        .filter(|row| row.kind != crate::core::message::OutboxKind::Report)
    {
        let kind = plan
            .alerting
            .channels
            .iter()
            .find(|channel| channel.id == row.channel)
            .map_or("other", |channel| channel.kind.name());
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
                    what: row.kind.as_str().to_string(),
                    alert: row.alert_id,
                    error: row.last_error.clone().unwrap_or_default(),
                    at: crate::human::time(row.finished_at.unwrap_or(row.created_at), tz),
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
            at: crate::human::time(entry.at, tz),
            author: entry.author.clone(),
            text: entry.text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
        .collect()
}

/// When the launch last entered `phase`, from the log's phase entries.
pub fn entered(log: &[LogEntry], phase: crate::domain::Phase) -> Option<Timestamp> {
    log.iter()
        .filter(|entry| entry.kind == LogKind::Phase)
        .filter(|entry| entry.data.phase().is_some_and(|change| change.to == phase))
        .map(|entry| entry.at)
        .next_back()
}
