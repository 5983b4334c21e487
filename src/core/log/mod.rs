//! The launch log's vocabulary: what kinds of entries exist and what an entry holds.
//!
//! The log is append-only: entries are never edited or removed. Every entry has a timestamp, an
//! author and a kind; `data` carries the structured details (phase from/to, checklist item id,
//! action item id, ...) so exports can be rebuilt from the log alone: one type per kind of entry,
//! in [`data`].

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::core::runbook::{StepRecords, StepState};
use crate::domain::UnknownName;

pub mod data;

pub use data::LogData;

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A phase transition (written by golive).
    Phase,
    /// A checklist confirmation (written by golive).
    Checklist,
    /// An action item created or changed (written by golive).
    Action,
    /// A check's health changed (written by golive).
    Check,
    /// An alert event: opened, notified, escalated, acknowledged, silenced, resolved, delivery
    /// failures (written by golive).
    Alert,
    /// A runbook step started, done, skipped or failed, or a lateness warning (written by golive).
    Runbook,
    /// Free-form note.
    Note,
    /// A decision taken on the call.
    Decision,
    /// A lesson learned.
    Lesson,
    /// Feedback from users, support or stakeholders.
    Feedback,
    /// A stakeholder update sent, on a phase change or by hand (written by golive; people send
    /// one through `POST /api/v1/updates`, never `/api/v1/log`).
    Update,
}

impl LogKind {
    /// Every kind.
    pub const ALL: [LogKind; 11] = [
        LogKind::Phase,
        LogKind::Checklist,
        LogKind::Action,
        LogKind::Check,
        LogKind::Alert,
        LogKind::Runbook,
        LogKind::Note,
        LogKind::Decision,
        LogKind::Lesson,
        LogKind::Feedback,
        LogKind::Update,
    ];

    /// The kinds people write directly through `POST /api/v1/log`; the others are written by golive
    /// as a side effect of another command.
    pub const WRITABLE: [LogKind; 4] = [
        LogKind::Note,
        LogKind::Decision,
        LogKind::Lesson,
        LogKind::Feedback,
    ];

    /// The name used in the API, the store and the timeline.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Phase => "phase",
            LogKind::Checklist => "checklist",
            LogKind::Action => "action",
            LogKind::Check => "check",
            LogKind::Alert => "alert",
            LogKind::Runbook => "runbook",
            LogKind::Note => "note",
            LogKind::Decision => "decision",
            LogKind::Lesson => "lesson",
            LogKind::Feedback => "feedback",
            LogKind::Update => "update",
        }
    }

    /// Whether people may write entries of this kind directly.
    pub fn is_writable(self) -> bool {
        LogKind::WRITABLE.contains(&self)
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogKind {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        LogKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = LogKind::ALL.iter().map(|kind| kind.as_str()).collect();
                UnknownName::new(text, &names)
            })
    }
}

/// An entry about to be appended to the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEntry {
    pub at: Timestamp,
    pub author: String,
    pub kind: LogKind,
    pub text: String,
    /// Structured details; [`LogData::None`] (stored as `null`) when there are none.
    pub data: LogData,
}

impl NewEntry {
    /// An entry golive writes by itself (a reminder sent, a warning raised), not a person.
    pub fn by_golive(at: Timestamp, kind: LogKind, text: String, data: LogData) -> NewEntry {
        NewEntry {
            at,
            author: "golive".into(),
            kind,
            text,
            data,
        }
    }
}

/// An entry as stored, with its sequence number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// Increasing sequence number, unique in the store.
    pub id: i64,
    pub at: Timestamp,
    pub author: String,
    pub kind: LogKind,
    pub text: String,
    pub data: LogData,
}

/// The runbook's step records as the launch log tells them (the `runbook` entries of step
/// changes, oldest first), so exports can be rebuilt from the log alone. Here, on the log's side:
/// the log's details name the runbook's vocabulary, so the runbook cannot read the log back.
pub fn step_records(entries: &[LogEntry]) -> StepRecords {
    let mut records = StepRecords::new();
    for entry in entries
        .iter()
        .filter(|entry| entry.kind == LogKind::Runbook)
    {
        let Some(data::RunbookLog::Step(change)) = entry.data.runbook() else {
            continue;
        };
        let to = change.to;
        let reason = change.reason.clone();
        let record = records.entry(change.step.clone()).or_default();
        record.state = to;
        if to == StepState::Running {
            record.started_at = Some(entry.at);
            record.started_by = Some(entry.author.clone());
            record.finished_at = None;
            record.finished_by = None;
            record.forced = change.forced;
            record.reason = reason;
        } else {
            record.finished_at = Some(entry.at);
            record.finished_by = Some(entry.author.clone());
            if reason.is_some() {
                record.reason = reason;
            }
        }
    }
    records
}
