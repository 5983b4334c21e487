//! Reports from a seeded store: known probes, alerts, action items and log entries give exactly
//! the expected figures, and the rendered text and HTML match the reviewed snapshots in
//! `tests/snapshots/reports/` (`UPDATE_SNAPSHOTS=1 cargo test --lib report::` rewrites them;
//! read the diff before committing).

use crate::core::message::{OutboxKind, OutboxPayload};
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::date;
use serde_json::json;

use super::compose;
use super::daily::DailyReport;
use crate::core::alert::{Acknowledgement, Alert};
use crate::core::health::{Outcome, ProbeResult};
use crate::core::log::{LogData, LogKind, NewEntry};
use crate::core::rollup::Rollup;
use crate::core::{LaunchState, Transition};
use crate::domain::Phase;
use crate::plan::checks::Severity;
use crate::plan::{self, Plan};
use crate::store::alerts::NewOutboxRow;
use crate::store::rollups::MinuteRow;
use crate::store::{Reader, Store};

const PLAN: &str = r#"
[launch]
name = "Shop 2.0"
timezone = "Europe/Berlin"
go_live = 2026-12-01T20:00:00
hypercare_days = 14
data_dir = "data"

[[people]]
id = "alice"
name = "Alice Adler"
role = "project_manager"
email = "alice@example.com"

[[people]]
id = "bob"
name = "Bob Berg"
role = "ops_lead"
email = "bob@example.com"

[[checklist]]
id = "backup"
title = "Database backup taken"
owner = "bob"

[[risks]]
id = "payment-outage"
title = "Payment provider outage"
likelihood = "medium"
impact = "high"
contingency = "Switch to the backup provider"
owner = "bob"
checks = ["checkout"]

[[prometheus]]
id = "prod"
url = "http://127.0.0.1:9090"

[[checks]]
id = "checkout"
name = "Checkout API"
kind = "http"
severity = "critical"
url = "http://127.0.0.1:8080/health"

[[checks]]
id = "errors"
name = "HTTP 5xx ratio"
kind = "prometheus"
query = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
threshold = "> 0.05"
interval = "1m"

[[channels]]
id = "email"
kind = "email"

[[runbook.steps]]
id = "migrate"
title = "Run the orders migration"
owner = "bob"
start = "+00:00"
duration = "20m"
rollback_point = true
rollback_procedure = "Restore the orders database first."

[[runbook.steps]]
id = "deploy"
title = "Deploy 2.0"
owner = "bob"
start = "+00:20"
duration = "10m"
depends_on = ["migrate"]

[reports]
time = "09:00"
to = ["project_manager", "bob", "stakeholders@shop.example"]
objectives = { checkout = 99.9 }
"#;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn the_plan(dir: &Path) -> Plan {
    let plan = plan::parse(PLAN, &dir.join("plan.toml")).map_err(|d| format!("{d:?}"));
    plan.unwrap().plan
}

fn minute_rollup(results: &[(Outcome, u64, Option<f64>)]) -> Rollup {
    let mut rollup = Rollup::default();
    for (outcome, millis, value) in results {
        let mut result = ProbeResult::new(*outcome, "", Duration::from_millis(*millis));
        result.value = *value;
        rollup.record(&result);
    }
    rollup
}

/// 2026-12-02 09:00:00 CET (08:00Z) to 2026-12-03 09:00:00 CET is the report day 2026-12-03; the day
/// before is seeded too, all healthy, for the comparison.
fn seed(store: &mut Store) {
    seed_probe_minutes(store);
    seed_phases(store);
    seed_alerts_and_their_notifications(store);
    seed_action_items(store);
    seed_health_changes(store);
    seed_notes(store);
}

/// Two days of probe minutes from 2026-12-01 09:00 CET: healthy but for the checkout failing an
/// hour and the error ratio breaching ten minutes on the report day.
fn seed_probe_minutes(store: &mut Store) {
    let start = at("2026-12-01T08:00:00Z").as_second() / 60;
    let mut rollups = Vec::new();
    for minute in start..start + 2 * 1440 {
        let in_report_day = minute >= start + 1440;
        // 10:00 to 11:00 CET on 2026-12-02: the checkout fails (2 probes a minute at 300 ms).
        let failing = in_report_day && (start + 1440 + 60..start + 1440 + 120).contains(&minute);
        let checkout = if failing {
            minute_rollup(&[(Outcome::Failing, 300, None), (Outcome::Failing, 300, None)])
        } else {
            minute_rollup(&[(Outcome::Healthy, 20, None), (Outcome::Healthy, 20, None)])
        };
        // Ten minutes from 13:00 CET the error ratio breaches its threshold.
        let breach = in_report_day && (start + 1440 + 240..start + 1440 + 250).contains(&minute);
        let errors = if breach {
            minute_rollup(&[(Outcome::Failing, 5, Some(0.08))])
        } else {
            minute_rollup(&[(Outcome::Healthy, 5, Some(0.01))])
        };
        rollups.push((minute, checkout, errors));
    }
    let rows: Vec<MinuteRow<'_>> = rollups
        .iter()
        .flat_map(|(minute, checkout, errors)| {
            [
                MinuteRow {
                    check: "checkout",
                    minute: *minute,
                    rollup: checkout,
                },
                MinuteRow {
                    check: "errors",
                    minute: *minute,
                    rollup: errors,
                },
            ]
        })
        .collect();
    store.write_rollups(&rows).unwrap();
}

