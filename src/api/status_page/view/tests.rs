use std::collections::HashMap;

use jiff::Timestamp;

use super::*;
use crate::core::alert::Acknowledgement;
use crate::core::lifecycle::{Confirmation, LaunchState};
use crate::core::log::LogKind;
use crate::core::runbook::StepState;
use crate::core::test_support::plan_with_checklist;
use crate::domain::Phase;
use crate::domain::Role;
use crate::plan::ChecklistItem;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).expect("valid test time")
}

/// A moment on a whole minute, an hour before the test plan's go-live.
const NOW: i64 = 1_800_000_000 - 3600;

fn plan() -> Plan {
    plan_with_checklist(vec![
        ChecklistItem {
            id: "backup".into(),
            title: "Backup <taken>".into(),
            owner: Owner::Person("alice".into()),
            required: true,
            gates: Phase::GoNoGo,
        },
        ChecklistItem {
            id: "smoke".into(),
            title: "Smoke test".into(),
            owner: Owner::Role(Role::QaLead),
            required: false,
            gates: Phase::Verifying,
        },
    ])
}

fn snapshot(plan: &Plan) -> Snapshot {
    let mut state = LaunchState::new(at(NOW - 725));
    state.phase = Phase::GoNoGo;
    state.confirmations.insert(
        "backup".into(),
        Confirmation {
            by: "alice".into(),
            at: at(NOW - 60),
            note: Some("restore <b>tested</b>".into()),
        },
    );
    let _ = plan;
    Snapshot {
        state,
        actions: Vec::new(),
        checks: Default::default(),
        runbook: Default::default(),
        open_alerts: Default::default(),
    }
}

fn check(id: &str, health: Health) -> CheckView {
    CheckView {
        id: id.into(),
        name: format!("Shop {id}"),
        kind: "http",
        severity: Severity::Critical,
        health,
        since: at(NOW - 30),
        gate: false,
        active: true,
        interval_seconds: 10.0,
        threshold: None,
        risks: Vec::new(),
        last: None,
        unwritten_minutes: Vec::new(),
    }
}

fn alert(id: i64, policy: Option<&str>, level: usize) -> Alert {
    let mut alert = Alert::open(
        id,
        format!("check:web{id}"),
        "Shop web".into(),
        Severity::Warning,
        policy.map(str::to_string),
        "status 503 <script>".into(),
        at(NOW - 300),
    );
    alert.level = level;
    alert
}

fn rollup(probes: u32, failures: u32, unknowns: u32) -> Rollup {
    Rollup {
        probes,
        failures,
        unknowns,
        ..Rollup::default()
    }
}

fn build_with(
    plan: &Plan,
    checks: &[CheckView],
    history: &HashMap<String, Vec<(i64, Rollup)>>,
    alerts: &[Alert],
    log: &[LogEntry],
) -> StatusView {
    let snapshot = snapshot(plan);
    build(&Inputs {
        plan,
        snapshot: &snapshot,
        checks,
        history,
        alerts,
        log,
        now: at(NOW),
    })
}

#[test]
fn the_launch_shows_phase_time_in_phase_and_the_countdown_to_go_live() {
    let plan = plan();
    let view = build_with(&plan, &[], &HashMap::new(), &[], &[]);
    assert_eq!(view.phase.name, "go_no_go");
    assert_eq!(view.phase.label, "go/no-go");
    assert_eq!(view.phase.time_in_phase, "for 12 min 05 s");
    assert!(view.go_live.upcoming);
    assert_eq!(view.go_live.relative, "in 1 h");
    assert_eq!(view.next_phase.as_deref(), Some("deploying"));
    assert_eq!(view.summary.checklist_confirmed, 1);
    assert_eq!(view.summary.overall, "ok");
}

