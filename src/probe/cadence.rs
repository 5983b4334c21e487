//! When a check's probe task probes next: every `interval`, except while a failure is being
//! confirmed, when it probes every `retry_interval` (`checks[].retry_interval`).
//!
//! The task cannot ask the engine what state its check is in (that would cost a message per
//! probe), so [`Cadence`] follows the check's state itself from the task's own results with the
//! engine's rule, `core::health::CheckState::observe`, and the check's thresholds. A check is
//! *suspect* after a failing probe while that rule does not yet call it failing: the next probe
//! comes after the retry interval, until `failure_threshold` failures in a row make it failing or a
//! success (or an unknown) ends the run; then the interval resumes. Retries are ordinary probes
//! whose results the engine counts as every other, so the thresholds — and with them the flap
//! protection — are unchanged; only the time between probes shrinks. Pure: no clock, no I/O.

use std::time::Duration;

use jiff::Timestamp;

use crate::core::health::{CheckState, Health, Outcome};
use crate::domain::Phase;
use crate::plan::checks::Check;

/// The probe task's own view of its check's state, deciding the delay before the next probe.
#[derive(Debug, Clone)]
pub struct Cadence {
    /// The check's state as the engine's rule makes it from this task's results. Its `since` is
    /// never read, so the timestamps passed in do not matter.
    mirror: CheckState,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            mirror: CheckState::new(Timestamp::UNIX_EPOCH),
        }
    }
}

impl Cadence {
    /// Counts the result of the probe just made and returns how long after its start the next
    /// one is due in `phase`: the retry interval while a failure is being confirmed, else the
    /// interval.
    pub fn after(&mut self, check: &Check, phase: Phase, outcome: Outcome) -> Duration {
        self.mirror.observe(check, outcome, Timestamp::UNIX_EPOCH);
        if self.confirming() {
            check.retry_interval_in(phase)
        } else {
            check.interval_in(phase)
        }
    }

    /// Whether a failure is being confirmed: the last probe failed and the check is not failing
    /// (yet).
    pub fn confirming(&self) -> bool {
        self.mirror.consecutive_failures > 0 && self.mirror.health != Health::Failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_support::tcp_check;

    const PHASE: Phase = Phase::Hypercare;

    /// A check probed every 30 s with `retry_interval` 2 s and the given thresholds.
    fn check(failure_threshold: u32, success_threshold: u32) -> Check {
        let mut check = tcp_check(failure_threshold, success_threshold);
        check.interval = Duration::from_secs(30);
        check.retry_interval = Some(Duration::from_secs(2));
        check
    }

    /// The delays after each outcome, in seconds.
    fn delays(check: &Check, outcomes: &[Outcome]) -> Vec<u64> {
        let mut cadence = Cadence::default();
        outcomes
            .iter()
            .map(|outcome| cadence.after(check, PHASE, *outcome).as_secs())
            .collect()
    }

    use Outcome::{Failing as F, Healthy as H, Unknown as U};

    #[test]
    fn a_failure_of_a_healthy_check_is_retried_until_the_threshold_makes_it_failing() {
        let check = check(3, 1);
        // Two retries confirm the third failure; failing, the check is back on its interval.
        assert_eq!(delays(&check, &[H, F, F, F, F, F]), [30, 2, 2, 30, 30, 30]);
    }

    #[test]
    fn a_failure_that_clears_on_the_retry_returns_to_the_interval() {
        let check = check(3, 1);
        assert_eq!(delays(&check, &[H, F, H, H]), [30, 2, 30, 30]);
        assert_eq!(delays(&check, &[H, F, F, H, F]), [30, 2, 2, 30, 2]);
    }

    #[test]
    fn a_check_not_yet_known_confirms_its_first_failures_quickly_too() {
        assert_eq!(delays(&check(2, 1), &[F, F, F]), [2, 30, 30]);
    }

    #[test]
    fn a_failing_check_recovering_is_probed_at_its_interval() {
        // Recovering is not hurried: success_threshold 3 takes three regular probes.
        let check = check(2, 3);
        assert_eq!(delays(&check, &[F, F, H, H, H, F]), [2, 30, 30, 30, 30, 2]);
        // A failure while recovering: the check is still failing, nothing to confirm.
        assert_eq!(delays(&check, &[F, F, H, F, H]), [2, 30, 30, 30, 30]);
    }

    #[test]
    fn an_unknown_result_ends_the_confirmation_as_it_breaks_the_run_of_failures() {
        assert_eq!(delays(&check(3, 1), &[H, F, U, F, F]), [30, 2, 30, 2, 2]);
    }

    #[test]
    fn a_threshold_of_one_never_retries() {
        assert_eq!(delays(&check(1, 1), &[H, F, F, H]), [30, 30, 30, 30]);
    }

    #[test]
    fn the_default_retry_interval_is_a_fifth_of_the_interval_between_100_ms_and_1_s() {
        let mut check = check(2, 1);
        check.retry_interval = None;
        let retry_after = |interval_ms: u64, check: &mut Check| {
            check.interval = Duration::from_millis(interval_ms);
            let mut cadence = Cadence::default();
            cadence.after(check, PHASE, F).as_millis()
        };
        assert_eq!(retry_after(1_000, &mut check), 200);
        assert_eq!(retry_after(2_000, &mut check), 400);
        assert_eq!(retry_after(30_000, &mut check), 1_000);
        assert_eq!(retry_after(300, &mut check), 100);
        assert_eq!(retry_after(100, &mut check), 100);
    }

    #[test]
    fn a_phase_with_a_shorter_interval_than_the_retry_interval_retries_at_its_interval() {
        let mut check = check(2, 1);
        check.retry_interval = Some(Duration::from_secs(10));
        check
            .intervals
            .insert(Phase::Deploying, Duration::from_secs(5));
        let mut cadence = Cadence::default();
        assert_eq!(cadence.after(&check, Phase::Deploying, F).as_secs(), 5);
        let mut cadence = Cadence::default();
        assert_eq!(cadence.after(&check, Phase::Hypercare, F).as_secs(), 10);
    }

    #[test]
    fn detection_is_one_interval_and_the_retries_the_threshold_needs() {
        let check = check(3, 1);
        assert_eq!(check.detection_in(PHASE), Duration::from_secs(34));
        let mut without = check.clone();
        without.retry_interval = Some(without.interval);
        assert_eq!(without.detection_in(PHASE), Duration::from_secs(90));
    }
}
