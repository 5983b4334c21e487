//! The engine's side of alerting: opening and resolving alerts from check health, escalating on
//! time, acknowledgements, silences, and writing every notification to the outbox in the same
//! transaction as the alert change that caused it.
//!
//! By what it does: [`lifecycle`] (open and resolve), [`escalation`], [`acknowledgement`],
//! [`silences`], [`intake`] (from Alertmanager), [`rollback`], and [`messages`] (the outbox rows
//! each change writes).

mod acknowledgement;
mod escalation;
mod intake;
mod lifecycle;
pub(in crate::engine) use lifecycle::write_resolutions;
mod messages;
mod rollback;
mod silences;

pub use acknowledgement::{AckLinkView, AckOutcome};
pub use intake::{ExternalAlert, IntakeOutcome};
pub(crate) use rollback::{RollbackRecommendation, rollback_recommendation_rows};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;

use crate::clock::instant_after;
use crate::core::alert::{self, Alert, Silence};
use crate::engine::{Engine, block};
use crate::plan::Plan;
use crate::plan::alerting::EscalationPolicy;
pub(crate) use crate::plan::recipients::{Addressee, resolve_recipients};
use crate::store::StoreError;
use crate::store::alerts::{NewOutboxRow, Write};

/// Open alerts and what escalation needs in memory.
pub(super) struct Alerts {
    pub(super) open: BTreeMap<i64, Alert>,
    /// Open alert id by key (`check:<id>`, ...).
    keys: HashMap<String, i64>,
    silences: Vec<Silence>,
    /// Per burst base (channel, recipient, kind, and level for pages): the first notification's
    /// time in the current group window and how many notifications the burst has so far.
    group_firsts: HashMap<String, (Timestamp, usize)>,
    /// Alerts whose held-back notifications were logged, with the silence end.
    suppressed: HashMap<i64, Timestamp>,
    /// The key that signs acknowledgement links.
    pub(super) ack_key: Vec<u8>,
    /// Where people reach the daemon, for acknowledgement links.
    public_url: String,
    /// After a failed escalation write: no new attempt before this (so a failing disk does not
    /// make the engine spin), doubling up to 30 s.
    retry_after: Option<(Timestamp, u32)>,
    /// When each open alert was last forwarded to Alertmanager (in memory: after a restart every
    /// forwarded alert is sent again once, which Alertmanager takes as a refresh).
    forwarded: HashMap<i64, Timestamp>,
    /// A metric check's value when its alert's first page was written, by alert key (in memory:
    /// after a restart the messages say only the value now).
    opening_values: HashMap<String, f64>,
    /// The worst value of a metric check while its alert is open (the highest for `>`/`>=`
    /// thresholds, the lowest for `<`/`<=`), by alert key; in memory like `opening_values`.
    worst_values: HashMap<String, f64>,
    /// The open alerts as last published (newest first), and whether `open` changed since: the
    /// engine publishes them in its snapshot ([`Alerts::published`]).
    published: Arc<Vec<Alert>>,
    pub(super) changed: bool,
    /// An alert write failed, so what the store holds is not known: the error may have come
    /// after the commit (PostgreSQL's answer to `COMMIT` lost with its connection). The open
    /// alerts are read again before the next alert decision ([`Engine::resync_alerts`]).
    unsure: bool,
    /// After the reading of [`Alerts::unsure`] failed: no new read before then (kept apart from
    /// `retry_after`, so a failed escalation never delays the read a decision needs).
    resync_after: Option<Timestamp>,
    /// Test hook only (`POST /api/v1/test/lose-alert-commit-answers`): every alert write that
    /// commits reports an error all the same, as when the database's answer is lost.
    pub(super) lose_commit_answers: bool,
}

/// How long after a failed read of the open alerts ([`Engine::resync_alerts`]) it is tried again:
/// each try may wait for an unreachable database, so not at every turn of the engine.
const RESYNC_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// How often an open alert forwarded to Alertmanager is sent again. Each forward says the alert
/// ends a day later, so Alertmanager keeps it firing as long as golive keeps it open and is up.
const FORWARD_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

impl Alerts {
    pub(super) fn new(
        open: Vec<Alert>,
        plan: &Plan,
        runtime_silences: Vec<Silence>,
        ack_key: Vec<u8>,
        public_url: String,
    ) -> Self {
        let mut silences: Vec<Silence> = plan
            .alerting
            .silences
            .iter()
            .map(|silence| Silence::from_plan(silence, &plan.launch.timezone))
            .collect();
        silences.extend(runtime_silences);
        Alerts {
            keys: open
                .iter()
                .map(|alert| (alert.key.clone(), alert.id))
                .collect(),
            open: open.into_iter().map(|alert| (alert.id, alert)).collect(),
            silences,
            group_firsts: HashMap::new(),
            suppressed: HashMap::new(),
            ack_key,
            public_url,
            retry_after: None,
            forwarded: HashMap::new(),
            opening_values: HashMap::new(),
            worst_values: HashMap::new(),
            published: Arc::default(),
            changed: true,
            unsure: false,
            resync_after: None,
            lose_commit_answers: false,
        }
    }

