//! The launch as a standby can know it: from the store alone, never from probes. The launch state
//! (phase, confirmations), the action items and the runbook's step records are stored as the
//! active wrote them. A check's health is not stored as such, so a standby derives it
//! ([`stored_health`]) from two stored facts: the newest minute the active wrote for the check
//! (`check_minutes`, written once a minute is over) and the newest health change in the log (the
//! engine logs every change except the first healthy result after a start, from unknown). A
//! change newer than that minute wins; otherwise the minute says it — every probe failed: failing,
//! none failed: healthy, every one unknown: unknown, a mix: as the newest change left it (healthy
//! when none was stored: no failure ever reached the threshold). The status page labels the
//! result with the time it holds for ("as of 19:42, stored: …"). The newest probe result (latency,
//! reason of the last probe) lives only in the active's memory and is not shown.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::core::health::Health;
use crate::core::lifecycle::{CheckHealthMap, GateCheck};
use crate::core::log::data::{CheckEvent, HealthChanged};
use crate::core::rollup::Rollup;
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
        // Read by the active's status answer only (live state), which a standby does not give:
        // not read from the store on every standby read.
        open_alerts: Default::default(),
    })
}

/// Each planned check's health as the store tells it ([`derive`]). A check with neither a stored
/// minute nor a stored change is absent (unknown).
fn stored_health(reader: &Reader, plan: &Plan) -> Result<CheckHealthMap, StoreError> {
    let mut changes: HashMap<String, (Timestamp, HealthChanged)> = HashMap::new();
    for entry in reader.newest_health_changes()? {
        if let Some(CheckEvent::HealthChanged(change)) = entry.data.check() {
            changes.insert(change.check.clone(), (entry.at, change.clone()));
        }
    }
    let minutes: HashMap<String, (i64, Rollup)> = reader
        .newest_minutes()?
        .into_iter()
        .map(|(check, minute, rollup)| (check, (minute, rollup)))
        .collect();
    let timezone = &plan.launch.timezone;
    Ok(plan
        .checks
        .iter()
        .filter_map(|check| {
            let id = check.id.as_str();
            let change = changes.get(id).map(|(at, change)| (*at, change));
            let minute = minutes.get(id).map(|(minute, rollup)| (*minute, rollup));
            derive(change, minute, timezone).map(|gate| (id.to_string(), gate))
        })
        .collect())
}

/// A check's health from its newest stored health change and its newest stored minute (Unix
/// minute, rollup), with the sentence the page shows for it; `None` with neither. `changed_at` is
/// the change's time when the change agrees, else the minute's start (at least since then).
pub fn derive(
    change: Option<(Timestamp, &HealthChanged)>,
    minute: Option<(i64, &Rollup)>,
    timezone: &TimeZone,
) -> Option<GateCheck> {
    let clock = |at: Timestamp| timezone.to_datetime(at).strftime("%H:%M").to_string();
    let from_change = |(at, change): (Timestamp, &HealthChanged)| GateCheck {
        health: change.to,
        reason: Some(format!(
            "as of {}, stored: {} since this change{}",
            clock(at),
            change.to.as_str(),
            change
                .reason
                .as_ref()
                .map_or_else(String::new, |reason| format!(" ({reason})"))
        )),
        changed_at: Some(at),
    };
    let start_of = |minute: i64| Timestamp::from_second(minute.saturating_mul(60)).ok();
    match (change, minute) {
        (None, None) => None,
        (Some(change), None) => Some(from_change(change)),
        (Some(change), Some((minute, _)))
            if start_of(minute.saturating_add(1)).is_none_or(|end| change.0 >= end) =>
        {
            Some(from_change(change))
        }
        (change, Some((minute, rollup))) => {
            let health = minute_health(rollup)
                .or(change.map(|(_, change)| change.to))
                .unwrap_or(Health::Healthy);
            let start = start_of(minute)?;
            Some(GateCheck {
                health,
                reason: Some(format!(
                    "as of {}, stored: {} ({} of {} probes failed that minute)",
                    clock(start),
                    health.as_str(),
                    rollup.failures,
                    rollup.probes
                )),
                changed_at: Some(
                    change
                        .filter(|(_, change)| change.to == health)
                        .map_or(start, |(at, _)| at),
                ),
            })
        }
    }
}

