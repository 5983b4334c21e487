//! The post-mortem the go-live guide asks for, at the head of the final report: a summary with the
//! impact, an incident timeline per alert (opened, paged whom, escalated, acknowledged with the
//! note, decisions taken meanwhile, resolved), what went well and what did not (the lessons and
//! feedback as recorded), and the root cause with the follow-ups. Built from the plan, the alerts,
//! the launch log and the action items; names of people and checks, never their ids. Pure.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::format;
use super::sections::{CheckRow, Incidents};
use crate::core::actions::{ActionItem, ActionStatus};
use crate::core::alert::Alert;
use crate::core::log::data::{AlertEvent, AlertLog, PageKind, Paged};
use crate::core::log::{LogEntry, LogKind};
use crate::domain::Role;
use crate::plan::Plan;
use crate::plan::recipients::{display_name, names_with_role};

/// The summary and impact: the first thing the final report says.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// How long the launch ran: `Went live 2026-12-01 20:00 CET and closed 2026-12-03 21:00 CET,
    /// 2 d 1 h later.`
    pub ran: String,
    /// The alerts in one sentence: how many, how many critical, acknowledged and resolved how fast.
    pub alerts: String,
    /// How long checks were failing by their thresholds, in all and per check.
    pub failing: String,
    /// The customer impact in one or two sentences built from the figures.
    pub impact: String,
}

/// One moment of an incident.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelineEvent {
    pub at: String,
    pub text: String,
}

/// One incident from its opening to its resolution.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentTimeline {
    /// The check's name (or the alert's title).
    pub title: String,
    pub severity: &'static str,
    pub opened: String,
    /// `resolved after 1 h` or `still open after 2 h 05 min`.
    pub outcome: String,
    pub events: Vec<TimelineEvent>,
}

/// A log entry with its author's name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attributed {
    pub at: String,
    pub who: String,
    pub text: String,
}

/// One follow-up (action item).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FollowUp {
    pub title: String,
    pub owner: String,
    pub due: Option<String>,
    /// `open`, `overdue`, `done`, `dropped`.
    pub status: &'static str,
}

/// The root cause as recorded, or who should write it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RootCause {
    /// Decisions and lessons that name the root cause.
    pub entries: Vec<Attributed>,
    /// When none does: that none was recorded and who should write it.
    pub missing: Option<String>,
}

/// The post-mortem sections of the final report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostMortem {
    pub summary: Summary,
    pub timeline: Vec<IncidentTimeline>,
    pub lessons: Vec<Attributed>,
    pub feedback: Vec<Attributed>,
    pub root_cause: RootCause,
    /// Open follow-ups first (overdue, then by due date), then the done and dropped ones.
    pub follow_ups: Vec<FollowUp>,
}

/// What the post-mortem is built from.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub log: &'a [LogEntry],
    /// The alerts of the launch, oldest first.
    pub alerts: &'a [Alert],
    pub actions: &'a [ActionItem],
    /// Every check of the plan over the figures' period (not only those the report lists).
    pub checks: &'a [CheckRow],
    pub incidents: &'a Incidents,
    /// When the launch went live (entered `deploying`), if it did.
    pub go_live: Option<Timestamp>,
    /// Where the figures start and end.
    pub start: Timestamp,
    pub end: Timestamp,
    /// The figures' period in whole minutes as the check rows count it (Unix seconds), so the
    /// failing time in all agrees with the checks' own.
    pub period_secs: (i64, i64),
    /// `closed`, `rolled back` or `in progress (<phase>)`.
    pub outcome: &'a str,
    pub ended: bool,
    pub tz: &'a TimeZone,
}

