//! The release gate's judgement (`golive verify`): given what the daemon reports now and what
//! the gate saw before, is the new version proven (the launch sat in the awaited phase with every
//! gate and critical check healthy and no critical alert open for the whole soak), must the
//! pipeline roll back (the plan's rollback criteria hold, or the launch was rolled back), or does
//! the gate keep waiting, and why. Pure: times come from the daemon's answers (`now`,
//! `phase_since`), so a CI runner's clock never enters the judgement; the polling loop lives in
//! `cli::verify`.

use std::time::Duration;

use jiff::Timestamp;

use crate::domain::Phase;

/// What the gate waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRules {
    /// The phase the launch must sit in (`verifying` by default).
    pub phase: Phase,
    /// How long everything must stay healthy in that phase.
    pub soak: Duration,
    /// Whether the phase's exit blockers (required checklist items gating it) must be clear too:
    /// the gate is about to advance the phase, which they would refuse.
    pub blockers_count: bool,
}

/// One reading of the daemon, as the gate needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateReading {
    pub phase: Phase,
    pub phase_since: Timestamp,
    /// The daemon's clock when it answered.
    pub now: Timestamp,
    /// Gate and critical checks that are not healthy, each as a sentence (`api is failing: 503`).
    pub unhealthy_checks: Vec<String>,
    /// Open critical alerts, each as a sentence.
    pub open_critical_alerts: Vec<String>,
    /// Open alerts for which the plan's rollback criteria hold, each as a sentence.
    pub rollback_criteria: Vec<String>,
    /// What keeps the launch from leaving its phase (checklist items), each as a sentence.
    pub blockers: Vec<String>,
    /// The latest change the daemon knows of that a poll may have missed: a gate or critical
    /// check's last health change, a critical alert of the phase resolved. The soak starts no
    /// earlier, so a failure that came and went between two polls still restarts it.
    pub last_change: Option<Timestamp>,
}

/// What the gate remembers between readings: since when it has seen everything healthy, in
/// which stay in the phase (a new `phase_since` is a new stay and starts the soak again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soak {
    pub phase_since: Timestamp,
    pub healthy_since: Timestamp,
}

/// The gate's verdict on one reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Healthy for the whole soak in the awaited phase: the pipeline may go on.
    Proven { healthy_since: Timestamp },
    /// Roll back: the plan's rollback criteria hold, or the launch was rolled back already.
    RollBack { reasons: Vec<String> },
    /// The launch left the awaited phase for a later one (not a rollback) before the soak ended:
    /// the gate cannot prove what it was asked to.
    PhaseLeft { phase: Phase },
    /// Not yet; `reasons` say what is awaited, `remaining` how much soak is left when healthy.
    Waiting {
        reasons: Vec<String>,
        remaining: Option<Duration>,
    },
}

