use std::time::Duration;

use super::*;
use crate::plan::alerting::{EscalationLevel, Recipient};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn policy(afters: &[u64], repeat: u64, ack_timeout: Option<u64>) -> EscalationPolicy {
    EscalationPolicy {
        id: "page".into(),
        levels: afters
            .iter()
            .map(|&after| EscalationLevel {
                after: Duration::from_secs(after),
                notify: vec![Recipient::Person("bob".into())],
                channels: vec!["email".into()],
            })
            .collect(),
        repeat: Duration::from_secs(repeat),
        ack_timeout: ack_timeout.map(Duration::from_secs),
    }
}

fn alert() -> Alert {
    Alert::open(
        1,
        "check:web".into(),
        "Shop".into(),
        Severity::Critical,
        Some("page".into()),
        "status 503".into(),
        at(0),
    )
}

/// Runs the alert forward to `until`, carrying out every step when due; returns (step kind,
/// level, time) for each.
fn run(
    alert: &mut Alert,
    policy: &EscalationPolicy,
    until: i64,
) -> Vec<(&'static str, usize, i64)> {
    let mut done = Vec::new();
    while let Some(step) = next_step(alert, Some(policy)) {
        let when = step.at().as_second() - 1_800_000_000;
        if when > until {
            break;
        }
        let (kind, level) = match step {
            Step::Level { level, .. } => ("level", level),
            Step::Repeat { level, .. } => ("repeat", level),
            Step::AckLapsed { .. } => ("lapsed", alert.level),
        };
        apply_step(alert, policy, step, step.at());
        done.push((kind, level, when));
    }
    done
}

#[test]
fn levels_fire_at_their_delays_and_the_last_repeats() {
    let policy = policy(&[0, 300, 900], 600, None);
    let mut alert = alert();
    let steps = run(&mut alert, &policy, 2200);
    assert_eq!(
        steps,
        [
            ("level", 0, 0),
            ("level", 1, 300),
            ("level", 2, 900),
            ("repeat", 2, 1500),
            ("repeat", 2, 2100)
        ]
    );
    assert_eq!(alert.max_level, 3);
}

#[test]
fn an_acknowledgement_stops_escalation() {
    let policy = policy(&[0, 300], 600, None);
    let mut alert = alert();
    run(&mut alert, &policy, 10);
    assert_eq!(
        acknowledge(&mut alert, Some(&policy), "bob", at(60)),
        Ok(true)
    );
    assert_eq!(next_step(&alert, Some(&policy)), None);
    assert!(alert.is_acknowledged(at(100_000)));
    // A second acknowledgement keeps the first.
    assert_eq!(
        acknowledge(&mut alert, Some(&policy), "carol", at(70)),
        Ok(false)
    );
    assert_eq!(alert.acknowledged.as_ref().unwrap().by, "bob");
}

#[test]
fn a_lapsed_acknowledgement_reopens_at_the_current_level_and_escalation_continues() {
    let policy = policy(&[0, 300, 900], 600, Some(1200));
    let mut alert = alert();
    run(&mut alert, &policy, 310); // levels 1 and 2 notified
    acknowledge(&mut alert, Some(&policy), "bob", at(400)).unwrap();
    let steps = run(&mut alert, &policy, 2300);
    // Lapses at 1600 (level 2 re-notified), level 3 comes 600 s later (its spacing after level 2).
    assert_eq!(steps, [("lapsed", 2, 1600), ("level", 2, 2200)]);
    assert!(!alert.is_acknowledged(at(2300)));
}

#[test]
fn levels_missed_while_down_are_due_at_once_and_sent_levels_are_not_repeated() {
    let policy = policy(&[0, 300, 900], 3600, None);
    let mut alert = alert();
    run(&mut alert, &policy, 0);
    // The daemon was down from 10 s to 1000 s: levels 2 and 3 are both due when it is back.
    let step = next_step(&alert, Some(&policy)).unwrap();
    assert_eq!(
        step,
        Step::Level {
            level: 1,
            at: at(300)
        }
    );
    assert!(step.at() < at(1000));
    apply_step(&mut alert, &policy, step, at(1000));
    let step = next_step(&alert, Some(&policy)).unwrap();
    assert_eq!(
        step,
        Step::Level {
            level: 2,
            at: at(900)
        }
    );
    apply_step(&mut alert, &policy, step, at(1000));
    // The repeat counts from when the last level was actually sent.
    assert_eq!(
        next_step(&alert, Some(&policy)),
        Some(Step::Repeat {
            level: 2,
            at: at(4600)
        })
    );
}

#[test]
fn resolved_alerts_and_alerts_without_a_policy_do_nothing_by_themselves() {
    let policy = policy(&[0], 600, None);
    let mut alert = alert();
    assert_eq!(next_step(&alert, None), None);
    alert.resolved_at = Some(at(5));
    assert_eq!(next_step(&alert, Some(&policy)), None);
    assert!(acknowledge(&mut alert, Some(&policy), "bob", at(6)).is_err());
}

#[test]
fn silences_match_checks_and_severities_and_hold_only_in_their_window() {
    let silence = Silence {
        id: "deploy".into(),
        checks: vec!["web".into()],
        severities: vec![],
        window: Window::Once {
            start: at(100),
            end: at(200),
        },
        author: "alice".into(),
        comment: "planned restart".into(),
    };
    assert!(silence.matches(Some("web"), Severity::Critical));
    assert!(!silence.matches(Some("db"), Severity::Critical));
    assert!(!silence.matches(None, Severity::Critical));
    assert!(!silence.active(at(99)));
    assert_eq!(silence.active_until(at(150)), Some(at(200)));
    assert!(!silence.active(at(200)));
    let found = silenced_until([&silence], Some("web"), Severity::Warning, at(150));
    assert_eq!(
        found.map(|(end, s)| (end, s.id.as_str())),
        Some((at(200), "deploy"))
    );
}

#[test]
fn a_nightly_maintenance_window_crosses_midnight_in_the_launch_time_zone() {
    use jiff::civil::{Weekday, time};
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let silence = Silence {
        id: "nightly".into(),
        checks: vec![],
        severities: vec![Severity::Warning],
        window: Window::Recurring {
            days: vec![Weekday::Saturday],
            from: time(23, 0, 0, 0),
            to: time(1, 0, 0, 0),
            timezone: berlin.clone(),
        },
        author: "plan".into(),
        comment: "backup job".into(),
    };
    let local = |text: &str| {
        text.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned_datetime(berlin.clone())
            .unwrap()
            .timestamp()
    };
    // 2026-11-28 is a Saturday.
    assert!(!silence.active(local("2026-11-28T22:59")));
    assert_eq!(
        silence.active_until(local("2026-11-28T23:30")),
        Some(local("2026-11-29T01:00"))
    );
    assert!(
        silence.active(local("2026-11-29T00:30")),
        "Sunday 00:30 belongs to Saturday's window"
    );
    assert!(!silence.active(local("2026-11-29T01:00")));
    assert!(!silence.active(local("2026-11-29T23:30")), "not on Sundays");
    assert!(!silence.matches(Some("web"), Severity::Critical));
}