/// The launch went live on 2026-12-01 at 21:00 CET, through every phase before hypercare.
fn seed_phases(store: &mut Store) {
    store
        .load_or_init_state(at("2026-11-30T08:00:00Z"))
        .unwrap();
    for (from, to, when) in [
        (Phase::Planned, Phase::GoNoGo, "2026-12-01T18:00:00Z"),
        (Phase::GoNoGo, Phase::Deploying, "2026-12-01T19:00:00Z"),
        (Phase::Deploying, Phase::Verifying, "2026-12-01T19:30:00Z"),
        (Phase::Verifying, Phase::Hypercare, "2026-12-01T20:00:00Z"),
    ] {
        let transition = Transition {
            from,
            to,
            at: at(when),
            author: "alice".into(),
            reason: None,
            forced: false,
            overridden: Vec::new(),
        };
        let entry = NewEntry {
            at: at(when),
            author: "alice".into(),
            kind: LogKind::Phase,
            text: format!("Phase {from} → {to}"),
            data: LogData::read(
                LogKind::Phase,
                json!({"from": from, "to": to, "forced": false, "reason": null}),
            ),
        };
        store.record_transition(&transition, &entry).unwrap();
    }
}

/// Three resolved alerts (one before the report day) and two notifications of the second, one
/// delivered and one failed.
fn seed_alerts_and_their_notifications(store: &mut Store) {
    let alert = |id: i64,
                 key: &str,
                 title: &str,
                 severity,
                 opened: &str,
                 ack: (&str, &str),
                 resolved: &str,
                 level| {
        let mut alert = Alert::open(
            id,
            key.into(),
            title.into(),
            severity,
            Some("page".into()),
            "probe failed".into(),
            at(opened),
        );
        alert.acknowledged = Some(Acknowledgement {
            by: ack.0.into(),
            at: at(ack.1),
            expires_at: None,
        });
        alert.resolved_at = Some(at(resolved));
        alert.max_level = level;
        alert.level = level;
        alert
    };
    let alerts = [
        // Before the report day: not in it.
        alert(
            0,
            "check:checkout",
            "Checkout API",
            Severity::Critical,
            "2026-12-01T22:00:00Z",
            ("bob", "2026-12-01T22:05:00Z"),
            "2026-12-01T22:30:00Z",
            1,
        ),
        alert(
            0,
            "check:checkout",
            "Checkout API",
            Severity::Critical,
            "2026-12-02T09:00:00Z",
            ("bob", "2026-12-02T09:04:30Z"),
            "2026-12-02T10:00:00Z",
            2,
        ),
        alert(
            0,
            "check:errors",
            "HTTP 5xx ratio",
            Severity::Warning,
            "2026-12-02T12:00:00Z",
            ("alice", "2026-12-02T12:01:30Z"),
            "2026-12-02T12:10:00Z",
            1,
        ),
    ];
    store
        .write(|write| {
            for alert in &alerts {
                write.insert_alert(alert)?;
            }
            let row = |kind: OutboxKind, created: &str| NewOutboxRow {
                created_at: at(created),
                not_before: at(created),
                channel: "email".into(),
                kind,
                alert_id: Some(2),
                group_key: None,
                payload: OutboxPayload::Alertmanager { alerts: Vec::new() },
            };
            let delivered = write.enqueue(&row(OutboxKind::Opened, "2026-12-02T09:00:01Z"))?;
            write.mark_delivered(delivered, "250 ok", at("2026-12-02T09:00:02Z"))?;
            let failed = write.enqueue(&row(OutboxKind::Escalated, "2026-12-02T09:05:00Z"))?;
            write.mark_failed(
                failed,
                "550 mailbox unavailable",
                at("2026-12-02T10:05:00Z"),
            )?;
            Ok(())
        })
        .unwrap();
}

/// Four action items: one overdue, one due on the report day, one done on it, one without a due
/// date.
fn seed_action_items(store: &mut Store) {
    let mut new_action =
        |title: &str, owner: &str, due: Option<jiff::civil::Date>, created: &str| {
            let action = crate::core::actions::NewAction {
                title: title.into(),
                owner: owner.into(),
                due,
            };
            store
                .create_action(&action, "alice", at(created), |item| NewEntry {
                    at: at(created),
                    author: "alice".into(),
                    kind: LogKind::Action,
                    text: format!("Action item #{} opened", item.id),
                    data: LogData::read(LogKind::Action, json!({"action": item.id})),
                })
                .unwrap()
                .0
        };
    new_action(
        "Fix the flaky checkout test",
        "bob",
        Some(date(2026, 12, 2)),
        "2026-12-01T21:00:00Z",
    );
    new_action(
        "Write the post-mortem",
        "alice",
        Some(date(2026, 12, 3)),
        "2026-12-01T21:00:00Z",
    );
    let mut done = new_action(
        "Rotate the payment keys",
        "bob",
        None,
        "2026-12-01T21:00:00Z",
    );
    new_action(
        "Update the runbook",
        "ops_lead",
        None,
        "2026-12-01T21:00:00Z",
    );
    done.status = crate::core::actions::ActionStatus::Done;
    done.updated_at = at("2026-12-02T14:00:00Z");
    store
        .update_action(
            &done,
            &NewEntry {
                at: done.updated_at,
                author: "bob".into(),
                kind: LogKind::Action,
                text: "Action item #3 done".into(),
                data: LogData::read(LogKind::Action, json!({"action": 3})),
            },
        )
        .unwrap();
}

