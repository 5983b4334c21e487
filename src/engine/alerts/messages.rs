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
        let draft = self.message_draft(alert, kind, level, recipients, now, others);
        let mut rows = Vec::new();
        // One email per person per message, however many email channels the levels name.
        let mut emailed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for channel_id in channels {
            let Some(channel) = draft
                .plan
                .alerting
                .channels
                .iter()
                .find(|channel| &channel.id == channel_id)
            else {
                continue;
            };
            match &channel.kind {
                ChannelKind::Email { to } => {
                    rows.extend(self.email_rows(&draft, channel_id, to, &mut emailed));
                }
                ChannelKind::Webhook(_) => rows.push(self.webhook_row(&draft, channel_id)),
                ChannelKind::Alertmanager { .. } => {
                    rows.push(self.alertmanager_row(&draft, channel_id));
                }
                ChannelKind::PagerDuty(_) | ChannelKind::Opsgenie(_) => {
                    rows.extend(pager_row(&draft, channel_id));
                }
            }
        }
        rows
    }

    /// Works out once what every copy of one message shares, and remembers the check's value
    /// when the alert opens (the message compares later values with it).
    fn message_draft<'a>(
        &mut self,
        alert: &'a Alert,
        kind: MessageKind,
        level: usize,
        recipients: &'a [Addressee],
        now: Timestamp,
        others: &'a [String],
    ) -> MessageDraft<'a> {
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
        let line = alert_group::line(alert, &kind, level, now, &plan.launch.timezone, &public_url);
        let acknowledgeable = alert.is_open() && !matches!(kind, MessageKind::Acknowledged { .. });
        MessageDraft {
            plan,
            alert,
            kind,
            level,
            phase: self.state.phase,
            now,
            recipients,
            others,
            rollback,
            value,
            public_url,
            next_level,
            steps_running,
            line,
            acknowledgeable,
        }
    }

    /// The emails of one email channel: one to each person the level notifies and each the
    /// channel copies (`to`), but none to an address `emailed` already holds.
    fn email_rows(
        &mut self,
        draft: &MessageDraft<'_>,
        channel_id: &str,
        to: &[crate::plan::alerting::Recipient],
        emailed: &mut std::collections::HashSet<String>,
    ) -> Vec<NewOutboxRow> {
        let mut addressees: Vec<Addressee> = draft.recipients.to_vec();
        for extra in resolve_recipients(&draft.plan, to) {
            if !addressees.iter().any(|known| known.key == extra.key) {
                addressees.push(extra);
            }
        }
        let mut rows = Vec::new();
        for addressee in addressees {
            let Some(email) = addressee.email.clone() else {
                continue;
            };
            if !emailed.insert(email.to_ascii_lowercase()) {
                continue;
            }
            rows.push(self.email_row(draft, channel_id, &addressee, email));
        }
        rows
    }

    /// The email to one person, in their thread about the alert, with their acknowledgement
    /// link and the link that acknowledges every open alert of the burst sent to them.
    fn email_row(
        &mut self,
        draft: &MessageDraft<'_>,
        channel_id: &str,
        addressee: &Addressee,
        email: String,
    ) -> NewOutboxRow {
        let alert = draft.alert;
        let now = draft.now;
        let ack_url = draft
            .acknowledgeable
            .then(|| self.ack_url(&AckTarget::Alert(alert.id), &addressee.key, now));
        let rendered = draft.render(ack_url);
        let (message_id, thread) = self.email_thread(draft, addressee);
        let outgoing = notice::email(
            vec![(Some(addressee.name.clone()), email)],
            &notice_of(rendered),
            message_id,
            thread,
        );
        let (row, group_size) = self.outbox_row(
            channel_id,
            &addressee.key,
            &draft.kind,
            draft.level,
            alert.id,
            now,
            OutboxPayload::email(outgoing),
        );
        // One link acknowledges every open alert of the burst sent to this person.
        let ack_all = row
            .group_key
            .as_ref()
            .filter(|_| draft.acknowledgeable)
            .map(|group_key| AckAll {
                url: self.ack_url(&AckTarget::Group(group_key.clone()), &addressee.key, now),
                count: group_size,
            });
        with_group_item_row(row, &draft.group_item(ack_all, Vec::new()))
    }

    /// The message id of an email to `addressee` and the thread it belongs to. The first email
    /// a person gets about an alert is its thread's root; every later one answers it. Addresses
    /// a channel adds by itself are not tracked as told, so for them only the opening email is
    /// the root.
    fn email_thread(&self, draft: &MessageDraft<'_>, addressee: &Addressee) -> (String, Thread) {
        let alert = draft.alert;
        let root = self.message_ids.alert_thread(alert.id, &addressee.key);
        let tracked = draft
            .recipients
            .iter()
            .any(|known| known.key == addressee.key);
        let first = !alert.notified.contains(&addressee.key)
            && (tracked || matches!(draft.kind, MessageKind::Opened));
        if first {
            (root, Thread::first_about_alert(&self.message_ids, alert.id))
        } else {
            (
                self.message_ids.fresh(&format!("alert-{}", alert.id)),
                Thread::reply_about_alert(&self.message_ids, alert.id, &addressee.key),
            )
        }
    }

    /// The chat line to one webhook channel, mentioning the people the level notifies.
    fn webhook_row(&mut self, draft: &MessageDraft<'_>, channel_id: &str) -> NewOutboxRow {
        let mut rendered = draft.render(None);
        let mentions: Vec<String> = draft
            .recipients
            .iter()
            .filter_map(|r| r.chat.clone())
            .collect();
        if !mentions.is_empty() {
            rendered
                .chat
                .push_str(&format!(" ({})", mentions.join(" ")));
        }
        let message = notice::post(&notice_of(rendered));
        let (row, _) = self.outbox_row(
            channel_id,
            "",
            &draft.kind,
            draft.level,
            draft.alert.id,
            draft.now,
            OutboxPayload::webhook(message),
        );
        with_group_item_row(row, &draft.group_item(None, mentions))
    }

    /// The alert forwarded to one Alertmanager channel; an open alert is remembered as
    /// forwarded (it is forwarded again before Alertmanager would let it lapse).
    fn alertmanager_row(&mut self, draft: &MessageDraft<'_>, channel_id: &str) -> NewOutboxRow {
        let alert = draft.alert;
        let forwarded = forwarded_alert(
            alert,
            &draft.plan.launch.name,
            draft.now,
            &self.public_url(),
        );
        let (row, _) = self.outbox_row(
            channel_id,
            "",
            &draft.kind,
            draft.level,
            alert.id,
            draft.now,
            OutboxPayload::Alertmanager {
                alerts: vec![forwarded],
            },
        );
        if alert.is_open() {
            self.alerts.forwarded.insert(alert.id, draft.now);
        }
        row
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

/// The step of the alert's life a pager channel (PagerDuty, Opsgenie) is told: opening, a later
/// level and a lapsed acknowledgement trigger (the service updates the open incident), an
/// acknowledgement acknowledges, a resolution resolves. Reminders of the last level are not sent:
/// the service re-notifies by its own rules. Never grouped: each alert is its own incident.
fn pager_row(draft: &MessageDraft<'_>, channel_id: &str) -> Option<NewOutboxRow> {
    use crate::core::message::{GoliveBody, PagerAction, PagerEvent, pager_key};
    let action = match draft.kind {
        MessageKind::Opened | MessageKind::Escalated | MessageKind::Reopened { .. } => {
            PagerAction::Trigger
        }
        MessageKind::Acknowledged { .. } => PagerAction::Acknowledge,
        MessageKind::Resolved => PagerAction::Resolve,
        MessageKind::Repeat => return None,
    };
    let rendered = draft.render(None);
    let GoliveBody::Alert(alert) = rendered.json else {
        return None;
    };
    Some(NewOutboxRow {
        created_at: draft.now,
        not_before: draft.now,
        channel: channel_id.to_string(),
        kind: draft.kind.outbox_kind(),
        alert_id: Some(draft.alert.id),
        group_key: None,
        payload: OutboxPayload::Pager {
            event: PagerEvent {
                action,
                key: pager_key(&draft.plan.launch.name, draft.alert.id),
                summary: rendered.subject,
                alert,
            },
        },
    })
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

/// `alert` as Alertmanager takes it: its title, severity, launch, id and check as labels, its
/// reason as the summary, and a link back to it in golive.
fn forwarded_alert(
    alert: &Alert,
    launch: &str,
    now: Timestamp,
    public_url: &str,
) -> ForwardedAlert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), alert.title.clone());
    labels.insert("severity".to_string(), alert.severity.to_string());
    labels.insert("launch".to_string(), launch.to_string());
    labels.insert("golive_alert".to_string(), alert.id.to_string());
    if let Some(check) = alert.check_id() {
        labels.insert("check".to_string(), check.to_string());
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), alert.reason.clone());
    ForwardedAlert {
        labels,
        annotations,
        starts_at: alert.opened_at,
        // A firing alert gets an end a day ahead, so Alertmanager does not resolve it by itself
        // after its resolve_timeout while golive's alert is open.
        ends_at: alert
            .resolved_at
            .or_else(|| now.checked_add(SignedDuration::from_hours(24)).ok()),
        generator_url: Some(format!("{public_url}/api/v1/alerts/{}", alert.id)),
    }
}