    /// The open alerts, newest first, for the engine's snapshot: made anew only after a change.
    pub(in crate::engine) fn published(&mut self) -> Arc<Vec<Alert>> {
        if std::mem::take(&mut self.changed) {
            self.published = Arc::new(self.open.values().rev().cloned().collect());
        }
        self.published.clone()
    }

    /// Keeps the worst value of check `check_id` while it has an open alert (called for every
    /// probe result with a value, so it does nothing while no alert is open).
    pub(in crate::engine) fn note_value(
        &mut self,
        check_id: &str,
        threshold: Option<crate::plan::checks::Threshold>,
        value: f64,
    ) {
        use crate::plan::checks::CompareOp;
        if self.open.is_empty() || !value.is_finite() {
            return;
        }
        let Some(threshold) = threshold else {
            return;
        };
        let key = format!("check:{check_id}");
        if !self.keys.contains_key(&key) {
            return;
        }
        let worse = |known: f64| match threshold.op {
            CompareOp::Gt | CompareOp::Ge => value > known,
            CompareOp::Lt | CompareOp::Le => value < known,
            CompareOp::Eq | CompareOp::Ne => false,
        };
        match self.worst_values.get_mut(&key) {
            Some(known) if worse(*known) => *known = value,
            Some(_) => {}
            None => {
                self.worst_values.insert(key, value);
            }
        }
    }

    fn by_key(&self, key: &str) -> Option<i64> {
        self.keys.get(key).copied()
    }

    fn insert(&mut self, alert: Alert) {
        self.changed = true;
        self.keys.insert(alert.key.clone(), alert.id);
        self.open.insert(alert.id, alert);
    }

    fn remove(&mut self, id: i64) {
        if let Some(alert) = self.open.remove(&id) {
            self.changed = true;
            self.keys.remove(&alert.key);
            self.opening_values.remove(&alert.key);
            self.worst_values.remove(&alert.key);
        }
        self.suppressed.remove(&id);
    }

    /// After a failed escalation write: no new attempt before a wait that doubles with each
    /// failure in a row (2 s up to 30 s), so a failing store does not make the engine spin.
    fn back_off(&mut self, now: Timestamp) {
        let failures = self.retry_after.map_or(0, |(_, failures)| failures) + 1;
        let wait = jiff::SignedDuration::from_secs((1i64 << failures.min(5)).min(30));
        self.retry_after = Some((now.checked_add(wait).unwrap_or(now), failures));
    }

    pub(super) fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// The open alert with `key` (`check:<id>`, ...).
    pub(in crate::engine) fn open_by_key(&self, key: &str) -> Option<i64> {
        self.by_key(key)
    }

    /// Swaps the plan's silences (`[[silences]]`) for `new`'s, keeping those set at run time.
    pub(in crate::engine) fn replace_plan_silences(&mut self, old: &Plan, new: &Plan) {
        self.silences.retain(|silence| {
            !old.alerting
                .silences
                .iter()
                .any(|planned| planned.id == silence.id)
        });
        self.silences.extend(
            new.alerting
                .silences
                .iter()
                .map(|silence| Silence::from_plan(silence, &new.launch.timezone)),
        );
    }
}

/// Outbox rows of `kind` for payloads by channel, due at once and grouped with nothing.
pub(crate) fn outbox_rows(
    payloads: Vec<(String, crate::notify::OutboxPayload)>,
    kind: crate::notify::OutboxKind,
    alert_id: Option<i64>,
    now: Timestamp,
) -> Vec<NewOutboxRow> {
    payloads
        .into_iter()
        .map(|(channel, payload)| NewOutboxRow {
            created_at: now,
            not_before: now,
            channel,
            kind,
            alert_id,
            group_key: None,
            payload,
        })
        .collect()
}

pub(crate) fn enqueue_all(write: &mut Write<'_>, rows: &[NewOutboxRow]) -> Result<(), StoreError> {
    for row in rows {
        write.enqueue(row)?;
    }
    Ok(())
}