/// The checks' health changes: the checkout failed by its thresholds for a minute in the first
/// night and for the hour its probes failed, the error ratio for its ten minutes.
fn seed_health_changes(store: &mut Store) {
    for (check, from, to, when) in [
        ("checkout", "healthy", "failing", "2026-12-01T22:00:00Z"),
        ("checkout", "failing", "healthy", "2026-12-01T22:01:00Z"),
        ("checkout", "healthy", "failing", "2026-12-02T09:00:00Z"),
        ("checkout", "failing", "healthy", "2026-12-02T10:00:00Z"),
        ("errors", "healthy", "failing", "2026-12-02T12:00:00Z"),
        ("errors", "failing", "healthy", "2026-12-02T12:10:00Z"),
    ] {
        store
            .append(&NewEntry {
                at: at(when),
                author: "golive".into(),
                kind: LogKind::Check,
                text: format!("Check `{check}` is {to}"),
                data: LogData::read(
                    LogKind::Check,
                    json!({"check": check, "from": from, "to": to}),
                ),
            })
            .unwrap();
    }
}

/// A note before the report day, and a decision, a lesson and feedback on it.
fn seed_notes(store: &mut Store) {
    for (kind, when, text) in [
        (LogKind::Note, "2026-12-01T23:00:00Z", "Quiet first night"),
        (
            LogKind::Decision,
            "2026-12-02T15:00:00Z",
            "Keep the new checkout behind the flag <for now>",
        ),
        (
            LogKind::Lesson,
            "2026-12-02T16:00:00Z",
            "Load-test the payment provider sandbox too",
        ),
        (
            LogKind::Feedback,
            "2026-12-02T17:00:00Z",
            "Support: two customers saw a timeout at checkout",
        ),
    ] {
        store
            .append(&NewEntry {
                at: at(when),
                author: "alice".into(),
                kind,
                text: text.into(),
                data: LogData::None,
            })
            .unwrap();
    }
}

/// The second incident as the engine logs it: opened, Bob paged, escalated to Alice, acknowledged
/// by Bob with a note, and a decision taken while it was open.
fn log_the_second_incident(store: &mut Store) {
    for (kind, when, author, text, data) in [
        (
            LogKind::Alert,
            "2026-12-02T09:00:00Z",
            "golive",
            "#2 Alert opened: Checkout API (critical) — HTTP 503 from /health",
            json!({"alert": 2, "event": "opened", "key": "check:checkout", "severity": "critical", "reason": "HTTP 503 from /health"}),
        ),
        (
            LogKind::Alert,
            "2026-12-02T09:00:00Z",
            "golive",
            "#2 Notified — level 1 (Bob Berg) via email",
            json!({"alert": 2, "event": "opened", "level": 1, "told": ["bob"], "channels": ["email"]}),
        ),
        (
            LogKind::Alert,
            "2026-12-02T09:03:00Z",
            "golive",
            "#2 Escalated — level 2 (Alice Adler) via email",
            json!({"alert": 2, "event": "escalated", "level": 2, "told": ["alice"], "channels": ["email"]}),
        ),
        (
            LogKind::Alert,
            "2026-12-02T09:04:30Z",
            "bob",
            "#2 Alert acknowledged by bob (link) after 4 min 30 s: Checkout API — provider outage",
            json!({"alert": 2, "event": "acknowledged", "via": "link", "seconds_to_ack": 270.0, "note": "Payment provider outage, switching to the backup"}),
        ),
        (
            LogKind::Decision,
            "2026-12-02T09:20:00Z",
            "bob",
            "Stay on the backup provider until tomorrow",
            serde_json::Value::Null,
        ),
    ] {
        store
            .append(&NewEntry {
                at: at(when),
                author: author.into(),
                kind,
                text: text.into(),
                data: LogData::read(kind, data),
            })
            .unwrap();
    }
}

fn seeded() -> (tempfile::TempDir, Plan, Store) {
    let dir = tempfile::tempdir().unwrap();
    let plan = the_plan(dir.path());
    let mut store = Store::open(&plan.launch.data_dir).unwrap();
    seed(&mut store);
    (dir, plan, store)
}

/// Compares `actual` with `tests/snapshots/reports/{name}`, or rewrites it.
fn snapshot(name: &str, actual: &str) {
    crate::report::snapshots::assert_snapshot("reports", name, actual);
}

