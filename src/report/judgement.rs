//! The traffic light of a report and the one sentence that says why, judged from what actually
//! happened in the period: alerts opened and their severity, the time checks failed by their
//! thresholds, availability over the time they were probed against their objectives, failed
//! notifications and late action items; with how much of the period had probe results. Pure.
//!
//! Red: the launch was rolled back, a critical alert is still open, or a check missed its
//! objective (see `check_rows` for when an objective is judged). Amber: an alert was open in the
//! period, a check failed by its thresholds, notifications failed, or action items are late.
//! Green otherwise — single failed probes that never failed a check (a flap) are mentioned, not
//! judged.

use jiff::SignedDuration;

use super::format::{self, Light};
use super::sections::CheckRow;
use crate::core::alert::Alert;
use crate::domain::Phase;
use crate::plan::checks::Severity;

/// What a report's light is judged from.
pub struct Facts<'a> {
    pub phase: Phase,
    pub checks: &'a [CheckRow],
    /// Alerts open at some time in the period.
    pub alerts: &'a [Alert],
    /// The period's length in seconds.
    pub period_secs: i64,
    pub failed_notifications: usize,
    /// Action items that make the report amber, as a clause (`1 action item overdue`).
    pub late_actions: Option<String>,
}

/// The light, the sentence saying why, and the data coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub light: Light,
    /// One sentence: why the light is what it is.
    pub reason: String,
    /// `probed 3 min 05 s of 24 h` (the best-probed check), or that nothing was probed.
    pub coverage: String,
}

/// How many alerts a sentence names before it says "and N more".
const NAMED_AT_MOST: usize = 3;

/// Judges a report's period.
pub fn judge(facts: &Facts<'_>) -> Judgement {
    let mut red = Vec::new();
    let mut amber = Vec::new();
    if facts.phase == Phase::RolledBack {
        red.push("the launch was rolled back".to_string());
    }
    let (open_critical, others): (Vec<&Alert>, Vec<&Alert>) = facts
        .alerts
        .iter()
        .partition(|alert| alert.is_open() && alert.severity == Severity::Critical);
    if !open_critical.is_empty() {
        red.push(format!(
            "{} still open ({})",
            format::count(open_critical.len(), "critical alert", "critical alerts"),
            names(open_critical.iter().map(|alert| alert.title.clone()))
        ));
    }
    for row in facts.checks.iter().filter(|row| row.met == Some(false)) {
        red.push(format!(
            "{} missed its {} objective (failing by its thresholds for {}; {} of the probed time)",
            row.name,
            row.objective.as_deref().unwrap_or(""),
            row.failing,
            row.availability
        ));
    }
    if !others.is_empty() {
        amber.push(format!(
            "{}: {}",
            format::count(others.len(), "alert", "alerts"),
            names(others.iter().map(|alert| {
                let outcome = match alert.resolved_at {
                    Some(resolved) => format!(
                        "resolved after {}",
                        crate::human::duration(resolved.duration_since(alert.opened_at))
                    ),
                    None => "still open".to_string(),
                };
                format!("{} ({}, {outcome})", alert.title, alert.severity.as_str())
            }))
        ));
    }
    let alerted = |row: &CheckRow| {
        facts
            .alerts
            .iter()
            .any(|alert| alert.check_id() == Some(row.id.as_str()))
    };
    let failing_unalerted: Vec<String> = facts
        .checks
        .iter()
        .filter(|row| row.failing_secs > 0 && row.met != Some(false) && !alerted(row))
        .map(|row| format!("{} for {}", row.name, row.failing))
        .collect();
    if !failing_unalerted.is_empty() {
        amber.push(format!(
            "failing by its thresholds without an alert: {}",
            failing_unalerted.join(", ")
        ));
    }
    if facts.failed_notifications > 0 {
        amber.push(format!(
            "{} could not be delivered",
            format::count(facts.failed_notifications, "notification", "notifications")
        ));
    }
    amber.extend(facts.late_actions.clone());
    let light = if !red.is_empty() {
        Light::Red
    } else if !amber.is_empty() {
        Light::Amber
    } else {
        Light::Green
    };
    let reason = if light == Light::Green {
        let flapped: Vec<&str> = facts
            .checks
            .iter()
            .filter(|row| row.flapped)
            .map(|row| row.name.as_str())
            .collect();
        if facts.checks.is_empty() {
            "No alerts.".to_string()
        } else if flapped.is_empty() {
            "No alerts, and no check failed by its thresholds.".to_string()
        } else {
            format!(
                "No alerts, and no check failed by its thresholds; single probes of {} failed without failing the check (a flap).",
                flapped.join(", ")
            )
        }
    } else {
        sentence(red.into_iter().chain(amber).collect())
    };
    let covered = facts
        .checks
        .iter()
        .map(|row| row.covered_secs)
        .max()
        .unwrap_or(0);
    let coverage = if facts.checks.is_empty() {
        "the plan has no checks".to_string()
    } else if covered == 0 {
        format!(
            "nothing was probed in the {}",
            format::period(SignedDuration::from_secs(facts.period_secs))
        )
    } else {
        format!("probed {}", format::coverage(covered, facts.period_secs))
    };
    Judgement {
        light,
        reason,
        coverage,
    }
}

/// Up to [`NAMED_AT_MOST`] names, then how many more.
fn names(all: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = all.collect();
    let mut text = all
        .iter()
        .take(NAMED_AT_MOST)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > NAMED_AT_MOST {
        text.push_str(&format!(" and {} more", all.len() - NAMED_AT_MOST));
    }
    text
}

/// Clauses as one sentence: joined by semicolons, the first letter capital, a full stop.
fn sentence(clauses: Vec<String>) -> String {
    let text = clauses.join("; ");
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}
