//! Reloading the plan without a restart (`golive reload`, `POST /api/v1/reload`, `SIGHUP`).
//!
//! [`EngineHandle::reload_from_file`] reads the plan file the daemon was started with again; an
//! invalid one is refused with every diagnostic, as `golive check` prints them, and the engine
//! keeps the plan it has. A valid one goes to the engine as [`Command::Reload`], and the engine —
//! the only writer — compares it with the plan in force (`core::plan_diff`): a change that cannot
//! apply live (the listen address, the data directory, the API tokens, ...) refuses the whole
//! reload, naming the key. Otherwise, in one transaction, the open alerts of removed checks are
//! resolved "removed from the plan" (through the usual resolution, so everyone told hears it) and
//! the `decision` log entry records what changed; then the engine's state is re-indexed by id
//! (check health, minute history; confirmations, action items, runbook records and alerts are
//! keyed by id already), and the new plan is published on the plan channel, which the probe
//! scheduler follows (removed and changed checks stop, new and changed ones start at once).
//! Open alerts keep their level: a changed escalation policy applies from their next step, since
//! escalation reads the policy from the plan in force at each step.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::alerts::write_resolutions;
use super::{Command, Engine, EngineError, EngineHandle, block};
use crate::core::log::data::DecisionEvent;
use crate::core::log::{LogData, LogKind, NewEntry};
use crate::core::plan_diff::{self, NotLive, PlanChanges, PublishedPlan};
use crate::error_chain::error_chain;
use crate::plan::{self, Diagnostic, LoadError, Plan};

/// The reason a removed check's open alert is closed with.
pub const REMOVED_FROM_THE_PLAN: &str = "removed from the plan";

/// A reload that applied.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The plan file read.
    pub path: PathBuf,
    /// What changed, as the launch log records it.
    pub changes: PlanChanges,
    /// The same in one line.
    pub summary: String,
    /// The new plan's warnings, as `golive check` prints them.
    pub warnings: Vec<Diagnostic>,
    /// The open alerts resolved because their check was removed.
    pub resolved_alerts: Vec<i64>,
    /// The plan's generation now (0 at start).
    pub generation: u64,
}

/// Why a reload did not apply; the daemon keeps running the plan it has.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("cannot read plan {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} has {} error(s); golive keeps running the plan it has", path.display(), diagnostics.iter().filter(|d| d.is_error()).count())]
    Invalid {
        path: PathBuf,
        /// Every diagnostic, errors and warnings, in the plan's order.
        diagnostics: Vec<Diagnostic>,
    },
    #[error("{}; golive keeps running the plan it has", describe_not_live(.0))]
    NotLive(Vec<NotLive>),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// `server.listen cannot change without a restart: ...; data_dir ...`.
fn describe_not_live(keys: &[NotLive]) -> String {
    keys.iter()
        .map(|not_live| {
            format!(
                "`{}` cannot change without a restart: {}",
                not_live.key, not_live.reason
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl EngineHandle {
    /// Reads the plan file the daemon runs again and asks the engine to apply it; `author` is
    /// who asked (recorded in the launch log). The one reload path of the API and of `SIGHUP`.
    pub async fn reload_from_file(&self, author: String) -> Result<Reloaded, ReloadError> {
        let path = self.plan().source.clone();
        let reading = path.clone();
        let loaded = tokio::task::spawn_blocking(move || plan::load(&reading))
            .await
            .map_err(|error| ReloadError::Unreadable {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(LoadError::Invalid { path, diagnostics }) => {
                return Err(ReloadError::Invalid { path, diagnostics });
            }
            Err(LoadError::Unreadable { path, source }) => {
                return Err(ReloadError::Unreadable {
                    path,
                    reason: source.to_string(),
                });
            }
        };
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Reload {
                plan: Box::new(loaded.plan),
                author,
                reply,
            })
            .await
            .map_err(|_| EngineError::Stopped)?;
        let mut reloaded = answer
            .await
            .map_err(|_| EngineError::Stopped)?
            .map_err(|error| match error {
                ReloadError::Engine(error) => ReloadError::Engine(self.store_trouble_named(error)),
                other => other,
            })?;
        reloaded.warnings = loaded.warnings;
        Ok(reloaded)
    }
}

impl Engine {
    /// Applies an edited plan (see the module's documentation); all or nothing.
    pub(super) fn reload(&mut self, new: Plan, author: &str) -> Result<Reloaded, ReloadError> {
        let old = Arc::clone(&self.plan);
        let new = Arc::new(new);
        let diff = plan_diff::diff(&old, &new);
        if !diff.not_live.is_empty() {
            return Err(ReloadError::NotLive(diff.not_live));
        }
        // The alerts of removed checks are resolved from what the store holds.
        self.resync_alerts().map_err(EngineError::Store)?;
        let now = self.clock.now();
        let removed: Vec<(i64, Option<String>)> = diff
            .changes
            .checks
            .removed
            .iter()
            .filter_map(|id| self.alerts.open_by_key(&format!("check:{id}")))
            .map(|alert| (alert, Some(REMOVED_FROM_THE_PLAN.to_string())))
            .collect();
        // Prepared with the plan in force: the people told are the ones it names.
        let resolutions = self.prepare_resolutions(&removed, now);
        let summary = diff.changes.summary();
        let entry = NewEntry {
            at: now,
            author: author.to_string(),
            kind: LogKind::Decision,
            text: format!("Plan reloaded from {}: {summary}", new.source.display()),
            data: LogData::Decision(DecisionEvent::PlanReloaded(Box::new(diff.changes.clone()))),
        };
        let written = block(|| {
            self.store.write(|write| {
                write_resolutions(write, &resolutions, now)?;
                write.log(&entry)
            })
        });
        let written = if resolutions.is_empty() {
            written
        } else {
            self.alert_written(written)
        };
        let logged = written.map_err(|error| {
            self.store_trouble(&error);
            tracing::error!(error = %error_chain(&error), "could not record the reload; the plan in force stays");
            EngineError::Store(error)
        })?;
        self.logged(&logged);
        self.after_resolutions(&resolutions);
        self.checks.remap(&old, &new, &self.metrics, now);
        self.metrics.forget_checks(&diff.changes.checks.removed);
        self.gate
            .retain(|id, _| new.checks.iter().any(|check| &check.id == id));
        self.alerts.replace_plan_silences(&old, &new);
        self.metrics.set_availability_objectives(&new);
        self.plan = Arc::clone(&new);
        let generation = self.plans.borrow().generation + 1;
        self.plans.send_replace(PublishedPlan {
            plan: new,
            generation,
        });
        tracing::info!(generation, changes = %summary, "plan reloaded");
        // Alerts of the kept checks in line with the new plan (a check that no longer runs in
        // this phase, a severity without a policy), and due steps under the new escalation.
        let all: Vec<usize> = (0..self.plan.checks.len()).collect();
        self.reconcile_alerts(&all);
        self.publish();
        Ok(Reloaded {
            path: self.plan.source.clone(),
            changes: diff.changes,
            summary,
            warnings: Vec::new(),
            resolved_alerts: resolutions.iter().map(|(alert, _, _)| alert.id).collect(),
            generation,
        })
    }
}
