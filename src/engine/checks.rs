//! The engine's side of monitoring: turning probe observations into check health (through
//! `core::health`), metrics, health-change log entries, the go/no-go gate's view, and the
//! per-minute history written to the store.
//!
//! Neither the health changes nor the history are lost while the store cannot write (a full
//! disk): health-change entries wait in a bounded [`PendingLog`] with their own times and are
//! written, oldest first and before anything newer, as soon as a write succeeds again; finished
//! minutes stay in memory and are merged into the next attempt.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use super::pending_log::{PENDING_LOG_CAPACITY, PendingLog};
use super::{Command, Engine, block};
use crate::core::health::{CheckState, Health, HealthChange, Observation, Outcome, ProbeResult};
use crate::core::lifecycle::GateCheck;
use crate::core::log::LogData;
use crate::core::log::data::{CheckEvent, HealthChanged};
use crate::core::log::{LogKind, NewEntry};
use crate::core::rollup::Rollup;
use crate::error_chain::error_chain;
use crate::metrics::{CheckMetrics, Metrics};
use crate::plan::Plan;
use crate::plan::checks::Severity;
use crate::store::rollups::MinuteRow;

/// How many recent results each check keeps in memory for the API.
const RECENT_RESULTS: usize = 30;

/// Every check's runtime state, indexed like the plan's `checks`.
pub(super) struct Checks {
    runtime: Vec<CheckRuntime>,
    /// Finished minutes not yet written: (check index, Unix minute) → rollup. The minute in
    /// progress lives in each check's runtime, so a probe result costs no map lookup.
    open_minutes: BTreeMap<(usize, i64), Rollup>,
    last_prune: Option<Timestamp>,
    /// Health-change log entries the store could not write yet, oldest first.
    pending_log: PendingLog,
    /// Whether writing `pending_log` failed since it was last written (to say so when it is).
    pending_log_failed: bool,
}

struct CheckRuntime {
    state: CheckState,
    /// The minute in progress (Unix minute) and its rollup.
    minute: Option<(i64, Rollup)>,
    /// Whether golive warned that it cannot tell this check's state (so it says when it can again).
    blind: bool,
    recent: RecentResults,
    metrics: CheckMetrics,
}

/// A check's recent results, newest first, as the engine keeps them (300,000 at 10,000 checks):
/// 16-byte entries, the texts they say in a small table beside them, and the values of a metric
/// check in a ring of their own, so a check whose results carry no value pays nothing for it.
///
/// A steady check's table holds one text (`status 200`) for all 30 results; a check alternating
/// between two reasons holds two. A slot no entry refers to any more is reused for the next new
/// text, so the table never holds more than [`RECENT_RESULTS`] texts.
#[derive(Debug, Default)]
struct RecentResults {
    /// Newest first; allocated (exactly [`RECENT_RESULTS`] entries) at the check's first result,
    /// so a check that never runs in the current phase holds none.
    entries: VecDeque<KeptResult>,
    /// The texts the entries refer to by [`KeptResult::text`]. A boxed slice rather than a `Vec`
    /// (8 bytes less a check): it grows by one slot only when no slot is free.
    texts: Box<[ResultTexts]>,
    /// Each entry's value (0 where it has none), in the same order as `entries`, once any result
    /// of the check had one. Boxed so a check without values pays 8 bytes for it, not 32.
    #[allow(clippy::box_collection)]
    values: Option<Box<VecDeque<f64>>>,
}

/// A recent result as [`RecentResults`] keeps it: 16 bytes instead of a [`RecentResult`]'s ~120.
/// The time and the latency are kept in microseconds (a probe's latency is shown in
/// milliseconds); the texts and the value live beside the entries.
#[derive(Debug, Clone, Copy)]
struct KeptResult {
    /// When the probe started, in microseconds since the Unix epoch (every [`Timestamp`] fits).
    at_micros: i64,
    latency_micros: u32,
    /// The index of the result's texts in [`RecentResults::texts`].
    text: u8,
    outcome: Outcome,
    /// Whether the probe gave a value (kept in [`RecentResults::values`]; it may be NaN).
    has_value: bool,
    /// The texts' reason was kept without its closing ` in <latency>` (see [`strip_latency`]).
    latency_in_reason: bool,
}

// The ring is most of the engine's memory at 10,000 checks: keep an entry from growing unnoticed.
const _: () = assert!(std::mem::size_of::<KeptResult>() <= 16);
// Every text index fits the entry's byte and the bit mask `RecentResults::text_index` uses.
const _: () = assert!(RECENT_RESULTS <= 64);

