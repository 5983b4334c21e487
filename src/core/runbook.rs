//! The deployment runbook during the call: the rules for starting, completing, skipping and
//! failing a step, the dependency blockers, lateness and its two warning levels, and which
//! rollback procedure applies after a failure. Pure: the engine records what these functions
//! return, with `now` passed in.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::lifecycle::Blocker;
use crate::clock::instant_after;
use crate::domain::{Phase, UnknownName};
use crate::plan::Plan;
use crate::plan::runbook::{Runbook, RunbookStep};

/// Where a step is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    #[default]
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

impl StepState {
    pub const ALL: [StepState; 5] = [
        StepState::Pending,
        StepState::Running,
        StepState::Done,
        StepState::Skipped,
        StepState::Failed,
    ];

    /// The name used in the API, the store and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Skipped => "skipped",
            StepState::Failed => "failed",
        }
    }

    /// Whether steps depending on this one may start.
    pub fn clears_dependents(self) -> bool {
        matches!(self, StepState::Done | StepState::Skipped)
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepState {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        StepState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = StepState::ALL.iter().map(|state| state.as_str()).collect();
                UnknownName::new(text, &names)
            })
    }
}

/// What happened to a step so far (a step never touched is pending with nothing set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct StepRecord {
    pub state: StepState,
    pub started_at: Option<Timestamp>,
    pub started_by: Option<String>,
    pub finished_at: Option<Timestamp>,
    pub finished_by: Option<String>,
    /// Why it was skipped, failed or force-started.
    pub reason: Option<String>,
    /// Whether it was started with unfinished dependencies.
    pub forced: bool,
}

/// The recorded steps by id; a step absent here is pending.
pub type StepRecords = BTreeMap<String, StepRecord>;

/// What someone asks to do with a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    Start,
    Done,
    Skip,
    Fail,
}

impl StepAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StepAction::Start => "start",
            StepAction::Done => "done",
            StepAction::Skip => "skip",
            StepAction::Fail => "fail",
        }
    }
}

impl fmt::Display for StepAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRequest {
    pub step: String,
    pub action: StepAction,
    /// Start despite unfinished dependencies (needs a reason).
    pub force: bool,
    /// Required to skip, fail or force; optional otherwise.
    pub reason: Option<String>,
    pub author: String,
    /// The pipeline run making the change, recorded in its log entry (see `StepLogged::run_id`).
    pub run_id: Option<String>,
}

/// An accepted change, to be recorded with its log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepChange {
    pub step: String,
    pub action: StepAction,
    pub from: StepState,
    pub to: StepState,
    pub at: Timestamp,
    pub by: String,
    pub reason: Option<String>,
    pub forced: bool,
    /// The blockers a forced start went past.
    pub overridden: Vec<Blocker>,
    /// The pipeline run that made the change, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The record after the change.
    #[serde(skip)]
    pub record: StepRecord,
}

/// Why a step change was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepRefusal {
    #[error("{0}")]
    UnknownStep(String),
    /// Dependencies are not done; the blockers say which, and who owns them.
    #[error("step `{step}` cannot start before {}", blockers.iter().map(|b| format!("`{}`", b.id)).collect::<Vec<_>>().join(", "))]
    Blocked {
        step: String,
        blockers: Vec<Blocker>,
    },
    /// The change does not fit the step's state.
    #[error("{0}")]
    NotAllowed(String),
    /// A skip, failure or forced start without a reason.
    #[error("{0}")]
    ReasonRequired(String),
}

