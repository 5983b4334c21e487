//! Every stakeholder update as people read it, each matching its reviewed snapshot in
//! `tests/snapshots/notices/update-*.txt` (`UPDATE_SNAPSHOTS=1 cargo test --lib report::update`
//! rewrites them; read the diff before committing).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::*;
use crate::plan::updates::DEFAULT_ON;

/// The go-live, 2030-01-01 20:00 in Berlin (19:00 UTC), plus `seconds`.
fn after_go_live(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_893_524_400 + seconds).unwrap()
}

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").unwrap()
}

fn audience<'a>(tz: &'a TimeZone, announced: &'a [Phase]) -> Audience<'a> {
    Audience {
        launch: "Web shop 2.0",
        contact: "Maria Keller <maria@shop.example>".into(),
        status_url: Some("https://golive.shop.example/"),
        timezone: tz,
        announced,
        review: None,
    }
}

fn standing(phase: Phase, since: Timestamp) -> Standing {
    Standing {
        phase,
        since,
        go_live: after_go_live(0),
        hypercare_days: 14.0,
    }
}

/// Compares the notice's subject and text (and chat post) with `update-{name}`, or rewrites them.
fn snapshot(name: &str, notice: &Notice) {
    for (file, actual) in [
        (
            format!("update-{name}.txt"),
            format!("Subject: {}\n\n{}", notice.subject, notice.text),
        ),
        (format!("update-{name}.chat.txt"), notice.chat.clone()),
    ] {
        crate::report::snapshots::assert_snapshot("notices", &file, &actual);
    }
}

#[test]
fn every_phase_update_matches_its_reviewed_snapshot() {
    let tz = berlin();
    let all = [
        (Phase::GoNoGo, "go-no-go", -600),
        (Phase::Deploying, "deploying", 60),
        (Phase::Verifying, "verifying", 1_500),
        (Phase::Hypercare, "hypercare", 7_200),
        (Phase::Closed, "closed", 14 * 86_400 + 7_200),
    ];
    let announced = [
        Phase::GoNoGo,
        Phase::Deploying,
        Phase::Verifying,
        Phase::Hypercare,
        Phase::Closed,
    ];
    for (phase, name, seconds) in all {
        let notice = phase_update(
            &audience(&tz, &announced),
            &standing(phase, after_go_live(seconds)),
            Why::Decided(Some("internal reason, said only for a rollback")),
        );
        snapshot(name, &notice);
    }
    let rolled_back = phase_update(
        &audience(&tz, &DEFAULT_ON),
        &standing(Phase::RolledBack, after_go_live(2_400)),
        Why::Decided(Some("checkout errors above 5 % <after> the deployment")),
    );
    snapshot("rolled-back", &rolled_back);
}

#[test]
fn an_update_promises_the_next_one_only_when_that_phase_is_announced() {
    let tz = berlin();
    let only_closing = [Phase::Verifying, Phase::Closed];
    let text = |phase| {
        phase_update(
            &audience(&tz, &only_closing),
            &standing(phase, after_go_live(1_500)),
            Why::Decided(None),
        )
        .text
    };
    assert!(
        !text(Phase::Verifying).contains("You will hear"),
        "{}",
        text(Phase::Verifying)
    );
    assert!(text(Phase::Hypercare).contains("You will hear then."));
}

#[test]
fn a_manual_update_matches_its_snapshot_and_its_subject_is_the_first_line_cut_at_a_word() {
    let tz = berlin();
    let notice = manual_update(
        &audience(&tz, &DEFAULT_ON),
        &standing(Phase::Deploying, after_go_live(300)),
        "We are 20 minutes behind plan, no customer impact.\nThe database migration takes longer than in the rehearsal.",
        "Maria Keller",
        after_go_live(1_500),
    );
    snapshot("manual", &notice);
    assert_eq!(
        headline_of(
            "The payment provider asks us to wait for their maintenance window to end before we switch"
        ),
        "The payment provider asks us to wait for their maintenance…"
    );
    assert_eq!(headline_of("  Short news  \nmore"), "Short news");
}

/// The checkout error rate check of the examples: a Prometheus ratio failing above 5 %.
fn checkout_error_rate() -> Check {
    let mut check = crate::core::test_support::tcp_check(2, 1);
    check.name = "Checkout error rate".into();
    check.kind = crate::plan::checks::CheckKind::Prometheus(crate::plan::checks::PrometheusCheck {
        server: "prod".into(),
        query: "sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))".into(),
        threshold: "> 0.05".parse().unwrap(),
        empty: crate::plan::checks::EmptyResult::Unknown,
    });
    check
}

#[test]
fn an_automatic_rollback_names_the_check_and_its_limit_in_plain_words_and_says_golive_did_it() {
    let tz = berlin();
    let check = checkout_error_rate();
    let rollback = AutomaticRollback::new("Checkout error rate", Some(&check), Some(0.15));
    let notice = phase_update(
        &audience(&tz, &DEFAULT_ON),
        &standing(Phase::RolledBack, after_go_live(2_400)),
        Why::Automatic(&rollback),
    );
    snapshot("rolled-back-automatically", &notice);
    assert!(
        notice.text.contains(
            "Why: Checkout error rate went above its limit (15 % against 5 %), which the plan names as a reason to roll back."
        ),
        "{}",
        notice.text
    );
    assert!(
        notice
            .text
            .contains("golive rolled the launch of Web shop 2.0 back automatically")
    );
    for jargon in ["alert #", "value 0.15", "> 0.05", "The team rolled"] {
        assert!(!notice.text.contains(jargon), "{jargon} in {}", notice.text);
    }
    let without_value = AutomaticRollback::new("Checkout page", None, None);
    assert_eq!(without_value.crossed, None);
}

#[test]
fn the_closing_update_announces_the_planned_review_meeting_to_the_minute() {
    let tz = berlin();
    let review = crate::plan::review::Review {
        when: crate::plan::review::ReviewWhen::AfterClose {
            after: std::time::Duration::from_secs(2 * 86_400),
            at: Some(jiff::civil::time(10, 0, 0, 0)),
        },
        length: std::time::Duration::from_secs(3_600),
        attendees: Vec::new(),
        title: None,
        location: None,
        url: None,
        organizer: None,
    };
    let mut with_review = audience(&tz, &DEFAULT_ON);
    with_review.review = Some(&review);
    let closed = phase_update(
        &with_review,
        &standing(Phase::Closed, after_go_live(14 * 86_400 + 7_200)),
        Why::Decided(None),
    );
    snapshot("closed-with-review", &closed);
    assert!(
        closed
            .text
            .contains("The launch review meeting is planned for 2030-01-17 10:00 CET"),
        "{}",
        closed.text
    );
}
