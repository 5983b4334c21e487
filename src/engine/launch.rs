//! The engine's launch commands: phase transitions, checklist confirmations, log entries and
//! action items. Each applies a pure rule from `core`, commits, then updates memory and publishes.

use super::{ActionChange, ConfirmOutcome, Engine, EngineError, block};
use crate::core::actions::{self, ActionItem, ActionStatus, FieldError};
use crate::core::lifecycle;
use crate::core::log::LogData;
use crate::core::log::data::{
    ActionChanged, ActionCreated, ActionEvent, ChecklistConfirmed, PhaseChange,
};
use crate::core::log::{LogEntry, LogKind, NewEntry};
use crate::core::{Transition, TransitionRequest};
use crate::report::update::AutomaticRollback;

impl Engine {
    pub(super) fn transition(
        &mut self,
        request: TransitionRequest,
    ) -> Result<Transition, EngineError> {
        self.transition_because(request, None)
    }

    /// [`Self::transition`]; `automatic` when golive rolls back by itself, for the update.
    pub(super) fn transition_because(
        &mut self,
        request: TransitionRequest,
        automatic: Option<&AutomaticRollback>,
    ) -> Result<Transition, EngineError> {
        let now = self.clock.now();
        match lifecycle::request_transition(&self.plan, &self.state, &self.gate, &request, now) {
            Ok(transition) => {
                Ok(self.record_transition(transition, automatic, request.run_id.clone())?)
            }
            Err(refusal) => {
                self.metrics.refused_transitions.inc();
                tracing::warn!(phase = %self.state.phase, author = %request.author, reason = %refusal, "phase change refused");
                Err(refusal.into())
            }
        }
    }

    /// Records an allowed change with its log entry and stakeholder update; `automatic` says how
    /// golive rolled back by itself, for that update; `run_id` the pipeline run that asked.
    pub(super) fn record_transition(
        &mut self,
        transition: Transition,
        automatic: Option<&AutomaticRollback>,
        run_id: Option<String>,
    ) -> Result<Transition, EngineError> {
        let mut text = format!("Phase {} → {}", transition.from, transition.to);
        if transition.forced {
            text.push_str(" (forced)");
        }
        if let Some(reason) = &transition.reason {
            text.push_str(": ");
            text.push_str(reason);
        }
        let entry = NewEntry {
            at: transition.at,
            author: transition.author.clone(),
            kind: LogKind::Phase,
            text,
            data: LogData::Phase(PhaseChange {
                from: transition.from,
                to: transition.to,
                forced: transition.forced,
                reason: transition.reason.clone(),
                overridden: transition.overridden.clone(),
                run_id,
            }),
        };
        // A stakeholder update is written with the phase change or not at all.
        let update = self.phase_update(&transition, automatic);
        let (stored, update_entry) = block(|| {
            self.store.write(|write| {
                write.record_phase(&transition)?;
                let stored = write.log(&entry)?;
                Ok((
                    stored,
                    update
                        .as_ref()
                        .map(|update| update.write(write))
                        .transpose()?,
                ))
            })
        })?;
        if let Some(update_entry) = &update_entry {
            self.logged(update_entry);
            self.outbox_written.notify_one();
        }
        self.state.phase = transition.to;
        self.state.phase_since = transition.at;
        self.logged(&stored);
        tracing::info!(from = %transition.from, to = %transition.to, author = %transition.author, forced = transition.forced, "phase changed");
        // Alerts of checks that stop running in the new phase are closed, not left escalating;
        // published with the new phase, so no snapshot shows the phase without it.
        let all: Vec<usize> = (0..self.plan.checks.len()).collect();
        self.reconcile_alerts(&all);
        self.publish();
        Ok(transition)
    }