#[test]
fn a_seeded_day_gives_exactly_the_expected_figures() {
    let (_dir, plan, store) = seeded();
    let reader = store.reader().unwrap();
    let now = at("2026-12-03T08:00:05Z");
    let (report, composed) = compose::daily(&reader, &plan, date(2026, 12, 3), now, false).unwrap();

    assert_eq!(report.period_from, "2026-12-02 09:00:00 CET");
    assert_eq!(report.period_to, "2026-12-03 09:00:00 CET");
    assert!(!report.partial);
    assert_eq!(
        report.progress,
        "Day 2 of 14 of hypercare (since 2026-12-01 21:00:00 CET)"
    );

    assert_the_checks_figures(&report);
    assert_the_incidents_and_notifications(&report);
    assert_the_action_items_and_log(&report);

    assert_eq!(report.light_word, "RED");
    assert_eq!(
        report.summary,
        "Checkout API missed its 99.90 % objective (failing by its thresholds for 1 h; 95.83 % of the probed time); 2 alerts: Checkout API (critical, resolved after 1 h), HTTP 5xx ratio (warning, resolved after 10 min); 1 notification could not be delivered; 1 action item overdue."
    );
    assert_eq!(report.coverage, "probed 24 h of 24 h");
    assert_eq!(
        composed.rendered.subject,
        "[golive] Shop 2.0: daily report 2026-12-03 — RED"
    );
    // The HTML escapes what people wrote.
    assert!(
        composed
            .rendered
            .html
            .contains("Keep the new checkout behind the flag &lt;for now&gt;")
    );
    assert!(
        composed
            .rendered
            .text
            .contains("Keep the new checkout behind the flag <for now>")
    );

    snapshot("daily.txt", &composed.rendered.text);
    snapshot("daily.html", &composed.rendered.html);

    // Once the hours are merged into the hourly history, the report reads them instead of the
    // minutes and says exactly the same.
    let mut store = store;
    let first_hour = at("2026-12-01T08:00:00Z").as_second() / 3600;
    store
        .roll_up_hours(["checkout", "errors"], first_hour, first_hour + 40)
        .unwrap();
    let reader = store.reader().unwrap();
    let (_, from_hours) = compose::daily(&reader, &plan, date(2026, 12, 3), now, false).unwrap();
    assert_eq!(from_hours.rendered.text, composed.rendered.text);
}

/// The seeded report day's checks: the checkout missed its objective, the error ratio breached
/// its threshold.
fn assert_the_checks_figures(report: &DailyReport) {
    let checkout = &report.checks[0];
    // 120 of 2,880 probes failed: 95.833… %, shown rounded down.
    assert_eq!(checkout.availability, "95.83 %");
    assert_eq!(checkout.objective.as_deref(), Some("99.90 %"));
    assert_eq!(checkout.met, Some(false));
    assert_eq!(checkout.budget.as_deref(), Some("exhausted"));
    assert_eq!(checkout.availability_change.as_deref(), Some("-4.10 pp"));
    assert_eq!(checkout.verdict.as_deref(), Some("missed"));
    assert_eq!(checkout.failing, "1 h");
    // Percentiles are the upper bounds of the histogram buckets holding 20 ms and 300 ms.
    assert_eq!(
        (
            checkout.p50.as_str(),
            checkout.p95.as_str(),
            checkout.p99.as_str()
        ),
        ("21 ms", "21 ms", "308 ms")
    );
    assert_eq!(checkout.cells.len(), 24);
    assert_eq!(checkout.strip, "#!######################");

    let errors = &report.checks[1];
    assert_eq!(errors.availability, "99.30 %");
    assert_eq!(errors.met, None);
    let values = errors.values.as_ref().unwrap();
    assert_eq!(
        (
            values.min.as_str(),
            values.avg.as_str(),
            values.max.as_str()
        ),
        ("1 %", "1.05 %", "8 %")
    );
    assert_eq!(values.threshold, "fails above 5 %");
    assert!(values.breached);
    assert_eq!(values.previous_avg.as_deref(), Some("1 %"));
}

/// The seeded report day's two incidents and the two notifications of the second.
fn assert_the_incidents_and_notifications(report: &DailyReport) {
    assert_eq!(report.incidents.total, 2);
    assert_eq!(
        report.incidents.rows[0].time_to_acknowledge.as_deref(),
        Some("4 min 30 s")
    );
    assert_eq!(
        report.incidents.rows[0].time_to_resolve.as_deref(),
        Some("1 h")
    );
    assert_eq!(
        report.incidents.rows[0].acknowledged_by.as_deref(),
        Some("Bob Berg"),
        "by name, not by id"
    );
    assert_eq!(report.incidents.rows[0].level, 2);
    assert_eq!(
        report.incidents.rows[0].risks,
        vec!["Payment provider outage (Switch to the backup provider)"]
    );
    assert_eq!(
        report.incidents.mean_time_to_acknowledge.as_deref(),
        Some("3 min")
    );
    assert_eq!(
        report.incidents.mean_time_to_resolve.as_deref(),
        Some("35 min")
    );

    assert_eq!(
        (
            report.notifications.total,
            report.notifications.delivered,
            report.notifications.failed
        ),
        (2, 1, 1)
    );
}

/// The seeded action items by their state on the report day, and the log entries of the day.
fn assert_the_action_items_and_log(report: &DailyReport) {
    let ids =
        |rows: &[super::sections::ActionRow]| rows.iter().map(|row| row.id).collect::<Vec<_>>();
    assert_eq!(ids(&report.actions.overdue), vec![1]);
    assert_eq!(ids(&report.actions.due_today), vec![2]);
    assert_eq!(ids(&report.actions.done), vec![3]);
    assert_eq!(ids(&report.actions.open), vec![1, 2, 4]);
    assert_eq!(report.actions.overdue[0].owner, "Bob Berg (bob)");

    assert_eq!(report.decisions.len(), 1);
    assert_eq!(
        report.notes.len(),
        0,
        "the note before the period is not repeated"
    );
    assert_eq!(report.lessons.len(), 1);
    assert_eq!(report.feedback.len(), 1);
}

