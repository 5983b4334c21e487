//! The API's JSON answers. Each type is what one endpoint answers (named after what it holds),
//! or a part shared by several. Fields skipped when empty say so; every other field is always
//! present, `null` when it has no value.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Something that stands in the way of leaving a phase or starting a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blocker {
    /// What kind of gate: `checklist`, `check`, `step`.
    pub kind: String,
    pub id: String,
    /// A sentence a person can act on.
    pub message: String,
    /// Who can clear it, when known.
    pub owner: Option<String>,
}

/// Every refusal's body: `{"error": ..., "field": ..., "blockers": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub blockers: Vec<Blocker>,
}

/// The launch as `GET /api/v1/status` names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchSummary {
    pub name: String,
    /// The launch's IANA time zone, in which times are shown to people.
    pub timezone: String,
    pub go_live: Timestamp,
    pub hypercare_days: f64,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub launch: LaunchSummary,
    pub phase: String,
    pub phase_since: Timestamp,
    pub time_in_phase_seconds: i64,
    /// Negative once the go-live has passed.
    pub go_live_in_seconds: i64,
    pub next_phase: Option<String>,
    pub hypercare_ends_at: Option<Timestamp>,
    /// What keeps the launch from leaving its phase.
    pub blockers: Vec<Blocker>,
    pub checks: CheckCounts,
    pub checklist: ChecklistSummary,
    pub actions: ActionCounts,
    pub now: Timestamp,
    /// What a release pipeline's gate (`golive verify`) reads; absent from daemons before it.
    #[serde(default)]
    pub verification: Option<Verification>,
}

/// The release gate's view of `GET /api/v1/status`: the checks that must be healthy, the open
/// critical alerts, and the open alerts for which the plan's rollback criteria hold now.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    /// Every gate check (`gate = true`) and every `critical` check, with its health.
    pub checks: Vec<GateCheck>,
    /// Open alerts of severity `critical`.
    pub open_critical_alerts: Vec<AlertBrief>,
    /// Open alerts that meet the plan's `[rollback] criteria` in the current phase (those that
    /// recommend a rollback).
    pub rollback_criteria_hold: Vec<AlertBrief>,
    /// When the latest critical alert open in the current phase was resolved (the soak starts no
    /// earlier).
    #[serde(default)]
    pub critical_alert_resolved_at: Option<Timestamp>,
}

/// A check the release gate waits for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateCheck {
    pub id: String,
    /// `healthy`, `failing` or `unknown`.
    pub health: String,
    pub reason: Option<String>,
    /// Whether it is a go/no-go gate check (`gate = true`).
    pub gate: bool,
    pub severity: String,
    /// When its health last changed (absent before its first result).
    #[serde(default)]
    pub changed_at: Option<Timestamp>,
}

/// An open alert, briefly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertBrief {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub reason: String,
}

/// The checks of `GET /api/v1/status`, counted by health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckCounts {
    pub total: usize,
    pub healthy: usize,
    pub failing: usize,
    pub unknown: usize,
    pub failing_ids: Vec<FailingCheck>,
}

/// A failing check and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailingCheck {
    pub id: String,
    pub reason: Option<String>,
}

/// The checklist of `GET /api/v1/status`, counted and listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChecklistSummary {
    pub total: usize,
    pub confirmed: usize,
    pub required: usize,
    pub required_confirmed: usize,
    pub items: Vec<ChecklistItem>,
}

/// A checklist item with its confirmation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub id: String,
    pub title: String,
    pub owner: String,
    /// The owner as people read it (`Aylin Kaya (ops lead)`).
    pub owner_label: String,
    pub required: bool,
    /// The phase whose exit it gates.
    pub gates: String,
    pub confirmed: bool,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<Timestamp>,
    pub note: Option<String>,
}

/// The action items of `GET /api/v1/status`, counted by status, and the open ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionCounts {
    pub open: usize,
    pub done: usize,
    pub dropped: usize,
    pub overdue: usize,
    pub open_items: Vec<ActionItem>,
}

/// `GET /api/v1/checklist`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checklist {
    pub items: Vec<ChecklistItem>,
    /// The launch's time zone, for showing `confirmed_at` to people.
    pub timezone: String,
}