    pub(super) fn confirm(
        &mut self,
        item: String,
        author: String,
        note: Option<String>,
    ) -> Result<ConfirmOutcome, EngineError> {
        // To the millisecond, as the store keeps it: the answer from memory (now and on every
        // read of the checklist) is then the one a restart or a standby reads back.
        let now = self.clock.now();
        let now = jiff::Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now);
        let Some(confirmation) =
            lifecycle::confirm_item(&self.plan, &self.state, &item, &author, note, now)?
        else {
            let existing = &self.state.confirmations[&item];
            return Ok(ConfirmOutcome {
                item,
                by: existing.by.clone(),
                at: existing.at,
                note: existing.note.clone(),
                newly_confirmed: false,
            });
        };
        let title = self
            .plan
            .checklist
            .iter()
            .find(|entry| entry.id == item)
            .map_or("", |entry| entry.title.as_str());
        let mut text = format!("Checklist item `{item}` confirmed: {title}");
        if let Some(note) = &confirmation.note {
            text.push_str(" — ");
            text.push_str(note);
        }
        let entry = NewEntry {
            at: now,
            author: author.clone(),
            kind: LogKind::Checklist,
            text,
            data: LogData::Checklist(ChecklistConfirmed {
                item: item.clone(),
                note: confirmation.note.clone(),
            }),
        };
        let stored = block(|| self.store.record_confirmation(&item, &confirmation, &entry))?;
        self.state
            .confirmations
            .insert(item.clone(), confirmation.clone());
        self.logged(&stored);
        tracing::info!(item = %item, author = %author, "checklist item confirmed");
        self.publish();
        Ok(ConfirmOutcome {
            item,
            by: confirmation.by,
            at: confirmation.at,
            note: confirmation.note,
            newly_confirmed: true,
        })
    }

    pub(super) fn append(
        &mut self,
        kind: LogKind,
        text: String,
        author: String,
    ) -> Result<LogEntry, EngineError> {
        if !kind.is_writable() {
            return Err(FieldError::new(
                "kind",
                format!(
                    "`{kind}` entries are written by golive itself; write one of: note, decision, lesson, feedback"
                ),
            )
            .into());
        }
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(FieldError::new("text", "the text is empty; say what happened").into());
        }
        let entry = NewEntry {
            at: self.clock.now(),
            author,
            kind,
            text,
            data: LogData::None,
        };
        let stored = block(|| self.store.append(&entry))?;
        self.logged(&stored);
        self.publish();
        Ok(stored)
    }

    pub(super) fn create_action(
        &mut self,
        title: &str,
        owner: &str,
        due: Option<&str>,
        author: &str,
    ) -> Result<ActionItem, EngineError> {
        let action = actions::validate_new_action(&self.plan, title, owner, due)?;
        let now = self.clock.now();
        let (item, stored) = block(|| {
            self.store
                .create_action(&action, author, now, |item| NewEntry {
                    at: now,
                    author: author.to_string(),
                    kind: LogKind::Action,
                    text: format!(
                        "Action item #{} opened: {} (owner {}{})",
                        item.id,
                        item.title,
                        item.owner,
                        item.due.map_or(String::new(), |due| format!(", due {due}"))
                    ),
                    data: LogData::Action(ActionEvent::Created(ActionCreated {
                        action: item.id,
                        status: ActionStatus::Open,
                        owner: item.owner.clone(),
                        due: item.due,
                    })),
                })
        })?;
        self.actions.push(item.clone());
        self.logged(&stored);
        self.publish();
        Ok(item)
    }

    pub(super) fn update_action(
        &mut self,
        id: i64,
        change: ActionChange,
        author: &str,
    ) -> Result<ActionItem, EngineError> {
        let Some(index) = self.actions.iter().position(|item| item.id == id) else {
            return Err(EngineError::NotFound(format!("no action item #{id}")));
        };
        let current = &self.actions[index];
        let mut updated = current.clone();
        let mut changes = Vec::new();
        if let Some(title) = &change.title {
            let title = title.trim();
            if title.is_empty() {
                return Err(
                    FieldError::new("title", "the title is empty; say what needs doing").into(),
                );
            }
            if title != updated.title {
                changes.push(format!("title “{title}”"));
                updated.title = title.to_string();
            }
        }
        if let Some(owner) = &change.owner {
            let owner = actions::validate_owner(&self.plan, owner.trim())?;
            if owner != updated.owner {
                changes.push(format!("owner {owner}"));
                updated.owner = owner;
            }
        }
        if let Some(due) = &change.due {
            let due = due.as_deref().map(actions::parse_due).transpose()?;
            if due != updated.due {
                changes.push(due.map_or("no due date".to_string(), |due| format!("due {due}")));
                updated.due = due;
            }
        }
        if let Some(status) = change.status
            && let Some(status) = actions::change_status(current, status)?
        {
            changes.push(format!("status {status}"));
            updated.status = status;
        }
        if changes.is_empty() {
            return Ok(updated);
        }
        let now = self.clock.now();
        updated.updated_at = now;
        let mut text = format!(
            "Action item #{} ({}): {}",
            updated.id,
            updated.title,
            changes.join(", ")
        );
        if let Some(note) = change
            .note
            .as_deref()
            .filter(|note| !note.trim().is_empty())
        {
            text.push_str(" — ");
            text.push_str(note.trim());
        }
        let entry = NewEntry {
            at: now,
            author: author.to_string(),
            kind: LogKind::Action,
            text,
            data: LogData::Action(ActionEvent::Changed(ActionChanged {
                action: updated.id,
                status: updated.status,
                owner: updated.owner.clone(),
                due: updated.due,
                note: change.note.clone(),
            })),
        };
        let stored = block(|| self.store.update_action(&updated, &entry))?;
        self.actions[index] = updated.clone();
        self.logged(&stored);
        self.publish();
        Ok(updated)
    }
}