/// Judges one reading against the rules, given the soak seen so far; answers the verdict and
/// the soak to carry into the next reading (none while something is unhealthy).
pub fn judge(
    rules: &GateRules,
    reading: &GateReading,
    soak: Option<Soak>,
) -> (Verdict, Option<Soak>) {
    if reading.phase == Phase::RolledBack {
        let reasons = vec!["the launch was rolled back".to_string()];
        return (Verdict::RollBack { reasons }, None);
    }
    // Before the awaited phase the deployment is under way and may blip: an alert meeting the
    // criteria holds the gate but decides nothing; one still open once the launch is in the
    // phase (its check still failing) means roll back.
    if !reading.rollback_criteria.is_empty() && reading.phase < rules.phase {
        let reasons = reading
            .rollback_criteria
            .iter()
            .map(|alert| {
                format!(
                    "the plan's rollback criteria hold (rolling back if still open in {}): {alert}",
                    rules.phase
                )
            })
            .collect();
        let verdict = Verdict::Waiting {
            reasons,
            remaining: None,
        };
        return (verdict, None);
    }
    if !reading.rollback_criteria.is_empty() {
        let reasons = reading
            .rollback_criteria
            .iter()
            .map(|alert| format!("the plan's rollback criteria hold: {alert}"))
            .collect();
        return (Verdict::RollBack { reasons }, None);
    }
    if reading.phase > rules.phase {
        return (
            Verdict::PhaseLeft {
                phase: reading.phase,
            },
            None,
        );
    }
    if reading.phase < rules.phase {
        let reasons = vec![format!(
            "the launch is in {}, waiting for {}",
            reading.phase, rules.phase
        )];
        let verdict = Verdict::Waiting {
            reasons,
            remaining: None,
        };
        return (verdict, None);
    }
    let reasons: Vec<String> = reading
        .unhealthy_checks
        .iter()
        .chain(&reading.open_critical_alerts)
        .cloned()
        .collect();
    if !reasons.is_empty() {
        let verdict = Verdict::Waiting {
            reasons,
            remaining: None,
        };
        return (verdict, None);
    }
    let healthy_since = match soak {
        Some(soak) if soak.phase_since == reading.phase_since => soak.healthy_since,
        _ => reading.now,
    };
    let healthy_since = match reading.last_change {
        Some(change) if change > healthy_since => change.min(reading.now),
        _ => healthy_since,
    };
    let soak = Soak {
        phase_since: reading.phase_since,
        healthy_since,
    };
    let soaked = reading.now.duration_since(healthy_since);
    let soaked = Duration::try_from(soaked).unwrap_or_default();
    // Checklist blockers hold only the verdict, not the soak: a late sign-off does not make the
    // release prove its health again.
    if soaked >= rules.soak && rules.blockers_count && !reading.blockers.is_empty() {
        let verdict = Verdict::Waiting {
            reasons: reading.blockers.clone(),
            remaining: None,
        };
        return (verdict, Some(soak));
    }
    if soaked >= rules.soak {
        return (Verdict::Proven { healthy_since }, Some(soak));
    }
    let mut reasons = vec![format!(
        "healthy in {} for {} of {}",
        reading.phase,
        crate::human::std_duration(soaked),
        crate::human::std_duration(rules.soak)
    )];
    if rules.blockers_count {
        reasons.extend(reading.blockers.iter().cloned());
    }
    let verdict = Verdict::Waiting {
        reasons,
        remaining: Some(rules.soak - soaked),
    };
    (verdict, Some(soak))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + seconds).unwrap()
    }

    fn rules() -> GateRules {
        GateRules {
            phase: Phase::Verifying,
            soak: Duration::from_secs(60),
            blockers_count: false,
        }
    }

    fn healthy(phase: Phase, now: i64) -> GateReading {
        GateReading {
            phase,
            phase_since: at(0),
            now: at(now),
            unhealthy_checks: Vec::new(),
            open_critical_alerts: Vec::new(),
            rollback_criteria: Vec::new(),
            blockers: Vec::new(),
            last_change: None,
        }
    }

    #[test]
    fn healthy_readings_prove_the_release_once_the_soak_has_passed() {
        let (verdict, soak) = judge(&rules(), &healthy(Phase::Verifying, 10), None);
        assert_eq!(
            verdict,
            Verdict::Waiting {
                reasons: vec!["healthy in verifying for 0 s of 1 min".into()],
                remaining: Some(Duration::from_secs(60)),
            }
        );
        let (verdict, soak) = judge(&rules(), &healthy(Phase::Verifying, 40), soak);
        assert!(
            matches!(verdict, Verdict::Waiting { remaining: Some(left), .. } if left == Duration::from_secs(30))
        );
        let (verdict, _) = judge(&rules(), &healthy(Phase::Verifying, 70), soak);
        assert_eq!(
            verdict,
            Verdict::Proven {
                healthy_since: at(10)
            }
        );
    }

    #[test]
    fn an_unhealthy_reading_starts_the_soak_again() {
        let (_, soak) = judge(&rules(), &healthy(Phase::Verifying, 10), None);
        let mut failing = healthy(Phase::Verifying, 50);
        failing.unhealthy_checks = vec!["check `api` is failing: 503".into()];
        let (verdict, soak) = judge(&rules(), &failing, soak);
        assert_eq!(
            verdict,
            Verdict::Waiting {
                reasons: vec!["check `api` is failing: 503".into()],
                remaining: None
            }
        );
        assert_eq!(soak, None);
        let (verdict, soak) = judge(&rules(), &healthy(Phase::Verifying, 80), soak);
        assert!(matches!(verdict, Verdict::Waiting { .. }));
        let (verdict, _) = judge(&rules(), &healthy(Phase::Verifying, 140), soak);
        assert_eq!(
            verdict,
            Verdict::Proven {
                healthy_since: at(80)
            }
        );
    }

    #[test]
    fn an_open_critical_alert_holds_the_gate_like_a_failing_check() {
        let mut reading = healthy(Phase::Verifying, 500);
        reading.open_critical_alerts = vec!["alert #3 Checkout is open (critical)".into()];
        let (verdict, soak) = judge(&rules(), &reading, None);
        assert!(matches!(
            verdict,
            Verdict::Waiting {
                remaining: None,
                ..
            }
        ));
        assert_eq!(soak, None);
    }

    #[test]
    fn a_new_stay_in_the_phase_starts_the_soak_again() {
        let (_, soak) = judge(&rules(), &healthy(Phase::Verifying, 10), None);
        let mut again = healthy(Phase::Verifying, 100);
        again.phase_since = at(90);
        let (verdict, soak) = judge(&rules(), &again, soak);
        assert!(matches!(verdict, Verdict::Waiting { .. }));
        assert_eq!(soak.map(|soak| soak.healthy_since), Some(at(100)));
    }

    #[test]
    fn a_change_between_two_polls_restarts_the_soak() {
        let (_, soak) = judge(&rules(), &healthy(Phase::Verifying, 10), None);
        // `api` failed and recovered at 45, between the polls at 10 and 50.
        let mut reading = healthy(Phase::Verifying, 50);
        reading.last_change = Some(at(45));
        let (_, soak) = judge(&rules(), &reading, soak);
        assert_eq!(soak.map(|soak| soak.healthy_since), Some(at(45)));
        reading.now = at(80);
        let (verdict, soak) = judge(&rules(), &reading, soak);
        assert!(matches!(verdict, Verdict::Waiting { .. }), "{verdict:?}");
        reading.now = at(105);
        let (verdict, _) = judge(&rules(), &reading, soak);
        assert_eq!(
            verdict,
            Verdict::Proven {
                healthy_since: at(45)
            }
        );
    }

    #[test]
    fn rollback_criteria_before_the_awaited_phase_hold_the_gate_without_deciding() {
        let mut reading = healthy(Phase::Deploying, 10);
        reading.rollback_criteria = vec!["alert #1 Checkout (critical)".into()];
        let (verdict, _) = judge(&rules(), &reading, None);
        assert_eq!(
            verdict,
            Verdict::Waiting {
                reasons: vec![
                    "the plan's rollback criteria hold (rolling back if still open in verifying): alert #1 Checkout (critical)".into()
                ],
                remaining: None
            }
        );
    }

    #[test]
    fn rollback_criteria_in_or_after_the_phase_or_a_rolled_back_launch_mean_roll_back() {
        let mut reading = healthy(Phase::Verifying, 10);
        reading.rollback_criteria = vec!["alert #1 Checkout (critical)".into()];
        let (verdict, _) = judge(&rules(), &reading, None);
        assert_eq!(
            verdict,
            Verdict::RollBack {
                reasons: vec![
                    "the plan's rollback criteria hold: alert #1 Checkout (critical)".into()
                ]
            }
        );
        let (verdict, _) = judge(&rules(), &healthy(Phase::RolledBack, 10), None);
        assert!(matches!(verdict, Verdict::RollBack { .. }));
    }

    #[test]
    fn the_gate_waits_before_the_phase_and_gives_up_once_the_launch_moved_past_it() {
        let (verdict, soak) = judge(&rules(), &healthy(Phase::Deploying, 10), None);
        assert_eq!(
            verdict,
            Verdict::Waiting {
                reasons: vec!["the launch is in deploying, waiting for verifying".into()],
                remaining: None
            }
        );
        assert_eq!(soak, None);
        let (verdict, _) = judge(&rules(), &healthy(Phase::Hypercare, 10), None);
        assert_eq!(
            verdict,
            Verdict::PhaseLeft {
                phase: Phase::Hypercare
            }
        );
    }

    #[test]
    fn checklist_blockers_hold_the_gate_only_when_it_is_to_advance_the_phase() {
        let mut reading = healthy(Phase::Verifying, 100);
        reading.blockers = vec!["`smoke` (qa lead) is not confirmed".into()];
        let soak = Some(Soak {
            phase_since: at(0),
            healthy_since: at(0),
        });
        let (verdict, _) = judge(&rules(), &reading, soak);
        assert!(matches!(verdict, Verdict::Proven { .. }));
        let advancing = GateRules {
            blockers_count: true,
            ..rules()
        };
        let (verdict, kept) = judge(&advancing, &reading, soak);
        assert!(matches!(
            verdict,
            Verdict::Waiting {
                remaining: None,
                ..
            }
        ));
        // The soak goes on under the blocker: once signed off, the release is proven at once.
        assert_eq!(kept, soak);
        reading.blockers.clear();
        reading.now = at(101);
        let (verdict, _) = judge(&advancing, &reading, kept);
        assert_eq!(
            verdict,
            Verdict::Proven {
                healthy_since: at(0)
            }
        );
    }
}
