//! The engine's side of alerting: opening and resolving alerts from check health, escalating on
//! time, acknowledgements, silences, and writing every notification to the outbox in the same
//! transaction as the alert change that caused it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{Engine, EngineError, block, error_chain};
use crate::ack_link::AckTarget;
use crate::core::alert::{self, Alert, Silence, Step, Window};
use crate::core::health::{Health, HealthChange};
use crate::core::log::{LogKind, NewEntry};
use crate::notify::{ForwardedAlert, OutboxKind, OutboxPayload, OutgoingEmail, WebhookMessage};
use crate::plan::Plan;
use crate::plan::alerting::{ChannelKind, EscalationPolicy, Recipient};
pub(crate) use crate::plan::recipients::{Addressee, addressees_by_key, resolve_recipients};
use crate::report::alert_group::{self, AckAll, GroupItem};
use crate::report::alert_message::{self, MessageContext, MessageKind};
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
}

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
        }
    }

    fn by_key(&self, key: &str) -> Option<i64> {
        self.keys.get(key).copied()
    }

    fn insert(&mut self, alert: Alert) {
        self.keys.insert(alert.key.clone(), alert.id);
        self.open.insert(alert.id, alert);
    }

    fn remove(&mut self, id: i64) {
        if let Some(alert) = self.open.remove(&id) {
            self.keys.remove(&alert.key);
        }
        self.suppressed.remove(&id);
    }

    pub(super) fn silences(&self) -> &[Silence] {
        &self.silences
    }
}

fn plus(at: Timestamp, duration: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|duration| at.checked_add(duration).ok())
        .unwrap_or(at)
}

