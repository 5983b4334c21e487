//! The launch as a standby can know it: from the store alone, never from probes. The launch state
//! (phase, confirmations), the action items and the runbook's step records are stored as the
//! active wrote them. A check's health is not stored as such — the engine writes a `check` log
//! entry when a check's health changes — so a standby takes each check's newest stored health
//! change (`Reader::newest_health_changes`): its state as of that change, which the status page
//! labels so ([`stored`], [`check_views`]). The newest probe result (latency, reason of the last
//! probe) lives only in the active's memory and is not shown.

use std::collections::HashSet;

use crate::core::health::Health;
use crate::core::lifecycle::{CheckHealthMap, GateCheck};
use crate::core::log::data::CheckEvent;
use crate::core::snapshot::Snapshot;
use crate::engine::CheckView;
use crate::plan::Plan;
use crate::store::{Reader, StoreError};

/// The launch as the store holds it.
pub fn stored(reader: &Reader, plan: &Plan) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        state: reader.state()?,
        actions: reader.actions()?,
        checks: stored_health(reader, plan)?,
        runbook: reader.runbook_steps()?,
    })
}

/// Each planned check's newest stored health change: its health, the reason it changed and when.
/// A check with none stored is absent (unknown).
fn stored_health(reader: &Reader, plan: &Plan) -> Result<CheckHealthMap, StoreError> {
    let planned: HashSet<&str> = plan.checks.iter().map(|check| check.id.as_str()).collect();
    let mut found = CheckHealthMap::new();
    for entry in reader.newest_health_changes()? {
        let Some(CheckEvent::HealthChanged(change)) = entry.data.check() else {
            continue;
        };
        if planned.contains(change.check.as_str()) {
            found.insert(
                change.check.clone(),
                GateCheck {
                    health: change.to,
                    reason: change.reason.clone(),
                    changed_at: Some(entry.at),
                },
            );
        }
    }
    Ok(found)
}

/// Every check of the plan as the status page shows it, from the stored health: since the newest
/// stored change (the phase's start when none is stored), with no probe result.
pub fn check_views(plan: &Plan, snapshot: &Snapshot) -> Vec<CheckView> {
    let phase = snapshot.phase();
    plan.checks
        .iter()
        .map(|check| {
            let stored = snapshot.checks.get(&check.id);
            CheckView {
                id: check.id.clone(),
                name: check.name.clone(),
                kind: check.kind_name(),
                severity: check.severity,
                health: stored.map_or(Health::Unknown, |gate| gate.health),
                since: stored
                    .and_then(|gate| gate.changed_at)
                    .unwrap_or(snapshot.state.phase_since),
                gate: check.gate,
                active: check.runs_in(phase),
                interval_seconds: check.interval_in(phase).as_secs_f64(),
                threshold: check.threshold().map(|threshold| threshold.to_string()),
                risks: check.risks.clone(),
                last: None,
                unwritten_minutes: Vec::new(),
            }
        })
        .collect()
}
