//! What a log entry's `data` holds, one type per kind of entry golive writes.
//!
//! The engine writes these types and the readers (timeline, reports, runbook records, the API's
//! log page) decode them, so a renamed field fails to build instead of reading as blank. The JSON
//! stored is the one earlier versions wrote with hand-built objects (same field names, the event
//! in `event`), so existing data directories still read. Details this version cannot decode (an
//! older or newer version's, a damaged row) are kept as stored in [`LogData::Unreadable`]: the
//! API still shows them, and every reader treats such an entry as one without details.
//!
//! Fields that are not what an entry is about carry `#[serde(default)]`, so an entry missing them
//! still reads; only a missing identity (which check, which step, which alert) makes it unreadable.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::LogKind;
use crate::core::actions::ActionStatus;
use crate::core::alert::{Silence, Step, Window, weekday_name};
use crate::core::health::Health;
use crate::core::lifecycle::Blocker;
use crate::core::runbook::{LateKind, StepAction, StepState};
use crate::domain::Phase;
use crate::plan::checks::Severity;

/// An entry's structured details. Serialized as the bare object of its variant (`null` for
/// [`LogData::None`]), which is the stored form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LogData {
    /// No details: people's notes, decisions, lessons and feedback.
    None,
    Phase(PhaseChange),
    Checklist(ChecklistConfirmed),
    Action(ActionEvent),
    Check(CheckEvent),
    Alert(AlertLog),
    Runbook(RunbookLog),
    Decision(DecisionEvent),
    /// A stakeholder update: why it went out and to whom.
    Update(UpdateSent),
    /// Feedback sent through a report's personal link (people's own feedback has no details).
    Feedback(FeedbackByLink),
    /// Details this version cannot read, kept as stored so nothing is lost on the way out.
    Unreadable(serde_json::Value),
}

impl LogData {
    /// The details of a stored entry of `kind`; what does not decode as that kind's details is
    /// kept as [`LogData::Unreadable`].
    pub fn read(kind: LogKind, stored: serde_json::Value) -> LogData {
        if stored.is_null() {
            return LogData::None;
        }
        let typed = match kind {
            LogKind::Phase => decode(&stored).map(LogData::Phase),
            LogKind::Checklist => decode(&stored).map(LogData::Checklist),
            LogKind::Action => decode(&stored).map(LogData::Action),
            LogKind::Check => decode(&stored).map(LogData::Check),
            LogKind::Alert => decode(&stored).map(LogData::Alert),
            LogKind::Runbook => decode(&stored).map(LogData::Runbook),
            LogKind::Decision => decode(&stored).map(LogData::Decision),
            LogKind::Update => decode(&stored).map(LogData::Update),
            LogKind::Feedback => decode(&stored).map(LogData::Feedback),
            LogKind::Note | LogKind::Lesson => None,
        };
        typed.unwrap_or(LogData::Unreadable(stored))
    }

    /// The JSON text to store, `None` when there are no details.
    pub fn to_stored(&self) -> Option<String> {
        match self {
            LogData::None => None,
            // Plain structs, strings and numbers (no maps with non-string keys): serializing
            // cannot fail, and `null` would read back as "no details" if it ever did.
            details => Some(serde_json::to_string(details).unwrap_or_else(|_| "null".into())),
        }
    }

    pub fn phase(&self) -> Option<&PhaseChange> {
        match self {
            LogData::Phase(change) => Some(change),
            _ => None,
        }
    }

    pub fn check(&self) -> Option<&CheckEvent> {
        match self {
            LogData::Check(event) => Some(event),
            _ => None,
        }
    }

    pub fn alert(&self) -> Option<&AlertLog> {
        match self {
            LogData::Alert(event) => Some(event),
            _ => None,
        }
    }

    pub fn runbook(&self) -> Option<&RunbookLog> {
        match self {
            LogData::Runbook(event) => Some(event),
            _ => None,
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(stored: &serde_json::Value) -> Option<T> {
    T::deserialize(stored).ok()
}

/// A phase transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseChange {
    pub from: Phase,
    pub to: Phase,
    #[serde(default)]
    pub forced: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// The blockers a forced transition overrode.
    #[serde(default)]
    pub overridden: Vec<Blocker>,
    /// The pipeline run that asked for the change (`golive phase set --run-id`): how the same run
    /// repeating it is told from a new request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A checklist item confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistConfirmed {
    pub item: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// An action item created, changed or reminded of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActionEvent {
    /// Tried first: only a reminder has `"event": "reminder"`.
    Reminder(ActionReminder),
    /// Tried before `Created`: only a change has `note` (`null` when none was given).
    Changed(ActionChanged),
    Created(ActionCreated),
}

/// An action item created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionCreated {
    pub action: i64,
    pub status: ActionStatus,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub due: Option<Date>,
}

/// An action item changed (status, owner or due day), with the note of whoever changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionChanged {
    pub action: i64,
    pub status: ActionStatus,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub due: Option<Date>,
    /// Present in every change (so a change is told from a creation), `null` without a note.
    #[serde(deserialize_with = "Option::deserialize")]
    pub note: Option<String>,
}

