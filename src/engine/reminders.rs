//! Follow-up on action items: an item with a due date reminds its owner by email on the morning of
//! the due day (at the `[reports]` send time, 09:00 without a `[reports]` section) and, while it
//! stays open past it, once every morning, until it is done or dropped.
//! Each reminder is recorded with its local day in the same transaction as its email, so a restart
//! never sends one twice.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;

use super::alerts::resolve_recipients;
use super::{Engine, block};
use crate::core::actions::ActionStatus;
use crate::core::lifecycle::owner_label;
use crate::core::log::LogData;
use crate::core::log::data::{ActionEvent, ActionReminder, ReminderEvent};
use crate::core::log::{LogKind, NewEntry};
use crate::domain::{Owner, Role};
use crate::plan::alerting::{ChannelKind, Recipient};
use crate::report::notice::{self, Thread};
use crate::report::notices::{self, DueItem};
use crate::store::alerts::NewOutboxRow;

/// The reminders already sent, by (action item, local day).
pub(super) type Reminded = HashSet<(i64, Date)>;

impl Engine {
    /// The next time reminders may be due: this morning's reminder time if it is still ahead and
    /// an open item is due by today, else tomorrow's. `None` without open items with a due date.
    pub(super) fn reminder_deadline(&self) -> Option<Timestamp> {
        let tz = &self.plan.launch.timezone;
        if !self
            .actions
            .iter()
            .any(|item| item.status == ActionStatus::Open && item.due.is_some())
        {
            return None;
        }
        let local = self.clock.now().to_zoned_datetime(tz.clone());
        let today = local.date();
        let at = super::reports::reminder_time(&self.plan);
        let day = if local.time() < at {
            today
        } else {
            today.tomorrow().ok()?
        };
        day.to_datetime(at)
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|zoned| zoned.timestamp())
    }

    /// Sends the reminders due now (one per open item due today or earlier, once a day).
    pub(super) fn send_due_reminders(&mut self) {
        let now = self.clock.now();
        let local = now.to_zoned_datetime(self.plan.launch.timezone.clone());
        if local.time() < super::reports::reminder_time(&self.plan) {
            return;
        }
        let today = local.date();
        let plan = Arc::clone(&self.plan);
        let Some(channel) = plan
            .alerting
            .channels
            .iter()
            .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }))
        else {
            return;
        };
        let due: Vec<_> = self
            .actions
            .iter()
            .filter(|item| item.status == ActionStatus::Open)
            .filter(|item| item.due.is_some_and(|due| due <= today))
            .filter(|item| !self.reminded.contains(&(item.id, today)))
            .cloned()
            .collect();
        for item in due {
            let Some(due_day) = item.due else { continue };
            let owner = match item.owner.parse::<Role>() {
                Ok(role) if !plan.people.iter().any(|person| person.id == item.owner) => {
                    Recipient::Role(role)
                }
                _ => Recipient::Person(item.owner.clone()),
            };
            let to: Vec<(Option<String>, String)> = resolve_recipients(&plan, &[owner])
                .into_iter()
                .filter_map(|addressee| addressee.email.map(|email| (Some(addressee.name), email)))
                .collect();
            let overdue = due_day < today;
            let owner_label = if plan.people.iter().any(|person| person.id == item.owner) {
                owner_label(&plan, &Owner::Person(item.owner.clone()))
            } else {
                item.owner.clone()
            };
            let due_item = DueItem {
                id: item.id,
                title: &item.title,
                owner: &owner_label,
                due: due_day,
            };
            let state = notices::action_state(&due_item, today);
            let told = if to.is_empty() {
                "nobody (the owner has no email)"
            } else {
                &item.owner
            };
            let entry = NewEntry::by_golive(
                now,
                LogKind::Action,
                format!(
                    "Reminder sent for action item #{} ({}), {state}, to {told}",
                    item.id, item.title
                ),
                LogData::Action(ActionEvent::Reminder(ActionReminder {
                    action: item.id,
                    event: ReminderEvent::Reminder,
                    day: today,
                    overdue,
                })),
            );
            let row = (!to.is_empty()).then(|| NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: channel.id.clone(),
                kind: crate::notify::OutboxKind::Reminder,
                alert_id: None,
                group_key: None,
                payload: crate::notify::OutboxPayload::email(notice::email(
                    to.clone(),
                    &notices::action_reminder(&plan.launch.name, &due_item, today),
                    self.message_ids
                        .fresh(&format!("reminder-{}-{today}", item.id)),
                    Thread::default(),
                )),
            });
            let day = today.to_string();
            let written = block(|| {
                self.store.write(|write| {
                    write.record_reminder(item.id, &day, now)?;
                    if let Some(row) = &row {
                        write.enqueue(row)?;
                    }
                    write.log(&entry)?;
                    Ok(())
                })
            });
            match written {
                Ok(()) => {
                    self.reminded.insert((item.id, today));
                    if row.is_some() {
                        self.outbox_written.notify_one();
                    }
                }
                Err(error) => {
                    self.store_trouble(&error);
                    return;
                }
            }
        }
    }
}
