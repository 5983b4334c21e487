//! Alerts opening and resolving: from check health (with their log entries and the
//! notifications to everyone told), and golive's own warnings about unreachable metrics sources.

use std::sync::Arc;

use jiff::Timestamp;

use super::*;
use crate::core::alert::Alert;
use crate::core::health::{Health, HealthChange};
use crate::core::log::LogData;
use crate::core::log::data::{AlertEvent, AlertLog};
use crate::core::log::{LogKind, NewEntry};
use crate::core::message::{BlindCheck, GoliveBody, WarningBody};
use crate::engine::{Engine, block};
use crate::error_chain::error_chain;
use crate::notify::OutboxKind;
use crate::plan::alerting::Recipient;
use crate::plan::recipients::{Addressee, addressees_by_key, resolve_recipients};
use crate::report::alert_message::MessageKind;
use crate::report::notice;
use crate::store::StoreError;
use crate::store::alerts::NewOutboxRow;

/// What opening one alert came to in the store.
enum Opened {
    /// Inserted now, with this id.
    New(i64),
    /// Open in the store already (an earlier attempt committed, its answer lost): as stored.
    Stored(Box<Alert>),
}

impl Engine {
    /// Brings the alerts of the changed checks in line with their health (see
    /// [`Engine::reconcile_alerts`]).
    pub(in crate::engine) fn alerts_on_health(&mut self, changes: &[(usize, HealthChange)]) {
        let mut indices: Vec<usize> = changes.iter().map(|(index, _)| *index).collect();
        indices.sort_unstable();
        indices.dedup();
        self.reconcile_alerts(&indices);
    }

    /// Level-triggered alerting: a check that is failing (and runs in this phase) has an open
    /// alert; a check that is healthy, or no longer runs, has none. Comparing states rather than
    /// reacting to edges means several changes of one check in a batch, or a store error on the
    /// way, can never leave a failing check without an alert or an alert for a healthy one: the
    /// next pass (every housekeeping tick) repairs it. All opens and resolves of a pass are one
    /// transaction each (a storm of a thousand failures is one commit, not a thousand).
    pub(in crate::engine) fn reconcile_alerts(&mut self, indices: &[usize]) {
        let all: Vec<usize>;
        let indices = match self.resync_alerts() {
            // What the store holds is not known: a later pass decides.
            Err(_) => return,
            // Memory holds what the store does again: every check, not only the changed ones.
            Ok(true) => {
                all = (0..self.plan.checks.len()).collect();
                &all
            }
            Ok(false) => indices,
        };
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        let mut opened: Vec<Alert> = Vec::new();
        let mut resolved: Vec<(i64, Option<String>)> = Vec::new();
        for index in indices.iter().copied() {
            let Some(check) = plan.checks.get(index) else {
                continue;
            };
            let key = format!("check:{}", check.id);
            let health = self.checks.health(index);
            let runs = check.runs_in(self.state.phase);
            match (runs, health, self.alerts.by_key(&key)) {
                (true, Health::Failing, None) => {
                    let reason = self.checks.last_reason(index);
                    let policy = plan
                        .alerting
                        .severity_policies
                        .get(&check.severity)
                        .cloned();
                    opened.push(Alert::open(
                        0,
                        key,
                        check.name.clone(),
                        check.severity,
                        policy,
                        reason,
                        now,
                    ));
                }
                (true, Health::Failing, Some(id)) => {
                    let reason = self.checks.last_reason(index);
                    if let Some(alert) = self.alerts.open.get_mut(&id)
                        && alert.reason != reason
                    {
                        alert.reason = reason;
                        self.alerts.changed = true;
                    }
                }
                (true, Health::Healthy, Some(id)) => resolved.push((id, None)),
                (false, _, Some(id)) => resolved.push((
                    id,
                    Some(format!(
                        "the check no longer runs in phase {}",
                        self.state.phase
                    )),
                )),
                _ => {}
            }
        }
        if !opened.is_empty()
            && let Err(error) = self.open_alerts(opened, now)
        {
            self.store_trouble(&error);
            tracing::error!(error = %error_chain(&error), "could not open alerts; will retry");
        }
        if !resolved.is_empty()
            && let Err(error) = self.resolve_alerts(&resolved, now)
        {
            self.store_trouble(&error);
            tracing::error!(error = %error_chain(&error), "could not resolve alerts; will retry");
        }
        self.update_alert_metrics();
        self.process_due_alerts();
    }

