//! Rollback: the decision (phase, log, the hook run through the outbox), whether the plan's
//! criteria hold for an alert, and the recommendation with the procedure sent to the people the
//! plan names.

use std::sync::Arc;

use jiff::Timestamp;

use super::*;
use crate::ack_link::AckTarget;
use crate::core::alert::Alert;
use crate::core::log::LogData;
use crate::core::log::data::{AlertEvent, AlertLog, DecisionEvent};
use crate::core::log::{LogKind, NewEntry};
use crate::engine::{Engine, EngineError, block};
use crate::notify::{OutboxKind, OutboxPayload};
use crate::plan::Plan;
use crate::plan::alerting::ChannelKind;
use crate::plan::recipients::{Addressee, resolve_recipients};
use crate::report::alert_message::{self, ValueFacts};
use crate::report::notice::{self, Notice, Thread};
use crate::report::update::AutomaticRollback;
use crate::store::alerts::NewOutboxRow;

/// What a rollback recommendation says, and where it belongs.
pub(crate) struct RollbackRecommendation {
    pub(crate) subject: String,
    pub(crate) text: String,
    /// The alert it belongs to: each email then answers that alert's thread for its recipient.
    pub(crate) alert_id: Option<i64>,
}

/// The outbox rows that recommend a rollback: one email per recipient with an address, through the
/// plan's first email channel (none without one). Used when an alert meets the rollback criteria
/// and when a runbook step fails.
pub(crate) fn rollback_recommendation_rows(
    plan: &Plan,
    message_ids: &crate::report::message_id::MessageIds,
    recipients: &[Addressee],
    recommendation: &RollbackRecommendation,
    now: Timestamp,
) -> Vec<NewOutboxRow> {
    let Some(channel) = plan
        .alerting
        .channels
        .iter()
        .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }))
    else {
        return Vec::new();
    };
    recipients
        .iter()
        .filter_map(|recipient| {
            let address = recipient.email.as_ref()?;
            let thread = recommendation
                .alert_id
                .map_or_else(Thread::default, |alert_id| {
                    Thread::reply_about_alert(message_ids, alert_id, &recipient.key)
                });
            let email = notice::email(
                vec![(Some(recipient.name.clone()), address.clone())],
                &Notice::plain(
                    recommendation.subject.clone(),
                    recommendation.text.clone(),
                    crate::core::message::GoliveBody::None,
                ),
                message_ids.fresh("rollback"),
                thread,
            );
            Some(NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: channel.id.clone(),
                kind: OutboxKind::Rollback,
                alert_id: recommendation.alert_id,
                group_key: None,
                payload: OutboxPayload::email(email),
            })
        })
        .collect()
}

impl Engine {
    /// Whether the plan's rollback criteria hold for this alert now.
    pub(super) fn rollback_recommended(&self, alert: &Alert) -> bool {
        crate::core::alert::rollback_recommended(&self.plan.rollback, self.state.phase, alert)
    }