#[test]
fn a_day_with_a_short_incident_is_amber_and_says_why() {
    // The day before the seeded report day: the checkout's critical alert of the first night,
    // failing by its thresholds for one minute of a fully probed day (99.93 % against 99.90 %).
    let (_dir, plan, store) = seeded();
    let reader = store.reader().unwrap();
    let (report, composed) = compose::daily(
        &reader,
        &plan,
        date(2026, 12, 2),
        at("2026-12-02T08:00:05Z"),
        false,
    )
    .unwrap();
    assert_eq!(report.light_word, "AMBER");
    assert_eq!(
        report.summary,
        "1 alert: Checkout API (critical, resolved after 30 min)."
    );
    assert_eq!(report.coverage, "probed 24 h of 24 h");
    let checkout = &report.checks[0];
    assert_eq!(checkout.failing, "1 min");
    assert_eq!(checkout.availability, "99.93 %");
    assert_eq!(checkout.verdict.as_deref(), Some("met"));
    assert!(
        composed
            .rendered
            .text
            .contains("Status: AMBER. 1 alert: Checkout API (critical, resolved after 30 min).\nData: probed 24 h of 24 h.")
    );
    snapshot("daily-amber.txt", &composed.rendered.text);
    snapshot("daily-amber.html", &composed.rendered.html);
}

#[test]
fn a_flap_in_a_few_probed_minutes_is_green_and_says_its_coverage() {
    // Ten probed minutes of a day, single checkout probes failing now and then but never three
    // in a row: the check never failed by its thresholds, no alert opened.
    let dir = tempfile::tempdir().unwrap();
    let plan = the_plan(dir.path());
    let mut store = Store::open(&plan.launch.data_dir).unwrap();
    store
        .load_or_init_state(at("2026-12-01T08:00:00Z"))
        .unwrap();
    let start = at("2026-12-02T19:00:00Z").as_second() / 60;
    let flapping = minute_rollup(&[(Outcome::Failing, 20, None), (Outcome::Healthy, 20, None)]);
    let healthy = minute_rollup(&[(Outcome::Healthy, 5, Some(0.01))]);
    let rows: Vec<MinuteRow<'_>> = (start..start + 10)
        .flat_map(|minute| {
            [
                MinuteRow {
                    check: "checkout",
                    minute,
                    rollup: &flapping,
                },
                MinuteRow {
                    check: "errors",
                    minute,
                    rollup: &healthy,
                },
            ]
        })
        .collect();
    store.write_rollups(&rows).unwrap();
    let reader = store.reader().unwrap();
    let (report, composed) = compose::daily(
        &reader,
        &plan,
        date(2026, 12, 3),
        at("2026-12-03T08:00:05Z"),
        false,
    )
    .unwrap();
    assert_eq!(report.light_word, "GREEN");
    assert_eq!(
        report.summary,
        "No alerts, and no check failed by its thresholds; single probes of Checkout API failed without failing the check (a flap)."
    );
    assert_eq!(report.coverage, "probed 10 min of 24 h");
    let checkout = &report.checks[0];
    assert_eq!(checkout.availability, "100 %");
    assert_eq!(checkout.probes_passed, "50.00 %");
    assert!(checkout.flapped);
    assert_eq!(
        checkout.verdict.as_deref(),
        Some("not judged, probed 10 min of 24 h")
    );
    assert_eq!(checkout.budget, None, "no budget from ten minutes of a day");
    assert!(!composed.rendered.text.contains("exhausted"));
    assert!(!composed.rendered.text.contains("(s)"));
    snapshot("daily-green.txt", &composed.rendered.text);
    snapshot("daily-green.html", &composed.rendered.html);
}

#[test]
fn failing_longer_than_the_whole_days_budget_is_red_however_little_was_probed() {
    // Two probed minutes, but the checkout failed by its thresholds for 30 minutes: more than the
    // 86 s a 99.90 % objective allows in a whole day.
    let dir = tempfile::tempdir().unwrap();
    let plan = the_plan(dir.path());
    let mut store = Store::open(&plan.launch.data_dir).unwrap();
    store
        .load_or_init_state(at("2026-12-01T08:00:00Z"))
        .unwrap();
    let start = at("2026-12-02T19:00:00Z").as_second() / 60;
    let failing = minute_rollup(&[(Outcome::Failing, 20, None), (Outcome::Failing, 20, None)]);
    let rows: Vec<MinuteRow<'_>> = (start..start + 2)
        .map(|minute| MinuteRow {
            check: "checkout",
            minute,
            rollup: &failing,
        })
        .collect();
    store.write_rollups(&rows).unwrap();
    for (from, to, when) in [
        ("healthy", "failing", "2026-12-02T19:00:00Z"),
        ("failing", "healthy", "2026-12-02T19:30:00Z"),
    ] {
        store
            .append(&NewEntry {
                at: at(when),
                author: "golive".into(),
                kind: LogKind::Check,
                text: format!("Check `checkout` is {to}"),
                data: LogData::read(
                    LogKind::Check,
                    json!({"check": "checkout", "from": from, "to": to}),
                ),
            })
            .unwrap();
    }
    let reader = store.reader().unwrap();
    let (report, _) = compose::daily(
        &reader,
        &plan,
        date(2026, 12, 3),
        at("2026-12-03T08:00:05Z"),
        false,
    )
    .unwrap();
    assert_eq!(report.light_word, "RED");
    assert_eq!(report.coverage, "probed 2 min of 24 h");
    assert_eq!(report.checks[0].verdict.as_deref(), Some("missed"));
    assert!(
        report.summary.starts_with(
            "Checkout API missed its 99.90 % objective (failing by its thresholds for 30 min;"
        ),
        "{}",
        report.summary
    );
}