/// The addressees' names for a log line, `Alice Adler, Bob Berg`, or `nobody`.
pub(crate) fn names_or_nobody(addressees: &[Addressee]) -> String {
    if addressees.is_empty() {
        return "nobody".to_string();
    }
    addressees
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Engine {
    /// The channels an alert was notified through so far (the levels it reached).
    pub(super) fn channels_used(&self, alert: &Alert) -> Vec<String> {
        let Some(policy) = self.policy(alert) else {
            return Vec::new();
        };
        let mut channels: Vec<String> = Vec::new();
        for level in policy.levels.iter().take(alert.level.max(1)) {
            for channel in &level.channels {
                if !channels.contains(channel) {
                    channels.push(channel.clone());
                }
            }
        }
        if alert.level == 0 {
            channels.clear();
        }
        channels
    }

    pub(super) fn policy(&self, alert: &Alert) -> Option<&EscalationPolicy> {
        let id = alert.policy.as_ref()?;
        self.plan
            .alerting
            .policies
            .iter()
            .find(|policy| &policy.id == id)
    }

    pub(super) fn silence_for(
        &self,
        alert: &Alert,
        now: Timestamp,
    ) -> Option<(Timestamp, &Silence)> {
        alert::silenced_until(
            self.alerts.silences.iter(),
            alert.check_id(),
            alert.severity,
            now,
        )
    }

    pub(super) fn public_url(&self) -> String {
        self.alerts.public_url.clone()
    }

    pub(in crate::engine) fn update_alert_metrics(&self) {
        let now = self.clock.now();
        let mut counts: HashMap<(&str, &str), i64> = HashMap::new();
        for alert in self.alerts.open.values() {
            let state = if alert.is_acknowledged(now) {
                "acknowledged"
            } else {
                "open"
            };
            *counts.entry((state, alert.severity.as_str())).or_default() += 1;
        }
        for state in ["open", "acknowledged"] {
            for severity in ["info", "warning", "critical"] {
                let count = counts.get(&(state, severity)).copied().unwrap_or(0);
                self.metrics
                    .alerts
                    .with_label_values(&[state, severity])
                    .set(count as f64);
            }
        }
        let levels: HashMap<&str, usize> = self
            .alerts
            .open
            .values()
            .filter_map(|alert| alert.check_id().map(|check| (check, alert.level)))
            .collect();
        for (index, check) in self.plan.checks.iter().enumerate() {
            let level = levels.get(check.id.as_str()).copied().unwrap_or(0);
            if let Some(series) = self.checks.series(index) {
                series.escalation_level.set(level as f64);
            }
        }
    }

    /// The outcome of a write that changed alerts, as the engine must take it: after an error
    /// the store may hold the change all the same (see [`Alerts::unsure`]), so the open alerts
    /// are read again before the next decision. With the test hook on, a committed write
    /// reports an error, as a lost answer to `COMMIT` would.
    pub(super) fn alert_written<T>(
        &mut self,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = match result {
            Ok(_) if self.alerts.lose_commit_answers => Err(StoreError::ConnectionLost(
                "its answer to COMMIT was lost (test hook lose-alert-commit-answers)".into(),
            )),
            other => other,
        };
        if result.is_err() {
            self.alerts.unsure = true;
        }
        result
    }

    /// After an alert write whose outcome is unknown, takes the open alerts as the store holds
    /// them, as a restart would: an alert a lost commit opened is adopted (so it is resolved
    /// when its check recovers, and escalated until then), one a lost commit resolved is
    /// forgotten (so it is not resolved, nor escalated, a second time), and one a lost commit
    /// escalated or acknowledged is taken at its stored level. Nothing while every write
    /// answered (`Ok(false)`); `Ok(true)` after a read. An error while what the store holds is
    /// not known (the read failed, or failed less than [`RESYNC_RETRY`] ago): the caller then
    /// decides nothing about alerts — a decision on what memory holds could resolve an alert a
    /// second time or reopen a resolved one — and a later pass tries again.
    pub(in crate::engine) fn resync_alerts(&mut self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        if !self.alerts.unsure {
            return Ok(false);
        }
        if self.alerts.resync_after.is_some_and(|until| now < until) {
            return Err(StoreError::ConnectionLost(
                "the open alerts could not be read after a failed alert write; trying again".into(),
            ));
        }
        let stored = match block(|| self.store.open_alerts()) {
            Ok(stored) => stored,
            Err(error) => {
                self.alerts.resync_after = Some(instant_after(now, RESYNC_RETRY));
                tracing::warn!(error = %crate::error_chain::error_chain(&error), "cannot read the open alerts after a failed alert write; alert decisions wait");
                return Err(error);
            }
        };
        self.alerts.unsure = false;
        self.alerts.resync_after = None;
        let stored_ids: std::collections::HashSet<i64> =
            stored.iter().map(|alert| alert.id).collect();
        let gone: Vec<i64> = (self.alerts.open.keys())
            .filter(|id| !stored_ids.contains(id))
            .copied()
            .collect();
        for id in gone {
            tracing::warn!(
                alert = id,
                "the store holds this alert resolved (a write whose answer was lost committed): forgotten"
            );
            self.alerts.remove(id);
        }
        let mut adopted = Vec::new();
        for alert in stored {
            let id = alert.id;
            match self.alerts.open.get(&id) {
                Some(known) if *known == alert => {}
                Some(known) => {
                    // The reason kept in memory follows the check; the store keeps the opening one.
                    let reason = known.reason.clone();
                    self.alerts.insert(Alert { reason, ..alert });
                }
                None => {
                    tracing::warn!(alert = id, key = %alert.key, "the store holds this alert open (a write whose answer was lost committed): adopted");
                    self.metrics
                        .alerts_opened
                        .with_label_values(&[alert.severity.as_str()])
                        .inc();
                    self.alerts.insert(alert);
                    adopted.push(id);
                }
            }
        }
        // Only once memory is whole: a rollback they call for changes the phase and reconciles.
        for id in adopted {
            self.rollback_criteria_hold(id);
        }
        Ok(true)
    }

    pub(super) fn wake_dispatcher(&self) {
        self.outbox_written.notify_one();
    }
}
