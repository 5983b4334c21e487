//! Escalation on time: which step of each open alert's policy is due (levels, repeats, lapsed
//! acknowledgements, silences holding it back), carrying it out with its notifications in one
//! transaction, and forwarding open alerts to Alertmanager again.

use jiff::Timestamp;

use super::*;
use crate::core::alert::{self, Alert, Step};
use crate::core::log::LogData;
use crate::core::log::data::{AlertEvent, AlertLog, PageKind, Paged};
use crate::core::log::{LogKind, NewEntry};
use crate::engine::{Engine, block};
use crate::error_chain::error_chain;
use crate::plan::alerting::{ChannelKind, EscalationPolicy};
use crate::plan::recipients::{addressees_by_key, resolve_recipients};
use crate::report::alert_message::MessageKind;
use crate::store::StoreError;

impl Engine {
    /// When the engine must wake for alerts next: the earliest step of an alert that is not
    /// silenced, or the end of the silence holding one back.
    pub(in crate::engine) fn alert_deadline(&self) -> Option<Timestamp> {
        let now = self.clock.now();
        let not_before = self.alerts.retry_after.map(|(until, _)| until);
        self.alerts
            .open
            .values()
            .filter_map(|alert| {
                let step = alert::next_step(alert, self.policy(alert))?;
                match self.silence_for(alert, now.max(step.at())) {
                    Some((end, _)) => Some(end),
                    None => Some(step.at()),
                }
            })
            .min()
            .map(|due| not_before.map_or(due, |not_before| due.max(not_before)))
    }

    /// Carries out every escalation step that is due, each in its own transaction.
    pub(in crate::engine) fn process_due_alerts(&mut self) {
        let now = self.clock.now();
        if self
            .alerts
            .retry_after
            .is_some_and(|(until, _)| now < until)
        {
            return;
        }
        // While what the store holds is not known, no step is taken. (Checks whose health changed
        // meanwhile get their alerts at the next reconciliation, which covers every check after a
        // re-read; calling it from here would recurse while writes keep failing, a full disk.)
        if self.resync_alerts().is_err() {
            return;
        }
        let ids: Vec<i64> = self.alerts.open.keys().copied().collect();
        for id in ids {
            // Several steps may be due (levels missed while the daemon was down); each is sent once.
            for _ in 0..16 {
                let Some(alert) = self.alerts.open.get(&id) else {
                    break;
                };
                let Some(policy) = self.policy(alert).cloned() else {
                    break;
                };
                let Some(step) = alert::next_step(alert, Some(&policy)) else {
                    break;
                };
                if step.at() > now {
                    break;
                }
                if let Some((end, silence)) = self.silence_for(alert, now) {
                    if self.alerts.suppressed.get(&id) != Some(&end) {
                        let entry = NewEntry {
                            at: now,
                            author: "golive".into(),
                            kind: LogKind::Alert,
                            text: format!(
                                "#{id} Notifications for {} held back by silence `{}` ({}) until {}",
                                alert.title,
                                silence.id,
                                silence.comment,
                                crate::human::time(end, &self.plan.launch.timezone)
                            ),
                            data: LogData::Alert(AlertLog::Event(AlertEvent::Silenced {
                                alert: id,
                                silence: silence.id.clone(),
                                until: end,
                            })),
                        };
                        if block(|| self.store.append(&entry)).is_ok() {
                            self.alerts.suppressed.insert(id, end);
                        }
                    }
                    break;
                }
                if let Err(error) = self.take_escalation_step(id, &policy, step, now) {
                    self.alerts.back_off(now);
                    self.store_trouble(&error);
                    tracing::error!(error = %error_chain(&error), alert = id, "could not escalate; will retry");
                    break;
                }
            }
        }
    }