#[test]
fn the_final_report_covers_the_whole_launch() {
    let (_dir, plan, mut store) = seeded();
    let closed = Transition {
        from: Phase::Hypercare,
        to: Phase::Closed,
        at: at("2026-12-03T20:00:00Z"),
        author: "golive".into(),
        reason: Some("hypercare ended early by decision".into()),
        forced: false,
        overridden: Vec::new(),
    };
    store
        .record_transition(&closed, &NewEntry {
            at: closed.at,
            author: "golive".into(),
            kind: LogKind::Phase,
            text: "Phase hypercare → closed".into(),
            data: LogData::read(LogKind::Phase, json!({"from": "hypercare", "to": "closed", "forced": false, "reason": closed.reason})),
        })
        .unwrap();
    let step = |at_text: &str, step: &str, action: &str, to: &str| NewEntry {
        at: at(at_text),
        author: "bob".into(),
        kind: LogKind::Runbook,
        text: format!("Step `{step}` {to}"),
        data: LogData::read(
            LogKind::Runbook,
            json!({"step": step, "action": action, "from": if to == "running" { "pending" } else { "running" }, "to": to, "forced": false, "reason": null}),
        ),
    };
    // Go-live 2026-12-01 20:00:00 CET (19:00Z): the migration ends 4 minutes late, the deployment on time.
    for entry in [
        step("2026-12-01T19:01:00Z", "migrate", "start", "running"),
        step("2026-12-01T19:24:00Z", "migrate", "done", "done"),
        step("2026-12-01T19:24:30Z", "deploy", "start", "running"),
        step("2026-12-01T19:30:00Z", "deploy", "done", "done"),
    ] {
        store.append(&entry).unwrap();
    }
    log_the_second_incident(&mut store);
    let reader: Reader = store.reader().unwrap();
    let (report, composed) =
        compose::final_report(&reader, &plan, at("2026-12-03T20:00:10Z"), false).unwrap();
    assert_eq!(report.outcome, "closed");
    assert_eq!(report.phases.len(), 5);
    assert_eq!(report.incidents.total, 3, "every incident of the launch");
    assert_eq!(report.checklist[0].confirmed_by, None);
    assert_eq!(report.actions.all.len(), 4);
    assert_eq!(report.decisions.len(), 2);
    assert_eq!(report.lessons.len(), 1);
    assert!(report.rollback.is_none());
    let runbook = report.runbook.as_ref().expect("the plan has a runbook");
    let rows: Vec<(&str, &str, &str, &str, &str)> = runbook
        .steps
        .iter()
        .map(|row| {
            (
                row.id.as_str(),
                row.planned.as_str(),
                row.actual.as_str(),
                row.state.as_str(),
                row.versus_plan.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "migrate",
                "20:00–20:20 (+00:00)",
                "20:01–20:24",
                "done",
                "ended 4 min late"
            ),
            (
                "deploy",
                "20:20–20:30 (+00:20)",
                "20:24–20:30",
                "done",
                "on time"
            ),
        ]
    );
    assert_eq!(runbook.steps[0].note, "rollback point");
    assert!(
        composed
            .rendered
            .text
            .contains("== Runbook (planned vs actual, times in Europe/Berlin) ==")
    );
    // Whole hypercare: 2026-12-01 21:00:00 CET to 2026-12-03 21:00:00 CET; seeded history ends at 09:00.
    assert_eq!(report.period_from, "2026-12-01 21:00:00 CET");
    assert_eq!(report.checks[0].cells.len(), 2);
    assert_eq!(
        composed.rendered.subject,
        "[golive] Shop 2.0: final launch report — closed"
    );
    snapshot("final.txt", &composed.rendered.text);
    snapshot("final.html", &composed.rendered.html);
}

#[test]
fn a_template_folder_replaces_the_built_in_templates() {
    let (dir, mut plan, store) = seeded();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("daily.txt"),
        "Day {{ report.day }}: {{ report.light_word }}\n",
    )
    .unwrap();
    if let Some(reports) = plan.reports.as_mut() {
        reports.templates = Some(templates);
    }
    let reader = store.reader().unwrap();
    let (_, composed) = compose::daily(
        &reader,
        &plan,
        date(2026, 12, 3),
        at("2026-12-03T08:00:05Z"),
        false,
    )
    .unwrap();
    assert_eq!(composed.rendered.text, "Day 2026-12-03: RED\n");
    assert!(
        composed.rendered.html.contains("<h2"),
        "the built-in HTML stays"
    );
}

#[test]
fn an_empty_store_still_renders_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let plan = the_plan(dir.path());
    let mut store = Store::open(&plan.launch.data_dir).unwrap();
    store
        .load_or_init_state(at("2026-12-01T08:00:00Z"))
        .unwrap();
    let _ = LaunchState::new(at("2026-12-01T08:00:00Z"));
    let reader = store.reader().unwrap();
    let (report, composed) = compose::daily(
        &reader,
        &plan,
        date(2026, 12, 3),
        at("2026-12-02T12:00:00Z"),
        false,
    )
    .unwrap();
    assert!(report.partial);
    assert_eq!(report.light_word, "GREEN");
    assert_eq!(report.checks[0].availability, "–");
    assert!(
        composed
            .rendered
            .text
            .contains("Go-live planned for 2026-12-01 20:00:00 CET")
    );
}