/// A kept latency as a probe's reason writes it.
fn kept_latency(latency_micros: u32) -> crate::human::Latency {
    crate::human::Latency(std::time::Duration::from_micros(u64::from(latency_micros)))
}

/// `reason` without its closing ` in <latency>` (` in 3 ms`), when it ends with exactly the
/// latency `latency_micros` writes. Compared
/// piece by piece as the latency writes itself, so no text is built for each probe result.
fn strip_latency(reason: &str, latency_micros: u32) -> Option<&str> {
    use std::fmt::Write;
    /// Takes each piece written off the front of the text it expects, failing on a mismatch.
    struct Expect<'a>(&'a str);
    impl Write for Expect<'_> {
        fn write_str(&mut self, piece: &str) -> std::fmt::Result {
            self.0 = self.0.strip_prefix(piece).ok_or(std::fmt::Error)?;
            Ok(())
        }
    }
    let (stem, written) = reason.rsplit_once(" in ")?;
    let mut expect = Expect(written);
    write!(expect, "{}", kept_latency(latency_micros)).ok()?;
    expect.0.is_empty().then_some(stem)
}

/// What a result says, shared by the recent results of a check that say the same.
#[derive(Debug, PartialEq)]
struct ResultTexts {
    reason: Box<str>,
    /// The warning and the certificate's expiry, when the probe gave either.
    warning: Option<Box<str>>,
    cert_not_after: Option<Timestamp>,
}

impl RecentResults {
    /// Keeps `result` as the newest, forgetting the oldest when [`RECENT_RESULTS`] are kept.
    ///
    /// A healthy HTTP probe's reason ends with its latency (`status 200 in 3 ms`), so no two
    /// results of a check had the same text and each kept its own copy (1.7 MiB at 1,000 checks):
    /// it is kept without that ending, which [`RecentResults::reason`] writes again from the kept
    /// latency. Only an ending that reads exactly as the kept latency writes it is taken off.
    fn push(&mut self, at: Timestamp, result: &ProbeResult) {
        if self.entries.len() == RECENT_RESULTS {
            self.entries.pop_back();
            if let Some(values) = &mut self.values {
                values.pop_back();
            }
        }
        if self.entries.capacity() == 0 {
            self.entries.reserve_exact(RECENT_RESULTS);
        }
        let latency_micros = u32::try_from(result.latency.as_micros()).unwrap_or(u32::MAX);
        let (reason, latency_in_reason) = match strip_latency(&result.reason, latency_micros) {
            Some(stem) => (stem, true),
            None => (result.reason.as_str(), false),
        };
        let text = self.text_index(reason, result);
        if result.value.is_some() && self.values.is_none() {
            let mut values = VecDeque::with_capacity(RECENT_RESULTS);
            values.resize(self.entries.len(), 0.0);
            self.values = Some(Box::new(values));
        }
        if let Some(values) = &mut self.values {
            values.push_front(result.value.unwrap_or(0.0));
        }
        self.entries.push_front(KeptResult {
            at_micros: at.as_microsecond(),
            latency_micros,
            text,
            outcome: result.outcome,
            has_value: result.value.is_some(),
            latency_in_reason,
        });
    }

    /// The slot of the texts `reason` and `result`'s warning and certificate expiry say: the
    /// newest result's when it says the same (a steady check), else an equal one in the table,
    /// else a new one, in a slot no kept entry refers to when there is one. Called after the
    /// oldest entry was dropped, so at most `RECENT_RESULTS - 1` slots are in use then.
    fn text_index(&mut self, reason: &str, result: &ProbeResult) -> u8 {
        let same = |texts: &ResultTexts| {
            *texts.reason == *reason
                && texts.warning.as_deref() == result.warning.as_deref()
                && texts.cert_not_after == result.cert_not_after
        };
        if let Some(newest) = self.entries.front()
            && same(&self.texts[usize::from(newest.text)])
        {
            return newest.text;
        }
        if let Some(index) = self.texts.iter().position(same) {
            return index as u8;
        }
        let texts = ResultTexts {
            reason: reason.into(),
            warning: result.warning.as_deref().map(Box::from),
            cert_not_after: result.cert_not_after,
        };
        let used = self
            .entries
            .iter()
            .fold(0u64, |used, entry| used | 1 << entry.text);
        match (0..self.texts.len()).find(|index| used & 1 << index == 0) {
            Some(free) => {
                self.texts[free] = texts;
                free as u8
            }
            None => {
                let mut grown = std::mem::take(&mut self.texts).into_vec();
                grown.reserve_exact(1);
                grown.push(texts);
                self.texts = grown.into_boxed_slice();
                (self.texts.len() - 1) as u8
            }
        }
    }

