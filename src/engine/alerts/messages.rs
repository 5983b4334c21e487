//! An alert's notifications as outbox rows: one email per person (with its thread and ack link),
//! a line per chat channel, the alert for Alertmanager; and the grouping that holds later
//! notifications of a burst for one merged message.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::ack_link::AckTarget;
use crate::core::alert::Alert;
use crate::engine::Engine;
use crate::notify::{ForwardedAlert, OutboxPayload};
use crate::plan::alerting::ChannelKind;
use crate::plan::recipients::{Addressee, resolve_recipients};
use crate::report::alert_group::{self, AckAll, GroupItem};
use crate::report::alert_message::{self, MessageContext, MessageKind, ValueFacts};
use crate::report::notice::{self, Notice, Thread};
use crate::store::alerts::NewOutboxRow;

/// `row` with what it contributes to a grouped message in its payload.
fn with_group_item_row(mut row: NewOutboxRow, item: &GroupItem) -> NewOutboxRow {
    row.payload = row.payload.with_group(item.clone());
    row
}

impl Engine {
    /// When the next level of `alert`'s policy pages whom, after a message of `kind` at `level`
    /// (1-based): `level 2 (Maria Keller) at 21:05:00 (in 4 min 55 s)`. `None` when no level follows
    /// (the last level repeats; the message says the level).
    fn next_level(
        &self,
        alert: &Alert,
        kind: &MessageKind,
        level: usize,
        now: Timestamp,
    ) -> Option<String> {
        if !matches!(kind, MessageKind::Opened | MessageKind::Escalated) {
            return None;
        }
        let policy = self.policy(alert)?;
        let next = policy.levels.get(level)?;
        let at = instant_after(alert.escalation_base, next.after);
        let who = resolve_recipients(&self.plan, &next.notify)
            .iter()
            .map(|addressee| addressee.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let when = crate::human::time_near(at, now, &self.plan.launch.timezone);
        Some(format!(
            "level {} ({}) at {when} (in {})",
            level + 1,
            if who.is_empty() { "its channels" } else { &who },
            crate::human::elapsed(now, at)
        ))
    }

    /// The runbook steps running now, for people: `` `deploy` Deploy 2.0, started 21:00:00 by
    /// Jonas Weber``, in the runbook's order.
    fn steps_running(&self, now: Timestamp) -> Vec<String> {
        use crate::core::runbook::StepState;
        self.plan
            .runbook
            .steps
            .iter()
            .filter_map(|step| {
                let record = self.runbook.records.get(&step.id)?;
                if record.state != StepState::Running {
                    return None;
                }
                let mut line = format!("`{}` {}", step.id, step.title);
                if let Some(at) = record.started_at {
                    line.push_str(&format!(
                        ", started {}",
                        crate::human::time_near(at, now, &self.plan.launch.timezone)
                    ));
                }
                if let Some(by) = &record.started_by {
                    line.push_str(&format!(" by {by}"));
                }
                Some(line)
            })
            .collect()
    }

    /// Renders the outbox rows for one message to `recipients` through `channels`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn alert_message_rows(
        &mut self,
        alert: &Alert,
        kind: MessageKind,
        level: usize,
        recipients: &[Addressee],
        channels: &[String],
        now: Timestamp,
        others: &[String],
    ) -> Vec<NewOutboxRow> {
        if recipients.is_empty() && channels.is_empty() {
            return Vec::new();
        }
        let plan = Arc::clone(&self.plan);
        let rollback = self
            .rollback_recommended(alert)
            .then(|| self.applicable_rollback_procedure().to_string());
        let value_now = alert
            .check_id()
            .and_then(|id| self.checks.latest_value(&plan, id));
        if let (MessageKind::Opened, Some(value)) = (&kind, value_now) {
            self.alerts
                .opening_values
                .entry(alert.key.clone())
                .or_insert(value);
        }
        let value = ValueFacts {
            now: value_now,
            at_opening: self.alerts.opening_values.get(&alert.key).copied(),
            worst: self.alerts.worst_values.get(&alert.key).copied(),
        };
        let public_url = self.public_url();
        let next_level = self.next_level(alert, &kind, level, now);
        let steps_running = self.steps_running(now);
        let names: Vec<String> = recipients
            .iter()
            .map(|recipient| recipient.name.clone())
            .collect();
        // What this message contributes when it is merged with others of its burst.
        let line = alert_group::line(
            alert,
            &kind,
            level,
            now,
            &plan.launch.timezone,
            &self.public_url(),
        );
        let acknowledgeable = alert.is_open() && !matches!(kind, MessageKind::Acknowledged { .. });
        // The message, the same for every recipient but for their acknowledgement link.
        let phase = self.state.phase;
        let render = |ack_url: Option<String>| {
            alert_message::render(&MessageContext {
                plan: &plan,
                alert,
                kind: kind.clone(),
                level,
                phase,
                now,
                recipients: names.clone(),
                others: others.to_vec(),
                ack_url,
                rollback: rollback.as_deref(),
                value,
                public_url: &public_url,
                next_level: next_level.clone(),
                steps_running: steps_running.clone(),
            })
        };
        let mut rows = Vec::new();
        // One email per person per message, however many email channels the levels name.
        let mut emailed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for channel_id in channels {
            let Some(channel) = plan
                .alerting
                .channels
                .iter()
                .find(|channel| &channel.id == channel_id)
            else {
                continue;
            };
            match &channel.kind {
                ChannelKind::Email { to } => {
                    let mut addressees: Vec<Addressee> = recipients.to_vec();
                    for extra in resolve_recipients(&plan, to) {
                        if !addressees.iter().any(|known| known.key == extra.key) {
                            addressees.push(extra);
                        }
                    }
                    for addressee in addressees {
                        let Some(email) = addressee.email.clone() else {
                            continue;
                        };
                        if !emailed.insert(email.to_ascii_lowercase()) {
                            continue;
                        }
                        let ack_url = acknowledgeable.then(|| {
                            self.ack_url(&AckTarget::Alert(alert.id), &addressee.key, now)
                        });
                        let rendered = render(ack_url);
                        // The first email a person gets about an alert is its thread's root;
                        // every later one answers it. Addresses a channel adds by itself are not
                        // tracked as told, so for them only the opening email is the root.
                        let root = self.message_ids.alert_thread(alert.id, &addressee.key);
                        let tracked = recipients.iter().any(|known| known.key == addressee.key);
                        let first = !alert.notified.contains(&addressee.key)
                            && (tracked || matches!(kind, MessageKind::Opened));
                        let (message_id, thread) = if first {
                            (root, Thread::first_about_alert(&self.message_ids, alert.id))
                        } else {
                            (
                                self.message_ids.fresh(&format!("alert-{}", alert.id)),
                                Thread::reply_about_alert(
                                    &self.message_ids,
                                    alert.id,
                                    &addressee.key,
                                ),
                            )
                        };
                        let outgoing = notice::email(
                            vec![(Some(addressee.name.clone()), email)],
                            &notice_of(rendered),
                            message_id,
                            thread,
                        );
                        let (row, group_size) = self.outbox_row(
                            channel_id,
                            &addressee.key,
                            &kind,
                            level,
                            alert.id,
                            now,
                            OutboxPayload::email(outgoing),
                        );
                        // One link acknowledges every open alert of the burst sent to this person.
                        let ack_all =
                            row.group_key
                                .as_ref()
                                .filter(|_| acknowledgeable)
                                .map(|group_key| AckAll {
                                    url: self.ack_url(
                                        &AckTarget::Group(group_key.clone()),
                                        &addressee.key,
                                        now,
                                    ),
                                    count: group_size,
                                });
                        rows.push(with_group_item_row(
                            row,
                            &GroupItem {
                                launch: plan.launch.name.clone(),
                                line: line.clone(),
                                ack_all,
                                mentions: Vec::new(),
                            },
                        ));
                    }
                }
                ChannelKind::Webhook(_) => {
                    let mut rendered = render(None);
                    let mentions: Vec<String> =
                        recipients.iter().filter_map(|r| r.chat.clone()).collect();
                    if !mentions.is_empty() {
                        rendered
                            .chat
                            .push_str(&format!(" ({})", mentions.join(" ")));
                    }
                    let message = notice::post(&notice_of(rendered));
                    let (row, _) = self.outbox_row(
                        channel_id,
                        "",
                        &kind,
                        level,
                        alert.id,
                        now,
                        OutboxPayload::webhook(message),
                    );
                    rows.push(with_group_item_row(
                        row,
                        &GroupItem {
                            launch: plan.launch.name.clone(),
                            line: line.clone(),
                            ack_all: None,
                            mentions,
                        },
                    ));
                }
                ChannelKind::Alertmanager { .. } => {
                    let mut labels = BTreeMap::new();
                    labels.insert("alertname".to_string(), alert.title.clone());
                    labels.insert("severity".to_string(), alert.severity.to_string());
                    labels.insert("launch".to_string(), plan.launch.name.clone());
                    labels.insert("golive_alert".to_string(), alert.id.to_string());
                    if let Some(check) = alert.check_id() {
                        labels.insert("check".to_string(), check.to_string());
                    }
                    let mut annotations = BTreeMap::new();
                    annotations.insert("summary".to_string(), alert.reason.clone());
                    let forwarded = ForwardedAlert {
                        labels,
                        annotations,
                        starts_at: alert.opened_at,
                        // A firing alert gets an end a day ahead, so Alertmanager does not resolve
                        // it by itself after its resolve_timeout while golive's alert is open.
                        ends_at: alert
                            .resolved_at
                            .or_else(|| now.checked_add(SignedDuration::from_hours(24)).ok()),
                        generator_url: Some(format!(
                            "{}/api/v1/alerts/{}",
                            self.public_url(),
                            alert.id
                        )),
                    };
                    let (row, _) = self.outbox_row(
                        channel_id,
                        "",
                        &kind,
                        level,
                        alert.id,
                        now,
                        OutboxPayload::Alertmanager {
                            alerts: vec![forwarded],
                        },
                    );
                    rows.push(row);
                    if alert.is_open() {
                        self.alerts.forwarded.insert(alert.id, now);
                    }
                }
            }
        }
        rows
    }