    /// golive's own trouble: checks whose state can no longer be told (an unreachable metrics
    /// source) are not failures and page nobody, but the ops lead hears about it through every
    /// channel, once per change, in one message per batch.
    pub(in crate::engine) fn own_warning(
        &mut self,
        blind: &[(String, String)],
        seeing: &[String],
        now: Timestamp,
    ) {
        let plan = Arc::clone(&self.plan);
        let mut text = String::new();
        if !blind.is_empty() {
            text.push_str("golive can no longer tell the state of these checks (they are unknown, not failing, so nobody is paged for them):\n");
            for (id, reason) in blind {
                text.push_str(&format!("- {id}: {reason}\n"));
            }
        }
        if !seeing.is_empty() {
            text.push_str(&format!(
                "golive can tell the state of these checks again: {}\n",
                seeing.join(", ")
            ));
        }
        let subject = format!(
            "[WARNING] {}: golive {}",
            plan.launch.name,
            if blind.is_empty() {
                "sees its checks again".to_string()
            } else {
                format!("cannot tell the state of {} check(s)", blind.len())
            }
        );
        let ops: Vec<Addressee> =
            resolve_recipients(&plan, &[Recipient::Role(crate::domain::Role::OpsLead)]);
        let notice = notice::Notice::plain(
            subject,
            text.clone(),
            GoliveBody::Warning(WarningBody::Blind {
                launch: plan.launch.name.clone(),
                unknown: blind
                    .iter()
                    .map(|(check, reason)| BlindCheck {
                        check: check.clone(),
                        reason: reason.clone(),
                    })
                    .collect(),
                recovered: seeing.to_vec(),
            }),
        );
        let rows = outbox_rows(
            notice::through_channels(
                &plan,
                &self.message_ids,
                &notice::mailboxes(&ops),
                &notice,
                "golive-warning",
            ),
            OutboxKind::Warning,
            None,
            now,
        );
        let entry = NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Alert,
            text: format!("golive warning: {}", text.trim_end().replace('\n', " ")),
            data: LogData::Alert(AlertLog::Event(AlertEvent::GoliveWarning {
                unknown: blind.iter().map(|(id, _)| id.clone()).collect(),
                recovered: seeing.to_vec(),
            })),
        };
        let written = block(|| {
            self.store.write(|write| {
                enqueue_all(write, &rows)?;
                write.log(&entry)?;
                Ok(())
            })
        });
        match written {
            Ok(()) if !rows.is_empty() => self.wake_dispatcher(),
            Ok(()) => {}
            Err(error) => {
                self.store_trouble(&error);
                tracing::error!(error = %error_chain(&error), "could not record golive's own warning");
            }
        }
    }

    /// Opens `alerts` (one transaction). Idempotent by key: an alert the store holds open already
    /// — an earlier attempt committed, but its answer was lost, so the engine did not learn of
    /// it — is taken as the store holds it instead of being opened a second time, so a retry (the
    /// next reconciliation, Alertmanager sending again) brings the engine, its snapshot and the
    /// gate in line with the store.
    pub(super) fn open_alerts(
        &mut self,
        alerts: Vec<Alert>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let timezone = self.plan.launch.timezone.clone();
        let prepared: Vec<(Alert, Option<(Timestamp, String)>)> = alerts
            .into_iter()
            .map(|alert| {
                let silenced = self
                    .silence_for(&alert, now)
                    .map(|(end, silence)| (end, silence.id.clone()));
                (alert, silenced)
            })
            .collect();
        let written = block(|| {
            self.store.write(|write| {
                let mut opened = Vec::with_capacity(prepared.len());
                for (alert, silenced) in &prepared {
                    if let Some(stored) = write.open_alert_with_key(&alert.key)? {
                        opened.push(Opened::Stored(Box::new(stored)));
                        continue;
                    }
                    let id = write.insert_alert(alert)?;
                    let note = match (&alert.policy, silenced) {
                        (None, _) => {
                            " — no escalation policy for this severity: nobody is notified"
                                .to_string()
                        }
                        (Some(_), Some((end, silence))) => format!(
                            " — notifications held back by silence `{silence}` until {}",
                            crate::human::time(*end, &timezone)
                        ),
                        _ => String::new(),
                    };
                    write.log(&NewEntry {
                        at: now,
                        author: "golive".into(),
                        kind: LogKind::Alert,
                        text: format!(
                            "#{id} Alert opened: {} ({}) — {}{note}",
                            alert.title, alert.severity, alert.reason
                        ),
                        data: LogData::Alert(AlertLog::Event(AlertEvent::Opened {
                            alert: id,
                            key: alert.key.clone(),
                            severity: Some(alert.severity),
                            reason: Some(alert.reason.clone()),
                            silenced_by: silenced.as_ref().map(|(_, id)| id.clone()),
                        })),
                    })?;
                    opened.push(Opened::New(id));
                }
                Ok(opened)
            })
        });
        let outcomes = self.alert_written(written)?;
        for ((alert, silenced), outcome) in prepared.into_iter().zip(outcomes) {
            let alert = match outcome {
                Opened::New(id) => Alert { id, ..alert },
                Opened::Stored(stored) => {
                    tracing::warn!(alert = stored.id, key = %stored.key, "an alert opened by an earlier attempt whose answer was lost is taken as stored");
                    *stored
                }
            };
            let id = alert.id;
            if let Some((end, _)) = silenced {
                self.alerts.suppressed.insert(id, end);
            }
            tracing::warn!(alert = id, key = %alert.key, severity = %alert.severity, "alert opened");
            self.metrics
                .alerts_opened
                .with_label_values(&[alert.severity.as_str()])
                .inc();
            self.alerts.insert(alert);
            self.rollback_criteria_hold(id);
        }
        Ok(())
    }

    pub(super) fn resolve_alerts(
        &mut self,
        ids: &[(i64, Option<String>)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let resolved = self.prepare_resolutions(ids, now);
        let written = block(|| {
            self.store
                .write(|write| write_resolutions(write, &resolved, now))
        });
        self.alert_written(written)?;
        self.after_resolutions(&resolved);
        Ok(())
    }

    /// The resolutions of open alerts `ids` (with why, when not by health): each alert closed,
    /// the notices to everyone told and its log entry, not yet written.
    pub(in crate::engine) fn prepare_resolutions(
        &mut self,
        ids: &[(i64, Option<String>)],
        now: Timestamp,
    ) -> Vec<Resolution> {
        let mut resolved: Vec<Resolution> = Vec::new();
        for (id, why) in ids {
            let Some(mut alert) = self.alerts.open.get(id).cloned() else {
                continue;
            };
            if let Some(why) = why {
                alert.reason = format!("{} (closed: {why})", alert.reason);
            }
            alert.resolved_at = Some(now);
            let told = addressees_by_key(&self.plan, &alert.notified);
            let channels = self.channels_used(&alert);
            let rows = self.alert_message_rows(
                &alert,
                MessageKind::Resolved,
                alert.level,
                &told,
                &channels,
                now,
                &[],
            );
            let duration = now.duration_since(alert.opened_at).as_secs();
            let entry = NewEntry {
                at: now,
                author: "golive".into(),
                kind: LogKind::Alert,
                text: format!(
                    "#{id} Alert resolved: {} after {}{}",
                    alert.title,
                    crate::human::elapsed(alert.opened_at, now),
                    if told.is_empty() {
                        String::new()
                    } else {
                        format!("; telling {}", names_or_nobody(&told))
                    }
                ),
                data: LogData::Alert(AlertLog::Event(AlertEvent::Resolved {
                    alert: *id,
                    duration_seconds: duration,
                    told: told.iter().map(|a| a.key.clone()).collect(),
                })),
            };
            resolved.push((alert, rows, entry));
        }
        resolved
    }

    /// Forgets resolutions once their transaction committed, and wakes the dispatcher.
    pub(in crate::engine) fn after_resolutions(&mut self, resolved: &[Resolution]) {
        for (alert, rows, _) in resolved {
            tracing::info!(alert = alert.id, "alert resolved");
            self.alerts.remove(alert.id);
            if !rows.is_empty() {
                self.wake_dispatcher();
            }
        }
    }
}

/// A resolved alert with its outbox rows and log entry.
pub(in crate::engine) type Resolution = (Alert, Vec<NewOutboxRow>, NewEntry);

/// Writes prepared resolutions inside a transaction the caller holds.
pub(in crate::engine) fn write_resolutions(
    write: &mut crate::store::alerts::Write<'_>,
    resolved: &[Resolution],
    now: Timestamp,
) -> Result<(), StoreError> {
    for (alert, rows, entry) in resolved {
        write.release_held(alert.id, now)?;
        write.update_alert(alert)?;
        enqueue_all(write, rows)?;
        write.log(entry)?;
    }
    Ok(())
}
