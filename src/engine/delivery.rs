//! Recording delivery outcomes reported by the dispatcher: delivered, retry later with backoff and
//! jitter, or given up after the plan's maximum age — then raised through the fallback channel.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{Engine, EngineError, block};
use crate::core::log::data::{AlertEvent, AlertLog, DecisionEvent, HookResult};
use crate::core::log::{LogData, LogKind, NewEntry};
use crate::core::message::GoliveBody;
use crate::notify::lanes::LaneChange;
use crate::notify::{DeliveryError, DeliveryReport, OutboxKind, OutboxPayload};
use crate::plan::alerting::ChannelKind;
use crate::report::notice::{self, Notice, Thread};
use crate::store::StoreError;
use crate::store::alerts::{NewOutboxRow, Write};

/// The wait before attempt `attempts + 1`: 2 s, 4 s, 8 s, ... capped at 5 minutes, plus up to a
/// quarter more at random so many failed notifications do not retry in lockstep.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let base = 2f64.powi(attempts.min(16) as i32 + 1).min(300.0);
    Duration::from_secs_f64(base * (1.0 + 0.25 * jitter.clamp(0.0, 1.0)))
}

impl Engine {
    /// Records what the dispatcher reports of one delivery: the rollback hook about to run, a
    /// delivery, or a failed attempt (retried later or given up).
    pub(super) fn record_delivery(&mut self, report: DeliveryReport) -> Result<(), EngineError> {
        let now = self.clock.now();
        if report.hook_started {
            return self.record_hook_started(&report, now);
        }
        match &report.result {
            Ok(answer) => self.record_delivered(&report, answer, now),
            Err(error) => self.record_failed_attempt(&report, error, now),
        }
    }

    /// The rollback hook is about to run: its row leaves `pending` first, so neither a retry nor
    /// a restart can run the rollback a second time.
    fn record_hook_started(
        &mut self,
        report: &DeliveryReport,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        block(|| {
            self.store.write(|write| {
                for id in &report.rows {
                    write.mark_failed(*id, "started; no outcome recorded yet", now)?;
                }
                write.log(&NewEntry {
                    at: now,
                    author: "golive".into(),
                    kind: LogKind::Decision,
                    text: "Rollback hook started".into(),
                    data: LogData::Decision(DecisionEvent::RollbackHook {
                        result: HookResult::Started,
                        output: None,
                    }),
                })?;
                Ok(())
            })
        })?;
        Ok(())
    }

    /// A delivery: the rows are done, and a channel that came up again releases what waited.
    fn record_delivered(
        &mut self,
        report: &DeliveryReport,
        answer: &str,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let channel = report.channel.clone();
        self.metrics
            .notifications
            .with_label_values(&[channel.as_str(), "delivered"])
            .inc();
        self.metrics
            .delivery_seconds
            .observe(now.duration_since(report.queued_at).as_secs_f64().max(0.0));
        let retried = report.attempts > 0;
        let hook = report.kind == OutboxKind::RollbackHook;
        let came_up = match report.lane {
            LaneChange::CameUp { down_since } => Some(down_since),
            _ => None,
        };
        let released = block(|| {
            self.store.write(|write| {
                for id in &report.rows {
                    write.mark_delivered(*id, answer, now)?;
                }
                // The channel works again: what waited for it goes out now, oldest
                // first, instead of each message sleeping out its own backoff.
                let released = match came_up {
                    Some(down_since) => {
                        let released = write.release_channel(&channel, now)?;
                        write.log(&NewEntry {
                            at: now,
                            author: "golive".into(),
                            kind: LogKind::Alert,
                            text: format!(
                                "Channel {channel} works again after {} down; {released} waiting notification(s) go out now, oldest first",
                                crate::human::elapsed(down_since, now)
                            ),
                            data: LogData::Alert(AlertLog::Event(AlertEvent::ChannelUp {
                                channel: channel.to_string(),
                                down_since,
                                released,
                            })),
                        })?;
                        released
                    }
                    None => 0,
                };
                if hook {
                    write.log(&NewEntry {
                        at: now,
                        author: "golive".into(),
                        kind: LogKind::Decision,
                        text: format!("Rollback hook ran: {answer}"),
                        data: LogData::Decision(DecisionEvent::RollbackHook {
                            result: HookResult::Ok,
                            output: Some(answer.to_string()),
                        }),
                    })?;
                } else if retried {
                    write.log(&NewEntry {
                        at: now,
                        author: "golive".into(),
                        kind: LogKind::Alert,
                        text: format!(
                            "Notification ({}{}) delivered via {channel} after {} failed attempt(s): {answer}",
                            report.kind,
                            report.alert_id.map_or(String::new(), |id| format!(", alert #{id}")),
                            report.attempts
                        ),
                        data: LogData::Alert(AlertLog::Event(AlertEvent::Delivered {
                            rows: report.rows.clone(),
                            channel: channel.to_string(),
                            attempts: report.attempts + 1,
                        })),
                    })?;
                }
                Ok(released)
            })
        })?;
        if released > 0 {
            self.outbox_written.notify_one();
        }
        Ok(())
    }

