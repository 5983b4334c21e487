//! Acknowledgements: by API and CLI (one alert or many), and by the signed one-click links in
//! emails (one alert, or every open alert of a burst); everyone already told hears who took it.

use jiff::Timestamp;

use super::*;
use crate::ack_link::AckTarget;
use crate::core::alert::{self, Alert};
use crate::core::log::LogData;
use crate::core::log::data::{AlertEvent, AlertLog};
use crate::core::log::{LogKind, NewEntry};
use crate::engine::{Engine, EngineError, block};
use crate::plan::recipients::addressees_by_key;
use crate::report::alert_message::MessageKind;
use crate::store::alerts::NewOutboxRow;

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

impl Engine {
    /// Acknowledges an alert for `by`, tells everyone already notified, and stops escalation.
    /// An alert acknowledged already is answered as it is.
    pub(in crate::engine) fn acknowledge_alert(
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
    pub(in crate::engine) fn acknowledge_alerts(
        &mut self,
        ids: &[i64],
        by: &str,
        note: Option<String>,
        via: &str,
        nonce: Option<&str>,
    ) -> Result<AckOutcome, EngineError> {
        self.resync_alerts()?;
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
        let written = block(|| {
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
        });
        self.alert_written(written)?;
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
        let rows = self.alert_message_rows(
            &alert,
            MessageKind::Acknowledged {
                by: by.to_string(),
                note: note
                    .map(str::trim)
                    .filter(|note| !note.is_empty())
                    .map(str::to_string),
            },
            alert.level,
            &told,
            &channels,
            now,
            &[],
        );
        let seconds = now.duration_since(alert.opened_at).as_secs_f64();
        let mut text = format!(
            "#{id} Alert acknowledged by {by} ({via}) after {}: {}",
            crate::human::elapsed(alert.opened_at, now),
            alert.title
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
            data: LogData::Alert(AlertLog::Event(AlertEvent::Acknowledged {
                alert: id,
                via: via.to_string(),
                seconds_to_ack: seconds,
                note: note.map(str::to_string),
            })),
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
    pub(in crate::engine) fn check_ack_link(
        &self,
        token: &str,
    ) -> Result<AckLinkView, EngineError> {
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
    pub(in crate::engine) fn acknowledge_by_link(
        &mut self,
        token: &str,
    ) -> Result<AckOutcome, EngineError> {
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
    pub(super) fn ack_url(&self, target: &AckTarget, recipient: &str, now: Timestamp) -> String {
        let expires = instant_after(now, self.plan.alerting.ack_link_ttl);
        let token = crate::ack_link::issue(
            &self.alerts.ack_key,
            target,
            recipient,
            expires,
            &crate::random::bytes::<12>(),
        );
        format!("{}/ack/{token}", self.public_url())
    }
}