    /// One outbox row, grouped with others of its burst: the same channel, recipient and kind
    /// (and level, for pages; an acknowledgement or a resolution is one burst whatever the level
    /// the alerts had reached) written within the group window of the first. The first goes out
    /// at once, later ones are held until the window closes and then go out together as one
    /// message. Returns the row and how many rows its group has so far.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn outbox_row(
        &mut self,
        channel: &str,
        recipient: &str,
        kind: &MessageKind,
        level: usize,
        alert_id: i64,
        now: Timestamp,
        payload: OutboxPayload,
    ) -> (NewOutboxRow, usize) {
        let base = match kind {
            MessageKind::Acknowledged { .. } | MessageKind::Resolved => {
                format!("{channel}|{recipient}|{}", kind.as_str())
            }
            _ => format!("{channel}|{recipient}|{}|{level}", kind.as_str()),
        };
        let window = self.plan.alerting.group_window;
        let (not_before, group_key, size) = if window.is_zero() {
            (now, None, 1)
        } else {
            match self.alerts.group_firsts.get_mut(&base) {
                Some((first, size)) if now < instant_after(*first, window) => {
                    *size += 1;
                    (
                        instant_after(*first, window),
                        Some(format!("{base}|{}", first.as_millisecond())),
                        *size,
                    )
                }
                _ => {
                    self.alerts.group_firsts.insert(base.clone(), (now, 1));
                    (now, Some(format!("{base}|{}", now.as_millisecond())), 1)
                }
            }
        };
        let row = NewOutboxRow {
            created_at: now,
            not_before,
            channel: channel.to_string(),
            kind: kind.outbox_kind(),
            alert_id: Some(alert_id),
            group_key,
            payload,
        };
        (row, size)
    }
}

/// An alert's rendered message as the notice the channels carry.
fn notice_of(rendered: alert_message::Rendered) -> Notice {
    Notice {
        subject: rendered.subject,
        text: rendered.text,
        html: Some(rendered.html),
        chat: rendered.chat,
        json: rendered.json,
    }
}