#[test]
fn a_rolled_back_launch_says_what_was_rolled_back() {
    let (_dir, mut plan, mut store) = seeded();
    plan.rollback.procedure = "Switch the load balancer back to 1.9".into();
    let rolled_back = Transition {
        from: Phase::Hypercare,
        to: Phase::RolledBack,
        at: at("2026-12-02T10:30:00Z"),
        author: "bob".into(),
        reason: Some("checkout failing for 30 minutes".into()),
        forced: false,
        overridden: Vec::new(),
    };
    store
        .record_transition(
            &rolled_back,
            &NewEntry {
                at: rolled_back.at,
                author: "bob".into(),
                kind: LogKind::Phase,
                text: "Phase hypercare → rolled_back".into(),
                data: LogData::read(LogKind::Phase, json!({"from": "hypercare", "to": "rolled_back", "forced": false, "reason": rolled_back.reason})),
            },
        )
        .unwrap();
    store
        .append(&NewEntry {
            at: at("2026-12-02T10:31:00Z"),
            author: "golive".into(),
            kind: LogKind::Decision,
            text: "Rollback hook finished: exit 0".into(),
            data: LogData::None,
        })
        .unwrap();
    let reader = store.reader().unwrap();
    let (report, composed) =
        compose::final_report(&reader, &plan, at("2026-12-02T10:32:00Z"), false).unwrap();
    assert_eq!(report.outcome, "rolled back");
    assert_eq!(report.light_word, "RED");
    let rollback = report.rollback.as_ref().expect("the rollback section");
    assert_eq!(rollback.by, "Bob Berg", "names, not ids");
    assert_eq!(rollback.reason, "checkout failing for 30 minutes");
    assert_eq!(rollback.procedure, "Switch the load balancer back to 1.9");
    // Decisions from the rollback on (the seeded day's later decision among them).
    assert!(
        rollback
            .entries
            .iter()
            .any(|entry| entry.text == "Rollback hook finished: exit 0")
    );
    assert!(
        composed
            .rendered
            .text
            .contains("== Rollback ==\nRolled back at 2026-12-02 11:30:00 CET by Bob Berg")
    );
    assert_eq!(
        composed.rendered.subject,
        "[golive] Shop 2.0: final launch report — rolled back"
    );
}

/// The seeded launch closed at 2026-12-03 21:00:00 CET with the second incident logged as the engine
/// logs it.
fn closed_launch_report() -> (super::final_report::FinalReport, compose::Composed) {
    let (_dir, plan, mut store) = seeded();
    let closed = Transition {
        from: Phase::Hypercare,
        to: Phase::Closed,
        at: at("2026-12-03T20:00:00Z"),
        author: "golive".into(),
        reason: Some("hypercare ended early by decision".into()),
        forced: false,
        overridden: Vec::new(),
    };
    store
        .record_transition(&closed, &NewEntry {
            at: closed.at,
            author: "golive".into(),
            kind: LogKind::Phase,
            text: "Phase hypercare → closed".into(),
            data: LogData::read(LogKind::Phase, json!({"from": "hypercare", "to": "closed", "forced": false, "reason": closed.reason})),
        })
        .unwrap();
    log_the_second_incident(&mut store);
    let reader = store.reader().unwrap();
    compose::final_report(&reader, &plan, at("2026-12-03T20:00:10Z"), false).unwrap()
}

/// Where each of `headings` starts in `text`, failing when one is missing.
fn positions(text: &str, headings: &[&str]) -> Vec<usize> {
    headings
        .iter()
        .map(|heading| {
            text.find(heading)
                .unwrap_or_else(|| panic!("{heading:?} is missing:\n{text}"))
        })
        .collect()
}

#[test]
fn the_final_report_opens_with_the_post_mortem_then_the_appendix() {
    let (report, composed) = closed_launch_report();
    let text = &composed.rendered.text;
    let order = positions(
        text,
        &[
            "== Summary and impact ==",
            "== Incident timeline ==",
            "== What went well and what did not ==",
            "== What people said ==",
            "== Root cause and follow-ups ==",
            "======== Appendix ========",
            "== Phases ==",
            "== Checklist ==",
            "== Runbook",
            "== Availability and latency over the whole period ==",
            "== Notifications ==",
        ],
    );
    assert!(
        order.is_sorted(),
        "sections out of order: {order:?}\n{text}"
    );
    let html = &composed.rendered.html;
    let order = positions(
        html,
        &[
            ">Summary and impact</h2>",
            ">Incident timeline</h2>",
            ">What went well and what did not</h2>",
            ">What people said</h2>",
            ">Root cause and follow-ups</h2>",
            ">Appendix</h2>",
            ">Phases</h2>",
            ">Runbook</h2>",
            ">Notifications</h2>",
        ],
    );
    assert!(order.is_sorted(), "HTML sections out of order: {order:?}");

    let summary = &report.postmortem.summary;
    assert_eq!(
        summary.ran,
        "Went live 2026-12-01 20:00:00 CET and closed 2026-12-03 21:00:00 CET, 2 d 1 h later."
    );
    assert_eq!(
        summary.alerts,
        "3 alerts (2 critical): 3 resolved, 0 still open; acknowledged after 3 min 40 s on average, resolved after 33 min 20 s on average."
    );
    // The checkout failed 1 min in the first night and 1 h the next morning, the error ratio
    // 10 min: they never overlapped.
    assert_eq!(
        summary.failing,
        "Checks failed by their thresholds for 1 h 11 min in all: Checkout API for 1 h 01 min, HTTP 5xx ratio for 10 min."
    );
    assert!(
        summary
            .impact
            .starts_with("Customers may have been affected for up to 1 h 11 min of the 2 d"),
        "{}",
        summary.impact
    );
    assert!(
        summary
            .impact
            .contains("The worst was Checkout API (critical)")
    );
    // The first lines say the outcome and the light with its reason.
    let summary_block = &text[..text.find("== Incident timeline ==").unwrap()];
    assert!(summary_block.contains("Outcome: closed. Went live"));
    assert!(summary_block.contains("Status: RED. Checkout API missed its 99.90 % objective"));
}