    /// The texts of `entry`.
    fn texts(&self, entry: &KeptResult) -> &ResultTexts {
        &self.texts[usize::from(entry.text)]
    }

    /// The probe's reason as it gave it.
    fn reason(&self, entry: &KeptResult) -> String {
        let reason = &self.texts(entry).reason;
        if entry.latency_in_reason {
            format!("{reason} in {}", kept_latency(entry.latency_micros))
        } else {
            reason.to_string()
        }
    }

    /// The newest result's reason (empty before the first).
    fn last_reason(&self) -> String {
        self.entries
            .front()
            .map_or_else(String::new, |entry| self.reason(entry))
    }

    /// The value of the result at `index` (0 = newest), if its probe gave one.
    fn value(&self, index: usize) -> Option<f64> {
        let entry = self.entries.get(index)?;
        if !entry.has_value {
            return None;
        }
        self.values.as_ref()?.get(index).copied()
    }

    /// The result at `index` (0 = newest) as the API shows it.
    fn view(&self, index: usize) -> Option<RecentResult> {
        let entry = self.entries.get(index)?;
        let texts = self.texts(entry);
        Some(RecentResult {
            at: Timestamp::from_microsecond(entry.at_micros).unwrap_or(Timestamp::UNIX_EPOCH),
            outcome: entry.outcome,
            reason: self.reason(entry),
            latency_ms: f64::from(entry.latency_micros) / 1000.0,
            value: self.value(index),
            warning: texts.warning.as_deref().map(str::to_owned),
            cert_not_after: texts.cert_not_after,
        })
    }

    /// Every kept result as the API shows it, newest first.
    fn views(&self) -> Vec<RecentResult> {
        (0..self.entries.len())
            .filter_map(|index| self.view(index))
            .collect()
    }
}

/// A probe result as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentResult {
    pub at: Timestamp,
    pub outcome: Outcome,
    pub reason: String,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<Timestamp>,
}

/// A check as `GET /api/v1/checks` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub severity: Severity,
    pub health: Health,
    pub since: Timestamp,
    pub gate: bool,
    /// Whether the check runs in the current phase.
    pub active: bool,
    pub interval_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    pub risks: Vec<String>,
    pub last: Option<RecentResult>,
    /// Minutes not in the store yet, oldest first: finished ones waiting for the next write and
    /// the minute in progress. The status page adds them to the stored history, so a check probed
    /// every second never reads as "no probes" between writes.
    #[serde(skip)]
    pub unwritten_minutes: Vec<(i64, Rollup)>,
}

/// A check with its recent results, for `GET /api/v1/checks/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckDetail {
    #[serde(flatten)]
    pub view: CheckView,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Newest first.
    pub recent: Vec<RecentResult>,
}

impl Checks {
    pub(super) fn new(plan: &Plan, metrics: &Metrics, now: Timestamp) -> Self {
        Checks {
            runtime: plan
                .checks
                .iter()
                .map(|check| CheckRuntime {
                    state: CheckState::new(now),
                    minute: None,
                    blind: false,
                    recent: RecentResults::default(),
                    metrics: metrics.checks.for_check(check),
                })
                .collect(),
            open_minutes: BTreeMap::new(),
            last_prune: None,
            pending_log: PendingLog::new(PENDING_LOG_CAPACITY),
            pending_log_failed: false,
        }
    }
}

impl Checks {
    /// A check's current health.
    pub(super) fn health(&self, index: usize) -> Health {
        self.runtime
            .get(index)
            .map_or(Health::Unknown, |runtime| runtime.state.health)
    }

    /// The metric series of the check at `index` in the plan in force.
    pub(super) fn series(&self, index: usize) -> Option<&CheckMetrics> {
        self.runtime.get(index).map(|runtime| &runtime.metrics)
    }

    /// The latest probe reason of a check.
    pub(super) fn last_reason(&self, index: usize) -> String {
        self.runtime
            .get(index)
            .map_or_else(String::new, |runtime| runtime.recent.last_reason())
    }

    /// The latest value of a metric check (one with a threshold), if its last probe had one.
    pub(super) fn latest_value(&self, plan: &Plan, id: &str) -> Option<f64> {
        let index = plan.checks.iter().position(|check| check.id == id)?;
        plan.checks[index].threshold()?;
        self.runtime.get(index)?.recent.value(0)
    }
}