impl Engine {
    /// Brings the alerts of the changed checks in line with their health (see
    /// [`Engine::reconcile_alerts`]).
    pub(super) fn alerts_on_health(&mut self, changes: &[(usize, HealthChange)]) {
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
    pub(super) fn reconcile_alerts(&mut self, indices: &[usize]) {
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
                    if let Some(alert) = self.alerts.open.get_mut(&id) {
                        alert.reason = reason;
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
    pub(super) fn own_warning(
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
        let mut rows = Vec::new();
        for channel in &plan.alerting.channels {
            let payload = match &channel.kind {
                ChannelKind::Email { .. } => {
                    let to: Vec<(Option<String>, String)> = ops
                        .iter()
                        .filter_map(|person| {
                            person
                                .email
                                .clone()
                                .map(|email| (Some(person.name.clone()), email))
                        })
                        .collect();
                    if to.is_empty() {
                        continue;
                    }
                    OutboxPayload::email(OutgoingEmail {
                        to,
                        subject: subject.clone(),
                        text: text.clone(),
                        html: None,
                        message_id: self.message_ids.fresh("golive-warning"),
                        in_reply_to: None,
                        references: Vec::new(),
                        inline_images: Vec::new(),
                    })
                }
                ChannelKind::Webhook(_) => OutboxPayload::webhook(WebhookMessage {
                    text: format!("*{subject}*\n{text}"),
                    json: json!({"kind": "warning", "launch": plan.launch.name, "unknown": blind.iter().map(|(id, reason)| json!({"check": id, "reason": reason})).collect::<Vec<_>>(), "recovered": seeing}),
                }),
                ChannelKind::Alertmanager { .. } => continue,
            };
            rows.push(NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: channel.id.clone(),
                kind: OutboxKind::Warning,
                alert_id: None,
                group_key: None,
                payload,
            });
        }
        let entry = NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Alert,
            text: format!("golive warning: {}", text.trim_end().replace('\n', " ")),
            data: json!({"event": "golive_warning", "unknown": blind.iter().map(|(id, _)| id).collect::<Vec<_>>(), "recovered": seeing}),
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

    fn open_alerts(&mut self, alerts: Vec<Alert>, now: Timestamp) -> Result<(), StoreError> {
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
        let ids = block(|| {
            self.store.write(|write| {
                let mut ids = Vec::with_capacity(prepared.len());
                for (alert, silenced) in &prepared {
                    let id = write.insert_alert(alert)?;
                    let note = match (&alert.policy, silenced) {
                        (None, _) => " — no escalation policy for this severity: nobody is notified".to_string(),
                        (Some(_), Some((end, silence))) => format!(
                            " — notifications held back by silence `{silence}` until {}",
                            crate::report::timeline::local(*end, &timezone)
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
                        data: json!({"alert": id, "event": "opened", "key": alert.key, "severity": alert.severity, "reason": alert.reason, "silenced_by": silenced.as_ref().map(|(_, id)| id)}),
                    })?;
                    ids.push(id);
                }
                Ok(ids)
            })
        })?;
        for ((mut alert, silenced), id) in prepared.into_iter().zip(ids) {
            alert.id = id;
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

    fn resolve_alerts(
        &mut self,
        ids: &[(i64, Option<String>)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut resolved: Vec<(Alert, Vec<NewOutboxRow>, NewEntry)> = Vec::new();
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
            let rows = self.messages(
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
                    "#{id} Alert resolved: {} after {}s{}",
                    alert.title,
                    duration,
                    if told.is_empty() {
                        String::new()
                    } else {
                        format!("; telling {}", names(&told))
                    }
                ),
                data: json!({"alert": id, "event": "resolved", "duration_seconds": duration, "told": told.iter().map(|a| &a.key).collect::<Vec<_>>()}),
            };
            resolved.push((alert, rows, entry));
        }
        block(|| {
            self.store.write(|write| {
                for (alert, rows, entry) in &resolved {
                    write.release_held(alert.id, now)?;
                    write.update_alert(alert)?;
                    enqueue_all(write, rows)?;
                    write.log(entry)?;
                }
                Ok(())
            })
        })?;
        for (alert, rows, _) in &resolved {
            tracing::info!(alert = alert.id, "alert resolved");
            self.alerts.remove(alert.id);
            if !rows.is_empty() {
                self.wake_dispatcher();
            }
        }
        Ok(())
    }

    /// The channels an alert was notified through so far (the levels it reached).
    fn channels_used(&self, alert: &Alert) -> Vec<String> {
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

    fn policy(&self, alert: &Alert) -> Option<&EscalationPolicy> {
        let id = alert.policy.as_ref()?;
        self.plan
            .alerting
            .policies
            .iter()
            .find(|policy| &policy.id == id)
    }

    fn silence_for(&self, alert: &Alert, now: Timestamp) -> Option<(Timestamp, &Silence)> {
        alert::silenced_until(
            self.alerts.silences.iter(),
            alert.check_id(),
            alert.severity,
            now,
        )
    }

    /// When the engine must wake for alerts next: the earliest step of an alert that is not
    /// silenced, or the end of the silence holding one back.
    pub(super) fn alert_deadline(&self) -> Option<Timestamp> {
        let now = self.clock.now();
        let not_before = self.alerts.retry_after.map(|(until, _)| until);
        self.alerts
            .open
            .values()
            .filter_map(|alert| {
                let step = alert::next_step(alert, self.policy(alert))?;
                match self.silence_for(alert, now.max(step.at())) {
                    Some((end, _)) => Some(end),
                    None => Some(step.at()),
                }
            })
            .min()
            .map(|due| not_before.map_or(due, |not_before| due.max(not_before)))
    }

    /// Carries out every escalation step that is due, each in its own transaction.
    pub(super) fn process_due_alerts(&mut self) {
        let now = self.clock.now();
        if self
            .alerts
            .retry_after
            .is_some_and(|(until, _)| now < until)
        {
            return;
        }
        let ids: Vec<i64> = self.alerts.open.keys().copied().collect();
        for id in ids {
            // Several steps may be due (levels missed while the daemon was down); each is sent once.
            for _ in 0..16 {
                let Some(alert) = self.alerts.open.get(&id) else {
                    break;
                };
                let Some(policy) = self.policy(alert).cloned() else {
                    break;
                };
                let Some(step) = alert::next_step(alert, Some(&policy)) else {
                    break;
                };
                if step.at() > now {
                    break;
                }
                if let Some((end, silence)) = self.silence_for(alert, now) {
                    if self.alerts.suppressed.get(&id) != Some(&end) {
                        let entry = NewEntry {
                            at: now,
                            author: "golive".into(),
                            kind: LogKind::Alert,
                            text: format!(
                                "#{id} Notifications for {} held back by silence `{}` ({}) until {}",
                                alert.title,
                                silence.id,
                                silence.comment,
                                crate::report::timeline::local(end, &self.plan.launch.timezone)
                            ),
                            data: json!({"alert": id, "event": "silenced", "silence": silence.id, "until": end}),
                        };
                        if block(|| self.store.append(&entry)).is_ok() {
                            self.alerts.suppressed.insert(id, end);
                        }
                    }
                    break;
                }
                if let Err(error) = self.carry_out(id, &policy, step, now) {
                    let failures = self.alerts.retry_after.map_or(0, |(_, failures)| failures) + 1;
                    let wait = SignedDuration::from_secs((1i64 << failures.min(5)).min(30));
                    self.alerts.retry_after =
                        Some((now.checked_add(wait).unwrap_or(now), failures));
                    self.store_trouble(&error);
                    tracing::error!(error = %error_chain(&error), alert = id, "could not escalate; will retry");
                    break;
                }
            }
        }
    }

    /// Forwards every open alert again that went to Alertmanager more than [`FORWARD_REFRESH`]
    /// ago (or not since golive started), through the Alertmanager channels of the levels it
    /// reached, so Alertmanager does not end it while it is open here.
    pub(super) fn refresh_forwarded_alerts(&mut self) {
        let now = self.clock.now();
        let open = &self.alerts.open;
        self.alerts.forwarded.retain(|id, _| open.contains_key(id));
        let due: Vec<Alert> = self
            .alerts
            .open
            .values()
            .filter(|alert| {
                self.alerts
                    .forwarded
                    .get(&alert.id)
                    .is_none_or(|at| now >= plus(*at, FORWARD_REFRESH))
            })
            .cloned()
            .collect();
        for alert in due {
            let Some(policy) = self.policy(&alert) else {
                continue;
            };
            let mut channels: Vec<String> = Vec::new();
            for level in policy.levels.iter().take(alert.level) {
                for channel in &level.channels {
                    let forwards = self.plan.alerting.channels.iter().any(|known| {
                        &known.id == channel
                            && matches!(known.kind, ChannelKind::Alertmanager { .. })
                    });
                    if forwards && !channels.contains(channel) {
                        channels.push(channel.clone());
                    }
                }
            }
            if channels.is_empty() {
                continue;
            }
            let rows = self.messages(
                &alert,
                MessageKind::Repeat,
                alert.level,
                &[],
                &channels,
                now,
                &[],
            );
            if let Err(error) = block(|| self.store.write(|write| enqueue_all(write, &rows))) {
                // Tried again at the next housekeeping.
                self.alerts.forwarded.remove(&alert.id);
                self.store_trouble(&error);
                tracing::error!(error = %error_chain(&error), alert = alert.id, "could not forward the alert to Alertmanager again");
                return;
            }
            self.wake_dispatcher();
        }
    }

    fn carry_out(
        &mut self,
        id: i64,
        policy: &EscalationPolicy,
        step: Step,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(mut alert) = self.alerts.open.get(&id).cloned() else {
            return Ok(());
        };
        let (kind, level_index) = match step {
            Step::Level { level: 0, .. } => (MessageKind::Opened, 0),
            Step::Level { level, .. } => (MessageKind::Escalated, level),
            Step::Repeat { level, .. } => (MessageKind::Repeat, level),
            Step::AckLapsed { .. } => (
                MessageKind::Reopened {
                    lapsed_by: alert
                        .acknowledged
                        .as_ref()
                        .map_or_else(String::new, |ack| ack.by.clone()),
                },
                alert
                    .level
                    .saturating_sub(1)
                    .min(policy.levels.len().saturating_sub(1)),
            ),
        };
        let Some(level) = policy.levels.get(level_index) else {
            return Ok(());
        };
        let recipients = resolve_recipients(&self.plan, &level.notify);
        let others: Vec<String> = addressees_by_key(&self.plan, &alert.notified)
            .into_iter()
            .filter(|known| !recipients.iter().any(|new| new.key == known.key))
            .map(|known| known.name)
            .collect();
        alert::apply_step(&mut alert, policy, step, now);
        let rows = self.messages(
            &alert,
            kind.clone(),
            level_index + 1,
            &recipients,
            &level.channels,
            now,
            &others,
        );
        for recipient in &recipients {
            alert.notified.insert(recipient.key.clone());
        }
        let text = format!(
            "#{id} {} — level {} ({}) via {}",
            match &kind {
                MessageKind::Opened => "Notified".to_string(),
                MessageKind::Escalated => "Escalated".to_string(),
                MessageKind::Repeat => "Reminded".to_string(),
                MessageKind::Reopened { lapsed_by } =>
                    format!("Acknowledgement by {lapsed_by} lapsed; re-notified"),
                _ => String::new(),
            },
            level_index + 1,
            names(&recipients),
            level.channels.join(", ")
        );
        block(|| {
            self.store.write(|write| {
                write.update_alert(&alert)?;
                enqueue_all(write, &rows)?;
                write.log(&NewEntry {
                    at: now,
                    author: "golive".into(),
                    kind: LogKind::Alert,
                    text,
                    data: json!({"alert": id, "event": kind.as_str(), "level": level_index + 1, "told": recipients.iter().map(|a| &a.key).collect::<Vec<_>>(), "channels": level.channels}),
                })?;
                Ok(())
            })
        })?;
        self.alerts.insert(alert);
        self.alerts.retry_after = None;
        self.update_alert_metrics();
        self.wake_dispatcher();
        Ok(())
    }

    /// Acknowledges an alert for `by`, tells everyone already notified, and stops escalation.
    /// An alert acknowledged already is answered as it is.
    pub(super) fn acknowledge_alert(
        &mut self,
        id: i64,
        by: &str,
        note: Option<String>,
        via: &str,
    ) -> Result<Alert, EngineError> {
        let outcome = self.acknowledge_alerts(&[id], by, note, via, None)?;
        outcome
            .acknowledged
            .into_iter()
            .chain(outcome.already_acknowledged)
            .next()
            .ok_or_else(|| EngineError::NotFound(format!("no open alert #{id}")))
    }

    /// Acknowledges several alerts for `by` in one transaction (each logged as its own
    /// acknowledgement, each telling everyone already notified; those messages group like any
    /// other burst). Ids that are not open are named in the outcome, not refused. `nonce` (of a
    /// one-click link) is used up in the same transaction, so a failed write leaves the link
    /// usable.
    pub(super) fn acknowledge_alerts(
        &mut self,
        ids: &[i64],
        by: &str,
        note: Option<String>,
        via: &str,
        nonce: Option<&str>,
    ) -> Result<AckOutcome, EngineError> {
        let now = self.clock.now();
        let mut outcome = AckOutcome::default();
        let mut prepared: Vec<PreparedAck> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in ids.iter().copied().filter(|id| seen.insert(*id)) {
            let Some(mut alert) = self.alerts.open.get(&id).cloned() else {
                outcome.not_open.push(id);
                continue;
            };
            let policy = self.policy(&alert).cloned();
            match alert::acknowledge(&mut alert, policy.as_ref(), by, now) {
                Err(_) => outcome.not_open.push(id),
                Ok(false) => outcome.already_acknowledged.push(alert),
                Ok(true) => prepared.push(self.prepare_acknowledgement(
                    alert,
                    by,
                    note.as_deref(),
                    via,
                    now,
                )),
            }
        }
        if prepared.is_empty() && nonce.is_none() {
            return Ok(outcome);
        }
        block(|| {
            self.store.write(|write| {
                if let Some(nonce) = nonce {
                    write.use_ack_nonce(nonce, now)?;
                }
                for ack in &prepared {
                    write.release_held(ack.alert.id, now)?;
                    write.update_alert(&ack.alert)?;
                    enqueue_all(write, &ack.rows)?;
                    write.log(&ack.entry)?;
                }
                Ok(())
            })
        })?;
        for ack in prepared {
            self.metrics.time_to_ack.observe(ack.seconds);
            self.alerts.insert(ack.alert.clone());
            outcome.acknowledged.push(ack.alert);
        }
        if !outcome.acknowledged.is_empty() {
            self.update_alert_metrics();
            self.wake_dispatcher();
        }
        Ok(outcome)
    }

    /// The notifications and the log entry of one acknowledgement (`alert` carries it already).
    fn prepare_acknowledgement(
        &mut self,
        alert: Alert,
        by: &str,
        note: Option<&str>,
        via: &str,
        now: Timestamp,
    ) -> PreparedAck {
        let id = alert.id;
        let told = addressees_by_key(&self.plan, &alert.notified);
        let channels = self.channels_used(&alert);
        let rows = self.messages(
            &alert,
            MessageKind::Acknowledged { by: by.to_string() },
            alert.level,
            &told,
            &channels,
            now,
            &[],
        );
        let seconds = now.duration_since(alert.opened_at).as_secs_f64();
        let mut text = format!(
            "#{id} Alert acknowledged by {by} ({via}) after {:.0}s: {}",
            seconds, alert.title
        );
        if let Some(note) = note.filter(|note| !note.trim().is_empty()) {
            text.push_str(" — ");
            text.push_str(note.trim());
        }
        let entry = NewEntry {
            at: now,
            author: by.to_string(),
            kind: LogKind::Alert,
            text,
            data: json!({"alert": id, "event": "acknowledged", "via": via, "seconds_to_ack": seconds, "note": note}),
        };
        PreparedAck {
            alert,
            rows,
            entry,
            seconds,
        }
    }

    /// What an acknowledgement link says, checked (signature, expiry, not used) without using it,
    /// with the open alerts it would acknowledge: its alert, or every open alert whose
    /// notifications carried its group key.
    pub(super) fn check_ack_link(&self, token: &str) -> Result<AckLinkView, EngineError> {
        let claim = crate::ack_link::verify(&self.alerts.ack_key, token, self.clock.now())
            .map_err(|error| {
                EngineError::Field(crate::core::actions::FieldError::new(
                    "token",
                    error.to_string(),
                ))
            })?;
        if self.store.ack_nonce_used(&claim.nonce)? {
            return Err(EngineError::Field(crate::core::actions::FieldError::new(
                "token",
                "this acknowledgement link was used already",
            )));
        }
        let ids = match &claim.target {
            AckTarget::Alert(id) => vec![*id],
            AckTarget::Group(group_key) => self.store.alerts_in_group(group_key)?,
        };
        let alerts = ids
            .iter()
            .filter_map(|id| self.alerts.open.get(id).cloned())
            .collect();
        Ok(AckLinkView { claim, alerts })
    }

    /// Acknowledges through a one-click link, as the person it was sent to: its alert, or every
    /// open alert of its group. The link is used up even if someone else was faster.
    pub(super) fn acknowledge_by_link(&mut self, token: &str) -> Result<AckOutcome, EngineError> {
        let AckLinkView { claim, alerts } = self.check_ack_link(token)?;
        if alerts.is_empty() {
            return Err(EngineError::NotFound(match claim.target {
                AckTarget::Alert(id) => format!("no open alert #{id}"),
                AckTarget::Group(_) => "none of the alerts of this link is open any more".into(),
            }));
        }
        let by = self
            .plan
            .people
            .iter()
            .find(|person| person.id == claim.recipient)
            .map_or_else(|| claim.recipient.clone(), |person| person.name.clone());
        let ids: Vec<i64> = alerts.iter().map(|alert| alert.id).collect();
        self.acknowledge_alerts(&ids, &by, None, "email link", Some(&claim.nonce))
    }

    /// A signed one-click acknowledgement link for `target`, sent to `recipient`.
    fn ack_url(&self, target: &AckTarget, recipient: &str, now: Timestamp) -> String {
        let expires = plus(now, self.plan.alerting.ack_link_ttl);
        let token = crate::ack_link::issue(
            &self.alerts.ack_key,
            target,
            recipient,
            expires,
            &crate::random::bytes::<12>(),
        );
        format!("{}/ack/{token}", self.public_url())
    }

    /// Renders the outbox rows for one message to `recipients` through `channels`.
    #[allow(clippy::too_many_arguments)]
    fn messages(
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
        let plan = Arc::clone(&self.plan);
        let rollback = self
            .rollback_recommended(alert)
            .then(|| self.applicable_rollback_procedure().to_string());
        let value_line = alert
            .check_id()
            .and_then(|id| self.checks.value_line(&plan, id));
        let names: Vec<String> = recipients
            .iter()
            .map(|recipient| recipient.name.clone())
            .collect();
        // What this message contributes when it is merged with others of its burst.
        let line = alert_group::line(
            alert,
            &kind,
            level,
            now,
            &plan.launch.timezone,
            &self.public_url(),
        );
        let acknowledgeable = alert.is_open() && !matches!(kind, MessageKind::Acknowledged { .. });
        let mut rows = Vec::new();
        // One email per person per message, however many email channels the levels name.
        let mut emailed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for channel_id in channels {
            let Some(channel) = plan
                .alerting
                .channels
                .iter()
                .find(|channel| &channel.id == channel_id)
            else {
                continue;
            };
            match &channel.kind {
                ChannelKind::Email { to } => {
                    let mut addressees: Vec<Addressee> = recipients.to_vec();
                    for extra in resolve_recipients(&plan, to) {
                        if !addressees.iter().any(|known| known.key == extra.key) {
                            addressees.push(extra);
                        }
                    }
                    for addressee in addressees {
                        let Some(email) = addressee.email.clone() else {
                            continue;
                        };
                        if !emailed.insert(email.to_ascii_lowercase()) {
                            continue;
                        }
                        let ack_url = acknowledgeable.then(|| {
                            self.ack_url(&AckTarget::Alert(alert.id), &addressee.key, now)
                        });
                        let rendered = alert_message::render(&MessageContext {
                            plan: &plan,
                            alert,
                            kind: kind.clone(),
                            level,
                            phase: self.state.phase,
                            now,
                            recipients: names.clone(),
                            others: others.to_vec(),
                            ack_url,
                            rollback: rollback.as_deref(),
                            value_line: value_line.clone(),
                        });
                        // The first email a person gets about an alert is its thread's root;
                        // every later one answers it. Addresses a channel adds by itself are not
                        // tracked as told, so for them only the opening email is the root.
                        let root = self.message_ids.alert_thread(alert.id, &addressee.key);
                        let tracked = recipients.iter().any(|known| known.key == addressee.key);
                        let first = !alert.notified.contains(&addressee.key)
                            && (tracked || matches!(kind, MessageKind::Opened));
                        let message_id = if first {
                            root.clone()
                        } else {
                            self.message_ids.fresh(&format!("alert-{}", alert.id))
                        };
                        let mut references = vec![self.message_ids.alert_root(alert.id)];
                        if !first {
                            references.push(root.clone());
                        }
                        let outgoing = OutgoingEmail {
                            to: vec![(Some(addressee.name.clone()), email)],
                            subject: rendered.subject,
                            text: rendered.text,
                            html: Some(rendered.html),
                            message_id,
                            in_reply_to: (!first).then(|| root.clone()),
                            references,
                            inline_images: Vec::new(),
                        };
                        let (row, group_size) = self.outbox_row(
                            channel_id,
                            &addressee.key,
                            &kind,
                            level,
                            alert.id,
                            now,
                            OutboxPayload::email(outgoing),
                        );
                        // One link acknowledges every open alert of the burst sent to this person.
                        let ack_all =
                            row.group_key
                                .as_ref()
                                .filter(|_| acknowledgeable)
                                .map(|group_key| AckAll {
                                    url: self.ack_url(
                                        &AckTarget::Group(group_key.clone()),
                                        &addressee.key,
                                        now,
                                    ),
                                    count: group_size,
                                });
                        rows.push(with_group_item_row(
                            row,
                            &GroupItem {
                                launch: plan.launch.name.clone(),
                                line: line.clone(),
                                ack_all,
                                mentions: Vec::new(),
                            },
                        ));
                    }
                }
                ChannelKind::Webhook(_) => {
                    let mut rendered = alert_message::render(&MessageContext {
                        plan: &plan,
                        alert,
                        kind: kind.clone(),
                        level,
                        phase: self.state.phase,
                        now,
                        recipients: names.clone(),
                        others: others.to_vec(),
                        ack_url: None,
                        rollback: rollback.as_deref(),
                        value_line: value_line.clone(),
                    });
                    let mentions: Vec<String> =
                        recipients.iter().filter_map(|r| r.chat.clone()).collect();
                    if !mentions.is_empty() {
                        rendered
                            .chat
                            .push_str(&format!(" ({})", mentions.join(" ")));
                    }
                    let message = WebhookMessage {
                        text: rendered.chat,
                        json: rendered.json,
                    };
                    let (row, _) = self.outbox_row(
                        channel_id,
                        "",
                        &kind,
                        level,
                        alert.id,
                        now,
                        OutboxPayload::webhook(message),
                    );
                    rows.push(with_group_item_row(
                        row,
                        &GroupItem {
                            launch: plan.launch.name.clone(),
                            line: line.clone(),
                            ack_all: None,
                            mentions,
                        },
                    ));
                }
                ChannelKind::Alertmanager { .. } => {
                    let mut labels = BTreeMap::new();
                    labels.insert("alertname".to_string(), alert.title.clone());
                    labels.insert("severity".to_string(), alert.severity.to_string());
                    labels.insert("launch".to_string(), plan.launch.name.clone());
                    labels.insert("golive_alert".to_string(), alert.id.to_string());
                    if let Some(check) = alert.check_id() {
                        labels.insert("check".to_string(), check.to_string());
                    }
                    let mut annotations = BTreeMap::new();
                    annotations.insert("summary".to_string(), alert.reason.clone());
                    let forwarded = ForwardedAlert {
                        labels,
                        annotations,
                        starts_at: alert.opened_at,
                        // A firing alert gets an end a day ahead, so Alertmanager does not resolve
                        // it by itself after its resolve_timeout while golive's alert is open.
                        ends_at: alert
                            .resolved_at
                            .or_else(|| now.checked_add(SignedDuration::from_hours(24)).ok()),
                        generator_url: Some(format!(
                            "{}/api/v1/alerts/{}",
                            self.public_url(),
                            alert.id
                        )),
                    };
                    let (row, _) = self.outbox_row(
                        channel_id,
                        "",
                        &kind,
                        level,
                        alert.id,
                        now,
                        OutboxPayload::Alertmanager {
                            alerts: vec![forwarded],
                        },
                    );
                    rows.push(row);
                    if alert.is_open() {
                        self.alerts.forwarded.insert(alert.id, now);
                    }
                }
            }
        }
        rows
    }

    /// One outbox row, grouped with others of its burst: the same channel, recipient and kind
    /// (and level, for pages; an acknowledgement or a resolution is one burst whatever the level
    /// the alerts had reached) written within the group window of the first. The first goes out
    /// at once, later ones are held until the window closes and then go out together as one
    /// message. Returns the row and how many rows its group has so far.
    #[allow(clippy::too_many_arguments)]
    fn outbox_row(
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
                Some((first, size)) if now < plus(*first, window) => {
                    *size += 1;
                    (
                        plus(*first, window),
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

    fn public_url(&self) -> String {
        self.alerts.public_url.clone()
    }

    /// Whether the plan's rollback criteria hold for this alert now.
    fn rollback_recommended(&self, alert: &Alert) -> bool {
        !self.plan.rollback.procedure.is_empty()
            && self.plan.rollback.criteria.iter().any(|criterion| {
                alert.severity >= criterion.severity
                    && criterion.phases.contains(&self.state.phase)
                    && (criterion.checks.is_empty()
                        || alert
                            .check_id()
                            .is_some_and(|id| criterion.checks.iter().any(|c| c == id)))
            })
    }

    /// Adds a run-time silence.
    pub(super) fn add_silence(&mut self, silence: Silence) -> Result<Silence, EngineError> {
        let now = self.clock.now();
        if self
            .alerts
            .silences
            .iter()
            .any(|known| known.id == silence.id)
        {
            return Err(crate::core::actions::FieldError::new(
                "id",
                format!("a silence `{}` exists already", silence.id),
            )
            .into());
        }
        let Window::Once { start, end } = &silence.window else {
            return Err(crate::core::actions::FieldError::new(
                "end",
                "run-time silences have a start and an end",
            )
            .into());
        };
        let text = format!(
            "Silence `{}` added by {}: {} ({} to {}; checks: {}; severities: {})",
            silence.id,
            silence.author,
            silence.comment,
            crate::report::timeline::local(*start, &self.plan.launch.timezone),
            crate::report::timeline::local(*end, &self.plan.launch.timezone),
            if silence.checks.is_empty() {
                "all".to_string()
            } else {
                silence.checks.join(", ")
            },
            if silence.severities.is_empty() {
                "all".to_string()
            } else {
                silence
                    .severities
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        block(|| {
            self.store.write(|write| {
                write.insert_silence(&silence, now)?;
                write.log(&NewEntry {
                    at: now,
                    author: silence.author.clone(),
                    kind: LogKind::Alert,
                    text,
                    data: json!({"event": "silence_added", "silence": silence}),
                })?;
                Ok(())
            })
        })?;
        self.alerts.silences.push(silence.clone());
        Ok(silence)
    }

    /// Removes a run-time silence; notifications it held back go out at once.
    pub(super) fn remove_silence(&mut self, id: &str, by: &str) -> Result<(), EngineError> {
        let now = self.clock.now();
        let removed = block(|| {
            self.store.write(|write| {
                let removed = write.remove_silence(id, now)?;
                if removed {
                    write.log(&NewEntry {
                        at: now,
                        author: by.to_string(),
                        kind: LogKind::Alert,
                        text: format!("Silence `{id}` removed by {by}"),
                        data: json!({"event": "silence_removed", "silence": id}),
                    })?;
                }
                Ok(removed)
            })
        })?;
        if !removed {
            let hint = if self
                .plan
                .alerting
                .silences
                .iter()
                .any(|silence| silence.id == id)
            {
                " (it is in the plan; edit the plan to remove it)"
            } else {
                ""
            };
            return Err(EngineError::NotFound(format!(
                "no run-time silence `{id}`{hint}"
            )));
        }
        let plan_ids: Vec<&str> = self
            .plan
            .alerting
            .silences
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        self.alerts
            .silences
            .retain(|silence| silence.id != id || plan_ids.contains(&silence.id.as_str()));
        self.alerts.suppressed.clear();
        self.process_due_alerts();
        Ok(())
    }

    pub(super) fn update_alert_metrics(&self) {
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
        for check in &self.plan.checks {
            let level = levels.get(check.id.as_str()).copied().unwrap_or(0);
            self.metrics
                .escalation_level
                .with_label_values(&[check.id.as_str()])
                .set(level as f64);
        }
    }

    fn wake_dispatcher(&self) {
        self.outbox_written.notify_one();
    }
}

pub(crate) fn enqueue_all(write: &mut Write<'_>, rows: &[NewOutboxRow]) -> Result<(), StoreError> {
    for row in rows {
        write.enqueue(row)?;
    }
    Ok(())
}

pub(crate) fn names(addressees: &[Addressee]) -> String {
    if addressees.is_empty() {
        return "nobody".to_string();
    }
    addressees
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `row` with what it contributes to a grouped message in its payload.
fn with_group_item_row(mut row: NewOutboxRow, item: &GroupItem) -> NewOutboxRow {
    row.payload = row.payload.with_group(item.clone());
    row
}

/// One acknowledgement ready to be written: the alert carrying it, its notifications, its log entry.
struct PreparedAck {
    alert: Alert,
    rows: Vec<NewOutboxRow>,
    entry: NewEntry,
    /// From opening to acknowledgement, for the time-to-acknowledge histogram.
    seconds: f64,
}

/// What an acknowledgement of several alerts did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AckOutcome {
    /// Acknowledged now.
    pub acknowledged: Vec<Alert>,
    /// Open, but acknowledged before (by whom they say): left as they were.
    pub already_acknowledged: Vec<Alert>,
    /// Ids of alerts that are not open (resolved, or no such alert).
    pub not_open: Vec<i64>,
}

/// A checked acknowledgement link and the open alerts it would acknowledge now.
#[derive(Debug, Clone)]
pub struct AckLinkView {
    pub claim: crate::ack_link::AckClaim,
    pub alerts: Vec<Alert>,
}

/// An alert from outside (Alertmanager's webhook), keyed by its fingerprint.
#[derive(Debug, Clone)]
pub struct ExternalAlert {
    pub key: String,
    pub title: String,
    pub severity: crate::plan::checks::Severity,
    pub reason: String,
    pub firing: bool,
}

/// What the intake did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IntakeOutcome {
    pub opened: Vec<i64>,
    pub resolved: Vec<i64>,
    /// Firing alerts that were already open (deduplicated).
    pub already_open: usize,
}

impl Engine {
    /// Routes external alerts through the same policies: firing ones open (once per key),
    /// resolved ones resolve.
    pub(super) fn intake(
        &mut self,
        alerts: Vec<ExternalAlert>,
    ) -> Result<IntakeOutcome, EngineError> {
        let now = self.clock.now();
        let mut outcome = IntakeOutcome::default();
        let mut opened = Vec::new();
        let mut resolved = Vec::new();
        for external in alerts {
            match (external.firing, self.alerts.by_key(&external.key)) {
                (true, None) if !opened.iter().any(|alert: &Alert| alert.key == external.key) => {
                    let policy = self
                        .plan
                        .alerting
                        .severity_policies
                        .get(&external.severity)
                        .cloned();
                    opened.push(Alert::open(
                        0,
                        external.key,
                        external.title,
                        external.severity,
                        policy,
                        external.reason,
                        now,
                    ));
                }
                (true, _) => outcome.already_open += 1,
                (false, Some(id)) => resolved.push(id),
                (false, None) => {}
            }
        }
        let keys: Vec<String> = opened.iter().map(|alert| alert.key.clone()).collect();
        if !opened.is_empty() {
            self.open_alerts(opened, now)?;
        }
        outcome.opened = keys
            .iter()
            .filter_map(|key| self.alerts.by_key(key))
            .collect();
        if !resolved.is_empty() {
            let with_reasons: Vec<(i64, Option<String>)> =
                resolved.iter().map(|id| (*id, None)).collect();
            self.resolve_alerts(&with_reasons, now)?;
            outcome.resolved = resolved;
        }
        self.update_alert_metrics();
        self.process_due_alerts();
        Ok(outcome)
    }

    /// Rolls the launch back: the phase moves to `rolled_back` (with the reason in the log) and
    /// the plan's rollback hook, if any, is queued for the dispatcher to run (durably: a restart
    /// does not lose it). Manual rollbacks come from the API/CLI; automatic ones only when the
    /// plan says `auto = true` and the criteria hold.
    pub(super) fn roll_back(
        &mut self,
        reason: String,
        by: String,
        automatic: bool,
    ) -> Result<crate::core::Transition, EngineError> {
        let transition = self.transition(crate::core::TransitionRequest {
            target: crate::core::PhaseRequest::To(crate::domain::Phase::RolledBack),
            force: false,
            reason: Some(reason.clone()),
            author: by.clone(),
        })?;
        let now = self.clock.now();
        if self.plan.rollback.hook.is_some() {
            let row = NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: crate::notify::ROLLBACK_HOOK.to_string(),
                kind: OutboxKind::RollbackHook,
                alert_id: None,
                group_key: None,
                payload: OutboxPayload::RollbackHook {
                    run: crate::notify::HookRun {
                        reason: reason.clone(),
                        by: by.clone(),
                        automatic,
                        at: Some(now),
                    },
                },
            };
            block(|| {
                self.store.write(|write| {
                    write.enqueue(&row)?;
                    write.log(&NewEntry {
                        at: now,
                        author: by.clone(),
                        kind: LogKind::Decision,
                        text: format!(
                            "Rollback {}: {reason}; the rollback hook is being run",
                            if automatic {
                                "started automatically (auto = true, criteria hold)"
                            } else {
                                "decided"
                            }
                        ),
                        data: json!({"event": "rollback", "automatic": automatic}),
                    })?;
                    Ok(())
                })
            })?;
            self.wake_dispatcher();
        } else {
            let entry = NewEntry {
                at: now,
                author: by,
                kind: LogKind::Decision,
                text: format!(
                    "Rollback decided: {reason}; no hook configured: follow the procedure by hand"
                ),
                data: json!({"event": "rollback", "automatic": automatic}),
            };
            block(|| self.store.append(&entry))?;
        }
        Ok(transition)
    }

    /// When an alert opens and the rollback criteria hold: tell the rollback recipients (with the
    /// procedure) through the plan's email channel, and roll back by itself if `auto = true`.
    pub(super) fn rollback_criteria_hold(&mut self, alert_id: i64) {
        let Some(alert) = self.alerts.open.get(&alert_id).cloned() else {
            return;
        };
        if !self.rollback_recommended(&alert) {
            return;
        }
        let now = self.clock.now();
        let plan = Arc::clone(&self.plan);
        let recipients = resolve_recipients(&plan, &plan.rollback.notify);
        let email_channel = plan
            .alerting
            .channels
            .iter()
            .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }));
        if email_channel.is_some() {
            let rows = rollback_recommendation_rows(
                &plan,
                &self.message_ids,
                &recipients,
                &RollbackRecommendation {
                    subject: format!(
                        "[{}] {}: ROLLBACK RECOMMENDED — {}",
                        alert.severity.as_str().to_uppercase(),
                        plan.launch.name,
                        alert.title
                    ),
                    text: format!(
                        "The plan's rollback criteria hold: {} ({}) is failing in phase {}: {}\n\nRollback procedure:\n{}\n\nTo record the decision and run the rollback hook: golive rollback --reason \"...\"\nAlert: golive alerts / #{}\n",
                        alert.title,
                        alert.severity,
                        self.state.phase,
                        alert.reason,
                        self.applicable_rollback_procedure(),
                        alert.id
                    ),
                    alert_id: Some(alert.id),
                },
                now,
            );
            let text = format!(
                "#{} Rollback recommended (criteria hold); procedure sent to {}",
                alert.id,
                names(&recipients)
            );
            let written = block(|| {
                self.store.write(|write| {
                    enqueue_all(write, &rows)?;
                    write.log(&NewEntry {
                        at: now,
                        author: "golive".into(),
                        kind: LogKind::Alert,
                        text,
                        data: json!({"alert": alert.id, "event": "rollback_recommended"}),
                    })?;
                    Ok(())
                })
            });
            if written.is_ok() {
                self.wake_dispatcher();
            }
        }
        if plan.rollback.auto && self.state.phase.can_roll_back() {
            let reason = format!("alert #{} ({}): {}", alert.id, alert.title, alert.reason);
            if let Err(error) = self.roll_back(reason, "golive".into(), true) {
                tracing::error!(error = %error, "automatic rollback failed");
            }
        }
    }
}

/// What a rollback recommendation says, and where it belongs.
pub(crate) struct RollbackRecommendation {
    pub(crate) subject: String,
    pub(crate) text: String,
    /// The alert it belongs to: each email then answers that alert's thread for its recipient.
    pub(crate) alert_id: Option<i64>,
}

/// The outbox rows that recommend a rollback: one email per recipient with an address, through the
/// plan's first email channel (none without one). Used when an alert meets the rollback criteria
/// and when a runbook step fails.
pub(crate) fn rollback_recommendation_rows(
    plan: &Plan,
    message_ids: &crate::notify::MessageIds,
    recipients: &[Addressee],
    recommendation: &RollbackRecommendation,
    now: Timestamp,
) -> Vec<NewOutboxRow> {
    let Some(channel) = plan
        .alerting
        .channels
        .iter()
        .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }))
    else {
        return Vec::new();
    };
    recipients
        .iter()
        .filter_map(|recipient| {
            let address = recipient.email.as_ref()?;
            let thread = recommendation
                .alert_id
                .map(|alert_id| message_ids.alert_thread(alert_id, &recipient.key));
            let references: Vec<String> = recommendation
                .alert_id
                .map(|alert_id| message_ids.alert_root(alert_id))
                .into_iter()
                .chain(thread.clone())
                .collect();
            let email = OutgoingEmail {
                to: vec![(Some(recipient.name.clone()), address.clone())],
                subject: recommendation.subject.clone(),
                text: recommendation.text.clone(),
                html: None,
                message_id: message_ids.fresh("rollback"),
                in_reply_to: thread,
                references,
                inline_images: Vec::new(),
            };
            Some(NewOutboxRow {
                created_at: now,
                not_before: now,
                channel: channel.id.clone(),
                kind: OutboxKind::Rollback,
                alert_id: recommendation.alert_id,
                group_key: None,
                payload: OutboxPayload::email(email),
            })
        })
        .collect()
}