/// Applies `request` to the step's record: the change to record, or why it is refused.
///
/// Start: a pending or failed (retried) step, once every dependency is done or skipped, or by
/// force with a reason. Done and fail: a running step (a failure needs a reason). Skip: a pending
/// or failed step, with a reason.
pub fn apply(
    plan: &Plan,
    records: &StepRecords,
    request: &StepRequest,
    now: Timestamp,
) -> Result<StepChange, StepRefusal> {
    let runbook = &plan.runbook;
    let Some(step) = runbook.step(&request.step) else {
        return Err(unknown_step(runbook, &request.step));
    };
    let current = records.get(&step.id).cloned().unwrap_or_default();
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|reason| !reason.is_empty())
        .map(str::to_string);
    let from = current.state;
    let not_allowed =
        |what: &str| StepRefusal::NotAllowed(format!("step `{}` is {from}; {what}", step.id));
    let mut record = current.clone();
    let mut overridden = Vec::new();
    let mut forced = false;
    let to = match request.action {
        StepAction::Start => {
            if !matches!(from, StepState::Pending | StepState::Failed) {
                return Err(not_allowed("only a pending or failed step can be started"));
            }
            let blockers = blockers(plan, records, step);
            if !blockers.is_empty() {
                if !request.force {
                    return Err(StepRefusal::Blocked {
                        step: step.id.clone(),
                        blockers,
                    });
                }
                if reason.is_none() {
                    return Err(StepRefusal::ReasonRequired(format!(
                        "starting `{}` before its dependencies are done needs a reason",
                        step.id
                    )));
                }
                forced = true;
                overridden = blockers;
            }
            record.started_at = Some(now);
            record.started_by = Some(request.author.clone());
            record.finished_at = None;
            record.finished_by = None;
            record.forced = forced;
            record.reason = reason.clone();
            StepState::Running
        }
        StepAction::Done => {
            if from != StepState::Running {
                return Err(not_allowed(
                    "only a running step can be done (start it first)",
                ));
            }
            record.finished_at = Some(now);
            record.finished_by = Some(request.author.clone());
            if reason.is_some() {
                record.reason = reason.clone();
            }
            StepState::Done
        }
        StepAction::Fail => {
            if from != StepState::Running {
                return Err(not_allowed("only a running step can fail"));
            }
            if reason.is_none() {
                return Err(StepRefusal::ReasonRequired(format!(
                    "say what went wrong with `{}`",
                    step.id
                )));
            }
            record.finished_at = Some(now);
            record.finished_by = Some(request.author.clone());
            record.reason = reason.clone();
            StepState::Failed
        }
        StepAction::Skip => {
            if !matches!(from, StepState::Pending | StepState::Failed) {
                return Err(not_allowed("only a pending or failed step can be skipped"));
            }
            if reason.is_none() {
                return Err(StepRefusal::ReasonRequired(format!(
                    "say why `{}` is skipped",
                    step.id
                )));
            }
            record.finished_at = Some(now);
            record.finished_by = Some(request.author.clone());
            record.reason = reason.clone();
            StepState::Skipped
        }
    };
    record.state = to;
    Ok(StepChange {
        step: step.id.clone(),
        action: request.action,
        from,
        to,
        at: now,
        by: request.author.clone(),
        reason,
        forced,
        overridden,
        run_id: request.run_id.clone(),
        record,
    })
}

/// Whether a step in `state` already got where `action` leads, or past it on the same path (a
/// started step that is running or done): what a repeated change of the same pipeline run finds.
pub fn already_reached(action: StepAction, state: StepState) -> bool {
    matches!(
        (action, state),
        (StepAction::Start, StepState::Running | StepState::Done)
            | (StepAction::Done, StepState::Done)
            | (StepAction::Fail, StepState::Failed)
            | (StepAction::Skip, StepState::Skipped)
    )
}

/// The refusal of a step id the plan does not have, with the near name or the steps it has.
fn unknown_step(runbook: &Runbook, id: &str) -> StepRefusal {
    let ids: Vec<&str> = runbook.steps.iter().map(|step| step.id.as_str()).collect();
    let hint = match crate::domain::closest(id, ids.iter().copied()) {
        Some(near) => format!("; did you mean `{near}`?"),
        None if ids.is_empty() => "; the plan has no [runbook] steps".to_string(),
        None => format!(" (steps: {})", ids.join(", ")),
    };
    StepRefusal::UnknownStep(format!("no runbook step `{id}`{hint}"))
}

/// The dependencies of `step` that are neither done nor skipped, as blockers naming their owner.
pub fn blockers(plan: &Plan, records: &StepRecords, step: &RunbookStep) -> Vec<Blocker> {
    step.depends_on
        .iter()
        .filter_map(|id| {
            let state = records
                .get(id)
                .map_or(StepState::Pending, |record| record.state);
            if state.clears_dependents() {
                return None;
            }
            let dependency = plan.runbook.step(id)?;
            Some(Blocker {
                kind: "runbook_step".into(),
                id: id.clone(),
                message: format!(
                    "step `{id}` ({}) is {state}; it must be done or skipped first",
                    dependency.title
                ),
                owner: Some(dependency.owner.to_string()),
            })
        })
        .collect()
}

/// Which way a step is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateKind {
    /// Not started by its planned start.
    NotStarted,
    /// Running past its expected duration.
    Overrunning,
}

impl LateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LateKind::NotStarted => "not_started",
            LateKind::Overrunning => "overrunning",
        }
    }
}

/// A lateness warning: which step, which way, which level, and when it is (or was) due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateWarning {
    pub step: String,
    pub kind: LateKind,
    /// 1 warns the owner, 2 the project manager.
    pub level: u8,
    pub due: Timestamp,
    /// When the step should have started (not started) or ended (overrunning).
    pub since: Timestamp,
}