/// Counts one probe result in its check's metrics: by outcome, its duration, when it ran, the
/// value it read and the certificate's expiry it saw.
fn count_in_metrics(metrics: &CheckMetrics, result: &ProbeResult, at: Timestamp) {
    let slot = match result.outcome {
        Outcome::Healthy => 0,
        Outcome::Failing => 1,
        Outcome::Unknown => 2,
    };
    metrics.results[slot].inc();
    metrics.duration.observe(result.latency.as_secs_f64());
    metrics.last_run.set(at.as_millisecond() as f64 / 1000.0);
    if let Some(value) = result.value {
        metrics.value.set(value);
    }
    if let Some(not_after) = result.cert_not_after {
        metrics.cert_expiry.set(not_after.as_second() as f64);
    }
}

/// Adds one probe result to the minute it ran in: the minute in progress, or (when a later minute
/// begins) a new one, the finished one waiting in `open_minutes` to be written.
fn roll_into_minute(
    runtime: &mut CheckRuntime,
    open_minutes: &mut BTreeMap<(usize, i64), Rollup>,
    check_index: usize,
    at: Timestamp,
    result: &ProbeResult,
) {
    let minute = unix_minute(at);
    match &mut runtime.minute {
        Some((current, rollup)) if *current == minute => rollup.record(result),
        Some((current, rollup)) if *current < minute => {
            let finished = std::mem::take(rollup);
            open_minutes
                .entry((check_index, *current))
                .or_default()
                .merge(&finished);
            *current = minute;
            rollup.record(result);
        }
        // A late result for an earlier minute: merged when written.
        Some(_) => open_minutes
            .entry((check_index, minute))
            .or_default()
            .record(result),
        None => {
            let mut rollup = Rollup::default();
            rollup.record(result);
            runtime.minute = Some((minute, rollup));
        }
    }
}

fn unix_minute(at: Timestamp) -> i64 {
    at.as_second().div_euclid(60)
}

impl Engine {
    /// Counts a batch of probe results (the hand-overs that waited, each emptied): metrics,
    /// history, health. Health changes are logged in one transaction and published once.
    pub(super) fn observe(&mut self, handed: &mut [Vec<Observation>]) {
        let mut changes: Vec<(usize, HealthChange)> = Vec::new();
        // Checks golive can no longer tell (their source is unreachable), and ones it can again.
        let mut blind: Vec<(String, String)> = Vec::new();
        let mut seeing: Vec<String> = Vec::new();
        let generation = self.plans.borrow().generation;
        for observation in handed.iter_mut().flat_map(|results| results.drain(..)) {
            // A result indexed for an older plan (made while a reload was applied) is dropped.
            if observation.generation != generation {
                continue;
            }
            let Some(check) = self.plan.checks.get(observation.check) else {
                continue;
            };
            let Some(runtime) = self.checks.runtime.get_mut(observation.check) else {
                continue;
            };
            let result = &observation.result;
            let at = observation.started;
            count_in_metrics(&runtime.metrics, result, at);
            if let Some(value) = result.value {
                self.alerts.note_value(&check.id, check.threshold(), value);
            }
            self.metrics
                .schedule_lag
                .observe(observation.lag.as_secs_f64());
            roll_into_minute(
                runtime,
                &mut self.checks.open_minutes,
                observation.check,
                at,
                result,
            );
            let outcome = result.outcome;
            let changed = runtime.state.observe(check, outcome, at);
            let health = runtime.state.health;
            if outcome == Outcome::Unknown
                && !runtime.blind
                && runtime.state.consecutive_unknowns >= check.failure_threshold.max(1)
            {
                runtime.blind = true;
                blind.push((check.id.clone(), result.reason.clone()));
            } else if outcome != Outcome::Unknown && runtime.blind && health != Health::Unknown {
                runtime.blind = false;
                seeing.push(check.id.clone());
            }
            // The gate shows the latest reason of a check that is not healthy; a healthy check
            // whose health did not change needs no update.
            if changed.is_some() || health != Health::Healthy {
                let reason = (health != Health::Healthy).then(|| result.reason.clone());
                let changed_at = changed.is_some().then_some(at);
                match self.gate.get_mut(&check.id) {
                    Some(gate) => {
                        gate.health = health;
                        gate.reason = reason;
                        gate.changed_at = changed_at.or(gate.changed_at);
                    }
                    None => {
                        let gate = GateCheck {
                            health,
                            reason,
                            changed_at,
                        };
                        self.gate.insert(check.id.clone(), gate);
                    }
                }
            }
            runtime.recent.push(at, result);
            if let Some(change) = changed {
                runtime.metrics.set_health(change.to);
                changes.push((observation.check, change));
            }
        }
        if !blind.is_empty() || !seeing.is_empty() {
            let now = self.clock.now();
            self.own_warning(&blind, &seeing, now);
        }
        if !changes.is_empty() {
            self.act_on_health_changes(&changes);
        }
    }

