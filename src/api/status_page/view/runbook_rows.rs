//! The deployment runbook on the status page: each step's state in words, planned and actual
//! times, how far behind plan it is, what it waits for, and which action the page offers. Pure.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::format::{TimeView, phase_label, time_view};
use super::{StateView, action_owner};
use crate::core::runbook::{StepState, StepView};
use crate::plan::Plan;

/// The deployment runbook: its steps, planned and actual side by side, and the rollback procedure
/// that applies now.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookView {
    pub steps: Vec<StepRow>,
    /// The last rollback point passed, if any.
    pub rollback_point: Option<String>,
    pub rollback_procedure: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub phase: &'static str,
    pub state: StateView,
    pub planned_start: TimeView,
    pub planned_end: TimeView,
    pub started: Option<TimeView>,
    pub started_by: Option<String>,
    pub finished: Option<TimeView>,
    pub finished_by: Option<String>,
    /// Why it was skipped, failed or force-started.
    pub reason: Option<String>,
    /// `12 min behind plan`, when it is.
    pub late: Option<String>,
    pub blocked_by: Vec<String>,
    pub rollback_point: bool,
    /// Pending with every dependency cleared: the page offers Start.
    pub can_start: bool,
    /// Running: the page offers Done.
    pub can_finish: bool,
}

pub(super) fn step_row(
    plan: &Plan,
    step: StepView,
    now: Timestamp,
    timezone: &TimeZone,
) -> StepRow {
    let time = |at: Timestamp| time_view(at, now, timezone);
    let state = match step.record.state {
        StepState::Pending => StateView::new("pending", "○", "pending"),
        StepState::Running => StateView::new("running", "▶", "running"),
        StepState::Done => StateView::new("ok", "✓", "done"),
        StepState::Skipped => StateView::new("unknown", "↷", "skipped"),
        StepState::Failed => StateView::new("fail", "✗", "failed"),
    };
    let late = (step.late_seconds > 0).then(|| {
        format!(
            "{} behind plan",
            crate::human::seconds(i64::try_from(step.late_seconds).unwrap_or(i64::MAX))
        )
    });
    StepRow {
        owner: action_owner(plan, &step.owner),
        phase: phase_label(step.phase),
        planned_start: time(step.planned_start),
        planned_end: time(step.planned_end),
        started: step.record.started_at.map(time),
        started_by: step.record.started_by,
        finished: step.record.finished_at.map(time),
        finished_by: step.record.finished_by,
        reason: step.record.reason,
        late,
        can_start: step.record.state == StepState::Pending && step.blocked_by.is_empty(),
        can_finish: step.record.state == StepState::Running,
        blocked_by: step.blocked_by,
        rollback_point: step.rollback_point,
        state,
        id: step.id,
        title: step.title,
    }
}