    /// Rolls the launch back: the phase moves to `rolled_back` (with the reason in the log) and
    /// the plan's rollback hook, if any, is queued for the dispatcher to run (durably: a restart
    /// does not lose it). Manual rollbacks come from the API/CLI; automatic ones only when the
    /// plan says `auto = true` and the criteria hold (`automatic` then says why in plain words,
    /// for the stakeholder update).
    pub(in crate::engine) fn roll_back(
        &mut self,
        reason: String,
        by: String,
        automatic: Option<AutomaticRollback>,
    ) -> Result<crate::core::Transition, EngineError> {
        let transition = self.transition_because(
            crate::core::TransitionRequest {
                target: crate::core::PhaseRequest::To(crate::domain::Phase::RolledBack),
                force: false,
                reason: Some(reason.clone()),
                author: by.clone(),
                run_id: None,
            },
            automatic.as_ref(),
        )?;
        let automatic = automatic.is_some();
        let now = self.clock.now();
        if self.plan.rollback.hook.is_some() {
            let row = NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: crate::notify::ROLLBACK_HOOK.to_string(),
                kind: OutboxKind::RollbackHook,
                alert_id: None,
                group_key: None,
                payload: OutboxPayload::RollbackHook {
                    run: crate::notify::HookRun {
                        reason: reason.clone(),
                        by: by.clone(),
                        automatic,
                        at: Some(now),
                    },
                },
            };
            block(|| {
                self.store.write(|write| {
                    write.enqueue(&row)?;
                    write.log(&NewEntry {
                        at: now,
                        author: by.clone(),
                        kind: LogKind::Decision,
                        text: format!(
                            "Rollback {}: {reason}; the rollback hook is being run",
                            if automatic {
                                "started automatically (auto = true, criteria hold)"
                            } else {
                                "decided"
                            }
                        ),
                        data: LogData::Decision(DecisionEvent::Rollback { automatic }),
                    })?;
                    Ok(())
                })
            })?;
            self.wake_dispatcher();
        } else {
            let entry = NewEntry {
                at: now,
                author: by,
                kind: LogKind::Decision,
                text: format!(
                    "Rollback decided: {reason}; no hook configured: follow the procedure by hand"
                ),
                data: LogData::Decision(DecisionEvent::Rollback { automatic }),
            };
            block(|| self.store.append(&entry))?;
        }
        Ok(transition)
    }

    /// When an alert opens and the rollback criteria hold: tell the rollback recipients (with the
    /// procedure) through the plan's email channel, and roll back by itself if `auto = true`.
    pub(in crate::engine) fn rollback_criteria_hold(&mut self, alert_id: i64) {
        let Some(alert) = self.alerts.open.get(&alert_id).cloned() else {
            return;
        };
        if !self.rollback_recommended(&alert) {
            return;
        }
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        let recipients = resolve_recipients(&plan, &plan.rollback.notify);
        let email_channel = plan
            .alerting
            .channels
            .iter()
            .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }));
        if email_channel.is_some() {
            let procedure = self.applicable_rollback_procedure().to_string();
            let value = ValueFacts {
                now: alert
                    .check_id()
                    .and_then(|id| self.checks.latest_value(&plan, id)),
                at_opening: None,
                worst: None,
            };
            let public_url = self.public_url();
            // One recommendation per person: each carries that person's acknowledgement link.
            let mut rows = Vec::new();
            for recipient in &recipients {
                let ack_url = alert
                    .is_open()
                    .then(|| self.ack_url(&AckTarget::Alert(alert.id), &recipient.key, now));
                let (subject, text) = alert_message::rollback_recommendation(
                    &plan,
                    &alert,
                    self.state.phase,
                    &procedure,
                    value,
                    &public_url,
                    ack_url.as_deref(),
                );
                rows.extend(rollback_recommendation_rows(
                    &plan,
                    &self.message_ids,
                    std::slice::from_ref(recipient),
                    &RollbackRecommendation {
                        subject,
                        text,
                        alert_id: Some(alert.id),
                    },
                    now,
                ));
            }
            let text = format!(
                "#{} Rollback recommended (criteria hold); procedure sent to {}",
                alert.id,
                names_or_nobody(&recipients)
            );
            let written = block(|| {
                self.store.write(|write| {
                    enqueue_all(write, &rows)?;
                    write.log(&NewEntry {
                        at: now,
                        author: "golive".into(),
                        kind: LogKind::Alert,
                        text,
                        data: LogData::Alert(AlertLog::Event(AlertEvent::RollbackRecommended {
                            alert: alert.id,
                        })),
                    })?;
                    Ok(())
                })
            });
            if written.is_ok() {
                self.wake_dispatcher();
            }
        }
        if plan.rollback.auto && self.state.phase.can_roll_back() {
            let reason = format!("alert #{} ({}): {}", alert.id, alert.title, alert.reason);
            let check = alert
                .check_id()
                .and_then(|id| plan.checks.iter().find(|check| check.id == id));
            let value = alert
                .check_id()
                .and_then(|id| self.checks.latest_value(&plan, id));
            let plain = AutomaticRollback::new(&alert.title, check, value);
            if let Err(error) = self.roll_back(reason, "golive".into(), Some(plain)) {
                tracing::error!(error = %error, "automatic rollback failed");
            }
        }
    }
}