/// What a whole minute of probes says: failing when every probe failed, healthy when none failed
/// or was unknown, unknown when every one was; `None` for a mix.
fn minute_health(rollup: &Rollup) -> Option<Health> {
    if rollup.probes == 0 {
        None
    } else if rollup.failures == rollup.probes {
        Some(Health::Failing)
    } else if rollup.unknowns == rollup.probes {
        Some(Health::Unknown)
    } else if rollup.failures == 0 && rollup.unknowns == 0 {
        Some(Health::Healthy)
    } else {
        None
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-01-15 10:00:00 UTC, a whole minute.
    const TEN: i64 = 1_800_007_200;

    fn change(second: i64, to: Health) -> (Timestamp, HealthChanged) {
        (
            Timestamp::from_second(TEN + second).expect("a time"),
            HealthChanged {
                check: "web".into(),
                from: Health::Unknown,
                to,
                reason: Some("status 503".into()),
                severity: None,
            },
        )
    }

    fn minute(probes: u32, failures: u32, unknowns: u32) -> Rollup {
        Rollup {
            probes,
            failures,
            unknowns,
            ..Rollup::default()
        }
    }

    fn health(
        change: Option<&(Timestamp, HealthChanged)>,
        newest: Option<(i64, &Rollup)>,
    ) -> Option<(Health, String)> {
        derive(
            change.map(|(at, change)| (*at, change)),
            newest,
            &TimeZone::UTC,
        )
        .map(|gate| (gate.health, gate.reason.unwrap_or_default()))
    }

    #[test]
    fn a_calm_check_with_no_stored_change_is_healthy_as_of_its_newest_minute() {
        let calm = minute(300, 0, 0);
        assert_eq!(
            health(None, Some((TEN / 60 + 5, &calm))),
            Some((
                Health::Healthy,
                "as of 10:05, stored: healthy (0 of 300 probes failed that minute)".into()
            ))
        );
        assert_eq!(health(None, None), None, "nothing stored: unknown");
    }

    #[test]
    fn a_check_that_failed_and_recovered_without_a_logged_change_is_healthy() {
        let failed = change(0, Health::Failing);
        let calm = minute(300, 0, 0);
        let (state, _) = health(Some(&failed), Some((TEN / 60 + 5, &calm))).expect("a state");
        assert_eq!(state, Health::Healthy);
    }

    #[test]
    fn a_change_newer_than_the_newest_minute_wins_and_an_older_one_only_settles_a_mixed_minute() {
        let calm = minute(300, 0, 0);
        let mixed = minute(300, 4, 0);
        let all_failed = minute(300, 300, 0);
        let newer = change(6 * 60 + 10, Health::Failing);
        assert_eq!(
            health(Some(&newer), Some((TEN / 60 + 5, &calm))),
            Some((
                Health::Failing,
                "as of 10:06, stored: failing since this change (status 503)".into()
            ))
        );
        let older = change(60, Health::Failing);
        let at_five = |rollup| health(Some(&older), Some((TEN / 60 + 5, rollup)));
        assert_eq!(
            at_five(&mixed).map(|(state, _)| state),
            Some(Health::Failing)
        );
        assert_eq!(
            at_five(&all_failed).map(|(state, _)| state),
            Some(Health::Failing)
        );
        assert_eq!(
            health(None, Some((TEN / 60 + 5, &mixed))).map(|(state, _)| state),
            Some(Health::Healthy),
            "no failure ever logged: it never reached its threshold"
        );
    }
}