#[test]
fn checklist_items_carry_owner_state_word_and_confirmation() {
    let plan = plan();
    let view = build_with(&plan, &[], &HashMap::new(), &[], &[]);
    let backup = &view.checklist[0];
    assert_eq!(backup.owner, "Alice (alice)");
    assert_eq!(backup.state.label, "confirmed");
    assert_eq!(backup.confirmed_by.as_deref(), Some("alice"));
    assert_eq!(backup.note.as_deref(), Some("restore <b>tested</b>"));
    let smoke = &view.checklist[1];
    assert_eq!(smoke.owner, "qa_lead");
    assert_eq!(smoke.state.label, "not confirmed");
    assert_eq!(smoke.gates, "verifying");
}

#[test]
fn a_failing_check_or_unacknowledged_alert_makes_the_page_need_attention() {
    let plan = plan();
    let checks = [check("web", Health::Failing), check("api", Health::Healthy)];
    let view = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    assert_eq!(view.summary.checks_failing, 1);
    assert_eq!(view.summary.checks_healthy, 1);
    assert_eq!(view.summary.overall_label, "needs attention");
    assert_eq!(view.checks[0].state.label, "failing");
    assert_eq!(view.checks[0].state.icon, "✗");
    assert_eq!(view.checks[0].reason, "no result yet");

    let mut acknowledged = alert(1, None, 0);
    acknowledged.acknowledged = Some(Acknowledgement {
        by: "bob".into(),
        at: at(NOW - 10),
        expires_at: None,
    });
    let view = build_with(&plan, &[], &HashMap::new(), &[acknowledged], &[]);
    assert_eq!(view.summary.overall_label, "being handled");
    assert_eq!(view.alerts[0].acknowledged_by.as_deref(), Some("bob"));
}

#[test]
fn an_acknowledgement_that_lapsed_is_shown_as_not_acknowledged() {
    let plan = plan();
    let mut lapsed = alert(1, None, 1);
    lapsed.acknowledged = Some(Acknowledgement {
        by: "bob".into(),
        at: at(NOW - 100),
        expires_at: Some(at(NOW - 1)),
    });
    let view = build_with(&plan, &[], &HashMap::new(), &[lapsed], &[]);
    assert_eq!(view.alerts[0].acknowledged_by, None);
    assert_eq!(view.summary.alerts_unacknowledged, 1);
}

#[test]
fn escalation_reads_as_the_level_reached_of_the_policys_levels() {
    let mut plan = plan();
    plan.alerting
        .policies
        .push(crate::plan::alerting::EscalationPolicy {
            id: "page".into(),
            levels: (0..3)
                .map(|step| crate::plan::alerting::EscalationLevel {
                    after: std::time::Duration::from_secs(step * 60),
                    notify: Vec::new(),
                    channels: Vec::new(),
                })
                .collect(),
            repeat: std::time::Duration::from_secs(1800),
            ack_timeout: None,
        });
    let alerts = [
        alert(3, Some("page"), 2),
        alert(2, Some("page"), 0),
        alert(1, None, 0),
    ];
    let view = build_with(&plan, &[], &HashMap::new(), &alerts, &[]);
    assert_eq!(view.alerts[0].escalation, "level 2 of 3");
    assert_eq!(view.alerts[1].escalation, "nobody notified yet");
    assert_eq!(
        view.alerts[2].escalation,
        "no escalation policy: nobody is notified"
    );
    assert_eq!(view.alerts[0].duration, "for 5 min");
    assert_eq!(view.alerts[0].severity.label, "warning");
}