/// A phase change that happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub at: Timestamp,
    pub author: String,
    pub reason: Option<String>,
    /// Whether blockers were overridden.
    pub forced: bool,
    /// The blockers a forced transition overrode (empty otherwise).
    pub overridden: Vec<Blocker>,
}

/// `POST /api/v1/phase`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseChanged {
    pub transition: Transition,
    pub phase: String,
    /// The same pipeline run had already made this change: `transition` is the one recorded
    /// then, and nothing was written now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_recorded: bool,
}

/// A checklist confirmation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Confirmation {
    pub item: String,
    pub by: String,
    pub at: Timestamp,
    pub note: Option<String>,
    /// False when the item had already been confirmed (the first confirmation stands).
    pub newly_confirmed: bool,
}

/// `POST /api/v1/checklist/{id}/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Confirmed {
    pub confirmation: Confirmation,
    /// The launch's time zone, for showing `confirmation.at` to people.
    pub timezone: String,
}

/// A launch log entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    /// Increasing sequence number, unique in the store.
    pub id: i64,
    pub at: Timestamp,
    pub author: String,
    pub kind: String,
    pub text: String,
    /// The entry's details, by kind; `null` when there are none.
    pub data: Value,
}

/// `GET /api/v1/log`: one page, with the cursor of the next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub next_before: Option<i64>,
    pub next_after: Option<i64>,
    /// The launch's time zone, for showing times to people.
    pub timezone: String,
}

/// `POST /api/v1/log`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogWritten {
    pub entry: LogEntry,
}

/// `POST /api/v1/updates`: the update's log entry (its `data` names who it went to).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateSent {
    pub update: LogEntry,
}

/// An action item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionItem {
    pub id: i64,
    pub title: String,
    /// A person id or a role from the plan.
    pub owner: String,
    /// The local day it is due.
    pub due: Option<Date>,
    /// open, done or dropped.
    pub status: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    /// Only in `GET /api/v1/actions`: whether it is open past its due day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue: Option<bool>,
}

/// `GET /api/v1/actions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Actions {
    pub actions: Vec<ActionItem>,
}

/// `POST /api/v1/actions`, `GET` and `PATCH /api/v1/actions/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneAction {
    pub action: ActionItem,
}

/// A probe result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResult {
    pub at: Timestamp,
    /// healthy, failing or unknown.
    pub outcome: String,
    pub reason: String,
    pub latency_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<Timestamp>,
}

/// A check with its health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub severity: String,
    pub health: String,
    pub since: Timestamp,
    pub gate: bool,
    /// Whether the check runs in the current phase.
    pub active: bool,
    pub interval_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    pub risks: Vec<String>,
    pub last: Option<ProbeResult>,
}

/// `GET /api/v1/checks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checks {
    pub checks: Vec<CheckView>,
}

/// A check with its thresholds and recent results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckDetail {
    #[serde(flatten)]
    pub view: CheckView,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Newest first.
    pub recent: Vec<ProbeResult>,
}

/// One minute of a check's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckMinute {
    pub minute: Option<Timestamp>,
    pub probes: u32,
    pub failures: u32,
    pub unknowns: u32,
    pub availability: Option<f64>,
    pub latency_ms: LatencySummary,
    /// The measured values, when the check reads one.
    pub value: Option<ValueSummary>,
}

/// A minute's latencies in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencySummary {
    pub mean: Option<f64>,
    pub max: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// A minute's measured values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValueSummary {
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub mean: Option<f64>,
}

/// `GET /api/v1/checks/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneCheck {
    pub check: CheckDetail,
    /// Oldest first.
    pub history: Vec<CheckMinute>,
}

/// Who took an alert and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// An alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    /// `check:<id>`, `alertmanager:<fingerprint>` or `golive:<topic>`.
    pub key: String,
    pub title: String,
    pub severity: String,
    pub policy: Option<String>,
    pub opened_at: Timestamp,
    pub reason: String,
    /// How many levels have been notified (0: none yet).
    pub level: usize,
    pub escalation_base: Timestamp,
    pub last_notified_at: Option<Timestamp>,
    pub acknowledged: Option<Acknowledgement>,
    pub resolved_at: Option<Timestamp>,
    pub notified: BTreeSet<String>,
    pub max_level: usize,
    pub labels: BTreeMap<String, String>,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alerts {
    pub alerts: Vec<Alert>,
    /// The launch's time zone, for showing times to people.
    pub timezone: String,
}

