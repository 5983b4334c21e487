//! The typed plan: one field per section. It sits above the section readers (some sections are
//! typed and read in one file, e.g. `sections/heartbeat.rs`) and below the loader that fills it.

use std::path::PathBuf;

use super::alerting::{self, Rollback};
use super::diagnostic::Diagnostic;
use super::launch::{ChecklistItem, Launch, Person, Risk, Server};
use super::sections::{heartbeat, review, store, updates};
use super::{checks, reports, runbook};

/// A validated launch plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file this was read from.
    pub source: PathBuf,
    pub launch: Launch,
    pub people: Vec<Person>,
    pub checklist: Vec<ChecklistItem>,
    pub risks: Vec<Risk>,
    pub rollback: Rollback,
    pub server: Server,
    /// `[[checks]]`: what golive probes.
    pub checks: Vec<checks::Check>,
    /// `[[prometheus]]`: servers that prometheus checks query.
    pub prometheus: Vec<checks::PrometheusServer>,
    /// `[monitoring]`: how probing runs.
    pub monitoring: checks::Monitoring,
    /// The communication plan: `[smtp]`, `[[channels]]`, `[[escalation]]`, `[alerting]`,
    /// `[[silences]]`.
    pub alerting: alerting::Alerting,
    /// `[runbook]`: the deployment runbook walked through on the go-live call.
    pub runbook: runbook::Runbook,
    /// `[reports]`: the daily and final reports (none without the section).
    pub reports: Option<reports::Reports>,
    /// `[heartbeat]`: golive's own dead-man's switch (none without the section).
    pub heartbeat: Option<heartbeat::Heartbeat>,
    /// `[updates]`: stakeholder updates on phase changes and by hand (none without the section).
    pub updates: Option<updates::Updates>,
    /// `[review]`: the post-launch review meeting (none without the section).
    pub review: Option<review::Review>,
    /// `[store]`: where the PostgreSQL URL is read from (none: SQLite in the data directory).
    pub store: Option<store::StoreSection>,
}

/// A plan that loaded, with any warnings found along the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub plan: Plan,
    pub warnings: Vec<Diagnostic>,
}
