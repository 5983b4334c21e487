//! Alerts from an existing Alertmanager (its webhook payload): opened, deduplicated and resolved
//! by fingerprint, routed through the same policies. Each keeps its labels, so its messages carry
//! the contingency of the risks whose `alertmanager` matchers they match (resolved from the plan
//! when a message is rendered, like a check's risks).

use crate::core::alert::Alert;
use crate::engine::{Engine, EngineError};

/// An alert from outside (Alertmanager's webhook), keyed by its fingerprint.
#[derive(Debug, Clone)]
pub struct ExternalAlert {
    pub key: String,
    pub title: String,
    pub severity: crate::plan::checks::Severity,
    pub reason: String,
    pub firing: bool,
    /// Its labels, kept on the alert: its messages name the risks whose `alertmanager`
    /// matchers they match.
    pub labels: std::collections::BTreeMap<String, String>,
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
    pub(in crate::engine) fn intake(
        &mut self,
        alerts: Vec<ExternalAlert>,
    ) -> Result<IntakeOutcome, EngineError> {
        self.resync_alerts()?;
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
                    opened.push(
                        Alert::open(
                            0,
                            external.key,
                            external.title,
                            external.severity,
                            policy,
                            external.reason,
                            now,
                        )
                        .with_labels(external.labels),
                    );
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
}