/// Builds the post-mortem.
pub fn build(inputs: &Inputs<'_>) -> PostMortem {
    let plan = inputs.plan;
    let tz = inputs.tz;
    let attributed = |kinds: &[LogKind]| -> Vec<Attributed> {
        inputs
            .log
            .iter()
            .filter(|entry| kinds.contains(&entry.kind))
            .map(|entry| attribute(plan, entry, tz))
            .collect()
    };
    let root_cause_entries: Vec<Attributed> = inputs
        .log
        .iter()
        .filter(|entry| matches!(entry.kind, LogKind::Decision | LogKind::Lesson))
        .filter(|entry| entry.text.to_lowercase().contains("root cause"))
        .map(|entry| attribute(plan, entry, tz))
        .collect();
    let missing = root_cause_entries.is_empty().then(|| {
        let managers = names_with_role(plan, Role::ProjectManager);
        let who = if managers.is_empty() {
            "The project manager".to_string()
        } else {
            format!("{} (project manager)", managers.join(", "))
        };
        format!(
            "No root cause was recorded. {who} should write it down: golive decision \"Root cause: ...\"."
        )
    });
    PostMortem {
        summary: summary(inputs),
        timeline: inputs
            .alerts
            .iter()
            .map(|alert| incident_timeline(inputs, alert))
            .collect(),
        lessons: attributed(&[LogKind::Lesson]),
        feedback: attributed(&[LogKind::Feedback]),
        root_cause: RootCause {
            entries: root_cause_entries,
            missing,
        },
        follow_ups: follow_ups(
            plan,
            inputs.actions,
            inputs.end.to_zoned_datetime(tz.clone()).date(),
        ),
    }
}