    /// Logs the health changes of a batch (behind any entries that still wait), raises and
    /// resolves the alerts they call for, and publishes the new state once.
    fn act_on_health_changes(&mut self, changes: &[(usize, HealthChange)]) {
        let entries: Vec<NewEntry> = changes
            .iter()
            .filter_map(|(index, change)| self.health_entry(*index, change))
            .collect();
        for (index, change) in changes {
            let id = &self.plan.checks[*index].id;
            tracing::info!(check = %id, from = change.from.as_str(), to = change.to.as_str(), "check health changed");
        }
        if !entries.is_empty() {
            // Behind any that still wait, so the log keeps the order things happened in.
            for entry in entries {
                self.checks.pending_log.push(entry);
            }
            self.write_pending_log();
        }
        self.alerts_on_health(changes);
        self.publish();
    }

    /// Writes the health-change entries that wait, oldest first, in one transaction; on failure
    /// they keep waiting (bounded, see [`PendingLog`]) for the next health change, command or
    /// housekeeping tick.
    pub(super) fn write_pending_log(&mut self) {
        if self.checks.pending_log.is_empty() {
            return;
        }
        let entries = self.checks.pending_log.to_write();
        match block(|| self.store.append_many(&entries)) {
            Ok(stored) => {
                for entry in &stored {
                    self.logged(entry);
                }
                if std::mem::take(&mut self.checks.pending_log_failed) {
                    tracing::info!(
                        entries = stored.len(),
                        dropped = self.checks.pending_log.dropped(),
                        "wrote the check health changes that waited for the store"
                    );
                }
                self.checks.pending_log.clear();
            }
            Err(error) => {
                self.checks.pending_log_failed = true;
                self.store_trouble(&error);
                tracing::error!(
                    error = %error_chain(&error),
                    waiting = self.checks.pending_log.len(),
                    dropped = self.checks.pending_log.dropped(),
                    "could not log check health changes; keeping them for the next try"
                );
            }
        }
        self.metrics
            .log_entries_pending
            .set(i64::try_from(self.checks.pending_log.len()).unwrap_or(i64::MAX));
    }

    /// Before a command that may write the log, the health changes that wait for the store are
    /// written first, so an entry made after the store recovered does not precede them.
    pub(super) fn write_pending_log_before(&mut self, command: &Command) {
        if command.may_write_log() {
            self.write_pending_log();
        }
    }

    /// The log entry for a health change; the first healthy result after start is not worth one.
    fn health_entry(&self, index: usize, change: &HealthChange) -> Option<NewEntry> {
        let check = &self.plan.checks[index];
        let reason = self.checks.last_reason(index);
        let text = match (change.from, change.to) {
            (Health::Unknown, Health::Healthy) => return None,
            (Health::Failing, Health::Healthy) => {
                format!("Check `{}` ({}) is healthy again", check.id, check.name)
            }
            (_, Health::Failing) => format!(
                "Check `{}` ({}, {}) is failing: {reason}",
                check.id, check.name, check.severity
            ),
            (_, Health::Unknown) => {
                format!("Check `{}` ({}) is unknown: {reason}", check.id, check.name)
            }
            (Health::Healthy, Health::Healthy) => return None,
        };
        Some(NewEntry {
            at: change.at,
            author: "golive".to_string(),
            kind: LogKind::Check,
            text,
            data: LogData::Check(CheckEvent::HealthChanged(HealthChanged {
                check: check.id.clone(),
                from: change.from,
                to: change.to,
                reason: Some(reason),
                severity: Some(check.severity),
            })),
        })
    }

