//! The engine's side of the deployment runbook: step changes (each with its log entry in one
//! transaction), lateness warnings sent once per step, kind and level (recorded in the same
//! transaction as their outbox rows, so a restart never repeats one), and the rollback
//! recommendation when a step fails.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::alerts::{
    RollbackRecommendation, enqueue_all, names_or_nobody, outbox_rows, resolve_recipients,
    rollback_recommendation_rows,
};
use super::{Engine, EngineError, block};
use crate::core::health::Health;
use crate::core::lifecycle::owner_label;
use crate::core::log::LogData;
use crate::core::log::data::{RunbookEvent, RunbookLog, StepLogged, VerifiedCheck};
use crate::core::log::{LogKind, NewEntry};
use crate::core::runbook::{
    self, LateKind, LateWarning, StepAction, StepChange, StepRecords, StepRequest, StepState,
    StepView,
};
use crate::domain::{Owner, Role};
use crate::error_chain::error_chain;
use crate::notify::OutboxKind;
use crate::plan::alerting::Recipient;
use crate::plan::runbook::RunbookStep;
use crate::report::notice;
use crate::report::notices::{self, LateStep};
use crate::store::StoreError;
use crate::store::alerts::NewOutboxRow;
use crate::store::runbook::SentWarnings;

/// The runbook's state in the engine: every step's record and the warnings already sent.
#[derive(Debug, Default)]
pub(super) struct RunbookState {
    pub(super) records: StepRecords,
    /// Every lateness warning sent: (step, kind, level) and when.
    pub(super) warned: SentWarnings,
    /// After a failed write: no new attempt before this, so a failing disk does not make the
    /// engine spin on a warning that is due.
    pub(super) retry_after: Option<Timestamp>,
}

/// The answer to a step change.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutcome {
    pub change: StepChange,
    /// The step after the change, plan and actual side by side.
    pub step: StepView,
    /// For a failed step: the rollback procedure that applies now, and the rollback point it
    /// belongs to (none: the plan's `[rollback] procedure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackAdvice>,
}

/// Which rollback procedure applies after a failure, and who got it.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackAdvice {
    pub after_rollback_point: Option<String>,
    pub procedure: String,
    pub sent_to: Vec<String>,
}