/// What every copy of one alert message shares, worked out once: the facts it is rendered from
/// and the line it contributes when merged with others of its burst.
struct MessageDraft<'a> {
    plan: Arc<Plan>,
    alert: &'a Alert,
    kind: MessageKind,
    level: usize,
    phase: crate::domain::Phase,
    now: Timestamp,
    recipients: &'a [Addressee],
    others: &'a [String],
    rollback: Option<String>,
    value: ValueFacts,
    public_url: String,
    next_level: Option<String>,
    steps_running: Vec<String>,
    line: crate::core::message::GroupLine,
    /// Whether the message carries acknowledgement links (an open alert, not its acknowledgement).
    acknowledgeable: bool,
}

impl MessageDraft<'_> {
    /// The message, the same for every recipient but for their acknowledgement link.
    fn render(&self, ack_url: Option<String>) -> alert_message::Rendered {
        alert_message::render(&MessageContext {
            plan: &self.plan,
            alert: self.alert,
            kind: self.kind.clone(),
            level: self.level,
            phase: self.phase,
            now: self.now,
            recipients: self
                .recipients
                .iter()
                .map(|recipient| recipient.name.clone())
                .collect(),
            others: self.others.to_vec(),
            ack_url,
            rollback: self.rollback.as_deref(),
            value: self.value,
            public_url: &self.public_url,
            next_level: self.next_level.clone(),
            steps_running: self.steps_running.clone(),
        })
    }

    /// What this message contributes when it is merged with others of its burst.
    fn group_item(&self, ack_all: Option<AckAll>, mentions: Vec<String>) -> GroupItem {
        GroupItem {
            launch: self.plan.launch.name.clone(),
            line: self.line.clone(),
            ack_all,
            mentions,
        }
    }
}