    /// Writes finished minutes (all of them when `everything`, e.g. at shutdown) and prunes
    /// history past its retention once an hour.
    pub(super) fn housekeeping(&mut self, everything: bool) {
        // First, so the health changes precede the alert entries a repair below may write.
        self.write_pending_log();
        if everything && !self.checks.pending_log.is_empty() {
            tracing::error!(
                entries = self.checks.pending_log.len(),
                dropped = self.checks.pending_log.dropped(),
                "golive stops with check health changes its store could not write; they are lost"
            );
        }
        if !everything {
            // Repairs anything an earlier store error left undone (see `reconcile_alerts`).
            let all: Vec<usize> = (0..self.plan.checks.len()).collect();
            self.reconcile_alerts(&all);
            self.refresh_forwarded_alerts();
        }
        let now = self.clock.now();
        let current = unix_minute(now);
        // Minutes in progress that are over (or all of them at shutdown) join the finished ones.
        for (index, runtime) in self.checks.runtime.iter_mut().enumerate() {
            if let Some((minute, _)) = &runtime.minute
                && (everything || *minute < current)
                && let Some((minute, rollup)) = runtime.minute.take()
            {
                self.checks
                    .open_minutes
                    .entry((index, minute))
                    .or_default()
                    .merge(&rollup);
            }
        }
        let finished: Vec<(usize, i64)> = self
            .checks
            .open_minutes
            .keys()
            .filter(|(_, minute)| everything || *minute < current)
            .copied()
            .collect();
        if !finished.is_empty() {
            let rollups: Vec<((usize, i64), Rollup)> = finished
                .iter()
                .filter_map(|key| self.checks.open_minutes.remove(key).map(|r| (*key, r)))
                .collect();
            let plan = Arc::clone(&self.plan);
            let rows: Vec<MinuteRow<'_>> = rollups
                .iter()
                .map(|((index, minute), rollup)| MinuteRow {
                    check: plan.checks[*index].id.as_str(),
                    minute: *minute,
                    rollup,
                })
                .collect();
            if let Err(error) = block(|| self.store.write_rollups(&rows)) {
                self.store_trouble(&error);
                tracing::error!(error = %error_chain(&error), minutes = rows.len(), "could not write check history; keeping it for the next try");
                drop(rows);
                for (key, rollup) in rollups {
                    self.checks
                        .open_minutes
                        .entry(key)
                        .or_default()
                        .merge(&rollup);
                }
            }
        }
        let prune_due = self
            .checks
            .last_prune
            .is_none_or(|last| now.duration_since(last).as_secs() >= 3600);
        if prune_due && !everything {
            self.checks.last_prune = Some(now);
            let keep_minutes = i64::from(self.plan.monitoring.history_retention_days) * 24 * 60;
            let plan = Arc::clone(&self.plan);
            let ids = plan.checks.iter().map(|check| check.id.as_str());
            match block(|| self.store.prune_rollups(ids, current - keep_minutes)) {
                Ok(0) => {}
                Ok(pruned) => {
                    tracing::info!(minutes = pruned, "pruned check history past its retention")
                }
                Err(error) => {
                    self.store_trouble(&error);
                    tracing::error!(error = %error_chain(&error), "could not prune check history");
                }
            }
        }
    }

    pub(super) fn check_views(&self) -> Vec<CheckView> {
        (0..self.plan.checks.len())
            .map(|index| self.check_view(index))
            .collect()
    }

    fn check_view(&self, index: usize) -> CheckView {
        let check = &self.plan.checks[index];
        let runtime = &self.checks.runtime[index];
        let phase = self.state.phase;
        CheckView {
            id: check.id.clone(),
            name: check.name.clone(),
            kind: check.kind_name(),
            severity: check.severity,
            health: runtime.state.health,
            since: runtime.state.since,
            gate: check.gate,
            active: check.runs_in(phase),
            interval_seconds: check.interval_in(phase).as_secs_f64(),
            threshold: check.threshold().map(|threshold| threshold.to_string()),
            risks: check.risks.clone(),
            last: runtime.recent.view(0),
            unwritten_minutes: self
                .checks
                .open_minutes
                .range((index, i64::MIN)..=(index, i64::MAX))
                .map(|((_, minute), rollup)| (*minute, rollup.clone()))
                .chain(runtime.minute.clone())
                .collect(),
        }
    }

    pub(super) fn check_detail(&self, id: &str) -> Option<CheckDetail> {
        let index = self.plan.checks.iter().position(|check| check.id == id)?;
        let check = &self.plan.checks[index];
        let runtime = &self.checks.runtime[index];
        Some(CheckDetail {
            view: self.check_view(index),
            failure_threshold: check.failure_threshold,
            success_threshold: check.success_threshold,
            consecutive_failures: runtime.state.consecutive_failures,
            consecutive_successes: runtime.state.consecutive_successes,
            recent: runtime.recent.views(),
        })
    }
}