/// A notification of an alert, as the outbox holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub answer: Option<String>,
    pub last_error: Option<String>,
    /// Email recipients as `[name or null, address]`.
    pub to: Vec<(Option<String>, String)>,
}

/// `GET /api/v1/alerts/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneAlert {
    pub alert: Alert,
    pub notifications: Vec<Notification>,
}

/// `POST /api/v1/alerts/{id}/ack`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertAcknowledged {
    pub alert: Alert,
}

/// `POST /api/v1/alerts/ack`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Acknowledgements {
    /// Acknowledged now.
    pub acknowledged: Vec<Alert>,
    /// Open, but acknowledged before (by whom they say): left as they were.
    pub already_acknowledged: Vec<Alert>,
    /// Ids of alerts that are not open (resolved, or no such alert).
    pub not_open: Vec<i64>,
}

/// When a silence holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SilenceWindow {
    Once {
        start: Timestamp,
        end: Timestamp,
    },
    /// Every listed weekday from `from` to `to` local time.
    Recurring {
        days: Vec<String>,
        from: jiff::civil::Time,
        to: jiff::civil::Time,
    },
}

/// A silence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub checks: Vec<String>,
    pub severities: Vec<String>,
    pub window: SilenceWindow,
    pub author: String,
    pub comment: String,
    /// Only in `GET /api/v1/silences`: whether it holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// `GET /api/v1/silences`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Silences {
    pub silences: Vec<Silence>,
}

/// `POST /api/v1/silences`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilenceCreated {
    pub silence: Silence,
}

/// `DELETE /api/v1/silences/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilenceRemoved {
    pub removed: String,
}

/// `POST /api/v1/rollback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolledBack {
    pub transition: Transition,
    /// Whether the plan's rollback hook runs.
    pub hook: bool,
    /// The procedure that applies (after a runbook rollback point, its own).
    pub procedure: String,
}

/// The outcome of testing one channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelTest {
    pub channel: String,
    pub kind: String,
    /// `delivered` or `failed`.
    pub result: String,
    /// The server's answer, or why it failed.
    pub answer: String,
}

/// `POST /api/v1/notify/test`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelTests {
    pub results: Vec<ChannelTest>,
}

/// What happened to a runbook step so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// pending, running, done, skipped or failed.
    pub state: String,
    pub started_at: Option<Timestamp>,
    pub started_by: Option<String>,
    pub finished_at: Option<Timestamp>,
    pub finished_by: Option<String>,
    /// Why it was skipped, failed or force-started.
    pub reason: Option<String>,
    /// Whether it was started with unfinished dependencies.
    pub forced: bool,
}

/// A runbook step, planned and actual side by side. `GET /api/v1/runbook` lists its `verify`
/// checks with their health ([`VerifyCheck`]); a step change answers their ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepView<Verify = VerifyCheck> {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub phase: String,
    /// `start` as written in the plan (`+00:20` or a date-time).
    pub planned: String,
    pub planned_start: Timestamp,
    pub planned_end: Timestamp,
    pub duration_seconds: u64,
    pub depends_on: Vec<String>,
    pub rollback_point: bool,
    pub verify: Vec<Verify>,
    #[serde(flatten)]
    pub record: StepRecord,
    /// Seconds behind plan now.
    pub late_seconds: u64,
    /// Dependencies that are not done or skipped yet.
    pub blocked_by: Vec<String>,
}

impl<Verify> StepView<Verify> {
    /// The same step with other `verify` entries (the ids with their health, for the list).
    pub fn with_verify<Other>(self, verify: Vec<Other>) -> StepView<Other> {
        StepView {
            id: self.id,
            title: self.title,
            owner: self.owner,
            phase: self.phase,
            planned: self.planned,
            planned_start: self.planned_start,
            planned_end: self.planned_end,
            duration_seconds: self.duration_seconds,
            depends_on: self.depends_on,
            rollback_point: self.rollback_point,
            verify,
            record: self.record,
            late_seconds: self.late_seconds,
            blocked_by: self.blocked_by,
        }
    }
}

