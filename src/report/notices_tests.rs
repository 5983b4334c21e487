//! The runbook lateness warning and the action-item reminder as people read them, each matching
//! its reviewed snapshot in `tests/snapshots/notices/` (`UPDATE_SNAPSHOTS=1 cargo test --lib
//! report::notices` rewrites them; read the diff before committing).

use jiff::Timestamp;
use jiff::civil::date;

use super::*;
use crate::plan::{self, Plan};

const PLAN: &str = r#"
[launch]
name = "Web shop 2.0"
timezone = "Europe/Berlin"
go_live = 2030-01-01T20:00:00
hypercare_days = 14
data_dir = "data"

[[people]]
id = "jonas"
name = "Jonas Weber"
role = "ops_lead"
email = "jonas@shop.example"

[[channels]]
id = "email"
kind = "email"

[[runbook.steps]]
id = "deploy"
title = "Deploy release 2.0"
owner = "jonas"
start = "+00:20"
duration = "15m"
"#;

fn the_plan() -> Plan {
    plan::parse(PLAN, &std::env::temp_dir().join("plan.toml"))
        .map_err(|diagnostics| format!("{diagnostics:?}"))
        .unwrap()
        .plan
}

/// The go-live, 2030-01-01 20:00 in Berlin (19:00 UTC), plus `seconds`.
fn after_go_live(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_893_524_400 + seconds).unwrap()
}

fn jonas() -> Addressee {
    Addressee {
        key: "jonas".into(),
        name: "Jonas Weber".into(),
        email: Some("jonas@shop.example".into()),
        chat: Some("<@U024BE7LH>".into()),
    }
}

fn maria() -> Addressee {
    Addressee {
        key: "maria".into(),
        name: "Maria <PM> Keller".into(),
        email: Some("maria@shop.example".into()),
        chat: None,
    }
}

/// Compares `actual` with `tests/snapshots/notices/{name}`, or rewrites it.
fn snapshot(name: &str, actual: &str) {
    crate::report::snapshots::assert_snapshot("notices", name, actual);
}

fn snapshot_notice(name: &str, notice: &Notice, with_chat: bool) {
    snapshot(
        &format!("{name}.txt"),
        &format!("Subject: {}\n\n{}", notice.subject, notice.text),
    );
    if with_chat {
        snapshot(&format!("{name}.chat.txt"), &notice.chat);
    }
}

#[test]
fn every_runbook_lateness_warning_matches_its_reviewed_snapshot_as_text_and_chat() {
    let plan = the_plan();
    let tz = &plan.launch.timezone;
    let step = plan.runbook.step("deploy").unwrap();
    let owner_addressees = [jonas()];
    let manager_addressees = [maria()];
    let late = |kind, level, since, addressees| LateStep {
        launch: &plan.launch.name,
        step,
        kind,
        level,
        since,
        owner: "Jonas Weber (jonas)".into(),
        owner_warned_at: (level == 2).then(|| after_go_live(20 * 60 + 30)),
        addressees,
    };
    // Planned for 20:20; at 20:27:30 it has not started.
    let not_started = late(
        LateKind::NotStarted,
        1,
        after_go_live(20 * 60),
        &owner_addressees[..],
    );
    let warning = runbook_late(&not_started, after_go_live(27 * 60 + 30), tz);
    assert_eq!(
        warning.subject,
        "[RUNBOOK] Web shop 2.0: step `deploy` is late to start"
    );
    assert!(
        warning.chat.contains("<@U024BE7LH>"),
        "the owner is mentioned"
    );
    snapshot_notice("runbook-late-start", &warning, true);

    // Still not started at 20:35: the project manager hears, with when the owner was warned.
    let escalated = late(
        LateKind::NotStarted,
        2,
        after_go_live(20 * 60),
        &manager_addressees[..],
    );
    let warning = runbook_late(&escalated, after_go_live(35 * 60), tz);
    assert!(warning.text.contains("Its owner was warned at"));
    assert!(
        warning.chat.contains("Maria &lt;PM&gt; Keller"),
        "a name without a handle is plain text: {}",
        warning.chat
    );
    snapshot_notice("runbook-still-late", &warning, true);

    // Started late and expected to end 20:35 + …; at 20:45 it is still running.
    let overrunning = late(
        LateKind::Overrunning,
        1,
        after_go_live(37 * 60),
        &owner_addressees[..],
    );
    let warning = runbook_late(&overrunning, after_go_live(45 * 60), tz);
    assert_eq!(warning.json.to_value().unwrap()["late_seconds"], 480);
    snapshot_notice("runbook-overrunning", &warning, true);
}

#[test]
fn every_action_item_reminder_matches_its_reviewed_snapshot() {
    let item = DueItem {
        id: 7,
        title: "Raise the payment provider's rate limit",
        owner: "Jonas Weber (jonas)",
        due: date(2030, 1, 3),
    };
    let due_today = action_reminder("Web shop 2.0", &item, date(2030, 1, 3));
    assert_eq!(
        due_today.subject,
        "[REMINDER] Web shop 2.0: action item #7 is due today"
    );
    snapshot_notice("action-due-today", &due_today, false);
    let overdue = action_reminder("Web shop 2.0", &item, date(2030, 1, 5));
    assert!(overdue.subject.contains("overdue"));
    snapshot_notice("action-overdue", &overdue, false);
}

#[test]
fn the_rollback_recommendation_of_a_failed_step_matches_its_reviewed_snapshots() {
    let plan = the_plan();
    let step = plan.runbook.step("deploy").unwrap();
    let (subject, text) = failed_step_rollback(
        &plan.launch.name,
        step,
        Phase::Deploying,
        "Jonas Weber",
        Some("image 2.0.3 missing in the registry"),
        None,
        "1. Switch traffic back to 1.9 (deploy/rollback.sh).\n2. Tell support.",
    );
    assert_eq!(
        subject,
        "[RUNBOOK] Web shop 2.0: step `deploy` FAILED — rollback procedure"
    );
    assert!(text.contains("No rollback point has been passed"), "{text}");
    snapshot(
        "runbook-failed-step.txt",
        &format!("Subject: {subject}\n\n{text}"),
    );

    // Past a rollback point its own procedure applies; without a reason the sentence just ends.
    let (subject, text) = failed_step_rollback(
        &plan.launch.name,
        step,
        Phase::Deploying,
        "Jonas Weber",
        None,
        Some("migrate"),
        "Restore the database from the 19:55 snapshot before redeploying 1.9.",
    );
    assert!(text.contains("reported by Jonas Weber.\n"), "{text}");
    assert!(
        text.contains("Rollback point `migrate` has been passed"),
        "{text}"
    );
    snapshot(
        "runbook-failed-step-after-rollback-point.txt",
        &format!("Subject: {subject}\n\n{text}"),
    );
}