    /// A failed attempt: retried after a backoff, or given up (a permanent error, older than the
    /// plan lets a notification wait, or a rollback hook) and raised through the fallback channel.
    fn record_failed_attempt(
        &mut self,
        report: &DeliveryReport,
        error: &DeliveryError,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let attempt = self.judge_failed_attempt(report, error, now)?;
        let result = if attempt.give_up { "failed" } else { "retry" };
        self.metrics
            .notifications
            .with_label_values(&[report.channel.as_str(), result])
            .inc();
        let fallback = if attempt.give_up {
            self.fallback_rows(report, error, &attempt.expiring, now)
        } else {
            Vec::new()
        };
        let text = failed_attempt_text(report, error, attempt.give_up, &fallback);
        tracing::warn!(channel = %report.channel, attempts = report.attempts + 1, give_up = attempt.give_up, error = %error, "notification delivery failed");
        block(|| {
            self.store.write(|write| {
                write_failed_attempt(write, &attempt, &fallback, text, now)?;
                Ok(())
            })
        })?;
        if !fallback.is_empty() {
            self.outbox_written.notify_one();
        }
        Ok(())
    }

    /// Whether a failed attempt is given up, what is given up with it, and when it is tried again.
    fn judge_failed_attempt<'a>(
        &mut self,
        report: &'a DeliveryReport,
        error: &'a DeliveryError,
        now: Timestamp,
    ) -> Result<FailedAttempt<'a>, EngineError> {
        let channel = &report.channel;
        let max_age =
            SignedDuration::try_from(self.plan.alerting.delivery_max_age).unwrap_or_default();
        let too_old = now.duration_since(report.queued_at) >= max_age;
        // A rollback hook is never run twice: a webhook that timed out may have rolled
        // back already. Its failure goes to people at once.
        let hook = report.kind == OutboxKind::RollbackHook;
        let give_up = !error.is_retryable() || too_old || hook;
        // A channel down for longer than the plan lets a notification wait: everything
        // else that waited as long for it is given up with it, in one warning.
        let expire_with_it = error.is_retryable() && too_old && !hook;
        let cutoff = now.checked_sub(max_age).unwrap_or(now);
        let expiring = if expire_with_it {
            block(|| self.store.waiting_before(channel, cutoff))?
                .into_iter()
                .filter(|(id, _)| !report.rows.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        // A server's `Retry-After` (already capped) when it asks for longer than the backoff.
        let wait = backoff(report.attempts, self.clock.jitter())
            .max(error.retry_after().unwrap_or_default());
        let next = now
            .checked_add(SignedDuration::try_from(wait).unwrap_or_default())
            .unwrap_or(now);
        Ok(FailedAttempt {
            report,
            error,
            hook,
            give_up,
            expire_with_it,
            expiring,
            next,
        })
    }

    /// A warning about a failed delivery for the fallback channel (never the channel that
    /// failed, and never about a failed warning, so failures cannot loop).
    /// `expiring`: the other notifications (row, alert) given up with it because the channel was
    /// down for longer than the plan lets one wait.
    fn fallback_rows(
        &self,
        report: &DeliveryReport,
        error: &DeliveryError,
        expiring: &[(i64, Option<i64>)],
        now: Timestamp,
    ) -> Vec<NewOutboxRow> {
        let Some(fallback) = self.plan.alerting.fallback_channel.as_ref() else {
            return Vec::new();
        };
        if fallback == &report.channel || report.kind == OutboxKind::Warning {
            return Vec::new();
        }
        let Some(channel) = self
            .plan
            .alerting
            .channels
            .iter()
            .find(|channel| &channel.id == fallback)
        else {
            return Vec::new();
        };
        let (subject, text) = self.fallback_warning(report, error, expiring);
        let notice = Notice::plain(
            subject,
            text.clone(),
            GoliveBody::warning(&self.plan.launch.name, &text),
        );
        let payload = match &channel.kind {
            ChannelKind::Email { to } => {
                let mut recipients: Vec<(Option<String>, String)> = self
                    .plan
                    .people
                    .iter()
                    .filter(|person| person.role == crate::domain::Role::OpsLead)
                    .map(|person| (Some(person.name.clone()), person.email.clone()))
                    .collect();
                for recipient in to {
                    if let crate::plan::alerting::Recipient::Address(address) = recipient {
                        recipients.push((None, address.clone()));
                    }
                }
                if recipients.is_empty() {
                    return Vec::new();
                }
                OutboxPayload::email(notice::email(
                    recipients,
                    &notice,
                    self.message_ids.fresh("golive-warning"),
                    Thread::default(),
                ))
            }
            ChannelKind::Webhook(_) => OutboxPayload::webhook(notice::post(&notice)),
            // Pager services and Alertmanager carry alerts, not golive's own trouble.
            ChannelKind::Alertmanager { .. }
            | ChannelKind::PagerDuty(_)
            | ChannelKind::Opsgenie(_) => return Vec::new(),
        };
        vec![NewOutboxRow {
            created_at: now,
            not_before: now,
            channel: fallback.clone(),
            kind: OutboxKind::Warning,
            alert_id: report.alert_id,
            group_key: None,
            payload,
        }]
    }

    /// The fallback warning's subject and text: a rollback hook to be done by hand, or a
    /// notification (and the others given up with it) that could not be delivered.
    fn fallback_warning(
        &self,
        report: &DeliveryReport,
        error: &DeliveryError,
        expiring: &[(i64, Option<i64>)],
    ) -> (String, String) {
        if report.kind == OutboxKind::RollbackHook {
            (
                format!(
                    "[WARNING] {}: the rollback hook FAILED — roll back by hand",
                    self.plan.launch.name
                ),
                format!(
                    "golive's rollback hook failed and is not run again (a second rollback can do harm): {error}\n\nFollow the plan's rollback procedure by hand:\n{}\n",
                    self.plan.rollback.procedure
                ),
            )
        } else {
            let mut text = format!(
                "golive could not deliver a notification ({}{}) via `{}` after {} attempt(s): {error}\n",
                report.kind,
                report
                    .alert_id
                    .map_or(String::new(), |id| format!(" about alert #{id}")),
                report.channel,
                report.attempts + 1
            );
            if !expiring.is_empty() {
                let mut alerts: Vec<i64> =
                    expiring.iter().filter_map(|(_, alert)| *alert).collect();
                alerts.sort_unstable();
                alerts.dedup();
                text.push_str(&format!(
                    "{} more notification(s) via `{}` waited as long and were given up with it{}.\n",
                    expiring.len(),
                    report.channel,
                    if alerts.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (alerts {})",
                            alerts
                                .iter()
                                .map(|id| format!("#{id}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ));
            }
            text.push_str(
                "\nCheck the channel (SMTP server, webhook) and the alerts in `golive alerts`.",
            );
            (
                format!(
                    "[WARNING] {}: a notification could not be delivered via {}",
                    self.plan.launch.name, report.channel
                ),
                text,
            )
        }
    }
}

/// A failed attempt and what to do about it (see [`Engine::judge_failed_attempt`]).
struct FailedAttempt<'a> {
    report: &'a DeliveryReport,
    error: &'a DeliveryError,
    /// The rollback hook's row: never retried.
    hook: bool,
    give_up: bool,
    /// The channel was down for longer than the plan lets a notification wait.
    expire_with_it: bool,
    /// The other notifications (row, alert) given up with this one.
    expiring: Vec<(i64, Option<i64>)>,
    /// When to try again, when not given up.
    next: Timestamp,
}

/// The launch-log line of a failed attempt.
fn failed_attempt_text(
    report: &DeliveryReport,
    error: &DeliveryError,
    give_up: bool,
    fallback: &[NewOutboxRow],
) -> String {
    let channel = &report.channel;
    if give_up {
        format!(
            "Notification ({}{}) via {channel} given up after {} attempt(s): {error}{}",
            report.kind,
            report
                .alert_id
                .map_or(String::new(), |id| format!(", alert #{id}")),
            report.attempts + 1,
            if fallback.is_empty() {
                "; no other channel to tell".to_string()
            } else {
                format!("; raised through {}", fallback[0].channel)
            }
        )
    } else {
        format!(
            "Notification ({}{}) via {channel} failed (attempt {}), retrying: {error}",
            report.kind,
            report
                .alert_id
                .map_or(String::new(), |id| format!(", alert #{id}")),
            report.attempts + 1
        )
    }
}

/// Writes a failed attempt in the caller's transaction: the rows retried or given up, those given
/// up with them, the channel going down, the fallback warning, and the log entries.
fn write_failed_attempt(
    write: &mut Write<'_>,
    attempt: &FailedAttempt<'_>,
    fallback: &[NewOutboxRow],
    text: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (report, error, hook, give_up, expire_with_it, next) = (
        attempt.report,
        attempt.error,
        attempt.hook,
        attempt.give_up,
        attempt.expire_with_it,
        attempt.next,
    );
    let (channel, expiring) = (&report.channel, &attempt.expiring);
    for id in &report.rows {
        if give_up {
            write.mark_failed(*id, &error.to_string(), now)?;
        } else {
            write.mark_retry(*id, &error.to_string(), next)?;
        }
    }
    if expire_with_it {
        let ids: Vec<i64> = expiring.iter().map(|(id, _)| *id).collect();
        let expired = write.fail_waiting(
        &ids,
        &format!("given up with the channel after waiting longer than the plan's delivery_max_age: {error}"),
        now,
    )?;
        if !expired.is_empty() {
            write.log(&NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Alert,
            text: format!(
                "{} more notification(s) via {channel} given up: they waited longer than delivery_max_age for the channel to work",
                expired.len()
            ),
            data: LogData::Alert(AlertLog::Event(AlertEvent::DeliveryFailed {
                rows: expired.clone(),
                channel: channel.to_string(),
                error: error.to_string(),
            })),
        })?;
        }
    }
    if report.lane == LaneChange::WentDown {
        write.log(&NewEntry {
        at: now,
        author: "golive".into(),
        kind: LogKind::Alert,
        text: format!(
            "Channel {channel} is down ({error}): its notifications wait and one is tried every {}; they all go out as soon as one gets through",
            crate::human::std_duration(crate::notify::lanes::PROBE_EVERY)
        ),
        data: LogData::Alert(AlertLog::Event(AlertEvent::ChannelDown {
            channel: channel.to_string(),
            error: error.to_string(),
        })),
    })?;
    }
    for row in fallback {
        write.enqueue(row)?;
    }
    if hook {
        write.log(&NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Decision,
            text: format!("Rollback hook FAILED — follow the rollback procedure by hand: {error}"),
            data: LogData::Decision(DecisionEvent::RollbackHook {
                result: HookResult::Failed,
                output: Some(error.to_string()),
            }),
        })?;
    }
    // Log every give-up, and only the first failure of a notification, so a
    // long outage does not flood the launch log.
    if give_up || report.attempts == 0 {
        write.log(&NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Alert,
            text,
            data: LogData::Alert(AlertLog::Event(if give_up {
                AlertEvent::DeliveryFailed {
                    rows: report.rows.clone(),
                    channel: channel.to_string(),
                    error: error.to_string(),
                }
            } else {
                AlertEvent::DeliveryRetry {
                    rows: report.rows.clone(),
                    channel: channel.to_string(),
                    error: error.to_string(),
                }
            })),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(0, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(3, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(30, 0.0), Duration::from_secs(300));
        assert!(backoff(30, 1.0) <= Duration::from_secs(375));
    }
}
