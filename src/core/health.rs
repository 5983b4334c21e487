//! Check health: what one probe found ([`ProbeResult`]) and how consecutive results become a
//! check's state with flap protection ([`CheckState::observe`]). Pure.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::plan::checks::Check;

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The target answered as expected.
    Healthy,
    /// The target answered wrongly or not at all (refused, timeout, 5xx, threshold breached).
    Failing,
    /// golive could not tell: the metrics source is unreachable or returned nothing usable. Never
    /// counts as a failure, so nobody is paged because the monitoring is down.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Healthy => "healthy",
            Outcome::Failing => "failing",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The result of one probe, with a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    pub outcome: Outcome,
    /// Why: `connection refused`, `timeout after 2s`, `status 503 (expected 2xx)`,
    /// `value 0.071 > 0.05`, ... For a healthy HTTP probe, e.g. `status 200`.
    pub reason: String,
    /// How long the probe took.
    pub latency: Duration,
    /// The value a metric check compared with its threshold (the worst series).
    pub value: Option<f64>,
    /// When the TLS certificate of an HTTPS target expires, when known.
    pub cert_not_after: Option<Timestamp>,
    /// Something worth saying even when healthy, e.g. `TLS: certificate expires 2026-12-03 (in
    /// 6 days)`.
    pub warning: Option<String>,
}

impl ProbeResult {
    pub fn new(outcome: Outcome, reason: impl Into<String>, latency: Duration) -> Self {
        ProbeResult {
            outcome,
            reason: reason.into(),
            latency,
            value: None,
            cert_not_after: None,
            warning: None,
        }
    }
}

/// One probe result on its way from a probe task to the engine.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The check's index in the plan's `checks`.
    pub check: usize,
    /// The generation of the plan `check` indexes (see `core::plan_diff::PublishedPlan`); the
    /// engine drops an observation made for an older plan.
    pub generation: u64,
    /// When the probe started.
    pub started: Timestamp,
    /// How late the probe started against its schedule.
    pub lag: Duration,
    pub result: ProbeResult,
}

/// A check's state as the thresholds decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not enough results yet, or the source has been unknown for a while.
    Unknown,
    Healthy,
    Failing,
}

impl Health {
    pub const ALL: [Health; 3] = [Health::Unknown, Health::Healthy, Health::Failing];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Failing => "failing",
        }
    }
}

/// The running state of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckState {
    pub health: Health,
    /// Since when the check has had this health.
    pub since: Timestamp,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub consecutive_unknowns: u32,
}

/// A change of a check's health, for the log, the metrics and (later) alerting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthChange {
    pub from: Health,
    pub to: Health,
    pub at: Timestamp,
}

impl CheckState {
    /// A check nobody has probed yet.
    pub fn new(now: Timestamp) -> Self {
        CheckState {
            health: Health::Unknown,
            since: now,
            consecutive_failures: 0,
            consecutive_successes: 0,
            consecutive_unknowns: 0,
        }
    }

    /// Counts one probe result and returns the health change it causes, if any.
    ///
    /// - `failure_threshold` consecutive failures make the check failing;
    /// - `success_threshold` consecutive successes make it healthy;
    /// - unknown results never count as failures; `failure_threshold` consecutive unknowns make a
    ///   check unknown (its real state can no longer be told), and an unknown result breaks a run of
    ///   failures or successes.
    pub fn observe(
        &mut self,
        check: &Check,
        outcome: Outcome,
        at: Timestamp,
    ) -> Option<HealthChange> {
        let target = match outcome {
            Outcome::Healthy => {
                self.consecutive_successes = self.consecutive_successes.saturating_add(1);
                self.consecutive_failures = 0;
                self.consecutive_unknowns = 0;
                (self.consecutive_successes >= check.success_threshold.max(1))
                    .then_some(Health::Healthy)
            }
            Outcome::Failing => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_successes = 0;
                self.consecutive_unknowns = 0;
                (self.consecutive_failures >= check.failure_threshold.max(1))
                    .then_some(Health::Failing)
            }
            Outcome::Unknown => {
                self.consecutive_unknowns = self.consecutive_unknowns.saturating_add(1);
                self.consecutive_failures = 0;
                self.consecutive_successes = 0;
                (self.consecutive_unknowns >= check.failure_threshold.max(1))
                    .then_some(Health::Unknown)
            }
        };
        let to = target?;
        if to == self.health {
            return None;
        }
        let change = HealthChange {
            from: self.health,
            to,
            at,
        };
        self.health = to;
        self.since = at;
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_support::tcp_check;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn run(check: &Check, outcomes: &[Outcome]) -> (CheckState, Vec<(Health, Health)>) {
        let mut state = CheckState::new(at(0));
        let mut changes = Vec::new();
        for (index, outcome) in outcomes.iter().enumerate() {
            if let Some(change) = state.observe(check, *outcome, at(index as i64 + 1)) {
                changes.push((change.from, change.to));
            }
        }
        (state, changes)
    }

    use Outcome::{Failing as F, Healthy as H, Unknown as U};

    #[test]
    fn failing_needs_failure_threshold_consecutive_failures() {
        let check = tcp_check(2, 1);
        let (state, changes) = run(&check, &[H, F]);
        assert_eq!(state.health, Health::Healthy);
        assert_eq!(changes, [(Health::Unknown, Health::Healthy)]);
        let (state, changes) = run(&check, &[H, F, F]);
        assert_eq!(state.health, Health::Failing);
        assert_eq!(changes.last(), Some(&(Health::Healthy, Health::Failing)));
        assert_eq!(state.since, at(3));
    }

    #[test]
    fn a_check_flapping_inside_its_thresholds_never_fails() {
        let check = tcp_check(3, 1);
        let (state, changes) = run(&check, &[H, F, F, H, F, F, H, F, H, F, F]);
        assert_eq!(state.health, Health::Healthy);
        assert_eq!(changes, [(Health::Unknown, Health::Healthy)]);
    }

    #[test]
    fn recovery_needs_success_threshold_consecutive_successes() {
        let check = tcp_check(1, 3);
        let (state, _) = run(&check, &[F, H, H]);
        assert_eq!(state.health, Health::Failing);
        let (state, changes) = run(&check, &[F, H, H, H]);
        assert_eq!(state.health, Health::Healthy);
        assert_eq!(
            changes,
            [
                (Health::Unknown, Health::Failing),
                (Health::Failing, Health::Healthy)
            ]
        );
    }

    #[test]
    fn unknown_results_never_count_as_failures() {
        let check = tcp_check(2, 1);
        let (state, changes) = run(&check, &[H, F, U, F, U]);
        assert_eq!(state.health, Health::Healthy, "{changes:?}");
        let (state, _) = run(&check, &[H, U, U]);
        assert_eq!(
            state.health,
            Health::Unknown,
            "a source unknown for a while makes the check unknown"
        );
        let (state, _) = run(&check, &[F, F, U, U, U]);
        assert_eq!(
            state.health,
            Health::Unknown,
            "not failing: nobody is paged for the monitoring"
        );
    }
}