#[test]
fn the_history_strip_marks_each_minute_and_says_how_many_had_failures() {
    let plan = plan();
    let minute = NOW / 60;
    let history = HashMap::from([(
        "web".to_string(),
        vec![
            (minute - 4, rollup(6, 0, 0)),
            (minute - 3, rollup(6, 2, 0)),
            (minute - 2, rollup(6, 6, 0)),
            (minute - 1, rollup(6, 0, 6)),
        ],
    )]);
    let view = build_with(&plan, &[check("web", Health::Failing)], &history, &[], &[]);
    let strip = &view.checks[0].history;
    assert_eq!(strip.len(), HISTORY_MINUTES as usize);
    let classes: Vec<&str> = strip.iter().rev().take(6).map(|cell| cell.class).collect();
    // Nothing probed yet in the minute in progress (last), then the four stored minutes.
    assert_eq!(
        classes,
        ["none", "unknown", "fail", "partial", "ok", "none"]
    );
    assert_eq!(view.checks[0].history_summary, "2 of 4 min with failures");
    assert!(
        strip[HISTORY_MINUTES as usize - 4]
            .label
            .ends_with("6 probes, 2 failed"),
        "{:?}",
        strip
    );

    let quiet = build_with(&plan, &[check("api", Health::Unknown)], &history, &[], &[]);
    assert_eq!(
        quiet.checks[0].history_summary,
        "no probes in the last 30 min"
    );
}

#[test]
fn the_history_strip_counts_the_minute_in_progress_and_minutes_not_written_yet() {
    let plan = plan();
    let minute = NOW / 60;
    // Probed every second since a moment ago: nothing stored yet, all in the engine.
    let mut fresh = check("web", Health::Healthy);
    fresh.unwritten_minutes = vec![(minute - 1, rollup(60, 0, 0)), (minute, rollup(12, 0, 0))];
    let view = build_with(&plan, &[fresh], &HashMap::new(), &[], &[]);
    assert_eq!(
        view.checks[0].history_summary,
        "2 of 2 min without failures"
    );
    let last = view.checks[0].history.last().expect("a cell per minute");
    assert_eq!(last.class, "ok");
    assert!(
        last.label.contains("this minute, so far") && last.label.ends_with("12 probes, 0 failed"),
        "{last:?}"
    );

    // Failing since this minute: the minute in progress says so, partly stored before a restart
    // and partly still in the engine (merged).
    let mut failing = check("api", Health::Failing);
    failing.unwritten_minutes = vec![(minute, rollup(3, 3, 0))];
    let history = HashMap::from([("api".to_string(), vec![(minute, rollup(2, 0, 0))])]);
    let view = build_with(&plan, &[failing], &history, &[], &[]);
    assert_eq!(
        view.checks[0].history_summary,
        "this minute: failing; 1 of 1 min with failures"
    );
    let last = view.checks[0].history.last().expect("a cell per minute");
    assert_eq!(last.class, "partial");
    assert!(last.label.ends_with("5 probes, 3 failed"), "{last:?}");
}

#[test]
fn after_the_launch_closes_checks_say_they_are_no_longer_watched() {
    let plan = plan();
    let mut snapshot = snapshot(&plan);
    snapshot.state.phase = Phase::Closed;
    let mut web = check("web", Health::Healthy);
    web.active = false;
    web.last = Some(crate::engine::RecentResult {
        at: at(NOW - 3600),
        outcome: crate::core::health::Outcome::Healthy,
        reason: "status 200".into(),
        latency_ms: 12.0,
        value: None,
        warning: None,
        cert_not_after: None,
    });
    let view = build(&Inputs {
        plan: &plan,
        snapshot: &snapshot,
        checks: &[web],
        history: &HashMap::new(),
        alerts: &[],
        log: &[],
        now: at(NOW),
    });
    let row = &view.checks[0];
    assert_eq!(row.state.label, "no longer watched");
    assert_ne!(row.state.class, "ok", "no green for a check nobody probes");
    assert_eq!(row.reason, "last known: healthy (status 200)");
    assert_eq!(view.summary.checks_healthy, 0);
    assert_eq!(view.summary.checks_unwatched, 1);
    assert_eq!(view.summary.checks_unknown, 0);

    // Before its phases, a check is not watched yet either (and not "healthy" from a past run).
    snapshot.state.phase = Phase::Planned;
    let mut later = check("api", Health::Healthy);
    later.active = false;
    let view = build(&Inputs {
        plan: &plan,
        snapshot: &snapshot,
        checks: &[later],
        history: &HashMap::new(),
        alerts: &[],
        log: &[],
        now: at(NOW),
    });
    assert_eq!(view.checks[0].state.label, "not watched in this phase");
}