impl Checks {
    /// The same runtime state, indexed like `new`'s checks: a check kept by id keeps its state,
    /// minute and recent results (a changed one too: its alert and gate state stay until its
    /// probes say otherwise); a new check starts unknown; a removed one is dropped. Finished
    /// minutes waiting for a write move with their check (a removed check's are dropped).
    pub(super) fn remap(&mut self, old: &Plan, new: &Plan, metrics: &Metrics, now: Timestamp) {
        let mut kept: std::collections::HashMap<&str, CheckRuntime> = old
            .checks
            .iter()
            .map(|check| check.id.as_str())
            .zip(std::mem::take(&mut self.runtime))
            .collect();
        self.runtime = new
            .checks
            .iter()
            .map(|check| {
                kept.remove(check.id.as_str())
                    .unwrap_or_else(|| CheckRuntime {
                        state: CheckState::new(now),
                        minute: None,
                        blind: false,
                        recent: RecentResults::default(),
                        metrics: metrics.checks.for_check(check),
                    })
            })
            .collect();
        let new_index = |index: usize| {
            let id = &old.checks.get(index)?.id;
            new.checks.iter().position(|check| &check.id == id)
        };
        self.open_minutes = std::mem::take(&mut self.open_minutes)
            .into_iter()
            .filter_map(|((index, minute), rollup)| Some(((new_index(index)?, minute), rollup)))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_the_latency_a_result_states_is_taken_off_its_reason() {
        assert_eq!(
            strip_latency("status 200 in 3 ms", 3_000),
            Some("status 200")
        );
        assert_eq!(
            strip_latency("status 200 in 3 ms", 2_600),
            Some("status 200")
        );
        assert_eq!(strip_latency("connected in 850 µs", 850), Some("connected"));
        assert_eq!(
            strip_latency("status 204 in 1.25 s", 1_250_000),
            Some("status 204")
        );
        // Another latency, a text that only looks alike, or none at all: kept whole.
        assert_eq!(strip_latency("status 200 in 3 ms", 4_000), None);
        assert_eq!(strip_latency("status 200 in 3 msx", 3_000), None);
        assert_eq!(strip_latency("status 200 in 3 m", 3_000), None);
        assert_eq!(strip_latency("slow: 3 ms > 2 ms", 3_000), None);
        assert_eq!(strip_latency("status 503 (expected 2xx)", 3_000), None);
        // Only the last ` in `: a stem that says ` in ` itself keeps it.
        assert_eq!(
            strip_latency("found in body in 3 ms", 3_000),
            Some("found in body")
        );
    }

    fn healthy(reason: &str, latency_micros: u64) -> ProbeResult {
        ProbeResult::new(
            Outcome::Healthy,
            reason,
            Duration::from_micros(latency_micros),
        )
    }

    /// The results of `results`, kept in this order (the last is the newest).
    fn kept(results: impl IntoIterator<Item = (Timestamp, ProbeResult)>) -> RecentResults {
        let mut recent = RecentResults::default();
        for (at, result) in results {
            recent.push(at, &result);
        }
        recent
    }

    #[test]
    fn a_kept_result_shows_the_reason_the_probe_gave() {
        let at = Timestamp::UNIX_EPOCH;
        for (reason, micros) in [
            ("status 200 in 3 ms", 2_900),
            ("status 200 in 870 µs", 870),
            ("status 204 in 1.50 s", 1_500_000),
            ("slow: 3 ms > 1 ms", 3_000),
            ("status 200 in 4 ms", 2_900),
            ("", 0),
        ] {
            let recent = kept([(at, healthy(reason, micros))]);
            assert_eq!(recent.view(0).unwrap().reason, reason);
            assert_eq!(recent.last_reason(), reason);
        }
    }

    #[test]
    fn a_kept_result_keeps_its_warning_and_certificate_expiry_and_time() {
        let at = Timestamp::from_microsecond(1_800_000_000_123_456).unwrap();
        let expires = Timestamp::from_second(1_800_500_000).unwrap();
        let mut result = healthy("status 200 in 3 ms", 3_000);
        result.warning = Some("TLS: certificate expires soon".into());
        result.cert_not_after = Some(expires);
        let mut recent = kept([(at, result.clone()), (at, result)]);
        assert_eq!(recent.texts.len(), 1);
        let view = recent.view(0).unwrap();
        assert_eq!(view.at, at);
        assert_eq!(
            view.warning.as_deref(),
            Some("TLS: certificate expires soon")
        );
        assert_eq!(view.cert_not_after, Some(expires));
        recent.push(at, &healthy("status 200 in 3 ms", 3_000));
        let plain = recent.view(0).unwrap();
        assert_eq!(plain.warning, None);
        assert_eq!(plain.cert_not_after, None);
        assert_eq!(
            recent.view(1).unwrap().warning.as_deref(),
            Some("TLS: certificate expires soon")
        );
    }

    #[test]
    fn healthy_results_that_differ_only_in_latency_share_one_reason() {
        let at = Timestamp::UNIX_EPOCH;
        let mut recent = kept([
            (at, healthy("status 200 in 3 ms", 3_100)),
            (at, healthy("status 200 in 12 ms", 12_000)),
        ]);
        assert_eq!(recent.texts.len(), 1);
        assert_eq!(recent.view(0).unwrap().reason, "status 200 in 12 ms");
        recent.push(at, &healthy("status 503 in 2 ms", 2_000));
        assert_eq!(recent.texts.len(), 2);
        assert_eq!(recent.view(0).unwrap().reason, "status 503 in 2 ms");
        assert_eq!(recent.view(1).unwrap().reason, "status 200 in 12 ms");
        assert_eq!(recent.view(2).unwrap().reason, "status 200 in 3 ms");
    }

    #[test]
    fn a_check_alternating_between_two_reasons_keeps_two_texts() {
        let at = Timestamp::UNIX_EPOCH;
        let recent = kept((0..100).map(|probe| {
            let reason = if probe % 2 == 0 {
                "status 200 in 3 ms"
            } else {
                "status 503 (expected 2xx) in 3 ms"
            };
            (at, healthy(reason, 3_000))
        }));
        assert_eq!(recent.texts.len(), 2);
        let reasons: Vec<String> = recent.views().into_iter().map(|view| view.reason).collect();
        assert_eq!(reasons.len(), RECENT_RESULTS);
        assert_eq!(reasons[0], "status 503 (expected 2xx) in 3 ms");
        assert_eq!(reasons[1], "status 200 in 3 ms");
        assert_eq!(reasons[28], "status 503 (expected 2xx) in 3 ms");
    }

    /// The `probe`th result of a metric check whose reason changes with every probe: every third
    /// has no value, every fifth a NaN, every seventh a warning and a certificate expiry.
    fn metric_result(probe: i64) -> (Timestamp, ProbeResult) {
        let at = Timestamp::from_microsecond(1_800_000_000_000_000 + probe * 1_000_001).unwrap();
        let outcome = if probe % 4 == 0 {
            Outcome::Failing
        } else {
            Outcome::Healthy
        };
        let mut result = ProbeResult::new(
            outcome,
            format!("value {probe} > 0.05"),
            Duration::from_micros(100 + probe as u64),
        );
        result.value = match probe {
            _ if probe % 3 == 0 => None,
            _ if probe % 5 == 0 => Some(f64::NAN),
            _ => Some(probe as f64 / 8.0),
        };
        if probe % 7 == 0 {
            result.warning = Some(format!("warning {probe}"));
            result.cert_not_after = Timestamp::from_second(1_900_000_000 + probe).ok();
        }
        (at, result)
    }

    #[test]
    fn a_metric_check_whose_reason_always_changes_keeps_its_last_results_exactly() {
        for count in [1, 2, 29, 30, 31, 95] {
            let recent = kept((0..count).map(metric_result));
            assert!(
                recent.texts.len() <= RECENT_RESULTS,
                "{}",
                recent.texts.len()
            );
            let views = recent.views();
            assert_eq!(views.len(), RECENT_RESULTS.min(count as usize));
            for (view, probe) in views.iter().zip((0..count).rev()) {
                let (at, result) = metric_result(probe);
                assert_eq!(view.at, at);
                assert_eq!(view.outcome, result.outcome);
                assert_eq!(view.reason, result.reason);
                assert_eq!(view.latency_ms, (100 + probe) as f64 / 1000.0);
                match (view.value, result.value) {
                    (Some(kept), Some(given)) if given.is_nan() => assert!(kept.is_nan()),
                    (kept, given) => assert_eq!(kept, given, "probe {probe}"),
                }
                assert_eq!(view.warning, result.warning);
                assert_eq!(view.cert_not_after, result.cert_not_after);
            }
            let newest = metric_result(count - 1).1;
            assert_eq!(recent.last_reason(), newest.reason);
            assert_eq!(
                recent.value(0).map(f64::to_bits),
                newest.value.map(f64::to_bits)
            );
        }
    }

    #[test]
    fn a_check_without_values_keeps_no_ring_of_values() {
        let at = Timestamp::UNIX_EPOCH;
        let recent = kept((0..40).map(|_| (at, healthy("status 200 in 3 ms", 3_000))));
        assert!(recent.values.is_none());
        assert_eq!(recent.entries.capacity(), RECENT_RESULTS);
        assert_eq!(recent.view(0).unwrap().value, None);
    }
}