/// The daily reminder of an action item sent (or found nobody to send to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReminder {
    pub action: i64,
    pub event: ReminderEvent,
    pub day: Date,
    #[serde(default)]
    pub overdue: bool,
}

/// The one value of a reminder's `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderEvent {
    Reminder,
}

/// A check's health changed, or health changes were lost while the store could not write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckEvent {
    HealthChanged(HealthChanged),
    /// Changes dropped from the engine's bounded waiting list (`engine::pending_log`).
    Dropped {
        dropped: u64,
        first: Timestamp,
        last: Timestamp,
    },
}

/// A check's health changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthChanged {
    pub check: String,
    pub from: Health,
    pub to: Health,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub severity: Option<Severity>,
}

/// An alert's entry: people paged, or another event of an alert or of delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlertLog {
    /// Tried first: a page is told from the alert's opening (both `"event": "opened"`) by its
    /// `told` list.
    Paged(Paged),
    Event(AlertEvent),
}

impl AlertLog {
    /// The alert the entry is about, if it is about one.
    pub fn alert_id(&self) -> Option<i64> {
        match self {
            AlertLog::Paged(paged) => Some(paged.alert),
            AlertLog::Event(
                AlertEvent::Opened { alert, .. }
                | AlertEvent::Acknowledged { alert, .. }
                | AlertEvent::Silenced { alert, .. }
                | AlertEvent::Resolved { alert, .. }
                | AlertEvent::RollbackRecommended { alert },
            ) => Some(*alert),
            AlertLog::Event(_) => None,
        }
    }
}

/// People paged about an alert at an escalation level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paged {
    pub alert: i64,
    pub event: PageKind,
    /// The escalation level, from 1.
    #[serde(default = "first_level")]
    pub level: usize,
    /// The recipients' keys (person ids or addresses).
    pub told: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
}

fn first_level() -> usize {
    1
}

/// Why people were paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    /// The first level, when the alert opened.
    Opened,
    Escalated,
    Repeat,
    /// An acknowledgement lapsed.
    Reopened,
}

impl PageKind {
    /// Why people are paged at an escalation step.
    pub fn of(step: Step) -> PageKind {
        match step {
            Step::Level { level: 0, .. } => PageKind::Opened,
            Step::Level { .. } => PageKind::Escalated,
            Step::Repeat { .. } => PageKind::Repeat,
            Step::AckLapsed { .. } => PageKind::Reopened,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Opened => "opened",
            PageKind::Escalated => "escalated",
            PageKind::Repeat => "repeat",
            PageKind::Reopened => "reopened",
        }
    }
}

/// An alert's or a delivery's event, by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AlertEvent {
    Opened {
        alert: i64,
        #[serde(default)]
        key: String,
        #[serde(default)]
        severity: Option<Severity>,
        #[serde(default)]
        reason: Option<String>,
        /// The silence holding its notifications back, if one did.
        #[serde(default)]
        silenced_by: Option<String>,
    },
    Acknowledged {
        alert: i64,
        /// `api`, `cli`, `link`, `status page`, ...
        #[serde(default)]
        via: String,
        #[serde(default)]
        seconds_to_ack: f64,
        #[serde(default)]
        note: Option<String>,
    },
    /// Its notifications held back by a silence until `until`.
    Silenced {
        alert: i64,
        silence: String,
        until: Timestamp,
    },
    Resolved {
        alert: i64,
        #[serde(default)]
        duration_seconds: i64,
        #[serde(default)]
        told: Vec<String>,
    },
    RollbackRecommended {
        alert: i64,
    },
    SilenceAdded {
        silence: LoggedSilence,
    },
    SilenceRemoved {
        silence: String,
    },
    /// golive could not see some checks' sources (`unknown`), or sees them again (`recovered`).
    GoliveWarning {
        #[serde(default)]
        unknown: Vec<String>,
        #[serde(default)]
        recovered: Vec<String>,
    },
    /// Delivered after failed attempts.
    Delivered {
        rows: Vec<i64>,
        channel: String,
        #[serde(default)]
        attempts: u32,
    },
    DeliveryFailed {
        rows: Vec<i64>,
        channel: String,
        #[serde(default)]
        error: String,
    },
    DeliveryRetry {
        rows: Vec<i64>,
        channel: String,
        #[serde(default)]
        error: String,
    },
    ChannelDown {
        channel: String,
        #[serde(default)]
        error: String,
    },
    ChannelUp {
        channel: String,
        down_since: Timestamp,
        #[serde(default)]
        released: usize,
    },
}