#[test]
fn an_open_alert_carries_its_risks_contingency_and_whether_a_rollback_is_recommended() {
    let mut plan = plan();
    let mut web = crate::core::test_support::tcp_check(2, 1);
    web.id = "web1".into();
    plan.checks = vec![web];
    plan.risks = vec![crate::plan::Risk {
        id: "shop-down".into(),
        title: "The shop is down".into(),
        likelihood: crate::domain::Level::Low,
        impact: crate::domain::Level::High,
        contingency: "Turn the feature flag checkout.v2 off.\n".into(),
        owner: Owner::Person("alice".into()),
        checks: vec!["web1".into()],
        alertmanager: vec![],
    }];
    plan.rollback.procedure = "Redeploy 1.9.".into();
    plan.rollback.criteria = vec![crate::plan::alerting::RollbackCriterion {
        checks: Vec::new(),
        severity: Severity::Warning,
        phases: vec![Phase::GoNoGo],
    }];
    let alerts = [alert(1, None, 0)];
    let view = build_with(&plan, &[], &HashMap::new(), &alerts, &[]);
    let row = &view.alerts[0];
    assert!(row.rollback_recommended);
    assert_eq!(row.contingencies.len(), 1);
    assert_eq!(row.contingencies[0].risk, "shop-down");
    assert_eq!(
        row.contingencies[0].contingency,
        "Turn the feature flag checkout.v2 off."
    );

    // Outside the criteria's phases there is no recommendation; the contingency stays.
    plan.rollback.criteria[0].phases = vec![Phase::Hypercare];
    let view = build_with(&plan, &[], &HashMap::new(), &alerts, &[]);
    assert!(!view.alerts[0].rollback_recommended);
    assert_eq!(view.alerts[0].contingencies.len(), 1);
}

#[test]
fn log_entries_keep_their_order_kind_and_author() {
    let plan = plan();
    let log = [LogEntry {
        id: 7,
        at: at(NOW - 5),
        author: "carol".into(),
        kind: LogKind::Decision,
        text: "Go for launch".into(),
        data: crate::core::log::LogData::None,
    }];
    let view = build_with(&plan, &[], &HashMap::new(), &[], &log);
    assert_eq!(view.log[0].kind, "decision");
    assert_eq!(view.log[0].author, "carol");
    assert_eq!(view.log[0].at.iso, "2027-01-15T06:59:55Z");
}