impl Engine {
    /// Starts, completes, skips or fails a step.
    pub(super) fn change_step(&mut self, request: StepRequest) -> Result<StepOutcome, EngineError> {
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        let change = match runbook::apply(&plan, &self.runbook.records, &request, now) {
            Ok(change) => change,
            Err(refusal) => {
                tracing::warn!(step = %request.step, action = %request.action, author = %request.author, reason = %refusal, "runbook step change refused");
                return Err(refusal.into());
            }
        };
        let Some(step) = plan.runbook.step(&change.step) else {
            return Err(EngineError::NotFound(format!(
                "no runbook step `{}`",
                change.step
            )));
        };
        let entry = self.step_entry(step, &change);
        let mut records = self.runbook.records.clone();
        records.insert(change.step.clone(), change.record.clone());
        let (rows, rollback) = if change.to == StepState::Failed {
            let (rows, advice) = self.failed_step_rollback(step, &change, &records, now);
            (rows, Some(advice))
        } else {
            (Vec::new(), None)
        };
        let retried = change.action == StepAction::Start && change.from == StepState::Failed;
        let rollback_entry = rollback.as_ref().map(|advice| NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Runbook,
            text: format!(
                "Rollback recommended after step `{}` failed ({}); procedure sent to {}",
                step.id,
                match &advice.after_rollback_point {
                    Some(point) => format!("the procedure after rollback point `{point}`"),
                    None => "the plan's rollback procedure: no rollback point passed".to_string(),
                },
                if advice.sent_to.is_empty() {
                    "nobody (no email channel or no recipient with an address)".to_string()
                } else {
                    advice.sent_to.join(", ")
                }
            ),
            data: LogData::Runbook(RunbookLog::Event(RunbookEvent::RollbackRecommended {
                step: step.id.clone(),
                after_rollback_point: advice.after_rollback_point.clone(),
            })),
        });
        let stored = block(|| {
            self.store.write(|write| {
                write.save_step(&change.step, &change.record, now)?;
                if retried {
                    write.clear_runbook_warnings(&change.step)?;
                }
                let stored = write.log(&entry)?;
                enqueue_all(write, &rows)?;
                if let Some(entry) = &rollback_entry {
                    write.log(entry)?;
                }
                Ok(stored)
            })
        })?;
        self.logged(&stored);
        if retried {
            self.runbook
                .warned
                .retain(|(id, _, _), _| id != &change.step);
        }
        self.runbook.records = records;
        if !rows.is_empty() {
            self.outbox_written.notify_one();
        }
        tracing::info!(step = %change.step, from = %change.from, to = %change.to, author = %change.by, forced = change.forced, "runbook step changed");
        self.publish();
        let view = runbook::view(&plan, &self.runbook.records, self.state.phase, now)
            .into_iter()
            .find(|view| view.id == change.step)
            .ok_or_else(|| EngineError::NotFound(format!("no runbook step `{}`", change.step)))?;
        Ok(StepOutcome {
            change,
            step: view,
            rollback,
        })
    }

    /// The log entry of a step change, with the verify checks' health when a step is done.
    fn step_entry(&self, step: &RunbookStep, change: &StepChange) -> NewEntry {
        let verb = match change.to {
            StepState::Running if change.forced => "started (forced past unfinished dependencies)",
            StepState::Running if change.from == StepState::Failed => "started again",
            StepState::Running => "started",
            StepState::Done => "done",
            StepState::Skipped => "skipped",
            StepState::Failed => "FAILED",
            StepState::Pending => "reset",
        };
        let mut text = format!("Step `{}` {verb}: {}", step.id, step.title);
        if let Some(reason) = &change.reason {
            text.push_str(" — ");
            text.push_str(reason);
        }
        let verify: Vec<VerifiedCheck> = if change.to == StepState::Done {
            step.verify
                .iter()
                .map(|id| {
                    let health = self
                        .gate
                        .get(id)
                        .map_or(Health::Unknown, |gate| gate.health);
                    VerifiedCheck {
                        check: id.clone(),
                        health,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        if !verify.is_empty() {
            let list: Vec<String> = verify
                .iter()
                .map(|item| format!("{} {}", item.check, item.health.as_str()))
                .collect();
            text.push_str(&format!(" (verify: {})", list.join(", ")));
        }
        NewEntry {
            at: change.at,
            author: change.by.clone(),
            kind: LogKind::Runbook,
            text,
            data: LogData::Runbook(RunbookLog::Step(StepLogged {
                step: step.id.clone(),
                action: change.action,
                from: change.from,
                to: change.to,
                forced: change.forced,
                reason: change.reason.clone(),
                overridden: change.overridden.clone(),
                verify,
                run_id: change.run_id.clone(),
            })),
        }
    }

    /// The rollback recommendation for a failed step: the procedure that applies (after the last
    /// rollback point done, else the plan's), sent to the plan's rollback recipients.
    fn failed_step_rollback(
        &self,
        step: &RunbookStep,
        change: &StepChange,
        records: &StepRecords,
        now: Timestamp,
    ) -> (Vec<NewOutboxRow>, RollbackAdvice) {
        let plan = &self.plan;
        let (point, procedure) = runbook::applicable_rollback(plan, records);
        let recipients = resolve_recipients(plan, &plan.rollback.notify);
        let (subject, text) = notices::failed_step_rollback(
            &plan.launch.name,
            step,
            self.state.phase,
            &change.by,
            change.reason.as_deref(),
            point,
            procedure,
        );
        let rows = rollback_recommendation_rows(
            plan,
            &self.message_ids,
            &recipients,
            &RollbackRecommendation {
                subject,
                text,
                alert_id: None,
            },
            now,
        );
        let sent_to = if rows.is_empty() {
            Vec::new()
        } else {
            recipients
                .iter()
                .filter(|recipient| recipient.email.is_some())
                .map(|recipient| recipient.name.clone())
                .collect()
        };
        (
            rows,
            RollbackAdvice {
                after_rollback_point: point.map(str::to_string),
                procedure: procedure.to_string(),
                sent_to,
            },
        )
    }

    /// The rollback procedure that applies now (see [`runbook::applicable_rollback`]).
    pub(super) fn applicable_rollback_procedure(&self) -> &str {
        runbook::applicable_rollback(&self.plan, &self.runbook.records).1
    }

    /// The next instant a lateness warning not yet sent becomes due.
    pub(super) fn runbook_deadline(&self) -> Option<Timestamp> {
        let due = self.unsent_warnings().map(|warning| warning.due).min()?;
        Some(self.runbook.retry_after.map_or(due, |retry| due.max(retry)))
    }

    fn unsent_warnings(&self) -> impl Iterator<Item = LateWarning> + '_ {
        let warned = &self.runbook.warned;
        let owner_warned_at = |step: &str, kind: LateKind| {
            warned
                .get(&(step.to_string(), kind.as_str().to_string(), 1))
                .copied()
        };
        runbook::warnings(
            &self.plan,
            &self.runbook.records,
            self.state.phase,
            owner_warned_at,
        )
        .into_iter()
        .filter(|warning| {
            !self.runbook.warned.contains_key(&(
                warning.step.clone(),
                warning.kind.as_str().to_string(),
                warning.level,
            ))
        })
    }

    /// Sends every lateness warning due now, once per step, kind and level.
    pub(super) fn send_due_runbook_warnings(&mut self) {
        let now = self.clock.now();
        if self.runbook.retry_after.is_some_and(|retry| now < retry) {
            return;
        }
        self.runbook.retry_after = None;
        let due: Vec<LateWarning> = self
            .unsent_warnings()
            .filter(|warning| warning.due <= now)
            .collect();
        for warning in due {
            if let Err(error) = self.send_runbook_warning(&warning, now) {
                self.runbook.retry_after = Some(now + SignedDuration::from_secs(10));
                self.store_trouble(&error);
                tracing::error!(step = %warning.step, error = %error_chain(&error), "could not record a runbook lateness warning");
                return;
            }
        }
    }

    fn send_runbook_warning(
        &mut self,
        warning: &LateWarning,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let plan = Arc::clone(&self.plan);
        let Some(step) = plan.runbook.step(&warning.step) else {
            return Ok(());
        };
        let recipient = if warning.level == 1 {
            match &step.owner {
                Owner::Person(id) => Recipient::Person(id.clone()),
                Owner::Role(role) => Recipient::Role(*role),
            }
        } else {
            Recipient::Role(Role::ProjectManager)
        };
        let addressees = resolve_recipients(&plan, &[recipient]);
        let tz = &plan.launch.timezone;
        let owner_warned_at = (warning.level == 2).then(|| {
            self.runbook
                .warned
                .get(&(step.id.clone(), warning.kind.as_str().to_string(), 1))
                .copied()
                .unwrap_or(now)
        });
        let late = LateStep {
            launch: &plan.launch.name,
            step,
            kind: warning.kind,
            level: warning.level,
            since: warning.since,
            owner: owner_label(&plan, &step.owner),
            owner_warned_at,
            addressees: &addressees,
        };
        let what = notices::runbook_late_what(&late, now, tz);
        let notice = notices::runbook_late(&late, now, tz);
        let rows = if addressees.is_empty() {
            Vec::new()
        } else {
            outbox_rows(
                notice::through_channels(
                    &plan,
                    &self.message_ids,
                    &notice::mailboxes(&addressees),
                    &notice,
                    &format!(
                        "runbook-{}-{}-{}",
                        step.id,
                        warning.kind.as_str(),
                        warning.level
                    ),
                ),
                OutboxKind::Runbook,
                None,
                now,
            )
        };
        let told = if rows.is_empty() {
            "nobody (no channel reaches them)".to_string()
        } else {
            names_or_nobody(&addressees)
        };
        let entry = NewEntry::by_golive(
            now,
            LogKind::Runbook,
            format!(
                "Step `{}` {what}; level {} warning sent to {told}",
                step.id, warning.level
            ),
            LogData::Runbook(RunbookLog::Event(RunbookEvent::Late {
                step: step.id.clone(),
                late: warning.kind,
                level: warning.level,
            })),
        );
        let stored = block(|| {
            self.store.write(|write| {
                write.record_runbook_warning(&step.id, warning.kind, warning.level, now)?;
                enqueue_all(write, &rows)?;
                write.log(&entry)
            })
        })?;
        self.logged(&stored);
        self.runbook.warned.insert(
            (
                step.id.clone(),
                warning.kind.as_str().to_string(),
                warning.level,
            ),
            now,
        );
        self.metrics
            .runbook
            .warnings
            .with_label_values(&[&warning.level.to_string()])
            .inc();
        tracing::warn!(step = %step.id, late = warning.kind.as_str(), level = warning.level, "runbook step late; warning sent");
        if !rows.is_empty() {
            self.outbox_written.notify_one();
        }
        Ok(())
    }
}
