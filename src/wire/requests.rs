//! Request bodies of the API's write endpoints. The API rejects unknown fields; every write
//! takes an optional `author` (the token's name when absent).

use serde::{Deserialize, Deserializer, Serialize};

/// `POST /api/v1/phase`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseChange {
    /// The phase to move to; absent or `next` advances to the next phase.
    pub to: Option<String>,
    #[serde(default)]
    pub force: bool,
    pub reason: Option<String>,
    pub author: Option<String>,
    /// The pipeline run asking (e.g. `github:GITHUB_RUN_ID`): asked again by the same run after
    /// it moved the launch there (or on from there), the change answers success with
    /// `already_recorded` and writes nothing.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// `POST /api/v1/checklist/{id}/confirm`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    pub note: Option<String>,
    pub author: Option<String>,
}

/// `POST /api/v1/log`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLogEntry {
    /// note, decision, lesson or feedback.
    pub kind: String,
    pub text: String,
    pub author: Option<String>,
}

/// `POST /api/v1/updates`: a stakeholder update by hand.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    /// What people outside the call should know.
    pub text: String,
    /// Who sends it [default: the token's name].
    pub author: Option<String>,
}

/// `POST /api/v1/actions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAction {
    pub title: String,
    /// A person id or a role from the plan.
    pub owner: String,
    /// The local day it is due, `YYYY-MM-DD`.
    pub due: Option<String>,
    pub author: Option<String>,
}

/// `PATCH /api/v1/actions/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionUpdate {
    /// open, done or dropped.
    pub status: Option<String>,
    pub owner: Option<String>,
    /// `null` clears the due date; absent leaves it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub due: Option<Option<String>>,
    pub title: Option<String>,
    /// Why, recorded in the log.
    pub note: Option<String>,
    pub author: Option<String>,
}

/// Distinguishes a field given as `null` (`Some(None)`) from a missing one (`None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `POST /api/v1/alerts/{id}/ack`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    pub note: Option<String>,
    pub author: Option<String>,
}

/// `POST /api/v1/alerts/ack`: several alerts at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeMany {
    pub ids: Vec<i64>,
    pub note: Option<String>,
    pub author: Option<String>,
}

/// `POST /api/v1/silences`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub id: Option<String>,
    /// Check ids (all when empty).
    #[serde(default)]
    pub checks: Vec<String>,
    /// info, warning or critical (all when empty).
    #[serde(default)]
    pub severities: Vec<String>,
    /// RFC 3339; default now.
    pub start: Option<String>,
    /// RFC 3339; or give `duration`.
    pub end: Option<String>,
    /// e.g. `30m`, `2h`.
    pub duration: Option<String>,
    pub comment: String,
    pub author: Option<String>,
}

/// `POST /api/v1/rollback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    pub reason: String,
    pub author: Option<String>,
}

/// `POST /api/v1/notify/test`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTest {
    /// Channel ids (all when empty).
    #[serde(default)]
    pub channels: Vec<String>,
    pub author: Option<String>,
}

/// `POST /api/v1/runbook/{id}/start|done|skip|fail`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepChangeRequest {
    /// Required to skip, fail or force a start.
    pub reason: Option<String>,
    /// Start although dependencies are not done (needs `reason`).
    #[serde(default)]
    pub force: bool,
    pub author: Option<String>,
    /// The pipeline run making the change (e.g. `GITHUB_RUN_ID`): repeating a change this run
    /// already recorded answers success with `already_recorded` and writes nothing.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// `POST /api/v1/reports/send`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendReport {
    /// The local day of the daily report, `YYYY-MM-DD` (default: the day in progress).
    pub date: Option<String>,
    /// Send the final report instead.
    #[serde(default, rename = "final")]
    pub final_report: bool,
    /// Who asked (reports carry no author; accepted so every write takes one).
    pub author: Option<String>,
}