#[test]
fn the_live_part_escapes_html_from_notes_reasons_and_titles() {
    let plan = plan();
    let checks = [check("web", Health::Failing)];
    let alerts = [alert(1, None, 0)];
    let view = build_with(&plan, &checks, &HashMap::new(), &alerts, &[]);
    let html = crate::api::status_page::render(crate::api::status_page::LIVE, &view)
        .expect("the live part renders");
    assert!(html.contains("status 503 &lt;script&gt;"), "{html}");
    assert!(
        html.contains("restore &lt;b&gt;tested&lt;&#x2f;b&gt;"),
        "{html}"
    );
    assert!(html.contains("Backup &lt;taken&gt;"), "{html}");
    assert!(
        !html.contains("<script>") && !html.contains("<b>"),
        "{html}"
    );
    // Every state is written out next to its colour.
    assert!(html.contains("✗</span> failing"), "{html}");
    assert!(html.contains("not acknowledged"), "{html}");
    assert!(html.contains(r#"data-act="ack" data-id="1""#), "{html}");
    assert!(
        html.contains(r#"data-act="confirm" data-id="smoke""#),
        "{html}"
    );
}

fn step(id: &str, start: i64, depends_on: &[&str]) -> crate::plan::runbook::RunbookStep {
    crate::plan::runbook::RunbookStep {
        id: id.into(),
        title: format!("Step {id}"),
        owner: Owner::Person("alice".into()),
        start: crate::plan::runbook::PlannedStart::At(at(start)),
        planned_start: at(start),
        duration: std::time::Duration::from_secs(600),
        phase: Phase::GoNoGo,
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        rollback_point: id == "migrate",
        rollback_procedure: Some("Restore the orders database first".into()),
        verify: Vec::new(),
    }
}

#[test]
fn runbook_steps_show_state_lateness_what_they_wait_for_and_the_rollback_that_applies() {
    let mut plan = plan();
    plan.runbook.steps = vec![
        step("freeze", NOW - 1200, &[]),
        step("migrate", NOW - 900, &["freeze"]),
        step("deploy", NOW + 600, &["migrate"]),
    ];
    let mut snapshot = snapshot(&plan);
    snapshot.runbook.insert(
        "freeze".into(),
        crate::core::runbook::StepRecord {
            state: StepState::Running,
            started_at: Some(at(NOW - 1200)),
            started_by: Some("bob".into()),
            ..Default::default()
        },
    );
    let view = build(&Inputs {
        plan: &plan,
        snapshot: &snapshot,
        checks: &[],
        history: &HashMap::new(),
        alerts: &[],
        log: &[],
        now: at(NOW),
    });
    let steps = &view.runbook.steps;
    assert_eq!(steps[0].state.label, "running");
    assert_eq!(steps[0].late.as_deref(), Some("10 min behind plan"));
    assert_eq!(steps[0].started_by.as_deref(), Some("bob"));
    assert!(steps[0].can_finish && !steps[0].can_start);
    assert_eq!(steps[0].owner, "Alice (alice)");
    assert_eq!(steps[1].state.label, "pending");
    assert_eq!(steps[1].blocked_by, ["freeze"]);
    assert!(
        !steps[1].can_start,
        "a step waiting for another cannot be started from the page"
    );
    assert_eq!(steps[1].late.as_deref(), Some("15 min behind plan"));
    assert_eq!(view.summary.steps_late, 2);
    assert_eq!(view.summary.overall_label, "being handled");
    // No rollback point passed yet: the plan's procedure applies.
    assert_eq!(view.runbook.rollback_point, None);
    assert_eq!(
        view.runbook.rollback_procedure,
        plan.rollback.procedure.trim()
    );
}

/// A Prometheus check on the error ratio, failing above 5%.
fn error_ratio_check(id: &str) -> crate::plan::checks::Check {
    use crate::plan::checks::{CheckKind, EmptyResult, PrometheusCheck};
    let mut check = crate::core::test_support::tcp_check(2, 1);
    check.id = id.into();
    check.kind = CheckKind::Prometheus(PrometheusCheck {
        server: "prod".into(),
        query: r#"sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))"#
            .into(),
        threshold: "> 0.05".parse().expect("a valid threshold"),
        empty: EmptyResult::Unknown,
    });
    check
}

fn metric_result(value: f64, reason: &str) -> crate::engine::RecentResult {
    crate::engine::RecentResult {
        at: at(NOW - 10),
        outcome: crate::core::health::Outcome::Failing,
        reason: reason.into(),
        latency_ms: 40.0,
        value: Some(value),
        warning: None,
        cert_not_after: None,
    }
}

#[test]
fn metric_values_read_as_in_the_alert_messages_with_their_unit_and_rule() {
    let mut plan = plan();
    plan.checks = vec![error_ratio_check("web1"), error_ratio_check("routes")];
    let mut errors = check("web1", Health::Failing);
    errors.last = Some(metric_result(0.20168067226890757, "value 0.2017 > 0.05"));
    let mut routes = check("routes", Health::Failing);
    routes.last = Some(metric_result(0.071, r#"value 0.071 > 0.05 {route="/b"}"#));
    // An HTTP check keeps its probe's reason.
    let mut web = check("web", Health::Failing);
    web.last = Some(crate::engine::RecentResult {
        value: None,
        ..metric_result(0.0, "status 503")
    });
    let alerts = [alert(1, None, 0), alert(2, None, 0)];

    let view = build_with(&plan, &[errors, routes, web], &HashMap::new(), &alerts, &[]);

    assert_eq!(view.checks[0].reason, "20.2 % (fails above 5 %)");
    assert_eq!(
        view.checks[1].reason,
        r#"7.1 % (fails above 5 %) {route="/b"}"#
    );
    assert_eq!(view.checks[2].reason, "status 503");
    // The alert on the error ratio says its value now; the other one (no such check) keeps the
    // reason it opened with.
    let reasons: Vec<_> = view
        .alerts
        .iter()
        .map(|a| (a.id, a.reason.as_str()))
        .collect();
    assert!(
        reasons.contains(&(1, "now 20.2 % (fails above 5 %)")),
        "{reasons:?}"
    );
    assert!(reasons.contains(&(2, "status 503 <script>")), "{reasons:?}");
}

#[test]
fn a_large_plan_folds_healthy_checks_by_severity_with_a_count_and_shows_failing_ones_in_full() {
    let plan = plan();
    let mut checks: Vec<CheckView> = (0..COLLAPSE_ABOVE + 10)
        .map(|n| check(&format!("web{n:02}"), Health::Healthy))
        .collect();
    checks[3].health = Health::Failing;
    checks[7].health = Health::Unknown;
    checks[9].severity = Severity::Info;
    let view = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    let shown: Vec<&str> = view.checks.iter().map(|row| row.id.as_str()).collect();
    assert_eq!(shown, ["web03", "web07"]);
    let groups: Vec<(&str, usize, &str)> = view
        .check_groups
        .iter()
        .map(|group| (group.id, group.count, group.label.as_str()))
        .collect();
    assert_eq!(
        groups,
        [
            ("healthy-critical", 57, "57 healthy critical checks"),
            ("healthy-info", 1, "1 healthy info check"),
        ]
    );
    // The counts at the top still count every check.
    assert_eq!(view.summary.checks_total, COLLAPSE_ABOVE + 10);
    assert_eq!(view.summary.checks_healthy, COLLAPSE_ABOVE + 8);

    let html = crate::api::status_page::render(crate::api::status_page::LIVE, &view)
        .expect("the live part renders");
    let folded = html
        .find(r#"<details class="check-group" id="group-healthy-critical""#)
        .expect("a folded group");
    let failing = html.find(r#"id="check-web03""#).expect("the failing row");
    assert!(failing < folded, "the failing check comes before the folds");
    assert!(!html.contains("<details class=\"check-group\" id=\"group-healthy-critical\" open"));
    assert!(
        html.contains("57 healthy critical checks</span></summary>"),
        "{html}"
    );
    // Folded rows are still there for whoever opens the group, their history in words only (the
    // strips are most of a large plan's page).
    assert!(html[folded..].contains(r#"id="check-web00""#));
    assert!(!html[folded..].contains(r#"class="strip""#));
    assert!(html[..folded].contains(r#"class="strip""#));
}

#[test]
fn a_plan_of_up_to_fifty_checks_shows_every_check_in_full() {
    let plan = plan();
    let checks: Vec<CheckView> = (0..COLLAPSE_ABOVE)
        .map(|n| check(&format!("web{n:02}"), Health::Healthy))
        .collect();
    let view = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    assert_eq!(view.checks.len(), COLLAPSE_ABOVE);
    assert!(view.check_groups.is_empty());
}

#[test]
fn when_every_check_of_a_large_plan_is_healthy_the_page_says_none_fails() {
    let plan = plan();
    let checks: Vec<CheckView> = (0..COLLAPSE_ABOVE + 1)
        .map(|n| check(&format!("web{n:02}"), Health::Healthy))
        .collect();
    let view = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    let html = crate::api::status_page::render(crate::api::status_page::LIVE, &view)
        .expect("the live part renders");
    assert!(html.contains("No failing or unknown checks."), "{html}");
    assert!(html.contains("51 healthy critical checks"), "{html}");
}

#[test]
fn a_standby_view_says_when_it_was_stored_links_the_active_and_labels_check_states_as_stored() {
    let plan = plan();
    let checks = [check("web", Health::Failing), check("api", Health::Unknown)];
    let mut view = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    let mut stored = crate::core::lifecycle::CheckHealthMap::new();
    stored.insert(
        "web".into(),
        crate::core::lifecycle::GateCheck {
            health: Health::Failing,
            reason: Some("as of 06:58, stored: failing since this change (status 503)".into()),
            changed_at: Some(at(NOW - 90)),
        },
    );
    mark_as_standby(
        &mut view,
        &stored,
        Some(at(NOW - 5)),
        crate::api::status_page::active_link(Some("http://10.0.0.1:9898")),
        &plan.launch.timezone,
        at(NOW),
    );
    let reason = |id: &str| {
        view.checks
            .iter()
            .find(|row| row.id == id)
            .map(|row| row.reason.clone())
    };
    assert_eq!(
        reason("web").as_deref(),
        Some("as of 06:58, stored: failing since this change (status 503)")
    );
    assert_eq!(
        reason("api").as_deref(),
        Some("unknown: no probe result or health change stored yet")
    );
    let html = crate::api::status_page::render(crate::api::status_page::LIVE, &view)
        .expect("the live part renders");
    assert!(html.contains("Standby view"), "{html}");
    assert!(
        html.contains("<a href=\"http://10.0.0.1:9898/\">http://10.0.0.1:9898</a>"),
        "{html}"
    );
    assert!(
        html.contains(&view.updated.full),
        "when it was read: {html}"
    );
    // The live page has no banner.
    let live = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    let html = crate::api::status_page::render(crate::api::status_page::LIVE, &live)
        .expect("the live part renders");
    assert!(!html.contains("Standby view"), "{html}");
}

#[test]
fn a_standby_view_of_a_large_plan_labels_the_folded_checks_as_stored_too() {
    let plan = plan();
    let checks: Vec<CheckView> = (0..COLLAPSE_ABOVE + 1)
        .map(|n| check(&format!("web{n:02}"), Health::Healthy))
        .collect();
    let mut view = build_with(&plan, &checks, &HashMap::new(), &[], &[]);
    assert!(!view.check_groups.is_empty(), "the healthy checks fold");
    let mut stored = crate::core::lifecycle::CheckHealthMap::new();
    stored.insert(
        "web07".into(),
        crate::core::lifecycle::GateCheck {
            health: Health::Healthy,
            reason: Some(
                "as of 06:58, stored: healthy (0 of 300 probes failed that minute)".into(),
            ),
            changed_at: Some(at(NOW - 90)),
        },
    );
    mark_as_standby(
        &mut view,
        &stored,
        None,
        crate::api::status_page::active_link(None),
        &plan.launch.timezone,
        at(NOW),
    );
    let rows: Vec<_> = view
        .check_groups
        .iter()
        .flat_map(|group| &group.checks)
        .collect();
    assert_eq!(rows.len(), COLLAPSE_ABOVE + 1);
    for row in rows {
        let expected = if row.id == "web07" {
            "as of 06:58, stored: healthy (0 of 300 probes failed that minute)"
        } else {
            "unknown: no probe result or health change stored yet"
        };
        assert_eq!(row.reason, expected, "{}", row.id);
    }
}