    /// Forwards every open alert again that went to Alertmanager more than [`FORWARD_REFRESH`]
    /// ago (or not since golive started), through the Alertmanager channels of the levels it
    /// reached, so Alertmanager does not end it while it is open here.
    pub(in crate::engine) fn refresh_forwarded_alerts(&mut self) {
        let now = self.clock.now();
        let open = &self.alerts.open;
        self.alerts.forwarded.retain(|id, _| open.contains_key(id));
        let due: Vec<Alert> = self
            .alerts
            .open
            .values()
            .filter(|alert| {
                self.alerts
                    .forwarded
                    .get(&alert.id)
                    .is_none_or(|at| now >= instant_after(*at, FORWARD_REFRESH))
            })
            .cloned()
            .collect();
        for alert in due {
            let Some(policy) = self.policy(&alert) else {
                continue;
            };
            let mut channels: Vec<String> = Vec::new();
            for level in policy.levels.iter().take(alert.level) {
                for channel in &level.channels {
                    let forwards = self.plan.alerting.channels.iter().any(|known| {
                        &known.id == channel
                            && matches!(known.kind, ChannelKind::Alertmanager { .. })
                    });
                    if forwards && !channels.contains(channel) {
                        channels.push(channel.clone());
                    }
                }
            }
            if channels.is_empty() {
                continue;
            }
            let rows = self.alert_message_rows(
                &alert,
                MessageKind::Repeat,
                alert.level,
                &[],
                &channels,
                now,
                &[],
            );
            if let Err(error) = block(|| self.store.write(|write| enqueue_all(write, &rows))) {
                // Tried again at the next housekeeping.
                self.alerts.forwarded.remove(&alert.id);
                self.store_trouble(&error);
                tracing::error!(error = %error_chain(&error), alert = alert.id, "could not forward the alert to Alertmanager again");
                return;
            }
            self.wake_dispatcher();
        }
    }

    /// Takes one due escalation step of alert `id` (first notice, next level, repeat, or a
    /// lapsed acknowledgement): its outbox rows, the alert's new state and its log entry in one
    /// transaction.
    pub(super) fn take_escalation_step(
        &mut self,
        id: i64,
        policy: &EscalationPolicy,
        step: Step,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(mut alert) = self.alerts.open.get(&id).cloned() else {
            return Ok(());
        };
        let (kind, level_index) = match step {
            Step::Level { level: 0, .. } => (MessageKind::Opened, 0),
            Step::Level { level, .. } => (MessageKind::Escalated, level),
            Step::Repeat { level, .. } => (MessageKind::Repeat, level),
            Step::AckLapsed { .. } => (
                MessageKind::Reopened {
                    lapsed_by: alert
                        .acknowledged
                        .as_ref()
                        .map_or_else(String::new, |ack| ack.by.clone()),
                },
                alert
                    .level
                    .saturating_sub(1)
                    .min(policy.levels.len().saturating_sub(1)),
            ),
        };
        let Some(level) = policy.levels.get(level_index) else {
            return Ok(());
        };
        let recipients = resolve_recipients(&self.plan, &level.notify);
        let others: Vec<String> = addressees_by_key(&self.plan, &alert.notified)
            .into_iter()
            .filter(|known| !recipients.iter().any(|new| new.key == known.key))
            .map(|known| known.name)
            .collect();
        alert::apply_step(&mut alert, policy, step, now);
        let rows = self.alert_message_rows(
            &alert,
            kind.clone(),
            level_index + 1,
            &recipients,
            &level.channels,
            now,
            &others,
        );
        for recipient in &recipients {
            alert.notified.insert(recipient.key.clone());
        }
        let text = format!(
            "#{id} {} — level {} ({}) via {}",
            match &kind {
                MessageKind::Opened => "Notified".to_string(),
                MessageKind::Escalated => "Escalated".to_string(),
                MessageKind::Repeat => "Reminded".to_string(),
                MessageKind::Reopened { lapsed_by } =>
                    format!("Acknowledgement by {lapsed_by} lapsed; re-notified"),
                _ => String::new(),
            },
            level_index + 1,
            names_or_nobody(&recipients),
            level.channels.join(", ")
        );
        let written = block(|| {
            self.store.write(|write| {
                write.update_alert(&alert)?;
                enqueue_all(write, &rows)?;
                write.log(&NewEntry {
                    at: now,
                    author: "golive".into(),
                    kind: LogKind::Alert,
                    text,
                    data: LogData::Alert(AlertLog::Paged(Paged {
                        alert: id,
                        event: PageKind::of(step),
                        level: level_index + 1,
                        told: recipients.iter().map(|a| a.key.clone()).collect(),
                        channels: level.channels.clone(),
                    })),
                })?;
                Ok(())
            })
        });
        self.alert_written(written)?;
        self.alerts.insert(alert);
        self.alerts.retry_after = None;
        self.update_alert_metrics();
        self.wake_dispatcher();
        Ok(())
    }
}
