//! Stakeholder updates (`[updates]`): on each phase change the plan announces, and by hand
//! (`golive update "TEXT"`), the engine writes the update's outbox rows (an email to `to` in the
//! launch's update thread, a post on each chat channel; never grouped) and an `update` log entry
//! **in the same transaction** as the change, so an update exists exactly when its phase change
//! does and a restart never sends one twice. Silences do not apply: they mute alerts of checks,
//! and an update is news for people outside the call, not a page.

use super::{Engine, EngineError, block};
use crate::core::Transition;
use crate::core::actions::FieldError;
use crate::core::log::data::{UpdateCause, UpdateSent};
use crate::core::log::{LogData, LogEntry, LogKind, NewEntry};
use crate::notify::OutboxKind;
use crate::plan::Plan;
use crate::plan::recipients::{display_name, resolve_recipients};
use crate::plan::updates::Updates;
use crate::report::notice::{self, Notice};
use crate::report::update::{self, Audience, AutomaticRollback, Standing, Why};
use crate::store::StoreError;
use crate::store::alerts::{NewOutboxRow, Write};

/// The longest manual update, in characters: an update is news, details belong behind a link.
pub const MAX_UPDATE_CHARS: usize = 2000;

/// An update ready to be written with the change that caused it.
pub(super) struct UpdateWrite {
    rows: Vec<NewOutboxRow>,
    entry: NewEntry,
}

impl UpdateWrite {
    /// Writes the rows and the log entry into the caller's transaction.
    pub(super) fn write(&self, write: &mut Write<'_>) -> Result<LogEntry, StoreError> {
        super::alerts::enqueue_all(write, &self.rows)?;
        write.log(&self.entry)
    }

    /// Whether any message was queued (the dispatcher then has work).
    pub(super) fn queued(&self) -> bool {
        !self.rows.is_empty()
    }
}

impl Engine {
    /// The update announcing `transition`, when `[updates]` names its phase in `on`; `automatic`
    /// when golive rolls back by itself (stakeholders then read the check, not the alert's reason).
    pub(super) fn phase_update(
        &self,
        transition: &Transition,
        automatic: Option<&AutomaticRollback>,
    ) -> Option<UpdateWrite> {
        let updates = self.plan.updates.as_ref()?;
        if !updates.announces(transition.to) {
            return None;
        }
        let standing = Standing {
            phase: transition.to,
            since: transition.at,
            go_live: self.plan.launch.go_live,
            hypercare_days: self.plan.launch.hypercare_days,
        };
        let notice = update::phase_update(
            &audience(&self.plan, updates),
            &standing,
            automatic.map_or(Why::Decided(transition.reason.as_deref()), Why::Automatic),
        );
        let mut pending = self.update_write(
            updates,
            &notice,
            transition.at,
            "golive".to_string(),
            format!(
                "Update sent on entering {}: {}",
                transition.to,
                headline(&notice)
            ),
            UpdateCause::Phase {
                phase: transition.to,
            },
        );
        if !pending.queued() {
            pending.entry.text = format!(
                "No update sent on entering {}: `[updates] to` names nobody with an email address and `channels` is empty",
                transition.to
            );
        }
        Some(pending)
    }

    /// Sends a manual update to the `[updates]` audience and records it in the log.
    pub(super) fn send_update(
        &mut self,
        text: &str,
        author: String,
    ) -> Result<LogEntry, EngineError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                FieldError::new("text", "the text is empty; say what people should know").into(),
            );
        }
        let length = text.chars().count();
        if length > MAX_UPDATE_CHARS {
            return Err(FieldError::new(
                "text",
                format!("the text has {length} characters; keep an update to at most {MAX_UPDATE_CHARS} (link to the details instead)"),
            )
            .into());
        }
        let Some(updates) = self.plan.updates.as_ref() else {
            return Err(EngineError::Unavailable(
                "the plan has no [updates] section, so nobody would get the update; add one, e.g. `[updates]` with `to = [\"business\", \"support_lead\"]`".to_string(),
            ));
        };
        let now = self.clock.now();
        let standing = Standing {
            phase: self.state.phase,
            since: self.state.phase_since,
            go_live: self.plan.launch.go_live,
            hypercare_days: self.plan.launch.hypercare_days,
        };
        let signed = display_name(&self.plan, &author);
        let notice = update::manual_update(
            &audience(&self.plan, updates),
            &standing,
            text,
            &signed,
            now,
        );
        let pending = self.update_write(
            updates,
            &notice,
            now,
            author,
            text.to_string(),
            UpdateCause::Manual,
        );
        if !pending.queued() {
            return Err(EngineError::Unavailable(
                "nobody would get the update: `[updates] to` names nobody with an email address and `channels` is empty".to_string(),
            ));
        }
        let stored = block(|| self.store.write(|write| pending.write(write)))?;
        self.logged(&stored);
        self.outbox_written.notify_one();
        tracing::info!(author = %stored.author, "stakeholder update sent");
        self.publish();
        Ok(stored)
    }

    /// The rows and the log entry of `notice` for the `[updates]` audience.
    fn update_write(
        &self,
        updates: &Updates,
        notice: &Notice,
        now: jiff::Timestamp,
        author: String,
        text: String,
        cause: UpdateCause,
    ) -> UpdateWrite {
        let addressees = resolve_recipients(&self.plan, &updates.to);
        let payloads = notice::update(
            &self.plan,
            &self.message_ids,
            &notice::mailboxes(&addressees),
            &updates.channels,
            notice,
        );
        let channels: Vec<&str> = payloads
            .iter()
            .map(|(channel, _)| channel.as_str())
            .collect();
        let data = LogData::Update(UpdateSent {
            cause,
            subject: notice.subject.clone(),
            to: addressees.iter().map(|a| a.key.clone()).collect(),
            channels: channels.iter().map(|channel| channel.to_string()).collect(),
        });
        let rows = super::alerts::outbox_rows(payloads, OutboxKind::Update, None, now);
        UpdateWrite {
            rows,
            entry: NewEntry {
                at: now,
                author,
                kind: LogKind::Update,
                text,
                data,
            },
        }
    }
}

/// Who an update is for, as `report::update` needs it.
fn audience<'a>(plan: &'a Plan, updates: &'a Updates) -> Audience<'a> {
    let contact = plan
        .people
        .iter()
        .find(|person| person.id == updates.contact)
        .map_or_else(
            || updates.contact.clone(),
            |person| format!("{} <{}>", person.name, person.email),
        );
    Audience {
        launch: &plan.launch.name,
        contact,
        status_url: plan.alerting.public_url.as_deref(),
        timezone: &plan.launch.timezone,
        announced: &updates.on,
        review: plan.review.as_ref(),
    }
}

/// The news of an update: its subject after the launch's name.
fn headline(notice: &Notice) -> &str {
    notice
        .subject
        .split_once(": ")
        .map_or(notice.subject.as_str(), |(_, news)| news)
}