/// A check a step's verification waits for, with its health now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyCheck {
    pub check: String,
    pub health: String,
}

/// The rollback procedure that applies now, and the rollback point it belongs to (none: the
/// plan's `[rollback] procedure`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicableRollback {
    pub after_rollback_point: Option<String>,
    pub procedure: String,
}

/// `GET /api/v1/runbook`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runbook {
    pub phase: String,
    /// The launch's time zone, for showing times to people.
    pub timezone: String,
    pub grace_seconds: u64,
    pub escalate_after_seconds: u64,
    pub steps: Vec<StepView>,
    pub rollback: ApplicableRollback,
}

/// A step change that was accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepChange {
    pub step: String,
    /// start, done, skip or fail.
    pub action: String,
    pub from: String,
    pub to: String,
    pub at: Timestamp,
    pub by: String,
    pub reason: Option<String>,
    pub forced: bool,
    /// The blockers a forced start went past.
    pub overridden: Vec<Blocker>,
    /// The pipeline run that made the change (`run_id` of the request), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// For a failed step: the rollback procedure that applies, and who got it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollbackAdvice {
    pub after_rollback_point: Option<String>,
    pub procedure: String,
    pub sent_to: Vec<String>,
}

/// `POST /api/v1/runbook/{id}/start|done|skip|fail`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepChanged {
    pub change: StepChange,
    /// The step after the change.
    pub step: StepView<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackAdvice>,
    /// The same run had already made this change: `change` is the one recorded then, and nothing
    /// was written now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_recorded: bool,
    /// A `start` repeated by the run that has since finished the step (with `already_recorded`):
    /// the pipeline should skip the step's work, not do it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_done: bool,
}

/// A report that was sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRecord {
    pub id: i64,
    /// daily or final.
    pub kind: String,
    pub day: String,
    pub trigger: String,
    pub recipients: Vec<String>,
    pub message_id: String,
    pub sent_at: Timestamp,
    pub late: bool,
    pub outbox_id: Option<i64>,
}

/// `POST /api/v1/reports/send`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportSent {
    pub report: ReportRecord,
}

/// `GET /api/v1/reports`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reports {
    pub reports: Vec<ReportRecord>,
}

/// `POST /api/v1/reload`: the plan file read again and applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reloaded {
    /// The plan file read.
    pub path: String,
    /// What changed, in one line (`checks: 1 added (api); also changed: runbook`).
    pub summary: String,
    pub changes: PlanChanges,
    /// The new plan's warnings, as `golive check` prints them.
    #[serde(default)]
    pub warnings: Vec<PlanDiagnostic>,
    /// Open alerts resolved because their check was removed from the plan.
    #[serde(default)]
    pub resolved_alerts: Vec<i64>,
}

/// What a reload changed, by id (as the launch log's `plan_reloaded` details).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanChanges {
    #[serde(default)]
    pub checks: IdChanges,
    #[serde(default)]
    pub people: IdChanges,
    #[serde(default)]
    pub channels: IdChanges,
    #[serde(default)]
    pub escalation: IdChanges,
    /// Other sections that changed (`checklist`, `runbook`, ...).
    #[serde(default)]
    pub sections: Vec<String>,
}

/// Ids added, removed and changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdChanges {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub changed: Vec<String>,
}

/// One problem of a plan, as `golive check` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanDiagnostic {
    /// `error` or `warning`.
    pub level: String,
    pub line: usize,
    pub col: usize,
    /// The key path, e.g. `checks[1].interval`; empty for TOML syntax errors.
    pub path: String,
    pub message: String,
    #[serde(default)]
    pub help: Option<String>,
    /// The diagnostic as `golive check` prints it (`file:line:col: level: path: message`).
    pub text: String,
}

/// `POST /api/v1/reload` refused: 422 for an invalid plan (every diagnostic), 409 for a change
/// that needs a restart (`field` names the first key, `not_live` every one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReloadRefused {
    /// What a person reads: the diagnostics as `golive check` prints them, or the keys and why.
    pub error: String,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub diagnostics: Vec<PlanDiagnostic>,
    #[serde(default)]
    pub not_live: Vec<NotLive>,
}

/// A plan key a reload cannot change, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotLive {
    pub key: String,
    pub reason: String,
}
