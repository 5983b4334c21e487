//! Typed deployment runbook: `[runbook]` with its `[[runbook.steps]]`, the ordered steps walked
//! through on the go-live call, each with an owner, a planned start and duration, the phase it
//! belongs to, its dependencies, and where rolling back changes procedure. Reading and validating
//! it from TOML lives in `read_runbook.rs`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::domain::{Owner, Phase};

/// The default `[runbook] grace`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5 * 60);
/// The default `[runbook] escalate_after`.
pub const DEFAULT_ESCALATE_AFTER: Duration = Duration::from_secs(10 * 60);

/// Section `[runbook]`. Without it the runbook is empty and nothing about it is checked or sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    /// `grace` (default 5m): how long after its planned start a step may still not have started,
    /// or how long past its expected duration it may still run, before its owner is warned.
    pub grace: Duration,
    /// `escalate_after` (default 10m): how long after the owner's warning the project manager is
    /// warned too.
    pub escalate_after: Duration,
    /// `[[runbook.steps]]`, in file order.
    pub steps: Vec<RunbookStep>,
}

impl Default for Runbook {
    fn default() -> Self {
        Runbook {
            grace: DEFAULT_GRACE,
            escalate_after: DEFAULT_ESCALATE_AFTER,
            steps: Vec::new(),
        }
    }
}

impl Runbook {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&RunbookStep> {
        self.steps.iter().find(|step| step.id == id)
    }
}

/// One `[[runbook.steps]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RunbookStep {
    /// `id`: unique within the runbook, used by the API and CLI (`golive step start ID`).
    pub id: String,
    /// `title`: what is done, e.g. "Switch the load balancer to the new pool".
    pub title: String,
    /// `owner`: a person id or a role; warned when the step is late.
    pub owner: Owner,
    /// `start` as written: an offset from the go-live time or a date-time.
    pub start: PlannedStart,
    /// The planned start instant (`start` resolved against `launch.go_live`).
    pub planned_start: Timestamp,
    /// `duration`: how long the step is expected to take.
    pub duration: Duration,
    /// `phase` (default `deploying`): the launch phase the step belongs to.
    pub phase: Phase,
    /// `depends_on`: steps that must be done (or skipped) before this one starts.
    pub depends_on: Vec<String>,
    /// `rollback_point` (default false): once this step is done, rolling back follows
    /// `rollback_procedure` instead of the plan's `[rollback] procedure`.
    pub rollback_point: bool,
    /// `rollback_procedure`: the procedure that applies after this step (required with
    /// `rollback_point = true`).
    pub rollback_procedure: Option<String>,
    /// `verify`: ids of `[[checks]]` to look at once the step is done.
    pub verify: Vec<String>,
}

impl RunbookStep {
    /// When the step is planned to end.
    pub fn planned_end(&self) -> Timestamp {
        crate::clock::instant_after(self.planned_start, self.duration)
    }
}

/// A step's `start` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedStart {
    /// `"+00:20"` (or `"-00:30"`): relative to `launch.go_live`.
    Offset(SignedDuration),
    /// A date-time, local in the launch time zone or with an offset.
    At(Timestamp),
}

impl std::fmt::Display for PlannedStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlannedStart::Offset(offset) => {
                let sign = if offset.is_negative() { '-' } else { '+' };
                let minutes = offset.as_secs().unsigned_abs() / 60;
                write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
            PlannedStart::At(at) => write!(f, "{at}"),
        }
    }
}