#[test]
fn an_incident_timeline_names_who_was_paged_who_took_it_and_their_note() {
    let (report, composed) = closed_launch_report();
    let timeline = &report.postmortem.timeline;
    assert_eq!(timeline.len(), 3, "one timeline per incident");
    let second = &timeline[1];
    assert_eq!(second.title, "Checkout API");
    assert_eq!(second.outcome, "resolved after 1 h");
    let events: Vec<(&str, &str)> = second
        .events
        .iter()
        .map(|event| (event.at.as_str(), event.text.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            (
                "2026-12-02 10:00:00 CET",
                "Opened: Checkout API failed — HTTP 503 from /health"
            ),
            (
                "2026-12-02 10:00:00 CET",
                "Paged Bob Berg (level 1 by email)"
            ),
            (
                "2026-12-02 10:03:00 CET",
                "Escalated to level 2: paged Alice Adler by email"
            ),
            (
                "2026-12-02 10:04:30 CET",
                "Acknowledged by Bob Berg after 4 min 30 s: “Payment provider outage, switching to the backup”"
            ),
            (
                "2026-12-02 10:20:00 CET",
                "Decision by Bob Berg: Stay on the backup provider until tomorrow"
            ),
            ("2026-12-02 11:00:00 CET", "Resolved after 1 h"),
        ]
    );
    // An alert without log entries still shows who acknowledged it, by name.
    assert!(
        timeline[2]
            .events
            .iter()
            .any(|event| event.text == "Acknowledged by Alice Adler after 1 min 30 s (no note)")
    );
    // Names, not ids, in the post-mortem.
    let text = &composed.rendered.text;
    let post_mortem = &text[..text.find("======== Appendix").unwrap()];
    for id in ["by bob", "by alice", "#1", "#2", "check:"] {
        assert!(
            !post_mortem.contains(id),
            "the post-mortem says {id:?}:\n{post_mortem}"
        );
    }
    assert!(
        composed
            .rendered
            .html
            .contains("Payment provider outage, switching to the backup")
    );
}

#[test]
fn follow_ups_list_open_items_first_with_owner_names_and_due_dates() {
    let (report, composed) = closed_launch_report();
    let follow_ups: Vec<(&str, &str, Option<&str>, &str)> = report
        .postmortem
        .follow_ups
        .iter()
        .map(|item| {
            (
                item.title.as_str(),
                item.owner.as_str(),
                item.due.as_deref(),
                item.status,
            )
        })
        .collect();
    assert_eq!(
        follow_ups,
        [
            (
                "Fix the flaky checkout test",
                "Bob Berg",
                Some("2026-12-02"),
                "overdue"
            ),
            (
                "Write the post-mortem",
                "Alice Adler",
                Some("2026-12-03"),
                "open"
            ),
            ("Update the runbook", "ops lead (Bob Berg)", None, "open"),
            ("Rotate the payment keys", "Bob Berg", None, "done"),
        ]
    );
    // Lessons and feedback attributed by name; no root cause recorded, so the report says who
    // should write it.
    assert_eq!(report.postmortem.lessons[0].who, "Alice Adler");
    assert_eq!(
        report.postmortem.feedback[0].text,
        "Support: two customers saw a timeout at checkout"
    );
    assert!(report.postmortem.root_cause.entries.is_empty());
    assert_eq!(
        report.postmortem.root_cause.missing.as_deref(),
        Some(
            "No root cause was recorded. Alice Adler (project manager) should write it down: golive decision \"Root cause: ...\"."
        )
    );
    assert!(
        composed
            .rendered
            .text
            .contains("- [OVERDUE] Fix the flaky checkout test — Bob Berg, due 2026-12-02")
    );
}

#[test]
fn a_root_cause_recorded_as_a_decision_or_lesson_is_the_reports_root_cause() {
    let (_dir, plan, mut store) = seeded();
    store
        .append(&NewEntry {
            at: at("2026-12-02T18:00:00Z"),
            author: "bob".into(),
            kind: LogKind::Lesson,
            text: "Root cause: the payment provider's rate limit was lower than in its sandbox"
                .into(),
            data: LogData::None,
        })
        .unwrap();
    let reader = store.reader().unwrap();
    let (report, composed) =
        compose::final_report(&reader, &plan, at("2026-12-03T20:00:10Z"), false).unwrap();
    let root_cause = &report.postmortem.root_cause;
    assert_eq!(root_cause.missing, None);
    assert_eq!(root_cause.entries.len(), 1);
    assert_eq!(root_cause.entries[0].who, "Bob Berg");
    assert!(
        composed.rendered.text.contains(
            "Root cause:\n- Bob Berg, 2026-12-02 19:00:00 CET: Root cause: the payment provider's rate limit"
        ),
        "{}",
        composed.rendered.text
    );
}