/// Names as a list people read: `Bob Berg`, `Bob Berg and Alice Adler`, `A, B and C`.
fn listing(names: &[String]) -> String {
    match names {
        [] => "nobody".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn attribute(plan: &Plan, entry: &LogEntry, tz: &TimeZone) -> Attributed {
    Attributed {
        at: crate::human::time(entry.at, tz),
        who: display_name(plan, &entry.author),
        text: one_line(&entry.text),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How the launch ran: when it went live and how it ended, or that it never went live.
fn how_it_ran(inputs: &Inputs<'_>) -> String {
    let tz = inputs.tz;
    match (inputs.go_live, inputs.ended) {
        (Some(live), true) => format!(
            "Went live {} and {} {}, {} later.",
            crate::human::time(live, tz),
            inputs.outcome,
            crate::human::time(inputs.end, tz),
            crate::human::duration(inputs.end.duration_since(live))
        ),
        (Some(live), false) => format!(
            "Went live {}; {} for {} so far.",
            crate::human::time(live, tz),
            inputs.outcome,
            crate::human::duration(inputs.end.duration_since(live))
        ),
        (None, _) => format!(
            "Never went live; {} {}.",
            inputs.outcome,
            crate::human::time(inputs.end, tz)
        ),
    }
}

/// The alerts in one sentence: how many, how many critical, resolved and open, and the mean times.
fn alerts_sentence(incidents: &Incidents) -> String {
    if incidents.total == 0 {
        "No alerts.".to_string()
    } else {
        let mut text = format!(
            "{} ({} critical): {} resolved, {} still open",
            format::count(incidents.total, "alert", "alerts"),
            incidents.critical,
            incidents.resolved,
            incidents.still_open
        );
        let average = if incidents.total == 1 {
            ""
        } else {
            " on average"
        };
        if let Some(mean) = &incidents.mean_time_to_acknowledge {
            text.push_str(&format!("; acknowledged after {mean}{average}"));
        }
        if let Some(mean) = &incidents.mean_time_to_resolve {
            text.push_str(&format!(", resolved after {mean}{average}"));
        }
        text.push('.');
        text
    }
}

/// The seconds in the report's period during which at least one check was failing by its
/// thresholds (overlapping failures counted once).
fn failing_time(inputs: &Inputs<'_>) -> i64 {
    let (from, to) = inputs.period_secs;
    let mut spans: Vec<(i64, i64)> = inputs
        .checks
        .iter()
        .flat_map(|row| super::sections::failing_spans(inputs.log, &row.id))
        .map(|(start, end)| (start.max(from), end.min(to)))
        .filter(|(start, end)| end > start)
        .collect();
    spans.sort_unstable();
    let mut union = 0;
    let mut reach = i64::MIN;
    for (start, end) in spans {
        let start = start.max(reach);
        if end > start {
            union += end - start;
        }
        reach = reach.max(end);
    }
    union
}

fn summary(inputs: &Inputs<'_>) -> Summary {
    let ran = how_it_ran(inputs);
    let alerts = alerts_sentence(inputs.incidents);
    let union = failing_time(inputs);
    let failing_checks: Vec<&CheckRow> = inputs
        .checks
        .iter()
        .filter(|row| row.failing_secs > 0)
        .collect();
    let failing = if failing_checks.is_empty() {
        "No check failed by its thresholds.".to_string()
    } else {
        format!(
            "Checks failed by their thresholds for {} in all: {}.",
            crate::human::duration(SignedDuration::from_secs(union)),
            failing_checks
                .iter()
                .map(|row| format!("{} for {}", row.name, row.failing))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let feedback = inputs
        .log
        .iter()
        .filter(|entry| entry.kind == LogKind::Feedback)
        .count();
    let feedback_clause = match feedback {
        0 => "no feedback was recorded".to_string(),
        count => format!(
            "{} recorded (below)",
            format::count(count, "piece of feedback was", "pieces of feedback were")
        ),
    };
    let impact = match failing_checks
        .iter()
        .max_by_key(|row| (is_critical(inputs.plan, &row.id), row.failing_secs))
    {
        None => format!(
            "No customer impact was measured: no check failed by its thresholds, and {feedback_clause}."
        ),
        Some(worst) => {
            let severity = if is_critical(inputs.plan, &worst.id) {
                "critical"
            } else {
                "warning"
            };
            format!(
                "Customers may have been affected for up to {} of the {} the figures cover, while a check was failing. \
                 The worst was {} ({severity}): failing for {}, {} available over its probed time; {feedback_clause}.",
                crate::human::duration(SignedDuration::from_secs(union)),
                crate::human::duration(inputs.end.duration_since(inputs.start)),
                worst.name,
                worst.failing,
                worst.availability,
            )
        }
    };
    Summary {
        ran,
        alerts,
        failing,
        impact,
    }
}

/// One page of an alert's incident timeline: who was paged, at which level, by which channels.
fn paged_text(paged: &Paged, names: &str) -> String {
    let level = paged.level;
    let channels = if paged.channels.is_empty() {
        String::new()
    } else {
        format!(" by {}", paged.channels.join(", "))
    };
    match paged.event {
        PageKind::Opened => format!("Paged {names} (level {level}{channels})"),
        PageKind::Escalated => format!("Escalated to level {level}: paged {names}{channels}"),
        PageKind::Repeat => format!("Paged {names} again (level {level})"),
        PageKind::Reopened => {
            format!("The acknowledgement lapsed; paged {names} again (level {level})")
        }
    }
}

fn is_critical(plan: &Plan, check: &str) -> bool {
    plan.checks
        .iter()
        .any(|c| c.id == check && c.severity == crate::plan::checks::Severity::Critical)
}

fn incident_timeline(inputs: &Inputs<'_>, alert: &Alert) -> IncidentTimeline {
    let plan = inputs.plan;
    let tz = inputs.tz;
    let names = |told: &[String]| -> String {
        let told: Vec<String> = told.iter().map(|key| display_name(plan, key)).collect();
        listing(&told)
    };
    let title = alert
        .check_id()
        .and_then(|id| plan.checks.iter().find(|check| check.id == id))
        .map_or_else(|| alert.title.clone(), |check| check.name.clone());
    // The alert's entries whose details read; one that does not is left out, as before.
    let entries: Vec<(&LogEntry, &AlertLog)> = inputs
        .log
        .iter()
        .filter(|entry| entry.kind == LogKind::Alert)
        .filter_map(|entry| Some((entry, entry.data.alert()?)))
        .filter(|(_, event)| event.alert_id() == Some(alert.id))
        .collect();
    let opening_reason = entries
        .iter()
        .find_map(|(_, event)| match event {
            AlertLog::Event(AlertEvent::Opened { reason, .. }) => reason.clone(),
            _ => None,
        })
        .unwrap_or_else(|| alert.reason.clone());
    let mut events: Vec<(Timestamp, String)> = vec![(
        alert.opened_at,
        format!("Opened: {title} failed — {}", one_line(&opening_reason)),
    )];
    let mut acknowledged_in_log = false;
    for (entry, event) in &entries {
        let text = match event {
            AlertLog::Paged(paged) => paged_text(paged, &names(&paged.told)),
            AlertLog::Event(AlertEvent::Acknowledged { note, .. }) => {
                acknowledged_in_log = true;
                acknowledgement(
                    &display_name(plan, &entry.author),
                    entry.at.duration_since(alert.opened_at),
                    note.as_deref(),
                )
            }
            AlertLog::Event(AlertEvent::Silenced { .. }) => {
                "Notifications held back by a silence".to_string()
            }
            AlertLog::Event(AlertEvent::RollbackRecommended { .. }) => {
                "golive recommended a rollback".to_string()
            }
            AlertLog::Event(_) => continue,
        };
        events.push((entry.at, text));
    }
    if let (false, Some(ack)) = (acknowledged_in_log, &alert.acknowledged) {
        events.push((
            ack.at,
            acknowledgement(
                &display_name(plan, &ack.by),
                ack.at.duration_since(alert.opened_at),
                None,
            ),
        ));
    }
    let until = alert.resolved_at.unwrap_or(inputs.end);
    for entry in inputs.log.iter().filter(|entry| {
        entry.kind == LogKind::Decision && entry.at >= alert.opened_at && entry.at <= until
    }) {
        events.push((
            entry.at,
            format!(
                "Decision by {}: {}",
                display_name(plan, &entry.author),
                one_line(&entry.text)
            ),
        ));
    }
    let outcome = match alert.resolved_at {
        Some(resolved) => {
            let after = crate::human::duration(resolved.duration_since(alert.opened_at));
            events.push((resolved, format!("Resolved after {after}")));
            format!("resolved after {after}")
        }
        None => format!(
            "still open after {}",
            crate::human::duration(inputs.end.duration_since(alert.opened_at))
        ),
    };
    events.sort_by_key(|(at, _)| *at);
    IncidentTimeline {
        title,
        severity: alert.severity.as_str(),
        opened: crate::human::time(alert.opened_at, tz),
        outcome,
        events: events
            .into_iter()
            .map(|(at, text)| TimelineEvent {
                at: crate::human::time(at, tz),
                text,
            })
            .collect(),
    }
}

fn acknowledgement(who: &str, after: SignedDuration, note: Option<&str>) -> String {
    let mut text = format!(
        "Acknowledged by {who} after {}",
        crate::human::duration(after)
    );
    match note.map(one_line).filter(|note| !note.is_empty()) {
        Some(note) => text.push_str(&format!(": “{note}”")),
        None => text.push_str(" (no note)"),
    }
    text
}

fn follow_ups(plan: &Plan, items: &[ActionItem], today: jiff::civil::Date) -> Vec<FollowUp> {
    let mut sorted: Vec<&ActionItem> = items.iter().collect();
    // Open ones first, the earliest due first and those without a due date last; then the rest
    // in the order they were created.
    sorted.sort_by_key(|item| {
        (
            item.status != ActionStatus::Open,
            item.status != ActionStatus::Open || item.due.is_none(),
            if item.status == ActionStatus::Open {
                item.due
            } else {
                None
            },
            item.id,
        )
    });
    sorted
        .into_iter()
        .map(|item| FollowUp {
            title: item.title.clone(),
            owner: display_name(plan, &item.owner),
            due: item.due.map(|due| due.to_string()),
            status: match item.status {
                ActionStatus::Open if item.due.is_some_and(|due| due < today) => "overdue",
                status => status.as_str(),
            },
        })
        .collect()
}