/// When a step is expected: its planned start, or, once running, its start plus its duration.
/// `None` for a finished step, or a pending step whose phase the launch has not reached (or a
/// launch that has ended), which is not late.
pub fn late_since(
    step: &RunbookStep,
    record: &StepRecord,
    phase: Phase,
) -> Option<(LateKind, Timestamp)> {
    if phase.is_terminal() {
        return None;
    }
    match record.state {
        StepState::Pending if phase >= step.phase => {
            Some((LateKind::NotStarted, step.planned_start))
        }
        StepState::Running => {
            let started = record.started_at?;
            Some((LateKind::Overrunning, instant_after(started, step.duration)))
        }
        _ => None,
    }
}

/// Every lateness warning of the runbook, sent or not, with when it is due: level 1 (the owner) at
/// `since + grace`; level 2 (the project manager) `escalate_after` after the owner's warning went
/// out (`owner_warned_at` tells when, for a step and kind), and not before it went out. So the
/// project manager always hears a period after the owner, also when both would have fallen due
/// together (the launch reached the step's phase late, or the daemon was down).
pub fn warnings(
    plan: &Plan,
    records: &StepRecords,
    phase: Phase,
    owner_warned_at: impl Fn(&str, LateKind) -> Option<Timestamp>,
) -> Vec<LateWarning> {
    let runbook: &Runbook = &plan.runbook;
    let mut out = Vec::new();
    for step in &runbook.steps {
        let record = records.get(&step.id).cloned().unwrap_or_default();
        let Some((kind, since)) = late_since(step, &record, phase) else {
            continue;
        };
        let first = instant_after(since, runbook.grace);
        let second = owner_warned_at(&step.id, kind)
            .map(|warned| instant_after(warned.max(first), runbook.escalate_after));
        for (level, due) in [(1, Some(first)), (2, second)] {
            let Some(due) = due else { continue };
            out.push(LateWarning {
                step: step.id.clone(),
                kind,
                level,
                due,
                since,
            });
        }
    }
    out
}

/// How far behind plan a step is at `now`: for a pending step, the time since its planned start;
/// for a running one, the time past its expected end; zero otherwise.
pub fn late_by(step: &RunbookStep, record: &StepRecord, phase: Phase, now: Timestamp) -> Duration {
    let Some((_, since)) = late_since(step, record, phase) else {
        return Duration::ZERO;
    };
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO)
}

/// The rollback procedure that applies now: the one of the last rollback point that is done, else
/// the plan's `[rollback] procedure`. Returns the step id of that rollback point too.
pub fn applicable_rollback<'p>(
    plan: &'p Plan,
    records: &StepRecords,
) -> (Option<&'p str>, &'p str) {
    let passed = plan.runbook.steps.iter().rev().find(|step| {
        step.rollback_point
            && records
                .get(&step.id)
                .is_some_and(|record| record.state == StepState::Done)
    });
    match passed {
        Some(step) => (
            Some(step.id.as_str()),
            step.rollback_procedure.as_deref().unwrap_or(""),
        ),
        None => (None, plan.rollback.procedure.as_str()),
    }
}

/// A step as shown in the API, the CLI table, the timeline and reports: plan and actual side by
/// side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub phase: Phase,
    /// `start` as written in the plan (`+00:20` or a date-time).
    pub planned: String,
    pub planned_start: Timestamp,
    pub planned_end: Timestamp,
    pub duration_seconds: u64,
    pub depends_on: Vec<String>,
    pub rollback_point: bool,
    pub verify: Vec<String>,
    #[serde(flatten)]
    pub record: StepRecord,
    /// Seconds behind plan now (see [`late_by`]).
    pub late_seconds: u64,
    /// Dependencies that are not done or skipped yet.
    pub blocked_by: Vec<String>,
}

/// Every step of the plan with its record, in plan order.
pub fn view(plan: &Plan, records: &StepRecords, phase: Phase, now: Timestamp) -> Vec<StepView> {
    plan.runbook
        .steps
        .iter()
        .map(|step| {
            let record = records.get(&step.id).cloned().unwrap_or_default();
            StepView {
                id: step.id.clone(),
                title: step.title.clone(),
                owner: step.owner.to_string(),
                phase: step.phase,
                planned: step.start.to_string(),
                planned_start: step.planned_start,
                planned_end: step.planned_end(),
                duration_seconds: step.duration.as_secs(),
                depends_on: step.depends_on.clone(),
                rollback_point: step.rollback_point,
                verify: step.verify.clone(),
                late_seconds: late_by(step, &record, phase, now).as_secs(),
                blocked_by: blockers(plan, records, step)
                    .into_iter()
                    .map(|blocker| blocker.id)
                    .collect(),
                record,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