/// A run-time silence as logged when it was added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedSilence {
    pub id: String,
    #[serde(default)]
    pub checks: Vec<String>,
    #[serde(default)]
    pub severities: Vec<Severity>,
    pub window: LoggedWindow,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub comment: String,
}

/// A silence's window as logged (`core::alert::Window` without the time zone it is read in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoggedWindow {
    Once {
        start: Timestamp,
        end: Timestamp,
    },
    Recurring {
        days: Vec<String>,
        from: jiff::civil::Time,
        to: jiff::civil::Time,
    },
}

impl From<&Silence> for LoggedSilence {
    fn from(silence: &Silence) -> Self {
        LoggedSilence {
            id: silence.id.clone(),
            checks: silence.checks.clone(),
            severities: silence.severities.clone(),
            window: match &silence.window {
                Window::Once { start, end } => LoggedWindow::Once {
                    start: *start,
                    end: *end,
                },
                Window::Recurring { days, from, to, .. } => LoggedWindow::Recurring {
                    days: days
                        .iter()
                        .map(|day| weekday_name(*day).to_string())
                        .collect(),
                    from: *from,
                    to: *to,
                },
            },
            author: silence.author.clone(),
            comment: silence.comment.clone(),
        }
    }
}

/// A runbook step changed, or an event about a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunbookLog {
    Step(StepLogged),
    Event(RunbookEvent),
}

/// A step started, done, skipped, failed or retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLogged {
    pub step: String,
    pub action: StepAction,
    #[serde(default)]
    pub from: StepState,
    pub to: StepState,
    #[serde(default)]
    pub forced: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub overridden: Vec<Blocker>,
    /// The health of the step's `verify` checks when it was done (empty otherwise).
    #[serde(default)]
    pub verify: Vec<VerifiedCheck>,
    /// The pipeline run that made the change (`golive step --run-id`): how a repeated change of
    /// the same run is told from a new one without a second entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A `verify` check's health when its step was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedCheck {
    pub check: String,
    pub health: Health,
}

/// An event about a step, by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunbookEvent {
    /// A failed step's rollback recommendation sent.
    RollbackRecommended {
        step: String,
        /// The rollback point the failed step came after, if any.
        #[serde(default)]
        after_rollback_point: Option<String>,
    },
    /// A lateness warning sent.
    Late {
        step: String,
        late: LateKind,
        #[serde(default)]
        level: u8,
    },
}

/// A decision golive took or carried out, by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DecisionEvent {
    Rollback {
        #[serde(default)]
        automatic: bool,
    },
    RollbackHook {
        result: HookResult,
        /// The hook's answer or error; absent when it started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    /// The plan was read again without a restart (`golive reload`, `SIGHUP`): what changed.
    PlanReloaded(Box<crate::core::plan_diff::PlanChanges>),
}

/// How far the rollback hook got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookResult {
    Started,
    Ok,
    Failed,
}

/// A stakeholder update sent (`kind = update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateSent {
    /// Why it went out.
    #[serde(flatten)]
    pub cause: UpdateCause,
    /// The email subject.
    #[serde(default)]
    pub subject: String,
    /// Who got it by email (addresses).
    #[serde(default)]
    pub to: Vec<String>,
    /// The chat channels it was posted to.
    #[serde(default)]
    pub channels: Vec<String>,
}

/// What sent a stakeholder update, by `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UpdateCause {
    /// The launch entered `phase`, which `[updates] on` names.
    Phase { phase: Phase },
    /// Someone sent it by hand.
    Manual,
}

/// Feedback recorded through a report's personal link (`kind = feedback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackByLink {
    /// Always `"feedback link"`.
    pub via: String,
    /// What the link was in (the report it came with).
    pub about: String,
    /// The address the link was made for.
    pub recipient: String,
}

#[cfg(test)]
mod tests;
